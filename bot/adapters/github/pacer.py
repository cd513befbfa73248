"""The one pacer every GitHub request of the bot goes through (`bot.core.pacing` decides).

- Writes (POST/PATCH/PUT/DELETE, not POST /graphql) take a slot from the installation's book:
  at least `interval` seconds apart, ≤ `per_minute` / `per_hour` in any window, ≤ `concurrency`
  in flight. The book is shared: the store's tables (`Store.reserve_write` ...) when the App is
  given the store, so every worker process and thread of a deployment draws on one budget and
  /metrics (the web process) sees the queue; a process-local `MemoryBook` otherwise (tests, the
  CLI).
- Every answer's `retry-after` / `x-ratelimit-remaining: 0` + `x-ratelimit-reset` holds the
  installation's later requests, reads included, until then; a request GitHub refused for rate
  limiting was not performed, so it is sent again once the hold is over.
- Coalescing: code that writes one target (a PR's report, a check run, the drift issue) does so
  inside `superseding(requester, key)`. Entering makes this run the target's newest writer
  unless a run acting on later news (a later delivery: `news_from`, set by the worker) holds it;
  a write of a run that a newer run of the same target has replaced while it waited is not sent
  (`Superseded`), and `superseding` ends that block quietly, so the handler finishes normally:
  the newer run writes the newer text.

PyGithub is hooked at its connection (`Requester`'s per-instance connection class, built for
each request's host): every request of a client, whichever PyGithub method made it, passes
`getresponse` there. `GitHubApp` refuses to build a client if that hook point is missing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator

from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass

from bot.core.pacing import HOUR, Limits, hold_until, is_refusal, is_write, next_slot

log = logging.getLogger(__name__)

MAX_REFUSALS = 5  # a request refused this many times in a row is given up (its delivery retries)
APP = 0  # the book of requests made as the App itself (JWT: installation tokens)


class Superseded(Exception):
    """A newer run writes this target: this run's write was not sent."""


class PaceTimeout(RuntimeError):
    """GitHub asked for a longer wait than `Limits.max_wait`: the request is not sent now."""


@dataclass
class _Target:
    pacer: "Pacer"
    installation_id: int
    key: str
    token: str


_TARGET: ContextVar[_Target | None] = ContextVar("modelbot_write_target", default=None)
_GENERATION: ContextVar[float | None] = ContextVar("modelbot_write_generation", default=None)


@contextmanager
def news_from(arrived: float) -> Iterator[None]:
    """The code in this block acts on news that arrived at `arrived` (epoch seconds: a delivery's
    receipt). Of two writers of one target, the one with the later news wins, whichever reaches
    the target first; outside such a block a writer's news is as old as its entering the target."""
    reset = _GENERATION.set(arrived)
    try:
        yield
    finally:
        _GENERATION.reset(reset)


