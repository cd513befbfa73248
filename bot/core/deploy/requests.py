"""The exact boto3 requests of a deploy, built from the manifest environment and its plan. Pure.

`build_requests(spec, plan, ctx, execution_role_arn=..., image=...)` returns `DeployRequests`:
CreateModel for each new model (PrimaryContainer with Image/ModelDataUrl/Environment/Mode
SingleModel|MultiModel, or Containers [{ModelPackageName}] for a registry package),
CreateEndpointConfig (ProductionVariants on instances or ServerlessConfig,
ShadowProductionVariants, AsyncInferenceConfig, DataCaptureConfig), CreateEndpoint or
UpdateEndpoint (DeploymentConfig: BlueGreenUpdatePolicy ALL_AT_ONCE|CANARY|LINEAR or
RollingUpdatePolicy, AutoRollbackConfiguration), the application-autoscaling and CloudWatch
requests, and CreateTransformJob for batch. Every resource is tagged (`bot.core.deploy.tags`), and
the tags are checked before anything is built.

A/B and shadow rollouts end on a third endpoint config, the "promoted" one: the production
variant name of the manifest serving the candidate's model alone. Its content is what
`bot.core.plan.plan` would plan for the same manifest once the candidate is live, so planning again
after a promotion gives "no changes".

A multi-model environment also gets `artifact_copy`: the S3 CopyObject that puts the
candidate's artifact under the endpoint's prefix at a deterministic key,
`<prefix><metadata.name>-<model digest 12>.tar.gz` (`multi_model_target`); that key, relative
to the prefix, is what callers pass as `TargetModel`. The executor copies before the endpoint
step that serves it (`bot.adapters.aws.executor.copy_artifact`).

Not here: resolving a framework's container image (an adapter over the sagemaker SDK, an
optional extra; pass the resolved `image`), and checking that a registry package is Approved
(the executor's `model_package_approved`). A teardown has its own requests
(`bot.adapters.aws.teardown.build_teardown`). All dicts are JSON-serialisable, so a deployment can
persist its requests (`DeployRequests.to_dict`) and resume after a crash without planning again.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from bot.core.experiment import bake
from bot.core.contract import encode_payload
from bot.core.manifest.aws_limits import guardrails_excluded
from bot.core.plan import DeploySpec, LiveState, Plan, VariantPlan, bounded_name, config_digest, model_digest
from bot.core.deploy import component, scaling
from bot.core.deploy.tags import DeployContext, resource_tags, tag_list

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
TARGET_TRACKING_POLICY = "modelbot-target-tracking"
BACKLOG_STEP_POLICY = "modelbot-backlog-without-capacity"
_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_SPLIT = {"none": "None", "line": "Line", "recordio": "RecordIO", "tfrecord": "TFRecord"}
_BATCH_STRATEGY = {"multi_record": "MultiRecord", "single_record": "SingleRecord"}
_SIZE_TYPE = {"capacity_percent": "CAPACITY_PERCENT", "instance_count": "INSTANCE_COUNT"}


@dataclass(frozen=True)
class AutoscalingRequests:
    """What to apply once the endpoint serves the deploy's config (register/put are upserts).

    `backlog_alarm` lacks AlarmActions: the executor adds the ARN PutScalingPolicy returns for
    `step_policy`. `deregister` removes scalable targets the manifest no longer asks for.
    """

    register: dict | None = None
    target_tracking: dict | None = None
    step_policy: dict | None = None
    backlog_alarm: dict | None = None
    deregister: tuple[dict, ...] = ()


@dataclass(frozen=True)
class DeployRequests:
    """Every boto3 request of one deploy, by purpose. Names are deterministic, so executing
    them again after a crash finds what already exists."""

    endpoint: str | None
    target_config: str | None
    models: tuple[dict, ...] = ()
    endpoint_configs: tuple[dict, ...] = ()
    create_endpoint: dict | None = None
    update_endpoint: dict | None = None
    promoted_config: str | None = None
    endpoint_tags: tuple[dict, ...] = ()
    deregister_before_update: tuple[dict, ...] = ()
    autoscaling: AutoscalingRequests = field(default_factory=AutoscalingRequests)
    # config name -> DeregisterScalableTarget requests to make before moving to it (AWS fails
    # an update that removes an autoscaled variant or changes its instance type)
    deregister_before: Mapping[str, tuple[dict, ...]] = field(default_factory=dict)
    # configs whose UpdateEndpoint keeps the autoscaled instance counts (RetainAllVariantProperties)
    retain_counts: tuple[str, ...] = ()
    # what was autoscaled when the deploy was planned: registered again on any other ending
    restore_autoscaling: tuple[dict, ...] = ()
    transform_job: dict | None = None
    model_package_arn: str | None = None
    artifact_copy: dict | None = None
    # the contract's smoke test after the deploy (`smoke_request`); None: no samples, or a mode
    # the samples are not sent to (asynchronous, batch)
    smoke: dict | None = None
    # mode inference_component (`bot.core.deploy.component`): the component's name and the
    # CreateInferenceComponent / UpdateInferenceComponent / UpdateInferenceComponentRuntimeConfig
    # request of this deploy (at most one), and the tags an update sets on the component
    component_name: str | None = None
    create_component: dict | None = None
    update_component: dict | None = None
    component_copies: dict | None = None
    component_tags: tuple[dict, ...] = ()
    rollback_component: dict | None = None  # UpdateInferenceComponent back to the live specification
    manages_endpoint: bool = True  # False: a component on a shared endpoint (the endpoint's tags are its host's)
    # the operational judge of a SageMaker-driven update (`bot.core.experiment.bake`): PutMetricAlarm
    # of its rollback alarm, put before the UpdateEndpoint that names it
    judge_alarm: dict | None = None

    def endpoint_config(self, name: str) -> dict | None:
        """The CreateEndpointConfig request of config `name`, if this deploy creates it."""
        return next((r for r in self.endpoint_configs if r["EndpointConfigName"] == name), None)

    def update_to(self, config: str) -> dict:
        """UpdateEndpoint to `config`: the planned request (with its DeploymentConfig) for the
        target config, a plain all-at-once update for any other (promotion, rollback)."""
        if config == self.target_config and self.update_endpoint is not None:
            request = dict(self.update_endpoint)
        else:
            request = {"EndpointName": self.endpoint, "EndpointConfigName": config}
        if config in self.retain_counts:
            request["RetainAllVariantProperties"] = True
            request["ExcludeRetainedVariantProperties"] = [
                {"VariantPropertyType": p} for p in scaling.NOT_RETAINED]
        return request

    def deregister_for(self, config: str) -> tuple[dict, ...]:
        """The scalable targets to deregister before UpdateEndpoint to `config`."""
        if config in self.deregister_before:
            return tuple(self.deregister_before[config])
        return self.deregister_before_update if config == self.target_config else ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for the store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DeployRequests":
        values = dict(data)
        auto = dict(values.get("autoscaling") or {})
        auto["deregister"] = tuple(auto.get("deregister") or ())
        values["autoscaling"] = AutoscalingRequests(**auto)
        for f in fields(cls):
            if f.name in ("models", "endpoint_configs", "endpoint_tags", "deregister_before_update",
                          "retain_counts", "restore_autoscaling", "component_tags"):
                values[f.name] = tuple(values.get(f.name) or ())
        values["deregister_before"] = {k: tuple(v) for k, v in
                                       (values.get("deregister_before") or {}).items()}
        return cls(**values)


# --- building blocks ------------------------------------------------------------------------------


def two_models(plan: Plan) -> bool:
    """Whether the plan runs the candidate beside the live model (A/B or shadow)."""
    return any(v.role in ("candidate", "shadow") for v in plan.variants)


def promoted_config_name(plan: Plan) -> str:
    """Name of the config an A/B or shadow rollout ends on when the candidate is promoted."""
    return bounded_name(plan.names.endpoint_config, "promoted")


def promoted_variant(spec: DeploySpec, plan: Plan) -> VariantPlan:
    """The candidate alone, under the manifest's production variant name, with all traffic."""
    cand = next(v for v in plan.variants if v.role in ("candidate", "shadow"))
    return VariantPlan(name=spec.env.variant_name, model_name=cand.model_name, role="production",
                       instance_type=cand.instance_type, instance_count=cand.instance_count,
                       weight=1.0, serverless_memory_mb=cand.serverless_memory_mb,
                       serverless_max_concurrency=cand.serverless_max_concurrency,
                       model_digest=cand.model_digest, new_model=False)


