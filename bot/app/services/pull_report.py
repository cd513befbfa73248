"""The pull request report: one comment, the validate and approval checks, the comparison.

`refresh_pull` drives a pull request to show the truth about its head commit: it reads the
changed manifests (a bounded number of requests), reviews them (validation, policy, plan),
evaluates approvals from the base branch, and makes GitHub show the result — one report,
edited in place, and the `modelbot/validate` and `modelbot/approval` check runs. Every event
that can change any of it calls the same function; running it twice changes nothing.
Draft pull requests get validation only.
"""

from __future__ import annotations

import logging

from bot.adapters.github.checks import publish_check_run
from bot.adapters.github.comments import sync_comments
from bot.adapters.github.protection import protection_section
from bot.app.services.approvals import APPROVAL_CHECK, approval_check
from bot.app.services.gate import gather, pr_gate
from bot.app.services.progress import rollout_section
from bot.app.services.pull_comparison import compare_pull
from bot.app.services.rollouts import lock_key
from bot.core.approvals import render_approvals
from bot.core.clock import utcnow
from bot.core.render import render
from bot.core.report import PullInfo, Section, part_of, report_comments, validate_check

log = logging.getLogger(__name__)

VALIDATE_CHECK = "modelbot/validate"


def pull_info(full_name: str, pr: dict):
    return PullInfo(repository=full_name, number=pr["number"], head_sha=pr["head"]["sha"],
                    base_ref=pr["base"]["ref"], draft=bool(pr.get("draft")))


def foreign_locks(store, result, holder: str) -> list:
    """Locks on this PR's endpoints held by someone else: the PR waits for them."""
    out = []
    for m in result.manifests:
        for e in m.environments:
            endpoint = e.plan.names.endpoint if e.plan else None
            if not endpoint or e.plan.kind == "run_batch":
                continue
            row = store.lock(lock_key(e.environment, endpoint))
            if row is not None and row.holder != holder:
                out.append(row)
    return out


def refresh_pull(ctx, full_name: str, pr: dict, force_compare: bool = False):
    """Bring the PR's report and checks up to date; returns (review, approval results)."""
    if pr.get("state") != "open":
        return None, []
    settings = ctx.settings
    pull = pull_info(full_name, pr)
    requester = ctx.github.requester
    state = gather(requester=requester, store=ctx.store, settings=settings, live_reader=ctx.live_reader,
                   reader=ctx.repo_reader(full_name), full_name=full_name, pr=pr, head_sha=pull.head_sha,
                   base_sha=pr["base"]["sha"], commit=pull.head_sha, plan=not pull.draft,
                   held=ctx.store.hold(full_name, pull.number) is not None, now=utcnow())
    result = state.result
    approvals = state.all_approvals
    sections = []
    if approvals:
        sections.append(Section("Approvals", render_approvals(approvals)))

    # --- baseline comparison (bot/app/services/pull_comparison.py): report section + modelbot/compare check.
    # force_compare (the /validate command) recomputes instead of taking the cached result.
    comparison = compare_pull(ctx, pull, result, force=force_compare)
    sections.extend(comparison.sections)
    # --- end of baseline comparison

    if not pull.draft and result.touches_targets:
        decisions = pr_gate(state, comparison.outcomes, settings)
        if decisions:
            sections.append(Section("Deploy gate", render("report/gate.md.j2", decisions=decisions,
                                                          policy=settings.gate, notes=state.notes)))
    if result.touches_targets or state.ownership is not None:  # branch protection: the second lock
        protection = protection_section(requester, full_name, pull.base_ref)
        if protection is not None:
            sections.append(protection)
    locks = foreign_locks(ctx.store, result, f"{full_name}#{pull.number}")
    if locks:
        sections.insert(0, Section("Endpoint locks", render("report/locks.md.j2", locks=locks)))
    rollout = rollout_section(ctx.store, full_name, pull.number)  # pre-merge deploys keep their table
    if rollout is not None:
        sections.append(rollout)
    touches = result.touches_targets or state.ownership is not None
    bodies = report_comments(result, pull, tuple(sections))
    # A PR that touches no manifest gets no new comment (no noise), but a report it already has
    # is brought up to date (its manifests may have been taken out of the PR).
    sync_comments(requester, full_name, pull.number, ctx.bot_login,
                  {i: body for i, body in enumerate(bodies, 1)}, part_of, create_missing=touches)
    publish_check_run(requester, full_name, pull.head_sha, VALIDATE_CHECK, validate_check(result, pull))
    publish_check_run(requester, full_name, pull.head_sha, APPROVAL_CHECK,
                      approval_check(approvals, result.touches_targets, state.unreadable))
    comparison.publish()  # modelbot/compare (bot/app/services/pull_comparison.py)
    log.info("pull request refreshed", extra={"repository": full_name, "number": pull.number,
                                             "manifests": len(result.manifests), "errors": len(result.errors),
                                             "approved": bool(approvals) and all(a.satisfied for a in approvals)})
    return result, approvals
