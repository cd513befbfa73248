"""Buttons on `modelbot/deploy` against the emulator: offered only where the rollout's state
allows them, a click runs the command it stands for (same permissions, same gate, same reply),
a re-run of the check never deploys, and hostile clicks are refused with nothing done."""

from __future__ import annotations

from bot.adapters.aws.session import aws_session, client
from tests.aws.test_deploy_gate import REPO, approve, bot, latest, open_pr, rows_of, ship, sm  # noqa: F401 - fixture
from tests.conftest import ROOT
from tests.support import webhooks

AB = (ROOT / "examples" / "realtime-ab.yaml").read_text().replace("approvals: 2", "approvals: 1")
PATH = "models/search/modelbot.yaml"


def click(bot, run, identifier, sender, *, delivery_id=None, **overrides):
    args = {"name": run.name, "check_run_id": run.id, "head_sha": run.head_sha, "status": run.status,
            "conclusion": run.conclusion, "installation_id": bot.github.repo(REPO).installation_id,
            "app_id": bot.github.app_id, **overrides}
    payload = webhooks.check_run("requested_action", requested_action=identifier, sender=sender, **args)
    return bot.deliver("check_run", payload, delivery_id=delivery_id)


def replies(bot, number):
    return [c.body for c in bot.github.comments_on(REPO, number) if "<!-- modelbot:reply:check_run:" in c.body]


def into_the_experiment(bot):
    """PR #43 merged: its A/B test in production waits in the experiment for a promotion."""
    ship(bot, 42, {PATH: AB}, "bob")
    client(aws_session(bot.settings.server.environments["production"], env_name="production"),
           "cloudwatch").put_metric_alarm(
        AlarmName="search-ranker-latency", MetricName="ModelLatency", Namespace="AWS/SageMaker",
        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=1e6,
        ComparisonOperator="GreaterThanThreshold")
    open_pr(bot, 43, {PATH: AB.replace("v3/model", "v4/model")})
    approve(bot, 43, "carol")
    sha = bot.github.merge_pull_request(REPO, 43)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha,
                                                             **webhooks.pr_args(bot.github, REPO, 43)))
    row = rows_of(bot, 43)["production"]
    for _ in range(6):
        bot.runtime.rollouts.tick(row.id)
    assert bot.store.deployment(row.id).status == "running"
    return row


def live_config(bot):
    return sm(bot).describe_endpoint(EndpointName="search-ranker-production")["EndpointConfigName"]


def test_promote_is_offered_in_the_experiment_and_a_click_is_the_command(bot):
    row = into_the_experiment(bot)
    run = latest(bot, "modelbot/deploy")
    # GitHub shows buttons only on a completed run: while it offers them the check is completed, neutral.
    assert (run.status, run.conclusion) == ("completed", "neutral")
    assert [a["identifier"] for a in run.actions] == ["promote:production", "rollback:production",
                                                      "abort:production"]
    assert [a["label"] for a in run.actions] == ["Promote", "Roll back", "Abort"]
    assert all(len(a["label"]) <= 20 and len(a["description"]) <= 40 for a in run.actions)
    assert "`/promote production`" in run.text and "never deploys" in run.text

    before = live_config(bot)
    click(bot, run, "promote:production", "dave")  # read access: /promote production needs maintain
    [reply] = replies(bot, 43)
    assert "dave pressed **Promote** on `modelbot/deploy`" in reply and "❌" in reply
    assert bot.store.deployment(row.id).requested is None
    bot.runtime.rollouts.tick(row.id)
    assert live_config(bot) == before  # nothing promoted

    click(bot, run, "promote:production", "carol", delivery_id="d-promote")
    click(bot, run, "promote:production", "carol", delivery_id="d-promote")  # redelivered: one reply, edited
    texts = replies(bot, 43)
    assert len(texts) == 2 and "will promote at its next step" in texts[1]
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) == "succeeded":
            break
    assert bot.store.deployment(row.id).status == "succeeded"
    assert live_config(bot).endswith("-promoted")

    done = latest(bot, "modelbot/deploy")
    assert (done.conclusion, done.actions) == ("success", [])  # nothing runs: no buttons
    click(bot, done, "abort:production", "carol")  # an old button, clicked after the rollout ended
    assert "no longer offers this button" in replies(bot, 43)[-1]
    assert bot.store.deployment(row.id).status == "succeeded"
    assert not bot.github.violations


def test_abort_button_stops_the_rollout_and_hostile_clicks_do_nothing(bot):
    row = into_the_experiment(bot)
    run = latest(bot, "modelbot/deploy")

    click(bot, run, "deploy:production", "carol")  # never offered
    assert "has no button `deploy:production`" in replies(bot, 43)[-1]
    click(bot, run, "abort:staging", "carol")  # a well-formed button this check does not offer now
    assert "no longer offers" in replies(bot, 43)[-1]
    n = len(replies(bot, 43))
    click(bot, run, "abort:production", "carol", app_id=999)  # another App's check run
    click(bot, run, "abort:production", "carol", repo="acme/other")  # said to be another repository's
    click(bot, run, "abort:production", "carol", check_run_id=run.id + 10_000)  # no such run here
    assert len(replies(bot, 43)) == n  # refused in the log only: not ours to answer
    assert bot.store.deployment(row.id).requested is None

    # A re-run of modelbot/deploy shows the state again and deploys nothing.
    deployments = len(bot.store.deployments(repository=REPO))
    bot.deliver("check_run", webhooks.check_run("rerequested", name=run.name, check_run_id=run.id,
                                                head_sha=run.head_sha, app_id=bot.github.app_id, sender="carol",
                                                installation_id=bot.github.repo(REPO).installation_id))
    assert len(bot.store.deployments(repository=REPO)) == deployments

    click(bot, run, "abort:production", "carol")
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) in ("aborted", "rolled_back"):
            break
    assert bot.store.deployment(row.id).status in ("aborted", "rolled_back")
    assert not bot.github.violations
