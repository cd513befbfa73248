"""Merge-to-deploy and the deployment adapters: GitHub Deployments, the report's rollout table,
the `modelbot/deploy` check run, and the AWS side of each step.

A merged pull request (`pull_request.closed` with `merged: true`) records one deployment per
changed manifest and environment, in the server's deploy order (production waits for staging
to succeed). The record's key makes this exactly once, however often GitHub delivers the event.
`bot.app.services.rollouts` then drives each deployment; this module gives it its adapters.
"""

from __future__ import annotations

import json
import logging
import threading

import bot

from bot.core.changes import paths_to_read
from bot.core.clock import utcnow
from bot.core.deploy import DeployContext, build_requests, new_rollout
from bot.adapters.aws.images import framework_image
from bot.core.manifest import load_manifest, select_manifests
from bot.core.plan import DeploySpec, plan
from bot.core.render import render, short_text
from bot.core.report import COMMENT_LIMIT, CheckOutput, Section, part_of
from bot.core.retry import backoff
from bot.app.services.rollouts import Prepared, Services
from bot.app.router import Router
from bot.app.services.gate import gate_deployment

router = Router()
log = logging.getLogger(__name__)

DEPLOY_CHECK = "modelbot/deploy"
ROLLOUT_BEGIN = "<!-- modelbot:rollout -->"
ROLLOUT_END = "<!-- /modelbot:rollout -->"
GITHUB_DESCRIPTION_MAX = 140  # a Deployment (status) description: GitHub answers 422 beyond it
NOTIFY_MAX_ATTEMPTS = 12      # retries of an undelivered progress report: 15 s doubling to 30 min, ~3.5 h
NOTIFY_BACKOFF = (15.0, 1800.0)
NOTIFY_LEASE_SECONDS = 120    # a reaper retrying a report holds it this long
GITHUB_STATES = {"pending": "queued", "in_progress": "in_progress", "succeeded": "success",
                 "failed": "failure", "rolled_back": "failure", "aborted": "inactive", "superseded": "inactive",
                 "torn_down": "inactive", "refused": "failure"}
REFUSAL_MARKER = "<!-- modelbot:refused:{id} -->"  # a finished teardown: the environment has no deployment left


# --- recording deployments ------------------------------------------------------------------------


def record_deployments(ctx, full_name: str, pr: dict, commit: str, trigger: str, requested_by: str | None,
                       environments: list[str] | None = None, override: dict | None = None,
                       key_suffix: str = "", undeployable: list | None = None) -> list[int]:
    """One deployment per changed manifest and environment (in deploy order), exactly once per
    (commit, manifest, environment, trigger). A deleted manifest (read at the PR's base) records
    a teardown of each of its endpoints (provenance `kind: teardown`). The deploy gate judges
    each when it starts (`bot.app.services.rollouts`); what it needs is recorded here: the PR's final head
    and its base. `override`: a break-glass override ({by, at, reason}). Returns the ids created now."""
    settings = ctx.settings
    reader = ctx.repo_reader(full_name)
    files = reader.changed_files(pr["number"])
    head_paths, _ = paths_to_read(files, settings.server.manifest_globs)
    removed = _removed_manifests(files, settings.server.manifest_globs) - head_paths
    base_sha = (pr.get("base") or {}).get("sha")
    texts = reader.read(commit, head_paths)
    if removed and base_sha:
        texts.update(reader.read(base_sha, removed))
    order = settings.server.ordered_environments()
    created = []
    for path in sorted(head_paths | removed):
        teardown = path in removed
        loaded = load_manifest(path, texts[path]) if texts.get(path) is not None else None
        if loaded is None or loaded.manifest is None:
            log.warning("manifest not deployable", extra={"path": path, "commit": commit, "teardown": teardown})
            if undeployable is not None:
                undeployable.append(path)
            continue
        m = loaded.manifest
        previous = None
        for env in order:
            if env not in m.environments or (environments is not None and env not in environments):
                continue
            spec = m.environments[env]
            if teardown and spec.mode == "batch":
                continue  # a batch environment has no endpoint to tear down
            provenance = {"installation_id": ctx.installation_id, "pr_number": pr["number"],
                          "head_sha": pr["head"]["sha"], "base_sha": base_sha, "approvers": [],
                          "data_version": m.provenance.data_version if isinstance(m.provenance.data_version, str)
                          else None, "model": m.metadata.name}
            if teardown:
                provenance.update(kind="teardown", manifest_commit=base_sha)
            if override:
                provenance["override"] = override
            pk, new = ctx.store.create_deployment(
                key=f"{full_name}@{commit}:{path}:{env}:{trigger}{key_suffix}", repository=full_name,
                pr_number=pr["number"],
                commit_sha=commit, manifest_path=path, environment=env,
                endpoint=None if spec.mode == "batch" else m.endpoint_name(env), trigger=trigger,
                requested_by=requested_by, after_id=previous, provenance=json.dumps(provenance))
            previous = pk
            if new:
                created.append(pk)
    return created


