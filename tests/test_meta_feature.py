"""The App's own lifecycle through the signed webhook: pings and installations."""

from __future__ import annotations

from bot.app.features import load_router
from bot.app.web import create_app
from bot.app.worker import Runtime
from tests.conftest import SECRET
from tests.support import webhooks


def deliver(settings, store, queue, event, payload, delivery_id):
    client = create_app(settings, store=store, queue=queue).test_client()
    body, headers = webhooks.delivery(payload, event, SECRET, delivery_id)
    resp = client.post("/webhook", data=body, headers=headers)
    assert resp.status_code == 202, resp.json
    row = store.get_delivery(delivery_id)
    return Runtime(settings, store, queue, load_router("")).process(row.id)


def test_installation_lifecycle_is_recorded(settings, store, queue):
    created = webhooks.installation("created", account="acme", installation_id=77)
    assert deliver(settings, store, queue, "installation", created, "i-1") == "done"
    assert (store.installation(77).account, store.installation(77).active) == ("acme", True)

    deleted = webhooks.installation("deleted", account="acme", installation_id=77)
    assert deliver(settings, store, queue, "installation", deleted, "i-2") == "done"
    assert store.installation(77).active is False


def test_ping_is_handled(settings, store, queue):
    assert deliver(settings, store, queue, "ping", webhooks.ping(), "p-1") == "done"
    assert store.get_delivery("p-1").status == "done"
