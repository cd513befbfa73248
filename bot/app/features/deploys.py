"""Merge-to-deploy: a merged pull request (`pull_request.closed` with `merged: true`) records
one deployment per changed manifest and environment (`bot.app.services.deployments`; production
waits for staging to succeed); a push that no merged pull request made deploys nothing and says
so. This module also gives `bot.app.services.rollouts` its adapters in a worker: AWS clients
per environment, `prepare` (read the manifest at the commit, plan, build the requests, before
the first AWS write), `notify` (`bot.app.services.progress`) and the deploy gate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading

import bot
from bot.adapters.aws.executor import Clients, model_package_approved
from bot.adapters.aws.images import framework_image
from bot.adapters.aws.session import SessionPool, smoke_client_config
from bot.adapters.aws.teardown import build_teardown
from bot.adapters.github.checks import publish_check_run
from bot.adapters.github.comments import sync_comments
from bot.adapters.github.reader import ReadError, RepoReader
from bot.app.router import Router
from bot.app.services.deployments import record_deployments
from bot.app.services.gate import gate_deployment
from bot.app.services.progress import DEPLOY_CHECK, REFUSAL_MARKER, github_for, report_progress, retry_owed_reports
from bot.app.services.rollouts import Prepared, Services
from bot.core.clock import utcnow
from bot.core.contract import MAX_SAMPLES_BYTES, ContractError, contract_samples
from bot.core.deploy import DeployContext, build_requests, new_rollout
from bot.core.manifest import load_manifest
from bot.core.plan import DeploySpec, model_digest, plan
from bot.core.render import render
from bot.core.report import CheckOutput

router = Router()
log = logging.getLogger(__name__)

# --- merge and push ---------------------------------------------------------------------------------


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
        pool = getattr(self.runtime.live_reader, "pool", None)
        if isinstance(pool, SessionPool):
            return pool
        with self._lock:  # a live reader without a pool (tests): one of our own
            if self._own_pool is None:
                self._own_pool = SessionPool(self.runtime.settings.server.environments)
            return self._own_pool

    def __call__(self, env: str):
        pool = self._pool()
        return Clients(*(pool.client(env, service) for service in ("sagemaker", "application-autoscaling",
                                                                   "cloudwatch", "s3")),
                       runtime=pool.client(env, "sagemaker-runtime", config=smoke_client_config(), purpose="smoke"))


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


def prepare_deployment(runtime, row):
    """Read the manifest at the deployment's commit, plan against what is live, and build the
    requests and the rollout state, all before the first AWS write."""
    settings = runtime.settings
    prov = json.loads(row.provenance)
    if prov.get("kind") == "teardown":
        return prepare_teardown(runtime, row, prov)
    reader = RepoReader(github_for(runtime, row), row.repository)
    text = reader.read(row.commit_sha, [row.manifest_path]).get(row.manifest_path)
    loaded = load_manifest(row.manifest_path, text) if text is not None else None
    if loaded is None or loaded.manifest is None:
        raise ValueError(f"{row.manifest_path} at {row.commit_sha[:7]} is missing or invalid")
    m = loaded.manifest
    spec = DeploySpec(m, row.environment, row.commit_sha)
    live = runtime.live_reader(row.environment, m.endpoint_name(row.environment))
    p = plan(spec, live, settings.server.prices)
    env_config = settings.server.environments[row.environment]
    facts = {"manifest_digest": "sha256:" + hashlib.sha256(text if isinstance(text, bytes) else text.encode()).hexdigest(),
             "mode": spec.env.mode, "strategy": spec.env.effective_strategy.type, "model": m.metadata.name,
             "model_digest": model_digest(m, row.environment), "config_digest": p.config_digest,
             "region": env_config.region}
    if p.kind == "no_changes":
        return Prepared(None, None, p.kind, p.headline, facts)
    if p.blocked:
        raise ValueError("the plan is blocked: " + "; ".join(x.message for x in p.problems if x.is_error))
    ctx = DeployContext(build_id=_resolve(reader, row.commit_sha, m.provenance.build_id),
                        commit=row.commit_sha, data_version=_resolve(reader, row.commit_sha, m.provenance.data_version),
                        manifest_path=row.manifest_path, bot_version=bot.__version__, pr_number=row.pr_number,
                        approvers=tuple(prov.get("approvers") or ()), override=_override_text(prov))
    facts.update(build_id=ctx.build_id, data_version=ctx.data_version)
    if not env_config.execution_role_arn:
        raise ValueError(f"environments.{row.environment}.execution_role_arn is not set in {settings.config_path}")
    samples = contract_samples(m, lambda path, n: _read_samples_file(reader, row.commit_sha, path, n))
    requests = build_requests(spec, p, ctx, execution_role_arn=env_config.execution_role_arn,
                              image=_framework_image(m, env_config.region, spec), live=live, samples=samples)
    if requests.model_package_arn:
        clients = runtime.rollouts.services.clients_for(row.environment)
        if not model_package_approved(clients, requests.model_package_arn):
            raise ValueError(f"model package {requests.model_package_arn} is not Approved in the registry")
    if p.kind == "run_batch":
        return Prepared(None, requests.to_dict(), p.kind, p.headline, facts)
    state = new_rollout(str(row.id), spec, p, live, utcnow(), poll_seconds=env_config.poll_seconds,
                        smoke=requests.smoke is not None)
    return Prepared(state.as_record(), requests.to_dict(), p.kind, p.headline, facts)


def _read_samples_file(reader, commit: str, path: str, max_bytes: int) -> bytes:
    """The contract's samples file at the deployment's commit (ContractError when it is missing:
    the deploy is refused before anything is written, as the comparison refused it)."""
    try:
        data = reader.read(commit, [path]).get(path)
    except ReadError as exc:
        if "too large" in str(exc):  # permanent: samples are at most MAX_SAMPLES_BYTES anyway
            raise ContractError(f"contract.samples.path {path}: {exc} (sample payloads are limited to "
                                f"{MAX_SAMPLES_BYTES} bytes)") from None
        raise  # GitHub unreachable and the like: tried again
    if data is None:
        raise ContractError(f"contract.samples.path {path}: not found at {commit[:7]}")
    data = data.encode("utf-8") if isinstance(data, str) else data
    return data[:max_bytes]


def prepare_teardown(runtime, row, prov: dict):
    """A deleted manifest: read it as it was before (`manifest_commit`, the PR's base), plan the
    teardown against what is live, check its explicit approval, and name what to delete (the
    plan's, plus the deterministic names of every commit the ledger deployed to the endpoint)."""
    base = prov.get("manifest_commit")
    if not base:
        raise ValueError(f"teardown of {row.manifest_path}: the commit it was deleted from is not recorded")
    reader = RepoReader(github_for(runtime, row), row.repository)
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
    if p.blocked:  # e.g. a host whose endpoint still carries other manifests' components
        raise ValueError("the teardown is blocked: " + "; ".join(x.message for x in p.problems if x.is_error))
    shared = m.joins_shared_endpoint(row.environment)
    commits = sorted({d.commit_sha for d in runtime.store.deployments(environment=row.environment,
                                                                      endpoint=row.endpoint)
                      if d.id != row.id and json.loads(d.provenance).get("kind") != "teardown"
                      and (not shared or d.manifest_path == row.manifest_path)})  # a shared endpoint: ours only
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


@router.periodic
def owed_reports(runtime) -> int:
    """The reaper's round: owed progress reports, when this process can reach GitHub."""
    return retry_owed_reports(runtime) if runtime.github_app is not None else 0


def _reply_undeployable(ctx, full_name: str, pr: dict, commit: str, paths: list[str]) -> None:
    """A merged manifest that does not load deploys nothing: one reply, and `modelbot/deploy` red."""
    marker = REFUSAL_MARKER.format(id=f"{commit}:undeployable")
    body = render("report/undeployable.md.j2", marker=marker, commit=commit, paths=paths)
    sync_comments(ctx.github.requester, full_name, pr["number"], ctx.bot_login, {"undeployable": body},
                  lambda b: "undeployable" if marker in b else None)
    out = CheckOutput("failure", f"Not deployed: {', '.join(paths)} does not load"[:255],
                      body.replace(marker, "").strip(), "")
    publish_check_run(ctx.github.requester, full_name, pr["head"]["sha"], DEPLOY_CHECK, out)