def _removed_manifests(files, globs) -> set[str]:
    """Manifests the change deletes (or moves out of the manifest globs), as the PR report sees them."""
    out = set()
    for f in files:
        if f.status == "removed" and select_manifests([f.path], globs):
            out.add(f.path)
        elif (f.status == "renamed" and f.previous_path and not select_manifests([f.path], globs)
              and select_manifests([f.previous_path], globs)):
            out.add(f.previous_path)
    return out


@router.register("pull_request", "closed")
def on_merged(ctx, delivery) -> None:
    """A merged pull request deploys; a closed one stops its pre-merge deploys."""
    p = delivery.payload
    pr, full_name = p["pull_request"], p["repository"]["full_name"]
    if not pr.get("merged"):
        for d in ctx.store.deployments(repository=full_name, pr_number=pr["number"], trigger="command"):
            ctx.rollouts.request(d.id, "abort")
        return
    default = p["repository"].get("default_branch")
    if pr["base"]["ref"] != default:  # only the default branch's rules authorise a deploy
        log.info("merge into a branch other than the default deploys nothing",
                 extra={"repository": full_name, "number": pr["number"], "base": pr["base"]["ref"]})
        return
    commit = pr.get("merge_commit_sha") or pr["head"]["sha"]
    undeployable: list[str] = []
    created = record_deployments(ctx, full_name, pr, commit, "merge", (pr.get("merged_by") or {}).get("login"),
                                 undeployable=undeployable)
    if undeployable:  # nothing of it can deploy: say so once (a redelivery edits the same reply)
        _reply_undeployable(ctx, full_name, pr, commit, undeployable)
    for pk in created:
        row = ctx.store.deployment(pk)
        if row.after_id is None:
            ctx.rollouts.services.enqueue(pk, 0)
        ctx.rollouts.services.notify(row, "pending", "queued")
    log.info("merge recorded", extra={"repository": full_name, "number": pr["number"], "deployments": created})


@router.register("push")
def on_push(ctx, delivery) -> None:
    """A push to the default branch that no merged pull request made deploys nothing: say so."""
    from bot.adapters.github.checks import publish_check_run

    p = delivery.payload
    repo = p["repository"]
    if p.get("ref") != f"refs/heads/{repo.get('default_branch')}" or p.get("deleted") or not p.get("after"):
        return
    sha = p["after"]
    _, pulls = ctx.github.requester.requestJsonAndCheck("GET", f"/repos/{repo['full_name']}/commits/{sha}/pulls")
    if any(pr.get("merged_at") and pr.get("merge_commit_sha") == sha for pr in pulls):
        return

    out = CheckOutput("neutral", "Not deployed: pushed without a pull request",
                      render("checks/direct_push.md.j2", sha=sha, pusher=(p.get("pusher") or {}).get("name")), "")
    publish_check_run(ctx.github.requester, repo["full_name"], sha, DEPLOY_CHECK, out)
    log.warning("direct push to the default branch not deployed", extra={"repository": repo["full_name"],
                                                                        "sha": sha})


# --- adapters for bot.app.services.rollouts --------------------------------------------------------------------


