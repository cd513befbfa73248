"""Put a plan's resources into moto the way the deploy adapter will (see bot/core/plan/):
models tagged with `modelbot:digest` = VariantPlan.model_digest, the endpoint config with
Plan.config_digest, every resource with Plan.tags, autoscaling as the manifest asks."""

from __future__ import annotations

from typing import Any

from bot.core.plan import DeploySpec, Plan

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/test:1"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def deploy(sm: Any, aas: Any, spec: DeploySpec, plan: Plan) -> None:
    """Create what a first deploy of `plan` creates and wait until the endpoint is InService."""
    assert plan.kind == "create", plan.kind
    tags = dict(plan.tags)
    rows = []
    for v in plan.variants:
        sm.create_model(ModelName=v.model_name, ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://models/m.tar.gz"},
                        Tags=tag_list({**tags, "modelbot:digest": v.model_digest or ""}))
        row: dict[str, Any] = {"VariantName": v.name, "ModelName": v.model_name,
                               "InitialVariantWeight": v.weight}
        if v.serverless_memory_mb:
            row["ServerlessConfig"] = {"MemorySizeInMB": v.serverless_memory_mb,
                                       "MaxConcurrency": v.serverless_max_concurrency}
        else:
            row.update(InstanceType=v.instance_type, InitialInstanceCount=v.instance_count)
        rows.append(row)
    sm.create_endpoint_config(EndpointConfigName=plan.names.endpoint_config, ProductionVariants=rows,
                              Tags=tag_list({**tags, "modelbot:digest": plan.config_digest or ""}))
    sm.create_endpoint(EndpointName=plan.names.endpoint, EndpointConfigName=plan.names.endpoint_config,
                       Tags=tag_list(tags))
    sm.get_waiter("endpoint_in_service").wait(EndpointName=plan.names.endpoint,
                                              WaiterConfig={"Delay": 0, "MaxAttempts": 20})
    a = spec.env.autoscaling
    if a is not None:
        resource = f"endpoint/{plan.names.endpoint}/variant/{plan.variants[0].name}"
        aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource,
                                     ScalableDimension=DIMENSION, MinCapacity=a.min_capacity,
                                     MaxCapacity=a.max_capacity)
        aas.put_scaling_policy(
            PolicyName="modelbot-target-tracking", ServiceNamespace="sagemaker", ResourceId=resource,
            ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(a.target_invocations_per_instance),
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
