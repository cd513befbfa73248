"""The webhook intake seen from outside, fuzzed: whatever reaches POST /webhook, the bot answers.

Properties, on both backends (SQLite store + SQLite queue; PostgreSQL + Redis):

- never a 5xx and never an exception, whatever the body, headers, content type or signature;
- the answer is JSON with an `outcome` and a `reason`;
- without a valid signature nothing is recorded and nothing is enqueued (401, or 413 first);
- a validly signed, valid delivery is recorded and enqueued exactly once per X-GitHub-Delivery,
  and what is recorded is what the worker will read back (the same JSON object);
- a signed body the store could not hold (routing fields too long, NUL, lone surrogates,
  installation ids outside int64, non-UTF-8, too deeply nested) is a 400, not a 500.

Then the contract table (one row per documented outcome), a concurrency test under real
gunicorn (20 identical deliveries at once: one queued, 19 duplicates, one row, one message) and a
check that the web process imports neither the GitHub nor the AWS client.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.parse
import uuid

import pytest
from hypothesis import HealthCheck, assume, example, given, settings as hsettings, strategies as st
from sqlalchemy import func, select

from bot.app import intake
from bot.app.features import load_router
from bot.adapters.store import DeliveryRow
from bot.app.web import create_app
from tests.conftest import OLD_SECRET, ROOT, SECRET
from tests.support.processes import web_process

EXAMPLES = json.loads((ROOT / "tests" / "contract" / "webhook-examples.subset.json").read_text())
_BY_EVENT = {e["name"]: e["examples"] for e in EXAMPLES["events"]}
PING = _BY_EVENT["ping"][0]
PULL_REQUEST = next(x for x in _BY_EVENT["pull_request"] if x["action"] == "opened")
REAL_BODY = json.dumps(PULL_REQUEST, separators=(",", ":")).encode()
HANDLED = load_router().keys()  # what create_app handles when not told otherwise: "event" or "event.action"
HANDLED_EVENTS = sorted({key.split(".")[0] for key in HANDLED})
BIG_LENGTH = 25 * 1024 * 1024 + 1  # one byte over the default MODELBOT_MAX_BODY_BYTES
INT64_MAX = 2**63 - 1

# Budgets keep the file well under a minute for both backends on 2 cores; MODELBOT_FUZZ_SCALE=10
# (say) digs deeper. The fixtures are shared by all examples of a test: every property below
# compares figures before and after each request, so what earlier examples left does not matter.
FUZZ_SCALE = float(os.environ.get("MODELBOT_FUZZ_SCALE", "1"))


def fuzz(max_examples: int) -> hsettings:
    return hsettings(
        max_examples=max(1, int(max_examples * FUZZ_SCALE)), deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large],
    )


# --- the app under test ---------------------------------------------------------------------------


class Intake:
    """The Flask app on the test backend, with the two figures that must not move by accident."""

    def __init__(self, settings, store, queue):
        self.settings, self.store, self.queue = settings, store, queue
        self.app = create_app(settings, store=store, queue=queue)
        self.app.testing = True  # an exception in a view reaches the test instead of becoming a 500
        self.client = self.app.test_client()

    def post(self, body: bytes, headers, **kw) -> tuple[int, dict]:
        # A raw input stream: given `data=`, the test client would build a form body of its own
        # for an empty body sent as multipart/form-data.
        kw.setdefault("input_stream", io.BytesIO(body))
        kw.setdefault("content_length", len(body))
        r = self.client.post("/webhook", headers=headers, **kw)
        assert r.status_code < 500, (r.status_code, r.data[:500])
        assert r.mimetype == "application/json", (r.status_code, r.mimetype, r.data[:500])
        answer = json.loads(r.data)
        assert isinstance(answer.get("outcome"), str) and answer["outcome"], answer
        assert isinstance(answer.get("reason"), str) and answer["reason"], answer
        return r.status_code, answer

    def snapshot(self) -> tuple[int, int]:
        """(rows in deliveries, messages waiting in the queue)."""
        with self.store.session() as s:
            rows = s.scalar(select(func.count()).select_from(DeliveryRow))
        return rows, self.queue.depth()

    def rows_for(self, delivery_id: str) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(DeliveryRow)
                            .where(DeliveryRow.delivery_id == delivery_id))


@pytest.fixture
def bot(settings, store, queue):
    return Intake(settings, store, queue)


def signed_headers(body: bytes, *, event="ping", delivery=None, secret=SECRET,
                   content_type="application/json") -> dict[str, str]:
    h = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
         "X-Hub-Signature-256": intake.sign(secret, body)}
    if content_type is not None:
        h["Content-Type"] = content_type
    return h


def unstorable(payload) -> str | None:
    """Why the store cannot hold this payload's routing fields; the intake must refuse it (400)."""
    if not isinstance(payload, dict):
        return None
    action = payload.get("action")
    repo = payload.get("repository")
    name = repo.get("full_name") if isinstance(repo, dict) else None
    inst = payload.get("installation")
    inst_id = inst.get("id") if isinstance(inst, dict) else None
    for field, value, limit in (("action", action, 64), ("repository.full_name", name, 255)):
        if isinstance(value, str):
            if len(value) > limit:
                return f"{field} longer than {limit} characters"
            if "\x00" in value:
                return f"NUL in {field}"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"lone surrogate in {field}"
    if isinstance(inst_id, int) and not isinstance(inst_id, bool) and not 0 < inst_id <= INT64_MAX:
        return "installation.id not a positive 64-bit integer"
    stack = [payload]  # any string a handler might store: NUL or a lone surrogate anywhere
    while stack:
        value = stack.pop()
        items = list(value.items()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
        for item in items:
            for part in (item if isinstance(item, tuple) else (item,)):
                if isinstance(part, (dict, list)):
                    stack.append(part)
                elif isinstance(part, str):
                    if "\x00" in part:
                        return "NUL in a string"
                    try:
                        part.encode("utf-8")
                    except UnicodeEncodeError:
                        return "lone surrogate in a string"
    return None


# --- strategies -----------------------------------------------------------------------------------

# Header values as WSGI carries them (latin-1), minus CR/LF which no HTTP server passes through.
header_chars = st.characters(codec="latin-1", exclude_characters="\r\n")
header_text = st.text(header_chars, max_size=80)
huge_header = st.builds(lambda s, n: (s * n)[:200_000], st.text(header_chars, min_size=1, max_size=8),
                        st.integers(2_000, 40_000))
header_value = st.one_of(header_text, huge_header)

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=40))
json_value = st.recursive(json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=12), kids, max_size=5)), max_leaves=30)


