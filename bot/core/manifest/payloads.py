"""One payload held to a contract's input fields (used by the manifest's rules for inline samples
and by `bot.core.contract` for samples files): pure, no imports of the manifest's models."""

from __future__ import annotations

import json
import math
from typing import Any, Mapping


EXACT_INT = 2 ** 53  # integers beyond this are not exact as JSON numbers read by most callers (doubles)


def _shown(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > EXACT_INT:
        text = f"an integer of {len(str(abs(value)))} digits"
    else:
        try:
            text = json.dumps(value) if not isinstance(value, str) else repr(value)
        except (ValueError, TypeError, RecursionError):
            text = type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def number_problem(value: Any, what: str = "a number") -> str | None:
    """Why a numeric value cannot be judged: not finite, or an integer too large to be exact."""
    if isinstance(value, int):
        return f"{_shown(value)} is too large (beyond 2^53)" if abs(value) > EXACT_INT else None
    return None if math.isfinite(value) else f"{_shown(value)} is not a finite number"


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def value_problem(f, value: Any) -> str | None:
    """Why `value` does not fit field `f` (None: it fits). None/absent is judged by the caller."""
    if f.type == "boolean":
        return None if isinstance(value, bool) else f"{_shown(value)} is not a boolean"
    if f.type == "string":
        if not isinstance(value, str):
            return f"{_shown(value)} is not a string"
        if f.categories is not None and value not in f.categories:
            allowed = ", ".join(f.categories[:10]) + (", ..." if len(f.categories) > 10 else "")
            return f"{_shown(value)} is not an allowed category ({allowed})"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{_shown(value)} is not {_a(f.type)}"
    why = number_problem(value)
    if why:
        return why
    if f.type == "integer" and float(value) != int(value):
        return f"{_shown(value)} is not an integer"
    if f.min is not None and value < f.min:
        return f"{value:g} is below the minimum {f.min:g}"
    if f.max is not None and value > f.max:
        return f"{value:g} is above the maximum {f.max:g}"
    return None


def payload_problems(inp, payload: Mapping[str, Any]) -> list[str]:
    """Everything wrong with one payload: unknown fields, missing required ones, bad values."""
    out = []
    known = {f.name for f in inp.fields}
    for name in payload:
        if name not in known:
            out.append(f"field {name!r} is not in the contract's input")
    for f in inp.fields:
        value = payload.get(f.name)
        if value is None:
            if f.required:
                out.append(f"field {f.name!r} is required but " + ("null" if f.name in payload else "missing"))
            continue
        why = value_problem(f, value)
        if why:
            out.append(f"field {f.name!r}: {why}")
    return out


