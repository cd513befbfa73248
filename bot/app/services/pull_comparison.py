"""Baseline comparison in pull requests: the "Model comparison" report section and the
`modelbot/compare` check run (called by `bot.app.services.pull_report.refresh_pull`).

`compare_pull(ctx, pull, review, force=...)` is called by `refresh_pull` after the review: for
each valid manifest with a `validation:` section it compares the candidate with the model live
in the manifest's first production environment (deploy order; else its first environment),
taking the result from the cache when nothing it depends on changed. `PullComparison.publish`
drives the check run: `in_progress` with a summary while work runs (published before local
scoring starts, kept while batch transform jobs run), then completed.

Check-run conclusions:

    every gate passes                              success
    a gate fails (significantly worse), a broken   failure   (branch protection blocks the merge)
    contract, or the comparison could not run
    (bad data, unreachable object, refused pickle)
    inconclusive (too few rows, straddling          neutral   (passes branch protection; the
    interval, unjudgeable gate, changed inputs)               summary says a person should look)
    batch transform running                        in_progress (no conclusion yet)
    nothing to compare                             success   ("No model comparison configured")

Draft pull requests get no comparison (validation only) and no compare check.

Batch transform is never waited for: the first refresh starts the jobs and records an internal
delivery (`modelbot_compare.poll`) in the store, enqueued with a delay. The worker runs it like
any delivery (lease, retry, reaper); its handler refreshes the pull request, which polls the
jobs once (DescribeTransformJob) and either completes the comparison or records the next poll,
backing off from `compare.batch_poll_seconds` to 15 minutes, until `batch_timeout_seconds`.

Jobs nobody waits for are stopped: every refresh releases the pending comparisons that earlier
heads of the pull request started and its head no longer needs (a push changed the model, the
data or the spec; a manifest left the pull request), and closing the pull request releases all
of its own. A comparison shared with another head or pull request (same cache key) is kept
while one still needs it; the last release stops its jobs (StopTransformJob, best effort) and
marks the row `superseded`, and a scheduled poll of it then does nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass, field

from bot.adapters.aws import batch
from bot.adapters.aws.session import client
from bot.adapters.cache import ComparisonCache
from bot.adapters.github.checks import latest_check_run, publish_check_run
from bot.adapters.sources import TRANSIENT, RepoFetcher
from bot.app.services.comparison import (
    ERROR,
    CompareOutcome,
    Sessions,
    compare_manifest,
    compared_manifests,
    make_deps,
    plan_comparison,
)
from bot.core.check_actions import compare_offers, github_actions
from bot.core.clock import utcnow
from bot.core.redact import scrub
from bot.core.render import render
from bot.core.report import CHECK_TEXT_LIMIT, CheckOutput, Section

log = logging.getLogger(__name__)

COMPARE_CHECK = "modelbot/compare"
POLL_EVENT = "modelbot_compare"
MAX_POLL_DELAY = 900


@dataclass
class PullComparison:
    """The comparisons of one refresh and how to show them."""

    outcomes: list = field(default_factory=list)
    reason: str = ""
    publisher: "CheckPublisher | None" = None
    skipped: bool = False  # draft: nothing is published
    buttons: bool = True   # Re-run comparison on the finished check (not on a merge group's head)

    @property
    def sections(self) -> tuple:
        if not self.outcomes:
            return ()
        return (Section("Model comparison", render("compare/section.md.j2", outcomes=self.outcomes)),)

    @property
    def pending(self) -> bool:
        return any(o.verdict == "pending" for o in self.outcomes)

    def publish(self) -> None:
        if self.skipped or self.publisher is None:
            return
        if self.pending and not any(o.verdict in ("fail", "error") for o in self.outcomes):
            self.publisher.running(self.outcomes)
        else:
            self.publisher.complete(compare_check(self.outcomes, self.reason, buttons=self.buttons))


def compare_check(outcomes: list, reason: str = "", *, buttons: bool = False):
    """The `modelbot/compare` check run's completed output (see the module docstring); with
    `buttons`, a finished comparison offers Re-run comparison (`/validate`)."""
    verdicts = {o.verdict for o in outcomes}
    if verdicts & {"fail", "error"}:
        conclusion = "failure"
    elif "inconclusive" in verdicts or "pending" in verdicts:
        conclusion = "neutral"
    else:
        conclusion = "success"
    title = render("compare/check_title.txt.j2", outcomes=outcomes).strip()
    summary = render("compare/check_summary.md.j2", outcomes=outcomes, reason=reason)
    if len(summary) > CHECK_TEXT_LIMIT:
        note = "\n\n… (cut at GitHub's limit; the PR report has every comparison)"
        summary = summary[: CHECK_TEXT_LIMIT - len(note)] + note
    offers = compare_offers(buttons and bool(outcomes) and "pending" not in verdicts)
    actions = tuple(github_actions(offers))
    text = render("checks/actions.md.j2", offers=offers, labels=[a["label"] for a in actions],
                  deploy_check=False).strip()
    return CheckOutput(conclusion, title[:255], summary, text, actions=actions)


class CheckPublisher:
    """The `modelbot/compare` run on one commit: in_progress while work runs, then completed,
    as one run (created once, then updated), idempotent across refreshes."""

    TITLE = "Comparing with the model in production"

    def __init__(self, requester, full_name: str, head_sha: str):
        self.requester, self.full_name, self.head_sha = requester, full_name, head_sha
        self.run_id: int | None = None

    def _latest(self) -> dict | None:
        return latest_check_run(self.requester, self.full_name, self.head_sha, COMPARE_CHECK)

    def _write(self, status: str, summary: str, title: str) -> None:
        body = {"status": status, "output": {"title": title, "summary": summary}}
        if self.run_id is None:
            latest = self._latest()
            if latest is not None and latest.get("status") != "completed":
                self.run_id = latest["id"]
                output = latest.get("output") or {}
                if output.get("summary") == summary and output.get("title") == title:
                    return
        if self.run_id is None:
            _, run = self.requester.requestJsonAndCheck(
                "POST", f"/repos/{self.full_name}/check-runs",
                input={"name": COMPARE_CHECK, "head_sha": self.head_sha, **body})
            self.run_id = run["id"]
        else:
            self.requester.requestJsonAndCheck("PATCH", f"/repos/{self.full_name}/check-runs/{self.run_id}",
                                               input=body)

    def progress(self, message: str, outcomes=()) -> None:
        """Say that work started (once per refresh: later steps do not write again)."""
        if self.run_id is not None:
            return

        self._write("in_progress", render("compare/progress.md.j2", message=message, outcomes=list(outcomes)),
                    self.TITLE)

    def running(self, outcomes: list) -> None:
        title = render("compare/check_title.txt.j2", outcomes=outcomes).strip()[:255]
        self._write("in_progress", render("compare/check_summary.md.j2", outcomes=outcomes, reason=""), title)

    def complete(self, out) -> None:
        if self.run_id is None:
            latest = self._latest()
            if latest is not None and latest.get("status") != "completed":
                self.run_id = latest["id"]
        if self.run_id is None:
            publish_check_run(self.requester, self.full_name, self.head_sha, COMPARE_CHECK, out)
            return
        self.requester.requestJsonAndCheck(
            "PATCH", f"/repos/{self.full_name}/check-runs/{self.run_id}",
            input={"status": "completed", "conclusion": out.conclusion,
                   "output": {"title": out.title, "summary": out.summary, "text": out.text},
                   **({"actions": list(out.actions)} if out.actions else {})})


def compare_pull(ctx, pull, review, *, force: bool = False, merge_group: bool = False) -> PullComparison:
    """Compare every manifest of the review that has a `validation:` section (see module doc).

    `merge_group`: `pull.head_sha` is a merge group's head (the merge queue), not the pull
    request's: the same comparison (usually the cached result of the pull request's own), but
    the pull request's pending comparisons are left alone and no button is offered."""
    if pull.draft:
        return PullComparison(skipped=True)
    publisher = CheckPublisher(ctx.github.requester, pull.repository, pull.head_sha)
    todo = compared_manifests(review)
    if not todo:
        reason = ("No changed manifest has a `validation:` section: there is nothing to compare."
                  if review.touches_targets else "This pull request changes no model manifest.")
        if not merge_group:
            release_superseded(ctx, pull, [])
        return PullComparison([], reason, publisher, buttons=not merge_group)
    settings = ctx.settings
    sessions = Sessions(settings)
    cache = ComparisonCache(ctx.store)
    repo = RepoFetcher(ctx.github.requester, pull.repository, pull.head_sha)
    outcomes = []
    for m in todo:
        req = plan_comparison(m, settings=settings, live_reader=ctx.live_reader, repository=pull.repository,
                              commit=pull.head_sha, pr_number=pull.number, force=force)
        if not hasattr(req, "manifest"):  # an outcome already: skipped, or the live model unreadable
            outcomes.append(req)
            continue
        deps = make_deps(settings, req.environment, repo=repo, cache=cache, sessions=sessions,
                         progress=lambda message, o=outcomes: publisher.progress(message, o))
        try:
            outcome = compare_manifest(req, deps)
        except Exception as exc:  # noqa: BLE001 - a bug or an unexpected failure must not cost the report
            log.exception("comparison failed", extra={"repository": pull.repository, "path": m.path})

            outcome = failed_outcome(req, f"the comparison failed unexpectedly ({type(exc).__name__}: "
                                          f"{scrub(str(exc))[:300]}); comment /validate to try again")
        outcomes.append(outcome)
        if outcome.verdict == "pending" and not merge_group:
            schedule_poll(ctx, pull, outcome, deps.config)
    for o in outcomes:
        log.info("comparison", extra={"repository": pull.repository, "number": pull.number, "path": o.path,
                                      "verdict": o.verdict, "cached": o.cached, "problem": o.problem})
    if not merge_group:
        release_superseded(ctx, pull, outcomes, sessions=sessions)
    return PullComparison(outcomes, "", publisher, buttons=not merge_group)


