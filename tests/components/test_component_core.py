"""Mode inference_component without AWS: the manifest's rules against the capacity table, the
plan (actions, share of the instance and cost), the boto3 requests against botocore's models,
and the pure rollout controller's decisions for the component flow."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import botocore.session
import pytest
from botocore.validate import ParamValidator

from bot.core.deploy.requests import DeployRequests, build_requests
from bot.core.deploy.rollout import Observation, decide, new_rollout, record_smoke
from bot.core.manifest import aws_limits as aws, load_manifest
from bot.core.plan import DeploySpec, LiveState, live_after, plan
from tests.deploy.helpers import COMMIT1, COMMIT2, ROLE, ROOT, context, example

PRICES = {"ml.g5.12xlarge": 7.09, "ml.m5.xlarge": 0.23}
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
_session = botocore.session.get_session()
TEXT = (ROOT / "examples" / "inference-component.yaml").read_text()


def valid(service: str, operation: str, request: dict) -> dict:
    model = _session.get_service_model(service).operation_model(operation)
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()
    return request


def problems(text: str) -> list[tuple[int, str, str]]:
    return [(p.line, p.severity, p.message) for p in load_manifest("m.yaml", text).problems]


def edited(**swaps: str) -> str:
    text = TEXT
    for old, new in swaps.items():
        old = old.replace("__", " ")
        assert old in text, old
        text = text.replace(old, new)
    return text


# --- the manifest -------------------------------------------------------------------------------


def test_example_is_valid_and_names_its_component():
    m = example("inference-component")
    assert m.component_name("production") == "summarizer-production-ic"
    assert m.endpoint_name("production") == "summarizer-production"


def test_a_copy_that_needs_more_accelerators_than_the_instance_has_is_refused_at_its_line():
    found = problems(TEXT.replace("accelerators: 1", "accelerators: 5"))
    line = TEXT.splitlines().index("        accelerators: 1") + 1
    assert [(l, s) for l, s, msg in found if "accelerator devices" in msg] == [(line, "error")]
    assert any("(it has 4)" in msg and "INSTANCE_CAPACITY" in msg for _, _, msg in found)


def test_memory_and_cpu_are_held_to_the_instance_type_too():
    assert any("MB of memory (it has 196608 MB)" in m for _, _, m in
               problems(TEXT.replace("min_memory_mb: 24576", "min_memory_mb: 300000")
                        .replace("max_memory_mb: 49152", "max_memory_mb: 400000")))
    assert any("49 CPU cores (it has 48 vCPUs)" in m for _, _, m in problems(TEXT.replace("cpu_cores: 4", "cpu_cores: 49")))


def test_more_copies_than_the_fleet_can_place_is_refused():
    # 4 copies fit on one ml.g5.12xlarge (4 GPUs); managed scaling allows 2 instances: 8 at most
    found = problems(TEXT.replace("copies: 2", "copies: 9").replace("max_capacity: 8", "max_capacity: 9"))
    assert any(s == "error" and "9 copies need 3 instance(s) (4 fit on one ml.g5.12xlarge), and the endpoint "
               "has at most 2" in m for _, s, m in found)
    assert any(s == "warning" and "copies past 8 would not be placed" in m for _, s, m in found)


def test_an_instance_type_outside_the_table_is_a_warning_that_says_so():
    found = problems(TEXT.replace("ml.g5.12xlarge", "ml.inf2.xlarge"))
    assert [s for _, s, m in found if "not in modelbot's capacity table" in m] == ["warning"]


def test_rolling_batches_count_copies_not_instances():
    found = problems(TEXT.replace("{type: copy_count, value: 1}", "{type: instance_count, value: 1}"))
    assert any("rolls out by copies, not instances" in m for _, _, m in found)
    found = problems(TEXT.replace("{type: copy_count, value: 1}", "{type: capacity_percent, value: 60}"))
    assert any("60% of the copies; AWS allows 5-50%" in m for _, _, m in found)
    found = problems(TEXT.replace("{type: copy_count, value: 1}", "{type: copy_count, value: 3}"))
    assert any("3 copies, but the component has 2" in m for _, _, m in found)
    found = problems(TEXT.replace("{type: copy_count, value: 1}", "{type: copy_count, value: 2}"))
    assert any("a rolling batch of 2 of 2 copies" in m and "5% to 50%" in m for _, _, m in found)
    many = TEXT.replace("copies: 2", "copies: 8").replace("max_capacity: 8", "max_capacity: 40")
    assert not [m for _, s, m in problems(many) if s == "error"]
    assert any("a rolling batch of 5 of 8 copies" in m for _, _, m in
               problems(many.replace("{type: copy_count, value: 1}", "{type: copy_count, value: 5}")))


def test_copy_count_sizes_belong_to_inference_components_only():
    text = (ROOT / "examples" / "realtime-rolling.yaml").read_text().replace(
        "{type: instance_count, value: 2}", "{type: copy_count, value: 2}")
    assert any("copy_count sizes count inference component copies" in m for _, _, m in problems(text))


def test_copy_autoscaling_needs_its_own_target_and_no_instance_target():
    found = problems(TEXT.replace("target_invocations_per_copy: 5", "target_invocations_per_instance: 5"))
    assert any("needs a target for SageMakerInferenceComponentInvocationsPerCopy" in m for _, _, m in found)
    assert any("scales copies, not instances" in m for _, _, m in found)
    realtime = (ROOT / "examples" / "realtime-canary.yaml").read_text()
    if "target_invocations_per_instance" in realtime:
        found = problems(realtime.replace("target_invocations_per_instance", "target_invocations_per_copy"))
        assert any("copies scale only in mode inference_component" in m for _, _, m in found)


def test_the_section_is_required_and_only_for_its_mode():
    found = problems(TEXT.replace("mode: inference_component", "mode: realtime"))
    assert any("`inference_component:` only applies to mode inference_component" in m for _, _, m in found)
    start = TEXT.index("    inference_component:")
    end = TEXT.index("    autoscaling:")
    found = problems(TEXT[:start] + TEXT[end:])
    assert any("mode inference_component needs a `inference_component:` section" in m for _, _, m in found)


def test_managed_instance_scaling_bounds():
    found = problems(TEXT.replace("{min_instance_count: 1, max_instance_count: 2}",
                                  "{min_instance_count: 3, max_instance_count: 2}"))
    assert any("max_instance_count 2 is below min_instance_count 3" in m for _, _, m in found)


def test_capacity_table_names_its_source_and_counts_copies_by_the_scarcest_resource():
    assert "Amazon EC2" in aws.CAPACITY_TABLE_SOURCE
    g5 = aws.INSTANCE_CAPACITY["ml.g5.12xlarge"]
    assert (g5.vcpus, g5.memory_mb, g5.accelerators) == (48, 192 * 1024, 4)
    assert aws.copies_per_instance(g5, cpu_cores=4, accelerators=1, memory_mb=24576) == 4
    assert aws.copies_per_instance(g5, cpu_cores=20, accelerators=1, memory_mb=1024) == 2
    assert aws.copies_per_instance(g5, cpu_cores=None, accelerators=None, memory_mb=100000) == 1
    for itype in aws.INSTANCE_CAPACITY:  # every type the table knows is one SageMaker endpoints take
        assert aws.instance_type_problem(itype, aws.ENDPOINT_INSTANCE_SHAPE) is None, itype


# --- the plan -------------------------------------------------------------------------------------


def first_plan():
    spec = DeploySpec(example("inference-component"), "production", COMMIT1)
    return spec, plan(spec, LiveState(), PRICES)


def test_first_plan_creates_fleet_endpoint_component_and_copy_autoscaling():
    _, p = first_plan()
    assert p.kind == "create" and not p.problems
    assert [(a.verb, a.resource) for a in p.actions] == [
        ("create", "model"), ("create", "endpoint_config"), ("create", "endpoint"),
        ("create", "inference_component"), ("register", "autoscaling")]
    assert p.actions[-1].name == "inference-component/summarizer-production-ic"
    assert "sagemaker:inference-component:DesiredCopyCount" in p.actions[-1].detail
    assert p.headline.startswith("create endpoint summarizer-production")


def test_cost_shows_the_share_the_endpoint_and_what_a_dedicated_endpoint_would_cost():
    _, p = first_plan()
    assert p.cost.after_per_hour == pytest.approx(7.09)
    assert p.cost.max_per_hour == pytest.approx(14.18)  # managed scaling up to 2 instances
    share, dedicated = p.cost.notes[0], p.cost.notes[1]
    assert "2 copies x 25% of an ml.g5.12xlarge = $3.545/hour of the endpoint's $7.09/hour" in share
    assert "4 copies fit on one instance" in share
    assert "$14.18/hour" in dedicated and "saves $10.635/hour" in dedicated
    assert p.component.share == 0.25 and p.component.per_instance == 4


def test_planning_again_after_the_deploy_shows_no_changes():
    spec, p = first_plan()
    again = plan(spec, live_after(p, spec), PRICES)
    assert again.kind == "no_changes", again.actions


def test_a_new_model_updates_the_component_only_by_rolling_copies():
    spec, p = first_plan()
    live = live_after(p, spec)
    spec2 = DeploySpec(example("inference-component", {"2024-09/": "2024-10/"}), "production", COMMIT2)
    p2 = plan(spec2, live, PRICES)
    assert p2.kind == "update"
    assert [(a.verb, a.resource) for a in p2.actions] == [("create", "model"), ("update", "inference_component")]
    assert "rolling, batches of 1 copies; rolled back by SageMaker on summarizer-errors" in p2.actions[1].detail
    assert [s.candidate_percent for s in p2.traffic_steps] == [50.0, 100.0]
    assert p2.headline == "update inference component summarizer-production-ic on summarizer-production by rolling"


def test_a_fleet_change_creates_a_config_and_updates_the_endpoint_not_the_component():
    spec, p = first_plan()
    live = live_after(p, spec)
    spec2 = DeploySpec(example("inference-component", {"max_instance_count: 2": "max_instance_count: 3"}),
                       "production", COMMIT2)
    p2 = plan(spec2, live, PRICES)
    assert [(a.verb, a.resource) for a in p2.actions] == [("create", "endpoint_config"), ("update", "endpoint")]


def test_copies_alone_change_the_runtime_config_without_autoscaling():
    text = TEXT.replace("""    autoscaling:
      min_capacity: 1
      max_capacity: 8
      target_invocations_per_copy: 5
