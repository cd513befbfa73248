"""GitHub's documented secondary rate limits, enforced by the fake GitHub when asked
(`FakeGitHub(secondary_limits=SecondaryLimits())`; off by default).

What is enforced, per installation (the App's own JWT requests count as one more), as the
pages "Rate limits for the REST API" (section "About secondary rate limits") and "Best
practices for using the REST API" describe them:

- content-generating requests (POST/PATCH/PUT/DELETE; POST /graphql is a query here): no more
  than 80 in any 60 s and 500 in any hour;
- at least one second between two mutating requests ("Pause between mutative requests");
- no more than 100 concurrent requests (REST and GraphQL together);
- no more than 900 points per minute to a single REST endpoint (GET 1 point, a write 5).

Not modelled: the CPU-time budget (not observable from outside GitHub) and the undisclosed
per-endpoint content limits. A refusal is what GitHub sends: 403 with "You have exceeded a
secondary rate limit" and a `retry-after` header (seconds until the request would be taken).
Every refusal is recorded in `.refusals`; a refused request is not performed.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Callable

MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
           "If you reach out to GitHub Support for help, please include the request ID.")
DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass
class SecondaryLimits:
    per_minute: int = 80
    per_hour: int = 500
    write_interval: float = 1.0
    concurrency: int = 100
    endpoint_points_per_minute: int = 900
    clock: Callable[[], float] = time.time
    refusals: list[tuple[float, str, str, str]] = field(default_factory=list)  # (at, who, request, why)
    _writes: dict = field(default_factory=lambda: defaultdict(deque))
    _points: dict = field(default_factory=lambda: defaultdict(deque))
    _flying: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- concurrency: counted from the moment a request arrives until its answer is made (the fake
    # serves one App, so all its requests count together) -------------------------------------------

    def enter(self) -> None:
        with self._lock:
            self._flying += 1

    def leave(self) -> None:
        with self._lock:
            self._flying -= 1

    # -- the rest: decided before the request is performed -----------------------------------------

    def check(self, who: str, method: str, path: str, endpoint: str) -> int | None:
        """None (go ahead, the request is counted) or the retry-after seconds of a refusal."""
        now = self.clock()
        write = method.upper() in MUTATING and not path.endswith("/graphql")
        with self._lock:
            why, wait = None, 0.0
            if self._flying > self.concurrency:
                why, wait = f"{self._flying} concurrent requests", 1.0
            writes = self._writes[who]
            while writes and writes[0] <= now - 3600:
                writes.popleft()
            if why is None and write:
                last_minute = [t for t in writes if t > now - 60]
                if writes and now - writes[-1] < self.write_interval:
                    why, wait = f"{now - writes[-1]:.3f} s after the previous write", writes[-1] + self.write_interval - now
                elif len(last_minute) >= self.per_minute:
                    why, wait = f"{len(last_minute)} writes in the last minute", last_minute[-self.per_minute] + 60 - now
                elif len(writes) >= self.per_hour:
                    why, wait = f"{len(writes)} writes in the last hour", writes[-self.per_hour] + 3600 - now
            points = self._points[(who, endpoint)]
            while points and points[0][0] <= now - 60:
                points.popleft()
            cost = 5 if write else 1
            if why is None and sum(p for _, p in points) + cost > self.endpoint_points_per_minute:
                why, wait = f"over {self.endpoint_points_per_minute} points a minute to {endpoint}", points[0][0] + 60 - now
            if why is not None:
                self.refusals.append((now, who, f"{method} {path}", why))
                return max(1, math.ceil(wait))
            points.append((now, cost))
            if write:
                writes.append(now)
            return None

    def refusal_body(self) -> dict:
        return {"message": MESSAGE, "documentation_url": DOCS}