class _ClientCache:
    """Executor clients per environment, from the worker's session pool (shared with live reads)."""

    def __init__(self, runtime):
        self.runtime, self._lock, self._own_pool = runtime, threading.Lock(), None

    def _pool(self):
        from bot.adapters.aws.session import SessionPool

        pool = getattr(self.runtime.live_reader, "pool", None)
        if isinstance(pool, SessionPool):
            return pool
        with self._lock:  # a live reader without a pool (tests): one of our own
            if self._own_pool is None:
                self._own_pool = SessionPool(self.runtime.settings.server.environments)
            return self._own_pool

    def __call__(self, env: str):
        from bot.adapters.aws.executor import Clients

        pool = self._pool()
        return Clients(*(pool.client(env, service)
                         for service in ("sagemaker", "application-autoscaling", "cloudwatch", "s3")))


@router.provides("rollout_services")
def services_for(runtime):
    """The engine's adapters in a worker: AWS per environment, GitHub through the App."""
    def prepare(row):
        return prepare_deployment(runtime, row)

    def notify(row, status, text):
        report_progress(runtime, row, status, text)

    def gate(row, action):
        return gate_deployment(runtime, row, action)

    return Services(clients_for=_ClientCache(runtime), prepare=prepare, notify=notify,
                    enqueue=lambda pk, delay: runtime.queue.enqueue_deployment(pk, delay), gate=gate)


def _github(runtime, row):
    inst = json.loads(row.provenance).get("installation_id")
    return runtime.github_app.client(inst)


def prepare_deployment(runtime, row):
    """Read the manifest at the deployment's commit, plan against what is live, and build the
    requests and the rollout state, all before the first AWS write."""
    from bot.adapters.github.reader import RepoReader

    settings = runtime.settings
    prov = json.loads(row.provenance)
    if prov.get("kind") == "teardown":
        return prepare_teardown(runtime, row, prov)
    reader = RepoReader(_github(runtime, row), row.repository)
    text = reader.read(row.commit_sha, [row.manifest_path]).get(row.manifest_path)
    loaded = load_manifest(row.manifest_path, text) if text is not None else None
    if loaded is None or loaded.manifest is None:
        raise ValueError(f"{row.manifest_path} at {row.commit_sha[:7]} is missing or invalid")
    m = loaded.manifest
    spec = DeploySpec(m, row.environment, row.commit_sha)
    live = runtime.live_reader(row.environment, m.endpoint_name(row.environment))
    p = plan(spec, live, settings.server.prices)
    if p.kind == "no_changes":
        return Prepared(None, None, p.kind, p.headline)
    if p.blocked:
        raise ValueError("the plan is blocked: " + "; ".join(x.message for x in p.problems if x.is_error))
    ctx = DeployContext(build_id=_resolve(reader, row.commit_sha, m.provenance.build_id),
                        commit=row.commit_sha, data_version=_resolve(reader, row.commit_sha, m.provenance.data_version),
                        manifest_path=row.manifest_path, bot_version=bot.__version__, pr_number=row.pr_number,
                        approvers=tuple(prov.get("approvers") or ()), override=_override_text(prov))
    env_config = settings.server.environments[row.environment]
    if not env_config.execution_role_arn:
        raise ValueError(f"environments.{row.environment}.execution_role_arn is not set in {settings.config_path}")
    requests = build_requests(spec, p, ctx, execution_role_arn=env_config.execution_role_arn,
                              image=_framework_image(m, env_config.region, spec), live=live)
    if requests.model_package_arn:
        from bot.adapters.aws.executor import model_package_approved

        clients = runtime.rollouts.services.clients_for(row.environment)
        if not model_package_approved(clients, requests.model_package_arn):
            raise ValueError(f"model package {requests.model_package_arn} is not Approved in the registry")
    if p.kind == "run_batch":
        return Prepared(None, requests.to_dict(), p.kind, p.headline)
    state = new_rollout(str(row.id), spec, p, live, utcnow(), poll_seconds=env_config.poll_seconds)
    return Prepared(state.as_record(), requests.to_dict(), p.kind, p.headline)


