"""Tearing down the endpoint of a deleted manifest: what to remove (pure) and the steps (thin).

A merged pull request that deletes a manifest plans a teardown per environment
(`bot.core.plan.plan` with `DeploySpec(deleted=True)`). `build_teardown(spec, plan, live, commits)`
turns it into `TeardownRequests`: the names of everything a deploy of that manifest may have
created on the endpoint, from the plan and the live state and from the deterministic names of
every commit the ledger ever deployed there (`<name>-<environment>-<commit7>` and its
`-promoted` config), so resources of earlier rollouts that a crash or a rollback left behind are
found without listing the account. `teardown_step` then removes them, one phase at a time:

    scaling     modelbot's scaling policies (of the endpoint's variant, or of the copies of an
                inference component: `inference-component/<name>`) (`modelbot-target-tracking`,
                `modelbot-backlog-without-capacity`; AWS deletes the TargetTracking-* alarms of
                the first with it), then the scalable target the manifest registered, and the
                async backlog alarm (`<endpoint>-backlog-no-capacity`, recognised by its
                `modelbot:` description)
    components  DeleteInferenceComponent of the manifest's inference component (mode
                inference_component) when it carries modelbot's tags, then wait until it is gone:
                an endpoint's components go before the endpoint. A component on a shared
                endpoint (`shared`) removes only itself, its scaling and its models: the
                endpoint and its configs are its host's
    endpoint    DeleteEndpoint, then wait until DescribeEndpoint no longer finds it
    configs     DeleteEndpointConfig of each config that carries modelbot's tags for this
                manifest (`modelbot:environment` and `modelbot:model`)
    models      DeleteModel, the same way
    done

Only what modelbot created is deleted: a resource without modelbot's tags for this model and
environment (an endpoint, config or model someone made by hand, a scalable target the manifest
never asked for, a scaling policy or alarm of someone else) is left as it is and listed in
`TeardownState.left`. An endpoint that is not modelbot's keeps its config, models and
autoscaling too. Every phase is safe to repeat (what is gone is fine), so the state is stored
after each phase and a worker that dies anywhere leaves a teardown the next one finishes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Callable, Iterable, Mapping

from botocore.exceptions import ClientError

from bot.core.manifest.model import BOT_TAG_PREFIX
from bot.core.plan import DeploySpec, LiveState, Plan, bounded_name, short_commit
from bot.adapters.aws.executor import _ignore_missing as _or_none
from bot.adapters.aws.executor import _message as _code
from bot.adapters.aws.executor import _missing
from bot.core.deploy.component import component_resource_id
from bot.core.manifest.aws_limits import IC_SCALABLE_DIMENSION
from bot.core.experiment import bake
from bot.core.deploy.requests import (
    BACKLOG_STEP_POLICY,
    SCALABLE_DIMENSION,
    TARGET_TRACKING_POLICY,
    backlog_alarm_name,
    scaling_resource_id,
)

ENVIRONMENT_TAG = BOT_TAG_PREFIX + "environment"
MODEL_TAG = BOT_TAG_PREFIX + "model"
BOT_POLICIES = (TARGET_TRACKING_POLICY, BACKLOG_STEP_POLICY)
BOT_ALARM_DESCRIPTION = "modelbot:"
PHASES = ("scaling", "components", "endpoint", "configs", "models", "done")
BUSY = ("Creating", "Updating", "SystemUpdating", "RollingBack")
POLL_SECONDS = 30
TIMEOUT_SECONDS = 3600  # an endpoint still busy or Deleting after this long fails the teardown


class TeardownFailed(Exception):
    """The teardown cannot go on (the reason is safe to show)."""


@dataclass(frozen=True)
class TeardownRequests:
    """What a teardown looks at, by name. JSON-serialisable (`to_dict`/`from_dict`)."""

    environment: str
    model: str                                 # metadata.name: the `modelbot:model` tag
    endpoint: str
    scaling_targets: tuple[str, ...] = ()      # ResourceIds modelbot registered
    other_scaling_targets: tuple[str, ...] = ()  # live targets the manifest never asked for
    alarms: tuple[str, ...] = ()
    endpoint_configs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    components: tuple[str, ...] = ()           # inference components to delete first
    shared: bool = False                       # a component on a shared endpoint: the endpoint stays (its host's)
    claim: str | None = None                   # what the store records as owned (None: the endpoint)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TeardownRequests":
        values = {f.name: data.get(f.name) for f in fields(cls) if f.name in data}
        for f in fields(cls):
            if f.name in values and isinstance(values[f.name], list):
                values[f.name] = tuple(values[f.name])
        return cls(**values)


@dataclass(frozen=True)
class TeardownState:
    """Where a teardown is. `deleted`/`left`: what it removed and what it left (and why)."""

    phase: str = "scaling"
    started_at: dt.datetime | None = None
    deleted: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()                 # configs/models a foreign endpoint still uses
    endpoint_foreign: bool = False

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def as_record(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v, tuple) else v
                for f in fields(self) for v in [getattr(self, f.name)]}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "TeardownState":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in names}
        for key in ("deleted", "left", "keep"):
            values[key] = tuple(values.get(key) or ())
        return cls(**values)

    def summary(self, endpoint: str, *, shared: bool = False) -> str:
        """One paragraph for people: what went, what stayed (`shared`: a component left a shared
        endpoint, which stays)."""
        head = (f"endpoint {endpoint} is not modelbot's: not torn down" if self.endpoint_foreign
                else f"left the shared endpoint {endpoint} (it stays, with its host)" if shared
                else f"torn down endpoint {endpoint}")
        rest = [x for x in self.deleted if x != f"endpoint {endpoint}"]
        text = head + ("; deleted " + ", ".join(rest) if rest else "")
        if self.left:
            text += "; left (not modelbot's): " + "; ".join(self.left)
        return text


def _add(items: tuple[str, ...], *new: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items + new))


# --- building (pure) ------------------------------------------------------------------------------


def config_names_of(model: str, env: str, commit: str) -> tuple[str, str]:
    """The endpoint config (= model) name a deploy of `commit` used, and its promoted config."""
    base = bounded_name(model, env, short_commit(commit))
    return base, bounded_name(base, "promoted")


def build_teardown(spec: DeploySpec, plan: Plan, live: LiveState,
                   commits: Iterable[str] = ()) -> TeardownRequests:
    """The names a teardown of `plan` looks at. `commits`: every commit the ledger deployed to
    the endpoint (their deterministic config and model names are looked at too)."""
    if plan.kind != "teardown" or plan.names.endpoint is None:
        raise ValueError(f"a {plan.kind} plan is not a teardown")
    if not spec.deleted:
        raise ValueError("a teardown needs the deleted manifest (DeploySpec(deleted=True))")
    e, env, model = spec.env, spec.environment, spec.manifest.metadata.name
    endpoint = plan.names.endpoint
    component = spec.manifest.component_name(env)
    if component is not None:
        ours = (component_resource_id(component),) if e.autoscaling is not None else ()
    else:
        ours = (scaling_resource_id(endpoint, e.variant_name),) if e.autoscaling is not None else ()
    others = tuple(sorted({scaling_resource_id(endpoint, v.name) for v in live.variants
                           if v.autoscaling is not None} - set(ours)))
    configs: list[str] = []
    models: list[str] = []
    shared = spec.manifest.joins_shared_endpoint(env)
    if live.endpoint_config_name and not shared:
        configs.append(live.endpoint_config_name)
    models += [v.model_name for v in live.variants if v.model_name]
    live_component = live.component(component) if component is not None else None
    if live_component is not None and live_component.model_name:
        models.append(live_component.model_name)
    for commit in commits:
        try:
            base, promoted = config_names_of(model, env, commit)
        except ValueError:
            continue
        if not shared:
            configs += [base, promoted]
        models.append(base)
    return TeardownRequests(environment=env, model=model, endpoint=endpoint, scaling_targets=ours,
                            other_scaling_targets=others, alarms=(backlog_alarm_name(endpoint), bake.alarm_name(endpoint)),
                            endpoint_configs=tuple(dict.fromkeys(configs)),
                            models=tuple(dict.fromkeys(models)),
                            components=(component,) if component is not None else (), shared=shared,
                            claim=spec.manifest.ownership_key(env) if shared else None)


# --- executing (thin) -----------------------------------------------------------------------------


def _denied(exc: ClientError) -> bool:
    return _code(exc)[0] in ("AccessDenied", "AccessDeniedException")


def _tags(sm: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in sm.list_tags(ResourceArn=arn, MaxResults=100).get("Tags", [])}


def is_ours(tags: Mapping[str, str], requests: TeardownRequests) -> bool:
    """Whether a resource carries modelbot's tags for this manifest and environment."""
    return tags.get(ENVIRONMENT_TAG) == requests.environment and tags.get(MODEL_TAG) == requests.model


