"""A feature module for process tests (loaded with MODELBOT_FEATURES=tests.support.features).

Its handler leaves files in MODELBOT_TEST_MARKERS so a test in another process can see that a
delivery reached it, and can hold it mid-run (to kill the worker there) until released.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bot.app.router import Router

router = Router()


@router.register("ping")
def mark(ctx, delivery) -> None:
    markers = Path(os.environ["MODELBOT_TEST_MARKERS"])
    did = delivery.delivery_id
    with open(markers / f"{did}.started", "a") as fh:
        fh.write(f"{os.getpid()}\n")
    if delivery.payload.get("hold"):
        deadline = time.monotonic() + 60
        while not (markers / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    with open(markers / f"{did}.done", "a") as fh:
        fh.write(f"{os.getpid()}\n")
