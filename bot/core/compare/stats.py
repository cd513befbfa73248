"""Paired statistics for a candidate and a baseline model scored on the same rows.

- Bootstrap: every resample is a vector of integer row multiplicities ("Poisson bootstrap"
  weights, mean 1 and variance 1), evaluated in batches by `MetricKernel` with no Python loop per
  resample. Candidate and baseline see the same weights, so deltas are paired. Resamples come in
  groups of `LANES` (8): group g = resamples 8g..8g+7 draws from its own stream, the g-th child of
  `SeedSequence(seed)`, one random byte per (column, resample). A replicate depends only on (seed,
  its index, the data), never on the resample count, the batches, threads or timing. Intervals are
  percentile intervals of the replicates.
- DeLong's test for two correlated ROC AUCs (fast midrank form, Sun & Xu 2014): the AUC delta,
  its standard error, z, two-sided p-value and a normal confidence interval.
- `compare` runs both over an `EvaluationSet` and returns a `Comparison` for the gates.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from scipy.stats import norm

from bot.core.compare.data import EvaluationSet
from bot.core.compare.metrics import (
    LANES,
    METRICS,
    MetricKernel,
    Workspace,
    available_workers,
    batch_rows,
    metric_names,
)

MIN_RESAMPLES, MAX_RESAMPLES = 200, 1000
RESAMPLE_BUDGET = 200_000_000  # rows x resamples for the default resample count
MAX_UNDEFINED_SHARE = 0.10  # more undefined resamples than this and the interval is not reported
# P(w = k) = (95, 92, 49, 15, 4, 1) / 256 for k = 0..5: Poisson(1) quantised to 1/256 so that one
# random byte gives one weight by comparisons; mean and variance are exactly 1, as for Poisson(1).
_WEIGHT_CUTS = (95, 187, 236, 251, 255)
_CHUNK = 1 << 16  # columns drawn per piece (the stream does not depend on the pieces)


def default_resamples(n_rows: int) -> int:
    """1000 resamples up to 200,000 rows, then fewer (200 at 1,000,000 rows and beyond)."""
    return int(min(MAX_RESAMPLES, max(MIN_RESAMPLES, RESAMPLE_BUDGET // max(n_rows, 1))))


def bootstrap_weights(n_rows: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """All resample weights (n_resamples, n_rows) uint8 exactly as `bootstrap` draws them.

    Column j is canonical position j of the kernel (`MetricKernel.order[j]`).
    """
    w = np.empty((n_resamples, n_rows), dtype=np.uint8)
    ws = Workspace()
    for g in range(0, n_resamples, LANES):
        lanes = _group_weights(seed, g // LANES, n_rows, ws).view(np.uint8).reshape(n_rows, LANES)
        k = min(LANES, n_resamples - g)
        w[g : g + k] = lanes[:, :k].T
    return w


@dataclass(frozen=True, eq=False)
class Replicates:
    """Per-metric bootstrap replicates: arrays of shape (n_resamples,), NaN where undefined."""

    candidate: Mapping[str, np.ndarray]
    baseline: Mapping[str, np.ndarray] | None
    n_resamples: int
    seed: int


def bootstrap(kernel: MetricKernel, *, n_resamples: int | None = None, seed: int = 0, workers: int | None = None,
              metrics: Collection[str] | None = None) -> Replicates:
    """Bootstrap replicates of every metric (or of `metrics`, binary sets) for candidate and
    baseline (paired: same weights)."""
    return _bootstrap_many([kernel], [seed], n_resamples, available_workers(workers), metrics)[0]


def _bootstrap_many(kernels: list[MetricKernel], seeds: list[int], n_resamples: int | None, workers: int,
                    metrics: Collection[str] | None = None) -> list[Replicates]:
    """`bootstrap` of several kernels (say, the slices of a set), their batches sharing one pool
    of `workers` threads so that every thread stays busy to the end."""
    out, tasks = [], []
    for kernel, seed in zip(kernels, seeds):
        n = kernel.n_rows
        b = default_resamples(n) if n_resamples is None else int(n_resamples)
        if b < 0:
            raise ValueError("n_resamples must be >= 0")
        names = metric_names(kernel.task)
        if metrics is not None and kernel.task == "binary":
            names = tuple(m for m in names if m in metrics)
        cand = {m: np.full(b, np.nan) for m in names}
        base = {m: np.full(b, np.nan) for m in names} if kernel.has_baseline else None
        out.append(Replicates(MappingProxyType(cand), None if base is None else MappingProxyType(base), b, seed))
        tasks += [(kernel, seed, start, stop, cand, base) for start, stop in _batches(n, b, workers if len(kernels) == 1 else 1)]

    local = threading.local()

    def run(task) -> None:
        kernel, seed, start, stop, cand, base = task
        ws = getattr(local, "ws", None)
        if ws is None:
            ws = local.ws = Workspace()
        for g in range(start, stop, LANES):
            lanes = _group_weights(seed, g // LANES, kernel.n_rows, ws)
            c, bl = kernel.evaluate_lanes(lanes, ws, max_weight=len(_WEIGHT_CUTS), metrics=cand.keys())
            k = min(LANES, stop - g)  # the lanes of a last, partial group are drawn and unused
            for m in cand:
                cand[m][g : g + k] = c[m][:k]
                if base is not None:
                    base[m][g : g + k] = bl[m][:k]

    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            run(task)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, tasks))
    return out


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's paired test of ROC AUC, candidate minus baseline (two-sided p-value for delta = 0)."""

    auc_candidate: float
    auc_baseline: float
    delta: float
    se: float
    z: float
    p_value: float
    confidence: float
    ci_low: float
    ci_high: float
    covariance: tuple[tuple[float, float], tuple[float, float]]  # of (candidate AUC, baseline AUC)

    def interval(self, confidence: float) -> tuple[float, float]:
        """Normal interval of the delta at another confidence level."""
        half = _z(confidence) * self.se
        return self.delta - half, self.delta + half


