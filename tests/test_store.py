"""The store on both backends: migrations, the delivery-id constraint, leases under concurrency."""

from __future__ import annotations

import datetime as dt
import threading

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import bot.adapters.cache  # noqa: F401 - its table belongs to the same metadata
from bot.adapters.migrate import migrate
from bot.adapters.store import Base


def test_migrations_match_the_models_and_are_idempotent(store):
    migrate(store.engine)  # a second run is a no-op
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert {"deliveries", "handler_runs", "installations", "locks", "holds", "deployments", "comparisons",
            "alembic_version"} <= set(
        inspect(store.engine).get_table_names())


def test_sqlite_runs_in_wal_mode(store, backend):
    if backend.name != "embedded":
        return
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_concurrent_inserts_of_one_delivery_id_record_one_row(store):
    results = []
    barrier = threading.Barrier(8)

    def insert():
        barrier.wait()
        results.append(store.record_delivery(delivery_id="same-id", event="ping", action=None, repository=None,
                                             installation_id=None, payload="{}"))

    threads = [threading.Thread(target=insert) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([r for r in results if r is not None]) == 1
    assert results.count(None) == 7


def test_only_one_of_many_concurrent_claims_wins(store):
    pk = store.record_delivery(delivery_id="d", event="ping", action=None, repository=None,
                               installation_id=None, payload="{}")
    won = []
    barrier = threading.Barrier(6)

    def claim():
        barrier.wait()
        won.append(store.claim(pk, lease_seconds=60) is not None)

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert won.count(True) == 1


def test_installations_are_upserted(store):
    store.upsert_installation(5, "octo-org", True)
    store.upsert_installation(5, "octo-org", False)
    row = store.installation(5)
    assert (row.account, row.active) == ("octo-org", False)


def test_a_lock_has_one_holder_until_released_or_expired(store):
    from bot.adapters.store import LockRow

    assert store.acquire_lock("production:fraud", "acme/models#1", 60) == (True, "acme/models#1")
    assert store.acquire_lock("production:fraud", "acme/models#2", 60) == (False, "acme/models#1")
    assert store.acquire_lock("production:fraud", "acme/models#1", 60)[0]  # renewing is fine
    assert store.lock("production:fraud").holder == "acme/models#1"
    # A crashed holder's lease runs out: the lock cannot be orphaned.
    with store.session() as s:
        row = s.get(LockRow, "production:fraud")
        row.lease_until = row.acquired_at - dt.timedelta(seconds=1)
    assert store.lock("production:fraud") is None
    assert store.acquire_lock("production:fraud", "acme/models#2", 60) == (True, "acme/models#2")
    assert not store.release_lock("production:fraud", "acme/models#1")  # not the holder
    assert store.release_locks_of("acme/models#2") == ["production:fraud"]
    assert store.lock("production:fraud") is None


def test_racing_for_one_lock_gives_it_to_exactly_one(store):
    results = []
    barrier = threading.Barrier(6)

    def take(i):
        barrier.wait()
        results.append(store.acquire_lock("staging:churn", f"pr#{i}", 60)[0])

    threads = [threading.Thread(target=take, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def test_holds_are_idempotent(store):
    store.set_hold("acme/models", 3, "alice")
    store.set_hold("acme/models", 3, "bob")
    assert store.hold("acme/models", 3).held_by == "alice"
    store.set_hold("acme/models", 3, None)
    store.set_hold("acme/models", 3, None)
    assert store.hold("acme/models", 3) is None


def test_a_recorded_delivery_reads_back_as_the_orm_wrote_it_and_is_due(store):
    """record_delivery writes through the driver: its timestamps must read back and compare as
    SQLAlchemy's own (SQLite keeps them as text, compared as strings)."""
    from bot.core.clock import utcnow

    before = utcnow()
    pk = store.record_delivery(delivery_id="d-raw", event="ping", action=None, repository="acme/models",
                               installation_id=7, payload='{"zen": "x"}')
    row = store.get_delivery("d-raw")
    assert (row.id, row.status, row.attempts, row.installation_id, row.payload) == (pk, "queued", 0, 7, '{"zen": "x"}')
    received = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=dt.timezone.utc)
    assert before - dt.timedelta(seconds=1) <= received <= utcnow()
    assert store.due_for_retry() == [pk]
    assert store.record_delivery(delivery_id="d-raw", event="ping", action=None, repository=None,
                                 installation_id=None, payload="{}") is None


def test_the_intake_insert_survives_a_connection_the_server_closed(store, backend, monkeypatch):
    """No ping on every checkout: a pooled connection killed by the server fails the insert's first
    attempt, and record_delivery retries it once on a fresh connection (or the idle ping finds it)."""
    if backend.name != "scale":
        return
    import sqlalchemy as sa

    import bot.adapters.store

    def kill_pooled_connection():
        with store.engine.connect() as conn:  # the pool's only connection, checked in again after
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        admin = sa.create_engine(store.url)
        try:
            with admin.connect() as conn:
                assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        finally:
            admin.dispose()
        return pid

    store.record_delivery(delivery_id="d-0", event="ping", action=None, repository=None, installation_id=None,
                          payload="{}")
    kill_pooled_connection()  # used just now: no ping, the insert itself meets the dead connection
    assert store.record_delivery(delivery_id="d-1", event="ping", action=None, repository=None,
                                 installation_id=None, payload="{}") is not None
    monkeypatch.setattr(bot.adapters.store, "PING_IDLE_SECONDS", 0.0)  # now every checkout counts as idle
    kill_pooled_connection()
    assert store.record_delivery(delivery_id="d-2", event="ping", action=None, repository=None,
                                 installation_id=None, payload="{}") is not None
    with store.engine.connect() as conn:  # and the rest of the store meets a live connection again
        assert conn.execute(sa.text("SELECT count(*) FROM deliveries")).scalar() == 3


def test_a_recorded_delivery_is_committed_when_record_delivery_returns_and_the_connection_is_left_as_found(
        store, settings):
    """The intake answers 2xx right after record_delivery: the row must already be committed (another
    connection sees it), and the pooled connection it used goes back to SQLAlchemy's usual
    transactional mode, so the next session's transaction still rolls back as one."""
    from sqlalchemy import text

    from bot.adapters.store import Store

    pk = store.record_delivery(delivery_id="d-committed", event="ping", action=None, repository=None,
                               installation_id=None, payload="{}")
    other = Store(settings.database_url)
    try:
        with other.engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM deliveries WHERE delivery_id = 'd-committed'")).scalar() == pk
    finally:
        other.dispose()
    conn = store.engine.raw_connection()
    try:
        driver = conn.driver_connection
        assert (driver.autocommit is False) if store._pg else (driver.isolation_level is not None)
    finally:
        conn.close()
    try:
        with store.session() as s:
            s.execute(text("UPDATE deliveries SET attempts = 5 WHERE id = :pk"), {"pk": pk})
            raise RuntimeError("abort the transaction")
    except RuntimeError:
        pass
    assert store.get_delivery("d-committed").attempts == 0