def _nest(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def _flip(data: bytes, pos: int, byte: int) -> bytes:
    pos %= max(len(data), 1)
    return data[:pos] + bytes([byte]) + data[pos + 1:]


bodies = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=500).map(lambda t: t.encode("utf-8")),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["action", "repository", "installation", "zen", "hook_id"]), json_value,
                    max_size=4).map(lambda d: json.dumps(d).encode()),
    st.integers(0, len(REAL_BODY)).map(lambda n: REAL_BODY[:n]),  # truncated real payload
    st.builds(_flip, st.just(REAL_BODY), st.integers(0, len(REAL_BODY)), st.integers(0, 255)),
    st.builds(_nest, st.integers(1, 3000), st.sampled_from(["array", "object"])),
    st.builds(lambda a, b: a + b"\xff\xfe\xc3(\xed\xa0\x80" + b, st.binary(max_size=64), st.binary(max_size=64)),
    st.builds(lambda s, n: (s * n)[:1_500_000], st.binary(min_size=1, max_size=16), st.integers(1, 100_000)),
    st.builds(lambda v, enc: json.dumps(v).encode(enc), st.dictionaries(st.text(max_size=8), json_leaf, max_size=3),
              st.sampled_from(["utf-8-sig", "utf-16", "utf-16-le", "utf-32"])),
    json_value.map(lambda v: b"payload=" + urllib.parse.quote_plus(json.dumps(v)).encode()),  # GitHub's form type
)

content_types = st.one_of(
    st.none(),
    st.sampled_from([
        "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", " application/json ;x=y",
        "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "text/plain", "",
        "application/vnd.github+json", "application/jsonx", "json", "application/json\x00",
    ]),
    header_value,
)
delivery_ids = st.one_of(st.uuids().map(str), st.from_regex(r"[A-Za-z0-9-]{1,64}", fullmatch=True),
                         st.just(""), header_value)
