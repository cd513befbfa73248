"""Lineage from ledger entries (issue #16, part 2), pure: which deployment serves, and what a trace
may be asked about. Entries as the engine writes them (see tests/aws/test_ledger.py for real ones)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.core.lineage import chains, parse_subject

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
_ids = iter(range(1, 10_000))


def deployment(pk, *, plan="update", status="succeeded", last_config=None, kind="deploy", endpoint="churn"):
    common = {"repository": "acme/models", "environment": "production", "deployment_id": pk, "endpoint": endpoint,
              "commit_sha": f"{pk:040d}", "pr_number": pk, "manifest_path": "m.yaml", "actor": None}
    at = T0 + dt.timedelta(hours=pk)
    target = f"cfg-{pk}"
    out = [{"id": next(_ids), "at": at, "kind": "recorded", "data": {"trigger": "merge", "kind": kind}, **common},
           {"id": next(_ids), "at": at, "kind": "prepared", "data": {"kind": plan, "target_config": target}, **common}]
    if last_config is not None:
        cfg = target if last_config == "target" else last_config
        out.append({"id": next(_ids), "at": at, "kind": "phase", "data": {"phase": "x", "config": cfg}, **common})
    out.append({"id": next(_ids), "at": at, "kind": "finished", "data": {"status": status}, **common})
    return out


def serving(*deployments):
    entries = sorted((e for d in deployments for e in d), key=lambda e: e["id"])
    return [c.deployment_id for c in chains(entries) if c.serving]


def test_the_newest_deploy_that_put_its_model_there_serves():
    assert serving(deployment(1), deployment(2)) == [2]
    assert serving(deployment(1), deployment(2, status="rolled_back", last_config="cfg-1")) == [1]


def test_a_deploy_with_no_changes_decides_nothing():
    assert serving(deployment(1), deployment(2, plan="no_changes")) == [1]


def test_a_deploy_that_failed_after_the_switch_serves():
    # a first deploy whose smoke test failed (left for inspection), or a finishing step that failed
    assert serving(deployment(1, plan="create", status="failed", last_config="target")) == [1]
    assert serving(deployment(1), deployment(2, status="failed", last_config="target")) == [2]
    assert serving(deployment(1), deployment(2, status="failed", last_config="cfg-1")) == [1]


def test_a_teardown_means_nothing_serves_until_the_next_deploy():
    assert serving(deployment(1), deployment(2, plan="teardown", kind="teardown")) == []
    assert serving(deployment(1), deployment(2, plan="teardown", kind="teardown"), deployment(3, plan="create")) == [3]


@pytest.mark.parametrize("text, words", [
    ("modelbot:pr=99999999999999999999999", "a pull request number"),
    ("modelbot:commit=abc", "7 to 40 hex digits"),
    ("modelbot:commit=%%%%%%%%", "7 to 40 hex digits"),
    ("modelbot:build-id=b", "3 to 256 characters"),
    ("churn\x00", "control characters"),
])
def test_subjects_that_would_scan_everything_or_break_a_query_are_refused(text, words):
    with pytest.raises(ValueError, match=words):
        parse_subject(text)