def _target_config(plan: Plan) -> str | None:
    return next((a.name for a in plan.actions if a.resource == "endpoint_config" and a.verb == "create"),
                None)


def _has_action(plan: Plan, verb: str, resource: str) -> bool:
    return any(a.verb == verb and a.resource == resource for a in plan.actions)


def create_model_request(spec: DeploySpec, model_name: str, digest: str | None, ctx: DeployContext,
                         *, execution_role_arn: str, image: str | None = None) -> dict:
    """CreateModel for the manifest's model source under `model_name`."""
    m, e = spec.manifest, spec.env
    environment = dict(m.model.environment)
    request: dict[str, Any] = {"ModelName": model_name, "ExecutionRoleArn": execution_role_arn}
    if m.model.registry is not None:
        container: dict[str, Any] = {"ModelPackageName": m.model.registry.model_package_arn}
        if environment:
            container["Environment"] = environment
        request["Containers"] = [container]
    else:
        if m.model.artifact is not None:
            img, uri = m.model.artifact.image, m.model.artifact.uri
        else:
            assert m.model.framework is not None
            if not image:
                f = m.model.framework
                raise ValueError(f"the {f.name} {f.version} framework image must be resolved "
                                 "before building the CreateModel request (pass image=...)")
            img, uri = image, m.model.framework.uri
        container = {"Image": img,
                     "ModelDataUrl": e.multi_model.prefix if e.multi_model else uri,
                     "Mode": "MultiModel" if e.multi_model else "SingleModel"}
        if environment:
            container["Environment"] = environment
        request["PrimaryContainer"] = container
    request["Tags"] = tag_list(resource_tags(spec, ctx, digest))
    return request


