"""Feature modules, each with its own Router, composed into the bot's router here.

Extra feature modules (a team's own, or the test suite's) can be added with
MODELBOT_FEATURES=package.module,... ; each must expose a module-level `router`.

The web process needs only which events are handled (to answer "queued" or "ignored"), not the
handlers: `handled_keys` gives it the built-in features' keys from `BUILTIN_KEYS` without
importing them (tests/test_architecture.py holds the table equal to the routers' keys), and
imports only the extra modules.
"""

from __future__ import annotations

import importlib
import os

from bot.app.router import Router, compose

BUILTIN = ("bot.app.features.meta", "bot.app.features.pull_requests", "bot.app.features.commands",
           "bot.app.features.deploys", "bot.app.features.merge_queue",
           "bot.app.features.compare", "bot.app.features.drift",
           "bot.app.features.protection_rule")  # compare: stops a closed pull request's batch transform jobs


# The events and actions the built-in features handle: what `load_router("").keys()` gives.
BUILTIN_KEYS = frozenset({
    "check_run.requested_action", "check_run.rerequested", "check_suite.rerequested",
    "deployment_protection_rule.requested",
    "installation", "issue_comment.created", "merge_group.checks_requested", "modelbot_compare.poll", "ping", "pull_request.closed",
    "pull_request.opened", "pull_request.ready_for_review", "pull_request.reopened",
    "pull_request.synchronize", "pull_request_review.dismissed", "pull_request_review.edited",
    "pull_request_review.submitted", "push",
})


def _extra_names(extra: str | None) -> list[str]:
    extra = os.environ.get("MODELBOT_FEATURES", "") if extra is None else extra
    return [n.strip() for n in extra.split(",") if n.strip()]


def handled_keys(extra: str | None = None) -> frozenset[str]:
    """The routing keys of every feature, importing only the extra modules (for the web)."""
    names = _extra_names(extra)
    if not names:
        return BUILTIN_KEYS
    return BUILTIN_KEYS | _compose_modules(names).keys()


def load_router(extra: str | None = None) -> Router:
    return _compose_modules(list(BUILTIN) + _extra_names(extra))


def _compose_modules(names: list[str]) -> Router:
    routers = []
    for name in names:
        module = importlib.import_module(name)
        router = getattr(module, "router", None)
        if not isinstance(router, Router):
            raise ImportError(f"MODELBOT_FEATURES: module {name} has no `router` of type bot.app.router.Router")
        routers.append(router)
    return compose(routers)
