"""Inference components: state, capacity accounting per instance, and their lifecycle.

moto 5.2 has no inference components. This module keeps them next to moto's SageMaker backend
(on the backend object, so any moto reset clears them) and advances them on
DescribeInferenceComponent ticks, like endpoints (see the package docstring, "Ticks"). The
handlers are in `component_handlers`, Application Auto Scaling in `component_scaling`.

Sources: botocore's SageMaker service model (shapes InferenceComponentSpecification,
InferenceComponentComputeResourceRequirements, InferenceComponentRollingUpdatePolicy,
InferenceComponentCapacitySize, ProductionVariantManagedInstanceScaling,
ProductionVariantManagedInstanceScalingScaleInPolicy) and the SageMaker Developer Guide
("Guide"). What AWS does not document is marked "Assumption:".

Capacity accounting
-------------------
Per production variant of an endpoint that hosts inference components (a "pool"): its
instances (InitialInstanceCount at first), each offering the vCPUs, memory and accelerators of
its instance type from INSTANCE_CAPACITY (bot/core/manifest/aws_limits.py: AWS's instance type
facts; no other bot logic is used). A copy needs NumberOfCpuCoresRequired vCPUs,
NumberOfAcceleratorDevicesRequired accelerators and MinMemoryRequiredInMb memory, whole on one
instance (CreateInferenceComponent: you specify "how the model utilizes the resources that the
endpoint hosts"; a copy is one "runtime copy of the model container", botocore
InferenceComponentRuntimeConfig.CopyCount). Assumptions: copies are placed first fit, in the
order they are added (AWS's default placement is not documented; SchedulingConfig SPREAD/BINPACK
is not modelled); CPU cores count as vCPUs; MaxMemoryRequiredInMb is not reserved.
With ManagedInstanceScaling Status ENABLED the pool adds instances, up to MaxInstanceCount,
when a copy fits on no instance (ProductionVariantManagedInstanceScaling: "the range in the
number of instances that the endpoint provisions as it scales up or down"), and releases
instances left without copies down to MinInstanceCount (ScaleInPolicy IDLE_RELEASE: "Releases
instances that have no hosted inference component copies"). Without it the instance count is
fixed. Instance types missing from INSTANCE_CAPACITY are not accounted: every copy is placed and
the instance count never changes.

When copies cannot be placed (AWS documents no outcome; all three are Assumptions):
- CreateInferenceComponent: the component ends Failed with a FailureReason naming what one copy
  needs and what the instances offer, CurrentCopyCount 0 (its placed copies are released).
- UpdateInferenceComponentRuntimeConfig (and a RuntimeConfig-only UpdateInferenceComponent, or
  RegisterScalableTarget clamping): the component ends InService with CurrentCopyCount below
  DesiredCopyCount and a FailureReason; the copies that fit serve.
- UpdateInferenceComponent with a Specification: a batch whose new copies do not fit beside the
  old copies still running rolls the deployment back, as an alarm does (below).

Rolling updates (UpdateInferenceComponent with a Specification)
---------------------------------------------------------------
botocore InferenceComponentRollingUpdatePolicy.MaximumBatchSize: "For each step, SageMaker AI
provisions capacity on the new endpoint fleet, routes traffic to that fleet, and terminates
capacity on the old endpoint fleet." So each batch places up to b new-spec copies beside the
old copies still running, then removes up to b old copies; one describe tick per batch
(status Updating), batches = ceil(max(new copies, old copies) / b). b: COPY_COUNT Value, or
CAPACITY_PERCENT Value % of the copy count (rounded up, at least 1). Without DeploymentConfig:
assumption, one batch with all copies (AWS does not document its default for components).
AutoRollbackConfiguration (botocore AutoRollbackConfig.Alarms: "If any alarms are tripped during
a deployment, SageMaker rolls back the deployment"): read on every describe while Updating, from
moto's CloudWatch (the same reader as UpdateEndpoint). Rollback removes the new copies and
restores the old ones, in batches of RollbackMaximumBatchSize (InferenceComponentCapacitySize:
without it, or at 100%, "SageMaker AI uses a blue/green rollback strategy and rolls all traffic
back to the blue fleet": one tick), one tick per batch. Assumption: the component then ends
InService on the previous specification with a FailureReason (what DescribeEndpoint shows after
an endpoint rollback; InferenceComponentStatus has no RollingBack value).
During the update DescribeInferenceComponent shows the previous Specification, CurrentCopyCount
= the copies serving (old + new) and DesiredCopyCount = the new count (assumption, as
DescribeEndpoint keeps the old EndpointConfigName until an update ends).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .common import _arn, _now, _settings

# --------------------------------------------------------------------------- capacity


def _capacity_table() -> dict:
    # Imported lazily: importing the emulator must not import the bot package.
    from bot.core.manifest.aws_limits import INSTANCE_CAPACITY

    return INSTANCE_CAPACITY


@dataclass(frozen=True)
class _Need:
    cpu: float = 0.0
    accelerators: float = 0.0
    memory_mb: int = 0

    @staticmethod
    def of(spec: dict) -> "_Need":
        req = spec.get("ComputeResourceRequirements") or {}
        return _Need(float(req.get("NumberOfCpuCoresRequired") or 0),
                     float(req.get("NumberOfAcceleratorDevicesRequired") or 0),
                     int(req.get("MinMemoryRequiredInMb") or 0))


@dataclass
class _Pool:
    """The instances of one production variant that hosts inference components."""

    endpoint: str
    variant: str
    instance_type: str | None
    managed: dict | None  # ManagedInstanceScaling as configured (Status ENABLED only)
    instances: list[dict] = field(default_factory=list)  # key -> copies on that instance
    unaccounted: dict = field(default_factory=dict)  # key -> copies (type not in the table)
    needs: dict = field(default_factory=dict)  # key -> _Need

    @property
    def capacity(self) -> Any:
        return _capacity_table().get(self.instance_type or "")

    @property
    def max_instances(self) -> int:
        if self.managed:
            return int(self.managed.get("MaxInstanceCount", len(self.instances)))
        return len(self.instances)

    @property
    def min_instances(self) -> int:
        if self.managed:
            return int(self.managed.get("MinInstanceCount", 0))
        return len(self.instances)

    def count(self, key: tuple) -> int:
        if key in self.unaccounted:
            return self.unaccounted[key]
        return sum(inst.get(key, 0) for inst in self.instances)

    def _used(self, inst: dict) -> tuple[float, float, int]:
        cpu = acc = 0.0
        mem = 0
        for key, n in inst.items():
            need = self.needs[key]
            cpu += need.cpu * n
            acc += need.accelerators * n
            mem += need.memory_mb * n
        return cpu, acc, mem

    def _fits(self, inst: dict, need: _Need) -> bool:
        cap = self.capacity
        cpu, acc, mem = self._used(inst)
        return (cpu + need.cpu <= cap.vcpus + 1e-9 and acc + need.accelerators <= cap.accelerators + 1e-9
                and mem + need.memory_mb <= cap.memory_mb)

    def place(self, key: tuple, need: _Need, n: int) -> int:
        """Place up to n copies of `key`; returns how many were placed."""
        self.needs[key] = need
        if self.capacity is None:  # not in INSTANCE_CAPACITY: no accounting
            self.unaccounted[key] = self.unaccounted.get(key, 0) + n
            return n
        placed = 0
        for _ in range(n):
            target = next((inst for inst in self.instances if self._fits(inst, need)), None)
            if target is None and len(self.instances) < self.max_instances and self._fits({}, need):
                target = {}
                self.instances.append(target)
            if target is None:
                break
            target[key] = target.get(key, 0) + 1
            placed += 1
        return placed

    def remove(self, key: tuple, n: int) -> None:
        if key in self.unaccounted:
            self.unaccounted[key] = max(0, self.unaccounted[key] - n)
            if not self.unaccounted[key]:
                del self.unaccounted[key]
            return
        for inst in reversed(self.instances):
            while n > 0 and inst.get(key, 0) > 0:
                inst[key] -= 1
                n -= 1
                if not inst[key]:
                    del inst[key]
        self.release_idle()

    def release_idle(self) -> None:
        # ScaleInPolicy IDLE_RELEASE: "Releases instances that have no hosted inference component
        # copies" (managed instance scaling only), down to MinInstanceCount.
        if not self.managed:
            return
        while len(self.instances) > self.min_instances:
            idle = next((i for i in range(len(self.instances) - 1, -1, -1)
                         if not self.instances[i]), None)
            if idle is None:
                break
            del self.instances[idle]

    def describe_shortfall(self, need: _Need) -> str:
        cap = self.capacity
        parts = [f"{need.memory_mb} MB of memory"]
        if need.cpu:
            parts.insert(0, f"{need.cpu:g} CPU cores")
        if need.accelerators:
            parts.insert(0, f"{need.accelerators:g} accelerator devices")
        limit = (f"up to {self.max_instances} instances (ManagedInstanceScaling)" if self.managed
                 else f"{len(self.instances)} instances")
        return (f"one copy needs {', '.join(parts)}; variant {self.variant} has {limit} of type "
                f"{self.instance_type} ({cap.vcpus} vCPUs, {cap.memory_mb} MB, "
                f"{cap.accelerators} accelerator devices each)")


# --------------------------------------------------------------------------- components


@dataclass
class _Op:
    kind: str  # "create" | "runtime" | "update" | "delete"
    ticks: int  # describe ticks left (update: batches left)
    seen: bool = False
    started: float = field(default_factory=time.monotonic)
    desired: int | None = None
    spec: dict | None = None  # update: the new specification
    batch: int = 0
    rollback_batch: int = 0
    alarms: list[str] = field(default_factory=list)
    new_gen: int = 0
    old_total: int = 0
    rolling_back: bool = False
    reason: str | None = None


@dataclass
class _Component:
    name: str
    arn: str
    endpoint: str
    endpoint_arn: str
    variant: str
    spec: dict
    desired: int
    tags: list[dict] = field(default_factory=list)
    status: str = "Creating"
    failure_reason: str | None = None
    last_deployment_config: dict | None = None
    creation_time: datetime = field(default_factory=_now)
    last_modified: datetime = field(default_factory=_now)
    gen: int = 0  # generation of the specification in service (pool key (name, gen))
    op: _Op | None = None

    @property
    def key(self) -> tuple:
        return (self.name, self.gen)


class _ComponentState:
    def __init__(self) -> None:
        self.components: dict[str, _Component] = {}
        self.pools: dict[tuple[str, str], _Pool] = {}


def _cstate(backend: Any) -> _ComponentState:
    state = backend.__dict__.get("_modelbot_inference_components")
    if state is None:
        state = _ComponentState()
        backend.__dict__["_modelbot_inference_components"] = state
    return state


def _variant_row(backend: Any, endpoint_name: str, variant_name: str) -> dict | None:
    """The endpoint config row (ProductionVariants) of a variant of an endpoint's live config."""
    fake = backend.endpoints.get(endpoint_name)
    if fake is None:
        return None
    cfg = backend.endpoint_configs.get(fake.endpoint_config_name)
    for pv in (cfg.production_variants if cfg else []) or []:
        if pv.get("VariantName") == variant_name:
            return pv
    return None