def teardown_step(clients: Any, requests: TeardownRequests, state: TeardownState, now: dt.datetime,
                  checkpoint: Callable[[TeardownState], None] = lambda s: None) -> tuple[TeardownState, int | None]:
    """Run phases until the teardown is done (returns (state, None)) or has to wait for AWS
    (returns (state, seconds)). `checkpoint(state)` is called after every finished phase so the
    caller can store it. Raises TeardownFailed when it cannot go on, ClientError for AWS."""
    if state.started_at is None:
        state = replace(state, started_at=now)
    while not state.done:
        wait = None
        if state.phase == "scaling":
            state = _scaling(clients, requests, state)
        elif state.phase == "components":
            state, wait = _components(clients, requests, state, now)
        elif state.phase == "endpoint":
            state, wait = _endpoint(clients, requests, state, now)
        elif state.phase == "configs":
            state = _delete_tagged(clients, requests, state, "endpoint config")
        elif state.phase == "models":
            state = _delete_tagged(clients, requests, state, "model")
        else:
            raise TeardownFailed(f"unknown teardown phase {state.phase!r}")
        if wait is not None:
            return state, wait
        state = replace(state, phase=PHASES[PHASES.index(state.phase) + 1])
        checkpoint(state)
    return state, None


def _endpoint_view(sm: Any, requests: TeardownRequests) -> tuple[dict | None, bool]:
    """(DescribeEndpoint or None, whether it carries modelbot's tags for this manifest)."""
    described = _or_none(sm.describe_endpoint, EndpointName=requests.endpoint)
    if described is None:
        return None, False
    return described, is_ours(_tags(sm, described["EndpointArn"]), requests)


