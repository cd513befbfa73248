"""modelbot as a custom deployment protection rule of a GitHub Environment. Pure.

GitHub asks an App installed as a custom rule of an environment (`deployment_protection_rule`
deliveries, action `requested`) whether a deployment — a GitHub Actions job deploying a commit to
that environment, whatever it deploys — may go on; the App answers approved or rejected with a
comment. `judge` applies the rules modelbot's own deploy gate applies to the environment, so a
team deploying something else from Actions to the same environment is held to them:

- the environment is one the server config defines (any other is rejected: modelbot has no rules
  for it, and the repository's admins asked modelbot to guard it);
- no deploy freeze of the policy (server-wide or the environment's) is active now;
- the commit came through a pull request (the one the run is for, or the merged one that made it),
  never a direct push: git is the only road;
- no such pull request is on `/hold`;
- where modelbot reviewed the pull request (its `modelbot/approval` check ran on the head), that
  check succeeded: the approvals the base branch and the server config require were given.

Nothing else is judged here: a change without manifests has no `modelbot/approval` check, and
the comparison and ownership are the gate's for modelbot's own deploys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Literal

from bot.core.policy import EnvironmentPolicy, PolicyConfig

State = Literal["approved", "rejected"]


@dataclass(frozen=True)
class PullFacts:
    """A pull request the deployed commit came through: its number, whether it is held, and the
    conclusion of the latest `modelbot/approval` check on its head (None: modelbot did not
    review it, e.g. it changes no manifest)."""

    number: int
    held_by: str | None = None
    approval: str | None = None


@dataclass(frozen=True)
class RuleVerdict:
    state: State
    reasons: tuple[str, ...]


def judge(*, environment: str, known_environments: Iterable[str], policy: PolicyConfig, now: dt.datetime,
          pulls: Iterable[PullFacts]) -> RuleVerdict:
    """Approve or reject a deployment to `environment` of a commit that came through `pulls`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    reasons: list[str] = []
    known = set(known_environments)
    if environment not in known:
        return RuleVerdict("rejected", (f"environment {environment} is not one modelbot's server config "
                                        f"defines ({', '.join(sorted(known)) or 'none'}): it has no rules for it",))
    ep = policy.environments.get(environment, EnvironmentPolicy())
    for freeze in [*policy.freezes, *ep.freezes]:
        until = freeze.active_until(now)
        if until is not None:
            reasons.append(f"{environment} is frozen until {until.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: "
                           f"{freeze.reason}")
    pulls = list(pulls)
    if not pulls:
        reasons.append("the commit did not come through a pull request (a direct push): modelbot deploys only "
                       "what a reviewed pull request brings")
    for p in pulls:
        if p.held_by is not None:
            reasons.append(f"#{p.number} is on hold (/hold by {p.held_by})")
        if p.approval is not None and p.approval != "success":
            reasons.append(f"#{p.number}: modelbot/approval is {p.approval}, not success: the approvals "
                           "the base branch and the server config require were not given")
    if reasons:
        return RuleVerdict("rejected", tuple(reasons))
    checked = [p.number for p in pulls if p.approval == "success"]
    why = (f"approved: #{', #'.join(map(str, checked))} passed modelbot/approval" if checked
           else "approved: no manifest changed, so modelbot has no approval to require")
    return RuleVerdict("approved", (why + f"; no freeze or hold on {environment}",))