def delong(labels, candidate, baseline, *, confidence: float = 0.95) -> DeLongResult:
    """DeLong's test for the ROC AUCs of two models scored on the same binary-labelled rows.

    labels: bool or 0/1; candidate, baseline: scores (any monotone scale), same rows.
    """
    y = np.asarray(labels).astype(bool)
    if y.all() or not y.any() or len(y) != len(candidate) or len(y) != len(baseline):
        raise ValueError("DeLong's test needs rows of both classes and one score per row from each model")
    return _delong(MetricKernel("binary", y, candidate, baseline), confidence)


def _delong(kernel: MetricKernel, confidence: float) -> DeLongResult:
    if kernel.delong_moments is None:
        raise ValueError("DeLong's test needs rows of both classes and one score per row from each model")
    auc_c, auc_b, cov = kernel.delong_moments
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    se = math.sqrt(max(var, 0.0)) if np.isfinite(var) else math.nan
    delta = auc_c - auc_b
    if se > 0:
        z = delta / se
    elif se == 0:
        z = 0.0 if delta == 0 else math.copysign(math.inf, delta)
    else:
        z = math.nan
    p = float(2 * norm.sf(abs(z))) if not math.isnan(z) else math.nan
    half = _z(confidence) * se
    return DeLongResult(
        auc_c, auc_b, delta, se, z, p, confidence, delta - half, delta + half,
        ((float(cov[0, 0]), float(cov[0, 1])), (float(cov[1, 0]), float(cov[1, 1]))),
    )


@dataclass(frozen=True)
class Interval:
    """A confidence interval and how it was made; low/high are NaN when too many resamples were undefined."""

    low: float
    high: float
    confidence: float
    method: str  # "bootstrap" or "delong"
    n_resamples: int = 0
    n_undefined: int = 0

    @property
    def defined(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))


