"""The operational judge on updates SageMaker drives (`bot.core.experiment.bake`): the manifest's
rules, the plan (its alarm among the rollback alarms, a bake too short blocked), the requests
(PutMetricAlarm before an UpdateEndpoint whose AutoRollbackConfiguration names it, both held to
botocore's models), the pure controller, and the split of one series into bake and baseline."""

from __future__ import annotations

import datetime as dt

import botocore.session
from botocore.validate import ParamValidator

from bot.core.deploy.rollout import Observation, decide, new_rollout
from bot.core.experiment import bake
from bot.core.experiment.judge import judge_bake
from bot.core.manifest import load_manifest
from bot.core.manifest.parse import check_manifest
from bot.core.plan import DeploySpec, live_after, plan
from tests.deploy.helpers import COMMIT1, COMMIT2, PRICES, ROLE, context, example
from tests.deploy.test_requests import IMAGE, update
from bot.core.deploy.requests import build_requests
from bot.core.plan import LiveState
from tests.conftest import ROOT

ENDPOINT = "price-estimator-production"
NOW = dt.datetime(2026, 12, 4, 12, 0, 30, tzinfo=dt.timezone.utc)
_session = botocore.session.get_session()


def valid(service: str, operation: str, request: dict) -> None:
    model = _session.get_service_model(service).operation_model(operation)
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()


def problems(text: str) -> list:
    result = load_manifest("models/prices/modelbot.yaml", text)
    found = result.problems if result.manifest is None else check_manifest(result.manifest)
    return [p for p in found if p.severity == "error"]


def linear(replace: dict[str, str] | None = None) -> str:
    text = (ROOT / "examples" / "realtime-linear.yaml").read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_the_linear_example_is_valid_with_its_judge():
    assert problems(linear()) == []


def test_the_judge_is_refused_where_nothing_bakes_or_the_alarm_would_not_fit():
    found = problems(linear({"type: linear\n      linear_step: {type: capacity_percent, value: 20}\n"
                             "      wait_interval_seconds: 300\n      termination_wait_seconds: 600\n":
                             "type: all_at_once\n"}).replace("    alarms: [price-estimator-errors]\n", ""))
    assert any("canary_judge" in p.field and "not used by strategy all_at_once" in p.message for p in found), found
    ten = ", ".join(f"a{i}" for i in range(10))
    found = problems(linear({"alarms: [price-estimator-errors]": f"alarms: [{ten}]"}))
    assert any(p.field.endswith("alarms") and "at most 10 alarms" in p.message for p in found), found
    nine = ", ".join(f"a{i}" for i in range(9))
    assert problems(linear({"alarms: [price-estimator-errors]": f"alarms: [{nine}]"})) == []


def test_the_plan_puts_the_judges_alarm_before_the_update_and_among_its_rollback_alarms():
    spec, p, r = update("realtime-linear", {"v12/": "v13/"})
    assert p.rollback_alarms == ("price-estimator-errors", bake.alarm_name(ENDPOINT))
    verbs = [(a.verb, a.resource) for a in p.actions]
    assert verbs.index(("create", "alarm")) == verbs.index(("update", "endpoint")) - 1
    assert any("operational judge" in n and "60 minutes before" in n for n in p.notes)
    assert r.judge_alarm == bake.alarm_request(ENDPOINT)
    valid("cloudwatch", "PutMetricAlarm", r.judge_alarm)
    valid("sagemaker", "UpdateEndpoint", r.update_endpoint)
    alarms = r.update_endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert {"AlarmName": bake.alarm_name(ENDPOINT)} in alarms
    valid("cloudwatch", "PutMetricData", bake.failure_datum(ENDPOINT, "17", NOW))
    own = bake.for_deployment(r.judge_alarm, "17")
    valid("cloudwatch", "PutMetricAlarm", own)
    valid("cloudwatch", "SetAlarmState", bake.reset_request(ENDPOINT, "17"))
    # the rollout's alarm watches exactly the metric its failure is published to
    assert own["Dimensions"] == bake.failure_datum(ENDPOINT, "17", NOW)["MetricData"][0]["Dimensions"]
    assert {"Name": "Deployment", "Value": "17"} in own["Dimensions"]


def test_a_team_alarm_named_like_the_judges_is_refused():
    judge = bake.alarm_name(ENDPOINT)
    found = problems(linear({"alarms: [price-estimator-errors]": f"alarms: [{judge}]"}))
    assert any(p.field.endswith("alarms[0]") and "the operational judge's own" in p.message for p in found), found
    found = problems(linear({"alarms: [price-estimator-errors]": "alarms: [other-modelbot-judge]"}))
    assert found, "any name with the judge's suffix is reserved"


