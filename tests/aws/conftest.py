"""Fixtures for the AWS adapter tests: one moto server (emulator installed) per module, reset
per test, and a process environment that points boto3 at it with dummy credentials."""

from __future__ import annotations

import socket

import pytest

from bot.adapters.aws.session import clear_credential_cache
from tests.support import sagemaker_emulator as emulator

DUMMY_KEY = "AKIAIOSFODNN7EXAMPLE"
DUMMY_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def isolate_from_real_aws(monkeypatch, tmp_path) -> None:
    """No ambient AWS settings of the machine running the tests leak in; one attempt per call."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


def use_moto(monkeypatch, url: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET)


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def moto_url():
    url, stop = emulator.start_moto_server()
    yield url
    stop()


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """A process with no AWS credentials or endpoint at all."""
    isolate_from_real_aws(monkeypatch, tmp_path)
    clear_credential_cache()
    yield
    clear_credential_cache()


def example_alarms() -> list[str]:
    """Every rollback alarm the shipped examples name (a rollout refuses to start on an alarm
    that does not exist, so the account the tests deploy into has them, in state OK)."""
    import re
    from pathlib import Path

    names: set[str] = set()
    for path in (Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"):
        for found in re.findall(r"^\s*alarms:\s*\[([^\]]*)\]", path.read_text(), re.MULTILINE):
            names.update(n.strip() for n in found.split(",") if n.strip())
    return sorted(names)


@pytest.fixture
def aws(moto_url, no_aws, monkeypatch):
    """A clean moto server that boto3 reaches through AWS_ENDPOINT_URL with dummy credentials,
    holding the examples' rollback alarms (`example_alarms`)."""
    emulator.reset(moto_url)
    use_moto(monkeypatch, moto_url)
    cw = emulator.client("cloudwatch", moto_url)
    for name in example_alarms():
        cw.put_metric_alarm(AlarmName=name, MetricName="Invocation5XXErrors", Namespace="AWS/SageMaker",
                            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                            ComparisonOperator="GreaterThanOrEqualToThreshold")
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="created by the test account")
    return moto_url
