"""Health, readiness and metrics endpoints."""

from __future__ import annotations

import json

from bot.core.config import load_settings
from bot.app.router import Router
from bot.adapters.store import Store
from bot.app.web import create_app
from bot.app.worker import Runtime


def test_healthz_and_readyz(settings, store, queue):
    client = create_app(settings, store=store, queue=queue).test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["status"] == "ready"
    assert ready.json["store"] == settings.store_backend and ready.json["queue"] == settings.queue_backend


def test_readyz_reports_an_unreachable_store(bot_env, queue):
    env = {**bot_env, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    settings = load_settings(env)
    client = create_app(settings, store=Store(settings.database_url), queue=queue).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["status"] == "unavailable" and "store" in ready.json["problems"]
    assert "nobody" not in ready.get_data(as_text=True)  # no connection details leak


def test_metrics_show_queue_depth_and_handler_failures(settings, store, queue):
    router = Router()

    @router.register("ping")
    def explode(ctx, delivery):
        raise RuntimeError("no")

    pk = store.record_delivery(delivery_id="m-1", event="ping", action=None, repository=None,
                               installation_id=None, payload=json.dumps({}))
    queue.enqueue(pk)
    Runtime(settings, store, queue, router).process(pk)
    text = create_app(settings, store=store, queue=queue).test_client().get("/metrics").get_data(as_text=True)
    assert 'modelbot_queue_depth{state="pending"}' in text
    assert 'modelbot_delivery_status{event="ping",status="retrying"} 1.0' in text
    name = "tests.test_web.test_metrics_show_queue_depth_and_handler_failures.<locals>.explode"
    assert f'modelbot_handler_failures_total{{handler="{name}"}} 1.0' in text
    assert f'modelbot_handler_duration_seconds_count{{handler="{name}"}} 1.0' in text
