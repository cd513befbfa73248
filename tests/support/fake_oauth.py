"""GitHub's OAuth web flow for a GitHub App, and the REST calls a user access token makes, for
FakeGitHub (mixed in: `class FakeGitHub(OAuthFake, GitHubState)`).

The flow as GitHub documents it ("Generating a user access token for a GitHub App"):

- `GET /login/oauth/authorize?client_id&redirect_uri&state`: the person at the browser (set with
  `sign_in_as`) authorises the App; GitHub redirects to `redirect_uri?code=...&state=...`. An
  unknown client id is a 404 page; a `redirect_uri` that is not the App's callback URL (or under
  it) is answered with `error=redirect_uri_mismatch` on the callback, as GitHub does.
- `POST /login/oauth/access_token` (client_id, client_secret, code, redirect_uri; form or JSON):
  answers 200 with `access_token` (`ghu_...`, 8 hours), `refresh_token`, `token_type: bearer`,
  or 200 with `error` (`incorrect_client_credentials`, `bad_verification_code`,
  `redirect_uri_mismatch`); JSON with `Accept: application/json`, else form-encoded. A code is
  good for one exchange within 10 minutes.

A user access token authenticates the REST operations of the contract with the person's rights
intersected with the App's: a repository must be in one of the App's installations and readable
by the person (owner, a collaborator role other than `none`, or public), else 404; an
organisation's team memberships only for members of that organisation. `GET /user` and
`GET /user/memberships/orgs/{org}` answer for the token's person only.

`GET /user/installations` lists the App's installations the person "has explicit permission
(:read, :write, or :admin) to access" (GitHub's REST reference, "List app installations
accessible to the user access token"): here, the installation's own account, an active member
of its organisation, or someone with a role on one of its repositories.
`GET /user/installations/{installation_id}/repositories` lists the installation's repositories
the person has explicit permission to access, with their permissions; an installation the
person cannot access is 404. A public repository a person merely may read (no role, not a
member of its organisation) is not listed: "explicit permission". Both paginate (per_page ≤ 100)
with a Link header.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import urllib.parse
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

OAUTH_PREFIX = "/login/oauth/"
CODE_LIFETIME = dt.timedelta(minutes=10)
USER_TOKEN_LIFETIME = dt.timedelta(hours=8)
BROWSER_PATHS = frozenset({"/favicon.ico"})  # what a browser on GitHub's pages asks for besides them


def web_path(path: str) -> bool:
    """Whether `path` is one of GitHub's web pages (the OAuth flow), not its REST API."""
    return path.startswith(OAUTH_PREFIX) or path in BROWSER_PATHS


USER_OPERATIONS = frozenset({"users/get-authenticated", "orgs/get-membership-for-authenticated-user",
                             "apps/list-installations-for-authenticated-user",
                             "apps/list-installation-repos-for-authenticated-user"})


