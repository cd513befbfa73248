"""Slash commands in pull-request comments, and the buttons and re-runs of modelbot's check runs.

Only `issue_comment.created` on a pull request runs commands: an edited or deleted comment
runs nothing again, and comments by bots (this App included) are ignored. The bot reacts at
once (eyes), checks who may do what (server config, base branch), runs what is allowed, answers
in one reply per command comment (found again by its marker, so a redelivery edits instead of
repeating), and reacts with the outcome (rocket, or confused when anything was refused or
failed). Every refusal says why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from bot.adapters.github.checks import get_check_run, latest_check_run
from bot.adapters.github.comments import sync_comments
from bot.adapters.github.pulls import commit_parents, get_pull, is_team_member, pulls_of_commit, react, role_of
from bot.core.changes import endpoints_of
from bot.core.check_actions import compare_offers, deploy_offers, github_actions, parse_identifier
from bot.core.clock import utcnow
from bot.core.commands import Command, coalesce, parse_comment, render_errors
from bot.core.permissions import (
    PRODUCTION_ROLE,
    Actor,
    _effective_role,
    authorize,
    authorize_override,
    rank,
    render_help,
    render_refusal,
)
from bot.core.render import render
from bot.app.services.rollouts import lock_key
from bot.app.router import Router
from bot.app.services.approvals import APPROVAL_CHECK
from bot.app.services.deployments import record_deployments
from bot.app.services.progress import DEPLOY_CHECK, deployment_views, publish_deploy_check
from bot.app.services.pull_comparison import COMPARE_CHECK
from bot.app.services.pull_report import VALIDATE_CHECK, check_merge_group, queued_pull_number, refresh_pull

router = Router()
log = logging.getLogger(__name__)

REPLY_MARKER = "<!-- modelbot:reply:{id} -->"


@dataclass(frozen=True)
class Outcome:
    command: str
    ok: bool
    text: str


def reply_key(comment_id: int):
    marker = REPLY_MARKER.format(id=comment_id)
    return lambda body: "reply" if marker in body else None


def _is_bot(user: dict) -> bool:
    return user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]")


@router.register("issue_comment", "created")
def on_comment(ctx, delivery) -> None:
    p = delivery.payload
    issue, comment = p["issue"], p["comment"]
    if not issue.get("pull_request") or _is_bot(comment.get("user") or {}) or _is_bot(p.get("sender") or {}):
        return
    settings = ctx.settings
    # Ten `/plan` lines run one plan: each repeat would cost the same GitHub requests again.
    parsed = coalesce(parse_comment(comment.get("body"), known_envs=settings.server.ordered_environments()))
    if not parsed:
        return
    full_name, number, login = p["repository"]["full_name"], issue["number"], comment["user"]["login"]
    requester = ctx.github.requester
    _react(requester, full_name, comment["id"], "eyes")

    outcomes: list[Outcome] = []
    errors = [x for x in parsed if not isinstance(x, Command)]
    if errors:
        outcomes.append(Outcome("", False, render_errors(errors)))
    commands = [x for x in parsed if isinstance(x, Command)]
    if commands:
        role = role_of(requester, full_name, login)
        pr = get_pull(requester, full_name, number)
        for command in commands:
            outcomes.extend(run_command(ctx, command, login, comment["user"].get("type", "User"), role,
                                        full_name, pr, comment_id=comment["id"]))
    body = render("commands/reply.md.j2", marker=REPLY_MARKER.format(id=comment["id"]), actor=login,
                  outcomes=outcomes)
    sync_comments(requester, full_name, number, ctx.bot_login, {"reply": body}, reply_key(comment["id"]))
    _react(requester, full_name, comment["id"], "rocket" if all(o.ok for o in outcomes) else "confused")


def _react(requester, full_name: str, comment_id: int, content: str) -> None:
    """A reaction is a courtesy: when GitHub refuses or fails it, the command still runs and
    the reply still says what happened (the failure is logged, redacted like every log line)."""
    try:
        react(requester, full_name, comment_id, content)
    except Exception as exc:  # noqa: BLE001 - best effort by design
        log.warning("reaction failed", extra={"reaction": content, "comment_id": comment_id,
                                              "error": f"{type(exc).__name__}: {exc}"[:300]})


def run_command(ctx, command, login: str, account_type: str, role: str | None, full_name: str,
                pr: dict, comment_id: int | None = None) -> list[Outcome]:
    """Authorize and run one command, per environment it acts on. A `--override` is authorized
    on top of the command's own permission (`permissions.break_glass`)."""
    settings = ctx.settings
    targets = [command] if (command.env is not None or not command.spec.takes_env) else [
        command.with_env(e) for e in settings.server.ordered_environments()]
    out = []
    for cmd in targets:
        decision = _decide(ctx, cmd, login, account_type, role)
        if decision.allowed and cmd.override is not None:
            decision = authorize_override(Actor(login, account_type), role=role,
                                          teams=_teams_of(ctx, login, settings.permissions.break_glass_teams()),
                                          policy=settings.permissions)
        if not decision.allowed:
            out.append(Outcome(cmd.text, False, render_refusal(cmd, login, decision)))
            continue
        try:
            if cmd.name == "deploy":
                out.append(_deploy(ctx, cmd, login, full_name, pr, comment_id=comment_id))
                continue
            if cmd.name == "unhold":
                out.append(_unhold(ctx, cmd, login, role, full_name, pr))
                continue
            out.append(_RUN[cmd.name](ctx, cmd, login, full_name, pr))
        except Exception as exc:  # noqa: BLE001 - the person gets the reason; the log the trace
            log.exception("command failed", extra={"command": cmd.text})
            out.append(Outcome(cmd.text, False, _say("failed", command=cmd, error=type(exc).__name__)))
    return out


