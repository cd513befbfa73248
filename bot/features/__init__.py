"""Feature modules, each with its own Router, composed into the bot's router here.

Extra feature modules (a team's own, or the test suite's) can be added with
MODELBOT_FEATURES=package.module,... ; each must expose a module-level `router`.
"""

from __future__ import annotations

import importlib
import os

from ..router import Router, compose

BUILTIN = ("bot.features.meta", "bot.features.pull_requests", "bot.features.commands",
           "bot.features.deploys",
           "bot.features.compare")  # compare: the internal batch-transform poll deliveries


def load_router(extra: str | None = None) -> Router:
    extra = os.environ.get("MODELBOT_FEATURES", "") if extra is None else extra
    names = list(BUILTIN) + [n.strip() for n in extra.split(",") if n.strip()]
    routers = []
    for name in names:
        module = importlib.import_module(name)
        router = getattr(module, "router", None)
        if not isinstance(router, Router):
            raise ImportError(f"MODELBOT_FEATURES: module {name} has no `router` of type bot.router.Router")
        routers.append(router)
    return compose(routers)
