"""Inference components end to end: a merged PR creates the fleet and the component, a second
one rolls a new model out copy by copy, an alarm makes SageMaker roll it back, autoscaling of
the copy count survives every ending, the live model is the comparison's baseline, and deleting
the manifest tears the component down before the endpoint. Against the SageMaker emulator."""

from __future__ import annotations

import json

import pytest

from bot.adapters.aws.session import aws_session, client
from bot.app.services.comparison.model import baseline_from_live
from bot.core.report import part_of
from tests.aws.test_merge_to_deploy import REPO, bot, drive, harness_with, merge  # noqa: F401 - bot: the fixture
from tests.components.test_component_core import JOINER as JOINER_OF_CORE
from tests.conftest import ROOT
from tests.support import webhooks

PATH = "models/summarizer/modelbot.yaml"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/summarizer:2.3.0"
EXAMPLE = (ROOT / "examples" / "inference-component.yaml").read_text()
COMPONENT = "summarizer-production-ic"
ENDPOINT = "summarizer-production"
DIMENSION = "sagemaker:inference-component:DesiredCopyCount"


def manifest(month: str = "2024-09") -> str:
    image_line = next(line for line in EXAMPLE.splitlines() if line.strip().startswith("image:"))
    # owners: bob, who approves each PR (the gate wants the base owners of an existing manifest)
    return (EXAMPLE.replace(image_line, f"    image: {IMAGE}").replace('owners: ["@acme/nlp"]', "owners: [bob]")
            .replace("summarizer/2024-09/", f"summarizer/{month}/"))


def clients(bot):
    env = bot.settings.server.environments["production"]
    session = aws_session(env, env_name="production")
    return (client(session, "sagemaker"), client(session, "application-autoscaling"),
            client(session, "cloudwatch"))


def deploy(bot, files, number) -> str:
    sha, payload = merge(bot, files, number)
    assert bot.deliver("pull_request", payload) == "done"
    drive(bot, limit=200)
    return sha


def last(bot):
    return bot.store.deployments(repository=REPO)[-1]


def test_a_merged_pr_creates_fleet_component_and_copy_autoscaling(bot, fake_github):
    sha = deploy(bot, {PATH: manifest()}, 31)
    row = last(bot)
    assert (row.environment, row.status) == ("production", "succeeded"), row.reason
    sm, aas, _ = clients(bot)
    config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(
        EndpointName=ENDPOINT)["EndpointConfigName"])
    assert "ModelName" not in config["ProductionVariants"][0]
    assert config["ProductionVariants"][0]["ManagedInstanceScaling"]["MaxInstanceCount"] == 2
    ic = sm.describe_inference_component(InferenceComponentName=COMPONENT)
    assert ic["InferenceComponentStatus"] == "InService"
    assert ic["RuntimeConfig"]["DesiredCopyCount"] == 2 == ic["RuntimeConfig"]["CurrentCopyCount"]
    assert ic["Specification"]["ComputeResourceRequirements"]["NumberOfAcceleratorDevicesRequired"] == 1
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=ic["InferenceComponentArn"])["Tags"]}
    assert tags["modelbot:commit"] == sha and tags["modelbot:build-id"] == "gha-31337"
    assert tags["modelbot:data-version"] == "support-tickets-2024-09" and tags["modelbot:pr"] == "31"
    [target] = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[f"inference-component/{COMPONENT}"],
                                             ScalableDimension=DIMENSION)["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 8)
    [policy] = aas.describe_scaling_policies(ServiceNamespace="sagemaker",
                                             ResourceId=f"inference-component/{COMPONENT}")["ScalingPolicies"]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
        "PredefinedMetricType"] == "SageMakerInferenceComponentInvocationsPerCopy"
    [d] = fake_github.repo(REPO).deployments
    assert d.statuses[-1].state == "success"
    # The ledger knows what put the model there; the live component is the comparison's baseline.
    prov = json.loads(bot.store.current_deployment("production", ENDPOINT).provenance)
    assert prov["approvers"] == ["bob"]
    live = bot.live_reader("production", ENDPOINT)
    baseline = baseline_from_live("production", live, component=COMPONENT)
    assert baseline is not None and baseline.model_name == ic["Specification"]["ModelName"]
    assert baseline.model_digest and baseline.model_digest == live.components[0].model_digest
    assert not fake_github.violations


