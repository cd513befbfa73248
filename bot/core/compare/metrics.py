"""Model-quality metrics as functions of per-row integer weights, vectorised over many weight rows.

A `MetricKernel` sorts an evaluation set once and then evaluates every metric of the candidate (and
the baseline) for a batch of weight rows of shape (C, n): a row of ones is the ordinary point
estimate, the row multiplicities of a bootstrap resample give that resample's value. All metrics
come from sufficient statistics — weighted cumulative sums in score order (ROC AUC as a weighted
Mann-Whitney count, PR AUC, confusion counts at the threshold) and weighted sums (log loss,
regression errors, Brier terms, absolute percentage errors) — so no resample re-sorts and no
Python loop runs per resample.

Conventions follow scikit-learn: label metrics predict the positive class when P >= threshold
(multiclass: argmax), precision/F1 are 0 when undefined (zero_division=0), multiclass
precision/recall/F1 are macro averages over the classes present in labels or predictions, weighted
F1 is f1_score(average="weighted") (per-class F1 weighted by the class's rows), ROC AUC is
one-vs-rest macro for multiclass, PR AUC is average precision, log loss clips probabilities to
[eps, 1 - eps], Brier is brier_score_loss (mean squared error of the positive-class
probability), MAPE is mean_absolute_percentage_error (mean |y - p| / |y|, a fraction, not a
percentage). A metric that is undefined for a weight row (say, no positive rows) is NaN.

MAPE departs from scikit-learn in one respect: scikit-learn divides by max(|y|, eps) with eps =
2.2e-16, so one row with y = 0 adds |p| x 4.5e15 and the value means nothing. modelbot refuses
instead: on a set with any label |y| < eps, MAPE is not computed (NaN for the point estimate
and every resample) and `MetricKernel.undefined["mape"]` says why; on every other set the two
agree (the denominators are then |y| in both).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

_EPS = np.finfo(np.float64).eps
CLASSIFICATION = ("binary", "multiclass")


@dataclass(frozen=True)
class MetricInfo:
    """What a metric is called and which way is better."""

    name: str
    title: str
    higher_is_better: bool
    tasks: tuple[str, ...]


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        MetricInfo("accuracy", "Accuracy", True, CLASSIFICATION),
        MetricInfo("precision", "Precision", True, CLASSIFICATION),
        MetricInfo("recall", "Recall", True, CLASSIFICATION),
        MetricInfo("f1", "F1", True, CLASSIFICATION),
        MetricInfo("weighted_f1", "F1 (weighted)", True, ("multiclass",)),
        MetricInfo("roc_auc", "ROC AUC", True, CLASSIFICATION),
        MetricInfo("pr_auc", "PR AUC (average precision)", True, CLASSIFICATION),
        MetricInfo("log_loss", "Log loss", False, CLASSIFICATION),
        MetricInfo("brier", "Brier score", False, ("binary",)),
        MetricInfo("rmse", "RMSE", False, ("regression",)),
        MetricInfo("mae", "MAE", False, ("regression",)),
        MetricInfo("mape", "MAPE", False, ("regression",)),
        MetricInfo("r2", "R²", True, ("regression",)),
    )
}


def metric_names(task: str) -> tuple[str, ...]:
    """The metrics computed for a task, in report order."""
    names = tuple(m.name for m in METRICS.values() if task in m.tasks)
    if not names:
        raise ValueError(f"unknown task {task!r}")
    return names


def metric_title(name: str, task: str) -> str:
    """Human name, e.g. 'F1 (macro)' for multiclass."""
    title = METRICS[name].title
    return f"{title} (macro)" if task == "multiclass" and name in ("precision", "recall", "f1", "roc_auc", "pr_auc") else title


def compute_metrics(task: str, labels, predictions, *, threshold: float = 0.5) -> dict[str, float]:
    """Point estimate of every metric of one model.

    labels: binary -> bool or 0/1; multiclass -> int codes 0..k-1 (columns of the (n, k)
    probability matrix); regression -> numbers. Inputs are assumed valid (see data.prepare).
    """
    cand, _ = MetricKernel(task, labels, predictions, threshold=threshold).point()
    return cand


class MetricKernel:
    """An evaluation set sorted once, ready to evaluate all metrics for batches of weight rows.

    Weight rows are given in the kernel's canonical column order: column j is row `order[j]`
    (`to_canonical` converts row-order weights). Weights are non-negative integers <= 255.
    """

    def __init__(self, task: str, labels, candidate, baseline=None, *, threshold: float = 0.5, workers: int | None = None):
        self.task = task
        self.threshold = float(threshold)
        self.has_baseline = baseline is not None
        self.undefined: dict[str, str] = {}  # metric -> why it is not computed on this set at all
        models = [np.asarray(candidate, dtype=np.float64)]
        if baseline is not None:
            models.append(np.asarray(baseline, dtype=np.float64))
        if task == "binary":
            self._init_binary(np.asarray(labels).astype(bool), models, workers)
        elif task == "multiclass":
            y = np.asarray(labels).astype(np.intp)
            self.n_rows, k = len(y), models[0].shape[1]
            self.order = np.arange(self.n_rows)
            self.class_counts = tuple(int(c) for c in np.bincount(y, minlength=k))
            self._views = [_Multiclass.build(y, p, k) for p in models]
            self._features = np.stack([_log_loss_terms(y, p) for p in models])
        elif task == "regression":
            y = np.asarray(labels, dtype=np.float64)
            self.n_rows = len(y)
            self.order = np.arange(self.n_rows)
            self.class_counts = None
            yc = y - y.mean()  # centred: the weighted total sum of squares stays accurate
            terms = [yc, yc * yc]
            zero = np.abs(y) < _EPS
            self.has_mape = not zero.any()
            if not self.has_mape:
                at, count = np.flatnonzero(zero), int(zero.sum())
                where = ", ".join(str(i) for i in at[:3]) + (", ..." if count > 3 else "")
                self.undefined["mape"] = (
                    f"MAPE is undefined on this set: {count} of {len(y)} labels are 0 (data row{'s' if count > 1 else ''} "
                    f"{where}, counted from 0) and a percentage error of 0 has no value (scikit-learn would "
                    "divide by 2.2e-16 there); modelbot does not compute it: drop those rows, or gate on mae or rmse"
                )
            for p in models:
                e = np.abs(p - y)
                terms += [e * e, e] + ([e / np.abs(y)] if self.has_mape else [])
            self._features = np.stack(terms)
        else:
            raise ValueError(f"unknown task {task!r}")

    def _init_binary(self, y: np.ndarray, models: list[np.ndarray], workers: int | None) -> None:
        pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
        n, n_pos = len(y), len(pos)
        self.n_rows, self.class_counts = n, (len(neg), n_pos)
        parallel = len(models) > 1 and n >= _PARALLEL_ROWS and available_workers(workers) > 1
        run = _parallel_map if parallel else lambda fn, items: list(map(fn, items))

        def rank(p: np.ndarray):
            # the model's positives and negatives by descending score: the one sort everything reuses
            p_pos, p_neg = p[pos], p[neg]
            by_p, by_n = np.argsort(-p_pos), np.argsort(-p_neg)
            return pos[by_p], neg[by_n], p_pos[by_p], p_neg[by_n]

        ranked = run(rank, models)
        self.order = np.concatenate(ranked[0][:2])  # canonical weight columns: the candidate's ranking
        column = np.empty(n, dtype=np.intp)
        column[self.order] = np.arange(n)
        # rows: log loss terms of each model, then Brier terms (p - y)² of each model
        self._features = np.empty((2 * len(models), n))
        n_models = len(models)

        def view(i: int) -> _BinaryView:
            rows_p, rows_n, sp, sn = ranked[i]
            cols = (slice(0, n_pos), slice(n_pos, n)) if i == 0 else (column[rows_p], column[rows_n])
            # log loss terms (as in _log_loss_terms), in canonical column order like the weights
            self._features[i, cols[0]] = -np.log(np.clip(sp, _EPS, 1 - _EPS))
            self._features[i, cols[1]] = -np.log(np.clip(1.0 - sn, _EPS, 1 - _EPS))
            self._features[n_models + i, cols[0]] = (1.0 - sp) ** 2
            self._features[n_models + i, cols[1]] = sn * sn
            return _BinaryView.build(sp, sn, *cols, self.threshold, placements=True)

        self._views = run(view, range(len(models)))

    @property
    def views(self):
        return self._views

    def to_canonical(self, row_weights) -> np.ndarray:
        """Reorder (C, n) weights given per original row into canonical column order."""
        w = np.atleast_2d(np.asarray(row_weights))
        return w[:, self.order]

    def point(self) -> tuple[dict[str, float], dict[str, float] | None]:
        """Point estimates (unit weights) for candidate and baseline."""
        cand, base = self.evaluate(np.ones((1, self.n_rows), dtype=np.uint8))
        return {k: float(v[0]) for k, v in cand.items()}, (None if base is None else {k: float(v[0]) for k, v in base.items()})

    def evaluate(self, weights: np.ndarray, workspace: Workspace | None = None, *, grouped: np.ndarray | None = None):
        """Every metric for each weight row: ({name: (C,) candidate values}, same for baseline or None).

        `workspace` lends scratch arrays across calls (one per thread); results do not depend on it.
        `grouped` optionally holds the very same uint8 weights four rows to a column, shape
        (ceil(C / 4), n, 4) with row r at [r // 4, :, r % 4] (as the bootstrap draws them): the
        baseline's reordering then moves four weights per gathered element instead of one.
        """
        w = np.atleast_2d(weights)
        if w.shape[1] != self.n_rows:
            raise ValueError(f"weights have {w.shape[1]} columns, the evaluation set {self.n_rows} rows")
        if grouped is not None and (grouped.dtype != np.uint8 or grouped.shape != (-(-w.shape[0] // 4), w.shape[1], 4)):
            raise ValueError("grouped weights must be uint8 of shape (ceil(C / 4), n, 4)")
        if w.dtype != np.uint8:
            if w.size and (w.min() < 0 or w.max() > 255):
                raise ValueError("weights must be integers in [0, 255]")
            w = w.astype(np.uint8)
        ws = workspace or Workspace()
        sums = _weighted_sums(w, self._features, ws)  # log loss (and Brier) terms, or the regression sums
        if self.task == "regression":
            return _regression_from_sums(sums, w.sum(axis=1, dtype=np.int64), self.has_baseline, self.has_mape)
        n_models = len(self._views)
        acc = np.int32 if 255 * (self.n_rows + 1) < 2**31 else np.int64
        results = []
        for i, view in enumerate(self._views):
            if self.task == "binary":
                r, total = _eval_binary(view, w, acc, ws, grouped=grouped)
            else:
                r, total = _eval_multiclass(view, w, acc, ws, grouped=grouped)
            r["log_loss"] = _ratio(sums[:, i], total)
            if self.task == "binary":
                r["brier"] = _ratio(sums[:, n_models + i], total)
            results.append(r)
        return results[0], (results[1] if len(results) > 1 else None)


def available_workers(workers: int | None = None) -> int:
    """Threads to use: `workers` if given, else the CPUs this process may run on, at most 4."""
    if workers is not None:
        return max(1, int(workers))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def _parallel_map(fn, items):
    """map() on threads (numpy releases the GIL while sorting and in ufunc loops)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(fn, items))


