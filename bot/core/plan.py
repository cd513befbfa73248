"""What a deploy would do: a pure diff of a manifest's environment against what is live.

`plan(spec, live, prices)` takes the manifest environment to deploy (`DeploySpec`), the live
endpoint as plain values (`LiveState`, read from AWS by an adapter) and a price table
(instance type -> USD per hour), and returns a `Plan`: resources to create/update/delete,
the traffic steps and bake times of the rollout, alarms, instance and autoscaling changes,
the hourly cost change, notes and blocking problems. Names are deterministic from
(model name, environment, short commit) and always within AWS's 63-character limit.

Change detection uses digests: modelbot tags each model with the digest of its definition
and each endpoint config with the digest of its content (`modelbot:digest`), and the adapter
reports them in `LiveState`. Anything modelbot did not create (no digest) counts as changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Mapping

from bot.core.manifest.aws_limits import (
    EXCLUSIONS_PAGE,
    GUARDRAILS_PAGE,
    NAME_MAX,
    SERVERLESS_UPDATE_PAGE,
    capacity_percent,
    effective_instances,
    guardrail_variant_problem,
    guardrails_excluded,
    rolling_problem,
)
from bot.core.manifest.model import BOT_TAG_PREFIX, EnvironmentSpec, Manifest, PipelineRef
from bot.core.manifest.problems import Problem

PlanKind = Literal["create", "update", "no_changes", "teardown", "run_batch"]
TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
BROKEN = ("Failed", "UpdateRollbackFailed", "OutOfService")
_COMMIT_RE = re.compile(r"^[0-9a-f]{7,64}$")


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveAutoscaling:
    """A variant's scalable target and its target-tracking value. `policies`: its scaling
    policies as `bot.core.deploy.scaling.policy_request` keeps them (to register them again if a
    rollout that had to deregister the target does not succeed)."""

    min_capacity: int
    max_capacity: int
    target_value: float | None = None
    policies: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, hash=False)


@dataclass(frozen=True)
class LiveVariant:
    """One production (or shadow) variant as describe_endpoint and describe_model show it."""

    name: str
    model_name: str
    instance_type: str | None = None
    instance_count: int | None = None
    weight: float = 1.0
    serverless_memory_mb: int | None = None
    serverless_max_concurrency: int | None = None
    shadow: bool = False
    model_digest: str | None = None
    autoscaling: LiveAutoscaling | None = None


@dataclass(frozen=True)
class LiveState:
    """What is live for one endpoint. `LiveState()` means: no endpoint."""

    endpoint_exists: bool = False
    endpoint_name: str | None = None
    endpoint_status: str | None = None
    endpoint_config_name: str | None = None
    config_digest: str | None = None
    variants: tuple[LiveVariant, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    # tag keys of the live endpoint config when modelbot created it: the tags it applied, which
    # it may remove again (tags others put on the endpoint are theirs)
    bot_applied_tag_keys: frozenset[str] = frozenset()
    # whether the live endpoint config has an AsyncInferenceConfig (None: not known)
    async_inference: bool | None = None
    # of the manifest's rollback alarms, those CloudWatch has (None: not read)
    existing_alarms: frozenset[str] | None = None

    @property
    def production_variants(self) -> tuple[LiveVariant, ...]:
        return tuple(v for v in self.variants if not v.shadow)


@dataclass(frozen=True)
class DeploySpec:
    """The manifest environment to deploy, at a commit. `deleted`: the manifest was removed
    (pass the manifest as it was on the base branch) and the plan is a teardown."""

    manifest: Manifest
    environment: str
    commit: str
    deleted: bool = False

    @property
    def env(self) -> EnvironmentSpec:
        return self.manifest.environments[self.environment]


# --- outputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceNames:
    model: str
    endpoint_config: str
    endpoint: str | None
    transform_job: str | None


@dataclass(frozen=True)
class Action:
    """One step of the deploy: `verb` (create/update/delete/register/deregister/check/run)
    on `resource` (model, endpoint_config, endpoint, autoscaling, alarm, tags, ...)."""

    verb: str
    resource: str
    name: str
    detail: str = ""


@dataclass(frozen=True)
class VariantPlan:
    """A variant of the new endpoint config. `role`: production, current, candidate, shadow."""

    name: str
    model_name: str
    role: str
    instance_type: str | None
    instance_count: int | None
    weight: float
    serverless_memory_mb: int | None = None
    serverless_max_concurrency: int | None = None
    model_digest: str | None = None
    new_model: bool = False

    @property
    def shadow(self) -> bool:
        return self.role == "shadow"

    def describe(self) -> str:
        if self.serverless_memory_mb:
            return f"serverless {self.serverless_memory_mb} MB x {self.serverless_max_concurrency}"
        return f"{self.instance_count} x {self.instance_type}"


@dataclass(frozen=True)
class TrafficStep:
    """After this step `candidate_percent` of traffic is on the new fleet; then wait."""

    candidate_percent: float
    wait_seconds: int
    description: str


@dataclass(frozen=True)
class Change:
    what: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Cost:
    """Hourly on-demand cost in USD. None where a price is unknown or cost is usage-based."""

    before_per_hour: float | None
    after_per_hour: float | None
    peak_per_hour: float | None = None
    max_per_hour: float | None = None
    usage_based: bool = False
    notes: tuple[str, ...] = ()

    @property
    def delta_per_hour(self) -> float | None:
        if self.before_per_hour is None or self.after_per_hour is None:
            return None
        return round(self.after_per_hour - self.before_per_hour, 4)


@dataclass(frozen=True)
class Plan:
    environment: str
    kind: PlanKind
    mode: str
    strategy: str
    names: ResourceNames
    actions: tuple[Action, ...] = ()
    variants: tuple[VariantPlan, ...] = ()
    traffic_steps: tuple[TrafficStep, ...] = ()
    rollback_alarms: tuple[str, ...] = ()
    instance_changes: tuple[Change, ...] = ()
    autoscaling_changes: tuple[Change, ...] = ()
    cost: Cost = Cost(None, None)
    tags: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    requires_explicit_approval: bool = False
    config_digest: str | None = None  # tag the endpoint config with it (modelbot:digest)

    @property
    def has_changes(self) -> bool:
        return self.kind != "no_changes"

    @property
    def blocked(self) -> bool:
        return any(p.is_error for p in self.problems)

    @property
    def total_wait_seconds(self) -> int:
        return sum(s.wait_seconds for s in self.traffic_steps)

    @property
    def headline(self) -> str:
        ep = self.names.endpoint
        if self.kind == "no_changes":
            return f"no changes to {ep or self.environment}"
        if self.kind == "teardown":
            return f"tear down endpoint {ep} (needs explicit approval)"
        if self.kind == "run_batch":
            v = self.variants[0]
            return f"run batch transform {self.names.transform_job} on {v.describe()}"
        sizes = ", ".join(f"{v.name}: {v.describe()}" for v in self.variants)
        if self.kind == "create":
            return f"create endpoint {ep} ({self.mode}; {sizes})"
        steps = " -> ".join(f"{s.candidate_percent:g}%" for s in self.traffic_steps)
        return f"update endpoint {ep} by {self.strategy}" + (f": {steps}" if steps else "")


# --- names and digests ----------------------------------------------------------------------------


def short_commit(commit: str) -> str:
    c = commit.strip().lower()
    if not _COMMIT_RE.match(c):
        raise ValueError(f"not a git commit id: {commit!r}")
    return c[:7]


def bounded_name(*parts: str) -> str:
    """`a-b-c` within 63 characters; a longer first part is cut and a hash keeps it unique."""
    name = "-".join(parts)
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    rest = "-".join((digest,) + parts[1:])
    head = parts[0][: NAME_MAX - len(rest) - 1].rstrip("-")
    return f"{head}-{rest}"


def resource_names(model: str, env: str, commit: str, endpoint: str | None = None) -> ResourceNames:
    """Deterministic names for the model, endpoint config and transform job of a deploy."""
    base = bounded_name(model, env, short_commit(commit))
    return ResourceNames(model=base, endpoint_config=base, endpoint=endpoint,
                         transform_job=None if endpoint else base)


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_digest(manifest: Manifest, env: str) -> str:
    """Digest of what defines the SageMaker model (source, container env, container mode)."""
    e = manifest.environments[env]
    return _digest({"model": manifest.model.model_dump(mode="json", by_alias=True),
                    "multi_model": e.multi_model.prefix if e.multi_model else None})


def config_digest(variants: tuple[VariantPlan, ...], e: EnvironmentSpec) -> str:
    """Digest of an endpoint config's content (variants by model digest, capture, async)."""
    return _digest({
        "variants": [(v.name, v.model_digest or v.model_name, v.instance_type, v.instance_count,
                      v.weight, v.serverless_memory_mb, v.serverless_max_concurrency, v.shadow)
                     for v in variants],
        "data_capture": e.data_capture.model_dump(mode="json") if e.data_capture else None,
        "async": e.async_.model_dump(mode="json") if e.async_ else None,
        "serverless_provisioned": e.serverless.provisioned_concurrency if e.serverless else None,
    })


