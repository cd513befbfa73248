"""A stateful fake of GitHub's REST API for one GitHub App, held against GitHub's own contract.

`FakeGitHub` serves on 127.0.0.1 (werkzeug, a daemon thread, a free port) and:

- routes every request to an operation of tests/contract/github-rest.subset.json and validates
  it (path and query parameters, JSON body) against that operation. A request GitHub would refuse
  is answered as GitHub answers it (404/422/400) and recorded in `.violations`; a mistake GitHub
  ignores (an undefined query parameter) is only recorded. Tests assert `.violations == []`.
- validates its own answers against the operation's response schema; a mismatch is a bug in the
  fake, answered 500, recorded in `.violations` and printed to stderr.
- authenticates like GitHub: an App JWT (RS256, checked with the App's public key) for /app*,
  installation tokens minted by POST /app/installations/{id}/access_tokens for the rest.
- keeps state (see github_state.GitHubState, whose setup helpers it inherits), paginates lists
  with a Link header, sends X-RateLimit-* headers, and enforces the documented limits the schema
  does not carry (comment body 65,536 characters, annotation columns, status description 140).
- records every call in `.calls`, and injects faults on demand (`fail_next`, `rate_limit_next`).

401 answers are not violations (tests exercise expired tokens on purpose); they are in `.calls`
and `.auth_failures`.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import io
import json
import re
import secrets
import sys
import tarfile
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import fake_graphql
from .github_limits import SecondaryLimits
from .fake_oauth import USER_OPERATIONS, OAuthFake, web_path
from .github_contract import Operation, RestContract
from .github_render import DOCS, Renderer, iso
CODELOAD_PREFIX = "/_codeload/"
GRAPHQL_PATH = "/graphql"  # PyGithub's graphql_url for a base URL without a path (api.github.com/graphql)

from .github_state import (
    Account, CheckRun, CommitStatus, Deployment, DeploymentStatus, GitHubState, Issue, Label, PullRequest, Reaction,
    Repository, Token, TreeEntry, diff_files, git_hash, utcnow,
)

MAX_COMMENT = 65536
MAX_STATUS_DESCRIPTION = 140
MAX_PER_PAGE = 100


# --- keys ----------------------------------------------------------------------------------------


def generate_app_key() -> tuple[str, str]:
    """A fresh RSA key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@functools.cache
def app_key_pair() -> tuple[str, str]:
    """The App key pair shared by every FakeGitHub in the process (generating one takes ~50 ms)."""
    return generate_app_key()


# --- records -------------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int = 0
    operation: str | None = None  # operationId, None for an unknown route
    auth: str | None = None  # "jwt", "token" or None


@dataclass
class Fault:
    method: str
    path: re.Pattern
    status: int
    times: int
    headers: dict[str, str]
    body: Any
    after: bool

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method in ("*", method) and bool(self.path.search(path))


