"""Webhook fixtures are GitHub's real examples held against GitHub's webhook schemas, and are
signed exactly as GitHub signs deliveries."""

from __future__ import annotations

import json
import re

import pytest

from bot.core.config import Secret
from bot.app.intake import Delivery, inspect_delivery, sign, signature_matches
from tests.support import webhooks
from tests.support.github_state import GitHubState

ALL_ACTIONS = [(event, action) for event, actions in webhooks.event_actions().items() for action in actions]


@pytest.mark.parametrize("event, action", ALL_ACTIONS, ids=[f"{e}.{a}" if a else e for e, a in ALL_ACTIONS])
def test_every_kept_event_has_a_payload_that_validates(event, action):
    built = webhooks.payload(event, action)

    assert webhooks.errors(event, action, built) == []
    assert built.get("action") == action


def test_old_examples_fail_the_current_schema_and_are_not_used_as_recorded():
    """The only recorded synchronize example predates `has_discussions`: validation says so."""
    [recorded] = webhooks.examples("pull_request", "synchronize")

    assert webhooks.errors("pull_request", "synchronize", recorded) == [
        "$.pull_request.base.repo: 'has_discussions' is a required property",
        "$.pull_request.head.repo: 'has_discussions' is a required property",
    ]
    webhooks.validate("pull_request", "synchronize", webhooks.bring_up_to_date(recorded))


def test_payload_deep_merges_overrides_and_validates_them():
    built = webhooks.payload("pull_request", "opened", number=7, pull_request={"title": "Retrain churn"})

    assert (built["number"], built["pull_request"]["title"]) == (7, "Retrain churn")
    assert built["pull_request"]["head"]["sha"]  # the rest of the example is kept
    with pytest.raises(webhooks.InvalidPayload, match=r"\$\.number: '7' is not of type 'integer'"):
        webhooks.payload("pull_request", "opened", number="7")


def test_a_pull_request_without_number_is_rejected():
    built = webhooks.pull_request("opened")
    del built["number"]

    with pytest.raises(webhooks.InvalidPayload) as rejected:
        webhooks.validate("pull_request", "opened", built)

    assert "pull_request.opened payload breaks webhook-pull-request-opened" in str(rejected.value)
    assert "$: 'number' is a required property" in str(rejected.value)


def test_unknown_event_or_action_names_the_fix():
    with pytest.raises(KeyError, match="WEBHOOK_ACTIONS"):
        webhooks.validate("pull_request", "milestoned", {})


# --- builders ------------------------------------------------------------------------------------


def test_pull_request_builder_fills_everything_consistently():
    built = webhooks.pull_request("synchronize", repo="acme/churn", number=12, head_sha="a" * 40,
                                  base_sha="b" * 40, head_ref="retrain", user="dana", installation_id=77,
                                  before="c" * 40)
    pr = built["pull_request"]

    assert (built["number"], pr["number"], built["installation"]["id"]) == (12, 12, 77)
    assert (built["before"], built["after"]) == ("c" * 40, "a" * 40)
    assert (pr["head"]["sha"], pr["head"]["ref"], pr["base"]["sha"], pr["base"]["ref"]) == \
        ("a" * 40, "retrain", "b" * 40, "main")
    assert built["repository"]["full_name"] == pr["head"]["repo"]["full_name"] == "acme/churn"
    assert (built["repository"]["owner"]["login"], pr["user"]["login"], built["sender"]["login"]) == \
        ("acme", "dana", "dana")
    assert pr["url"] == "https://api.github.com/repos/acme/churn/pulls/12"


def test_merged_pull_request():
    built = webhooks.merged_pull_request(number=3, merge_commit_sha="d" * 40, merged_by="carol")
    pr = built["pull_request"]

    assert built["action"] == "closed"
    assert (pr["merged"], pr["state"], pr["merge_commit_sha"], pr["merged_by"]["login"]) == \
        (True, "closed", "d" * 40, "carol")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", pr["merged_at"])
    assert webhooks.pull_request("closed")["pull_request"]["merged"] is False


def test_issue_comment_on_a_pull_request_and_on_an_issue():
    on_pr = webhooks.issue_comment(body="/deploy staging", commenter="erin", number=5, comment_id=99)
    on_issue = webhooks.issue_comment(on_pull_request=False, number=6)

    assert on_pr["issue"]["pull_request"]["url"].endswith("/pulls/5")
    assert (on_pr["comment"]["body"], on_pr["comment"]["user"]["login"], on_pr["comment"]["id"]) == \
        ("/deploy staging", "erin", 99)
    assert (on_pr["issue"]["number"], on_pr["sender"]["login"]) == (5, "erin")
    assert "pull_request" not in on_issue["issue"]


def test_bot_comment_can_be_described():
    built = webhooks.issue_comment(commenter="modelbot[bot]", commenter_type="Bot")

    assert built["comment"]["user"]["type"] == built["sender"]["type"] == "Bot"


def test_approving_review():
    built = webhooks.pull_request_review(state="approved", reviewer="bob", head_sha="e" * 40, number=4)

    assert built["action"] == "submitted"
    assert (built["review"]["state"], built["review"]["user"]["login"], built["review"]["commit_id"]) == \
        ("approved", "bob", "e" * 40)
    assert built["pull_request"]["head"]["sha"] == "e" * 40