""", "")
    m1 = load_manifest("m.yaml", text).manifest
    spec = DeploySpec(m1, "production", COMMIT1)
    live = live_after(plan(spec, LiveState(), PRICES), spec)
    m2 = load_manifest("m.yaml", text.replace("copies: 2", "copies: 3")).manifest
    p2 = plan(DeploySpec(m2, "production", COMMIT2), live, PRICES)
    assert [(a.verb, a.resource) for a in p2.actions] == [("update", "inference_component_copies")]


def test_autoscaled_copies_are_kept_through_an_update():
    spec, p = first_plan()
    live = live_after(p, spec)
    live = replace(live, components=(replace(live.components[0], copies=6),))
    spec2 = DeploySpec(example("inference-component", {"2024-09/": "2024-10/"}), "production", COMMIT2)
    p2 = plan(spec2, live, PRICES)
    r = build_requests(spec2, p2, context(COMMIT2), execution_role_arn=ROLE, live=live)
    assert r.update_component["RuntimeConfig"] == {"CopyCount": 6}
    assert any("autoscaling keeps 6 copies" in n for n in p2.notes)


def test_an_endpoint_serving_a_model_directly_cannot_host_a_component():
    spec, p = first_plan()
    live = live_after(p, spec)
    direct = plan(spec, replace(live, hosts_components=False, components=()), PRICES)
    assert direct.blocked and any("serves a model directly" in x.message for x in direct.problems)


def test_a_failed_component_blocks_and_a_busy_one_waits():
    spec, p = first_plan()
    live = live_after(p, spec)
    failed = replace(live, components=(replace(live.components[0], status="Failed", failure_reason="OOM"),))
    assert plan(spec, failed, PRICES).blocked
    busy = replace(live, components=(replace(live.components[0], status="Updating"),))
    found = plan(spec, busy, PRICES).problems
    assert found and all(x.severity == "warning" for x in found)


# --- the requests ---------------------------------------------------------------------------------


def test_requests_match_botocore_and_carry_provenance_tags():
    spec, p = first_plan()
    r = build_requests(spec, p, context(), execution_role_arn=ROLE)
    [config] = r.endpoint_configs
    valid("sagemaker", "CreateEndpointConfig", config)
    assert "ModelName" not in config["ProductionVariants"][0]
    assert config["ExecutionRoleArn"] == ROLE
    assert config["ProductionVariants"][0]["ManagedInstanceScaling"] == {
        "Status": "ENABLED", "MinInstanceCount": 1, "MaxInstanceCount": 2}
    valid("sagemaker", "CreateEndpoint", r.create_endpoint)
    create = valid("sagemaker", "CreateInferenceComponent", r.create_component)
    assert create["Specification"]["ComputeResourceRequirements"] == {
        "MinMemoryRequiredInMb": 24576, "MaxMemoryRequiredInMb": 49152, "NumberOfCpuCoresRequired": 4.0,
        "NumberOfAcceleratorDevicesRequired": 1.0}
    assert create["Specification"]["StartupParameters"] == {
        "ModelDataDownloadTimeoutInSeconds": 900, "ContainerStartupHealthCheckTimeoutInSeconds": 900}
    assert create["RuntimeConfig"] == {"CopyCount": 2}
    tags = {t["Key"]: t["Value"] for t in create["Tags"]}
    assert tags["modelbot:build-id"] == "build-42" and tags["modelbot:commit"] == COMMIT1
    assert tags["modelbot:data-version"] == "2024-06-01" and tags["modelbot:digest"] == p.component.digest
    valid("application-autoscaling", "RegisterScalableTarget", r.autoscaling.register)
    tracking = valid("application-autoscaling", "PutScalingPolicy", r.autoscaling.target_tracking)
    assert tracking["ScalableDimension"] == "sagemaker:inference-component:DesiredCopyCount"
    assert tracking["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"}
    assert DeployRequests.from_dict(r.to_dict()) == r


def test_update_request_has_the_rolling_policy_and_alarm_rollback_and_a_way_back():
    spec, p = first_plan()
    live = live_after(p, spec)
    previous = {"ModelName": p.component.model_name,
                "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 24576}}
    live = replace(live, components=(replace(live.components[0], specification=previous),))
    spec2 = DeploySpec(example("inference-component", {"2024-09/": "2024-10/"}), "production", COMMIT2)
    p2 = plan(spec2, live, PRICES)
    r = build_requests(spec2, p2, context(COMMIT2), execution_role_arn=ROLE, live=live)
    update = valid("sagemaker", "UpdateInferenceComponent", r.update_component)
    assert update["DeploymentConfig"] == {
        "RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1},
                                "WaitIntervalInSeconds": 300, "MaximumExecutionTimeoutInSeconds": 3600},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "summarizer-errors"}]}}
    assert update["Specification"]["ModelName"] == p2.component.model_name != p.component.model_name
    back = valid("sagemaker", "UpdateInferenceComponent", r.rollback_component)
    assert back["Specification"] == previous
    assert r.models and r.create_component is None and not r.endpoint_configs


# --- the rollout controller -----------------------------------------------------------------------


def _ep(config: str, status: str = "InService", **kw) -> Observation:
    return Observation(exists=True, status=status, config_name=config, **kw)


def test_first_deploy_creates_the_endpoint_then_places_the_component():
    spec, p = first_plan()
    s = new_rollout("1", spec, p, LiveState(), T0)
    assert s.flow == "component" and s.component == "summarizer-production-ic" and s.component_step == "create"
    d = decide(s, Observation(exists=False), T0)
    assert d.action == "create_endpoint" and d.state.phase == "fleet"
    d = decide(d.state, _ep(s.target_config, "Creating"), T0)
    assert d.action in ("wait", "report")
    d = decide(d.state, _ep(s.target_config), T0)
    assert d.action == "place_component" and d.state.phase == "placing"
    d = decide(d.state, _ep(s.target_config, component_status="Creating"), T0)
    assert d.action in ("wait", "report")
    d = decide(d.state, _ep(s.target_config, component_status="InService", component_model=s.candidate_model), T0)
    assert d.action == "succeed" and d.state.phase == "succeeded"
    assert "inference component summarizer-production-ic" in d.progress.text


def _update_state(smoke: bool = False):
    spec, p = first_plan()
    live = live_after(p, spec)
    spec2 = DeploySpec(example("inference-component", {"2024-09/": "2024-10/"}), "production", COMMIT2)
    p2 = plan(spec2, live, PRICES)
    s = new_rollout("2", spec2, p2, live, T0, smoke=smoke)
    return s, live


def test_an_update_rolled_back_by_sagemaker_ends_rolled_back_with_its_reason():
    s, live = _update_state()
    old = live.components[0].model_name
    cfg = s.target_config
    d = decide(s, _ep(cfg, component_status="InService", component_model=old), T0)
    assert d.action == "place_component" and d.state.component_step == "update"
    d = decide(d.state, _ep(cfg, component_status="Updating", component_model=old), T0)
    d = decide(d.state, _ep(cfg, component_status="InService", component_model=old,
                           component_failure="alarm summarizer-errors in ALARM"), T0)
    assert d.action == "fail" and d.state.phase == "rolled_back"
    assert "alarm summarizer-errors in ALARM" in d.reason


def test_an_update_that_lands_succeeds_and_cleans_up_the_old_model():
    s, live = _update_state()
    old = live.components[0].model_name
    d = decide(s, _ep(s.target_config, component_status="InService", component_model=old), T0)
    d = decide(d.state, _ep(s.target_config, component_status="Updating", component_model=old), T0)
    d = decide(d.state, _ep(s.target_config, component_status="InService", component_model=s.candidate_model), T0)
    assert d.action == "succeed"
    assert d.cleanup.models == (old,) and d.cleanup.endpoint_configs == ()


def test_a_missing_rollback_alarm_stops_an_update_before_it_starts():
    s, live = _update_state()
    d = decide(s, _ep(s.target_config, component_status="InService", component_model=live.components[0].model_name,
                      alarms={"summarizer-errors": "MISSING"}), T0)
    assert d.action == "fail" and "does not exist" in d.reason


def test_a_broken_smoke_test_puts_the_previous_specification_back():
    s, live = _update_state(smoke=True)
    old = live.components[0].model_name
    d = decide(s, _ep(s.target_config, component_status="InService", component_model=old), T0)
    d = decide(d.state, _ep(s.target_config, component_status="Updating", component_model=old), T0)
    d = decide(d.state, _ep(s.target_config, component_status="InService", component_model=s.candidate_model), T0)
    assert d.action == "smoke"
    st = record_smoke(d.state, ["sample 1: output is not a number"])
    d = decide(st, _ep(s.target_config, component_status="InService", component_model=s.candidate_model), T0)
    assert d.action == "rollback_component" and d.state.phase == "rolling_back"
    d = decide(d.state, _ep(s.target_config, component_status="Updating", component_model=s.candidate_model), T0)
    d = decide(d.state, _ep(s.target_config, component_status="InService", component_model=old), T0)
    assert d.action == "fail" and d.state.phase == "rolled_back" and "smoke test failed" in d.reason


def test_rollback_requested_during_an_update_waits_for_it_then_goes_back():
    s, live = _update_state()
    old = live.components[0].model_name
    d = decide(s, _ep(s.target_config, component_status="InService", component_model=old), T0)
    d = decide(replace(d.state, requested="rollback"),
               _ep(s.target_config, component_status="Updating", component_model=old), T0)
    assert d.action in ("wait", "report") and "rolls back once the update has finished" in d.progress.text
    d = decide(d.state, _ep(s.target_config, component_status="InService", component_model=s.candidate_model), T0)
    assert d.action == "rollback_component"


def test_a_failed_component_fails_the_deployment_with_aws_reason():
    spec, p = first_plan()
    s = new_rollout("1", spec, p, LiveState(), T0)
    d = decide(s, Observation(exists=False), T0)
    d = decide(d.state, _ep(s.target_config), T0)
    d = decide(d.state, _ep(s.target_config, component_status="Failed",
                           component_failure="not enough capacity to place 2 copies"), T0)
    assert d.action == "fail" and "not enough capacity" in d.reason


def test_policy_instance_bounds_apply_to_instances_not_to_copies():
    from bot.core.policy import PolicyConfig, check_policy

    policy = PolicyConfig.model_validate({"environments": {"production": {"min_instance_count": 1,
                                                                          "max_instance_count": 1}}})
    found = check_policy(example("inference-component"), policy, "production",
                         now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    messages = [p.message for p in found]
    assert messages == ["max_instance_count 2 is above the maximum for production"], messages


# --- shared endpoints: several manifests' components, as the server policy allows ------------------

JOINER = """apiVersion: modelbot/v1
kind: ModelDeployment
metadata: {name: translator, owners: [carol]}
model:
  artifact:
    uri: s3://acme-models/translator/v3/model.tar.gz
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/translator:3.0.0
provenance: {data_version: "para-2024-09", build_id: "b-9"}
environments:
  production:
    mode: inference_component
    endpoint_name: summarizer-production
    instance_type: ml.g5.12xlarge
    inference_component:
      shared_endpoint: true
      copies: 1
      compute: {accelerators: 1, cpu_cores: 4, min_memory_mb: 24576}