def pool_for(backend: Any, endpoint_name: str, variant_name: str) -> _Pool:
    state = _cstate(backend)
    key = (endpoint_name, variant_name)
    pool = state.pools.get(key)
    if pool is None:
        row = _variant_row(backend, endpoint_name, variant_name) or {}
        managed = row.get("ManagedInstanceScaling") or {}
        pool = _Pool(endpoint_name, variant_name, row.get("InstanceType"),
                     copy.deepcopy(managed) if managed.get("Status") == "ENABLED" else None)
        pool.instances = [{} for _ in range(int(row.get("InitialInstanceCount") or 1))]
        state.pools[key] = pool
    return pool


def pool_instance_count(backend: Any, endpoint_name: str, variant_name: str) -> int | None:
    """Instances of an accounted pool (None when the variant hosts no components yet or its
    instance type is not in the capacity table)."""
    pool = _cstate(backend).pools.get((endpoint_name, variant_name))
    if pool is None or pool.capacity is None:
        return None
    return len(pool.instances)


def components_of_endpoint(backend: Any, endpoint_name: str) -> list[_Component]:
    return [c for c in _cstate(backend).components.values() if c.endpoint == endpoint_name]


def current_copies(backend: Any, comp: _Component) -> int:
    pool = pool_for(backend, comp.endpoint, comp.variant)
    total = pool.count(comp.key)
    if comp.op is not None and comp.op.kind == "update":
        total += pool.count((comp.name, comp.op.new_gen))
    return total


