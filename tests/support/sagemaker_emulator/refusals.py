"""What UpdateEndpoint and CreateEndpointConfig refuse, and when guardrails fall back.

DeploymentConfig validation (botocore ranges, CapacitySize bounds), the serverless guardrail
refusal, the guardrail "Exclusions" fallback, MaximumExecutionTimeoutInSeconds, the Serverless
Inference feature exclusions, instance -> serverless switches and changes to auto-scaled
variants. Each rule names the AWS page or botocore field it follows.
"""

from __future__ import annotations

from typing import Any

from .common import _validation
from .state import _Deployment, _Fleet, _Variant


def _range(value: Any, low: int, high: int, where: str) -> None:
    if value is None:
        return
    if not low <= int(value) <= high:
        raise _validation(
            f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy "
            f"constraint: Member must have value between {low} and {high}"
        )


def _check_size(size: dict | None, v: _Variant, *, what: str, low_pct: float, high_pct: float) -> None:
    """CapacitySize bounds from botocore: CanarySize "must be less than or equal to 50% of the
    variant's total instance count", LinearStepSize "must be 10-50%", RollingUpdatePolicy
    MaximumBatchSize "between 5% to 50%". Message wording is the emulator's."""
    if not size:
        return
    kind = size.get("Type")
    value = int(size.get("Value", 0))
    if kind not in ("INSTANCE_COUNT", "CAPACITY_PERCENT"):
        raise _validation(f"Invalid {what} type '{kind}'.")
    if kind == "CAPACITY_PERCENT":
        if not low_pct <= value <= high_pct:
            raise _validation(
                f"{what} of {value}% for variant '{v.name}' is invalid: it must be between "
                f"{low_pct:g}% and {high_pct:g}% of the variant's total instance count."
            )
        return
    if v.count is None:
        raise _validation(
            f"{what} of type INSTANCE_COUNT is not supported for serverless variant '{v.name}'; "
            "use CAPACITY_PERCENT."
        )
    pct = 100.0 * value / v.count
    if not low_pct <= pct <= high_pct:
        raise _validation(
            f"{what} of {value} instance(s) for variant '{v.name}' is {pct:g}% of the variant's "
            f"total instance count of {v.count}; it must be between {low_pct:g}% and "
            f"{high_pct:g}%."
        )


