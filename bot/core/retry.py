"""Exponential backoff, shared by the worker (delivery retries) and the deploy feature (owed reports)."""

from __future__ import annotations

BACKOFF_BASE = 2.0
BACKOFF_CAP = 600.0


def backoff(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Seconds to wait after the given failed attempt (1-based): base, 2*base, 4*base ... cap."""
    return min(cap, base * (2 ** (attempt - 1)))
