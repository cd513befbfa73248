"""The comparison's own events: a scheduled poll of batch transform jobs, and a closed pull
request whose comparisons nobody needs any more. The comparison itself is
`bot.app.services.pull_comparison`, run by every refresh of the report."""

from __future__ import annotations

import logging

from bot.adapters.cache import ComparisonCache, pull_ref
from bot.app.router import Router
from bot.app.services.pull_comparison import POLL_EVENT, release_pull
from bot.app.services.pull_report import refresh_pull

router = Router()
log = logging.getLogger(__name__)


@router.register("pull_request", "closed")
def on_closed(ctx, delivery) -> None:
    """A closed pull request (merged or not) needs no comparison: stop its batch transform jobs."""
    p = delivery.payload
    release_pull(ctx, p["repository"]["full_name"], p["pull_request"]["number"], needed=set(),
                 reason="the pull request was closed")


@router.register(POLL_EVENT, "poll")
def on_compare_poll(ctx, delivery) -> None:
    """A scheduled poll of a comparison's batch transform jobs (bot.app.services.pull_comparison.schedule_poll):
    refresh the pull request, which polls them."""
    p = delivery.payload
    full_name, number = p["repository"]["full_name"], p["number"]
    row = ComparisonCache(ctx.store).get(p["key"]) if p.get("key") else None
    if p.get("key") and (row is None or row.status != "pending"):
        return  # finished by an earlier refresh, or superseded (its jobs stopped): nothing to poll
    # The pull request that scheduled the poll, else another one of the repository whose head
    # needs the same jobs (this one moved on): its refresh polls them and schedules the next poll.
    numbers = [number]
    if row is not None and pull_ref(full_name, number) not in row.pulls:
        numbers = [int(ref.rsplit("#", 1)[1]) for ref in row.pulls if ref.rsplit("#", 1)[0] == full_name]
    for n in numbers:
        _, pr = ctx.github.requester.requestJsonAndCheck("GET", f"/repos/{full_name}/pulls/{n}")
        if pr.get("state") == "open":
            refresh_pull(ctx, full_name, pr)
            return
