"""The plan for mode inference_component: the endpoint's fleet (an endpoint config without
models), the model, and the inference component that places copies of it on the fleet, with
the component's share of the instances and what that costs against a dedicated endpoint.

The endpoint config is created only when the fleet changes (instance type, count, managed
instance scaling): a model update is an UpdateInferenceComponent, which SageMaker rolls out
copy by copy (RollingUpdatePolicy) and rolls back on the manifest's alarms. Copies alone
(no autoscaling) change with UpdateInferenceComponentRuntimeConfig. One component per manifest
environment; other manifests' components may share the endpoint only where the server policy
says so (`shared_endpoints`, judged by `bot.core.ownership.check_component`): a manifest with
`shared_endpoint: true` places its component on an endpoint another manifest hosts and never
touches the fleet. An endpoint that serves a model directly cannot host a component.
"""

from __future__ import annotations

import math
from typing import Mapping

from bot.core.manifest import aws_limits as aws
from bot.core.manifest.model import BOT_TAG_PREFIX
from bot.core.plan.endpoint import _model_detail, _source_notes
from bot.core.plan.fleet import _price
from bot.core.plan.model import (
    Action,
    Change,
    ComponentPlan,
    Cost,
    DeploySpec,
    LiveAutoscaling,
    LiveState,
    Plan,
    ResourceNames,
    TrafficStep,
    VariantPlan,
)
from bot.core.plan.names import _digest, deploy_tags, model_digest
from bot.core.plan.problems import _problem, _status_problems


def fleet_digest(spec: DeploySpec) -> str:
    """Digest of the endpoint config of an inference-component endpoint (the fleet only)."""
    e = spec.env
    ic = e.inference_component
    assert ic is not None
    m = ic.managed_instance_scaling
    return _digest({"ic_fleet": [e.variant_name, e.instance_type, e.fleet,
                                 (m.min_instance_count, m.max_instance_count) if m else None]})


def component_digest(spec: DeploySpec, model_digest_: str) -> str:
    """Digest of the component's specification (model, compute, startup; not the copy count,
    which is runtime config and may be autoscaled)."""
    ic = spec.env.inference_component
    assert ic is not None
    return _digest({"ic": model_digest_, "compute": ic.compute.model_dump(mode="json"),
                    "startup": ic.startup.model_dump(mode="json") if ic.startup else None})


def share_of_instance(spec: DeploySpec) -> tuple[float | None, int | None]:
    """(fraction of one instance a copy takes by its scarcest resource, copies per instance);
    (None, None) when the capacity table does not know the instance type."""
    e = spec.env
    ic = e.inference_component
    assert ic is not None
    cap = aws.INSTANCE_CAPACITY.get(e.instance_type or "")
    if cap is None:
        return None, None
    c = ic.compute
    parts = [c.min_memory_mb / cap.memory_mb]
    if c.cpu_cores:
        parts.append(c.cpu_cores / cap.vcpus)
    if c.accelerators and cap.accelerators:
        parts.append(c.accelerators / cap.accelerators)
    per = aws.copies_per_instance(cap, cpu_cores=c.cpu_cores, accelerators=c.accelerators,
                                  memory_mb=c.min_memory_mb)
    return round(max(parts), 4), per


def _component_cost(spec: DeploySpec, live: LiveState, copies: int, prices: Mapping[str, float],
                    notes: list[str]) -> Cost:
    e = spec.env
    p = _price(prices, e.instance_type, notes)
    live_count = sum(v.instance_count or 0 for v in live.production_variants) if live.endpoint_exists else 0
    before = round(p * live_count, 4) if p is not None else None
    shared = bool(e.inference_component and e.inference_component.shared_endpoint)
    fleet = (live_count or 1) if shared else e.fleet  # a shared fleet is its host's
    after = round(p * fleet, 4) if p is not None else None
    share, per = share_of_instance(spec)
    m = e.inference_component.managed_instance_scaling if e.inference_component else None
    most = max(m.max_instance_count, e.fleet) if m else None
    max_cost = round(p * most, 4) if p is not None and most else None
    if share is None:
        notes.append(f"{e.instance_type} is not in modelbot's capacity table: the component's share "
                     "of an instance is not known")
    elif p is None:
        notes.append(f"this component: {copies} copies x {share:.0%} of an {e.instance_type} "
                     f"({per} copies fit on one instance of the endpoint's {fleet})")
    else:
        mine = round(copies * share * p, 4)
        dedicated = round(copies * p, 4)
        notes.append(f"this component: {copies} copies x {share:.0%} of an {e.instance_type} "
                     f"= ${mine:g}/hour of the endpoint's ${after:g}/hour ({fleet} x {e.instance_type}; "
                     f"{per} copies fit on one instance)")
        notes.append(f"a dedicated endpoint with one {e.instance_type} per copy: ${dedicated:g}/hour; "
                     f"the shared fleet saves ${round(dedicated - mine, 4):g}/hour for this model")
    if m is not None:
        notes.append(f"managed instance scaling keeps {m.min_instance_count}-{m.max_instance_count} "
                     "instances, as many as the copies need")
    return Cost(before, after, None, max_cost, False, tuple(notes))


