"""Application Auto Scaling of inference components (ServiceNamespace sagemaker, ResourceId
`inference-component/<name>`, ScalableDimension sagemaker:inference-component:DesiredCopyCount).

Called by tests.support.aas_cloudwatch_emulator, which installs the handlers. Rules:
- moto 5.2 rejects the dimension ("Unsupported service namespace, resource type or scalable
  dimension"): botocore application-autoscaling ScalableDimension lists
  sagemaker:inference-component:DesiredCopyCount, so `extended_dimensions()` adds it to moto's
  enum (patched in both moto modules that read it).
- RegisterScalableTarget: the inference component must exist (Guide "Auto scaling
  prerequisites": the resource must already exist; Application Auto Scaling User Guide,
  "Amazon SageMaker AI and Application Auto Scaling": you can scale "inference components").
  MinCapacity >= 0 (Guide "Scale an endpoint to zero instances": register the inference
  component with the minimum capacity set to 0) and MinCapacity <= MaxCapacity
  (RegisterScalableTarget). Assumption: MinCapacity 0 is accepted whatever the endpoint's
  ManagedInstanceScaling says (that page lists MinInstanceCount 0 as what lets the *instances*
  reach zero, not the copies). An InService component whose DesiredCopyCount is outside the
  range is moved inside it (RegisterScalableTarget API: "it changes the resource's current
  capacity to a value that is inside of this range"), shown as an Updating tick like
  UpdateInferenceComponentRuntimeConfig; a component that is not InService is left alone ("If
  the specified resource is not active in the target service, this operation does not change
  the resource's current capacity").
- PutScalingPolicy TargetTrackingScaling on the dimension: the target must be registered
  (moto) and a PredefinedMetricType must be one of the inference component metrics of
  botocore's MetricType enum (SageMakerInferenceComponentInvocationsPerCopy,
  SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution). Assumption: a variant
  metric (SageMakerVariantInvocationsPerInstance...) on a component target is refused; AWS
  documents each metric for its resource type only.
- DeleteInferenceComponent deregisters the component's target and deletes its policies.
  Assumption: mirrors the documented endpoint behaviour (Guide "Delete endpoints configured for
  auto scaling"); AWS says nothing for components.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable

IC_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
IC_METRICS = ("SageMakerInferenceComponentInvocationsPerCopy",
              "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution")


def extended_dimensions(original: type) -> type:
    members = {m.name: m.value for m in original}
    members["SAGEMAKER_INFERENCE_COMPONENT_DESIRED_COPY_COUNT"] = IC_DIMENSION
    return Enum(original.__name__, members)  # type: ignore[return-value]


def _aas_validation(message: str) -> Exception:
    from moto.applicationautoscaling.exceptions import AWSValidationException

    return AWSValidationException(message)


def _component_name(resource_id: str | None) -> str | None:
    parts = (resource_id or "").split("/")
    if len(parts) == 2 and parts[0] == "inference-component" and parts[1]:
        return parts[1]
    return None


def _sagemaker(backend: Any) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[backend.account_id][backend.region_name]


def h_register_component_target(self: Any, original: Callable) -> Any:
    from .common import _LOCK
    from .components import _cstate, start_runtime

    backend = self.applicationautoscaling_backend
    resource_id = self._get_param("ResourceId")
    name = _component_name(resource_id)
    sm = _sagemaker(backend)
    with _LOCK:
        comp = _cstate(sm).components.get(name) if name else None
        if comp is None:
            raise _aas_validation(
                f"The inference component {resource_id} does not exist; register an existing "
                "inference component (inference-component/<name>).")
        existing = backend.targets.get(IC_DIMENSION, {}).get(resource_id)
        low = self._get_int_param("MinCapacity")
        high = self._get_int_param("MaxCapacity")
        if existing is None and (low is None or high is None):
            raise _aas_validation("MinCapacity and MaxCapacity are required when registering a "
                                  "new scalable target.")
        low = existing.min_capacity if low is None else low
        high = existing.max_capacity if high is None else high
        if low < 0:
            raise _aas_validation(f"MinCapacity {low} is invalid: it must be at least 0.")
        if low > high:
            raise _aas_validation(f"MinCapacity {low} cannot be greater than MaxCapacity {high}.")
        result = original(self)
        if comp.status == "InService" and comp.op is None:
            clamped = min(max(comp.desired, low), high)
            if clamped != comp.desired:
                start_runtime(comp, clamped)
        return result


def h_put_component_policy(self: Any, original: Callable) -> Any:
    if self._get_param("PolicyType") == "TargetTrackingScaling":
        config = self._get_param("TargetTrackingScalingPolicyConfiguration") or {}
        predefined = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
        if predefined is not None and predefined not in IC_METRICS:
            raise _aas_validation(
                f"PredefinedMetricType {predefined} does not apply to {IC_DIMENSION}; use one of "
                f"{', '.join(IC_METRICS)}.")
    backend = self.applicationautoscaling_backend
    if self._get_param("ResourceId") not in backend.targets.get(IC_DIMENSION, {}):
        raise _aas_validation(
            f"No scalable target registered for service namespace sagemaker, resource ID "
            f"{self._get_param('ResourceId')}, scalable dimension {IC_DIMENSION}.")
    return original(self)


def deregister_component_targets(account_id: str, region: str, component_name: str) -> list[str]:
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    from tests.support import aas_cloudwatch_emulator

    backend = applicationautoscaling_backends[account_id][region]
    resource_id = f"inference-component/{component_name}"
    targets = backend.targets.get(IC_DIMENSION, {})
    if resource_id not in targets:
        return []
    aas_cloudwatch_emulator._delete_attached(backend, "sagemaker", resource_id, IC_DIMENSION)
    del targets[resource_id]
    return [resource_id]
