"""Slices: where the candidate is worse. Each distinct value of each slice column is a slice.

`slice_levels(values, column, max_levels)` turns a column of the validation set into
(level, row mask) pairs, refusing a column with more distinct values than `max_levels` (a user
id is not a segment). `evaluate_slices(data, columns, gates, ...)` compares candidate and
baseline on every slice with at least `min_rows` rows (the same paired bootstrap and DeLong's
test as the whole set, on the slice's rows) and judges the per-slice gates on each.

Multiple comparisons: judging a gate on k slices at confidence c would let one slice in 1 - c
fail by chance on every look. Bonferroni's correction keeps the chance of any false failure
among the k at most 1 - c: each slice's interval is taken at 1 - (1 - c) / k, k the slices that
gate judges. At such confidence the tails of a thousand resamples hold a handful of values, so
slice intervals are normal ones (the point estimate +- z x the bootstrap standard deviation;
DeLong's for binary ROC AUC). Slices with fewer rows than `min_rows` are listed as not enough data
and judged by no gate, as is a classification slice that holds one class only; a per-slice gate
with no slice to judge is inconclusive, never a pass.

Cost: all slices are compared together (their sorts and bootstrap batches share the threads), and
each slice's comparison holds the metrics its gates judge, with bootstrap replicates only where an
interval needs them (a ROC AUC regression gate of a binary set rests on DeLong's test; accuracy,
precision, recall and F1 need only weighted counts above the threshold). Without per-slice gates
the slices get every metric.

Pure: arrays in, values out (`bot.core.compare.stats`, `bot.core.compare.gates`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from bot.core.compare.data import EvaluationSet
from bot.core.compare.gates import INCONCLUSIVE, PASS, SEVERITY, Gate, GateResult, evaluate_gates, percent
from bot.core.compare.limits import ComparisonDataError
from bot.core.compare.stats import Comparison, compare_many

MISSING = "(missing)"


@dataclass(frozen=True)
class SliceResult:
    """One slice: its rows, its comparison (None when too small to judge) and its gate results."""

    column: str
    level: str
    n_rows: int
    comparison: Comparison | None
    results: tuple[GateResult, ...] = ()
    note: str | None = None  # why it is not judged

    @property
    def judged(self) -> bool:
        return self.comparison is not None


@dataclass(frozen=True)
class SliceGateResult:
    """A per-slice gate over all its slices: the worst slice decides."""

    gate: Gate
    verdict: str
    reason: str
    judged: int
    confidence: float  # the corrected confidence of each slice's interval


@dataclass(frozen=True)
class SliceReport:
    slices: tuple[SliceResult, ...]
    gates: tuple[SliceGateResult, ...]
    min_rows: int
    correction: str
    confidence: float  # each judged slice's interval: 1 - (1 - confidence) / slices judged

    @property
    def verdict(self) -> str | None:
        return max((g.verdict for g in self.gates), key=SEVERITY.__getitem__, default=None)


def slice_levels(values: np.ndarray, column: str, max_levels: int) -> list[tuple[str, np.ndarray]]:
    """(level, mask) of each distinct value, most rows first; missing values (last) (None, NaN, an empty
    cell) are one level, `MISSING`."""
    labels, codes, _ = _coded_levels(values, column, max_levels)
    return [(label, codes == i) for i, label in enumerate(labels)]


def _coded_levels(values: np.ndarray, column: str, max_levels: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The levels of `slice_levels` in its order, each row's level (its index in that order) and
    the rows per level. Integer and boolean columns of a modest range are counted (one pass)
    rather than sorted."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        missing = np.isnan(values)
    elif values.dtype.kind in "OUS":  # None, NaN or an empty cell (CSV's missing text)
        missing = np.fromiter((v is None or (isinstance(v, float) and math.isnan(v))
                               or (isinstance(v, (str, bytes)) and not v.strip()) for v in values),
                              dtype=bool, count=len(values))
    else:
        missing = np.zeros(len(values), dtype=bool)
    any_missing = bool(missing.any())
    present = values[~missing] if any_missing else values
    if values.dtype.kind == "O":
        present = present.astype(str)
    lo = hi = 0
    if present.dtype.kind in "iub" and len(present):
        lo, hi = int(present.min()), int(present.max())
    if present.dtype.kind in "iub" and len(present) and hi - lo < 1 << 20:
        shifted = present.astype(np.int64) - lo
        counts = np.bincount(shifted, minlength=hi - lo + 1)
        found = np.flatnonzero(counts)
        uniques = (found + lo).astype(present.dtype)
        lookup = np.zeros(hi - lo + 1, dtype=np.intp)
        lookup[found] = np.arange(len(found))
        inverse = lookup[shifted]
        del shifted
    else:
        uniques, inverse = np.unique(present, return_inverse=True)
    n_levels = len(uniques) + any_missing
    if n_levels > max_levels:
        raise ComparisonDataError(
            "bad_slices", f"validation.slices.columns: column {column!r} has {n_levels:,} distinct values, more "
            f"than max_levels ({max_levels}); slice by a coarser column, or raise max_levels (at most 200)")
    rows = np.bincount(inverse, minlength=len(uniques))
    labels = [_label(u) for u in uniques]
    ranked = sorted(range(len(uniques)), key=lambda i: (-int(rows[i]), labels[i]))  # most rows first
    position = np.empty(len(uniques), dtype=np.intp)
    position[ranked] = np.arange(len(uniques))
    codes = np.full(len(values), len(uniques), dtype=np.intp)  # missing: the last level
    codes[~missing] = position[inverse]
    out_labels = [labels[i] for i in ranked] + ([MISSING] if any_missing else [])
    counts = np.concatenate([rows[ranked], [int(missing.sum())] if any_missing else []]).astype(np.int64)
    return out_labels, codes, counts


def evaluate_slices(
    data: EvaluationSet,
    columns: Mapping[str, np.ndarray],
    gates: Sequence[Gate],
    *,
    min_rows: int,
    max_levels: int,
    confidence: float,
    seed: int = 0,
    n_resamples: int | None = None,
) -> SliceReport:
    """Compare every slice of every column and judge `gates` (the per-slice ones) on each."""
    pieces: list[tuple[str, str, np.ndarray]] = []  # (column, level, its rows in ascending order)
    for column, values in columns.items():
        if len(values) != data.n_rows:
            raise ComparisonDataError("bad_slices", f"validation.slices.columns: column {column!r} has "
                                      f"{len(values)} values for {data.n_rows} rows")
        labels, codes, counts = _coded_levels(values, column, max_levels)
        # the rows grouped by level, each level's rows in order: a stable sort of small codes (a
        # radix sort), one pass instead of a mask per level
        by_level = np.argsort(codes.astype(np.int16 if len(labels) < 2**15 else np.intp), kind="stable")
        ends = np.cumsum(counts)
        pieces += [(column, level, by_level[end - count : end]) for level, count, end in zip(labels, counts, ends)]
    compared: list[list] = []  # [column, level, rows, comparison, note]
    todo: list[tuple[int, EvaluationSet, int]] = []  # the slices to compare: (index in compared, rows, seed)
    for column, level, rows in pieces:
        n = len(rows)
        if n < min_rows:
            compared.append([column, level, n, None, f"{n} rows < min_rows {min_rows}"])
            continue
        sub = EvaluationSet(data.task, data.labels[rows], data.candidate[rows],
                            None if data.baseline is None else data.baseline[rows], data.classes,
                            None if data.ids is None else data.ids[rows])
        one_class = _one_class(sub)
        if one_class is not None:  # ROC AUC and the per-class metrics need both kinds of rows
            compared.append([column, level, n, None, f"only the class {one_class!r} in its {n} rows"])
            continue
        todo.append((len(compared), sub, _seed(seed, column, level)))
        compared.append([column, level, n, None, None])
    # all slices at once: their sorts and bootstrap batches share the threads (the numbers are
    # those of one compare() per slice), and only what the gates judge
    keep, drawn = _needed(data, gates)
    results = compare_many([sub for _, sub, _ in todo], seeds=[s for _, _, s in todo], n_resamples=n_resamples,
                           metrics=keep, replicates=drawn)
    for (i, _, _), comp in zip(todo, results):
        compared[i][3] = comp
    k = sum(1 for c in compared if c[3] is not None)
    corrected = 1 - (1 - confidence) / max(k, 1)
    per_gate = [replace(g, confidence=corrected) for g in gates]
    slices = []
    for column, level, n, comp, note in compared:
        results = evaluate_gates(comp, per_gate, normal_intervals=True).results if comp is not None else ()
        slices.append(SliceResult(column, level, n, comp, results, note))
    gate_results = tuple(_gate_over_slices(i, g, slices, k, corrected, min_rows) for i, g in enumerate(gates))
    correction = (f"Bonferroni over the {k} slices judged: each slice's interval at {percent(corrected)} so that "
                  f"all of them together hold at {percent(confidence)}" if k > 1 else
                  "one slice judged: no correction needed" if k == 1 else "no slice large enough to judge")
    return SliceReport(tuple(slices), gate_results, min_rows, correction, corrected)


def _needed(data: EvaluationSet, gates: Sequence[Gate]) -> tuple[set[str] | None, set[str] | None]:
    """(the metrics a slice's comparison holds, those that need bootstrap replicates): what the
    gates judge (all metrics when no gate is per-slice: the slices are only reported). A ROC AUC
    gate of a binary set with a baseline judges DeLong's interval (and the point value for a floor
    or ceiling on the point): no replicates."""
    if not gates:
        return None, None
    keep = {g.metric for g in gates}
    delong = data.task == "binary" and data.baseline is not None
    drawn = {g.metric for g in gates if not (delong and g.metric == "roc_auc" and g.absolute_on == "point")}
    return keep, drawn


def _gate_over_slices(i: int, gate: Gate, slices: list[SliceResult], k: int, corrected: float,
                      min_rows: int) -> SliceGateResult:
    judged = [(s, s.results[i]) for s in slices if s.judged]
    if not judged:
        return SliceGateResult(gate, INCONCLUSIVE, f"no slice has at least {min_rows} rows: nothing to judge",
                               0, corrected)
    worst = max(judged, key=lambda sr: SEVERITY[sr[1].verdict])
    verdict = worst[1].verdict
    named = [f"{s.column}={s.level}" for s, r in judged if r.verdict == verdict]
    if verdict == PASS:
        reason = f"passes on all {len(judged)} slices judged"
    else:
        reason = (f"{verdict} on {len(named)} of {len(judged)} slices ({', '.join(named[:5])}"
                  f"{', ...' if len(named) > 5 else ''}); {worst[0].column}={worst[0].level}: {worst[1].reason}")
    return SliceGateResult(gate, verdict, reason, len(judged), corrected)


def _one_class(sub: EvaluationSet):
    """The one class a classification slice holds, or None (regression, or two classes or more)."""
    if sub.task == "regression":
        return None
    present = np.flatnonzero(np.bincount(sub.labels.astype(np.intp), minlength=2 if sub.classes is None else len(sub.classes)))
    if len(present) > 1:
        return None
    code = int(present[0])
    if sub.classes:
        return _label(sub.classes[code])
    return _label(bool(code)) if sub.labels.dtype == bool else _label(code)


def _label(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _seed(seed: int, column: str, level: str) -> int:
    """A seed per slice from the comparison's: reproducible whatever the order of the slices."""
    digest = hashlib.sha256(f"{seed}|{column}|{level}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
