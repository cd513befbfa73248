"""Real processes: gunicorn web + worker, on SQLite and on PostgreSQL + Redis.

A signed delivery reaches a registered handler through the durable queue; a worker killed in
the middle of a handler loses nothing: another worker finishes the delivery once.
"""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
import uuid

import pytest

from bot.core.config import load_settings
from bot.adapters.store import Store
from tests.conftest import SECRET
from tests.support import webhooks
from tests.support.processes import post_delivery, start_worker, stop, wait_until, web_process

pytestmark = pytest.mark.slow


@pytest.fixture
def proc_env(bot_env, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    return {**bot_env, "MODELBOT_FEATURES": "tests.support.features", "MODELBOT_TEST_MARKERS": str(markers),
            "MODELBOT_LEASE_SECONDS": "5", "MODELBOT_REAP_GRACE_SECONDS": "1", "MODELBOT_REAP_EVERY": "0.5"}


def post_ping(url: str, extra: dict, delivery_id: str | None = None) -> tuple[int, dict]:
    """POST a ping built from GitHub's example delivery, signed as GitHub signs it."""
    return post_delivery(url, "ping", webhooks.ping(**extra), SECRET, delivery_id or str(uuid.uuid4()))


def test_signed_delivery_reaches_handler_through_the_queue(proc_env, tmp_path):
    markers = tmp_path / "markers"
    with web_process(proc_env) as url:
        status, body = post_ping(url, {}, delivery_id="d-through")
        assert (status, body["outcome"]) == (202, "queued")
        # Not processed on the request path: nothing ran before a worker exists.
        assert not (markers / "d-through.started").exists()
        worker = start_worker(proc_env)
        try:
            wait_until(lambda: (markers / "d-through.done").exists(), what="handler to run")
            status, body = post_ping(url, {}, delivery_id="d-through")
            assert (status, body["outcome"]) == (202, "duplicate")
            with urllib.request.urlopen(url + "/readyz") as r:
                assert json.loads(r.read())["status"] == "ready"
        finally:
            stop(worker)
    assert (markers / "d-through.done").read_text().count("\n") == 1


def test_worker_killed_mid_run_loses_nothing(proc_env, tmp_path):
    markers = tmp_path / "markers"
    with web_process(proc_env) as url:
        assert post_ping(url, {"hold": True}, delivery_id="d-killed")[0] == 202
        store = Store(load_settings(proc_env).database_url)
        first = start_worker(proc_env, name="worker-1")
        try:
            wait_until(lambda: (markers / "d-killed.started").exists(), what="handler to start")
        finally:
            stop(first, sig=signal.SIGKILL)
        assert not (markers / "d-killed.done").exists()
        (markers / "release").touch()
        second = start_worker(proc_env, name="worker-2")
        try:
            wait_until(lambda: store.get_delivery("d-killed").status == "done", timeout=40,
                       what="another worker to finish")
        finally:
            stop(second)
            store.dispose()
    started = (markers / "d-killed.started").read_text().split()
    done = (markers / "d-killed.done").read_text().split()
    assert len(started) == 2 and started[0] != started[1]  # run by two different processes
    assert done == [started[1]]  # finished once, by the second worker
    assert store.get_delivery("d-killed").attempts == 2
