"""`modelbot trace SUBJECT`: the ledger's chain behind an endpoint's model (`bot.app.services.lineage`).

Reads the store the server uses (DATABASE_URL, or the embedded SQLite under MODELBOT_DATA_DIR);
needs no GitHub or AWS credentials. Text for people, `--format json` (`"version": 1`) for tools.
Exit codes: 0 found, 1 the ledger knows nothing of it, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import os
import sys

from bot.adapters.migrate import migrate
from bot.adapters.store import Store
from bot.app.services.lineage import trace
from bot.core.config import ConfigError, load_settings
from bot.core.render import render


def trace_command(subject: str, *, environment: str | None = None, fmt: str = "text",
                  config: str | None = None) -> int:
    env = dict(os.environ)
    if config:
        env["MODELBOT_CONFIG"] = config
    try:
        settings = load_settings(env, require_secrets=False)
    except ConfigError as exc:
        sys.stderr.write(render("cli/trace_error.txt.j2", kind="configuration error", message=str(exc)))
        return 2
    store = Store(settings.database_url)
    try:
        migrate(store.engine)
        result = trace(store, subject, environment=environment)
    except ValueError as exc:
        sys.stderr.write(render("cli/trace_error.txt.j2", kind="usage error", message=str(exc)))
        return 2
    finally:
        store.dispose()
    if fmt == "json":
        sys.stdout.write(json.dumps(result.as_dict(), indent=2, default=str) + "\n")
    else:
        sys.stdout.write(render("cli/trace.txt.j2", t=result))
    return 0 if result.chains else 1