def test_a_first_deploy_has_no_judge_and_no_alarm():
    spec = DeploySpec(example("realtime-linear"), "production", COMMIT1)
    p = plan(spec, LiveState(), PRICES)
    r = build_requests(spec, p, context(), execution_role_arn=ROLE, image=IMAGE)
    assert bake.alarm_name(ENDPOINT) not in p.rollback_alarms and r.judge_alarm is None


def test_a_bake_shorter_than_min_points_blocks_the_plan():
    m1 = example("realtime-linear")
    spec1 = DeploySpec(m1, "production", COMMIT1)
    live = live_after(plan(spec1, LiveState(), PRICES), spec1)
    short = example("realtime-linear", {"v12/": "v13/", "wait_interval_seconds: 300": "wait_interval_seconds: 60",
                                        "termination_wait_seconds: 600": "termination_wait_seconds: 0"})
    p = plan(DeploySpec(short, "production", COMMIT2), live, PRICES)
    assert p.blocked
    [problem] = [x for x in p.problems if x.rule == "manifest.experiment"]
    assert "bakes 4 minutes" in problem.message and problem.field.endswith("canary_judge.min_points")


def test_a_bake_of_exactly_min_points_minutes_blocks_the_plan_the_judge_could_not_fill_it():
    """Bakes of 10 minutes with min_points 10: traffic reaches the new fleet inside a minute (that
    minute is dropped), CloudWatch has a minute's values a little later, and the bot reads once a
    minute, so the judge would see about 8 values and never judge: the plan refuses it."""
    m1 = example("realtime-linear")
    spec1 = DeploySpec(m1, "production", COMMIT1)
    live = live_after(plan(spec1, LiveState(), PRICES), spec1)
    judge = "canary_judge: {metrics: [model_latency, error_rate], baseline_minutes: 60}"

    def bakes(termination: int):
        m = example("realtime-linear", {"v12/": "v13/", "wait_interval_seconds: 300": "wait_interval_seconds: 60",
                                        "termination_wait_seconds: 600": f"termination_wait_seconds: {termination}",
                                        judge: judge[:-1] + ", min_points: 10}"})
        return plan(DeploySpec(m, "production", COMMIT2), live, PRICES)

    short = bakes(360)  # 4 x 60 s + 360 s = 10 minutes
    assert bake.bake_minutes(short.traffic_steps) == 10 and short.blocked
    [problem] = [x for x in short.problems if x.rule == "manifest.experiment"]
    assert f"only after {10 + bake.JUDGE_LAG_MINUTES} minutes" in problem.message
    enough = bakes(360 + 60 * bake.JUDGE_LAG_MINUTES)
    assert not [x for x in enough.problems if x.rule == "manifest.experiment"]
    # and what the judge gets of such a bake: the minutes that started at or after the first
    # tick seeing traffic and that CloudWatch had by the last tick before SageMaker finished
    t0 = NOW.replace(second=10) + dt.timedelta(minutes=5)
    for total, fills in ((10, False), (10 + bake.JUDGE_LAG_MINUTES, True)):
        finish = t0 + dt.timedelta(minutes=total)
        ticks = [t for t in (t0 + dt.timedelta(seconds=20 + 60 * k) for k in range(100)) if t < finish]
        readable = {t0.replace(second=0) + dt.timedelta(minutes=k): 20.0 + k % 3 for k in range(-70, 40)
                    if t0.replace(second=0) + dt.timedelta(minutes=k + 2) <= ticks[-1]}  # ~2 min delay
        got, _ = bake.split(readable, update_at=NOW, baseline_minutes=60, bake_since=ticks[0])
        assert (len(got) >= 10) is fills, (total, len(got))


def rollout_of():
    spec1 = DeploySpec(example("realtime-linear"), "production", COMMIT1)
    live = live_after(plan(spec1, LiveState(), PRICES), spec1)
    spec = DeploySpec(example("realtime-linear", {"v12/": "v13/"}), "production", COMMIT2)
    p = plan(spec, live, PRICES)
    return new_rollout("d-1", spec, p, live, NOW), live


