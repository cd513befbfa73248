"""`read_live_state` against moto (as a server, with the SageMaker emulator): what it reads, how
many calls it makes, and that a deploy of a plan reads back as "no changes"."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from bot.adapters.aws.live import AwsLiveReader, read_live_state
from bot.adapters.aws.session import AwsUnavailable
from bot.core.config import EnvironmentConfig
from bot.core.manifest import load_manifest
from bot.core.plan import DeploySpec, LiveAutoscaling, LiveState, plan
from tests.aws.conftest import closed_port_url
from tests.aws.deployed import DIMENSION, ROLE, deploy, tag_list
from tests.support import sagemaker_emulator as emulator

ROOT = Path(__file__).resolve().parents[2]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PRICES = {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23}


class Calls:
    """Counts the AWS API calls a session's clients make, by `service:Operation`."""

    def __init__(self, session: boto3.Session):
        self.names: list[str] = []
        session.events.register("before-call", self._record)

    def _record(self, model, **_):
        self.names.append(f"{model.service_model.service_name}:{model.name}")


@pytest.fixture
def session(aws):
    return boto3.Session(region_name="us-east-1")


@pytest.fixture
def sm(aws):
    return emulator.client("sagemaker", aws)


@pytest.fixture
def aas(aws):
    return emulator.client("application-autoscaling", aws)


def _model(sm, name: str, digest: str | None = None) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
                                      "ModelDataUrl": f"s3://models/{name}.tar.gz"},
                    Tags=tag_list({"modelbot:digest": digest}) if digest else [])


def _wait(sm, name: str) -> None:
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0, "MaxAttempts": 20})


def test_a_missing_endpoint_is_one_call_and_reads_as_no_endpoint(session):
    calls = Calls(session)
    live = read_live_state(session, "no-such-endpoint")
    assert live.endpoint_exists is False
    assert live.variants == ()
    assert calls.names == ["sagemaker:DescribeEndpoint"]


def test_realtime_endpoint_with_digests_tags_and_autoscaling(session, sm, aas):
    _model(sm, "fraud-m1", digest="model-digest-1")
    sm.create_endpoint_config(
        EndpointConfigName="fraud-c1",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "fraud-m1",
                             "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 4,
                             "InitialVariantWeight": 1.0}],
        Tags=tag_list({"modelbot:digest": "config-digest-1", "team": "fraud"}))
    sm.create_endpoint(EndpointName="fraud", EndpointConfigName="fraud-c1",
                       Tags=tag_list({"team": "fraud", "modelbot:commit": "abc1234"}))
    _wait(sm, "fraud")
    resource = "endpoint/fraud/variant/AllTraffic"
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                 ScalableDimension=DIMENSION, MinCapacity=4, MaxCapacity=10)
    aas.put_scaling_policy(
        PolicyName="tracking", ServiceNamespace="sagemaker", ResourceId=resource,
        ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 200.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})

    calls = Calls(session)
    live = read_live_state(session, "fraud")

    assert (live.endpoint_exists, live.endpoint_name, live.endpoint_status) == (True, "fraud", "InService")
    assert live.endpoint_config_name == "fraud-c1"
    assert live.config_digest == "config-digest-1"
    assert dict(live.tags) == {"team": "fraud", "modelbot:commit": "abc1234"}
    (v,) = live.variants
    assert (v.name, v.model_name, v.instance_type, v.instance_count, v.weight) == (
        "AllTraffic", "fraud-m1", "ml.m5.xlarge", 4, 1.0)
    assert (v.shadow, v.serverless_memory_mb, v.model_digest) == (False, None, "model-digest-1")
    assert v.autoscaling == LiveAutoscaling(4, 10, 200.0)
    # 5 + 2 per model + 1 per autoscaled variant, as the module docstring says.
    assert sorted(calls.names) == sorted([
        "sagemaker:DescribeEndpoint", "sagemaker:ListTags", "sagemaker:DescribeEndpointConfig",
        "sagemaker:ListTags", "sagemaker:DescribeModel", "sagemaker:ListTags",
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScalingPolicies"])


def test_shadow_variant_and_resources_modelbot_did_not_create(session, sm):
    _model(sm, "rec-prod", digest="prod-digest")
    _model(sm, "rec-shadow")  # made by hand: no digest
    sm.create_endpoint_config(
        EndpointConfigName="rec-c1",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "rec-prod",
                             "InstanceType": "ml.m5.2xlarge", "InitialInstanceCount": 2,
                             "InitialVariantWeight": 1.0}],
        ShadowProductionVariants=[{"VariantName": "shadow", "ModelName": "rec-shadow",
                                   "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
                                   "InitialVariantWeight": 0.3}])
    sm.create_endpoint(EndpointName="rec", EndpointConfigName="rec-c1")
    _wait(sm, "rec")

    calls = Calls(session)
    live = read_live_state(session, "rec")

    assert live.config_digest is None and dict(live.tags) == {}
    prod, shadow = live.variants
    assert (prod.name, prod.shadow, prod.model_digest, prod.instance_count) == ("AllTraffic", False, "prod-digest", 2)
    assert (shadow.name, shadow.shadow, shadow.model_name, shadow.model_digest) == ("shadow", True, "rec-shadow", None)
    assert (shadow.instance_type, shadow.instance_count, shadow.weight) == ("ml.m5.large", 1, 0.3)
    assert live.production_variants == (prod,)
    assert prod.autoscaling is None and shadow.autoscaling is None
    assert len(calls.names) == 5 + 2 * 2  # no scaling policies to read