@dataclass(frozen=True, eq=False)
class MetricComparison:
    """One metric: point estimates, bootstrap replicates and, for binary ROC AUC, DeLong's test."""

    name: str
    higher_is_better: bool
    candidate: float
    baseline: float | None
    candidate_replicates: np.ndarray | None  # None: not drawn (a slice whose gates need DeLong's test only)
    baseline_replicates: np.ndarray | None
    delong: DeLongResult | None = None
    undefined: str | None = None  # why the metric is not computed on this set at all (e.g. MAPE with y = 0)

    @property
    def delta(self) -> float | None:
        """candidate - baseline (positive is better when higher_is_better)."""
        return None if self.baseline is None else self.candidate - self.baseline

    @property
    def p_value(self) -> float | None:
        return None if self.delong is None else self.delong.p_value

    def delta_interval(self, confidence: float = 0.95, *, normal: bool = False) -> Interval | None:
        """Interval of the delta: DeLong's for binary ROC AUC, else the bootstrap percentile interval
        (`normal`: the point estimate +- z x the bootstrap standard deviation, for the far tails a
        multiple-comparison correction asks for, where a percentile of a thousand resamples is noise)."""
        if self.baseline is None:
            return None
        if self.delong is not None:
            lo, hi = self.delong.interval(confidence)
            return Interval(lo, hi, confidence, "delong")
        diffs = self._replicates() - self.baseline_replicates
        return _normal(diffs, self.delta, confidence) if normal else _percentile(diffs, confidence)

    def candidate_interval(self, confidence: float = 0.95, *, normal: bool = False) -> Interval:
        """Bootstrap percentile (or `normal`) interval of the candidate's own value."""
        if normal:
            return _normal(self._replicates(), self.candidate, confidence)
        return _percentile(self._replicates(), confidence)

    def _replicates(self) -> np.ndarray:
        if self.candidate_replicates is None:
            raise ValueError(f"no bootstrap replicates of {self.name} were drawn for this comparison")
        return self.candidate_replicates


@dataclass(frozen=True, eq=False)
class Comparison:
    """Everything the gates need about candidate vs baseline on one evaluation set."""

    task: str
    n_rows: int
    class_counts: tuple[int, ...] | None
    classes: tuple | None
    threshold: float
    n_resamples: int
    seed: int
    metrics: Mapping[str, MetricComparison] = field(default_factory=dict)

    @property
    def has_baseline(self) -> bool:
        return any(m.baseline is not None for m in self.metrics.values())

    @property
    def minority_count(self) -> int | None:
        """Rows of the rarest class present (classification), else None."""
        if self.class_counts is None:
            return None
        return min(c for c in self.class_counts if c > 0)


def compare(
    data: EvaluationSet,
    *,
    threshold: float = 0.5,
    n_resamples: int | None = None,
    seed: int = 0,
    workers: int | None = None,
) -> Comparison:
    """Point estimates, paired bootstrap replicates and (binary) DeLong's test for every metric.

    `n_resamples` defaults to `default_resamples(n_rows)`; `workers` threads share the batches
    (default: up to 4 available CPUs) without changing any number.
    """
    return compare_many([data], seeds=[seed], threshold=threshold, n_resamples=n_resamples, workers=workers)[0]


def compare_many(
    datasets: Sequence[EvaluationSet],
    *,
    seeds: Sequence[int],
    threshold: float = 0.5,
    n_resamples: int | None = None,
    workers: int | None = None,
    metrics: Collection[str] | None = None,
    replicates: Collection[str] | None = None,
) -> list[Comparison]:
    """`compare` of several sets, each with its own seed: the same numbers as one call per set,
    computed together (their sorts and bootstrap batches share the threads).

    `metrics`: the comparisons hold these metrics only; `replicates`: bootstrap replicates are
    drawn for these only (binary sets; the others get point estimates and, for ROC AUC, DeLong's
    test). Both default to all; a replicate is the same number either way."""
    workers = available_workers(workers)
    if len(datasets) == 1:
        data = datasets[0]
        kernels = [MetricKernel(data.task, data.labels, data.candidate, data.baseline, threshold=threshold, workers=workers)]
    else:  # one kernel per thread rather than one kernel on all threads
        def build(data: EvaluationSet) -> MetricKernel:
            return MetricKernel(data.task, data.labels, data.candidate, data.baseline, threshold=threshold, workers=1)

        if workers > 1 and len(datasets) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                kernels = list(pool.map(build, datasets))
        else:
            kernels = [build(d) for d in datasets]
    if replicates is None:
        drawn = None if metrics is None else set(metrics)
    else:
        drawn = set(replicates) if metrics is None else set(replicates) & set(metrics)
    reps = _bootstrap_many(kernels, list(seeds), n_resamples, workers, drawn)
    return [_comparison(data, kernel, r, threshold, seed, metrics)
            for data, kernel, r, seed in zip(datasets, kernels, reps, seeds)]


