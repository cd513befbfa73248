"""The store on both backends: migrations, the delivery-id constraint, leases under concurrency."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.migrate import migrate
from bot.store import Base


def test_migrations_match_the_models_and_are_idempotent(store):
    migrate(store.engine)  # a second run is a no-op
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert {"deliveries", "handler_runs", "installations", "alembic_version"} <= set(
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
