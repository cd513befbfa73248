"""Sign-in settings of the status UI: all or none, checked at start-up, secrets never shown."""

from __future__ import annotations

import pytest

from bot.core.config import ConfigError, load_settings
from tests.support.ui import SESSION_SECRET, ui_config

BASE = {"GITHUB_CLIENT_ID": "Iv1.abc", "GITHUB_CLIENT_SECRET": "client-secret-value-123",
        "MODELBOT_SESSION_SECRET": SESSION_SECRET, "MODELBOT_PUBLIC_URL": "https://modelbot.example/"}


def test_a_complete_sign_in_configuration(bot_env, tmp_path):
    s = load_settings({**bot_env, **BASE, "MODELBOT_CONFIG": str(ui_config(tmp_path, ["oncall"]))})
    assert s.ui_enabled and s.oauth_callback_url == "https://modelbot.example/oauth/callback"
    assert s.server.ui.organization == "acme" and s.server.ui.teams == ["oncall"] and s.cookie_secure
    assert "client-secret-value-123" not in repr(s) and SESSION_SECRET not in repr(s)


def test_no_sign_in_configuration_leaves_the_ui_off(bot_env):
    s = load_settings(bot_env)
    assert not s.ui_enabled and s.oauth_callback_url is None


@pytest.mark.parametrize("drop", sorted(BASE))
def test_half_a_configuration_names_what_is_missing(bot_env, tmp_path, drop):
    env = {**bot_env, **BASE, "MODELBOT_CONFIG": str(ui_config(tmp_path))}
    del env[drop]
    with pytest.raises(ConfigError, match=drop):
        load_settings(env)


def test_the_organisation_is_required_and_values_are_checked(bot_env, tmp_path):
    with pytest.raises(ConfigError, match="ui.organization"):
        load_settings({**bot_env, **BASE})
    cfg = str(ui_config(tmp_path))
    with pytest.raises(ConfigError, match="MODELBOT_SESSION_SECRET: at least 32"):
        load_settings({**bot_env, **BASE, "MODELBOT_CONFIG": cfg, "MODELBOT_SESSION_SECRET": "short"})
    with pytest.raises(ConfigError, match="cannot carry Secure cookies"):
        load_settings({**bot_env, **BASE, "MODELBOT_CONFIG": cfg, "MODELBOT_PUBLIC_URL": "http://127.0.0.1:8000"})
    s = load_settings({**bot_env, **BASE, "MODELBOT_CONFIG": cfg, "MODELBOT_PUBLIC_URL": "http://127.0.0.1:8000",
                       "MODELBOT_COOKIE_SECURE": "false"})
    assert not s.cookie_secure
    with pytest.raises(ConfigError, match="MODELBOT_PUBLIC_URL"):
        load_settings({**bot_env, **BASE, "MODELBOT_CONFIG": cfg, "MODELBOT_PUBLIC_URL": "modelbot.example"})
    with pytest.raises(ConfigError, match="MODELBOT_SESSION_HOURS"):
        load_settings({**bot_env, **BASE, "MODELBOT_CONFIG": cfg, "MODELBOT_SESSION_HOURS": "48"})
    with pytest.raises(ConfigError, match="MODELBOT_COOKIE_SECURE"):
        load_settings({**bot_env, **BASE, "MODELBOT_CONFIG": cfg, "MODELBOT_COOKIE_SECURE": "maybe"})
