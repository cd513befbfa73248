"""Exceptions that cross layers, in a module that imports nothing of the bot.

`ConfigError` is raised by every parser of the server config (bot.core.config, and the `policy:`,
`permissions:` and `compare:` blocks' own parsers); `LiveUnavailable` by whatever reads live
AWS state (bot.adapters.aws) and handled by the review (bot.core.review). Defining them here lets those
modules depend on the exception without depending on each other.
"""

from __future__ import annotations

DEFAULT_CONFIG_PATH = "config/modelbot.yaml"  # the server config, when MODELBOT_CONFIG is not set


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it and never contains its value."""


class LiveUnavailable(Exception):
    """Live state could not be read; the reason is safe to show (no credentials in it)."""
