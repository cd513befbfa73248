"""Structured JSON logs carrying the delivery id, with secrets scrubbed before output."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from contextlib import contextmanager
from typing import Iterable

from bot.core import redact as _redact

delivery_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("delivery_id", default=None)

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def add_redactions(values: Iterable[str]) -> None:
    """Register secret values that must never appear in a log line or a stored error."""
    _redact.register(values)


def scrub(text: str) -> str:
    """`text` as it may be logged or stored: see `bot.core.redact` (query tokens, Authorization
    values, GitHub/AWS credentials, PEM keys, JWTs and every registered secret are `***`)."""
    return _redact.scrub(text)


class JsonFormatter(logging.Formatter):
    # The last second formatted and its text, one tuple (swapped whole, so a thread never reads
    # one second's number with another's text): one strftime a second instead of one a line.
    _second: tuple[int, str] = (-1, "")

    def _timestamp(self, created: float, msecs: float) -> str:
        second, text = self._second
        if int(created) != second:
            second = int(created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        # Each text is scrubbed before JSON escapes it (a secret holding `"` or `\` would no
        # longer match once escaped), and the whole line again after.
        out = {
            "ts": self._timestamp(record.created, record.msecs),
            "level": record.levelname.lower(),
            "logger": scrub(record.name),
            "msg": scrub(record.getMessage()),
        }
        did = delivery_id_var.get()
        if did:
            out["delivery_id"] = scrub(did)
        for key, value in vars(record).items():
            if key not in _STANDARD and key[:1] != "_":
                out[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        return scrub(json.dumps(out, default=str))


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("urllib3", "botocore", "huey.consumer.Scheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def delivery_context(delivery_id: str | None):
    token = delivery_id_var.set(delivery_id)
    try:
        yield
    finally:
        delivery_id_var.reset(token)
