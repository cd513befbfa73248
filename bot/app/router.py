"""Event routing: feature modules register handlers for `event` or `event.action`.

Each feature module owns a `Router`; `bot.app.features` composes them. Handlers are plain functions
`handler(ctx, delivery)` that drive GitHub/AWS toward a desired state, so running one twice
changes nothing (the worker may retry a delivery, GitHub may redeliver it).

A feature also registers here what the worker runs for it outside deliveries, so the worker
imports no feature: periodic jobs (`@router.periodic`, `job(runtime) -> int`, run by the reaper
each round) and named services (`@router.provides(name)`, `factory(runtime)`, e.g. the deploy
engine's adapters, `rollout_services`).
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
        self._periodic: list[Callable] = []
        self._services: dict[str, Callable] = {}
        for other in routers:
            for routes in other._routes.values():
                for route in routes:
                    self._add(route)
            for job in other._periodic:
                self.periodic(job)
            for name, factory in other._services.items():
                self.provides(name)(factory)

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

    def periodic(self, job: Callable) -> Callable:
        """Register `job(runtime) -> int` (how much it did), run by the worker's reaper each round."""
        if job not in self._periodic:
            self._periodic.append(job)
        return job

    def periodic_jobs(self) -> list[Callable]:
        return list(self._periodic)

    def provides(self, name: str) -> Callable[[Callable], Callable]:
        """Register `factory(runtime)` as the service `name`; one feature provides each name."""

        def decorator(factory: Callable) -> Callable:
            current = self._services.get(name)
            if current is not None and current is not factory:
                raise ValueError(f"service {name!r} is provided twice: by {current.__module__} and {factory.__module__}")
            self._services[name] = factory
            return factory

        return decorator

    def service(self, name: str) -> Callable:
        """The factory registered as `name`; LookupError naming it when no feature provides it."""
        try:
            return self._services[name]
        except KeyError:
            raise LookupError(f"no feature module provides the service {name!r}") from None

    def routes_for(self, event: str, action: str | None) -> list[Route]:
        routes = list(self._routes.get(event, ()))
        if action:
            routes += self._routes.get(f"{event}.{action}", ())
        return routes

    def keys(self) -> frozenset[str]:
        return frozenset(k for k, v in self._routes.items() if v)


def compose(routers: Iterable[Router]) -> Router:
    return Router(*routers)
