"""The operational judge on an update SageMaker drives (linear here), end to end against moto and
the emulator: the judge's alarm is put before the UpdateEndpoint that names it, the new fleet's
one-minute metrics during the bakes are judged against the hour before the update, a failure
puts the alarm into ALARM (PutMetricData) and SageMaker itself rolls the update back, with the
judge's reasons in the PR; a healthy fleet passes and the update finishes; with no data the
update finishes unjudged and the report says "not enough data", never a pass."""

from __future__ import annotations

import datetime as dt
import json
import time

import numpy as np
import pytest

from tests.aws.test_deploy_gate import REPO, approve, bot, open_pr, rows_of, ship, sm  # noqa: F401 - fixture
from tests.aws.test_shadow_judge import Clock, cw, report, rollout, state, verdict
from tests.conftest import ROOT
from tests.support import webhooks

PATH = "models/search/modelbot.yaml"
ENDPOINT = "search-ranker-production"
ALARM = ENDPOINT + "-modelbot-judge"


def manifest() -> str:
    """examples/realtime-ab.yaml (a comparison the test harness can run) with the strategy of
    examples/realtime-linear.yaml: linear steps, bakes and the operational judge."""
    ab = (ROOT / "examples" / "realtime-ab.yaml").read_text().replace("approvals: 2", "approvals: 1")
    linear = (ROOT / "examples" / "realtime-linear.yaml").read_text()
    strategy = linear[linear.index("    strategy:\n"):linear.index("    alarms:")]
    assert "canary_judge:" in strategy
    return ab[:ab.index("    strategy:\n")] + strategy + ab[ab.index("    alarms:"):]


@pytest.fixture
def clock(bot):
    c = Clock()
    c.now = c.now.replace(second=30, microsecond=0)  # mid-minute: a minute's data points are whole
    bot.runtime.rollouts.now = c
    return c


def put_minutes(bot, start: dt.datetime, minutes: int, *, latency=20_000.0, errors=0.0, seed=0):
    """`minutes` one-minute data points from `start` for variant AllTraffic: ModelLatency around
    `latency` microseconds (gamma), 100 invocations a minute, `errors` of them 5XX."""
    rng = np.random.default_rng(seed)
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}]
    data = []
    for k in range(minutes):
        t = start.replace(second=0, microsecond=0) + dt.timedelta(minutes=k, seconds=5)
        data += [{"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": t,
                  "Values": [float(v) for v in rng.gamma(16, latency / 16, 20)]},
                 {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": t, "Value": 100.0},
                 {"MetricName": "Invocation5XXErrors", "Dimensions": dims, "Timestamp": t, "Value": float(errors)}]
    for i in range(0, len(data), 300):
        cw(bot).put_metric_data(Namespace="AWS/SageMaker", MetricData=data[i:i + 300])


def merge_new_model(bot, number: int, model: str, *, into_the_bake: bool = True):
    """PR `number` (the manifest with `model`) approved and merged; ticked until its linear
    update has put traffic on the new fleet (else not ticked)."""
    open_pr(bot, number, {PATH: manifest().replace("v3/model", model)})
    approve(bot, number, "carol")
    sha = bot.github.merge_pull_request(REPO, number)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha,
                                                             **webhooks.pr_args(bot.github, REPO, number)))
    row = rows_of(bot, number)["production"]
    if not into_the_bake:
        return row
    for _ in range(12):
        bot.runtime.rollouts.tick(row.id)
        if (state(bot, row).get("experiment") or {}).get("bake_since"):
            break
    st = state(bot, row)
    assert st["rollout"]["phase"] == "updating" and st["experiment"]["bake_since"], st
    return row


def into_the_update(bot, clock):
    """PR #42 deployed the endpoint an hour ago and it served since; PR #43 (a new model) is
    merged and its linear update has put traffic on the new fleet."""
    ship(bot, 42, {PATH: manifest()}, "bob")
    put_minutes(bot, clock.now - dt.timedelta(minutes=58), 57, seed=1)  # the hour before the update
    return merge_new_model(bot, 43, "v4/model")


def finish(bot, row, clock, *, minutes_per_tick: float = 1.0) -> str:
    for _ in range(40):
        clock.advance(minutes_per_tick)
        status = bot.runtime.rollouts.tick(row.id)
        if status in ("succeeded", "rolled_back", "failed", "aborted"):
            return status
    return bot.store.deployment(row.id).status


def test_the_update_names_the_judges_alarm_which_exists_before_it_starts(bot, clock):
    row = into_the_update(bot, clock)
    st = rollout(bot, row)
    assert st["flow"] == "guarded" and st["experiment"]["bake"] and st["experiment"]["variants"] == ["AllTraffic"]
    assert ALARM in st["alarms"] and "search-ranker-latency" in st["alarms"]
    [alarm] = cw(bot).describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    assert alarm["Namespace"] == "Modelbot/CanaryJudge" and alarm["MetricName"] == "JudgeFailed"
    assert alarm["AlarmActions"] == [] and alarm["StateValue"] in ("OK", "INSUFFICIENT_DATA")
    assert alarm["AlarmDescription"].startswith("modelbot:")
    assert not bot.github.violations


def test_a_slow_new_fleet_is_rolled_back_by_sagemaker_on_the_judges_alarm(bot, clock):
    row = into_the_update(bot, clock)
    before = rollout(bot, row)["previous_config"]
    put_minutes(bot, clock.now, 14, latency=60_000.0, seed=2)  # three times slower since the shift
    clock.advance(15)
    status = finish(bot, row, clock)
    done = bot.store.deployment(row.id)
    assert status == "rolled_back", (status, done.reason)
    assert "the operational judge failed the new fleet" in done.reason and "model_latency" in done.reason
    assert sm(bot).describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == before  # PR #42's
    [alarm] = cw(bot).describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM", alarm  # CloudWatch evaluated the judge's data point
    entries = [e["data"] for e in bot.store.ledger_entries(deployment_ids=[row.id]) if e["kind"] == "experiment"]
    assert entries[-1]["status"] == "fail" and entries[-1]["operational"]["variant"] == "AllTraffic"
    section = report(bot, 43)
    assert "**Operational judge**" in section and "SageMaker rolls the update back" in section
    assert "during the bake vs before the update" in section
    assert not bot.github.violations


