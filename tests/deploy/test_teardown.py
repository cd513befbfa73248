"""Teardown of a deleted manifest, end to end through the signed webhook: a merged pull request
that deletes a manifest removes what modelbot created for it (endpoint, endpoint configs,
models, scaling policies and targets, the async backlog alarm), leaves and reports what it did
not create, is recorded in the ledger, ends as an `inactive` GitHub Deployment, needs an
explicit approval, and finishes whatever worker dies where."""

from __future__ import annotations

import json

import pytest

from bot.adapters.aws.session import client
from bot.adapters.aws.session import aws_session
from bot.core.deploy.requests import SCALABLE_DIMENSION
from tests.aws.test_merge_to_deploy import (  # noqa: F401 - fixture
    PATH, REPO, ROOT, Killed, bot, drive, drive_through_kills, manifest, merge)
from tests.support import webhooks

ASYNC_PATH = "models/doc-ocr/modelbot.yaml"
ASYNC = (ROOT / "examples" / "async-scale-to-zero.yaml").read_text()
TRACKING = "endpoint/fraud-detector/variant/AllTraffic"
ASYNC_TARGET = "endpoint/doc-ocr-production/variant/AllTraffic"


def aws(bot, service="sagemaker", env="production"):
    return client(aws_session(bot.settings.server.environments[env], env_name=env), service)


def deployed(bot):
    """The canary example (staging, production with autoscaling) and the async example (scale
    to zero: target tracking, step policy, backlog alarm), merged and deployed."""
    sha, payload = merge(bot, {PATH: manifest(), ASYNC_PATH: ASYNC}, 1)
    bot.deliver("pull_request", payload)
    drive(bot)
    rows = bot.store.deployments(repository=REPO)
    assert [r.status for r in rows] == ["succeeded"] * 3, [(r.environment, r.reason) for r in rows]
    return sha


def delete_manifests(bot, number=2, approve=True, paths=(PATH, ASYNC_PATH)):
    gh = bot.github
    gh.open_pull_request(REPO, f"remove-{number}", files={p: None for p in paths}, number=number, user="alice")
    if approve:
        # Only owners of a deleted manifest at base approve its teardown (never the default owner,
        # never the author alice): bob as a member of @acme/fraud-ml, erin owns the async example.
        gh.add_team_member("acme", "fraud-ml", "bob")
        gh.add_review(REPO, number, "bob", "APPROVED")
        if ASYNC_PATH in paths:
            gh.add_review(REPO, number, "erin", "APPROVED")
    sha = gh.merge_pull_request(REPO, number)
    payload = webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, number))
    assert bot.deliver("pull_request", payload) == "done"
    return sha, payload


def names(bot, env="production"):
    sm = aws(bot, env=env)
    return ({e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]},
            {c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]},
            {m["ModelName"] for m in sm.list_models()["Models"]})


def scaling(bot):
    aas = aws(bot, "application-autoscaling")
    targets = {t["ResourceId"] for t in aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]}
    policies = {(p["ResourceId"], p["PolicyName"])
                for p in aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]}
    return targets, policies


def alarms(bot):
    return {a["AlarmName"] for a in aws(bot, "cloudwatch").describe_alarms()["MetricAlarms"]}


def teardowns(bot, sha):
    return [r for r in bot.store.deployments(repository=REPO, commit_sha=sha)]


