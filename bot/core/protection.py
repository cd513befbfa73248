"""Branch protection as a second lock: does the base branch require modelbot's three checks?

modelbot refuses an unsafe deploy on its own; requiring its checks on the base branch also keeps a
pull request with a failing check from being merged. This module judges what GitHub answered
(classic protection's required status checks and the rules of rulesets in effect for the branch):
which checks are not required, whether everything could be read, and why. No I/O: the reading is
done by bot/adapters/github/protection.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REQUIRED_CHECKS = ("modelbot/validate", "modelbot/approval", "modelbot/compare")
READ_OK, NOT_PROTECTED, FORBIDDEN = 200, 404, 403
SOURCES = {"classic": "classic branch protection", "rulesets": "rulesets in effect"}
# The App permission GitHub asks for to read each source (it answers 403 without it).
PERMISSION = {"classic": "Administration: read", "rulesets": "Metadata: read"}


@dataclass(frozen=True)
class Reading:
    """One answer as the adapter got it: HTTP status (200, 403 or 404) and, for 200, the JSON body."""

    status: int
    body: Any = None


@dataclass(frozen=True)
class Protection:
    missing: tuple[str, ...]  # of REQUIRED_CHECKS, those no readable source requires
    complete: bool  # every source could be read (403: the App lacks the permission)
    reasons: dict[str, str]  # source ("classic", "rulesets") -> what it said
    unreadable: tuple[str, ...] = ()  # sources that could not be read

    @property
    def ok(self) -> bool:
        return not self.missing


def classic_contexts(policy: dict | None) -> set[str]:
    """Contexts a classic `required_status_checks` object requires: `contexts` and `checks[].context`."""
    policy = (policy or {}).get("required_status_checks", policy) or {}
    return set(policy.get("contexts") or ()) | {c["context"] for c in policy.get("checks") or () if c.get("context")}


def ruleset_contexts(rules: list[dict] | None) -> set[str]:
    """Contexts the `required_status_checks` rules among a branch's rules require."""
    return {c["context"] for r in rules or () if r.get("type") == "required_status_checks"
            for c in (r.get("parameters") or {}).get("required_status_checks") or () if c.get("context")}


def _listed(checks: tuple[str, ...], found: set[str]) -> str:
    return ", ".join(f"`{c}`" for c in checks if c in found) or "none of modelbot's checks"


def assess(classic: Reading, rulesets: Reading, required: tuple[str, ...] = REQUIRED_CHECKS) -> Protection:
    """Which of `required` the branch does not require, judged from both readings."""
    found: set[str] = set()
    reasons: dict[str, str] = {}
    unreadable: list[str] = []
    for source, reading, contexts in (("classic", classic, classic_contexts),
                                      ("rulesets", rulesets, ruleset_contexts)):
        name = SOURCES[source]
        if reading.status == READ_OK:
            got = contexts(reading.body)
            found |= got
            reasons[source] = f"{name}: {_listed(required, got)} required"
        elif reading.status == NOT_PROTECTED:
            reasons[source] = f"{name}: none (no status checks required)"
        else:
            unreadable.append(source)
            why = (f"the App lacks {PERMISSION[source]}" if reading.status == FORBIDDEN
                   else f"GitHub answered {reading.status}")
            reasons[source] = f"{name}: not readable ({why})"
    missing = tuple(c for c in required if c not in found)
    return Protection(missing, not unreadable, reasons, tuple(unreadable))
