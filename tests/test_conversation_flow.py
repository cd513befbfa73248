"""Slash commands and approvals through the signed webhook, against the fake GitHub."""

from __future__ import annotations

import pytest

from bot.core.report import part_of
from tests.conftest import ROOT, SECRET
from tests.support import webhooks
from tests.support.harness import Harness

REPO = "acme/models"
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()  # owners: [alice]; staging, 1 approval
PATH = "models/churn/modelbot.yaml"


@pytest.fixture
def bot(settings, store, queue, fake_github):
    inst = fake_github.add_installation("acme").id
    base_manifest = MINIMAL.replace("owners: [alice]", "owners: [carol, \"@acme/ml\"]")
    fake_github.add_repo(REPO, {PATH: base_manifest, ".github/CODEOWNERS": "models/ @dave\n"}, installation_id=inst)
    for login, role in (("alice", "write"), ("bob", "read"), ("carol", "write"), ("dave", "write"),
                        ("erin", "admin"), ("mallory", "write")):
        fake_github.set_permission(REPO, login, role)
    fake_github.add_team_member("acme", "ml", "frank")
    fake_github.set_permission(REPO, "frank", "write")
    return Harness(settings, store, queue, fake_github, secret=SECRET)


def open_pr(bot, files=None, user="alice", number=5):
    bot.github.open_pull_request(REPO, "feature", files=files or {PATH: MINIMAL.replace("ml.m5.large", "ml.m5.xlarge")},
                                 number=number, user=user)
    return bot.deliver("pull_request", bot.pr_event("opened", REPO, number))


def comment(bot, body, user="alice", number=5, user_type="User", action="created", delivery_id=None):
    c = bot.github.add_comment(REPO, number, body, user=user)
    payload = webhooks.issue_comment(action, body=body, commenter=user, comment_id=c.id, repo=REPO, number=number,
                                     commenter_type=user_type, installation_id=bot.github.repo(REPO).installation_id)
    status = bot.deliver("issue_comment", payload, delivery_id=delivery_id)
    return c, status


def review(bot, reviewer, state="approved", number=5, commit_id=None):
    pr = bot.github.pull(REPO, number)
    bot.github.add_review(REPO, number, reviewer, state.upper(), commit_id=commit_id)
    payload = webhooks.pull_request_review("submitted", state=state, reviewer=reviewer,
                                           **webhooks.pr_args(bot.github, REPO, number))
    del pr
    return bot.deliver("pull_request_review", payload)


def reply_to(bot, c, number=5):
    marker = f"<!-- modelbot:reply:{c.id} -->"
    found = [x.body for x in bot.github.comments_on(REPO, number) if marker in x.body]
    assert len(found) <= 1
    return found[0] if found else None


def reactions(bot, c):
    return [r.content for r in c.reactions]


def approval(bot, number=5):
    pr = bot.github.pull(REPO, number)
    runs = bot.github.check_runs_for(REPO, head_sha=bot.github.head_sha(REPO, pr), name="modelbot/approval")
    return runs[-1]


# --- approvals --------------------------------------------------------------------------------


def test_an_owner_at_base_approving_the_head_satisfies_the_environment(bot):
    open_pr(bot)
    assert approval(bot).conclusion == "failure"
    assert "1 more approval" in approval(bot).summary
    review(bot, "carol")
    run = approval(bot)
    assert (run.conclusion, run.title) == ("success", "Approved for staging")
    report = [c.body for c in bot.github.comments_on(REPO, 5) if part_of(c.body) == 1][0]
    assert "#### Approvals" in report


def test_deleting_a_manifest_needs_an_owners_approval_even_where_none_is_asked(bot):
    # At base the manifest asks for no approval in staging; deleting it tears the endpoint down.
    no_approvals = MINIMAL.replace("owners: [alice]", "owners: [carol]").replace(
        "    instance_type: ml.m5.large", "    instance_type: ml.m5.large\n    approvals: 0")
    assert "approvals: 0" in no_approvals
    bot.github.commit(REPO, "main", {PATH: no_approvals})
    open_pr(bot, files={PATH: None})
    run = approval(bot)
    assert run.conclusion == "failure" and "1 more approval" in run.summary, run.summary
    review(bot, "carol")
    assert approval(bot).conclusion == "success"


