"""The one place that renders text for people: jinja2 templates under bot/templates.

Every value a template shows (`{{ ... }}`) goes through `bot.core.redact.scrub` first, so an
exception's text in a comment, a check run or a command reply (a presigned S3 URL, a `?token=`
link, an `Authorization:` value, a GitHub or AWS credential, any registered secret) is `***`
on GitHub as in the logs and stored errors."""

from __future__ import annotations

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
import json
from bot.core.redact import scrub


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("bot", "templates"), undefined=StrictUndefined,
                      autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      finalize=_redacted)
    env.filters["fromjson"] = _fromjson
    env.filters["reveal"] = Revealed  # `{{ value | reveal }}`: shown as is, the one way past the redaction
    return env


@lru_cache(maxsize=1)
def html_environment() -> Environment:
    """The status UI's pages (bot/templates/ui/*.html): HTML-escaped, and redacted as the rest."""
    env = Environment(loader=PackageLoader("bot", "templates"), undefined=StrictUndefined,
                      autoescape=True, trim_blocks=True, lstrip_blocks=True, finalize=_redacted)
    env.filters["fromjson"] = _fromjson
    return env


def render_html(name: str, **values) -> str:
    return html_environment().get_template(name).render(**values)


class Revealed(str):
    """Text a template shows unredacted, on purpose (`| reveal`): only for a value meant for the
    person reading it that looks like a secret, such as the local demo's fake installation token."""


def _redacted(value):
    """What a template prints of `value`: text with its secrets redacted (bot.core.redact), the rest as is."""
    if value is None or isinstance(value, (bool, int, float, Revealed)):
        return value
    if isinstance(value, Markup):  # a macro's output, escaped already: redacted, and still markup
        return Markup(scrub(str(value)))
    return scrub(value if isinstance(value, str) else str(value))  # an exception, a dict: as jinja would print it


def _fromjson(text):
    try:
        return json.loads(text or "{}")
    except ValueError:
        return {}


def render(name: str, **values) -> str:
    return environment().get_template(name).render(**values)


def short_text(text: str, limit: int) -> str:
    """`text` within `limit` characters for a field GitHub bounds (a Deployment status
    description takes 140): whole clauses first ("; " ends one), else whole words, with an
    ellipsis; the start of a reason is what matters (what failed, which alarm). Secrets are
    redacted first (bot.core.redact), as in a template."""
    text = " ".join(_redacted(str(text)).split())
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
