"""Runtime state the emulator keeps next to moto's backends.

The fleet model (`_Variant`, `_Fleet`, read from an endpoint config), one deployment phase
(`_Phase`), a running deployment (`_Deployment`), forced outcomes, per-endpoint, per-experiment
and per-transform-job runtimes, the `_State` kept on each moto backend (also the InvokeEndpoint
log and routing credits), and small helpers to find or change an endpoint's runtime.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .common import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, _arn, _now, _settings, _validation


@dataclass
class _Variant:
    name: str
    model: str | None
    instance_type: str | None
    count: int | None  # None for serverless variants
    weight: float
    serverless: dict | None = None
    image: str | None = None

    def copy(self) -> "_Variant":
        return copy.deepcopy(self)


@dataclass
class _Fleet:
    config_name: str
    variants: list[_Variant]
    shadows: list[_Variant] = field(default_factory=list)
    data_capture: dict | None = None
    async_config: dict | None = None

    def variant(self, name: str) -> _Variant | None:
        for v in self.variants + self.shadows:
            if v.name == name:
                return v
        return None


def _model_image(backend: Any, model_name: str | None) -> str | None:
    model = backend._models.get(model_name) if model_name else None
    if model is None:
        return None
    if model.primary_container and model.primary_container.get("Image"):
        return model.primary_container["Image"]
    for container in model.containers or []:
        if container.get("Image"):
            return container["Image"]
    return None


def _variant_from_pv(backend: Any, pv: dict) -> _Variant:
    serverless = pv.get("ServerlessConfig")
    count = None if serverless else pv.get("InitialInstanceCount", 1)
    weight = pv.get("InitialVariantWeight")
    return _Variant(
        name=pv["VariantName"],
        model=pv.get("ModelName"),
        instance_type=pv.get("InstanceType"),
        count=count,
        weight=1.0 if weight is None else float(weight),
        serverless=copy.deepcopy(serverless) if serverless else None,
        image=_model_image(backend, pv.get("ModelName")),
    )


def _fleet_from_config(backend: Any, config_name: str) -> _Fleet:
    cfg = backend.endpoint_configs[config_name]
    return _Fleet(
        config_name=config_name,
        variants=[_variant_from_pv(backend, pv) for pv in cfg.production_variants or []],
        shadows=[
            _variant_from_pv(backend, pv)
            for pv in getattr(cfg, "shadow_production_variants", None) or []
        ],
        data_capture=copy.deepcopy(cfg.data_capture_config) or None,
        async_config=copy.deepcopy(cfg.async_inference_config) or None,
    )


@dataclass
class _Phase:
    label: str
    status: str = "Updating"
    green_stage: str | None = None
    blue_stage: str | None = None
    share: dict = field(default_factory=lambda: {"*": 0.0})  # variant -> f on green
    green_up: dict = field(default_factory=dict)  # variant -> provisioned green instances
    blue_up: dict = field(default_factory=dict)  # variant -> provisioned blue instances
    monitored: bool = False
    seconds: float = 0.0

    def f(self, name: str) -> float:
        return float(self.share.get(name, self.share.get("*", 0.0)))

    @staticmethod
    def count(table: dict, name: str, full: int | None) -> int | None:
        value = table.get(name, table.get("*"))
        return full if value is None else value


@dataclass
class _Deployment:
    kind: str  # "create" | "update" | "weights"
    phases: list[_Phase]
    green: _Fleet | None = None
    targets: dict = field(default_factory=dict)  # weights: name -> (weight, count)
    alarms: list[str] = field(default_factory=list)
    start_time: datetime = field(default_factory=_now)
    index: int = 0
    seen: bool = False
    phase_started: float = field(default_factory=time.monotonic)
    phase_since: datetime = field(default_factory=_now)
    result: str = "success"  # "success" | "rolled_back" | "rollback_failed"
    reason: str | None = None
    # MaximumExecutionTimeoutInSeconds: index of the phase in which the timeout falls, the
    # nominal seconds of that phase that pass before it, and the rollback reason.
    timeout_index: int | None = None
    timeout_left: float = 0.0
    timeout_reason: str | None = None
    fallback: str | None = None  # why guardrails fell back to all-at-once (Exclusions page)

    @property
    def current(self) -> _Phase | None:
        return self.phases[self.index] if self.index < len(self.phases) else None


@dataclass
class _Forced:
    outcome: str
    reason: str | None = None
    at_phase: str | None = None


@dataclass
class _EndpointRuntime:
    name: str
    live: _Fleet | None
    status: str = "InService"
    failure_reason: str | None = None
    last_deployment_config: dict | None = None
    deployment: _Deployment | None = None
    last_modified: datetime = field(default_factory=_now)
    config_name: str | None = None  # shown when no fleet is live (a failed create)


@dataclass
class _Experiment:
    name: str
    arn: str
    type: str
    endpoint_name: str
    role_arn: str | None
    model_variants: list[dict]
    shadow_mode_config: dict
    description: str | None = None
    data_storage_config: dict | None = None
    kms_key: str | None = None
    schedule: dict = field(default_factory=dict)
    tags: list[dict] = field(default_factory=list)
    status: str = "Creating"
    status_reason: str | None = None
    creation_time: datetime = field(default_factory=_now)
    last_modified_time: datetime = field(default_factory=_now)
    completion_time: datetime | None = None
    variant_status: dict = field(default_factory=dict)
    seen: bool = False
    phase_started: float = field(default_factory=time.monotonic)
    start_requested: bool = False
    stop: dict | None = None

    @property
    def source(self) -> str:
        return self.shadow_mode_config["SourceModelVariantName"]

    @property
    def shadow(self) -> dict:
        return self.shadow_mode_config["ShadowModelVariants"][0]

    def model_variant(self, name: str) -> dict | None:
        for mv in self.model_variants:
            if mv["VariantName"] == name:
                return mv
        return None


@dataclass
class _TransformRuntime:
    ticks_left: int
    seen: bool = False
    phase_started: float = field(default_factory=time.monotonic)


class _State:
    def __init__(self) -> None:
        self.endpoints: dict[str, _EndpointRuntime] = {}
        self.forced: dict[str, _Forced] = {}
        self.experiments: dict[str, _Experiment] = {}
        self.transforms: dict[str, _TransformRuntime] = {}
        self.promoted_configs = 0
        # InvokeEndpoint (module `invocations`): the invocation log per endpoint name, and the
        # deterministic routing credits (weighted round robin, shadow sampling) per endpoint.
        self.invocations: dict[str, list[dict]] = {}
        self.routing: dict[str, dict[tuple, float]] = {}


def _state(backend: Any) -> _State:
    # Kept on the backend object: moto's reset replaces backends, so state goes with them.
    state = backend.__dict__.get("_modelbot_sagemaker_emulator")
    if state is None:
        state = _State()
        backend.__dict__["_modelbot_sagemaker_emulator"] = state
    return state


def _backend(account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION) -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account_id][region]


def _should_advance(seen: bool, started: float, seconds: float) -> bool:
    if _settings["mode"] == "clock":
        return time.monotonic() - started >= seconds * float(_settings["time_scale"])
    return seen


def _runtime(backend: Any, name: str) -> _EndpointRuntime:
    if name not in backend.endpoints:
        raise _validation(f"Could not find endpoint '{_arn(backend, 'endpoint', name)}'.")
    state = _state(backend)
    rt = state.endpoints.get(name)
    if rt is None:  # created before install() or by other moto code (CloudFormation)
        fake = backend.endpoints[name]
        if fake.endpoint_config_name in backend.endpoint_configs:
            live = _fleet_from_config(backend, fake.endpoint_config_name)
        else:
            live = _Fleet(fake.endpoint_config_name, [
                _Variant(pv["VariantName"], None, None, pv.get("CurrentInstanceCount"),
                         float(pv.get("CurrentWeight", 1.0)))
                for pv in fake.production_variants
            ])
        rt = _EndpointRuntime(name=name, live=live, status=fake.endpoint_status)
        state.endpoints[name] = rt
    return rt


def _status(rt: _EndpointRuntime) -> str:
    dep = rt.deployment
    if dep is not None and dep.current is not None:
        return dep.current.status
    return rt.status


def _set_phase(dep: _Deployment, index: int) -> None:
    dep.index = index
    dep.seen = False
    dep.phase_started = time.monotonic()
    dep.phase_since = _now()


def _remove_endpoint(backend: Any, name: str) -> None:
    backend.endpoints.pop(name, None)
    state = _state(backend)
    state.endpoints.pop(name, None)
    state.forced.pop(name, None)
