"""The last calls of a rollout (autoscaling, tags, clean-up) refused by AWS: a permanent refusal
ends the deployment with AWS's message and frees the endpoint; throttling is retried a bounded
number of times (issue #12, item 10). Also: an AWS environment that cannot be reached is one
warning line per tick, not a traceback (item 13), and the poll interval is the environment's."""

from __future__ import annotations

import json
import logging

import pytest

from botocore.exceptions import ClientError

from bot.app.services.rollouts import MAX_FINISHING_ATTEMPTS, holder_of, lock_key
from tests.aws.test_rollout_faults import (  # noqa: F401 - fixture
    bot, production)
from tests.aws.test_merge_to_deploy import PATH, REPO, drive, manifest, merge


def _refuse(bot, operation, code, status, times=None):
    aas = bot.runtime.rollouts.services.clients_for("production").autoscaling
    seen = {"n": 0}

    def fail(params, model, **_):
        if times is None or seen["n"] < times:
            seen["n"] += 1
            raise ClientError({"Error": {"Code": code, "Message": f"injected {code}"},
                               "ResponseMetadata": {"HTTPStatusCode": status}}, operation)

    aas.meta.events.register(f"before-call.application-autoscaling.{operation}", fail)
    return seen


def _drive(bot):
    drive(bot, limit=120)  # raises if the finishing step retried without end


def test_a_permanently_refused_scalable_target_ends_the_deployment_and_frees_the_lock(bot):
    seen = _refuse(bot, "RegisterScalableTarget", "ValidationException", 400)
    sha = first_deploy_quietly(bot)
    prod = production(bot, sha)
    assert prod.status == "failed", (prod.status, prod.reason)
    assert "RegisterScalableTarget: ValidationException: injected ValidationException" in prod.reason
    assert "serves the new config" in prod.reason
    assert seen["n"] == 1  # a refusal is not retried
    assert bot.store.lock(lock_key("production", prod.endpoint)) is None, holder_of(prod.id)
    statuses = [d for d in bot.github.repo(REPO).deployments if d.ref == sha and d.environment == "production"]
    last = statuses[0].statuses[-1]
    assert last.state == "failure" and len(last.description) <= 140
    assert "RegisterScalableTarget" in last.description


def test_throttled_finishing_is_retried_a_bounded_number_of_times(bot):
    seen = _refuse(bot, "RegisterScalableTarget", "ThrottlingException", 400)
    sha = first_deploy_quietly(bot)
    prod = production(bot, sha)
    assert prod.status == "failed" and "after 6 tries" in prod.reason
    assert seen["n"] == MAX_FINISHING_ATTEMPTS


def test_throttling_that_clears_lets_the_deployment_succeed(bot):
    seen = _refuse(bot, "RegisterScalableTarget", "ThrottlingException", 400, times=2)
    sha = first_deploy_quietly(bot)
    assert production(bot, sha).status == "succeeded"
    assert seen["n"] == 2


def first_deploy_quietly(bot):
    sha, payload = merge(bot, {PATH: manifest()}, 1)
    bot.deliver("pull_request", payload)
    _drive(bot)
    return sha


def test_an_unreachable_environment_logs_one_line_not_a_traceback(bot, caplog):
    from bot.adapters.aws.session import AwsUnavailable

    sha, payload = merge(bot, {PATH: manifest()}, 1)
    bot.deliver("pull_request", payload)
    rollouts = bot.runtime.rollouts
    real = rollouts.services.clients_for

    def unreachable(env):
        raise AwsUnavailable("no AWS credentials for environment staging", kind="credentials")

    rollouts.services = type(rollouts.services)(**{**rollouts.services.__dict__, "clients_for": unreachable})
    try:
        pending = [d for d in bot.store.deployments(repository=REPO) if d.status == "pending"]
        with caplog.at_level(logging.WARNING, logger="bot"):
            for d in pending:
                rollouts.tick(d.id)
    finally:
        rollouts.services = type(rollouts.services)(**{**rollouts.services.__dict__, "clients_for": real})
    records = [r for r in caplog.records if "AWS unavailable" in r.getMessage()]
    assert records, [r.getMessage() for r in caplog.records]
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in records)
    assert not [r for r in caplog.records if r.getMessage() == "deployment tick failed"]


def test_the_poll_interval_is_the_environments(bot):
    from bot.core.config import EnvironmentConfig

    assert EnvironmentConfig(region="us-east-1").poll_seconds == 30
    assert EnvironmentConfig(region="us-east-1", poll_seconds=10).poll_seconds == 10
    with pytest.raises(ValueError):
        EnvironmentConfig(region="us-east-1", poll_seconds=1)
    env = bot.settings.server.environments["production"]
    object.__setattr__(env, "poll_seconds", 12)
    sha, payload = merge(bot, {PATH: manifest()}, 1)
    bot.deliver("pull_request", payload)
    _drive(bot)
    prod = production(bot, sha)
    assert json.loads(prod.state)["rollout"]["poll_seconds"] == 12
