"""The web adapter: POST /webhook, /healthz, /readyz, /metrics, the JSON API (`bot.app.api`) and the
status UI behind sign-in with GitHub (`bot.app.ui`).

The request path verifies, records and enqueues; it never calls GitHub or AWS. Everything it
decides comes from `bot.app.intake`; everything it stores goes through `bot.adapters.store` and `bot.adapters.queue`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

from flask import Flask, Response, jsonify, request

from bot.app import api, intake, metrics, ui
from bot.core.access import address_allowed, bearer_matches
from bot.core.config import Settings
from bot.core.logs import add_redactions, delivery_context
from bot.adapters.queue import Queue
from bot.adapters.store import Store

log = logging.getLogger(__name__)

# GitHub gives up on a delivery after 10 s, so a body that takes longer to arrive has nobody
# waiting for its answer: past this the request is cut off with a 408 and its thread freed.
BODY_DEADLINE_SECONDS = 10.0


class ReadDeadlines:
    """Cuts the read side of connections whose request body did not arrive in time.

    A WSGI application cannot bound a blocking read of `wsgi.input` by itself: gunicorn's reader
    calls recv() until it holds what was asked for, and a client sending one byte a second
    satisfies every recv(). So each body read is armed with its deadline here, and one daemon
    thread per process shuts down (SHUT_RD) the sockets still armed past theirs: the blocked
    recv() returns end-of-file, the read comes back short, and the handler answers 408. Arming and
    disarming are a dict operation under a lock.
    """

    TICK = 0.2  # seconds between looks: the deadline's precision

    def __init__(self):
        self._lock = threading.Lock()
        self._armed: dict[int, list] = {}
        self._pid: int | None = None

    def arm(self, sock: socket.socket, seconds: float) -> list:
        entry = [time.monotonic() + seconds, sock, False]
        with self._lock:
            if self._pid != os.getpid():  # first use in this (forked) process
                self._pid = os.getpid()
                self._armed.clear()
                threading.Thread(target=self._run, name="body-deadlines", daemon=True).start()
            self._armed[id(entry)] = entry
        return entry

    def disarm(self, entry: list) -> bool:
        """Stop watching; True when the deadline had already cut the connection."""
        with self._lock:
            self._armed.pop(id(entry), None)
        return entry[2]

    def _run(self) -> None:
        # Wakes TICK-ly whatever is armed: waking it on every arm costs each request a thread
        # switch (7 % of py-spy's samples of the intake), five idle looks a second cost nothing.
        while True:
            time.sleep(self.TICK)
            now = time.monotonic()
            with self._lock:
                late = [key for key, entry in self._armed.items() if entry[0] <= now]
                for key in late:
                    entry = self._armed.pop(key)
                    entry[2] = True
                    try:
                        entry[1].shutdown(socket.SHUT_RD)
                    except OSError:
                        pass  # already closed by the client


_DEADLINES = ReadDeadlines()


HEADER_DEADLINE_SECONDS = 10.0  # the request line and headers, from the thread taking them up
_HEADERS = threading.local()


def guard_header_reads(worker) -> None:
    """Under gunicorn's gthread worker, bound the reading of a request's line and headers the
    way `read_body` bounds its body: gunicorn waits with a timeout only for the first byte, then
    parses on a blocking socket, so a client sending its headers a byte at a time (or half of
    them and nothing more) would hold a thread for ever. The deadline is armed when a thread
    takes the connection up and disarmed by `headers_read` (gunicorn's pre_request hook, called
    once the headers are parsed) or when the thread lets the connection go."""
    handle = getattr(worker, "handle", None)
    if handle is None or getattr(handle, "_modelbot_guarded", False):
        return

    def guarded(*args, **kwargs):
        sock = getattr(args[0], "sock", None) if args else None
        if not isinstance(sock, socket.socket):  # not gthread's handle(conn): leave it alone
            return handle(*args, **kwargs)
        _HEADERS.entry = _DEADLINES.arm(sock, HEADER_DEADLINE_SECONDS)
        try:
            return handle(*args, **kwargs)
        finally:
            entry, _HEADERS.entry = getattr(_HEADERS, "entry", None), None
            if entry is not None:
                _DEADLINES.disarm(entry)

    guarded._modelbot_guarded = True
    worker.handle = guarded


def headers_read() -> None:
    """The request's headers are in: the header deadline no longer applies (the body has its own)."""
    entry, _HEADERS.entry = getattr(_HEADERS, "entry", None), None
    if entry is not None:
        _DEADLINES.disarm(entry)


def read_body(environ: dict, read, seconds: float) -> bytes | None:
    """`read()` (the whole body) within `seconds`; None when the deadline cut it off.

    Under gunicorn the connection's socket is in the environ and the deadline is enforced on it;
    elsewhere (Flask's test client) there is no socket to cut and the body is simply read.
    """
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return read()
    entry = _DEADLINES.arm(sock, seconds)
    try:
        body = read()
    except Exception:  # a cut body ends in werkzeug's ClientDisconnected or gunicorn's NoMoreData
        if _DEADLINES.disarm(entry):
            return None
        raise
    # A body that ran into its deadline is refused even if its last byte made it: it is late,
    # and a chunked body cut at a chunk boundary would otherwise look complete.
    return None if _DEADLINES.disarm(entry) else body


def create_app(settings: Settings, *, store: Store | None = None, queue: Queue | None = None,
               handled: frozenset[str] | None = None) -> Flask:
    if handled is None:
        from bot.app.features import handled_keys

        handled = handled_keys()
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
        body = read_body(request.environ, lambda: request.get_data(cache=False), BODY_DEADLINE_SECONDS)
        if body is None:
            return reply(408, "timeout", f"request body not received within {BODY_DEADLINE_SECONDS:g} s")
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
            # DEBUG, not INFO: an accepted delivery is already in the store (its id, event,
            # repository and time) and in the deliveries counter, and the worker logs it at INFO
            # when it processes it ("delivery processed", with its delivery_id); the line cost the
            # intake ~0.06 ms a delivery (bench/bench_intake.py). Refusals stay at INFO.
            log.debug("delivery queued", extra={"event": d.key, "repository": d.repository})
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

    scrapers = [t.get() for t in (*settings.metrics_tokens, *settings.api_tokens)]
    add_redactions(scrapers)

    @app.get("/metrics")
    def metrics_view():
        # An operator's address (MODELBOT_METRICS_ALLOW, the socket's peer: no forwarded header is
        # believed) or a bearer token (MODELBOT_METRICS_TOKENS, MODELBOT_API_TOKENS).
        if not (address_allowed(request.remote_addr, settings.metrics_allow)
                or bearer_matches(request.headers.get("Authorization", ""), scrapers)):
            log.info("metrics refused", extra={"client": request.remote_addr})
            return Response(json.dumps({"error": "unauthorized", "reason": "/metrics needs a bearer token "
                                        "(MODELBOT_METRICS_TOKENS) or an operator address (MODELBOT_METRICS_ALLOW)"}),
                            status=401, mimetype="application/json",
                            headers={"WWW-Authenticate": 'Bearer realm="modelbot-metrics"'})
        return Response(metrics.render(store, queue), mimetype="text/plain; version=0.0.4")

    api.register(app, settings, store)
    ui.register(app, settings, store)
    return app
