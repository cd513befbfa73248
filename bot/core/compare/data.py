"""Validation of an evaluation set before any statistic is computed.

Pure checks over columns that are already loaded (numpy arrays). Every problem raises a
`ComparisonDataError` whose message names the problem, the column and example rows, so a bad
file gives the pull request a clear error instead of a crash or, worse, a false pass.
`load_table` is a small stdlib/numpy reader for csv and jsonl bytes (plain, or gzip-compressed:
inflated as a bounded stream) that refuses a file over its `TableLimits` (rows, columns, decoded
and decompressed bytes, line length) before holding its values; fetching them is an adapter's job.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bot.core.compare.limits import ComparisonDataError, MiB, TableLimits

TASKS = ("binary", "multiclass", "regression")
PROB_SUM_TOLERANCE = 1e-4
_EXAMPLES = 5


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


# --- tables, read within limits -------------------------------------------------------------------

_OBJECT_CELL = 57  # bytes of a short Python str (49) and its pointer in an object array (8)


def text_array(values: list, max_len: int, total_len: int) -> np.ndarray:
    """Strings as a fixed-width numpy array, or as an object array when one long value would make
    the fixed width (4 bytes a character of the longest value, every row) much larger."""
    n = len(values)
    if n * 4 * max_len <= max(2 * (n * _OBJECT_CELL + total_len), MiB):
        return np.array(values, dtype=str)
    out = np.empty(n, dtype=object)
    out[:] = values
    return out


def text_bytes(n: int, max_len: int, total_len: int) -> int:
    """What `text_array` of n strings (longest max_len, total_len characters) holds, about."""
    fixed = n * 4 * max_len
    return fixed if fixed <= max(2 * (n * _OBJECT_CELL + total_len), MiB) else n * _OBJECT_CELL + total_len


def load_table(path_or_bytes, format: str, *, text_columns: Sequence[str] = (),
               limits: TableLimits | None = None, source: str | None = None) -> dict[str, np.ndarray]:
    """Read csv (header row) or jsonl (one object per line) into named numpy columns, within `limits`.

    Columns whose values all parse as integers become int64, as numbers float64 (empty -> NaN),
    else strings; jsonl lists of numbers become a 2-D float64 column. `text_columns` stay strings
    (row ids such as '007'). Parquet is not supported here. Gzip-compressed bytes (by their
    magic, whatever the file is called) are inflated as a stream, twice, never held whole: the
    inflated bytes count against `limits.max_decompressed_bytes` while they are read, and the
    rows, columns and line lengths against theirs, as for a plain file.

    Two passes over the bytes: the first decodes and counts (rows, columns, line lengths, each
    column's type and the size of its text) keeping no values, and refuses a file over a limit
    before anything is materialised; the second fills arrays of the sizes the first found.
    """
    limits = limits or TableLimits()
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        raw = bytes(path_or_bytes)
        source = source or f"{format} data"
    else:
        path = os.fspath(path_or_bytes)
        source = source or path
        with open(path, "rb") as fh:
            raw = fh.read()
    text_columns = frozenset(text_columns)
    other = other_compression(raw)
    if other and format in ("csv", "jsonl"):
        raise ComparisonDataError("bad_format", f"{source}: compressed with {other}, which modelbot does not read; "
                                                f"give the {format} file itself, or compressed with gzip")
    try:
        if format == "csv":
            scan = _csv_scan(raw, source, limits, text_columns)
            return _csv_fill(raw, source, limits, scan, text_columns)
        if format == "jsonl":
            scan = _jsonl_scan(raw, source, limits, text_columns)
            return _jsonl_fill(raw, source, limits, scan, text_columns)
    except UnicodeDecodeError as exc:
        raise ComparisonDataError("bad_file", f"{source}: not UTF-8 text ({exc})") from None
    raise ComparisonDataError("bad_format", f"unsupported table format {format!r}; expected 'csv' or 'jsonl'")


GZIP_MAGIC = b"\x1f\x8b"
# Compressions modelbot does not read, by their magic bytes: refused by name rather than as text
# that is not UTF-8.
_OTHER_COMPRESSIONS = ((b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
                       (b"PK\x03\x04", "zip"), (b"\x04\x22\x4d\x18", "lz4"))
_INFLATE_CHUNK = 64 * 1024


def is_gzip(raw: bytes) -> bool:
    return raw[:2] == GZIP_MAGIC


def other_compression(raw: bytes) -> str | None:
    """The name of a compression other than gzip that `raw` starts with, if any."""
    for magic, name in _OTHER_COMPRESSIONS:
        if raw.startswith(magic) and (name != "bzip2" or raw[3:4].isdigit() and raw[4:10] == b"1AY&SY"):
            return name
    return None


class _Inflating(io.RawIOBase):
    """The decompressed bytes of a gzip file (every member), inflated a chunk at a time as they
    are read: never more than one chunk held, and refused once more than
    `limits.max_decompressed_bytes` came out (a gzip bomb stops there, having held nothing)."""

    def __init__(self, raw: bytes, source: str, limits: TableLimits):
        self._gz = gzip.GzipFile(fileobj=io.BytesIO(raw), mode="rb")
        self._source, self._limits, self.count = source, limits, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        cap = self._limits.max_decompressed_bytes
        if not len(b):
            return 0
        try:
            chunk = self._gz.read(min(len(b), _INFLATE_CHUNK, cap + 1 - self.count))
        except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as exc:
            raise ComparisonDataError("bad_file", f"{self._source}: not a readable gzip file ({exc})") from None
        self.count += len(chunk)
        if self.count > cap:
            raise self._limits.refuse(
                self._source, "max_decompressed_bytes", "gzip-compressed and larger once inflated",
                f"{cap:,} bytes modelbot inflates for a table", "counted while inflating it, stopped there")
        b[:len(chunk)] = chunk
        return len(chunk)


def _text(raw: bytes, source: str, limits: TableLimits) -> io.TextIOWrapper:
    """The file's text: its bytes, or, gzip-compressed, inflated as a bounded stream."""
    if is_gzip(raw):
        return io.TextIOWrapper(io.BufferedReader(_Inflating(raw, source, limits), _INFLATE_CHUNK),
                                encoding="utf-8-sig", newline="")
    return io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="")


