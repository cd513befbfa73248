"""Intake rules from issue #11, deliverable 7: what a signed delivery may still not do.

- allowlist patterns never cross `/` (`acme/ml-*` matched `acme/ml-x/../../evil/repo`);
- a delivery without a repository is accepted only for an event that has none;
- internal events (`modelbot_compare`) are never accepted from the webhook, even signed;
- a string PostgreSQL cannot store (NUL, a lone surrogate) anywhere in the payload is a 400
  at the door, not a handler failure retried five times.
"""

from __future__ import annotations

import json
import uuid

import pytest

from bot.app import intake
from bot.core.config import Secret, ServerConfig, repository_matches
from bot.app.features import load_router
from bot.app.services.pull_comparison import POLL_EVENT
from bot.app.router import is_internal_event
from tests.conftest import SECRET

HANDLED = load_router().keys()
SECRETS = [Secret(SECRET)]


def inspect(payload: dict, event: str, *, allow=lambda name: True, raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
               "X-Hub-Signature-256": intake.sign(SECRET, body), "Content-Type": "application/json"}
    return intake.inspect_delivery(headers=headers, body=body, secrets=SECRETS, handled=HANDLED,
                                   allow_repository=allow)


@pytest.mark.parametrize("name,pattern,expected", [
    ("acme/ml-models", "acme/ml-*", True),
    ("ACME/ML-Models", "acme/ml-*", True),
    ("acme/ml-x/../../evil/repo", "acme/ml-*", False),
    ("acme/ml-x/evil", "acme/ml-*", False),
    ("acme/..", "acme/*", False),
    ("acme/.", "acme/*", False),
    ("acme/ml-a", "acme/ml-?", True),
    ("acme/ml-/", "acme/ml-?", False),
    ("evil/acme", "*/acme", True),
    ("evil/x/acme", "*/acme", False),
    ("acme", "acme/*", False),
    ("", "*/*", False),
    (None, "*/*", False),
    ("acme/models\n", "acme/*", False),
])
def test_allowlist_patterns_match_segment_by_segment(name, pattern, expected):
    assert repository_matches(name, pattern) is expected
    assert ServerConfig(repositories=[pattern]).allows_repository(name) is expected


def test_a_traversal_name_is_refused_at_intake():
    config = ServerConfig(repositories=["acme/ml-*"])
    got = inspect({"action": "opened", "repository": {"full_name": "acme/ml-x/../../evil/repo"}},
                  "pull_request", allow=config.allows_repository)
    assert (got.status, got.outcome) == (403, "forbidden_repository")


@pytest.mark.parametrize("event,action", [("pull_request", "opened"), ("issue_comment", "created"), ("push", None),
                                          ("pull_request_review", "submitted")])
def test_an_event_about_a_repository_without_one_is_refused(event, action):
    got = inspect({"action": action} if action else {}, event)
    assert isinstance(got, intake.Rejection)
    assert (got.status, got.outcome) == (400, "bad_json") and "repository" in got.reason


@pytest.mark.parametrize("event,action", [("ping", None), ("installation", "created")])
def test_events_that_have_no_repository_are_accepted_without_one(event, action):
    payload = {"zen": "Keep it logically awesome.", "hook_id": 1}
    if action:
        payload["action"] = action
    got = inspect(payload, event)
    assert isinstance(got, intake.Delivery) and got.repository is None


def test_the_events_without_repository_follow_githubs_webhook_schemas():
    from tests.support.webhooks import event_actions

    # Every handled GitHub event that must carry a repository is outside the exemption.
    for key in HANDLED:
        event = key.split(".")[0]
        if is_internal_event(event):
            continue
        # merge_group: GitHub's schema does not require `repository` (its handler checks it)
        assert (event in intake.EVENTS_WITHOUT_REPOSITORY) == (event in {"ping", "installation", "merge_group"}), event
    assert set(event_actions())  # the subset the tests hold the bot against is there


def test_internal_events_are_never_accepted_from_the_webhook_even_signed():
    assert is_internal_event(POLL_EVENT)
    assert any(key.startswith(POLL_EVENT) for key in HANDLED)  # the worker does route it
    for action in ("poll", None):
        payload = {"repository": {"full_name": "acme/models"}, "installation": {"id": 1}}
        if action:
            payload["action"] = action
        got = inspect(payload, POLL_EVENT)
        assert isinstance(got, intake.Rejection)
        assert (got.status, got.outcome) == (403, "forbidden_event")


@pytest.mark.parametrize("payload,where", [
    ({"comment": {"user": {"login": "mal\u0000lory"}}}, "comment.user.login"),
    ({"comment": {"body": "/plan\u0000"}}, "comment.body"),
    ({"commits": [{"message": "ok"}, {"message": "bad\u0000"}]}, "commits[1].message"),
    ({"sender": {"login": "\ud800"}}, "sender.login"),
    ({"labels": {"na\u0000me": 1}}, "labels"),
])
def test_strings_postgresql_cannot_store_are_refused_at_intake(payload, where):
    body = json.dumps({"action": "created", "repository": {"full_name": "acme/models"}, **payload}).encode()
    got = inspect({}, "issue_comment", raw=body)
    assert isinstance(got, intake.Rejection)
    assert (got.status, got.outcome) == (400, "bad_json")
    assert where in got.reason


def test_an_escape_written_out_as_text_is_fine():
    got = inspect({"action": "created", "repository": {"full_name": "acme/models"},
                   "comment": {"body": "see \\u0000 in the docs"}}, "issue_comment")
    assert isinstance(got, intake.Delivery)
