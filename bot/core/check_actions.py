"""Buttons on modelbot's check runs (GitHub's check run `actions`), offered where the state allows
them, and what a click means: the slash command it stands for.

A button is a command: Promote is `/promote <env>`, Roll back `/rollback <env>`, Abort
`/abort <env>`, Re-run comparison `/validate`. A click (`check_run.requested_action`) is parsed
back with `parse_identifier` and run as that command, through the same permission rules and
deploy gate. What is offered is decided again at click time from the current state: a button
offered earlier but no longer true (the rollout ended) is refused, with the reason.

GitHub's limits ("Create a check run", `actions`): at most 3 actions, label at most 20
characters, description at most 40, identifier at most 20. GitHub shows the buttons only on
a completed check run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from bot.core.render import render

MAX_ACTIONS = 3
LABEL_MAX = 20
DESCRIPTION_MAX = 40
IDENTIFIER_MAX = 20

# verb -> the command a click runs ({env}: the environment the button is for)
COMMANDS = {"promote": "/promote {env}", "rollback": "/rollback {env}", "abort": "/abort {env}",
            "rerun": "/validate"}
TAKES_ENV = frozenset({"promote", "rollback", "abort"})
ACTIVE = ("pending", "running")
EXPERIMENT_FLOWS = ("ab", "shadow")


@dataclass(frozen=True)
class Offer:
    """One button: a verb, and the environment it acts on (None for Re-run comparison)."""

    verb: str
    env: str | None = None

    @property
    def identifier(self) -> str:
        return f"{self.verb}:{self.env}" if self.env else self.verb

    @property
    def command(self) -> str:
        return COMMANDS[self.verb].format(env=self.env or "").strip()

    def fits(self) -> bool:
        return len(self.identifier) <= IDENTIFIER_MAX


@dataclass(frozen=True)
class DeploymentView:
    """What the buttons need to know of one deployment of the pull request."""

    environment: str
    status: str
    kind: str | None = None
    flow: str | None = None   # the rollout's flow (ab, shadow, canary...), None before it is planned
    phase: str | None = None  # the rollout's phase (experiment, bake...)


def parse_identifier(identifier: object) -> Offer | None:
    """The offer an identifier names, or None for anything modelbot never offers."""
    if not isinstance(identifier, str) or not 0 < len(identifier) <= IDENTIFIER_MAX:
        return None
    verb, _, env = identifier.partition(":")
    if verb not in COMMANDS or (verb in TAKES_ENV) != bool(env):
        return None
    return Offer(verb, env or None)


def deploy_offers(rows: Sequence[DeploymentView]) -> list[Offer]:
    """`modelbot/deploy`'s buttons: for the environment of the newest running deployment, Promote
    while an A/B or shadow rollout is in its experiment, Roll back and Abort while it runs (a
    teardown cannot be stopped: nothing deleted comes back). None when nothing runs."""
    active = [r for r in rows if r.status in ACTIVE and r.kind != "teardown"]
    if not active:
        return []
    env = active[-1].environment
    mine = [r for r in active if r.environment == env]
    offers = []
    if any(r.flow in EXPERIMENT_FLOWS and r.phase == "experiment" for r in mine):
        offers.append(Offer("promote", env))
    offers += [Offer("rollback", env), Offer("abort", env)]
    return [o for o in offers if o.fits()][:MAX_ACTIONS]


def compare_offers(finished: bool) -> list[Offer]:
    """`modelbot/compare`'s button: Re-run comparison, once a comparison has finished."""
    return [Offer("rerun")] if finished else []


def github_actions(offers: Iterable[Offer]) -> list[dict]:
    """The check run's `actions` field for `offers`, within GitHub's limits (templates
    checks/action_label.txt.j2 and checks/action_description.txt.j2; a description too long
    with the environment's name is said without it)."""
    out = []
    for offer in [o for o in offers if o.fits()][:MAX_ACTIONS]:
        label = render("checks/action_label.txt.j2", offer=offer).strip()[:LABEL_MAX]
        description = render("checks/action_description.txt.j2", offer=offer, env=offer.env).strip()
        if len(description) > DESCRIPTION_MAX:
            description = render("checks/action_description.txt.j2", offer=offer, env=None).strip()
        out.append({"label": label, "description": description[:DESCRIPTION_MAX],
                    "identifier": offer.identifier})
    return out
