"""Webhook intake logic without I/O: signature check, header and body validation.

`inspect_delivery` takes the raw request parts and returns either an accepted `Delivery` or a
`Rejection` with the HTTP status and a reason a person can act on. The web adapter turns these
into responses; nothing here touches the store, the queue or the network.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from bot.core.config import Secret
from bot.app.router import is_internal_event

SIGNATURE_PREFIX = "sha256="
_DELIVERY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_EVENT = re.compile(r"[a-z_]{1,64}")

# The events whose payload may lack `repository`: those whose schema in GitHub's webhook
# description (@octokit/openapi-webhooks 12.1.0, `components/schemas/webhook-*`, see
# ../shared/github/webhooks.openapi.json) does not require it. Every other event is about one
# repository, so a delivery of it without one is malformed and is refused, not routed.
EVENTS_WITHOUT_REPOSITORY = frozenset({
    "custom_property", "github_app_authorization", "installation", "installation_repositories",
    "installation_target", "marketplace_purchase", "membership", "merge_group", "meta", "org_block",
    "organization", "package", "personal_access_token_request", "ping", "project", "project_card",
    "project_column", "projects_v2", "projects_v2_item", "projects_v2_status_update", "registry_package",
    "repository_ruleset", "secret_scanning_scan", "security_advisory", "sponsorship", "sub_issues", "team",
})


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    event: str
    action: str | None
    repository: str | None
    installation_id: int | None
    payload: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.event}.{self.action}" if self.action else self.event


@dataclass(frozen=True)
class Rejection:
    status: int
    outcome: str
    reason: str


def sign(secret: str | bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body`."""
    key = secret.encode() if isinstance(secret, str) else secret
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_matches(secrets: Iterable[Secret], body: bytes, header: str | None) -> bool:
    """Constant-time check of the header against every configured secret (for rotation)."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    given = header.encode("ascii", "replace")
    ok = False
    for secret in secrets:
        expected = sign(secret.get(), body).encode("ascii")
        # Compare with every secret, no early exit, so timing says nothing about which matched.
        ok |= hmac.compare_digest(expected, given)
    return ok


def _text_field_problem(name: str, value: object, max_len: int) -> str | None:
    """Why a routing field cannot be stored and matched, or None when it is fine."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"'{name}' must be a string"
    if len(value) > max_len:
        return f"'{name}' is longer than {max_len} characters"
    if "\x00" in value:
        return f"'{name}' contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"'{name}' contains an unpaired surrogate"
    return None


_MAYBE_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _unstorable_string(payload: object) -> str | None:
    """Where the payload holds a string PostgreSQL text cannot store and no driver can encode (a
    NUL character, an unpaired surrogate), as `field: problem`; None when every string is fine.

    A handler copies such strings (a login, a comment) into the store, and the insert would fail
    the same way on every retry: the delivery is refused at the door instead."""
    stack: list[tuple[str, object]] = [("", payload)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else str(key)
                problem = _string_problem(key)
                if problem:
                    return f"a key of '{where or '(top level)'}' {problem}"
                stack.append((path, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            problem = _string_problem(value)
            if problem:
                return f"'{where}' {problem}"
    return None


def _string_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate, which cannot be stored"
    return None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def inspect_delivery(
    *,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Iterable[Secret],
    handled: frozenset[str] | set[str],
    allow_repository,
) -> Delivery | Rejection:
    """Decide what to do with one POST to /webhook.

    Order matters: the signature is checked before the body is parsed, so an unsigned request
    costs one HMAC and tells the sender nothing about the payload rules.
    """
    if not signature_matches(secrets, body, headers.get("X-Hub-Signature-256")):
        if not headers.get("X-Hub-Signature-256"):
            return Rejection(401, "unsigned", "missing X-Hub-Signature-256 header")
        return Rejection(401, "bad_signature", "X-Hub-Signature-256 does not match any configured secret")

    delivery_id = headers.get("X-GitHub-Delivery", "")
    if not _DELIVERY_ID.fullmatch(delivery_id):
        return Rejection(400, "bad_request", "X-GitHub-Delivery header missing or not a GUID")
    event = headers.get("X-GitHub-Event", "")
    if not _EVENT.fullmatch(event):
        return Rejection(400, "bad_request", "X-GitHub-Event header missing or malformed")

    media = _media_type(headers.get("Content-Type"))
    if media == "application/x-www-form-urlencoded":
        return Rejection(
            415, "bad_content_type",
            "form-encoded deliveries are not supported: set the webhook content type to application/json",
        )
    if media != "application/json":
        return Rejection(415, "bad_content_type", f"expected Content-Type application/json, got {media or 'none'}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(400, "bad_json", f"body is not UTF-8 (invalid byte at offset {exc.start})")
    if text.startswith("\ufeff"):
        return Rejection(400, "bad_json", "body starts with a byte order mark; GitHub sends plain UTF-8")
    try:
        payload = json.loads(text)
    except RecursionError:
        return Rejection(400, "bad_json", "body is nested too deeply")
    except ValueError as exc:
        return Rejection(400, "bad_json", f"body is not valid JSON: {exc}")
    if not isinstance(payload, dict):
        return Rejection(400, "bad_json", "body must be a JSON object")

    action = payload.get("action")
    problem = _text_field_problem("action", action, 64)
    if problem:
        return Rejection(400, "bad_json", problem)
    repo = payload.get("repository")
    full_name = repo.get("full_name") if isinstance(repo, dict) else None
    problem = _text_field_problem("repository.full_name", full_name, 255)
    if problem:
        return Rejection(400, "bad_json", problem)
    inst = payload.get("installation")
    installation_id = inst.get("id") if isinstance(inst, dict) else None
    if installation_id is not None and (
            not isinstance(installation_id, int) or isinstance(installation_id, bool)
            or not 0 < installation_id < 2**63):
        return Rejection(400, "bad_json", "'installation.id' must be a positive 64-bit integer")

    # Strict JSON has no raw control characters in strings and UTF-8 text no surrogates: such a
    # string can only come from a \u escape, so the walk runs only when one is in the text.
    problem = _unstorable_string(payload) if _MAYBE_UNSTORABLE.search(text) else None
    if problem:
        return Rejection(400, "bad_json", problem[:300])

    delivery = Delivery(delivery_id, event, action, full_name, installation_id, payload)
    if is_internal_event(event):
        return Rejection(403, "forbidden_event", f"event {event} is internal to modelbot: never accepted "
                         "from a webhook")
    if event not in handled and delivery.key not in handled:
        return Rejection(202, "ignored", f"event {delivery.key} is not handled")
    if full_name is None and event not in EVENTS_WITHOUT_REPOSITORY:
        return Rejection(400, "bad_json", f"a {event} delivery must name its repository "
                         "('repository.full_name'); only events about no repository may omit it")
    if full_name is not None and not allow_repository(full_name):
        return Rejection(403, "forbidden_repository", f"repository {full_name} is not in the allowlist")
    return delivery
