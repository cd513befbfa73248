"""Rollouts driven by decide/execute/observe against moto with the SageMaker emulator: what
reaches AWS, how each outcome is recognised, and that a poll costs at most two AWS calls.

The emulator moves a deployment one phase on per DescribeEndpoint (see its docstring), so each
loop iteration below is one poll."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Callable

import boto3
import pytest
from botocore.exceptions import ClientError

from bot.adapters.aws.live import read_live_state
from bot.adapters.aws.executor import (Clients, execute, model_package_approved, observe,
                                 start_transform_job, transform_job_status)
from bot.core.deploy.requests import DeployRequests, build_requests
from bot.core.deploy.rollout import Decision, Observation, RolloutState, decide, new_rollout
from bot.core.plan import DeploySpec, LiveState, plan
from tests.deploy.helpers import COMMIT1, COMMIT2, COMMIT3, PRICES, ROLE, Calls, context, example
from tests.support import sagemaker_emulator as emulator

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test:1"


@pytest.fixture
def session(aws):
    return boto3.Session(region_name="us-east-1")


@pytest.fixture
def clients(session):
    return Clients.from_session(session)


@pytest.fixture
def calls(clients):
    return Calls(clients.sagemaker, clients.autoscaling, clients.cloudwatch)


class Rollout:
    """One deployment: its requests and state, run by the decide/execute/observe loop."""

    def __init__(self, session, clients, manifest, env: str, commit: str):
        self.spec = DeploySpec(manifest, env, commit)
        self.live = read_live_state(session, manifest.endpoint_name(env))
        self.plan = plan(self.spec, self.live, PRICES)
        self.requests: DeployRequests = build_requests(self.spec, self.plan, context(commit),
                                                       execution_role_arn=ROLE, image=IMAGE,
                                                       live=self.live)
        # A round trip through the store's JSON: what a worker that picks the deployment up reads.
        self.requests = DeployRequests.from_dict(self.requests.to_dict())
        self.state: RolloutState = new_rollout(f"d-{commit[:7]}", self.spec, self.plan, self.live,
                                               _now(), poll_seconds=0)
        self.clients = clients
        self.decisions: list[Decision] = []
        self.observations: list[Observation] = []
        self.judged: str | None = None  # a shadow judge's verdict, as the service adds it to what it observes

    def run(self, *, until: Callable[[Decision], bool] = lambda d: False,
            each: Callable[[Observation], None] = lambda o: None, calls: Calls | None = None,
            max_steps: int = 40) -> Decision:
        observed = observe(self.clients, self.state.endpoint, self.state.alarms)
        self.polls: list[list[str]] = []
        for _ in range(max_steps):
            if self.judged is not None:
                observed = replace(observed, experiment=self.judged)
            self.observations.append(observed)
            each(observed)
            d = decide(self.state, observed, _now())
            self.decisions.append(d)
            self.state = d.state
            if d.final:
                done = execute(d, self.clients, self.requests)
                assert done.error is None, done.error
                return d
            if until(d):
                return d
            if calls is not None:
                calls.take()
            observed = execute(d, self.clients, self.requests)
            if calls is not None and d.action in ("wait", "report"):
                polled = calls.take()
                self.polls.append(polled)
                assert len(polled) <= 2, polled
                assert polled[0] == "sagemaker:DescribeEndpoint"
        raise AssertionError(f"no end after {max_steps} steps: {[x.action for x in self.decisions]}")

    @property
    def actions(self) -> list[str]:
        return [d.action for d in self.decisions]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _tags(sm, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def _alarm(cw, name: str) -> None:
    cw.put_metric_alarm(AlarmName=name, MetricName="Invocation5XXErrors", Namespace="AWS/SageMaker",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="GreaterThanOrEqualToThreshold")


def _deployed(session, clients, manifest, env="production", commit=COMMIT1) -> Rollout:
    r = Rollout(session, clients, manifest, env, commit)
    assert r.run().action == "succeed"
    return r


CANARY = "realtime-canary"
CANARY_V2 = {"2024-06-01/model.tar.gz": "2024-07-01/model.tar.gz"}
AB = "realtime-ab"
AB_V2 = {"search-ranker/v3/": "search-ranker/v4/"}


def test_a_first_deployment_creates_the_endpoint_with_every_resource_tagged(session, clients, calls):
    manifest = example(CANARY)
    r = Rollout(session, clients, manifest, "production", COMMIT1)
    assert r.state.flow == "create"

    final = r.run(calls=calls)

    assert r.actions[0] == "create_endpoint" and final.action == "succeed"
    assert r.state.phase == "succeeded"
    sm = clients.sagemaker
    ep = sm.describe_endpoint(EndpointName="fraud-detector")
    assert (ep["EndpointStatus"], ep["EndpointConfigName"]) == ("InService", "fraud-detector-production-1111111")
    expected = {"modelbot:build-id": "build-42", "modelbot:commit": COMMIT1,
                "modelbot:data-version": "2024-06-01", "modelbot:pr": "17",
                "modelbot:manifest": "models/fraud/modelbot.yaml", "modelbot:approvers": "@acme/fraud-ml alice",
                "modelbot:bot-version": "0.1.0", "modelbot:model": "fraud-detector",
                "modelbot:environment": "production", "team": "fraud", "cost-center": "4711"}
    model = sm.describe_model(ModelName="fraud-detector-production-1111111")
    config = sm.describe_endpoint_config(EndpointConfigName="fraud-detector-production-1111111")
    for arn, digest in ((model["ModelArn"], r.plan.variants[0].model_digest),
                        (config["EndpointConfigArn"], r.plan.config_digest),
                        (ep["EndpointArn"], None)):
        tags = _tags(sm, arn)
        assert {k: tags.get(k) for k in expected} == expected, arn
        assert tags.get("modelbot:digest") == digest
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 20
    assert model["PrimaryContainer"]["Environment"] == {"LOG_LEVEL": "info"}
    targets = clients.autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        ("endpoint/fraud-detector/variant/AllTraffic", 4, 10)]
    # What was deployed reads back as "no changes" from the next commit.
    again = plan(DeploySpec(manifest, "production", COMMIT3), read_live_state(session, "fraud-detector"), PRICES)
    assert again.kind == "no_changes", again.actions


def test_a_canary_update_runs_to_success_on_the_new_config_and_cleans_up(session, clients, calls):
    for name in ("fraud-detector-5xx", "fraud-detector-latency-p99"):
        _alarm(clients.cloudwatch, name)
    first = _deployed(session, clients, example(CANARY))
    r = Rollout(session, clients, example(CANARY, CANARY_V2), "production", COMMIT2)
    assert (r.state.flow, r.state.previous_config) == ("guarded", "fraud-detector-production-1111111")
    assert r.requests.update_endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"][
        "TrafficRoutingConfiguration"]["Type"] == "CANARY"

    final = r.run(calls=calls)

    assert final.action == "succeed" and r.actions[0] == "update_endpoint"
    assert len(r.polls) >= 5 and all(p == ["sagemaker:DescribeEndpoint", "cloudwatch:DescribeAlarms"]
                                     for p in r.polls)
    seen = [(o.stage, o.traffic_percent) for o in r.observations if o.pending_config]
    assert ("Baking", 25.0) in seen and ("Baking", 100.0) in seen
    assert any("25% of traffic on the new fleet (Baking)" in d.progress.text
               for d in r.decisions if d.action == "report")
    sm = clients.sagemaker
    ep = sm.describe_endpoint(EndpointName="fraud-detector")
    assert ep["EndpointConfigName"] == "fraud-detector-production-2222222"
    assert final.cleanup.endpoint_configs == ("fraud-detector-production-1111111",)
    assert final.cleanup.models == ("fraud-detector-production-1111111",)
    with pytest.raises(ClientError):
        sm.describe_endpoint_config(EndpointConfigName=first.state.target_config)
    assert _tags(sm, ep["EndpointArn"])["modelbot:commit"] == COMMIT2  # provenance follows the model
    again = plan(DeploySpec(example(CANARY, CANARY_V2), "production", COMMIT3),
                 read_live_state(session, "fraud-detector"), PRICES)
    assert again.kind == "no_changes", again.actions


def test_an_alarm_mid_bake_is_recognised_as_a_rollback_to_the_old_config(session, clients):
    for name in ("fraud-detector-5xx", "fraud-detector-latency-p99"):
        _alarm(clients.cloudwatch, name)
    _deployed(session, clients, example(CANARY))
    r = Rollout(session, clients, example(CANARY, CANARY_V2), "production", COMMIT2)

    def trip(o: Observation) -> None:
        if o.stage == "Baking" and o.traffic_percent == 25.0:
            clients.cloudwatch.set_alarm_state(AlarmName="fraud-detector-5xx", StateValue="ALARM",
                                               StateReason="5xx errors above threshold")

    final = r.run(each=trip)

    assert final.action == "fail" and r.state.phase == "rolled_back"
    assert "fraud-detector-5xx" in final.reason and "previous config" in final.reason
    assert any(o.status == "RollingBack" for o in r.observations)
    ep = clients.sagemaker.describe_endpoint(EndpointName="fraud-detector")
    assert (ep["EndpointStatus"], ep["EndpointConfigName"]) == ("InService", "fraud-detector-production-1111111")
    # The rollback keeps both configs: the previous one serves, the new one waits for a retry.
    clients.sagemaker.describe_endpoint_config(EndpointConfigName="fraud-detector-production-2222222")
    assert final.cleanup is None


def test_abort_during_a_canary_waits_for_the_update_then_rolls_back(session, clients):
    _deployed(session, clients, example(CANARY))
    r = Rollout(session, clients, example(CANARY, CANARY_V2), "production", COMMIT2)
    r.run(until=lambda d: d.progress is not None and "(Baking)" in d.progress.text)

    r.state = replace(r.state, requested="abort")  # /abort, as the store would set it
    final = r.run()

    assert final.action == "fail" and r.state.phase == "rolled_back"
    assert "requested by /abort" in final.reason
    assert r.actions.count("rollback") == 1
    ep = clients.sagemaker.describe_endpoint(EndpointName="fraud-detector")
    assert ep["EndpointConfigName"] == "fraud-detector-production-1111111"


@pytest.mark.parametrize("outcome, phase, words", [
    ("Failed", "failed", "the endpoint failed: boom"),
    ("UpdateRollbackFailed", "failed", "needs repair: boom"),
    ("RolledBack", "rolled_back", "rolled the update back"),
])
def test_forced_outcomes_become_failure_decisions(session, clients, aws, outcome, phase, words):
    _deployed(session, clients, example("minimal"), env="staging")
    r = Rollout(session, clients, example("minimal", {"churn:2.0.0": "churn:2.1.0"}), "staging", COMMIT2)
    emulator.force_outcome_remote(aws, "churn-staging", outcome, reason="boom", at_phase="shift-all")

    final = r.run()

    assert final.action == "fail" and r.state.phase == phase
    assert words in final.reason


def test_an_ab_test_shifts_weights_then_promotes_the_candidate(session, clients, calls):
    _alarm(clients.cloudwatch, "search-ranker-latency")
    _deployed(session, clients, example(AB))
    r = Rollout(session, clients, example(AB, AB_V2), "production", COMMIT2)
    assert r.state.flow == "ab" and r.state.ab_steps == (0.1,)
    sm = clients.sagemaker

    held = r.run(until=lambda d: d.state.phase == "experiment" and d.action == "wait", calls=calls)
    ep = sm.describe_endpoint(EndpointName="search-ranker-production")
    assert ep["EndpointConfigName"] == "search-ranker-production-2222222"
    assert {v["VariantName"]: v["CurrentWeight"] for v in ep["ProductionVariants"]} == {
        "AllTraffic": 0.9, "challenger": 0.1}
    assert held.state.requested is None

    r.state = replace(r.state, requested="promote")  # /promote, as the store would set it
    every = Calls(clients.sagemaker)
    final = r.run(calls=calls)

    assert final.action == "succeed", r.actions
    promote = next(d for d in r.decisions if d.action == "promote")
    assert promote.weight_map == {"AllTraffic": 0.0, "challenger": 1.0}
    assert every.names.count("sagemaker:UpdateEndpointWeightsAndCapacities") == 1
    assert every.names.count("sagemaker:UpdateEndpoint") == 1  # to the promoted config
    assert any(o.weights == {"AllTraffic": 0.0, "challenger": 1.0} for o in r.observations)
    ep = sm.describe_endpoint(EndpointName="search-ranker-production")
    assert ep["EndpointConfigName"] == "search-ranker-production-2222222-promoted"
    (variant,) = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])["ProductionVariants"]
    assert (variant["VariantName"], variant["ModelName"]) == ("AllTraffic", "search-ranker-production-2222222")
    promoted = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    assert _tags(sm, promoted["EndpointConfigArn"])["modelbot:commit"] == COMMIT2
    model = sm.describe_model(ModelName="search-ranker-production-2222222")
    assert _tags(sm, model["ModelArn"])["modelbot:build-id"] == "build-42"
    assert set(final.cleanup.endpoint_configs) == {"search-ranker-production-1111111",
                                                   "search-ranker-production-2222222"}
    assert final.cleanup.models == ("search-ranker-production-1111111",)
    again = plan(DeploySpec(example(AB, AB_V2), "production", COMMIT3),
                 read_live_state(session, "search-ranker-production"), PRICES)
    assert again.kind == "no_changes", again.actions


def test_an_alarm_during_an_ab_test_makes_the_bot_roll_back_itself(session, clients):
    _alarm(clients.cloudwatch, "search-ranker-latency")
    _deployed(session, clients, example(AB))
    r = Rollout(session, clients, example(AB, AB_V2), "production", COMMIT2)
    r.run(until=lambda d: d.state.phase == "experiment" and d.action == "wait")

    clients.cloudwatch.set_alarm_state(AlarmName="search-ranker-latency", StateValue="ALARM",
                                       StateReason="p99 latency")
    final = r.run()

    rollback = next(d for d in r.decisions if d.action == "rollback")
    assert rollback.weight_map == {"AllTraffic": 1.0, "challenger": 0.0}
    assert "search-ranker-latency" in rollback.reason
    assert final.action == "fail" and r.state.phase == "rolled_back"
    ep = clients.sagemaker.describe_endpoint(EndpointName="search-ranker-production")
    assert ep["EndpointConfigName"] == "search-ranker-production-1111111"
    assert [v["VariantName"] for v in ep["ProductionVariants"]] == ["AllTraffic"]


def test_a_shadow_test_from_the_model_registry_is_promoted(session, clients):
    manifest = example("realtime-shadow")
    _deployed(session, clients, manifest)
    r = Rollout(session, clients, example("realtime-shadow", {"recommender/14": "recommender/15"}),
                "production", COMMIT2)
    assert r.state.flow == "shadow"
    r.run(until=lambda d: d.state.phase == "experiment" and d.action == "wait")
    ep = clients.sagemaker.describe_endpoint(EndpointName="recommender-production")
    assert [v["VariantName"] for v in ep["ShadowProductionVariants"]] == ["shadow"]
    model = clients.sagemaker.describe_model(ModelName="recommender-production-2222222")
    assert model["Containers"][0]["ModelPackageName"].endswith("model-package/recommender/15")

    # The example has a shadow judge: without its pass, a promotion is turned down and nothing moves.
    r.state = replace(r.state, requested="promote")
    refused = r.run(until=lambda d: d.refused is not None)
    assert "the shadow judge has not passed the candidate" in refused.refused
    assert refused.state.phase == "experiment" and refused.state.requested is None
    assert clients.sagemaker.describe_endpoint(EndpointName="recommender-production")["EndpointConfigName"] == \
        "recommender-production-2222222"

    r.judged = "pass"
    r.state = replace(r.state, requested="promote")
    final = r.run()

    assert final.action == "succeed"
    ep = clients.sagemaker.describe_endpoint(EndpointName="recommender-production")
    assert ep["EndpointConfigName"] == "recommender-production-2222222-promoted"
    assert "ShadowProductionVariants" not in ep


def test_a_retry_after_a_crash_between_create_model_and_create_endpoint_config(session, clients):
    r = Rollout(session, clients, example("minimal"), "staging", COMMIT1)
    clients.sagemaker.create_model(**r.requests.models[0])  # the crashed attempt got this far

    final = r.run()
    execute(final, clients, r.requests)  # and a terminal decision may be executed again

    assert final.action == "succeed"
    sm = clients.sagemaker
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["churn-staging-1111111"]
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == [
        "churn-staging-1111111"]
    create = next(d for d in r.decisions if d.action == "create_endpoint")
    execute(create, clients, r.requests)  # repeating every create is harmless
    assert sm.describe_endpoint(EndpointName="churn-staging")["EndpointStatus"] == "InService"


def test_a_refused_update_fails_with_aws_reason(session, clients):
    _deployed(session, clients, example("minimal"), env="staging")
    r = Rollout(session, clients, example("minimal", {"churn:2.0.0": "churn:2.1.0"}), "staging", COMMIT2)
    bad = r.requests.to_dict()
    bad["endpoint_configs"][0]["ProductionVariants"][0]["InstanceType"] = "ml.nope.large"
    r.requests = DeployRequests.from_dict(bad)

    final = r.run()

    assert final.action == "fail" and "CreateEndpointConfig" in final.reason


def test_async_scale_to_zero_gets_its_backlog_policies_and_alarm(session, clients):
    r = Rollout(session, clients, example("async-scale-to-zero"), "production", COMMIT1)
    assert r.run().action == "succeed"

    aas = clients.autoscaling
    (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 5)
    policies = {p["PolicyName"]: p for p in aas.describe_scaling_policies(
        ServiceNamespace="sagemaker")["ScalingPolicies"]}
    tracking = policies["modelbot-target-tracking"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["CustomizedMetricSpecification"]["MetricName"] == "ApproximateBacklogSizePerInstance"
    step = policies["modelbot-backlog-without-capacity"]
    (alarm,) = clients.cloudwatch.describe_alarms(
        AlarmNames=["doc-ocr-production-backlog-no-capacity"])["MetricAlarms"]
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity"
    assert alarm["AlarmActions"] == [step["PolicyARN"]]
    config = clients.sagemaker.describe_endpoint_config(EndpointConfigName=r.state.target_config)
    assert config["AsyncInferenceConfig"]["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 4}


def test_a_batch_transform_job_is_started_once_and_tagged(session, clients):
    spec = DeploySpec(example("batch-transform"), "production", COMMIT1)
    p = plan(spec, LiveState(), PRICES)
    requests = build_requests(spec, p, context(), execution_role_arn=ROLE)

    name = start_transform_job(clients, requests)
    assert start_transform_job(clients, requests) == name  # a retry finds the job

    sm = clients.sagemaker
    job = sm.describe_transform_job(TransformJobName=name)
    assert job["DataProcessing"] == {"InputFilter": "$[1:]", "OutputFilter": "$[0,-1]", "JoinSource": "Input"}
    assert _tags(sm, job["TransformJobArn"])["modelbot:build-id"] == "build-42"
    assert transform_job_status(clients, name)[0] in ("InProgress", "Completed")


def test_a_model_package_must_be_approved(clients):
    sm = clients.sagemaker
    sm.create_model_package_group(ModelPackageGroupName="recommender")
    arn = sm.create_model_package(
        ModelPackageGroupName="recommender", ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{"Image": IMAGE}], "SupportedContentTypes": ["text/csv"],
                                "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    assert model_package_approved(clients, arn) is False
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    assert model_package_approved(clients, arn) is True
