"""Phase sequences of an UpdateEndpoint deployment.

Blue/green (ALL_AT_ONCE, CANARY, LINEAR, with bakes), rolling (batch by batch) and the rollback
phase; the package docstring lists the sequences one describe tick per line.
"""

from __future__ import annotations

import math

from .common import ACTIVATE_SECONDS, DELETE_SECONDS, PROVISION_SECONDS, ROLLBACK_SECONDS, _settings
from .state import _Fleet, _Phase, _Variant


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