def test_self_approval_never_counts(bot):
    open_pr(bot, user="carol")  # carol owns the manifest at base, but wrote the PR
    review(bot, "carol")
    assert approval(bot).conclusion == "failure"


def test_owners_edited_in_the_pr_head_do_not_count(bot):
    widened = MINIMAL.replace("owners: [alice]", "owners: [mallory]").replace("ml.m5.large", "ml.m5.xlarge")
    open_pr(bot, files={PATH: widened})
    review(bot, "mallory")  # an owner only in the PR's own head
    assert approval(bot).conclusion == "failure"


def test_codeowners_count_at_base_not_as_edited_in_the_head(bot):
    # Editing CODEOWNERS needs its own owners' approval at base too: here dave owns it as well.
    bot.github.commit(REPO, "main", {".github/CODEOWNERS": "models/ @dave\n/.github/ @dave\n"})
    open_pr(bot, files={PATH: MINIMAL.replace("ml.m5.large", "ml.m5.xlarge"),
                        ".github/CODEOWNERS": "models/ @mallory\n"})
    review(bot, "mallory")
    assert approval(bot).conclusion == "failure"
    review(bot, "dave")  # CODEOWNERS owner at base
    assert approval(bot).conclusion == "success"


def test_team_owners_approve_through_membership(bot):
    open_pr(bot)
    review(bot, "frank")  # member of @acme/ml, an owner at base
    assert approval(bot).conclusion == "success"


def test_a_push_makes_approvals_stale_unless_the_tree_is_unchanged(bot):
    open_pr(bot)
    review(bot, "carol")
    assert approval(bot).conclusion == "success"
    bot.github.commit(REPO, "feature", {PATH: MINIMAL.replace("ml.m5.large", "ml.m5.2xlarge")})
    bot.deliver("pull_request", bot.pr_event("synchronize", REPO, 5))
    assert approval(bot).conclusion == "failure"


def test_changes_requested_by_an_owner_blocks(bot):
    open_pr(bot)
    review(bot, "dave", state="changes_requested")
    review(bot, "carol")
    run = approval(bot)
    assert run.conclusion == "failure" and "changes requested" in run.title
    review(bot, "dave")  # the same owner approves later: unblocked
    assert approval(bot).conclusion == "success"


# --- commands ---------------------------------------------------------------------------------


def test_help_is_answered_with_eyes_then_rocket(bot):
    open_pr(bot)
    c, status = comment(bot, "/help", user="bob")
    assert status == "done"
    text = reply_to(bot, c)
    assert "/deploy" in text and "/unlock" in text
    assert reactions(bot, c) == ["eyes", "rocket"]


def test_unknown_commands_get_help_and_a_suggestion(bot):
    open_pr(bot)
    c, _ = comment(bot, "/pln")
    text = reply_to(bot, c)
    assert "/plan" in text and "did you mean" in text.lower()
    assert reactions(bot, c)[-1] == "confused"


def test_hold_blocks_and_unhold_releases(bot):
    open_pr(bot)
    review(bot, "carol")
    assert approval(bot).conclusion == "success"
    c, _ = comment(bot, "/hold")
    assert approval(bot).conclusion == "failure" and "on hold" in approval(bot).title
    assert "on hold" in reply_to(bot, c)
    comment(bot, "/unhold")
    assert approval(bot).conclusion == "success"


def test_a_command_from_someone_without_permission_is_refused_with_the_reason(bot):
    open_pr(bot)
    c, _ = comment(bot, "/hold", user="bob")  # read access only
    text = reply_to(bot, c)
    assert "needs the write role" in text and "bob has read" in text
    assert bot.store.hold(REPO, 5) is None
    assert reactions(bot, c)[-1] == "confused"


