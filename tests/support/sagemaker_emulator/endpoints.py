"""SageMakerResponse handlers for models, endpoint configs, endpoints, weights and tags.

Each handler is installed as a method of moto's SageMakerResponse: `self` is the response.
Also the instance type check patched onto FakeEndpointConfig, `clamp_variant_capacity` (called
by the Application Auto Scaling emulator) and the `_get_resource_from_arn` wrapper that lets
tags reach inference experiments.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from .common import (
    DELETE_SECONDS,
    _LOCK,
    PROVISION_SECONDS,
    UPDATE_SECONDS,
    _arn,
    _now,
    production_variant_instance_types,
    _settings,
    validate_tags,
    _validation,
)
from .lifecycle import _render_endpoint, _sync_fake, _tick_endpoint
from .phases import _blue_green_phases, _rolling_phases
from .refusals import (
    _execution_timeout,
    _guardrail_fallback,
    _refuse_autoscaled_changes,
    _refuse_mode_switch,
    _refuse_serverless_exclusions,
    _refuse_serverless_guardrails,
    _validate_deployment_config,
)
from .responses import _action_result, _empty_result, _original
from .state import (
    _Deployment,
    _EndpointRuntime,
    _Phase,
    _fleet_from_config,
    _remove_endpoint,
    _runtime,
    _state,
    _status,
)


def h_create_model(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("ModelName")
    with _LOCK:
        if name in backend._models:
            raise _validation(
                f'Cannot create already existing model "{_arn(backend, "model", name)}".'
            )
        validate_tags(self._get_param("Tags"))
        result = _original(self, "create_model")
        # moto drops EnableNetworkIsolation (always False); kept for the serverless exclusions.
        backend._models[name].enable_network_isolation = bool(
            self._get_param("EnableNetworkIsolation", False))
        return result


def _validate_instance_type(self: Any, instance_type: str) -> None:
    if instance_type not in production_variant_instance_types():
        raise _validation(
            f"1 validation error detected: Value '{instance_type}' at 'instanceType' failed to "
            "satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(production_variant_instance_types())}]"
        )


def h_create_endpoint_config(self: Any) -> Any:
    from moto.sagemaker.models import FakeEndpointConfig

    backend = self.sagemaker_backend
    name = self._get_param("EndpointConfigName")
    production = self._get_param("ProductionVariants") or []
    shadows = self._get_param("ShadowProductionVariants") or []
    with _LOCK:
        if name in backend.endpoint_configs:
            raise _validation(
                "Cannot create already existing endpoint configuration "
                f'"{_arn(backend, "endpoint-config", name)}".'
            )
        validate_tags(self._get_param("Tags"))
        _refuse_serverless_exclusions(backend, {
            key: self._get_param(key) for key in (
                "ProductionVariants", "ShadowProductionVariants", "DataCaptureConfig",
                "VpcConfig", "EnableNetworkIsolation")})
        # botocore CreateEndpointConfigInput.ShadowProductionVariants: "If you use this field,
        # you can only specify one variant for ProductionVariants and one variant for
        # ShadowProductionVariants." Shadow variants on serverless / asynchronous endpoints:
        # Guide, shadow tests "Exclusions" ("your request to setup shadow tests will lead to
        # validation errors"). Assumption: variant names must differ across the two lists (AWS
        # identifies variants by name in DescribeEndpoint), message wording is the emulator's.
        if shadows:
            if len(production) != 1 or len(shadows) != 1:
                raise _validation(
                    "When ShadowProductionVariants is specified, ProductionVariants and "
                    "ShadowProductionVariants must each contain exactly one variant."
                )
            if shadows[0]["VariantName"] == production[0]["VariantName"]:
                raise _validation("Variant names must be unique across ProductionVariants and "
                                  "ShadowProductionVariants.")
            if self._get_param("AsyncInferenceConfig") or any(
                pv.get("ServerlessConfig") for pv in production + shadows
            ):
                raise _validation("Shadow variants are not supported for serverless or "
                                  "asynchronous inference endpoints.")
            checker = FakeEndpointConfig.__new__(FakeEndpointConfig)
            checker.validate_production_variants(shadows)
            backend.validate_production_variants(shadows)
        names = [pv["VariantName"] for pv in production]
        if len(set(names)) != len(names):
            raise _validation("Variant names must be unique within ProductionVariants.")
        result = _original(self, "create_endpoint_config")
        cfg = backend.endpoint_configs[name]
        cfg.shadow_production_variants = copy.deepcopy(shadows) or None
        for attr, param in (
            ("execution_role_arn", "ExecutionRoleArn"),
            ("vpc_config", "VpcConfig"),
            ("enable_network_isolation", "EnableNetworkIsolation"),
            ("explainer_config", "ExplainerConfig"),
        ):
            value = self._get_param(param)
            setattr(cfg, attr, copy.deepcopy(value) if value is not None else None)
        return result


def h_describe_endpoint_config(self: Any) -> Any:
    backend = self.sagemaker_backend
    response = backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
    return _action_result({k: v for k, v in response.items() if v not in ({}, [], None)})


def h_create_endpoint(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    config_name = self._get_param("EndpointConfigName")
    with _LOCK:
        if name in backend.endpoints:
            raise _validation(
                f'Cannot create already existing endpoint "{_arn(backend, "endpoint", name)}".'
            )
        validate_tags(self._get_param("Tags"))
        result = _original(self, "create_endpoint")
        green = _fleet_from_config(backend, config_name)
        rt = _EndpointRuntime(name=name, live=None, config_name=config_name)
        deployment_config = self._get_param("DeploymentConfig")
        if deployment_config:
            rt.last_deployment_config = copy.deepcopy(deployment_config)
        ticks = int(_settings["create_ticks"])
        if ticks > 0:
            zero = {v.name: 0 for v in green.variants + green.shadows}
            rt.deployment = _Deployment(
                kind="create", green=green,
                phases=[_Phase("create", status="Creating", green_stage="Creating",
                               share={"*": 1.0}, green_up=zero, seconds=PROVISION_SECONDS)
                        for _ in range(ticks)],
            )
            rt.status = "Creating"
        else:
            rt.live = green
        _state(backend).endpoints[name] = rt
        _sync_fake(backend, rt)
        return result


def h_describe_endpoint(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    with _LOCK:
        rt = _runtime(backend, name)
        _tick_endpoint(backend, rt)
        if name not in backend.endpoints:  # a Deleting endpoint is gone after its ticks
            raise _validation(f"Could not find endpoint '{_arn(backend, 'endpoint', name)}'.")
        out = _render_endpoint(backend, rt)
        if rt.deployment is not None:
            rt.deployment.seen = True
        _sync_fake(backend, rt)
        return _action_result(out)


# DeleteEndpoint on an endpoint that is not settled. Assumption (AWS documents none of this):
# an endpoint that is Creating, Updating, SystemUpdating, RollingBack or already Deleting cannot
# be deleted (users report that an endpoint stuck in Creating can only be deleted once it is
# Failed: aws/amazon-sagemaker-examples#3432). InService, Failed, OutOfService and
# UpdateRollbackFailed endpoints can be deleted.
_DELETABLE = ("InService", "Failed", "OutOfService", "UpdateRollbackFailed")


def h_delete_endpoint(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    with _LOCK:
        rt = _runtime(backend, name)
        status = _status(rt)
        if status not in _DELETABLE:
            raise _validation(
                f'Cannot delete in-progress endpoint "{_arn(backend, "endpoint", name)}" '
                f"(EndpointStatus {status}).")
        # "Delete endpoints configured for auto scaling": Application Auto Scaling deregisters
        # the endpoint's scalable targets "without notifying you".
        from tests.support import aas_cloudwatch_emulator

        aas_cloudwatch_emulator.deregister_endpoint_targets(backend.account_id,
                                                            backend.region_name, name)
        _state(backend).forced.pop(name, None)
        ticks = int(_settings["delete_ticks"])
        if ticks <= 0:
            _remove_endpoint(backend, name)
            return _empty_result()
        # DeleteEndpoint: "SageMaker asynchronously deletes associated endpoint resources";
        # DescribeEndpoint shows Deleting (an EndpointStatus value) for `delete_ticks` describe
        # calls, then the endpoint is gone ("Could not find endpoint").
        rt.deployment = _Deployment(
            kind="delete", green=None,
            phases=[_Phase("delete", status="Deleting", blue_stage="Deleting",
                           share={"*": 0.0}, seconds=DELETE_SECONDS) for _ in range(ticks)])
        rt.last_modified = _now()
        _sync_fake(backend, rt)
        return _empty_result()


def h_update_endpoint(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    config_name = self._get_param("EndpointConfigName")
    retain_all = bool(self._get_param("RetainAllVariantProperties", False))
    excluded = {
        p.get("VariantPropertyType")
        for p in self._get_param("ExcludeRetainedVariantProperties") or []
    }
    config = self._get_param("DeploymentConfig")
    retain_config = bool(self._get_param("RetainDeploymentConfig", False))
    with _LOCK:
        rt = _runtime(backend, name)
        arn = _arn(backend, "endpoint", name)
        status = _status(rt)
        if status == "Failed":
            raise _validation(f'Cannot update failed endpoint "{arn}".')
        # UpdateEndpoint: "When SageMaker receives the request, it sets the endpoint status to
        # Updating. After updating the endpoint, it sets the status to InService." An endpoint
        # that is not settled (Creating, Updating, SystemUpdating, RollingBack, Deleting) cannot
        # be updated; the wording is the ValidationException users see from AWS. Assumption: an
        # UpdateRollbackFailed endpoint can be updated again (AWS does not say how to leave that
        # state; the emulator allows a new UpdateEndpoint).
        if status not in ("InService", "UpdateRollbackFailed"):
            raise _validation(f'Cannot update in-progress endpoint "{arn}".')
        if config_name not in backend.endpoint_configs:
            raise _validation(
                "Could not find endpoint configuration "
                f'"{_arn(backend, "endpoint-config", config_name)}".'
            )
        if not config and retain_config:
            config = copy.deepcopy(rt.last_deployment_config)
        green = _fleet_from_config(backend, config_name)
        _refuse_mode_switch(rt.live, green)
        _refuse_serverless_guardrails(config, rt.live, green)
        _refuse_autoscaled_changes(backend, name, rt.live, green)
        # RetainAllVariantProperties (UpdateEndpoint API; "Update endpoints that use auto
        # scaling", step 6): variants with the same name take the latest DesiredInstanceCount
        # (and weight) from DescribeEndpoint, "regardless of the value of the
        # InitialInstanceCount field in the new EndpointConfig"; without it (the default,
        # false) the new fleet starts at the new config's InitialInstanceCount / weight.
        # ExcludeRetainedVariantProperties names the properties taken from the new config.
        if retain_all and rt.live is not None:
            for v in green.variants + green.shadows:
                old = rt.live.variant(v.name)
                if old is None:
                    continue
                if "DesiredInstanceCount" not in excluded and old.count is not None:
                    v.count = old.count
                if "DesiredWeight" not in excluded:
                    v.weight = old.weight
            if "DataCaptureConfig" not in excluded:
                green.data_capture = copy.deepcopy(rt.live.data_capture)
        if config:
            _validate_deployment_config(config, rt.live, green)
        fallback = _guardrail_fallback(backend, config, rt.live, green)
        alarms = [
            a["AlarmName"]
            for a in ((config or {}).get("AutoRollbackConfiguration") or {}).get("Alarms") or []
        ]
        if fallback:
            phases = _blue_green_phases(green, None)  # all at once, no final bake
            alarms = []
        elif config and config.get("RollingUpdatePolicy"):
            phases = _rolling_phases(rt.live or green, green, config["RollingUpdatePolicy"])
        else:
            phases = _blue_green_phases(green, config)
        rt.deployment = _Deployment(kind="update", green=green, phases=phases, alarms=alarms,
                                    fallback=fallback)
        if not fallback:
            _execution_timeout(rt.deployment, config)
        if config:
            rt.last_deployment_config = copy.deepcopy(config)
        rt.failure_reason = None
        rt.last_modified = _now()
        _sync_fake(backend, rt)
        return _action_result({"EndpointArn": arn})


def h_update_endpoint_weights_and_capacities(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    desired = self._get_param("DesiredWeightsAndCapacities") or []
    with _LOCK:
        rt = _runtime(backend, name)
        arn = _arn(backend, "endpoint", name)
        if _status(rt) != "InService" or rt.live is None:
            raise _validation(f'Cannot update in-progress endpoint "{arn}".')
        targets: dict[str, tuple[float, int | None]] = {}
        for item in desired:
            variant_name = item.get("VariantName")
            if variant_name in targets:
                raise _validation(
                    f'The variant name "{variant_name}" was non-unique within the request.'
                )
            variant = next((v for v in rt.live.variants if v.name == variant_name), None)
            if variant is None:
                raise _validation(
                    f'The variant name(s) "{variant_name}" is/are not present within endpoint '
                    f'configuration "{rt.live.config_name}".'
                )
            weight = item.get("DesiredWeight")
            count = item.get("DesiredInstanceCount")
            # Assumption: an entry with neither DesiredWeight, DesiredInstanceCount nor
            # ServerlessUpdateConfig changes nothing and is refused; DesiredInstanceCount on a
            # serverless variant is refused (serverless variants have no instances; botocore
            # offers ServerlessUpdateConfig for them). Wording is the emulator's.
            if weight is None and count is None and not item.get("ServerlessUpdateConfig"):
                raise _validation(
                    f"Specify DesiredWeight or DesiredInstanceCount for variant '{variant_name}'."
                )
            if count is not None and variant.count is None:
                raise _validation(
                    f"DesiredInstanceCount cannot be set for serverless variant '{variant_name}'."
                )
            targets[variant_name] = (
                variant.weight if weight is None else float(weight),
                variant.count if count is None else int(count),
            )
        rt.deployment = _Deployment(
            kind="weights", targets=targets,
            phases=[_Phase("apply-weights", status="Updating", green_stage="Updating",
                           seconds=UPDATE_SECONDS)],
        )
        rt.last_modified = _now()
        _sync_fake(backend, rt)
        return _action_result({"EndpointArn": arn})


def clamp_variant_capacity(backend: Any, endpoint_name: str, variant_name: str, low: int,
                           high: int) -> None:
    """Move an InService variant's instance count into [low, high] (RegisterScalableTarget).

    Called by tests.support.aas_cloudwatch_emulator; the change shows as an
    UpdateEndpointWeightsAndCapacities-like `apply-weights` tick.
    """
    with _LOCK:
        if endpoint_name not in backend.endpoints:
            return
        rt = _runtime(backend, endpoint_name)
        if _status(rt) != "InService" or rt.live is None or rt.deployment is not None:
            return
        variant = next((v for v in rt.live.variants if v.name == variant_name), None)
        if variant is None or variant.count is None:
            return
        count = min(max(variant.count, low), high)
        if count == variant.count:
            return
        rt.deployment = _Deployment(
            kind="weights", targets={variant_name: (variant.weight, count)},
            phases=[_Phase("apply-weights", status="Updating", green_stage="Updating",
                           seconds=UPDATE_SECONDS)])
        rt.last_modified = _now()
        _sync_fake(backend, rt)


def h_add_tags(self: Any) -> Any:
    backend = self.sagemaker_backend
    arn = self._get_param("ResourceArn")
    tags = self._get_param("Tags") or []
    with _LOCK:
        resource = backend._get_resource_from_arn(arn)
        if resource is None:
            raise _validation(f"Could not find resource '{arn}'.")
        validate_tags(tags, existing=resource.tags)
        merged = {t["Key"]: dict(t) for t in resource.tags}
        for tag in tags:
            merged[tag["Key"]] = {"Key": tag["Key"], "Value": tag.get("Value", "")}
        resource.tags[:] = list(merged.values())
        return _action_result({"Tags": tags})


def _wrap_get_resource_from_arn(original: Callable) -> Callable:
    def get_resource_from_arn(backend: Any, arn: str) -> Any:
        if ":inference-experiment/" in arn:
            name = arn.split(":inference-experiment/", 1)[1]
            experiment = _state(backend).experiments.get(name)
            if experiment is None:
                raise _validation(f"Could not find inference-experiment with name {name}")
            return experiment
        return original(backend, arn)

    return get_resource_from_arn
