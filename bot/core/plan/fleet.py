"""Instances and money: the hourly cost of a fleet, the per-variant instance changes, and the
autoscaling target, policy and alarm changes of an update."""

from __future__ import annotations

from typing import Mapping

from bot.core.plan.model import Action, Change, DeploySpec, LiveAutoscaling, LiveState, VariantPlan
from bot.core.plan.names import bounded_name


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
