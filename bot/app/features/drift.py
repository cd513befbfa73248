"""Drift, checked by the worker on a schedule (`drift_interval_seconds`, default hourly): every
endpoint modelbot owns against its repository's default branch and the ledger, reported in one
issue per repository (bot/app/services/drift.py). One worker runs a cycle: it holds the store's
`drift` lock for the interval, so other workers (and other reaper rounds) skip until it runs out."""

from __future__ import annotations

import uuid

from bot.app.router import Router
from bot.app.services.drift import reconcile

router = Router()
LOCK = "drift"


@router.periodic
def drift_cycle(runtime) -> int:
    """The reaper's round: a drift cycle when one is due; returns the findings reported."""
    interval = runtime.settings.server.drift_interval_seconds
    if not interval or runtime.github_app is None:
        return 0
    taken, _ = runtime.store.acquire_lock(LOCK, f"drift:{uuid.uuid4().hex}", interval)
    if not taken:
        return 0
    return sum(len(r.findings) for r in reconcile(runtime))
