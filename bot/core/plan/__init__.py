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

The pieces: `model` (the values), `names` (names, digests, tags), `endpoint` (an endpoint's
create or update), `traffic` (the rollout's steps), `fleet` (cost, instances, autoscaling),
`problems` (what blocks or warns); here the entry point, teardown, batch and `live_after`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from bot.core.plan.component import component_plan
from bot.core.plan.endpoint import _endpoint, _model_detail, _source_notes
from bot.core.plan.fleet import _fleet_cost, _live_rows, _price
from bot.core.plan.model import (
    BROKEN,
    TRANSITIONAL,
    Action,
    Change,
    ComponentPlan,
    Cost,
    DeploySpec,
    LiveAutoscaling,
    LiveComponent,
    LiveState,
    LiveVariant,
    Plan,
    PlanKind,
    ResourceNames,
    TrafficStep,
    VariantPlan,
)
from bot.core.plan.names import (
    bounded_name,
    config_digest,
    deploy_tags,
    model_digest,
    resource_names,
    short_commit,
)
from bot.core.plan.problems import _alarm_problems, _problem, _status_problems, missing_alarms, rolls_out

__all__ = [
    "BROKEN", "TRANSITIONAL", "Action", "Change", "ComponentPlan", "Cost", "DeploySpec", "LiveAutoscaling", "LiveComponent", "LiveState",
    "LiveVariant", "Plan", "PlanKind", "ResourceNames", "TrafficStep", "VariantPlan", "bounded_name",
    "config_digest", "deploy_tags", "live_after", "missing_alarms", "model_digest", "plan",
    "resource_names", "rolls_out", "short_commit",
]


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
    if e.mode == "inference_component":
        result = component_plan(spec, live, names, prices)
    else:
        result = _endpoint(spec, live, names, prices)
    missing = _alarm_problems(spec, live, result.kind, result.actions)
    if missing:
        result = replace(result, problems=result.problems + tuple(missing))
    note = _smoke_note(spec, result)
    return replace(result, notes=result.notes + (note,)) if note else result


def _smoke_note(spec: DeploySpec, p: Plan) -> str | None:
    """What the deploy does with the contract's sample payloads (`bot.core.deploy.rollout`)."""
    c = spec.manifest.contract
    if c is None or c.samples is None or p.kind not in ("create", "update"):
        return None
    if p.kind == "update" and not rolls_out(p.actions):
        return None  # autoscaling or tags only: no new model to test
    mode = spec.env.mode
    if mode not in ("realtime", "serverless", "multi_model"):
        return ("the contract's sample payloads are not sent to an asynchronous endpoint after the deploy "
                "(InvokeEndpointAsync reads its input from S3): they are checked before merge only")
    cand = next((v for v in p.variants if v.role in ("candidate", "shadow")), None)
    if p.kind == "create":
        where = "the new endpoint, before the deploy counts as done; a broken contract fails it"
    elif cand is not None and cand.role == "candidate":
        where = (f"variant {cand.name} at weight 0 (TargetVariant) before any traffic shifts to it; a broken "
                 "contract rolls back")
    elif cand is not None:
        where = ("the candidate once promoted (a shadow variant cannot be invoked directly); a broken contract "
                 "rolls back to the previous config")
    else:
        where = ("the endpoint once SageMaker has finished the update (SageMaker has no step between "
                 "provisioning the new fleet and shifting traffic); a broken contract rolls back")
    return "smoke test: the contract's sample payloads are sent to " + where


def _teardown(spec: DeploySpec, live: LiveState, names: ResourceNames,
              prices: Mapping[str, float]) -> Plan:
    e, env = spec.env, spec.environment
    notes: list[str] = []
    if e.mode == "batch" or not live.endpoint_exists:
        return Plan(env, "no_changes", e.mode, e.effective_strategy.type, names,
                    notes=("the manifest was deleted and nothing is live",))
    actions = []
    component = live.component(spec.manifest.component_name(env))
    if spec.manifest.joins_shared_endpoint(env) and component is None:
        return Plan(env, "no_changes", e.mode, e.effective_strategy.type, names,
                    notes=("the manifest was deleted and its component is not on the shared endpoint",))
    for v in live.variants if not spec.manifest.joins_shared_endpoint(env) else ():
        if v.autoscaling is not None:
            actions.append(Action("deregister", "autoscaling",
                                  f"endpoint/{live.endpoint_name or names.endpoint}/variant/{v.name}"))
    if component is not None:
        if component.autoscaling is not None:
            actions.append(Action("deregister", "autoscaling", f"inference-component/{component.name}"))
        actions.append(Action("delete", "inference_component", component.name,
                              f"{component.copies} copies of {component.model_name}"))
    ep = live.endpoint_name or names.endpoint or ""
    shared = spec.manifest.joins_shared_endpoint(env)
    problems = list(_status_problems(spec, live, teardown=True))
    others = sorted(c.name for c in live.components if component is None or c.name != component.name)
    if not shared:
        actions.append(Action("delete", "endpoint", ep, "stops serving: callers get errors"))
        if live.endpoint_config_name:
            actions.append(Action("delete", "endpoint_config", live.endpoint_config_name))
        if others:
            problems.append(_problem(spec, ("environments", env), ep,
                                     f"endpoint {ep} still hosts other inference components ({', '.join(others[:5])}): "
                                     "they must leave it before its host tears it down", "no other components",
                                     "live.shared-endpoint"))
    for model in sorted({v.model_name for v in live.variants if v.model_name}
                        | ({component.model_name} if component is not None and component.model_name else set())):
        actions.append(Action("delete", "model", model))
    cost_notes: list[str] = []
    before, usage = _fleet_cost(_live_rows(live), prices, cost_notes) if not shared else (None, False)
    changes = [Change(v.name, f"{v.instance_count} x {v.instance_type}" if v.instance_type
                      else "serverless", None) for v in live.variants] if not shared else []
    if component is not None:
        changes.append(Change(component.name, f"{component.copies} copies", None))
    notes.append(f"the manifest was deleted: removing its component from the shared endpoint {ep} needs an explicit "
                 "approval" if shared else "the manifest was deleted: tearing the endpoint down needs an explicit approval")
    return Plan(env, "teardown", e.mode, e.effective_strategy.type,
                ResourceNames(names.model, names.endpoint_config, ep, None), tuple(actions),
                instance_changes=tuple(changes),
                cost=Cost(before, 0.0, usage_based=usage, notes=tuple(cost_notes)),
                notes=tuple(notes), problems=tuple(problems), requires_explicit_approval=True)


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
    if p.component is not None:
        c = p.component
        a = e.autoscaling
        auto = LiveAutoscaling(a.min_capacity, a.max_capacity, float(a.target_invocations_per_copy)
                               if a.target_invocations_per_copy is not None else None) if a else None
        comp = LiveComponent(c.name, "InService", c.model_name, c.model_digest, c.copies, c.copies, c.digest,
                             dict(p.tags), auto)
        host = tuple(LiveVariant(v.name, "", v.instance_type, v.instance_count) for v in p.variants)
        return LiveState(True, p.names.endpoint, "InService", p.names.endpoint_config if any(
            a_.resource == "endpoint_config" for a_ in p.actions) else p.names.endpoint_config,
            p.config_digest, host, dict(p.tags), components=(comp,), hosts_components=True)
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