class MemoryBook:
    """The book in one process (same operations as the store's)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._writes: dict[int, tuple[int, float, str, float]] = {}  # id -> (installation, slot, state, lease)
        self._pace: dict[int, dict] = {}
        self._targets: dict[tuple[int, str], str] = {}
        self._ids = 0

    def _row(self, installation_id: int) -> dict:
        return self._pace.setdefault(installation_id, {"held_until": 0.0, "last_start": 0.0, "sent": 0,
                                                        "coalesced": 0, "refused": 0, "waited": 0.0})

    def reserve_write(self, installation_id, now, limits):
        with self._lock:
            for pk in [k for k, w in self._writes.items() if w[1] <= now - HOUR]:
                del self._writes[pk]
            starts = [w[1] for w in self._writes.values() if w[0] == installation_id
                      and (w[2] != "waiting" or w[1] > now - 120)]
            slot = next_slot(now, starts, limits, self._row(installation_id)["held_until"])
            self._ids += 1
            self._writes[self._ids] = (installation_id, slot, "waiting", 0.0)
            return self._ids, slot

    def start_write(self, installation_id, write_id, now, limits, lease_seconds):
        with self._lock:
            pace = self._row(installation_id)
            started = [w[1] for k, w in self._writes.items() if w[0] == installation_id and w[2] != "waiting"
                       and k != write_id and w[1] > now - HOUR]
            slot = next_slot(now, started + [pace["last_start"]], limits, pace["held_until"])
            if slot > now:
                return slot - now
            flying = sum(1 for w in self._writes.values() if w[0] == installation_id and w[2] == "sending"
                         and w[3] > now)
            if flying >= limits.concurrency:
                return min(0.05, limits.interval or 0.05)
            self._writes[write_id] = (installation_id, now, "sending", now + lease_seconds)
            pace["last_start"] = max(pace["last_start"], now)
            return 0.0

    def finish_write(self, installation_id, write_id, outcome, waited):
        with self._lock:
            pace = self._row(installation_id)
            if outcome in ("sent", "failed"):
                inst, slot, _, _ = self._writes[write_id]
                self._writes[write_id] = (inst, slot, "done", 0.0)
                pace["sent"] += 1
            else:
                self._writes.pop(write_id, None)
                if outcome == "coalesced":
                    pace["coalesced"] += 1
            pace["waited"] += waited

    def hold_github(self, installation_id, until, refused):
        with self._lock:
            pace = self._row(installation_id)
            pace["held_until"] = max(pace["held_until"], until)
            pace["refused"] += bool(refused)

    def github_held_until(self, installation_id):
        with self._lock:
            return self._row(installation_id)["held_until"]

    def claim_write_target(self, installation_id, key, token, generation, now):
        with self._lock:
            held = self._targets.get((installation_id, key))
            if held is None or held[1] <= generation:
                self._targets[(installation_id, key)] = (token, generation)

    def write_target(self, installation_id, key):
        with self._lock:
            held = self._targets.get((installation_id, key))
            return held[0] if held else None

    def pacing_stats(self):
        with self._lock:
            waiting: dict[int, int] = {}
            for inst, _, state, _ in self._writes.values():
                if state == "waiting":
                    waiting[inst] = waiting.get(inst, 0) + 1
            return [(inst, waiting.get(inst, 0), p["sent"], p["coalesced"], p["refused"], p["waited"])
                    for inst, p in sorted(self._pace.items())]


class Pacer:
    """Applies `bot.core.pacing` to requests: `request(installation, verb, path, send)`."""

    def __init__(self, book=None, limits: Limits | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, lease_seconds: float = 60.0):
        self.book = book if book is not None else MemoryBook()
        self.limits = limits or Limits()
        self.clock, self.sleep, self.lease_seconds = clock, sleep, lease_seconds

    def _wait(self, seconds: float) -> float:
        if seconds > self.limits.max_wait:
            raise PaceTimeout(f"GitHub asked to wait {seconds:.0f} s (more than {self.limits.max_wait:.0f} s)")
        if seconds > 0:
            self.sleep(seconds)
        return max(seconds, 0.0)

    def _superseded(self, installation_id: int) -> bool:
        target = _TARGET.get()
        return (target is not None and target.pacer is self and target.installation_id == installation_id
                and self.book.write_target(installation_id, target.key) != target.token)

    def request(self, installation_id: int, verb: str, path: str, send: Callable[[], object]):
        """Send one request (`send()` returns a response with .status, .getheaders(), .read()
        or .text) within the budget; the response."""
        write = is_write(verb, path)
        for _ in range(MAX_REFUSALS):
            if write:
                pk, waited = self._await_slot(installation_id)
            else:
                self._wait(self.book.github_held_until(installation_id) - self.clock())
            outcome = "failed"
            try:
                response = send()
                status = int(getattr(response, "status", 0))
                headers = dict(response.getheaders())
                message = ""
                if status in (403, 429):
                    message = _text(response)
                refused = is_refusal(status, headers, message)
                until = hold_until(status, headers, self.clock(), self.limits, message)
                if until is not None:
                    self.book.hold_github(installation_id, until, refused)
                    log.warning("GitHub rate limit: holding requests", extra={
                        "installation_id": installation_id, "status": status, "refused": refused,
                        "seconds": round(until - self.clock(), 1)})
                outcome = "refused" if refused else "sent"
            finally:
                if write:
                    self.book.finish_write(installation_id, pk, outcome, waited)
            if not refused:
                return response
        return response

    def _await_slot(self, installation_id: int) -> tuple[int, float]:
        waited = 0.0
        pk, slot = self.book.reserve_write(installation_id, self.clock(), self.limits)
        while True:
            now = self.clock()
            try:
                if slot > now:
                    waited += self._wait(slot - now)
                if self._superseded(installation_id):
                    self.book.finish_write(installation_id, pk, "coalesced", waited)
                    raise Superseded(_TARGET.get().key)
                wait = self.book.start_write(installation_id, pk, self.clock(), self.limits, self.lease_seconds)
            except PaceTimeout:
                self.book.finish_write(installation_id, pk, "cancelled", waited)
                raise
            if wait <= 0:
                return pk, waited
            if wait > 1.0:  # held by GitHub or a full window: give the slot back, queue again
                self.book.finish_write(installation_id, pk, "cancelled", 0.0)
                pk, slot = self.book.reserve_write(installation_id, self.clock(), self.limits)
                if slot <= self.clock():
                    slot = self.clock() + wait
            else:
                slot = self.clock() + wait

    def stats(self):
        return self.book.pacing_stats()


def _text(response) -> str:
    try:
        body = response.read() if hasattr(response, "read") else getattr(response, "text", "")
    except Exception:  # noqa: BLE001 - the message only refines the decision
        return ""
    return body if isinstance(body, str) else ""


@contextmanager
def superseding(requester, key: str) -> Iterator[None]:
    """The writes in this block are this run's of target `key`: once a newer run enters a block
    of the same key, this run's writes still waiting are not sent and the block ends quietly."""
    pace = getattr(requester, "modelbot_pace", None)
    if pace is None:  # a requester not built by GitHubApp (no pacer): nothing to coalesce
        yield
        return
    pacer, installation_id = pace
    target = _Target(pacer, installation_id, key, uuid.uuid4().hex)
    now = pacer.clock()
    generation = _GENERATION.get()
    pacer.book.claim_write_target(installation_id, key, target.token, now if generation is None else generation, now)
    reset = _TARGET.set(target)
    try:
        yield
    except Superseded:
        log.info("write superseded by a newer run", extra={"installation_id": installation_id, "target": key})
    finally:
        _TARGET.reset(reset)


def _paced(base):
    class Paced(base):
        def __init__(self, *args, pacer: Pacer, installation_id: int, **kwargs):
            super().__init__(*args, **kwargs)
            self._pacer, self._installation_id = pacer, installation_id

        def getresponse(self):
            return self._pacer.request(self._installation_id, self.verb, self.url, super().getresponse)

    Paced.__name__ = f"Paced{base.__name__}"
    return Paced


PacedHTTPS = _paced(HTTPSRequestsConnectionClass)
PacedHTTP = _paced(HTTPRequestsConnectionClass)


def pace_requester(requester, pacer: Pacer, installation_id: int) -> None:
    """Send every request of this PyGithub `Requester` through `pacer`."""
    if not hasattr(requester, "_Requester__connectionClass"):
        raise RuntimeError("this PyGithub has no per-requester connection class: the pacer cannot hook it")
    base = requester._Requester__connectionClass
    paced = PacedHTTPS if issubclass(base, HTTPSRequestsConnectionClass) else PacedHTTP

    def connection(*args, **kwargs):
        return paced(*args, pacer=pacer, installation_id=installation_id, **kwargs)

    requester._Requester__connectionClass = connection
    requester.modelbot_pace = (pacer, installation_id)