def _lines(raw: bytes, source: str, limits: TableLimits):
    """The text's lines (universal newlines kept, as the csv module wants), each at most
    `limits.max_line_chars` characters: a longer line is refused when that much of it is read.
    A gzip file is inflated while its lines are read, within `limits.max_decompressed_bytes`."""
    fh = _text(raw, source, limits)
    cap = limits.max_line_chars
    n = 0
    while line := fh.readline(cap + 2):
        n += 1
        if len(line) > cap and len(line.rstrip("\r\n")) > cap:
            raise limits.refuse(source, "max_line_chars", f"line {n} is longer",
                                f"{cap:,} characters modelbot reads in one line", "read that far",
                                problem="bad_file")
        yield line


@dataclass
class _CsvScan:
    header: list[str]
    rows: int
    kinds: list[str]  # int | float | str
    max_len: list[int]
    total_len: list[int]


def _csv_records(raw: bytes, source: str, limits: TableLimits):
    reader = csv.reader(_lines(raw, source, limits))
    try:
        for record in reader:
            if record:
                yield reader.line_num, record
    except csv.Error as exc:
        raise ComparisonDataError("bad_file", f"{source}: line {reader.line_num + 1}: not readable csv ({exc}; "
                                              f"a field is held to {csv.field_size_limit():,} characters)") from None


_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def _csv_scan(raw: bytes, source: str, limits: TableLimits, text_columns) -> _CsvScan:
    records = _csv_records(raw, source, limits)
    first = next(records, None)
    if first is None:
        raise ComparisonDataError("bad_file", f"{source}: empty file (no header row)")
    header = first[1]
    limits.check_columns(source, len(header), "the header line")
    if len(set(header)) != len(header):
        raise ComparisonDataError("bad_file", f"{source}: duplicate column names in header {header!r}")
    width = len(header)
    kinds = ["str" if h in text_columns else "int" for h in header]
    max_len, total_len = [0] * width, [0] * width
    count_to, rows = limits.rows_counted, 0
    lo, hi = _INT64
    for line_num, record in records:
        if len(record) != width:
            raise ComparisonDataError("bad_file", f"{source}: line {line_num} has {len(record)} fields, "
                                                  f"header has {width}")
        rows += 1
        if rows > count_to:
            break
        for j, v in enumerate(record):
            n = len(v)
            total_len[j] += n
            if n > max_len[j]:
                max_len[j] = n
            kind = kinds[j]
            if kind == "int":
                try:
                    if lo <= int(v) <= hi:
                        continue
                except ValueError:
                    pass
                kinds[j] = kind = "float"
            if kind == "float":
                s = v.strip()
                if s:
                    try:
                        float(s)
                    except ValueError:
                        kinds[j] = "str"
    limits.check_rows(source, rows, "counted while reading, before loading it")
    scan = _CsvScan(header, rows, kinds, max_len, total_len)
    size = sum(8 * rows if k != "str" else text_bytes(rows, m, t) for k, m, t in zip(kinds, max_len, total_len))
    limits.check_decoded(source, size, "counted while reading, before loading it")
    return scan


