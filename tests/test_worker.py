"""The worker: handlers run once per delivery, failures are recorded and retried with backoff."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.app.router import Router
from bot.app.worker import Runtime, backoff


def record(store, delivery_id="d-1", event="pull_request", action="opened", payload=None):
    return store.record_delivery(delivery_id=delivery_id, event=event, action=action,
                                 repository="acme/models", installation_id=7,
                                 payload=json.dumps(payload or {"action": action}))


@pytest.fixture
def calls():
    return []


@pytest.fixture
def router(calls):
    r = Router()

    @r.register("pull_request", "opened")
    def report(ctx, delivery):
        calls.append(("report", delivery.delivery_id, delivery.key))

    @r.register("pull_request")
    def any_pr(ctx, delivery):
        calls.append(("any", delivery.delivery_id, delivery.key))

    @r.register("pull_request", "closed")
    def closed(ctx, delivery):
        calls.append(("closed", delivery.delivery_id))

    return r


def test_backoff_doubles_and_is_capped():
    assert [backoff(a) for a in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff(30) == 600.0


def test_router_matches_event_and_event_action(router):
    names = [r.handler.__name__ for r in router.routes_for("pull_request", "opened")]
    assert names == ["any_pr", "report"]
    assert [r.handler.__name__ for r in router.routes_for("pull_request", "closed")] == ["any_pr", "closed"]
    assert router.routes_for("issues", "opened") == []
    assert router.keys() == {"pull_request", "pull_request.opened", "pull_request.closed"}


def test_registering_twice_keeps_one_route(router):
    handler = router.routes_for("pull_request", "opened")[1].handler
    router.register("pull_request", "opened")(handler)
    assert len(router.routes_for("pull_request", "opened")) == 2


def test_delivery_reaches_its_handlers_once(settings, store, queue, router, calls):
    pk = record(store)
    runtime = Runtime(settings, store, queue, router)
    assert runtime.process(pk) == "done"
    assert sorted(calls) == [("any", "d-1", "pull_request.opened"), ("report", "d-1", "pull_request.opened")]
    # Processing again (a duplicate queue message) does nothing.
    assert runtime.process(pk) == "skipped"
    assert len(calls) == 2
    row = store.get_delivery("d-1")
    assert (row.status, row.attempts) == ("done", 1)


def test_failure_is_recorded_retried_with_backoff_and_succeeded_handlers_not_rerun(
        settings, store, queue, router, calls, caplog):
    state = {"fail": 2}

    @router.register("pull_request", "opened")
    def flaky(ctx, delivery):
        calls.append(("flaky", delivery.delivery_id))
        if state["fail"]:
            state["fail"] -= 1
            raise RuntimeError("GitHub said 502")

    pk = record(store)
    runtime = Runtime(settings, store, queue, router)
    assert runtime.process(pk) == "retrying"
    row = store.get_delivery("d-1")
    assert row.status == "retrying" and "GitHub said 502" in row.last_error
    # The retry is enqueued with a delay (eta), not run at once.
    [retry] = queue.huey.pending()
    assert retry.args == (pk,) and retry.eta is not None
    assert any("handler failed" in r.getMessage() for r in caplog.records)

    # The scheduled retry runs later: only the failed handler runs again.
    assert runtime.process(pk) == "retrying"
    assert runtime.process(pk) == "done"
    assert [c[0] for c in calls].count("report") == 1
    assert [c[0] for c in calls].count("any") == 1
    assert [c[0] for c in calls].count("flaky") == 3
    runs = store.handler_runs(pk)
    flaky_runs = [(r.attempt, r.ok) for r in runs if r.handler.endswith("flaky")]
    assert flaky_runs == [(1, False), (2, False), (3, True)]


def test_failing_for_good_is_marked_failed_not_dropped(settings, store, queue, router):
    @router.register("pull_request", "opened")
    def broken(ctx, delivery):
        raise ValueError("manifest adapter bug")

    pk = record(store)
    runtime = Runtime(settings, store, queue, router)
    statuses = [runtime.process(pk) for _ in range(settings.max_attempts)]
    assert statuses[-1] == "failed" and set(statuses[:-1]) == {"retrying"}
    row = store.get_delivery("d-1")
    assert row.status == "failed" and "manifest adapter bug" in row.last_error
    assert runtime.process(pk) == "skipped"


def test_handler_errors_are_logged_with_the_delivery_id(settings, store, queue, router, capsys):
    from bot.core.logs import configure

    @router.register("pull_request", "opened")
    def broken(ctx, delivery):
        raise ValueError("boom")

    configure("INFO")
    pk = record(store, delivery_id="abc-123")
    Runtime(settings, store, queue, router).process(pk)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    failed = [ln for ln in lines if ln["msg"] == "handler failed"]
    assert failed and failed[0]["delivery_id"] == "abc-123" and "ValueError: boom" in failed[0]["exc"]


def test_reaper_re_enqueues_deliveries_the_queue_lost(settings, store, queue, router, calls):
    pk = record(store)
    runtime = Runtime(settings, store, queue, router)
    queue.huey.flush()  # the message is lost
    assert runtime.reap() == 0  # still within the grace period
    with store.session() as s:
        from bot.adapters.store import DeliveryRow

        s.get(DeliveryRow, pk).next_attempt_at = s.get(DeliveryRow, pk).received_at - dt.timedelta(minutes=5)
    assert runtime.reap() == 1
    assert runtime.reap() == 0  # not again before another grace period
    assert queue.depth() == 1


def test_expired_lease_lets_another_worker_take_over(settings, store, queue, router, calls):
    pk = record(store)
    first = store.claim(pk, lease_seconds=60)
    assert first is not None
    assert store.claim(pk, lease_seconds=60) is None  # leased: nobody else runs it
    from bot.adapters.store import DeliveryRow

    with store.session() as s:
        row = s.get(DeliveryRow, pk)
        row.lease_until = row.received_at - dt.timedelta(seconds=1)
    assert Runtime(settings, store, queue, router).process(pk) == "done"
    assert store.get_delivery("d-1").attempts == 2


def test_duplicate_delivery_id_is_recorded_once(store):
    assert record(store) is not None
    assert record(store) is None


def test_an_enqueued_delivery_is_committed_when_enqueue_returns_and_huey_reads_it_back(settings, queue):
    """The intake answers 2xx right after enqueue: the message must be in the queue's storage for
    another connection (a consumer process) to see, in huey's own format."""
    queue.enqueue(41)
    if settings.redis_url:
        import redis

        assert redis.Redis.from_url(settings.redis_url).llen(queue.huey.storage.queue_key) == 1
    else:
        import sqlite3

        other = sqlite3.connect(queue.huey.storage.filename)
        try:
            assert other.execute("SELECT count(*) FROM task WHERE queue = ?", (queue.huey.name,)).fetchone() == (1,)
        finally:
            other.close()
    task = queue.huey.dequeue()
    assert (task.name, task.args) == ("process_delivery", (41,))
    assert queue.depth() == 0


def test_a_failing_periodic_job_stops_no_other_and_is_logged(settings, store, queue, caplog):
    r = Router()
    ran = []

    @r.periodic
    def broken(runtime):
        raise RuntimeError("boom")

    @r.periodic
    def owed(runtime):
        ran.append("owed")
        return 2

    with caplog.at_level("ERROR", logger="bot.app.worker"):
        assert Runtime(settings, store, queue, r).reap() == 2
    assert ran == ["owed"]
    assert any(rec.getMessage() == "periodic job failed" for rec in caplog.records)