def deploy_tags(spec: DeploySpec) -> dict[str, str]:
    """Tags for every resource of this deploy (pipeline values are added when resolved)."""
    m = spec.manifest
    tags = {**m.metadata.tags, **spec.env.tags,
            "modelbot:model": m.metadata.name, "modelbot:environment": spec.environment,
            "modelbot:commit": spec.commit.lower()}
    for key, value in (("modelbot:build-id", m.provenance.build_id),
                       ("modelbot:data-version", m.provenance.data_version)):
        if isinstance(value, str):
            tags[key] = value
    return tags


# --- planning -------------------------------------------------------------------------------------


def plan(spec: DeploySpec, live: LiveState, prices: Mapping[str, float]) -> Plan:
    """The plan for deploying `spec` over `live`, priced with `prices` (USD/hour by type).

    `spec.manifest` must be valid (from `load_manifest` with no errors).
    """
    m, env, e = spec.manifest, spec.environment, spec.env
    endpoint = m.endpoint_name(env) if e.mode != "batch" else None
    names = resource_names(m.metadata.name, env, spec.commit, endpoint)
    if spec.deleted:
        return _teardown(spec, live, names, prices)
    if e.mode == "batch":
        return _batch(spec, names, prices)
    result = _endpoint(spec, live, names, prices)
    missing = _alarm_problems(spec, live, result.kind, result.actions)
    return replace(result, problems=result.problems + tuple(missing)) if missing else result


