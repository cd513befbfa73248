"""Fixtures for the SageMaker emulator tests: one moto server per module, reset per test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import sagemaker_emulator as emulator

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"


@pytest.fixture(scope="module")
def moto_url():
    """One moto server (emulator installed) for the module; moto is restored afterwards."""
    url, stop = emulator.start_moto_server()
    yield url
    stop()


@dataclass
class Aws:
    url: str
    sm: Any
    cw: Any

    def model(self, name: str, image: str | None = None) -> None:
        self.sm.create_model(
            ModelName=name,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": image or f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}:1",
                              "ModelDataUrl": f"s3://models/{name}/model.tar.gz"},
        )

    def config(self, name: str, model: str, *, count: int = 4, variant: str = "main",
               instance_type: str = "ml.m5.large", **extra: Any) -> None:
        self.sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[{
                "VariantName": variant, "ModelName": model, "InstanceType": instance_type,
                "InitialInstanceCount": count, "InitialVariantWeight": 1.0,
            }],
            **extra,
        )

    def endpoint(self, name: str, config: str) -> None:
        """Create an endpoint and wait (describe ticks) until it is InService."""
        self.sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
        self.wait_in_service(name)

    def wait_in_service(self, name: str) -> None:
        self.sm.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 0, "MaxAttempts": 50}
        )

    def blue_green_setup(self, count: int = 4) -> None:
        """Models m1/m2, configs c1 (m1) / c2 (m2) with variant 'main', endpoint 'ep' on c1."""
        self.model("m1")
        self.model("m2")
        self.config("c1", "m1", count=count)
        self.config("c2", "m2", count=count)
        self.endpoint("ep", "c1")

    def alarm(self, name: str) -> None:
        self.cw.put_metric_alarm(
            AlarmName=name, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors",
            Dimensions=[{"Name": "EndpointName", "Value": "ep"},
                        {"Name": "VariantName", "Value": "main"}],
            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )


@pytest.fixture
def aws(moto_url):
    emulator.reset(moto_url)
    return Aws(moto_url, emulator.client("sagemaker", moto_url), emulator.client("cloudwatch", moto_url))