def test_the_pr_report_shows_the_component_plan_and_its_share_of_the_fleet(bot, fake_github):
    gh = bot.github
    gh.open_pull_request(REPO, "change-32", files={PATH: manifest()}, number=32, user="alice")
    bot.deliver("pull_request", bot.pr_event("opened", REPO, 32))
    report = [c.body for c in gh.comments_on(REPO, 32) if part_of(c.body) == 1][0]
    assert "inference_component" in report and COMPONENT in report
    assert "2 copies x 25% of an ml.g5.12xlarge" in report


def test_a_new_model_rolls_out_copy_by_copy_and_keeps_autoscaling(bot):
    deploy(bot, {PATH: manifest()}, 33)
    sm, aas, _ = clients(bot)
    first = sm.describe_inference_component(InferenceComponentName=COMPONENT)["Specification"]["ModelName"]
    deploy(bot, {PATH: manifest("2024-10")}, 34)
    row = last(bot)
    assert row.status == "succeeded", row.reason
    ic = sm.describe_inference_component(InferenceComponentName=COMPONENT)
    assert ic["Specification"]["ModelName"] != first and ic["InferenceComponentStatus"] == "InService"
    assert ic["LastDeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"] == {"Type": "COPY_COUNT", "Value": 1}
    names = [m["ModelName"] for m in sm.list_models()["Models"]]
    assert first not in names  # the superseded model is cleaned up
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[f"inference-component/{COMPONENT}"],
                                         ScalableDimension=DIMENSION)["ScalableTargets"]
    assert json.loads(row.provenance)["approvers"] == ["bob"]


def test_an_alarm_during_the_update_rolls_it_back_and_the_deployment_says_so(bot):
    deploy(bot, {PATH: manifest()}, 35)
    sm, aas, cw = clients(bot)
    first = sm.describe_inference_component(InferenceComponentName=COMPONENT)["Specification"]["ModelName"]
    cw.set_alarm_state(AlarmName="summarizer-errors", StateValue="ALARM", StateReason="test: errors")
    deploy(bot, {PATH: manifest("2024-10")}, 36)
    row = last(bot)
    assert row.status == "rolled_back", (row.status, row.reason)
    assert "rolled the update of summarizer-production-ic back" in row.reason
    ic = sm.describe_inference_component(InferenceComponentName=COMPONENT)
    assert ic["Specification"]["ModelName"] == first and ic["InferenceComponentStatus"] == "InService"
    assert first in [m["ModelName"] for m in sm.list_models()["Models"]]
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[f"inference-component/{COMPONENT}"],
                                         ScalableDimension=DIMENSION)["ScalableTargets"]


def test_deleting_the_manifest_tears_down_component_then_endpoint(bot, fake_github):
    deploy(bot, {PATH: manifest()}, 37)
    gh = bot.github
    gh.open_pull_request(REPO, "remove-38", files={PATH: None}, number=38, user="alice")
    gh.add_review(REPO, 38, "bob", "APPROVED")
    bot.deliver("pull_request", bot.pr_event("opened", REPO, 38))  # an owner's approval of the deletion
    sha = gh.merge_pull_request(REPO, 38)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, 38)))
    drive(bot, limit=200)
    row = last(bot)
    sm, aas, _ = clients(bot)
    assert (row.kind, row.status) == ("teardown", "succeeded"), row.reason
    assert "inference component summarizer-production-ic" in row.reason
    assert sm.list_inference_components(EndpointNameEquals=ENDPOINT)["InferenceComponents"] == []
    assert not sm.list_endpoints()["Endpoints"]
    assert not aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]