def _validate_deployment_config(config: dict, live: _Fleet | None, green: _Fleet) -> None:
    blue_green = config.get("BlueGreenUpdatePolicy")
    rolling = config.get("RollingUpdatePolicy")
    if blue_green and rolling:
        raise _validation(
            "Only one update policy can be specified in DeploymentConfig: "
            "BlueGreenUpdatePolicy or RollingUpdatePolicy."
        )
    # Guide, deployment guardrails "Exclusions": "When doing a blue/green or rolling
    # deployment, your new endpoint configuration must have the same variant name as the old
    # endpoint configuration." Assumption: refused at UpdateEndpoint as a ValidationException.
    old_names = sorted(v.name for v in (live.variants if live else []))
    new_names = sorted(v.name for v in green.variants)
    if old_names != new_names:
        raise _validation(
            "When DeploymentConfig is specified, the new endpoint configuration "
            f"'{green.config_name}' must have the same production variant names as the current "
            f"endpoint configuration: expected {old_names}, got {new_names}."
        )
    # botocore AlarmList: min 1, max 10. BlueGreenUpdatePolicy: "Only one update policy should
    # be used in the deployment configuration" (assumption: both at once is refused).
    rollback = config.get("AutoRollbackConfiguration") or {}
    alarms = rollback.get("Alarms")
    if alarms is not None and not 1 <= len(alarms) <= 10:
        raise _validation(
            "1 validation error detected: Value at "
            "'deploymentConfig.autoRollbackConfiguration.alarms' failed to satisfy constraint: "
            "Member must have length between 1 and 10"
        )
    if blue_green:
        routing = blue_green.get("TrafficRoutingConfiguration") or {}
        kind = routing.get("Type")
        where = "deploymentConfig.blueGreenUpdatePolicy"
        if kind not in ("ALL_AT_ONCE", "CANARY", "LINEAR"):
            raise _validation(
                f"1 validation error detected: Value '{kind}' at "
                f"'{where}.trafficRoutingConfiguration.type' failed to satisfy constraint: "
                "Member must satisfy enum value set: [ALL_AT_ONCE, CANARY, LINEAR]"
            )
        _range(routing.get("WaitIntervalInSeconds"), 0, 3600,
               f"{where}.trafficRoutingConfiguration.waitIntervalInSeconds")
        _range(blue_green.get("TerminationWaitInSeconds"), 0, 3600,
               f"{where}.terminationWaitInSeconds")
        _range(blue_green.get("MaximumExecutionTimeoutInSeconds"), 600, 28800,
               f"{where}.maximumExecutionTimeoutInSeconds")
        if kind == "CANARY":
            if not routing.get("CanarySize"):
                raise _validation("CanarySize must be specified for CANARY traffic routing.")
            for v in green.variants:
                _check_size(routing["CanarySize"], v, what="CanarySize", low_pct=0, high_pct=50)
        if kind == "LINEAR":
            if not routing.get("LinearStepSize"):
                raise _validation("LinearStepSize must be specified for LINEAR traffic routing.")
            for v in green.variants:
                _check_size(routing["LinearStepSize"], v, what="LinearStepSize", low_pct=10,
                            high_pct=50)
    if rolling:
        # Multi-variant endpoints are a rolling-deployment exclusion: they fall back (see
        # _guardrail_fallback), so the batch size is only checked against a single variant.
        # Serverless endpoints never get here (_refuse_serverless_guardrails).
        where = "deploymentConfig.rollingUpdatePolicy"
        _range(rolling.get("WaitIntervalInSeconds"), 0, 3600, f"{where}.waitIntervalInSeconds")
        _range(rolling.get("MaximumExecutionTimeoutInSeconds"), 600, 28800,
               f"{where}.maximumExecutionTimeoutInSeconds")
        if len(green.variants) == 1:
            _check_size(rolling.get("MaximumBatchSize"), green.variants[0],
                        what="MaximumBatchSize", low_pct=5, high_pct=50)


# Deployment guardrails page, note: "Deployment guardrails only apply to Asynchronous inference
# and Real-time inference endpoint types." Serverless endpoints are neither, so a DeploymentConfig
# (blue/green, rolling, or only AutoRollbackConfiguration) is refused when the current or the
# new endpoint configuration has a serverless variant. Assumption: AWS refuses the request
# rather than ignoring the DeploymentConfig (the page does not say which); refusing means a
# serverless "canary" cannot pass silently as if it had baked.
GUARDRAILS_SERVERLESS_MESSAGE = (
    "Deployment guardrails only apply to Asynchronous inference and Real-time inference "
    "endpoint types; endpoint configuration '{config}' has serverless variant(s) {variants}, "
    "so UpdateEndpoint cannot take a DeploymentConfig."
)


def _refuse_serverless_guardrails(config: dict | None, live: _Fleet | None, green: _Fleet) -> None:
    if not config:
        return
    for fleet in (live, green):
        if fleet is None:
            continue
        names = [v.name for v in fleet.variants + fleet.shadows if v.serverless]
        if names:
            raise _validation(GUARDRAILS_SERVERLESS_MESSAGE.format(config=fleet.config_name,
                                                                   variants=names))


def _is_marketplace_container(backend: Any, container: dict) -> bool:
    """A container from an AWS Marketplace model package.

    Assumption: a ModelPackageName that is an ARN of another account, or one that names
    aws-marketplace, is a Marketplace package (Marketplace packages are published from AWS
    Marketplace seller accounts); a package of the caller's own account is a Model Registry
    package. AWS documents no field that says "Marketplace" on a model.
    """
    package = container.get("ModelPackageName") or ""
    if not package:
        return False
    if "aws-marketplace" in package:
        return True
    parts = package.split(":")
    return package.startswith("arn:") and len(parts) > 4 and parts[4] != backend.account_id


def _model_containers(backend: Any, model_name: str | None) -> list[dict]:
    model = backend._models.get(model_name) if model_name else None
    if model is None:
        return []
    return [c for c in [model.primary_container] + list(model.containers or []) if c]