# --------------------------------------------------------------------------- lifecycle


def _advance_due(op: _Op, seconds: float) -> bool:
    if _settings["mode"] == "clock":
        return time.monotonic() - op.started >= seconds * float(_settings["time_scale"])
    return op.seen


def _restart(op: _Op) -> None:
    op.seen = False
    op.started = time.monotonic()


def _batch_size(size: dict | None, copies: int, default: int) -> int:
    if not size:
        return default
    if size.get("Type") == "CAPACITY_PERCENT":
        return max(1, math.ceil(copies * float(size["Value"]) / 100.0))
    return max(1, int(size["Value"]))


def start_update(backend: Any, comp: _Component, spec: dict, desired: int,
                 deployment_config: dict | None) -> None:
    policy = (deployment_config or {}).get("RollingUpdatePolicy") or {}
    old_total = current_copies(backend, comp)
    work = max(desired, old_total, 1)
    batch = _batch_size(policy.get("MaximumBatchSize"), desired, work)
    alarms = [a["AlarmName"] for a in
              ((deployment_config or {}).get("AutoRollbackConfiguration") or {}).get("Alarms") or []]
    comp.op = _Op("update", ticks=math.ceil(work / batch), desired=desired,
                  spec=copy.deepcopy(spec), batch=batch, alarms=alarms, new_gen=comp.gen + 1,
                  old_total=old_total)
    comp.op.rollback_batch = _batch_size(policy.get("RollbackMaximumBatchSize"), desired, 0)
    comp.status = "Updating"
    comp.failure_reason = None
    comp.last_modified = _now()


