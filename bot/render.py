"""The one place that renders text for people: jinja2 templates under bot/templates."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("bot", "templates"), undefined=StrictUndefined,
                      autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["fromjson"] = _fromjson
    return env


def _fromjson(text):
    import json

    try:
        return json.loads(text or "{}")
    except ValueError:
        return {}


def render(name: str, **values) -> str:
    return environment().get_template(name).render(**values)


def short_text(text: str, limit: int) -> str:
    """`text` within `limit` characters for a field GitHub bounds (a Deployment status
    description takes 140): whole clauses first ("; " ends one), else whole words, with an
    ellipsis; the start of a reason is what matters (what failed, which alarm)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    clauses = text.split("; ")
    kept = clauses[0]
    for clause in clauses[1:]:
        if len(kept) + 2 + len(clause) + 1 > limit:
            break
        kept += "; " + clause
    if len(kept) + 1 <= limit and kept != text:
        return kept + "…"
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:(") + "…"
