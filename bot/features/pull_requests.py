"""Pull requests that change model manifests: the report comment and the validate check run.

On opened / synchronize / reopened / ready_for_review the handler reads the changed manifests
(a bounded number of requests), reviews them (validation, policy, plan) and drives the PR to
show the result: one report, edited in place, and the `modelbot/validate` check run. Draft pull
requests get validation only. Running it twice for one head commit changes nothing.
"""

from __future__ import annotations

import logging

from ..clock import utcnow
from ..router import Router

# Feature modules are imported by the web process too (for the routing table), so what the
# handlers need beyond the router is imported inside them: the web path stays light.

router = Router()
log = logging.getLogger(__name__)

VALIDATE_CHECK = "modelbot/validate"


def pull_info(payload: dict):
    from ..report import PullInfo

    pr = payload["pull_request"]
    return PullInfo(repository=payload["repository"]["full_name"], number=pr["number"],
                    head_sha=pr["head"]["sha"], base_ref=pr["base"]["ref"], draft=bool(pr.get("draft")))


def manifest_changes(reader, pull, base_sha: str, globs: list[str]):
    """The changed files that are manifests, with head content (base content for removals)."""
    from ..manifest import select_manifests
    from ..review import ManifestChange

    files = reader.changed_files(pull.number)
    changed = []
    for f in files:
        if select_manifests([f.path], globs):
            status = f.status if f.status in ("added", "removed", "renamed") else "modified"
            changed.append((f.path, status, f.previous_path))
        elif f.status == "renamed" and f.previous_path and select_manifests([f.previous_path], globs):
            # Moved out of the manifest globs: for the bot, the manifest was removed.
            changed.append((f.previous_path, "removed", None))
    head_paths = [p for p, st, _ in changed if st != "removed"]
    base_paths = [p for p, st, _ in changed if st == "removed"]
    head = reader.read(pull.head_sha, head_paths)
    base = reader.read(base_sha, base_paths)
    return [ManifestChange(path, status, head.get(path), base.get(path), prev) for path, status, prev in changed]


@router.register("pull_request", "opened", "synchronize", "reopened", "ready_for_review")
def report(ctx, delivery) -> None:
    from ..github.checks import publish_check_run
    from ..github.comments import sync_comments
    from ..report import part_of, report_comments, validate_check
    from ..review import review

    payload = delivery.payload
    if payload["pull_request"].get("state") != "open":
        return
    pull = pull_info(payload)
    settings = ctx.settings
    reader = ctx.repo_reader(pull.repository)
    changes = manifest_changes(reader, pull, payload["pull_request"]["base"]["sha"], settings.server.manifest_globs)
    result = review(
        changes, known_environments=settings.server.ordered_environments(), policy=settings.policy,
        commit=pull.head_sha, now=utcnow(), live_reader=ctx.live_reader, prices=settings.server.prices,
        plan_deploys=not pull.draft, config_source=settings.config_path)
    requester = ctx.github.requester
    bodies = report_comments(result, pull)
    # A PR that touches no manifest gets no new comment (no noise), but a report it already has
    # is brought up to date (its manifests may have been taken out of the PR).
    sync_comments(requester, pull.repository, pull.number, ctx.bot_login,
                  {i: body for i, body in enumerate(bodies, 1)}, part_of, create_missing=result.touches_targets)
    publish_check_run(requester, pull.repository, pull.head_sha, VALIDATE_CHECK, validate_check(result, pull))
    log.info("pull request reviewed", extra={"repository": pull.repository, "number": pull.number,
                                            "manifests": len(result.manifests), "errors": len(result.errors)})

