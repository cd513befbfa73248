"""The drift reconcile: every endpoint the bot owns, against its repository's default branch and
the ledger (`bot.core.drift`), reported in one GitHub issue per repository that the bot keeps up
to date (`bot.adapters.github.issues.keep_issue`: edited in place, closed when clean), and kept
in the store for the status UI (`Store.replace_drift`: each cycle's findings replace the
repository's previous ones; a cycle that saw nothing but could not read something keeps them).

Per repository and cycle: GitHub reads — the repository (its default branch), the branch's head,
the owning manifests at that head (`RepoReader.read`, bounded) and the App's own issues (one
page) — and at most one issue write. Per owned endpoint: one live read (`runtime.live_reader`,
the same calls as a plan: DescribeEndpoint, DescribeEndpointConfig, the models, the scalable
targets and, on an inference-component endpoint, its components) and no AWS write. An endpoint
whose deployment is pending or running is skipped (it is moving); one AWS cannot be read is
listed as not checked, never reported as drift.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace

from bot.adapters.aws.session import AwsUnavailable
from bot.adapters.github.issues import keep_issue
from bot.adapters.github.pacer import superseding
from bot.adapters.github.reader import ReadError, RepoReader
from bot.core.clock import utcnow
from bot.core.drift import ACTIVE, DriftFinding, EndpointFacts, LastDeployment, find_drift
from bot.core.manifest import load_manifest
from bot.core.plan import DeploySpec, plan
from bot.core.errors import LiveUnavailable
from bot.core.render import render

log = logging.getLogger(__name__)

MARKER = "<!-- modelbot:drift -->"
TITLE = "modelbot: live endpoints differ from the default branch"
MAX_ENDPOINTS_PER_REPOSITORY = 500  # one cycle reads at most this many endpoints of a repository


@dataclass
class RepositoryDrift:
    repository: str
    findings: list[DriftFinding] = field(default_factory=list)
    checked: int = 0
    unreadable: list[str] = field(default_factory=list)
    issue: int | None = None
    issue_action: str | None = None


MAX_SHOWN = 50  # findings written in the issue (GitHub's body limit is 65,536 characters)
MAX_STORED = 200  # findings kept in the store per repository (the status UI's drift page)


def _text(value: str) -> str:
    """One line, no @mention (a path or an AWS reason must not ping anyone), no HTML."""
    return (" ".join(str(value).split()).replace("@", "@\u200b").replace("<", "&lt;").replace(">", "&gt;"))


def _quiet(f: DriftFinding) -> DriftFinding:
    return replace(f, detail=_text(f.detail)[:1000], fix=_text(f.fix)[:500],
                   changes=tuple(_text(c)[:300] for c in f.changes),
                   manifest_path=_text(f.manifest_path).replace("`", "'"))


def _bounded(f: DriftFinding) -> DriftFinding:
    """The texts the store keeps for the status UI: the issue's, one line each and bounded (HTML
    and @mentions are the page template's to escape: it autoescapes and pings nobody)."""
    def line(value: str, n: int) -> str:
        return " ".join(str(value).split())[:n]

    return replace(f, detail=line(f.detail, 1000), fix=line(f.fix, 500), manifest_path=line(f.manifest_path, 500),
                   changes=tuple(line(c, 300) for c in f.changes))


def keep_findings(store, result: RepositoryDrift, *, default_branch: str, now: dt.datetime) -> None:
    """The cycle's findings of one repository as the status UI reads them (replacing the last
    cycle's, at most MAX_STORED, texts bounded as in the issue)."""
    store.replace_drift(result.repository, [_bounded(f).as_record() for f in result.findings[:MAX_STORED]],
                        checked_at=now, checked=result.checked,
                        unreadable=[_text(u)[:300] for u in result.unreadable[:20]],
                        default_branch=default_branch, limit=MAX_STORED)


def _installation(store, repository: str) -> int | None:
    for row in reversed(store.deployments(repository=repository)):
        inst = json.loads(row.provenance or "{}").get("installation_id")
        if inst is not None:
            return int(inst)
    return None


def _last(store, environment: str, endpoint: str, path: str):
    rows = [d for d in store.deployments(environment=environment, endpoint=endpoint) if d.manifest_path == path]
    finished = [d for d in rows if d.status not in ACTIVE]
    last = finished[-1] if finished else None
    in_flight = any(d.status in ACTIVE for d in store.deployments(environment=environment, endpoint=endpoint))
    if last is None:
        return None, in_flight
    return LastDeployment(last.id, last.status, last.commit_sha, last.pr_number, last.kind, last.trigger), in_flight