class HttpError(Exception):
    def __init__(self, status: int, message: str, errors: list[dict] | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = status, message, errors, headers or {}


def not_found() -> HttpError:
    return HttpError(404, "Not Found")


def invalid(resource: str, field_: str, message: str, code: str = "custom") -> HttpError:
    return HttpError(422, "Validation Failed",
                     [{"resource": resource, "code": code, "field": field_, "message": message}])


@dataclass
class Ctx:
    """One request, as handlers see it."""

    op: Operation
    params: dict[str, Any]
    body: Any
    query: dict[str, str]
    path: str
    token: Token | None = None
    repo: Repository | None = None
    user: Account | None = None  # a user access token's person (tests/support/fake_oauth.py)


# Permission an installation token needs for each operation (GitHub answers 403 without it).
REQUIRED_PERMISSION = {
    "repos/get": ("metadata", "read"), "repos/get-branch": ("metadata", "read"),
    "repos/get-collaborator-permission-level": ("metadata", "read"),
    "pulls/get": ("pull_requests", "read"), "pulls/list-files": ("pull_requests", "read"),
    "pulls/list-reviews": ("pull_requests", "read"), "pulls/list-commits": ("pull_requests", "read"),
    "issues/get": ("issues", "read"), "issues/list-comments": ("issues", "read"),
    "issues/get-comment": ("issues", "read"), "issues/create-comment": ("issues", "write"),
    "issues/update-comment": ("issues", "write"), "issues/delete-comment": ("issues", "write"),
    "reactions/create-for-issue-comment": ("issues", "write"), "issues/add-labels": ("issues", "write"),
    "issues/create": ("issues", "write"), "issues/update": ("issues", "write"), "issues/list-for-repo": ("issues", "read"),
    "actions/review-custom-gates-for-run": ("deployments", "write"),
    "repos/get-content": ("contents", "read"), "git/get-tree": ("contents", "read"),
    "git/get-blob": ("contents", "read"), "git/get-commit": ("contents", "read"),
    "repos/get-commit": ("contents", "read"), "repos/compare-commits-with-basehead": ("contents", "read"),
    "checks/create": ("checks", "write"), "checks/update": ("checks", "write"), "checks/get": ("checks", "read"),
    "checks/list-for-ref": ("checks", "read"), "teams/get-membership-for-user-in-org": ("members", "read"),
    "repos/create-deployment": ("deployments", "write"), "repos/list-deployments": ("deployments", "read"),
    "repos/create-deployment-status": ("deployments", "write"),
    "repos/list-deployment-statuses": ("deployments", "read"), "repos/create-commit-status": ("statuses", "write"),
    "repos/get-status-checks-protection": ("administration", "read"), "repos/get-branch-rules": ("metadata", "read"),
}
# Operations GitHub answers without credentials (the manifest code is its own credential).
UNAUTHENTICATED = frozenset({"rate-limit/get", "apps/create-from-manifest"})
# On a pull request, issue comments and labels may be written with pull_requests permission too.
ALTERNATIVE_PERMISSION = {"issues": "pull_requests"}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class FakeGitHub(OAuthFake, GitHubState):
    """The fake server. Start it with `with FakeGitHub() as gh:` or `.start()`; its base URL is `.url`."""

    def __init__(self, *, app_id: int = 4242, app_slug: str = "modelbot", app_name: str = "modelbot",
                 token_lifetime: dt.timedelta = dt.timedelta(hours=1), rate_limit: int = 5000,
                 private_key_pem: str | None = None, public_key_pem: str | None = None,
                 clock: Callable[[], dt.datetime] = utcnow, secondary_limits: SecondaryLimits | None = None):
        if private_key_pem is None and public_key_pem is None:
            private_key_pem, public_key_pem = app_key_pair()
        self.private_key_pem = private_key_pem
        self.public_key_pem = public_key_pem
        self.token_lifetime = token_lifetime
        self.contract = RestContract()
        self._rate_limit = rate_limit
        # GitHub's documented secondary limits (tests/support/github_limits.py), when given.
        self.secondary_limits = secondary_limits
        self._server = None
        self._thread: threading.Thread | None = None
        self.url = ""
        super().__init__(app_id=app_id, app_slug=app_slug, app_name=app_name, clock=clock)

    generate_app_key = staticmethod(generate_app_key)

    def _clear(self) -> None:
        super()._clear()
        self._clear_oauth()
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.auth_failures: list[str] = []
        self.faults: list[Fault] = []
        self.tokens_minted = 0
        self.rate_limit = self._rate_limit
        self.rate_remaining = self._rate_limit
        self.rate_reset = int(time.time()) + 3600
        self._check_suites: dict[tuple[int, str], int] = {}
        self.archive_tickets: dict[str, tuple[str, str]] = {}
        self.graphql_budgets: dict[int, fake_graphql.Budget] = {}  # installation id -> GraphQL points
        self.archive_sizes: dict[str, int] = {}  # repository -> declared archive bytes (declare_archive_size)

    def reset(self) -> None:
        """Forget all state, calls, violations, faults and tokens (the App and its key stay)."""
        with self.lock:
            self._clear()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "FakeGitHub":
        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-github", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "FakeGitHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def app_id(self) -> int:
        return self.app.id

    # -- helpers for tests -----------------------------------------------------------------------

    def app_jwt(self, *, private_key_pem: str | None = None, iss: Any = None, issued_at: int = -60,
                expires_in: int = 540) -> str:
        """An App JWT as a client would sign it (another key or issuer to test refusals)."""
        now = int(time.time())
        claims = {"iat": now + issued_at, "exp": now + expires_in, "iss": str(iss if iss is not None else self.app.id)}
        return jwt.encode(claims, private_key_pem or self.private_key_pem, algorithm="RS256")

    def mint_token(self, installation_id: int, lifetime: dt.timedelta | None = None) -> str:
        """An installation token, minted without an HTTP call (not counted in `.tokens_minted`)."""
        with self.lock:
            if installation_id not in self.installations:
                raise KeyError(f"no installation {installation_id}")
            return self._new_token(installation_id, lifetime).value

    def expire_tokens(self) -> None:
        """Make every token minted so far expired, as if an hour had passed."""
        with self.lock:
            past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
            for token in self.tokens.values():
                token.expires_at = past

    def set_rate_limit(self, remaining: int, *, limit: int | None = None, reset_in: int = 3600) -> None:
        """The core rate limit the next answers report (and enforce once `remaining` reaches 0)."""
        with self.lock:
            self.rate_limit = limit or self.rate_limit
            self.rate_remaining = remaining
            self.rate_reset = int(time.time()) + reset_in

    def fail_next(self, method: str, path_regex: str, status: int = 502, times: int = 1,
                  headers: dict[str, str] | None = None, body: Any = None, after: bool = False) -> Fault:
        """Answer the next `times` matching calls with `status`. With `after=True` the call is
        performed first (so a blind retry of a POST creates a duplicate)."""
        if body is None:
            body = {"message": _REASONS.get(status, "Error"), "documentation_url": DOCS}
        fault = Fault(method.upper(), re.compile(path_regex), status, times, dict(headers or {}), body, after)
        with self.lock:
            self.faults.append(fault)
        return fault

    def rate_limit_next(self, method: str = "*", path_regex: str = "", *, kind: str = "primary",
                        times: int = 1, retry_after: int = 1) -> Fault:
        """Refuse the next matching calls for rate limiting, as GitHub does:
        "primary": 403 with x-ratelimit-remaining 0 and x-ratelimit-reset a second ahead;
        "secondary": 403 with Retry-After; "429": 429 with Retry-After."""
        if kind == "primary":
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + retry_after),
                       "X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Used": str(self.rate_limit),
                       "X-RateLimit-Resource": "core"}
            body = {"message": "API rate limit exceeded for installation.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
            return self.fail_next(method, path_regex, 403, times, headers, body)
        if kind in ("secondary", "429"):
            body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                               "try again.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
            return self.fail_next(method, path_regex, 403 if kind == "secondary" else 429, times,
                                  {"Retry-After": str(retry_after)}, body)
        raise ValueError("kind is primary, secondary or 429")

    def requests(self, method: str = "*", path_regex: str = "") -> list[Call]:
        """Recorded calls with this method ("*": any) whose path matches `path_regex` (re.search)."""
        pattern = re.compile(path_regex)
        return [c for c in list(self.calls) if method.upper() in ("*", c.method) and pattern.search(c.path)]

    def count(self, method: str = "*", path_regex: str = "") -> int:
        return len(self.requests(method, path_regex))

    def assert_no_violations(self) -> None:
        assert self.violations == [], "requests broke GitHub's contract:\n" + "\n".join(self.violations)

    # -- WSGI ------------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        limits = self.secondary_limits
        if limits is not None:
            limits.enter()
        try:
            with self.lock:
                response = self._handle(request)
        finally:
            if limits is not None:
                limits.leave()
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        method, path = request.method.upper(), request.path
        body = request.get_data()
        query = {k: v[-1] for k, v in request.args.lists()}
        if path.startswith(CODELOAD_PREFIX):
            return self._codeload(method, path, query)
        if path == GRAPHQL_PATH:
            return self._graphql(request, method, body)
        if web_path(path):  # GitHub's OAuth web flow: no REST operation
            return self._oauth(request, method, path)
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = body.decode("utf-8", "replace")
        call = Call(method, path, query, parsed)
        self.calls.append(call)

        op, raw_params = self.contract.match(method, path)
        if op is None:
            allowed = self.contract.methods_for(path)
            why = f"{method} {path}: no such operation" + (f" (the path takes {', '.join(allowed)})" if allowed
                                                          else " in GitHub's REST API subset")
            self.violations.append(why)
            return self._finish(call, None, 404, self.render.error(404, "Not Found"), {})
        call.operation = op.operation_id

        params, payload, problems = self.contract.check_request(
            op, raw_params, dict(request.args.lists()), body, request.content_type)
        for problem in problems:
            self.violations.append(f"{op.method} {path} ({op.operation_id}): {problem.message}")
        ctx = Ctx(op, params, payload, query, path)

        try:
            self._authenticate(ctx, request.headers.get("Authorization"), call)
            refused = [p for p in problems if p.status is not None]
            if refused:
                first = refused[0]
                message = {404: "Not Found", 400: "Problems parsing JSON", 415: "Unsupported Media Type"}.get(
                    first.status, "Invalid request.\n\n" + "\n".join(p.message for p in refused))
                raise HttpError(first.status, message)
            fault = self._take_fault(method, path, after=False)
            if fault is not None:
                return self._finish(call, op, fault.status, fault.body, fault.headers, validate=False)
            if self.secondary_limits is not None:
                who = str(ctx.token.installation_id) if ctx.token is not None else "app"
                wait = self.secondary_limits.check(who, method, path, op.operation_id)
                if wait is not None:
                    return self._finish(call, op, 403, self.secondary_limits.refusal_body(),
                                        {"Retry-After": str(wait)}, validate=False)
            self._spend_rate_limit(ctx)
            status, answer, headers = self._dispatch(ctx)
        except HttpError as exc:
            return self._finish(call, op, exc.status, self.render.error(exc.status, exc.message, exc.errors),
                                exc.headers)
        except Exception as exc:  # a bug in the fake: make it loud, never a silent 500
            where = traceback.extract_tb(exc.__traceback__)[-1]
            message = (f"FAKE GITHUB BUG: {type(exc).__name__}: {exc} at {where.filename}:{where.lineno} "
                       f"answering {method} {path} ({op.operation_id})")
            self.violations.append(message)
            traceback.print_exc(file=sys.stderr)
            return self._finish(call, op, 500, self.render.error(500, message), {}, validate=False)
        fault = self._take_fault(method, path, after=True)
        if fault is not None:
            # The action happened; the client only learns of an error.
            self._finish(call, op, status, answer, headers)  # still held against the contract
            return self._finish(call, op, fault.status, fault.body, fault.headers, validate=False)
        return self._finish(call, op, status, answer, headers)

    @property
    def render(self) -> Renderer:
        return Renderer(self, self.url)

    def _finish(self, call: Call, op: Operation | None, status: int, body: Any, headers: dict,
                validate: bool = True) -> Response:
        if validate and op is not None:
            errors = self.contract.check_response(op, status, body)
            if errors:
                message = (f"FAKE GITHUB BUG: its {status} answer to {op.method} {call.path} ({op.operation_id}) "
                           f"breaks the response schema: " + "; ".join(errors[:5]))
                self.violations.append(message)
                print(message, file=sys.stderr)
                status, body = 500, self.render.error(500, message)
        call.status = status
        out = Response(status=status)
        if body is not None and status != 204:
            out.set_data(json.dumps(body))
            out.content_type = "application/json; charset=utf-8"
        out.headers.update({
            "X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": str(max(self.rate_remaining, 0)),
            "X-RateLimit-Reset": str(self.rate_reset), "X-RateLimit-Used": str(self.rate_limit - self.rate_remaining),
            "X-RateLimit-Resource": "core", "X-GitHub-Request-Id": secrets.token_hex(8).upper(),
            "X-GitHub-Api-Version-Selected": "2022-11-28",
        })
        for key, value in headers.items():
            out.headers[key] = value
        return out

    def _take_fault(self, method: str, path: str, after: bool) -> Fault | None:
        for fault in self.faults:
            if fault.after == after and fault.matches(method, path):
                fault.times -= 1
                return fault
        return None

    def _spend_rate_limit(self, ctx: Ctx) -> None:
        if ctx.op.operation_id == "rate-limit/get":
            return
        if time.time() >= self.rate_reset:
            self.rate_remaining, self.rate_reset = self.rate_limit, int(time.time()) + 3600
        if self.rate_remaining <= 0:
            raise HttpError(403, "API rate limit exceeded for installation.")
        self.rate_remaining -= 1

    # -- authentication --------------------------------------------------------------------------

    def _authenticate(self, ctx: Ctx, header: str | None, call: Call) -> None:
        needs_jwt = ctx.op.template.startswith("/app/") or ctx.op.template == "/app"
        if ctx.op.operation_id in UNAUTHENTICATED:
            return
        scheme, _, credential = (header or "").partition(" ")
        scheme = scheme.lower()
        if not credential or scheme not in ("bearer", "token"):
            self._refuse(call, 401, "Requires authentication", "no Authorization header")
        if needs_jwt:
            call.auth = "jwt"
            if scheme != "bearer" or credential.count(".") != 2:
                self._refuse(call, 401, "A JSON web token could not be decoded", "App endpoint without a JWT")
            self._verify_jwt(credential, call)
            return
        if self._authenticate_user(ctx, credential, call):
            return
        call.auth = "token"
        token = self.tokens.get(credential)
        if token is None:
            self._refuse(call, 401, "Bad credentials", "unknown token (an App JWT cannot call this endpoint)"
                         if credential.count(".") == 2 else "unknown token")
        if token.expires_at <= dt.datetime.now(dt.timezone.utc):
            self._refuse(call, 401, "Bad credentials", f"token expired at {iso(token.expires_at)}")
        installation = self.installations.get(token.installation_id)
        if installation is None:
            self._refuse(call, 401, "Bad credentials", "token of a deleted installation")
        if installation.suspended_at is not None:
            raise HttpError(403, "This installation has been suspended")
        ctx.token = token
        self._authorize(ctx)

    def _refuse(self, call: Call, status: int, message: str, why: str) -> None:
        self.auth_failures.append(f"{call.method} {call.path}: {why}")
        raise HttpError(status, message)

    def _verify_jwt(self, credential: str, call: Call) -> None:
        try:
            claims = jwt.decode(credential, self.public_key_pem, algorithms=["RS256"],
                                options={"require": ["exp", "iat", "iss"], "verify_exp": False, "verify_iat": False})
        except jwt.PyJWTError as exc:
            self._refuse(call, 401, "A JSON web token could not be decoded", f"JWT refused: {exc}")
        now = time.time()
        if str(claims["iss"]) != str(self.app.id):
            self._refuse(call, 401, "A JSON web token could not be decoded", f"JWT iss {claims['iss']!r} is not the App id")
        if not isinstance(claims["exp"], int) or claims["exp"] <= now:
            self._refuse(call, 401, "'Expiration time' claim ('exp') must be a numeric value representing the "
                         "future time at which the assertion expires", "JWT expired")
        if claims["exp"] - now > 600 or claims["exp"] - claims["iat"] > 600:
            self._refuse(call, 401, "'Expiration time' claim ('exp') is too far in the future",
                         "JWT lives longer than 10 minutes")
        if not isinstance(claims["iat"], int) or claims["iat"] > now + 60:
            self._refuse(call, 401, "'Issued at' claim ('iat') must be an Integer representing the time that the "
                         "assertion was issued", "JWT issued in the future")

    def _authorize(self, ctx: Ctx) -> None:
        """The repository (or organization) must belong to the token's installation, and the
        installation must hold the permission the operation needs."""
        installation = self.installations[ctx.token.installation_id]
        if ctx.op.operation_id in USER_OPERATIONS:  # /user...: a person's, never an installation's
            raise HttpError(403, "Resource not accessible by integration")
        if "owner" in ctx.params and "repo" in ctx.params:
            repo = self.repos.get(f"{ctx.params['owner']}/{ctx.params['repo']}".lower())
            if repo is None or repo.installation_id != installation.id:
                raise not_found()
            ctx.repo = repo
        if "org" in ctx.params and ctx.params["org"].lower() != installation.account.login.lower():
            raise not_found()
        need = REQUIRED_PERMISSION.get(ctx.op.operation_id)
        if need is not None:
            kind, level = need
            granted = {installation.permissions.get(kind)}
            if kind in ALTERNATIVE_PERMISSION and ctx.repo is not None:
                number = ctx.params.get("issue_number")
                comment = self.comments.get(ctx.params.get("comment_id", -1))
                if comment is not None:
                    number = comment.issue_number
                if number in ctx.repo.issues and ctx.repo.issues[number].is_pull:
                    granted.add(installation.permissions.get(ALTERNATIVE_PERMISSION[kind]))
            ok = "write" in granted or (level == "read" and "read" in granted)
            if not ok:
                raise HttpError(403, "Resource not accessible by integration")

    def _new_token(self, installation_id: int, lifetime: dt.timedelta | None = None) -> Token:
        expires = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + (lifetime or self.token_lifetime)
        token = Token("ghs_" + secrets.token_urlsafe(27)[:36], installation_id, expires)
        self.tokens[token.value] = token
        return token

    # -- dispatch --------------------------------------------------------------------------------

    def _dispatch(self, ctx: Ctx) -> tuple[int, Any, dict]:
        handler = getattr(self, "_op_" + re.sub(r"[^a-z0-9]+", "_", ctx.op.operation_id))
        result = handler(ctx)
        if len(result) == 2:
            return result[0], result[1], {}
        return result

    def _page(self, ctx: Ctx, items: list) -> tuple[list, dict]:
        per_page = max(1, min(int(ctx.params.get("per_page") or 30), MAX_PER_PAGE))
        page = max(1, int(ctx.params.get("page") or 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []

        def link(n: int, rel: str) -> str:
            query = dict(ctx.query, per_page=str(per_page), page=str(n))
            return f'<{self.url}{ctx.path}?{urllib.parse.urlencode(query)}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        return chunk, ({"Link": ", ".join(links)} if links else {})

    def _actor(self, ctx: Ctx) -> Account:
        return self.bot

    def _commit_sha(self, repo: Repository, ref: str) -> str:
        sha = repo.resolve(ref)
        if sha is None:
            raise HttpError(422, f"No commit found for SHA: {ref}")
        return sha

    def _pull(self, ctx: Ctx) -> PullRequest:
        pr = ctx.repo.issues.get(ctx.params["pull_number"])
        if not isinstance(pr, PullRequest):
            raise not_found()
        return pr

    def _comment(self, ctx: Ctx):
        comment = self.comments.get(ctx.params["comment_id"])
        if comment is None or comment.repo is not ctx.repo:
            raise not_found()
        return comment

    # -- the App ---------------------------------------------------------------------------------

    def _op_apps_get_authenticated(self, ctx):
        return 200, self.render.app()

    def _op_apps_get_installation(self, ctx):
        inst = self.installations.get(ctx.params["installation_id"])
        if inst is None:
            raise not_found()
        return 200, self.render.installation(inst)

    def _op_apps_create_installation_access_token(self, ctx):
        inst = self.installations.get(ctx.params["installation_id"])
        if inst is None:
            raise not_found()
        if inst.suspended_at is not None:
            raise HttpError(403, "This installation has been suspended")
        body = ctx.body or {}
        wanted = body.get("permissions") or {}
        for kind, level in wanted.items():
            granted = inst.permissions.get(kind)
            if granted is None or (level == "write" and granted != "write"):
                raise HttpError(422, "The permissions requested are not granted to this installation.")
        names = body.get("repositories") or []
        for name in names:
            repo = self.repos.get(f"{inst.account.login}/{name}".lower())
            if repo is None or repo.installation_id != inst.id:
                raise HttpError(422, "There is at least one repository that does not exist or is not "
                                     "accessible to the parent installation.")
        token = self._new_token(inst.id)
        self.tokens_minted += 1
        answer = {"token": token.value, "expires_at": iso(token.expires_at),
                  "permissions": dict(wanted or inst.permissions),
                  "repository_selection": "selected" if names else inst.repository_selection}
        return 201, answer

    def _op_rate_limit_get(self, ctx):
        return 200, self.render.rate_limit(self.rate_limit, max(self.rate_remaining, 0), self.rate_reset)

    # -- repositories and git --------------------------------------------------------------------

    def _op_repos_get(self, ctx):
        body = self.render.repository(ctx.repo)
        return 200, (self._user_repository(ctx, body) if ctx.user is not None else body)

    def _op_repos_get_branch(self, ctx):
        if ctx.params["branch"] not in ctx.repo.branches:
            raise HttpError(404, "Branch not found")
        return 200, self.render.branch(ctx.repo, ctx.params["branch"])

    def _op_repos_get_content(self, ctx):
        repo = ctx.repo
        ref = ctx.params.get("ref") or repo.default_branch
        sha = repo.resolve(ref)
        if sha is None:
            raise HttpError(404, f"No commit found for the ref {ref}")
        path = ctx.params["path"].strip("/")
        entry = repo.find_entry(sha, path)
        if entry is None:
            raise not_found()
        if entry.type == "blob":
            return 200, self.render.content(repo, ref, path, entry)
        children = [self.render.content(repo, ref, f"{path}/{e.name}".lstrip("/"), e, with_content=False)
                    for e in repo.trees[entry.sha]]
        return 200, children

    def _op_repos_download_tarball_archive(self, ctx):
        """GitHub answers with a short-lived redirect to codeload; the fake redirects to itself."""
        repo = ctx.repo
        sha = self._commit_sha(repo, ctx.params["ref"])
        ticket = secrets.token_urlsafe(12)
        self.archive_tickets[ticket] = (repo.full_name.lower(), sha)
        location = f"{self.url}{CODELOAD_PREFIX}{repo.full_name}/legacy.tar.gz/{sha}?token={ticket}"
        return 302, None, {"Location": location}

    def _codeload(self, method: str, path: str, query: dict) -> Response:
        """The archive download behind the redirect (codeload.github.com in real life): outside
        the REST API, authorised by the ticket in the URL alone, as GitHub's temporary links are."""
        call = Call(method, path, query, None)
        self.calls.append(call)
        ticket = self.archive_tickets.pop(query.get("token", ""), None)
        if method != "GET" or ticket is None:
            call.status = 404
            return Response("Not Found", status=404)
        repo = self.repos[ticket[0]]
        sha = ticket[1]
        top = f"{repo.full_name.replace('/', '-')}-{sha[:7]}/"
        call.status = 200
        if repo.full_name.lower() in self.archive_sizes:
            return self._sized_archive(repo, sha, top)
        return Response(gzip.compress(self._tar_members(repo, sha, top) + _TAR_END), status=200,
                        mimetype="application/x-gzip")

    def _op_git_get_tree(self, ctx):
        repo, ref = ctx.repo, ctx.params["tree_sha"]
        sha = ref if ref in repo.trees else None
        if sha is None:
            commit = repo.resolve(ref)
            if commit is None:
                raise not_found()
            sha = repo.commits[commit].tree
        # GitHub: any value of `recursive` (even "0" or "false") asks for the whole tree.
        return 200, self.render.git_tree(repo, sha, recursive="recursive" in ctx.query)

    def _op_git_get_blob(self, ctx):
        if ctx.params["file_sha"] not in ctx.repo.blobs:
            raise not_found()
        return 200, self.render.blob(ctx.repo, ctx.params["file_sha"])

    def _op_git_get_commit(self, ctx):
        if ctx.params["commit_sha"] not in ctx.repo.commits:
            raise not_found()
        return 200, self.render.git_commit(ctx.repo, ctx.params["commit_sha"])

    def _op_repos_get_commit(self, ctx):
        repo = ctx.repo
        sha = self._commit_sha(repo, ctx.params["ref"])
        commit = repo.commits[sha]
        before = repo.commits[commit.parents[0]].files if commit.parents else {}
        return 200, self.render.commit(repo, sha, files=diff_files(before, commit.files))

    def _op_repos_compare_commits_with_basehead(self, ctx):
        repo = ctx.repo
        base_ref, sep, head_ref = ctx.params["basehead"].partition("...")
        if not sep:
            base_ref, sep, head_ref = ctx.params["basehead"].partition("..")
        base, head = repo.resolve(base_ref), repo.resolve(head_ref) if sep else None
        if base is None or head is None:
            raise not_found()
        merge_base = repo.merge_base(base, head)
        if merge_base is None:
            raise HttpError(404, f"No common ancestor between {base_ref} and {head_ref}.")
        on_base, on_head = set(repo.ancestors(base)), set(repo.ancestors(head))
        ahead = [s for s in reversed(repo.ancestors(head)) if s not in on_base]
        behind = [s for s in on_base if s not in on_head]
        status = ("identical" if not ahead and not behind else "ahead" if not behind
                  else "behind" if not ahead else "diverged")
        commits, headers = self._page(ctx, ahead)
        api = self.render.repo_url(repo)
        html = self.render.html(repo, f"/compare/{ctx.params['basehead']}")
        files = diff_files(repo.commits[merge_base].files, repo.commits[head].files)
        answer = {
            "url": f"{api}/compare/{ctx.params['basehead']}", "html_url": html,
            "permalink_url": self.render.html(repo, f"/compare/{base[:7]}...{head[:7]}"),
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
            "base_commit": self.render.commit(repo, base), "merge_base_commit": self.render.commit(repo, merge_base),
            "status": status, "ahead_by": len(ahead), "behind_by": len(behind), "total_commits": len(ahead),
            "commits": [self.render.commit(repo, s) for s in commits],
            "files": [self.render.diff_entry(repo, head, f) for f in files],
        }
        return 200, answer, headers

    # -- pull requests and issues ----------------------------------------------------------------

    def _op_pulls_get(self, ctx):
        return 200, self.render.pull(ctx.repo, self._pull(ctx))

    def _op_repos_list_pull_requests_associated_with_commit(self, ctx):
        repo, sha = ctx.repo, ctx.params["commit_sha"]
        prs = [pr for pr in repo.issues.values() if isinstance(pr, PullRequest)
               and (pr.merge_commit_sha == sha or self.head_sha(repo, pr) == sha)]
        chunk, headers = self._page(ctx, [self.render.pull(repo, pr) for pr in prs])
        return 200, chunk, headers

    def _op_pulls_list_files(self, ctx):
        repo, pr = ctx.repo, self._pull(ctx)
        head = self.head_sha(repo, pr)
        files = self.pull_files(repo, pr)[:3000]  # GitHub lists at most 3000 files
        chunk, headers = self._page(ctx, files)
        return 200, [self.render.diff_entry(repo, head, f) for f in chunk], headers

    def _op_pulls_list_commits(self, ctx):
        repo, pr = ctx.repo, self._pull(ctx)
        chunk, headers = self._page(ctx, self.pull_commits(repo, pr)[:250])
        return 200, [self.render.commit(repo, sha) for sha in chunk], headers

    def _op_pulls_list_reviews(self, ctx):
        repo, pr = ctx.repo, self._pull(ctx)
        reviews = [r for r in repo.reviews if r.number == pr.number]
        chunk, headers = self._page(ctx, reviews)
        return 200, [self.render.review(repo, r) for r in chunk], headers

    def _op_issues_get(self, ctx):
        issue = ctx.repo.issues.get(ctx.params["issue_number"])
        if issue is None:
            raise not_found()
        return 200, self.render.issue(ctx.repo, issue)

    # -- issues the App files itself (drift reports) -----------------------------------------------

    def _op_issues_create(self, ctx):
        body = ctx.body
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            raise HttpError(422, "Validation Failed: title is missing")
        if body.get("body") is not None:
            self._check_comment_body(body["body"])  # the same 65536-character limit as comments
        with self.lock:
            now = self.clock()
            issue = Issue(self._next_number(ctx.repo), body["title"], body.get("body"), self._actor(ctx), now, now,
                          id=self.next_id())
            ctx.repo.issues[issue.number] = issue
        answer = self.render.issue(ctx.repo, issue)
        return 201, answer, {"Location": answer["url"]}

    def _op_issues_update(self, ctx):
        issue = ctx.repo.issues.get(ctx.params["issue_number"])
        if issue is None:
            raise not_found()
        body = ctx.body
        if "body" in body and body["body"] is not None:
            self._check_comment_body(body["body"])
        if "title" in body:
            issue.title = body["title"]
        if "body" in body:
            issue.body = body["body"]
        if body.get("state") in ("open", "closed") and body["state"] != issue.state:
            issue.state = body["state"]
            issue.closed_at = self.clock() if issue.state == "closed" else None
        issue.updated_at = self.clock()
        return 200, self.render.issue(ctx.repo, issue)

    def _op_issues_list_for_repo(self, ctx):
        state = ctx.params.get("state") or "open"
        creator = ctx.params.get("creator")
        items = [i for i in ctx.repo.issues.values()
                 if (state == "all" or i.state == state) and (creator is None or i.user.login == creator)]
        items.sort(key=lambda i: i.number, reverse=ctx.params.get("direction", "desc") == "desc")
        per_page = int(ctx.params.get("per_page") or 30)
        page = int(ctx.params.get("page") or 1)
        return 200, [self.render.issue(ctx.repo, i) for i in items[(page - 1) * per_page:page * per_page]]

    def _op_issues_list_comments(self, ctx):
        if ctx.params["issue_number"] not in ctx.repo.issues:
            raise not_found()
        comments = sorted(self.comments_on(ctx.repo, ctx.params["issue_number"]), key=lambda c: c.id)
        if ctx.params.get("since"):
            since = dt.datetime.fromisoformat(ctx.params["since"].replace("Z", "+00:00"))
            comments = [c for c in comments if c.updated_at >= since]
        chunk, headers = self._page(ctx, comments)
        return 200, [self.render.comment(c) for c in chunk], headers

    def _check_comment_body(self, body: str) -> None:
        if len(body) > MAX_COMMENT:
            raise invalid("IssueComment", "body", f"body is too long (maximum is {MAX_COMMENT} characters)")

    def _op_issues_create_comment(self, ctx):
        issue = ctx.repo.issues.get(ctx.params["issue_number"])
        if issue is None:
            raise not_found()
        self._check_comment_body(ctx.body["body"])
        comment = self._new_comment(ctx.repo, issue.number, ctx.body["body"], self._actor(ctx), via_app=True)
        issue.updated_at = comment.created_at
        answer = self.render.comment(comment)
        return 201, answer, {"Location": answer["url"]}

    def _op_issues_get_comment(self, ctx):
        return 200, self.render.comment(self._comment(ctx))

    def _op_issues_update_comment(self, ctx):
        comment = self._comment(ctx)
        self._check_comment_body(ctx.body["body"])
        comment.body = ctx.body["body"]
        comment.updated_at = self.clock()
        return 200, self.render.comment(comment)

    def _op_issues_delete_comment(self, ctx):
        comment = self._comment(ctx)
        del self.comments[comment.id]
        return 204, None

    def _op_reactions_create_for_issue_comment(self, ctx):
        comment = self._comment(ctx)
        actor = self._actor(ctx)
        for reaction in comment.reactions:
            if reaction.user is actor and reaction.content == ctx.body["content"]:
                return 200, self.render.reaction(reaction)
        reaction = Reaction(self.next_id(), actor, ctx.body["content"], self.clock())
        comment.reactions.append(reaction)
        return 201, self.render.reaction(reaction)

    def _op_issues_add_labels(self, ctx):
        issue = ctx.repo.issues.get(ctx.params["issue_number"])
        if issue is None:
            raise not_found()
        for item in (ctx.body or {}).get("labels", []):
            name = item if isinstance(item, str) else item["name"]
            if name not in ctx.repo.labels:
                ctx.repo.labels[name] = Label(self.next_id(), name)
            if name not in issue.labels:
                issue.labels.append(name)
        return 200, [self.render.label(ctx.repo, ctx.repo.labels[n]) for n in issue.labels]

    # -- checks and statuses ---------------------------------------------------------------------

    def _apply_check_fields(self, run: CheckRun, body: dict) -> None:
        for key in ("name", "details_url", "external_id"):
            if key in body:
                setattr(run, key, body[key])
        if "started_at" in body:
            run.started_at = _parse_time(body["started_at"])
        if "status" in body:
            run.status = body["status"]
        if "conclusion" in body:
            run.conclusion, run.status = body["conclusion"], "completed"
        if "completed_at" in body:
            run.completed_at = _parse_time(body["completed_at"])
        if run.status == "completed" and run.conclusion is None:
            raise invalid("CheckRun", "conclusion", "conclusion is required when status is completed")
        if run.status == "completed" and run.completed_at is None:
            run.completed_at = self.clock()
        if run.status != "completed" and run.conclusion is not None:
            raise invalid("CheckRun", "status", "status must be completed when a conclusion is given")
        output = body.get("output")
        if output is not None:
            for annotation in output.get("annotations", []):
                columns = "start_column" in annotation or "end_column" in annotation
                if columns and annotation["start_line"] != annotation["end_line"]:
                    raise invalid("CheckRun", "annotations", "start_column and end_column may only be given when "
                                                             "start_line and end_line are the same")
            for key in ("title", "summary", "text"):
                if key in output:
                    setattr(run, key, output[key])
            run.annotations.extend(output.get("annotations", []))  # annotations accumulate across requests
        if "actions" in body:
            run.actions = body["actions"]

    def _op_checks_create(self, ctx):
        repo, body = ctx.repo, ctx.body
        if body["head_sha"] not in repo.commits:
            raise HttpError(422, f"No commit found for SHA: {body['head_sha']}")
        suite = self._check_suites.setdefault((repo.id, body["head_sha"]), self.next_id())
        run = CheckRun(self.next_id(), repo, body["head_sha"], body["name"], "queued", None, self.clock(), None,
                       check_suite_id=suite)
        self._apply_check_fields(run, body)
        repo.check_runs.append(run)
        return 201, self.render.check_run(run)

    def _check_run(self, ctx) -> CheckRun:
        run = next((r for r in ctx.repo.check_runs if r.id == ctx.params["check_run_id"]), None)
        if run is None:
            raise not_found()
        return run

    def _op_checks_update(self, ctx):
        run = self._check_run(ctx)
        self._apply_check_fields(run, ctx.body)
        return 200, self.render.check_run(run)

    def _op_checks_get(self, ctx):
        return 200, self.render.check_run(self._check_run(ctx))

    def _op_checks_list_for_ref(self, ctx):
        repo = ctx.repo
        sha = self._commit_sha(repo, ctx.params["ref"])
        runs = [r for r in repo.check_runs if r.head_sha == sha]
        if ctx.params.get("check_name"):
            runs = [r for r in runs if r.name == ctx.params["check_name"]]
        if ctx.params.get("status"):
            runs = [r for r in runs if r.status == ctx.params["status"]]
        if ctx.params.get("app_id") not in (None, self.app.id):
            runs = []
        if ctx.params.get("filter", "latest") == "latest":
            latest: dict[str, CheckRun] = {}
            for run in runs:
                latest[run.name] = run
            runs = list(latest.values())
        runs.sort(key=lambda r: -r.id)
        chunk, headers = self._page(ctx, runs)
        return 200, {"total_count": len(runs), "check_runs": [self.render.check_run(r) for r in chunk]}, headers

    def _op_repos_create_commit_status(self, ctx):
        repo, body = ctx.repo, ctx.body
        sha = ctx.params["sha"]
        if sha not in repo.commits:
            raise HttpError(422, f"No commit found for SHA: {sha}")
        if len(body.get("description") or "") > MAX_STATUS_DESCRIPTION:
            raise invalid("Status", "description",
                          f"description is too long (maximum is {MAX_STATUS_DESCRIPTION} characters)")
        status = CommitStatus(self.next_id(), sha, body["state"], body.get("context", "default"),
                              body.get("description"), body.get("target_url"), self._actor(ctx), self.clock())
        repo.statuses.append(status)
        answer = self.render.status(repo, status)
        return 201, answer, {"Location": answer["url"]}

    # -- deployments -----------------------------------------------------------------------------

    def _failing_contexts(self, repo: Repository, sha: str, required: list[str] | None) -> list[dict]:
        """Contexts (commit statuses and check runs, latest of each) that are not successful."""
        states: dict[str, str] = {}
        for status in repo.statuses:
            if status.sha == sha:
                states[status.context] = status.state
        for run in repo.check_runs:
            if run.head_sha == sha:
                ok = run.status == "completed" and run.conclusion in ("success", "neutral", "skipped")
                states[run.name] = "success" if ok else (run.conclusion or "pending")
        wanted = states.keys() if required is None else required
        return [{"context": c, "state": states.get(c, "missing")} for c in wanted if states.get(c) != "success"]

    def _op_repos_create_deployment(self, ctx):
        repo, body = ctx.repo, ctx.body
        ref = body["ref"]
        sha = repo.resolve(ref)
        if sha is None:
            raise invalid("Deployment", "ref", f"No ref found for: {ref}", code="invalid")
        default_tip = repo.branches[repo.default_branch]
        branch = ref.removeprefix("refs/heads/")
        if (body.get("auto_merge", True) and branch in repo.branches and branch != repo.default_branch
                and default_tip not in repo.ancestors(sha)):
            # GitHub merges the default branch into the ref and creates no deployment.
            return 202, {"message": f"Auto-merged {repo.default_branch} into {branch} on deployment."}
        failing = self._failing_contexts(repo, sha, body.get("required_contexts"))
        if failing:
            raise HttpError(409, f"Conflict: Commit status checks failed for {ref}.",
                            [{"contexts": failing, "resource": "Deployment", "field": "required_contexts",
                              "code": "invalid"}])
        environment = body.get("environment", "production")
        dep = Deployment(self.next_id(), sha, ref, body.get("task", "deploy"), environment, body.get("payload", {}),
                         body.get("description", ""), self._actor(ctx), self.clock(),
                         transient_environment=body.get("transient_environment", False),
                         production_environment=body.get("production_environment", environment == "production"))
        repo.deployments.append(dep)
        return 201, self.render.deployment(repo, dep)

    def _op_repos_list_deployments(self, ctx):
        deps = [d for d in reversed(ctx.repo.deployments)
                if all(ctx.params.get(k) in (None, getattr(d, k)) for k in ("sha", "ref", "task", "environment"))]
        chunk, headers = self._page(ctx, deps)
        return 200, [self.render.deployment(ctx.repo, d) for d in chunk], headers

    def _deployment(self, ctx) -> Deployment:
        dep = next((d for d in ctx.repo.deployments if d.id == ctx.params["deployment_id"]), None)
        if dep is None:
            raise not_found()
        return dep

    # -- custom deployment protection rules (a GitHub Actions run waiting on an environment) --------

    def request_protection_rule(self, repo: "Repository | str", *, run_id: int, environment: str, sha: str,
                                ref: str = "main", user: str = "alice") -> dict:
        """A workflow run `run_id` deploying `sha` to `environment` waits on this App's custom rule:
        the deployment GitHub made for it (rendered, for the delivery's `deployment`) and the
        callback the App answers on. The answer is recorded in `protection_reviews`."""
        with self.lock:
            repo = self.repo(repo)
            dep = Deployment(self.next_id(), sha, ref, "deploy", environment, {}, "", self.account(user), self.clock(),
                             production_environment=environment == "production")
            repo.deployments.append(dep)
            pending = self.__dict__.setdefault("_pending_rules", {})
            pending.setdefault((repo.full_name, run_id), set()).add(environment)
            return {"deployment": self.render.deployment(repo, dep),
                    "deployment_callback_url": f"{self.render.repo_url(repo)}/actions/runs/{run_id}/"
                                               "deployment_protection_rule"}

    @property
    def protection_reviews(self) -> list[dict]:
        return self.__dict__.setdefault("_protection_reviews", [])

    def _op_actions_review_custom_gates_for_run(self, ctx):
        # GitHub answers 204 (REST reference, "Review custom deployment protection rules for a workflow
        # run"). Assumption: a run not waiting on this environment is refused with 422; the reference
        # lists no other answer, and the bot treats a 422 as "already reviewed".
        pending = self.__dict__.setdefault("_pending_rules", {})
        key = (ctx.repo.full_name, int(ctx.params["run_id"]))
        env = ctx.body.get("environment_name")
        if env not in pending.get(key, set()):
            raise HttpError(422, f"No pending custom deployment protection rule for {env} on run {key[1]}")
        pending[key].discard(env)
        self.protection_reviews.append({"run_id": key[1], "environment": env, "state": ctx.body.get("state"),
                                        "comment": ctx.body.get("comment")})
        return 204, None

    def _op_repos_create_deployment_status(self, ctx):
        repo, dep, body = ctx.repo, self._deployment(ctx), ctx.body
        if body.get("environment"):
            dep.environment = body["environment"]
        status = DeploymentStatus(self.next_id(), body["state"], self._actor(ctx), body.get("description", ""),
                                  dep.environment, body.get("target_url", ""), body.get("log_url", ""),
                                  body.get("environment_url", ""), self.clock())
        dep.statuses.append(status)
        if body["state"] == "success" and body.get("auto_inactive", True):
            # Prior non-transient, non-production deployments to this environment become inactive.
            for other in repo.deployments:
                if (other is not dep and other.environment == dep.environment and not other.transient_environment
                        and not other.production_environment and other.statuses
                        and other.statuses[-1].state != "inactive"):
                    other.statuses.append(DeploymentStatus(
                        self.next_id(), "inactive", self._actor(ctx), "", other.environment, "", "", "", self.clock()))
        answer = self.render.deployment_status(repo, dep, status)
        return 201, answer, {"Location": answer["url"]}

    def _op_repos_list_deployment_statuses(self, ctx):
        repo, dep = ctx.repo, self._deployment(ctx)
        chunk, headers = self._page(ctx, list(reversed(dep.statuses)))
        return 200, [self.render.deployment_status(repo, dep, s) for s in chunk], headers

    # -- branch protection and rulesets ----------------------------------------------------------

    def _op_repos_get_status_checks_protection(self, ctx):
        branch = ctx.params["branch"]
        if branch not in ctx.repo.branches:
            raise HttpError(404, "Branch not found")
        protection = ctx.repo.protection.get(branch)
        if protection is None:
            raise HttpError(404, "Branch not protected")
        if protection.checks is None:
            raise HttpError(404, "Required status checks not enabled")
        return 200, self.render.status_check_policy(ctx.repo, branch)

    def _op_repos_get_branch_rules(self, ctx):
        """Rules of the active rulesets whose conditions match the branch name (it need not exist)."""
        repo, branch = ctx.repo, ctx.params["branch"]
        rules = [rule for r in repo.rulesets if r.applies_to(repo, branch) for rule in self.render.branch_rules(r)]
        chunk, headers = self._page(ctx, rules)
        return 200, chunk, headers

    # -- authority -------------------------------------------------------------------------------

    def _op_repos_get_collaborator_permission_level(self, ctx):
        login = ctx.params["username"]
        account = next((a for a in self.accounts.values() if a.login.lower() == login.lower()), None)
        if account is None:
            raise not_found()
        repo = ctx.repo
        role = repo.permissions.get(account.login)
        if role is None:
            role = "admin" if account is repo.owner else ("none" if repo.private else "read")
        return 200, self.render.collaborator_permission(repo, account, role)

    def _op_teams_get_membership_for_user_in_org(self, ctx):
        members = self.teams.get((ctx.params["org"].lower(), ctx.params["team_slug"].lower()), {})
        entry = members.get(ctx.params["username"].lower())
        if entry is None:
            raise not_found()
        role, state = entry
        return 200, self.render.team_membership(ctx.params["org"], ctx.params["team_slug"],
                                                ctx.params["username"], role, state)


    # -- GraphQL and large repositories (issue #17 part 5) -------------------------------------------
    # POST /graphql answers the subset of GitHub's GraphQL API in tests/support/fake_graphql.py,
    # with GitHub's validation, points and limits; it is no REST operation, so the OpenAPI
    # description does not route it. Installation tokens authenticate it as they do REST calls.
    # `declare_archive_size` makes a repository's archive as large as a real repository's would
    # be, served lazily (never built whole), so that what a refresh costs can be compared
    # between a tiny and a 500 MB repository without holding 500 MB.

    def _graphql(self, request: Request, method: str, body: bytes) -> Response:
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = ValueError
        call = Call(method, request.path, {k: v[-1] for k, v in request.args.lists()},
                    None if parsed is ValueError else parsed, operation="graphql")
        self.calls.append(call)

        def finish(status: int, payload: Any, headers: dict | None = None) -> Response:
            call.status = status
            out = Response(json.dumps(payload), status=status, content_type="application/json; charset=utf-8")
            out.headers["X-GitHub-Request-Id"] = secrets.token_hex(8).upper()
            for key, value in (headers or {}).items():
                out.headers[key] = value
            return out

        if method != "POST":
            self.violations.append(f"{method} {GRAPHQL_PATH}: GitHub's GraphQL endpoint takes POST")
            return finish(404, {"message": "Not Found", "documentation_url": fake_graphql.DOCS})
        scheme, _, credential = (request.headers.get("Authorization") or "").partition(" ")
        token = self.tokens.get(credential) if scheme.lower() in ("bearer", "token") else None
        if token is None or token.expires_at <= dt.datetime.now(dt.timezone.utc):
            call.auth = None if token is None else "token"
            self.auth_failures.append(f"{method} {GRAPHQL_PATH}: " + ("no valid token" if token is None
                                                                     else "token expired"))
            return finish(401, {"message": "This endpoint requires you to be authenticated.",
                                "documentation_url": fake_graphql.DOCS})
        call.auth = "token"
        installation = self.installations.get(token.installation_id)
        if installation is None or installation.suspended_at is not None:
            return finish(403, {"message": "This installation has been suspended", "documentation_url": DOCS})
        fault = self._take_fault(method, request.path, after=False)
        if fault is not None:
            return finish(fault.status, fault.body, fault.headers)
        if parsed is ValueError:
            self.violations.append(f"{method} {GRAPHQL_PATH}: the body is not JSON")
            return finish(400, {"message": "Problems parsing JSON", "documentation_url": fake_graphql.DOCS})
        budget = self.graphql_budgets.setdefault(installation.id, fake_graphql.Budget())
        status, payload, headers, violations = fake_graphql.answer(self, installation, budget, parsed)
        self.violations.extend(violations)
        return finish(status, payload, headers)

    def graphql_calls(self) -> list[Call]:
        return [c for c in list(self.calls) if c.path == GRAPHQL_PATH]

    def declare_archive_size(self, repo: Repository | str, nbytes: int) -> None:
        """Make the repository's archive `nbytes` long (Content-Length says so), as a repository of
        that size would give: its files, then incompressible filler, generated as it is sent."""
        with self.lock:
            self.archive_sizes[self.repo(repo).full_name.lower()] = nbytes

    def add_symlink(self, repo: Repository | str, branch: str, path: str, target: str) -> str:
        """Commit a symlink at `path` pointing to `target` (a tree entry of mode 120000 whose blob
        is the target, as git stores it) on `branch`; returns the commit's sha."""
        with self.lock:
            repo = self.repo(repo)
            sha = self.commit(repo, branch, {path: target}, message=f"link {path}")
            commit = repo.commits[sha]

            def relink(tree_sha: str, parts: list[str]) -> str:
                entries = []
                for e in repo.trees[tree_sha]:
                    if e.name == parts[0] and len(parts) == 1:
                        e = TreeEntry(e.name, "120000", "blob", e.sha)
                    elif e.name == parts[0]:
                        e = TreeEntry(e.name, e.mode, e.type, relink(e.sha, parts[1:]))
                    entries.append(e)
                raw = b"".join(f"{'40000' if e.type == 'tree' else e.mode} {e.name}\0".encode() + bytes.fromhex(e.sha)
                               for e in entries)
                new = git_hash("tree", raw)
                repo.trees[new] = entries
                return new

            commit.tree = relink(commit.tree, path.split("/"))
            return sha

    def _tar_members(self, repo: Repository, sha: str, top: str) -> bytes:
        """The tar members (headers and padded data) of a commit's files, symlinks as symlinks."""
        out = io.BytesIO()
        for file_path, entry in repo.walk_tree(repo.commits[sha].tree):
            if entry.type != "blob":
                continue
            data = repo.blobs[entry.sha]
            info = tarfile.TarInfo(top + file_path)
            if entry.mode == "120000":
                info.type, info.linkname, data = tarfile.SYMTYPE, data.decode("utf-8", "replace"), b""
            info.size, info.mode = len(data), 0o644
            out.write(info.tobuf(tarfile.PAX_FORMAT))
            out.write(data + b"\0" * (-len(data) % 512))
        return out.getvalue()

    def _sized_archive(self, repo: Repository, sha: str, top: str) -> Response:
        """The archive at its declared size: gzip members (concatenated gzip is one stream to a
        reader) of the files and a filler entry's header, then a precompressed 1 MiB block of
        random bytes repeated, then the end of the tar; its exact length is known up front."""
        declared = self.archive_sizes[repo.full_name.lower()]
        block = _filler_block()
        end = gzip.compress(_TAR_END)
        head_tar = self._tar_members(repo, sha, top)
        count = max(0, (declared - len(gzip.compress(head_tar)) - len(end) - 600) // len(block[1]))
        info = tarfile.TarInfo(top + "bulk/declared-size.bin")
        info.size, info.mode = count * len(block[0]), 0o644
        head = gzip.compress(head_tar + info.tobuf(tarfile.PAX_FORMAT))

        def body():
            yield head
            for _ in range(count):
                yield block[1]
            yield end

        length = len(head) + count * len(block[1]) + len(end)
        return Response(body(), status=200, mimetype="application/x-gzip", headers={"Content-Length": str(length)},
                        direct_passthrough=True)

    # -- the App manifest flow (`modelbot register`) ------------------------------------------------
    # GitHub's "Registering a GitHub App from a manifest": the person posts the manifest to
    # /settings/apps/new, creates the App, and is redirected with a temporary `code` that expires
    # after one hour and is exchanged once, without authentication, at
    # POST /app-manifests/{code}/conversions for the App's id, pem and webhook_secret (201).
    # `issue_manifest_code` plays the person's part; the App the code converts into is this fake's
    # own App (same id and key), so what `modelbot register` stores can call the fake afterwards.

    MANIFEST_CODE_LIFETIME = dt.timedelta(hours=1)
    MANIFEST_ACCESS = ("read", "write")

    def issue_manifest_code(self, manifest: dict) -> str:
        """What GitHub does when the person creates the App from `manifest`: check the manifest as
        GitHub's manifest parameters page describes (`url` required; `hook_attributes.url` required
        with `hook_attributes`; permissions read or write) and hand out a code for the redirect."""
        if not isinstance(manifest, dict) or not isinstance(manifest.get("url"), str) or not manifest["url"]:
            raise ValueError("manifest: url is required")
        hook = manifest.get("hook_attributes")
        if hook is not None and not (isinstance(hook, dict) and isinstance(hook.get("url"), str) and hook["url"]):
            raise ValueError("manifest: hook_attributes.url is required")
        for key, value in (manifest.get("default_permissions") or {}).items():
            if value not in self.MANIFEST_ACCESS:
                raise ValueError(f"manifest: default_permissions.{key}: {value!r} is not read or write")
        code = secrets.token_hex(10)
        with self.lock:
            self.__dict__.setdefault("manifest_codes", {})[code] = (manifest, dt.datetime.now(dt.timezone.utc))
        return code

    def _op_apps_create_from_manifest(self, ctx):
        codes = self.__dict__.setdefault("manifest_codes", {})
        entry = codes.pop(ctx.params["code"], None)  # single use
        if entry is None or dt.datetime.now(dt.timezone.utc) - entry[1] > self.MANIFEST_CODE_LIFETIME:
            raise not_found()
        manifest = entry[0]
        body = self.render.app()
        body.update({
            "name": manifest.get("name") or body["name"], "description": manifest.get("description"),
            "external_url": manifest["url"],
            "permissions": {k: v for k, v in (manifest.get("default_permissions") or {}).items()},
            "events": list(manifest.get("default_events") or []),
            "client_secret": secrets.token_hex(20), "webhook_secret": secrets.token_hex(20),
            "pem": self.private_key_pem,
        })
        return 201, body


_TAR_END = b"\0" * 1024  # two zero blocks end a tar archive


@functools.cache
def _filler_block() -> tuple[bytes, bytes]:
    """1 MiB of random bytes and that block as one gzip member (incompressible: ~1 MiB)."""
    raw = secrets.token_bytes(1 << 20)
    return raw, gzip.compress(raw, compresslevel=1)


_REASONS = {400: "Bad Request", 401: "Bad credentials", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            422: "Validation Failed", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def fake_github():
    """A started FakeGitHub; the test fails at teardown if any request broke GitHub's contract.
    Import it into a conftest.py to use it (`from tests.support.fake_github import fake_github`)."""
    with FakeGitHub() as gh:
        yield gh
        gh.assert_no_violations()
