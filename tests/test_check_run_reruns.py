"""Re-runs of modelbot's checks (`check_run.rerequested`, `check_suite.rerequested`) and the
compare check's button, through the signed webhook against the fake GitHub."""

from __future__ import annotations

from tests.support import webhooks
from tests.test_conversation_flow import REPO, bot, open_pr  # noqa: F401 - fixture


def head(bot, number=5):
    return bot.github.head_sha(REPO, bot.github.pull(REPO, number))


def rerun(bot, name, sender, **kw):
    run = bot.github.check_runs_for(REPO, head_sha=head(bot), name=name)[-1]
    return run, bot.deliver("check_run", webhooks.check_run(
        "rerequested", name=name, check_run_id=run.id, head_sha=run.head_sha, sender=sender,
        installation_id=bot.github.repo(REPO).installation_id, **{"app_id": bot.github.app_id, **kw}))


def replies(bot, number=5):
    return [c.body for c in bot.github.comments_on(REPO, number) if "<!-- modelbot:reply:check" in c.body]


def test_a_re_run_evaluates_the_check_again_for_that_head(bot):
    open_pr(bot)
    assert bot.github.check_runs_for(REPO, head_sha=head(bot), name="modelbot/approval")[-1].conclusion == "failure"
    bot.github.add_review(REPO, 5, "carol", "APPROVED")  # GitHub sent nothing (a lost delivery)
    run, status = rerun(bot, "modelbot/approval", "alice")
    assert status == "done"
    latest = bot.github.check_runs_for(REPO, head_sha=head(bot), name="modelbot/approval")[-1]
    assert latest.conclusion == "success" and latest.id != run.id
    assert replies(bot) == []  # an allowed re-run is answered by the checks themselves
    assert not bot.github.violations


def test_a_suite_re_run_by_someone_without_access_is_refused_with_the_reason(bot):
    open_pr(bot)
    runs = len(bot.github.check_runs_for(REPO, head_sha=head(bot)))
    bot.deliver("check_suite", webhooks.check_suite(
        "rerequested", head_sha=head(bot), head_branch="feature", app_id=bot.github.app_id, sender="zed",
        installation_id=bot.github.repo(REPO).installation_id))
    [reply] = replies(bot)
    assert "zed asked to re-run" in reply and "zed has no role in this repository" in reply
    assert len(bot.github.check_runs_for(REPO, head_sha=head(bot))) == runs  # nothing evaluated again


def test_a_re_run_of_another_apps_check_does_nothing(bot):
    open_pr(bot)
    runs = len(bot.github.check_runs_for(REPO, head_sha=head(bot)))
    rerun(bot, "modelbot/validate", "alice", app_id=999)
    bot.deliver("check_suite", webhooks.check_suite(
        "rerequested", head_sha=head(bot), app_id=999, sender="alice",
        installation_id=bot.github.repo(REPO).installation_id))
    assert len(bot.github.check_runs_for(REPO, head_sha=head(bot))) == runs and replies(bot) == []


def test_re_run_comparison_is_refused_when_there_is_no_finished_comparison(bot):
    open_pr(bot)  # the manifest has no validation set: there is nothing to compare, and no button
    [run] = bot.github.check_runs_for(REPO, head_sha=head(bot), name="modelbot/compare")
    assert run.actions == []
    bot.deliver("check_run", webhooks.check_run(
        "requested_action", name=run.name, check_run_id=run.id, head_sha=run.head_sha, app_id=bot.github.app_id,
        requested_action="rerun", sender="alice", installation_id=bot.github.repo(REPO).installation_id))
    [reply] = replies(bot)
    assert "alice pressed **Re-run comparison** on `modelbot/compare`" in reply
    assert "no longer offers this button" in reply


def test_a_branch_named_like_a_merge_queue_ref_gets_nothing_from_a_re_run(bot):
    # a head GitHub never sent a merge_group delivery for: not a merge group, whatever its name
    open_pr(bot)
    sha = head(bot)
    runs = len(bot.github.check_runs_for(REPO))
    bot.deliver("check_suite", webhooks.check_suite(
        "rerequested", head_sha=sha, head_branch=f"gh-readonly-queue/main/pr-5-{'0' * 40}",
        app_id=bot.github.app_id, sender="alice", installation_id=bot.github.repo(REPO).installation_id))
    assert len(bot.github.check_runs_for(REPO)) == runs and replies(bot) == []
