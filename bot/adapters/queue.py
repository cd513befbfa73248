"""The queue adapter: huey on SQLite by default, on Redis when REDIS_URL is set.

The queue carries only delivery row ids; payloads live in the store. Losing a message is
therefore harmless: the reaper finds deliveries that are due and unleased and rings again.
That is also why the SQLite queue commits with synchronous=NORMAL (WAL): a message lost to a
power cut costs a reaper period, and the request path saves an fsync per delivery.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from bot.core.config import Settings


@contextmanager
def without_optional_clients(settings: Settings):
    """Import huey without the optional clients it imports eagerly when this process does not
    use them (redis pulls in asyncio, psycopg its own stack: ~15 MB in every web worker).

    For a process whose backends are fixed for its life (the gunicorn web worker); a process
    that switches backends (the test suite) must not use it.
    """
    skip = () if settings.redis_url else ("redis",)
    if settings.store_backend != "postgresql":
        skip += ("psycopg",)
    blocked = [m for m in skip if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None  # type: ignore[assignment] - makes `import m` raise ImportError
    try:
        import huey.api  # noqa: F401
    finally:
        for m in blocked:
            if sys.modules.get(m) is None:
                del sys.modules[m]
    yield


def make_huey(settings: Settings):
    import huey.api as api
    from huey.storage import SqliteStorage

    name = settings.queue_name
    if settings.redis_url:
        return api.RedisHuey(name, url=settings.redis_url, results=False, utc=True)

    class _Storage(SqliteStorage):
        def _create_connection(self):
            conn = super()._create_connection()
            conn.execute("pragma synchronous=NORMAL")
            return conn

        def enqueue(self, data, priority=None):
            # huey's is BEGIN EXCLUSIVE, INSERT, COMMIT: three statements for one row. The
            # connection is in autocommit mode, so the INSERT alone is its own transaction,
            # committed when execute() returns (before the web adapter answers), as durable.
            with self.lock:
                self.conn.execute("insert into task (queue, data, priority) values (?, ?, ?)",
                                  (self.name, self.to_blob(data), priority or 0))

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return api.Huey(name, storage_class=_Storage, filename=str(settings.data_dir / "queue.db"), results=False,
                    utc=True, timeout=10)


class Queue:
    """Enqueue deliveries for the worker; tasks are bound once per process."""

    def __init__(self, settings: Settings, huey=None):
        self.settings = settings
        self.huey = huey or make_huey(settings)
        self._process = self.huey.task(name="process_delivery")(_process_delivery)
        self._reconcile = self.huey.task(name="reconcile_deployment")(_reconcile_deployment)

    def enqueue(self, pk: int, delay: float | None = None) -> None:
        if delay:
            self._process.schedule(args=(pk,), delay=delay)
        else:
            self._process(pk)

    def enqueue_deployment(self, pk: int, delay: float | None = None) -> None:
        """Ring for a deployment's next reconcile step (after `delay` seconds)."""
        if delay:
            self._reconcile.schedule(args=(pk,), delay=delay)
        else:
            self._reconcile(pk)

    def depth(self) -> int:
        return self.huey.pending_count()

    def scheduled(self) -> int:
        return self.huey.scheduled_count()

    def ping(self) -> None:
        self.huey.pending_count()


# The runtime the tasks run on: installed by the worker process (bot.app.worker.Runtime.install)
# before its consumer starts; the web process only enqueues and never installs one.
_runtime = None


def install_runtime(runtime) -> None:
    global _runtime
    _runtime = runtime


def current_runtime():
    if _runtime is None:
        raise RuntimeError("no worker runtime installed in this process")
    return _runtime


def _reconcile_deployment(pk: int) -> None:
    current_runtime().rollouts.tick(pk)


def _process_delivery(pk: int) -> None:
    current_runtime().process(pk)
