"""The queue adapter: huey on SQLite by default, on Redis when REDIS_URL is set.

The queue carries only delivery row ids; payloads live in the store. Losing a message is
therefore harmless: the reaper finds deliveries that are due and unleased and rings again.
"""

from __future__ import annotations

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

from .config import Settings


def make_huey(settings: Settings) -> Huey:
    name = settings.queue_name
    if settings.redis_url:
        return RedisHuey(name, url=settings.redis_url, results=False, utc=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(settings.data_dir / "queue.db"), results=False, utc=True,
                      timeout=10)


class Queue:
    """Enqueue deliveries for the worker; tasks are bound once per process."""

    def __init__(self, settings: Settings, huey: Huey | None = None):
        self.settings = settings
        self.huey = huey or make_huey(settings)
        self._process = self.huey.task(name="process_delivery")(_process_delivery)

    def enqueue(self, pk: int, delay: float | None = None) -> None:
        if delay:
            self._process.schedule(args=(pk,), delay=delay)
        else:
            self._process(pk)

    def depth(self) -> int:
        return self.huey.pending_count()

    def scheduled(self) -> int:
        return self.huey.scheduled_count()

    def ping(self) -> None:
        self.huey.pending_count()


def _process_delivery(pk: int) -> None:
    # Resolved at call time in the worker process, which installs the runtime first.
    from .worker import current_runtime

    current_runtime().process(pk)
