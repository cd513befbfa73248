"""Installations are upserted in one statement: workers racing on the same new installation
(two `installation` deliveries handled at once) never fail on the primary key."""

from __future__ import annotations

import threading


def test_racing_upserts_of_a_new_installation_all_succeed(store):
    errors: list[BaseException] = []
    for installation_id in range(1000, 1010):
        barrier = threading.Barrier(4)

        def upsert(active: bool, iid=installation_id, b=barrier):
            b.wait()
            try:
                store.upsert_installation(iid, "acme", active)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
        threads = [threading.Thread(target=upsert, args=(n % 2 == 0,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    row = store.installation(1005)
    assert row is not None and row.account == "acme"


def test_an_upsert_updates_the_existing_row(store):
    store.upsert_installation(7, "acme", True)
    store.upsert_installation(7, "acme-renamed", False)
    row = store.installation(7)
    assert (row.account, row.active) == ("acme-renamed", False)
