"""Reads which status checks the base branch requires, for the report's Branch protection section.

Two sources: classic protection (`.../branches/{branch}/protection/required_status_checks`, which
needs the App's Administration: read; 404 when nothing is required) and the rules of rulesets in
effect for the branch (`.../rules/branches/{branch}`, readable with Metadata: read). A 403 or 404
is an answer, handed to the pure judgement in bot/core/protection.py; anything else is raised. Nothing
is cached: each report refresh reads again.
"""

from __future__ import annotations

from urllib.parse import quote

from github import GithubException

from bot.core.protection import PERMISSION, REQUIRED_CHECKS, SOURCES, Protection, Reading, assess
from bot.core.render import render
from bot.core.report import Section

RULES_PER_PAGE, MAX_RULE_PAGES = 100, 5


def _get(requester, path: str, parameters: dict | None = None) -> Reading:
    try:
        _, data = requester.requestJsonAndCheck("GET", path, parameters=parameters)
    except GithubException as exc:
        if exc.status in (403, 404):
            return Reading(exc.status)
        raise
    return Reading(200, data)


def read_protection(requester, full_name: str, branch: str) -> Protection:
    """What the branch's classic protection and rulesets require, judged."""
    ref = quote(branch, safe="/")
    classic = _get(requester, f"/repos/{full_name}/branches/{ref}/protection/required_status_checks")
    rules: list[dict] = []
    for page in range(1, MAX_RULE_PAGES + 1):
        reading = _get(requester, f"/repos/{full_name}/rules/branches/{ref}",
                       {"per_page": RULES_PER_PAGE, "page": page})
        if reading.status != 200:
            break
        rules += reading.body or []
        if len(reading.body or []) < RULES_PER_PAGE:
            break
    rulesets = Reading(200, rules) if reading.status == 200 else reading
    return assess(classic, rulesets)


def protection_section(requester, full_name: str, base_ref: str) -> Section | None:
    """The report's Branch protection section, or None when the branch requires all three checks."""
    protection = read_protection(requester, full_name, base_ref)
    if protection.ok:
        return None
    return Section("Branch protection", render("report/protection.md.j2", p=protection, branch=base_ref,
                                               checks=REQUIRED_CHECKS, sources=SOURCES, permission=PERMISSION))