# --- the contract's smoke test, sent to the component (InvokeEndpoint InferenceComponentName) ------

_CONTRACT = (ROOT / "examples" / "realtime-contract.yaml").read_text()
CONTRACT = _CONTRACT[_CONTRACT.index("contract:\n"):_CONTRACT.index("environments:\n")]


def with_contract(month: str = "2024-09") -> str:
    text = manifest(month)
    return text.replace("environments:\n", CONTRACT + "environments:\n", 1)


def artifact(month: str) -> str:
    return f"s3://acme-models/summarizer/{month}/model.tar.gz"


def test_the_samples_reach_the_new_component_and_a_broken_contract_puts_the_old_model_back(bot, aws):
    from tests.support import sagemaker_emulator as emulator

    emulator.register_container_remote(aws, artifact("2024-09"), {"kind": "csv_rows", "value": "0.7"})
    deploy(bot, {PATH: with_contract()}, 41)
    assert last(bot).status == "succeeded", last(bot).reason
    sm, _, _ = clients(bot)
    first = sm.describe_inference_component(InferenceComponentName=COMPONENT)["Specification"]["ModelName"]
    calls = emulator.invocations_remote(aws, ENDPOINT)
    assert [c["model"] for c in calls] == [first, first]  # both samples, to the component's model

    emulator.register_container_remote(aws, artifact("2024-10"), {"kind": "csv_rows", "value": "1.7"})
    deploy(bot, {PATH: with_contract("2024-10")}, 42)
    row = last(bot)
    assert row.status == "rolled_back", (row.status, row.reason)
    assert "smoke test failed" in row.reason and "1.7 is above the output maximum 1" in row.reason
    ic = sm.describe_inference_component(InferenceComponentName=COMPONENT)
    assert ic["Specification"]["ModelName"] == first and ic["InferenceComponentStatus"] == "InService"
    new_calls = emulator.invocations_remote(aws, ENDPOINT)[len(calls):]
    assert new_calls and all(c["model"] != first for c in new_calls)


# --- a shared endpoint: the translator's component beside the summarizer's ----------------------

SHARED_CONFIG = ROOT / "tests" / "fixtures" / "deploy-shared.yaml"
TRANSLATOR = "models/translator/modelbot.yaml"
JOINER = JOINER_OF_CORE.replace("owners: [carol]", "owners: [bob]")  # bob approves each PR


@pytest.fixture
def shared_bot(aws, bot_env, store, queue, fake_github):
    return harness_with(SHARED_CONFIG, bot_env, store, queue, fake_github)


def components(sm) -> dict[str, dict]:
    return {c["InferenceComponentName"]: sm.describe_inference_component(InferenceComponentName=c["InferenceComponentName"])
            for c in sm.list_inference_components(EndpointNameEquals=ENDPOINT)["InferenceComponents"]}


