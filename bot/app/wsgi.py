"""WSGI entry point for gunicorn: `bot.app.wsgi:app`. Settings come from the environment."""

from __future__ import annotations

import os

from bot.core.config import load_settings
from bot.core.logs import configure
from bot.adapters.queue import without_optional_clients

configure(os.environ.get("MODELBOT_LOG_LEVEL", "INFO"))
settings = load_settings()
with without_optional_clients(settings):
    from bot.app.web import create_app

app = create_app(settings)
