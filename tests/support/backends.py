"""Real backends for tests: SQLite + SQLite queue (embedded) and PostgreSQL + Redis (scale).

Each test gets its own PostgreSQL schema and its own Redis key prefix, so tests never see one
another's rows and the suite can run against the shared local servers.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

PG_URL = os.environ.get("MODELBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MODELBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

BACKENDS = ("embedded", "scale")


def selected_backends() -> tuple[str, ...]:
    """MODELBOT_TEST_BACKENDS=embedded runs only SQLite; default runs both."""
    raw = os.environ.get("MODELBOT_TEST_BACKENDS", "all")
    if raw == "all":
        return BACKENDS
    chosen = tuple(b.strip() for b in raw.split(",") if b.strip())
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        raise ValueError(f"MODELBOT_TEST_BACKENDS: unknown backend(s) {sorted(unknown)}; use {BACKENDS}")
    return chosen


@dataclass
class Backend:
    name: str
    env: dict[str, str]
    cleanup: list

    def close(self) -> None:
        for fn in reversed(self.cleanup):
            fn()


def make_backend(name: str, data_dir: str) -> Backend:
    env = {"MODELBOT_DATA_DIR": data_dir}
    cleanup = []
    if name == "scale":
        import redis
        import sqlalchemy as sa

        schema = "t_" + uuid.uuid4().hex[:12]
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        except sa.exc.OperationalError as exc:
            raise RuntimeError(
                f"PostgreSQL is not reachable at {PG_URL} ({exc.__class__.__name__}); start it "
                "(see .ci/run) or set MODELBOT_TEST_BACKENDS=embedded") from None

        def drop_schema():
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()

        cleanup.append(drop_schema)
        sep = "&" if "?" in PG_URL else "?"
        env["DATABASE_URL"] = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.ping()
        except redis.exceptions.ConnectionError:
            raise RuntimeError(f"Redis is not reachable at {REDIS_URL}; start it (see .ci/run) or set "
                               "MODELBOT_TEST_BACKENDS=embedded") from None
        env["REDIS_URL"] = REDIS_URL
        env["MODELBOT_QUEUE_NAME"] = "modelbot-" + schema

        def flush_keys():
            for key in client.scan_iter(match=f"*{schema}*"):
                client.delete(key)
            client.close()

        cleanup.append(flush_keys)
    return Backend(name, env, cleanup)