def _scaling(clients: Any, requests: TeardownRequests, state: TeardownState) -> TeardownState:
    sm, aas, cw = clients.sagemaker, clients.autoscaling, clients.cloudwatch
    described, ours = _endpoint_view(sm, requests)
    if requests.shared:  # the endpoint is its host's: only the component's own scaling goes
        if aas is not None:
            for resource in requests.scaling_targets:
                if _component_here(sm, requests, resource.split("/", 1)[1]):
                    state = _scaling_target(aas, resource, state)
        return state
    if described is not None and not ours:
        # Not modelbot's endpoint: leave it, its config and models, and its autoscaling.
        keep = [described.get("EndpointConfigName") or ""]
        config = _or_none(sm.describe_endpoint_config, EndpointConfigName=keep[0]) if keep[0] else None
        keep += [v.get("ModelName", "") for v in (config or {}).get("ProductionVariants", [])]
        keep += [v.get("ModelName", "") for v in (config or {}).get("ShadowProductionVariants", [])]
        return replace(state, endpoint_foreign=True, keep=tuple(k for k in keep if k),
                       left=_add(state.left, f"endpoint {requests.endpoint} (no modelbot tags for "
                                 f"{requests.model} in {requests.environment}), with its config, models "
                                 "and autoscaling"))
    if aas is not None:
        for resource in requests.scaling_targets:
            if resource.startswith("inference-component/") and not _component_here(sm, requests, resource.split("/", 1)[1]):
                state = replace(state, left=_add(state.left, f"scalable target {resource} (its component is not "
                                                 f"this manifest's on {requests.endpoint})"))
                continue
            state = _scaling_target(aas, resource, state)
        for resource in requests.other_scaling_targets:
            state = replace(state, left=_add(state.left, f"scalable target {resource} (not registered "
                                             "by modelbot)"))
    if cw is not None:
        for name in requests.alarms:
            found = cw.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
            if not found:
                continue
            if not str(found[0].get("AlarmDescription") or "").startswith(BOT_ALARM_DESCRIPTION):
                state = replace(state, left=_add(state.left, f"alarm {name} (not created by modelbot)"))
                continue
            cw.delete_alarms(AlarmNames=[name])
            state = replace(state, deleted=_add(state.deleted, f"alarm {name}"))
    return state