def test_serverless_endpoint(session, sm):
    _model(sm, "text-m1", digest="d1")
    sm.create_endpoint_config(
        EndpointConfigName="text-c1",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "text-m1",
                             "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}])
    sm.create_endpoint(EndpointName="text", EndpointConfigName="text-c1")
    _wait(sm, "text")

    (v,) = read_live_state(session, "text").variants
    assert (v.serverless_memory_mb, v.serverless_max_concurrency) == (2048, 5)
    assert (v.instance_type, v.instance_count) == (None, None)


def test_an_endpoint_still_creating_reads_counts_from_its_config(session, sm):
    _model(sm, "new-m1")
    sm.create_endpoint_config(
        EndpointConfigName="new-c1",
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "new-m1",
                             "InstanceType": "ml.m5.large", "InitialInstanceCount": 3,
                             "InitialVariantWeight": 1.0}])
    sm.create_endpoint(EndpointName="new", EndpointConfigName="new-c1")

    live = read_live_state(session, "new")  # the emulator's first describe: Creating
    assert live.endpoint_status == "Creating"
    assert [(v.instance_count, v.weight) for v in live.variants] == [(3, 1.0)]


def test_a_deployed_plan_reads_back_as_no_changes(session, sm, aas):
    """The contract with bot/core/plan/: digests and tags round-trip through AWS."""
    text = (ROOT / "examples" / "realtime-canary.yaml").read_text()
    manifest = load_manifest("examples/realtime-canary.yaml", text).manifest
    assert manifest is not None
    spec = DeploySpec(manifest, "production", COMMIT)
    first = plan(spec, LiveState(), PRICES)
    deploy(sm, aas, spec, first)

    live = read_live_state(session, manifest.endpoint_name("production"))
    again = plan(DeploySpec(manifest, "production", "fedcba9" + COMMIT[7:]), live, PRICES)

    assert again.kind == "no_changes", (again.actions, again.autoscaling_changes)
    assert again.cost.before_per_hour == again.cost.after_per_hour == 4 * 0.23
    assert live.variants[0].autoscaling == LiveAutoscaling(4, 10, 200.0)


def test_an_unreachable_endpoint_raises_aws_unavailable_naming_the_call(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url())
    session = boto3.Session(region_name="eu-west-1")
    with pytest.raises(AwsUnavailable) as info:
        read_live_state(session, "fraud")
    assert info.value.kind == "unreachable"
    assert info.value.reason.startswith("endpoint fraud in eu-west-1: sagemaker:DescribeEndpoint failed, "
                                        "AWS unreachable: cannot reach http://127.0.0.1:")


class TestAwsLiveReader:
    ENVS = {"staging": EnvironmentConfig(region="us-east-1")}

    def test_reads_through_a_session_per_environment(self, aws, sm):
        _model(sm, "m1")
        sm.create_endpoint_config(EndpointConfigName="c1", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "m1", "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}])
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
        made = []

        def factory(config, *, env_name, base_session):
            made.append(env_name)
            return boto3.Session(region_name=config.region)

        reader = AwsLiveReader(self.ENVS, session_factory=factory)
        assert reader("staging", "ep").endpoint_exists is True
        assert reader("staging", "other").endpoint_exists is False
        assert made == ["staging"]

    def test_an_environment_without_credentials_is_not_tried_again(self):
        attempts = []

        def factory(config, *, env_name, base_session):
            attempts.append(env_name)
            raise AwsUnavailable(f"environment {env_name}: no credentials", kind="credentials")

        reader = AwsLiveReader(self.ENVS, session_factory=factory)
        for _ in range(3):
            with pytest.raises(AwsUnavailable, match="^environment staging: no credentials$"):
                reader("staging", "ep")
        assert attempts == ["staging"]

    def test_read_failures_name_the_environment(self, aws, monkeypatch):
        monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url())
        reader = AwsLiveReader(self.ENVS)
        with pytest.raises(AwsUnavailable) as first:
            reader("staging", "ep")
        assert first.value.reason.startswith("environment staging: endpoint ep in us-east-1: "
                                             "sagemaker:DescribeEndpoint failed, AWS unreachable")
        with pytest.raises(AwsUnavailable) as second:  # remembered: no second timeout to wait out
            reader("staging", "other")
        assert second.value.reason == first.value.reason