events = st.one_of(st.sampled_from(HANDLED_EVENTS + ["pull_request", "push", "PING", "pull-request", ""]),
                   st.from_regex(r"[a-z_]{1,64}", fullmatch=True), header_value)
RESERVED = {"content-type", "content-length", "transfer-encoding", "host", "x-hub-signature-256",
            "x-github-event", "x-github-delivery", "expect"}
extra_headers = st.lists(st.tuples(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,30}", fullmatch=True).filter(lambda n: n.lower() not in RESERVED),
    header_value), max_size=4)


@st.composite
def bad_signatures(draw, body: bytes):
    """Signature headers that must not pass: absent, empty, wrong prefix, case, hex, secret, body."""
    good = intake.sign(SECRET, body)
    hexdigest = good[len("sha256="):]
    return draw(st.one_of(
        st.none(), st.just(""), st.just("sha256="),
        st.just("sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()),
        st.just("SHA256=" + hexdigest), st.just("sha256=" + hexdigest.upper()), st.just(hexdigest),
        st.just(good[:-1]), st.just(good + "0"), st.just(good + " "), st.just(" " + good),
        st.just(intake.sign("not-the-secret", body)), st.just(intake.sign(SECRET, body + b"\n")),
        st.from_regex(r"sha256=[0-9a-f]{64}", fullmatch=True),
        header_value, header_value.map(lambda v: "sha256=" + v),
    ))


def build_headers(draw, signature_values: list[str | None], event, delivery, content_type, extra):
    headers: list[tuple[str, str]] = []
    for name, value in (("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery),
                        ("Content-Type", content_type)):
        if value is None:
            continue
        headers.append((draw(st.sampled_from([name, name.lower(), name.upper()])), value))
    for value in signature_values:
        if value is not None:
            headers.append((draw(st.sampled_from(["X-Hub-Signature-256", "x-hub-signature-256"])), value))
    headers += extra
    return draw(st.permutations(headers))


@st.composite
def unsigned_requests(draw):
    body = draw(bodies)
    sigs = draw(st.lists(bad_signatures(body), min_size=1, max_size=3))  # 2+ = duplicated header
    headers = build_headers(draw, sigs, draw(st.one_of(st.none(), events)),
                            draw(st.one_of(st.none(), delivery_ids)), draw(content_types), draw(extra_headers))
    return body, headers, sigs


@st.composite
def signed_requests(draw):
    body = draw(bodies)
    secret = draw(st.sampled_from([SECRET, OLD_SECRET]))
    headers = build_headers(draw, [intake.sign(secret, body)],
                            draw(st.one_of(st.none(), st.just("ping"), events)),
                            draw(st.one_of(st.uuids().map(str), delivery_ids, st.none())),
                            draw(st.one_of(st.just("application/json"), content_types)), draw(extra_headers))
    return body, headers


# --- properties -----------------------------------------------------------------------------------


@fuzz(250)
@given(request=unsigned_requests())
@example(request=(b'{"zen": "x"}', [("X-GitHub-Event", "ping"), ("X-GitHub-Delivery", "d1"),
                                    ("Content-Type", "application/json")], [None]))
@example(request=(REAL_BODY, [("X-GitHub-Event", "pull_request"), ("X-GitHub-Delivery", "d2"),
                              ("Content-Type", "application/json"),
                              ("X-Hub-Signature-256", intake.sign(SECRET, REAL_BODY).upper())], [""]))
def test_without_a_valid_signature_nothing_is_recorded_or_enqueued(bot, request):
    body, headers, sigs = request
    assume(not any(s and intake.signature_matches(bot.settings.webhook_secrets, body, s) for s in sigs))
    before = bot.snapshot()
    status, answer = bot.post(body, headers)
    assert status == 401, answer
    assert answer["outcome"] in ("unsigned", "bad_signature")
    assert bot.snapshot() == before


@fuzz(250)
@given(request=signed_requests())
@example(request=(_nest(10_000, "array"), list(signed_headers(_nest(10_000, "array")).items())))
def test_signed_requests_never_fail_and_only_queued_ones_are_recorded(bot, request):
    body, headers = request
    before = bot.snapshot()
    status, answer = bot.post(body, headers)
    rows, depth = bot.snapshot()
    if answer["outcome"] == "queued":
        assert status == 202
        assert (rows, depth) == (before[0] + 1, before[1] + 1)
        delivery_id = next(v for k, v in headers if k.lower() == "x-github-delivery")
        row = bot.store.get_delivery(delivery_id)
        assert json.loads(row.payload) == json.loads(body)  # what the worker will read
    else:
        assert (status, answer["outcome"]) in {
            (202, "duplicate"), (202, "ignored"), (400, "bad_request"), (400, "bad_json"),
            (403, "forbidden_repository"), (403, "forbidden_event"), (415, "bad_content_type"),
        }, answer
        assert (rows, depth) == before


REPOS = st.one_of(st.none(), st.sampled_from(["acme/models", "Codertocat/Hello-World", "octo-org/x", "ACME/Models",
                                              "evil/models", "acme", "acme/models/extra", ""]),
                  st.text(max_size=300), st.text(min_size=245, max_size=260).map(lambda t: "acme/" + t))
ACTIONS = st.one_of(st.none(), st.sampled_from(["created", "deleted", "opened", "synchronize", "closed", "suspend"]),
                    st.text(max_size=70),
                    st.text(min_size=60, max_size=70))
INSTALLATION_IDS = st.one_of(st.integers(1, INT64_MAX), st.integers(-(2**65), 2**65))


@st.composite
def valid_deliveries(draw):
    payload = draw(st.dictionaries(st.text(max_size=10), json_value, max_size=3))
    action, repo = draw(ACTIONS), draw(REPOS)
    if action is not None:
        payload["action"] = action
    if repo is not None:
        payload["repository"] = {"full_name": repo, "private": draw(st.booleans())}
    if draw(st.booleans()):
        payload["installation"] = {"id": draw(INSTALLATION_IDS)}
    body = json.dumps(payload, ensure_ascii=draw(st.booleans())).encode()
    event = draw(st.sampled_from(HANDLED_EVENTS + ["pull_request", "push", "issue_comment", "star"]))
    delivery = draw(st.one_of(st.uuids().map(str), st.from_regex(r"[A-Za-z0-9-]{1,8}", fullmatch=True)))
    content_type = draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                         "Application/JSON"]))
    secrets = draw(st.lists(st.sampled_from([SECRET, OLD_SECRET]), min_size=1, max_size=3))  # 2+ = redelivery
    return payload, body, event, delivery, content_type, secrets


