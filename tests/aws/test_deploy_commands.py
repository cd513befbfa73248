"""Deploy commands against the emulator: /deploy before merge, /abort, /rollback, and a closed
pull request stopping its pre-merge deploys."""

from __future__ import annotations

from tests.aws.test_merge_to_deploy import PATH, REPO, bot, drive, manifest  # noqa: F401 - fixture
from tests.aws.test_rollout_faults import clients, first_deploy
from tests.support import webhooks


def command(bot, number, body, user):
    c = bot.github.add_comment(REPO, number, body, user=user)
    bot.deliver("issue_comment", webhooks.issue_comment(
        "created", body=body, commenter=user, comment_id=c.id, repo=REPO, number=number,
        installation_id=bot.github.repo(REPO).installation_id))
    return [x.body for x in bot.github.comments_on(REPO, number) if f"modelbot:reply:{c.id}" in x.body][0]


def open_change(bot, number=7, instance="ml.m5.xlarge"):
    gh = bot.github
    gh.set_permission(REPO, "carol", "write")
    gh.commit(REPO, "main", {".github/CODEOWNERS": "models/ @bob\n"})  # who approves, at base
    gh.open_pull_request(REPO, f"pre-{number}", number=number, user="alice", files={
        PATH: manifest(instance=instance).replace("approvals: 0", "approvals: 1")})
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number))


def test_deploy_staging_before_merge_needs_approval_and_runs_once(bot):
    open_change(bot)
    text = command(bot, 7, "/deploy staging", "carol")
    assert "not approved yet: 1 more approval from bob" in text, text
    bot.github.add_review(REPO, 7, "bob", "APPROVED")
    bot.deliver("pull_request_review", webhooks.pull_request_review(
        "submitted", reviewer="bob", **webhooks.pr_args(bot.github, REPO, 7)))
    text = command(bot, 7, "/deploy staging", "carol")
    assert "Deploying" in text, text
    [row] = bot.store.deployments(repository=REPO, trigger="command")
    assert (row.environment, row.status) == ("staging", "pending")
    assert command(bot, 7, "/deploy staging", "carol").count("already being deployed") == 1  # once
    drive(bot)
    assert bot.store.deployment(row.id).status == "succeeded"
    staging = clients(bot).describe_endpoint(EndpointName="fraud-detector-staging")
    assert staging["EndpointStatus"] == "InService"


def test_rollback_returns_to_the_previous_deployment(bot):
    first = first_deploy(bot)
    gh = bot.github
    gh.open_pull_request(REPO, "change-5", number=5, user="alice",
                         files={PATH: manifest().replace("instance_type: ml.m5.xlarge", "instance_type: ml.m5.2xlarge")})
    gh.add_review(REPO, 5, "bob", "APPROVED")
    sha = gh.merge_pull_request(REPO, 5)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, 5)))
    drive(bot)
    gh.set_permission(REPO, "erin", "admin")
    text = command(bot, 5, "/rollback production", "erin")
    assert f"back to `{first[:7]}`" in text, text
    drive(bot)
    described = clients(bot).describe_endpoint(EndpointName="fraud-detector")
    assert described["EndpointConfigName"].endswith(first[:7])


def test_closing_a_pr_stops_its_pre_merge_deploys(bot):
    open_change(bot, number=8)
    bot.github.add_review(REPO, 8, "bob", "APPROVED")
    assert "Deploying" in command(bot, 8, "/deploy staging", "carol")
    bot.github.close_pull_request(REPO, 8)
    bot.deliver("pull_request", webhooks.pull_request("closed", **webhooks.pr_args(bot.github, REPO, 8)))
    drive(bot)
    [row] = bot.store.deployments(repository=REPO, trigger="command")
    assert row.status == "aborted"


def test_the_rollout_table_survives_a_refresh_of_the_report(bot):
    open_change(bot, number=9)
    bot.github.add_review(REPO, 9, "bob", "APPROVED")
    command(bot, 9, "/deploy staging", "carol")
    drive(bot)
    command(bot, 9, "/plan", "carol")  # the report is rendered again from scratch
    report = [c.body for c in bot.github.comments_on(REPO, 9) if "<!-- modelbot:report -->" in c.body][0]
    assert report.count("#### Deployment") == 1 and "✅ deployed" in report
