"""The merge queue: `merge_group.checks_requested` gets modelbot's required checks on the merge
group's head, and a merge through the queue deploys exactly once, like a merge, however its
push and its `pull_request.closed` arrive and however often GitHub delivers them."""

from __future__ import annotations

from tests.aws.test_merge_to_deploy import PATH, REPO, bot, drive, manifest  # noqa: F401 - fixture
from tests.support import webhooks

CHECKS = ("modelbot/validate", "modelbot/approval", "modelbot/compare")


def queue(bot, number, files):
    """PR `number` approved and in the merge queue: its merge group's head commit and delivery."""
    gh = bot.github
    gh.open_pull_request(REPO, f"change-{number}", files=files, number=number, user="alice")
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number))
    gh.add_review(REPO, number, "bob", "APPROVED")
    base = gh.repo(REPO).branches["main"]
    group = gh.commit(REPO, f"gh-readonly-queue/main/pr-{number}-{base}", files, parent=base,
                      message=f"Merge pull request #{number}")
    return group, webhooks.merge_group(number=number, head_sha=group, base_sha=base, repo=REPO,
                                       installation_id=gh.repo(REPO).installation_id)


def runs_on(bot, sha):
    return {name: bot.github.check_runs_for(REPO, head_sha=sha, name=name) for name in CHECKS}


def test_a_merge_group_gets_the_required_checks_on_its_head(bot):
    group, payload = queue(bot, 21, {PATH: manifest()})
    assert bot.deliver("merge_group", payload) == "done"
    runs = runs_on(bot, group)
    assert [len(r) for r in runs.values()] == [1, 1, 1]
    assert runs["modelbot/validate"][-1].conclusion == "success"
    assert runs["modelbot/approval"][-1].conclusion == "success", runs["modelbot/approval"][-1].summary
    assert runs["modelbot/compare"][-1].actions == []  # no button on a merge group
    assert bot.deliver("merge_group", payload) == "done"  # redelivered: nothing new is written
    assert [len(r) for r in runs_on(bot, group).values()] == [1, 1, 1]
    assert bot.store.deployments(repository=REPO) == []  # the queue's checks deploy nothing
    assert not bot.github.violations


def test_an_unapproved_pull_request_fails_its_merge_groups_approval_check(bot):
    gh = bot.github
    gh.open_pull_request(REPO, "change-22", files={PATH: manifest()}, number=22, user="alice")
    base = gh.repo(REPO).branches["main"]
    group = gh.commit(REPO, f"gh-readonly-queue/main/pr-22-{base}", {PATH: manifest()}, parent=base)
    bot.deliver("merge_group", webhooks.merge_group(number=22, head_sha=group, base_sha=base, repo=REPO,
                                                    installation_id=gh.repo(REPO).installation_id))
    assert runs_on(bot, group)["modelbot/approval"][-1].conclusion == "failure"


def test_a_merge_through_the_queue_deploys_exactly_once(bot):
    group, payload = queue(bot, 23, {PATH: manifest()})
    bot.deliver("merge_group", payload)
    gh = bot.github
    sha = gh.merge_pull_request(REPO, 23)  # the queue merges: the base branch moves, the PR is merged
    inst = gh.repo(REPO).installation_id
    push = webhooks.push(repo=REPO, after=sha, installation_id=inst)
    merged = webhooks.merged_pull_request(merge_commit_sha=sha, merged_by="github-merge-queue[bot]",
                                          **webhooks.pr_args(gh, REPO, 23))
    for event, body in (("push", push), ("pull_request", merged), ("push", push), ("pull_request", merged)):
        assert bot.deliver(event, body) == "done"  # each twice: GitHub may deliver again
    rows = bot.store.deployments(repository=REPO)
    assert [(r.environment, r.commit_sha) for r in rows] == [("staging", sha), ("production", sha)]
    drive(bot)
    assert [r.status for r in bot.store.deployments(repository=REPO)] == ["succeeded", "succeeded"]
    assert gh.check_runs_for(REPO, head_sha=sha, name="modelbot/deploy") == []  # no "pushed without a PR"
    assert not gh.violations