@fuzz(150)
@given(d=valid_deliveries())
def test_a_valid_delivery_is_recorded_and_enqueued_once_per_delivery_id(bot, d):
    payload, body, event, delivery_id, content_type, secrets = d
    action = payload.get("action")
    repo = payload.get("repository", {}).get("full_name")
    key = f"{event}.{action}" if action else event
    for secret in secrets:
        already = bot.rows_for(delivery_id)
        before = bot.snapshot()
        status, answer = bot.post(body, signed_headers(body, event=event, delivery=delivery_id, secret=secret,
                                                       content_type=content_type))
        after = bot.snapshot()
        if unstorable(payload):  # checked before routing: even an unhandled event is refused
            assert (status, answer["outcome"]) == (400, "bad_json"), answer
            assert after == before
        elif event.startswith("modelbot_"):  # internal: only the bot makes these, even signed
            assert (status, answer["outcome"]) == (403, "forbidden_event"), answer
            assert after == before
        elif event not in HANDLED and key not in HANDLED:
            assert (status, answer["outcome"]) == (202, "ignored")
            assert after == before
        elif repo is None and event not in intake.EVENTS_WITHOUT_REPOSITORY:
            assert (status, answer["outcome"]) == (400, "bad_json"), answer
            assert after == before
        elif repo is not None and not bot.settings.server.allows_repository(repo):
            assert (status, answer["outcome"]) == (403, "forbidden_repository")
            assert after == before
        elif already:
            assert (status, answer["outcome"]) == (202, "duplicate")
            assert after == before
        else:
            assert (status, answer["outcome"]) == (202, "queued")
            assert after == (before[0] + 1, before[1] + 1)
            row = bot.store.get_delivery(delivery_id)
            assert (row.event, row.action, row.repository, row.status) == (event, action, repo, "queued")
            assert row.installation_id == payload.get("installation", {}).get("id")
            assert json.loads(row.payload) == payload
        assert bot.rows_for(delivery_id) <= 1


