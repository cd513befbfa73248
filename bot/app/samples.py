"""`modelbot samples MANIFEST`: sample payloads for a manifest's contract, taken from its validation set.

The rows are spread evenly over the set (deterministic: the same set gives the same samples),
each becomes one payload of the contract's input fields (a missing optional value is left out),
and only payloads that match the contract are kept (the others are listed with what breaks it).
The result is JSON Lines, one payload per line — what `contract.samples.path` reads — printed, or
with `--write` written to that path in the repository. The validation set is read with the same
limits as the comparison (a repository path, or S3 through the ambient credentials).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import boto3

from bot.adapters.sources import Fetchers, LocalFetcher, S3Fetcher, load_validation_set
from bot.adapters.worktree import repository_root
from bot.core.compare.data import ComparisonDataError
from bot.core.contract import MAX_SAMPLES, payload_problems
from bot.core.manifest import load_manifest
from bot.core.render import render


def spread(n_rows: int, k: int) -> list[int]:
    """`k` row indexes spread evenly over `n_rows` (all of them when there are fewer)."""
    if n_rows <= k:
        return list(range(n_rows))
    return sorted({int(i * n_rows / k + n_rows / (2 * k)) for i in range(k)})


def _value(field, raw):
    value = raw.item() if hasattr(raw, "item") else raw
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if field.type == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if field.type == "boolean" and isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if field.type == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def payloads_from(contract, table, rows: list[int]) -> tuple[list[dict], list[tuple[int, list[str]]]]:
    """(payloads that match the contract, [(row, problems)] of the rows that do not). Rows are
    0-based here, shown 1-based."""
    kept, skipped = [], []
    for r in rows:
        payload = {}
        for f in contract.input.fields:
            col = table.get(f.name)
            value = _value(f, col[r]) if col is not None else None
            if value is not None:
                payload[f.name] = value
        problems = payload_problems(contract.input, payload)
        if problems:
            skipped.append((r + 1, problems))
        else:
            kept.append(payload)
    return kept, skipped


def samples_command(path: str, *, rows: int = 5, write: bool = False) -> int:
    """Print (or write) sample payloads for the manifest at `path`; 0 ok, 1 nothing usable, 2 usage."""
    file = Path(path)
    try:
        text = file.read_bytes()
    except OSError as exc:
        return _error("usage error", f"{path}: {exc.strerror}")
    loaded = load_manifest(str(file), text)
    m = loaded.manifest
    if m is None:
        first = loaded.problems[0]
        return _error("usage error", f"{path}:{first.line}:{first.column}: {first.message}")
    if m.contract is None or m.validation is None:
        return _error("usage error", f"{path}: samples need both a `contract:` and a `validation:` section")
    if not 1 <= rows <= MAX_SAMPLES:
        return _error("usage error", f"--rows: between 1 and {MAX_SAMPLES}")
    target = m.contract.samples.path if m.contract.samples is not None else None
    if write and not target:
        return _error("usage error", f"{path}: --write needs `contract.samples.path` (inline samples stay in "
                                     "the manifest)")
    root = repository_root(str(file.parent))
    fetchers = Fetchers(s3=S3Fetcher(boto3.Session), repo=LocalFetcher(str(root)))  # S3: ambient credentials
    try:
        validation = load_validation_set(m.validation.dataset, fetchers)
    except ComparisonDataError as exc:
        return _error("data error", str(exc))
    payloads, skipped = payloads_from(m.contract, validation.table, spread(validation.n_rows, rows))
    lines = "".join(json.dumps(p, sort_keys=False) + "\n" for p in payloads)
    if write:
        dest = Path(root) / target
        real_root = Path(root).resolve()
        if dest.is_symlink() or not dest.parent.resolve().is_relative_to(real_root) \
                or (dest.exists() and not dest.resolve().is_relative_to(real_root)):
            return _error("usage error", f"{target}: a symbolic link or a path leading out of the repository "
                                         f"{real_root}: not written")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.parent.resolve().is_relative_to(real_root):
            return _error("usage error", f"{target}: leads out of the repository {real_root}: not written")
        dest.write_text(lines)
    else:
        sys.stdout.write(lines)
    sys.stderr.write(render("cli/samples.txt.j2", kept=len(payloads), skipped=skipped, location=validation.location,
                            n_rows=validation.n_rows, written=target if write else None))
    return 0 if payloads else 1


def _error(kind: str, message: str) -> int:
    sys.stderr.write(render("cli/samples_error.txt.j2", kind=kind, message=message))
    return 2