"""


def joiner(text: str = JOINER, path: str = "models/translator/modelbot.yaml"):
    loaded = load_manifest(path, text)
    assert loaded.manifest is not None, loaded.problems
    return loaded.manifest


def host_live():
    spec, p = first_plan()
    return live_after(p, spec)


def test_a_joiner_names_the_endpoint_and_leaves_the_fleet_to_its_host():
    assert not problems(JOINER)
    found = problems(JOINER.replace("    endpoint_name: summarizer-production\n", ""))
    assert any("needs the endpoint's name" in m for _, _, m in found)
    found = problems(JOINER.replace("    instance_type: ml.g5.12xlarge\n", "    instance_type: ml.g5.12xlarge\n"
                                    "    instance_count: 2\n"))
    assert any("`instance_count` does not apply" in m for _, _, m in found)
    m = joiner()
    assert m.joins_shared_endpoint("production")
    assert m.ownership_key("production") == "summarizer-production/translator-production-ic"


def test_policy_lets_only_the_listed_manifests_join_a_listed_endpoint():
    from bot.core.policy import PolicyConfig, check_policy

    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    none = PolicyConfig.model_validate({})
    assert [p.message for p in check_policy(joiner(), none, "production", now=now)] == [
        "endpoint summarizer-production is not a shared endpoint in production"]
    listed = PolicyConfig.model_validate({"environments": {"production": {"shared_endpoints": {
        "summarizer-production": {"repositories": ["acme/models"], "manifests": ["models/translator/**"]}}}}})
    assert check_policy(joiner(), listed, "production", now=now, repository="acme/models") == []
    elsewhere = check_policy(joiner(), listed, "production", now=now, repository="mallory/models")
    assert [p.message for p in elsewhere] == [
        "manifests of mallory/models may not place components on the shared endpoint summarizer-production"]
    other = check_policy(joiner(path="models/rogue/modelbot.yaml"), listed, "production", now=now)
    assert [p.message for p in other] == [
        "models/rogue/modelbot.yaml may not place components on the shared endpoint summarizer-production"]
    assert other[0].rule == "policy.environments.production.shared_endpoints.summarizer-production.manifests"


def test_other_components_are_allowed_only_on_an_endpoint_the_policy_shares():
    from bot.core.ownership import check_component

    live = host_live()
    other = replace(live.components[0], name="translator-production-ic")
    both = replace(live, components=live.components + (other,))
    host = example("inference-component")
    found = check_component(host, "production", path="models/summarizer/modelbot.yaml", live=both,
                            shared_endpoints={})
    assert [p.rule for p in found] == ["ownership.shared-endpoint"]
    assert "hosts other inference components (translator-production-ic)" in found[0].message
    assert check_component(host, "production", path="models/summarizer/modelbot.yaml", live=both,
                           shared_endpoints={"summarizer-production": object()}) == ()
    assert check_component(host, "production", path="models/summarizer/modelbot.yaml", live=live,
                           shared_endpoints={}) == ()


def test_a_joiner_plans_only_its_model_and_component_on_the_hosts_variant():
    live = host_live()
    live = replace(live, variants=(replace(live.variants[0], name="gpu"),))
    spec = DeploySpec(joiner(), "production", COMMIT2)
    p = plan(spec, live, PRICES)
    assert not p.blocked, p.problems
    assert [(a.verb, a.resource) for a in p.actions] == [("create", "model"), ("create", "inference_component")]
    r = build_requests(spec, p, context(COMMIT2), execution_role_arn=ROLE, live=live)
    assert r.create_component["VariantName"] == "gpu" and r.create_component["EndpointName"] == "summarizer-production"
    assert not r.endpoint_configs and r.create_endpoint is None and not r.manages_endpoint and r.endpoint_tags == ()
    assert any("of the endpoint's $7.09/hour (1 x ml.g5.12xlarge" in n for n in p.cost.notes)


def test_a_joiner_is_refused_where_the_endpoint_is_missing_differs_or_is_full():
    spec = DeploySpec(joiner(), "production", COMMIT2)
    missing = plan(spec, LiveState(), PRICES)
    assert missing.blocked and any("does not exist" in x.message for x in missing.problems)
    live = host_live()
    other_type = replace(live, variants=(replace(live.variants[0], instance_type="ml.g5.48xlarge"),))
    assert any("runs ml.g5.48xlarge" in x.message for x in plan(spec, other_type, PRICES).problems)
    # the host's 2 copies of 1 GPU each + 3 more on a 4-GPU instance, with the host's fleet at 1
    spec_live = replace(live, components=(replace(live.components[0], specification={
        "ModelName": "m", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 24576,
                                                          "NumberOfAcceleratorDevicesRequired": 1.0}}),))
    big = DeploySpec(joiner(JOINER.replace("copies: 1", "copies: 3")), "production", COMMIT2)
    full = plan(big, spec_live, PRICES)
    assert full.blocked
    assert any("accelerators: 2 used by 1 other component(s) + 3 > 4" in x.message for x in full.problems)
    assert not plan(spec, spec_live, PRICES).blocked


def test_a_joiners_teardown_removes_only_its_component_and_a_host_waits_for_the_others():
    live = host_live()
    mine = replace(live.components[0], name="translator-production-ic", model_name="translator-m", autoscaling=None)
    both = replace(live, components=live.components + (mine,))
    gone = plan(DeploySpec(joiner(), "production", COMMIT2, deleted=True), both, PRICES)
    assert [(a.verb, a.resource, a.name) for a in gone.actions] == [
        ("delete", "inference_component", "translator-production-ic"), ("delete", "model", "translator-m")]
    host_gone = plan(DeploySpec(example("inference-component"), "production", COMMIT2, deleted=True), both, PRICES)
    assert host_gone.blocked and any("still hosts other inference components" in x.message for x in host_gone.problems)


def test_a_fleet_update_not_yet_visible_is_issued_again_not_taken_for_a_rollback():
    spec, p = first_plan()
    live = live_after(p, spec)
    spec2 = DeploySpec(example("inference-component", {"max_instance_count: 2": "max_instance_count: 3"}),
                       "production", COMMIT2)
    s = new_rollout("3", spec2, plan(spec2, live, PRICES), live, T0)
    old = live.endpoint_config_name
    d = decide(s, _ep(old, component_status="InService", component_model=p.component.model_name), T0)
    assert d.action == "update_endpoint" and d.state.phase == "fleet"
    d = decide(d.state, _ep(old, component_status="InService"), T0)  # UpdateEndpoint not visible yet
    assert d.action == "update_endpoint" and d.state.attempts == 2
    d = decide(d.state, _ep(old, "Updating", pending_config=s.target_config), T0)
    assert d.action in ("wait", "report") and d.state.seen_progress
    d = decide(d.state, _ep(old, failure_reason="alarm in ALARM"), T0)
    assert d.action == "fail" and d.state.phase == "rolled_back" and "alarm in ALARM" in d.reason


def test_a_copy_count_change_succeeds_once_the_new_count_shows():
    text = TEXT.replace("""    autoscaling:
      min_capacity: 1
      max_capacity: 8
      target_invocations_per_copy: 5
