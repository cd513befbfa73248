"""SageMakerResponse handlers for inference experiments (ShadowMode).

Create/Describe/Start/Stop/ListInferenceExperiments with the refusals botocore documents.
"""

from __future__ import annotations

import copy
import time
from datetime import timedelta
from typing import Any

from .common import _LOCK, _arn, _conflict, _in_use, _naive_utc, _now, validate_tags, _validation
from .endpoints import _validate_instance_type
from .experiment_lifecycle import (
    _experiment,
    _infra,
    _render_experiment,
    _set_endpoint_status,
    _tick_experiment,
)
from .responses import _action_result
from .state import _Experiment, _runtime, _state, _status


def h_create_inference_experiment(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("Name")
    endpoint_name = self._get_param("EndpointName")
    variants = copy.deepcopy(self._get_param("ModelVariants") or [])
    shadow_config = copy.deepcopy(self._get_param("ShadowModeConfig") or {})
    experiment_type = self._get_param("Type")
    schedule = copy.deepcopy(self._get_param("Schedule") or {})
    tags = self._get_param("Tags") or []
    with _LOCK:
        state = _state(backend)
        if name in state.experiments:
            raise _in_use(
                f"Inference experiment '{_arn(backend, 'inference-experiment', name)}' "
                "already exists."
            )
        validate_tags(tags)
        if experiment_type != "ShadowMode":
            raise _validation(
                f"1 validation error detected: Value '{experiment_type}' at 'type' failed to "
                "satisfy constraint: Member must satisfy enum value set: [ShadowMode]"
            )
        rt = _runtime(backend, endpoint_name)
        # Assumption (AWS documents neither): the endpoint must be InService, and one endpoint
        # has at most one active experiment (a shadow test changes the endpoint's variants).
        if _status(rt) != "InService" or rt.live is None:
            raise _validation(
                f"Endpoint '{_arn(backend, 'endpoint', endpoint_name)}' must be InService to "
                "start an inference experiment."
            )
        for other in state.experiments.values():
            if other.endpoint_name == endpoint_name and other.status not in ("Completed", "Cancelled"):
                raise _in_use(
                    f"Endpoint '{endpoint_name}' already has an active inference experiment "
                    f"'{other.name}'."
                )
        if len(rt.live.variants) != 1 or any(v.serverless for v in rt.live.variants) or rt.live.async_config:
            raise _validation(
                "Shadow tests need an endpoint with a single real-time production variant "
                "(serverless and asynchronous inference endpoints are not supported)."
            )
        # botocore ModelVariantConfigList min 1 max 2, ShadowModelVariantConfigList min 1 max 1;
        # InferenceExperimentSchedule: "The maximum duration ... is 30 days"; Schedule: "If you
        # don't specify this field, the experiment automatically starts immediately upon
        # creation and concludes after 7 days". Endpoint must be a single real-time variant:
        # Guide, shadow tests "Exclusions" (assumption: checked here with this wording).
        if not 1 <= len(variants) <= 2:
            raise _validation("ModelVariants must contain 1 or 2 variants.")
        names = [mv.get("VariantName") for mv in variants]
        if len(set(names)) != len(names):
            raise _validation("Variant names in ModelVariants must be unique.")
        for mv in variants:
            if mv.get("ModelName") not in backend._models:
                raise _validation(
                    f"Could not find model '{_arn(backend, 'model', mv.get('ModelName'))}'."
                )
            instance_type, _ = _infra(mv)
            if instance_type is not None:
                _validate_instance_type(None, instance_type)
        source = shadow_config.get("SourceModelVariantName")
        shadows = shadow_config.get("ShadowModelVariants") or []
        if source not in names:
            raise _validation(
                f"SourceModelVariantName '{source}' must be one of the ModelVariants {names}."
            )
        if source not in [v.name for v in rt.live.variants]:
            raise _validation(
                f"SourceModelVariantName '{source}' is not a production variant of endpoint "
                f"'{endpoint_name}'."
            )
        if len(shadows) != 1:
            raise _validation("ShadowModelVariants must contain exactly one variant.")
        shadow_name = shadows[0].get("ShadowModelVariantName")
        if shadow_name not in names or shadow_name == source:
            raise _validation(
                f"ShadowModelVariantName '{shadow_name}' must be one of the ModelVariants and "
                "differ from SourceModelVariantName."
            )
        percentage = shadows[0].get("SamplingPercentage")
        if percentage is None or not 1 <= int(percentage) <= 100:
            raise _validation("SamplingPercentage must be between 1 and 100.")
        now = _now()
        start = _naive_utc(schedule.get("StartTime")) or now
        end = _naive_utc(schedule.get("EndTime")) or start + timedelta(days=7)
        if end <= start:
            raise _validation("Schedule EndTime must be after StartTime.")
        if end - start > timedelta(days=30):
            raise _validation("The maximum duration of an inference experiment is 30 days.")
        exp = _Experiment(
            name=name,
            arn=_arn(backend, "inference-experiment", name),
            type=experiment_type,
            endpoint_name=endpoint_name,
            role_arn=self._get_param("RoleArn"),
            model_variants=variants,
            shadow_mode_config=shadow_config,
            description=self._get_param("Description"),
            data_storage_config=copy.deepcopy(self._get_param("DataStorageConfig")),
            kms_key=self._get_param("KmsKey"),
            schedule={"StartTime": start, "EndTime": end},
            tags=[dict(t) for t in tags],
            start_requested=not schedule.get("StartTime"),
        )
        exp.variant_status = {n: ("InService" if n == source else "Creating") for n in names}
        state.experiments[name] = exp
        return _action_result({"InferenceExperimentArn": exp.arn})


def h_describe_inference_experiment(self: Any) -> Any:
    backend = self.sagemaker_backend
    with _LOCK:
        exp = _experiment(backend, self._get_param("Name"))
        _tick_experiment(backend, exp)
        out = _render_experiment(backend, exp)
        exp.seen = True
        return _action_result(out)


def h_start_inference_experiment(self: Any) -> Any:
    backend = self.sagemaker_backend
    with _LOCK:
        exp = _experiment(backend, self._get_param("Name"))
        if exp.status != "Created":
            raise _conflict(
                f"Cannot start inference experiment '{exp.name}' in status {exp.status}; "
                "it must be Created."
            )
        exp.start_requested = True
        exp.status = "Starting"
        exp.last_modified_time = _now()
        exp.seen = False
        exp.phase_started = time.monotonic()
        _set_endpoint_status(backend, exp.endpoint_name, "Updating")
        return _action_result({"InferenceExperimentArn": exp.arn})


def h_stop_inference_experiment(self: Any) -> Any:
    backend = self.sagemaker_backend
    actions = self._get_param("ModelVariantActions") or {}
    desired_variants = copy.deepcopy(self._get_param("DesiredModelVariants") or [])
    desired_state = self._get_param("DesiredState") or "Completed"
    with _LOCK:
        exp = _experiment(backend, self._get_param("Name"))
        if exp.status not in ("Created", "Starting", "Running"):
            raise _conflict(
                f"Cannot stop inference experiment '{exp.name}' in status {exp.status}."
            )
        if not 1 <= len(actions) <= 2:
            raise _validation("ModelVariantActions must contain 1 or 2 entries.")
        names = [mv["VariantName"] for mv in exp.model_variants]
        for variant, action in actions.items():
            if variant not in names:
                raise _validation(
                    f"Variant '{variant}' in ModelVariantActions is not part of inference "
                    f"experiment '{exp.name}'."
                )
            if action not in ("Promote", "Remove", "Retain"):
                raise _validation(
                    f"1 validation error detected: Value '{action}' at 'modelVariantActions' "
                    "failed to satisfy constraint: Member must satisfy enum value set: "
                    "[Retain, Remove, Promote]"
                )
        shadow_name = exp.shadow["ShadowModelVariantName"]
        # Assumption: Promote needs a Running experiment (there is nothing deployed to promote
        # before), and the production variant is only removed when the shadow replaces it.
        if actions.get(shadow_name) == "Promote" and exp.status != "Running":
            raise _validation(
                f"The shadow variant '{shadow_name}' can only be promoted while the experiment "
                "is Running."
            )
        if actions.get(exp.source) == "Remove" and actions.get(shadow_name) != "Promote":
            raise _validation(
                f"The production variant '{exp.source}' can only be removed when the shadow "
                f"variant '{shadow_name}' is promoted."
            )
        for mv in desired_variants:
            if mv.get("VariantName") not in names:
                raise _validation(
                    f"Variant '{mv.get('VariantName')}' in DesiredModelVariants is not part of "
                    f"inference experiment '{exp.name}'."
                )
        if desired_state not in ("Completed", "Cancelled"):
            raise _validation(
                f"1 validation error detected: Value '{desired_state}' at 'desiredState' failed "
                "to satisfy constraint: Member must satisfy enum value set: [Completed, Cancelled]"
            )
        was_running = exp.status in ("Starting", "Running")
        exp.stop = {
            "actions": dict(actions),
            "desired_variants": desired_variants,
            "desired_state": desired_state,
            "was_running": was_running,
        }
        reason = self._get_param("Reason")
        if reason:
            exp.status_reason = reason
        exp.status = "Stopping"
        for name in names:
            action = actions.get(name, "Retain")
            if name == shadow_name and action == "Promote":
                exp.variant_status[name] = "Updating"
            elif action == "Remove" or (name != shadow_name and actions.get(shadow_name) == "Promote"):
                exp.variant_status[name] = "Deleting"
        exp.last_modified_time = _now()
        exp.seen = False
        exp.phase_started = time.monotonic()
        if was_running:
            _set_endpoint_status(backend, exp.endpoint_name, "Updating")
        return _action_result({"InferenceExperimentArn": exp.arn})


def h_list_inference_experiments(self: Any) -> Any:
    backend = self.sagemaker_backend
    name_contains = self._get_param("NameContains")
    experiment_type = self._get_param("Type")
    status = self._get_param("StatusEquals")
    created_after = _naive_utc(self._get_param("CreationTimeAfter"))
    created_before = _naive_utc(self._get_param("CreationTimeBefore"))
    modified_after = _naive_utc(self._get_param("LastModifiedTimeAfter"))
    modified_before = _naive_utc(self._get_param("LastModifiedTimeBefore"))
    sort_by = self._get_param("SortBy") or "CreationTime"
    sort_order = self._get_param("SortOrder") or "Descending"
    max_results = int(self._get_param("MaxResults") or 100)
    token = self._get_param("NextToken")
    with _LOCK:
        items = [
            e for e in _state(backend).experiments.values()
            if (not name_contains or name_contains in e.name)
            and (not experiment_type or e.type == experiment_type)
            and (not status or e.status == status)
            and (created_after is None or e.creation_time > created_after)
            and (created_before is None or e.creation_time < created_before)
            and (modified_after is None or e.last_modified_time > modified_after)
            and (modified_before is None or e.last_modified_time < modified_before)
        ]
        key = {"Name": lambda e: e.name, "Status": lambda e: e.status}.get(
            sort_by, lambda e: e.creation_time
        )
        items.sort(key=key, reverse=sort_order == "Descending")
        start = int(token) if token else 0
        page = items[start: start + max_results]
        summaries = []
        for e in page:
            summary = {
                "Name": e.name, "Type": e.type, "Schedule": copy.deepcopy(e.schedule),
                "Status": e.status, "StatusReason": e.status_reason, "Description": e.description,
                "CreationTime": e.creation_time, "CompletionTime": e.completion_time,
                "LastModifiedTime": e.last_modified_time, "RoleArn": e.role_arn,
            }
            summaries.append({k: v for k, v in summary.items() if v is not None})
        out: dict[str, Any] = {"InferenceExperiments": summaries}
        if start + max_results < len(items):
            out["NextToken"] = str(start + max_results)
        return _action_result(out)