def _autoscaling(spec: DeploySpec, live: LiveState, component: str) -> tuple[list[Change], list[Action]]:
    a = spec.env.autoscaling
    lc = live.component(component)
    before = lc.autoscaling if lc is not None else None
    resource = f"inference-component/{component}"
    if a is None:
        if before is None:
            return [], []
        return ([Change(f"{component}.autoscaling", f"{before.min_capacity}-{before.max_capacity}", None)],
                [Action("deregister", "autoscaling", resource, "remove the scalable target")])
    value = a.target_invocations_per_copy
    after = LiveAutoscaling(a.min_capacity, a.max_capacity, float(value) if value is not None else None)
    if before == after:
        return [], []
    changes = [Change(f"{component}.autoscaling.{what}", b, n) for what, b, n in (
        ("min_capacity", before and before.min_capacity, a.min_capacity),
        ("max_capacity", before and before.max_capacity, a.max_capacity),
        ("target", before and before.target_value, after.target_value)) if b != n]
    return changes, [Action("register", "autoscaling", resource,
                            f"copies {a.min_capacity}-{a.max_capacity} ({aws.IC_SCALABLE_DIMENSION}), "
                            f"target tracking {aws.IC_INVOCATIONS_METRIC} = {value}")]


def _requirements(c) -> tuple[float | None, float | None, int] | None:
    """(cpu cores, accelerators, memory MB) of one copy of a live component, from its spec."""
    req = (c.specification or {}).get("ComputeResourceRequirements") or {}
    if not req.get("MinMemoryRequiredInMb"):
        return None
    return (req.get("NumberOfCpuCoresRequired"), req.get("NumberOfAcceleratorDevicesRequired"),
            int(req["MinMemoryRequiredInMb"]))


def _fleet_room(spec: DeploySpec, live: LiveState, name: str, copies: int, others: list[str],
                loc: tuple) -> list:
    """On an endpoint other components share: whether the fleet can hold them and these copies,
    by each resource's total over the instances it may have (necessary, not sufficient: copies
    are placed whole on one instance)."""
    e = spec.env
    ic = e.inference_component
    live_v = live.production_variants[0] if live.production_variants else None
    if ic is not None and ic.shared_endpoint:  # the fleet is its host's, as it is live
        itype = (live_v.instance_type if live_v else None) or e.instance_type
        instances = max(live_v.instance_count or 0, 1) if live_v else e.fleet
    else:  # the host: the fleet as this deploy leaves it (it may shrink it under the others)
        itype = e.instance_type
        instances = e.fleet
        if ic is not None and ic.managed_instance_scaling is not None:
            instances = max(instances, ic.managed_instance_scaling.max_instance_count)
    cap = aws.INSTANCE_CAPACITY.get(itype or "")
    if cap is None or ic is None:
        return []
    used = [0.0, 0.0, 0.0]
    for c in live.components:
        if c.name == name:
            continue
        req = _requirements(c)
        if req is None:
            continue
        n = c.copies or 0
        used[0] += n * (req[0] or 0)
        used[1] += n * (req[1] or 0)
        used[2] += n * req[2]
    if ic.shared_endpoint and e.autoscaling is not None:
        copies = max(copies, e.autoscaling.max_capacity)  # a joiner may not autoscale across its host's fleet
    mine = (copies * (ic.compute.cpu_cores or 0), copies * (ic.compute.accelerators or 0),
            copies * ic.compute.min_memory_mb)
    totals = (cap.vcpus * instances, cap.accelerators * instances, cap.memory_mb * instances)
    over = [f"{what}: {used[i]:g} used by {len(others)} other component(s) + {mine[i]:g} > {totals[i]:g}"
            for i, what in enumerate(("CPU cores", "accelerators", "memory MB")) if used[i] + mine[i] > totals[i]]
    if not over:
        return []
    return [_problem(spec, loc + ("inference_component", "copies"), copies,
                     f"the endpoint's {instances} x {itype} cannot hold {copies} copies of this component beside the other "
                     f"components ({'; '.join(over)})", "fewer copies, or a larger fleet from its host",
                     "aws.inference-component-capacity")]