def missing_alarms(names, existing: frozenset[str] | None) -> list[str]:
    """The rollback alarms CloudWatch does not have (`existing`: the ones it has; None: not
    read, nothing to say). A rollout refuses to start on such an alarm (bot.core.deploy.rollout): it
    could never fire, so nothing would roll the update back; the plan says so before the merge."""
    if existing is None:
        return []
    return [n for n in dict.fromkeys(names) if n not in existing]


def rolls_out(actions) -> bool:
    """Whether an update plan moves the endpoint to a new config (the rollout's guarded, A/B or
    shadow flows, which watch alarms; otherwise bot.core.deploy.rollout runs it in place)."""
    creates_config = any(a.resource == "endpoint_config" and a.verb == "create" for a in actions)
    updates = any(a.resource == "endpoint" and a.verb in ("create", "update") for a in actions)
    return creates_config and updates


def _alarm_problems(spec: DeploySpec, live: LiveState, kind: str, actions=()) -> list[Problem]:
    e = spec.env
    alarms = list(e.alarms or ())
    missing = set(missing_alarms(alarms, live.existing_alarms))
    if not missing or kind not in ("update", "create"):  # nothing would roll out
        return []
    if kind == "update" and not rolls_out(actions):  # tags or autoscaling only: no rollout, no alarm watched
        return []
    if kind == "update":  # the rollout watches the alarms, and refuses to start
        why, severity = "a deploy is refused until it exists", "error"
    else:  # a create: no rollout watches alarms yet, but the next update will not start
        why, severity = ("this first deploy creates the endpoint without it, but no update will start "
                         "until it exists"), "warning"
    return [_problem(spec, ("environments", spec.environment, "alarms", i), name,
                     f"alarm {name} does not exist in CloudWatch for {spec.environment} (DescribeAlarms): "
                     f"it could never fire, so nothing would roll a rollout back on it; {why}",
                     "the name of an existing metric or composite alarm in the environment's account "
                     "and region", "aws.alarm-exists", severity)
            for i, name in enumerate(alarms) if name in missing]


def _source_notes(spec: DeploySpec, names: ResourceNames) -> tuple[list[Action], list[str]]:
    m, e = spec.manifest, spec.env
    actions, notes = [], []
    if m.model.registry is not None:
        arn = m.model.registry.model_package_arn
        actions.append(Action("check", "model_package", arn, "must be Approved at deploy time"))
        notes.append(f"model package {arn} must have ModelApprovalStatus Approved when the deploy "
                     "runs; the deploy stops otherwise")
    if m.model.framework is not None:
        f = m.model.framework
        notes.append(f"container image: SageMaker's {f.name} {f.version}"
                     + (f" ({f.py_version})" if f.py_version else "")
                     + (f" image for {e.instance_type}" if e.instance_type else " image")
                     + ", resolved at deploy time")
    for key, value in (("build id", m.provenance.build_id), ("data version", m.provenance.data_version)):
        if isinstance(value, PipelineRef):
            notes.append(f"{key} is read from the pipeline output {value.from_pipeline} "
                         f"(key {value.key}) at deploy time and tagged on every resource")
    return actions, notes


def _price(prices: Mapping[str, float], itype: str | None, notes: list[str]) -> float | None:
    if itype is None:
        return None
    if itype not in prices:
        note = f"no price known for {itype}"
        if note not in notes:
            notes.append(note)
        return None
    return float(prices[itype])


def _fleet_cost(rows: list[tuple[str | None, int | None, bool]], prices: Mapping[str, float],
                notes: list[str]) -> tuple[float | None, bool]:
    """Sum of count x price; (None if any price is unknown, whether part is usage-based)."""
    total: float | None = 0.0
    usage = False
    for itype, count, serverless in rows:
        if serverless:
            usage = True
            continue
        p = _price(prices, itype, notes)
        total = None if p is None or total is None else total + p * (count or 0)
    return (round(total, 4) if total is not None else None), usage


def _live_rows(live: LiveState) -> list[tuple[str | None, int | None, bool]]:
    return [(v.instance_type, v.instance_count, v.serverless_memory_mb is not None) for v in live.variants]


def _plan_rows(variants: tuple[VariantPlan, ...]) -> list[tuple[str | None, int | None, bool]]:
    return [(v.instance_type, v.instance_count, v.serverless_memory_mb is not None) for v in variants]