def _decide(ctx, cmd, login: str, account_type: str, role: str | None):
    """Whether `login` may run `cmd` (server config's `permissions`, their role and teams)."""
    settings = ctx.settings
    production = bool(cmd.env and settings.server.environments[cmd.env].production)
    req = settings.permissions.requirement(cmd.name, cmd.env, production)
    return authorize(cmd, Actor(login, account_type), role=role, teams=_teams_of(ctx, login, req.teams),
                     env_is_production=production, policy=settings.permissions)


def _teams_of(ctx, login: str, teams) -> list[str]:
    return [t for t in teams if is_team_member(ctx.github.requester, t, login)]


def _say(kind: str, **values) -> str:
    return render("commands/outcome.md.j2", kind=kind, **values)


def _help(ctx, cmd, login, full_name, pr) -> Outcome:
    s = ctx.settings
    envs = {e: s.server.environments[e].production for e in s.server.ordered_environments()}
    return Outcome(cmd.text, True, render_help(s.permissions, envs))


def _refresh(ctx, cmd, login, full_name, pr) -> Outcome:
    if pr.get("state") != "open":
        return Outcome(cmd.text, False, _say("closed", command=cmd))
    refresh_pull(ctx, full_name, pr, force_compare=cmd.name == "validate")
    return Outcome(cmd.text, True, _say(cmd.name, command=cmd, sha=pr["head"]["sha"][:7]))


def _hold(ctx, cmd, login, full_name, pr) -> Outcome:
    ctx.store.set_hold(full_name, pr["number"], login if cmd.name == "hold" else None)
    if pr.get("state") == "open":
        refresh_pull(ctx, full_name, pr)
    return Outcome(cmd.text, True, _say(cmd.name, command=cmd))


def _unhold(ctx, cmd, login, role, full_name, pr) -> Outcome:
    """`/unhold`: the one who put the hold lifts it, or a maintainer; never the author of a pull
    request someone else held (a hold is how a reviewer stops a deploy)."""
    hold = ctx.store.hold(full_name, pr["number"])
    effective = _effective_role(role, ctx.settings.permissions)
    if (hold is not None and hold.held_by.lower() != login.lower()
            and (effective is None or rank(effective) < rank(PRODUCTION_ROLE))):
        return Outcome(cmd.text, False, _say("hold_not_yours", command=cmd, hold=hold, role=PRODUCTION_ROLE))
    return _hold(ctx, cmd, login, full_name, pr)


