"""The session pool: clients are made once and reused, sessions (and the role credentials they
hold) are renewed before those credentials expire, and an environment that failed for want of
credentials or reachability is tried again after a short while, not never."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest

from bot.core import clock
from bot.adapters.aws.live import AwsLiveReader
from bot.adapters.aws.session import AwsUnavailable
from bot.adapters.aws import session as sessions
from bot.adapters.aws.session import SessionPool, aws_session
from bot.core.config import EnvironmentConfig

ENVS = {"staging": EnvironmentConfig(region="us-east-1")}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def ticks():
    return Clock()


def test_clients_are_made_once_per_session_and_renewed_after_its_lifetime(aws, ticks):
    made = []

    def factory(config, *, env_name, base_session):
        made.append(env_name)
        return boto3.Session(region_name=config.region)

    pool = SessionPool(ENVS, session_factory=factory, monotonic=ticks)
    first = pool.client("staging", "sagemaker")
    assert pool.client("staging", "sagemaker") is first
    assert pool.client("staging", "cloudwatch") is not first
    assert made == ["staging"]

    ticks.now += sessions.POOLED_SESSION_SECONDS + 1
    renewed = pool.client("staging", "sagemaker")
    assert renewed is not first and made == ["staging", "staging"]
    assert renewed.list_endpoints()["Endpoints"] == []  # a working client, against moto

    with pytest.raises(KeyError, match="no environment 'nope'"):
        pool.client("nope", "sagemaker")


def test_a_pooled_session_never_outlives_its_role_credentials():
    # A session made from credentials with just over REFRESH_BEFORE_EXPIRY left is dropped by
    # the pool before they expire.
    assert dt.timedelta(seconds=sessions.POOLED_SESSION_SECONDS) < sessions.REFRESH_BEFORE_EXPIRY


def test_a_role_session_renewed_by_the_pool_carries_fresh_credentials(aws, ticks, monkeypatch):
    env = {"staging": EnvironmentConfig(region="eu-west-1",
                                        aws_role_arn="arn:aws:iam::123456789012:role/modelbot-deployer-staging")}
    base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    sessions.clear_credential_cache()
    pool = SessionPool(env, base_session=base, monotonic=ticks)
    key = pool.session("staging").get_credentials().access_key

    # 50 minutes on: the cached role credentials have 10 minutes left, under the refresh margin.
    real = clock.utcnow()
    monkeypatch.setattr(clock, "utcnow", lambda: real + dt.timedelta(minutes=50))
    ticks.now += 50 * 60
    assert pool.session("staging").get_credentials().access_key != key
    sessions.clear_credential_cache()


def test_an_unusable_environment_fails_fast_then_is_tried_again(ticks):
    attempts = []

    def factory(config, *, env_name, base_session):
        attempts.append(env_name)
        raise AwsUnavailable(f"environment {env_name}: no credentials", kind="credentials")

    reader = AwsLiveReader(ENVS, pool=SessionPool(ENVS, session_factory=factory, monotonic=ticks))
    for _ in range(3):
        with pytest.raises(AwsUnavailable, match="^environment staging: no credentials$"):
            reader("staging", "ep")
        ticks.now += 5  # remembered failures do not extend themselves
    assert attempts == ["staging"]

    ticks.now += sessions.FAILED_ENVIRONMENT_SECONDS
    with pytest.raises(AwsUnavailable):
        reader("staging", "ep")
    assert attempts == ["staging", "staging"]


def test_live_reads_reuse_the_pool_clients(aws, ticks):
    pool = SessionPool(ENVS, session_factory=lambda config, *, env_name, base_session:
                       aws_session(config, env_name=env_name), monotonic=ticks)
    reader = AwsLiveReader(ENVS, pool=pool)
    assert reader("staging", "ep").endpoint_exists is False
    sm = pool.client("staging", "sagemaker")
    assert reader("staging", "other").endpoint_exists is False
    assert pool.client("staging", "sagemaker") is sm