def _component_here(sm: Any, requests: TeardownRequests, name: str) -> bool:
    """Whether inference component `name` is on this teardown's endpoint and carries this
    manifest's tags (component names are per account and region, not per endpoint)."""
    described = _or_none(sm.describe_inference_component, InferenceComponentName=name)
    return (described is not None and described.get("EndpointName") == requests.endpoint
            and is_ours(_tags(sm, described["InferenceComponentArn"]), requests))


def _dimension(resource: str) -> str:
    return IC_SCALABLE_DIMENSION if resource.startswith("inference-component/") else SCALABLE_DIMENSION


def _scaling_target(aas: Any, resource: str, state: TeardownState) -> TeardownState:
    dimension = _dimension(resource)
    base = {"ServiceNamespace": "sagemaker", "ResourceId": resource, "ScalableDimension": dimension}
    policies = aas.describe_scaling_policies(**base).get("ScalingPolicies", [])
    foreign = []
    for p in policies:
        name = p.get("PolicyName", "")
        if name in BOT_POLICIES:
            _or_none(aas.delete_scaling_policy, PolicyName=name, **base)
            state = replace(state, deleted=_add(state.deleted, f"scaling policy {name}"))
        else:
            foreign.append(name)
    if foreign:
        # AWS deregisters an endpoint's scalable targets, with their policies, when the endpoint
        # is deleted ("Delete endpoints configured for auto scaling"): these cannot be left.
        return replace(state, deleted=_add(state.deleted, f"scalable target {resource} with scaling "
                                           "policies not created by modelbot ("
                                           + ", ".join(sorted(foreign)) + "): AWS deregisters them "
                                           "with the endpoint"))
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource],
                                            ScalableDimension=dimension).get("ScalableTargets", [])
    if targets:
        _or_none(aas.deregister_scalable_target, **base)
        state = replace(state, deleted=_add(state.deleted, f"scalable target {resource}"))
    return state


def _components(clients: Any, requests: TeardownRequests, state: TeardownState,
                now: dt.datetime) -> tuple[TeardownState, int | None]:
    """Delete the manifest's inference components (those with its tags) and wait until they
    are gone; a component someone else placed on the endpoint is left, and listed."""
    if state.endpoint_foreign or not requests.components:
        return state, None
    sm = clients.sagemaker
    waiting = False
    for name in requests.components:
        described = _or_none(sm.describe_inference_component, InferenceComponentName=name)
        if described is None:
            if f"inference component {name}" not in state.deleted and any(
                    x.startswith(f"inference component {name} ") for x in state.left):
                continue
            state = replace(state, deleted=_add(state.deleted, f"inference component {name}"))
            continue
        if described.get("EndpointName") != requests.endpoint:
            state = replace(state, left=_add(state.left, f"inference component {name} (on endpoint "
                                             f"{described.get('EndpointName')}, not {requests.endpoint})"))
            continue
        if not is_ours(_tags(sm, described["InferenceComponentArn"]), requests):
            state = replace(state, left=_add(state.left, f"inference component {name} (no modelbot tags for "
                                             f"{requests.model} in {requests.environment})"))
            continue
        if (now - (state.started_at or now)).total_seconds() > TIMEOUT_SECONDS:
            raise TeardownFailed(f"inference component {name} is still "
                                 f"{described.get('InferenceComponentStatus')} after {TIMEOUT_SECONDS // 60} minutes")
        if described.get("InferenceComponentStatus") in ("Creating", "Updating"):
            waiting = True
            continue
        if described.get("InferenceComponentStatus") != "Deleting":
            try:
                sm.delete_inference_component(InferenceComponentName=name)
            except ClientError as exc:
                # a component gone since the describe has no tags left, so the deployer policy
                # answers AccessDenied rather than not-found: look again before failing
                gone = _denied(exc) and _or_none(sm.describe_inference_component, InferenceComponentName=name) is None
                if not (_missing(exc) or gone):
                    raise
        if _or_none(sm.describe_inference_component, InferenceComponentName=name) is None:
            state = replace(state, deleted=_add(state.deleted, f"inference component {name}"))
        else:
            waiting = True
    return state, (POLL_SECONDS if waiting else None)