def test_merging_a_deleted_manifest_tears_down_everything_modelbot_created(bot, fake_github):
    first = deployed(bot)
    endpoints, configs, models = names(bot)
    assert endpoints == {"fraud-detector", "fraud-detector-staging", "doc-ocr-production"}
    targets, policies = scaling(bot)
    assert targets == {TRACKING, ASYNC_TARGET}
    assert (ASYNC_TARGET, "modelbot-backlog-without-capacity") in policies
    assert "doc-ocr-production-backlog-no-capacity" in alarms(bot)
    before = [d for d in fake_github.repo(REPO).deployments]

    sha, payload = delete_manifests(bot)
    assert bot.deliver("pull_request", payload) == "done"  # GitHub delivers it again: still once
    rows = teardowns(bot, sha)
    assert sorted((r.manifest_path, r.environment, r.status) for r in rows) == [
        (ASYNC_PATH, "production", "pending"), (PATH, "production", "pending"), (PATH, "staging", "pending")]
    assert all(json.loads(r.provenance)["kind"] == "teardown" for r in rows)
    fraud_prod = next(r for r in rows if r.manifest_path == PATH and r.environment == "production")
    assert fraud_prod.after_id is not None  # production after staging, as deploys

    drive(bot)
    rows = teardowns(bot, sha)
    assert [r.status for r in rows] == ["succeeded"] * 3, [(r.environment, r.reason) for r in rows]
    assert names(bot) == (set(), set(), set())
    assert scaling(bot) == (set(), set())
    assert not any(a.startswith(("doc-ocr-production", "TargetTracking-endpoint/")) for a in alarms(bot))
    reason = bot.store.deployment(fraud_prod.id).reason
    assert reason.startswith("torn down endpoint fraud-detector; deleted ") and "left" not in reason, reason
    resources = f"fraud-detector-production-{first[:7]}"
    for gone in ("scaling policy modelbot-target-tracking", f"scalable target {TRACKING}",
                 f"endpoint config {resources}", f"model {resources}"):
        assert gone in reason, (gone, reason)
    async_reason = next(r.reason for r in rows if r.manifest_path == ASYNC_PATH)
    assert "alarm doc-ocr-production-backlog-no-capacity" in async_reason, async_reason

    # The ledger: the endpoint's last deployment is the teardown, with its PR and approvers.
    current = bot.store.current_deployment("production", "fraud-detector")
    prov = json.loads(current.provenance)
    # (The production approvals of the pull request count for each of its production deployments:
    # bob's for the fraud manifest and erin's for the async one.)
    assert (current.id, current.pr_number, prov["kind"]) == (fraud_prod.id, 2, "teardown")
    assert sorted(prov["approvers"]) == ["bob", "erin"]
    assert {a["user"]: a["paths"] for a in prov["gate"]["approvals"]} == {"bob": [PATH], "erin": [ASYNC_PATH]}

    # GitHub: every teardown ends inactive, and so does the deployment it replaced.
    deployments = fake_github.repo(REPO).deployments
    mine = [d for d in deployments if d.ref == sha]
    assert len(mine) == 3 and all(d.statuses[-1].state == "inactive" for d in mine)
    replaced = [d for d in before if d.ref == first]
    assert replaced and all(d.statuses[-1].state == "inactive" for d in replaced)
    assert not fake_github.violations

    # Safe to run twice: nothing is active, a tick does nothing, a new teardown finds nothing.
    assert all(bot.runtime.rollouts.tick(r.id) == "skipped" for r in rows)


def test_what_modelbot_did_not_create_is_left_and_reported(bot):
    deployed(bot)
    sm, aas = aws(bot), aws(bot, "application-autoscaling")
    # Someone took the production model over (removed modelbot's tags) ...
    config = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName="fraud-detector")["EndpointConfigName"])
    model = config["ProductionVariants"][0]["ModelName"]
    sm.delete_tags(ResourceArn=sm.describe_model(ModelName=model)["ModelArn"],
                   TagKeys=["modelbot:model", "modelbot:environment"])
    # ... and put a scaling policy of their own on the endpoint's scalable target.
    aas.put_scaling_policy(PolicyName="oncall-scale-out", ServiceNamespace="sagemaker", ResourceId=TRACKING,
                           ScalableDimension=SCALABLE_DIMENSION, PolicyType="StepScaling",
                           StepScalingPolicyConfiguration={"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [
                               {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]})

    sha, _ = delete_manifests(bot, paths=(PATH,))
    drive(bot)
    prod = next(r for r in teardowns(bot, sha) if r.environment == "production")
    assert prod.status == "succeeded"
    assert f"model {model} (no modelbot tags" in prod.reason, prod.reason
    # AWS deregisters a deleted endpoint's scalable targets with every policy on them: the report
    # says the on-call policy went with the endpoint rather than claiming it was left.
    assert "oncall-scale-out" in prod.reason and f"scalable target {TRACKING}" in prod.reason
    assert "AWS deregisters them with the endpoint" in prod.reason
    endpoints, configs, models = names(bot)
    assert "fraud-detector" not in endpoints and model in models
    assert not any(c.startswith("fraud-detector-production") for c in configs)
    targets, policies = scaling(bot)
    assert TRACKING not in targets and (TRACKING, "oncall-scale-out") not in policies
    assert "doc-ocr-production" in endpoints  # another manifest's endpoint is not touched


def test_a_teardown_without_an_approval_deletes_nothing(bot):
    deployed(bot)
    before = (names(bot), names(bot, env="staging"), scaling(bot), alarms(bot))
    sha, _ = delete_manifests(bot, approve=False, paths=(PATH,))
    drive(bot)
    rows = teardowns(bot, sha)
    staging = next(r for r in rows if r.environment == "staging")
    # The deploy gate refuses it before any AWS call, naming the owners at base whose approval it needs.
    assert staging.status == "refused", (staging.status, staging.reason)
    assert staging.reason.startswith("refused by the deploy gate: "), staging.reason
    assert "1 more approval from @acme/fraud-ml or alice for models/fraud/modelbot.yaml" in staging.reason
    assert json.loads(staging.provenance)["gate"]["verdict"] == "refuse"
    production = next(r for r in rows if r.environment == "production")
    assert production.status == "superseded"  # production waits for staging, as deploys do
    assert {"fraud-detector", "fraud-detector-staging"} <= names(bot)[0]
    assert (names(bot), names(bot, env="staging"), scaling(bot), alarms(bot)) == before  # AWS unchanged