def start_runtime(comp: _Component, desired: int) -> None:
    comp.op = _Op("runtime", ticks=1, desired=desired)
    comp.status = "Updating"
    comp.failure_reason = None
    comp.last_modified = _now()


def _scale_to(backend: Any, comp: _Component, desired: int) -> None:
    pool = pool_for(backend, comp.endpoint, comp.variant)
    have = pool.count(comp.key)
    comp.desired = desired
    comp.failure_reason = None
    if desired < have:
        pool.remove(comp.key, have - desired)
    elif desired > have:
        need = _Need.of(comp.spec)
        placed = pool.place(comp.key, need, desired - have)
        if placed < desired - have:
            comp.failure_reason = (
                f"Placed {have + placed} of {desired} copies: {pool.describe_shortfall(need)}.")


def _rollback(backend: Any, comp: _Component, reason: str) -> None:
    op = comp.op
    assert op is not None
    pool = pool_for(backend, comp.endpoint, comp.variant)
    new_copies = pool.count((comp.name, op.new_gen))
    op.rolling_back = True
    op.reason = reason
    op.ticks = 1 if not op.rollback_batch else max(1, math.ceil(new_copies / op.rollback_batch))
    _restart(op)


def _finish_rollback(backend: Any, comp: _Component) -> None:
    op = comp.op
    assert op is not None
    pool = pool_for(backend, comp.endpoint, comp.variant)
    new_key = (comp.name, op.new_gen)
    pool.remove(new_key, pool.count(new_key))
    pool.needs.pop(new_key, None)
    missing = op.old_total - pool.count(comp.key)
    if missing > 0:
        pool.place(comp.key, _Need.of(comp.spec), missing)
    comp.status = "InService"
    comp.failure_reason = op.reason
    comp.op = None


def _update_batch(backend: Any, comp: _Component) -> None:
    """One rolling step: new copies beside the old ones, then old copies removed."""
    op = comp.op
    assert op is not None and op.spec is not None and op.desired is not None
    pool = pool_for(backend, comp.endpoint, comp.variant)
    new_key = (comp.name, op.new_gen)
    need = _Need.of(op.spec)
    add = min(op.batch, op.desired - pool.count(new_key))
    if add > 0:
        placed = pool.place(new_key, need, add)
        if placed < add:
            _rollback(backend, comp, (
                "Deployment rolled back: the new copies did not fit beside the copies still "
                f"running ({pool.describe_shortfall(need)}). The inference component keeps its "
                "previous specification."))
            return
    remove = min(op.batch, pool.count(comp.key))
    if remove > 0:
        pool.remove(comp.key, remove)
    op.ticks -= 1
    if op.ticks <= 0 and pool.count(comp.key) == 0 and pool.count(new_key) >= op.desired:
        pool.needs.pop(comp.key, None)
        comp.gen = op.new_gen
        comp.spec = op.spec
        comp.desired = op.desired
        comp.status = "InService"
        comp.failure_reason = None
        comp.op = None
    else:
        op.ticks = max(op.ticks, 1)
        _restart(op)