def release_superseded(ctx, pull, outcomes: list, *, sessions=None) -> list[str]:
    """Release the pending comparisons this pull request's head no longer needs (see the module
    docstring). When a comparison of this refresh could not tell which one it needs (a
    transient failure before its key was known), nothing is released: a later refresh decides."""
    if any(o.key is None and o.problem in TRANSIENT for o in outcomes):
        return []
    needed = {o.key for o in outcomes if o.key}
    return release_pull(ctx, pull.repository, pull.number, needed=needed,
                        reason=f"the head moved on to {pull.head_sha[:7]}", sessions=sessions,
                        current_head=pull.head_sha)


def release_pull(ctx, full_name: str, number: int, *, needed: set, reason: str, sessions=None,
                 current_head: str | None = None) -> list[str]:
    """Release this pull request's pending comparisons outside `needed`; stop the jobs of those
    no other pull request needs, and complete the `modelbot/compare` runs still in progress on
    the older heads that waited for them (neutral: not compared). Safe to run twice. Returns the
    stopped jobs' names."""
    cache = ComparisonCache(ctx.store)
    stopped: list[str] = []
    for row in cache.pending_for_pull(full_name, number):
        if row.key in needed:
            continue
        state = cache.release(row.key, full_name, number, reason)
        if state is None:
            continue  # another pull request's head still needs it, or someone released it already
        names = _stop_jobs(ctx, row.environment, state, sessions)
        stopped += names
        for sha in sorted(set(state.get("heads") or [row.commit_sha]) - {current_head}):
            _close_waiting_check(ctx, full_name, sha, reason, row.manifest_path, names, current_head)
        log.info("comparison superseded", extra={"repository": full_name, "number": number, "key": row.key,
                                                 "reason": reason, "stopped": names})
    return stopped


