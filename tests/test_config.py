"""Start-up configuration: every missing or malformed setting is named, no secret is shown."""

from __future__ import annotations

import pytest

from bot.core.config import ConfigError, Secret, load_server_config, load_settings
from tests.conftest import TEST_CONFIG

BASE = {"MODELBOT_CONFIG": str(TEST_CONFIG), "MODELBOT_WEBHOOK_SECRETS": "s3cret-value-1"}


def test_defaults_are_embedded_sqlite_and_sqlite_queue(tmp_path):
    s = load_settings({**BASE, "MODELBOT_DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'modelbot.db'}"
    assert (s.store_backend, s.queue_backend) == ("sqlite", "sqlite")
    assert s.github_api_url == "https://api.github.com"


def test_scale_backends_from_environment():
    s = load_settings({**BASE, "DATABASE_URL": "postgres://u@db/x", "REDIS_URL": "redis://r:6379/0",
                       "GITHUB_API_URL": "https://ghe.example/api/v3/"})
    assert s.database_url == "postgresql+psycopg://u@db/x"
    assert (s.store_backend, s.queue_backend) == ("postgresql", "redis")
    assert s.github_api_url == "https://ghe.example/api/v3"


def test_several_secrets_for_rotation():
    s = load_settings({**BASE, "MODELBOT_WEBHOOK_SECRETS": " new-secret-1 , old-secret-0 ,"})
    assert [x.get() for x in s.webhook_secrets] == ["new-secret-1", "old-secret-0"]


@pytest.mark.parametrize("env, named", [
    ({"MODELBOT_WEBHOOK_SECRETS": ""}, "MODELBOT_WEBHOOK_SECRETS"),
    ({"MODELBOT_WEBHOOK_SECRETS": "short"}, "MODELBOT_WEBHOOK_SECRETS"),
    ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
    ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
    ({"GITHUB_API_URL": "ftp://x"}, "GITHUB_API_URL"),
    ({"MODELBOT_MAX_ATTEMPTS": "many"}, "MODELBOT_MAX_ATTEMPTS"),
    ({"MODELBOT_CONFIG": "/nonexistent/modelbot.yaml"}, "MODELBOT_CONFIG"),
    ({"GITHUB_PRIVATE_KEY": "not a key"}, "GITHUB_PRIVATE_KEY"),
    ({"GITHUB_PRIVATE_KEY_PATH": "/nonexistent.pem"}, "GITHUB_PRIVATE_KEY_PATH"),
])
def test_bad_environment_is_named(env, named):
    with pytest.raises(ConfigError) as err:
        load_settings({**BASE, **env})
    assert named in str(err.value)


@pytest.mark.parametrize("text, named", [
    ("repositories: [nope]\n", "repositories"),
    ("repositories: []\nunknown_key: 1\n", "unknown_key"),
    ("environments:\n  prod:\n    region: mars\n", "environments.prod.region"),
    ("environments:\n  prod:\n    region: us-east-1\n    aws_role_arn: arn:aws:iam::12:role/x\n",
     "environments.prod.aws_role_arn"),
    ("repositories: [a/b\n", "line 2 column 1"),
    ("- just\n- a list\n", "top level must be a mapping"),
])
def test_bad_server_config_is_named(tmp_path, text, named):
    path = tmp_path / "modelbot.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_server_config(path)
    assert named in str(err.value)
    assert str(path) in str(err.value)


def test_allowlist_patterns():
    cfg = load_server_config(TEST_CONFIG)
    assert cfg.allows_repository("Codertocat/Hello-World")
    assert cfg.allows_repository("acme/anything")
    assert not cfg.allows_repository("evil/models")
    assert not cfg.allows_repository(None)


def test_secrets_never_shown(tmp_path):
    key = "-----BEGIN RSA PRIVATE KEY-----\nAAAAsupersecretkeymaterial\n-----END RSA PRIVATE KEY-----"
    s = load_settings({**BASE, "GITHUB_PRIVATE_KEY": key, "GITHUB_APP_ID": "42"})
    shown = repr(s) + str(s)
    assert "s3cret-value-1" not in shown
    assert "supersecretkeymaterial" not in shown
    assert s.github_private_key.get().startswith("-----BEGIN")
    assert str(Secret("x")) == "Secret('***')"


def test_worker_needs_app_credentials():
    s = load_settings(BASE)
    with pytest.raises(ConfigError, match="GITHUB_APP_ID"):
        s.require_github_app()


def test_the_shipped_example_config_is_valid():
    s = load_settings({"MODELBOT_CONFIG": str(TEST_CONFIG.parents[2] / "config" / "modelbot.yaml")},
                      require_secrets=False)
    assert s.server.ordered_environments() == ["staging", "production"]
    assert s.policy.environments["production"].min_alarms == 1
    assert s.server.prices["ml.m5.large"] > 0
    s.validate_deep()  # policy, permissions and compare blocks parse


def test_a_malformed_policy_stops_start_up_naming_the_setting(tmp_path):
    path = tmp_path / "modelbot.yaml"
    path.write_text("environments:\n  prod: {region: us-east-1}\npolicy:\n  environments:\n"
                    "    prod:\n      min_alarms: many\n")
    s = load_settings({"MODELBOT_CONFIG": str(path)}, require_secrets=False)
    with pytest.raises(ConfigError) as err:
        s.policy
    assert "policy.environments.prod.min_alarms" in str(err.value)