def _guardrail_fallback(backend: Any, config: dict | None, live: _Fleet | None,
                        green: _Fleet) -> str | None:
    """Why deployment guardrails fall back to all-at-once without a final bake, or None.

    Developer Guide, deployment guardrails "Exclusions": endpoints that use Marketplace
    containers or Inf1 (Inferentia-based) instances "will fall back to using a blue/green
    deployment with all at once traffic shifting and no final baking period"; for rolling
    deployments serverless and multi-variant endpoints are further exclusions (serverless is
    refused earlier, see _refuse_serverless_guardrails). The fallback is silent: UpdateEndpoint
    succeeds, the phases show no canary, no linear steps, no bake and no alarm monitoring
    (auto-rollback is part of the guardrails that "you cannot use").
    """
    if not config:
        return None
    fleets = [f for f in (live, green) if f is not None]
    for fleet in fleets:
        for v in fleet.variants + fleet.shadows:
            if (v.instance_type or "").startswith("ml.inf1."):
                return f"variant '{v.name}' uses Inf1 instance type {v.instance_type}"
            if any(_is_marketplace_container(backend, c) for c in _model_containers(backend, v.model)):
                return f"variant '{v.name}' uses a Marketplace container (model '{v.model}')"
    if config.get("RollingUpdatePolicy") and any(len(f.variants) > 1 for f in fleets):
        return "rolling deployments do not support multi-variant endpoints"
    return None


def _execution_timeout(dep: "_Deployment", config: dict | None) -> None:
    """Arm MaximumExecutionTimeoutInSeconds (BlueGreenUpdatePolicy / RollingUpdatePolicy).

    botocore: RollingUpdatePolicy "Exceeding this limit causes a timeout"; BlueGreenUpdatePolicy
    "the timeout value should be larger than the total waiting time specified in
    TerminationWaitInSeconds and WaitIntervalInSeconds". Assumption: a timed-out deployment
    rolls back like a tripped alarm (RollingBack, then InService on the old configuration with
    FailureReason), and the time counted is the documented waiting time only (the bakes), since
    AWS documents no duration for provisioning or traffic shifts. So the deployment times out
    in the bake during which the waits reach the timeout: that phase is shown, then (next
    describe tick, or in clock mode once the remaining seconds of the timeout have passed) the
    deployment rolls back.
    """
    policy = (config or {}).get("BlueGreenUpdatePolicy") or (config or {}).get("RollingUpdatePolicy")
    limit = (policy or {}).get("MaximumExecutionTimeoutInSeconds")
    if limit is None:
        return
    limit = float(limit)
    waited = 0.0
    for index, phase in enumerate(dep.phases):
        if phase.green_stage != "Baking":
            continue
        if waited + phase.seconds >= limit:
            dep.timeout_index = index
            dep.timeout_left = max(0.0, limit - waited)
            dep.timeout_reason = (
                f"Deployment rolled back: it exceeded MaximumExecutionTimeoutInSeconds "
                f"({int(limit)}s) during {phase.label}. All traffic was returned to the previous "
                "endpoint configuration.")
            return
        waited += phase.seconds


# Serverless Inference page, "Feature exclusions": "Some of the features currently available for
# SageMaker AI Real-time Inference are not supported for Serverless Inference, including GPUs,
# AWS marketplace model packages, private Docker registries, Multi-Model Endpoints, VPC
# configuration, network isolation, data capture, multiple production variants, Model Monitor,
# and inference pipelines." Assumption: the refusal comes at CreateEndpointConfig (the first
# call that sees both the serverless variant and its model), as a ValidationException.
def _refuse_serverless_exclusions(backend: Any, params: dict) -> None:
    production = params.get("ProductionVariants") or []
    serverless = [pv for pv in production if pv.get("ServerlessConfig")]
    if not serverless:
        return
    names = [pv.get("VariantName") for pv in serverless]

    def refuse(feature: str) -> None:
        raise _validation(
            f"Serverless Inference does not support {feature} (serverless variant(s) {names}).")

    if len(production) > 1:
        refuse("multiple production variants")
    if params.get("ShadowProductionVariants"):
        refuse("shadow production variants (multiple production variants)")
    if params.get("DataCaptureConfig"):
        refuse("data capture (DataCaptureConfig)")
    if params.get("VpcConfig"):
        refuse("VPC configuration (VpcConfig)")
    if params.get("EnableNetworkIsolation"):
        refuse("network isolation (EnableNetworkIsolation)")
    for pv in serverless:
        model = backend._models.get(pv.get("ModelName"))
        if model is None:
            continue
        containers = _model_containers(backend, pv.get("ModelName"))
        if model.vpc_config:
            refuse(f"VPC configuration (model '{model.model_name}' has VpcConfig)")
        if getattr(model, "enable_network_isolation", False):
            refuse(f"network isolation (model '{model.model_name}')")
        if len(model.containers or []) > 1:
            refuse(f"inference pipelines (model '{model.model_name}' has several containers)")
        for c in containers:
            if c.get("Mode") == "MultiModel":
                refuse(f"Multi-Model Endpoints (model '{model.model_name}' Mode MultiModel)")
            if c.get("ModelPackageName") and _is_marketplace_container(backend, c):
                refuse(f"AWS marketplace model packages (model '{model.model_name}')")
            if (c.get("ImageConfig") or {}).get("RepositoryAccessMode") == "Vpc":
                refuse(f"private Docker registries (model '{model.model_name}' "
                       "ImageConfig.RepositoryAccessMode Vpc)")


