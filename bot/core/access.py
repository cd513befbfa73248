"""Who may see what in the status UI, as pure decisions (bot/app/ui.py asks, GitHub answers).

- `member_decision`: a signed-in person is let in only as an *active* member of the configured
  organisation and, when teams are configured, an active member of at least one of them (a
  pending invitation is not membership).
- `visible_repositories`: of the repositories the bot has data for, those GitHub said the person
  can read; a page of any other repository is answered 404, as if it did not exist.
- `same_secret`: a CSRF token or OAuth `state` compared in constant time; an empty or missing
  value never matches.
- `session_current` / `needs_recheck`: a session lives at most its lifetime from sign-in; its
  membership and readable repositories are asked of GitHub again after `recheck` seconds.
- `address_allowed`: a client address inside one of the operator networks (for /metrics).
- `public_path`: the paths reachable without a session (health checks, the HMAC-signed webhook,
  the sign-in itself) — everything else needs one, or a bearer token under /api/ and /metrics.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import urllib.parse
from dataclasses import dataclass
from typing import Collection, Iterable, Mapping, Sequence

# Reachable without a session: health checks, the webhook (its own HMAC signature), and the
# steps of signing in. /api/ and /metrics take bearer tokens (and /metrics operator addresses).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/webhook", "/login", "/oauth/callback"})
TOKEN_PREFIXES = ("/api/",)
TOKEN_PATHS = frozenset({"/metrics"})


MACHINE_PATHS = frozenset({"/healthz", "/readyz", "/webhook"})  # no person, no session


def sessionless_path(path: str) -> bool:
    """Routes only machines call (GitHub, probes, scrapers, API clients): they never read a
    session, so none is opened (bot.app.ui)."""
    return path in MACHINE_PATHS or token_path(path)


def public_path(path: str) -> bool:
    return path in PUBLIC_PATHS


def token_path(path: str) -> bool:
    return path in TOKEN_PATHS or path.startswith(TOKEN_PREFIXES)


def safe_return_path(value: object) -> str:
    """A local path to return to after sign-in; anything else (another host, `//x`, a control
    character or space, which browsers drop or a header cannot carry) is the index."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme or parsed.netloc or public_path(parsed.path):
        return "/"
    return value


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def member_decision(org: str, org_state: str | None, teams: Sequence[str],
                    team_states: Mapping[str, str | None]) -> Decision:
    """`org_state`: the person's membership state in `org` (active, pending, or None: none);
    `team_states`: the state per configured team slug (None: not a member)."""
    if org_state != "active":
        what = "a pending invitation to" if org_state == "pending" else "not a member of"
        return Decision(False, f"you are {what} the {org} organisation")
    if teams:
        if not any(team_states.get(t) == "active" for t in teams):
            return Decision(False, f"you are not an active member of any of the teams {', '.join(teams)} of {org}")
    return Decision(True, f"an active member of {org}" + (f" (teams {', '.join(t for t in teams if team_states.get(t) == 'active')})"
                                                          if teams else ""))


def visible_repositories(repositories: Iterable[str], readable: Collection[str]) -> list[str]:
    """The `repositories` (owner/name) found in `readable`, case-insensitively, sorted."""
    can = {r.lower() for r in readable}
    return sorted({r for r in repositories if r and r.lower() in can}, key=str.lower)


def can_see(repository: str | None, readable: Collection[str]) -> bool:
    return bool(repository) and repository.lower() in {r.lower() for r in readable}


def new_secret() -> str:
    """An unguessable value for a CSRF token or an OAuth `state` (256 bits)."""
    return secrets.token_urlsafe(32)


def same_secret(expected: object, given: object) -> bool:
    if not isinstance(expected, str) or not isinstance(given, str) or not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def session_current(signed_in_at: object, now: float, lifetime_seconds: float) -> bool:
    """Whether a session signed in at `signed_in_at` (epoch seconds) is still within its lifetime."""
    if not isinstance(signed_in_at, (int, float)) or isinstance(signed_in_at, bool):
        return False
    return signed_in_at <= now + 60 and now - signed_in_at < lifetime_seconds


def needs_recheck(checked_at: object, now: float, recheck_seconds: float) -> bool:
    if not isinstance(checked_at, (int, float)) or isinstance(checked_at, bool):
        return True
    return now - checked_at >= recheck_seconds or checked_at > now + 60


def address_allowed(address: str | None, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    for net in networks:
        network = ipaddress.ip_network(net, strict=False)
        if ip.version == network.version and ip in network:
            return True
    return False


def bearer_matches(header: str, tokens: Iterable[str]) -> bool:
    """Whether an `Authorization: Bearer <token>` header carries one of `tokens`; every token is
    compared (in constant time), so the time taken does not say which one matched."""
    scheme, _, given = (header or "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        return False
    digest = hashlib.sha256(given.encode()).digest()
    ok = False
    for t in tokens:
        ok |= hmac.compare_digest(digest, hashlib.sha256(t.encode()).digest())
    return ok