def prepare_teardown(runtime, row, prov: dict):
    """A deleted manifest: read it as it was before (`manifest_commit`, the PR's base), plan the
    teardown against what is live, check its explicit approval, and name what to delete (the
    plan's, plus the deterministic names of every commit the ledger deployed to the endpoint)."""
    from bot.adapters.aws.teardown import build_teardown
    from bot.adapters.github.reader import RepoReader

    base = prov.get("manifest_commit")
    if not base:
        raise ValueError(f"teardown of {row.manifest_path}: the commit it was deleted from is not recorded")
    reader = RepoReader(_github(runtime, row), row.repository)
    text = reader.read(base, [row.manifest_path]).get(row.manifest_path)
    loaded = load_manifest(row.manifest_path, text) if text is not None else None
    if loaded is None or loaded.manifest is None:
        raise ValueError(f"{row.manifest_path} at {base[:7]} (before its deletion) is missing or invalid")
    m = loaded.manifest
    spec = DeploySpec(m, row.environment, row.commit_sha, deleted=True)
    live = runtime.live_reader(row.environment, m.endpoint_name(row.environment))
    p = plan(spec, live, runtime.settings.server.prices)
    if p.kind != "teardown":
        return Prepared(None, None, "teardown", f"nothing to tear down: endpoint {row.endpoint} does not exist")
    # The deploy gate judged the teardown before this (an owner of the deleted manifest at base
    # must have approved it); never delete without its recorded decision.
    if (prov.get("gate") or {}).get("verdict") != "allow" or not prov.get("approvers"):
        return Prepared(None, None, "refused",
                        f"not torn down: deleting endpoint {row.endpoint} needs the deploy gate's decision "
                        "and an approval by an owner of the deleted manifest at base; it had neither")
    commits = sorted({d.commit_sha for d in runtime.store.deployments(environment=row.environment,
                                                                      endpoint=row.endpoint)
                      if d.id != row.id and json.loads(d.provenance).get("kind") != "teardown"})
    requests = build_teardown(spec, p, live, commits)
    return Prepared(None, requests.to_dict(), "teardown", p.headline.replace(" (needs explicit approval)", ""))


def _override_text(prov: dict) -> str | None:
    o = prov.get("override")
    return f"{o['by']} {o['at']}: {o['reason']}" if o else None


def _resolve(reader, commit: str, value) -> str:
    """A provenance value: written out, or read from the pipeline's outputs at the commit."""
    if isinstance(value, str):
        return value
    text = reader.read(commit, [value.from_pipeline]).get(value.from_pipeline)
    if text is None:
        raise ValueError(f"pipeline output {value.from_pipeline} does not exist at {commit[:7]}")
    data = json.loads(text)
    for part in value.key.split("."):
        if not isinstance(data, dict) or part not in data:
            raise ValueError(f"pipeline output {value.from_pipeline} has no {value.key}")
        data = data[part]
    return str(data)


def _framework_image(manifest, region: str, spec) -> str | None:
    """The framework source's image (`bot.adapters.aws.images`), None for other sources."""
    source = manifest.model.framework
    if source is None:
        return None
    return framework_image(source.name, source.version, source.py_version, region, spec.env.instance_type)


def _notify_backoff(attempt: int) -> float:
    return backoff(attempt, *NOTIFY_BACKOFF)


def report_progress(runtime, row, status: str, text: str | None) -> bool:
    """Tell GitHub; when GitHub cannot be reached the report is owed (kept in the store and
    retried by the reaper; a newer report replaces it). Never raises: reporting must not stop a
    rollout. True when delivered."""
    try:
        notify_github(runtime, row, status, text)
    except Exception as exc:  # noqa: BLE001 - owed and retried; logged with the deployment id
        attempts = runtime.store.owe_notification(row.id, status, text, _notify_backoff)
        log.warning("could not report deployment progress to GitHub; will retry",
                    extra={"deployment": row.id, "status": status, "attempt": attempts,
                           "error": f"{type(exc).__name__}: {exc}"[:300]})
        return False
    runtime.store.notification_delivered(row.id)
    return True


