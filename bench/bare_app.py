"""The baselines for bench_intake.py, served under the same gunicorn settings as the bot.

`app` (bench.bare_app:app), the bare app: Flask doing nothing. POST /webhook reads the whole
body and answers 204; GET /healthz answers 200.

`floor` (bench.bare_app:floor), the durable floor: Flask doing only the durable minimum of an
intake, with no library between it and the database beyond the driver: read the body, check
its HMAC (the first secret of MODELBOT_WEBHOOK_SECRETS), parse the JSON, one INSERT of the
payload into the store's `deliveries` table (same database, same schema, same SQLite pragmas
as the bot's store; a single autocommitted statement, committed before the answer), one
enqueue of the row id (a row in a SQLite queue file beside the store, as huey's; an LPUSH on
Redis when REDIS_URL is set), answer 202. A repeated delivery id is answered 202 "duplicate".
Whatever the bot costs beyond the floor is machinery, not durability.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import sqlite3
import threading

from flask import Flask, Response, jsonify, request

app = Flask("bare")


@app.post("/webhook")
def webhook() -> Response:
    request.get_data(cache=False)
    return Response(status=204)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


_COLUMNS = ("delivery_id", "event", "action", "repository", "installation_id", "payload", "status", "attempts",
            "next_attempt_at", "received_at")
_QUEUE_DDL = ("create table if not exists task (id integer not null primary key, queue text not null, "
              "data blob not null, priority real not null default 0.0)")


def _sqlite(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def make_floor() -> Flask:
    from bot.core.config import load_settings  # start-up only: where the store and the queue are

    settings = load_settings()
    key = settings.webhook_secrets[0].get().encode()
    local = threading.local()
    pg = settings.store_backend == "postgresql"
    if pg:
        import psycopg

        dsn = settings.database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        insert = (f"INSERT INTO deliveries ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
                  "RETURNING id")
        duplicate = psycopg.errors.UniqueViolation
    else:
        store_path = settings.database_url.split("///", 1)[1]
        insert = f"INSERT INTO deliveries ({', '.join(_COLUMNS)}) VALUES ({', '.join(['?'] * len(_COLUMNS))})"
        duplicate = sqlite3.IntegrityError
    if settings.redis_url:
        import redis

        redis_client = redis.Redis.from_url(settings.redis_url)
        queue_key = f"huey.redis.{settings.queue_name}"
    else:
        queue_path = str(settings.data_dir / "floor-queue.db")
        _sqlite(queue_path).execute(_QUEUE_DDL)

    def connection(name: str, connect):
        """This thread's connection `name` (one per gunicorn thread, opened on first use)."""
        conn = getattr(local, name, None)
        if conn is None:
            conn = connect()
            setattr(local, name, conn)
        return conn

    def store_insert(row: tuple) -> int:
        if pg:
            conn = connection("store", lambda: psycopg.connect(dsn, autocommit=True))
            return conn.execute(insert, row).fetchone()[0]
        return connection("store", lambda: _sqlite(store_path)).execute(insert, row).lastrowid

    def enqueue(pk: int) -> None:
        message = b"process_delivery:%d" % pk
        if settings.redis_url:
            redis_client.lpush(queue_key, message)
            return
        connection("queue", lambda: _sqlite(queue_path)).execute("INSERT INTO task (queue, data, priority) VALUES (?, ?, 0)", (settings.queue_name, message))

    floor = Flask("floor")

    @floor.post("/webhook")
    def webhook() -> Response:
        body = request.get_data(cache=False)
        given = request.headers.get("X-Hub-Signature-256", "")
        if not hmac.compare_digest("sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(), given):
            return Response(status=401)
        payload = json.loads(body)
        now = dt.datetime.now(dt.timezone.utc)
        row = (request.headers["X-GitHub-Delivery"], request.headers["X-GitHub-Event"], payload.get("action"),
               payload.get("repository", {}).get("full_name"), payload.get("installation", {}).get("id"),
               body.decode(), "queued", 0, now, now)
        try:
            pk = store_insert(row)
        except duplicate:
            return Response('{"outcome": "duplicate"}', status=202, mimetype="application/json")
        enqueue(pk)
        return Response('{"outcome": "queued"}', status=202, mimetype="application/json")

    @floor.get("/healthz")
    def floor_healthz():
        return jsonify(status="ok")

    return floor


def __getattr__(name: str):
    """`floor` is built on first use, so serving `app` needs no store settings."""
    if name == "floor":
        globals()["floor"] = value = make_floor()
        return value
    raise AttributeError(name)
