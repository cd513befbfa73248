"""A model contract checked against a whole validation set and against both models' predictions.

`table_findings(input, table, ...)` reads every declared field's column once (vectorised; text
columns in one pass over their values) and says, per field, what breaks the contract: a missing
column, a text column for a number, values outside the range or the categories, nulls in a
required field — with the count and the first offending row (data rows from 1, a header not counted).
`prediction_findings(output, predictions, ...)` does the same for one model's predictions:
values per record, range, integer answers. A candidate that breaks its own contract is an
error; the live model breaking it is a warning (the contract changed, or the live model did
not honour it). Findings are `{"level": error|warning|info, "message"}` like the comparison's
other contract lines. Pure: values in, values out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    from bot.core.manifest.model import InputContract, OutputContract


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _rows(mask: np.ndarray, values: np.ndarray | None = None) -> str:
    n = int(mask.sum())
    i = _first(mask)
    value = values[i].item() if values is not None and hasattr(values[i], "item") else (
        values[i] if values is not None else None)
    shown = f" ({value!r})" if values is not None else ""
    return f"{n} row(s), first row {i + 1}{shown}"


def _finding(level: str, where: str, message: str) -> dict:
    return {"level": level, "message": f"{where}: {message}"}


def table_findings(inp: "InputContract", table: Mapping[str, np.ndarray], *, location: str,
                   ignore: tuple[str | None, ...] = ()) -> list[dict]:
    """Every way the validation set breaks the input contract, one finding per field and kind."""
    out: list[dict] = []
    for i, f in enumerate(inp.fields):
        where = f"contract.input.fields[{i}] `{f.name}`"
        col = table.get(f.name)
        if col is None:
            level = "error" if f.required else "info"
            out.append(_finding(level, where, f"not a column of the validation set {location}"
                                + ("" if f.required else " (optional: not checked)")))
            continue
        numeric = col.dtype.kind in "biuf"
        if f.type in ("number", "integer"):
            if not numeric:
                out.append(_finding("error", where, f"the column holds text, the contract says {f.type}"))
                continue
            v = col.astype(np.float64, copy=False)
            missing = np.isnan(v)
            present = ~missing
            if f.required and missing.any():
                out.append(_finding("error", where, f"required, but {_rows(missing)} have no value"))
            if f.type == "integer" and col.dtype.kind == "f":
                frac = present & (np.floor(np.where(present, v, 0.0)) != np.where(present, v, 0.0))
                if frac.any():
                    out.append(_finding("error", where, f"not integers in {_rows(frac, v)}"))
            if f.min is not None:
                low = present & (np.where(present, v, f.min) < f.min)
                if low.any():
                    out.append(_finding("error", where, f"below the minimum {f.min:g} in {_rows(low, v)}"))
            if f.max is not None:
                high = present & (np.where(present, v, f.max) > f.max)
                if high.any():
                    out.append(_finding("error", where, f"above the maximum {f.max:g} in {_rows(high, v)}"))
            continue
        if f.type == "boolean":
            if col.dtype.kind == "b":
                continue
            if numeric:
                v = col.astype(np.float64, copy=False)
                bad = ~np.isnan(v) & (v != 0) & (v != 1)
            else:
                bad = np.fromiter((x is not None and not isinstance(x, bool) and x not in ("true", "false")
                                   for x in col), dtype=bool, count=len(col))
            if bad.any():
                out.append(_finding("error", where, f"not booleans in {_rows(bad, col)}"))
            continue
        # string
        if numeric:
            out.append(_finding("error", where, "the column holds numbers, the contract says string "
                                "(quote the values, or declare a number)"))
            continue
        # One pass over the values: 0 allowed, 1 outside the categories, 2 missing.
        codes = {c: 0 for c in f.categories} if f.categories is not None else None
        if codes is not None:
            codes[None] = 2
            try:
                kind = np.fromiter(map(lambda x, get=codes.get: get(x, 1), col), dtype=np.int8, count=len(col))
            except TypeError:  # an unhashable value (a nested JSON value): outside the categories
                kind = np.fromiter((2 if x is None else 0 if isinstance(x, str) and x in codes else 1 for x in col),
                                   dtype=np.int8, count=len(col))
        else:
            kind = np.fromiter(map(lambda x: 2 if x is None else 0, col), dtype=np.int8, count=len(col))
        missing = kind == 2
        if f.required and missing.any():
            out.append(_finding("error", where, f"required, but {_rows(missing)} have no value"))
        if f.categories is not None:
            bad = kind == 1
            if bad.any():
                seen = sorted({str(x) for x in col[bad][:1000]})
                out.append(_finding("error", where, f"values outside the categories in {_rows(bad, col)}; "
                                    "e.g. " + ", ".join(repr(s) for s in seen[:5])))
    named = {f.name for f in inp.fields}
    extra = [c for c in table if c not in named and c not in ignore]
    if extra:
        out.append({"level": "info", "message": f"the validation set has {len(extra)} column(s) the contract "
                    "does not name (" + ", ".join(extra[:10]) + (", ..." if len(extra) > 10 else "")
                    + "): not model inputs"})
    return out


def prediction_findings(out_spec: "OutputContract", predictions: np.ndarray, *, label: str, task: str) -> list[dict]:
    """How one model's predictions break the output contract. `label`: candidate | baseline."""
    level = "error" if label == "candidate" else "warning"
    where = f"{label}'s predictions"
    p = np.asarray(predictions)
    width = 1 if p.ndim == 1 else int(p.shape[1])
    want = out_spec.shape[0] if out_spec.shape else 1
    findings: list[dict] = []
    if width != want and not (task == "binary" and want == 2 and width == 1):
        # binary: the comparison keeps the positive class's probability of a [2] answer
        findings.append(_finding(level, where, f"{width} value(s) per record, the contract's output shape "
                                 f"says {want}"))
        return findings
    if out_spec.type == "string":
        return [{"level": "info", "message": f"{where}: a label output (type string) is checked on the "
                 "sample answers, not on scores"}]
    v = p.astype(np.float64, copy=False).reshape(len(p), -1)
    finite = np.isfinite(v)
    if out_spec.type == "integer":
        frac = finite & (np.floor(np.where(finite, v, 0.0)) != np.where(finite, v, 0.0))
        if frac.any():
            findings.append(_finding(level, where, f"not integers in {_rows(frac.any(axis=1))}"))
    for bound, name, cmp in ((out_spec.min, "minimum", np.less), (out_spec.max, "maximum", np.greater)):
        if bound is None:
            continue
        bad = finite & cmp(np.where(finite, v, bound), bound)
        if bad.any():
            rows = bad.any(axis=1)
            i = _first(rows)
            worst = float(v[bad].min() if name == "minimum" else v[bad].max())
            findings.append(_finding(level, where, f"{'below' if name == 'minimum' else 'above'} the output "
                                     f"{name} {bound:g} in {int(rows.sum())} row(s), first row {i + 1}, "
                                     f"worst {worst:g}"))
    return findings
