"""WSGI entry point for gunicorn: `bot.wsgi:app`. Settings come from the environment."""

from __future__ import annotations

import os

from .config import load_settings
from .logs import configure
from .web import create_app

configure(os.environ.get("MODELBOT_LOG_LEVEL", "INFO"))
app = create_app(load_settings())