def _status(ctx, cmd, login, full_name, pr) -> Outcome:
    hold = ctx.store.hold(full_name, pr["number"])
    locks = ctx.store.locks_held_by(pull_holder(full_name, pr["number"]))
    return Outcome(cmd.text, True, _say("status", command=cmd, hold=hold, locks=locks,
                                         sha=pr["head"]["sha"][:7], state=pr.get("state")))


def _unlock(ctx, cmd, login, full_name, pr) -> Outcome:
    released = []
    for endpoint in endpoints_of(ctx, full_name, pr, cmd.env):
        key = lock_key(cmd.env, endpoint)
        if ctx.store.release_lock(key):
            released.append(key)
    return Outcome(cmd.text, True, _say("unlock", command=cmd, released=released))



def _deploy(ctx, cmd, login, full_name, pr, comment_id: int | None = None) -> Outcome:
    """`/deploy <env> [--override "reason"]`: before merge, the PR head to a non-production
    environment; after merge, the merge commit again (to any environment: a deploy the gate
    refused, once its reasons are gone, or with a break-glass override). The deploy gate decides
    when the deployment starts; what is checked here is only early feedback."""
    env = cmd.env
    override = None
    if cmd.override is not None:
        override = {"by": login, "at": utcnow().isoformat(timespec="seconds"), "reason": cmd.override}
    if pr.get("merged"):
        commit = pr.get("merge_commit_sha")
        mine = ctx.store.deployments(repository=full_name, pr_number=pr["number"], environment=env)
        paths = {d.manifest_path for d in mine}
        newer = [d for d in ctx.store.deployments(repository=full_name, environment=env)
                 if mine and d.id > max(m.id for m in mine) and d.pr_number != pr["number"] and d.manifest_path in paths]
        if newer:  # an old merge never overwrites a newer change: that is what /rollback is for
            return Outcome(cmd.text, False, _say("superseded_by_newer", command=cmd, row=newer[-1]))
        created = record_deployments(ctx, full_name, pr, commit, "redeploy", login, environments=[env],
                                     override=override, key_suffix=f":{comment_id}")
        if not created and not ctx.store.deployments(repository=full_name, pr_number=pr["number"], environment=env):
            return Outcome(cmd.text, False, _say("no_such_target", command=cmd))
        for pk in created:
            ctx.rollouts.services.enqueue(pk, 0)
        return Outcome(cmd.text, True, _say("deploying", command=cmd, count=len(created), sha=commit[:7],
                                             override=override))
    if ctx.settings.server.environments[env].production:
        return Outcome(cmd.text, False, _say("production_on_merge", command=cmd))
    if pr.get("state") != "open":
        return Outcome(cmd.text, False, _say("closed", command=cmd))
    result, approvals = refresh_pull(ctx, full_name, pr)
    if not result.touches_targets:
        return Outcome(cmd.text, False, _say("nothing_to_deploy", command=cmd))
    if result.errors:
        return Outcome(cmd.text, False, _say("invalid", command=cmd, count=len(result.errors)))
    mine = [a for a in approvals if a.environment == env]
    if not mine:
        return Outcome(cmd.text, False, _say("no_such_target", command=cmd))
    if not all(a.satisfied for a in approvals if a.environment in (env, "CODEOWNERS")):
        return Outcome(cmd.text, False, _say("not_approved", command=cmd, result=mine[0]))
    created = record_deployments(ctx, full_name, pr, pr["head"]["sha"], "command", login, environments=[env],
                                 override=override, key_suffix=f":override:{comment_id}" if override else "")
    for pk in created:
        ctx.rollouts.services.enqueue(pk, 0)
    return Outcome(cmd.text, True, _say("deploying", command=cmd, count=len(created), sha=pr["head"]["sha"][:7],
                                         override=override))