def _endpoint(clients: Any, requests: TeardownRequests, state: TeardownState,
              now: dt.datetime) -> tuple[TeardownState, int | None]:
    if state.endpoint_foreign or requests.shared:
        return state, None
    sm = clients.sagemaker
    described, ours = _endpoint_view(sm, requests)
    if described is None:  # gone (deleted by this teardown before a crash, or by AWS just now)
        return replace(state, deleted=_add(state.deleted, f"endpoint {requests.endpoint}")), None
    if not ours:  # tags changed since the scaling phase: leave it
        return replace(state, endpoint_foreign=True,
                       left=_add(state.left, f"endpoint {requests.endpoint} (no modelbot tags)")), None
    started = state.started_at or now
    status = described.get("EndpointStatus")
    if (now - started).total_seconds() > TIMEOUT_SECONDS:
        raise TeardownFailed(f"endpoint {requests.endpoint} is still {status} after "
                             f"{TIMEOUT_SECONDS // 60} minutes")
    if status in BUSY or status == "Deleting":
        return state, POLL_SECONDS  # a teardown waits for AWS to finish what it is doing
    if requests.components:  # an inference-component endpoint: never delete it under others' components
        others = [c["InferenceComponentName"] for c in sm.list_inference_components(
            EndpointNameEquals=requests.endpoint, MaxResults=100).get("InferenceComponents", [])
            if c["InferenceComponentName"] not in requests.components]
        if others:
            raise TeardownFailed(f"endpoint {requests.endpoint} still hosts other inference components "
                                 f"({', '.join(sorted(others)[:5])}): they must leave it first")
    try:
        sm.delete_endpoint(EndpointName=requests.endpoint)
    except ClientError as exc:
        if not _missing(exc):
            raise
    if _or_none(sm.describe_endpoint, EndpointName=requests.endpoint) is None:
        return replace(state, deleted=_add(state.deleted, f"endpoint {requests.endpoint}")), None
    return state, POLL_SECONDS


def _delete_tagged(clients: Any, requests: TeardownRequests, state: TeardownState, kind: str) -> TeardownState:
    sm = clients.sagemaker
    if kind == "endpoint config":
        names, describe, arn_key, key, delete = (requests.endpoint_configs, sm.describe_endpoint_config,
                                                 "EndpointConfigArn", "EndpointConfigName",
                                                 sm.delete_endpoint_config)
    else:
        names, describe, arn_key, key, delete = (requests.models, sm.describe_model, "ModelArn", "ModelName",
                                                 sm.delete_model)
    for name in names:
        if name in state.keep:
            continue
        described = _or_none(describe, **{key: name})
        if described is None:
            continue
        if not is_ours(_tags(sm, described[arn_key]), requests):
            state = replace(state, left=_add(state.left, f"{kind} {name} (no modelbot tags for "
                                             f"{requests.model} in {requests.environment})"))
            continue
        try:
            _or_none(delete, **{key: name})
        except ClientError as exc:
            if not _denied(exc):
                raise
            state = replace(state, left=_add(state.left, f"{kind} {name} (AccessDenied)"))
            continue
        state = replace(state, deleted=_add(state.deleted, f"{kind} {name}"))
    return state


__all__ = ["TeardownFailed", "TeardownRequests", "TeardownState", "build_teardown", "config_names_of",
           "is_ours", "teardown_step"]