def test_strangers_are_refused(bot):
    open_pr(bot)
    c, _ = comment(bot, "/plan", user="stranger")
    assert "no role in this repository" in reply_to(bot, c)


def test_bots_and_the_app_itself_are_ignored(bot):
    open_pr(bot)
    writes = bot.github.count("POST") + bot.github.count("PATCH")
    comment(bot, "/hold", user="dependabot[bot]", user_type="Bot")
    assert bot.github.count("POST") + bot.github.count("PATCH") == writes
    assert bot.store.hold(REPO, 5) is None


def test_edited_comments_do_not_run_commands(bot):
    open_pr(bot)
    c, status = comment(bot, "/hold", action="edited")
    assert status in ("ignored", "done")
    assert bot.store.hold(REPO, 5) is None and reply_to(bot, c) is None


def test_a_redelivered_command_replies_once(bot):
    open_pr(bot)
    c = bot.github.add_comment(REPO, 5, "/status", user="alice")
    payload = webhooks.issue_comment("created", body="/status", commenter="alice", comment_id=c.id, repo=REPO,
                                     number=5, installation_id=bot.github.repo(REPO).installation_id)
    bot.deliver("issue_comment", payload)
    bot.deliver("issue_comment", payload)  # a new delivery id: the handler runs again
    replies = [x for x in bot.github.comments_on(REPO, 5) if f"modelbot:reply:{c.id}" in x.body]
    assert len(replies) == 1 and "| hold | none |" in replies[0].body


def test_plan_refreshes_the_report(bot):
    open_pr(bot)
    c, _ = comment(bot, "/plan")
    assert "brought up to date" in reply_to(bot, c)


def test_unlock_needs_admin_and_releases_this_prs_endpoint_locks(bot):
    open_pr(bot)
    bot.store.acquire_lock("staging:churn-staging", "acme/models#99", 3600)
    c, _ = comment(bot, "/unlock staging", user="alice")
    assert "admin" in reply_to(bot, c)
    assert bot.store.lock("staging:churn-staging") is not None
    c, _ = comment(bot, "/unlock staging", user="erin")
    assert "staging:churn-staging" in reply_to(bot, c)
    assert bot.store.lock("staging:churn-staging") is None


def test_deploy_needs_the_environments_approvals(bot):
    open_pr(bot)
    c, _ = comment(bot, "/deploy staging", user="carol")
    assert "`staging` is not approved yet: 1 more approval" in reply_to(bot, c)
    assert reactions(bot, c)[-1] == "confused"
    assert bot.store.deployments(repository=REPO) == []


def test_production_deploys_only_on_merge(bot, settings):
    open_pr(bot)
    c, _ = comment(bot, "/deploy production", user="erin")
    assert "deployed only when this pull request is merged" in reply_to(bot, c)


def test_abort_with_nothing_in_flight_says_so(bot):
    open_pr(bot)
    c, _ = comment(bot, "/abort staging", user="carol")
    assert "nothing to abort" in reply_to(bot, c)


# --- locks ------------------------------------------------------------------------------------


def test_a_pr_touching_a_locked_endpoint_shows_the_holder_and_a_closed_pr_releases_its_locks(bot):
    bot.store.acquire_lock("staging:churn-staging", "acme/models#4", 3600)
    open_pr(bot)
    report = [c.body for c in bot.github.comments_on(REPO, 5) if part_of(c.body) == 1][0]
    assert "#### Endpoint locks" in report and "`staging:churn-staging` is locked by acme/models#4" in report
    bot.github.open_pull_request(REPO, "other", files={"README.md": "x\n"}, number=4)
    bot.github.close_pull_request(REPO, 4)
    closed = webhooks.pull_request("closed", **webhooks.pr_args(bot.github, REPO, 4))
    bot.deliver("pull_request", closed)
    assert bot.store.lock("staging:churn-staging") is None
    bot.deliver("pull_request", bot.pr_event("synchronize", REPO, 5))
    report = [c.body for c in bot.github.comments_on(REPO, 5) if part_of(c.body) == 1][0]
    assert "Endpoint locks" not in report
