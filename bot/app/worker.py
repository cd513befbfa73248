"""The worker: claims a delivery, runs its handlers, records each run, retries with backoff.

A delivery is claimed with a lease in the store. Handlers that already succeeded for it are not
run again on retry. A failure is logged with the delivery id, recorded, and retried with
exponential backoff until `max_attempts`, then marked failed (never dropped silently).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from functools import cached_property

from bot.core.clock import utcnow
from bot.core.config import Settings
from bot.app.intake import Delivery
from bot.core.logs import delivery_context, scrub
from bot.adapters.queue import Queue, install_runtime
from bot.core.retry import backoff
from bot.app.services.rollouts import Rollouts
from bot.app.router import Router
from bot.adapters.store import Store
from bot.adapters.aws.live import AwsLiveReader
from bot.adapters.github.pacer import news_from
from bot.adapters.github.reader import RepoReader

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a handler may use. Adapters are built lazily so light handlers stay light."""

    settings: Settings
    store: Store
    installation_id: int | None
    _github_app: object = field(default=None, repr=False)
    _runtime: "Runtime | None" = field(default=None, repr=False)

    @cached_property
    def github(self):
        if self._github_app is None or self.installation_id is None:
            raise RuntimeError("this delivery carries no installation id, or no GitHub App is configured")
        return self._github_app.client(self.installation_id)

    @property
    def bot_login(self) -> str:
        return self._github_app.bot_login()

    @property
    def api_url(self) -> str:
        """The GitHub API this App talks to (its `base_url`)."""
        return self._github_app.base_url

    @property
    def app_id(self) -> str:
        """This App's id (as GitHub shows it on its check runs' `app.id`)."""
        return str(self._github_app.app_id)

    @property
    def rollouts(self):
        return self._runtime.rollouts

    def repo_reader(self, full_name: str):
        return RepoReader(self.github, full_name)

    @property
    def live_reader(self):
        """(environment, endpoint) -> LiveState, through the environment's AWS role."""
        return self._runtime.live_reader


class Runtime:
    def __init__(self, settings: Settings, store: Store, queue: Queue, router: Router, github_app=None,
                 live_reader=None):
        self.settings, self.store, self.queue, self.router = settings, store, queue, router
        self.github_app, self._live_reader = github_app, live_reader
        self._lock = threading.Lock()

    @property
    def live_reader(self):
        """One reader per process, so AWS sessions and credentials are reused across deliveries."""
        with self._lock:
            if self._live_reader is None:
                self._live_reader = AwsLiveReader(self.settings.server.environments)
            return self._live_reader

    @cached_property
    def rollouts(self):
        """The deployment engine of this process (bot.app.services.rollouts), with the adapters a feature
        registered for it (`rollout_services`: bot.app.features.deploys)."""
        return Rollouts(self.store, self.router.service("rollout_services")(self))

    def install(self) -> "Runtime":
        """Make this the runtime the queue's tasks run on in this process."""
        install_runtime(self)
        return self

    def process(self, pk: int) -> str:
        """Run one delivery's handlers; return the delivery's new status (or 'skipped')."""
        row = self.store.claim(pk, self.settings.lease_seconds)
        if row is None:
            return "skipped"
        received = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=dt.timezone.utc)
        # Writes superseded by a later delivery's are not sent (bot.adapters.github.pacer).
        with delivery_context(row.delivery_id), news_from(received.timestamp()):
            delivery = Delivery(row.delivery_id, row.event, row.action, row.repository,
                                row.installation_id, json.loads(row.payload))
            ctx = Context(self.settings, self.store, row.installation_id, self.github_app, self)
            done = self.store.succeeded_handlers(pk)
            errors = []
            for route in self.router.routes_for(row.event, row.action):
                if route.name in done:
                    continue
                started = time.perf_counter()
                try:
                    route.handler(ctx, delivery)
                except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried
                    elapsed = time.perf_counter() - started
                    detail = scrub("".join(traceback.format_exception_only(type(exc), exc)).strip())
                    log.error("handler failed", exc_info=True,
                              extra={"handler": route.name, "attempt": row.attempts, "event": delivery.key})
                    self.store.record_handler_run(delivery_pk=pk, handler=route.name, attempt=row.attempts,
                                                  ok=False, duration=elapsed, error=detail[:4000])
                    errors.append(f"{route.name}: {detail}")
                else:
                    self.store.record_handler_run(delivery_pk=pk, handler=route.name, attempt=row.attempts,
                                                  ok=True, duration=time.perf_counter() - started, error=None)
            if not errors:
                self.store.finish(pk, status="done")
                log.info("delivery processed", extra={"event": delivery.key, "attempt": row.attempts})
                return "done"
            message = "\n".join(errors)[:8000]
            if row.attempts >= self.settings.max_attempts:
                self.store.finish(pk, status="failed", error=message)
                log.error("delivery failed for good", extra={"event": delivery.key, "attempts": row.attempts})
                return "failed"
            delay = backoff(row.attempts)
            self.store.finish(pk, status="retrying", error=message,
                              retry_at=utcnow() + dt.timedelta(seconds=delay))
            self.queue.enqueue(pk, delay=delay)
            log.warning("delivery will be retried", extra={"event": delivery.key, "attempt": row.attempts,
                                                           "retry_in_s": delay})
            return "retrying"

    def reap(self) -> int:
        """Re-enqueue deliveries and deployments that are due but not leased (their queue
        message may be lost, or their worker died)."""
        grace = dt.timedelta(seconds=self.settings.reap_grace_seconds)
        ids = self.store.due_for_retry(grace=grace)
        for pk in ids:
            self.queue.enqueue(pk)
        deployments = self.store.due_deployments(grace=grace)
        for pk in deployments:
            self.queue.enqueue_deployment(pk)
        if ids or deployments:
            log.info("re-enqueued", extra={"deliveries": len(ids), "deployments": len(deployments)})
        periodic = 0
        for job in self.router.periodic_jobs():  # e.g. owed deploy reports; one failing stops no other
            try:
                periodic += job(self) or 0
            except Exception:  # noqa: BLE001 - logged; the next round tries again
                log.exception("periodic job failed", extra={"job": getattr(job, "__qualname__", repr(job))})
        return len(ids) + len(deployments) + periodic


def run_worker(runtime: Runtime, workers: int = 2, reap_every: float = 15.0,
               stop: threading.Event | None = None, max_delay: float = 0.5) -> None:
    """Run the huey consumer and the reaper until stopped.

    SIGTERM (what container platforms send) is graceful: running handlers finish first.
    SIGINT interrupts; a task cut short that way is re-run by a reaper once its lease expires.
    """
    runtime.install()
    stop = stop or threading.Event()

    def reaper() -> None:
        while not stop.is_set():
            try:
                runtime.reap()
            except Exception:  # noqa: BLE001 - a reaper hiccup must not kill the worker
                log.exception("reaper failed")
            stop.wait(reap_every)

    threading.Thread(target=reaper, name="reaper", daemon=True).start()
    # An idle SQLite consumer polls with backoff up to max_delay: keep it short so a merged PR
    # reaches its first AWS call within a second or two.
    consumer = runtime.queue.huey.create_consumer(workers=workers, worker_type="thread",
                                                  periodic=False, check_worker_health=True,
                                                  graceful_signal="TERM", max_delay=max_delay)
    try:
        consumer.run()
    finally:
        stop.set()
