"""Durable state: SQLAlchemy 2 models and the few operations the service needs.

SQLite (WAL) is the embedded default; PostgreSQL when DATABASE_URL says so. The store, not the
queue, is the source of truth for deliveries: the queue only rings the bell, and a reaper
re-enqueues any delivery whose lease ran out (a worker killed mid-run loses nothing).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import (
    BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text,
    case, create_engine, event, func, select, text, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from bot.core.clock import utcnow
from bot.core.pacing import HOUR, Limits, next_slot


class Base(DeclarativeBase):
    pass


class DeliveryRow(Base):
    """One webhook delivery, recorded once per X-GitHub-Delivery id."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str | None] = mapped_column(String(64))
    repository: Mapped[str | None] = mapped_column(String(255))
    installation_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    # queued -> running -> done | retrying -> ... | failed
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_deliveries_status_next", "status", "next_attempt_at"),)


class HandlerRunRow(Base):
    """One run of one handler for one delivery: the record of failures and durations."""

    __tablename__ = "handler_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_pk: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False)
    handler: Mapped[str] = mapped_column(String(200), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    duration: Mapped[float] = mapped_column(Float, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_handler_runs_delivery", "delivery_pk", "handler"),)


class InstallationRow(Base):
    """An App installation and the account it belongs to, kept current from webhooks."""

    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account: Mapped[str] = mapped_column(String(255), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


_DELIVERY_COLUMNS = ("delivery_id", "event", "action", "repository", "installation_id", "payload", "status",
                     "attempts", "next_attempt_at", "received_at")


class LockRow(Base):
    """A lease on one endpoint: one in-flight rollout (or PR) per endpoint. Expired leases are free."""

    __tablename__ = "locks"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    holder: Mapped[str] = mapped_column(String(300), nullable=False)
    lease_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class HoldRow(Base):
    """A pull request put on hold with /hold: no merge (approval check fails), no deploy."""

    __tablename__ = "holds"

    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    held_by: Mapped[str] = mapped_column(String(255), nullable=False)
    held_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class DeploymentRow(Base):
    """One deployment of one manifest to one environment: the rollout's durable state and the
    ledger's record of what put a model there. `key` makes a merge deploy exactly once."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(600), unique=True, nullable=False)
    repository: Mapped[str] = mapped_column(String(255), nullable=False)
    pr_number: Mapped[int | None] = mapped_column(Integer)
    commit_sha: Mapped[str] = mapped_column(String(40), nullable=False)
    manifest_path: Mapped[str] = mapped_column(String(500), nullable=False)
    environment: Mapped[str] = mapped_column(String(64), nullable=False)
    endpoint: Mapped[str | None] = mapped_column(String(63))
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # merge | command | rollback
    requested_by: Mapped[str | None] = mapped_column(String(255))
    after_id: Mapped[int | None] = mapped_column(Integer)  # must succeed first (deploy order)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    requested: Mapped[str | None] = mapped_column(String(16))  # abort | rollback | promote, from people
    github_deployment_id: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str | None] = mapped_column(Text)       # the rollout controller's state (JSON)
    provenance: Mapped[str] = mapped_column(Text, nullable=False)  # data, code, build, checks, approvals (JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    next_tick_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # A progress report to GitHub that failed: {"status", "text"} of the newest one, owed until
    # delivered (a later report supersedes it), retried by the reaper from `notify_due_at`.
    notify_owed: Mapped[str | None] = mapped_column(Text)
    notify_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    notify_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def kind(self) -> str:
        """"deploy", or "teardown" for the removal of a deleted manifest's endpoint."""
        try:
            return str(json.loads(self.provenance or "{}").get("kind") or "deploy")
        except ValueError:
            return "deploy"

    __table_args__ = (Index("ix_deployments_status_tick", "status", "next_tick_at"),
                      Index("ix_deployments_endpoint", "environment", "endpoint"),
                      Index("ix_deployments_notify_due", "notify_due_at"))


class EndpointOwnerRow(Base):
    """The manifest an endpoint belongs to (the store is the truth; the `modelbot:manifest` tag
    mirrors it). Recorded when modelbot first deploys to the endpoint, adopts it, or a reviewed
    move hands it to another manifest; removed when a teardown deletes the endpoint."""

    __tablename__ = "endpoint_owners"

    environment: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(127), primary_key=True)  # or <endpoint>/<component>
    repository: Mapped[str] = mapped_column(String(255), nullable=False)
    manifest_path: Mapped[str] = mapped_column(String(500), nullable=False)
    how: Mapped[str] = mapped_column(String(16), nullable=False)  # deployed | adopted | moved
    s3_prefix: Mapped[str | None] = mapped_column(String(1024))  # a multi-model endpoint's model prefix
    deployment_id: Mapped[int | None] = mapped_column(Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LedgerRow(Base):
    """One entry of the ledger: append-only (no UPDATE or DELETE path here, and the database's
    triggers refuse one, migration 0007). `kind`: recorded, gate, prepared, phase, smoke,
    request, finished, correction; `data`: JSON, what that entry knows (`bot.core.lineage`)."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    deployment_id: Mapped[int | None] = mapped_column(Integer)
    repository: Mapped[str] = mapped_column(String(255), nullable=False)
    environment: Mapped[str] = mapped_column(String(64), nullable=False)
    endpoint: Mapped[str | None] = mapped_column(String(63))
    commit_sha: Mapped[str | None] = mapped_column(String(40))
    pr_number: Mapped[int | None] = mapped_column(Integer)
    manifest_path: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = (Index("ix_ledger_endpoint", "endpoint", "environment", "id"),
                      Index("ix_ledger_deployment", "deployment_id", "id"),
                      Index("ix_ledger_commit", "commit_sha"))

    def as_entry(self) -> dict:
        """Plain values for `bot.core.lineage` (data parsed)."""
        return {"id": self.id, "at": self.at, "kind": self.kind, "deployment_id": self.deployment_id,
                "repository": self.repository, "environment": self.environment, "endpoint": self.endpoint,
                "commit_sha": self.commit_sha, "pr_number": self.pr_number, "manifest_path": self.manifest_path,
                "actor": self.actor, "data": json.loads(self.data)}


class DriftCheckRow(Base):
    """A repository's last drift cycle: when, how many endpoints were read, which could not be,
    and the GitHub issue it keeps (migration 0010). State: replaced every cycle."""

    __tablename__ = "drift_checks"

    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    checked: Mapped[int] = mapped_column(Integer, nullable=False)
    unreadable: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list
    default_branch: Mapped[str | None] = mapped_column(String(255))
    issue: Mapped[int | None] = mapped_column(Integer)


class ModelAgeRow(Base):
    """The last model-age chart drawn of an endpoint (`bot.app.services.model_age`, migration
    0011). State: replaced at each draw."""

    __tablename__ = "model_age_charts"

    repository: Mapped[str] = mapped_column(String(255), primary_key=True)
    environment: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(63), primary_key=True)
    drawn_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    drawing: Mapped[str] = mapped_column(Text, nullable=False)  # JSON


class SignOutRow(Base):
    """A status UI session its person ended (migration 0012), kept until it would have expired."""

    __tablename__ = "ui_signouts"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_ui_signouts_until", "until"),)


class DriftFindingRow(Base):
    """One finding of a repository's last drift cycle (`bot.core.drift.DriftFinding`); the
    cycle replaces the repository's rows, keeping `first_seen_at` of a finding seen before."""

    __tablename__ = "drift_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repository: Mapped[str] = mapped_column(String(255), nullable=False)
    environment: Mapped[str] = mapped_column(String(64), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(63), nullable=False)
    component: Mapped[str | None] = mapped_column(String(63))
    manifest_path: Mapped[str] = mapped_column(String(500), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False)
    fix: Mapped[str] = mapped_column(Text, nullable=False)
    changes: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list
    first_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_drift_findings_repository", "repository", "id"),
                      Index("ix_drift_findings_endpoint", "environment", "endpoint"))

    @property
    def key(self) -> tuple:
        return (self.environment, self.endpoint, self.component, self.kind)

    @property
    def change_list(self) -> list[str]:
        try:
            value = json.loads(self.changes or "[]")
        except ValueError:
            return []
        return [str(c) for c in value] if isinstance(value, list) else []


class PacingRow(Base):
    """One installation's GitHub write budget: a hold GitHub asked for, the last write's start,
    and counters for /metrics (bot.adapters.github.pacer)."""

    __tablename__ = "github_pacing"

    installation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    held_until: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    last_start: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    sent: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    coalesced: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    refused: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    waited: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")


class GitHubWriteRow(Base):
    """A write's slot: reserved (waiting), going out (sending, leased), or sent (done)."""

    __tablename__ = "github_writes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    installation_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    slot: Mapped[float] = mapped_column(Float, nullable=False)
    state: Mapped[str] = mapped_column(String(8), nullable=False)
    lease_until: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_github_writes_installation_slot", "installation_id", "slot"),)


class WriteTargetRow(Base):
    """The newest writer of one target (a PR's report, a check run, the drift issue)."""

    __tablename__ = "github_write_targets"

    installation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    token: Mapped[str] = mapped_column(String(32), nullable=False)
    generation: Mapped[float] = mapped_column(Float, nullable=False)
    at: Mapped[float] = mapped_column(Float, nullable=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    # REPLACE deletes the row it replaces; only with recursive triggers does that delete fire the
    # ledger's append-only trigger (migration 0007), so INSERT OR REPLACE cannot rewrite an entry.
    cur.execute("PRAGMA recursive_triggers=ON")
    cur.close()


# A pooled PostgreSQL connection idle for longer than this is pinged before use (one round trip);
# one used more recently is not: pinging on every checkout cost the intake 11 % of its CPU. A
# connection that breaks anyway (the server restarted within the window) fails its statement,
# is discarded by the pool, and `record_delivery` retries once on a fresh one.
PING_IDLE_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since > PING_IDLE_SECONDS:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception as exc:  # noqa: BLE001 - the pool replaces the connection and retries
                raise DisconnectionError(f"idle connection failed its ping: {type(exc).__name__}") from exc


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_size=5, max_overflow=5, pool_recycle=1800)
    _ping_when_idle(engine)
    return engine


class Store:
    """Thin adapter over the database; every method is one short transaction."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        dialect = self.engine.dialect
        self._pg = dialect.name == "postgresql"
        self._dbapi = dialect.loaded_dbapi
        mark = "%s" if dialect.paramstyle in ("format", "pyformat") else "?"
        self._insert_delivery = (f"INSERT INTO deliveries ({', '.join(_DELIVERY_COLUMNS)}) "
                                 f"VALUES ({', '.join([mark] * len(_DELIVERY_COLUMNS))})"
                                 + (" RETURNING id" if self._pg else ""))
        # Timestamps stored exactly as SQLAlchemy stores them (SQLite keeps them as text).
        stamp = DeliveryRow.__table__.c.received_at.type
        self._stamp = stamp.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    # --- deliveries ---------------------------------------------------------------------------

    def record_delivery(self, *, delivery_id: str, event: str, action: str | None,
                        repository: str | None, installation_id: int | None, payload: str) -> int | None:
        """Insert a delivery; return its row id, or None when the id was already recorded.

        The request path's one write, and the hot one: one INSERT through the driver on a pooled
        connection (SQLAlchemy's statement machinery cost more than the insert itself), committed
        before this returns: autocommitted, on PostgreSQL (no BEGIN and COMMIT round trips) and
        on SQLite (one statement instead of three). A connection found broken is discarded and
        the insert retried once on a fresh one; should the first attempt have committed after
        all, the retry finds the id recorded and answers None (a duplicate), and the reaper
        enqueues the row.
        """
        now = self._stamp(utcnow())
        row = (delivery_id, event, action, repository, installation_id, payload, "queued", 0, now, now)
        for attempt in (1, 2):
            conn = self.engine.raw_connection()
            try:
                try:
                    return self._insert(conn, row)
                except self._dbapi.IntegrityError:
                    return None
                except self._dbapi.Error as exc:
                    if attempt == 2 or not self.engine.dialect.is_disconnect(exc, conn.driver_connection, None):
                        raise
                    conn.invalidate(exc)
            finally:
                conn.close()
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert(self, conn, row: tuple) -> int:
        if self._pg:
            driver = conn.driver_connection
            driver.autocommit = True
            try:
                return driver.execute(self._insert_delivery, row).fetchone()[0]
            finally:
                if not driver.closed:
                    driver.autocommit = False
        # SQLite: one autocommitted INSERT (isolation_level None), as on PostgreSQL: its own
        # transaction, committed when execute() returns, instead of BEGIN, INSERT, COMMIT.
        driver = conn.driver_connection
        previous = driver.isolation_level
        driver.isolation_level = None
        try:
            return driver.execute(self._insert_delivery, row).lastrowid
        finally:
            try:
                driver.isolation_level = previous
            except self._dbapi.Error:
                pass  # a closed connection: the pool discards it

    def get_delivery(self, delivery_id: str) -> DeliveryRow | None:
        with self.session() as s:
            return s.scalar(select(DeliveryRow).where(DeliveryRow.delivery_id == delivery_id))

    def claim(self, pk: int, lease_seconds: int) -> DeliveryRow | None:
        """Take the lease on a delivery that is due; None if it is done, failed or leased."""
        now = utcnow()
        with self.session() as s:
            result = s.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.id == pk,
                    DeliveryRow.status.in_(("queued", "retrying", "running")),
                    (DeliveryRow.lease_until.is_(None)) | (DeliveryRow.lease_until < now),
                )
                .values(status="running", attempts=DeliveryRow.attempts + 1,
                        lease_until=now + dt.timedelta(seconds=lease_seconds))
            )
            if result.rowcount != 1:
                return None
            return s.get(DeliveryRow, pk)

    def finish(self, pk: int, *, status: str, error: str | None = None,
               retry_at: dt.datetime | None = None) -> None:
        now = utcnow()
        values: dict = {"status": status, "lease_until": None, "last_error": error}
        if status in ("done", "failed"):
            values["finished_at"] = now
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        with self.session() as s:
            s.execute(update(DeliveryRow).where(DeliveryRow.id == pk).values(**values))

    def due_for_retry(self, grace: dt.timedelta = dt.timedelta(0), limit: int = 100) -> list[int]:
        """Deliveries the queue may have lost, marked as just re-enqueued.

        Due means: waiting (queued/retrying) for longer than `grace` past its time, or running
        under a lease that has run out (its worker died). Bumping next_attempt_at keeps several
        reapers from ringing for the same delivery again before another grace period.
        """
        now = utcnow()
        due = DeliveryRow.status.in_(("queued", "retrying", "running")) & (DeliveryRow.next_attempt_at <= now - grace)
        unleased = DeliveryRow.lease_until.is_(None) | (DeliveryRow.lease_until < now)
        with self.session() as s:
            ids = list(s.scalars(select(DeliveryRow.id).where(due, unleased).order_by(DeliveryRow.id).limit(limit)))
            if ids:
                s.execute(update(DeliveryRow).where(DeliveryRow.id.in_(ids)).values(next_attempt_at=now))
            return ids

    def record_handler_run(self, *, delivery_pk: int, handler: str, attempt: int, ok: bool,
                           duration: float, error: str | None) -> None:
        with self.session() as s:
            s.add(HandlerRunRow(delivery_pk=delivery_pk, handler=handler, attempt=attempt, ok=ok,
                                duration=duration, error=error, created_at=utcnow()))

    def succeeded_handlers(self, delivery_pk: int) -> set[str]:
        with self.session() as s:
            return set(s.scalars(select(HandlerRunRow.handler).where(
                HandlerRunRow.delivery_pk == delivery_pk, HandlerRunRow.ok.is_(True))))

    def handler_runs(self, delivery_pk: int) -> list[HandlerRunRow]:
        with self.session() as s:
            return list(s.scalars(select(HandlerRunRow).where(
                HandlerRunRow.delivery_pk == delivery_pk).order_by(HandlerRunRow.id)))

    # --- metrics ------------------------------------------------------------------------------

    def delivery_counts(self) -> list[tuple[str, str, int]]:
        with self.session() as s:
            return [tuple(r) for r in s.execute(
                select(DeliveryRow.event, DeliveryRow.status, func.count()).group_by(
                    DeliveryRow.event, DeliveryRow.status))]

    def handler_stats(self, buckets: tuple[float, ...]) -> list[tuple]:
        """Per handler: runs, failures, total seconds, and cumulative counts per bucket."""
        cols = [func.sum(case((HandlerRunRow.duration <= b, 1), else_=0)) for b in buckets]
        with self.session() as s:
            rows = s.execute(
                select(HandlerRunRow.handler, func.count(),
                       func.sum(case((HandlerRunRow.ok.is_(False), 1), else_=0)),
                       func.sum(HandlerRunRow.duration), *cols).group_by(HandlerRunRow.handler))
            return [tuple(r) for r in rows]

    # --- locks and holds ------------------------------------------------------------------------

    def acquire_lock(self, key: str, holder: str, lease_seconds: int) -> tuple[bool, str]:
        """Take or renew the lease on `key`; (True, holder) or (False, the current holder).

        Portable and race-free: the primary key decides who inserts first, and the update only
        takes a lease that is ours already or has run out.
        """
        now = utcnow()
        until = now + dt.timedelta(seconds=lease_seconds)
        # Renewal (every rollout tick) is the common case: try the update first.
        with self.session() as s:
            if s.execute(update(LockRow).where(
                    LockRow.key == key, (LockRow.holder == holder) | (LockRow.lease_until < now)
            ).values(holder=holder, lease_until=until)).rowcount == 1:
                return True, holder
        try:
            with self.session() as s:
                s.add(LockRow(key=key, holder=holder, lease_until=until, acquired_at=now))
            return True, holder
        except IntegrityError:
            with self.session() as s:
                current = s.get(LockRow, key)
                return False, current.holder if current else ""

    def release_lock(self, key: str, holder: str | None = None) -> bool:
        """Release `key` (only if `holder` holds it, when given); True when a lock was removed."""
        with self.session() as s:
            q = LockRow.__table__.delete().where(LockRow.key == key)
            if holder is not None:
                q = q.where(LockRow.holder == holder)
            return s.execute(q).rowcount > 0

    def release_locks_of(self, holder: str) -> list[str]:
        with self.session() as s:
            keys = list(s.scalars(select(LockRow.key).where(LockRow.holder == holder)))
            if keys:
                s.execute(LockRow.__table__.delete().where(LockRow.holder == holder))
            return keys

    def locks_held_by(self, holder: str) -> list[LockRow]:
        now = utcnow()
        with self.session() as s:
            return list(s.scalars(select(LockRow).where(LockRow.holder == holder, LockRow.lease_until > now)))

    def lock(self, key: str) -> LockRow | None:
        """The live lease on `key`, or None when it is free (no row or expired)."""
        with self.session() as s:
            row = s.get(LockRow, key)
            if row is None:
                return None
            until = row.lease_until if row.lease_until.tzinfo else row.lease_until.replace(tzinfo=dt.timezone.utc)
            return row if until > utcnow() else None

    def live_locks(self, limit: int = 1000) -> list[LockRow]:
        """Every lease not run out yet, oldest first (the status UI's locks page)."""
        now = utcnow()
        with self.session() as s:
            return list(s.scalars(select(LockRow).where(LockRow.lease_until > now)
                                  .order_by(LockRow.acquired_at).limit(limit)))

    def holds(self, repository: str | None = None, limit: int = 1000) -> list[HoldRow]:
        """The pull requests on hold (of one repository), oldest first."""
        with self.session() as s:
            q = select(HoldRow)
            if repository is not None:
                q = q.where(HoldRow.repository == repository)
            return list(s.scalars(q.order_by(HoldRow.held_at).limit(limit)))

    def set_hold(self, repository: str, number: int, held_by: str | None) -> None:
        """Put a PR on hold (held_by a login) or release it (None). Idempotent."""
        with self.session() as s:
            row = s.get(HoldRow, (repository, number))
            if held_by is None:
                if row is not None:
                    s.delete(row)
            elif row is None:
                s.add(HoldRow(repository=repository, number=number, held_by=held_by, held_at=utcnow()))

    def hold(self, repository: str, number: int) -> HoldRow | None:
        with self.session() as s:
            return s.get(HoldRow, (repository, number))

    # --- deployments ------------------------------------------------------------------------------

    ACTIVE = ("pending", "running")

    def create_deployment(self, **fields) -> tuple[int, bool]:
        """Insert a deployment unless its key exists; (id, created)."""
        now = utcnow()
        row = DeploymentRow(status="pending", next_tick_at=now, created_at=now, updated_at=now, **fields)
        try:
            with self.session() as s:
                s.add(row)
                s.flush()
                return row.id, True
        except IntegrityError:
            with self.session() as s:
                return s.scalar(select(DeploymentRow.id).where(DeploymentRow.key == fields["key"])), False

    def deployment(self, pk: int) -> DeploymentRow | None:
        with self.session() as s:
            return s.get(DeploymentRow, pk)

    # --- the ledger (append-only) ---------------------------------------------------------------

    def append_ledger(self, kind: str, *, repository: str, environment: str, data: dict,
                      deployment_id: int | None = None, endpoint: str | None = None,
                      commit_sha: str | None = None, pr_number: int | None = None,
                      manifest_path: str | None = None, actor: str | None = None,
                      at: dt.datetime | None = None) -> int:
        """Add one entry; returns its id. There is no way to change or remove one."""
        row = LedgerRow(at=at or utcnow(), kind=kind, deployment_id=deployment_id, repository=repository,
                        environment=environment, endpoint=endpoint, commit_sha=commit_sha, pr_number=pr_number,
                        manifest_path=manifest_path, actor=actor, data=json.dumps(data, sort_keys=True, default=str))
        with self.session() as s:
            s.add(row)
            s.flush()
            return row.id

    def ledger_endpoints(self, name: str) -> list[tuple[str, str]]:
        """(environment, endpoint) pairs the ledger knows whose name is `name` in any case (an
        ARN shows endpoint names in lower case)."""
        with self.session() as s:
            # The exact name on the ledger's own index; any other case through the deployments
            # table (one row per deployment, not one per entry).
            exact = select(LedgerRow.environment, LedgerRow.endpoint).where(LedgerRow.endpoint == name).distinct()
            other = select(DeploymentRow.environment, DeploymentRow.endpoint).where(
                func.lower(DeploymentRow.endpoint) == name.lower()).distinct()
            return sorted({(e, n) for e, n in s.execute(exact)} | {(e, n) for e, n in s.execute(other)})

    def ledger_deployments_mentioning(self, text: str, kinds: tuple[str, ...] = ("prepared", "recorded")) -> list[int]:
        """Deployments with an entry of `kinds` whose data holds `text` (a model or config name,
        a build id): candidates for `bot.core.lineage.matches` to judge exactly."""
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.session() as s:
            q = select(LedgerRow.deployment_id).where(
                LedgerRow.kind.in_(kinds), LedgerRow.deployment_id.is_not(None),
                LedgerRow.data.like(f"%{escaped}%", escape="\\")).distinct()
            return sorted(pk for pk in s.scalars(q))

    def append_ledger_for(self, row: "DeploymentRow", kind: str, data: dict, *, actor: str | None = None) -> int:
        """An entry about deployment `row`, with its identifying columns."""
        return self.append_ledger(kind, repository=row.repository, environment=row.environment, data=data,
                                  deployment_id=row.id, endpoint=row.endpoint, commit_sha=row.commit_sha,
                                  pr_number=row.pr_number, manifest_path=row.manifest_path, actor=actor)

    def _ledger_query(self, columns, *, endpoint=None, environment=None, deployment_ids=None, commit_sha=None,
                      repository=None, pr_number=None):
        q = select(*columns)
        if endpoint is not None:
            q = q.where(LedgerRow.endpoint == endpoint)
        if environment is not None:
            q = q.where(LedgerRow.environment == environment)
        if deployment_ids is not None:
            q = q.where(LedgerRow.deployment_id.in_(deployment_ids))
        if commit_sha is not None:  # a prefix of the 40 hex digits (lower case), on its own index
            low = commit_sha.lower()
            q = q.where(LedgerRow.commit_sha >= low, LedgerRow.commit_sha < low + "g")
        if repository is not None:
            q = q.where(LedgerRow.repository == repository)
        if pr_number is not None:
            q = q.where(LedgerRow.pr_number == pr_number)
        return q.order_by(LedgerRow.id)

    def ledger(self, **where) -> list[LedgerRow]:
        """Entries (rows) in the order they were written, filtered by what is given: endpoint,
        environment, deployment_ids, commit_sha (a prefix), repository, pr_number."""
        with self.session() as s:
            return list(s.scalars(self._ledger_query([LedgerRow], **where)))

    _ENTRY_COLUMNS = ("id", "at", "kind", "deployment_id", "repository", "environment", "endpoint", "commit_sha",
                      "pr_number", "manifest_path", "actor", "data")

    def ledger_entries(self, **where) -> list[dict]:
        """The same entries as plain dicts (`LedgerRow.as_entry`'s shape, data parsed), read
        without building ORM objects: what a trace folds, thousands at a time."""
        cols = [getattr(LedgerRow, c) for c in self._ENTRY_COLUMNS]
        out = []
        loads = json.loads
        with self.engine.connect() as conn:
            for row in conn.execute(self._ledger_query(cols, **where)):
                entry = dict(zip(self._ENTRY_COLUMNS, row))
                entry["data"] = loads(entry["data"])
                if entry["at"].tzinfo is None:  # SQLite hands back naive UTC
                    entry["at"] = entry["at"].replace(tzinfo=dt.timezone.utc)
                out.append(entry)
        return out

    def deployments(self, **where) -> list[DeploymentRow]:
        with self.session() as s:
            q = select(DeploymentRow)
            for name, value in where.items():
                q = q.where(getattr(DeploymentRow, name) == value)
            return list(s.scalars(q.order_by(DeploymentRow.id)))

    def claim_deployment(self, pk: int, lease_seconds: int) -> DeploymentRow | None:
        """Take the lease on an active deployment; None when finished or leased by another worker."""
        now = utcnow()
        with self.session() as s:
            taken = s.execute(update(DeploymentRow).where(
                DeploymentRow.id == pk, DeploymentRow.status.in_(self.ACTIVE),
                DeploymentRow.lease_until.is_(None) | (DeploymentRow.lease_until < now),
            ).values(lease_until=now + dt.timedelta(seconds=lease_seconds))).rowcount
            return s.get(DeploymentRow, pk) if taken == 1 else None

    def save_deployment(self, pk: int, *, release: bool = True, **values) -> None:
        """Write the rollout's progress (and let go of the lease unless told to keep it)."""
        now = utcnow()
        values["updated_at"] = now
        if values.get("status") in ("succeeded", "failed", "rolled_back", "aborted", "superseded", "refused"):
            values.setdefault("finished_at", now)
        if release:
            values["lease_until"] = None
        with self.session() as s:
            s.execute(update(DeploymentRow).where(DeploymentRow.id == pk).values(**values))

    def request_deployment(self, pk: int, what: str, by: str | None = None) -> bool:
        """Record a person's request (abort, rollback, promote) on an active deployment; the
        ledger keeps who asked and when (`provenance.requests`)."""
        with self.session() as s:
            row = s.get(DeploymentRow, pk, with_for_update=True)
            if row is None or row.status not in self.ACTIVE:
                return False
            row.requested = what
            if by is not None:
                prov = json.loads(row.provenance or "{}")
                prov.setdefault("requests", []).append({"what": what, "by": by, "at": utcnow().isoformat()})
                row.provenance = json.dumps(prov)
            return True

    def consume_request(self, pk: int, what: str) -> None:
        """Clear a request the controller has taken in, unless a newer one replaced it."""
        with self.session() as s:
            s.execute(update(DeploymentRow).where(DeploymentRow.id == pk, DeploymentRow.requested == what)
                      .values(requested=None))

    def due_deployments(self, grace: dt.timedelta = dt.timedelta(0), limit: int = 500) -> list[int]:
        """Active deployments whose next tick is overdue and whose lease ran out (their queue
        message was lost or their worker died), marked as just re-enqueued."""
        now = utcnow()
        with self.session() as s:
            ids = list(s.scalars(select(DeploymentRow.id).where(
                DeploymentRow.status.in_(self.ACTIVE), DeploymentRow.next_tick_at <= now - grace,
                DeploymentRow.lease_until.is_(None) | (DeploymentRow.lease_until < now),
            ).order_by(DeploymentRow.id).limit(limit)))
            if ids:
                s.execute(update(DeploymentRow).where(DeploymentRow.id.in_(ids)).values(next_tick_at=now))
            return ids

    def owe_notification(self, pk: int, status: str, text: str | None, backoff, *,
                          only_if: str | None = None) -> int:
        """Remember the newest progress report GitHub did not take, due again after
        `backoff(attempts)` seconds; the attempts so far (0: nothing written). With `only_if`,
        a retry of that owed report: a newer one owed meanwhile is left as it is."""
        with self.session() as s:
            row = s.get(DeploymentRow, pk)
            if row is None or (only_if is not None and row.notify_owed != only_if):
                return 0
            row.notify_owed = json.dumps({"status": status, "text": text})
            row.notify_attempts = 1 if only_if is None else (row.notify_attempts or 0) + 1  # per report
            row.notify_due_at = utcnow() + dt.timedelta(seconds=backoff(row.notify_attempts))
            return row.notify_attempts

    def notification_delivered(self, pk: int, owed: str | None = None) -> None:
        """Forget what was owed (only `owed` itself when given: a newer failure stays owed)."""
        with self.session() as s:
            q = update(DeploymentRow).where(DeploymentRow.id == pk, DeploymentRow.notify_owed.is_not(None))
            if owed is not None:
                q = q.where(DeploymentRow.notify_owed == owed)
            s.execute(q.values(notify_owed=None, notify_attempts=0, notify_due_at=None))

    def due_notifications(self, lease_seconds: int, limit: int = 100) -> list[DeploymentRow]:
        """Owed progress reports whose retry time has come, pushed back by `lease_seconds` so
        that one reaper takes each."""
        now = utcnow()
        with self.session() as s:
            rows = list(s.scalars(select(DeploymentRow).where(
                DeploymentRow.notify_due_at.is_not(None), DeploymentRow.notify_due_at <= now,
            ).order_by(DeploymentRow.notify_due_at).limit(limit)))
            if rows:
                s.execute(update(DeploymentRow).where(DeploymentRow.id.in_([r.id for r in rows]))
                          .values(notify_due_at=now + dt.timedelta(seconds=lease_seconds)))
            return rows

    def current_deployment(self, environment: str, endpoint: str) -> DeploymentRow | None:
        """The last deployment that succeeded on an endpoint: the ledger's answer."""
        with self.session() as s:
            return s.scalar(select(DeploymentRow).where(
                DeploymentRow.environment == environment, DeploymentRow.endpoint == endpoint,
                DeploymentRow.status == "succeeded").order_by(DeploymentRow.finished_at.desc(),
                                                             DeploymentRow.id.desc()).limit(1))

    # --- endpoint ownership ---------------------------------------------------------------------

    def endpoint_owner(self, environment: str, endpoint: str) -> EndpointOwnerRow | None:
        with self.session() as s:
            return s.get(EndpointOwnerRow, (environment, endpoint))

    def endpoint_owners(self, repository: str | None = None) -> list[EndpointOwnerRow]:
        """Every owner record (of one repository), by repository, environment and endpoint."""
        with self.session() as s:
            q = select(EndpointOwnerRow)
            if repository is not None:
                q = q.where(EndpointOwnerRow.repository == repository)
            return list(s.scalars(q.order_by(EndpointOwnerRow.repository, EndpointOwnerRow.environment,
                                             EndpointOwnerRow.endpoint)))

    def endpoint_owners_named(self, endpoint: str) -> list[EndpointOwnerRow]:
        """The owner records of every environment's endpoint of this name."""
        with self.session() as s:
            return list(s.scalars(select(EndpointOwnerRow).where(EndpointOwnerRow.endpoint == endpoint)
                                  .order_by(EndpointOwnerRow.environment)))

    def claim_endpoint(self, environment: str, endpoint: str, *, repository: str, manifest_path: str, how: str,
                       deployment_id: int | None, move_from: str | None = None,
                       s3_prefix: str | None = None) -> tuple[bool, EndpointOwnerRow]:
        """Record `manifest_path` as the endpoint's owner unless another manifest owns it; a
        reviewed move (`move_from` is the current owner, same repository) hands it over.
        (True, owner) when the endpoint is (now) this manifest's, else (False, the owner)."""
        now = utcnow()
        try:
            with self.session() as s:
                s.add(EndpointOwnerRow(environment=environment, endpoint=endpoint, repository=repository,
                                       manifest_path=manifest_path, how=how, deployment_id=deployment_id,
                                       s3_prefix=s3_prefix, recorded_at=now))
        except IntegrityError:
            pass
        with self.session() as s:
            row = s.get(EndpointOwnerRow, (environment, endpoint), with_for_update=True)
            if row.repository == repository and row.manifest_path == manifest_path:
                row.s3_prefix = s3_prefix
                return True, row
            if move_from is not None and row.repository == repository and row.manifest_path == move_from:
                row.manifest_path, row.how, row.deployment_id, row.recorded_at = (manifest_path, "moved",
                                                                                deployment_id, now)
                row.s3_prefix = s3_prefix
                return True, row
            return False, row

    def prefix_owners(self, prefix: str) -> list[EndpointOwnerRow]:
        """The owner records of multi-model endpoints whose model prefix contains `prefix` or lies
        inside it (S3 is one namespace: every environment and account)."""
        with self.session() as s:
            rows = s.scalars(select(EndpointOwnerRow).where(EndpointOwnerRow.s3_prefix.is_not(None)))
            return [r for r in rows if prefix.startswith(r.s3_prefix) or r.s3_prefix.startswith(prefix)]

    def release_endpoint(self, environment: str, endpoint: str, *, repository: str, manifest_path: str) -> bool:
        """Forget the owner of a torn-down endpoint (only if it is still that manifest)."""
        with self.session() as s:
            return s.execute(EndpointOwnerRow.__table__.delete().where(
                EndpointOwnerRow.environment == environment, EndpointOwnerRow.endpoint == endpoint,
                EndpointOwnerRow.repository == repository,
                EndpointOwnerRow.manifest_path == manifest_path)).rowcount > 0

    # --- installations ------------------------------------------------------------------------

    def upsert_installation(self, installation_id: int, account: str, active: bool) -> None:
        """One statement (INSERT ... ON CONFLICT DO UPDATE on both dialects), so two workers
        handling deliveries of the same new installation at once cannot both insert it."""
        insert = pg_insert if self._pg else sqlite_insert
        values = {"id": installation_id, "account": account, "active": active, "updated_at": utcnow()}
        stmt = insert(InstallationRow).values(**values)
        stmt = stmt.on_conflict_do_update(index_elements=[InstallationRow.id],
                                          set_={k: v for k, v in values.items() if k != "id"})
        with self.session() as s:
            s.execute(stmt)

    def installation(self, installation_id: int) -> InstallationRow | None:
        with self.session() as s:
            return s.get(InstallationRow, installation_id)

    # --- drift (state: the last cycle's findings per repository) -------------------------------

    def replace_drift(self, repository: str, findings: list[dict], *, checked_at: dt.datetime, checked: int,
                      unreadable: list[str], default_branch: str | None, limit: int = 200) -> None:
        """Make `findings` (`DriftFinding.as_record()`s, at most `limit` kept) the repository's
        current ones, in one transaction; a finding of the same (environment, endpoint,
        component, kind) as before keeps its `first_seen_at`. The issue number is kept."""
        with self.session() as s:
            old = {r.key: r.first_seen_at for r in s.scalars(
                select(DriftFindingRow).where(DriftFindingRow.repository == repository))}
            s.execute(DriftFindingRow.__table__.delete().where(DriftFindingRow.repository == repository))
            for f in findings[:limit]:
                key = (f["environment"], f["endpoint"], f.get("component"), f["kind"])
                s.add(DriftFindingRow(repository=repository, environment=f["environment"], endpoint=f["endpoint"],
                                      component=f.get("component"), manifest_path=f["manifest_path"],
                                      kind=f["kind"], detail=f["detail"], fix=f["fix"],
                                      changes=json.dumps(list(f.get("changes") or ())),
                                      first_seen_at=old.get(key, checked_at), seen_at=checked_at))
            row = s.get(DriftCheckRow, repository)
            if row is None:
                row = DriftCheckRow(repository=repository)
                s.add(row)
            row.checked_at, row.checked, row.unreadable = checked_at, checked, json.dumps(list(unreadable))
            row.default_branch = default_branch

    def set_drift_issue(self, repository: str, issue: int | None) -> None:
        with self.session() as s:
            s.execute(update(DriftCheckRow).where(DriftCheckRow.repository == repository).values(issue=issue))

    def forget_drift(self, keep: set[str] | frozenset[str]) -> int:
        """Drop the drift state of every repository not in `keep` (it owns no endpoint any more)."""
        with self.session() as s:
            gone = [r for r in s.scalars(select(DriftCheckRow.repository)) if r not in keep]
            gone += [r for r in s.scalars(select(DriftFindingRow.repository).distinct()) if r not in keep]
            if gone:
                s.execute(DriftFindingRow.__table__.delete().where(DriftFindingRow.repository.in_(gone)))
                s.execute(DriftCheckRow.__table__.delete().where(DriftCheckRow.repository.in_(gone)))
            return len(set(gone))

    def drift_checks(self) -> list[DriftCheckRow]:
        with self.session() as s:
            return list(s.scalars(select(DriftCheckRow).order_by(DriftCheckRow.repository)))

    def drift_findings(self, repository: str | None = None, *, environment: str | None = None,
                       endpoint: str | None = None) -> list[DriftFindingRow]:
        """Current findings, in the order the cycle found them (of one repository or endpoint)."""
        with self.session() as s:
            q = select(DriftFindingRow)
            if repository is not None:
                q = q.where(DriftFindingRow.repository == repository)
            if environment is not None:
                q = q.where(DriftFindingRow.environment == environment)
            if endpoint is not None:
                q = q.where(DriftFindingRow.endpoint == endpoint)
            return list(s.scalars(q.order_by(DriftFindingRow.repository, DriftFindingRow.id)))

    # --- status UI sign-outs ---------------------------------------------------------------------

    def end_session(self, session_hash: str, until: dt.datetime) -> None:
        """Record an ended session (safe to repeat); forget those past their expiry."""
        now = utcnow()
        with self.session() as s:
            s.execute(SignOutRow.__table__.delete().where(SignOutRow.until < now))
            if s.get(SignOutRow, session_hash) is None:
                s.add(SignOutRow(session_hash=session_hash, until=until))

    def session_ended(self, session_hash: str) -> bool:
        with self.session() as s:
            return s.get(SignOutRow, session_hash) is not None

    # --- model age (state: the last chart drawn per endpoint) ----------------------------------

    def keep_model_age(self, repository: str, environment: str, endpoint: str, drawing: dict,
                       drawn_at: dt.datetime) -> None:
        with self.session() as s:
            row = s.get(ModelAgeRow, (repository, environment, endpoint))
            if row is None:
                row = ModelAgeRow(repository=repository, environment=environment, endpoint=endpoint)
                s.add(row)
            row.drawn_at, row.drawing = drawn_at, json.dumps(drawing, default=str)

    def model_age(self, environment: str, endpoint: str, repositories) -> list[tuple[str, dt.datetime, dict]]:
        """(repository, drawn_at, drawing) of the endpoint's charts, for the repositories given."""
        names = list(repositories)
        if not names:
            return []
        with self.session() as s:
            rows = s.scalars(select(ModelAgeRow).where(ModelAgeRow.environment == environment,
                                                       ModelAgeRow.endpoint == endpoint,
                                                       ModelAgeRow.repository.in_(names)))
            out = []
            for r in rows:
                at = r.drawn_at if r.drawn_at.tzinfo else r.drawn_at.replace(tzinfo=dt.timezone.utc)
                out.append((r.repository, at, json.loads(r.drawing)))
            return out

    # --- the GitHub write book (bot.adapters.github.pacer) ---------------------------------------
    # Each reservation is one short transaction that first touches the installation's pacing row:
    # an UPDATE takes SQLite's write lock and PostgreSQL's row lock at once, so two processes
    # reserving for one installation queue up instead of taking the same slot.

    def _pacing_row(self, s: Session, installation_id: int) -> PacingRow:
        if s.execute(update(PacingRow).where(PacingRow.installation_id == installation_id)
                     .values(installation_id=installation_id)).rowcount == 0:
            ins = (pg_insert if self._pg else sqlite_insert)(PacingRow).values(installation_id=installation_id)
            s.execute(ins.on_conflict_do_nothing(index_elements=["installation_id"]))
            s.execute(update(PacingRow).where(PacingRow.installation_id == installation_id)
                      .values(installation_id=installation_id))
        return s.get(PacingRow, installation_id, populate_existing=True)

    @staticmethod
    def _live_starts(s: Session, installation_id: int, now: float, exclude: int | None = None) -> list[float]:
        # Rows of writes that will never go (a process died while waiting) stop counting once their
        # slot is two minutes past; a lease that ran out stops holding a concurrency place.
        rows = s.execute(select(GitHubWriteRow.id, GitHubWriteRow.slot, GitHubWriteRow.state).where(
            GitHubWriteRow.installation_id == installation_id, GitHubWriteRow.slot > now - HOUR)).all()
        return [slot for pk, slot, state in rows
                if pk != exclude and (state != "waiting" or slot > now - 120)]

    def reserve_write(self, installation_id: int, now: float, limits: Limits) -> tuple[int, float]:
        """Reserve this installation's next write slot: (reservation id, slot start)."""
        with self.session() as s:
            pace = self._pacing_row(s, installation_id)
            s.execute(GitHubWriteRow.__table__.delete().where(
                GitHubWriteRow.installation_id == installation_id, GitHubWriteRow.slot <= now - HOUR))
            slot = next_slot(now, self._live_starts(s, installation_id, now), limits, pace.held_until)
            row = GitHubWriteRow(installation_id=installation_id, slot=slot, state="waiting")
            s.add(row)
            s.flush()
            return row.id, slot

    def start_write(self, installation_id: int, write_id: int, now: float, limits: Limits,
                    lease_seconds: float) -> float:
        """Start the reserved write now if the budget allows (0.0), else the seconds to wait."""
        with self.session() as s:
            pace = self._pacing_row(s, installation_id)
            started = [slot for slot, state in s.execute(select(GitHubWriteRow.slot, GitHubWriteRow.state).where(
                GitHubWriteRow.installation_id == installation_id, GitHubWriteRow.slot > now - HOUR,
                GitHubWriteRow.state != "waiting", GitHubWriteRow.id != write_id))]
            slot = next_slot(now, started + [pace.last_start], limits, pace.held_until)
            if slot > now:
                return slot - now
            flying = s.scalar(select(func.count()).select_from(GitHubWriteRow).where(
                GitHubWriteRow.installation_id == installation_id, GitHubWriteRow.state == "sending",
                GitHubWriteRow.lease_until > now)) or 0
            if flying >= limits.concurrency:
                return min(0.05, limits.interval or 0.05)
            s.execute(update(GitHubWriteRow).where(GitHubWriteRow.id == write_id).values(
                state="sending", slot=now, lease_until=now + lease_seconds))
            pace.last_start = max(pace.last_start, now)
            return 0.0

    def finish_write(self, installation_id: int, write_id: int, outcome: str, waited: float) -> None:
        """`outcome`: sent (counted in the windows) | coalesced | refused | cancelled | failed.
        A refused or cancelled write gives its slot back; a failed one may have reached GitHub."""
        with self.session() as s:
            if outcome in ("sent", "failed"):
                s.execute(update(GitHubWriteRow).where(GitHubWriteRow.id == write_id).values(state="done"))
            else:
                s.execute(GitHubWriteRow.__table__.delete().where(GitHubWriteRow.id == write_id))
            counts = {"sent": {"sent": PacingRow.sent + 1}, "failed": {"sent": PacingRow.sent + 1},
                      "coalesced": {"coalesced": PacingRow.coalesced + 1}}.get(outcome, {})
            if outcome != "cancelled" or waited:
                s.execute(update(PacingRow).where(PacingRow.installation_id == installation_id)
                          .values(waited=PacingRow.waited + waited, **counts))

    def hold_github(self, installation_id: int, until: float, refused: bool) -> None:
        """GitHub asked for no request before `until` (counted as a refusal when it refused one)."""
        with self.session() as s:
            pace = self._pacing_row(s, installation_id)
            pace.held_until = max(pace.held_until, until)
            if refused:
                pace.refused += 1

    def github_held_until(self, installation_id: int) -> float:
        with self.session() as s:
            return s.scalar(select(PacingRow.held_until).where(PacingRow.installation_id == installation_id)) or 0.0

    def claim_write_target(self, installation_id: int, key: str, token: str, generation: float, now: float) -> None:
        """Make `token` the newest writer of `key` unless a writer of a later `generation` holds it
        (older writers of it are superseded; of one generation, the last to claim wins)."""
        with self.session() as s:
            s.execute(WriteTargetRow.__table__.delete().where(WriteTargetRow.at < now - 2 * HOUR))
            ins = (pg_insert if self._pg else sqlite_insert)(WriteTargetRow).values(
                installation_id=installation_id, key=key[:300], token=token, generation=generation, at=now)
            s.execute(ins.on_conflict_do_update(
                index_elements=["installation_id", "key"],
                set_={"token": token, "generation": generation, "at": now},
                where=WriteTargetRow.__table__.c.generation <= generation))

    def write_target(self, installation_id: int, key: str) -> str | None:
        with self.session() as s:
            return s.scalar(select(WriteTargetRow.token).where(
                WriteTargetRow.installation_id == installation_id, WriteTargetRow.key == key[:300]))

    def pacing_stats(self, now: float | None = None) -> list[tuple[int, int, int, int, int, float]]:
        """Per installation: (id, writes waiting, sent, coalesced, refused, seconds waited). A
        reservation two minutes past its slot is of a process that died waiting: not counted."""
        now = time.time() if now is None else now
        with self.session() as s:
            waiting = dict(s.execute(select(GitHubWriteRow.installation_id, func.count()).where(
                GitHubWriteRow.state == "waiting", GitHubWriteRow.slot > now - 120)
                .group_by(GitHubWriteRow.installation_id)).all())
            return [(r.installation_id, int(waiting.get(r.installation_id, 0)), r.sent, r.coalesced, r.refused,
                     float(r.waited)) for r in s.scalars(select(PacingRow).order_by(PacingRow.installation_id))]