def _variant_row(v: VariantPlan, spec: DeploySpec) -> dict:
    row: dict[str, Any] = {"VariantName": v.name, "ModelName": v.model_name,
                           "InitialVariantWeight": float(v.weight)}
    if v.serverless_memory_mb:
        serverless: dict[str, Any] = {"MemorySizeInMB": v.serverless_memory_mb,
                                      "MaxConcurrency": v.serverless_max_concurrency}
        provisioned = spec.env.serverless.provisioned_concurrency if spec.env.serverless else None
        if provisioned:
            serverless["ProvisionedConcurrency"] = provisioned
        row["ServerlessConfig"] = serverless
    else:
        row["InstanceType"] = v.instance_type
        row["InitialInstanceCount"] = v.instance_count
    return row


def data_capture_config(spec: DeploySpec) -> dict | None:
    """DataCaptureConfig, or None: also for serverless, which excludes data capture (SageMaker
    Developer Guide: Serverless Inference > Feature exclusions; the validator refuses it)."""
    c = spec.env.data_capture
    if c is None or spec.env.mode == "serverless":
        return None
    out: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": c.sampling_percentage,
        "DestinationS3Uri": c.destination,
        "CaptureOptions": [{"CaptureMode": mode.capitalize()} for mode in c.capture],
    }
    header = {}
    if c.csv_content_types:
        header["CsvContentTypes"] = list(c.csv_content_types)
    if c.json_content_types:
        header["JsonContentTypes"] = list(c.json_content_types)
    if header:
        out["CaptureContentTypeHeader"] = header
    return out


def async_inference_config(spec: DeploySpec) -> dict | None:
    a = spec.env.async_
    if a is None:
        return None
    output: dict[str, Any] = {"S3OutputPath": a.output_path}
    if a.failure_path:
        output["S3FailurePath"] = a.failure_path
    notify = {}
    if a.success_topic:
        notify["SuccessTopic"] = a.success_topic
    if a.error_topic:
        notify["ErrorTopic"] = a.error_topic
    if notify:
        output["NotificationConfig"] = notify
    out: dict[str, Any] = {"OutputConfig": output}
    if a.max_concurrent_invocations_per_instance:
        out["ClientConfig"] = {"MaxConcurrentInvocationsPerInstance":
                               a.max_concurrent_invocations_per_instance}
    return out


def create_endpoint_config_request(spec: DeploySpec, name: str, variants: tuple[VariantPlan, ...],
                                   digest: str | None, ctx: DeployContext) -> dict:
    """CreateEndpointConfig `name` with `variants` (shadow ones as ShadowProductionVariants)."""
    request: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [_variant_row(v, spec) for v in variants if not v.shadow],
    }
    shadows = [_variant_row(v, spec) for v in variants if v.shadow]
    if shadows:
        request["ShadowProductionVariants"] = shadows
    capture = data_capture_config(spec)
    if capture:
        request["DataCaptureConfig"] = capture
    async_config = async_inference_config(spec)
    if async_config:
        request["AsyncInferenceConfig"] = async_config
    request["Tags"] = tag_list(resource_tags(spec, ctx, digest))
    return request


