"""Pull requests that change model manifests: every event that can change the report refreshes
it (`bot.app.services.pull_report.refresh_pull`); a closed pull request lets go of its locks."""

from __future__ import annotations

import logging

from bot.app.router import Router
from bot.app.services.pull_report import refresh_pull

router = Router()
log = logging.getLogger(__name__)


@router.register("pull_request", "opened", "synchronize", "reopened", "ready_for_review")
def on_pull_request(ctx, delivery) -> None:
    p = delivery.payload
    refresh_pull(ctx, p["repository"]["full_name"], p["pull_request"])


@router.register("pull_request", "closed")
def on_closed(ctx, delivery) -> None:
    """A closed pull request lets go of its endpoint locks (a merged one hands over to its deploy)."""
    p = delivery.payload
    holder = f"{p['repository']['full_name']}#{p['pull_request']['number']}"
    released = ctx.store.release_locks_of(holder)
    if released:
        log.info("locks released", extra={"holder": holder, "locks": released})


@router.register("pull_request_review", "submitted", "edited", "dismissed")
def on_review(ctx, delivery) -> None:
    p = delivery.payload
    refresh_pull(ctx, p["repository"]["full_name"], p["pull_request"])
