"""Inference experiments (ShadowMode) between calls: ticks, shadow variants, rendering.

`_tick_experiment` advances an experiment on DescribeInferenceExperiment, `_attach_shadow` and
`_finish_experiment` change the endpoint's fleet (Promote / Retain / Remove), and
`_render_experiment` builds the describe output.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from .common import EXPERIMENT_STEP_SECONDS, _arn, _naive_utc, _not_found, _now
from .lifecycle import _sync_fake
from .state import (
    _Experiment,
    _Variant,
    _fleet_from_config,
    _model_image,
    _runtime,
    _should_advance,
    _state,
    _status,
)


def _experiment(backend: Any, name: str) -> _Experiment:
    experiment = _state(backend).experiments.get(name)
    if experiment is None:
        raise _not_found(
            f"Inference experiment '{_arn(backend, 'inference-experiment', name)}' does not exist."
        )
    return experiment


def _infra(mv: dict) -> tuple[str | None, int]:
    realtime = (mv.get("InfrastructureConfig") or {}).get("RealTimeInferenceConfig") or {}
    return realtime.get("InstanceType"), int(realtime.get("InstanceCount", 1))


def _set_endpoint_status(backend: Any, endpoint_name: str, status: str) -> None:
    if endpoint_name not in backend.endpoints:
        return
    rt = _runtime(backend, endpoint_name)
    if rt.deployment is None:
        rt.status = status
        rt.last_modified = _now()
        _sync_fake(backend, rt)


def _attach_shadow(backend: Any, exp: _Experiment) -> None:
    if exp.endpoint_name not in backend.endpoints:
        return
    rt = _runtime(backend, exp.endpoint_name)
    if rt.live is None:
        return
    shadow = exp.model_variant(exp.shadow["ShadowModelVariantName"]) or {}
    instance_type, count = _infra(shadow)
    production = rt.live.variants[0].weight if rt.live.variants else 1.0
    rt.live.shadows = [_Variant(
        name=shadow.get("VariantName", exp.shadow["ShadowModelVariantName"]),
        model=shadow.get("ModelName"), instance_type=instance_type, count=count,
        weight=production * float(exp.shadow["SamplingPercentage"]) / 100.0,
        image=_model_image(backend, shadow.get("ModelName")),
    )]


def _finish_experiment(backend: Any, exp: _Experiment) -> None:
    stop = exp.stop or {}
    actions = stop.get("actions", {})
    desired = {mv["VariantName"]: mv for mv in stop.get("desired_variants") or []}
    shadow_name = exp.shadow["ShadowModelVariantName"]
    shadow_action = actions.get(shadow_name, "Retain")
    was_running = stop.get("was_running", False)
    if was_running and exp.endpoint_name in backend.endpoints:
        rt = _runtime(backend, exp.endpoint_name)
        if rt.live is not None:
            if shadow_action == "Promote":
                mv = desired.get(shadow_name) or exp.model_variant(shadow_name) or {}
                instance_type, count = _infra(mv)
                state = _state(backend)
                state.promoted_configs += 1
                config_name = f"{exp.endpoint_name[:40]}-promoted-{state.promoted_configs}"
                while config_name in backend.endpoint_configs:
                    state.promoted_configs += 1
                    config_name = f"{exp.endpoint_name[:40]}-promoted-{state.promoted_configs}"
                backend.create_endpoint_config(
                    endpoint_config_name=config_name,
                    production_variants=[{
                        "VariantName": shadow_name,
                        "ModelName": mv.get("ModelName"),
                        "InstanceType": instance_type,
                        "InitialInstanceCount": count,
                        "InitialVariantWeight": 1.0,
                    }],
                    data_capture_config=copy.deepcopy(rt.live.data_capture),
                    async_inference_config=None,
                    tags=[],
                    kms_key_id=None,
                )
                rt.live = _fleet_from_config(backend, config_name)
            elif shadow_action == "Remove":
                rt.live.shadows = []
            elif shadow_name in desired and rt.live.shadows:
                _, count = _infra(desired[shadow_name])
                rt.live.shadows[0].count = count
            if shadow_action != "Promote" and exp.source in desired:
                _, count = _infra(desired[exp.source])
                for v in rt.live.variants:
                    if v.name == exp.source:
                        v.count = count
        _set_endpoint_status(backend, exp.endpoint_name, "InService")
    for name in list(exp.variant_status):
        if name == shadow_name:
            kept = was_running and shadow_action != "Remove"
            exp.variant_status[name] = "InService" if kept else "Deleted"
        elif shadow_action == "Promote" or actions.get(name) == "Remove":
            exp.variant_status[name] = "Deleted"
        else:
            exp.variant_status[name] = "InService"
    exp.status = stop.get("desired_state") or "Completed"
    exp.completion_time = _now()


def _experiment_start_due(exp: _Experiment) -> bool:
    start = _naive_utc(exp.schedule.get("StartTime"))
    return exp.start_requested or start is None or start <= _now()


def _tick_experiment(backend: Any, exp: _Experiment) -> None:
    if not _should_advance(exp.seen, exp.phase_started, EXPERIMENT_STEP_SECONDS):
        return
    before = exp.status
    shadow_name = exp.shadow["ShadowModelVariantName"]
    if exp.status == "Creating":
        exp.status = "Created"
    elif exp.status == "Created" and _experiment_start_due(exp):
        exp.status = "Starting"
        _set_endpoint_status(backend, exp.endpoint_name, "Updating")
    elif exp.status == "Starting":
        exp.status = "Running"
        exp.variant_status[shadow_name] = "InService"
        _attach_shadow(backend, exp)
        _set_endpoint_status(backend, exp.endpoint_name, "InService")
    elif exp.status == "Running":
        end = _naive_utc(exp.schedule.get("EndTime"))
        if end is not None and end <= _now():  # the scheduled end: shadow removed
            exp.stop = {"actions": {shadow_name: "Remove"}, "desired_state": "Completed",
                        "was_running": True}
            exp.status = "Stopping"
            _set_endpoint_status(backend, exp.endpoint_name, "Updating")
    elif exp.status == "Stopping":
        _finish_experiment(backend, exp)
    if exp.status != before:
        exp.last_modified_time = _now()
        exp.seen = False
        exp.phase_started = time.monotonic()


def _render_experiment(backend: Any, exp: _Experiment) -> dict:
    metadata: dict[str, Any] = {"EndpointName": exp.endpoint_name}
    if exp.endpoint_name in backend.endpoints:
        rt = _runtime(backend, exp.endpoint_name)
        shown = rt.live or (rt.deployment.green if rt.deployment else None)
        if shown is not None:
            metadata["EndpointConfigName"] = shown.config_name
        metadata["EndpointStatus"] = _status(rt)
        if rt.failure_reason:
            metadata["FailureReason"] = rt.failure_reason
    out: dict[str, Any] = {
        "Arn": exp.arn,
        "Name": exp.name,
        "Type": exp.type,
        "Schedule": copy.deepcopy(exp.schedule),
        "Status": exp.status,
        "CreationTime": exp.creation_time,
        "LastModifiedTime": exp.last_modified_time,
        "RoleArn": exp.role_arn,
        "EndpointMetadata": metadata,
        "ModelVariants": [
            dict(copy.deepcopy(mv), Status=exp.variant_status.get(mv["VariantName"], "Creating"))
            for mv in exp.model_variants
        ],
        "ShadowModeConfig": copy.deepcopy(exp.shadow_mode_config),
    }
    for key, value in (
        ("StatusReason", exp.status_reason),
        ("Description", exp.description),
        ("CompletionTime", exp.completion_time),
        ("DataStorageConfig", copy.deepcopy(exp.data_storage_config)),
        ("KmsKey", exp.kms_key),
    ):
        if value is not None:
            out[key] = value
    return {k: v for k, v in out.items() if v is not None}