def _close_waiting_check(ctx, full_name: str, sha: str, reason: str, path: str, jobs: list[str],
                         current_head: str | None) -> None:
    """Best effort: an older head's comparison check that still says "in progress" ends neutral."""
    try:
        run = latest_check_run(ctx.github.requester, full_name, sha, COMPARE_CHECK)
        if run is None or run.get("status") == "completed":
            return
        out = CheckOutput("neutral", render("compare/superseded_title.txt.j2", reason=reason).strip(),
                          render("compare/superseded.md.j2", reason=reason, path=path, jobs=jobs,
                                                 current_head=current_head), "")
        publish_check_run(ctx.github.requester, full_name, sha, COMPARE_CHECK, out)
    except Exception as exc:  # noqa: BLE001 - a stale check on an old commit is cosmetic; logged
        log.warning("could not complete a superseded comparison check",
                    extra={"repository": full_name, "sha": sha, "error": f"{type(exc).__name__}: {exc}"[:300]})


def _stop_jobs(ctx, environment: str, state: dict, sessions=None) -> list[str]:
    try:
        sm = client((sessions or Sessions(ctx.settings))(environment), "sagemaker")
    except Exception as exc:  # noqa: BLE001 - best effort: the jobs end by themselves, and nobody reads them
        log.warning("cannot stop superseded batch transform jobs",
                    extra={"environment": environment, "error": f"{type(exc).__name__}: {exc}"[:300],
                           "jobs": [j.get("name") for j in state.get("jobs", {}).values()]})
        return []
    return batch.stop(sm, state)


def failed_outcome(req, message: str):
    spec = req.manifest.validation
    return CompareOutcome(req.path, req.manifest.metadata.name, req.environment, spec.predictions.source, ERROR,
                          ERROR, task=spec.task, error=message, problem="internal", commit=req.commit)


def schedule_poll(ctx, pull, outcome, config) -> None:
    """Record (once) and enqueue, with a delay, the delivery that polls this comparison's jobs."""
    cache = ComparisonCache(ctx.store)
    row = cache.get(outcome.key)
    polls = row.polls if row is not None else 0
    delay = min(config.batch_poll_seconds * (2 ** min(polls, 6)), MAX_POLL_DELAY)
    due = utcnow() + dt.timedelta(seconds=delay)
    if not cache.claim_poll(outcome.key, due):
        return  # a poll is already scheduled; it will schedule the next one
    tag = hashlib.sha256(f"{pull.repository}#{pull.number}:{outcome.key}:{polls}".encode()).hexdigest()[:40]
    payload = {"repository": {"full_name": pull.repository}, "number": pull.number, "key": outcome.key,
               "poll": polls, "installation": {"id": ctx.installation_id}}
    pk = ctx.store.record_delivery(delivery_id=f"compare-poll:{tag}", event=POLL_EVENT, action="poll",
                                   repository=pull.repository, installation_id=ctx.installation_id,
                                   payload=json.dumps(payload))
    if pk is None:
        return  # this very poll was recorded already
    ctx.store.finish(pk, status="queued", retry_at=due)  # the reaper does not ring before it is due
    ctx._runtime.queue.enqueue(pk, delay=delay)
    log.info("comparison poll scheduled", extra={"repository": pull.repository, "number": pull.number,
                                                 "poll": polls, "delay_s": delay})
