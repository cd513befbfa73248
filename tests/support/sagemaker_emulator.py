"""SageMaker deployment behaviour that moto 5.2 lacks, added to moto for the project's tests.

Written against AWS's documented behaviour (botocore's service model and the SageMaker
developer guide: deployment guardrails, shadow tests), not against what the bot sends.
`install()` patches moto's `SageMakerResponse` (moto looks handlers up on the class when a call
arrives) and a few model classes; it works in process (`mock_aws`) and in server mode
(`ThreadedMotoServer` in this process, or `python -m tests.support.moto_server --port N`).

What it adds or fixes
---------------------
Each rule's code comment names the AWS page or botocore field it follows; behaviour AWS does
not document is marked "Assumption:" there, with the reason. "Guide" below is the SageMaker
Developer Guide.

- UpdateEndpoint with DeploymentConfig (blue/green ALL_AT_ONCE | CANARY | LINEAR, rolling),
  RetainAllVariantProperties / ExcludeRetainedVariantProperties (the new fleet keeps the
  latest DesiredInstanceCount / weight; without it, the new config's InitialInstanceCount),
  RetainDeploymentConfig, AutoRollbackConfiguration driven by moto's CloudWatch alarm states
  (same account/region; composite alarms evaluated from their rule; an alarm that does not
  exist never trips - assumption, Guide "Auto-Rollback Configuration and Monitoring").
- UpdateEndpoint refusals (ValidationException): any DeploymentConfig when the current or the
  new config is serverless (Guide "Deployment guardrails": guardrails "only apply to
  Asynchronous inference and Real-time inference endpoint types"); instance-based -> serverless
  (Guide "Serverless Inference"; serverless -> instance-based is allowed); changing the instance
  type of, or removing, a variant registered with Application Auto Scaling (Guide "Update
  endpoints that use auto scaling"; a model change is allowed); an endpoint that is Creating,
  Updating, SystemUpdating, RollingBack or Deleting ("Cannot update in-progress endpoint").
  Adding/removing AsyncInferenceConfig is NOT refused (AWS documents no such refusal).
- Guardrail fallbacks (Guide "Exclusions"): Inf1 instances, Marketplace containers (assumption:
  a ModelPackageName of another account), and rolling updates of multi-variant endpoints run
  as blue/green all at once with no canary, no final bake and no alarm monitoring, silently.
- MaximumExecutionTimeoutInSeconds 600-28800 (botocore) for both policies; a deployment whose
  bakes (WaitIntervalInSeconds / TerminationWaitInSeconds) reach the timeout rolls back
  (assumption: only the documented waits count; see `_execution_timeout`).
- DeleteEndpoint: Deleting for `delete_ticks` describe calls, then gone; refused while the
  endpoint is Creating/Updating/SystemUpdating/RollingBack/Deleting (assumption); deregisters
  the endpoint's scalable targets and their policies (Guide "Delete endpoints configured for
  auto scaling"). DeleteEndpointConfig of a config in use stays allowed (UpdateEndpoint API:
  you "must not", and "may lose visibility" - advice, not a refusal).
- CreateEndpointConfig with a serverless variant refuses the Serverless Inference "Feature
  exclusions": several production variants, shadow variants, DataCaptureConfig, VpcConfig,
  network isolation, Multi-Model containers, inference pipelines, Marketplace packages and
  private registries (ImageConfig Vpc) on the variant's model. CreateModel keeps
  EnableNetworkIsolation (moto dropped it).
- Application Auto Scaling and CloudWatch (tests/support/aas_cloudwatch_emulator.py, installed
  with this module): PutCompositeAlarm, DescribeAlarms AlarmTypes, RegisterScalableTarget
  checks (variant exists, 1 <= Min <= Max, 0 allowed for asynchronous endpoints) and capacity
  clamping, DeregisterScalableTarget deletes the target's policies.
- DescribeEndpoint: PendingDeploymentSummary, LastDeploymentConfig, VariantStatus,
  ShadowProductionVariants, AsyncInferenceConfig, DataCaptureConfig (summary shape),
  DeployedImages, FailureReason.
- CreateEndpoint: `Creating` for `create_ticks` describe calls (AWS does not create instantly).
- UpdateEndpointWeightsAndCapacities: leaving out DesiredWeight/DesiredInstanceCount keeps the
  current value; endpoint must be InService; `Updating` for one tick with Desired != Current.
- CreateEndpointConfig keeps ShadowProductionVariants (one production + one shadow at most),
  ExecutionRoleArn, VpcConfig, EnableNetworkIsolation, ExplainerConfig; DescribeEndpointConfig
  echoes them and drops moto's empty DataCaptureConfig. Instance types are checked against
  botocore's ProductionVariantInstanceType enum instead of moto's old list.
- Inference experiments (ShadowMode): Create/Describe/Start/Stop/List.
- Duplicate CreateModel / CreateEndpointConfig / CreateEndpoint names: ValidationException
  ("Cannot create already existing ...") instead of moto's silent overwrite.
- Tags on CreateModel/CreateEndpointConfig/CreateEndpoint/CreateTransformJob/
  CreateInferenceExperiment/AddTags: at most 50, key 1-128, value 0-256, pattern
  [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*, `aws:` prefix reserved. AddTags overwrites existing keys.
- Transform jobs: InProgress for `transform_ticks` describe calls, then Completed;
  StopTransformJob: Stopping, then (next describe) Stopped. CreateTransformJob refuses an
  instance type outside botocore's TransformInstanceType enum, InstanceCount outside 1-100,
  MaxPayloadInMB > 100, MaxConcurrentTransforms x MaxPayloadInMB > 100 (default payload 6 MB),
  and a BatchStrategy with SplitType None (botocore: "you must set the SplitType"; the refusal
  is an assumption). DataProcessing.JoinSource has no documented refusal and is not checked.

Ticks
-----
Progress is driven by Describe* calls, not wall time, so tests are deterministic: every
DescribeEndpoint shows the current phase and, if that phase was already shown by an earlier
describe, first moves one phase on. So the first describe after UpdateEndpoint shows the first
phase. Alarms (AutoRollbackConfiguration) are read on every describe while the phase is
monitored (traffic on the new fleet: ActivatingTraffic and Baking); if one is in ALARM the
describe already shows RollingBack. `configure(mode="clock", time_scale=s)` instead moves on by
wall time: each phase lasts its nominal AWS seconds (bakes: WaitIntervalInSeconds, final bake:
TerminationWaitInSeconds, provisioning 300, traffic switch 30, termination/rollback 60) times
`time_scale` real seconds, still evaluated lazily on describe.

Phase sequences (one line = one describe tick; f = share of traffic on the new fleet)
------------------------------------------------------------------------------------------
During an update EndpointStatus is Updating, EndpointConfigName stays the OLD config,
`ProductionVariants` describes the old (blue) fleet and `PendingDeploymentSummary` the new
(green) one. The traffic split is shown in the weights: blue CurrentWeight = w*(1-f), green
CurrentWeight = w*f, DesiredWeight = the configured weight w on both, so
f = green CurrentWeight / DesiredWeight. CurrentInstanceCount counts provisioned instances.

  ALL_AT_ONCE (also UpdateEndpoint without DeploymentConfig, AWS's default):
    provision-green   green VariantStatus Creating           f=0   green instances 0
    shift-all         green ActivatingTraffic                f=1
    final-bake x B    green Baking (TerminationWaitInSeconds) f=1  [only with BlueGreenUpdatePolicy]
    terminate-blue    blue VariantStatus Deleting            f=1   blue DesiredInstanceCount 0
    -> InService on the new config, LastDeploymentConfig set, no PendingDeploymentSummary
  CANARY (c = canary share of the new fleet):
    provision-green   Creating          f=0
    canary-shift      ActivatingTraffic f=c
    canary-bake x B   Baking            f=c   (WaitIntervalInSeconds)
    full-shift        ActivatingTraffic f=1
    final-bake x B    Baking            f=1   (TerminationWaitInSeconds)
    terminate-blue    blue Deleting     f=1
    -> InService on the new config
  LINEAR (step s, n = ceil(1/s) steps):
    provision-green                     f=0
    linear-step-k, linear-bake-k x B    f=k*s   for k = 1 .. n-1
    linear-step-n     ActivatingTraffic f=1
    final-bake x B    Baking            f=1
    terminate-blue    blue Deleting     f=1
    -> InService on the new config
  ROLLING (batch b instances of N; old instances are replaced batch by batch):
    rolling-batch-k-provision  green Creating, green instances k*b, f=(k-1)*b/N
    rolling-batch-k-shift      ActivatingTraffic, f=k*b/N, blue instances N-k*b
    rolling-batch-k-bake x B   Baking (WaitIntervalInSeconds)
    -> InService on the new config
  Rollback (alarm in ALARM during a monitored phase, or forced):
    rollback          EndpointStatus RollingBack, f=0, green VariantStatus Deleting
    -> InService on the OLD EndpointConfigName with FailureReason (the endpoint_in_service
       waiter succeeds: compare EndpointConfigName), or UpdateRollbackFailed if forced.
  CreateEndpoint: `create` x create_ticks (EndpointStatus Creating, PendingDeploymentSummary
    only, no ProductionVariants yet) -> InService.
  DeleteEndpoint: `delete` x delete_ticks (EndpointStatus Deleting) -> "Could not find endpoint".
  Fallback (Inf1, Marketplace, rolling on several variants): provision-green, shift-all,
    terminate-blue, whatever DeploymentConfig asked for.
  Timeout: the bake in which the waits reach MaximumExecutionTimeoutInSeconds is shown, then
    rollback (in clock mode once the rest of the timeout has passed).
  UpdateEndpointWeightsAndCapacities: `apply-weights` (Updating, Desired != Current,
    VariantStatus Updating) -> InService with Current = Desired.
  B = `bake_ticks` (default 1).

Inference experiments advance on DescribeInferenceExperiment the same way:
  Creating -> Created -> (start requested, or Schedule.StartTime reached; no Schedule means
  "start now", as documented) Starting [endpoint Updating] -> Running [endpoint InService with
  the shadow variant in ShadowProductionVariants] ... StopInferenceExperiment -> Stopping
  [endpoint Updating] -> Completed | Cancelled [ModelVariantActions applied].
  Promote on the shadow variant: the endpoint moves to a generated endpoint config
  "<endpoint>-promoted-<n>" whose single production variant is the shadow's model (named as
  the shadow variant); the source variant leaves production whatever its action. Retain on the
  shadow keeps it as the endpoint's shadow; Remove deletes it.

Test control
------------
In process: `force_outcome(endpoint, "Failed" | "UpdateRollbackFailed" | "RolledBack",
reason=None, at_phase=None)` arms an outcome for the running (or next) deployment of that
endpoint, applied on the next describe tick (or when the deployment reaches the phase whose
label or variant stage equals `at_phase`, e.g. "Baking" or "canary-bake"). `configure(...)`,
`settings()`, `current_phase(endpoint)` (no tick).
Server mode: POST JSON to `<url>/moto-api/sagemaker-emulator/force-outcome`
({"endpoint_name", "outcome", "reason"?, "at_phase"?, "account_id"?, "region"?}),
`/configure` ({setting: value}) and `/phase` ({"endpoint_name"}); the helpers
`force_outcome_remote`, `configure_remote`, `current_phase_remote` do that.
Any moto reset (/moto-api/reset, a new mock_aws) clears emulator state and settings.

Installing
----------
`install()` / `uninstall()` are reference-counted and restore moto when the last install is
undone, so tests elsewhere in the same pytest process see plain moto. Pytest helpers:
`start_moto_server() -> (url, stop)` (installs; `stop()` uninstalls), `reset(url)`,
`client(service, url)` (dummy credentials, max_attempts 1).
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import os
import threading
import time
import unicodedata
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

_DEFAULT_SETTINGS: dict[str, Any] = {
    "mode": "describe",  # "describe": one phase per describe call; "clock": wall time
    "bake_ticks": 1,  # describe ticks per baking period
    "create_ticks": 1,  # describe ticks an endpoint stays Creating (0: InService at once)
    "transform_ticks": 1,  # describe ticks a transform job stays InProgress (0: at once)
    "delete_ticks": 1,  # describe ticks an endpoint stays Deleting (0: gone at once)
    "time_scale": 0.001,  # clock mode: real seconds per nominal AWS second
}
_settings: dict[str, Any] = dict(_DEFAULT_SETTINGS)

# Nominal AWS durations in seconds, used only in clock mode.
PROVISION_SECONDS = 300.0
ACTIVATE_SECONDS = 30.0
DELETE_SECONDS = 60.0
ROLLBACK_SECONDS = 60.0
UPDATE_SECONDS = 60.0
EXPERIMENT_STEP_SECONDS = 60.0
TRANSFORM_SECONDS = 60.0

FORCEABLE_OUTCOMES = ("Failed", "UpdateRollbackFailed", "RolledBack")
CONTROL_PREFIX = "/moto-api/sagemaker-emulator"

_LOCK = threading.RLock()


# --------------------------------------------------------------------------- settings


def settings() -> dict[str, Any]:
    """A copy of the current emulator settings."""
    return dict(_settings)


def configure(**changes: Any) -> dict[str, Any]:
    """Change emulator settings (mode, bake_ticks, create_ticks, transform_ticks, delete_ticks,
    time_scale)."""
    unknown = set(changes) - set(_DEFAULT_SETTINGS)
    if unknown:
        raise ValueError(f"unknown emulator settings: {sorted(unknown)}")
    if "mode" in changes and changes["mode"] not in ("describe", "clock"):
        raise ValueError("mode must be 'describe' or 'clock'")
    for key in ("bake_ticks",):
        if key in changes and int(changes[key]) < 1:
            raise ValueError(f"{key} must be >= 1")
    for key in ("create_ticks", "transform_ticks", "delete_ticks"):
        if key in changes and int(changes[key]) < 0:
            raise ValueError(f"{key} must be >= 0")
    if "time_scale" in changes and float(changes["time_scale"]) <= 0:
        raise ValueError("time_scale must be > 0")
    with _LOCK:
        _settings.update(changes)
        return dict(_settings)


def _reset_settings() -> None:
    with _LOCK:
        _settings.clear()
        _settings.update(_DEFAULT_SETTINGS)


# --------------------------------------------------------------------------- errors


def _errors():  # imported lazily so that importing this module does not import moto
    from moto.sagemaker import exceptions

    return exceptions


def _validation(message: str) -> Exception:
    return _errors().ValidationError(message=message)


def _not_found(message: str) -> Exception:
    return _errors().ResourceNotFound(message=message)


def _conflict(message: str) -> Exception:
    return _errors().ConflictException(message)


def _in_use(message: str) -> Exception:
    return _errors().ResourceInUseException(message=message)


def _arn(backend: Any, kind: str, name: str) -> str:
    from moto.sagemaker.utils import arn_formatter

    return arn_formatter(kind, name, backend.account_id, backend.region_name)


def _now() -> datetime:
    from moto.core.utils import utcnow

    return utcnow()


def _naive_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc).replace(tzinfo=None)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


# --------------------------------------------------------------------------- service model


_service_model_cache: dict[str, Any] = {}


def _service_shapes() -> dict[str, Any]:
    if "shapes" not in _service_model_cache:
        import botocore

        path = os.path.join(
            os.path.dirname(botocore.__file__),
            "data",
            "sagemaker",
            "2017-07-24",
            "service-2.json.gz",
        )
        with gzip.open(path) as fh:
            _service_model_cache["shapes"] = json.load(fh)["shapes"]
    return _service_model_cache["shapes"]


def production_variant_instance_types() -> list[str]:
    """Instance types AWS accepts for a production variant (botocore's enum)."""
    return list(_service_shapes()["ProductionVariantInstanceType"]["enum"])


def transform_instance_types() -> list[str]:
    """Instance types AWS accepts for a transform job (botocore's TransformInstanceType enum)."""
    return list(_service_shapes()["TransformInstanceType"]["enum"])


# --------------------------------------------------------------------------- tags

_TAG_PATTERN = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"
_TAG_EXTRA_CHARS = set("_.:/=+-@")


def _tag_chars_ok(text: str) -> bool:
    for ch in text:
        if ch in _TAG_EXTRA_CHARS:
            continue
        if unicodedata.category(ch)[0] in ("L", "Z", "N"):
            continue
        return False
    return True


def validate_tags(tags: list[dict[str, Any]] | None, existing: list[dict[str, Any]] | None = None) -> None:
    """Raise ValidationException for tags AWS rejects (count, length, pattern, aws: prefix)."""
    if not tags:
        return
    keys = {t.get("Key") for t in existing or []} | {t.get("Key") for t in tags}
    if len(tags) > 50 or len(keys) > 50:
        raise _validation(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
            "Member must have length less than or equal to 50"
        )
    for index, tag in enumerate(tags, start=1):
        key = tag.get("Key")
        value = tag.get("Value", "")
        if key is None or not 1 <= len(key) <= 128:
            raise _validation(
                f"1 validation error detected: Value '{key}' at 'tags.{index}.member.key' failed "
                "to satisfy constraint: Member must have length between 1 and 128"
            )
        if value is None or len(value) > 256:
            raise _validation(
                f"1 validation error detected: Value '{value}' at 'tags.{index}.member.value' "
                "failed to satisfy constraint: Member must have length less than or equal to 256"
            )
        for part, text in (("key", key), ("value", value)):
            if not _tag_chars_ok(text):
                raise _validation(
                    f"1 validation error detected: Value '{text}' at 'tags.{index}.member.{part}' "
                    f"failed to satisfy constraint: Member must satisfy regular expression pattern: "
                    f"{_TAG_PATTERN}"
                )
        if key.lower().startswith("aws:"):
            raise _validation(
                f"Tag keys beginning with 'aws:' are reserved for system use: '{key}'."
            )


# --------------------------------------------------------------------------- fleet model


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


# --------------------------------------------------------------------------- phases


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


def _portion_fraction(size: dict, v: _Variant) -> float:
    """Share of a variant's new fleet that a CapacitySize turns on (rounded up to instances)."""
    value = int(size["Value"])
    if size["Type"] == "CAPACITY_PERCENT":
        if not v.count:
            return min(1.0, value / 100.0)
        return min(1.0, max(1, math.ceil(value * v.count / 100.0)) / v.count)
    return min(1.0, value / v.count) if v.count else 1.0


def _portion_instances(size: dict, count: int) -> int:
    value = int(size["Value"])
    if size["Type"] == "CAPACITY_PERCENT":
        return min(count, max(1, math.ceil(value * count / 100.0)))
    return min(count, value)


def _bake(label: str, share: dict, seconds: float) -> list[_Phase]:
    ticks = max(1, int(_settings["bake_ticks"]))
    return [
        _Phase(label, green_stage="Baking", share=dict(share), monitored=True, seconds=seconds / ticks)
        for _ in range(ticks)
    ]


def _blue_green_phases(green: _Fleet, config: dict | None) -> list[_Phase]:
    policy = (config or {}).get("BlueGreenUpdatePolicy")
    explicit = policy is not None
    routing = (policy or {}).get("TrafficRoutingConfiguration") or {
        "Type": "ALL_AT_ONCE",
        "WaitIntervalInSeconds": 0,
    }
    kind = routing.get("Type", "ALL_AT_ONCE")
    wait = float(routing.get("WaitIntervalInSeconds") or 0)
    termination = float((policy or {}).get("TerminationWaitInSeconds") or 0)
    zero = {v.name: 0 for v in green.variants + green.shadows}
    full = {"*": 1.0}

    phases = [
        _Phase("provision-green", green_stage="Creating", share={"*": 0.0}, green_up=zero,
               seconds=PROVISION_SECONDS)
    ]
    if kind == "CANARY":
        share = {v.name: _portion_fraction(routing["CanarySize"], v) for v in green.variants}
        share["*"] = share[green.variants[0].name]
        phases.append(_Phase("canary-shift", green_stage="ActivatingTraffic", share=share,
                             monitored=True, seconds=ACTIVATE_SECONDS))
        phases += _bake("canary-bake", share, wait)
        phases.append(_Phase("full-shift", green_stage="ActivatingTraffic", share=full,
                             monitored=True, seconds=ACTIVATE_SECONDS))
    elif kind == "LINEAR":
        steps: dict[str, list[float]] = {}
        for v in green.variants:
            size = routing["LinearStepSize"]
            if v.count:
                step = _portion_instances(size, v.count)
                n = math.ceil(v.count / step)
                steps[v.name] = [min(1.0, k * step / v.count) for k in range(1, n + 1)]
            else:
                pct = int(size["Value"])
                n = math.ceil(100 / pct)
                steps[v.name] = [min(1.0, k * pct / 100.0) for k in range(1, n + 1)]
        total = max(len(s) for s in steps.values())
        for k in range(total - 1):
            share = {name: s[min(k, len(s) - 1)] for name, s in steps.items()}
            share["*"] = share[green.variants[0].name]
            phases.append(_Phase(f"linear-step-{k + 1}", green_stage="ActivatingTraffic",
                                 share=share, monitored=True, seconds=ACTIVATE_SECONDS))
            phases += _bake(f"linear-bake-{k + 1}", share, wait)
        phases.append(_Phase(f"linear-step-{total}", green_stage="ActivatingTraffic", share=full,
                             monitored=True, seconds=ACTIVATE_SECONDS))
    else:
        phases.append(_Phase("shift-all", green_stage="ActivatingTraffic", share=full,
                             monitored=True, seconds=ACTIVATE_SECONDS))
    if explicit:
        phases += _bake("final-bake", full, termination)
    phases.append(_Phase("terminate-blue", blue_stage="Deleting", share=full,
                         seconds=DELETE_SECONDS))
    return phases


def _rolling_phases(blue: _Fleet, green: _Fleet, policy: dict) -> list[_Phase]:
    v = green.variants[0]
    total = v.count or 1
    old = blue.variant(v.name)
    old_total = old.count if old and old.count else total
    batch = _portion_instances(policy["MaximumBatchSize"], total)
    wait = float(policy.get("WaitIntervalInSeconds") or 0)
    phases: list[_Phase] = []
    for k in range(1, math.ceil(total / batch) + 1):
        up = min(total, k * batch)
        before = min(total, (k - 1) * batch)
        phases.append(_Phase(f"rolling-batch-{k}-provision", green_stage="Creating",
                             share={"*": before / total}, green_up={"*": up},
                             blue_up={"*": max(0, old_total - before)},
                             monitored=k > 1, seconds=PROVISION_SECONDS))
        phases.append(_Phase(f"rolling-batch-{k}-shift", green_stage="ActivatingTraffic",
                             share={"*": up / total}, green_up={"*": up},
                             blue_up={"*": max(0, old_total - up)},
                             monitored=True, seconds=ACTIVATE_SECONDS))
        for p in _bake(f"rolling-batch-{k}-bake", {"*": up / total}, wait):
            p.green_up = {"*": up}
            p.blue_up = {"*": max(0, old_total - up)}
            phases.append(p)
    return phases


def _rollback_phase(after: _Phase | None) -> _Phase:
    return _Phase("rollback", status="RollingBack", green_stage="Deleting", share={"*": 0.0},
                  green_up=dict(after.green_up) if after else {}, blue_up={},
                  seconds=ROLLBACK_SECONDS)


# --------------------------------------------------------------------------- runtime state


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


# --------------------------------------------------------------------------- endpoints


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


# --------------------------------------------------------------------------- validation


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


# --------------------------------------------------------------------------- handlers
# Each handler is installed as a method of moto's SageMakerResponse: `self` is the response.


_ORIGINAL: dict[str, Callable] = {}


def _original(self: Any, name: str) -> Any:
    return _ORIGINAL[name](self)


def _action_result(value: Any) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult(value)


def _empty_result() -> Any:
    from moto.core.responses import EmptyResult

    return EmptyResult()


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


def _remove_endpoint(backend: Any, name: str) -> None:
    backend.endpoints.pop(name, None)
    state = _state(backend)
    state.endpoints.pop(name, None)
    state.forced.pop(name, None)


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


# --------------------------------------------------------------------------- transform jobs


def _validate_transform_job(self: Any) -> None:
    """CreateTransformJob rules from botocore's service model (sagemaker 2017-07-24)."""
    resources = self._get_param("TransformResources") or {}
    instance_type = resources.get("InstanceType")
    # TransformResources.InstanceType: shape TransformInstanceType (an enum).
    if instance_type not in transform_instance_types():
        raise _validation(
            f"1 validation error detected: Value '{instance_type}' at "
            "'transformResources.instanceType' failed to satisfy constraint: Member must "
            f"satisfy enum value set: [{', '.join(transform_instance_types())}]")
    # TransformResources.InstanceCount: "The default value is 1, and the maximum is 100"
    # (shape TransformInstanceCount, min 1).
    count = resources.get("InstanceCount")
    if count is not None and not 1 <= int(count) <= 100:
        raise _validation(
            f"1 validation error detected: Value '{count}' at 'transformResources.instanceCount' "
            "failed to satisfy constraint: Member must have value between 1 and 100")
    # MaxPayloadInMB: "The value of MaxPayloadInMB cannot be greater than 100 MB. If you specify
    # the MaxConcurrentTransforms parameter, the value of (MaxConcurrentTransforms *
    # MaxPayloadInMB) also cannot exceed 100 MB." (default payload 6 MB)
    payload = self._get_param("MaxPayloadInMB")
    concurrent = self._get_param("MaxConcurrentTransforms")
    if payload is not None and int(payload) > 100:
        raise _validation(f"MaxPayloadInMB {payload} is invalid: it cannot be greater than 100 MB.")
    effective = 6 if payload is None else int(payload)
    if concurrent is not None and int(concurrent) * effective > 100:
        raise _validation(
            f"MaxConcurrentTransforms ({concurrent}) x MaxPayloadInMB ({effective}) = "
            f"{int(concurrent) * effective} MB exceeds 100 MB.")
    # BatchStrategy: "To enable the batch strategy, you must set the SplitType property to Line,
    # RecordIO, or TFRecord." Assumption: AWS refuses a BatchStrategy with SplitType None
    # (or left out, whose default is None) with a ValidationException.
    split = (self._get_param("TransformInput") or {}).get("SplitType") or "None"
    strategy = self._get_param("BatchStrategy")
    if strategy and split == "None":
        raise _validation(
            f"BatchStrategy {strategy} needs TransformInput.SplitType Line, RecordIO or "
            "TFRecord (SplitType is None).")
    # DataProcessing.JoinSource Input: botocore documents how the join works for JSON and CSV,
    # not a refusal, so nothing is refused here.


def h_create_transform_job(self: Any) -> Any:
    backend = self.sagemaker_backend
    with _LOCK:
        validate_tags(self._get_param("Tags"))
        _validate_transform_job(self)
        result = _original(self, "create_transform_job")
        ticks = int(_settings["transform_ticks"])
        if ticks > 0:
            name = self._get_param("TransformJobName")
            job = backend.transform_jobs[name]
            job.transform_job_status = "InProgress"
            job.transform_end_time = None
            _state(backend).transforms[name] = _TransformRuntime(ticks_left=ticks)
        return result


def h_describe_transform_job(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("TransformJobName")
    with _LOCK:
        job = backend.transform_jobs.get(name)
        rt = _state(backend).transforms.get(name)
        if job is not None and rt is not None:
            if job.transform_job_status in ("InProgress", "Stopping") and _should_advance(
                rt.seen, rt.phase_started, TRANSFORM_SECONDS
            ):
                if job.transform_job_status == "Stopping":
                    job.transform_job_status = "Stopped"
                else:
                    rt.ticks_left -= 1
                    if rt.ticks_left <= 0:
                        job.transform_job_status = "Completed"
                if job.transform_job_status in ("Completed", "Stopped"):
                    job.transform_end_time = _now()
                job.last_modified_time = _now()
                rt.seen = False
                rt.phase_started = time.monotonic()
            rt.seen = True
        return _original(self, "describe_transform_job")


def h_stop_transform_job(self: Any) -> Any:
    backend = self.sagemaker_backend
    name = self._get_param("TransformJobName")
    with _LOCK:
        job = backend.transform_jobs.get(name)
        if job is None:
            raise _not_found(
                f"Could not find transform job '{_arn(backend, 'transform-job', name)}'."
            )
        if job.transform_job_status == "Stopping":
            return _empty_result()
        if job.transform_job_status != "InProgress":
            raise _validation(
                f"The transform job '{name}' cannot be stopped: its status is "
                f"{job.transform_job_status}."
            )
        job.transform_job_status = "Stopping"
        job.last_modified_time = _now()
        rt = _state(backend).transforms.setdefault(name, _TransformRuntime(ticks_left=0))
        rt.seen = False
        rt.phase_started = time.monotonic()
        return _empty_result()


# --------------------------------------------------------------------------- inference experiments


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


# --------------------------------------------------------------------------- test control


def force_outcome(
    endpoint_name: str,
    outcome: str,
    *,
    reason: str | None = None,
    at_phase: str | None = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
    region: str = DEFAULT_REGION,
) -> None:
    """Arm an outcome (Failed | UpdateRollbackFailed | RolledBack) for an endpoint's deployment.

    Applied on the next DescribeEndpoint tick of the running deployment (or of the next one
    started), or when it reaches the phase whose label or variant stage equals `at_phase`.
    Failed: the endpoint goes Failed (old config kept; a failed create has no variants).
    UpdateRollbackFailed: RollingBack, then UpdateRollbackFailed. RolledBack: RollingBack, then
    InService on the old config with FailureReason, as after an alarm.
    """
    if outcome not in FORCEABLE_OUTCOMES:
        raise ValueError(f"outcome must be one of {FORCEABLE_OUTCOMES}")
    with _LOCK:
        _state(_backend(account_id, region)).forced[endpoint_name] = _Forced(outcome, reason, at_phase)


def current_phase(
    endpoint_name: str, *, account_id: str = DEFAULT_ACCOUNT_ID, region: str = DEFAULT_REGION
) -> str | None:
    """Label of the phase the endpoint's deployment is in (None when none runs); no tick."""
    with _LOCK:
        backend = _backend(account_id, region)
        if endpoint_name not in backend.endpoints:
            return None
        rt = _runtime(backend, endpoint_name)
        phase = rt.deployment.current if rt.deployment else None
        return phase.label if phase else None


def _json_body(request: Any) -> dict:
    try:
        data = request.get_data()
    except Exception:  # pragma: no cover - non-werkzeug request
        data = getattr(request, "body", b"")
    if not data:
        length = int(request.headers.get("Content-Length") or 0)
        data = request.environ["wsgi.input"].read(length) if length else b""
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    return json.loads(data) if data else {}


def _control_response(fn: Callable[[dict], Any]) -> Callable:
    def view(request: Any, full_url: str, headers: Any) -> tuple[int, dict, str]:
        try:
            result = fn(_json_body(request))
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"Content-Type": "application/json"}, json.dumps({"Error": str(exc)})
        return 200, {"Content-Type": "application/json"}, json.dumps(result)

    view.__name__ = f"sagemaker_emulator_{fn.__name__.lstrip('_')}"
    view.__module__ = __name__
    return view


def _control_force(body: dict) -> dict:
    force_outcome(
        body["endpoint_name"], body["outcome"], reason=body.get("reason"),
        at_phase=body.get("at_phase"), account_id=body.get("account_id", DEFAULT_ACCOUNT_ID),
        region=body.get("region", DEFAULT_REGION),
    )
    return {"status": "ok"}


def _control_configure(body: dict) -> dict:
    return configure(**body)


def _control_phase(body: dict) -> dict:
    return {"phase": current_phase(
        body["endpoint_name"], account_id=body.get("account_id", DEFAULT_ACCOUNT_ID),
        region=body.get("region", DEFAULT_REGION))}


# --------------------------------------------------------------------------- install


_NEW_ACTIONS = {
    "update_endpoint": h_update_endpoint,
    "create_inference_experiment": h_create_inference_experiment,
    "describe_inference_experiment": h_describe_inference_experiment,
    "start_inference_experiment": h_start_inference_experiment,
    "stop_inference_experiment": h_stop_inference_experiment,
    "list_inference_experiments": h_list_inference_experiments,
    "stop_transform_job": h_stop_transform_job,
}
_WRAPPED_ACTIONS = {
    "create_model": h_create_model,
    "create_endpoint_config": h_create_endpoint_config,
    "describe_endpoint_config": h_describe_endpoint_config,
    "create_endpoint": h_create_endpoint,
    "describe_endpoint": h_describe_endpoint,
    "delete_endpoint": h_delete_endpoint,
    "update_endpoint_weights_and_capacities": h_update_endpoint_weights_and_capacities,
    "add_tags": h_add_tags,
    "create_transform_job": h_create_transform_job,
    "describe_transform_job": h_describe_transform_job,
}


_install_count = 0
_undo: list[Callable[[], None]] = []


def install() -> None:
    """Patch moto (reference-counted: each install() is balanced by one uninstall()).

    Call before mock_aws() or before starting a moto server in this process.
    """
    global _install_count
    with _LOCK:
        _install_count += 1
        if _install_count > 1:
            return
        from moto.core.base_backend import BackendDict
        from moto.moto_api._internal import urls as moto_api_urls
        from moto.sagemaker.models import FakeEndpointConfig, SageMakerModelBackend
        from moto.sagemaker.responses import SageMakerResponse

        def patch(owner: Any, name: str, value: Any) -> None:
            missing = object()
            before = owner.__dict__.get(name, missing)
            setattr(owner, name, value)
            if before is missing:
                _undo.append(lambda: delattr(owner, name))
            else:
                _undo.append(lambda: setattr(owner, name, before))

        for name, handler in _WRAPPED_ACTIONS.items():
            _ORIGINAL[name] = getattr(SageMakerResponse, name)
            patch(SageMakerResponse, name, handler)
        for name, handler in _NEW_ACTIONS.items():
            patch(SageMakerResponse, name, handler)
        patch(FakeEndpointConfig, "validate_instance_type", _validate_instance_type)
        patch(SageMakerModelBackend, "_get_resource_from_arn",
              _wrap_get_resource_from_arn(SageMakerModelBackend._get_resource_from_arn))

        original_reset = BackendDict.reset.__func__

        def reset(cls: Any) -> None:
            original_reset(cls)
            _reset_settings()

        patch(BackendDict, "reset", classmethod(reset))

        from tests.support import aas_cloudwatch_emulator

        aas_cloudwatch_emulator.install(patch)
        _undo.append(aas_cloudwatch_emulator.uninstall)

        for suffix, fn in (
            ("force-outcome", _control_force),
            ("configure", _control_configure),
            ("phase", _control_phase),
        ):
            key = "{0}" + f"{CONTROL_PREFIX}/{suffix}"
            moto_api_urls.url_paths[key] = _control_response(fn)
            _undo.append(lambda key=key: moto_api_urls.url_paths.pop(key, None))


def uninstall() -> None:
    """Undo one install(); moto is restored when the last one is undone."""
    global _install_count
    with _LOCK:
        if _install_count == 0:
            return
        _install_count -= 1
        if _install_count:
            return
        while _undo:
            _undo.pop()()
        _ORIGINAL.clear()
        _reset_settings()


def is_installed() -> bool:
    """Whether moto is currently patched."""
    return _install_count > 0


# --------------------------------------------------------------------------- server helpers


def start_moto_server(port: int = 0, host: str = "127.0.0.1") -> tuple[str, Callable[[], None]]:
    """Install the emulator and start moto's ThreadedMotoServer; returns (url, stop).

    `stop()` shuts the server down and undoes this call's install().
    """
    import logging

    from moto.server import ThreadedMotoServer

    install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    try:
        server.start()
    except BaseException:
        uninstall()
        raise
    bound_host, bound_port = server.get_host_and_port()

    def stop() -> None:
        try:
            server.stop()
        finally:
            uninstall()

    return f"http://{bound_host}:{bound_port}", stop


def _post(url: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url.rstrip("/") + path,
        data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode() or "{}"
    return json.loads(text)


def reset(url: str) -> None:
    """Reset a moto server (all services, emulator state and settings)."""
    _post(url, "/moto-api/reset")


def force_outcome_remote(url: str, endpoint_name: str, outcome: str, *, reason: str | None = None,
                         at_phase: str | None = None, account_id: str = DEFAULT_ACCOUNT_ID,
                         region: str = DEFAULT_REGION) -> None:
    """`force_outcome` on a moto server started with the emulator installed."""
    body = {"endpoint_name": endpoint_name, "outcome": outcome, "account_id": account_id,
            "region": region}
    if reason is not None:
        body["reason"] = reason
    if at_phase is not None:
        body["at_phase"] = at_phase
    _post(url, f"{CONTROL_PREFIX}/force-outcome", body)


def configure_remote(url: str, **changes: Any) -> dict:
    """`configure` on a moto server started with the emulator installed."""
    return _post(url, f"{CONTROL_PREFIX}/configure", changes)


def current_phase_remote(url: str, endpoint_name: str, *, account_id: str = DEFAULT_ACCOUNT_ID,
                         region: str = DEFAULT_REGION) -> str | None:
    """`current_phase` on a moto server started with the emulator installed."""
    return _post(url, f"{CONTROL_PREFIX}/phase", {"endpoint_name": endpoint_name,
                                                  "account_id": account_id,
                                                  "region": region})["phase"]


def client(service: str, url: str | None = None, region: str = DEFAULT_REGION) -> Any:
    """A boto3 client for moto: dummy credentials, no retries, endpoint `url` if given."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )
