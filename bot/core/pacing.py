"""The GitHub request budget: when the next write may go, and what a response says about waiting.

Pure decisions on values (epoch seconds, header mappings); `bot.adapters.github.pacer` applies
them to every request the bot sends, with the shared book of writes in the store. The limits
are GitHub's documented ones:

- "Rate limits for the REST API", section "About secondary rate limits": no more than 80
  content-generating requests per minute and no more than 500 per hour; no more than 100
  concurrent requests (REST and GraphQL together).
- "Best practices for using the REST API", section "Pause between mutative requests": wait at
  least one second between POST, PATCH, PUT and DELETE requests; section "Avoid concurrent
  requests": make requests serially.
- "Best practices for using the REST API", section "Handle rate limit errors appropriately"
  (and "Rate limits for the REST API", "Exceeding the rate limit"): with `retry-after`, wait that
  many seconds; with `x-ratelimit-remaining: 0`, wait until `x-ratelimit-reset` (UTC epoch
  seconds); otherwise wait at least a minute.

POST /graphql is not counted as a write here: the bot only reads through GraphQL (batched
file reads, `bot.adapters.github.reader`), and a query creates no content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})
MINUTE, HOUR = 60.0, 3600.0
REFUSAL_STATUSES = frozenset({403, 429})


@dataclass(frozen=True)
class Limits:
    """The budget of one installation's writes."""

    interval: float = 1.0  # "Best practices for using the REST API": pause between mutative requests
    per_minute: int = 80  # "Rate limits for the REST API": content-generating requests per minute
    per_hour: int = 500  # ... and per hour
    concurrency: int = 1  # writes in flight at once ("Avoid concurrent requests"; GitHub's cap is 100)
    fallback_wait: float = 60.0  # a refusal without retry-after or reset: "wait for at least one minute"
    max_wait: float = 900.0  # a longer wait is not sat out: the request fails and its delivery retries

    @classmethod
    def unlimited(cls) -> "Limits":
        """No spacing and no caps (tests against a fake that enforces nothing); rate-limit
        headers are still honoured."""
        return cls(interval=0.0, per_minute=10**9, per_hour=10**9, concurrency=10**6)


def is_write(method: str, path: str) -> bool:
    """A request GitHub counts against the mutating/content-generating budget."""
    if method.upper() not in MUTATING:
        return False
    path = path.split("?", 1)[0].rstrip("/")
    return not (path == "/graphql" or path.endswith("/graphql"))


def next_slot(now: float, starts: Iterable[float], limits: Limits, blocked_until: float = 0.0) -> float:
    """The earliest time ≥ `now` a write may start, given the start times (sent or reserved) of
    this installation's other writes in the last hour and the time GitHub asked us to wait until."""
    times = sorted(starts)
    slot = max(now, blocked_until or 0.0)
    for _ in range(len(times) + 2):  # each pass can only move the slot later; stops when stable
        moved = slot
        if limits.interval > 0:
            for t in times:
                if moved - limits.interval < t < moved + limits.interval:
                    moved = t + limits.interval
        for window, cap in ((MINUTE, limits.per_minute), (HOUR, limits.per_hour)):
            inside = [t for t in times if moved - window < t <= moved]
            if len(inside) >= cap:
                moved = inside[len(inside) - cap] + window
        if moved == slot:
            return slot
        slot = moved
    return slot


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _own_budget(headers: Mapping[str, str]) -> bool:
    """The x-ratelimit-* headers are of another budget than the REST API's `core` (GraphQL's,
    search's): its exhaustion holds only that API, whose caller falls back (the reader reads
    files over REST when GraphQL cannot), so it is not a hold on the installation."""
    resource = _header(headers, "x-ratelimit-resource")
    return resource is not None and resource != "core"


def is_refusal(status: int, headers: Mapping[str, str], message: str = "") -> bool:
    """GitHub refused the request for rate limiting (so it did not perform it) and it is to be
    sent again once the hold is over."""
    if status not in REFUSAL_STATUSES:
        return False
    if _header(headers, "retry-after") is not None:
        return True
    if _header(headers, "x-ratelimit-remaining") == "0":
        return not _own_budget(headers)
    return status == 429 or "rate limit" in message.lower()


def hold_until(status: int, headers: Mapping[str, str], now: float, limits: Limits, message: str = "") -> float | None:
    """Until when no request of this installation may be sent after this answer, or None.

    retry-after wins; then x-ratelimit-remaining 0 (until x-ratelimit-reset, even on a successful
    answer: the next request would be refused); then a refusal naming neither: a minute."""
    retry_after = _number(_header(headers, "retry-after"))
    if retry_after is not None:
        return now + max(retry_after, 0.0)
    if _header(headers, "x-ratelimit-remaining") == "0" and not _own_budget(headers):
        reset = _number(_header(headers, "x-ratelimit-reset"))
        if reset is not None:
            return max(reset, now)
    if is_refusal(status, headers, message):
        return now + limits.fallback_wait
    return None
