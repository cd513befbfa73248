"""GitHub App client.

- App JWT -> installation token for a delivery's installation id, cached until five minutes
  before it expires (GitHub issues them for an hour).
- Reads are retried with backoff on 5xx and connection errors. Every request goes through one
  pacer (`bot.adapters.github.pacer`, decisions in `bot.core.pacing`): writes are spaced and
  capped per installation within GitHub's secondary limits, and rate limits (403/429 with the
  rate-limit headers or Retry-After) are waited out there for every method, since GitHub did
  not act on such a request; the wait holds the installation's other requests too.
- Other failures of writes are *not* retried blindly (PyGithub's default retries POST):
  writes are made idempotent instead, e.g. `upsert_marked_comment` finds the bot's own comment
  by a hidden marker before it creates one.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Callable

from github import Auth, Github, GithubIntegration
from github.GithubRetry import GithubRetry

from bot.adapters.github.pacer import APP, MemoryBook, Pacer, pace_requester
from bot.core.clock import utcnow
from bot.core.config import Secret
from bot.core.logs import add_redactions
from bot.core.pacing import Limits

log = logging.getLogger(__name__)

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RATE_LIMIT_STATUSES = frozenset({403, 429})
TOKEN_REFRESH_MARGIN = dt.timedelta(minutes=5)


class SafeRetry(GithubRetry):
    """GithubRetry that never retries a write blindly, and leaves rate limits to the pacer (which
    holds every request of the installation, not only this one, and sends the refused one again)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("total", 5)
        kwargs.setdefault("backoff_factor", 0.5)
        kwargs.setdefault("status_forcelist", list(range(500, 600)))
        kwargs.setdefault("allowed_methods", None)  # decided per request below
        kwargs.setdefault("secondary_rate_wait", 60)
        kwargs.setdefault("max_rate_limit_wait", 900)
        super().__init__(**kwargs)

    def _is_method_retryable(self, method: str) -> bool:
        # Consulted for read errors and status retries: only idempotent requests may be repeated.
        return method.upper() in IDEMPOTENT

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code in RATE_LIMIT_STATUSES:
            return False  # bot.adapters.github.pacer waits it out and sends the request again
        if method.upper() not in IDEMPOTENT:
            return False
        return super().is_retry(method, status_code, has_retry_after)


class GitHubApp:
    """Authenticates as the App and hands out per-installation clients."""

    def __init__(self, app_id: str, private_key: Secret, base_url: str,
                 clock: Callable[[], dt.datetime] = utcnow, retry_factory=SafeRetry, timeout: int = 15,
                 write_interval: float | None = None, limits: Limits | None = None, book=None,
                 pacer: Pacer | None = None):
        """`book`: where the pacer keeps its writes (the `Store`, shared by every process; a
        process-local one by default). `limits` default to GitHub's documented ones, spaced by
        `write_interval` when given; `write_interval=0` lifts spacing and caps (a GitHub that
        enforces none: the demo, a fake), rate-limit answers are honoured still."""
        self.app_id, self._key, self.base_url = str(app_id), private_key, base_url.rstrip("/")
        self._clock, self._retry_factory = clock, retry_factory
        if pacer is None:
            if limits is None:
                limits = (Limits.unlimited() if write_interval == 0
                          else Limits(interval=write_interval) if write_interval is not None else Limits())
            pacer = Pacer(book if book is not None else MemoryBook(), limits)
        self.pacer = pacer
        # PyGithub paces every read by 0.25 s and every write by 1 s unless told otherwise, per
        # client and process: the pacer spaces writes for the installation instead.
        self._options = {"timeout": timeout, "seconds_between_requests": 0.0, "seconds_between_writes": 0.0}
        self._tokens: dict[int, tuple[str, dt.datetime]] = {}
        self._lock = threading.Lock()
        self._slug: str | None = None

    def _integration(self) -> GithubIntegration:
        integration = GithubIntegration(auth=Auth.AppAuth(self.app_id, self._key.get()), base_url=self.base_url,
                                        retry=self._retry_factory(), **self._options)
        pace_requester(integration._GithubIntegration__requester, self.pacer, APP)  # tokens: the App's writes
        return integration

    def installation_token(self, installation_id: int) -> str:
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached and cached[1] - TOKEN_REFRESH_MARGIN > self._clock():
                return cached[0]
        auth = self._integration().get_access_token(installation_id)
        expires = auth.expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.timezone.utc)
        add_redactions([auth.token])
        with self._lock:
            self._tokens[installation_id] = (auth.token, expires)
        log.info("installation token minted", extra={"installation_id": installation_id,
                                                      "expires_at": expires.isoformat()})
        return auth.token

    def client(self, installation_id: int) -> Github:
        gh = Github(auth=Auth.Token(self.installation_token(installation_id)), base_url=self.base_url,
                    retry=self._retry_factory(), per_page=100, **self._options)
        pace_requester(gh.requester, self.pacer, installation_id)
        return gh

    def bot_login(self) -> str:
        """The login the App comments as: `<slug>[bot]`."""
        if self._slug is None:
            self._slug = self._integration().get_app().slug
        return f"{self._slug}[bot]"


def find_marked_comment(issue, marker: str, author: str):
    """The first comment on `issue` by `author` that contains `marker`, or None."""
    for comment in issue.get_comments():
        if comment.user is not None and comment.user.login == author and marker in (comment.body or ""):
            return comment
    return None


def upsert_marked_comment(issue, marker: str, author: str, body: str):
    """Create or edit in place the bot's comment carrying `marker`. Safe to repeat."""
    if marker not in body:
        raise ValueError("the comment body must carry its marker, or it could not be found again")
    existing = find_marked_comment(issue, marker, author)
    if existing is None:
        return issue.create_comment(body)
    if existing.body != body:
        existing.edit(body)
    return existing