def _steps(spec: DeploySpec, copies: int) -> list[TrafficStep]:
    s = spec.env.effective_strategy
    if s.type != "rolling" or s.max_batch_size is None:
        return [TrafficStep(100.0, 0, "all copies replaced at once (no DeploymentConfig)")]
    size = s.max_batch_size
    batch = size.value if size.type == "copy_count" else max(1, math.ceil(size.value * copies / 100))
    batch = min(batch, copies)
    out, done = [], 0
    while done < copies:
        done = min(copies, done + batch)
        out.append(TrafficStep(round(100.0 * done / copies, 2), s.wait_interval_seconds or 0,
                               f"{done} of {copies} copies on the new model, then bake"))
    return out


def component_plan(spec: DeploySpec, live: LiveState, names: ResourceNames,
                   prices: Mapping[str, float]) -> Plan:
    m, e, env = spec.manifest, spec.env, spec.environment
    ic = e.inference_component
    assert ic is not None and names.endpoint is not None
    st = e.effective_strategy.type
    name = m.component_name(env) or ""
    digest = model_digest(m, env)
    actions, notes = _source_notes(spec, names)
    problems = _status_problems(spec, live) if live.endpoint_exists else []
    cost_notes: list[str] = []
    exists = live.endpoint_exists
    lc = live.component(name) if exists else None
    others = sorted(c.name for c in live.components if c.name != name)
    loc = ("environments", env)
    joins = ic.shared_endpoint
    if joins and not exists:
        problems.append(_problem(spec, loc + ("endpoint_name",), names.endpoint,
                                 f"the shared endpoint {names.endpoint} does not exist in {env}: the manifest that "
                                 "hosts it creates it first", "an existing shared endpoint", "live.shared-endpoint"))
    live_type = live.production_variants[0].instance_type if exists and live.production_variants else None
    if joins and exists and live_type and live_type != e.instance_type:
        problems.append(_problem(spec, loc + ("instance_type",), e.instance_type,
                                 f"the shared endpoint {names.endpoint} runs {live_type}; the copies are sized for "
                                 f"{e.instance_type}", f"instance_type: {live_type}", "live.shared-endpoint"))
    if exists and not live.hosts_components:
        problems.append(_problem(spec, loc + ("mode",), e.mode,
                                 f"the live endpoint {names.endpoint} serves a model directly, not through "
                                 "inference components; its config cannot host one",
                                 "a new endpoint_name for the inference component", "live.mode-switch"))
    if lc is not None and lc.status in ("Creating", "Updating", "Deleting"):
        problems.append(_problem(spec, loc + ("inference_component",), lc.status,
                                 f"the inference component {name} is {lc.status}; a deploy waits until it is "
                                 "InService", "InService", "live.component-status", "warning"))
    if lc is not None and lc.status == "Failed":
        problems.append(_problem(spec, loc + ("inference_component",), lc.status,
                                 f"the inference component {name} is Failed ({lc.failure_reason or 'no reason given'}); "
                                 "delete it (DeleteInferenceComponent) before modelbot can deploy it again",
                                 "InService", "live.component-status"))

    reuse = lc.model_name if lc is not None and lc.model_digest == digest and lc.model_name else None
    model_name, new_model = (reuse, False) if reuse else (names.model, True)
    spec_digest = component_digest(spec, digest)
    fdigest = fleet_digest(spec)
    fleet_changed = not joins and (not exists or live.config_digest != fdigest)
    copies = ic.copies
    autoscaled = e.autoscaling is not None and lc is not None and lc.autoscaling is not None
    if autoscaled and lc is not None and lc.copies:
        copies = lc.copies  # autoscaling owns the count: keep the one it reached
    verb = None
    if lc is None:
        verb = "create"
    elif lc.digest != spec_digest:
        verb = "update"
    copies_changed = lc is not None and verb is None and not autoscaled and lc.copies != ic.copies
    auto_changes, auto_actions = _autoscaling(spec, live, name)
    desired_user_tags = {k: v for k, v in deploy_tags(spec).items() if not k.startswith(BOT_TAG_PREFIX)}
    live_user_tags = {k: v for k, v in live.tags.items() if not k.startswith(BOT_TAG_PREFIX)
                      and (k in desired_user_tags or k in live.bot_applied_tag_keys)}
    tags_changed = exists and not joins and desired_user_tags != live_user_tags
    share, per = share_of_instance(spec)
    cplan = ComponentPlan(name, model_name, digest, copies, ic.compute.cpu_cores, ic.compute.accelerators,
                          ic.compute.min_memory_mb, ic.compute.max_memory_mb,
                          ic.startup.model_data_download_timeout_seconds if ic.startup else None,
                          ic.startup.container_startup_health_check_timeout_seconds if ic.startup else None,
                          spec_digest, share, per, verb)
    host = live.production_variants[0] if joins and exists and live.production_variants else None
    variant = VariantPlan(host.name if host else e.variant_name, model_name, "production", e.instance_type,
                          (host.instance_count or 1) if host else e.fleet, 1.0,
                          model_digest=digest, new_model=new_model)
    cost = _component_cost(spec, live, copies, prices, cost_notes)
    if exists and others:
        problems += _fleet_room(spec, live, name, copies, others, loc)
    if exists and not fleet_changed and verb is None and not copies_changed and not auto_changes \
            and not tags_changed:
        return Plan(env, "no_changes", e.mode, st, names, variants=(variant,), notes=tuple(notes),
                    cost=Cost(cost.before_per_hour, cost.before_per_hour, notes=cost.notes),
                    tags=deploy_tags(spec), problems=tuple(problems), rollback_alarms=tuple(e.alarms or ()),
                    config_digest=fdigest, component=cplan)
    steps: list[TrafficStep] = []
    changes: list[Change] = []
    if verb is not None:
        if new_model:
            actions.append(Action("create", "model", model_name, _model_detail(spec)))
        else:
            notes.append(f"model unchanged: reusing {model_name}")
    m_ = ic.managed_instance_scaling
    fleet_text = (f"{e.variant_name}: {e.fleet} x {e.instance_type}" +
                  (f", managed instance scaling {m_.min_instance_count}-{m_.max_instance_count}" if m_ else "")
                  + "; no model (inference components)")
    if fleet_changed:
        actions.append(Action("create", "endpoint_config", names.endpoint_config, fleet_text))
        if exists:
            actions.append(Action("update", "endpoint", names.endpoint, "the fleet changes (all at once); the "
                                  "components on it stay"))
            live_v = live.production_variants[0] if live.production_variants else None
            for what, b, n in (("instance_type", live_v and live_v.instance_type, e.instance_type),
                               ("instance_count", live_v and live_v.instance_count, e.fleet)):
                if b != n:
                    changes.append(Change(f"{e.variant_name}.{what}", b, n))
        else:
            actions.append(Action("create", "endpoint", names.endpoint, f"with config {names.endpoint_config}"))
            changes.append(Change(e.variant_name, None, f"{e.fleet} x {e.instance_type}"))
    requirement = ", ".join(x for x in (
        f"{ic.compute.accelerators:g} accelerator(s)" if ic.compute.accelerators else "",
        f"{ic.compute.cpu_cores:g} CPU cores" if ic.compute.cpu_cores else "",
        f"{ic.compute.min_memory_mb} MB") if x)
    if verb == "create":
        actions.append(Action("create", "inference_component", name,
                              f"{copies} copies of {model_name}, each {requirement}"))
        steps = [TrafficStep(100.0, 0, "the component serves once InService")]
        changes.append(Change(name, None, f"{copies} copies x ({requirement})"))
    elif verb == "update":
        how = ("rolling, " + f"batches of {e.strategy.max_batch_size.value}"  # type: ignore[union-attr]
               + (" copies" if e.strategy.max_batch_size.type == "copy_count" else "% of the copies")  # type: ignore[union-attr]
               if st == "rolling" else "all at once")
        if e.alarms and st == "rolling":
            how += "; rolled back by SageMaker on " + ", ".join(e.alarms)
        actions.append(Action("update", "inference_component", name, f"{model_name}, each {requirement} ({how})"))
        steps = _steps(spec, copies)
        if lc is not None and lc.model_name != model_name:
            changes.append(Change(f"{name}.model", lc.model_name, model_name))
        notes.append(f"keep the previous model {lc.model_name if lc else '-'} until the update has finished")
    elif copies_changed and lc is not None:
        actions.append(Action("update", "inference_component_copies", name, f"{lc.copies} -> {ic.copies} copies"))
        changes.append(Change(f"{name}.copies", lc.copies, ic.copies))
    if autoscaled and lc is not None and lc.copies != ic.copies:
        notes.append(f"autoscaling keeps {lc.copies} copies (the manifest's {ic.copies} is the first count)")
    actions += auto_actions
    if tags_changed:
        actions.append(Action("update", "tags", names.endpoint or "",
                              "tags: " + ", ".join(f"{k}={v}" for k, v in sorted(desired_user_tags.items()))))
    return Plan(env, "update" if exists else "create", e.mode, st, names, tuple(actions), (variant,),
                tuple(steps), tuple(e.alarms or ()), tuple(changes), tuple(auto_changes), cost,
                deploy_tags(spec), tuple(notes), tuple(problems), config_digest=fdigest, component=cplan)