def _problem(spec: DeploySpec, loc: tuple, value: Any, message: str, expected: str, rule: str,
             severity: str = "error") -> Problem:
    """A plan problem at the manifest line it concerns (an environment: at its key)."""
    src = spec.manifest.source
    line, col = src.position(loc, at_key=len(loc) == 2) if src else (1, 1)
    return Problem(src.path if src else "", line, col, ".".join(map(str, loc)), value, message,
                   expected, rule, severity)  # type: ignore[arg-type]


def _status_problems(spec: DeploySpec, live: LiveState, teardown: bool = False) -> list[Problem]:
    """A busy endpoint is a warning (the deploy waits); a broken one blocks a deploy, while a
    teardown deletes it all the same (a warning)."""
    status = live.endpoint_status
    loc = ("environments", spec.environment)
    if status in TRANSITIONAL:
        waits = "the teardown waits until AWS has finished" if teardown else "a deploy waits until it is InService"
        return [_problem(spec, loc, status, f"the endpoint is {status}; {waits}", "InService",
                         "live.endpoint-status", "warning")]
    if status in BROKEN:
        if teardown:
            return [_problem(spec, loc, status, f"the endpoint is {status}; the teardown deletes it all the "
                             "same", "InService", "live.endpoint-status", "warning")]
        return [_problem(spec, loc, status, f"the endpoint is {status} and needs repair before "
                         "modelbot can update it", "InService", "live.endpoint-status")]
    return []


def _variant(spec: DeploySpec, name: str, role: str, model_name: str, digest: str, new: bool,
             weight: float) -> VariantPlan:
    e = spec.env
    s = e.serverless
    return VariantPlan(name=name, model_name=model_name, role=role,
                       instance_type=None if s else e.instance_type,
                       instance_count=None if s else e.fleet, weight=weight,
                       serverless_memory_mb=s.memory_mb if s else None,
                       serverless_max_concurrency=s.max_concurrency if s else None,
                       model_digest=digest, new_model=new)


def _keep_variant(v: LiveVariant, role: str, weight: float) -> VariantPlan:
    return VariantPlan(name=v.name, model_name=v.model_name, role=role,
                       instance_type=v.instance_type, instance_count=v.instance_count,
                       weight=weight, serverless_memory_mb=v.serverless_memory_mb,
                       serverless_max_concurrency=v.serverless_max_concurrency,
                       model_digest=v.model_digest)


