"""The App's own lifecycle: pings and installations."""

from __future__ import annotations

import logging

from bot.app.router import Router

router = Router()
log = logging.getLogger(__name__)


@router.register("ping")
def on_ping(ctx, delivery) -> None:
    hook = delivery.payload.get("hook") or {}
    log.info("ping received", extra={"hook_id": hook.get("id"), "zen": delivery.payload.get("zen")})


@router.register("installation")
def on_installation(ctx, delivery) -> None:
    inst = delivery.payload.get("installation") or {}
    account = (inst.get("account") or {}).get("login") or "unknown"
    active = delivery.action not in ("deleted", "suspend")
    if isinstance(inst.get("id"), int):
        ctx.store.upsert_installation(inst["id"], account, active)
        log.info("installation updated", extra={"installation_id": inst["id"], "account": account,
                                                "active": active})
