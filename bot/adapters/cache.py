"""Comparison results in the store: the cache that spares recomputation, and the ledger's record.

One row per cache key, the digest of (candidate identity, baseline identity, dataset identity,
spec digest): a push that changes neither model, nor the data, nor the `validation:` section
finds the row and computes nothing. The row keeps what the lineage ledger needs: the dataset
digest, both models' identities, the commit and pull request that computed it, the verdict
and the full result (JSON). A batch transform comparison is a `pending` row whose `state`
holds its jobs, and the pull requests whose head needs them (`pulls`), until a poll completes
it. Two heads (or pull requests) with the same model, data and spec share the row; when the
last of them moves on (a new head with another key, or closed), its jobs are stopped and the
row becomes `superseded`, never polled again (a head that needs it later starts afresh).
Only deterministic outcomes are kept as `done` or `error`; transient failures (S3
unreachable, timeouts) are never stored as results.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import DateTime, Index, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.clock import utcnow
from bot.adapters.store import Base


class ComparisonRow(Base):
    """One comparison of a candidate with the live model on one validation set."""

    __tablename__ = "comparisons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    repository: Mapped[str] = mapped_column(String(255), nullable=False)
    pr_number: Mapped[int | None] = mapped_column(Integer)
    commit_sha: Mapped[str] = mapped_column(String(40), nullable=False)
    manifest_path: Mapped[str] = mapped_column(String(500), nullable=False)
    model: Mapped[str] = mapped_column(String(63), nullable=False)
    environment: Mapped[str] = mapped_column(String(64), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    candidate: Mapped[str] = mapped_column(String(1000), nullable=False)
    baseline: Mapped[str | None] = mapped_column(String(1000))
    dataset: Mapped[str] = mapped_column(String(1100), nullable=False)
    dataset_digest: Mapped[str | None] = mapped_column(String(80))
    spec_digest: Mapped[str] = mapped_column(String(80), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # pending | done | error | superseded
    verdict: Mapped[str | None] = mapped_column(String(16))
    result: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    polls: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_poll_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_comparisons_model_env", "model", "environment"),
                      Index("ix_comparisons_pull", "repository", "pr_number"))

    @property
    def result_dict(self) -> dict | None:
        return json.loads(self.result) if self.result else None

    @property
    def state_dict(self) -> dict:
        return json.loads(self.state) if self.state else {}

    @property
    def pulls(self) -> list[str]:
        """The pull requests (`owner/repo#number`) whose head needs this pending comparison."""
        return _pulls(self.state_dict, self.repository, self.pr_number)


def pull_ref(repository: str, number: int) -> str:
    return f"{repository}#{number}"


def _pulls(state: dict, repository: str, pr_number: int | None) -> list[str]:
    if "pulls" in state:
        return list(state["pulls"])
    return [pull_ref(repository, pr_number)] if pr_number is not None else []  # rows from before `pulls`


@dataclass(frozen=True)
class Identity:
    """What a cache key is made of, and what the ledger keeps about a comparison."""

    repository: str
    pr_number: int | None
    commit_sha: str
    manifest_path: str
    model: str
    environment: str
    source: str
    candidate: str
    baseline: str | None
    dataset: str
    spec_digest: str


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


class ComparisonCache:
    """Store access for comparisons; every method is one short transaction."""

    def __init__(self, store):
        self.store = store

    def get(self, key: str) -> ComparisonRow | None:
        with self.store.session() as s:
            row = s.scalar(select(ComparisonRow).where(ComparisonRow.key == key))
            if row is not None:
                row.created_at = _aware(row.created_at)
            return row

    def save(self, key: str, ident: Identity, *, status: str, verdict: str | None = None,
             result: dict | None = None, state: dict | None = None, dataset_digest: str | None = None) -> None:
        """Insert or overwrite the row for `key` (a forced recompute overwrites)."""
        now = utcnow()
        values = dict(repository=ident.repository, pr_number=ident.pr_number, commit_sha=ident.commit_sha,
                      manifest_path=ident.manifest_path, model=ident.model, environment=ident.environment,
                      source=ident.source, candidate=ident.candidate[:1000],
                      baseline=ident.baseline[:1000] if ident.baseline else None, dataset=ident.dataset[:1100],
                      spec_digest=ident.spec_digest, status=status, verdict=verdict,
                      result=json.dumps(result, default=str) if result is not None else None,
                      state=json.dumps(state) if state is not None else None,
                      dataset_digest=dataset_digest, updated_at=now,
                      finished_at=now if status in ("done", "error") else None)
        try:
            with self.store.session() as s:
                s.add(ComparisonRow(key=key, created_at=now, polls=0, **values))
            return
        except IntegrityError:
            pass
        with self.store.session() as s:
            if status == "pending":
                values["polls"] = 0
                values["created_at"] = now
                values["next_poll_at"] = None
            s.execute(update(ComparisonRow).where(ComparisonRow.key == key).values(**values))

    def bump_polls(self, key: str, state: dict | None = None) -> int:
        """Count one more poll of a pending comparison (and keep its latest job state). The pull
        requests that need it, and the head commits whose checks wait for it, are the stored ones
        plus the state's (the poller's own)."""
        with self.store.session() as s:
            values: dict = {"polls": ComparisonRow.polls + 1, "updated_at": utcnow()}
            if state is not None:
                row = s.scalar(select(ComparisonRow).where(ComparisonRow.key == key).with_for_update())
                if row is not None:
                    stored = row.state_dict
                    state = {**state, "pulls": sorted(set(row.pulls) | set(state.get("pulls", ()))),
                             "heads": sorted(set(stored.get("heads", ())) | set(state.get("heads", ())))}
                values["state"] = json.dumps(state)
            s.execute(update(ComparisonRow).where(ComparisonRow.key == key).values(**values))
            return int(s.scalar(select(ComparisonRow.polls).where(ComparisonRow.key == key)) or 0)

    def claim_poll(self, key: str, at: dt.datetime) -> bool:
        """Reserve the next poll of a pending comparison for `at`; False when one is already
        scheduled for later (so refreshes in between do not start parallel chains of polls)."""
        now = utcnow() + dt.timedelta(seconds=5)  # the poll that was due may run a little early
        with self.store.session() as s:
            taken = s.execute(update(ComparisonRow).where(
                ComparisonRow.key == key, ComparisonRow.status == "pending",
                ComparisonRow.next_poll_at.is_(None) | (ComparisonRow.next_poll_at <= now),
            ).values(next_poll_at=at)).rowcount
            return taken == 1

    def pending_for_pull(self, repository: str, number: int) -> list[ComparisonRow]:
        """Pending comparisons whose jobs this pull request's head needed (or needs)."""
        ref = pull_ref(repository, number)
        with self.store.session() as s:
            rows = s.scalars(select(ComparisonRow).where(ComparisonRow.repository == repository,
                                                         ComparisonRow.status == "pending")).all()
            return [r for r in rows if ref in r.pulls]

    def release(self, key: str, repository: str, number: int, reason: str) -> dict | None:
        """This pull request no longer needs the pending comparison `key`. When no other pull
        request needs it either, the row becomes `superseded` (never polled again) and its job
        state is returned: the caller stops the jobs. None when there is nothing to stop."""
        ref = pull_ref(repository, number)
        with self.store.session() as s:
            row = s.scalar(select(ComparisonRow).where(ComparisonRow.key == key).with_for_update())
            if row is None or row.status != "pending" or ref not in row.pulls:
                return None
            state = row.state_dict
            rest = [p for p in row.pulls if p != ref]
            now = utcnow()
            if rest:
                s.execute(update(ComparisonRow).where(ComparisonRow.key == key).values(
                    state=json.dumps({**state, "pulls": rest}), updated_at=now))
                return None
            s.execute(update(ComparisonRow).where(ComparisonRow.key == key).values(
                status="superseded", next_poll_at=None, updated_at=now,
                state=json.dumps({**state, "pulls": [], "released": {"by": ref, "reason": reason,
                                                                     "at": now.isoformat()}})))
            return state

    def delete(self, key: str) -> None:
        with self.store.session() as s:
            s.execute(ComparisonRow.__table__.delete().where(ComparisonRow.key == key))

    def history(self, *, model: str | None = None, environment: str | None = None,
                repository: str | None = None, pr_number: int | None = None) -> list[ComparisonRow]:
        """Finished comparisons, newest first: what the ledger shows for a model or pull request."""
        with self.store.session() as s:
            q = select(ComparisonRow).where(ComparisonRow.status.in_(("done", "error")))
            for column, value in ((ComparisonRow.model, model), (ComparisonRow.environment, environment),
                                  (ComparisonRow.repository, repository), (ComparisonRow.pr_number, pr_number)):
                if value is not None:
                    q = q.where(column == value)
            return list(s.scalars(q.order_by(ComparisonRow.id.desc())))
