"""Shared fixtures: real backends (SQLite, PostgreSQL + Redis), settings, store, queue, app."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import load_settings
from bot.adapters.migrate import migrate
from bot.adapters.queue import Queue
from bot.adapters.store import Store
from tests.support.backends import make_backend, selected_backends
from tests.support.fake_github import fake_github  # noqa: F401 - the fake GitHub fixture, for every test

ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = ROOT / "tests" / "fixtures" / "modelbot.yaml"
SECRET = "test-webhook-secret-1"
OLD_SECRET = "test-webhook-secret-0"


@pytest.fixture(params=selected_backends())
def backend(request, tmp_path):
    b = make_backend(request.param, str(tmp_path / "data"))
    yield b
    b.close()


@pytest.fixture
def bot_env(backend):
    """Environment for a modelbot process on the test backend."""
    return {
        "MODELBOT_CONFIG": str(TEST_CONFIG),
        "MODELBOT_WEBHOOK_SECRETS": f"{SECRET},{OLD_SECRET}",
        **backend.env,
    }


@pytest.fixture
def settings(bot_env):
    return load_settings(bot_env)


@pytest.fixture
def store(settings):
    s = Store(settings.database_url)
    migrate(s.engine)
    yield s
    s.dispose()


@pytest.fixture
def queue(settings):
    q = Queue(settings)
    yield q
    q.huey.flush()
