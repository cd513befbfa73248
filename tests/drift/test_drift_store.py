"""The drift state the status UI reads, on both backends: each cycle replaces a repository's
findings (a finding seen again keeps when it was first seen), bounded, and is forgotten once the
repository owns no endpoint."""

from __future__ import annotations

import datetime as dt

from bot.app.services.drift import RepositoryDrift, keep_findings
from bot.core.drift import DriftFinding

T = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)


def finding(endpoint="churn", kind="missing", detail="endpoint churn no longer exists in AWS") -> DriftFinding:
    return DriftFinding("production", endpoint, "models/churn/modelbot.yaml", kind, detail,
                        "on #11: `/rollback production to aaaaaaaaaaaa` deploys it again", ("a -> b",))


def naive(t):
    return t.replace(tzinfo=None) if t.tzinfo else t


def test_a_cycle_replaces_the_findings_and_keeps_when_each_was_first_seen(store):
    keep_findings(store, RepositoryDrift("acme/models", [finding(), finding("fraud", "broken")], checked=2),
                  default_branch="main", now=T)
    store.set_drift_issue("acme/models", 9)
    later = T + dt.timedelta(hours=1)
    keep_findings(store, RepositoryDrift("acme/models", [finding(), finding("ranker", "orphaned")], checked=3),
                  default_branch="main", now=later)
    rows = store.drift_findings("acme/models")
    assert [(r.endpoint, r.kind) for r in rows] == [("churn", "missing"), ("ranker", "orphaned")]
    assert naive(rows[0].first_seen_at) == naive(T) and naive(rows[0].seen_at) == naive(later)
    assert naive(rows[1].first_seen_at) == naive(later)
    assert rows[0].change_list == ["a -> b"] and "`/rollback production to aaaaaaaaaaaa`" in rows[0].fix
    [check] = store.drift_checks()
    assert check.checked == 3 and check.issue == 9 and check.default_branch == "main"
    keep_findings(store, RepositoryDrift("acme/models", [], checked=3), default_branch="main", now=later)
    assert store.drift_findings("acme/models") == []


def test_findings_are_bounded_per_repository_and_in_length(store):
    many = [finding(f"ep{i}", detail="x " * 5000) for i in range(250)]
    keep_findings(store, RepositoryDrift("acme/models", many, checked=250), default_branch="main", now=T)
    rows = store.drift_findings("acme/models")
    assert len(rows) == 200 and max(len(r.detail) for r in rows) == 1000


def test_a_repository_that_owns_nothing_any_more_has_no_drift(store):
    for repo in ("acme/models", "acme/old"):
        keep_findings(store, RepositoryDrift(repo, [finding()], checked=1), default_branch="main", now=T)
    assert store.forget_drift({"acme/models"}) == 1
    assert [c.repository for c in store.drift_checks()] == ["acme/models"]
    assert store.drift_findings("acme/old") == [] and len(store.drift_findings("acme/models")) == 1