def _request(ctx, cmd, login, full_name, pr) -> Outcome:
    """`/abort` and `/promote`: ask this PR's active deployments in the environment."""
    active = [d for d in ctx.store.deployments(repository=full_name, pr_number=pr["number"])
              if d.status in ("pending", "running") and d.environment == cmd.env]
    asked = [d for d in active if ctx.rollouts.request(d.id, cmd.name, login)]
    if not asked:
        return Outcome(cmd.text, False, _say("nothing_active", command=cmd))
    return Outcome(cmd.text, True, _say("requested", command=cmd, rows=asked))


def _rollback(ctx, cmd, login, full_name, pr) -> Outcome:
    """`/rollback <env> [to X]`: deploy again what was live before (or X), as a new deployment."""
    env = cmd.env
    mine = [d for d in ctx.store.deployments(repository=full_name, pr_number=pr["number"]) if d.environment == env]
    for d in mine:
        if d.status in ("pending", "running"):
            ctx.rollouts.request(d.id, "rollback", login)
    targets = []
    for d in mine:
        if d.endpoint is None:
            continue
        if cmd.target and cmd.target.kind == "deployment":
            chosen = ctx.store.deployment(int(cmd.target.value))
            ok = (chosen is not None and chosen.endpoint == d.endpoint and chosen.status == "succeeded"
                  and chosen.kind != "teardown" and chosen.environment == env and chosen.repository == full_name
                  and chosen.manifest_path == d.manifest_path)
        else:  # a teardown is never a target: rolling back to it would delete the endpoint again
            # this manifest's own versions only: on a shared endpoint others' deployments are there too
            history = [x for x in ctx.store.deployments(environment=env, endpoint=d.endpoint, status="succeeded")
                       if x.id < d.id and x.kind != "teardown" and x.repository == full_name
                       and x.manifest_path == d.manifest_path]
            if cmd.target:
                history = [x for x in history if x.commit_sha.startswith(cmd.target.value)]
            chosen = history[-1] if history else None
            ok = chosen is not None
        if ok and (json.loads(chosen.provenance).get("gate") or {}).get("verdict") == "allow":
            targets.append(chosen)  # only a version the ledger shows passed the deploy gate
    if not targets:
        return Outcome(cmd.text, False, _say("no_rollback_target", command=cmd))
    created = []
    for t in {t.id: t for t in targets}.values():
        pk, new = ctx.store.create_deployment(
            key=f"{full_name}@{t.commit_sha}:{t.manifest_path}:{env}:rollback:{login}:{pr['number']}:{t.id}",
            repository=full_name, pr_number=pr["number"], commit_sha=t.commit_sha, manifest_path=t.manifest_path,
            environment=env, endpoint=t.endpoint, trigger="rollback", requested_by=login, after_id=None,
            provenance=json.dumps({**json.loads(t.provenance), "rollback_of": t.id}))
        if new:
            ctx.rollouts.services.enqueue(pk, 0)
            created.append(t)
    return Outcome(cmd.text, True, _say("rolling_back", command=cmd, rows=created or targets))


def pull_holder(full_name: str, number: int) -> str:
    return f"{full_name}#{number}"


_RUN = {"help": _help, "plan": _refresh, "validate": _refresh, "hold": _hold, "unhold": _hold,
        "status": _status, "unlock": _unlock, "deploy": _deploy, "promote": _request,
        "rollback": _rollback, "abort": _request}


# --- buttons and re-runs on modelbot's check runs ---------------------------------------------------
#
# A button (`check_run.requested_action`) is the command it stands for (bot.core.check_actions):
# the same permission rules, the same deploy gate, the same reply in the pull request (found
# again by the delivery's marker: a redelivery edits it). A click is refused, with the reason
# and nothing done, for a check run that is not modelbot's in this repository (said only in the
# log: it is not ours to answer), for a button modelbot does not offer now, and for a sender the
# command's permission refuses. A re-run (`check_run.rerequested`, `check_suite.rerequested`)
# evaluates the checks again for that head, with `/validate`'s permission; a re-run of
# `modelbot/deploy` shows the deployments' state again and never deploys.

