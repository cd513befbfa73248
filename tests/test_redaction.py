"""No secret in a log line or a stored error (issue #11, deliverable 5).

The pure function `bot.core.redact.redact` first, pattern by pattern; then the path the attackers
used: the download of a repository archive fails, and GitHub's download link with its `?token=`
query must reach neither the worker log nor the stored handler error.
"""

from __future__ import annotations

import io
import json
import logging
import socket

import pytest
from sqlalchemy import select

from bot.core import redact as R
from bot.core.logs import JsonFormatter, add_redactions, scrub
from bot.adapters.store import HandlerRunRow
from tests.conftest import ROOT, SECRET
from tests.support.harness import Harness

GH_TOKEN = "ghs_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDAsImlzcyI6IjQyNDIifQ."
       "c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU")
PEM = ("-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n" * 3
       + "-----END RSA PRIVATE KEY-----\n")


@pytest.mark.parametrize("text,secret", [
    ("GET https://codeload.github.com/acme/models/legacy.tar.gz/abc?token=AABBCCDD1122", "AABBCCDD1122"),
    ("url: /x?ref=main&token=AABBCCDD1122&y=1", "AABBCCDD1122"),
    ("https://api.example/cb?access_token=zzTOPSECRETzz", "zzTOPSECRETzz"),
    ("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=ASIAXYZ%2F20240101&"
     "X-Amz-Signature=deadbeefcafe0123", "deadbeefcafe0123"),
    ("https://b.s3.amazonaws.com/k?X-Amz-Credential=CREDVALUE1234%2Fus-east-1", "CREDVALUE1234"),
    ("https://b.s3.amazonaws.com/k?x-amz-security-token=FwoGZXIvYXdzEJr", "FwoGZXIvYXdzEJr"),
    ("https://x/y?signature=SIGSIGSIG99&sig=OTHERSIG77", "SIGSIGSIG99"),
    ("https://x/y?signature=SIGSIGSIG99&sig=OTHERSIG77", "OTHERSIG77"),
    ("https://github.com/login/oauth?code=OAUTHCODE123&state=s", "OAUTHCODE123"),
    ("https://x/y?client_secret=CLIENTSECRET42", "CLIENTSECRET42"),
    ('"url": "https://x/y?a=1\\u0026token=ESCAPEDTOKEN9"', "ESCAPEDTOKEN9"),
    ("Authorization: token opaque-installation-value", "opaque-installation-value"),
    ("{'Authorization': 'Bearer opaque.value.here', 'Accept': 'json'}", "opaque.value.here"),
    ('{"headers": {"authorization": "Basic dXNlcjpwYXNz"}}', "dXNlcjpwYXNz"),
    ("sent Bearer abcdefghij0123456789", "abcdefghij0123456789"),
    ("the header was token 0123456789abcdef0123456789", "0123456789abcdef0123456789"),
    (f"leaked {GH_TOKEN} in a message", GH_TOKEN),
    (f"ghp_{'x1' * 18} and gho_{'y2' * 18}", "x1" * 18),
    (f"ghu_{'z3' * 18}, ghr_{'w4' * 18}", "w4" * 18),
    (f"pat={PAT}", PAT[20:]),
    (f"key id {AWS_ID}", AWS_ID),
    ("ASIAY34FZKBOKMUTVV7A was used", "ASIAY34FZKBOKMUTVV7A"),
    (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    (f"{{'SecretAccessKey': '{AWS_SECRET}', 'AccessKeyId': 'x'}}", AWS_SECRET),
    (f'"SessionToken": "{AWS_SECRET}XYZ"', AWS_SECRET),
    (f"jwt {JWT}", JWT),
    (f"key:\n{PEM}tail", "MIIEowIBAAKCAQEA"),
    (json.dumps({"key": PEM}), "MIIEowIBAAKCAQEA"),
    ("cut short: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "MIIEvQIBADANBgkq"),
])
def test_redact_removes_each_kind_of_secret(text, secret):
    out = R.redact(text)
    assert secret not in out, out
    assert R.MASK in out


@pytest.mark.parametrize("text", [
    "the installation token expired; minting a new one",
    "GET /repos/acme/models/tarball/main?ref=main&per_page=100 answered 302",
    "a pull request body mentioning code review and a signature line",
    "models/churn/modelbot.yaml:3:5: error: metadata.name: required",
])
def test_redact_leaves_ordinary_text_alone(text):
    assert R.redact(text) == text


def test_registered_secrets_are_redacted_whole_and_line_by_line():
    webhook_secret = "whsec-registered-for-this-test-0123"
    R.register([webhook_secret, PEM, "abc"])  # too short to register: "abc" stays readable
    escaped = json.dumps(PEM)  # newlines as \n: the whole value no longer matches, its lines do
    piece = escaped.split("\\n")[1]  # one whole base64 line, as a cut-down JSON log shows it
    out = scrub(f"secret={webhook_secret} key=...\\n{piece}\\n... abc")
    assert webhook_secret not in out
    assert "u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun" not in out
    assert out.endswith(" abc")
    # pure: the same text without the registry only loses what the patterns find
    assert webhook_secret in R.redact(f"secret={webhook_secret}")
    assert R.redact(f"secret={webhook_secret}", [webhook_secret]) == "secret=***"


def test_the_log_formatter_redacts_message_extras_and_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.redaction.formatter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError(f"download of https://codeload/x?token=TRACEBACKTOKEN1 failed with {GH_TOKEN}")
        except RuntimeError:
            logger.exception("failed %s", f"Authorization: Bearer {JWT}",
                             extra={"url": "https://x?X-Amz-Signature=EXTRASIGNATURE1", "key_id": AWS_ID})
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    record = json.loads(line)  # still one valid JSON object per line
    assert record["msg"].startswith("failed Authorization: ***")
    for secret in ("TRACEBACKTOKEN1", GH_TOKEN, JWT, "EXTRASIGNATURE1", AWS_ID):
        assert secret not in line


# --- a real archive-download failure ------------------------------------------------------------

REPO = "acme/models"
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
ARCHIVE_TOKEN = "AAAQ7ArchiveDownloadTicketXYZ0123"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def captured_log():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool"):  # it logs request URLs at DEBUG
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_a_failed_archive_download_leaks_its_token_to_neither_log_nor_stored_error(
        settings, store, queue, fake_github, captured_log):
    inst = fake_github.add_installation("acme").id
    names = ["churn", "fraud", "ltv", "uplift"]  # more than FEW_FILES, and no GraphQL: the archive
    fake_github.add_repo(REPO, {f"models/{n}/modelbot.yaml": MINIMAL.replace("name: churn", f"name: {n}")
                                for n in names}, installation_id=inst)
    fake_github.open_pull_request(REPO, "feature", number=5, files={
        f"models/{n}/modelbot.yaml": MINIMAL.replace("name: churn", f"name: {n}").replace("ml.m5.large", "ml.m5.xlarge")
        for n in names})
    bot = Harness(settings, store, queue, fake_github, secret=SECRET)
    # GitHub's answer to the tarball request: a redirect to a link whose ?token= is its only
    # authorisation; the download host is unreachable, so the HTTP client raises with the URL.
    link = (f"http://127.0.0.1:{_closed_port()}/_codeload/{REPO}/legacy.tar.gz/"
            f"{'a' * 40}?token={ARCHIVE_TOKEN}")
    fake_github.fail_next("GET", r"/tarball/", 302, times=10, headers={"Location": link}, body="")
    fake_github.fail_next("POST", r"^/graphql$", 404, times=10)  # no GraphQL: the archive is the fallback

    resp = bot.post("pull_request", bot.pr_event("opened", REPO, 5), delivery_id="archive-failure-1")
    assert resp.get_json()["outcome"] == "queued"
    row = store.get_delivery("archive-failure-1")
    assert bot.runtime.process(row.id) == "retrying"

    assert fake_github.count("GET", r"/tarball/") >= 1  # the archive path was taken
    row = store.get_delivery(row.delivery_id)
    with store.session() as s:
        stored = [r.error for r in s.scalars(select(HandlerRunRow).where(HandlerRunRow.delivery_pk == row.id))
                  if r.error]
    assert stored, "the handler did not fail"
    failure = "\n".join(stored + [row.last_error])
    assert "ConnectionError" in failure and "token=***" in failure  # the failure is the download's
    assert ARCHIVE_TOKEN not in failure
    log = captured_log.getvalue()
    assert "handler failed" in log and "token=***" in log
    assert ARCHIVE_TOKEN not in log



def test_a_registered_secret_with_json_special_characters_is_scrubbed_before_escaping():
    import json as _json
    import logging as _logging

    from bot.core import logs

    secret = 's3cr"et-val\\ue'
    logs.add_redactions([secret])
    record = _logging.LogRecord("bot", _logging.WARNING, __file__, 1, "failed with %s", (secret,), None)
    line = logs.JsonFormatter().format(record)
    assert secret not in _json.loads(line)["msg"]
    assert "s3cr" not in line


def _every_pattern(text: str) -> str:
    """`redact` without its trigger prefilter: every pattern over the whole text."""
    for pattern, replacement in R._PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_CASES = [text for text, _ in test_redact_removes_each_kind_of_secret.pytestmark[0].args[1]]


@pytest.mark.parametrize("text", _CASES + [t.upper() for t in _CASES] + [t.swapcase() for t in _CASES])
def test_the_trigger_prefilter_skips_no_pattern_that_would_match(text):
    # The prefilter only decides which patterns run: its answer must be that of running all.
    assert R.redact(text) == _every_pattern(text)


@pytest.mark.parametrize("text", [
    "https://x/y?\u017fig=SIGSIGSIG99",             # LATIN SMALL LETTER LONG S: `s` under IGNORECASE
    "https://x/y?to\u212aen=SIGSIGSIG99",            # KELVIN SIGN: `k` under IGNORECASE
    "Author\u0131zation: token opaque-installation-value",  # LATIN SMALL LETTER DOTLESS I: `i`
    "Authorization: token opaque-installation-value \u00e9",
])
def test_non_ascii_text_is_searched_by_every_pattern(text):
    # str.lower() does not map these letters to ASCII, yet the patterns' IGNORECASE does.
    assert R.redact(text) == _every_pattern(text)
    assert "SIGSIGSIG99" not in R.redact(text) and "opaque-installation-value" not in R.redact(text)


def test_a_line_without_any_trigger_is_left_as_it_is_and_registered_secrets_still_go():
    R.register(["registered-secret-value-for-prefilter"])
    line = json.dumps({"msg": "delivery queued", "event": "pull_request.opened",
                       "note": "registered-secret-value-for-prefilter"})
    assert R._patterns_for("delivery queued pull_request.opened") == ()
    assert "registered-secret-value-for-prefilter" not in R.scrub(line)
    assert R.scrub('{"msg": "delivery queued"}') == '{"msg": "delivery queued"}'


def test_the_log_timestamp_is_the_records_own_second_and_millisecond():
    formatter = JsonFormatter()
    lines = []
    for created in (1_700_000_000.25, 1_700_000_000.999, 1_700_000_001.5, 1_700_000_000.125):
        record = logging.LogRecord("bot.app.web", logging.INFO, __file__, 1, "m", (), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        lines.append(json.loads(formatter.format(record))["ts"])
    assert lines == ["2023-11-14T22:13:20.250Z", "2023-11-14T22:13:20.999Z", "2023-11-14T22:13:21.500Z",
                     "2023-11-14T22:13:20.125Z"]
