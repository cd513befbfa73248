"""The plan's values: what is live (`LiveState`, `LiveVariant`, `LiveAutoscaling`, read from AWS by
an adapter), what to deploy (`DeploySpec`), and the `Plan` with its actions, variants, traffic
steps, changes and cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from bot.core.manifest.model import EnvironmentSpec, Manifest
from bot.core.manifest.problems import Problem


PlanKind = Literal["create", "update", "no_changes", "teardown", "run_batch"]


TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")


BROKEN = ("Failed", "UpdateRollbackFailed", "OutOfService")


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
class LiveComponent:
    """An inference component as DescribeInferenceComponent shows it. `digest`: the
    `modelbot:digest` tag (the digest of its specification when modelbot made it)."""

    name: str
    status: str | None = None
    model_name: str | None = None
    model_digest: str | None = None
    copies: int | None = None
    current_copies: int | None = None
    digest: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    autoscaling: LiveAutoscaling | None = None
    failure_reason: str | None = None
    # its Specification in CreateInferenceComponent's shape (to put it back on a rollback)
    specification: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)


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
    # the inference components the endpoint hosts (ListInferenceComponents), and whether its
    # config is one for inference components (variants without a model)
    components: tuple[LiveComponent, ...] = ()
    hosts_components: bool = False

    def component(self, name: str | None) -> LiveComponent | None:
        return next((c for c in self.components if c.name == name), None)

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
class ComponentPlan:
    """Mode inference_component: the component the deploy leaves on the endpoint, and its
    share of the fleet (`share`: the fraction of one instance a copy takes, by its scarcest
    resource; `per_instance`: copies that fit on one instance)."""

    name: str
    model_name: str
    model_digest: str
    copies: int
    cpu_cores: float | None
    accelerators: float | None
    min_memory_mb: int
    max_memory_mb: int | None
    download_timeout_seconds: int | None = None
    health_check_timeout_seconds: int | None = None
    digest: str | None = None
    share: float | None = None
    per_instance: int | None = None
    verb: str | None = None  # create | update | None (unchanged)


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
    component: ComponentPlan | None = None  # mode inference_component

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
        if self.component is not None and self.kind == "create":
            c = self.component
            return (f"create endpoint {ep} ({sizes}) with inference component {c.name} "
                    f"({c.copies} copies)")
        if self.component is not None and not any(a.resource == "endpoint_config" for a in self.actions):
            c = self.component
            return f"{c.verb or 'update'} inference component {c.name} on {ep} by {self.strategy}"
        if self.kind == "create":
            return f"create endpoint {ep} ({self.mode}; {sizes})"
        steps = " -> ".join(f"{s.candidate_percent:g}%" for s in self.traffic_steps)
        return f"update endpoint {ep} by {self.strategy}" + (f": {steps}" if steps else "")
