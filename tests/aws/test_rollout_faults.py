"""Rollouts under faults: alarms during bake, a worker killed at every step, a second merge
while a rollout is in flight, AWS throttling; and the deploy commands."""

from __future__ import annotations

import pytest

from bot.adapters.aws.session import client
from bot.adapters.aws.session import aws_session
from tests.aws.test_merge_to_deploy import (  # noqa: F401 - fixture
    CANARY, PATH, REPO, Killed, bot, drive, drive_through_kills, manifest, merge, without_validation)
from tests.support import sagemaker_emulator as emulator
from tests.support import webhooks


def clients(bot, service="sagemaker"):
    env = bot.settings.server.environments["production"]
    return client(aws_session(env, env_name="production"), service)


def first_deploy(bot):
    sha, payload = merge(bot, {PATH: manifest()}, 1)
    bot.deliver("pull_request", payload)
    drive(bot)
    return sha


def second_merge(bot, number=2, instance="ml.m5.2xlarge"):
    gh = bot.github
    # The manifest is at base now, owned by @acme/fraud-ml and alice (the author): the default
    # owner bob no longer approves it, a member of the owning team does.
    gh.add_team_member("acme", "fraud-ml", "bob")
    gh.open_pull_request(REPO, f"change-{number}", files={PATH: manifest().replace(
        "instance_type: ml.m5.xlarge", f"instance_type: {instance}")}, number=number, user="alice")
    gh.add_review(REPO, number, "bob", "APPROVED")
    sha = gh.merge_pull_request(REPO, number)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, number)))
    return sha


def production(bot, commit):
    return [d for d in bot.store.deployments(repository=REPO, environment="production") if d.commit_sha == commit][0]


def put_alarms(bot):
    cw = clients(bot, "cloudwatch")
    for name in ("fraud-detector-5xx", "fraud-detector-latency-p99"):
        cw.put_metric_alarm(AlarmName=name, MetricName="Invocation5XXErrors", Namespace="AWS/SageMaker",
                            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                            ComparisonOperator="GreaterThanThreshold")
    return cw


def test_a_canary_update_rolls_back_when_an_alarm_fires_during_bake(bot):
    first_deploy(bot)
    cw = put_alarms(bot)
    sha = second_merge(bot)
    prod = production(bot, sha)
    for _ in range(60):  # tick until the canary is baking, then fire the alarm
        for d in bot.store.deployments(repository=REPO):
            if d.status in ("pending", "running"):
                bot.runtime.rollouts.tick(d.id)
        if emulator.current_phase_remote(bot_url(bot), "fraud-detector") == "canary-bake":
            break
    else:
        pytest.fail("the canary never baked")
    cw.set_alarm_state(AlarmName="fraud-detector-5xx", StateValue="ALARM", StateReason="test")
    drive(bot)
    assert bot.store.deployment(prod.id).status == "rolled_back"
    described = clients(bot).describe_endpoint(EndpointName="fraud-detector")
    first_config = [d for d in bot.store.deployments(repository=REPO, environment="production")][0]
    assert described["EndpointConfigName"].endswith(first_config.commit_sha[:7])
    statuses = [d for d in bot.github.repo(REPO).deployments if d.ref == sha and d.environment == "production"]
    assert statuses[0].statuses[-1].state == "failure"


def bot_url(bot):
    import os

    return os.environ["AWS_ENDPOINT_URL"]


@pytest.mark.parametrize("kill_at", range(1, 46, 3))
def test_a_worker_killed_at_any_step_of_a_canary_ends_deployed_never_twice(bot, kill_at):
    """The worker dies just before, or just after, its k-th SageMaker call (k steps by 3, so
    before and after alternate along the run): every step of the rollout is a place to die."""
    first_deploy(bot)
    sha = second_merge(bot)
    events = {"n": 0}

    def die(**_):
        events["n"] += 1
        if events["n"] == kill_at:
            raise Killed()

    sm = bot.runtime.rollouts.services.clients_for("production").sagemaker
    for event in ("before-call.sagemaker", "after-call.sagemaker"):
        sm.meta.events.register(event, die)
    try:
        killed = drive_through_kills(bot)
    finally:
        for event in ("before-call.sagemaker", "after-call.sagemaker"):
            sm.meta.events.unregister(event, die)
    prod = production(bot, sha)
    assert prod.status in ("succeeded", "rolled_back"), (prod.status, prod.reason)
    described = clients(bot).describe_endpoint(EndpointName="fraud-detector")
    assert described["EndpointStatus"] == "InService"
    if prod.status == "succeeded":
        assert described["EndpointConfigName"].endswith(sha[:7])
    if not killed:  # the run made fewer calls than kill_at: it must simply have worked
        assert prod.status == "succeeded"
    assert len([d for d in bot.store.deployments(repository=REPO) if d.commit_sha == sha]) == 2


