"""The deploy gate: may this deployment write to AWS now? One pure function, `decide`.

The checks call it to show what a deploy would meet (the report's Deploy gate section), and
every path that writes to AWS calls it before the first write (merge, `/deploy`, `/promote`,
teardown): what is to be deployed, what the base branch says, the evidence and the clock go in
as values (gathered by `bot.app.services.gate`), allow / refuse / wait with every reason comes out.
It judges with the same rules the checks use: the manifest's problems from `bot.core.review`
(validation, policy with freezes at the moment of the call, plan, endpoint ownership), the
approval results of `bot.core.approvals.evaluate`, and the comparison verdict of `bot.core.compare` for
exactly this candidate, baseline, dataset and spec, read through the `gate:` block of the
server config:

    gate:
      comparison:               # what each verdict means for a deploy: allow | refuse
        production:             # environments with `production: true` (defaults shown)
          fail: refuse
          error: refuse
          inconclusive: refuse
          skipped: refuse
          not_configured: refuse  # the manifest has no `validation:` section
        other:                  # every other environment (defaults shown)
          fail: refuse
          error: refuse
          inconclusive: allow
          skipped: allow
          not_configured: allow
        environments:           # per environment, over the two above
          staging: {fail: allow}

`pass` always allows and `pending` always waits. A break-glass override (`/deploy <env>
--override "reason"`, allowed by `permissions.break_glass`) lifts a freeze and a comparison
that is inconclusive, skipped, not configured or still pending; never an invalid manifest, a
policy violation, an ownership conflict, missing approvals, a hold, a failed comparison or a
manifest that is not the one reviewed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.core.approvals import ApprovalResult
from bot.core.commands import code_span
from bot.core.manifest import Problem

Meaning = Literal["allow", "refuse"]
Verdict = Literal["allow", "refuse", "wait"]
LIFTABLE_VERDICTS = ("inconclusive", "skipped", "not_configured", "pending")
_FREEZE_RULE = re.compile(r"(^|\.)freezes\[\d+\]$")
SOURCE = "config/modelbot.yaml"


class NotReady(RuntimeError):
    """The evidence cannot be read now (AWS or GitHub out of reach): decide nothing, try again."""


class ConfigError(ValueError):
    """A `gate:` block that does not parse; the message names the setting."""


class _Meanings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fail: Meaning | None = None
    error: Meaning | None = None
    inconclusive: Meaning | None = None
    skipped: Meaning | None = None
    not_configured: Meaning | None = None


class _Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    production: _Meanings = _Meanings()
    other: _Meanings = _Meanings()
    environments: dict[str, _Meanings] = {}


class _Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comparison: _Comparison = _Comparison()


DEFAULTS = {
    True: {"fail": "refuse", "error": "refuse", "inconclusive": "refuse", "skipped": "refuse",
           "not_configured": "refuse"},
    False: {"fail": "refuse", "error": "refuse", "inconclusive": "allow", "skipped": "allow",
            "not_configured": "allow"},
}


@dataclass(frozen=True)
class GatePolicy:
    """The parsed `gate:` block: what a comparison verdict means, per environment."""

    comparison: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # env -> verdict -> meaning
    production_envs: frozenset[str] = frozenset()
    source: str = SOURCE

    @classmethod
    def from_server_config(cls, raw: Mapping | None, *, environments: Mapping, source: str = SOURCE) -> "GatePolicy":
        try:
            parsed = _Gate.model_validate(raw or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(["gate", *(str(x) for x in first["loc"])])
            raise ConfigError(f"{source}: {where}: {first['msg']}") from None
        unknown = set(parsed.comparison.environments) - set(environments)
        if unknown:
            raise ConfigError(f"{source}: gate.comparison.environments: {sorted(unknown)} are not environments "
                              f"of this server (known: {sorted(environments)})")
        table = {}
        for env, config in environments.items():
            production = bool(getattr(config, "production", False))
            layers = [DEFAULTS[production], (parsed.comparison.production if production else parsed.comparison.other)
                      .model_dump(exclude_none=True), parsed.comparison.environments.get(env, _Meanings())
                      .model_dump(exclude_none=True)]
            table[env] = {k: v for layer in layers for k, v in layer.items()}
        return cls(table, frozenset(e for e, c in environments.items() if getattr(c, "production", False)), source)

    def meaning(self, environment: str, verdict: str) -> tuple[str, str]:
        """(allow | refuse | wait, the setting that decided it) for a comparison verdict."""
        if verdict == "pass":
            return "allow", "a passing comparison always allows"
        if verdict == "pending":
            return "wait", "a comparison still running always waits"
        kind = "production" if environment in self.production_envs else "other"
        meaning = self.comparison.get(environment, DEFAULTS[kind == "production"]).get(verdict, "refuse")
        return meaning, f"{self.source}: gate.comparison.{kind}.{verdict} (or gate.comparison.environments.{environment})"


@dataclass(frozen=True)
class Override:
    """A break-glass override: who, when (ISO 8601, UTC) and why."""

    by: str
    at: str
    reason: str


@dataclass(frozen=True)
class Comparison:
    """The comparison verdict for exactly this candidate, baseline, dataset and spec."""

    verdict: str            # pass | fail | inconclusive | error | pending | skipped | not_configured
    detail: str = ""        # Markdown: what was compared, or why there is no verdict
    key: str | None = None  # the comparison cache key (the ledger keeps it)


@dataclass(frozen=True)
class Evidence:
    """What the gate judges one deployment of one manifest to one environment on."""

    action: Literal["deploy", "teardown", "promote"]
    path: str
    environment: str
    problems: tuple[Problem, ...] = ()          # the manifest's, from bot.core.review (errors count)
    approvals: tuple[ApprovalResult, ...] = ()  # this environment's, and ownership changes' (CODEOWNERS, moves)
    comparison: Comparison | None = None        # None: not judged (a teardown)
    reviewed: str | None = None                 # why the manifest to deploy is not the one reviewed, else None
    override: Override | None = None


@dataclass(frozen=True)
class Reason:
    rule: Literal["validation", "policy", "freeze", "ownership", "approvals", "hold", "comparison", "reviewed"]
    message: str        # Markdown: values in code spans, nobody mentioned
    liftable: bool = False


@dataclass(frozen=True)
class CountedApproval:
    """An approval that counted, and the rule that made it count."""

    user: str
    paths: tuple[str, ...]
    rule: str

    def as_record(self) -> dict:
        return {"user": self.user, "paths": list(self.paths), "rule": self.rule}


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: tuple[Reason, ...]            # what refuses or waits (after the override)
    lifted: tuple[Reason, ...] = ()        # what the override lifted
    approvals: tuple[CountedApproval, ...] = ()
    override: Override | None = None
    comparison: Comparison | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.user for a in self.approvals))

    def as_record(self) -> dict:
        """What the ledger keeps of the decision."""
        return {"verdict": self.verdict, "reasons": [r.message for r in self.reasons],
                "lifted": [r.message for r in self.lifted], "approvals": [a.as_record() for a in self.approvals],
                "override": None if self.override is None else vars(self.override),
                "comparison": None if self.comparison is None else {"verdict": self.comparison.verdict,
                                                                    "key": self.comparison.key}}


_SOURCES = {"manifest": "owner in the manifest at base", "codeowners": "CODEOWNERS owner at base",
            "manifest+codeowners": "owner at base (manifest and CODEOWNERS)",
            "default": "default owner (permissions.default_owners)"}


def is_freeze(problem: Problem) -> bool:
    return bool(problem.rule) and _FREEZE_RULE.search(problem.rule) is not None


def counted_approvals(results: Iterable[ApprovalResult], path: str | None = None) -> tuple[CountedApproval, ...]:
    """Each approver that counted in `results`, with the paths they approved and why they count.
    With `path` (the manifest deployed), an approver who owns none of it is said to have counted
    towards the environment's total, as the approval rules count them."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for result in results:
        for p in result.paths:
            for user in p.approved_by:
                paths, rules = out.setdefault(user, ([], []))
                if p.path not in paths:
                    paths.append(p.path)
                rule = _SOURCES.get(p.source, p.source)
                if rule not in rules:
                    rules.append(rule)
    counted = []
    for user, (paths, rules) in out.items():
        rule = "; ".join(rules)
        if path is not None and path not in paths:
            rule = f"approved {', '.join(paths)} of this change ({rule}); counted towards the total"
        counted.append(CountedApproval(user, tuple(paths), rule))
    return tuple(counted)