""", "")
    spec = DeploySpec(load_manifest("m.yaml", text).manifest, "production", COMMIT1)
    live = live_after(plan(spec, LiveState(), PRICES), spec)
    spec2 = DeploySpec(load_manifest("m.yaml", text.replace("copies: 2", "copies: 3")).manifest, "production", COMMIT2)
    s = new_rollout("4", spec2, plan(spec2, live, PRICES), live, T0)
    model = live.components[0].model_name
    assert (s.component_step, s.target_copies) == ("copies", 3)
    d = decide(s, _ep(s.target_config, component_status="InService", component_model=model, component_copies=2), T0)
    assert d.action == "place_component"
    d = decide(d.state, _ep(s.target_config, component_status="InService", component_model=model, component_copies=2), T0)
    assert d.action == "place_component" and d.state.attempts == 2
    d = decide(d.state, _ep(s.target_config, component_status="Updating", component_model=model, component_copies=3), T0)
    d = decide(d.state, _ep(s.target_config, component_status="InService", component_model=model, component_copies=3), T0)
    assert d.action == "succeed"


def test_a_rolled_back_update_that_kept_the_model_is_not_taken_for_success():
    spec, p = first_plan()
    live = live_after(p, spec)
    spec2 = DeploySpec(example("inference-component", {"cpu_cores: 4": "cpu_cores: 6"}), "production", COMMIT2)
    p2 = plan(spec2, live, PRICES)
    s = new_rollout("5", spec2, p2, live, T0)
    model = live.components[0].model_name
    assert s.candidate_model == model and s.component_step == "update"
    later = T0 + dt.timedelta(minutes=5)
    d = decide(s, _ep(s.target_config, component_status="InService", component_model=model), T0)
    d = decide(d.state, _ep(s.target_config, component_status="Updating", component_model=model), T0)
    d = decide(d.state, _ep(s.target_config, component_status="InService", component_model=model,
                           component_failure="alarm summarizer-errors in ALARM", component_modified=later), later)
    assert d.action == "fail" and d.state.phase == "rolled_back"


def _shared_live():
    live = host_live()
    joined = replace(live.components[0], name="translator-production-ic", copies=2, specification={
        "ModelName": "t", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 24576,
                                                          "NumberOfAcceleratorDevicesRequired": 1.0}})
    return replace(live, components=live.components + (joined,))


def test_a_host_cannot_shrink_its_fleet_under_the_other_components():
    live = _shared_live()
    small = example("inference-component", {"ml.g5.12xlarge": "ml.g5.2xlarge",
                                            "min_memory_mb: 24576": "min_memory_mb: 12000",
                                            "max_memory_mb: 49152": "max_memory_mb: 16000",
                                            "cpu_cores: 4": "cpu_cores: 2"})
    p = plan(DeploySpec(small, "production", COMMIT2), live, PRICES)  # its own 2 copies fit on 2 x 1 GPU
    assert p.blocked and any("cannot hold" in x.message and "2 x ml.g5.2xlarge" in x.message for x in p.problems)


def test_a_joiner_cannot_autoscale_across_its_hosts_fleet():
    text = JOINER + "    autoscaling: {min_capacity: 1, max_capacity: 6, target_invocations_per_copy: 5}\n"
    p = plan(DeploySpec(joiner(text), "production", COMMIT2), _shared_live(), PRICES)
    assert p.blocked and any("cannot hold 6 copies" in x.message for x in p.problems)
