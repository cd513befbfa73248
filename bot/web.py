"""The web adapter: POST /webhook, /healthz, /readyz, /metrics.

The request path verifies, records and enqueues; it never calls GitHub or AWS. Everything it
decides comes from `bot.intake`; everything it stores goes through `bot.store` and `bot.queue`.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, Response, jsonify, request

from . import intake, metrics
from .config import Settings
from .logs import add_redactions, delivery_context
from .queue import Queue
from .store import Store

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, store: Store | None = None, queue: Queue | None = None,
               handled: frozenset[str] | None = None) -> Flask:
    if handled is None:
        from .features import load_router

        handled = load_router().keys()
    store = store or Store(settings.database_url)
    queue = queue or Queue(settings)
    add_redactions(s.get() for s in settings.webhook_secrets)

    app = Flask("modelbot")
    # One byte over the limit, so a body without Content-Length (chunked) that is too large is
    # read as limit+1 bytes and refused, instead of being cut at the limit silently.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.extensions["modelbot"] = {"store": store, "queue": queue, "settings": settings}

    def reply(status: int, outcome: str, reason: str, event: str = "unknown", **extra) -> Response:
        metrics.DELIVERIES.labels(event=event, outcome=outcome).inc()
        body = {"outcome": outcome, "reason": reason, **extra}
        return Response(json.dumps(body), status=status, mimetype="application/json")

    @app.post("/webhook")
    def webhook():
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            return reply(413, "too_large", f"body over {settings.max_body_bytes} bytes")
        body = request.get_data(cache=False)
        if len(body) > settings.max_body_bytes:
            return reply(413, "too_large", f"body over {settings.max_body_bytes} bytes")
        result = intake.inspect_delivery(
            headers=request.headers, body=body, secrets=settings.webhook_secrets, handled=handled,
            allow_repository=settings.server.allows_repository,
        )
        if isinstance(result, intake.Rejection):
            # An unsigned request's headers are the sender's word only: do not label metrics by them.
            event_label = "unknown" if result.status == 401 else request.headers.get("X-GitHub-Event", "")[:64]
            with delivery_context(request.headers.get("X-GitHub-Delivery", "")[:64] or None):
                log.info("delivery refused", extra={"status": result.status, "outcome": result.outcome,
                                                    "reason": result.reason, "event": event_label})
            return reply(result.status, result.outcome, result.reason, event=event_label)
        d = result
        with delivery_context(d.delivery_id):
            pk = store.record_delivery(delivery_id=d.delivery_id, event=d.event, action=d.action,
                                       repository=d.repository, installation_id=d.installation_id,
                                       payload=body.decode("utf-8"))
            if pk is None:
                log.info("redelivery ignored", extra={"event": d.key})
                return reply(202, "duplicate", "delivery id already recorded", event=d.event)
            queue.enqueue(pk)
            log.info("delivery queued", extra={"event": d.key, "repository": d.repository})
            return reply(202, "queued", "queued for processing", event=d.event)

    @app.errorhandler(413)
    def too_large(_exc):
        return reply(413, "too_large", f"body over {settings.max_body_bytes} bytes")

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz():
        problems = {}
        for name, check in (("store", store.ping), ("queue", queue.ping)):
            try:
                check()
            except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
                problems[name] = type(exc).__name__
        if problems:
            return jsonify(status="unavailable", problems=problems), 503
        return jsonify(status="ready", store=settings.store_backend, queue=settings.queue_backend)

    @app.get("/metrics")
    def metrics_view():
        return Response(metrics.render(store, queue), mimetype="text/plain; version=0.0.4")

    return app
