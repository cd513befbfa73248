"""Autoscaling and capacity kept through every ending of a rollout (issue #12, items 2-4, 7, 10).

AWS's rule ("Update endpoints that use auto scaling"): an update that changes the instance type
of, or removes, an autoscaled variant fails unless the variant is deregistered first. So the bot
deregisters exactly those, registers the manifest's scaling on success, and registers what was
live again on every other ending. Driven by decide/execute/observe against moto + the emulator.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.deploy import scaling
from bot.adapters.aws.executor import execute, observe
from bot.core.deploy.requests import DeployRequests
from bot.core.deploy.rollout import Observation
from bot.core.plan import LiveAutoscaling, LiveVariant
from tests.deploy.helpers import COMMIT1, COMMIT2
from tests.deploy.test_executor import (CANARY, CANARY_V2, AB, AB_V2, Rollout, _alarm, _deployed,  # noqa: F401
                                        calls, clients, session)
from tests.deploy.helpers import example
from tests.support import sagemaker_emulator as emulator

RESOURCE = "endpoint/fraud-detector/variant/AllTraffic"
BIGGER = {**CANARY_V2, "instance_type: ml.m5.xlarge\n    instance_count: 4":
          "instance_type: ml.c5.2xlarge\n    instance_count: 4"}


def _target(aas, resource=RESOURCE):
    found = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])
    return found["ScalableTargets"]


def _policies(aas, resource=RESOURCE):
    return {p["PolicyName"]: p for p in aas.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=resource)["ScalingPolicies"]}


def _live_canary(session, clients):
    for name in ("fraud-detector-5xx", "fraud-detector-latency-p99"):
        _alarm(clients.cloudwatch, name)
    return _deployed(session, clients, example(CANARY))


# --- pure rules -----------------------------------------------------------------------------------


def _variant(name="AllTraffic", itype="ml.m5.xlarge", count=6, scaled=True):
    return LiveVariant(name=name, model_name="m", instance_type=itype, instance_count=count,
                       autoscaling=LiveAutoscaling(4, 10, 200.0, ({"PolicyName": "p", "PolicyType":
                                                                    "TargetTrackingScaling",
                                                                    "AlarmNames": []},))
                       if scaled else None)


def _config(*rows):
    return {"ProductionVariants": [{"VariantName": n, "InstanceType": t, "InitialInstanceCount": 4}
                                   for n, t in rows]}


def test_only_removed_or_retyped_autoscaled_variants_are_deregistered():
    live = [_variant(), _variant("Other", scaled=False)]
    assert scaling.conflicts("ep", live, _config(("AllTraffic", "ml.m5.xlarge"))) == ()
    assert [d["ResourceId"] for d in scaling.conflicts("ep", live, _config(("AllTraffic", "ml.c5.xlarge")))] \
        == ["endpoint/ep/variant/AllTraffic"]
    assert [d["ResourceId"] for d in scaling.conflicts("ep", live, _config(("Renamed", "ml.m5.xlarge")))] \
        == ["endpoint/ep/variant/AllTraffic"]  # a rename removes the autoscaled variant
    serverless = {"ProductionVariants": [{"VariantName": "AllTraffic", "ServerlessConfig": {}}]}
    assert len(scaling.conflicts("ep", live, serverless)) == 1


def test_counts_are_retained_only_where_the_variant_stays_and_raised_where_it_is_recreated():
    live = [_variant(count=7)]
    same = _config(("AllTraffic", "ml.m5.xlarge"))
    assert scaling.retain_counts(live, same, ()) is True
    retyped = _config(("AllTraffic", "ml.c5.xlarge"))
    assert scaling.retain_counts(live, retyped, scaling.conflicts("ep", live, retyped)) is False
    assert scaling.raised_count(4, 7, 10) == 7
    assert scaling.raised_count(4, 12, 10) == 10
    assert scaling.raised_count(4, 2, 10) == 4


def test_a_restored_step_policy_gets_its_alarm_pointed_at_the_new_arn_only():
    old = ("arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:aaa:resource/sagemaker/"
           "endpoint/ep/variant/v:policyName/step")
    other = ("arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:bbb:resource/sagemaker/"
             "endpoint/else/variant/v:policyName/step")
    alarm = {"AlarmName": "a", "AlarmActions": [old, other, "arn:aws:sns:us-east-1:1:topic"],
             "MetricName": "M", "Namespace": "N", "Statistic": "Average", "Period": 60,
             "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold",
             "StateValue": "OK", "AlarmArn": "x"}
    out = scaling.alarm_update(alarm, "endpoint/ep/variant/v", "step", "NEW")
    assert out["AlarmActions"] == [other, "arn:aws:sns:us-east-1:1:topic", "NEW"]
    assert "StateValue" not in out and "AlarmArn" not in out


# --- against moto + the emulator ------------------------------------------------------------------


def test_a_retyped_canary_rolled_back_by_an_alarm_gets_its_autoscaling_back(session, clients):
    _live_canary(session, clients)
    aas = clients.autoscaling
    before = _policies(aas)
    assert _target(aas) and "modelbot-target-tracking" in before
    r = Rollout(session, clients, example(CANARY, BIGGER), "production", COMMIT2)
    assert [d["ResourceId"] for d in r.requests.deregister_for(r.requests.target_config)] == [RESOURCE]
    seen_deregistered = []

    def trip(o: Observation) -> None:
        if o.stage == "Baking" and o.traffic_percent == 25.0:
            seen_deregistered.append(not _target(aas))
            clients.cloudwatch.set_alarm_state(AlarmName="fraud-detector-5xx", StateValue="ALARM",
                                               StateReason="5xx")

    final = r.run(each=trip)

    assert final.action == "fail" and r.state.phase == "rolled_back", r.actions
    assert seen_deregistered == [True]  # the update could only start with the target gone
    (target,) = _target(aas)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (4, 10)
    after = _policies(aas)
    assert after["modelbot-target-tracking"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 200.0


@pytest.mark.parametrize("outcome, phase", [("Failed", "failed"), ("RolledBack", "rolled_back")])
def test_a_retyped_update_that_fails_gets_its_autoscaling_back(session, clients, aws, outcome, phase):
    _live_canary(session, clients)
    r = Rollout(session, clients, example(CANARY, BIGGER), "production", COMMIT2)
    emulator.force_outcome_remote(aws, "fraud-detector", outcome, reason="boom", at_phase="Baking")

    final = r.run()

    assert final.action == "fail" and r.state.phase == phase, (r.actions, final.reason)
    if outcome == "RolledBack":
        (target,) = _target(clients.autoscaling)
        assert target["MaxCapacity"] == 10


def test_an_abort_of_a_retyped_canary_gets_its_autoscaling_back(session, clients):
    _live_canary(session, clients)
    r = Rollout(session, clients, example(CANARY, BIGGER), "production", COMMIT2)
    r.run(until=lambda d: d.progress is not None and "(Baking)" in d.progress.text)
    assert not _target(clients.autoscaling)

    r.state = replace(r.state, requested="abort")
    final = r.run()

    assert r.state.phase == "rolled_back" and "requested by /abort" in final.reason
    assert _target(clients.autoscaling)


def test_a_worker_killed_after_deregistering_still_restores_on_the_rollback(session, clients):
    """The requests are the stored ones: a new worker reads them back and ends the same way."""
    _live_canary(session, clients)
    r = Rollout(session, clients, example(CANARY, BIGGER), "production", COMMIT2)
    r.run(until=lambda d: d.action == "update_endpoint")
    execute(r.decisions[-1], clients, r.requests)  # the update went out, then the worker died
    assert not _target(clients.autoscaling)
    r.requests = DeployRequests.from_dict(r.requests.to_dict())  # what the next worker reads
    r.state = replace(r.state, requested="abort")

    r.run()

    assert r.state.phase == "rolled_back"
    assert _target(clients.autoscaling)


def test_a_successful_retyped_canary_starts_at_the_autoscaled_count_and_rescales(session, clients):
    _live_canary(session, clients)
    clients.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="fraud-detector",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 7}])
    observe(clients, "fraud-detector")
    observe(clients, "fraud-detector")  # the emulator applies the capacity over two looks
    r = Rollout(session, clients, example(CANARY, BIGGER), "production", COMMIT2)
    (row,) = r.requests.endpoint_config(r.requests.target_config)["ProductionVariants"]
    assert row["InitialInstanceCount"] == 7  # not the manifest's 4: no capacity cliff

    assert r.run().action == "succeed"

    (target,) = _target(clients.autoscaling)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (4, 10)


def test_a_model_only_update_of_an_autoscaled_variant_retains_its_count(session, clients, calls):
    _live_canary(session, clients)
    r = Rollout(session, clients, example(CANARY, CANARY_V2), "production", COMMIT2)
    request = r.requests.update_to(r.requests.target_config)
    assert request["RetainAllVariantProperties"] is True
    assert request["ExcludeRetainedVariantProperties"] == [
        {"VariantPropertyType": "DesiredWeight"}, {"VariantPropertyType": "DataCaptureConfig"}]
    assert r.requests.deregister_for(r.requests.target_config) == ()
    assert r.run().action == "succeed"
    assert _target(clients.autoscaling)


def test_an_ab_promotion_that_retypes_the_autoscaled_variant_deregisters_it_first(session, clients):
    scaled = {"    instance_count: 2\n": "    instance_count: 2\n    autoscaling: "
              "{min_capacity: 2, max_capacity: 3, target_invocations_per_instance: 100}\n"}
    _alarm(clients.cloudwatch, "search-ranker-latency")
    _deployed(session, clients, example(AB, scaled))
    resource = "endpoint/search-ranker-production/variant/AllTraffic"
    assert _target(clients.autoscaling, resource)
    retyped = {**AB_V2, **scaled, "instance_type: ml.c5.2xlarge": "instance_type: ml.m5.xlarge"}
    r = Rollout(session, clients, example(AB, retyped), "production", COMMIT2)
    assert r.requests.deregister_for(r.requests.target_config) == ()  # the A/B keeps it
    assert [d["ResourceId"] for d in r.requests.deregister_for(r.requests.promoted_config)] == [resource]
    r.run(until=lambda d: d.state.phase == "experiment" and d.action == "wait")
    assert _target(clients.autoscaling, resource)  # autoscaled while the test runs
    r.state = replace(r.state, requested="promote")

    final = r.run()

    assert final.action == "succeed", r.actions
    (target,) = _target(clients.autoscaling, resource)
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 3)
    ep = clients.sagemaker.describe_endpoint(EndpointName="search-ranker-production")
    config = clients.sagemaker.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.m5.xlarge"


def test_a_missing_alarm_during_an_ab_test_rolls_back(session, clients):
    _alarm(clients.cloudwatch, "search-ranker-latency")
    _deployed(session, clients, example(AB))
    r = Rollout(session, clients, example(AB, AB_V2), "production", COMMIT2)
    r.run(until=lambda d: d.state.phase == "experiment" and d.action == "wait")

    clients.cloudwatch.delete_alarms(AlarmNames=["search-ranker-latency"])
    final = r.run()

    assert r.state.phase == "rolled_back"
    assert "search-ranker-latency does not exist" in final.reason


def test_a_composite_alarm_is_watched(session, clients):
    _alarm(clients.cloudwatch, "search-ranker-latency")
    observed = observe(clients, "nothing-here", ("search-ranker-latency", "gone"))
    assert observed.alarms["gone"] == "MISSING"
    assert observed.alarms["search-ranker-latency"] in ("OK", "INSUFFICIENT_DATA")
    # PutCompositeAlarm comes from tests/support/aas_cloudwatch_emulator.py (moto lacks it)
    clients.cloudwatch.put_composite_alarm(AlarmName="composite",
                                           AlarmRule='ALARM("search-ranker-latency")')
    observed = observe(clients, "nothing-here", ("composite",))
    assert observed.alarms["composite"] != "MISSING"


def test_an_ab_rollback_keeps_the_autoscaled_count_of_the_live_variant(session, clients):
    scaled = {"    instance_count: 2\n": "    instance_count: 2\n    autoscaling: "
              "{min_capacity: 2, max_capacity: 5, target_invocations_per_instance: 100}\n"}
    _alarm(clients.cloudwatch, "search-ranker-latency")
    first = _deployed(session, clients, example(AB, scaled))
    clients.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="search-ranker-production",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 4}])
    observe(clients, "search-ranker-production")
    observe(clients, "search-ranker-production")
    r = Rollout(session, clients, example(AB, {**AB_V2, **scaled}), "production", COMMIT2)
    back = r.requests.update_to(first.requests.target_config)
    assert back["RetainAllVariantProperties"] is True  # the way back keeps the counts too
    r.run(until=lambda d: d.state.phase == "experiment" and d.action == "wait")
    clients.cloudwatch.set_alarm_state(AlarmName="search-ranker-latency", StateValue="ALARM",
                                       StateReason="p99 latency")

    assert r.run().action == "fail" and r.state.phase == "rolled_back"

    ep = clients.sagemaker.describe_endpoint(EndpointName="search-ranker-production")
    (variant,) = ep["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert variant.get("DesiredInstanceCount", variant.get("CurrentInstanceCount")) == 4  # not 2


def test_a_manifest_that_drops_autoscaling_gets_its_own_count_not_the_live_one(session, clients):
    _live_canary(session, clients)
    no_scaling = {**CANARY_V2, "    autoscaling:\n      min_capacity: 4\n      max_capacity: 10\n"
                  "      target_invocations_per_instance: 200\n": ""}
    r = Rollout(session, clients, example(CANARY, no_scaling), "production", COMMIT2)
    assert "RetainAllVariantProperties" not in r.requests.update_to(r.requests.target_config)


def test_a_guarded_update_whose_rollback_alarm_does_not_exist_is_not_started(session, clients):
    _live_canary(session, clients)
    clients.cloudwatch.delete_alarms(AlarmNames=["fraud-detector-latency-p99"])
    before = clients.sagemaker.describe_endpoint(EndpointName="fraud-detector")["EndpointConfigName"]
    r = Rollout(session, clients, example(CANARY, CANARY_V2), "production", COMMIT2)

    final = r.run()

    assert final.action == "fail" and "update_endpoint" not in r.actions
    assert "alarm fraud-detector-latency-p99 does not exist" in final.reason
    assert clients.sagemaker.describe_endpoint(EndpointName="fraud-detector")["EndpointConfigName"] == before
    assert _target(clients.autoscaling)  # nothing was deregistered either


def test_a_retyped_variant_without_autoscaling_in_the_manifest_starts_at_the_manifests_count(session, clients):
    _live_canary(session, clients)
    clients.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="fraud-detector",
        DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 7}])
    observe(clients, "fraud-detector")
    observe(clients, "fraud-detector")
    unscaled = {**BIGGER, "    autoscaling:\n      min_capacity: 4\n      max_capacity: 10\n"
                "      target_invocations_per_instance: 200\n": ""}
    r = Rollout(session, clients, example(CANARY, unscaled), "production", COMMIT2)
    (row,) = r.requests.endpoint_config(r.requests.target_config)["ProductionVariants"]
    assert row["InitialInstanceCount"] == 4  # the manifest's; nothing would scale 7 back down