def repository_drift(runtime, repository: str, owners, *, now: dt.datetime) -> RepositoryDrift:
    """Judge every owned endpoint of `repository` (see the module docstring)."""
    out = RepositoryDrift(repository)
    inst = _installation(runtime.store, repository)
    if inst is None or runtime.github_app is None:
        return out
    gh = runtime.github_app.client(inst)
    req = gh.requester
    _, repo = req.requestJsonAndCheck("GET", f"/repos/{repository}")
    branch = repo["default_branch"]
    _, head = req.requestJsonAndCheck("GET", f"/repos/{repository}/branches/{branch}")
    sha = head["commit"]["sha"]
    owners = owners[:MAX_ENDPOINTS_PER_REPOSITORY]
    paths = sorted({o.manifest_path for o in owners})
    try:
        texts = RepoReader(gh, repository).read(sha, paths)
    except ReadError as exc:
        out.unreadable.append(f"the manifests at {branch} ({exc})")
        return out
    settings = runtime.settings
    for o in owners:
        endpoint, _, component = o.endpoint.partition("/")
        text = texts.get(o.manifest_path)
        manifest = load_manifest(o.manifest_path, text).manifest if text is not None else None
        if text is not None and manifest is None:  # there, but it does not load: not "orphaned"
            out.unreadable.append(f"{o.manifest_path} at {branch} (it does not load)")
            continue
        declared = manifest is not None and o.environment in manifest.environments
        last, in_flight = _last(runtime.store, o.environment, endpoint, o.manifest_path)
        try:
            live = runtime.live_reader(o.environment, endpoint)
        except (LiveUnavailable, AwsUnavailable, KeyError) as exc:
            out.unreadable.append(f"{o.environment}/{endpoint} ({getattr(exc, 'reason', exc)})")
            continue
        out.checked += 1
        p = None
        if declared and live.endpoint_exists:
            p = plan(DeploySpec(manifest, o.environment, sha), live, settings.server.prices)
        facts = EndpointFacts(repository, o.environment, endpoint, o.manifest_path, declared, live, p, last,
                              in_flight, component or None, default_branch=branch)
        out.findings += find_drift(facts)
    if out.findings or not out.unreadable:  # what this cycle saw replaces what the last one did
        keep_findings(runtime.store, out, default_branch=branch, now=now)
    body = None
    if out.findings:
        shown = [_quiet(f) for f in out.findings[:MAX_SHOWN]]
        body = render("drift/issue.md.j2", marker=MARKER, repository=repository, default_branch=branch,
                      findings=shown, more=len(out.findings) - len(shown), checked=out.checked,
                      unreadable=[_text(u)[:300] for u in out.unreadable[:20]], at=now.strftime("%Y-%m-%d %H:%M"))
    elif out.unreadable:
        return out  # nothing seen, something unseen: leave the issue as it is
    out.issue_action = "superseded"  # unless the block runs to its end: a newer cycle keeps the issue
    with superseding(req, f"drift:{repository}"):
        out.issue, out.issue_action = keep_issue(req, repository, runtime.github_app.bot_login(), MARKER, TITLE,
                                                 body)
    if out.issue_action != "superseded":
        runtime.store.set_drift_issue(repository, out.issue)
    return out


def reconcile(runtime, *, now: dt.datetime | None = None) -> list[RepositoryDrift]:
    """One drift cycle over every repository with owned endpoints."""
    now = now or utcnow()
    by_repo = defaultdict(list)
    for o in runtime.store.endpoint_owners():
        if runtime.settings.server.allows_repository(o.repository):
            by_repo[o.repository].append(o)
    runtime.store.forget_drift(set(by_repo))  # a repository that owns no endpoint now has no drift
    results = []
    for repository, owners in sorted(by_repo.items()):
        try:
            results.append(repository_drift(runtime, repository, owners, now=now))
        except Exception:  # noqa: BLE001 - one repository's failure stops no other
            log.exception("drift reconcile failed", extra={"repository": repository})
    for r in results:  # the ledger records drift when what the issue says changes, not every cycle
        if r.issue_action in ("created", "edited", "reopened"):
            for f in r.findings:
                runtime.store.append_ledger("drift", repository=r.repository, environment=f.environment,
                                            endpoint=f.endpoint, manifest_path=f.manifest_path,
                                            data={**f.as_record(), "issue": r.issue})
        elif r.issue_action == "closed":
            runtime.store.append_ledger("drift_cleared", repository=r.repository, environment="*",
                                        data={"issue": r.issue, "checked": r.checked})
    return results
