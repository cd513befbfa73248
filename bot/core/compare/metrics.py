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
    (`to_canonical` converts row-order weights). Weights are non-negative integers <= 255. The
    canonical order is a function of the data alone: binary sets list the positives, then the
    negatives, each by descending candidate score, ties in row order (a stable sort).
    """

    def __init__(self, task: str, labels, candidate, baseline=None, *, threshold: float = 0.5, workers: int | None = None):
        self.task = task
        self.threshold = float(threshold)
        self.has_baseline = baseline is not None
        self.undefined: dict[str, str] = {}  # metric -> why it is not computed on this set at all
        # binary with a baseline: (candidate AUC, baseline AUC, covariance) of DeLong's test
        self.delong_moments: tuple[float, float, np.ndarray] | None = None
        models = [np.asarray(candidate, dtype=np.float64)]
        if baseline is not None:
            models.append(np.asarray(baseline, dtype=np.float64))
        if task == "binary":
            y = np.asarray(labels).astype(bool)
            self._init_binary(y, models, _rank_binary(y, models, workers), workers)
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

    def _init_binary(self, y: np.ndarray, models: list[np.ndarray], ranked: list, workers: int | None) -> None:
        n = len(y)
        n_pos = int(np.count_nonzero(y))
        self.n_rows, self.class_counts = n, (n - n_pos, n_pos)
        idx = _index_dtype(n)
        # canonical weight columns: the candidate's ranking (positives, then negatives)
        self.order = ranked[0][0].astype(idx, copy=False)
        column = None
        if len(models) > 1:
            column = np.empty(n, dtype=idx)
            column[self.order] = np.arange(n, dtype=idx)
        # rows: log loss terms of each model, then Brier terms (p - y)² of each model
        n_models = len(models)
        self._features = np.empty((2 * n_models, n))
        with_baseline = n_models > 1

        def view(i: int):
            order, scores = ranked[i]
            ranked[i] = None  # this view's ranking is held here only, and freed when it is built
            # the view's order: canonical columns of its positives, then of its negatives
            perm = None if i == 0 else column[order]
            # log loss terms (as in _log_loss_terms) and Brier terms in canonical column order, like
            # the weights: the model's scores in that order (the candidate's: its ranking itself)
            canonical = scores if i == 0 else models[i][self.order]
            for j, (pos_term, neg_term) in enumerate(((_log_loss_pos, _log_loss_neg), (_brier_pos, _brier_neg))):
                row = self._features[j * n_models + i]
                pos_term(canonical[:n_pos], row[:n_pos])
                neg_term(canonical[n_pos:], row[n_pos:])
            del canonical, order
            return _BinaryView.build(scores[:n_pos], scores[n_pos:], perm, self.threshold, placements=with_baseline)

        # the two views in parallel on sets of moderate size; on large ones one after the other, so
        # that their temporaries (several arrays of the set's size each) never add up: the work is
        # bound by memory there, and two threads gain little
        parallel = with_baseline and _PARALLEL_ROWS <= n < _SEQUENTIAL_ROWS and available_workers(workers) > 1
        built = _map(view, range(n_models), parallel=parallel)
        self._views = [v for v, _ in built]
        if with_baseline and 0 < n_pos < n:
            self.delong_moments = _delong_moments(self._views, [p for _, p in built], n_pos)

    @property
    def views(self):
        return self._views

    def to_canonical(self, row_weights) -> np.ndarray:
        """Reorder (C, n) weights given per original row into canonical column order."""
        w = np.atleast_2d(np.asarray(row_weights))
        return w[:, self.order]

    def point(self) -> tuple[dict[str, float], dict[str, float] | None]:
        """Point estimates (unit weights) for candidate and baseline."""
        if self.task == "binary":  # unit weights: the counts are the ranks themselves
            n_models = len(self._views)
            out = []
            for i, view in enumerate(self._views):
                r = _binary_point(view)
                r["log_loss"] = float(self._features[i].sum() / self.n_rows)
                r["brier"] = float(self._features[n_models + i].sum() / self.n_rows)
                out.append(r)
            return out[0], (out[1] if n_models > 1 else None)
        cand, base = self.evaluate(np.ones((1, self.n_rows), dtype=np.uint8), max_weight=1)
        return {k: float(v[0]) for k, v in cand.items()}, (None if base is None else {k: float(v[0]) for k, v in base.items()})

    def evaluate(self, weights: np.ndarray, workspace: Workspace | None = None, *, max_weight: int | None = None):
        """Every metric for each weight row: ({name: (C,) candidate values}, same for baseline or None).

        `workspace` lends scratch arrays across calls (one per thread); `max_weight`, when known,
        spares a pass over the weights. Neither changes a result, and a row's values depend on its
        own weights only (not on the other rows of the call).
        """
        w = np.atleast_2d(weights)
        if w.shape[1] != self.n_rows:
            raise ValueError(f"weights have {w.shape[1]} columns, the evaluation set {self.n_rows} rows")
        if w.dtype != np.uint8:
            if w.size and (w.min() < 0 or w.max() > 255):
                raise ValueError("weights must be integers in [0, 255]")
            w = w.astype(np.uint8)
        ws = workspace or Workspace()
        top = int(w.max(initial=0)) if max_weight is None else int(max_weight)
        parts = []
        for g in range(0, max(len(w), 1), LANES):
            part = w[g : g + LANES]
            c, b = self.evaluate_lanes(pack_lanes(part, ws), ws, max_weight=top)
            k = len(part)
            parts.append(({m: v[:k] for m, v in c.items()}, None if b is None else {m: v[:k] for m, v in b.items()}))
        cand = {m: np.concatenate([p[0][m] for p in parts]) for m in parts[0][0]}
        base = None if parts[0][1] is None else {m: np.concatenate([p[1][m] for p in parts]) for m in parts[0][1]}
        return cand, base

    def evaluate_lanes(self, lanes: np.ndarray, workspace: Workspace | None = None, *, max_weight: int = 255,
                       metrics=None):
        """`evaluate` for LANES weight rows packed as `pack_lanes` does ((n,) uint64, row r in byte r
        of each word): ({name: (LANES,) candidate values}, same for baseline or None).

        `metrics`: compute these only (binary sets; say, what a slice's gates judge): the rank
        metrics (ROC AUC, PR AUC) take a walk through both rankings, the label metrics (accuracy,
        precision, recall, F1) only counts above the threshold, log loss and Brier one weighted sum.
        """
        ws = workspace or Workspace()
        acc = np.int32 if max_weight * (self.n_rows + 1) < 2**31 else np.int64
        batch = _Batch(lanes, ws)
        if self.task == "binary":
            want = set(metric_names("binary") if metrics is None else metrics)
            n_models = len(self._views)
            sums = _weighted_sums(lanes, self._features, ws) if want & {"log_loss", "brier"} else None
            out, totals = [], None
            for i, view in enumerate(self._views):
                if want & {"roc_auc", "pr_auc"}:
                    r, total = _eval_binary(view, batch, acc, ws)
                else:  # both models weigh the same positives and negatives: count them once
                    r, total, totals = _binary_counts(view, batch, ws, totals)
                if sums is not None:
                    r["log_loss"] = _ratio(sums[:, i], total)
                    r["brier"] = _ratio(sums[:, n_models + i], total)
                out.append({m: v for m, v in r.items() if m in want})
            return out[0], (out[1] if len(out) > 1 else None)
        sums = _weighted_sums(lanes, self._features, ws)  # log loss terms, or the regression sums
        if self.task == "regression":
            total = np.zeros(LANES, dtype=np.int64)
            for a in range(0, len(lanes), _BLOCK):
                total += _lane_totals(lanes[a : a + _BLOCK], ws)
            return _regression_from_sums(sums, total, self.has_baseline, self.has_mape)
        results = []
        for i, view in enumerate(self._views):
            r, total = _eval_multiclass(view, batch, acc, ws)
            r["log_loss"] = _ratio(sums[:, i], total)
            results.append(r)
        return results[0], (results[1] if len(results) > 1 else None)


def pack_lanes(rows: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
    """Up to LANES weight rows (C, n) uint8 as (n,) uint64: row r in byte r of each column's word
    (rows beyond C are 0)."""
    c, n = rows.shape
    ws = ws or Workspace()
    lanes = ws.get("packed", (n, LANES), np.uint8)
    if c < LANES:
        lanes[:, c:] = 0
    for a in range(0, n, _BLOCK):  # in cache-sized pieces: a transposing copy
        b = min(a + _BLOCK, n)
        np.copyto(lanes[a:b, :c], rows[:, a:b].T)
    return lanes.view(np.uint64).reshape(n)


def available_workers(workers: int | None = None) -> int:
    """Threads to use: `workers` if given, else the CPUs this process may run on, at most 4."""
    if workers is not None:
        return max(1, int(workers))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def _map(fn, items, *, parallel: bool):
    """map() on two threads when `parallel` (numpy releases the GIL while sorting and in ufunc loops)."""
    if not parallel:
        return list(map(fn, items))
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(fn, items))


_PARALLEL_ROWS = 100_000  # below this, starting threads costs more than it saves
_SEQUENTIAL_ROWS = 2_000_000  # from this size, the kernel builds its two views one after the other

BATCH_CELLS = 1 << 22  # weight cells (rows x resamples) per bootstrap batch, at least LANES rows
LANES = 8  # weight rows gathered together: one 8-byte element carries a column's weights of 8 rows
# Columns per block in the loops below (a binary view's block: positives and negatives together).
# A function of nothing but this constant, so a row's block sums never depend on the batch, the
# other rows or the thread; a block's temporaries stay in the CPU cache, whatever the set's size.
_BLOCK = 1 << 15


def batch_rows(n_rows: int) -> int:
    """Weight rows (resamples) per bootstrap batch for an evaluation set of n_rows: a multiple of
    LANES. It sets memory and speed only; the replicates do not depend on it."""
    return LANES * max(1, min(32, BATCH_CELLS // (LANES * max(n_rows, 1))))


def _index_dtype(n: int):
    return np.int32 if n < 2**31 else np.intp


class Workspace:
    """Scratch arrays reused across evaluations (use one per thread); grows to the largest request."""

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}
        self._views: dict[tuple, np.ndarray] = {}  # (name, shape, dtype) -> view of the current buffer

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        key = (name, shape, dtype)
        view = self._views.get(key)
        if view is not None:  # the same request as before (the blocks of a view come back every batch)
            return view
        dt = np.dtype(dtype)
        nbytes = math.prod(shape) * dt.itemsize
        buf = self._buffers.get(name)
        if buf is None or buf.nbytes < nbytes:
            buf = self._buffers[name] = np.empty(max(nbytes, 1), dtype=np.uint8)
            self._views = {k: v for k, v in self._views.items() if k[0] != name}  # views of the old buffer
        view = self._views[key] = buf[:nbytes].view(dt).reshape(shape)
        return view


def _descending(values: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """Row indices by descending value, equal values in row order (a stable sort); with `first`
    (bool per row), the rows where it holds come first, each part by descending value.

    One sort of 8-byte keys, not an argsort (which compares through the indices, a cache miss a
    comparison on large sets): the value's bits made order-preserving, the row index in the low
    bits. The few neighbours whose values differ only in the bits the index took are then put in
    order exactly (a lexsort of those runs), so the result equals argsort(-values, kind="stable").
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n < 2:
        return np.arange(n)
    key = np.add(v, 0.0).view(np.uint64)  # + 0.0: -0.0 becomes 0.0 (equal values, one key)
    tmp = np.empty_like(key)
    if v.min(initial=0.0) >= 0:  # scores, probabilities: descending keys are the bits but the sign's, flipped
        key ^= np.uint64(0x7FFF_FFFF_FFFF_FFFF)
    else:
        np.right_shift(key, np.uint64(63), out=tmp)
        np.negative(tmp, out=tmp)  # all bits set for negative values
        tmp |= np.uint64(1 << 63)
        key ^= tmp  # ascending keys <-> ascending values (negatives: all bits flipped; the rest: the sign bit)
        np.invert(key, out=key)  # descending
        if first is not None:
            key >>= np.uint64(1)  # the top bit for the class
    if first is not None:  # the top bit is free: 0 for the rows that come first
        tmp[:] = ~np.asarray(first, dtype=bool)
        tmp <<= np.uint64(63)
        key |= tmp
    shift = int(n - 1).bit_length()
    low = np.uint64((1 << shift) - 1)
    key &= ~low
    tmp.fill(1)
    tmp[0] = 0
    np.cumsum(tmp, out=tmp)  # the row index
    key |= tmp
    key.sort()
    order = np.bitwise_and(key, low, out=tmp).view(np.int64)
    key >>= np.uint64(shift)
    same = np.flatnonzero(key[1:] == key[:-1])  # neighbours whose keys agreed but for the index
    del key
    if len(same):
        differ = same[v[order[same]] != v[order[same + 1]]]
        if len(differ):
            run = np.zeros(n, dtype=np.int64)  # runs of equal keys: a new run where the keys differ
            run[1:] = 1
            run[same + 1] = 0
            np.cumsum(run, out=run)
            bad = np.zeros(int(run[-1]) + 1, dtype=bool)
            bad[run[differ]] = True
            at = np.flatnonzero(bad[run])
            sub = order[at]
            order[at] = sub[np.lexsort((sub, -v[sub], run[at]))]
    return order


def _rank_binary(y: np.ndarray, models: list[np.ndarray], workers: int | None) -> list:
    """Per model: (rows, scores): its positives, then its negatives, each by descending score
    (ties in row order), and their scores in that order."""
    def rank(p: np.ndarray):
        order = _descending(p, first=y)
        return order.astype(_index_dtype(len(y))), p[order]

    parallel = len(models) > 1 and len(y) >= _PARALLEL_ROWS and available_workers(workers) > 1
    return _map(rank, models, parallel=parallel)


def _log_loss_pos(s, out):
    np.clip(s, _EPS, 1 - _EPS, out=out)
    np.log(out, out=out)
    np.negative(out, out=out)


def _log_loss_neg(s, out):
    np.subtract(1.0, s, out=out)
    _log_loss_pos(out, out)


def _brier_pos(s, out):
    np.subtract(1.0, s, out=out)
    np.square(out, out=out)


def _brier_neg(s, out):
    np.square(s, out=out)


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
    depends on the row alone (not on how many rows there are), and no GIL held while it runs
    (np.vecdot and matmul hold it).
    """
    return np.einsum("ij,ij->i", a, b)


def _weighted_sums(lanes: np.ndarray, features: np.ndarray, ws: Workspace) -> np.ndarray:
    """(LANES, k) weighted sums of k per-row terms for the LANES weight rows packed in `lanes`.

    Per block of columns, one product (k, m) @ (m, LANES) of BLAS on the weights as they are
    packed (column-major rows: no transposing copy), three to four times einsum's speed here and
    np.dot releases the GIL. Always LANES columns and blocks that depend on nothing but _BLOCK, so
    a row's sums do not depend on the other rows (tests hold it to that).
    """
    n = len(lanes)
    out = np.zeros((len(features), LANES))
    as_bytes = lanes.view(np.uint8).reshape(n, LANES)
    buf = ws.get("sums_w", (min(n, _BLOCK), LANES), np.float64)
    for a in range(0, n, _BLOCK):
        b = min(a + _BLOCK, n)
        wf = buf[: b - a]
        np.copyto(wf, as_bytes[a:b])
        out += np.dot(features[:, a:b], wf)
    return out.T


class _Batch:
    """LANES weight rows packed one column to a word: (n,) uint64, row r in byte r, canonical
    column order. A view in another order gathers words: one gathered element moves the weights
    of all LANES rows."""

    def __init__(self, lanes: np.ndarray, ws: Workspace):
        self.lanes = lanes

    def lane(self, r: int) -> np.ndarray:
        """Row r's weights, (n,) uint8 (a strided view)."""
        return self.lanes.view(np.uint8).reshape(-1, LANES)[:, r]

    def widened(self, perm, lo: int, hi: int, acc, ws: Workspace, tag: str) -> np.ndarray:
        """(LANES, hi - lo + 1) `acc` integers: column 0 free (for `_cumulative`), then the weights
        of the view's positions lo..hi - 1 (canonical columns perm[lo:hi], or lo..hi - 1 when perm
        is None)."""
        m = hi - lo
        if perm is None:
            words = self.lanes[lo:hi]
        else:
            words = ws.get(tag + "_words", (m,), np.uint64)
            np.take(self.lanes, perm[lo:hi], out=words, mode="clip")  # mode="clip": written in place, no buffer
        out = ws.get(tag + "_wide", (LANES, m + 1), acc)
        np.copyto(out[:, 1:], words.view(np.uint8).reshape(m, LANES).T)
        return out


# -- binary ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _BinaryView:
    """One model's scores on one binary problem: positives and negatives each sorted by score, descending.

    The positives are cut into blocks (a, b, e, f): positives [a, b) and the window [e, f] of
    negative ranks their counts need (f - e stays near _BLOCK; a block never splits positives of
    equal score). An evaluation walks the blocks in score order carrying each row's running
    weights, so its memory is a block's, not the set's.
    """

    perm: np.ndarray | None  # canonical weight column of each view position (positives, then negatives); None: the same
    n_pos: int
    n_neg: int
    neg_ge: np.ndarray  # per positive: negatives scoring >= it, counted from its block's window start e
    tied: np.ndarray  # view positions of positives tied with at least one negative
    neg_gt_tied: np.ndarray  # for those: negatives scoring > it, counted from the block's window start
    pos_ge: np.ndarray | None  # per positive: positives scoring >= it, counted from its block's start a;
    # None when no ties among positives
    k_pos: int  # positives predicted positive (score >= threshold)
    k_neg: int  # negatives predicted positive
    blocks: tuple[tuple[int, int, int, int], ...]
    tie_bounds: tuple[int, ...]  # block k's tied positives: tied[tie_bounds[k]:tie_bounds[k + 1]]

    @classmethod
    def build(cls, sp, sn, perm, threshold: float, *, placements: bool = False):
        """sp, sn: scores of the positives and negatives, each sorted descending. Returns the view
        and, with `placements`, DeLong's structural components (v10 per positive, v01 per negative,
        in view order), else None."""
        n_pos, n_neg = len(sp), len(sn)
        idx = _index_dtype(n_pos + n_neg + 1)
        sp_asc, sn_asc = np.ascontiguousarray(sp[::-1]), np.ascontiguousarray(sn[::-1])
        # per positive (ascending): negatives below it, and at or below it (one binary search per
        # positive, on sorted keys: each search starts where the last one ended)
        neg_lt = np.searchsorted(sn_asc, sp_asc, side="left")
        inside = np.flatnonzero(neg_lt < n_neg)
        if np.any(sn_asc[neg_lt[inside]] == sp_asc[inside]):  # a negative scored like a positive
            neg_le = np.searchsorted(sn_asc, sp_asc, side="right")
        else:
            neg_le = neg_lt
        neg_ge = np.ascontiguousarray((n_neg - neg_lt)[::-1]).astype(idx)
        neg_gt = (n_neg - neg_le)[::-1]
        tied = np.flatnonzero(neg_ge != neg_gt)
        pos_ge = None
        if n_pos > 1 and np.any(sp[1:] == sp[:-1]):
            pos_ge = np.ascontiguousarray((n_pos - np.searchsorted(sp_asc, sp_asc, side="left"))[::-1]).astype(idx)
        k_pos = int(n_pos - np.searchsorted(sp_asc, threshold, side="left"))
        k_neg = int(n_neg - np.searchsorted(sn_asc, threshold, side="left"))
        del sp_asc, sn_asc
        placed = None
        if placements and n_pos and n_neg:
            # DeLong's structural components: per positive the share of negatives it outranks, per
            # negative the share of positives that outrank it (ties count 1/2); each averages to the
            # AUC. Per negative j (ascending), the positives below it are those with at most j
            # negatives at or below them, and so on: counts of the counts, no second search.
            pos_lt = np.cumsum(np.bincount(neg_le, minlength=n_neg + 1)[:n_neg])
            pos_le = pos_lt if neg_le is neg_lt else np.cumsum(np.bincount(neg_lt, minlength=n_neg + 1)[:n_neg])
            placed = (np.ascontiguousarray(((neg_lt + neg_le) / (2.0 * n_neg))[::-1]),
                      np.ascontiguousarray(((2 * n_pos - pos_lt - pos_le) / (2.0 * n_pos))[::-1]))
        blocks = _blocks(sp, neg_ge, neg_gt)
        starts = [a for a, _, _, _ in blocks] + [n_pos]
        tie_bounds = tuple(int(i) for i in np.searchsorted(tied, starts))
        neg_gt_tied = np.ascontiguousarray(neg_gt[tied]).astype(idx)
        # counts made local to each block (what the block's arrays are indexed by)
        for k, (a, b, e, _) in enumerate(blocks):
            neg_ge[a:b] -= e
            neg_gt_tied[tie_bounds[k] : tie_bounds[k + 1]] -= e
            if pos_ge is not None:
                pos_ge[a:b] -= a
        view = cls(perm, n_pos, n_neg, neg_ge, tied, neg_gt_tied, pos_ge, k_pos, k_neg, blocks, tie_bounds)
        return view, placed


def _blocks(sp: np.ndarray, neg_ge: np.ndarray, neg_gt: np.ndarray) -> tuple:
    """Cut the positives (scores sp, descending) into blocks of about _BLOCK positives and
    negatives together, never between two positives of equal score: (a, b, e, f) per block."""
    n_pos = len(sp)
    if n_pos == 0:
        return ()
    merged = np.arange(n_pos) + neg_ge  # each positive's place among positives and negatives
    starts = np.flatnonzero(np.diff(merged // _BLOCK) > 0) + 1
    if len(starts):
        allowed = np.flatnonzero(sp[1:] != sp[:-1]) + 1  # a cut before i keeps i's tie group whole
        at = np.searchsorted(allowed, starts)
        starts = np.unique(allowed[at[at < len(allowed)]])
    bounds = [0, *(int(s) for s in starts), n_pos]
    # the window: from the negatives above the block's first positive (ties included) to those at
    # or above its last; consecutive windows follow each other (no tie group is split). It starts
    # where the last one ended unless many negatives lie between: those are only counted.
    blocks, done = [], 0
    for a, b in zip(bounds[:-1], bounds[1:]):
        e = int(neg_gt[a])
        if e - done <= _BLOCK // 2:
            e = done
        done = int(neg_ge[b - 1])
        blocks.append((a, b, e, done))
    return tuple(blocks)


def _delong_moments(views, placements, n_pos: int):
    """(candidate AUC, baseline AUC, covariance) of DeLong's test from both models' components."""
    (v10c, v01c), (v10b_sorted, v01b_sorted) = placements
    view_b = views[1]
    # bring the baseline's components into the candidate's (canonical) row order: pairing matters
    v10b = np.empty(n_pos)
    v10b[view_b.perm[:n_pos]] = v10b_sorted
    v01b = np.empty(len(v01c))
    v01b[view_b.perm[n_pos:] - n_pos] = v01b_sorted
    m, n = len(v10c), len(v01c)
    auc_c, auc_b = float(v10c.mean()), float(v10b.mean())
    if m < 2 or n < 2:
        cov = np.full((2, 2), np.nan)
    else:
        cov = _cov2(v10c, v10b) / m + _cov2(v01c, v01b) / n
    return auc_c, auc_b, cov


def _cov2(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """np.cov(np.vstack([x, y])) without stacking copies: the 2 x 2 sample covariance (y, a
    scratch array, is overwritten)."""
    xc = x - x.mean()
    yc = np.subtract(y, y.mean(), out=y)
    xy = float(np.einsum("i,i->", xc, yc))  # einsum, not BLAS: no helper threads for one long dot
    return np.array([[np.einsum("i,i->", xc, xc), xy], [xy, np.einsum("i,i->", yc, yc)]]) / (len(x) - 1)


def _cumulative(wide: np.ndarray, carry: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[:, j] = carry + the first j weights of each row of wide[:, 1:] (as `widened` returns
    them; column 0 is overwritten). Returns out.

    One cumulative sum over the rows laid end to end, column 0 of each row set so that the sum
    restarts there at the row's carry: a 1-D cumulative sum from one array into another of the
    same type, the only kind during which numpy releases the GIL (one that casts, works in place
    or runs along an axis of a 2-D array holds it, and the bootstrap's other threads would wait),
    and one call instead of one per row (each call is a handover of the GIL between threads).
    """
    # (few small-array steps: each holds the GIL, which the other bootstrap threads then wait for)
    ends = np.add.reduce(wide[:, 1:], axis=1, dtype=np.int64)  # the carries after this block, less `carry`
    ends += carry
    np.subtract(carry[1:], ends[:-1], out=wide[1:, 0], casting="unsafe")  # what the running sum must add
    wide[0, 0] = carry[0]  # to land on the row's carry
    np.cumsum(wide.reshape(-1), out=out.reshape(-1))
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


def _eval_binary(view: _BinaryView, batch: _Batch, acc, ws: Workspace, *, labels: bool = True):
    """All binary metrics (but log loss and Brier) per weight row, and the total weight per row.

    Per positive i (descending score): g = weighted negatives scoring >= it (its Mann-Whitney
    count, and the false positives at its threshold), tp = weighted positives scoring >= it.
    AUC = 1 - sum(w g)/(P N) (+ ties), average precision = sum(w tp/(tp + g))/P. Both come block
    by block with the running weights of positives and negatives carried between blocks.
    """
    c = LANES
    carry_p, carry_n = np.zeros(c, dtype=np.int64), np.zeros(c, dtype=np.int64)
    tp_k = fp_k = None  # weighted positives / negatives scoring >= the threshold
    s1, ap, ties = np.zeros(c), np.zeros(c), np.zeros(c)
    done = 0  # negatives counted so far
    n_pos = view.n_pos
    settled = False  # every row has weight at or above the current block

    def skip_to(stop: int):
        """Count the negatives up to rank `stop` whose running weights no positive needs."""
        nonlocal carry_n, fp_k, done
        while done < stop:
            if fp_k is None and done == view.k_neg:
                fp_k = carry_n
            end = min(stop, done + _BLOCK)
            if fp_k is None and done < view.k_neg < end:
                end = view.k_neg  # stop there to capture the count at the threshold
            wide = batch.widened(view.perm, n_pos + done, n_pos + end, acc, ws, "n")
            carry_n = carry_n + np.add.reduce(wide[:, 1:], axis=1)
            done = end
        if fp_k is None and done == view.k_neg:
            fp_k = carry_n

    for k, (a, b, e, f) in enumerate(view.blocks):
        skip_to(e)
        # a row may have nothing weighted above this block's positives yet (the carries only grow:
        # once all are positive they stay so)
        first = not settled and not (settled := bool((carry_p + carry_n).all()))
        cn = _cumulative(batch.widened(view.perm, n_pos + e, n_pos + f, acc, ws, "n"), carry_n,
                         ws.get("cn", (c, f - e + 1), acc))
        if fp_k is None and e <= view.k_neg <= f:
            fp_k = cn[:, view.k_neg - e].astype(np.int64)
        carry_n, done = cn[:, -1].astype(np.int64), f
        m = b - a
        wide = batch.widened(view.perm, a, b, acc, ws, "p")
        wpf = ws.get("wp_f", (c, m), np.float64)
        np.copyto(wpf, wide[:, 1:])  # float64 copies (exact: integers far below 2**53) keep the ufuncs on fast, uncast loops
        cp = _cumulative(wide, carry_p, ws.get("cp", (c, m + 1), acc))
        if tp_k is None and a <= view.k_pos <= b:
            tp_k = cp[:, view.k_pos - a].astype(np.int64)
        g = ws.get("g", (c, m), acc)
        np.take(cn, view.neg_ge[a:b], axis=1, out=g, mode="clip")
        gf, tpf = ws.get("g_f", (c, m), np.float64), ws.get("tp_f", (c, m), np.float64)
        np.copyto(gf, g)
        np.copyto(tpf, cp[:, 1:] if view.pos_ge is None else np.take(cp, view.pos_ge[a:b], axis=1))
        s1 += _rowdot(gf, wpf)
        np.add(tpf, gf, out=gf)
        if first:
            _no_empty_rank(gf)
        np.divide(tpf, gf, out=gf)
        ap += _rowdot(gf, wpf)
        lo, hi = view.tie_bounds[k], view.tie_bounds[k + 1]
        if hi > lo:  # a negative tied with a positive counts 1/2
            at = view.tied[lo:hi]
            tie = np.take(cn, view.neg_ge[at], axis=1) - np.take(cn, view.neg_gt_tied[lo:hi], axis=1)
            ties += _rowdot(tie.astype(np.float64), wpf[:, at - a])
        carry_p = cp[:, -1].astype(np.int64)
    skip_to(view.n_neg)
    pt, nt = carry_p, carry_n
    out = {}
    if labels:  # no blocks: no positives
        out = _label_metrics(pt if tp_k is None else tp_k, nt if fp_k is None else fp_k, pt, nt)
    twice_u = 2.0 * (pt * nt) - 2.0 * s1 + ties
    out["roc_auc"] = _ratio(twice_u, 2.0 * (pt * nt))
    out["pr_auc"] = _ratio(ap, pt)
    return out, pt + nt


def _label_metrics(tp, fp, pt, nt) -> dict:
    fn, tn = pt - tp, nt - fp
    return {
        "accuracy": _ratio(tp + tn, pt + nt),
        "precision": _ratio0(tp, tp + fp),
        "recall": _ratio(tp, pt),
        "f1": np.where(pt > 0, _ratio0(2 * tp, 2 * tp + fp + fn), np.nan),
    }


_LANE_PAIR = np.uint64(0x000000FF000000FF)
_SEGMENT_WORDS = 1 << 24  # a segment's 32-bit halves hold the sum of 2**24 weights of 255


def _lane_totals(words: np.ndarray, ws: Workspace) -> np.ndarray:
    """(LANES,) int64 column sums of packed weights (at most 2**24 words)."""
    return _segment_totals(words, [0], ws)[0]


def _segment_totals(words: np.ndarray, starts: list[int], ws: Workspace) -> np.ndarray:
    """(len(starts), LANES) int64: per segment words[starts[i]:starts[i + 1]] (the last to the
    end; at most 2**24 words each) the column sums of the packed weights.

    Lanes r and r + 4 side by side in the two 32-bit halves of each word, summed as one 64-bit
    number: 1-D sums (not a reduction along the short axis of an (m, 8) array, which numpy does
    element by element), all segments in one np.add.reduceat call per pair of lanes.
    """
    m = len(words)
    bounds = [*starts, m]
    full = [i for i in range(len(starts)) if bounds[i + 1] > bounds[i]]  # reduceat gives an empty segment a value
    out = np.zeros((len(starts), LANES), dtype=np.int64)
    if not full:
        return out
    at = np.array([bounds[i] for i in full], dtype=np.intp)
    pair = ws.get("lane_pair", (m,), np.uint64)
    for r in range(LANES // 2):
        np.right_shift(words, np.uint64(8 * r), out=pair)
        pair &= _LANE_PAIR
        sums = np.add.reduceat(pair, at)
        out[full, r] = (sums & np.uint64(0xFFFFFFFF)).astype(np.int64)
        out[full, r + LANES // 2] = (sums >> np.uint64(32)).astype(np.int64)
    return out


def _ranges(words: np.ndarray, bounds: list[int], ws: Workspace) -> np.ndarray:
    """(len(bounds) - 1, LANES) int64 column sums of packed weights over the ranges
    words[bounds[i]:bounds[i + 1]] (ascending bounds; empty ranges allowed), in pieces of at most
    _SEGMENT_WORDS words."""
    out = np.zeros((len(bounds) - 1, LANES), dtype=np.int64)
    for a in range(bounds[0], bounds[-1], _SEGMENT_WORDS):
        b = min(a + _SEGMENT_WORDS, bounds[-1])
        cuts = [min(max(x, a), b) - a for x in bounds]
        out += _segment_totals(words[a:b], cuts[:-1], ws)
    return out


def _binary_counts(view: _BinaryView, batch: _Batch, ws: Workspace, totals=None):
    """The label metrics only (no walk through the ranking): weighted counts of the view's
    positives and negatives scoring >= the threshold (the first k_pos / k_neg of each) and of all
    of them (`totals`, (pt, nt), when another view of the set counted them already). Returns the
    metrics, the total weight per row and (pt, nt)."""
    n_pos, k_pos, k_neg = view.n_pos, view.k_pos, view.k_neg
    n = n_pos + view.n_neg
    if view.perm is None:  # canonical order: positives above and below, negatives above and below
        sums = _ranges(batch.lanes, [0, k_pos, n_pos, n_pos + k_neg, n], ws)
        tp, fp = sums[0], sums[2]
        if totals is None:
            totals = (sums[0] + sums[1], sums[2] + sums[3])
    else:  # gather the words of the rows scoring >= the threshold, positives then negatives
        cols = np.concatenate([view.perm[:k_pos], view.perm[n_pos : n_pos + k_neg]])
        words = ws.get("count_words", (len(cols),), np.uint64)
        np.take(batch.lanes, cols, out=words, mode="clip")
        tp, fp = _ranges(words, [0, k_pos, k_pos + k_neg], ws)
        if totals is None:  # the canonical order lists the positives first, whatever the view
            pos, neg = _ranges(batch.lanes, [0, n_pos, n], ws)
            totals = (pos, neg)
    pt, nt = totals
    return _label_metrics(tp, fp, pt, nt), pt + nt, totals


def _binary_point(view: _BinaryView) -> dict[str, float]:
    """All binary metrics but log loss and Brier for unit weights: the running counts are the
    ranks themselves."""
    n_pos, n_neg = view.n_pos, view.n_neg
    neg_ge = view.neg_ge.astype(np.int64)
    tie_gt = view.neg_gt_tied.astype(np.int64)
    pos_ge = None if view.pos_ge is None else view.pos_ge.astype(np.int64)
    for k, (a, b, e, _) in enumerate(view.blocks):  # back from block-local counts
        neg_ge[a:b] += e
        tie_gt[view.tie_bounds[k] : view.tie_bounds[k + 1]] += e
        if pos_ge is not None:
            pos_ge[a:b] += a
    out = {m: float(v) for m, v in _label_metrics(np.int64(view.k_pos), np.int64(view.k_neg),
                                                  np.int64(n_pos), np.int64(n_neg)).items()}
    pt_nt = float(n_pos) * float(n_neg)
    s1 = float(neg_ge.sum())
    ties = float((neg_ge[view.tied] - tie_gt).sum())
    out["roc_auc"] = (2.0 * pt_nt - 2.0 * s1 + ties) / (2.0 * pt_nt) if pt_nt > 0 else math.nan
    tp = np.arange(1, n_pos + 1, dtype=np.float64) if pos_ge is None else pos_ge.astype(np.float64)
    out["pr_auc"] = float(np.sum(tp / (tp + neg_ge))) / n_pos if n_pos else math.nan
    return out


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
            pos, neg = pos[_descending(proba[pos, c])], neg[_descending(proba[neg, c])]
            ovr.append(_BinaryView.build(proba[pos, c], proba[neg, c], np.concatenate([pos, neg]), 0.5)[0])
        return cls(k, y * k + pred, tuple(ovr))


def _weighted_counts(batch: _Batch, codes: np.ndarray, n_codes: int) -> np.ndarray:
    """(LANES, n_codes) weighted count of each code per weight row, one bincount per row."""
    return np.stack([np.bincount(codes, weights=batch.lane(r), minlength=n_codes) for r in range(LANES)])


def _eval_multiclass(m: _Multiclass, batch: _Batch, acc, ws: Workspace) -> dict:
    k = m.k
    conf = _weighted_counts(batch, m.codes, k * k).reshape(-1, k, k)  # [row, true, predicted]
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
        r, _ = _eval_binary(view, batch, acc, ws, labels=False)
        aucs.append(r["roc_auc"])
        aps.append(r["pr_auc"])
    c = LANES
    out["roc_auc"] = _nanmean_rows(np.array(aucs).reshape(len(aucs), c))  # no class of both kinds: NaN
    out["pr_auc"] = _nanmean_rows(np.array(aps).reshape(len(aps), c))
    return out, total.astype(np.int64)


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