@fuzz(300)
@given(body=bodies, sig=st.one_of(st.none(), header_value, st.just("sign")), event=st.one_of(st.none(), events),
       delivery=st.one_of(st.none(), delivery_ids), content_type=content_types,
       repo_ok=st.booleans())
def test_inspect_delivery_always_decides_and_accepts_only_signed_bodies(body, sig, event, delivery, content_type,
                                                                        repo_ok):
    """The pure intake (no app): any input is a Delivery or a 2xx/4xx Rejection, never an
    exception; a Delivery only for a body signed with a configured secret, never for an internal
    event, and with a repository whenever its event has one."""
    from bot.core.config import Secret

    headers = {k: v for k, v in (("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery),
                                 ("Content-Type", content_type),
                                 ("X-Hub-Signature-256", intake.sign(SECRET, body) if sig == "sign" else sig))
               if v is not None}
    got = intake.inspect_delivery(headers=headers, body=body, secrets=[Secret(SECRET), Secret(OLD_SECRET)],
                                  handled=HANDLED, allow_repository=lambda name: repo_ok)
    if isinstance(got, intake.Rejection):
        assert 200 <= got.status < 500 and got.outcome and got.reason
        if sig != "sign":
            assert got.status == 401
    else:
        assert isinstance(got, intake.Delivery)
        assert sig == "sign" or intake.signature_matches([Secret(SECRET)], body, sig)
        assert not got.event.startswith("modelbot_")
        assert got.repository is not None or got.event in intake.EVENTS_WITHOUT_REPOSITORY
        assert unstorable(got.payload) is None


# --- the contract, one row per outcome ------------------------------------------------------------


def _ping(**extra) -> bytes:
    return json.dumps({**PING, "repository": {"full_name": "acme/models"}, **extra}).encode()


def _with(headers: dict, **changes) -> dict:
    out = {**headers, **{k.replace("_", "-"): v for k, v in changes.items()}}
    return {k: v for k, v in out.items() if v is not None}


CONTRACT = [
    # name, body, headers(body) -> dict, status, outcome, recorded
    ("missing signature", _ping(), lambda b: _with(signed_headers(b), X_Hub_Signature_256=None), 401, "unsigned", 0),
    ("empty signature", _ping(), lambda b: _with(signed_headers(b), X_Hub_Signature_256=""), 401, "unsigned", 0),
    ("wrong signature", _ping(), lambda b: signed_headers(b, secret="another-secret-9"), 401, "bad_signature", 0),
    ("signature of another body", _ping(), lambda b: _with(signed_headers(b), X_Hub_Signature_256=intake.sign(
        SECRET, b + b" ")), 401, "bad_signature", 0),
    ("sha1 signature header only", _ping(), lambda b: _with(signed_headers(b), X_Hub_Signature_256=None,
                                                            X_Hub_Signature="sha1=" + "0" * 40), 401, "unsigned", 0),
    ("current secret", _ping(), lambda b: signed_headers(b), 202, "queued", 1),
    ("old rotated secret", _ping(), lambda b: signed_headers(b, secret=OLD_SECRET), 202, "queued", 1),
    ("not JSON", b"zen=hello", lambda b: signed_headers(b), 400, "bad_json", 0),
    ("invalid UTF-8", b'{"zen": "\xff"}', lambda b: signed_headers(b), 400, "bad_json", 0),
    ("JSON but not an object", b"[1, 2]", lambda b: signed_headers(b), 400, "bad_json", 0),
    ("action not a string", _ping(action=3), lambda b: signed_headers(b), 400, "bad_json", 0),
    ("installation id not an int", _ping(installation={"id": "1"}), lambda b: signed_headers(b), 400, "bad_json", 0),
    ("wrong content type", _ping(), lambda b: signed_headers(b, content_type="text/plain"), 415,
     "bad_content_type", 0),
    ("no content type", _ping(), lambda b: signed_headers(b, content_type=None), 415, "bad_content_type", 0),
    ("form-encoded", b"payload=" + urllib.parse.quote_plus(_ping().decode()).encode(),
     lambda b: signed_headers(b, content_type="application/x-www-form-urlencoded"), 415, "bad_content_type", 0),
    ("missing delivery id", _ping(), lambda b: _with(signed_headers(b), X_GitHub_Delivery=None), 400,
     "bad_request", 0),
    ("malformed delivery id", _ping(), lambda b: signed_headers(b, delivery="../../etc"), 400, "bad_request", 0),
    ("missing event", _ping(), lambda b: _with(signed_headers(b), X_GitHub_Event=None), 400, "bad_request", 0),
    ("malformed event", _ping(), lambda b: signed_headers(b, event="Ping!"), 400, "bad_request", 0),
    ("unhandled event", _ping(), lambda b: signed_headers(b, event="star"), 202, "ignored", 0),
    ("repository outside the allowlist", _ping(repository={"full_name": "evil/models"}),
     lambda b: signed_headers(b), 403, "forbidden_repository", 0),
    ("allowlist is case-insensitive", _ping(repository={"full_name": "ACME/Models"}),
     lambda b: signed_headers(b), 202, "queued", 1),
]


@pytest.mark.parametrize("name,body,make_headers,status,outcome,recorded", CONTRACT, ids=[c[0] for c in CONTRACT])
def test_contract(bot, name, body, make_headers, status, outcome, recorded):
    headers = make_headers(body)
    before = bot.snapshot()
    got_status, answer = bot.post(body, headers)
    assert (got_status, answer["outcome"]) == (status, outcome), answer
    assert bot.snapshot() == (before[0] + recorded, before[1] + recorded)
    if status == 415 and "form" in name:
        assert "application/json" in answer["reason"]  # tells the sender what to change


def test_redelivery_is_a_duplicate_and_enqueues_nothing_more(bot):
    body = _ping()
    headers = signed_headers(body, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert bot.post(body, headers)[1]["outcome"] == "queued"
    after_first = bot.snapshot()
    for secret in (SECRET, OLD_SECRET):  # GitHub redelivers with whatever secret is current
        status, answer = bot.post(body, signed_headers(body, delivery=headers["X-GitHub-Delivery"], secret=secret))
        assert (status, answer["outcome"]) == (202, "duplicate")
    assert bot.snapshot() == after_first


def test_body_over_the_configured_limit_is_413(settings, store, queue):
    exact = _ping()  # MODELBOT_MAX_BODY_BYTES set to exactly this body's size
    small = Intake(dataclasses.replace(settings, max_body_bytes=len(exact)), store, queue)
    over = _ping(zen="x" + PING["zen"])
    assert len(over) == len(exact) + 1
    status, answer = small.post(over, signed_headers(over))
    assert (status, answer["outcome"]) == (413, "too_large")
    assert small.snapshot() == (0, 0)
    assert small.post(exact, signed_headers(exact))[1]["outcome"] == "queued"
    assert small.snapshot() == (1, 1)


def test_chunked_body_over_the_configured_limit_is_413(settings, store, queue):
    # No Content-Length (Transfer-Encoding: chunked, which gunicorn passes on with
    # wsgi.input_terminated): werkzeug stops reading at MAX_CONTENT_LENGTH without raising, so the
    # app must read one byte past the limit to know the body is too large (a 401 on the cut body
    # would be the wrong answer).
    exact = _ping()
    small = Intake(dataclasses.replace(settings, max_body_bytes=len(exact)), store, queue)
    over = _ping(zen="x" + PING["zen"])
    headers = {**signed_headers(over), "Transfer-Encoding": "chunked"}
    status, answer = small.post(over, headers, environ_overrides={"wsgi.input_terminated": True})
    assert (status, answer["outcome"]) == (413, "too_large")
    assert small.snapshot() == (0, 0)


def test_chunked_body_within_the_limit_is_read_whole(settings, store, queue):
    exact = _ping()
    small = Intake(dataclasses.replace(settings, max_body_bytes=len(exact)), store, queue)
    headers = {**signed_headers(exact), "Transfer-Encoding": "chunked"}
    status, answer = small.post(exact, headers, environ_overrides={"wsgi.input_terminated": True})
    assert (status, answer["outcome"]) == (202, "queued")


class _MustNotBeRead(io.RawIOBase):
    """A request body of BIG_LENGTH bytes that fails the test if anyone reads from it."""

    def __init__(self):
        super().__init__()
        self._pos = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):  # the test client measures the stream this way
        self._pos = offset + (BIG_LENGTH if whence == io.SEEK_END else 0)
        return self._pos

    def tell(self):
        return self._pos

    def readinto(self, _buffer):
        raise AssertionError("the body was read although Content-Length is over the limit")


def test_declared_length_over_25mb_is_413_without_reading_the_body(bot):
    status, answer = bot.post(b"", {"Content-Type": "application/json", "X-GitHub-Event": "ping"},
                              input_stream=_MustNotBeRead())
    assert (status, answer["outcome"]) == (413, "too_large")
    assert bot.snapshot() == (0, 0)


# --- bodies the fuzzers once broke the intake with (bot/ fixed in 599ad46) --------------------


@pytest.mark.parametrize("body", [
    pytest.param(_nest(5000, "array"), id="deep-array"),
    pytest.param(b'{"zen":' + _nest(5000, "object") + b"}", id="deep-object"),
])
def test_deeply_nested_json_is_a_400(bot, body):
    # json.loads raises RecursionError, not ValueError, past ~1000 levels: it was a 500.
    status, answer = bot.post(body, signed_headers(body))
    assert (status, answer["outcome"]) == (400, "bad_json")
    assert bot.snapshot() == (0, 0)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-le", "utf-8-sig"])
def test_only_plain_utf8_json_is_accepted(bot, encoding):
    # json.loads(bytes) sniffs UTF-16/32 and a UTF-8 BOM, and web.py then decoded the body as
    # UTF-8: a 500, text with NULs (a 500 on PostgreSQL), or a row the worker could never parse.
    body = json.dumps({"zen": "hello", "repository": {"full_name": "acme/models"}}).encode(encoding)
    status, answer = bot.post(body, signed_headers(body))
    assert (status, answer["outcome"]) == (400, "bad_json")
    assert bot.snapshot() == (0, 0)


@pytest.mark.parametrize("payload", [
    pytest.param({"installation": {"id": 2**63}}, id="installation-id-over-int64"),
    pytest.param({"installation": {"id": -(2**63) - 1}}, id="installation-id-under-int64"),
    pytest.param({"installation": {"id": 0}}, id="installation-id-zero"),
    pytest.param({"installation": {"id": True}}, id="installation-id-bool"),
    pytest.param({"action": "a" * 65}, id="action-over-64-chars"),
    pytest.param({"repository": {"full_name": "acme/" + "m" * 300}}, id="full-name-over-255-chars"),
    pytest.param({"action": "open\u0000ed"}, id="nul-in-action"),
    pytest.param({"repository": {"full_name": "acme/\u0000"}}, id="nul-in-full-name"),
    pytest.param({"action": "\ud800"}, id="lone-surrogate-in-action"),
    pytest.param({"repository": {"full_name": "acme/\udfff"}}, id="lone-surrogate-in-full-name"),
])
def test_routing_fields_the_store_cannot_hold_are_a_400(bot, payload):
    # The columns are String(64), String(255) and BIGINT, PostgreSQL text refuses NUL, and neither
    # driver encodes a lone surrogate: the insert raised and the request ended in a 500.
    body = json.dumps({**PING, **payload}).encode()
    status, answer = bot.post(body, signed_headers(body, event="installation"))
    assert (status, answer["outcome"]) == (400, "bad_json")
    assert bot.snapshot() == (0, 0)


@pytest.mark.parametrize("payload", [
    pytest.param({"action": "a" * 64, "installation": {"id": INT64_MAX}}, id="at-the-limits"),
    # GitHub allows repository names of up to 100 characters (owners: 39); longer is refused (403).
    pytest.param({"repository": {"full_name": "acme/" + "m" * 100}}, id="full-name-longest-name-github-allows"),
    pytest.param({"action": "créé ✓", "zen": "\\u0000 written out is fine"}, id="unicode-and-an-escape-as-text"),
])
def test_routing_fields_at_the_limits_are_recorded(bot, payload):
    body = json.dumps({**PING, **payload}, ensure_ascii=False).encode()
    status, answer = bot.post(body, signed_headers(body, event="installation"))
    assert (status, answer["outcome"]) == (202, "queued")
    assert bot.snapshot() == (1, 1)


# --- under real gunicorn --------------------------------------------------------------------------


def _raw_exchange(url: str, request: bytes, timeout: float = 10.0) -> bytes:
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


@pytest.mark.slow
def test_identical_deliveries_at_once_are_queued_exactly_once(bot_env, bot, tmp_path):
    body = _ping()
    headers = signed_headers(body, delivery="f0e1d2c3-b4a5-4697-8899-aabbccddeeff")
    n = 20
    (tmp_path / "prom").mkdir()
    with web_process({**bot_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}, workers=2) as url:
        netloc = urllib.parse.urlsplit(url).netloc
        conns = [http.client.HTTPConnection(netloc, timeout=30) for _ in range(n)]
        for c in conns:
            c.connect()
        start = threading.Barrier(n)
        results: list = [None] * n

        def fire(i):
            start.wait()
            conns[i].request("POST", "/webhook", body=body, headers=headers)
            r = conns[i].getresponse()
            results[i] = (r.status, json.loads(r.read())["outcome"])

        threads = [threading.Thread(target=fire, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for c in conns:
            c.close()

        # Declared over 25 MB: answered at once, before any of the body is sent or read.
        head = (f"POST /webhook HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: application/json\r\n"
                f"X-GitHub-Event: ping\r\nContent-Length: {BIG_LENGTH}\r\n\r\n").encode()
        answer = _raw_exchange(url, head)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b'"too_large"' in answer

    assert sorted(results) == [(202, "duplicate")] * (n - 1) + [(202, "queued")]
    assert bot.rows_for(headers["X-GitHub-Delivery"]) == 1
    assert bot.snapshot() == (1, 1)


def test_the_web_process_imports_neither_github_nor_aws_clients(bot_env):
    """Import the WSGI app as gunicorn does, serve one signed delivery, then look at sys.modules and
    at every socket the process opened: only the store and the queue, never GitHub or AWS."""
    script = r"""
import json, socket, sys, uuid
opened = []
_connect = socket.socket.connect
def connect(self, address):
    opened.append(repr(address))
    return _connect(self, address)
socket.socket.connect = connect
import bot.app.wsgi
from bot.app.intake import sign
from bot.adapters.migrate import migrate
from bot.adapters.store import make_engine
from bot.core.config import load_settings
migrate(make_engine(load_settings().database_url))
statuses = []
for event, body in (("installation", json.dumps({"action": "created", "installation": {"id": 1}}).encode()),
                    ("pull_request", sys.argv[2].encode())):
    r = bot.app.wsgi.app.test_client().post("/webhook", data=body, headers={
        "Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(sys.argv[1], body)})
    statuses.append(r.status_code)
heavy = ["github", "boto3", "botocore", "numpy", "scipy", "sagemaker", "requests", "jwt"]
print(json.dumps({"statuses": statuses, "imported": [m for m in heavy if m in sys.modules], "sockets": opened}))
"""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MODELBOT_", "DATABASE_URL", "REDIS_URL"))}
    env.update(bot_env, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", script, SECRET, REAL_BODY.decode()], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["statuses"] == [202, 202]
    assert seen["imported"] == []
    allowed_ports = set()
    for url in (bot_env.get("DATABASE_URL"), bot_env.get("REDIS_URL")):
        if url:
            allowed_ports.add(urllib.parse.urlsplit(url.replace("+psycopg", "")).port or 5432)
    for address in seen["sockets"]:
        assert any(f", {p})" in address for p in allowed_ports), (address, allowed_ports)