def _csv_fill(raw: bytes, source: str, limits: TableLimits, scan: _CsvScan, text_columns) -> dict[str, np.ndarray]:
    n = scan.rows
    numeric = {j: np.empty(n, dtype=np.int64 if k == "int" else np.float64)
               for j, k in enumerate(scan.kinds) if k != "str"}
    texts = {j: [] for j, k in enumerate(scan.kinds) if k == "str"}
    floats = [j for j, k in enumerate(scan.kinds) if k == "float"]
    ints = [j for j, k in enumerate(scan.kinds) if k == "int"]
    records = _csv_records(raw, source, limits)
    next(records)  # the header
    nan = math.nan
    for i, (_, record) in enumerate(records):
        if i >= n:  # the bytes are the same: only a changed file could get here
            raise ComparisonDataError("bad_file", f"{source}: changed while it was read")
        for j in ints:
            numeric[j][i] = int(record[j])
        for j in floats:
            s = record[j].strip()
            numeric[j][i] = float(s) if s else nan
        for j, out in texts.items():
            out.append(record[j])
    cols = {}
    for j, h in enumerate(scan.header):
        cols[h] = numeric[j] if j in numeric else text_array(texts.pop(j), scan.max_len[j], scan.total_len[j])
    return cols


@dataclass
class _JsonColumn:
    seen: int = 0
    all_int: bool = True
    all_num: bool = True  # numbers or None
    all_bool: bool = True
    list_width: int | None = None  # -1: not all lists of one width of numbers
    max_len: int = 0  # of str(value), for text columns
    total_len: int = 0
    object_bytes: int = 0


def _jsonl_records(raw: bytes, source: str, limits: TableLimits):
    for i, line in enumerate(_lines(raw, source, limits)):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ComparisonDataError("bad_file", f"{source}: line {i + 1} is not JSON ({exc.msg})") from None
        except RecursionError:
            raise ComparisonDataError("bad_file", f"{source}: line {i + 1} nests too deeply") from None
        if not isinstance(obj, dict):
            raise ComparisonDataError("bad_file", f"{source}: line {i + 1} is not a JSON object")
        yield obj


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _jsonl_scan(raw: bytes, source: str, limits: TableLimits, text_columns):
    cols: dict[str, _JsonColumn] = {}
    rows, count_to = 0, limits.rows_counted
    lo, hi = _INT64
    for obj in _jsonl_records(raw, source, limits):
        rows += 1
        if rows > count_to:
            break
        for k, v in obj.items():
            c = cols.get(k)
            if c is None:
                if len(cols) >= limits.max_columns:
                    limits.check_columns(source, len(cols) + 1, f"keys of the records up to record {rows}")
                c = cols[k] = _JsonColumn()
                c.seen = 0
                if rows > 1:  # absent from the records before: None there
                    c.all_int = c.all_bool = False
                    c.list_width = -1
            c.seen += 1
            if k in text_columns:
                n = len(str(v))
                c.max_len, c.total_len = max(c.max_len, n), c.total_len + n
                continue
            if c.all_int and not (isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi):
                c.all_int = False
            if c.all_num and not (v is None or _is_num(v)):
                c.all_num = False
            if c.all_bool and not isinstance(v, bool):
                c.all_bool = False
            if c.list_width != -1:
                if isinstance(v, list) and all(x is None or isinstance(x, (int, float)) for x in v) \
                        and c.list_width in (None, len(v)):
                    c.list_width = len(v)
                else:
                    c.list_width = -1
            c.object_bytes += _OBJECT_CELL + (len(v) if isinstance(v, str) else
                                              32 * len(v) if isinstance(v, (list, dict)) else 0)
    limits.check_rows(source, rows, "counted while reading, before loading it")
    size = 0
    for k, c in cols.items():
        if c.seen < rows:  # absent from some records: None there
            c.all_int = c.all_bool = False
            c.list_width = -1
        if k in text_columns:
            size += text_bytes(rows, max(c.max_len, 4), c.total_len + 4 * (rows - c.seen))
        elif c.all_int or c.all_num:
            size += 8 * rows
        elif c.all_bool:
            size += rows
        elif c.list_width not in (None, -1):
            size += 8 * rows * max(c.list_width, 1)
        else:
            size += 8 * rows + c.object_bytes
    limits.check_decoded(source, size, "counted while reading, before loading it")
    return rows, cols


def _jsonl_fill(raw: bytes, source: str, limits: TableLimits, scan, text_columns) -> dict[str, np.ndarray]:
    rows, cols = scan
    out: dict[str, object] = {}
    for k, c in cols.items():
        if k in text_columns:
            out[k] = []
        elif c.all_int:
            out[k] = np.empty(rows, dtype=np.int64)
        elif c.all_num:
            out[k] = np.full(rows, math.nan)
        elif c.all_bool:
            out[k] = np.empty(rows, dtype=bool)
        elif c.list_width not in (None, -1):
            out[k] = np.empty((rows, c.list_width), dtype=np.float64)
        else:
            out[k] = np.full(rows, None, dtype=object)
    for i, obj in enumerate(_jsonl_records(raw, source, limits)):
        if i >= rows:
            break
        for k, dest in out.items():
            if k in text_columns:
                dest.append(str(obj.get(k)))
            else:
                v = obj.get(k)
                if v is not None:
                    dest[i] = v
    return {k: text_array(v, cols[k].max_len, cols[k].total_len) if k in text_columns else v
            for k, v in out.items()}


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

