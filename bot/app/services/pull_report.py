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
import re

from bot.adapters.github.checks import publish_check_run
from bot.adapters.github.comments import sync_comments
from bot.adapters.github.pacer import superseding
from bot.adapters.github.protection import protection_section
from bot.app.services.approvals import APPROVAL_CHECK, approval_check
from bot.app.services.gate import gather, pr_gate
from bot.app.services.progress import rollout_section
from bot.app.services.model_age import model_age_section
from bot.app.services.pull_comparison import compare_pull
from bot.app.services.rollouts import lock_key
from bot.core.approvals import render_approvals
from bot.core.clock import utcnow
from bot.core.render import render
from bot.core.report import PullInfo, Section, part_of, report_comments, validate_check

log = logging.getLogger(__name__)

VALIDATE_CHECK = "modelbot/validate"
# GitHub's merge group refs: refs/heads/gh-readonly-queue/{base branch}/pr-{number}-{base sha}
QUEUE_REF = re.compile(r"^(?:refs/heads/)?gh-readonly-queue/(?P<base>.+)/pr-(?P<number>\d{1,10})-(?P<sha>[0-9a-f]{40})$")


def queued_pull_number(ref: str | None) -> int | None:
    """The pull request a merge group's ref (or branch) names, the group's newest entry; else None."""
    match = QUEUE_REF.match(ref or "")
    return int(match.group("number")) if match else None


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
    if not pull.draft and result.touches_targets:
        age = model_age_section(ctx.store, ctx.live_reader, full_name, result, utcnow())
        if age is not None:
            sections.append(age)
    rollout = rollout_section(ctx.store, full_name, pull.number)  # pre-merge deploys keep their table
    if rollout is not None:
        sections.append(rollout)
    touches = result.touches_targets or state.ownership is not None
    bodies = report_comments(result, pull, tuple(sections))
    # A PR that touches no manifest gets no new comment (no noise), but a report it already has
    # is brought up to date (its manifests may have been taken out of the PR).
    # A newer refresh of this PR that reaches its report while this one waits for the pacer
    # replaces it: this one's report is then not written (bot.adapters.github.pacer).
    with superseding(requester, f"report:{full_name}#{pull.number}"):
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


def check_merge_group(ctx, full_name: str, pr: dict, head_sha: str, base_sha: str, force_compare: bool = False):
    """The merge queue's required checks on a merge group's head: `modelbot/validate`,
    `modelbot/approval` and `modelbot/compare` for the pull request the group merges, its
    manifests read at the group's head against the group's base (the base branch with the pull
    requests queued ahead), its approvals those of its reviewed head. No report comment: the pull
    request's own report stays about its head. Safe to run twice."""
    settings = ctx.settings
    requester = ctx.github.requester
    pull = PullInfo(repository=full_name, number=pr["number"], head_sha=head_sha, base_ref=pr["base"]["ref"])
    state = gather(requester=requester, store=ctx.store, settings=settings, live_reader=ctx.live_reader,
                   reader=ctx.repo_reader(full_name), full_name=full_name, pr=pr, head_sha=pr["head"]["sha"],
                   base_sha=base_sha, commit=head_sha, plan=True,
                   held=ctx.store.hold(full_name, pull.number) is not None, now=utcnow())
    result = state.result
    comparison = compare_pull(ctx, pull, result, force=force_compare, merge_group=True)
    publish_check_run(requester, full_name, head_sha, VALIDATE_CHECK, validate_check(result, pull))
    publish_check_run(requester, full_name, head_sha, APPROVAL_CHECK,
                      approval_check(state.all_approvals, result.touches_targets, state.unreadable))
    comparison.publish()
    log.info("merge group checked", extra={"repository": full_name, "number": pull.number, "sha": head_sha,
                                           "manifests": len(result.manifests), "errors": len(result.errors)})
    return result, state.all_approvals
