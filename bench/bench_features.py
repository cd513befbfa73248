"""A feature module for bench_intake.py (MODELBOT_FEATURES=bench.bench_features), not for production.

It does two things inside each gunicorn web worker, where the bench cannot otherwise look:

- registers a no-op handler for `pull_request`, so the bench's deliveries are handled events that
  the intake records and enqueues whatever the bot's own feature modules handle (an unhandled
  event is answered "ignored" without touching the store, which would measure nothing);
- on SIGUSR2 writes the worker's VmRSS and which heavy client libraries it has imported to
  $MODELBOT_DATA_DIR/bench-probe/<pid>.json. A marker file written at import tells the bench
  that the handler is installed (gunicorn's default for SIGUSR2 in a worker would end it).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from bot.app.router import Router

HEAVY = ("boto3", "botocore", "github", "numpy", "scipy", "sagemaker", "requests", "jwt")

router = Router()
_probe_dir = Path(os.environ.get("MODELBOT_DATA_DIR", "var")) / "bench-probe"


@router.register("pull_request")
def bench_noop(ctx, delivery) -> None:
    """Nothing to do: the bench measures the intake, not the worker."""


def _vm(field: str) -> int | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


def _report(_signum, _frame) -> None:
    out = {"pid": os.getpid(), "VmRSS": _vm("VmRSS"), "VmHWM": _vm("VmHWM"),
           "imported": [m for m in HEAVY if m in sys.modules], "modules": len(sys.modules)}
    tmp = _probe_dir / f"{os.getpid()}.tmp"
    tmp.write_text(json.dumps(out))
    tmp.replace(_probe_dir / f"{os.getpid()}.json")


if os.environ.get("MODELBOT_BENCH_PROBE") == "1":
    _probe_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGUSR2, _report)
    (_probe_dir / f"{os.getpid()}.ready").write_text("")
