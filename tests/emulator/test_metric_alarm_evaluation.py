"""CloudWatch metric alarms evaluated on PutMetricData (moto server, emulator installed).

The rules and their AWS pages are in tests/support/aas_cloudwatch_emulator.py. Timestamps are
explicit and in the past, aligned to the alarm's period, so no test depends on the wall clock.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError


NS = "Acme/Checkout"
DIMS = [{"Name": "Service", "Value": "api"}]
# A whole hour in the past: every period of these tests starts on a multiple of 60 s (and of
# 3600 s) since the epoch, as the emulator aligns periods.
BASE = (dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
        - dt.timedelta(hours=3))


def at(period_index: int, period: int = 60, offset: int = 5) -> dt.datetime:
    return BASE + dt.timedelta(seconds=period_index * period + offset)


def alarm(aws, name="errors", *, statistic="Maximum", threshold=1.0, periods=1, to_alarm=None,
          treat="notBreaching", operator="GreaterThanOrEqualToThreshold", period=60,
          dims=DIMS, **extra):
    params = dict(AlarmName=name, Namespace=NS, MetricName="Errors", Dimensions=dims,
                  Period=period, EvaluationPeriods=periods, Threshold=threshold,
                  ComparisonOperator=operator, **extra)
    if statistic.startswith("p"):
        params["ExtendedStatistic"] = statistic
    else:
        params["Statistic"] = statistic
    if to_alarm is not None:
        params["DatapointsToAlarm"] = to_alarm
    if treat is not None:
        params["TreatMissingData"] = treat
    aws.cw.put_metric_alarm(**params)


def put(aws, value, when, *, dims=DIMS, name="Errors", namespace=NS, **datum):
    entry = {"MetricName": name, "Dimensions": dims, "Timestamp": when, **datum}
    if value is not None:
        entry["Value"] = float(value)
    aws.cw.put_metric_data(Namespace=namespace, MetricData=[entry])


def shown(aws, name="errors"):
    found = aws.cw.describe_alarms(AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    return (found["MetricAlarms"] + found["CompositeAlarms"])[0]


def state(aws, name="errors"):
    return shown(aws, name)["StateValue"]


def canary(alarms):
    """A canary blue/green DeploymentConfig watching `alarms` (as tests/emulator/test_update_endpoint)."""
    return {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 600,
                                        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}},
        "TerminationWaitInSeconds": 300, "MaximumExecutionTimeoutInSeconds": 3600},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]}}


def observe(aws, name="ep"):
    d = aws.sm.describe_endpoint(EndpointName=name)
    pending = d.get("PendingDeploymentSummary")

    def view(v):
        return (v["CurrentWeight"], v.get("CurrentInstanceCount"),
                (v.get("VariantStatus") or [{}])[0].get("Status"))

    return {"status": d["EndpointStatus"], "config": d.get("EndpointConfigName"),
            "blue": [view(v) for v in d.get("ProductionVariants", [])],
            "green": [view(v) for v in pending["ProductionVariants"]] if pending else None,
            "raw": d}


# --------------------------------------------------------------------------- one period, 1 of 1


def test_a_breaching_value_puts_the_alarm_in_alarm_as_set_alarm_state_would(aws):
    alarm(aws)
    before = shown(aws)
    assert before["StateValue"] == "OK"
    put(aws, 1, at(0))
    after = shown(aws)
    assert after["StateValue"] == "ALARM"
    assert after["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [1.0 (")
    assert "greater than or equal to the threshold (1.0)" in after["StateReason"]
    data = json.loads(after["StateReasonData"])
    assert data["recentDatapoints"] == [1.0] and data["threshold"] == 1.0
    assert data["period"] == 60 and data["statistic"] == "Maximum"
    assert after["StateUpdatedTimestamp"] >= before["StateUpdatedTimestamp"]

    # The history entry is the one SetAlarmState leaves (moto's own update path).
    from moto.cloudwatch.models import cloudwatch_backends

    model = cloudwatch_backends["123456789012"]["us-east-1"].alarms["errors"]
    assert [h[0] for h in model.history] == ["StateUpdate"]
    assert model.history[0][3] == "OK"  # the state it left


def test_a_value_below_the_threshold_leaves_the_alarm_ok_and_untouched(aws):
    alarm(aws)
    before = shown(aws)
    put(aws, 0, at(0))
    after = shown(aws)
    assert after["StateValue"] == "OK"
    # No state change, no update: the reason is still moto's initial one.
    assert after["StateReason"] == before["StateReason"]
    assert after["StateUpdatedTimestamp"] == before["StateUpdatedTimestamp"]


def test_a_later_period_below_the_threshold_brings_it_back_to_ok(aws):
    alarm(aws)
    put(aws, 1, at(0))
    assert state(aws) == "ALARM"
    put(aws, 0, at(0))  # same period: Maximum is still 1
    assert state(aws) == "ALARM"
    put(aws, 0, at(1))
    ok = shown(aws)
    assert ok["StateValue"] == "OK"
    assert "was not greater than or equal to the threshold (1.0)" in ok["StateReason"]
    assert "ALARM -> OK" in ok["StateReason"]


def test_values_with_other_dimensions_names_or_namespaces_do_not_move_it(aws):
    alarm(aws)
    put(aws, 5, at(0), dims=[{"Name": "Service", "Value": "billing"}])
    put(aws, 5, at(0), dims=DIMS + [{"Name": "Host", "Value": "h1"}])  # a different metric
    put(aws, 5, at(0), dims=[])
    put(aws, 5, at(0), name="Faults")
    put(aws, 5, at(0), namespace="Acme/Other")
    assert state(aws) == "OK"
    # Dimensions are a set: their order does not matter.
    alarm(aws, "two", dims=[{"Name": "A", "Value": "1"}, {"Name": "B", "Value": "2"}])
    put(aws, 5, at(0), dims=[{"Name": "B", "Value": "2"}, {"Name": "A", "Value": "1"}])
    assert state(aws, "two") == "ALARM"


def test_an_alarm_with_a_unit_only_counts_data_of_that_unit(aws):
    alarm(aws, Unit="Count")
    put(aws, 5, at(0), Unit="Percent")
    assert state(aws) == "OK"
    put(aws, 5, at(0), Unit="Count")
    assert state(aws) == "ALARM"


@pytest.mark.parametrize("operator, value, expected", [
    ("GreaterThanOrEqualToThreshold", 10, "ALARM"), ("GreaterThanOrEqualToThreshold", 9, "OK"),
    ("GreaterThanThreshold", 10, "OK"), ("GreaterThanThreshold", 11, "ALARM"),
    ("LessThanThreshold", 10, "OK"), ("LessThanThreshold", 9, "ALARM"),
    ("LessThanOrEqualToThreshold", 10, "ALARM"), ("LessThanOrEqualToThreshold", 11, "OK"),
])
def test_comparison_operators_put_the_statistic_first(aws, operator, value, expected):
    alarm(aws, threshold=10.0, operator=operator)
    put(aws, value, at(0))
    assert state(aws) == expected


@pytest.mark.parametrize("statistic, expected", [
    ("Sum", "ALARM"), ("Average", "OK"), ("Minimum", "OK"), ("Maximum", "ALARM"),
    ("SampleCount", "OK"), ("p90", "ALARM"), ("p50", "OK"),
])
def test_each_statistic_is_computed_from_the_stored_values(aws, statistic, expected):
    # Values 1, 2, 3, 4, 10: Sum 20, Average 4, Minimum 1, Maximum 10, SampleCount 5,
    # p90 (nearest rank) 10, p50 3; threshold 6.
    alarm(aws, statistic=statistic, threshold=6.0)
    put(aws, None, at(0), Values=[1.0, 2.0, 3.0, 4.0, 10.0])
    assert state(aws) == expected


def test_statistic_sets_count_with_their_sample_count(aws):
    alarm(aws, statistic="Average", threshold=5.0)
    put(aws, None, at(0), StatisticValues={"SampleCount": 4, "Sum": 24, "Minimum": 1, "Maximum": 9})
    assert state(aws) == "ALARM"  # 24 / 4 = 6


# --------------------------------------------------------------------------- M out of N


def test_average_over_three_periods_two_of_three_breaching(aws):
    alarm(aws, statistic="Average", threshold=10.0, periods=3, to_alarm=2,
          operator="GreaterThanThreshold")
    put(aws, 20, at(0))  # X            (2 periods filled as not breaching)
    assert state(aws) == "OK"
    put(aws, 5, at(1))  # X 0          (1 filled)
    assert state(aws) == "OK"
    put(aws, None, at(2), Values=[5.0, 55.0])  # X 0 X: the period's Average is 30
    assert state(aws) == "ALARM"
    assert shown(aws)["StateReason"].startswith("Threshold Crossed: 2 out of the last 3 datapoints")
    put(aws, 1, at(3))  # 0 X 0
    assert state(aws) == "OK"


def test_without_datapoints_to_alarm_every_period_must_breach(aws):
    alarm(aws, periods=2)
    put(aws, 1, at(0))
    put(aws, 0, at(1))
    assert state(aws) == "OK"
    put(aws, 1, at(2))
    assert state(aws) == "OK"
    put(aws, 1, at(3))
    assert state(aws) == "ALARM"


# --------------------------------------------------------------------------- missing data

# User Guide, "How alarm state is evaluated when data is missing": the rows whose newest data
# point is real (the others need a clock to reach). 0 = not breaching, X = breaching,
# - = missing, oldest first; threshold: Maximum >= 1.
TABLES = [
    # (points, DatapointsToAlarm, MISSING, IGNORE, BREACHING, NOT BREACHING); None = unchanged
    ("0-X-X", 3, "OK", "OK", "OK", "OK"),
    ("0XX-X", 3, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("----X", 3, "INSUFFICIENT_DATA", None, "ALARM", "OK"),
    ("0-X-X", 2, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("00X0X", 2, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("----0", 2, "OK", "OK", "ALARM", "OK"),
    ("----X", 2, "INSUFFICIENT_DATA", None, "ALARM", "OK"),
]
TREATMENTS = ["missing", "ignore", "breaching", "notBreaching"]


@pytest.mark.parametrize("points, to_alarm, missing, ignore, breaching, not_breaching", TABLES)
@pytest.mark.parametrize("initial", ["OK", "ALARM"])
def test_the_user_guide_missing_data_tables(aws, points, to_alarm, initial, missing, ignore,
                                            breaching, not_breaching):
    expected = [missing, ignore, breaching, not_breaching]
    for treat in TREATMENTS:
        name = f"t-{treat}"
        alarm(aws, name, periods=3, to_alarm=to_alarm, treat=treat)
        aws.cw.set_alarm_state(AlarmName=name, StateValue=initial, StateReason="test")
    data = [{"MetricName": "Errors", "Dimensions": DIMS, "Timestamp": at(i),
             "Value": 1.0 if p == "X" else 0.0} for i, p in enumerate(points) if p != "-"]
    aws.cw.put_metric_data(Namespace=NS, MetricData=data)
    got = [state(aws, f"t-{treat}") for treat in TREATMENTS]
    assert got == [initial if e is None else e for e in expected]


def test_missing_is_the_default_treatment(aws):
    alarm(aws, periods=3, treat=None)
    put(aws, 1, at(0))
    assert state(aws) == "INSUFFICIENT_DATA"
    assert shown(aws)["StateReason"].startswith("Insufficient Data")


def test_aws_dynamodb_alarms_always_ignore_missing_data(aws):
    aws.cw.put_metric_alarm(
        AlarmName="throttles", Namespace="AWS/DynamoDB", MetricName="ThrottledRequests",
        Dimensions=[{"Name": "TableName", "Value": "t"}], Statistic="Sum", Period=60,
        EvaluationPeriods=3, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="breaching")
    aws.cw.put_metric_data(Namespace="AWS/DynamoDB", MetricData=[{
        "MetricName": "ThrottledRequests", "Dimensions": [{"Name": "TableName", "Value": "t"}],
        "Timestamp": at(0), "Value": 1.0}])
    assert state(aws, "throttles") == "OK"  # kept: "breaching" would have given ALARM


def test_low_sample_percentiles_can_be_ignored(aws):
    alarm(aws, "low", statistic="p90", threshold=5.0, EvaluateLowSampleCountPercentile="ignore")
    alarm(aws, "evaluated", statistic="p90", threshold=5.0,
          EvaluateLowSampleCountPercentile="evaluate")
    put(aws, None, at(0), Values=[10.0] * 20)  # fewer than 10 / (1 - 0.9) = 100 samples
    assert (state(aws, "low"), state(aws, "evaluated")) == ("OK", "ALARM")
    put(aws, None, at(0), Values=[10.0], Counts=[100.0])
    assert state(aws, "low") == "ALARM"


# --------------------------------------------------------------------------- not evaluated


def test_metric_math_and_anomaly_band_alarms_are_left_alone(aws):
    aws.cw.put_metric_alarm(
        AlarmName="math", EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        Metrics=[{"Id": "m1", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": NS, "MetricName": "Errors", "Dimensions": DIMS},
            "Period": 60, "Stat": "Sum"}}])
    aws.cw.put_metric_alarm(
        AlarmName="band", Namespace=NS, MetricName="Errors", Dimensions=DIMS, Statistic="Sum",
        Period=60, EvaluationPeriods=1, ThresholdMetricId="ad1",
        ComparisonOperator="GreaterThanUpperThreshold")
    put(aws, 100, at(0))
    assert (state(aws, "math"), state(aws, "band")) == ("OK", "OK")


# --------------------------------------------------------------------------- composite alarms


def test_a_composite_alarm_follows_its_evaluated_child(aws):
    alarm(aws)
    aws.cw.put_composite_alarm(AlarmName="service-down", AlarmRule='ALARM("errors")')
    assert state(aws, "service-down") == "OK"
    put(aws, 3, at(0))
    assert state(aws, "service-down") == "ALARM"
    from moto.cloudwatch.models import cloudwatch_backends

    # Re-evaluated on PutMetricData itself, not only when DescribeAlarms is asked.
    put(aws, 0, at(1))
    backend = cloudwatch_backends["123456789012"]["us-east-1"]
    assert backend.alarms["service-down"].state_value == "OK"


# --------------------------------------------------------------------------- PutMetricData refusals


@pytest.mark.parametrize("datum", [
    {"Value": float("inf")}, {"Value": float("-inf")}, {"Value": 2.0 ** 361},
    {"Values": [1.0, float("inf")]}, {"Value": float("nan")},
])
def test_unsupported_values_are_refused(aws, datum):
    with pytest.raises(ClientError) as err:
        aws.cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Errors", **datum}])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "MetricData.member.1.Value" in err.value.response["Error"]["Message"]


def test_the_largest_values_and_aws_namespaces_are_accepted(aws):
    aws.cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Errors", "Value": 2.0 ** 360}, {"MetricName": "Errors", "Value": -(2.0 ** 360)}])
    # PutMetricData Namespace: "you should not specify a namespace that begins with AWS/"
    # (advice, not a refusal).
    aws.cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{"MetricName": "X", "Value": 1.0}])


# --------------------------------------------------------------------------- end to end


def test_an_endpoint_update_rolls_back_when_put_metric_data_breaches_its_alarm_mid_bake(aws):
    aws.blue_green_setup(count=4)
    dims = [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "main"}]
    aws.cw.put_metric_alarm(
        AlarmName="ep-5xx", Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
        Dimensions=dims, Statistic="Maximum", Period=60, EvaluationPeriods=1, DatapointsToAlarm=1,
        Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           DeploymentConfig=canary(["ep-5xx"]))
    stages = []
    while not stages or stages[-1] != "Baking":
        stages.append(observe(aws)["green"][0][2])
    assert stages == ["Creating", "ActivatingTraffic", "Baking"]

    def errors(value, when):
        aws.cw.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{
            "MetricName": "Invocation5XXErrors", "Dimensions": dims, "Timestamp": when,
            "Value": float(value)}])

    errors(0, at(0))  # a healthy minute changes nothing
    assert state(aws, "ep-5xx") == "OK"
    errors(1, at(1))
    assert state(aws, "ep-5xx") == "ALARM"
    rolling_back = observe(aws)
    assert rolling_back["status"] == "RollingBack"
    assert rolling_back["blue"] == [(1.0, 4, None)]
    assert rolling_back["green"] == [(0.0, 4, "Deleting")]
    done = observe(aws)
    assert (done["status"], done["config"], done["green"]) == ("InService", "c1", None)
    assert "ep-5xx" in done["raw"]["FailureReason"]


def test_updating_an_alarm_keeps_its_state_until_it_is_evaluated_again(aws):
    """PutMetricAlarm: "When you update an existing alarm, its state is left unchanged, but the
    update completely overwrites the previous configuration of the alarm"."""
    alarm(aws)
    put(aws, 3, at(0))
    assert state(aws) == "ALARM"
    alarm(aws, dims=[{"Name": "Service", "Value": "api"}, {"Name": "Deployment", "Value": "2"}])
    after = shown(aws)
    assert after["StateValue"] == "ALARM" and len(after["Dimensions"]) == 2  # the new configuration
    aws.cw.set_alarm_state(AlarmName="errors", StateValue="OK", StateReason="a new rollout")
    put(aws, 3, at(1))  # the old metric: this alarm no longer watches it
    assert state(aws) == "OK"