def test_a_healthy_new_fleet_passes_and_the_update_finishes(bot, clock):
    row = into_the_update(bot, clock)
    put_minutes(bot, clock.now, 14, seed=1)  # the same minutes as the hour before
    clock.advance(15)
    bot.runtime.rollouts.tick(row.id)
    v = verdict(bot, row)
    assert v["status"] == "pass", json.dumps(v, indent=1, default=str)
    assert {m["name"]: m["result"] for m in v["operational"]["metrics"]} == {
        "model_latency": "pass", "error_rate": "pass"}
    assert finish(bot, row, clock) == "succeeded"
    assert sm(bot).describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == rollout(bot, row)["target_config"]
    alarm = cw(bot).describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]
    assert alarm["StateValue"] != "ALARM"  # nothing was ever published


def test_without_data_the_update_finishes_unjudged_never_passed(bot, clock):
    row = into_the_update(bot, clock)
    assert finish(bot, row, clock) == "succeeded"  # SageMaker drives it; the judge cannot hold it
    v = verdict(bot, row)
    assert v["status"] == "not_enough_data", v
    assert "⏳ not enough data yet" in report(bot, 43)
    kinds = [e["data"]["status"] for e in bot.store.ledger_entries(deployment_ids=[row.id]) if e["kind"] == "experiment"]
    assert "pass" not in kinds


def test_the_teardown_of_the_manifest_deletes_the_judges_alarm(bot, clock):
    row = into_the_update(bot, clock)
    assert finish(bot, row, clock) == "succeeded"
    assert cw(bot).describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    gh = bot.github
    gh.open_pull_request(REPO, "remove-44", files={PATH: None}, number=44, user="alice")
    bot.deliver("pull_request", bot.pr_event("opened", REPO, 44))
    approve(bot, 44, "carol")  # an owner of the deleted manifest
    sha = gh.merge_pull_request(REPO, 44)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, 44)))
    [teardown] = [r for r in bot.store.deployments(repository=REPO) if r.pr_number == 44]
    assert finish(bot, teardown, clock) == "succeeded", bot.store.deployment(teardown.id).reason
    assert not cw(bot).describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    assert cw(bot).describe_alarms(AlarmNames=["search-ranker-latency"])["MetricAlarms"]  # the team's stays


def test_a_failed_rollouts_alarm_does_not_roll_the_next_update_back(bot, clock):
    """The judge failed PR #43's fleet and its alarm is in ALARM, with the failure's data points
    still in CloudWatch's evaluation range. PR #44, merged a minute later, gets the alarm on its
    own metric (the Deployment dimension) and in OK before its update starts: its healthy fleet
    passes and the update finishes."""
    row = into_the_update(bot, clock)
    put_minutes(bot, clock.now, 14, latency=60_000.0, seed=2)
    clock.advance(15)
    assert finish(bot, row, clock) == "rolled_back"
    assert cw(bot).describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["StateValue"] == "ALARM"

    clock.advance(1)
    put_minutes(bot, clock.now - dt.timedelta(minutes=60), 59, seed=1)  # the hour before this update
    nxt = merge_new_model(bot, 44, "v5/model")
    [alarm] = cw(bot).describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    assert alarm["StateValue"] == "OK", alarm
    assert {"Name": "Deployment", "Value": str(nxt.id)} in alarm["Dimensions"]
    put_minutes(bot, clock.now, 14, seed=3)
    clock.advance(15)
    assert finish(bot, nxt, clock) == "succeeded", bot.store.deployment(nxt.id).reason
    assert verdict(bot, nxt)["status"] == "pass"


def test_after_a_worker_outage_the_bake_starts_when_sagemaker_says_it_did(bot, clock):
    """The worker was down while SageMaker shifted traffic: its first tick after comes minutes
    later. The bake is counted from the stage's VariantStatus StartTime, not from that tick."""
    # The emulator's stages run on the real clock: the bot's may not be ahead of it, or the
    # update would look issued after SageMaker's stage began (the bake never starts before it).
    clock.now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    ship(bot, 42, {PATH: manifest()}, "bob")
    put_minutes(bot, clock.now - dt.timedelta(minutes=58), 57, seed=1)
    row = merge_new_model(bot, 43, "v4/model", into_the_bake=False)
    bot.runtime.rollouts.tick(row.id)  # the update is issued
    for _ in range(40):  # SageMaker moves on while no tick comes (the emulator's own clock)
        stage = sm(bot).describe_endpoint(EndpointName=ENDPOINT).get("PendingDeploymentSummary") or {}
        statuses = [s for v in stage.get("ProductionVariants") or () for s in v.get("VariantStatus") or ()]
        if statuses and statuses[0]["Status"] in ("ActivatingTraffic", "Baking"):
            break
        time.sleep(0.25)
    started = statuses[0]["StartTime"].astimezone(dt.timezone.utc)
    clock.now = max(clock.now, started) + dt.timedelta(minutes=5)  # the worker is back five minutes later
    bot.runtime.rollouts.tick(row.id)
    since = dt.datetime.fromisoformat(state(bot, row)["experiment"]["bake_since"]["__dt__"])
    assert abs((since - started).total_seconds()) < 1, (since, started)