def _endpoint(spec: DeploySpec, live: LiveState, names: ResourceNames,
              prices: Mapping[str, float]) -> Plan:
    e, env = spec.env, spec.environment
    s = e.effective_strategy
    st = s.type
    digest = model_digest(spec.manifest, env)
    actions, notes = _source_notes(spec, names)
    problems = _status_problems(spec, live) if live.endpoint_exists else []
    cost_notes: list[str] = []
    exists = live.endpoint_exists
    prod = live.production_variants
    current = max(prod, key=lambda v: (v.weight, v.name), default=None)

    # Reuse a live model whose definition is unchanged (same digest), else create one.
    reuse = next((v.model_name for v in live.variants if v.model_digest == digest), None)
    model_name, new_model = (reuse, False) if reuse else (names.model, True)

    # A/B and shadow put the candidate beside the current model, unless it is the current model.
    two_models = (st in ("ab", "shadow") and exists and current is not None
                  and current.model_digest != digest)
    if two_models:
        assert current is not None
        cand_name = s.candidate_variant_name or ("candidate" if st == "ab" else "shadow")
        if st == "ab":
            w = s.weights
            assert w is not None
            total = w.current + w.candidate
            variants = (_keep_variant(current, "current", round(w.current / total, 4)),
                        _variant(spec, cand_name, "candidate", model_name, digest, new_model,
                                 round(w.candidate / total, 4)))
        else:
            # The shadow's weight relative to the production variant's is its sampling share.
            sample = round((s.sampling_percentage or 0) / 100, 4)
            variants = (_keep_variant(current, "production", 1.0),
                        _variant(spec, cand_name, "shadow", model_name, digest, new_model, sample))
    else:
        variants = (_variant(spec, e.variant_name, "production", model_name, digest, new_model, 1.0),)
        if st in ("canary", "linear", "rolling", "ab", "shadow") and not exists:
            notes.append(f"first deploy: the endpoint is created with all traffic on this model; "
                         f"the {st} strategy applies to later updates")

    new_digest = config_digest(variants, e)
    config_changed = not exists or live.config_digest != new_digest
    dropped = [v.name for v in live.variants if v.name not in {x.name for x in variants}
               and (two_models or v.shadow or len(prod) > 1)]
    if exists and config_changed and dropped:
        notes.append("variants removed by this update: " + ", ".join(dropped))
    if exists and config_changed and live.endpoint_config_name == names.endpoint_config:
        problems.append(_problem(spec, ("environments", env), names.endpoint_config,
                                 f"the live endpoint config {names.endpoint_config} comes from this "
                                 "commit but differs from the manifest (changed outside modelbot?); "
                                 "a config of that name cannot be created again",
                                 "a new commit, or the live endpoint repaired", "live.config-name-taken"))
    if exists:
        problems += _mode_switch_problems(spec, live)
    excluded = _guardrails_excluded(spec)
    if exists and config_changed and not two_models:
        notes += _rollout_notes(spec, excluded)
    auto_changes, auto_actions = _autoscaling(spec, live, variants)
    desired_user_tags = {k: v for k, v in deploy_tags(spec).items() if not k.startswith(BOT_TAG_PREFIX)}
    live_user_tags = {k: v for k, v in live.tags.items() if not k.startswith(BOT_TAG_PREFIX)
                      and (k in desired_user_tags or k in live.bot_applied_tag_keys)}
    tags_changed = exists and desired_user_tags != live_user_tags

    before, before_usage = _fleet_cost(_live_rows(live), prices, cost_notes) if exists else (0.0, False)
    if exists and not config_changed and not auto_changes and not tags_changed:
        return Plan(env, "no_changes", e.mode, st, names, variants=variants, notes=tuple(notes),
                    cost=Cost(before, before, usage_based=before_usage),
                    tags=deploy_tags(spec), problems=tuple(problems),
                    rollback_alarms=tuple(e.alarms or ()), config_digest=new_digest)

    steps: list[TrafficStep] = []
    instance_changes: list[Change] = []
    config_name = live.endpoint_config_name or names.endpoint_config
    if config_changed:
        config_name = names.endpoint_config
        if new_model:
            actions.append(Action("create", "model", model_name, _model_detail(spec)))
        else:
            notes.append(f"model unchanged: reusing {model_name}")
        actions.append(Action("create", "endpoint_config", config_name,
                              "; ".join(f"{v.name} ({v.role}): {v.model_name}, {v.describe()}"
                                        + (f", weight {v.weight:g}" if len(variants) > 1 and not v.shadow else "")
                                        for v in variants)))
        if exists:
            detail = _update_detail(st, s, two_models, excluded)
            actions.append(Action("update", "endpoint", names.endpoint or "", detail))
            steps = _steps(spec, live, variants, two_models)
            problems += _guardrail_problems(spec, live, variants, two_models)
            instance_changes = _instance_changes(live, variants, two_models)
            notes.append(f"keep the previous endpoint config {live.endpoint_config_name} until "
                         "the update has finished")
        else:
            actions.append(Action("create", "endpoint", names.endpoint or "",
                                  f"with config {config_name}"))
            steps = [TrafficStep(100.0, 0, "the new endpoint serves all traffic once InService")]
            instance_changes = [Change(f"{v.name}", None, v.describe()) for v in variants]
    actions += auto_actions
    if tags_changed:
        actions.append(Action("update", "tags", names.endpoint or "",
                              "tags: " + ", ".join(f"{k}={v}" for k, v in sorted(desired_user_tags.items()))))

    after, after_usage = _fleet_cost(_plan_rows(variants), prices, cost_notes)
    peak = None
    if exists and config_changed and before is not None and after is not None:
        peak = round(before + after, 4) if not two_models else after
        if st == "rolling":
            batch = _batch_instances(s.max_batch_size, e.fleet) if s.max_batch_size else 0
            p = _price(prices, e.instance_type, cost_notes)
            peak = round(before + batch * p, 4) if p is not None else None
    max_cost = None
    if e.autoscaling is not None and e.instance_type:
        p = _price(prices, e.instance_type, cost_notes)
        if p is not None and after is not None:
            max_cost = round(after + (e.autoscaling.max_capacity - e.fleet) * p, 4)
        if e.autoscaling.min_capacity == 0:
            cost_notes.append("the endpoint scales to zero instances when idle")
    usage = before_usage or after_usage
    if usage:
        cost_notes.append("serverless cost is per request and compute time (usage-based)")
    if two_models and st == "ab":
        notes.append("promote or roll back the A/B test with /promote or /rollback")
    if two_models and st == "shadow":
        notes.append("callers only get answers from the production variant; promote the shadow "
                     "with /promote")
    return Plan(env, "update" if exists else "create", e.mode, st, names, tuple(actions),
                tuple(variants), tuple(steps), tuple(e.alarms or ()), tuple(instance_changes),
                tuple(auto_changes),
                Cost(before, after, peak, max_cost, usage, tuple(cost_notes)),
                deploy_tags(spec), tuple(notes), tuple(problems), config_digest=new_digest)


def _model_detail(spec: DeploySpec) -> str:
    m, e = spec.manifest, spec.env
    mode = "MultiModel" if e.multi_model else "SingleModel"
    if m.model.artifact is not None:
        src = f"{m.model.artifact.image} with {m.model.artifact.uri}"
    elif m.model.framework is not None:
        f = m.model.framework
        src = f"{f.name} {f.version} image with {f.uri}"
    else:
        src = f"model package {m.model.registry.model_package_arn}"  # type: ignore[union-attr]
    if e.multi_model:
        src += f"; serves models under {e.multi_model.prefix}"
    return f"{src} ({mode})"


def _guardrails_excluded(spec: DeploySpec) -> str | None:
    e, registry = spec.env, spec.manifest.model.registry
    return guardrails_excluded(mode=e.mode, instance_type=e.instance_type,
                               marketplace=bool(registry is not None and registry.marketplace))