def test_deploy_command_tears_down_a_non_production_environment_before_merge(bot):
    from tests.aws.test_deploy_commands import command

    deployed(bot)
    gh = bot.github
    gh.set_permission(REPO, "carol", "write")
    gh.open_pull_request(REPO, "remove-5", files={PATH: None}, number=5, user="carol")
    gh.add_review(REPO, 5, "bob", "APPROVED")  # not an owner: a teardown needs an owner's approval
    text = command(bot, 5, "/deploy staging", "carol")
    assert "not approved yet: 1 more approval from @acme/fraud-ml or alice" in text, text
    gh.add_review(REPO, 5, "alice", "APPROVED")  # an owner (at base) who is not the author
    text = command(bot, 5, "/deploy staging", "carol")
    assert "Deploying" in text, text
    drive(bot)
    [row] = bot.store.deployments(repository=REPO, pr_number=5)
    assert (row.environment, row.trigger, row.status) == ("staging", "command", "succeeded"), row.reason
    endpoints = names(bot)[0]
    assert "fraud-detector-staging" not in endpoints and "fraud-detector" in endpoints


@pytest.mark.parametrize("kill_at", range(1, 110, 9))  # ~54 calls: before and after each
def test_a_worker_killed_at_any_step_of_a_teardown_finishes_it(bot, kill_at):
    """The worker dies just before or just after its k-th AWS call of the teardown (SageMaker,
    Application Auto Scaling and CloudWatch); another worker resumes from the stored phase."""
    deployed(bot)
    sha, _ = delete_manifests(bot)
    events = {"n": 0}

    def die(**_):
        events["n"] += 1
        if events["n"] == kill_at:
            raise Killed()

    clients = bot.runtime.rollouts.services.clients_for("production")
    hooked = [(c, f"{when}-call") for c in (clients.sagemaker, clients.autoscaling, clients.cloudwatch)
              for when in ("before", "after")]
    for c, event in hooked:
        c.meta.events.register(event, die)
    try:
        killed = drive_through_kills(bot, limit=100)
    finally:
        for c, event in hooked:
            c.meta.events.unregister(event, die)
    rows = teardowns(bot, sha)
    assert [r.status for r in rows] == ["succeeded"] * 3, [(r.environment, r.status, r.reason) for r in rows]
    assert names(bot) == (set(), set(), set())
    assert scaling(bot) == (set(), set())
    assert "doc-ocr-production-backlog-no-capacity" not in alarms(bot)
    assert killed or events["n"] < kill_at


def test_the_report_and_deploy_check_say_torn_down(bot, fake_github):
    from bot.core.report import part_of

    deployed(bot)
    gh = bot.github
    gh.open_pull_request(REPO, "remove-2", files={PATH: None}, number=2, user="alice")
    bot.deliver("pull_request", bot.pr_event("opened", REPO, 2))  # the report comment
    gh.add_team_member("acme", "fraud-ml", "bob")  # an owner at base: only owners approve a teardown
    gh.add_review(REPO, 2, "bob", "APPROVED")
    sha = gh.merge_pull_request(REPO, 2)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, 2)))
    drive(bot)
    report = [c.body for c in fake_github.comments_on(REPO, 2) if part_of(c.body) == 1]
    table = report[0] if report else ""
    assert table.count("🗑 torn down") == 2 and "✅ deployed" not in table, table
    runs = fake_github.check_runs_for(REPO, name="modelbot/deploy")
    assert runs[-1].conclusion == "success"
    assert runs[-1].title == "Torn down in staging, production", runs[-1].title


def test_rollback_after_a_teardown_restores_the_model_and_never_tears_down_again(bot, fake_github):
    from tests.aws.test_deploy_commands import command

    first = deployed(bot)
    delete_manifests(bot, paths=(PATH,))
    drive(bot)
    assert "fraud-detector" not in names(bot)[0]

    fake_github.set_permission(REPO, "erin", "admin")
    text = command(bot, 2, "/rollback production", "erin")
    assert f"back to `{first[:7]}`" in text, text
    drive(bot)
    described = aws(bot).describe_endpoint(EndpointName="fraud-detector")
    assert described["EndpointStatus"] == "InService" and described["EndpointConfigName"].endswith(first[:7])

    # Asked again, the teardown is not a target: the deploy before it is.
    restored = [r for r in bot.store.deployments(repository=REPO, trigger="rollback")]
    assert [r.kind for r in restored] == ["deploy"] and restored[0].status == "succeeded"
    teardown = next(r for r in bot.store.deployments(repository=REPO, pr_number=2) if r.kind == "teardown"
                    and r.environment == "production")
    text = command(bot, 2, f"/rollback production to {teardown.id}", "erin")
    assert f"There is no earlier successful deployment matching `{teardown.id}`" in text, text
    drive(bot)
    assert aws(bot).describe_endpoint(EndpointName="fraud-detector")["EndpointStatus"] == "InService"
