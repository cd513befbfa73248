"""Event routing: feature modules register handlers for `event` or `event.action`.

Each feature module owns a `Router`; `bot.features` composes them. Handlers are plain functions
`handler(ctx, delivery)` that drive GitHub/AWS toward a desired state, so running one twice
changes nothing (the worker may retry a delivery, GitHub may redeliver it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable

Handler = Callable[..., None]

# Events the bot makes for itself (`modelbot_compare.poll`, stored by the worker, never sent by
# GitHub) are named with this prefix. GitHub's event names never start with it, and the webhook
# intake refuses any event that does, even when it is signed: only the bot may create them.
INTERNAL_EVENT_PREFIX = "modelbot_"


def is_internal_event(event: str) -> bool:
    return event.startswith(INTERNAL_EVENT_PREFIX)


@dataclass(frozen=True)
class Route:
    key: str
    handler: Handler

    @property
    def name(self) -> str:
        return f"{self.handler.__module__}.{self.handler.__qualname__}"


class Router:
    def __init__(self, *routers: "Router"):
        self._routes: dict[str, list[Route]] = defaultdict(list)
        for other in routers:
            for routes in other._routes.values():
                for route in routes:
                    self._add(route)

    def _add(self, route: Route) -> None:
        if any(r.name == route.name for r in self._routes[route.key]):
            return
        self._routes[route.key].append(route)

    def register(self, event: str, *actions: str) -> Callable[[Handler], Handler]:
        """Register for every action of `event`, or only for the given actions."""
        keys = [f"{event}.{a}" for a in actions] if actions else [event]

        def decorator(func: Handler) -> Handler:
            for key in keys:
                self._add(Route(key, func))
            return func

        return decorator

    def routes_for(self, event: str, action: str | None) -> list[Route]:
        routes = list(self._routes.get(event, ()))
        if action:
            routes += self._routes.get(f"{event}.{action}", ())
        return routes

    def keys(self) -> frozenset[str]:
        return frozenset(k for k, v in self._routes.items() if v)


def compose(routers: Iterable[Router]) -> Router:
    return Router(*routers)