def _rollout_notes(spec: DeploySpec, excluded: str | None) -> list[str]:
    """What the update really does where SageMaker's guardrails do not guard it."""
    st = spec.env.effective_strategy.type
    if excluded:
        return [f"SageMaker's deployment guardrails do not apply to {excluded} ({EXCLUSIONS_PAGE}"
                f"{'; ' + GUARDRAILS_PAGE if spec.env.mode == 'serverless' else ''}): the update "
                "is a plain UpdateEndpoint, all at once, with no bake and no alarm rollback"
                + ("" if spec.env.mode == "serverless" else
                   "; strategy ab is the guarded alternative (modelbot shifts the variant weights "
                   "itself and watches the alarms)")]
    if st == "all_at_once":
        return ["all_at_once: a plain UpdateEndpoint, all traffic at once, with no bake and no "
                "alarm rollback"]
    return []


def _mode_switch_problems(spec: DeploySpec, live: LiveState) -> list[Problem]:
    """Changes of inference mode that SageMaker refuses on a live endpoint (ValidationError)."""
    e, env = spec.env, spec.environment
    ep = live.endpoint_name or spec.manifest.endpoint_name(env)
    fix = (f"a new endpoint_name (deploy the new mode beside {ep}, move callers, then remove it), "
           "or tear the endpoint down first (remove the environment, merge, then add it back)")
    out = []
    live_serverless = any(v.serverless_memory_mb for v in live.production_variants)
    live_instances = any(v.instance_type for v in live.production_variants)
    if e.serverless is not None and live_instances and not live_serverless:
        out.append(_problem(spec, ("environments", env, "mode"), e.mode,
                            f"the live endpoint {ep} runs on instances, and SageMaker does not "
                            "update an instance-based endpoint to serverless (UpdateEndpoint "
                            f"fails with a ValidationError; {SERVERLESS_UPDATE_PAGE})", fix,
                            "aws.mode-switch"))
    wants_async = e.async_ is not None
    if live.async_inference is not None and live.async_inference != wants_async:
        if wants_async:
            loc, why = ("environments", env, "async"), "an AsyncInferenceConfig cannot be added to"
        else:
            loc, why = ("environments", env, "mode"), "its AsyncInferenceConfig cannot be removed from"
        out.append(_problem(spec, loc, e.mode, f"the live endpoint {ep} is "
                            f"{'not ' if wants_async else ''}asynchronous, and {why} a live "
                            "endpoint by UpdateEndpoint (ValidationError)", fix, "aws.mode-switch"))
    return out


def _update_detail(st: str, s, two_models: bool, excluded: str | None = None) -> str:
    if two_models:
        return ("update_endpoint to the new config (two variants; no guardrails: modelbot "
                "drives the traffic and watches the alarms itself)")
    if st == "all_at_once" or excluded:
        return "update_endpoint without DeploymentConfig (all at once; no bake, no alarm rollback)"
    if st == "rolling":
        return "update_endpoint with RollingUpdatePolicy"
    kind = {"blue_green": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}.get(st, "ALL_AT_ONCE")
    return f"update_endpoint with BlueGreenUpdatePolicy ({kind})"


def _batch_instances(size, fleet: int) -> int:
    if size.type == "instance_count":
        return size.value
    return max(1, math.ceil(fleet * size.value / 100))


def _steps(spec: DeploySpec, live: LiveState, variants: tuple[VariantPlan, ...],
           two_models: bool) -> list[TrafficStep]:
    e = spec.env
    s = e.effective_strategy
    fleet = e.fleet
    bake = s.termination_wait_seconds or 0
    wait = s.wait_interval_seconds or 0
    if two_models and s.type == "ab":
        cand = next(v for v in variants if v.role == "candidate")
        pct = round(cand.weight * 100, 2)
        return [TrafficStep(pct, 0, f"A/B: {pct:g}% of requests go to the candidate, the rest to "
                            "the current model, until promoted or rolled back")]
    if two_models and s.type == "shadow":
        return [TrafficStep(0.0, 0, f"shadow: {s.sampling_percentage}% of requests are copied to "
                            "the candidate; its answers are recorded, not returned")]
    if s.type == "all_at_once" or _guardrails_excluded(spec):
        return [TrafficStep(100.0, 0, "all traffic to the new model at once (plain "
                            "UpdateEndpoint): no bake, no alarm rollback")]
    if s.type == "canary":
        size = s.canary_size
        assert size is not None
        n = effective_instances(size.value, size.type, fleet)
        pct = round(100 * n / fleet, 2)
        asked = capacity_percent(size.type, size.value, fleet)
        real = (f" ({size.value}% of {fleet} instances rounds up to whole instances)"
                if size.type == "capacity_percent" and abs(asked - pct) > 0.01 else "")
        return [TrafficStep(pct, wait, f"canary: {n} of {fleet} instance(s), {pct:g}% of traffic "
                            f"on the new fleet{real}, bake {wait}s"),
                TrafficStep(100.0, bake, f"shift the rest; bake {bake}s before the old fleet goes")]
    if s.type == "linear":
        size = s.linear_step
        assert size is not None
        step = 100 * effective_instances(size.value, size.type, fleet) / fleet
        n = math.ceil(100 / step - 1e-9)
        out = []
        for i in range(1, n + 1):
            pct = round(min(100.0, step * i), 2)
            last = i == n
            out.append(TrafficStep(pct, bake if last else wait,
                                   f"step {i}/{n}: {pct:g}% on the new fleet, bake "
                                   f"{bake if last else wait}s"
                                   + (" before the old fleet goes" if last else "")))
        return out
    if s.type == "rolling":
        size = s.max_batch_size
        assert size is not None
        batch = _batch_instances(size, fleet)
        n = math.ceil(fleet / batch)
        return [TrafficStep(round(min(100.0, 100 * batch * i / fleet), 2), wait,
                            f"batch {i}/{n}: {min(fleet, batch * i)} of {fleet} instances updated, "
                            f"wait {wait}s") for i in range(1, n + 1)]
    return [TrafficStep(100.0, bake, f"all traffic to the new fleet at once; bake {bake}s before "
                        "the old fleet goes")]