def test_a_second_merge_waits_for_the_rollout_in_flight(bot):
    first_deploy(bot)
    a = second_merge(bot, number=2, instance="ml.m5.2xlarge")
    # Staging then production of A start; B is merged while A's production rollout runs.
    for _ in range(6):
        for d in bot.store.deployments(repository=REPO):
            if d.status in ("pending", "running"):
                bot.runtime.rollouts.tick(d.id)
    assert production(bot, a).status == "running"
    b = second_merge(bot, number=3, instance="ml.m5.4xlarge")
    for d in bot.store.deployments(repository=REPO):
        if d.commit_sha == b and d.status == "pending":
            bot.runtime.rollouts.tick(d.id)
    waiting = [d for d in bot.store.deployments(repository=REPO) if d.commit_sha == b]
    assert any("waiting" in (d.reason or "") for d in waiting)
    drive(bot)
    assert production(bot, a).status == "succeeded" and production(bot, b).status == "succeeded"
    described = clients(bot).describe_endpoint(EndpointName="fraud-detector")
    assert described["EndpointConfigName"].endswith(b[:7])


@pytest.mark.parametrize("operation, code, status, times", [
    ("DescribeEndpoint", "ThrottlingException", 400, 3),              # throttled
    ("UpdateEndpoint", "InternalFailure", 500, 2),                    # AWS's own 5xx
])
def test_aws_throttling_and_server_errors_are_retried_not_fatal(bot, operation, code, status, times):
    from botocore.exceptions import ClientError

    first_deploy(bot)
    sha = second_merge(bot)
    sm = bot.runtime.rollouts.services.clients_for("production").sagemaker
    failed = {"n": 0}

    def fail(params, model, **_):
        if failed["n"] < times:
            failed["n"] += 1
            raise ClientError({"Error": {"Code": code, "Message": "injected"},
                               "ResponseMetadata": {"HTTPStatusCode": status}}, operation)

    event = f"before-call.sagemaker.{operation}"
    sm.meta.events.register(event, fail)
    try:
        drive(bot)
    finally:
        sm.meta.events.unregister(event, fail)
    assert failed["n"] == times
    assert production(bot, sha).status == "succeeded"
    assert clients(bot).describe_endpoint(EndpointName="fraud-detector")["EndpointConfigName"].endswith(sha[:7])


def test_a_batch_transform_manifest_runs_its_job_on_merge(bot):
    from tests.aws.test_merge_to_deploy import ROOT

    text = (ROOT / "examples" / "batch-transform.yaml").read_text()
    sha, payload = merge(bot, {"models/credit/modelbot.yaml": text}, 21)
    bot.deliver("pull_request", payload)
    drive(bot)
    [row] = bot.store.deployments(repository=REPO, commit_sha=sha)
    assert (row.environment, row.endpoint, row.status) == ("production", None, "succeeded")
    jobs = clients(bot).list_transform_jobs()["TransformJobSummaries"]
    assert [j["TransformJobName"] for j in jobs] == [f"credit-scorer-production-{sha[:7]}"]
    job = clients(bot).describe_transform_job(TransformJobName=jobs[0]["TransformJobName"])
    assert job["DataProcessing"]["JoinSource"] == "Input"


def test_a_deploy_that_cannot_be_prepared_fails_at_once_and_frees_the_endpoint(bot):
    from bot.app.services.rollouts import holder_of, lock_key

    # The canary example reads its build id from outputs/build.json, which this commit lacks.
    # Without its `validation:` section and needing bob's one approval, it passes the deploy gate:
    # it is `prepare` that fails.
    text = without_validation(CANARY).replace("approvals: 2", "approvals: 1")
    sha, payload = merge(bot, {PATH: text.replace("instance_type: ml.m5.large", "instance_type: ml.m5.xlarge")}, 31)
    bot.deliver("pull_request", payload)
    drive(bot, limit=5)  # no retry loop: both rows end within a few ticks
    staging, prod = bot.store.deployments(repository=REPO, commit_sha=sha)
    assert (staging.status, prod.status) == ("failed", "superseded")
    assert staging.reason == f"not deployed: pipeline output outputs/build.json does not exist at {sha[:7]}"
    assert bot.store.lock(lock_key("staging", staging.endpoint)) is None, holder_of(staging.id)
    statuses = [d for d in bot.github.repo(REPO).deployments if d.ref == sha and d.environment == "staging"]
    assert statuses[0].statuses[-1].state == "failure"
    assert not clients(bot).list_endpoints()["Endpoints"]  # nothing was created


def test_a_production_deployment_replaced_by_a_newer_one_becomes_inactive(bot):
    first = first_deploy(bot)
    second = second_merge(bot)
    drive(bot)
    assert production(bot, second).status == "succeeded"
    prod = {d.ref: d for d in bot.github.repo(REPO).deployments if d.environment == "production"}
    assert prod[first].statuses[-1].state == "inactive"
    assert prod[first].statuses[-1].description == "replaced on fraud-detector by #2"
    assert prod[second].statuses[-1].state == "success"
    assert not bot.github.violations
