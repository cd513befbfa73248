"""The merge queue: `merge_group.checks_requested` asks for the required checks on a merge
group's head (`gh-readonly-queue/<base>/pr-<number>-<sha>`); modelbot answers with
`modelbot/validate`, `modelbot/approval` and `modelbot/compare` there
(`bot.app.services.pull_report.check_merge_group`), so a protected branch that requires them
can use a merge queue.

Nothing deploys here: the queue's merge reaches the base branch as a push and closes the pull
request as merged, and that `pull_request.closed` deploys, exactly once, like any merge
(`bot.app.features.deploys`).
"""

from __future__ import annotations

import logging

from bot.adapters.github.pulls import get_pull
from bot.app.router import Router
from bot.app.services.pull_report import check_merge_group, queued_pull_number

router = Router()
log = logging.getLogger(__name__)


@router.register("merge_group", "checks_requested")
def on_checks_requested(ctx, delivery) -> None:
    p = delivery.payload
    group, repo = p.get("merge_group") or {}, p.get("repository") or {}
    full_name, head_sha = repo.get("full_name"), group.get("head_sha")
    number = queued_pull_number(group.get("head_ref"))
    if not full_name or not head_sha or number is None:
        log.warning("merge group not checked: no repository, head or pull request in it",
                    extra={"repository": full_name, "head_ref": group.get("head_ref")})
        return
    # what a re-run of these checks may act on (bot.app.features.commands._rerun): a real group head
    if not any(e.kind == "merge_group" for e in ctx.store.ledger(repository=full_name, commit_sha=head_sha)):
        ctx.store.append_ledger("merge_group", repository=full_name, environment="*", commit_sha=head_sha,
                                pr_number=number, data={"pr": number, "head_ref": group.get("head_ref")})
    pr = get_pull(ctx.github.requester, full_name, number)
    if pr.get("state") != "open":
        log.info("merge group of a closed pull request not checked", extra={"repository": full_name,
                                                                            "number": number})
        return
    check_merge_group(ctx, full_name, pr, head_sha, group.get("base_sha") or pr["base"]["sha"])
