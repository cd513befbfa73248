"""Validation of an evaluation set before any statistic is computed.

Pure checks over columns that are already loaded (numpy arrays). Every problem raises a
`ComparisonDataError` whose message names the problem, the column and example rows, so a bad
file gives the pull request a clear error instead of a crash or, worse, a false pass.
`load_table` is a small stdlib/numpy reader for csv and jsonl bytes; fetching them is an adapter's job.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

TASKS = ("binary", "multiclass", "regression")
PROB_SUM_TOLERANCE = 1e-4
_EXAMPLES = 5


class ComparisonDataError(ValueError):
    """The evaluation data cannot be compared; `problem` is a stable short code, str() says why."""

    def __init__(self, problem: str, message: str):
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True, eq=False)
class EvaluationSet:
    """Validated, row-aligned evaluation data.

    labels: binary -> bool (True is the positive class); multiclass -> int codes 0..k-1 indexing
    `classes`; regression -> float64. candidate/baseline: float64, (n,) or (n, k) for multiclass.
    """

    task: str
    labels: np.ndarray
    candidate: np.ndarray
    baseline: np.ndarray | None
    classes: tuple | None
    ids: np.ndarray | None = None

    @property
    def n_rows(self) -> int:
        return int(self.labels.shape[0])

    @property
    def class_counts(self) -> tuple[int, ...] | None:
        """Rows per class, in `classes` order (None for regression)."""
        if self.task == "regression":
            return None
        k = len(self.classes)
        return tuple(int(c) for c in np.bincount(self.labels.astype(np.intp), minlength=k))


def prepare(
    task: str,
    labels,
    candidate,
    baseline=None,
    *,
    classes: Sequence | None = None,
    ids=None,
    candidate_ids=None,
    baseline_ids=None,
    prob_sum_tolerance: float = PROB_SUM_TOLERANCE,
) -> EvaluationSet:
    """Validate labels and predictions (joined by row id when `ids` is given) into an EvaluationSet.

    Without ids the arrays must already be aligned row by row and have equal lengths.
    `classes`: binary -> (negative, positive), default (0, 1); multiclass -> the label of each
    probability column, default 0..k-1.
    """
    if task not in TASKS:
        raise ComparisonDataError("unknown_task", f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    labels = _column(labels, "labels")
    candidate = _numeric(candidate, "candidate predictions")
    baseline = None if baseline is None else _numeric(baseline, "baseline predictions")

    if ids is not None:
        ids = _column(ids, "label ids")
        if len(ids) != len(labels):
            raise ComparisonDataError(
                "length_mismatch", f"length mismatch: {len(labels)} labels but {len(ids)} label ids"
            )
        if candidate_ids is None or (baseline is not None and baseline_ids is None):
            raise ComparisonDataError(
                "missing_ids", "row ids were given for the labels but not for every prediction set"
            )
        candidate = candidate[align_ids(ids, candidate_ids, "candidate predictions", n_values=len(candidate))]
        if baseline is not None:
            baseline = baseline[align_ids(ids, baseline_ids, "baseline predictions", n_values=len(baseline))]
    else:
        for name, values in (("candidate predictions", candidate), ("baseline predictions", baseline)):
            if values is not None and len(values) != len(labels):
                raise ComparisonDataError(
                    "length_mismatch",
                    f"length mismatch: {len(labels)} labels but {len(values)} {name} "
                    "(pass row ids to join by id)",
                )
    if len(labels) == 0:
        raise ComparisonDataError("empty", "the evaluation set is empty: no rows to compare")

    if task == "regression":
        y = check_regression_labels(labels)
        preds = [check_predictions(v, task, name=n, ids=ids) for v, n in _named(candidate, baseline)]
        return EvaluationSet(task, y, preds[0], preds[1] if baseline is not None else None, None, ids)

    if task == "binary":
        classes = (0, 1) if classes is None else tuple(classes)
        if len(classes) != 2:
            raise ComparisonDataError(
                "bad_classes", f"binary task needs exactly 2 classes (negative, positive), got {classes!r}"
            )
    else:
        width = candidate.shape[1] if candidate.ndim == 2 else None
        classes = tuple(range(width)) if classes is None and width else tuple(classes or ())
        if len(classes) < 2:
            raise ComparisonDataError(
                "bad_shape",
                "multiclass predictions must be an (n, k) probability matrix with k >= 2 classes, "
                f"got shape {candidate.shape}",
            )
    if len(set(classes)) != len(classes):
        raise ComparisonDataError("bad_classes", f"class list has duplicates: {classes!r}")

    codes = encode_labels(labels, classes, ids=ids)
    counts = np.bincount(codes, minlength=len(classes))
    present = [c for c, k in zip(classes, counts) if k]
    if len(present) < 2:
        raise ComparisonDataError(
            "one_class",
            f"only one class present in the labels ({present[0]!r}, {len(labels)} rows): ROC AUC, PR AUC "
            "and recall are undefined; the validation set needs rows of at least two classes",
        )
    preds = [
        check_predictions(v, task, n_classes=len(classes), name=n, ids=ids, prob_sum_tolerance=prob_sum_tolerance)
        for v, n in _named(candidate, baseline)
    ]
    y = codes.astype(bool) if task == "binary" else codes
    return EvaluationSet(task, y, preds[0], preds[1] if baseline is not None else None, classes, ids)


def check_predictions(
    values,
    task: str,
    *,
    n_classes: int | None = None,
    name: str = "predictions",
    ids=None,
    prob_sum_tolerance: float = PROB_SUM_TOLERANCE,
) -> np.ndarray:
    """Contract check of model output; returns float64 values.

    binary: shape (n,), P(positive class) in [0, 1]. multiclass: shape (n, k), each row a
    probability distribution (entries in [0, 1], row sums 1 within `prob_sum_tolerance`).
    regression: shape (n,), finite numbers.
    """
    v = _numeric(values, name)
    if task == "multiclass":
        if v.ndim != 2 or (n_classes is not None and v.shape[1] != n_classes):
            want = f"(n, {n_classes})" if n_classes else "(n, k)"
            raise ComparisonDataError("bad_shape", f"{name}: expected a probability matrix of shape {want}, got {v.shape}")
    else:
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        if v.ndim != 1:
            what = "P(positive class) per row" if task == "binary" else "one value per row"
            raise ComparisonDataError("bad_shape", f"{name}: expected a 1-D column ({what}), got shape {v.shape}")
    if v.shape[0] == 0:
        raise ComparisonDataError("empty", f"{name}: no rows")
    finite = np.isfinite(v)
    if not finite.all():
        bad_rows = ~finite if v.ndim == 1 else ~finite.all(axis=1)
        n_nan, n_inf = int(np.isnan(v).sum()), int(np.isinf(v).sum())
        kinds = ", ".join(f"{k} {w}" for k, w in ((n_nan, "NaN"), (n_inf, "infinite")) if k)
        raise ComparisonDataError(
            "non_finite", f"{name}: {kinds} value(s) in {int(bad_rows.sum())} row(s) ({_where(bad_rows, ids)})"
        )
    if task == "regression":
        return v
    outside = (v < 0.0) | (v > 1.0)
    if outside.any():
        bad_rows = outside if v.ndim == 1 else outside.any(axis=1)
        raise ComparisonDataError(
            "probability_range",
            f"{name}: {int(outside.sum())} probabilities outside [0, 1] (min {v.min():.6g}, max {v.max():.6g}; "
            f"{_where(bad_rows, ids)}); the model must output probabilities, not scores or logits",
        )
    if task == "multiclass":
        sums = v.sum(axis=1)
        off = np.abs(sums - 1.0) > prob_sum_tolerance
        if off.any():
            worst = float(sums[off][np.argmax(np.abs(sums[off] - 1.0))])
            raise ComparisonDataError(
                "probability_sum",
                f"{name}: {int(off.sum())} row(s) whose probabilities do not sum to 1 within "
                f"{prob_sum_tolerance:g} (e.g. sum {worst:.6g}; {_where(off, ids)})",
            )
    return v


def check_regression_labels(labels) -> np.ndarray:
    """Regression targets: finite numbers, not all equal (R² needs variance); returns float64."""
    y = _numeric(labels, "labels")
    if y.ndim != 1:
        raise ComparisonDataError("bad_shape", f"labels: expected a 1-D column, got shape {y.shape}")
    if len(y) == 0:
        raise ComparisonDataError("empty", "the evaluation set is empty: no rows to compare")
    bad = ~np.isfinite(y)
    if bad.any():
        raise ComparisonDataError(
            "missing_labels", f"labels: {int(bad.sum())} missing (NaN) or infinite value(s) ({_where(bad)})"
        )
    if np.all(y == y[0]):
        raise ComparisonDataError("constant_labels", f"labels are all equal ({y[0]:.6g}): R² is undefined")
    return y


def encode_labels(labels, classes: Sequence, *, ids=None) -> np.ndarray:
    """Map class labels to codes 0..k-1 in `classes` order; unknown or missing labels raise."""
    labels = _column(labels, "labels")
    classes = tuple(classes)
    if labels.ndim != 1:
        raise ComparisonDataError("bad_shape", f"labels: expected a 1-D column, got shape {labels.shape}")
    kind = labels.dtype.kind
    if kind in "biuf" and all(_is_number(c) for c in classes):
        values = labels.astype(np.float64)
        if kind == "f" and np.isnan(values).any():
            missing = np.isnan(values)
            raise ComparisonDataError(
                "missing_labels", f"labels: {int(missing.sum())} missing (NaN) value(s) ({_where(missing, ids)})"
            )
        keys = np.array([float(c) for c in classes])
        order = np.argsort(keys)
        pos = np.clip(np.searchsorted(keys[order], values), 0, len(keys) - 1)
        known = keys[order][pos] == values
        codes = order[pos]
    else:
        table = {c: i for i, c in enumerate(classes)}
        obj = labels.astype(object)
        missing = np.array([x is None or (isinstance(x, float) and math.isnan(x)) for x in obj], dtype=bool)
        if missing.any():
            raise ComparisonDataError(
                "missing_labels", f"labels: {int(missing.sum())} missing value(s) ({_where(missing, ids)})"
            )
        codes = np.fromiter((table.get(_plain(x), -1) for x in obj), dtype=np.intp, count=len(obj))
        known = codes >= 0
    if not known.all():
        unknown = sorted({repr(_plain(x)) for x in labels[~known][:1000].tolist()})[:_EXAMPLES]
        hint = ""
        if kind in "USO" and all(_is_number(c) for c in classes):
            hint = "; the labels are text: pass the class names as `classes`"
        raise ComparisonDataError(
            "unknown_labels",
            f"labels: {int((~known).sum())} row(s) with labels outside the known classes {list(classes)!r} "
            f"(e.g. {', '.join(unknown)}; {_where(~known, ids)}){hint}",
        )
    return codes.astype(np.intp)


def align_ids(label_ids, prediction_ids, name: str, *, n_values: int | None = None) -> np.ndarray:
    """Index array that reorders predictions (keyed by prediction_ids) into label order.

    Every label row needs exactly one prediction and every prediction a label row: duplicates,
    missing and extra ids all raise, naming examples.
    """
    label_ids = _column(label_ids, "label ids")
    pred_ids = _column(prediction_ids, f"{name} ids")
    if n_values is not None and len(pred_ids) != n_values:
        raise ComparisonDataError(
            "length_mismatch", f"length mismatch: {n_values} {name} but {len(pred_ids)} ids for them"
        )
    for what, arr in (("label ids", label_ids), (f"{name} ids", pred_ids)):
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise ComparisonDataError("missing_ids", f"{what}: {int(np.isnan(arr).sum())} missing (NaN) id(s)")
    if (label_ids.dtype.kind in "biuf") != (pred_ids.dtype.kind in "biuf"):
        raise ComparisonDataError(
            "id_mismatch",
            f"row ids of labels ({label_ids.dtype}) and {name} ({pred_ids.dtype}) have different types; "
            "they can never match",
        )
    try:
        lab_order = np.argsort(label_ids, kind="stable")
        pred_order = np.argsort(pred_ids, kind="stable")
    except TypeError as exc:
        raise ComparisonDataError("id_mismatch", f"row ids mix types that cannot be compared: {exc}") from None
    for what, arr, order in (("label ids", label_ids, lab_order), (f"{name} ids", pred_ids, pred_order)):
        srt = arr[order]
        dup = srt[1:] == srt[:-1]
        if dup.any():
            examples = ", ".join(repr(_plain(x)) for x in np.unique(srt[1:][dup])[:_EXAMPLES].tolist())
            raise ComparisonDataError("duplicate_ids", f"{what}: {int(dup.sum())} duplicate id(s) (e.g. {examples})")
    srt = pred_ids[pred_order]
    pos = np.clip(np.searchsorted(srt, label_ids), 0, max(len(srt) - 1, 0))
    found = (srt[pos] == label_ids) if len(srt) else np.zeros(len(label_ids), bool)
    if not found.all():
        examples = ", ".join(repr(_plain(x)) for x in label_ids[~found][:_EXAMPLES].tolist())
        raise ComparisonDataError(
            "id_mismatch",
            f"{name}: no prediction for {int((~found).sum())} of {len(label_ids)} label rows (ids: {examples})",
        )
    if len(pred_ids) != len(label_ids):
        lab_sorted = label_ids[lab_order]
        p = np.clip(np.searchsorted(lab_sorted, pred_ids), 0, len(lab_sorted) - 1)
        extra = lab_sorted[p] != pred_ids
        examples = ", ".join(repr(_plain(x)) for x in pred_ids[extra][:_EXAMPLES].tolist())
        raise ComparisonDataError(
            "id_mismatch",
            f"{name}: {int(extra.sum())} row id(s) that are not in the labels (ids: {examples})",
        )
    return pred_order[pos]


def require_columns(table: Mapping[str, np.ndarray], names: Sequence[str], source: str = "table") -> list[np.ndarray]:
    """The named columns of a loaded table, or an error naming the missing ones and what exists."""
    missing = [n for n in names if n not in table]
    if missing:
        what = "label column" if len(missing) == 1 else "columns"
        raise ComparisonDataError(
            "missing_column",
            f"{source}: missing {what} {', '.join(map(repr, missing))}; columns present: "
            f"{', '.join(map(repr, table)) or '(none)'}",
        )
    return [table[n] for n in names]


def load_table(path_or_bytes, format: str, *, text_columns: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Read csv (header row) or jsonl (one object per line) into named numpy columns.

    Columns whose values all parse as integers become int64, as numbers float64 (empty -> NaN),
    else strings; jsonl lists of numbers become a 2-D float64 column. `text_columns` stay strings
    (row ids such as '007'). Parquet is not supported here.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        raw = bytes(path_or_bytes)
        source = f"{format} data"
    else:
        source = os.fspath(path_or_bytes)
        with open(source, "rb") as fh:
            raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ComparisonDataError("bad_file", f"{source}: not UTF-8 text ({exc})") from None
    if format == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        rows = [r for r in rows if r]
        if not rows:
            raise ComparisonDataError("bad_file", f"{source}: empty file (no header row)")
        header, body = rows[0], rows[1:]
        if len(set(header)) != len(header):
            raise ComparisonDataError("bad_file", f"{source}: duplicate column names in header {header!r}")
        for i, r in enumerate(body):
            if len(r) != len(header):
                raise ComparisonDataError(
                    "bad_file", f"{source}: line {i + 2} has {len(r)} fields, header has {len(header)}"
                )
        cols = {h: [r[j] for r in body] for j, h in enumerate(header)}
        return {h: (np.array(v, dtype=str) if h in text_columns else _csv_column(v)) for h, v in cols.items()}
    if format == "jsonl":
        records = []
        for i, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ComparisonDataError("bad_file", f"{source}: line {i + 1} is not JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ComparisonDataError("bad_file", f"{source}: line {i + 1} is not a JSON object")
            records.append(obj)
        names = list(dict.fromkeys(k for r in records for k in r))
        out = {}
        for name in names:
            vals = [r.get(name) for r in records]
            out[name] = np.array([str(v) for v in vals], dtype=str) if name in text_columns else _json_column(vals)
        return out
    raise ComparisonDataError("bad_format", f"unsupported table format {format!r}; expected 'csv' or 'jsonl'")


# -- helpers -------------------------------------------------------------------------------------


def _named(candidate, baseline):
    yield candidate, "candidate predictions"
    if baseline is not None:
        yield baseline, "baseline predictions"


def _column(values, name: str) -> np.ndarray:
    if values is None:
        raise ComparisonDataError("missing_column", f"{name}: missing")
    arr = np.asarray(values)
    if arr.ndim == 0:
        raise ComparisonDataError("bad_shape", f"{name}: expected a column of values, got a scalar")
    return arr


def _numeric(values, name: str) -> np.ndarray:
    arr = _column(values, name)
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O":
        try:
            return np.array(arr.tolist(), dtype=np.float64)
        except (TypeError, ValueError):
            pass
    sample = next((x for x in arr.ravel().tolist() if not _is_number(x)), arr.ravel()[:1].tolist())
    raise ComparisonDataError(
        "non_numeric", f"{name}: expected numbers, got {arr.dtype} values (e.g. {sample!r})"
    )


def _is_number(x) -> bool:
    return isinstance(x, (int, float, bool, np.integer, np.floating, np.bool_))


def _plain(x):
    return x.item() if isinstance(x, np.generic) else x


def _where(mask: np.ndarray, ids=None) -> str:
    rows = np.flatnonzero(mask)[:_EXAMPLES]
    if ids is not None:
        return "ids " + ", ".join(repr(_plain(ids[i])) for i in rows)
    return "rows " + ", ".join(str(int(i)) for i in rows)


def _csv_column(values: list[str]) -> np.ndarray:
    stripped = [v.strip() for v in values]
    try:
        return np.array([int(v) for v in stripped], dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        return np.array([float(v) if v else math.nan for v in stripped], dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=str)


def _json_column(values: list) -> np.ndarray:
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        try:
            return np.array(values, dtype=np.int64)
        except OverflowError:
            pass
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if values and all(isinstance(v, list) for v in values):
        widths = {len(v) for v in values}
        if len(widths) == 1:
            try:
                return np.array(values, dtype=np.float64)
            except (TypeError, ValueError):
                pass
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
