"""`aws_session`: the environment's role assumed through (moto's) STS and cached per role until
five minutes before expiry; ambient credentials without a role; `AwsUnavailable` otherwise."""

from __future__ import annotations

import datetime as dt
import threading

import boto3
import pytest
from botocore.exceptions import ClientError

from bot.core import clock
from bot.adapters.aws.session import AwsUnavailable, aws_session, client, clear_credential_cache
from bot.adapters.aws.session import unavailable
from bot.core.config import EnvironmentConfig
from tests.aws.conftest import DUMMY_KEY, DUMMY_SECRET, closed_port_url

ROLE = "arn:aws:iam::123456789012:role/modelbot-deployer-staging"
STAGING = EnvironmentConfig(region="eu-west-1", aws_role_arn=ROLE)
AMBIENT = EnvironmentConfig(region="eu-central-1")


class AssumeRoleCalls:
    def __init__(self, session: boto3.Session):
        self.count = 0
        self._lock = threading.Lock()
        session.events.register("before-call.sts.AssumeRole", self._record)

    def _record(self, **_):
        with self._lock:
            self.count += 1


@pytest.fixture
def base(aws):
    return boto3.Session(region_name="us-east-1")


def test_assumes_the_role_in_the_environments_region(base):
    session = aws_session(STAGING, env_name="staging", base_session=base)

    assert session.region_name == "eu-west-1"
    creds = session.get_credentials().get_frozen_credentials()
    assert creds.access_key != DUMMY_KEY and creds.token
    identity = client(session, "sts").get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/modelbot-deployer-staging/modelbot-staging"


def test_credentials_are_cached_per_role_until_fifteen_minutes_before_expiry(base, monkeypatch):
    calls = AssumeRoleCalls(base)
    first = aws_session(STAGING, env_name="staging", base_session=base).get_credentials().access_key
    second = aws_session(STAGING, env_name="staging", base_session=base).get_credentials().access_key
    assert (calls.count, second) == (1, first)

    real_now = clock.utcnow()
    monkeypatch.setattr(clock, "utcnow", lambda: real_now + dt.timedelta(minutes=44))
    aws_session(STAGING, env_name="staging", base_session=base)
    assert calls.count == 1  # sixteen minutes left: still good

    monkeypatch.setattr(clock, "utcnow", lambda: real_now + dt.timedelta(minutes=46))
    third = aws_session(STAGING, env_name="staging", base_session=base).get_credentials().access_key
    assert calls.count == 2 and third != first

    other = EnvironmentConfig(region="us-east-1", aws_role_arn=ROLE.replace("staging", "production"))
    aws_session(other, env_name="production", base_session=base)
    assert calls.count == 3  # another role: its own credentials


def test_concurrent_sessions_assume_the_role_once(base):
    calls = AssumeRoleCalls(base)
    keys, errors = [], []

    def work():
        try:
            keys.append(aws_session(STAGING, env_name="staging", base_session=base).get_credentials().access_key)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert calls.count == 1 and len(set(keys)) == 1 and len(keys) == 8


def test_without_a_role_the_ambient_credentials_are_used_in_the_environments_region(base):
    calls = AssumeRoleCalls(base)
    session = aws_session(AMBIENT, env_name="dev", base_session=base)
    assert session.region_name == "eu-central-1"
    assert session.get_credentials().access_key == DUMMY_KEY
    assert calls.count == 0

    ambient = aws_session(AMBIENT, env_name="dev")  # boto3's own chain: the environment variables
    assert (ambient.region_name, ambient.get_credentials().access_key) == ("eu-central-1", DUMMY_KEY)


def test_no_credentials_at_all(no_aws):
    with pytest.raises(AwsUnavailable) as info:
        aws_session(AMBIENT, env_name="dev")
    assert info.value.kind == "credentials"
    assert str(info.value) == ("environment dev: resolving ambient AWS credentials failed, "
                               "no valid credentials: no usable AWS credentials were found")
    with pytest.raises(AwsUnavailable) as info:
        aws_session(STAGING, env_name="staging")
    assert info.value.reason.startswith(f"environment staging: sts:AssumeRole {ROLE} failed, "
                                        "no valid credentials")


def test_an_unreachable_sts_endpoint(aws, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", closed_port_url())
    clear_credential_cache()
    with pytest.raises(AwsUnavailable) as info:
        aws_session(STAGING, env_name="staging")
    reason = info.value.reason
    assert info.value.kind == "unreachable"
    assert reason.startswith(f"environment staging: sts:AssumeRole {ROLE} failed, AWS unreachable: "
                             "cannot reach http://127.0.0.1:")
    assert DUMMY_KEY not in reason and DUMMY_SECRET not in reason


def test_access_denied_names_the_call_and_hides_key_ids():
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": (
        f"User with key {DUMMY_KEY} is not authorized to perform: sts:AssumeRole on {ROLE} "
        f"(signature {DUMMY_SECRET})")}}, "AssumeRole")
    failure = unavailable(error, where="environment production", call=f"sts:AssumeRole {ROLE}")
    assert failure.kind == "denied"
    assert failure.reason == (f"environment production: sts:AssumeRole {ROLE} failed, access denied: "
                              f"AccessDenied: User with key *** is not authorized to perform: "
                              f"sts:AssumeRole on {ROLE} (signature ***)")


def test_clients_retry_in_standard_mode_with_modest_timeouts(no_aws, monkeypatch):
    monkeypatch.delenv("AWS_MAX_ATTEMPTS")
    session = boto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    config = client(session, "sagemaker").meta.config
    assert config.retries == {"mode": "standard"}
    assert (config.connect_timeout, config.read_timeout) == (5, 20)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # what the tests use: honoured
    assert client(session, "sagemaker").meta.config.retries["total_max_attempts"] == 1
