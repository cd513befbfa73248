"""The emulator in process, under mock_aws (no server)."""

from __future__ import annotations

import pytest
from moto import mock_aws

from tests.support import sagemaker_emulator as emulator

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


@pytest.fixture
def in_process(monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_CLOUDWATCH"):
        monkeypatch.delenv(var, raising=False)
    emulator.install()
    try:
        with mock_aws():
            yield emulator.client("sagemaker"), emulator.client("cloudwatch")
    finally:
        emulator.uninstall()


def setup_endpoint(sm):
    for model in ("m1", "m2"):
        sm.create_model(ModelName=model, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": f"image/{model}:1"})
    for config, model in (("c1", "m1"), ("c2", "m2")):
        sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{
            "VariantName": "main", "ModelName": model, "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 2}])
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep",
                                               WaiterConfig={"Delay": 0, "MaxAttempts": 5})


CANARY = {"BlueGreenUpdatePolicy": {
    "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 300,
                                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}},
    "TerminationWaitInSeconds": 300},
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "errors"}]}}


def test_canary_completes_in_process(in_process):
    sm, _ = in_process
    setup_endpoint(sm)
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=CANARY)
    labels = []
    for _ in range(20):
        shown = sm.describe_endpoint(EndpointName="ep")
        labels.append(emulator.current_phase("ep") or shown["EndpointStatus"])
        if shown["EndpointStatus"] == "InService":
            break
    assert labels == ["provision-green", "canary-shift", "canary-bake", "full-shift",
                      "final-bake", "terminate-blue", "InService"]
    d = sm.describe_endpoint(EndpointName="ep")
    assert (d["EndpointStatus"], d["EndpointConfigName"]) == ("InService", "c2")


def test_alarm_rollback_in_process(in_process):
    sm, cw = in_process
    setup_endpoint(sm)
    cw.put_metric_alarm(AlarmName="errors", Namespace="AWS/SageMaker",
                        MetricName="Invocation5XXErrors", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=CANARY)
    while emulator.current_phase("ep") != "canary-bake":
        sm.describe_endpoint(EndpointName="ep")
    cw.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="test")
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "RollingBack"
    d = sm.describe_endpoint(EndpointName="ep")
    assert (d["EndpointStatus"], d["EndpointConfigName"]) == ("InService", "c1")
    assert "errors" in d["FailureReason"]


def test_force_outcome_in_process(in_process):
    sm, _ = in_process
    setup_endpoint(sm)
    emulator.force_outcome("ep", "Failed", reason="boom")
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    d = sm.describe_endpoint(EndpointName="ep")
    assert (d["EndpointStatus"], d["FailureReason"]) == ("Failed", "boom")


def test_uninstall_restores_moto():
    from moto.sagemaker.responses import SageMakerResponse

    already = emulator.is_installed()
    emulator.install()
    emulator.install()
    emulator.uninstall()
    assert hasattr(SageMakerResponse, "update_endpoint")
    emulator.uninstall()
    if not already:
        assert not hasattr(SageMakerResponse, "update_endpoint")
        assert SageMakerResponse.create_model.__module__ == "moto.sagemaker.responses"
