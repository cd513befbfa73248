"""Slash commands in pull-request comments.

Only `issue_comment.created` on a pull request runs commands: an edited or deleted comment
runs nothing again, and comments by bots (this App included) are ignored. The bot reacts at
once (eyes), checks who may do what (server config, base branch), runs what is allowed, answers
in one reply per command comment (found again by its marker, so a redelivery edits instead of
repeating), and reacts with the outcome (rocket, or confused when anything was refused or
failed). Every refusal says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..router import Router

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
    from ..commands import Command, parse_comment, render_errors
    from ..github.comments import sync_comments
    from ..github.pulls import get_pull, react, role_of
    from ..render import render

    p = delivery.payload
    issue, comment = p["issue"], p["comment"]
    if not issue.get("pull_request") or _is_bot(comment.get("user") or {}) or _is_bot(p.get("sender") or {}):
        return
    settings = ctx.settings
    parsed = parse_comment(comment.get("body"), known_envs=settings.server.ordered_environments())
    if not parsed:
        return
    full_name, number, login = p["repository"]["full_name"], issue["number"], comment["user"]["login"]
    requester = ctx.github.requester
    react(requester, full_name, comment["id"], "eyes")

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
                                        full_name, pr))
    body = render("commands/reply.md.j2", marker=REPLY_MARKER.format(id=comment["id"]), actor=login,
                  outcomes=outcomes)
    sync_comments(requester, full_name, number, ctx.bot_login, {"reply": body}, reply_key(comment["id"]))
    react(requester, full_name, comment["id"], "rocket" if all(o.ok for o in outcomes) else "confused")


def run_command(ctx, command, login: str, account_type: str, role: str | None, full_name: str,
                pr: dict) -> list[Outcome]:
    """Authorize and run one command, per environment it acts on."""
    from ..commands import render_refusal
    from ..permissions import Actor, authorize

    settings = ctx.settings
    envs = settings.server.environments
    targets = [command] if (command.env is not None or not command.spec.takes_env) else [
        command.with_env(e) for e in settings.server.ordered_environments()]
    out = []
    for cmd in targets:
        production = bool(cmd.env and envs[cmd.env].production)
        req = settings.permissions.requirement(cmd.name, cmd.env, production)
        teams = _teams_of(ctx, login, req.teams)
        decision = authorize(cmd, Actor(login, account_type), role=role, teams=teams,
                             env_is_production=production, policy=settings.permissions)
        if not decision.allowed:
            out.append(Outcome(cmd.text, False, render_refusal(cmd, login, decision)))
            continue
        try:
            out.append(_RUN[cmd.name](ctx, cmd, login, full_name, pr))
        except Exception as exc:  # noqa: BLE001 - the person gets the reason; the log the trace
            log.exception("command failed", extra={"command": cmd.text})
            out.append(Outcome(cmd.text, False, _say("failed", command=cmd, error=type(exc).__name__)))
    return out


def _teams_of(ctx, login: str, teams) -> list[str]:
    from ..github.pulls import is_team_member

    return [t for t in teams if is_team_member(ctx.github.requester, t, login)]


def _say(kind: str, **values) -> str:
    from ..render import render

    return render("commands/outcome.md.j2", kind=kind, **values)


def _help(ctx, cmd, login, full_name, pr) -> Outcome:
    from ..commands import render_help

    s = ctx.settings
    envs = {e: s.server.environments[e].production for e in s.server.ordered_environments()}
    return Outcome(cmd.text, True, render_help(s.permissions, envs))


def _refresh(ctx, cmd, login, full_name, pr) -> Outcome:
    from .pull_requests import refresh_pull

    if pr.get("state") != "open":
        return Outcome(cmd.text, False, _say("closed", command=cmd))
    refresh_pull(ctx, full_name, pr)
    return Outcome(cmd.text, True, _say(cmd.name, command=cmd, sha=pr["head"]["sha"][:7]))


def _hold(ctx, cmd, login, full_name, pr) -> Outcome:
    from .pull_requests import refresh_pull

    ctx.store.set_hold(full_name, pr["number"], login if cmd.name == "hold" else None)
    if pr.get("state") == "open":
        refresh_pull(ctx, full_name, pr)
    return Outcome(cmd.text, True, _say(cmd.name, command=cmd))


def _status(ctx, cmd, login, full_name, pr) -> Outcome:
    hold = ctx.store.hold(full_name, pr["number"])
    locks = ctx.store.locks_held_by(pull_holder(full_name, pr["number"]))
    return Outcome(cmd.text, True, _say("status", command=cmd, hold=hold, locks=locks,
                                         sha=pr["head"]["sha"][:7], state=pr.get("state")))


def _unlock(ctx, cmd, login, full_name, pr) -> Outcome:
    from .pull_requests import endpoints_of

    released = []
    for endpoint in endpoints_of(ctx, full_name, pr, cmd.env):
        key = lock_key(cmd.env, endpoint)
        if ctx.store.release_lock(key):
            released.append(key)
    return Outcome(cmd.text, True, _say("unlock", command=cmd, released=released))


def lock_key(environment: str, endpoint: str) -> str:
    return f"{environment}:{endpoint}"


def _deploys(ctx, cmd, login, full_name, pr) -> Outcome:
    # Deployments (issue: SageMaker deployments) are not part of this version: say so plainly.
    return Outcome(cmd.text, False, _say("unavailable", command=cmd))


def pull_holder(full_name: str, number: int) -> str:
    return f"{full_name}#{number}"


_RUN = {"help": _help, "plan": _refresh, "validate": _refresh, "hold": _hold, "unhold": _hold,
        "status": _status, "unlock": _unlock, "deploy": _deploys, "promote": _deploys,
        "rollback": _deploys, "abort": _deploys}