@router.periodic
def owed_reports(runtime) -> int:
    """The reaper's round: owed progress reports, when this process can reach GitHub."""
    return retry_owed_reports(runtime) if runtime.github_app is not None else 0


def retry_owed_reports(runtime, limit: int = 100) -> int:
    """The reaper's part: deliver progress reports GitHub did not take; how many were delivered."""
    delivered = 0
    for row in runtime.store.due_notifications(NOTIFY_LEASE_SECONDS, limit=limit):
        owed = json.loads(row.notify_owed)
        try:
            notify_github(runtime, row, owed["status"], owed["text"])
        except Exception as exc:  # noqa: BLE001 - owed again, or given up on after the last attempt
            if row.notify_attempts >= NOTIFY_MAX_ATTEMPTS:
                runtime.store.notification_delivered(row.id, owed=row.notify_owed)
                log.error("gave up reporting deployment progress to GitHub",
                          extra={"deployment": row.id, "status": owed["status"], "attempts": row.notify_attempts,
                                 "error": f"{type(exc).__name__}: {exc}"[:300]})
            else:
                runtime.store.owe_notification(row.id, owed["status"], owed["text"], _notify_backoff,
                                               only_if=row.notify_owed)
            continue
        runtime.store.notification_delivered(row.id, owed=row.notify_owed)
        delivered += 1
        log.info("owed deployment progress reported to GitHub", extra={"deployment": row.id,
                                                                       "status": owed["status"]})
    return delivered


def notify_github(runtime, row, status: str, text: str | None) -> None:
    """GitHub Deployment status, the report's rollout table, and the `modelbot/deploy` check."""
    from bot.adapters.github.checks import publish_check_run

    gh = _github(runtime, row)
    requester = gh.requester
    row = runtime.store.deployment(row.id)
    settings = runtime.settings
    env_config = settings.server.environments[row.environment]
    prov_override = json.loads(row.provenance).get("override")
    if row.github_deployment_id is None:
        _, dep = requester.requestJsonAndCheck("POST", f"/repos/{row.repository}/deployments", input={
            "ref": row.commit_sha, "environment": row.environment, "auto_merge": False, "required_contexts": [],
            "description": short_text((f"{row.manifest_path} to {row.environment}"
                            + (" (break-glass override)" if prov_override else "")), GITHUB_DESCRIPTION_MAX),
            "production_environment": bool(env_config.production),
            "payload": {"modelbot_deployment": row.id, "manifest": row.manifest_path,
                        **({"override": prov_override} if prov_override else {})}})
        runtime.store.save_deployment(row.id, release=False, github_deployment_id=dep["id"])
        row = runtime.store.deployment(row.id)
    url = (f"https://{env_config.region}.console.aws.amazon.com/sagemaker/home?region={env_config.region}"
           f"#/endpoints/{row.endpoint}") if row.endpoint else None
    body = {"state": GITHUB_STATES.get(status, "in_progress"), "description": short_text(text or status, GITHUB_DESCRIPTION_MAX),
            "auto_inactive": True}
    if url:
        body["environment_url"] = url
    requester.requestJsonAndCheck("POST", f"/repos/{row.repository}/deployments/{row.github_deployment_id}/statuses",
                                  input=body)
    if status == "succeeded" and env_config.production and row.endpoint and row.kind != "teardown":
        _retire_replaced(runtime, requester, row)
    if row.pr_number is None:
        return
    if status in ("refused", "promotion_refused"):
        _reply_refusal(runtime, requester, row, status, text)
    rows = runtime.store.deployments(repository=row.repository, pr_number=row.pr_number)
    table = render("report/rollout.md.j2", rows=rows, begin=ROLLOUT_BEGIN, end=ROLLOUT_END)
    _update_report_rollout(runtime, requester, row.repository, row.pr_number, table)
    head = json.loads(row.provenance).get("head_sha")
    if head:
        active = [r for r in rows if r.status in ("pending", "running")]
        bad = [r for r in rows if r.status in ("failed", "rolled_back", "refused")]
        conclusion = "failure" if bad else ("neutral" if active else "success")
        title = render("checks/deploy_title.txt.j2", rows=rows, active=active, bad=bad).strip()
        out = CheckOutput(conclusion, title, table.replace(ROLLOUT_BEGIN, "").replace(ROLLOUT_END, ""), "")
        publish_check_run(requester, row.repository, head, DEPLOY_CHECK, out,
                          status="in_progress" if active else "completed")


