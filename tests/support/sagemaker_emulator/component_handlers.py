"""SageMakerResponse handlers for inference components, and their hooks into endpoints.

Create/Describe/List/Update/UpdateRuntimeConfig/DeleteInferenceComponent, the endpoint config
and DescribeEndpoint/DeleteEndpoint hooks for endpoints that host inference components, tags on
inference-component ARNs, and `route_invocation` (InvokeEndpoint InferenceComponentName, called
by module `invocations`). Each rule names its source; "Assumption:" marks what AWS does not
document. State, capacity accounting and ticks are in module `components`.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any, Callable

from .common import _LOCK, _arn, _naive_utc, _validation, validate_tags
from .components import (
    _cstate,
    components_of_endpoint,
    current_copies,
    new_component,
    pool_for,
    pool_instance_count,
    start_delete,
    start_runtime,
    start_update,
    tick,
)
from .responses import _action_result, _empty_result
from .state import _runtime, _status

# botocore InferenceComponentName: max 63, pattern [a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?
_NAME = re.compile(r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_NAME_PATTERN = r"[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?"
_STATUSES = ("InService", "Creating", "Updating", "Failed", "Deleting")  # botocore enum


def _constraint(value: Any, where: str, rule: str) -> Exception:
    return _validation(f"1 validation error detected: Value '{value}' at '{where}' failed to "
                       f"satisfy constraint: {rule}")


def _check_name(name: Any, where: str = "inferenceComponentName") -> None:
    if not isinstance(name, str) or len(name) > 63:
        raise _constraint(name, where, "Member must have length less than or equal to 63")
    if not _NAME.match(name):
        raise _constraint(name, where, "Member must satisfy regular expression pattern: "
                          + _NAME_PATTERN)


def _not_found(backend: Any, name: str) -> Exception:
    # Assumption: the wording follows SageMaker's other "Could not find ..." ValidationExceptions.
    return _validation(
        f"Could not find inference component '{_arn(backend, 'inference-component', name)}'.")


def _component(backend: Any, name: str) -> Any:
    comp = _cstate(backend).components.get(name)
    if comp is None:
        raise _not_found(backend, name)
    return comp


def is_component_variant(row: dict | None) -> bool:
    """A production variant that hosts inference components: no ModelName, instance-based."""
    return row is not None and not row.get("ModelName") and not row.get("ServerlessConfig")


def _check_specification(backend: Any, spec: Any) -> dict:
    """botocore InferenceComponentSpecification and its members' ranges."""
    if not isinstance(spec, dict):
        # Assumption: botocore makes Specification optional only because Specifications (one
        # per instance type) can replace it; one of the two is needed.
        raise _validation("Specification is required (the emulator does not model Specifications).")
    if spec.get("BaseInferenceComponentName"):
        raise _validation("Adapter inference components (BaseInferenceComponentName) are not "
                          "modelled by the emulator.")
    model = spec.get("ModelName")
    if not model:
        # Assumption: the emulator only models components that name a SageMaker model; a
        # Container-only specification is refused rather than served with nothing behind it.
        raise _validation("Specification.ModelName is required by the emulator (Container-only "
                          "specifications are not modelled).")
    if model not in backend._models:
        raise _validation(f"Could not find model '{_arn(backend, 'model', model)}'.")
    req = spec.get("ComputeResourceRequirements")
    # botocore ComputeResourceRequirements: "Omit this parameter if your request is meant to
    # create an adapter inference component" - so a component that is not an adapter needs it;
    # MinMemoryRequiredInMb is a required member.
    if not isinstance(req, dict) or req.get("MinMemoryRequiredInMb") is None:
        raise _validation("Specification.ComputeResourceRequirements with MinMemoryRequiredInMb is "
                          "required for an inference component that is not an adapter.")
    where = "specification.computeResourceRequirements"
    cpu = req.get("NumberOfCpuCoresRequired")
    if cpu is not None and float(cpu) < 0.25:  # botocore NumberOfCpuCores min 0.25
        raise _constraint(cpu, f"{where}.numberOfCpuCoresRequired",
                          "Member must have value greater than or equal to 0.25")
    acc = req.get("NumberOfAcceleratorDevicesRequired")
    if acc is not None and float(acc) < 1:  # botocore NumberOfAcceleratorDevices min 1
        raise _constraint(acc, f"{where}.numberOfAcceleratorDevicesRequired",
                          "Member must have value greater than or equal to 1")
    for member in ("MinMemoryRequiredInMb", "MaxMemoryRequiredInMb"):  # botocore MemoryInMb min 128
        value = req.get(member)
        if value is not None and int(value) < 128:
            raise _constraint(value, f"{where}.{member[0].lower() + member[1:]}",
                              "Member must have value greater than or equal to 128")
    # botocore ProductionVariantModelDataDownloadTimeoutInSeconds and
    # ProductionVariantContainerStartupHealthCheckTimeoutInSeconds: 60-3600.
    for member, value in (spec.get("StartupParameters") or {}).items():
        if member in ("ModelDataDownloadTimeoutInSeconds",
                      "ContainerStartupHealthCheckTimeoutInSeconds") and not 60 <= int(value) <= 3600:
            raise _constraint(value, f"specification.startupParameters.{member[0].lower() + member[1:]}",
                              "Member must have value between 60 and 3600")
    return spec