def tick(backend: Any, comp: _Component) -> bool:
    """One DescribeInferenceComponent tick; False if the component is gone (deleted)."""
    from .lifecycle import _alarms_in_alarm

    op = comp.op
    if op is None:
        return True
    before = (comp.status, op.ticks, op.rolling_back)
    if op.kind == "update" and not op.rolling_back and op.alarms:
        tripped = _alarms_in_alarm(backend, op.alarms)
        if tripped:
            _rollback(backend, comp, (
                "Deployment rolled back: CloudWatch alarm(s) " + ", ".join(tripped)
                + " in ALARM state during the deployment. The inference component keeps its "
                "previous specification."))
            comp.last_modified = _now()
            return True
    if not _advance_due(op, 60.0):
        return True
    if op.rolling_back:
        op.ticks -= 1
        if op.ticks <= 0:
            _finish_rollback(backend, comp)
        else:
            _restart(op)
    elif op.kind == "create":
        op.ticks -= 1
        if op.ticks <= 0:
            finish_create(backend, comp)
        else:
            _restart(op)
    elif op.kind == "runtime":
        _scale_to(backend, comp, int(op.desired or 0))
        comp.status = "InService"
        comp.op = None
    elif op.kind == "update":
        _update_batch(backend, comp)
    elif op.kind == "delete":
        op.ticks -= 1
        if op.ticks <= 0:
            remove_component(backend, comp)
            return False
        _restart(op)
    if comp.op is None or (comp.status, comp.op.ticks, comp.op.rolling_back) != before:
        comp.last_modified = _now()
    return True


def finish_create(backend: Any, comp: _Component) -> None:
    pool = pool_for(backend, comp.endpoint, comp.variant)
    need = _Need.of(comp.spec)
    placed = pool.place(comp.key, need, comp.desired)
    comp.op = None
    if placed < comp.desired:
        pool.remove(comp.key, placed)
        comp.status = "Failed"
        comp.failure_reason = (
            f"Unable to place {comp.desired} copies of inference component {comp.name} on "
            f"endpoint {comp.endpoint}: {pool.describe_shortfall(need)}.")
    else:
        comp.status = "InService"
    comp.last_modified = _now()


def remove_component(backend: Any, comp: _Component) -> None:
    state = _cstate(backend)
    pool = pool_for(backend, comp.endpoint, comp.variant)
    for key in [k for k in list(pool.needs) if k[0] == comp.name]:
        pool.remove(key, pool.count(key))
        pool.needs.pop(key, None)
    state.components.pop(comp.name, None)
    from . import component_scaling

    component_scaling.deregister_component_targets(backend.account_id, backend.region_name,
                                                   comp.name)


def new_component(backend: Any, name: str, endpoint: str, variant: str, spec: dict, desired: int,
                  tags: list[dict]) -> _Component:
    comp = _Component(
        name=name, arn=_arn(backend, "inference-component", name), endpoint=endpoint,
        endpoint_arn=backend.endpoints[endpoint].arn, variant=variant, spec=copy.deepcopy(spec),
        desired=desired, tags=copy.deepcopy(tags))
    _cstate(backend).components[name] = comp
    ticks = int(_settings["create_ticks"])
    if ticks > 0:
        comp.op = _Op("create", ticks=ticks)
    else:
        finish_create(backend, comp)
    return comp


def start_delete(backend: Any, comp: _Component) -> bool:
    """DeleteInferenceComponent; False when it is gone at once (delete_ticks 0)."""
    from . import component_scaling

    # Assumption (see component_scaling): the targets go at once, as DeleteEndpoint's do.
    component_scaling.deregister_component_targets(backend.account_id, backend.region_name,
                                                   comp.name)
    ticks = int(_settings["delete_ticks"])
    if ticks <= 0:
        remove_component(backend, comp)
        return False
    comp.op = _Op("delete", ticks=ticks)
    comp.status = "Deleting"
    comp.last_modified = _now()
    return True