def _reply_undeployable(ctx, full_name: str, pr: dict, commit: str, paths: list[str]) -> None:
    """A merged manifest that does not load deploys nothing: one reply, and `modelbot/deploy` red."""
    from bot.adapters.github.checks import publish_check_run
    from bot.adapters.github.comments import sync_comments

    marker = REFUSAL_MARKER.format(id=f"{commit}:undeployable")
    body = render("report/undeployable.md.j2", marker=marker, commit=commit, paths=paths)
    sync_comments(ctx.github.requester, full_name, pr["number"], ctx.bot_login, {"undeployable": body},
                  lambda b: "undeployable" if marker in b else None)
    out = CheckOutput("failure", f"Not deployed: {', '.join(paths)} does not load"[:255],
                      body.replace(marker, "").strip(), "")
    publish_check_run(ctx.github.requester, full_name, pr["head"]["sha"], DEPLOY_CHECK, out)


def _reply_refusal(runtime, requester, row, status: str, text: str | None) -> None:
    """One reply on the pull request per refused deployment (found again by its marker: a
    second report edits it, never adds another)."""
    from bot.adapters.github.comments import sync_comments

    marker = REFUSAL_MARKER.format(id=f"{row.id}:{status}")
    gate = json.loads(row.provenance).get("gate") or {}
    body = render("report/deploy_refused.md.j2", marker=marker, row=row, status=status, text=text,
                  reasons=gate.get("reasons") or [], lifted=gate.get("lifted") or [])
    sync_comments(requester, row.repository, row.pr_number, runtime.github_app.bot_login(), {"refused": body},
                  lambda b: "refused" if marker in b else None)


def _retire_replaced(runtime, requester, row) -> None:
    """The production deployment this one replaced on its endpoint becomes `inactive` (GitHub
    does that by itself only for non-production environments: `auto_inactive`)."""
    before = [d for d in runtime.store.deployments(environment=row.environment, endpoint=row.endpoint,
                                                   status="succeeded")
              if d.id < row.id and d.github_deployment_id is not None and d.kind != "teardown"]
    if not before:
        return
    prev = before[-1]
    by = f"#{row.pr_number}" if row.pr_number is not None else row.commit_sha[:7]
    requester.requestJsonAndCheck(
        "POST", f"/repos/{prev.repository}/deployments/{prev.github_deployment_id}/statuses",
        input={"state": "inactive", "description": short_text(f"replaced on {row.endpoint} by {by}", GITHUB_DESCRIPTION_MAX)})


def rollout_section(store, full_name: str, number: int):
    """The report's Deployment section for a PR that has deployments, else None."""
    rows = store.deployments(repository=full_name, pr_number=number)
    if not rows:
        return None
    return Section("Deployment", render("report/rollout.md.j2", rows=rows, begin=ROLLOUT_BEGIN, end=ROLLOUT_END))


def _update_report_rollout(runtime, requester, full_name: str, number: int, table: str) -> None:
    from bot.adapters.github.comments import issue_comments

    login = runtime.github_app.bot_login()
    for c in issue_comments(requester, full_name, number):
        if c.user is None or c.user.login != login or part_of(c.body or "") != 1:
            continue
        body = c.body
        if ROLLOUT_BEGIN in body and ROLLOUT_END in body:
            start, end = body.index(ROLLOUT_BEGIN), body.index(ROLLOUT_END) + len(ROLLOUT_END)
            new = body[:start] + table.strip() + body[end:]
        else:
            new = body + "\n\n#### Deployment\n\n" + table.strip()
        if new != body and len(new) <= COMMENT_LIMIT:
            c.edit(new)
        return
