"""modelbot as a custom deployment protection rule (a GitHub Environment's rule): answers
`deployment_protection_rule.requested` with approved or rejected (`bot.core.protection_rule.judge`)
through the run's `deployment_callback_url`, and records the answer in the ledger.

The callback is sent only to this App's GitHub API (the URL's scheme and host must be the App's
`base_url`, its path the review endpoint of the delivery's own repository): a delivery cannot make
the bot send its installation token anywhere else. A second delivery of the same request is
answered again; GitHub refuses a review it already has (422), which is fine.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from github import GithubException

from bot.app.router import Router
from bot.app.services.approvals import APPROVAL_CHECK
from bot.core.clock import utcnow
from bot.core.protection_rule import PullFacts, judge
from bot.core.render import render

router = Router()
log = logging.getLogger(__name__)

_REVIEW_PATH = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/actions/runs/(?P<run>[0-9]+)/deployment_protection_rule$")


def _callback_run(url: str, base_url: str, full_name: str) -> int | None:
    """The workflow run of the review endpoint when `url` is this App's API for this repository,
    else None."""
    got, base = urlsplit(url or ""), urlsplit(base_url)
    if (got.scheme, got.netloc) != (base.scheme, base.netloc) or got.query or got.fragment:
        return None
    path = got.path[len(base.path.rstrip("/")):] if got.path.startswith(base.path.rstrip("/") + "/") else None
    m = _REVIEW_PATH.match(path or "")
    if m is None or m["repo"].lower() != full_name.lower():
        return None
    return int(m["run"])


def _approval(requester, full_name: str, head_sha: str, app_id: str) -> str | None:
    """The conclusion of this App's latest modelbot/approval run on `head_sha` (None: none)."""
    _, data = requester.requestJsonAndCheck(
        "GET", f"/repos/{full_name}/commits/{head_sha}/check-runs",
        parameters={"check_name": APPROVAL_CHECK, "app_id": app_id, "filter": "latest", "per_page": 10})
    runs = [r for r in data.get("check_runs") or [] if str((r.get("app") or {}).get("id")) == app_id]
    if not runs:
        return None
    run = runs[0]
    return run.get("conclusion") or run.get("status")


def _pulls(requester, full_name: str, sha: str, listed: list) -> list[dict]:
    """The pull requests the commit came through: the run's own, else those GitHub associates
    with the commit (a merged one made it)."""
    if listed:
        return listed
    _, data = requester.requestJsonAndCheck("GET", f"/repos/{full_name}/commits/{sha}/pulls",
                                            parameters={"per_page": 10})
    return [p for p in data or [] if p.get("merged_at") or p.get("state") == "open"]


@router.register("deployment_protection_rule", "requested")
def on_protection_rule(ctx, delivery) -> None:
    p = delivery.payload
    full_name = (p.get("repository") or {}).get("full_name")
    environment, sha = p.get("environment"), (p.get("deployment") or {}).get("sha")
    if not full_name or not environment or not sha:
        log.warning("deployment protection rule not answered: no repository, environment or commit",
                    extra={"repository": full_name})
        return
    run = _callback_run(p.get("deployment_callback_url") or "", ctx.api_url, full_name)
    if run is None:
        log.warning("deployment protection rule not answered: the callback URL is not this App's API for "
                    "the repository", extra={"repository": full_name, "environment": environment})
        return
    requester = ctx.github.requester
    facts = []
    for pr in _pulls(requester, full_name, sha, p.get("pull_requests") or []):
        hold = ctx.store.hold(full_name, pr["number"])
        head = (pr.get("head") or {}).get("sha") or sha
        facts.append(PullFacts(pr["number"], hold.held_by if hold is not None else None,
                               _approval(requester, full_name, head, ctx.app_id)))
    verdict = judge(environment=environment, known_environments=ctx.settings.server.environments,
                    policy=ctx.settings.policy, now=utcnow(), pulls=facts)
    comment = render("protection_rule/comment.md.j2", state=verdict.state, environment=environment, sha=sha,
                     reasons=verdict.reasons).strip()
    try:
        requester.requestJsonAndCheck("POST", f"/repos/{full_name}/actions/runs/{run}/deployment_protection_rule",
                                      input={"environment_name": environment, "state": verdict.state,
                                             "comment": comment[:65536]})
    except GithubException as exc:
        if exc.status != 422:  # 422: already reviewed (a redelivery)
            raise
    ctx.store.append_ledger("protection_rule", repository=full_name, environment=environment, commit_sha=sha,
                            data={"state": verdict.state, "reasons": list(verdict.reasons),
                                  "pulls": [f.number for f in facts], "run": run})
