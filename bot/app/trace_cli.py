"""`modelbot trace SUBJECT`: the ledger's chain behind an endpoint's model (`bot.app.services.lineage`).

Reads the store the server uses (DATABASE_URL, or the embedded SQLite under MODELBOT_DATA_DIR)
and never writes to it (no migration, no new file); needs no GitHub or AWS credentials. Text for people, `--format json` (`"version": 1`) for tools.
Exit codes: 0 found, 1 the ledger knows nothing of it, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import sqlalchemy as sa

from bot.adapters.store import Store
from bot.app.services.lineage import trace
from bot.core.config import ConfigError, load_settings
from bot.core.render import render


def trace_command(subject: str, *, environment: str | None = None, repository: str | None = None,
                  fmt: str = "text", config: str | None = None) -> int:
    env = dict(os.environ)
    if config:
        env["MODELBOT_CONFIG"] = config
    try:
        settings = load_settings(env, require_secrets=False)
    except ConfigError as exc:
        sys.stderr.write(render("cli/trace_error.txt.j2", kind="configuration error", message=str(exc)))
        return 2
    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        sys.stderr.write(render("cli/trace_error.txt.j2", kind="configuration error", message=(
            f"no database at {url[len('sqlite:///'):]}: set DATABASE_URL (or MODELBOT_DATA_DIR) to the server's")))
        return 2
    store = Store(url)  # read only: a trace never migrates or writes the server's database
    try:
        if not sa.inspect(store.engine).has_table("ledger"):
            sys.stderr.write(render("cli/trace_error.txt.j2", kind="configuration error", message=(
                "the database has no ledger yet: the server has not run `modelbot migrate` to this version")))
            return 2
        result = trace(store, subject, environment=environment, repository=repository)
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