def _comparison(data: EvaluationSet, kernel: MetricKernel, reps: Replicates, threshold: float, seed: int,
                keep: Collection[str] | None = None) -> Comparison:
    point_c, point_b = kernel.point()
    dl = _delong(kernel, 0.95) if data.task == "binary" and data.baseline is not None else None
    metrics = {}
    for name in metric_names(data.task):
        if keep is not None and name not in keep:
            continue
        drawn = name in reps.candidate
        metrics[name] = MetricComparison(
            name=name,
            higher_is_better=METRICS[name].higher_is_better,
            candidate=point_c[name],
            baseline=None if point_b is None else point_b[name],
            candidate_replicates=reps.candidate[name] if drawn else None,
            baseline_replicates=reps.baseline[name] if drawn and reps.baseline is not None else None,
            delong=dl if name == "roc_auc" else None,
            undefined=kernel.undefined.get(name),
        )
    return Comparison(
        task=data.task,
        n_rows=kernel.n_rows,
        class_counts=kernel.class_counts,
        classes=data.classes,
        threshold=float(threshold),
        n_resamples=reps.n_resamples,
        seed=seed,
        metrics=MappingProxyType(metrics),
    )


# -- helpers -----------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(norm.ppf(0.5 + confidence / 2))


def _percentile(replicates: np.ndarray, confidence: float) -> Interval:
    _z(confidence)
    b = len(replicates)
    ok = replicates[~np.isnan(replicates)]
    undefined = b - len(ok)
    if b == 0 or len(ok) == 0 or undefined > MAX_UNDEFINED_SHARE * b:
        return Interval(math.nan, math.nan, confidence, "bootstrap", b, undefined)
    alpha = 1 - confidence
    lo, hi = np.quantile(ok, [alpha / 2, 1 - alpha / 2])
    return Interval(float(lo), float(hi), confidence, "bootstrap", b, undefined)


def _normal(replicates: np.ndarray, center: float | None, confidence: float) -> Interval:
    z = _z(confidence)
    b = len(replicates)
    ok = replicates[~np.isnan(replicates)]
    undefined = b - len(ok)
    if center is None or math.isnan(center) or len(ok) < 2 or undefined > MAX_UNDEFINED_SHARE * b:
        return Interval(math.nan, math.nan, confidence, "bootstrap-normal", b, undefined)
    half = z * float(np.std(ok, ddof=1))
    return Interval(center - half, center + half, confidence, "bootstrap-normal", b, undefined)


def _batches(n_rows: int, n_resamples: int, workers: int = 1) -> list[tuple[int, int]]:
    """Resamples [start, stop) per batch, whole groups of LANES: `batch_rows` at most, and enough
    batches to keep every thread busy to the end. Only speed and memory depend on this layout,
    never a replicate."""
    per = LANES * max(1, -(-batch_rows(n_rows) // LANES))
    if workers > 1:
        per = min(per, LANES * max(1, -(-n_resamples // (4 * workers * LANES))))
    return [(s, min(s + per, n_resamples)) for s in range(0, n_resamples, per)]


def _group_weights(seed: int, group: int, n: int, ws: Workspace) -> np.ndarray:
    """The multiplicities of resamples LANES * group .. LANES * group + LANES - 1 as (n,) uint64
    words, resample LANES * group + r in byte r: from the group's own stream (the `group`-th child
    of `SeedSequence(seed)`), byte r of word j giving column j's weight in resample r."""
    bits = np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(group,)))
    out = ws.get("weights_lanes", (n * LANES,), np.uint8)
    step = ws.get("weights_step", (min(n, _CHUNK) * LANES,), np.bool_)
    for a in range(0, n, _CHUNK):  # in cache-sized pieces; the stream runs on from piece to piece
        b = min(a + _CHUNK, n)
        raw = bits.random_raw(b - a).view(np.uint8)
        dst, stp = out[a * LANES : b * LANES], step[: (b - a) * LANES]
        np.greater_equal(raw, _WEIGHT_CUTS[0], out=dst.view(np.bool_))
        for cut in _WEIGHT_CUTS[1:]:
            np.greater_equal(raw, cut, out=stp)
            dst += stp.view(np.uint8)
    return out.view(np.uint64)
