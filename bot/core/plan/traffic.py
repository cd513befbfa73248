"""The rollout's traffic steps and bake times per strategy (blue/green, canary, linear, rolling,
A/B, shadow, all at once), and how the update call is described."""

from __future__ import annotations

import math

from bot.core.manifest.aws_limits import (
    EXCLUSIONS_PAGE,
    GUARDRAILS_PAGE,
    capacity_percent,
    effective_instances,
)
from bot.core.plan.model import DeploySpec, LiveState, TrafficStep, VariantPlan
from bot.core.plan.problems import _guardrails_excluded


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


def _judged(s) -> str:
    """What decides the promotion of an A/B or shadow test (bot.core.experiment.judge)."""
    judges = []
    if s.type == "shadow" and s.experiment is not None:
        judges.append(f"the shadow judge ({s.experiment.task}, {s.experiment.min_pairs} paired answers)")
    if s.type == "ab" and s.ab_test is not None:
        m = s.ab_test.metric
        judges.append(f"the A/B test of {m.namespace}/{m.metric_name} (mde {s.ab_test.mde:g}, "
                      f"{s.ab_test.min_per_arm} per arm)")
    if s.canary_judge is not None:
        judges.append(f"the operational judge ({', '.join(s.canary_judge.metrics)})")
    if not judges:
        return ""
    auto = next((j.promote_after_minutes for j in (s.experiment, s.ab_test) if j is not None
                 and j.promote_after_minutes is not None), None)
    return ("; promotion waits for " + " and ".join(judges) + ", a failing judge rolls back"
            + (f", a pass promotes by itself after {auto} min" if auto is not None else ""))


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
                            "the current model, until promoted or rolled back" + _judged(s))]
    if two_models and s.type == "shadow":
        return [TrafficStep(0.0, 0, f"shadow: {s.sampling_percentage}% of requests are copied to "
                            "the candidate; its answers are recorded, not returned" + _judged(s))]
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