def test_components_of_two_manifests_share_the_endpoint_each_owning_its_own(shared_bot):
    bot = shared_bot
    deploy(bot, {PATH: manifest()}, 51)
    assert last(bot).status == "succeeded", last(bot).reason
    sm, _, _ = clients(bot)
    endpoint_tags = {t["Key"]: t["Value"] for t in sm.list_tags(
        ResourceArn=sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointArn"])["Tags"]}

    deploy(bot, {TRANSLATOR: JOINER}, 52)
    row = last(bot)
    assert (row.manifest_path, row.status) == (TRANSLATOR, "succeeded"), row.reason
    found = components(sm)
    assert sorted(found) == [COMPONENT, "translator-production-ic"]
    assert all(c["InferenceComponentStatus"] == "InService" for c in found.values())
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(
        ResourceArn=found["translator-production-ic"]["InferenceComponentArn"])["Tags"]}
    assert tags["modelbot:manifest"] == TRANSLATOR and tags["modelbot:model"] == "translator"
    # the endpoint stays its host's: its tags are untouched by the joiner
    assert {t["Key"]: t["Value"] for t in sm.list_tags(
        ResourceArn=sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointArn"])["Tags"]} == endpoint_tags
    owner = bot.store.endpoint_owner("production", f"{ENDPOINT}/translator-production-ic")
    assert owner.manifest_path == TRANSLATOR
    assert bot.store.endpoint_owner("production", ENDPOINT).manifest_path == PATH

    # the host rolls a new model out beside the joiner's component
    deploy(bot, {PATH: manifest("2024-10")}, 53)
    assert last(bot).status == "succeeded", last(bot).reason
    assert components(sm)["translator-production-ic"]["InferenceComponentStatus"] == "InService"

    # another listed manifest may not take the translator's component over
    thief = JOINER.replace("metadata: {name: translator, owners: [bob]}", "metadata: {name: thief, owners: [bob]}") \
        .replace("      shared_endpoint: true\n", "      shared_endpoint: true\n      name: translator-production-ic\n")
    deploy(bot, {"models/translator/thief/modelbot.yaml": thief}, 54)
    row = last(bot)
    assert row.status == "refused", (row.status, row.reason)
    assert "inference component translator-production-ic on summarizer-production" in row.reason
    assert "belongs to models/translator/modelbot.yaml" in row.reason

    # a manifest the policy does not list may not join at all
    rogue = JOINER.replace("metadata: {name: translator, owners: [bob]}", "metadata: {name: rogue, owners: [bob]}")
    deploy(bot, {"models/rogue/modelbot.yaml": rogue}, 55)
    row = last(bot)
    assert row.status == "refused" and "may not place components on the shared endpoint" in row.reason
    assert sorted(components(sm)) == [COMPONENT, "translator-production-ic"]

    # the joiner leaves: its component goes, the endpoint and the host's component stay
    gh = bot.github
    gh.open_pull_request(REPO, "remove-56", files={TRANSLATOR: None}, number=56, user="alice")
    gh.add_review(REPO, 56, "bob", "APPROVED")
    sha = gh.merge_pull_request(REPO, 56)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, 56)))
    drive(bot, limit=200)
    row = last(bot)
    assert (row.kind, row.status) == ("teardown", "succeeded"), row.reason
    assert "left the shared endpoint summarizer-production" in row.reason
    assert sorted(components(sm)) == [COMPONENT]
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"
    assert bot.store.endpoint_owner("production", f"{ENDPOINT}/translator-production-ic") is None


def test_a_joiner_is_refused_where_the_policy_shares_nothing(bot):
    deploy(bot, {PATH: manifest()}, 57)
    deploy(bot, {TRANSLATOR: JOINER}, 58)
    row = last(bot)
    assert row.status == "refused" and "is not a shared endpoint in production" in row.reason
    sm, _, _ = clients(bot)
    assert sorted(components(sm)) == [COMPONENT]


def test_a_fleet_change_updates_the_endpoint_and_leaves_the_component_serving(bot):
    deploy(bot, {PATH: manifest()}, 61)
    sm, _, _ = clients(bot)
    before = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    model = sm.describe_inference_component(InferenceComponentName=COMPONENT)["Specification"]["ModelName"]
    deploy(bot, {PATH: manifest().replace("max_instance_count: 2", "max_instance_count: 3")}, 62)
    row = last(bot)
    assert row.status == "succeeded", row.reason
    after = sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    assert after != before
    config = sm.describe_endpoint_config(EndpointConfigName=after)
    assert config["ProductionVariants"][0]["ManagedInstanceScaling"]["MaxInstanceCount"] == 3
    ic = sm.describe_inference_component(InferenceComponentName=COMPONENT)
    assert ic["Specification"]["ModelName"] == model and ic["InferenceComponentStatus"] == "InService"
    assert before not in [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
