"""/metrics answers only an operator address (MODELBOT_METRICS_ALLOW, loopback by default) or a
bearer token (MODELBOT_METRICS_TOKENS or an API token); everyone else gets 401 and no numbers."""

from __future__ import annotations

import pytest

from bot.app.web import create_app
from bot.core.config import ConfigError, load_settings

METRICS_TOKEN = "m" * 40
API_TOKEN = "api-token-" + "q" * 30  # not a commit SHA of the tests: a registered token is redacted process-wide
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def client_for(env, store, queue, **extra):
    return create_app(load_settings({**env, **extra}), store=store, queue=queue).test_client()


def test_loopback_may_scrape_by_default_and_nobody_else(bot_env, store, queue):
    c = client_for(bot_env, store, queue)
    assert c.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    r = c.get("/metrics", environ_base=OUTSIDE)
    assert r.status_code == 401 and "modelbot_" not in r.get_data(as_text=True)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # A forwarded header is a claim of the client, never believed.
    assert c.get("/metrics", environ_base=OUTSIDE, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 401


def test_tokens_and_configured_networks(bot_env, store, queue):
    c = client_for(bot_env, store, queue, MODELBOT_METRICS_TOKENS=METRICS_TOKEN, MODELBOT_API_TOKENS=API_TOKEN,
                   MODELBOT_METRICS_ALLOW="10.0.0.0/8")
    assert c.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
    assert c.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code == 200
    assert c.get("/metrics", environ_base=OUTSIDE, headers={"Authorization": "Bearer " + "x" * 40}).status_code == 401
    assert c.get("/metrics", environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 200
    assert c.get("/metrics").status_code == 401  # loopback is no longer listed
    none = client_for(bot_env, store, queue, MODELBOT_METRICS_ALLOW="none")
    assert none.get("/metrics").status_code == 401


def test_bad_metrics_settings_stop_start_up(bot_env):
    with pytest.raises(ConfigError, match="MODELBOT_METRICS_ALLOW"):
        load_settings({**bot_env, "MODELBOT_METRICS_ALLOW": "10.0.0.0/8, nonsense"})
    with pytest.raises(ConfigError, match="MODELBOT_METRICS_TOKENS"):
        load_settings({**bot_env, "MODELBOT_METRICS_TOKENS": "short"})
