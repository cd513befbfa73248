"""Gates: a Comparison in, a verdict per metric and overall out, with the numbers behind each.

Rules, per gate and at the gate's confidence level:

- Too few rows (fewer than `min_rows`, or for classification metrics fewer than `min_minority`
  rows of the rarest class present) -> inconclusive: noise on a small set neither fails nor
  passes a build.
- Regression against the baseline: the allowed regression is `max_regression` (metric units)
  and/or `max_relative_regression` x |baseline| (both given: the smaller applies). The gate
  fails only when the whole confidence interval of the delta (candidate - baseline) lies beyond
  the allowed regression (significantly worse), passes when the whole interval lies within it,
  and is inconclusive when the interval straddles the limit. Intervals are DeLong's for binary
  ROC AUC and paired-bootstrap percentile intervals otherwise.
- Absolute floor/ceiling (`min`/`max`) on the candidate: by default judged on the point
  estimate (beyond -> fail, else pass). With `absolute_on="interval"` it is judged like the
  regression check on the candidate's own bootstrap interval: fail only if the whole interval is
  beyond, pass if the whole interval is within, else inconclusive.
- No baseline (first deployment): only the absolute checks apply; regression limits are
  reported as not applicable, and the report says so.
- A metric that is not defined on the set (MAPE with a label of 0; a point estimate that is NaN,
  such as R² of constant labels) -> inconclusive, with the reason: never a pass.
- A gate's verdict is its worst check (fail > inconclusive > pass); the report's verdict is fail
  if any gate fails, else inconclusive if any is inconclusive, else pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.compare.metrics import CLASSIFICATION, METRICS, metric_title
from bot.core.compare.power import POWER, rows_for_minimum, rows_to_decide, standard_error
from bot.core.compare.power import min_detectable as _min_detectable
from bot.core.compare.stats import Comparison, Interval, MetricComparison

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
SEVERITY = {PASS: 0, INCONCLUSIVE: 1, FAIL: 2}
MIN_ROWS = 30
MIN_MINORITY = 10


class GateConfigError(ValueError):
    """A gate that cannot be evaluated as written (unknown metric, impossible limits...)."""


@dataclass(frozen=True)
class Gate:
    """Limits for one metric. Directions come from the metric (log loss, RMSE, MAE: lower is better)."""

    metric: str
    min: float | None = None
    max: float | None = None
    max_regression: float | None = None  # largest allowed worsening vs baseline, metric units
    max_relative_regression: float | None = None  # ... as a fraction of the baseline value
    confidence: float = 0.95
    absolute_on: str = "point"  # "point" or "interval": how min/max are judged

    def __post_init__(self):
        if self.metric not in METRICS:
            raise GateConfigError(f"unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
        if all(v is None for v in (self.min, self.max, self.max_regression, self.max_relative_regression)):
            raise GateConfigError(f"gate for {self.metric} sets no limit (min, max, max_regression or max_relative_regression)")
        for name in ("max_regression", "max_relative_regression"):
            v = getattr(self, name)
            if v is not None and not (v >= 0 and math.isfinite(v)):
                raise GateConfigError(f"{self.metric}: {name} must be a finite number >= 0, got {v!r}")
        for name in ("min", "max"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise GateConfigError(f"{self.metric}: {name} must be a finite number, got {v!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise GateConfigError(f"{self.metric}: min {self.min} is above max {self.max}")
        if not 0 < self.confidence < 1:
            raise GateConfigError(f"{self.metric}: confidence must be between 0 and 1, got {self.confidence!r}")
        if self.absolute_on not in ("point", "interval"):
            raise GateConfigError(f"{self.metric}: absolute_on must be 'point' or 'interval', got {self.absolute_on!r}")

    @property
    def has_regression_limit(self) -> bool:
        return self.max_regression is not None or self.max_relative_regression is not None

    def describe(self) -> str:
        """One line, e.g. 'roc_auc >= 0.8, roc_auc regression <= 0.01 (95%)'."""
        parts = []
        if self.min is not None:
            parts.append(f"{self.metric} >= {self.min:g}")
        if self.max is not None:
            parts.append(f"{self.metric} <= {self.max:g}")
        limits = []
        if self.max_regression is not None:
            limits.append(f"{self.max_regression:g}")
        if self.max_relative_regression is not None:
            limits.append(f"{self.max_relative_regression:.4g}x baseline")
        if limits:
            parts.append(f"{self.metric} regression <= {' and '.join(limits)}")
        conf = percent(self.confidence) + (", min/max on interval" if self.absolute_on == "interval" else "")
        return f"{', '.join(parts)} ({conf})"


@dataclass(frozen=True)
class GateResult:
    """The verdict of one gate and the numbers it rests on (delta = candidate - baseline)."""

    metric: str
    title: str
    higher_is_better: bool
    candidate: float
    baseline: float | None
    delta: float | None
    ci_low: float | None  # interval of the delta (of the candidate's value without a baseline)
    ci_high: float | None
    confidence: float
    interval_method: str | None  # "delong" or "bootstrap"
    p_value: float | None  # DeLong's two-sided p-value for delta = 0 (binary ROC AUC)
    allowed_regression: float | None  # absolute, metric units
    gate: str
    verdict: str
    reason: str
    # what the gate could have seen (bot.core.compare.power): the smallest true regression that
    # fails it with probability `power` on these rows, and for an inconclusive gate the rows that
    # would decide it (None: none would, `power_note` says why)
    min_detectable: float | None = None
    rows_to_decide: int | None = None
    power_note: str | None = None
    power: float = POWER


@dataclass(frozen=True)
class GateReport:
    """All gate results and the overall verdict."""

    verdict: str
    results: tuple[GateResult, ...]
    has_baseline: bool
    n_rows: int
    notes: tuple[str, ...] = ()


def evaluate_gates(
    comparison: Comparison,
    gates: Iterable[Gate],
    *,
    min_rows: int = MIN_ROWS,
    min_minority: int = MIN_MINORITY,
    normal_intervals: bool = False,
) -> GateReport:
    """Judge every gate against the comparison; see the module docstring for the rules."""
    gates = tuple(gates)
    for gate in gates:
        if gate.metric not in comparison.metrics:
            raise GateConfigError(
                f"metric {gate.metric!r} is not computed for a {comparison.task} task; "
                f"available: {', '.join(comparison.metrics)}"
            )
    results = tuple(_evaluate(g, comparison, min_rows, min_minority, normal_intervals) for g in gates)
    notes = []
    if not comparison.has_baseline:
        notes.append("no baseline model (first deployment): only absolute limits (min/max) were applied")
    if not gates:
        notes.append("no gates configured")
    verdict = max((r.verdict for r in results), key=SEVERITY.__getitem__, default=PASS)
    return GateReport(verdict, results, comparison.has_baseline, comparison.n_rows, tuple(notes))


# -- rules -------------------------------------------------------------------------------------------


def _evaluate(gate: Gate, comp: Comparison, min_rows: int, min_minority: int, normal: bool = False) -> GateResult:
    mc = comp.metrics[gate.metric]
    conf = gate.confidence
    has_base = mc.baseline is not None
    allowed = _allowed(gate, mc) if has_base else None
    interval = mc.delta_interval(conf, normal=normal) if has_base else mc.candidate_interval(conf, normal=normal)

    checks: list[tuple[str, str, str]] = []  # (verdict, reason, which check)
    small = _too_small(gate, comp, min_rows, min_minority)
    if mc.undefined:
        checks.append((INCONCLUSIVE, mc.undefined, "undefined"))
    elif small:
        checks.append((INCONCLUSIVE, small, "rows"))
    else:
        if gate.min is not None or gate.max is not None:
            checks.append((*_absolute(gate, mc, normal), "absolute"))
        if gate.has_regression_limit:
            if has_base:
                checks.append((*_regression(gate, mc, interval, allowed), "regression"))
            else:
                checks.append((PASS, "no baseline (first deployment): regression limit not applicable", "none"))
    verdict = max((v for v, _, _ in checks), key=SEVERITY.__getitem__)
    reason = "; ".join(r for _, r, _ in checks)

    defined = interval is not None and interval.defined
    detectable, rows, why = _power(gate, mc, comp, interval if has_base else None, allowed, verdict,
                                   checks, small, min_rows, min_minority, normal)
    return GateResult(
        metric=gate.metric,
        title=metric_title(gate.metric, comp.task),
        higher_is_better=mc.higher_is_better,
        candidate=mc.candidate,
        baseline=mc.baseline,
        delta=mc.delta,
        ci_low=interval.low if defined else None,
        ci_high=interval.high if defined else None,
        confidence=conf,
        interval_method=interval.method if interval is not None else None,
        p_value=mc.p_value,
        allowed_regression=allowed,
        gate=gate.describe(),
        verdict=verdict,
        reason=reason,
        min_detectable=detectable,
        rows_to_decide=rows,
        power_note=why,
    )


def _power(gate: Gate, mc: MetricComparison, comp: Comparison, delta_iv: Interval | None,
           allowed: float | None, verdict: str, checks: list[tuple[str, str, str]], small: str | None,
           min_rows: int, min_minority: int, normal: bool = False) -> tuple[float | None, int | None, str | None]:
    """(minimum detectable regression, rows that would decide, why none would); see power.py."""
    conf, n = gate.confidence, comp.n_rows
    se = standard_error(delta_iv.low, delta_iv.high, conf) if delta_iv is not None and delta_iv.defined else None
    detectable = None
    if gate.has_regression_limit and allowed is not None and not mc.undefined:
        detectable = _min_detectable(se, allowed, conf)
    if verdict != INCONCLUSIVE:
        return detectable, None, None
    if mc.undefined:
        return detectable, None, f"more rows do not help: {mc.undefined}"
    needs: list[int] = []
    why = None
    open_checks = [kind for result, _, kind in checks if result == INCONCLUSIVE]
    if small:  # first enough rows to judge at all, then an interval that clears the limit
        rarest = comp.minority_count if comp.task in CLASSIFICATION and comp.class_counts is not None else None
        needs.append(rows_for_minimum(n, min_rows, rarest, min_minority))
        open_checks = (["regression"] if gate.has_regression_limit and delta_iv is not None else []) + (
            ["absolute"] if gate.absolute_on == "interval" and (gate.min is not None or gate.max is not None) else [])
    for kind in open_checks:
        if kind == "regression":
            limit = -allowed if mc.higher_is_better else allowed
            rows, why = rows_to_decide(se, mc.delta - limit, n, conf)
        elif kind == "absolute" and gate.absolute_on == "interval":
            iv = mc.candidate_interval(conf, normal=normal)
            c_se = standard_error(iv.low, iv.high, conf) if iv.defined else None
            bounds = [b for b in (gate.min, gate.max) if b is not None]
            bound = min(bounds, key=lambda b: abs(mc.candidate - b))  # the one the interval straddles
            rows, why = rows_to_decide(c_se, mc.candidate - bound, n, conf)
        else:  # a point estimate that is NaN: no number of rows is known to fix it
            return detectable, None, "more rows may not help: the candidate's value is undefined on this set"
        if rows is None:
            return detectable, None, why
        needs.append(rows)
    return detectable, (max(needs) if needs else None), (None if needs else why)


def _too_small(gate: Gate, comp: Comparison, min_rows: int, min_minority: int) -> str | None:
    if comp.n_rows < min_rows:
        return f"too few rows to judge: {comp.n_rows} < {min_rows}"
    if comp.task in CLASSIFICATION and comp.class_counts is not None:
        rarest = comp.minority_count
        if rarest < min_minority:
            index = comp.class_counts.index(rarest)
            label = comp.classes[index] if comp.classes else index
            return f"too few rows of the rarest class {label!r} to judge: {rarest} < {min_minority}"
    return None


def _allowed(gate: Gate, mc: MetricComparison) -> float | None:
    limits = []
    if gate.max_regression is not None:
        limits.append(gate.max_regression)
    if gate.max_relative_regression is not None:
        limits.append(gate.max_relative_regression * abs(mc.baseline))
    return min(limits) if limits else None


def _regression(gate: Gate, mc: MetricComparison, iv: Interval, allowed: float) -> tuple[str, str]:
    pct = percent(gate.confidence)
    if not iv.defined:
        return INCONCLUSIVE, (
            f"the {pct} interval of the delta is undefined ({iv.n_undefined} of {iv.n_resamples} resamples "
            "had no value for this metric)"
        )
    # in delta units the limit is -allowed (higher is better) or +allowed (lower is better)
    limit = (-allowed if mc.higher_is_better else allowed) + 0.0  # no "-0"
    better, worse = ("above", "below") if mc.higher_is_better else ("below", "above")
    span = f"{pct} interval of the delta [{iv.low:+.4g}, {iv.high:+.4g}] ({iv.method})"
    beyond = iv.high < limit if mc.higher_is_better else iv.low > limit
    within = iv.low >= limit if mc.higher_is_better else iv.high <= limit
    if beyond:
        return FAIL, f"significantly worse than baseline: the whole {span} lies {worse} the allowed regression limit {limit:+.4g}"
    if within:
        return PASS, f"within the allowed regression: the whole {span} lies at or {better} the limit {limit:+.4g}"
    return INCONCLUSIVE, f"not enough evidence either way: the {span} straddles the allowed regression limit {limit:+.4g}"


def _absolute(gate: Gate, mc: MetricComparison, normal: bool = False) -> tuple[str, str]:
    if gate.absolute_on == "point":
        v = mc.candidate
        if math.isnan(v):
            return INCONCLUSIVE, f"the candidate's {gate.metric} is undefined on this set"
        if gate.min is not None and v < gate.min:
            return FAIL, f"candidate {v:.4g} is below the floor {gate.min:g}"
        if gate.max is not None and v > gate.max:
            return FAIL, f"candidate {v:.4g} is above the ceiling {gate.max:g}"
        return PASS, f"candidate {v:.4g} meets {_bounds(gate)}"
    iv = mc.candidate_interval(gate.confidence, normal=normal)
    pct = percent(gate.confidence)
    if not iv.defined:
        return INCONCLUSIVE, f"the {pct} interval of the candidate's value is undefined"
    span = f"{pct} interval of the candidate [{iv.low:.4g}, {iv.high:.4g}]"
    if (gate.min is not None and iv.high < gate.min) or (gate.max is not None and iv.low > gate.max):
        return FAIL, f"the whole {span} lies outside {_bounds(gate)}"
    if (gate.min is None or iv.low >= gate.min) and (gate.max is None or iv.high <= gate.max):
        return PASS, f"the whole {span} lies within {_bounds(gate)}"
    return INCONCLUSIVE, f"the {span} straddles {_bounds(gate)}"


def percent(confidence: float) -> str:
    """95%, or 99.29% for a corrected confidence: never a rounding that overstates it."""
    return f"{confidence * 100:.4g}%"


def _bounds(gate: Gate) -> str:
    if gate.min is not None and gate.max is not None:
        return f"the range [{gate.min:g}, {gate.max:g}]"
    return f"the floor {gate.min:g}" if gate.min is not None else f"the ceiling {gate.max:g}"
