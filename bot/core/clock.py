"""The one clock. Everything that needs 'now' asks here, so tests can move time."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