@dataclass
class UserToken:
    value: str
    login: str
    expires_at: dt.datetime


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    login: str
    expires_at: dt.datetime
    used: bool = False


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class OAuthFake:
    """State and handlers of the OAuth flow and of user-token REST calls (see the module doc)."""

    def _clear_oauth(self) -> None:
        self.client_id = f"Iv1.{secrets.token_hex(8)}"
        self.client_secret = secrets.token_hex(20)
        self.callback_url: str | None = None
        self.browser_login: str | None = None     # who is signed in to GitHub in the browser
        self.codes: dict[str, Code] = {}
        self.user_tokens: dict[str, UserToken] = {}
        self.org_members: dict[tuple[str, str], tuple[str, str]] = {}  # (org, login) -> (role, state)
        self.oauth_requests: list[tuple[str, str, int]] = []  # (method, path, status)

    # -- setup helpers for tests -------------------------------------------------------------------

    def set_callback_url(self, url: str) -> None:
        """The App's callback URL (its registration's `callback_urls`)."""
        self.callback_url = url

    def sign_in_as(self, login: str | None) -> None:
        """The person signed in to GitHub in the browser: the next authorize is theirs."""
        with self.lock:
            if login is not None:
                self.account(login)
            self.browser_login = login

    def add_org_member(self, org: str, login: str, role: str = "member", state: str = "active") -> None:
        with self.lock:
            self.account(org, "Organization")
            self.account(login)
            self.org_members[(org.lower(), login.lower())] = (role, state)

    def user_token_for(self, login: str, lifetime: dt.timedelta = USER_TOKEN_LIFETIME) -> str:
        with self.lock:
            self.account(login)
            token = UserToken("ghu_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36],
                              login, _now().replace(microsecond=0) + lifetime)
            self.user_tokens[token.value] = token
            return token.value

    def expire_user_tokens(self) -> None:
        with self.lock:
            for t in self.user_tokens.values():
                t.expires_at = _now() - dt.timedelta(seconds=1)

    # -- /login/oauth/* ------------------------------------------------------------------------------

    def _oauth(self, request: Request, method: str, path: str) -> Response:
        response = self._oauth_answer(request, method, path)
        self.oauth_requests.append((method, path, response.status_code))
        return response

    def _oauth_answer(self, request: Request, method: str, path: str) -> Response:
        if path == OAUTH_PREFIX + "authorize" and method == "GET":
            return self._authorize_page(request)
        if path == OAUTH_PREFIX + "access_token" and method == "POST":
            return self._access_token(request)
        return Response("Not Found", status=404)

    def _redirect_allowed(self, redirect_uri: str) -> bool:
        if not self.callback_url:
            return False
        want, got = urllib.parse.urlsplit(self.callback_url), urllib.parse.urlsplit(redirect_uri)
        return ((got.scheme, got.netloc) == (want.scheme, want.netloc)
                and (got.path == want.path or got.path.startswith(want.path.rstrip("/") + "/")))

    def _authorize_page(self, request: Request) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id:
            return Response("<h1>404</h1><p>This is not the web page you are looking for.</p>",
                            status=404, mimetype="text/html")
        redirect_uri = args.get("redirect_uri") or self.callback_url or ""
        state = args.get("state")
        query = {"state": state} if state is not None else {}
        if not self._redirect_allowed(redirect_uri):
            target = self.callback_url or redirect_uri
            query.update(error="redirect_uri_mismatch",
                         error_description="The redirect_uri MUST match the registered callback URL for this application.")
            return Response(status=302, headers={"Location": f"{target}?{urllib.parse.urlencode(query)}"})
        if self.browser_login is None:
            return Response("<h1>Sign in to GitHub</h1><p>(fake: call sign_in_as first)</p>",
                            status=200, mimetype="text/html")
        code = secrets.token_hex(10)
        self.codes[code] = Code(self.client_id, redirect_uri, self.browser_login, _now() + CODE_LIFETIME)
        query["code"] = code
        sep = "&" if "?" in redirect_uri else "?"
        return Response(status=302, headers={"Location": f"{redirect_uri}{sep}{urllib.parse.urlencode(query)}"})

    def _access_token(self, request: Request) -> Response:
        if request.is_json:
            form = {k: str(v) for k, v in (request.get_json(silent=True) or {}).items()}
        else:
            form = {k: v for k, v in request.form.items()}
        form.update({k: v for k, v in request.args.items() if k not in form})
        as_json = "application/json" in (request.headers.get("Accept") or "")

        def answer(body: dict) -> Response:
            if as_json:
                return Response(json.dumps(body), status=200, mimetype="application/json")
            return Response(urllib.parse.urlencode(body), status=200, mimetype="application/x-www-form-urlencoded")

        def error(name: str, text: str) -> Response:
            return answer({"error": name, "error_description": text,
                           "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"})

        if form.get("client_id") != self.client_id or not secrets.compare_digest(
                form.get("client_secret", ""), self.client_secret):
            return error("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
        code = self.codes.get(form.get("code", ""))
        if code is None or code.used or code.expires_at <= _now() or code.client_id != form["client_id"]:
            return error("bad_verification_code", "The code passed is incorrect or expired.")
        if form.get("redirect_uri") and form["redirect_uri"] != code.redirect_uri:
            return error("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.")
        code.used = True
        token = self.user_token_for(code.login)
        return answer({"access_token": token, "expires_in": int(USER_TOKEN_LIFETIME.total_seconds()),
                       "refresh_token": "ghr_" + secrets.token_hex(38)[:76], "refresh_token_expires_in": 15897600,
                       "token_type": "bearer", "scope": ""})

    # -- REST with a user access token -----------------------------------------------------------------

    def _authenticate_user(self, ctx, credential: str, call) -> bool:
        """True when `credential` is a user access token (then ctx.user is its person); raises
        the HttpError GitHub would answer when the token or the person's access does not do."""
        token = self.user_tokens.get(credential)
        if token is None:
            return False
        call.auth = "user"
        if token.expires_at <= _now():
            self._refuse(call, 401, "Bad credentials", f"user token expired at {token.expires_at.isoformat()}")
        ctx.user = self.account(token.login)
        self._authorize_user(ctx)
        return True

    def _authorize_user(self, ctx) -> None:
        from .fake_github import HttpError, not_found  # the server's own error types (module cycle)

        login = ctx.user.login
        if "owner" in ctx.params and "repo" in ctx.params:
            repo = self.repos.get(f"{ctx.params['owner']}/{ctx.params['repo']}".lower())
            if repo is None or repo.installation_id not in self.installations or self._role(repo, login) == "none":
                raise not_found()
            ctx.repo = repo
        if "org" in ctx.params and ctx.op.operation_id not in USER_OPERATIONS:
            if self._membership(ctx.params["org"], login) is None:
                raise not_found()
        if ctx.op.operation_id not in USER_OPERATIONS and ctx.repo is None and "org" not in ctx.params:
            raise HttpError(403, "Resource not accessible by integration")

    def _role(self, repo, login: str) -> str:
        role = repo.permissions.get(login)
        if role is not None:
            return role
        if repo.owner.login.lower() == login.lower():
            return "admin"
        if self._membership(repo.owner.login, login) is not None and repo.owner.type == "Organization":
            return "none" if repo.private else "read"
        return "none" if repo.private else "read"

    def _membership(self, org: str, login: str) -> tuple[str, str] | None:
        entry = self.org_members.get((org.lower(), login.lower()))
        return entry if entry is not None and entry[1] == "active" else None

    def _op_users_get_authenticated(self, ctx):
        a = ctx.user
        created = "2020-01-01T00:00:00Z"
        return 200, {**self.render.user(a), "name": a.name, "company": None, "blog": "", "location": None,
                     "email": a.email, "hireable": None, "bio": None, "public_repos": 0, "public_gists": 0,
                     "followers": 0, "following": 0, "created_at": created, "updated_at": created,
                     "user_view_type": "public"}

    def _op_orgs_get_membership_for_authenticated_user(self, ctx):
        from .fake_github import not_found

        org = ctx.params["org"]
        entry = self.org_members.get((org.lower(), ctx.user.login.lower()))
        if entry is None:
            raise not_found()
        role, state = entry
        account = self.account(org, "Organization")
        api = self.render.base
        organization = {"login": account.login, "id": account.id, "node_id": f"O_{account.id}",
                        "url": f"{api}/orgs/{account.login}", "repos_url": f"{api}/orgs/{account.login}/repos",
                        "events_url": f"{api}/orgs/{account.login}/events",
                        "hooks_url": f"{api}/orgs/{account.login}/hooks", "issues_url": f"{api}/orgs/{account.login}/issues",
                        "members_url": f"{api}/orgs/{account.login}/members{{/member}}",
                        "public_members_url": f"{api}/orgs/{account.login}/public_members{{/member}}",
                        "avatar_url": f"{api}/avatars/{account.login}", "description": None}
        return 200, {"url": f"{api}/orgs/{account.login}/memberships/{ctx.user.login}", "state": state, "role": role,
                     "organization_url": f"{api}/orgs/{account.login}", "organization": organization,
                     "user": self.render.user(ctx.user)}

    def _explicit_role(self, repo, login: str) -> str:
        """The person's role on `repo` when explicit (collaborator, owner, organisation member), else none."""
        explicit = (login in repo.permissions or repo.owner.login.lower() == login.lower()
                    or (repo.owner.type == "Organization" and self._membership(repo.owner.login, login) is not None))
        return self._role(repo, login) if explicit else "none"

    def _user_installations(self, login: str) -> list:
        seen = []
        for inst in sorted(self.installations.values(), key=lambda i: i.id):
            account = inst.account.login
            mine = (account.lower() == login.lower()
                    or (inst.account.type == "Organization" and self._membership(account, login) is not None)
                    or any(r.installation_id == inst.id and self._explicit_role(r, login) != "none"
                           for r in self.repos.values()))
            if mine:
                seen.append(inst)
        return seen

    def _op_apps_list_installations_for_authenticated_user(self, ctx):
        installations = self._user_installations(ctx.user.login)
        chunk, headers = self._page(ctx, installations)
        return 200, {"total_count": len(installations),
                     "installations": [self.render.installation(i) for i in chunk]}, headers

    def _op_apps_list_installation_repos_for_authenticated_user(self, ctx):
        from .fake_github import not_found

        inst = self.installations.get(ctx.params["installation_id"])
        if inst is None or inst not in self._user_installations(ctx.user.login):
            raise not_found()
        login = ctx.user.login
        repos = sorted((r for r in self.repos.values()
                        if r.installation_id == inst.id and self._explicit_role(r, login) != "none"),
                       key=lambda r: r.id)
        chunk, headers = self._page(ctx, repos)
        return 200, {"total_count": len(repos), "repository_selection": inst.repository_selection,
                     "repositories": [self._with_permissions(self._explicit_role(r, login), self.render.repository(r))
                                      for r in chunk]}, headers

    @staticmethod
    def _with_permissions(role: str, body: dict) -> dict:
        order = ("read", "triage", "write", "maintain", "admin")
        rank = order.index(role) if role in order else -1
        body["permissions"] = {"admin": rank >= 4, "maintain": rank >= 3, "push": rank >= 2, "triage": rank >= 1,
                               "pull": rank >= 0}
        return body

    def _user_repository(self, ctx, body: dict) -> dict:
        """GET /repos/{owner}/{repo} with a user token: the person's permissions on it."""
        return self._with_permissions(self._role(ctx.repo, ctx.user.login), body)