def _guardrail_problems(spec: DeploySpec, live: LiveState, variants: tuple[VariantPlan, ...],
                        two_models: bool) -> list[Problem]:
    e = spec.env
    s = e.effective_strategy
    if two_models:
        return []
    if s.type == "all_at_once" or _guardrails_excluded(spec):
        return []
    guarded = s.type in ("canary", "linear", "rolling") or bool(
        e.alarms or s.termination_wait_seconds or s.max_execution_timeout_seconds)
    loc = ("environments", spec.environment, "variant_name")
    out = []
    if guarded:
        live_names = sorted(v.name for v in live.production_variants)
        why = guardrail_variant_problem(live_names, (v.name for v in variants))
        if why:
            out.append(_problem(spec, loc, e.variant_name, why, "variant_name: " + ", ".join(live_names),
                                "aws.guardrail-variant-names"))
    if s.type == "rolling":
        why = rolling_problem(serverless=any(v.serverless_memory_mb for v in live.variants),
                              variants=len(live.production_variants))
        if why:
            out.append(_problem(spec, loc, s.type, f"the live endpoint: {why}",
                                "blue_green, canary or linear", "aws.rolling"))
    return out


def _instance_changes(live: LiveState, variants: tuple[VariantPlan, ...],
                      two_models: bool) -> list[Change]:
    by_name = {v.name: v for v in live.variants}
    out = []
    for v in variants:
        old = by_name.get(v.name)
        if old is None and not two_models and len(live.production_variants) == 1:
            old = live.production_variants[0]
        if old is None:
            out.append(Change(v.name, None, v.describe()))
            continue
        for what, before, after in (("instance_type", old.instance_type, v.instance_type),
                                    ("instance_count", old.instance_count, v.instance_count),
                                    ("serverless_memory_mb", old.serverless_memory_mb, v.serverless_memory_mb),
                                    ("serverless_max_concurrency", old.serverless_max_concurrency,
                                     v.serverless_max_concurrency)):
            if before != after:
                out.append(Change(f"{v.name}.{what}", before, after))
    for name, old in by_name.items():
        if name not in {v.name for v in variants} and not (
                not two_models and len(live.production_variants) == 1 and not old.shadow):
            out.append(Change(name, f"{old.instance_count} x {old.instance_type}"
                              if old.instance_type else "serverless", None))
    return out


def _autoscaling(spec: DeploySpec, live: LiveState,
                 variants: tuple[VariantPlan, ...]) -> tuple[list[Change], list[Action]]:
    e = spec.env
    a = e.autoscaling
    target = next((v for v in variants if v.role in ("production", "candidate")), None)
    if target is None:
        return [], []
    live_v = next((v for v in live.variants if v.name == target.name), None)
    before = live_v.autoscaling if live_v else None
    resource = f"endpoint/{spec.manifest.endpoint_name(spec.environment)}/variant/{target.name}"
    changes: list[Change] = []
    actions: list[Action] = []
    if a is None:
        if before is not None:
            changes.append(Change(f"{target.name}.autoscaling",
                                  f"{before.min_capacity}-{before.max_capacity}", None))
            actions.append(Action("deregister", "autoscaling", resource, "remove the scalable target"))
        return changes, actions
    value = a.target_backlog_per_instance if e.mode == "async" and a.target_backlog_per_instance \
        else a.target_invocations_per_instance
    metric = ("ApproximateBacklogSizePerInstance" if e.mode == "async" and a.target_backlog_per_instance
              else "SageMakerVariantInvocationsPerInstance")
    after = LiveAutoscaling(a.min_capacity, a.max_capacity, float(value) if value is not None else None)
    if before == after:
        return [], []
    for what, b, n in (("min_capacity", before and before.min_capacity, a.min_capacity),
                       ("max_capacity", before and before.max_capacity, a.max_capacity),
                       ("target", before and before.target_value, after.target_value)):
        if b != n:
            changes.append(Change(f"{target.name}.autoscaling.{what}", b, n))
    actions.append(Action("register", "autoscaling", resource,
                          f"capacity {a.min_capacity}-{a.max_capacity}, target tracking {metric} = {value:g}"
                          if value is not None else f"capacity {a.min_capacity}-{a.max_capacity}"))
    if e.mode == "async" and a.min_capacity == 0:
        alarm = bounded_name(spec.manifest.endpoint_name(spec.environment), "backlog-no-capacity")
        actions.append(Action("create", "alarm", alarm, "HasBacklogWithoutCapacity > 0 for the "
                              "endpoint, for scaling out from zero"))
        actions.append(Action("register", "scaling_policy", resource, f"step scaling 0 -> 1 on {alarm}"))
    return changes, actions


