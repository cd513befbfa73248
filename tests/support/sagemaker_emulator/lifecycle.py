"""Advancing endpoints on DescribeEndpoint and rendering what it answers.

`_tick_endpoint` moves a deployment one phase on (or by wall time in clock mode), applies
forced outcomes and AutoRollbackConfiguration alarms, and `_finish`es it; `_render_endpoint`
builds the DescribeEndpoint output and `_sync_fake` keeps moto's FakeEndpoint in step.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from .common import _now, _settings
from .phases import _rollback_phase
from .state import (
    _Deployment,
    _EndpointRuntime,
    _Forced,
    _Phase,
    _remove_endpoint,
    _set_phase,
    _should_advance,
    _state,
    _status,
    _Variant,
)


def _alarms_in_alarm(backend: Any, names: list[str]) -> list[str]:
    """AutoRollbackConfiguration alarms in ALARM (metric or composite, composite re-evaluated).

    An alarm that does not exist never trips: SageMaker documents no refusal of unknown alarm
    names, only that "if you do not have any CloudWatch alarms set up to monitor your endpoint,
    then the auto-rollback functionality does not work" (Developer Guide, "Auto-Rollback
    Configuration and Monitoring"). Assumption: an unknown name is treated the same way.
    """
    if not names:
        return []
    from moto.cloudwatch.models import cloudwatch_backends

    from tests.support import aas_cloudwatch_emulator

    cw = cloudwatch_backends[backend.account_id][backend.region_name]
    aas_cloudwatch_emulator.refresh_composite_states(cw)
    alarms = cw.alarms
    return [n for n in names if n in alarms and alarms[n].state_value == "ALARM"]


def _start_rollback(dep: _Deployment, result: str, reason: str) -> None:
    phase = _rollback_phase(dep.current or (dep.phases[-1] if dep.phases else None))
    dep.phases = dep.phases[: dep.index] + [phase]
    dep.result = result
    dep.reason = reason
    _set_phase(dep, len(dep.phases) - 1)


def _apply_forced(backend: Any, rt: _EndpointRuntime, forced: _Forced) -> None:
    dep = rt.deployment
    assert dep is not None
    reason = forced.reason
    if forced.outcome == "Failed" or dep.kind == "create":
        rt.status = "Failed"
        rt.failure_reason = reason or (
            "Failed to create the endpoint." if dep.kind == "create"
            else "Failed to update the endpoint."
        )
        if dep.kind == "create":
            rt.live = None
        rt.deployment = None
    elif forced.outcome == "UpdateRollbackFailed":
        _start_rollback(dep, "rollback_failed", reason or (
            "The update failed and the rollback to the previous endpoint configuration failed; "
            "the endpoint serves a mix of the old and new endpoint configurations."))
    else:  # RolledBack
        _start_rollback(dep, "rolled_back", reason or (
            "The update failed; the endpoint was rolled back to its previous configuration."))


def _finish(rt: _EndpointRuntime) -> None:
    dep = rt.deployment
    assert dep is not None
    if dep.result == "success":
        if dep.kind in ("create", "update"):
            rt.live = dep.green
            rt.failure_reason = None
        elif dep.kind == "weights" and rt.live is not None:
            for v in rt.live.variants:
                if v.name in dep.targets:
                    weight, count = dep.targets[v.name]
                    v.weight = weight
                    if v.count is not None:
                        v.count = count
        rt.status = "InService"
    elif dep.result == "rolled_back":
        rt.status = "InService"
        rt.failure_reason = dep.reason
    else:
        rt.status = "UpdateRollbackFailed"
        rt.failure_reason = dep.reason
    rt.deployment = None


def _tick_endpoint(backend: Any, rt: _EndpointRuntime) -> None:
    """One DescribeEndpoint tick: move on if the phase was shown, apply forced outcomes, alarms."""
    dep = rt.deployment
    if dep is None:
        return
    state = _state(backend)
    before = (dep.index, dep.result)

    def timing_out() -> bool:
        return dep.result == "success" and dep.timeout_index == dep.index

    if _settings["mode"] == "clock":
        while dep.current is not None:
            limit = dep.timeout_left if timing_out() else dep.current.seconds
            if not _should_advance(True, dep.phase_started, limit):
                break
            started = dep.phase_started + limit * float(_settings["time_scale"])
            if timing_out():
                _start_rollback(dep, "rolled_back", dep.timeout_reason or "")
            else:
                _set_phase(dep, dep.index + 1)
            dep.phase_started = started
    elif dep.seen:
        if timing_out():
            _start_rollback(dep, "rolled_back", dep.timeout_reason or "")
        else:
            _set_phase(dep, dep.index + 1)

    forced = state.forced.get(rt.name)
    in_rollback = dep.result != "success"
    if forced is not None and not in_rollback and dep.kind != "delete":
        phase = dep.current
        if forced.at_phase is None or (
            phase is not None and forced.at_phase in (phase.label, phase.green_stage, phase.blue_stage)
        ):
            del state.forced[rt.name]
            _apply_forced(backend, rt, forced)
            rt.last_modified = _now()
            return
    if dep.current is None:
        if dep.kind == "delete":
            _remove_endpoint(backend, rt.name)
            return
        _finish(rt)
        rt.last_modified = _now()
        return
    if dep.current.monitored and not in_rollback:
        tripped = _alarms_in_alarm(backend, dep.alarms)
        if tripped:
            _start_rollback(dep, "rolled_back", (
                "Deployment rolled back: CloudWatch alarm(s) "
                + ", ".join(tripped)
                + " in ALARM state during the deployment. "
                "All traffic was returned to the previous endpoint configuration."))
    if (dep.index, dep.result) != before:
        rt.last_modified = _now()


def _variant_status(stage: str | None, since: datetime) -> list[dict] | None:
    if not stage:
        return None
    messages = {
        "Creating": "Creating inference resources for the production variant.",
        "Updating": "Updating capacity for the production variant.",
        "ActivatingTraffic": "Turning on traffic for the production variant.",
        "Baking": "Waiting period to monitor the CloudWatch alarms in the automatic rollback "
        "configuration.",
        "Deleting": "Terminating inference resources for the production variant.",
    }
    return [{"Status": stage, "StatusMessage": messages.get(stage, stage), "StartTime": since}]


def _variant_summary(
    v: _Variant,
    *,
    current_weight: float,
    desired_weight: float,
    current_count: int | None,
    desired_count: int | None,
    statuses: list[dict] | None = None,
    pending: bool = False,
    resolved_at: datetime | None = None,
) -> dict:
    out: dict[str, Any] = {"VariantName": v.name}
    if v.image:
        out["DeployedImages"] = [
            {"SpecifiedImage": v.image, "ResolvedImage": v.image, "ResolutionTime": resolved_at or _now()}
        ]
    out["CurrentWeight"] = round(current_weight, 6)
    out["DesiredWeight"] = round(desired_weight, 6)
    if v.serverless:
        out["CurrentServerlessConfig"] = copy.deepcopy(v.serverless)
        out["DesiredServerlessConfig"] = copy.deepcopy(v.serverless)
    else:
        if current_count is not None:
            out["CurrentInstanceCount"] = current_count
        if desired_count is not None:
            out["DesiredInstanceCount"] = desired_count
    if pending and v.instance_type:
        out["InstanceType"] = v.instance_type
    if statuses:
        out["VariantStatus"] = statuses
    return out


def _steady_summaries(variants: list[_Variant], resolved_at: datetime) -> list[dict]:
    return [
        _variant_summary(v, current_weight=v.weight, desired_weight=v.weight,
                         current_count=v.count, desired_count=v.count, resolved_at=resolved_at)
        for v in variants
    ]


def _capture_summary(config: dict | None) -> dict | None:
    if not config:
        return None
    enabled = bool(config.get("EnableCapture", True))
    out = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": config.get("InitialSamplingPercentage", 0),
        "DestinationS3Uri": config.get("DestinationS3Uri"),
    }
    if config.get("KmsKeyId"):
        out["KmsKeyId"] = config["KmsKeyId"]
    return out


def _render_endpoint(backend: Any, rt: _EndpointRuntime) -> dict:
    fake = backend.endpoints[rt.name]
    dep = rt.deployment
    phase = dep.current if dep else None
    out: dict[str, Any] = {
        "EndpointName": rt.name,
        "EndpointArn": fake.arn,
        "EndpointStatus": _status(rt),
        "CreationTime": fake.creation_time,
        "LastModifiedTime": rt.last_modified,
    }
    shown = rt.live if rt.live is not None else (dep.green if dep else None)
    if shown is None and rt.config_name:
        out["EndpointConfigName"] = rt.config_name
    if shown is not None:
        out["EndpointConfigName"] = shown.config_name
        capture = _capture_summary(shown.data_capture)
        if capture:
            out["DataCaptureConfig"] = capture
        if shown.async_config:
            out["AsyncInferenceConfig"] = copy.deepcopy(shown.async_config)
    resolved = fake.creation_time

    if dep is not None and phase is not None and dep.kind in ("create", "update"):
        green = dep.green
        assert green is not None
        if rt.live is not None:
            blue = rt.live

            def blue_summary(v: _Variant) -> dict:
                f = phase.f(v.name)
                current = _Phase.count(phase.blue_up, v.name, v.count)
                desired = 0 if phase.blue_stage == "Deleting" else current
                return _variant_summary(
                    v, current_weight=v.weight * (1.0 - f), desired_weight=v.weight,
                    current_count=current, desired_count=None if v.count is None else desired,
                    statuses=_variant_status(phase.blue_stage, dep.phase_since), resolved_at=resolved)

            out["ProductionVariants"] = [blue_summary(v) for v in blue.variants]
            if blue.shadows:
                out["ShadowProductionVariants"] = [blue_summary(v) for v in blue.shadows]

        def green_summary(v: _Variant) -> dict:
            f = phase.f(v.name) if dep.kind == "update" else 1.0
            return _variant_summary(
                v, current_weight=v.weight * f, desired_weight=v.weight,
                current_count=_Phase.count(phase.green_up, v.name, v.count),
                desired_count=v.count, statuses=_variant_status(phase.green_stage, dep.phase_since),
                pending=True, resolved_at=dep.start_time)

        pending: dict[str, Any] = {
            "EndpointConfigName": green.config_name,
            "ProductionVariants": [green_summary(v) for v in green.variants],
            "StartTime": dep.start_time,
        }
        if green.shadows:
            pending["ShadowProductionVariants"] = [green_summary(v) for v in green.shadows]
        out["PendingDeploymentSummary"] = pending
    elif dep is not None and phase is not None and dep.kind == "weights" and rt.live is not None:
        summaries = []
        for v in rt.live.variants:
            if v.name in dep.targets:
                weight, count = dep.targets[v.name]
                summaries.append(_variant_summary(
                    v, current_weight=v.weight, desired_weight=weight, current_count=v.count,
                    desired_count=None if v.count is None else count,
                    statuses=_variant_status("Updating", dep.phase_since), resolved_at=resolved))
            else:
                summaries += _steady_summaries([v], resolved)
        out["ProductionVariants"] = summaries
        if rt.live.shadows:
            out["ShadowProductionVariants"] = _steady_summaries(rt.live.shadows, resolved)
    elif rt.live is not None:
        out["ProductionVariants"] = _steady_summaries(rt.live.variants, resolved)
        if rt.live.shadows:
            out["ShadowProductionVariants"] = _steady_summaries(rt.live.shadows, resolved)

    if rt.failure_reason:
        out["FailureReason"] = rt.failure_reason
    if rt.last_deployment_config:
        out["LastDeploymentConfig"] = copy.deepcopy(rt.last_deployment_config)
    return out


def _sync_fake(backend: Any, rt: _EndpointRuntime) -> None:
    """Keep moto's FakeEndpoint (used by ListEndpoints and others) in step with the runtime."""
    fake = backend.endpoints.get(rt.name)
    if fake is None:
        return
    fake.endpoint_status = _status(rt)
    shown = rt.live if rt.live is not None else (rt.deployment.green if rt.deployment else None)
    if shown is not None:
        fake.endpoint_config_name = shown.config_name
        fake.production_variants = [
            {k: v for k, v in s.items() if k in (
                "VariantName", "CurrentWeight", "DesiredWeight", "CurrentInstanceCount",
                "DesiredInstanceCount", "CurrentServerlessConfig", "DesiredServerlessConfig")}
            for s in _steady_summaries(shown.variants, fake.creation_time)
        ]
    fake.failure_reason = rt.failure_reason
    fake.last_modified_time = rt.last_modified
