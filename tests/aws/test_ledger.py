"""The ledger (issue #16, parts 1 and 2): append-only in the store and in the database itself, on
SQLite and PostgreSQL; written by every step of real deployments through the worker's code path
(recorded, gate with the approvals that counted and their reviews, prepared, phases with ARNs,
refusals, outcome); and read backward by `modelbot trace` from an endpoint name, an ARN or a tag."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.app.services.lineage import trace
from bot.app.trace_cli import trace_command
from bot.core.lineage import parse_subject
from tests.aws.test_deploy_gate import PATH, approve, bot, manifest, open_pr, rows_of, ship  # noqa: F401 - bot: the fixture
from tests.aws.test_deploy_gate import merge as merge_pr
from tests.aws.test_deploy_gate import sm

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = "fraud-detector"  # the canary example's production endpoint


def test_the_database_refuses_to_change_or_remove_a_ledger_entry(store):
    pk = store.append_ledger("correction", repository="acme/models", environment="production",
                             data={"corrects": 1, "text": "x"})
    for statement in (f"UPDATE ledger SET kind = 'forged' WHERE id = {pk}", f"DELETE FROM ledger WHERE id = {pk}"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(sa.text(statement))
    if store.engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(sa.text("TRUNCATE ledger"))
    if store.engine.dialect.name == "sqlite":  # REPLACE deletes the row it replaces: refused too
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(sa.text(f"INSERT OR REPLACE INTO ledger (id, at, kind, repository, environment, data) "
                                     f"VALUES ({pk}, '2026-01-01', 'forged', 'r', 'e', '{{}}')"))
    [row] = store.ledger()
    assert row.kind == "correction" and json.loads(row.data) == {"corrects": 1, "text": "x"}


def test_no_code_path_updates_or_deletes_ledger_rows():
    """The store writes the ledger only by inserting: no update()/delete() of LedgerRow, no
    session.delete of one, no raw UPDATE/DELETE of the table anywhere in bot/."""
    offenders = []
    for path in (ROOT / "bot").rglob("*.py"):
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
                    "update", "delete") and any(isinstance(a, ast.Name) and a.id == "LedgerRow" for a in node.args):
                offenders.append(f"{path}:{node.lineno}")
        for word in ("UPDATE ledger", "DELETE FROM ledger"):
            if word in text and "migrations" not in str(path):
                offenders.append(f"{path}: {word}")
    assert offenders == []


def test_a_deploy_history_is_traced_back_from_the_endpoint_an_arn_a_model_and_a_commit(bot, monkeypatch, capsys):
    first = ship(bot, 31, {PATH: manifest()}, "bob")
    second = ship(bot, 32, {PATH: manifest().replace("2024-06-01/model.tar.gz", "2024-07-01/model.tar.gz")}, "bob")
    t = trace(bot.store, ENDPOINT)
    assert t.endpoints == (("production", ENDPOINT),)
    newest, older = t.chains
    assert newest.serving and not older.serving
    assert (newest.commit, newest.pr_number, older.commit, older.pr_number) == (second, 32, first, 31)
    assert newest.status == "succeeded" and newest.trigger == "merge"
    assert newest.build_id == "b-7" and newest.data_version == "2024-06-01"
    assert newest.manifest_digest.startswith("sha256:") and newest.strategy == "canary"
    [approval] = newest.approvals
    assert approval["user"] == "bob" and approval["rule"] == "owner in the manifest at base"
    assert older.approvals[0]["rule"].startswith("default owner")  # the manifest was new at its base
    assert approval["submitted_at"] and approval["commit"]  # when, and on which commit
    assert newest.gate["verdict"] == "allow"
    described = sm(bot).describe_endpoint(EndpointName=ENDPOINT)
    assert described["EndpointArn"] in newest.arns
    assert newest.validation == {"errors": [], "warnings": newest.validation["warnings"]}
    cfg = newest.endpoint_configs[0]
    assert f"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/{cfg.lower()}" in newest.resource_arns
    kinds = [e.kind for e in newest.events]
    assert kinds[0] == "recorded" and "gate" in kinds and "prepared" in kinds and kinds[-1] == "finished"
    assert [e.at for e in newest.events] == sorted(e.at for e in newest.events)
    assert any(e.kind == "phase" and "canary" in e.text for e in newest.events)
    model = newest.models[0]["name"]
    assert model.startswith("fraud-detector-production-") and newest.models[0]["artifact"].startswith("s3://")

    # From an ARN (endpoint names in lower case there), a model ARN, and a provenance tag
    by_arn = trace(bot.store, described["EndpointArn"])
    assert [c.deployment_id for c in by_arn.chains] == [c.deployment_id for c in t.chains]
    by_model = trace(bot.store, f"arn:aws:sagemaker:us-east-1:123456789012:model/{model}")
    assert by_model.matched == (newest.deployment_id,) and len(by_model.chains) == 2
    by_commit = trace(bot.store, f"modelbot:commit={first[:10]}")
    assert older.deployment_id in by_commit.matched and newest.deployment_id not in by_commit.matched
    assert trace(bot.store, "modelbot:pr=31").matched == by_commit.matched

    # The CLI, on the store the server uses
    monkeypatch.setenv("DATABASE_URL", bot.settings.database_url)
    monkeypatch.setenv("MODELBOT_DATA_DIR", str(bot.settings.data_dir))
    monkeypatch.setenv("MODELBOT_CONFIG", str(bot.settings.config_path))
    assert trace_command(ENDPOINT) == 0
    text = capsys.readouterr().out
    assert f"▶ serving now: deployment {newest.deployment_id} — production/{ENDPOINT}: succeeded" in text
    assert f"commit {second[:12]}, PR #32, merge" in text and "approved by bob at " in text
    assert trace_command(ENDPOINT, fmt="json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 1 and data["endpoints"][0]["serving"] == newest.deployment_id
    assert [d["deployment_id"] for d in data["deployments"]] == [newest.deployment_id, older.deployment_id]
    assert trace_command("no-such-endpoint") == 1
    assert trace_command(ENDPOINT, repository="other/repo") == 1
    assert trace_command("arn:aws:s3:::bucket") == 2
    assert "not a SageMaker endpoint" in capsys.readouterr().err


def test_a_refused_deployment_is_on_the_record_with_its_reasons(bot):
    open_pr(bot, 41, {PATH: manifest(approvals=2)})
    approve(bot, 41, "bob")
    merge_pr(bot, 41)
    row = rows_of(bot, 41)["production"]
    assert row.status == "refused"
    [c] = [c for c in trace(bot.store, ENDPOINT).chains if c.deployment_id == row.id]
    assert c.status == "refused" and not c.serving
    assert c.gate["verdict"] == "refuse" and any("approval" in r for r in c.gate["reasons"])
    assert [e.kind for e in c.events] == ["recorded", "gate", "finished"]


@pytest.mark.parametrize("text, kind, value", [
    ("fraud-detector", "endpoint", "fraud-detector"),
    ("arn:aws:sagemaker:eu-west-1:123456789012:endpoint/fraud-detector", "endpoint", "fraud-detector"),
    ("arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/fd-1", "endpoint-config", "fd-1"),
    ("modelbot:build-id=b-7", "tag", "b-7"),
])
def test_subjects(text, kind, value):
    s = parse_subject(text)
    assert (s.kind, s.value) == (kind, value)


@pytest.mark.parametrize("text, words", [
    ("arn:aws:s3:::bucket/key", "not a SageMaker endpoint"),
    ("colour=blue", "a tag to trace by is one of"),
    ("has spaces", "neither an endpoint name"),
])
def test_bad_subjects_say_what_is_accepted(text, words):
    with pytest.raises(ValueError, match=words):
        parse_subject(text)


def test_trace_never_creates_or_migrates_a_database(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MODELBOT_CONFIG", str(ROOT / "tests" / "fixtures" / "modelbot.yaml"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("MODELBOT_DATA_DIR", str(tmp_path / "var"))
    assert trace_command("churn") == 2
    assert "no database at" in capsys.readouterr().err and not (tmp_path / "var").exists()
    empty = tmp_path / "empty.db"
    sa.create_engine(f"sqlite:///{empty}").connect().close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{empty}")
    assert trace_command("churn") == 2
    assert "has no ledger yet" in capsys.readouterr().err
    assert sa.inspect(sa.create_engine(f"sqlite:///{empty}")).get_table_names() == []
