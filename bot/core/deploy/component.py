"""The boto3 requests of an inference-component deploy. Pure.

CreateEndpointConfig of the fleet (ProductionVariants without ModelName: InstanceType,
InitialInstanceCount, ManagedInstanceScaling, RoutingConfig; ExecutionRoleArn on the config,
as the Developer Guide's inference component examples set it), CreateInferenceComponent
(Specification: ModelName, ComputeResourceRequirements, StartupParameters; RuntimeConfig
CopyCount), UpdateInferenceComponent with its DeploymentConfig (RollingUpdatePolicy in
copies or percent of copies, AutoRollbackConfiguration; botocore
InferenceComponentDeploymentConfig), UpdateInferenceComponentRuntimeConfig for a copy count
alone, and the scalable target `inference-component/<name>` on
`sagemaker:inference-component:DesiredCopyCount` with target tracking on
SageMakerInferenceComponentInvocationsPerCopy (botocore application-autoscaling enums).
"""

from __future__ import annotations

from typing import Any

from bot.core.manifest import aws_limits as aws
from bot.core.plan import DeploySpec, Plan
from bot.core.deploy import scaling
from bot.core.deploy.tags import DeployContext, resource_tags, tag_list

_IC_SIZE = {"copy_count": "COPY_COUNT", "capacity_percent": "CAPACITY_PERCENT"}
TARGET_TRACKING_POLICY = "modelbot-target-tracking"


def component_resource_id(name: str) -> str:
    return f"inference-component/{name}"


def fleet_config_request(spec: DeploySpec, name: str, digest: str | None, ctx: DeployContext, *,
                         execution_role_arn: str) -> dict:
    e = spec.env
    ic = e.inference_component
    assert ic is not None
    row: dict[str, Any] = {"VariantName": e.variant_name, "InstanceType": e.instance_type,
                           "InitialInstanceCount": e.fleet,
                           "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}}
    m = ic.managed_instance_scaling
    if m is not None:
        row["ManagedInstanceScaling"] = {"Status": "ENABLED", "MinInstanceCount": m.min_instance_count,
                                         "MaxInstanceCount": m.max_instance_count}
    return {"EndpointConfigName": name, "ExecutionRoleArn": execution_role_arn,
            "ProductionVariants": [row], "Tags": tag_list(resource_tags(spec, ctx, digest))}


def specification(plan: Plan) -> dict:
    c = plan.component
    assert c is not None
    compute: dict[str, Any] = {"MinMemoryRequiredInMb": c.min_memory_mb}
    if c.max_memory_mb is not None:
        compute["MaxMemoryRequiredInMb"] = c.max_memory_mb
    if c.cpu_cores is not None:
        compute["NumberOfCpuCoresRequired"] = float(c.cpu_cores)
    if c.accelerators is not None:
        compute["NumberOfAcceleratorDevicesRequired"] = float(c.accelerators)
    out: dict[str, Any] = {"ModelName": c.model_name, "ComputeResourceRequirements": compute}
    startup = {}
    if c.download_timeout_seconds is not None:
        startup["ModelDataDownloadTimeoutInSeconds"] = c.download_timeout_seconds
    if c.health_check_timeout_seconds is not None:
        startup["ContainerStartupHealthCheckTimeoutInSeconds"] = c.health_check_timeout_seconds
    if startup:
        out["StartupParameters"] = startup
    return out


def component_deployment_config(spec: DeploySpec, plan: Plan) -> dict | None:
    """RollingUpdatePolicy (+ AutoRollbackConfiguration) for strategy rolling; None (SageMaker's
    default replacement, no alarm rollback) for all_at_once."""
    s = spec.env.effective_strategy
    if s.type != "rolling" or s.max_batch_size is None:
        return None
    policy: dict[str, Any] = {"MaximumBatchSize": {"Type": _IC_SIZE[s.max_batch_size.type],
                                                   "Value": s.max_batch_size.value},
                              "WaitIntervalInSeconds": s.wait_interval_seconds or 0}
    if s.max_execution_timeout_seconds:
        policy["MaximumExecutionTimeoutInSeconds"] = s.max_execution_timeout_seconds
    if s.rollback_max_batch_size is not None:
        policy["RollbackMaximumBatchSize"] = {"Type": _IC_SIZE[s.rollback_max_batch_size.type],
                                              "Value": s.rollback_max_batch_size.value}
    out: dict[str, Any] = {"RollingUpdatePolicy": policy}
    if plan.rollback_alarms:
        out["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in plan.rollback_alarms]}
    return out


def component_requests(spec: DeploySpec, plan: Plan, ctx: DeployContext, *,
                       execution_role_arn: str) -> dict[str, Any]:
    """The component part of `DeployRequests` (field name -> value)."""
    c = plan.component
    assert c is not None and plan.names.endpoint is not None
    verb = {(a.resource, a.verb) for a in plan.actions if a.name == c.name}
    tags = tag_list(resource_tags(spec, ctx, c.digest))
    out: dict[str, Any] = {"component_name": c.name}
    if ("inference_component", "create") in verb:
        out["create_component"] = {"InferenceComponentName": c.name, "EndpointName": plan.names.endpoint,
                                   "VariantName": plan.variants[0].name if plan.variants else spec.env.variant_name,
                                   "Specification": specification(plan),
                                   "RuntimeConfig": {"CopyCount": c.copies}, "Tags": tags}
    elif ("inference_component", "update") in verb:
        update: dict[str, Any] = {"InferenceComponentName": c.name, "Specification": specification(plan),
                                  "RuntimeConfig": {"CopyCount": c.copies}}
        dc = component_deployment_config(spec, plan)
        if dc is not None:
            update["DeploymentConfig"] = dc
        out["update_component"] = update
        out["component_tags"] = tags
    elif ("inference_component_copies", "update") in verb:
        out["component_copies"] = {"InferenceComponentName": c.name,
                                   "DesiredRuntimeConfig": {"CopyCount": c.copies}}
    return out


def component_autoscaling(spec: DeploySpec, plan: Plan) -> dict[str, Any]:
    """register / target_tracking / deregister for the component's copies."""
    c = plan.component
    assert c is not None
    base = {"ServiceNamespace": "sagemaker", "ResourceId": component_resource_id(c.name),
            "ScalableDimension": aws.IC_SCALABLE_DIMENSION}
    deregister = tuple(dict(base) for a in plan.actions if a.verb == "deregister" and a.resource == "autoscaling")
    a = spec.env.autoscaling
    if a is None:
        return {"deregister": deregister}
    register = {**base, "MinCapacity": a.min_capacity, "MaxCapacity": a.max_capacity,
                "Tags": scaling.target_tags(spec.environment)}
    tracking = {**base, "PolicyName": TARGET_TRACKING_POLICY, "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": float(a.target_invocations_per_copy or 1),
                    "PredefinedMetricSpecification": {"PredefinedMetricType": aws.IC_INVOCATIONS_METRIC},
                    "ScaleInCooldown": a.scale_in_cooldown_seconds,
                    "ScaleOutCooldown": a.scale_out_cooldown_seconds}}
    return {"register": register, "target_tracking": tracking, "deregister": deregister}
