"""modelbot as a custom deployment protection rule of a GitHub Environment: a run of GitHub Actions
deploying a commit waits on it (`deployment_protection_rule.requested`, built from GitHub's webhook
schema), and modelbot answers on the run's callback by its deploy gate's rules for the environment."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.core.policy import PolicyConfig
from bot.core.protection_rule import PullFacts, judge
from tests.support import webhooks
from tests.test_conversation_flow import PATH, REPO, bot, comment, open_pr  # noqa: F401 - fixture

NOW = dt.datetime(2026, 12, 2, 10, tzinfo=dt.timezone.utc)  # a Wednesday


def request(bot, sha, environment="staging", run_id=77, callback=None, **kw) -> dict:
    gate = bot.github.request_protection_rule(REPO, run_id=run_id, environment=environment, sha=sha)
    return webhooks.deployment_protection_rule(
        environment=environment, deployment=gate["deployment"],
        deployment_callback_url=callback or gate["deployment_callback_url"],
        installation_id=bot.github.repo(REPO).installation_id, **kw)


def ask(bot, sha, **kw):
    return bot.deliver("deployment_protection_rule", request(bot, sha, **kw))


def review(bot):
    return bot.github.protection_reviews[-1] if bot.github.protection_reviews else None


def head(bot, number=5):
    return bot.github.head_sha(REPO, bot.github.pull(REPO, number))


def test_a_commit_whose_pull_request_passed_modelbot_approval_is_approved(bot):
    open_pr(bot)
    bot.github.add_review(REPO, 5, "carol", "APPROVED")
    bot.deliver("pull_request_review", bot.review_event(REPO, 5, "carol") if hasattr(bot, "review_event") else
                webhooks.pull_request_review(reviewer="carol", **webhooks.pr_args(bot.github, REPO, 5)))
    assert bot.github.check_runs_for(REPO, head_sha=head(bot), name="modelbot/approval")[-1].conclusion == "success"
    assert ask(bot, head(bot)) == "done"
    r = review(bot)
    assert (r["environment"], r["state"]) == ("staging", "approved") and "#5 passed modelbot/approval" in r["comment"]
    [entry] = [e for e in bot.store.ledger(repository=REPO) if e.kind == "protection_rule"]
    assert entry.commit_sha == head(bot)
    assert not bot.github.violations


def test_a_pull_request_without_modelbots_approval_or_on_hold_is_rejected(bot):
    open_pr(bot)  # needs carol or @acme/ml: modelbot/approval fails
    ask(bot, head(bot))
    r = review(bot)
    assert r["state"] == "rejected" and "#5: modelbot/approval is failure" in r["comment"]
    comment(bot, "/hold", user="alice")
    ask(bot, head(bot), run_id=78)
    assert review(bot)["state"] == "rejected" and "#5 is on hold" in review(bot)["comment"]


def test_a_direct_push_and_an_unknown_environment_are_rejected(bot):
    sha = bot.github.commit(REPO, "main", {"README.md": "pushed\n"})
    ask(bot, sha)
    assert review(bot)["state"] == "rejected" and "direct push" in review(bot)["comment"]
    ask(bot, sha, environment="github-pages", run_id=79)
    assert review(bot)["state"] == "rejected" and "not one modelbot's server config defines" in review(bot)["comment"]


def test_a_callback_elsewhere_is_never_called_and_a_redelivery_is_harmless(bot):
    open_pr(bot)
    status = ask(bot, head(bot), callback="https://attacker.example/repos/acme/models/actions/runs/77/"
                                          "deployment_protection_rule")
    assert status == "done" and review(bot) is None  # the token never leaves for another host
    other = bot.github.url + "/repos/acme/other/actions/runs/77/deployment_protection_rule"
    ask(bot, head(bot), run_id=80, callback=other)
    assert review(bot) is None  # another repository's run: not answered either
    payload = request(bot, head(bot), run_id=81)
    assert bot.deliver("deployment_protection_rule", payload) == "done"
    # GitHub delivers it again (a new delivery id): the second answer is refused (422), no error
    assert bot.deliver("deployment_protection_rule", payload) == "done"
    assert [r["run_id"] for r in bot.github.protection_reviews] == [81]


def test_freezes_reject_whatever_the_commit():
    policy = PolicyConfig.model_validate({"environments": {"production": {"freezes": [
        {"reason": "quarter close", "start": "2026-12-01T00:00:00Z", "end": "2026-12-03T00:00:00Z"}]}}})
    v = judge(environment="production", known_environments=["staging", "production"], policy=policy, now=NOW,
              pulls=[PullFacts(5, approval="success")])
    assert v.state == "rejected" and v.reasons == ("production is frozen until 2026-12-03 00:00 UTC: quarter close",)
    ok = judge(environment="staging", known_environments=["staging", "production"], policy=policy, now=NOW,
               pulls=[PullFacts(5)])
    assert ok.state == "approved" and "no manifest changed" in ok.reasons[0]
    with pytest.raises(ValueError):
        judge(environment="staging", known_environments=["staging"], policy=policy, now=NOW.replace(tzinfo=None),
              pulls=[])