def test_the_update_starts_although_the_judges_alarm_does_not_exist_yet_but_not_without_the_teams():
    state, live = rollout_of()
    assert state.flow == "guarded" and state.experiment["bake"] and state.experiment["alarm"] == bake.alarm_name(ENDPOINT)
    observed = Observation(True, "InService", live.endpoint_config_name,
                           alarms={"price-estimator-errors": "OK", bake.alarm_name(ENDPOINT): "MISSING"})
    assert decide(state, observed, NOW).action == "update_endpoint"
    observed = Observation(True, "InService", live.endpoint_config_name,
                           alarms={"price-estimator-errors": "MISSING", bake.alarm_name(ENDPOINT): "MISSING"})
    d = decide(state, observed, NOW)
    assert d.action == "fail" and "price-estimator-errors" in d.reason and "modelbot-judge" not in d.reason


def test_a_rollback_after_the_judge_failed_names_its_reasons():
    state, live = rollout_of()
    started = decide(state, Observation(True, "InService", live.endpoint_config_name,
                                        alarms={"price-estimator-errors": "OK"}), NOW).state
    moving = Observation(True, "Updating", live.endpoint_config_name, pending_config=started.target_config,
                         traffic_percent=20.0, stage="Baking")
    baking = decide(started, moving, NOW + dt.timedelta(minutes=2)).state
    back = Observation(True, "InService", live.endpoint_config_name, failure_reason="alarm in ALARM",
                       last_modified=NOW + dt.timedelta(minutes=20), experiment="fail",
                       experiment_reasons=("operational judge: model_latency worse",))
    d = decide(baking, back, NOW + dt.timedelta(minutes=20))
    assert d.state.phase == "rolled_back"
    assert "the operational judge failed the new fleet: operational judge: model_latency worse" in d.reason
    assert "SageMaker: alarm in ALARM" in d.reason


def test_split_keeps_the_minutes_before_the_update_and_those_since_the_shift():
    update_at = NOW
    values = {NOW.replace(second=0) + dt.timedelta(minutes=k): float(k) for k in range(-70, 20)}
    bake_values, baseline = bake.split(values, update_at=update_at, baseline_minutes=60, bake_since=NOW + dt.timedelta(minutes=5))
    assert baseline == [float(k) for k in range(-60, 0)]
    assert bake_values == [float(k) for k in range(6, 20)]  # minute 5 starts before 12:05:30
    assert bake.split(values, update_at=update_at, baseline_minutes=60, bake_since=None)[0] == []


def test_judge_bake_fails_on_any_variant_and_never_passes_without_traffic():
    spec = {"metrics": ["model_latency", "error_rate"], "critical": ["error_rate"], "min_points": 10}
    good = {"model_latency": ([20.0 + (k % 3) for k in range(15)], [20.0 + (k % 3) for k in range(30)]),
            "error_rate": ([0.0] * 15, [0.0] * 30)}
    slow = {**good, "model_latency": ([60.0 + (k % 3) for k in range(15)], good["model_latency"][1])}
    assert judge_bake(spec, {"A": good}, bake_started=True).status == "pass"
    failed = judge_bake(spec, {"A": good, "B": slow}, bake_started=True)
    assert failed.status == "fail" and failed.operational["variant"] == "B" and "variant B" in failed.reasons[0]
    assert judge_bake(spec, {"A": good}, bake_started=False).status == "not_enough_data"
    few = {m: (v[0][:4], v[1]) for m, v in good.items()}
    assert judge_bake(spec, {"A": few}, bake_started=True).status == "not_enough_data"


def test_an_inference_components_update_is_not_judged_by_it():
    text = (ROOT / "examples" / "inference-component.yaml").read_text().replace(
        "      max_execution_timeout_seconds: 3600\n",
        "      max_execution_timeout_seconds: 3600\n      canary_judge: {min_points: 5}\n")
    found = problems(text)
    assert any(p.field.endswith("strategy.canary_judge") and "inference component" in p.message for p in found), found


def test_a_judge_that_failed_as_sagemaker_finished_rolls_back_all_the_same():
    state, live = rollout_of()
    started = decide(state, Observation(True, "InService", live.endpoint_config_name,
                                        alarms={"price-estimator-errors": "OK"}), NOW).state
    done = Observation(True, "InService", started.target_config, experiment="fail",
                       experiment_reasons=("operational judge: error_rate worse",))
    d = decide(started, done, NOW + dt.timedelta(minutes=40))
    assert d.action == "rollback" and d.config == live.endpoint_config_name and d.state.phase == "rolling_back"
    assert "after SageMaker's last bake" in d.reason and "error_rate worse" in d.reason
    ok = Observation(True, "InService", started.target_config, experiment="not_enough_data")
    assert decide(started, ok, NOW + dt.timedelta(minutes=40)).action in ("succeed", "smoke")
