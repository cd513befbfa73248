"""The JSON API (issue #16, part 2): `GET /api/v1/trace/<subject>` behind bearer tokens, on both
backends; nothing under /api/ answers without a valid token, and tokens never reach the logs."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from bot.app.web import create_app
from bot.core.config import ConfigError, load_settings
from bot.core.logs import scrub

TOKEN = "t" * 40
OTHER = "o" * 40


def history(store):
    """Two deployments of one endpoint, as the engine writes them (the newer one serving)."""
    t0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
    for i, (pk, sha, status) in enumerate(((1, "a" * 40, "succeeded"), (2, "b" * 40, "succeeded"))):
        common = dict(repository="acme/models", environment="production", deployment_id=pk, endpoint="churn",
                      commit_sha=sha, pr_number=10 + pk, manifest_path="models/churn/modelbot.yaml")
        at = t0 + dt.timedelta(hours=i)
        store.append_ledger("recorded", data={"trigger": "merge", "kind": "deploy", "model": "churn"}, actor="alice",
                            at=at, **common)
        store.append_ledger("gate", data={"action": "deploy", "verdict": "allow", "reasons": [], "lifted": [],
                                          "approvals": [{"user": "bob", "paths": [], "rule": "owner"}],
                                          "approval_reviews": [{"user": "bob", "submitted_at": "x", "commit": sha}],
                                          "override": None, "comparison": {"verdict": "pass", "key": "k" * 64}},
                            at=at, **common)
        store.append_ledger("prepared", data={"kind": "update", "headline": "h", "build_id": f"b-{pk}",
                                              "models": [{"name": f"churn-production-{sha[:7]}"}]}, at=at, **common)
        store.append_ledger("finished", data={"status": status, "reason": "ok"}, at=at, **common)


@pytest.fixture
def client(bot_env, store, queue):
    settings = load_settings({**bot_env, "MODELBOT_API_TOKENS": f"{TOKEN}, {OTHER}"})
    history(store)
    return create_app(settings, store=store, queue=queue).test_client()


def auth(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def test_a_trace_answers_with_the_chain_to_a_valid_token(client):
    r = client.get("/api/v1/trace/churn", headers=auth())
    assert r.status_code == 200, r.json
    assert r.json["version"] == 1 and r.json["endpoints"] == [
        {"environment": "production", "endpoint": "churn", "serving": 2}]
    newest, older = r.json["deployments"]
    assert newest["serving"] and not older["serving"] and newest["build_id"] == "b-2"
    assert newest["approvals"] == [{"user": "bob", "paths": [], "rule": "owner", "submitted_at": "x",
                                    "commit": "b" * 40}]
    assert client.get("/api/v1/trace/churn", headers=auth(OTHER)).status_code == 200
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model/churn-production-aaaaaaa"
    by_model = client.get(f"/api/v1/trace/{arn}", headers=auth())
    assert by_model.status_code == 200 and by_model.json["matched"] == [1]
    assert client.get("/api/v1/trace/churn?environment=staging", headers=auth()).status_code == 404


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": "Bearer "}, {"Authorization": TOKEN}])
def test_without_a_valid_token_nothing_is_answered(client, headers):
    r = client.get("/api/v1/trace/churn", headers=headers)
    assert r.status_code == 401 and r.json["error"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "churn" not in r.get_data(as_text=True)
    assert client.get("/api/v1/anything-else", headers=headers).status_code == 401


def test_bad_and_unknown_subjects(client):
    r = client.get("/api/v1/trace/arn:aws:s3:::bucket", headers=auth())
    assert r.status_code == 400 and "not a SageMaker endpoint" in r.json["reason"]
    r = client.get("/api/v1/trace/" + "a" * 3000, headers=auth())
    assert r.status_code == 400 and "over 2048 characters" in r.json["reason"]
    r = client.get("/api/v1/trace/nowhere", headers=auth())
    assert r.status_code == 404 and r.json["deployments"] == []


def test_without_configured_tokens_the_api_is_closed_and_health_stays_open(bot_env, store, queue):
    app = create_app(load_settings(bot_env), store=store, queue=queue).test_client()
    r = app.get("/api/v1/trace/churn", headers=auth())
    assert r.status_code == 401 and "no API tokens are configured" in r.json["reason"]
    assert app.get("/healthz").status_code == 200


def test_tokens_must_be_long_and_are_redacted_from_logs(bot_env, client, caplog):
    with pytest.raises(ConfigError, match="at least 32 characters"):
        load_settings({**bot_env, "MODELBOT_API_TOKENS": "short"})
    assert TOKEN not in scrub(f"Authorization: Bearer {TOKEN}")
    with caplog.at_level(logging.INFO):
        client.get("/api/v1/trace/churn", headers=auth())
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("subject", ["modelbot:pr=99999999999999999999999", "modelbot:build-id=%00"])
def test_subjects_that_broke_a_query_are_refused_not_500(client, subject):
    assert client.get(f"/api/v1/trace/{subject}", headers=auth()).status_code == 400


def test_a_repository_narrows_a_trace(client):
    r = client.get("/api/v1/trace/modelbot:pr=11?repository=other/repo", headers=auth())
    assert r.status_code == 404
    r = client.get("/api/v1/trace/modelbot:pr=11?repository=acme/models", headers=auth())
    assert r.status_code == 200 and r.json["matched"] == [1]
