"""Shared foundations of the emulator: defaults, nominal timings, settings, the lock, errors.

Holds the account/region defaults, the nominal AWS durations used in clock mode, the settings
dict (`settings()`, `configure()`, `_reset_settings()`), the one `_LOCK` every handler takes,
moto error and ARN/time helpers, botocore's SageMaker service shapes (instance type enums) and
tag validation. Imports nothing from moto at import time.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import unicodedata
from datetime import datetime, timezone
from typing import Any


DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

_DEFAULT_SETTINGS: dict[str, Any] = {
    "mode": "describe",  # "describe": one phase per describe call; "clock": wall time
    "bake_ticks": 1,  # describe ticks per baking period
    "create_ticks": 1,  # describe ticks an endpoint stays Creating (0: InService at once)
    "transform_ticks": 1,  # describe ticks a transform job stays InProgress (0: at once)
    "delete_ticks": 1,  # describe ticks an endpoint stays Deleting (0: gone at once)
    "time_scale": 0.001,  # clock mode: real seconds per nominal AWS second
}
_settings: dict[str, Any] = dict(_DEFAULT_SETTINGS)

# Nominal AWS durations in seconds, used only in clock mode.
PROVISION_SECONDS = 300.0
ACTIVATE_SECONDS = 30.0
DELETE_SECONDS = 60.0
ROLLBACK_SECONDS = 60.0
UPDATE_SECONDS = 60.0
EXPERIMENT_STEP_SECONDS = 60.0
TRANSFORM_SECONDS = 60.0

FORCEABLE_OUTCOMES = ("Failed", "UpdateRollbackFailed", "RolledBack")
CONTROL_PREFIX = "/moto-api/sagemaker-emulator"

_LOCK = threading.RLock()


# --------------------------------------------------------------------------- settings


def settings() -> dict[str, Any]:
    """A copy of the current emulator settings."""
    return dict(_settings)


def configure(**changes: Any) -> dict[str, Any]:
    """Change emulator settings (mode, bake_ticks, create_ticks, transform_ticks, delete_ticks,
    time_scale)."""
    unknown = set(changes) - set(_DEFAULT_SETTINGS)
    if unknown:
        raise ValueError(f"unknown emulator settings: {sorted(unknown)}")
    if "mode" in changes and changes["mode"] not in ("describe", "clock"):
        raise ValueError("mode must be 'describe' or 'clock'")
    for key in ("bake_ticks",):
        if key in changes and int(changes[key]) < 1:
            raise ValueError(f"{key} must be >= 1")
    for key in ("create_ticks", "transform_ticks", "delete_ticks"):
        if key in changes and int(changes[key]) < 0:
            raise ValueError(f"{key} must be >= 0")
    if "time_scale" in changes and float(changes["time_scale"]) <= 0:
        raise ValueError("time_scale must be > 0")
    with _LOCK:
        _settings.update(changes)
        return dict(_settings)


def _reset_settings() -> None:
    with _LOCK:
        _settings.clear()
        _settings.update(_DEFAULT_SETTINGS)


# --------------------------------------------------------------------------- errors


def _errors():  # imported lazily so that importing this module does not import moto
    from moto.sagemaker import exceptions

    return exceptions


def _validation(message: str) -> Exception:
    return _errors().ValidationError(message=message)


def _not_found(message: str) -> Exception:
    return _errors().ResourceNotFound(message=message)


def _conflict(message: str) -> Exception:
    return _errors().ConflictException(message)


def _in_use(message: str) -> Exception:
    return _errors().ResourceInUseException(message=message)


def _arn(backend: Any, kind: str, name: str) -> str:
    from moto.sagemaker.utils import arn_formatter

    return arn_formatter(kind, name, backend.account_id, backend.region_name)


def _now() -> datetime:
    from moto.core.utils import utcnow

    return utcnow()


def _naive_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc).replace(tzinfo=None)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


# --------------------------------------------------------------------------- service model


_service_model_cache: dict[str, Any] = {}


def _service_shapes() -> dict[str, Any]:
    if "shapes" not in _service_model_cache:
        import botocore

        path = os.path.join(
            os.path.dirname(botocore.__file__),
            "data",
            "sagemaker",
            "2017-07-24",
            "service-2.json.gz",
        )
        with gzip.open(path) as fh:
            _service_model_cache["shapes"] = json.load(fh)["shapes"]
    return _service_model_cache["shapes"]


def production_variant_instance_types() -> list[str]:
    """Instance types AWS accepts for a production variant (botocore's enum)."""
    return list(_service_shapes()["ProductionVariantInstanceType"]["enum"])


def transform_instance_types() -> list[str]:
    """Instance types AWS accepts for a transform job (botocore's TransformInstanceType enum)."""
    return list(_service_shapes()["TransformInstanceType"]["enum"])


# --------------------------------------------------------------------------- tags

_TAG_PATTERN = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"
_TAG_EXTRA_CHARS = set("_.:/=+-@")


def _tag_chars_ok(text: str) -> bool:
    for ch in text:
        if ch in _TAG_EXTRA_CHARS:
            continue
        if unicodedata.category(ch)[0] in ("L", "Z", "N"):
            continue
        return False
    return True


def validate_tags(tags: list[dict[str, Any]] | None, existing: list[dict[str, Any]] | None = None) -> None:
    """Raise ValidationException for tags AWS rejects (count, length, pattern, aws: prefix)."""
    if not tags:
        return
    keys = {t.get("Key") for t in existing or []} | {t.get("Key") for t in tags}
    if len(tags) > 50 or len(keys) > 50:
        raise _validation(
            "1 validation error detected: Value at 'tags' failed to satisfy constraint: "
            "Member must have length less than or equal to 50"
        )
    for index, tag in enumerate(tags, start=1):
        key = tag.get("Key")
        value = tag.get("Value", "")
        if key is None or not 1 <= len(key) <= 128:
            raise _validation(
                f"1 validation error detected: Value '{key}' at 'tags.{index}.member.key' failed "
                "to satisfy constraint: Member must have length between 1 and 128"
            )
        if value is None or len(value) > 256:
            raise _validation(
                f"1 validation error detected: Value '{value}' at 'tags.{index}.member.value' "
                "failed to satisfy constraint: Member must have length less than or equal to 256"
            )
        for part, text in (("key", key), ("value", value)):
            if not _tag_chars_ok(text):
                raise _validation(
                    f"1 validation error detected: Value '{text}' at 'tags.{index}.member.{part}' "
                    f"failed to satisfy constraint: Member must satisfy regular expression pattern: "
                    f"{_TAG_PATTERN}"
                )
        if key.lower().startswith("aws:"):
            raise _validation(
                f"Tag keys beginning with 'aws:' are reserved for system use: '{key}'."
            )