def _check_copy_count(runtime: Any, where: str = "runtimeConfig") -> int:
    if not isinstance(runtime, dict) or runtime.get("CopyCount") is None:
        # botocore InferenceComponentRuntimeConfig: CopyCount is required. Assumption: a
        # component that is not an adapter needs RuntimeConfig (AWS has no documented default).
        raise _validation(f"{where}.CopyCount is required.")
    count = int(runtime["CopyCount"])
    if count < 0:  # botocore InferenceComponentCopyCount min 0
        raise _constraint(count, f"{where}.copyCount",
                          "Member must have value greater than or equal to 0")
    return count


def h_create_inference_component(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("InferenceComponentName")
    endpoint = self._get_param("EndpointName")
    variant = self._get_param("VariantName")
    with _LOCK:
        _check_name(name)
        if name in _cstate(backend).components:
            raise _validation("Cannot create already existing inference component "
                              f'"{_arn(backend, "inference-component", name)}".')
        tags = self._get_param("Tags") or []
        validate_tags(tags)
        # CreateInferenceComponent EndpointName: "The name of an existing endpoint".
        if endpoint not in backend.endpoints:
            raise _validation(f"Could not find endpoint '{_arn(backend, 'endpoint', endpoint)}'.")
        rt = _runtime(backend, endpoint)
        status = _status(rt)
        # Assumption: components are added to an InService endpoint only (AWS documents no rule;
        # placing copies needs the endpoint's instances, which a Creating endpoint has not yet).
        if status != "InService":
            raise _validation(f'Cannot create inference component on endpoint "{endpoint}" '
                              f"in status {status}; the endpoint must be InService.")
        fake = backend.endpoints[endpoint]
        rows = (backend.endpoint_configs[fake.endpoint_config_name].production_variants
                if fake.endpoint_config_name in backend.endpoint_configs else []) or []
        if variant is None:
            # Assumption: VariantName is optional in botocore; with one production variant that
            # is the one, with several the request is ambiguous and refused.
            if len(rows) != 1:
                raise _validation("VariantName is required for an endpoint with "
                                  f"{len(rows)} production variants.")
            variant = rows[0]["VariantName"]
        row = next((r for r in rows if r.get("VariantName") == variant), None)
        # VariantName: "The name of an existing production variant".
        if row is None:
            raise _validation(f'Could not find variant "{variant}" of endpoint "{endpoint}".')
        # Assumption (the Guide's inference component examples create the endpoint config
        # without ModelName; a variant created with ModelName hosts that model itself and has no
        # room set aside for components): a variant with a ModelName refuses components.
        if not is_component_variant(row):
            raise _validation(
                f'Variant "{variant}" of endpoint "{endpoint}" hosts model "{row.get("ModelName")}" '
                "(ProductionVariant ModelName) or is serverless; inference components need an "
                "instance-based variant created without ModelName.")
        spec = _check_specification(backend, self._get_param("Specification"))
        desired = _check_copy_count(self._get_param("RuntimeConfig"))
        pool_for(backend, endpoint, variant)
        comp = new_component(backend, name, endpoint, variant, spec, desired, tags)
        return _action_result({"InferenceComponentArn": comp.arn})


def _render(backend: Any, comp: Any) -> dict:
    spec = comp.spec
    model = backend._models.get(spec.get("ModelName"))
    summary: dict[str, Any] = {"ModelName": spec.get("ModelName")}
    image = None
    if model is not None:
        image = (model.primary_container or {}).get("Image") or next(
            (c.get("Image") for c in model.containers or [] if c.get("Image")), None)
    container: dict[str, Any] = {}
    if image:
        container["DeployedImage"] = {"SpecifiedImage": image, "ResolvedImage": image,
                                      "ResolutionTime": comp.creation_time}
    url = (model.primary_container or {}).get("ModelDataUrl") if model is not None else None
    if url:
        container["ArtifactUrl"] = url
    if container:
        summary["Container"] = container
    summary["ComputeResourceRequirements"] = copy.deepcopy(spec["ComputeResourceRequirements"])
    if spec.get("StartupParameters"):
        summary["StartupParameters"] = copy.deepcopy(spec["StartupParameters"])
    desired = comp.op.desired if comp.op is not None and comp.op.desired is not None else comp.desired
    out: dict[str, Any] = {
        "InferenceComponentName": comp.name,
        "InferenceComponentArn": comp.arn,
        "EndpointName": comp.endpoint,
        "EndpointArn": comp.endpoint_arn,
        "VariantName": comp.variant,
        "Specification": summary,
        "RuntimeConfig": {"DesiredCopyCount": desired,
                          "CurrentCopyCount": current_copies(backend, comp)},
        "CreationTime": comp.creation_time,
        "LastModifiedTime": comp.last_modified,
        "InferenceComponentStatus": comp.status,
    }
    if comp.failure_reason:
        out["FailureReason"] = comp.failure_reason
    if comp.last_deployment_config:
        out["LastDeploymentConfig"] = copy.deepcopy(comp.last_deployment_config)
    return out


def h_describe_inference_component(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("InferenceComponentName")
    with _LOCK:
        comp = _component(backend, name)
        if not tick(backend, comp):
            raise _not_found(backend, name)
        out = _render(backend, comp)
        if comp.op is not None:
            comp.op.seen = True
        return _action_result(out)


def h_list_inference_components(self: Any) -> Any:
    """ListInferenceComponents: the filters, SortBy (default CreationTime), SortOrder (default
    Descending), MaxResults (default 10, botocore) and NextToken (botocore
    ListInferenceComponentsInput). Listing does not advance components (only describes do)."""
    backend = self.sagemaker_backend
    p = self._get_param
    with _LOCK:
        items = list(_cstate(backend).components.values())
        filters = [
            (p("EndpointNameEquals"), lambda c, v: c.endpoint == v),
            (p("VariantNameEquals"), lambda c, v: c.variant == v),
            (p("StatusEquals"), lambda c, v: c.status == v),
            (p("NameContains"), lambda c, v: v in c.name),
            (_naive_utc(p("CreationTimeBefore")), lambda c, v: c.creation_time < v),
            (_naive_utc(p("CreationTimeAfter")), lambda c, v: c.creation_time > v),
            (_naive_utc(p("LastModifiedTimeBefore")), lambda c, v: c.last_modified < v),
            (_naive_utc(p("LastModifiedTimeAfter")), lambda c, v: c.last_modified > v),
        ]
        for value, keep in filters:
            if value is not None:
                items = [c for c in items if keep(c, value)]
        sort_by = p("SortBy") or "CreationTime"
        key = {"Name": lambda c: c.name, "Status": lambda c: c.status}.get(
            sort_by, lambda c: c.creation_time)
        items.sort(key=key, reverse=(p("SortOrder") or "Descending") == "Descending")
        start = int(p("NextToken") or 0)
        size = int(p("MaxResults") or 10)
        page = items[start:start + size]
        out: dict[str, Any] = {"InferenceComponents": [{
            "InferenceComponentName": c.name, "InferenceComponentArn": c.arn,
            "EndpointName": c.endpoint, "EndpointArn": c.endpoint_arn, "VariantName": c.variant,
            "InferenceComponentStatus": c.status, "CreationTime": c.creation_time,
            "LastModifiedTime": c.last_modified} for c in page]}
        if start + size < len(items):
            out["NextToken"] = str(start + size)
        return _action_result(out)


def _check_deployment_config(config: dict, copies: int) -> None:
    """botocore InferenceComponentDeploymentConfig / InferenceComponentRollingUpdatePolicy."""
    policy = config.get("RollingUpdatePolicy")
    if not isinstance(policy, dict):  # required member of InferenceComponentDeploymentConfig
        raise _validation("DeploymentConfig.RollingUpdatePolicy is required.")
    where = "deploymentConfig.rollingUpdatePolicy"
    wait = policy.get("WaitIntervalInSeconds")
    if wait is None or not 0 <= int(wait) <= 3600:
        raise _constraint(wait, f"{where}.waitIntervalInSeconds",
                          "Member must have value between 0 and 3600")
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    if timeout is not None and not 600 <= int(timeout) <= 28800:
        raise _constraint(timeout, f"{where}.maximumExecutionTimeoutInSeconds",
                          "Member must have value between 600 and 28800")
    for member in ("MaximumBatchSize", "RollbackMaximumBatchSize"):
        size = policy.get(member)
        if size is None:
            if member == "MaximumBatchSize":
                raise _validation(f"{where}.MaximumBatchSize is required.")
            continue
        if size.get("Type") not in ("COPY_COUNT", "CAPACITY_PERCENT"):
            raise _constraint(size.get("Type"), f"{where}.{member}.type",
                              "Member must satisfy enum value set: [COPY_COUNT, CAPACITY_PERCENT]")
        value = int(size.get("Value") or 0)
        if value < 1:  # botocore CapacitySizeValue min 1
            raise _constraint(value, f"{where}.{member}.value",
                              "Member must have value greater than or equal to 1")
        if member != "MaximumBatchSize":
            continue
        # botocore MaximumBatchSize: "The value must be between 5% to 50% of the copy count of
        # the inference component." CAPACITY_PERCENT: Value 5-50. COPY_COUNT: Value copies of
        # the copy count after the update. Assumption: for COPY_COUNT the bounds are rounded to
        # whole copies, at least 1 and at most max(1, ceil(copies / 2)) (otherwise a component
        # with one copy could never be updated).
        if size["Type"] == "CAPACITY_PERCENT" and not 5 <= value <= 50:
            raise _validation(f"MaximumBatchSize {value}% is invalid: the value must be between "
                              "5% and 50% of the copy count of the inference component.")
        if size["Type"] == "COPY_COUNT" and value > max(1, math.ceil(copies / 2)):
            raise _validation(
                f"MaximumBatchSize of {value} copies is invalid for {copies} copies: the value "
                "must be between 5% and 50% of the copy count of the inference component.")
    alarms = (config.get("AutoRollbackConfiguration") or {}).get("Alarms")
    if alarms is not None and not 1 <= len(alarms) <= 10:  # botocore AlarmList 1-10
        raise _constraint(len(alarms), "deploymentConfig.autoRollbackConfiguration.alarms",
                          "Member must have length between 1 and 10")


def _require_in_service(backend: Any, comp: Any) -> None:
    # Assumption: like UpdateEndpoint ("Cannot update in-progress endpoint"), a component that
    # is Creating, Updating, Deleting or Failed cannot be updated (AWS documents no rule).
    if comp.status != "InService" or comp.op is not None:
        raise _validation(f'Cannot update inference component "{comp.arn}" in status '
                          f"{comp.status}; it must be InService.")


def h_update_inference_component(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("InferenceComponentName")
    with _LOCK:
        comp = _component(backend, name)
        _require_in_service(backend, comp)
        if self._get_param("Specifications") is not None:
            raise _validation("Specifications (one per instance type) are not modelled by the "
                              "emulator; use Specification.")
        spec = self._get_param("Specification")
        runtime = self._get_param("RuntimeConfig")
        config = self._get_param("DeploymentConfig")
        desired = comp.desired if runtime is None else _check_copy_count(runtime)
        if spec is not None:
            spec = _check_specification(backend, spec)
        if config is not None:
            _check_deployment_config(config, desired)
        if spec is None and runtime is None:
            # Assumption: an update that changes nothing is refused (wording is the emulator's).
            raise _validation("Specify Specification or RuntimeConfig to update.")
        if spec is not None:
            start_update(backend, comp, spec, desired, config)
        else:
            start_runtime(comp, desired)
        if config is not None:
            comp.last_deployment_config = copy.deepcopy(config)
        return _action_result({"InferenceComponentArn": comp.arn})


def h_update_inference_component_runtime_config(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("InferenceComponentName")
    with _LOCK:
        comp = _component(backend, name)
        _require_in_service(backend, comp)
        desired = _check_copy_count(self._get_param("DesiredRuntimeConfig"), "desiredRuntimeConfig")
        start_runtime(comp, desired)
        return _action_result({"InferenceComponentArn": comp.arn})


def h_delete_inference_component(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("InferenceComponentName")
    with _LOCK:
        comp = _component(backend, name)
        # Assumption: a component already Deleting cannot be deleted again.
        if comp.status == "Deleting":
            raise _validation(f'Cannot delete inference component "{comp.arn}": it is already '
                              "Deleting.")
        start_delete(backend, comp)
        return _empty_result()


# --------------------------------------------------------------------------- endpoint hooks


def wrap_validate_production_variants(original: Callable) -> Callable:
    """moto's backend looks every variant's ModelName up (KeyError without one). A variant of
    an endpoint that hosts inference components has none (CreateEndpointConfig: ModelName is
    not a required ProductionVariant member in botocore), so only named models are checked."""
    def validate_production_variants(backend: Any, production_variants: list) -> None:
        return original(backend, [pv for pv in production_variants or [] if pv.get("ModelName")])

    return validate_production_variants


def wrap_describe_endpoint(original: Callable) -> Callable:
    """DescribeEndpoint of an endpoint hosting components: CurrentInstanceCount and
    DesiredInstanceCount are the instances the capacity accounting holds (managed instance
    scaling adds and releases them), and ProductionVariantSummary's ManagedInstanceScaling and
    RoutingConfig (botocore members) are echoed from the endpoint config."""
    def describe_endpoint(self: Any) -> Any:
        result = original(self)
        backend = self.sagemaker_backend
        name = self._get_param("EndpointName")
        with _LOCK:
            body = result.result
            for summary in body.get("ProductionVariants") or []:
                row = _variant_row_any(backend, body.get("EndpointConfigName"), summary["VariantName"])
                if not is_component_variant(row):
                    continue
                for member in ("ManagedInstanceScaling", "RoutingConfig"):
                    if row.get(member):
                        summary[member] = copy.deepcopy(row[member])
                count = pool_instance_count(backend, name, summary["VariantName"])
                if count is not None and "CurrentInstanceCount" in summary:
                    summary["CurrentInstanceCount"] = count
                    summary["DesiredInstanceCount"] = count
        return result

    return describe_endpoint


def _variant_row_any(backend: Any, config_name: str | None, variant: str) -> dict | None:
    cfg = backend.endpoint_configs.get(config_name) if config_name else None
    for pv in (cfg.production_variants if cfg else []) or []:
        if pv.get("VariantName") == variant:
            return pv
    return None


def wrap_delete_endpoint(original: Callable) -> Callable:
    """DeleteEndpoint of an endpoint that still hosts inference components is refused. Guide
    "Delete Endpoints and Resources", "Delete inference components first": "When you delete an
    endpoint from the SageMaker AI console, SageMaker AI first deletes the Inference Components
    that are attached to the endpoint." Assumption: the API does not do that for you (the page
    says only the console does), so it refuses; the wording is the emulator's."""
    def delete_endpoint(self: Any) -> Any:
        backend = self.sagemaker_backend
        name = self._get_param("EndpointName")
        with _LOCK:
            hosted = sorted(c.name for c in components_of_endpoint(backend, name))
            if hosted:
                raise _validation(
                    f'Cannot delete endpoint "{_arn(backend, "endpoint", name)}": it hosts '
                    f"inference components {', '.join(hosted)}; delete them first.")
        return original(self)

    return delete_endpoint


def wrap_get_resource_from_arn(original: Callable) -> Callable:
    def get_resource_from_arn(backend: Any, arn: str) -> Any:
        if ":inference-component/" in arn:
            name = arn.split(":inference-component/", 1)[1]
            comp = _cstate(backend).components.get(name)
            if comp is None:
                raise _validation(f"Could not find inference-component with name {name}")
            return comp
        return original(backend, arn)

    return get_resource_from_arn


# --------------------------------------------------------------------------- InvokeEndpoint


def route_invocation(backend: Any, endpoint: str, variant: Any, component_name: str | None,
                     validation_error: Callable[[str], Exception]) -> Any:
    """The variant to invoke, with `model` set to the inference component's model.

    botocore sagemaker-runtime InferenceComponentName: "If the endpoint hosts one or more
    inference components, this parameter specifies the name of inference component to invoke."
    Assumptions (AWS documents no refusal; wordings are the emulator's): the header on an
    endpoint whose variant has a ModelName is refused; a component endpoint invoked without it
    is refused (there is no model behind the variant itself); an unknown component, one on
    another endpoint, one that is Creating, Failed or Deleting, or one with CurrentCopyCount 0
    is refused (Guide "Scale an endpoint to zero instances": after scaling in to zero the
    endpoint "can't respond to any incoming inference requests"). Updating components serve
    (their old copies keep running during a rolling update); requests go to old and new copies
    by their share of the copies.
    """
    row = _variant_row(backend, endpoint, variant.name)
    account = backend.account_id
    if not is_component_variant(row):
        if component_name is not None:
            raise validation_error(
                f'Endpoint {endpoint} of account {account} does not host inference components '
                f'(variant "{variant.name}" serves model "{variant.model}"); remove '
                "InferenceComponentName.")
        return variant
    if component_name is None:
        raise validation_error(
            f"Endpoint {endpoint} of account {account} hosts inference components; specify "
            "InferenceComponentName.")
    comp = _cstate(backend).components.get(component_name)
    if comp is None or comp.endpoint != endpoint:
        raise validation_error(
            f"Inference component {component_name} of account {account} not found on endpoint "
            f"{endpoint}.")
    if comp.status not in ("InService", "Updating"):
        raise validation_error(
            f"Inference component {component_name} is not in service: InferenceComponentStatus "
            f"{comp.status}.")
    pool = pool_for(backend, comp.endpoint, comp.variant)
    old = pool.count(comp.key)
    new = pool.count((comp.name, comp.op.new_gen)) if comp.op and comp.op.kind == "update" else 0
    if old + new == 0:
        raise validation_error(
            f"Inference component {component_name} has no copies (CurrentCopyCount 0).")
    model = comp.spec.get("ModelName")
    if new:
        from .state import _state

        credits = _state(backend).routing.setdefault(endpoint, {})
        for key, share in ((("ic", comp.name, "old"), old), (("ic", comp.name, "new"), new)):
            credits[key] = credits.get(key, 0.0) + share
        best = max((("ic", comp.name, "old"), ("ic", comp.name, "new")), key=lambda k: credits[k])
        credits[best] -= old + new
        if best[2] == "new" and comp.op is not None and comp.op.spec is not None:
            model = comp.op.spec.get("ModelName")
    routed = variant.copy()
    routed.model = model
    return routed


def _variant_row(backend: Any, endpoint: str, variant: str) -> dict | None:
    fake = backend.endpoints.get(endpoint)
    return _variant_row_any(backend, fake.endpoint_config_name if fake else None, variant)

