"""Exception text never carries a secret to GitHub (issue #11, deliverable 5).

What the bot writes on GitHub (PR comments, check runs, command replies, deployment statuses)
is rendered from templates (bot/core/render.py), and every value a template prints goes through
`bot.core.redact.scrub`, the function the logs and stored errors use. Here a real exception whose
text holds a presigned S3 URL, a `?token=` download link, an `Authorization:` value, a GitHub
installation token and an AWS access key id is raised inside a comparison, and the check run
and the PR report the fake GitHub received are searched for each of them.
"""

from __future__ import annotations

from bot.adapters import sources
from bot.core.render import render, short_text
from tests.compare_e2e import helpers as h
from tests.compare_e2e.test_pull_requests import bot, compare_run, files, installation, open_pr, report  # noqa: F401

SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
TICKET = "AAAQ7ArchiveTicketXYZ0123"
GH_TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
SECRETS = (SIGNATURE, AWS_KEY_ID, TICKET, GH_TOKEN)


def hostile_error() -> RuntimeError:
    return RuntimeError(
        f"GET https://acme-data.s3.amazonaws.com/v.csv?X-Amz-Credential={AWS_KEY_ID}%2F20261202&X-Amz-Signature="
        f"{SIGNATURE} failed; retried https://codeload.github.com/acme/models/legacy.tar.gz/main?token={TICKET} "
        f"with Authorization: token {GH_TOKEN}")


def test_a_comparison_failing_with_secrets_in_its_exception_shows_none_of_them(bot, fake_github, monkeypatch):
    def fetch(self, location, **kw):
        raise hostile_error()

    monkeypatch.setattr(sources.RepoFetcher, "fetch", fetch)
    number = open_pr(fake_github, files())
    assert bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number)) == "done"

    run = compare_run(fake_github, number)
    comment = report(fake_github, number)
    assert run.conclusion == "failure"
    for text in (run.title, run.summary, run.text or "", comment):
        for secret in SECRETS:
            assert secret not in text, (secret, text)
    # the failure is still there to read, with the secrets masked where they stood
    for text in (run.summary, comment):
        assert "the comparison failed unexpectedly (RuntimeError: GET https://acme-data.s3.amazonaws.com/v.csv?" \
               "X-Amz-Credential=***&X-Amz-Signature=*** failed" in text
        assert "legacy.tar.gz/main?token=*** with Authorization: ***" in text
    # and every request the fake GitHub took, whatever its endpoint
    writes = [c for c in fake_github.requests("*", "") if c.method in ("POST", "PATCH", "PUT")]
    assert any("X-Amz-Signature=***" in repr(c.json) for c in writes)
    for call in fake_github.requests("*", ""):
        for secret in SECRETS:
            assert secret not in repr(call.json), (secret, call.method, call.path)


def _render_value(value) -> str:
    from bot.core.render import environment

    return environment().from_string("{{ v }}").render(v=value)


def test_every_value_a_template_prints_is_redacted_whatever_its_type():
    exc = hostile_error()
    for value in (str(exc), exc, {"error": str(exc)}, [exc]):
        text = _render_value(value)
        assert all(s not in text for s in SECRETS), text
        assert "token=***" in text
    assert _render_value(42) == "42" and _render_value(None) == "None" and _render_value(0.5) == "0.5"


def test_only_an_explicit_reveal_shows_a_token():
    from bot.core.render import environment

    template = environment().from_string('curl -H "Authorization: token {{ t | reveal }}" # {{ t }}')
    assert template.render(t=GH_TOKEN) == f'curl -H "Authorization: token {GH_TOKEN}" # ***'


def test_github_bounded_descriptions_are_redacted_too():
    text = short_text(f"rollout failed: {hostile_error()}", 140)
    assert len(text) <= 140 and all(s not in text for s in SECRETS)
    assert text.startswith("rollout failed: GET https://acme-data.s3.amazonaws.com/v.csv?X-Amz-Credential=***")


def test_the_compare_outcome_template_shows_a_redacted_error():
    from bot.app.services.comparison import ERROR, CompareOutcome

    outcome = CompareOutcome("models/churn/modelbot.yaml", "churn", "production", "pipeline", ERROR, ERROR,
                             task="binary", error=str(hostile_error()), problem="internal", commit="a" * 40)
    text = render("compare/outcome.md.j2", o=outcome)
    assert "> GET https://acme-data.s3.amazonaws.com/v.csv?X-Amz-Credential=***" in text
    assert all(s not in text for s in SECRETS)