ACTION_MARKER = "<!-- modelbot:reply:{id} -->"
BUTTON_CHECKS = (DEPLOY_CHECK, COMPARE_CHECK)
RERUN_CHECKS = (VALIDATE_CHECK, APPROVAL_CHECK, COMPARE_CHECK, DEPLOY_CHECK)


def _reply_key(marker: str):
    return lambda body: "reply" if marker in body else None


def _answer(ctx, full_name: str, number: int, delivery, login: str, outcomes: list[Outcome], **context) -> None:
    marker = ACTION_MARKER.format(id=f"{delivery.event}:{delivery.delivery_id}")
    body = render("commands/reply.md.j2", marker=marker, actor=login, outcomes=outcomes, **context)
    sync_comments(ctx.github.requester, full_name, number, ctx.bot_login, {"reply": body}, _reply_key(marker))


def _not_ours(ctx, full_name: str, run: dict, names) -> str | None:
    """Why the check run of a delivery is not one of modelbot's in this repository (None: it is)."""
    if str((run.get("app") or {}).get("id")) != ctx.app_id:
        return "the check run belongs to another App"
    if run.get("name") not in names:
        return f"modelbot has no check run named {str(run.get('name'))[:60]!r} with this action"
    held = get_check_run(ctx.github.requester, full_name, run.get("id"))
    if held is None:
        return f"{full_name} has no check run {run.get('id')}"
    if (str((held.get("app") or {}).get("id")) != ctx.app_id or held.get("name") != run.get("name")
            or held.get("head_sha") != run.get("head_sha")):
        return "the check run GitHub holds is not the one the delivery describes"
    return None


def _pull_with_head(requester, full_name: str, sha: str) -> dict | None:
    """The pull request whose head is `sha` (open ones first), else None."""
    pulls = [pr for pr in pulls_of_commit(requester, full_name, sha) if (pr.get("head") or {}).get("sha") == sha]
    pulls.sort(key=lambda pr: pr.get("state") != "open")
    return get_pull(requester, full_name, pulls[0]["number"]) if pulls else None


def _offers_now(ctx, full_name: str, pr: dict, name: str) -> list:
    """The buttons the check `name` of this pull request offers in the current state."""
    if name == DEPLOY_CHECK:
        return deploy_offers(deployment_views(ctx.store.deployments(repository=full_name, pr_number=pr["number"])))
    if pr.get("state") != "open":
        return []
    # A finished comparison of the head offers Re-run; GitHub does not return a run's actions, but
    # its text names the buttons it offers (checks/actions.md.j2).
    latest = latest_check_run(ctx.github.requester, full_name, pr["head"]["sha"], COMPARE_CHECK)
    text = ((latest or {}).get("output") or {}).get("text") or ""
    return [o for o in compare_offers(latest is not None and latest.get("status") == "completed")
            if f"`{o.command}`" in text]


@router.register("check_run", "requested_action")
def on_requested_action(ctx, delivery) -> None:
    p = delivery.payload
    run, sender = p["check_run"], p.get("sender") or {}
    full_name, login = p["repository"]["full_name"], sender.get("login") or ""
    identifier = (p.get("requested_action") or {}).get("identifier")
    if _is_bot(sender):
        return
    problem = _not_ours(ctx, full_name, run, BUTTON_CHECKS)
    requester = ctx.github.requester
    pr = None if problem else _pull_with_head(requester, full_name, run["head_sha"])
    if problem is None and pr is None:
        problem = f"no pull request of {full_name} has {str(run.get('head_sha'))[:7]} as its head"
    if problem is not None:
        log.warning("button refused", extra={"repository": full_name, "check_run": run.get("id"),
                                              "identifier": str(identifier)[:40], "sender": login, "reason": problem})
        return
    offer = parse_identifier(identifier)
    check = run["name"]
    if offer is None or offer not in _offers_now(ctx, full_name, pr, check):
        kind = "button_unknown" if offer is None else "button_gone"
        outcomes = [Outcome("", False, _say(kind, identifier=str(identifier)[:40], check=check, offer=offer))]
        log.warning("button refused", extra={"repository": full_name, "check_run": run["id"], "sender": login,
                                              "identifier": str(identifier)[:40], "reason": kind})
    else:
        [cmd] = parse_comment(offer.command, known_envs=ctx.settings.server.ordered_environments())
        role = role_of(requester, full_name, login)
        outcomes = run_command(ctx, cmd, login, sender.get("type", "User"), role, full_name, pr)
    label = offer and next((a["label"] for a in github_actions([offer])), None)
    _answer(ctx, full_name, pr["number"], delivery, login, outcomes, button=label or str(identifier)[:40],
            check=check)