def _refuse_mode_switch(live: _Fleet | None, green: _Fleet) -> None:
    """Serverless Inference page: "you cannot convert your instance-based, real-time endpoint to
    a serverless endpoint. If you try to update your real-time endpoint to serverless, you
    receive a ValidationError message. You can convert a serverless endpoint to real-time, but
    once you make the update, you cannot roll it back to serverless." So instance -> serverless
    is refused and serverless -> instance is allowed (after which the endpoint is instance-based
    and the first rule applies). Adding or removing AsyncInferenceConfig on a live endpoint is
    not refused: AWS documents no such refusal ("Update an Asynchronous Endpoint" describes
    UpdateEndpoint like any other update).
    """
    if live is None:
        return
    instance_based = [v.name for v in live.variants if not v.serverless]
    to_serverless = [v.name for v in green.variants if v.serverless]
    if instance_based and to_serverless:
        raise _validation(
            f"Cannot update an instance-based endpoint to a serverless endpoint configuration: "
            f"endpoint configuration '{green.config_name}' has serverless variant(s) "
            f"{to_serverless} and the endpoint runs instance-based variant(s) {instance_based}.")


def _refuse_autoscaled_changes(backend: Any, endpoint_name: str, live: _Fleet | None,
                               green: _Fleet) -> None:
    """Developer Guide, "Update endpoints that use auto scaling": "If the update would change the
    instance type for any model that is a target for auto scaling, the update fails ... If you
    are trying to update the endpoint by calling the UpdateEndpoint API, the call fails"; the
    steps to deregister first are needed when "changing the instance type of a production
    variant that has auto scaling configured" or "removing a production variant that has auto
    scaling configured". Changing the model is the documented exception and is allowed.
    Registered targets are read from moto's applicationautoscaling backend (same account and
    region). The message wording is the emulator's (AWS documents none).
    """
    if live is None:
        return
    from tests.support import aas_cloudwatch_emulator

    targets = aas_cloudwatch_emulator.scalable_variant_targets(
        backend.account_id, backend.region_name, endpoint_name)
    for variant in live.variants:
        if variant.name not in targets:
            continue
        resource = f"endpoint/{endpoint_name}/variant/{variant.name}"
        new = next((v for v in green.variants if v.name == variant.name), None)
        if new is None:
            raise _validation(
                f"The variant '{variant.name}' is registered for automatic scaling ({resource}, "
                f"sagemaker:variant:DesiredInstanceCount) and endpoint configuration "
                f"'{green.config_name}' removes it. Deregister the scalable target "
                "(DeregisterScalableTarget) before updating the endpoint.")
        if new.instance_type != variant.instance_type:
            raise _validation(
                f"The variant '{variant.name}' is registered for automatic scaling ({resource}, "
                f"sagemaker:variant:DesiredInstanceCount) and endpoint configuration "
                f"'{green.config_name}' changes its instance type from {variant.instance_type} "
                f"to {new.instance_type or 'serverless'}. Deregister the scalable target "
                "(DeregisterScalableTarget) before updating the endpoint.")