BUILDERS = {
    "ping": ("ping", lambda: webhooks.ping(installation_id=9)),
    "installation.created": ("installation", lambda: webhooks.installation("created", installation_id=9)),
    "installation.deleted": ("installation", lambda: webhooks.installation("deleted", installation_id=9)),
    "repositories.added": ("installation_repositories", lambda: webhooks.installation_repositories(
        "added", installation_id=9, repositories=["acme/a", "acme/b"])),
    "repositories.removed": ("installation_repositories",
                             lambda: webhooks.installation_repositories("removed", installation_id=9)),
    "pr.opened": ("pull_request", lambda: webhooks.pull_request("opened", installation_id=9)),
    "pr.edited": ("pull_request", lambda: webhooks.pull_request("edited", installation_id=9)),
    "pr.ready_for_review": ("pull_request", lambda: webhooks.pull_request("ready_for_review", installation_id=9)),
    "pr.merged": ("pull_request", lambda: webhooks.merged_pull_request(installation_id=9)),
    "comment.edited": ("issue_comment", lambda: webhooks.issue_comment("edited", installation_id=9)),
    "review.dismissed": ("pull_request_review",
                         lambda: webhooks.pull_request_review("dismissed", state="dismissed", installation_id=9)),
    "push": ("push", lambda: webhooks.push(installation_id=9)),
    "check_run.rerequested": ("check_run", lambda: webhooks.check_run("rerequested", installation_id=9)),
    "check_run.requested_action": ("check_run", lambda: webhooks.check_run(
        "requested_action", requested_action="rollback", installation_id=9)),
    "check_suite.requested": ("check_suite", lambda: webhooks.check_suite("requested", installation_id=9)),
    "check_suite.completed": ("check_suite", lambda: webhooks.check_suite("completed", installation_id=9)),
}


@pytest.mark.parametrize("name", BUILDERS)
def test_every_builder_carries_the_installation_and_validates(name):
    event, build = BUILDERS[name]

    built = build()

    assert built["installation"]["id"] == 9
    assert webhooks.errors(event, built.get("action"), built) == []


def test_requested_action_carries_the_button_identifier():
    assert webhooks.check_run("requested_action", requested_action="rollback")["requested_action"] == \
        {"identifier": "rollback"}


def test_with_installation_adds_it_to_a_recorded_example():
    recorded = webhooks.payload("check_run", "completed")
    assert "installation" not in recorded

    built = webhooks.with_installation("check_run", recorded, 31)

    assert built["installation"] == webhooks.installation_ref(31)


def test_builder_arguments_can_come_from_the_fake_state():
    state = GitHubState()
    repo = state.add_repo("acme/models", installation_id=webhooks.INSTALLATION_ID)
    pr = state.open_pull_request(repo, "retrain", files={"models/a.yaml": "v: 2\n"}, user="dana", title="Retrain")

    built = webhooks.pull_request("opened", **webhooks.pr_args(state, repo, pr.number))

    assert built["pull_request"]["head"]["sha"] == state.head_sha(repo, pr)
    assert built["pull_request"]["base"]["sha"] == repo.branches["main"]
    assert (built["pull_request"]["title"], built["sender"]["login"]) == ("Retrain", "dana")
    assert built["installation"]["id"] == webhooks.INSTALLATION_ID


# --- signatures and headers ----------------------------------------------------------------------

VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_HEADER = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_documented_signature_vector():
    assert sign(VECTOR_SECRET, VECTOR_BODY) == VECTOR_HEADER
    assert signature_matches([Secret(VECTOR_SECRET)], VECTOR_BODY, VECTOR_HEADER)
    assert signature_matches([Secret("old secret"), Secret(VECTOR_SECRET)], VECTOR_BODY, VECTOR_HEADER)
    assert not signature_matches([Secret("It's a secret to everybody")], VECTOR_BODY, VECTOR_HEADER)
    assert not signature_matches([Secret(VECTOR_SECRET)], VECTOR_BODY + b"\n", VECTOR_HEADER)
    assert not signature_matches([Secret(VECTOR_SECRET)], VECTOR_BODY, VECTOR_HEADER.removeprefix("sha256="))


def test_signed_headers_are_the_ones_github_sends():
    headers = webhooks.signed_headers(VECTOR_BODY, VECTOR_SECRET, "pull_request", app_id=4242, hook_id=7)

    assert set(headers) == {
        "User-Agent", "Content-Type", "X-GitHub-Hook-ID", "X-GitHub-Event", "X-GitHub-Delivery",
        "X-GitHub-Hook-Installation-Target-Type", "X-GitHub-Hook-Installation-Target-ID",
        "X-Hub-Signature", "X-Hub-Signature-256"}
    assert headers["User-Agent"].startswith("GitHub-Hookshot/")
    assert headers["Content-Type"] == "application/json"
    assert (headers["X-GitHub-Event"], headers["X-GitHub-Hook-ID"]) == ("pull_request", "7")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", headers["X-GitHub-Delivery"])
    assert headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
    assert headers["X-GitHub-Hook-Installation-Target-ID"] == "4242"
    assert headers["X-Hub-Signature-256"] == VECTOR_HEADER
    assert webhooks.signed_headers(b"{}", "s", "push", delivery_id="abc-1")["X-GitHub-Delivery"] == "abc-1"


def test_a_signed_delivery_passes_the_bots_intake():
    event = webhooks.issue_comment(body="/plan", repo="acme/models", installation_id=42)
    body, headers = webhooks.delivery(event, "issue_comment", "s3cret")

    accepted = inspect_delivery(headers=headers, body=body, secrets=[Secret("s3cret")],
                                handled={"issue_comment.created"}, allow_repository=lambda name: True)

    assert isinstance(accepted, Delivery)
    assert (accepted.key, accepted.repository, accepted.installation_id) == \
        ("issue_comment.created", "acme/models", 42)
    assert accepted.delivery_id == headers["X-GitHub-Delivery"]
    assert json.loads(body) == accepted.payload