@router.register("check_run", "rerequested")
def on_check_rerequested(ctx, delivery) -> None:
    p = delivery.payload
    run = p["check_run"]
    full_name = p["repository"]["full_name"]
    problem = _not_ours(ctx, full_name, run, RERUN_CHECKS)
    if problem is not None:
        log.warning("re-run refused", extra={"repository": full_name, "check_run": run.get("id"), "reason": problem})
        return
    branch = (run.get("check_suite") or {}).get("head_branch")
    _rerun(ctx, delivery, full_name, run["head_sha"], branch, {run["name"]})


@router.register("check_suite", "rerequested")
def on_suite_rerequested(ctx, delivery) -> None:
    p = delivery.payload
    suite = p["check_suite"]
    if str((suite.get("app") or {}).get("id")) != ctx.app_id:
        return
    _rerun(ctx, delivery, p["repository"]["full_name"], suite["head_sha"], suite.get("head_branch"),
           set(RERUN_CHECKS))


def _rerun(ctx, delivery, full_name: str, sha: str, branch: str | None, names: set) -> None:
    """Evaluate modelbot's checks `names` on `sha` again: a pull request's head, or a merge group's."""
    requester = ctx.github.requester
    sender = delivery.payload.get("sender") or {}
    login = sender.get("login") or ""
    queued = queued_pull_number(branch)
    if queued is not None and not any(
            e.kind == "merge_group" and json.loads(e.data).get("pr") == queued
            for e in ctx.store.ledger(repository=full_name, commit_sha=sha)):
        # A branch can be *named* like a merge queue's: only a head GitHub sent a merge_group
        # delivery for (recorded by bot.app.features.merge_queue) is one.
        log.warning("re-run of a queue-like branch GitHub never sent a merge group for: ignored",
                    extra={"repository": full_name, "sha": sha, "branch": branch})
        return
    pr = get_pull(requester, full_name, queued) if queued is not None else _pull_with_head(requester, full_name, sha)
    if pr is None:
        log.info("re-run of a commit that is no pull request's head: nothing to evaluate",
                 extra={"repository": full_name, "sha": sha})
        return
    [cmd] = parse_comment("/validate", known_envs=ctx.settings.server.ordered_environments())
    decision = _decide(ctx, cmd, login, sender.get("type", "User"), role_of(requester, full_name, login))
    if not decision.allowed:
        _answer(ctx, full_name, pr["number"], delivery, login,
                [Outcome("", False, render_refusal(cmd, login, decision))], rerun=sorted(names))
        return
    force = COMPARE_CHECK in names
    if queued is not None:
        if pr.get("state") == "open" and names - {DEPLOY_CHECK}:
            parents = commit_parents(requester, full_name, sha)
            check_merge_group(ctx, full_name, pr, sha, parents[0] if parents else pr["base"]["sha"],
                              force_compare=force)
        return
    if names - {DEPLOY_CHECK} and pr["head"]["sha"] == sha:
        refresh_pull(ctx, full_name, pr, force_compare=force)
    if DEPLOY_CHECK in names:  # shows the deployments again; never deploys
        rows = ctx.store.deployments(repository=full_name, pr_number=pr["number"])
        if rows:
            publish_deploy_check(requester, full_name, sha, rows)
