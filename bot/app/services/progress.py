"""Telling GitHub how a deployment goes: the Deployment and its statuses, the report's
rollout table, the `modelbot/deploy` check run, one reply per refused deployment. A report
GitHub does not take is owed (kept in the store) and retried by the reaper; reporting never
stops a rollout."""

from __future__ import annotations

import json
import logging

from bot.adapters.github.checks import publish_check_run
from bot.adapters.github.comments import issue_comments, sync_comments
from bot.core.check_actions import DeploymentView, deploy_offers, github_actions
from bot.core.render import render, short_text
from bot.core.report import COMMENT_LIMIT, CheckOutput, Section, part_of
from bot.core.retry import backoff

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



def github_for(runtime, row):
    inst = json.loads(row.provenance).get("installation_id")
    return runtime.github_app.client(inst)


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
    gh = github_for(runtime, row)
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
        publish_deploy_check(requester, row.repository, head, rows, table)


def deployment_views(rows) -> list[DeploymentView]:
    """What the deploy check's buttons need of each deployment: status, and the rollout's flow and phase."""
    out = []
    for r in rows:
        try:
            rollout = (json.loads(r.state) if r.state else {}).get("rollout") or {}
        except (TypeError, ValueError):
            rollout = {}
        out.append(DeploymentView(r.environment, r.status, r.kind, rollout.get("flow"), rollout.get("phase")))
    return out


def deploy_check_output(rows, table: str | None = None) -> tuple[CheckOutput, str]:
    """`modelbot/deploy` for a pull request's deployments, and its status. With buttons to offer
    (bot.core.check_actions.deploy_offers) the run is completed (neutral while deploying): GitHub
    shows buttons only on a completed run."""
    if table is None:
        table = render("report/rollout.md.j2", rows=rows, begin=ROLLOUT_BEGIN, end=ROLLOUT_END)
    active = [r for r in rows if r.status in ("pending", "running")]
    bad = [r for r in rows if r.status in ("failed", "rolled_back", "refused")]
    conclusion = "failure" if bad else ("neutral" if active else "success")
    title = render("checks/deploy_title.txt.j2", rows=rows, active=active, bad=bad).strip()
    offers = deploy_offers(deployment_views(rows))
    actions = tuple(github_actions(offers))
    text = render("checks/actions.md.j2", offers=offers, labels=[a["label"] for a in actions],
                  deploy_check=True).strip()
    out = CheckOutput(conclusion, title, table.replace(ROLLOUT_BEGIN, "").replace(ROLLOUT_END, ""), text,
                      actions=actions)
    return out, ("in_progress" if active and not offers else "completed")


def publish_deploy_check(requester, full_name: str, head: str, rows, table: str | None = None) -> int:
    """Make `modelbot/deploy` on the pull request's head show its deployments as they are (a re-run
    of the check does this and nothing else: it never deploys)."""
    out, status = deploy_check_output(rows, table)
    return publish_check_run(requester, full_name, head, DEPLOY_CHECK, out, status=status)


def _reply_refusal(runtime, requester, row, status: str, text: str | None) -> None:
    """One reply on the pull request per refused deployment (found again by its marker: a
    second report edits it, never adds another)."""
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
