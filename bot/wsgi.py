"""WSGI entry point for gunicorn: `bot.wsgi:app`. Settings come from the environment."""

from __future__ import annotations

import os

from .config import load_settings
from .logs import configure
from .queue import without_optional_clients

configure(os.environ.get("MODELBOT_LOG_LEVEL", "INFO"))
settings = load_settings()
with without_optional_clients(settings):
    from .web import create_app

app = create_app(settings)
