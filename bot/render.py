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