def _approval_reasons(result: ApprovalResult) -> list[Reason]:
    label = result.environment
    out = []
    if result.held:
        out.append(Reason("hold", "on hold: a `/hold` blocks deploys until someone comments `/unhold`"))
    for b in result.blocked_by:
        out.append(Reason("approvals", f"{code_span(b.user)} requested changes ({label})"))
    for need in result.missing:
        out.append(Reason("approvals", f"{label}: {need}"))
    if not result.satisfied and not out:  # never silent: an unsatisfied result always names why
        out.append(Reason("approvals", f"{label}: not approved"))
    return out


def decide(evidence: Evidence, policy: GatePolicy) -> Decision:
    """Allow, refuse or wait, with every reason; see the module docstring."""
    reasons: list[Reason] = []
    for p in evidence.problems:
        if not p.is_error:
            continue
        where = f"{code_span(f'{p.path}:{p.line}')}: {p.message}"
        if is_freeze(p):
            reasons.append(Reason("freeze", where + f" ({code_span(p.configured_at or p.rule or '')})", liftable=True))
        elif (p.rule or "").startswith("ownership"):
            reasons.append(Reason("ownership", where))
        elif (p.rule or "").startswith("policy"):
            reasons.append(Reason("policy", where + f" ({code_span(p.configured_at or p.rule or '')})"))
        else:
            reasons.append(Reason("validation", where))
    if evidence.reviewed is not None:
        reasons.append(Reason("reviewed", evidence.reviewed))
    if not evidence.approvals:
        reasons.append(Reason("approvals", f"no approval rule applies to {code_span(evidence.path)} in "
                              f"{evidence.environment}: nothing was approved"))
    for result in evidence.approvals:
        reasons += _approval_reasons(result)
    pending = None  # the one reason that only waits (a comparison still running)
    c = evidence.comparison
    if c is not None:
        meaning, setting = policy.meaning(evidence.environment, c.verdict)
        verdict_text = "not configured (no `validation:` section)" if c.verdict == "not_configured" else c.verdict
        if meaning == "wait":
            pending = Reason("comparison", f"the comparison with production is still running{_detail(c)}",
                             liftable=True)
            reasons.append(pending)
        elif meaning == "refuse":
            reasons.append(Reason("comparison", f"comparison {verdict_text}{_detail(c)}: {evidence.environment} "
                                  f"refuses it ({code_span(setting)})", liftable=c.verdict in LIFTABLE_VERDICTS))
    lifted: list[Reason] = []
    if evidence.override is not None:
        lifted = [r for r in reasons if r.liftable]
        reasons = [r for r in reasons if not r.liftable]
    approved = counted_approvals(evidence.approvals, evidence.path)
    # Waiting helps only when nothing else refuses.
    verdict: Verdict = "wait" if pending is not None and reasons == [pending] else ("refuse" if reasons else "allow")
    return Decision(verdict, tuple(reasons), tuple(lifted), approved, evidence.override, c)


def _detail(c: Comparison) -> str:
    return f" ({c.detail})" if c.detail else ""