def _size(size) -> dict:
    return {"Type": _SIZE_TYPE[size.type], "Value": size.value}


def deployment_config(spec: DeploySpec, plan: Plan) -> dict | None:
    """The DeploymentConfig of UpdateEndpoint for the plan's strategy, or None when the update
    is not guarded: A/B and shadow (modelbot drives them), `all_at_once`, blue/green without
    alarms or bake times (SageMaker's default all-at-once, which may also rename variants), and
    wherever SageMaker's deployment guardrails do not apply (serverless, Inf1, Marketplace
    containers; SageMaker Developer Guide: Deployment guardrails > Exclusions): a plain
    UpdateEndpoint there, never a policy AWS would ignore or refuse."""
    if two_models(plan):
        return None
    e = spec.env
    s = e.effective_strategy
    registry = spec.manifest.model.registry
    if s.type == "all_at_once" or guardrails_excluded(
            mode=e.mode, instance_type=e.instance_type,
            marketplace=bool(registry is not None and registry.marketplace)):
        return None
    alarms = list(plan.rollback_alarms)
    out: dict[str, Any] = {}
    if s.type == "rolling":
        assert s.max_batch_size is not None
        policy: dict[str, Any] = {"MaximumBatchSize": _size(s.max_batch_size),
                                  "WaitIntervalInSeconds": s.wait_interval_seconds or 0}
        if s.max_execution_timeout_seconds:
            policy["MaximumExecutionTimeoutInSeconds"] = s.max_execution_timeout_seconds
        if s.rollback_max_batch_size:
            policy["RollbackMaximumBatchSize"] = _size(s.rollback_max_batch_size)
        out["RollingUpdatePolicy"] = policy
    elif s.type in ("canary", "linear") or alarms or s.termination_wait_seconds \
            or s.max_execution_timeout_seconds:
        kind = {"canary": "CANARY", "linear": "LINEAR"}.get(s.type, "ALL_AT_ONCE")
        routing: dict[str, Any] = {"Type": kind, "WaitIntervalInSeconds": s.wait_interval_seconds or 0}
        if s.type == "canary":
            assert s.canary_size is not None
            routing["CanarySize"] = _size(s.canary_size)
        if s.type == "linear":
            assert s.linear_step is not None
            routing["LinearStepSize"] = _size(s.linear_step)
        policy = {"TrafficRoutingConfiguration": routing}
        if s.termination_wait_seconds is not None:
            policy["TerminationWaitInSeconds"] = s.termination_wait_seconds
        if s.max_execution_timeout_seconds:
            policy["MaximumExecutionTimeoutInSeconds"] = s.max_execution_timeout_seconds
        out["BlueGreenUpdatePolicy"] = policy
    else:
        return None
    if alarms:
        out["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return out


def update_endpoint_request(spec: DeploySpec, plan: Plan, config: str) -> dict:
    request: dict[str, Any] = {"EndpointName": plan.names.endpoint, "EndpointConfigName": config}
    deployment = deployment_config(spec, plan)
    if deployment:
        request["DeploymentConfig"] = deployment
    return request


def weights_request(endpoint: str, weights: Mapping[str, float]) -> dict:
    """UpdateEndpointWeightsAndCapacities: new weights only (instance counts stay)."""
    return {"EndpointName": endpoint,
            "DesiredWeightsAndCapacities": [{"VariantName": name, "DesiredWeight": float(w)}
                                            for name, w in sorted(weights.items())]}


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an S3 object URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def multi_model_target(spec: DeploySpec, plan: Plan) -> str | None:
    """The key, relative to the multi-model prefix, the candidate's artifact is copied to (what
    invocations pass as `TargetModel`), or None when the environment is not multi-model."""
    e, m = spec.env, spec.manifest
    if e.multi_model is None or m.model.registry is not None or plan.names.endpoint is None:
        return None
    cand = next((v for v in plan.variants if v.role in ("candidate", "shadow")), None) or (
        plan.variants[0] if plan.variants else None)
    digest = (cand.model_digest if cand and cand.model_digest else model_digest(m, spec.environment))
    return f"{m.metadata.name}-{digest[:12]}.tar.gz"


def artifact_copy_request(spec: DeploySpec, plan: Plan) -> dict | None:
    """Where the candidate's artifact goes under the multi-model prefix: {"Source": s3 URI,
    "Bucket", "Key", "TargetModel"} (the executor turns it into HeadObject/CopyObject)."""
    target = multi_model_target(spec, plan)
    if target is None:
        return None
    source_of = spec.manifest.model.artifact or spec.manifest.model.framework
    assert source_of is not None and spec.env.multi_model is not None
    prefix = spec.env.multi_model.prefix
    bucket, key_prefix = split_s3_uri(prefix if prefix.endswith("/") else prefix + "/")
    split_s3_uri(source_of.uri)  # a malformed source stops the build, not the rollout
    return {"Source": source_of.uri, "Bucket": bucket, "Key": key_prefix + target,
            "TargetModel": target}


def scaling_resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def backlog_alarm_name(endpoint: str) -> str:
    """The alarm that scales an async endpoint out from zero (named as bot.core.plan names it)."""
    return bounded_name(endpoint, "backlog-no-capacity")


def autoscaling_requests(spec: DeploySpec, plan: Plan) -> AutoscalingRequests:
    """Scalable target and policies for the manifest's production variant (upserts: applied
    after every successful rollout), and targets to deregister that the plan drops."""
    e, endpoint = spec.env, plan.names.endpoint
    if endpoint is None:
        return AutoscalingRequests()
    deregister = tuple({"ServiceNamespace": "sagemaker", "ResourceId": a.name,
                        "ScalableDimension": SCALABLE_DIMENSION}
                       for a in plan.actions if a.verb == "deregister" and a.resource == "autoscaling")
    a = e.autoscaling
    if a is None:
        return AutoscalingRequests(deregister=deregister)
    resource = scaling_resource_id(endpoint, e.variant_name)
    base = {"ServiceNamespace": "sagemaker", "ResourceId": resource,
            "ScalableDimension": SCALABLE_DIMENSION}
    register = {**base, "MinCapacity": a.min_capacity, "MaxCapacity": a.max_capacity,
                "Tags": scaling.target_tags(spec.environment)}
    tracking = None
    cooldowns = {"ScaleInCooldown": a.scale_in_cooldown_seconds,
                 "ScaleOutCooldown": a.scale_out_cooldown_seconds}
    if e.mode == "async" and a.target_backlog_per_instance:
        tracking = {**base, "PolicyName": TARGET_TRACKING_POLICY, "PolicyType": "TargetTrackingScaling",
                    "TargetTrackingScalingPolicyConfiguration": {
                        "TargetValue": float(a.target_backlog_per_instance),
                        "CustomizedMetricSpecification": {
                            "MetricName": "ApproximateBacklogSizePerInstance",
                            "Namespace": "AWS/SageMaker",
                            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                            "Statistic": "Average"},
                        **cooldowns}}
    elif a.target_invocations_per_instance:
        tracking = {**base, "PolicyName": TARGET_TRACKING_POLICY, "PolicyType": "TargetTrackingScaling",
                    "TargetTrackingScalingPolicyConfiguration": {
                        "TargetValue": float(a.target_invocations_per_instance),
                        "PredefinedMetricSpecification": {
                            "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                        **cooldowns}}
    step = alarm = None
    if e.mode == "async" and a.min_capacity == 0:
        step = {**base, "PolicyName": BACKLOG_STEP_POLICY, "PolicyType": "StepScaling",
                "StepScalingPolicyConfiguration": {
                    "AdjustmentType": "ChangeInCapacity", "MetricAggregationType": "Average",
                    "Cooldown": a.scale_out_cooldown_seconds,
                    "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}}
        alarm = {"AlarmName": backlog_alarm_name(endpoint),
                 "AlarmDescription": f"modelbot: scale {endpoint} out from zero instances when "
                                     "requests wait without capacity",
                 "MetricName": "HasBacklogWithoutCapacity", "Namespace": "AWS/SageMaker",
                 "Statistic": "Average", "Period": 60, "EvaluationPeriods": 2,
                 "DatapointsToAlarm": 2, "Threshold": 1.0,
                 "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                 "TreatMissingData": "missing",
                 "Dimensions": [{"Name": "EndpointName", "Value": endpoint}]}
    return AutoscalingRequests(register, tracking, step, alarm, deregister)


def _deregister_before_update(spec: DeploySpec, plan: Plan) -> tuple[dict, ...]:
    """AWS fails an update that changes the instance type of an autoscaled variant: deregister
    those variants first (re-registered after success). Harmless where none is registered."""
    endpoint = plan.names.endpoint
    if endpoint is None or not _has_action(plan, "update", "endpoint"):
        return ()
    changed = sorted({c.what.rsplit(".", 1)[0] for c in plan.instance_changes
                      if c.what.endswith(".instance_type")})
    return tuple({"ServiceNamespace": "sagemaker", "ResourceId": scaling_resource_id(endpoint, v),
                  "ScalableDimension": SCALABLE_DIMENSION} for v in changed)


def transform_job_request(spec: DeploySpec, plan: Plan, ctx: DeployContext) -> dict:
    """CreateTransformJob for a batch environment (job names are single-use)."""
    b, e = spec.env.batch, spec.env
    assert b is not None and plan.names.transform_job is not None
    source: dict[str, Any] = {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": b.input_uri}}
    transform_input: dict[str, Any] = {"DataSource": source, "SplitType": _SPLIT[b.split_type],
                                       "CompressionType": "None"}
    if b.content_type:
        transform_input["ContentType"] = b.content_type
    output: dict[str, Any] = {"S3OutputPath": b.output_uri,
                              "AssembleWith": "Line" if b.assemble_with == "line" else "None"}
    if b.accept:
        output["Accept"] = b.accept
    request: dict[str, Any] = {
        "TransformJobName": plan.names.transform_job,
        "ModelName": plan.variants[0].model_name,
        "TransformInput": transform_input,
        "TransformOutput": output,
        "TransformResources": {"InstanceType": e.instance_type, "InstanceCount": e.fleet},
    }
    if b.split_type != "none":  # "To enable the batch strategy, you must set the SplitType"
        request["BatchStrategy"] = _BATCH_STRATEGY[b.batch_strategy]
    if b.max_payload_mb is not None:
        request["MaxPayloadInMB"] = b.max_payload_mb
    if b.max_concurrent_transforms is not None:
        request["MaxConcurrentTransforms"] = b.max_concurrent_transforms
    processing: dict[str, Any] = {}
    if b.input_filter:
        processing["InputFilter"] = b.input_filter
    if b.output_filter:
        processing["OutputFilter"] = b.output_filter
    if b.join_source == "input":
        processing["JoinSource"] = "Input"
    if processing:
        processing.setdefault("JoinSource", "None")
        request["DataProcessing"] = processing
    request["Tags"] = tag_list(resource_tags(spec, ctx))
    return request


# --- the whole deploy -----------------------------------------------------------------------------


SMOKE_MODES = ("realtime", "serverless", "multi_model", "inference_component")  # InvokeEndpoint; async reads S3, batch has no endpoint


def smoke_request(spec: DeploySpec, plan: Plan, samples: list[dict] | None) -> dict | None:
    """What the smoke test after a deploy sends: the contract's payloads (encoded as the input
    contract says), to the candidate variant of an A/B test (`TargetVariant`, at weight 0 until
    they pass) or the endpoint's only model, with `TargetModel` on a multi-model endpoint.
    None without samples, in a mode they are not sent to, or for a plan without a new config."""
    c = spec.manifest.contract
    if c is None or not samples or spec.env.mode not in SMOKE_MODES or plan.kind not in ("create", "update"):
        return None
    if _target_config(plan) is None and (plan.component is None or plan.component.verb is None):
        return None
    cand = next((v for v in plan.variants if v.role == "candidate"), None)
    return {"payloads": [dict(p) for p in samples],
            "bodies": [encode_payload(c.input, p).decode("utf-8") for p in samples],
            "content_type": c.input.content_type, "accept": c.output.accept,
            "contract": c.model_dump(mode="json"),
            "target_variant": cand.name if cand is not None else None,
            "target_model": multi_model_target(spec, plan),
            "inference_component": plan.component.name if plan.component is not None else None}


def build_requests(spec: DeploySpec, plan: Plan, ctx: DeployContext, *, execution_role_arn: str,
                   image: str | None = None, live: LiveState | None = None,
                   samples: list[dict] | None = None) -> DeployRequests:
    """Every request of deploying `plan`. `image`: the resolved framework image (framework
    sources only). `live`: what the plan was made against (its autoscaling is kept through
    the rollout, `bot.core.deploy.scaling`). Raises ValueError for a blocked plan, a teardown, a
    missing role or image, and TagError when the tags break AWS's rules."""
    if plan.blocked:
        raise ValueError(f"the plan for {plan.environment} is blocked: "
                         + "; ".join(p.message for p in plan.problems if p.is_error))
    if plan.kind == "teardown":
        raise ValueError("a teardown is not a deploy: its requests come from "
                         "bot.adapters.aws.teardown.build_teardown")
    if not _ROLE_RE.match(execution_role_arn or ""):
        raise ValueError(f"not an IAM role ARN for SageMaker to run the model as: {execution_role_arn!r}")
    if spec.commit.lower() != ctx.commit.lower():
        raise ValueError(f"the deploy context is for commit {ctx.commit}, the spec for {spec.commit}")

    registry = spec.manifest.model.registry
    models = tuple(create_model_request(spec, v.model_name, v.model_digest, ctx,
                                        execution_role_arn=execution_role_arn, image=image)
                   for v in _unique_new_models(plan.variants))
    common = {"model_package_arn": registry.model_package_arn if registry else None}
    if plan.kind == "run_batch":
        return DeployRequests(endpoint=None, target_config=None, models=models,
                              transform_job=transform_job_request(spec, plan, ctx), **common)

    endpoint = plan.names.endpoint
    assert endpoint is not None
    if plan.component is not None:
        return _component_deploy(spec, plan, ctx, models, execution_role_arn, samples, common, live)
    endpoint_tags = tuple(tag_list(resource_tags(spec, ctx)))
    target = _target_config(plan)
    configs = []
    smoke = smoke_request(spec, plan, samples)
    if target is not None:
        configs.append(create_endpoint_config_request(spec, target, plan.variants,
                                                      plan.config_digest, ctx))
        if smoke is not None and smoke["target_variant"]:
            # The candidate takes no traffic until its samples pass (InitialVariantWeight may be
            # 0: botocore ProductionVariant.InitialVariantWeight, "Minimum value of 0");
            # TargetVariant reaches it regardless of weight (InvokeEndpoint API).
            for row in configs[0]["ProductionVariants"]:
                if row["VariantName"] == smoke["target_variant"]:
                    row["InitialVariantWeight"] = 0.0
    promoted = None
    if target is not None and two_models(plan):
        promoted = promoted_config_name(plan)
        v = promoted_variant(spec, plan)
        configs.append(create_endpoint_config_request(spec, promoted, (v,),
                                                      config_digest((v,), spec.env), ctx))
    create = update = None
    if _has_action(plan, "create", "endpoint"):
        create = {"EndpointName": endpoint, "EndpointConfigName": target,
                  "Tags": list(endpoint_tags)}
    elif _has_action(plan, "update", "endpoint") and target is not None:
        update = update_endpoint_request(spec, plan, target)
    kept = _kept_scaling(spec, live, endpoint, configs, target, promoted) if create is None else {}
    return DeployRequests(endpoint=endpoint, target_config=target, models=models,
                          endpoint_configs=tuple(configs), create_endpoint=create,
                          update_endpoint=update, promoted_config=promoted,
                          endpoint_tags=endpoint_tags,
                          deregister_before_update=_deregister_before_update(spec, plan),
                          autoscaling=autoscaling_requests(spec, plan),
                          artifact_copy=artifact_copy_request(spec, plan), smoke=smoke,
                          judge_alarm=_judge_alarm(plan, endpoint, update), **kept, **common)


def _judge_alarm(plan: Plan, endpoint: str, update: dict | None) -> dict | None:
    """The judge's alarm when the planned update rolls back on it (see `bake`)."""
    name = bake.alarm_name(endpoint)
    if update is None or name not in plan.rollback_alarms:
        return None
    named = ((update.get("DeploymentConfig") or {}).get("AutoRollbackConfiguration") or {}).get("Alarms") or ()
    return bake.alarm_request(endpoint) if any(a["AlarmName"] == name for a in named) else None


def _kept_scaling(spec: DeploySpec, live: LiveState | None, endpoint: str, configs: list[dict],
                  target: str | None, promoted: str | None) -> dict[str, Any]:
    """Autoscaling through the rollout (`bot.core.deploy.scaling`): what to deregister before each
    update, where to retain instance counts, the raised counts of re-created variants, and
    what to register again if the rollout ends otherwise than in success."""
    if live is None or not live.endpoint_exists:
        return {}
    variants = live.production_variants
    a = spec.env.autoscaling
    before: dict[str, tuple[dict, ...]] = {}
    retain = []
    for config in configs:
        name = config["EndpointConfigName"]
        if name not in (target, promoted):
            continue
        gone = scaling.conflicts(endpoint, variants, config)
        before[name] = gone
        if a is not None and scaling.retain_counts(variants, config, gone):
            retain.append(name)  # without autoscaling in the manifest, its count is the count
        by_name = {v.name: v for v in variants}
        dropped = [v for v in variants if any(d["ResourceId"] == scaling.resource_id(endpoint, v.name)
                                              for d in gone)]
        for row in config.get("ProductionVariants") or ():
            if "InitialInstanceCount" not in row or a is None:  # no autoscaling: the count is the count
                continue
            old = by_name.get(row["VariantName"])
            if old is None and len(dropped) == 1 and len(config["ProductionVariants"]) == 1:
                old = dropped[0]  # the variant renamed: the new name takes over its load
            if old is None or old not in dropped:
                continue
            row["InitialInstanceCount"] = scaling.raised_count(
                row["InitialInstanceCount"], old.instance_count, a.max_capacity)
    if live.endpoint_config_name and any(v.autoscaling is not None for v in variants):
        # A rollback (or abort) moves back to the live config: keep the counts autoscaling
        # reached rather than that config's initial ones, in the middle of an alarm.
        retain.append(live.endpoint_config_name)
    return {"deregister_before": before, "retain_counts": tuple(retain),
            "restore_autoscaling": scaling.restore_entries(endpoint, variants, spec.environment)}


def _unique_new_models(variants: tuple[VariantPlan, ...]) -> list[VariantPlan]:
    seen: set[str] = set()
    out = []
    for v in variants:
        if v.new_model and v.model_name not in seen:
            seen.add(v.model_name)
            out.append(v)
    return out


def _component_deploy(spec: DeploySpec, plan: Plan, ctx: DeployContext, models: tuple[dict, ...],
                      execution_role_arn: str, samples: list[dict] | None,
                      common: dict[str, Any], live: LiveState | None) -> DeployRequests:
    """Mode inference_component: the fleet's config and endpoint, then the component."""
    endpoint = plan.names.endpoint
    target = _target_config(plan)
    configs = ()
    if target is not None:
        configs = (component.fleet_config_request(spec, target, plan.config_digest, ctx,
                                                  execution_role_arn=execution_role_arn),)
    endpoint_tags = () if spec.manifest.joins_shared_endpoint(spec.environment) else tuple(tag_list(resource_tags(spec, ctx)))
    create = update = None
    if _has_action(plan, "create", "endpoint"):
        create = {"EndpointName": endpoint, "EndpointConfigName": target, "Tags": list(endpoint_tags)}
    elif _has_action(plan, "update", "endpoint") and target is not None:
        update = {"EndpointName": endpoint, "EndpointConfigName": target}
    auto = component.component_autoscaling(spec, plan)
    lc = live.component(plan.component.name) if live is not None and live.endpoint_exists and plan.component else None
    rollback = None
    if lc is not None and lc.specification:
        rollback = {"InferenceComponentName": lc.name, "Specification": dict(lc.specification)}
        if lc.copies is not None:
            rollback["RuntimeConfig"] = {"CopyCount": lc.copies}
    joins = spec.manifest.joins_shared_endpoint(spec.environment)
    return DeployRequests(rollback_component=rollback, manages_endpoint=not joins, endpoint=endpoint, target_config=target, models=models, endpoint_configs=configs,
                          create_endpoint=create, update_endpoint=update, endpoint_tags=endpoint_tags,
                          autoscaling=AutoscalingRequests(register=auto.get("register"),
                                                          target_tracking=auto.get("target_tracking"),
                                                          deregister=tuple(auto.get("deregister") or ())),
                          smoke=smoke_request(spec, plan, samples),
                          **component.component_requests(spec, plan, ctx, execution_role_arn=execution_role_arn),
                          **common)
