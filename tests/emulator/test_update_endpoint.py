"""UpdateEndpoint with deployment guardrails, observed through DescribeEndpoint (moto server)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.support import sagemaker_emulator as emulator


def canary(value=1, kind="INSTANCE_COUNT", wait=600, termination=300, alarms=None):
    config = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": wait,
                "CanarySize": {"Type": kind, "Value": value},
            },
            "TerminationWaitInSeconds": termination,
            "MaximumExecutionTimeoutInSeconds": 3600,
        }
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return config


def linear(value, kind="CAPACITY_PERCENT", wait=300):
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "LINEAR", "WaitIntervalInSeconds": wait,
        "LinearStepSize": {"Type": kind, "Value": value}}}}


def variant_view(v):
    status = (v.get("VariantStatus") or [{}])[0].get("Status")
    return (v["CurrentWeight"], v.get("CurrentInstanceCount"), status)


def observe(aws, name="ep"):
    d = aws.sm.describe_endpoint(EndpointName=name)
    pending = d.get("PendingDeploymentSummary")
    return {
        "status": d["EndpointStatus"],
        "config": d.get("EndpointConfigName"),
        "blue": [variant_view(v) for v in d.get("ProductionVariants", [])],
        "green": [variant_view(v) for v in pending["ProductionVariants"]] if pending else None,
        "pending_config": pending["EndpointConfigName"] if pending else None,
        "raw": d,
    }


def observe_until_done(aws, limit=40):
    seen = []
    for _ in range(limit):
        o = observe(aws)
        seen.append(o)
        if o["status"] in ("InService", "Failed", "UpdateRollbackFailed"):
            return seen
    raise AssertionError(f"no terminal status after {limit} describes: {seen[-1]}")


def test_canary_update_goes_phase_by_phase_to_the_new_config(aws):
    aws.blue_green_setup(count=4)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=canary(1))

    seen = observe_until_done(aws)
    steps = [(o["status"], o["config"], o["blue"], o["green"]) for o in seen]
    assert steps == [
        ("Updating", "c1", [(1.0, 4, None)], [(0.0, 0, "Creating")]),
        ("Updating", "c1", [(0.75, 4, None)], [(0.25, 4, "ActivatingTraffic")]),
        ("Updating", "c1", [(0.75, 4, None)], [(0.25, 4, "Baking")]),
        ("Updating", "c1", [(0.0, 4, None)], [(1.0, 4, "ActivatingTraffic")]),
        ("Updating", "c1", [(0.0, 4, None)], [(1.0, 4, "Baking")]),
        ("Updating", "c1", [(0.0, 4, "Deleting")], [(1.0, 4, None)]),
        ("InService", "c2", [(1.0, 4, None)], None),
    ]
    assert all(o["pending_config"] == "c2" for o in seen[:-1])
    final = seen[-1]["raw"]
    assert final["LastDeploymentConfig"] == canary(1)
    assert "PendingDeploymentSummary" not in final
    assert "FailureReason" not in final
    assert final["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"].endswith("/m2:1")


def test_pending_summary_shows_desired_counts_and_start_time(aws):
    aws.blue_green_setup(count=2)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           DeploymentConfig=canary(1))
    d = aws.sm.describe_endpoint(EndpointName="ep")
    green = d["PendingDeploymentSummary"]["ProductionVariants"][0]
    assert green["DesiredInstanceCount"] == 2 and green["DesiredWeight"] == 1.0
    assert green["InstanceType"] == "ml.m5.large"
    assert "StartTime" in d["PendingDeploymentSummary"]
    assert green["VariantStatus"][0]["StatusMessage"]


def test_bake_ticks_lengthen_each_baking_period(aws):
    aws.blue_green_setup(count=4)
    emulator.configure_remote(aws.url, bake_ticks=3)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=canary(2))
    stages = [o["green"][0][2] if o["green"] else o["status"] for o in observe_until_done(aws)]
    assert stages == ["Creating", "ActivatingTraffic", "Baking", "Baking", "Baking",
                      "ActivatingTraffic", "Baking", "Baking", "Baking", None, "InService"]


def test_linear_update_shifts_in_equal_steps(aws):
    aws.blue_green_setup(count=4)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=linear(25))
    seen = observe_until_done(aws)
    green = [(o["green"][0][0], o["green"][0][2]) for o in seen if o["green"]]
    assert green == [
        (0.0, "Creating"),
        (0.25, "ActivatingTraffic"), (0.25, "Baking"),
        (0.5, "ActivatingTraffic"), (0.5, "Baking"),
        (0.75, "ActivatingTraffic"), (0.75, "Baking"),
        (1.0, "ActivatingTraffic"),
        (1.0, "Baking"),  # final baking period (TerminationWaitInSeconds, default 0)
        (1.0, None),  # old fleet terminating
    ]
    assert seen[-1]["status"] == "InService" and seen[-1]["config"] == "c2"


def test_linear_update_by_instance_count(aws):
    aws.blue_green_setup(count=4)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           DeploymentConfig=linear(2, kind="INSTANCE_COUNT"))
    shares = [o["green"][0][0] for o in observe_until_done(aws) if o["green"]]
    assert shares == [0.0, 0.5, 0.5, 1.0, 1.0, 1.0]


def test_all_at_once_update(aws):
    aws.blue_green_setup(count=2)
    config = {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
        "TerminationWaitInSeconds": 60}}
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=config)
    steps = [(o["status"], o["green"]) for o in observe_until_done(aws)]
    assert steps == [
        ("Updating", [(0.0, 0, "Creating")]),
        ("Updating", [(1.0, 2, "ActivatingTraffic")]),
        ("Updating", [(1.0, 2, "Baking")]),
        ("Updating", [(1.0, 2, None)]),
        ("InService", None),
    ]


def test_update_without_deployment_config_is_all_at_once_and_may_rename_variants(aws):
    aws.model("m1")
    aws.model("m2")
    aws.config("c1", "m1", count=1, variant="blue")
    aws.config("c2", "m2", count=1, variant="green")
    aws.endpoint("ep", "c1")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    seen = observe_until_done(aws)
    assert [o["status"] for o in seen] == ["Updating"] * 3 + ["InService"]
    final = seen[-1]["raw"]
    assert final["EndpointConfigName"] == "c2"
    assert [v["VariantName"] for v in final["ProductionVariants"]] == ["green"]
    assert "LastDeploymentConfig" not in final


def test_waiter_sees_the_update_through(aws):
    aws.blue_green_setup(count=2)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=canary(1))
    aws.wait_in_service("ep")
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "c2"


def test_rolling_update_replaces_batches(aws):
    aws.blue_green_setup(count=4)
    config = {"RollingUpdatePolicy": {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 2}, "WaitIntervalInSeconds": 120}}
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=config)
    seen = observe_until_done(aws)
    steps = [(o["blue"][0][1], o["green"][0][1], o["green"][0][0], o["green"][0][2])
             for o in seen if o["green"]]
    assert steps == [
        (4, 2, 0.0, "Creating"), (2, 2, 0.5, "ActivatingTraffic"), (2, 2, 0.5, "Baking"),
        (2, 4, 0.5, "Creating"), (0, 4, 1.0, "ActivatingTraffic"), (0, 4, 1.0, "Baking"),
    ]
    assert seen[-1]["config"] == "c2"


def test_retain_all_variant_properties_keeps_live_counts(aws):
    aws.blue_green_setup(count=2)
    aws.sm.update_endpoint_weights_and_capacities(
        EndpointName="ep", DesiredWeightsAndCapacities=[{"VariantName": "main",
                                                          "DesiredInstanceCount": 3}])
    aws.wait_in_service("ep")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           RetainAllVariantProperties=True)
    aws.wait_in_service("ep")
    v = aws.sm.describe_endpoint(EndpointName="ep")["ProductionVariants"][0]
    assert (v["CurrentInstanceCount"], v["DesiredInstanceCount"]) == (3, 3)

    aws.config("c3", "m1", count=5)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c3",
                           RetainAllVariantProperties=True,
                           ExcludeRetainedVariantProperties=[
                               {"VariantPropertyType": "DesiredInstanceCount"}])
    aws.wait_in_service("ep")
    assert aws.sm.describe_endpoint(EndpointName="ep")["ProductionVariants"][0][
        "CurrentInstanceCount"] == 5


def test_retain_deployment_config_reuses_the_last_one(aws):
    aws.blue_green_setup(count=4)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=canary(1))
    aws.wait_in_service("ep")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c1", RetainDeploymentConfig=True)
    assert emulator.current_phase_remote(aws.url, "ep") == "provision-green"
    labels = []
    while True:
        aws.sm.describe_endpoint(EndpointName="ep")
        label = emulator.current_phase_remote(aws.url, "ep")
        if label is None:
            break
        labels.append(label)
    assert "canary-bake" in labels


# --------------------------------------------------------------------------- rollback


def test_alarm_in_alarm_mid_bake_rolls_back_to_the_old_config(aws):
    aws.blue_green_setup(count=4)
    aws.alarm("ep-5xx")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           DeploymentConfig=canary(1, alarms=["ep-5xx"]))
    stages = []
    while not stages or stages[-1] != "Baking":
        stages.append(observe(aws)["green"][0][2])
    assert stages == ["Creating", "ActivatingTraffic", "Baking"]

    aws.cw.set_alarm_state(AlarmName="ep-5xx", StateValue="ALARM", StateReason="5xx spike")
    rolling_back = observe(aws)
    assert rolling_back["status"] == "RollingBack"
    assert rolling_back["blue"] == [(1.0, 4, None)]
    assert rolling_back["green"] == [(0.0, 4, "Deleting")]

    done = observe(aws)
    assert done["status"] == "InService"
    assert done["config"] == "c1"
    assert done["green"] is None
    assert "ep-5xx" in done["raw"]["FailureReason"]
    assert done["raw"]["LastDeploymentConfig"]["AutoRollbackConfiguration"] == {
        "Alarms": [{"AlarmName": "ep-5xx"}]}
    # The waiter reports success: only the config name tells the rollback.
    aws.wait_in_service("ep")


def test_alarm_that_stays_ok_does_not_roll_back(aws):
    aws.blue_green_setup(count=2)
    aws.alarm("quiet")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           DeploymentConfig=canary(1, alarms=["quiet"]))
    seen = observe_until_done(aws)
    assert "RollingBack" not in [o["status"] for o in seen]
    assert seen[-1]["config"] == "c2"


def test_alarms_are_not_watched_once_the_old_fleet_is_terminating(aws):
    aws.blue_green_setup(count=2)
    aws.alarm("late")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           DeploymentConfig=canary(1, alarms=["late"]))
    while emulator.current_phase_remote(aws.url, "ep") != "terminate-blue":
        aws.sm.describe_endpoint(EndpointName="ep")
    aws.cw.set_alarm_state(AlarmName="late", StateValue="ALARM", StateReason="late")
    assert observe(aws)["config"] == "c2"


def test_forced_failed_outcome(aws):
    aws.blue_green_setup(count=2)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=canary(1))
    emulator.force_outcome_remote(aws.url, "ep", "Failed", reason="Model container crashed")
    failed = observe(aws)
    assert failed["status"] == "Failed"
    assert failed["raw"]["FailureReason"] == "Model container crashed"
    assert failed["config"] == "c1"
    with pytest.raises(WaiterError):
        aws.wait_in_service("ep")
    with pytest.raises(ClientError) as err:
        aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_forced_update_rollback_failed_at_a_named_phase(aws):
    aws.blue_green_setup(count=4)
    emulator.force_outcome_remote(aws.url, "ep", "UpdateRollbackFailed", at_phase="canary-bake")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=canary(1))
    statuses = [o["status"] for o in observe_until_done(aws)]
    assert statuses == ["Updating", "Updating", "RollingBack", "UpdateRollbackFailed"]
    d = aws.sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointStatus"] == "UpdateRollbackFailed" and d["FailureReason"]
    # AWS's remedy: update the endpoint again.
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c1")
    aws.wait_in_service("ep")


def test_forced_rollback_without_alarm(aws):
    aws.blue_green_setup(count=2)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    emulator.force_outcome_remote(aws.url, "ep", "RolledBack", reason="health check failed")
    assert [o["status"] for o in observe_until_done(aws)] == ["RollingBack", "InService"]
    d = aws.sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointConfigName"] == "c1" and d["FailureReason"] == "health check failed"


def test_forced_failed_create(aws):
    aws.model("m1")
    aws.config("c1", "m1")
    emulator.force_outcome_remote(aws.url, "ep", "Failed")
    aws.sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    d = aws.sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointStatus"] == "Failed" and d["EndpointConfigName"] == "c1"
    assert "ProductionVariants" not in d


# --------------------------------------------------------------------------- validation


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"], \
        err.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_canary_larger_than_half_the_fleet_is_rejected(aws):
    aws.blue_green_setup(count=4)
    code, message, status = error_of(aws.sm.update_endpoint, EndpointName="ep",
                                     EndpointConfigName="c2", DeploymentConfig=canary(3))
    assert (code, status) == ("ValidationException", 400)
    assert "50%" in message
    code, _, _ = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="c2",
                          DeploymentConfig=canary(60, kind="CAPACITY_PERCENT"))
    assert code == "ValidationException"
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"


def test_canary_of_one_instance_on_a_single_instance_fleet_is_rejected(aws):
    aws.blue_green_setup(count=1)
    code, _, _ = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="c2",
                          DeploymentConfig=canary(1))
    assert code == "ValidationException"


@pytest.mark.parametrize("value,kind", [(60, "CAPACITY_PERCENT"), (5, "CAPACITY_PERCENT"),
                                        (3, "INSTANCE_COUNT")])
def test_linear_step_outside_10_to_50_percent_is_rejected(aws, value, kind):
    aws.blue_green_setup(count=4)
    code, message, _ = error_of(aws.sm.update_endpoint, EndpointName="ep",
                                EndpointConfigName="c2", DeploymentConfig=linear(value, kind=kind))
    assert code == "ValidationException" and "LinearStepSize" in message


def test_changed_variant_names_with_deployment_config_are_rejected(aws):
    aws.blue_green_setup(count=2)
    aws.config("renamed", "m2", count=2, variant="other")
    code, message, _ = error_of(aws.sm.update_endpoint, EndpointName="ep",
                                EndpointConfigName="renamed", DeploymentConfig=canary(1))
    assert code == "ValidationException" and "variant names" in message


def test_update_of_an_endpoint_not_in_service_is_rejected(aws):
    aws.model("m1")
    aws.config("c1", "m1")
    aws.sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
    code, message, _ = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="c1")
    assert code == "ValidationException" and "in-progress" in message

    aws.wait_in_service("ep")
    aws.config("c2", "m1", count=2)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    code, _, _ = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="c1")
    assert code == "ValidationException"


def test_update_of_a_missing_endpoint_or_config_is_rejected(aws):
    aws.blue_green_setup(count=2)
    code, message, _ = error_of(aws.sm.update_endpoint, EndpointName="nope",
                                EndpointConfigName="c2")
    assert code == "ValidationException" and "endpoint/nope" in message
    code, message, _ = error_of(aws.sm.update_endpoint, EndpointName="ep",
                                EndpointConfigName="missing")
    assert code == "ValidationException" and "endpoint-config/missing" in message


def test_rolling_update_falls_back_on_multi_variant_and_serverless_is_refused(aws):
    # Exclusions page: multi-variant endpoints are a rolling-deployment exclusion (fall back to
    # all at once, no final bake); guardrails do not apply to serverless endpoints at all.
    aws.model("m1")
    aws.sm.create_endpoint_config(EndpointConfigName="ab", ProductionVariants=[
        {"VariantName": "a", "ModelName": "m1", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 2},
        {"VariantName": "b", "ModelName": "m1", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 2}])
    aws.sm.create_endpoint_config(EndpointConfigName="ab2", ProductionVariants=[
        {"VariantName": "a", "ModelName": "m1", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 4},
        {"VariantName": "b", "ModelName": "m1", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 4}])
    aws.endpoint("ab-ep", "ab")
    rolling = {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "CAPACITY_PERCENT",
                                                             "Value": 25},
                                       "WaitIntervalInSeconds": 60}}
    aws.sm.update_endpoint(EndpointName="ab-ep", EndpointConfigName="ab2", DeploymentConfig=rolling)
    labels = []
    while True:
        status = aws.sm.describe_endpoint(EndpointName="ab-ep")["EndpointStatus"]
        if status == "InService":
            break
        labels.append(emulator.current_phase_remote(aws.url, "ab-ep"))
    assert labels == ["provision-green", "shift-all", "terminate-blue"]

    serverless = [{"VariantName": "s", "ModelName": "m1",
                   "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}]
    aws.sm.create_endpoint_config(EndpointConfigName="sl1", ProductionVariants=serverless)
    aws.sm.create_endpoint_config(EndpointConfigName="sl2", ProductionVariants=serverless)
    aws.endpoint("sl-ep", "sl1")
    code, message, _ = error_of(aws.sm.update_endpoint, EndpointName="sl-ep",
                                EndpointConfigName="sl2", DeploymentConfig=rolling)
    assert code == "ValidationException" and "serverless" in message
    # Blue/green canary is fine on a multi-variant endpoint.
    aws.sm.update_endpoint(EndpointName="ab-ep", EndpointConfigName="ab",
                           DeploymentConfig=canary(1))
    assert emulator.current_phase_remote(aws.url, "ab-ep") == "provision-green"


def test_both_update_policies_or_out_of_range_values_are_rejected(aws):
    aws.blue_green_setup(count=4)
    both = dict(canary(1), RollingUpdatePolicy={
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 0})
    assert error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="c2",
                    DeploymentConfig=both)[0] == "ValidationException"
    assert error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="c2",
                    DeploymentConfig=canary(1, termination=7200))[0] == "ValidationException"
    no_size = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": 60}}}
    assert error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="c2",
                    DeploymentConfig=no_size)[0] == "ValidationException"


# --------------------------------------------------------------------------- clock mode


def test_clock_mode_moves_on_by_wall_time(aws):
    aws.blue_green_setup(count=4)
    emulator.configure_remote(aws.url, mode="clock", time_scale=0.0001)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           DeploymentConfig=canary(1, wait=600, termination=600))
    first = observe(aws)
    assert first["status"] == "Updating"
    deadline = time.monotonic() + 5
    while observe(aws)["status"] != "InService":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert observe(aws)["config"] == "c2"


def test_reset_clears_emulator_state_and_settings(aws):
    emulator.configure_remote(aws.url, bake_ticks=5)
    aws.blue_green_setup(count=2)
    emulator.reset(aws.url)
    assert emulator.configure_remote(aws.url)["bake_ticks"] == 1
    assert aws.sm.list_endpoints()["Endpoints"] == []