def _teardown(spec: DeploySpec, live: LiveState, names: ResourceNames,
              prices: Mapping[str, float]) -> Plan:
    e, env = spec.env, spec.environment
    notes: list[str] = []
    if e.mode == "batch" or not live.endpoint_exists:
        return Plan(env, "no_changes", e.mode, e.effective_strategy.type, names,
                    notes=("the manifest was deleted and nothing is live",))
    actions = []
    for v in live.variants:
        if v.autoscaling is not None:
            actions.append(Action("deregister", "autoscaling",
                                  f"endpoint/{live.endpoint_name or names.endpoint}/variant/{v.name}"))
    ep = live.endpoint_name or names.endpoint or ""
    actions.append(Action("delete", "endpoint", ep, "stops serving: callers get errors"))
    if live.endpoint_config_name:
        actions.append(Action("delete", "endpoint_config", live.endpoint_config_name))
    for model in sorted({v.model_name for v in live.variants}):
        actions.append(Action("delete", "model", model))
    cost_notes: list[str] = []
    before, usage = _fleet_cost(_live_rows(live), prices, cost_notes)
    changes = [Change(v.name, f"{v.instance_count} x {v.instance_type}" if v.instance_type
                      else "serverless", None) for v in live.variants]
    notes.append("the manifest was deleted: tearing the endpoint down needs an explicit approval")
    return Plan(env, "teardown", e.mode, e.effective_strategy.type,
                ResourceNames(names.model, names.endpoint_config, ep, None), tuple(actions),
                instance_changes=tuple(changes),
                cost=Cost(before, 0.0, usage_based=usage, notes=tuple(cost_notes)),
                notes=tuple(notes), problems=tuple(_status_problems(spec, live, teardown=True)),
                requires_explicit_approval=True)


def _batch(spec: DeploySpec, names: ResourceNames, prices: Mapping[str, float]) -> Plan:
    e, env = spec.env, spec.environment
    b = e.batch
    assert b is not None
    actions, notes = _source_notes(spec, names)
    digest = model_digest(spec.manifest, env)
    actions.append(Action("create", "model", names.model, _model_detail(spec)))
    detail = (f"{b.input_uri} -> {b.output_uri}; split {b.split_type}, assemble {b.assemble_with}, "
              f"{b.batch_strategy}" + (f", join {b.join_source}" if b.join_source != "none" else ""))
    actions.append(Action("run", "transform_job", names.transform_job or "", detail))
    variant = VariantPlan("transform", names.model, "production", e.instance_type, e.fleet, 1.0,
                          model_digest=digest, new_model=True)
    cost_notes: list[str] = []
    p = _price(prices, e.instance_type, cost_notes)
    if p is not None:
        cost_notes.append(f"batch transform: ${p * e.fleet:.4g}/hour while the job runs")
    notes.append("transform job names are single-use: a re-run needs a new name")
    return Plan(env, "run_batch", e.mode, "none", names, tuple(actions), (variant,),
                cost=Cost(0.0, 0.0, usage_based=True, notes=tuple(cost_notes)),
                tags=deploy_tags(spec), notes=tuple(notes))


def live_after(p: Plan, spec: DeploySpec) -> LiveState:
    """The LiveState a successful deploy of `p` leaves behind (what the adapter would read).

    Planning `spec` again over it gives a "no changes" plan; the rollout compares what it
    observes against it.
    """
    if p.kind in ("teardown", "run_batch"):
        return LiveState()
    e = spec.env
    a = e.autoscaling
    scaled = next((v.name for v in p.variants if v.role in ("production", "candidate")), None)
    auto = None
    if a is not None:
        value = a.target_backlog_per_instance if e.mode == "async" and a.target_backlog_per_instance \
            else a.target_invocations_per_instance
        auto = LiveAutoscaling(a.min_capacity, a.max_capacity, float(value) if value is not None else None)
    variants = tuple(LiveVariant(v.name, v.model_name, v.instance_type, v.instance_count, v.weight,
                                 v.serverless_memory_mb, v.serverless_max_concurrency, v.shadow,
                                 v.model_digest, auto if v.name == scaled else None)
                     for v in p.variants)
    config = next((a_.name for a_ in p.actions if a_.resource == "endpoint_config"), None)
    return LiveState(True, p.names.endpoint, "InService", config or p.names.endpoint_config,
                     p.config_digest, variants, dict(p.tags), async_inference=e.async_ is not None)
