"""The operational judge on an update SageMaker drives (blue/green, canary, linear, rolling). Pure.

On these strategies SageMaker shifts the traffic and ends the update by itself; the only way
AWS documents to stop it is an alarm of its AutoRollbackConfiguration going into ALARM during a
bake ("Auto-rollback configuration and monitoring", Deployment guardrails, SageMaker Developer
Guide). So the judge gets an alarm of its own, `<endpoint>-modelbot-judge`, on a metric only
modelbot publishes (namespace `Modelbot/CanaryJudge`, `JudgeFailed`, dimensions EndpointName and
Deployment, the bot's id of the deployment; Maximum >= 1 over one minute; missing data is not
breaching, so the alarm is OK while nothing failed). The plan lists it among the update's
rollback alarms; a failing judgement publishes 1 (PutMetricData) at each evaluation until
SageMaker has rolled back.

Each rollout has a metric of its own (the Deployment dimension) and starts from OK: a previous
rollout's failure leaves the alarm in ALARM while its data points are in CloudWatch's
evaluation range, and PutMetricAlarm leaves an existing alarm's state unchanged ("When you
update an existing alarm, its state is left unchanged", PutMetricAlarm), so the next update
would be rolled back at its first bake. Before the update the bot puts the alarm on the new
rollout's metric, then sets it to OK (SetAlarmState: "the next periodic evaluation" returns it
to its actual state, which on a metric nobody has published to is OK).

What is compared: SageMaker publishes one series per EndpointName and VariantName and none per
fleet (the blue and green fleets of an update share the variant names: "CloudWatch metrics for
SageMaker AI", Endpoint invocation metrics), so the candidate is the variant's one-minute values
since traffic first reached the new fleet, and the baseline is the same variant's values in the
`baseline_minutes` before the update was issued. While only part of the traffic is on the new
fleet (a canary step, a linear step, a rolling batch) its effect is diluted by the old fleet's
share; the report says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

ALARM_SUFFIX = "-modelbot-judge"
NAMESPACE = "Modelbot/CanaryJudge"
METRIC = "JudgeFailed"
ALARM_DESCRIPTION = "modelbot: the operational judge failed the new fleet of {endpoint}"
GUARDED = ("blue_green", "canary", "linear", "rolling")
# botocore AutoRollbackConfig.Alarms: max 10 (AlarmList); the judge's alarm takes one
MAX_ROLLBACK_ALARMS = 10
# Minutes of SageMaker's bakes the judge cannot use: the minute traffic reaches the new fleet in
# (partial, dropped by `split`), about two minutes before a minute's SageMaker metrics can be read
# ("CloudWatch metrics for SageMaker AI": one-minute frequency, available after a short delay),
# and the last minute after the final evaluation (once a minute, on the bot's ticks). A bake must
# last min_points + this for the judge ever to have min_points values.
JUDGE_LAG_MINUTES = 4


def alarm_name(endpoint: str) -> str:
    return endpoint + ALARM_SUFFIX


def is_reserved(alarm: str) -> bool:
    """Whether `alarm` is named like a judge's alarm: no team alarm may be (the bot would
    overwrite it, and its teardown delete it)."""
    return alarm.endswith(ALARM_SUFFIX)


def dimensions(endpoint: str, deployment: str) -> list[dict]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "Deployment", "Value": deployment}]


def alarm_request(endpoint: str) -> dict:
    """PutMetricAlarm of the judge's alarm (CloudWatch API Reference, PutMetricAlarm). No
    action: SageMaker reads its state; the description marks it as modelbot's for the teardown.
    The plan's request has no deployment yet: the executor sends `for_deployment` of it."""
    return {"AlarmName": alarm_name(endpoint), "AlarmDescription": ALARM_DESCRIPTION.format(endpoint=endpoint),
            "Namespace": NAMESPACE, "MetricName": METRIC,
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
            "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
            "Threshold": 1.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching", "ActionsEnabled": False}


def for_deployment(request: dict, deployment: str) -> dict:
    """The judge's PutMetricAlarm request on rollout `deployment`'s own metric."""
    endpoint = next(d["Value"] for d in request["Dimensions"] if d["Name"] == "EndpointName")
    return {**request, "Dimensions": dimensions(endpoint, deployment)}


def reset_request(endpoint: str, deployment: str) -> dict:
    """SetAlarmState OK of the judge's alarm as rollout `deployment` starts (see the module doc)."""
    return {"AlarmName": alarm_name(endpoint), "StateValue": "OK",
            "StateReason": f"modelbot: deployment {deployment} starts; its judge has failed nothing yet"}


def failure_datum(endpoint: str, deployment: str, now: dt.datetime) -> dict:
    """PutMetricData that puts the judge's alarm into ALARM (rollout `deployment`'s metric)."""
    return {"Namespace": NAMESPACE, "MetricData": [{
        "MetricName": METRIC, "Dimensions": dimensions(endpoint, deployment),
        "Timestamp": now, "Value": 1.0, "Unit": "Count"}]}


def judges_bake(strategy) -> bool:
    """Whether `strategy` (the manifest's) has the operational judge on a SageMaker-driven update."""
    return strategy.type in GUARDED and strategy.canary_judge is not None


def bake_minutes(steps) -> float:
    """Minutes SageMaker bakes over the plan's traffic steps (`TrafficStep.wait_seconds`)."""
    return sum(int(s.wait_seconds or 0) for s in steps) / 60


def split(values: Mapping[dt.datetime, float], *, update_at: dt.datetime, baseline_minutes: int,
          bake_since: dt.datetime | None) -> tuple[list[float], list[float]]:
    """(bake values, baseline values) of one minute-series: the minutes starting at or after
    `bake_since` (none before traffic reached the new fleet), and those of the
    `baseline_minutes` before `update_at` (the minute the update was issued in is neither)."""
    first = update_at.replace(second=0, microsecond=0)
    start = first - dt.timedelta(minutes=baseline_minutes)
    baseline = [v for t, v in sorted(values.items()) if start <= t < first]
    bake = [] if bake_since is None else [v for t, v in sorted(values.items()) if t >= bake_since]
    return bake, baseline
