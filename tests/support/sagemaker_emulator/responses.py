"""Helpers for the handlers installed as methods of moto's SageMakerResponse.

`_ORIGINAL` holds moto's own handlers while the emulator is installed (filled and cleared by
`install()` / `uninstall()`); `_original` calls one; `_action_result` / `_empty_result` build
moto's response objects (moto imported lazily).
"""

from __future__ import annotations

from typing import Any, Callable


_ORIGINAL: dict[str, Callable] = {}


def _original(self: Any, name: str) -> Any:
    return _ORIGINAL[name](self)


def _action_result(value: Any) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult(value)


def _empty_result() -> Any:
    from moto.core.responses import EmptyResult

    return EmptyResult()
