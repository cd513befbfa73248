"""The JSON API (`/api/v1/...`), served by the web process; every route needs a bearer token.

Tokens come from MODELBOT_API_TOKENS (comma-separated, each at least 32 characters) and are
compared in constant time; without any configured, every request is refused (401), so nothing
here is reachable without authentication. Token values are redacted from logs.

- `GET /api/v1/trace/<subject>[?environment=ENV][&repository=OWNER/NAME]`: the ledger's chain behind an endpoint's model,
  now and before (`bot.app.services.lineage.trace`; the same JSON as `modelbot trace --format
  json`). The subject is an endpoint name, a SageMaker ARN, or a tag (`modelbot:commit=SHA`, ...).
  400 for a subject that cannot be read, 404 when the ledger knows nothing of it.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from flask import Flask, Response, request

from bot.app.services.lineage import trace
from bot.core.logs import add_redactions

MAX_SUBJECT = 2048


def _json(status: int, body: dict, **headers) -> Response:
    return Response(json.dumps(body, default=str), status=status, mimetype="application/json", headers=headers)


def register(app: Flask, settings, store) -> None:
    tokens = [hashlib.sha256(t.get().encode()).digest() for t in settings.api_tokens]
    add_redactions(t.get() for t in settings.api_tokens)

    def authorized() -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return False
        digest = hashlib.sha256(given.strip().encode()).digest()
        ok = False
        for t in tokens:  # every token compared: the time does not say which one matched
            ok |= hmac.compare_digest(digest, t)
        return ok

    @app.before_request
    def api_auth():
        if not request.path.startswith("/api/"):
            return None
        if not authorized():
            why = ("no API tokens are configured (MODELBOT_API_TOKENS)" if not tokens
                   else "a valid bearer token is required")
            return _json(401, {"error": "unauthorized", "reason": why}, **{"WWW-Authenticate": 'Bearer realm="modelbot"'})
        return None

    @app.get("/api/v1/trace/<path:subject>")
    def api_trace(subject: str):
        if len(subject) > MAX_SUBJECT:
            return _json(400, {"error": "bad_subject", "reason": f"the subject is over {MAX_SUBJECT} characters"})
        environment = request.args.get("environment") or None
        repository = request.args.get("repository") or None
        try:
            result = trace(store, subject, environment=environment, repository=repository)
        except ValueError as exc:
            return _json(400, {"error": "bad_subject", "reason": str(exc)})
        if not result.chains:
            return _json(404, {"error": "not_found", "reason": "the ledger knows no deployment of this subject",
                               **result.as_dict()})
        return _json(200, result.as_dict())