_PARALLEL_ROWS = 100_000  # below this, starting threads costs more than it saves

BATCH_CELLS = 1 << 22  # weight cells (rows x resamples) per bootstrap batch
# Weight cells per block in the loops below: a block's float64 temporaries stay in the CPU cache,
# which matters here (the work is memory-bound).
_BLOCK_CELLS = 1 << 18
# Rows of at least this many weights are worth the per-row and per-group calls of _cumsum0 and _cols.
_LONG_ROWS = 1 << 12


def batch_rows(n_rows: int) -> int:
    """Weight rows (resamples) per bootstrap batch for an evaluation set of n_rows."""
    return max(1, min(256, BATCH_CELLS // max(n_rows, 1)))


def _block_width(n_rows: int) -> int:
    # a function of the set size only: a row's block sums never depend on its batch or thread
    return max(1024, _BLOCK_CELLS // batch_rows(n_rows))


class Workspace:
    """Scratch arrays reused across evaluations (use one per thread); grows to the largest request."""

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        buf = self._buffers.get(name)
        if buf is None or buf.nbytes < nbytes:
            buf = self._buffers[name] = np.empty(max(nbytes, 1), dtype=np.uint8)
        return buf[:nbytes].view(dtype).reshape(shape)


def _log_loss_terms(y: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """-log of the probability given to the true class, clipped like scikit-learn."""
    if proba.ndim == 1:
        p_true = np.where(y == 1, proba, 1.0 - proba)
    else:
        p_true = proba[np.arange(len(y)), y]
    return -np.log(np.clip(p_true, _EPS, 1 - _EPS))


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of (C, m) float64 arrays.

    einsum, not BLAS: no helper threads competing with the bootstrap's own, a summation order that
    does not depend on threads, and no GIL held while it runs (np.vecdot and matmul hold it).
    """
    return np.einsum("ij,ij->i", a, b)


def _weighted_sums(w: np.ndarray, features: np.ndarray, ws: Workspace) -> np.ndarray:
    """(C, k) weighted sums of k per-row terms (one einsum per term: identical terms, identical sums)."""
    c, n = w.shape
    out = np.zeros((c, len(features)))
    width = _block_width(n)
    buf = ws.get("sums_w", (c, min(n, width)), np.float64)
    for a in range(0, n, width):
        b = min(a + width, n)
        wf = buf[:, : b - a]
        np.copyto(wf, w[:, a:b])
        for j, f in enumerate(features):
            out[:, j] += np.einsum("ij,j->i", wf, f[a:b])
    return out


# -- binary ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _BinaryView:
    """One model's scores on one binary problem: positives and negatives each sorted by score, descending."""

    pos_cols: slice | np.ndarray  # canonical weight columns of the positives, in view order
    neg_cols: slice | np.ndarray
    neg_ge: np.ndarray  # per positive: negatives scoring >= it
    tied: np.ndarray  # view positions of positives tied with at least one negative
    neg_gt_tied: np.ndarray  # for those: negatives scoring > it
    pos_ge: np.ndarray | None  # per positive: positives scoring >= it; None when no ties among positives
    k_pos: int  # positives predicted positive (score >= threshold)
    k_neg: int  # negatives predicted positive
    v10: np.ndarray | None  # DeLong placement of each positive (view order)
    v01: np.ndarray | None  # DeLong placement of each negative (view order)

    @classmethod
    def build(cls, sp, sn, pos_cols, neg_cols, threshold: float, *, placements: bool = False) -> _BinaryView:
        """sp, sn: scores of the positives and negatives, each sorted descending."""
        sp_asc, sn_asc = sp[::-1], sn[::-1]
        n_pos, n_neg = len(sp), len(sn)
        neg_lt, neg_le, pos_lt, pos_le = _rank_counts(sp_asc, sn_asc)
        neg_ge = np.ascontiguousarray((n_neg - neg_lt)[::-1])
        neg_gt = (n_neg - neg_le)[::-1]
        tied = np.flatnonzero(neg_ge != neg_gt)
        pos_ge = None
        if n_pos > 1 and np.any(sp[1:] == sp[:-1]):
            pos_ge = np.ascontiguousarray((n_pos - np.searchsorted(sp_asc, sp_asc, side="left"))[::-1])
        k_pos = int(n_pos - np.searchsorted(sp_asc, threshold, side="left"))
        k_neg = int(n_neg - np.searchsorted(sn_asc, threshold, side="left"))
        v10 = v01 = None
        if placements and n_pos and n_neg:
            # DeLong's structural components: per positive the share of negatives it outranks, per
            # negative the share of positives that outrank it (ties count 1/2); each averages to the AUC
            v10 = np.ascontiguousarray(((neg_lt + neg_le) / (2.0 * n_neg))[::-1])
            v01 = np.ascontiguousarray(((2 * n_pos - pos_lt - pos_le) / (2.0 * n_pos))[::-1])
        return cls(pos_cols, neg_cols, neg_ge, tied, np.ascontiguousarray(neg_gt[tied]), pos_ge, k_pos, k_neg, v10, v01)


def _rank_counts(a: np.ndarray, b: np.ndarray):
    """For ascending a and b: per a, the count of b below it and at-or-below it; per b, the same in a.

    Two linear merges (a stable sort of two ascending runs), not a binary search per element.
    """
    counts = []
    for first, second in ((a, b), (b, a)):
        values = np.concatenate([first, second])
        merged = np.argsort(values, kind="stable")  # equal values: `first` wins
        from_first = merged < len(first)
        # position in the merge minus own index = elements of the other array placed before it
        counts.append(np.flatnonzero(from_first) - np.arange(len(first)))
        counts.append(np.flatnonzero(~from_first) - np.arange(len(second)))
        if len(counts) == 2:
            # no value in both arrays (the usual case for continuous scores): "below" and
            # "at or below" agree, and the second merge would only repeat the first
            values = values[merged]
            if not np.any((values[1:] == values[:-1]) & from_first[:-1] & ~from_first[1:]):
                counts += [counts[1], counts[0]]
                break
    # a-first merge: b strictly below a, a at-or-below b; b-first merge: a strictly below b, b at-or-below a
    b_lt_a, a_le_b, a_lt_b, b_le_a = counts
    return b_lt_a, b_le_a, a_lt_b, a_le_b


def _cols(w: np.ndarray, cols, ws: Workspace, name: str, grouped: np.ndarray | None = None) -> np.ndarray:
    """Weight columns `cols` (a slice, or indices into the canonical columns) of every row."""
    if isinstance(cols, slice):
        return w[:, cols]
    c = w.shape[0]
    out = ws.get(name, (c, len(cols)), w.dtype)
    if grouped is None or len(cols) < _LONG_ROWS:
        # mode="clip" (indices are valid) lets numpy write into `out` directly instead of buffering
        return np.take(w, cols, axis=1, out=out, mode="clip")
    # A gather is paid per element, not per byte: gather four rows' weights as one uint32, then
    # spread them back into rows (a cheap, cache-friendly copy)
    words = grouped.view(np.uint32)[..., 0]  # (ceil(C / 4), n)
    buf = ws.get(name + "_words", (len(cols),), np.uint32)
    for i in range(len(words)):
        np.take(words[i], cols, out=buf, mode="clip")
        k = min(4, c - 4 * i)
        np.copyto(out[4 * i : 4 * i + k], buf.view(np.uint8).reshape(-1, 4)[:, :k].T)
    return out


def _cumsum0(w: np.ndarray, acc, ws: Workspace, name: str) -> np.ndarray:
    """Cumulative weights along rows with a leading 0 column: out[:, j] = sum of the first j weights.

    Row by row, each row widened first: numpy holds the GIL through a cumulative sum that casts,
    works in place or runs along an axis of a 2-D array (the bootstrap's other threads would
    wait), not through a 1-D one from one array of the output type into another. It is faster too.
    """
    out = ws.get(name, (w.shape[0], w.shape[1] + 1), acc)
    out[:, 0] = 0
    if w.shape[1] < _LONG_ROWS:  # short rows: one call (a short hold of the GIL) beats many
        np.cumsum(w, axis=1, dtype=acc, out=out[:, 1:])
        return out
    wide = ws.get(name + "_row", (w.shape[1],), acc)
    for row, acc_row in zip(w, out):
        np.copyto(wide, row)
        np.cumsum(wide, out=acc_row[1:])
    return out


def _ratio(num, den) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.full(np.broadcast(num, den).shape, np.nan), where=den > 0)


def _ratio0(num, den) -> np.ndarray:
    """num/den with 0 where den == 0 (scikit-learn's zero_division=0)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _eval_binary(view: _BinaryView, w: np.ndarray, acc, ws: Workspace, *, labels: bool = True, grouped=None):
    """All binary metrics (but log loss) per weight row, and the total weight per row."""
    c = w.shape[0]
    wp, wn = _cols(w, view.pos_cols, ws, "wp", grouped), _cols(w, view.neg_cols, ws, "wn", grouped)
    n_pos = wp.shape[1]
    cp, cn = _cumsum0(wp, acc, ws, "cp"), _cumsum0(wn, acc, ws, "cn")
    pt, nt = cp[:, -1].astype(np.int64), cn[:, -1].astype(np.int64)
    out = {}
    if labels:
        tp, fp = cp[:, view.k_pos].astype(np.int64), cn[:, view.k_neg].astype(np.int64)
        fn, tn = pt - tp, nt - fp
        out["accuracy"] = _ratio(tp + tn, pt + nt)
        out["precision"] = _ratio0(tp, tp + fp)
        out["recall"] = _ratio(tp, pt)
        out["f1"] = np.where(pt > 0, _ratio0(2 * tp, 2 * tp + fp + fn), np.nan)
    # Per positive i (descending score): g = weighted negatives scoring >= it (its Mann-Whitney
    # count, and the false positives at its threshold), tp = weighted positives scoring >= it.
    # AUC = 1 - sum(w g)/(P N) (+ ties), average precision = sum(w tp/(tp + g))/P.
    width = _block_width(w.shape[1])
    m = min(n_pos, width)
    g = ws.get("g", (c, m), acc)
    gf, tpf, wpf = (ws.get(k, (c, m), np.float64) for k in ("g_f", "tp_f", "wp_f"))
    s1 = np.zeros(c)
    ap = np.zeros(c)
    for a in range(0, n_pos, width):
        b = min(a + width, n_pos)
        k = b - a
        gb, gfb, tpb, wpb = g[:, :k], gf[:, :k], tpf[:, :k], wpf[:, :k]
        np.take(cn, view.neg_ge[a:b], axis=1, out=gb, mode="clip")
        # float64 copies (exact: integers far below 2**53) keep the ufuncs on fast, uncast loops
        np.copyto(gfb, gb)
        np.copyto(tpb, cp[:, a + 1 : b + 1] if view.pos_ge is None else np.take(cp, view.pos_ge[a:b], axis=1))
        np.copyto(wpb, wp[:, a:b])
        s1 += _rowdot(gfb, wpb)
        np.add(tpb, gfb, out=gfb)
        _no_empty_rank(gfb)
        np.divide(tpb, gfb, out=gfb)
        ap += _rowdot(gfb, wpb)
    twice_u = 2.0 * (pt * nt) - 2.0 * s1
    if len(view.tied):  # a negative tied with a positive counts 1/2
        ties = np.take(cn, view.neg_ge[view.tied], axis=1) - np.take(cn, view.neg_gt_tied, axis=1)
        twice_u += _rowdot(ties.astype(np.float64), wp[:, view.tied].astype(np.float64))
    out["roc_auc"] = _ratio(twice_u, 2.0 * (pt * nt))
    out["pr_auc"] = _ratio(ap, pt)
    return out, pt + nt


def _no_empty_rank(d: np.ndarray) -> None:
    """Replace the leading zeros of each row of non-decreasing d (weight ranked at or above each
    positive) by 1. Only a positive of weight 0 with nothing weighted at or above it has d == 0;
    its tp is 0 too, so tp/d becomes 0/1 = 0 (it counts for nothing) instead of 0/0 = NaN."""
    for r in np.flatnonzero(d[:, 0] == 0):
        d[r, : np.searchsorted(d[r], 0.0, side="right")] = 1.0


# -- multiclass ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Multiclass:
    """One model on a k-class problem: (label, prediction) codes and per-class one-vs-rest views."""

    k: int
    codes: np.ndarray  # true * k + predicted
    ovr: tuple  # _BinaryView per class with rows of both kinds, else None

    @classmethod
    def build(cls, y: np.ndarray, proba: np.ndarray, k: int) -> _Multiclass:
        pred = np.argmax(proba, axis=1)
        ovr = []
        for c in range(k):
            mask = y == c
            pos, neg = np.flatnonzero(mask), np.flatnonzero(~mask)
            if len(pos) == 0 or len(neg) == 0:
                ovr.append(None)
                continue
            pos, neg = pos[np.argsort(-proba[pos, c])], neg[np.argsort(-proba[neg, c])]
            ovr.append(_BinaryView.build(proba[pos, c], proba[neg, c], pos, neg, 0.5))
        return cls(k, y * k + pred, tuple(ovr))


def _weighted_counts(w: np.ndarray, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """(C, n_codes) weighted count of each code per weight row, one bincount for the whole batch."""
    c = w.shape[0]
    idx = (codes[None, :] + (np.arange(c) * n_codes)[:, None]).ravel()
    return np.bincount(idx, weights=w.ravel(), minlength=c * n_codes).reshape(c, n_codes)


def _eval_multiclass(m: _Multiclass, w: np.ndarray, acc, ws: Workspace, *, grouped=None) -> dict:
    k = m.k
    conf = _weighted_counts(w, m.codes, k * k).reshape(-1, k, k)  # [row, true, predicted]
    tp = np.diagonal(conf, axis1=1, axis2=2)
    true, pred = conf.sum(axis=2), conf.sum(axis=1)
    total = true.sum(axis=1)
    present = (true + pred) > 0
    n_present = present.sum(axis=1)

    def macro(per_class):
        return _ratio((per_class * present).sum(axis=1), n_present)

    out = {
        "accuracy": _ratio(tp.sum(axis=1), total),
        "precision": macro(_ratio0(tp, pred)),
        "recall": macro(_ratio0(tp, true)),
        "f1": macro(_ratio0(2 * tp, true + pred)),
        # per-class F1 weighted by the class's (weighted) rows; classes without rows weigh 0
        "weighted_f1": _ratio((_ratio0(2 * tp, true + pred) * true).sum(axis=1), true.sum(axis=1)),
    }
    aucs, aps = [], []
    for view in m.ovr:
        if view is None:
            continue
        r, _ = _eval_binary(view, w, acc, ws, labels=False, grouped=grouped)
        aucs.append(r["roc_auc"])
        aps.append(r["pr_auc"])
    c = w.shape[0]
    out["roc_auc"] = _nanmean_rows(np.array(aucs).reshape(len(aucs), c))  # no class of both kinds: NaN
    out["pr_auc"] = _nanmean_rows(np.array(aps).reshape(len(aps), c))
    return out, total


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Mean over classes (axis 0) of the classes where the metric is defined; NaN if none is."""
    ok = ~np.isnan(values)
    return _ratio(np.where(ok, values, 0.0).sum(axis=0), ok.sum(axis=0))


# -- regression ------------------------------------------------------------------------------------


def _regression_from_sums(sums: np.ndarray, total: np.ndarray, has_baseline: bool, has_mape: bool):
    """RMSE, MAE, R², MAPE from weighted sums; columns: yc, yc², then (e², |e|, |e|/|y| if has_mape)
    per model (yc: centred labels, e = p - y). Without the MAPE column MAPE is NaN."""
    total = total.astype(np.float64)
    s_y, s_y2 = sums[:, 0], sums[:, 1]
    sst = s_y2 - _ratio0(s_y * s_y, total)
    sst = np.where(sst > 1e-12 * s_y2, sst, np.nan)  # constant labels in this row: R² undefined
    results = []
    per = 3 if has_mape else 2
    for j in (2, 2 + per) if has_baseline else (2,):
        sse, sae = sums[:, j], sums[:, j + 1]
        results.append({
            "rmse": np.sqrt(_ratio(sse, total)),
            "mae": _ratio(sae, total),
            "r2": 1.0 - sse / sst,
            "mape": _ratio(sums[:, j + 2], total) if has_mape else np.full(len(total), np.nan),
        })
    return results[0], (results[1] if has_baseline else None)
