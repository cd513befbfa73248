"""GitHub as a signed-in person sees it: the App's OAuth user flow and a few REST reads with the
user access token (bot/app/ui.py's sign-in). Not under bot/adapters/github/: that package loads
PyGithub, which the web process must not (tests/test_architecture.py); and it uses the standard
library's HTTP client, not `requests`, so the web process stays as light as the intake needs
(tests/test_intake_fuzz.py: the web process imports no HTTP client library).

GitHub's web flow for a GitHub App ("Generating a user access token for a GitHub App"): the
browser is sent to `{GITHUB_URL}/login/oauth/authorize?client_id&redirect_uri&state`; GitHub
sends it back to the callback with `code` and `state`; the code is exchanged by
`POST {GITHUB_URL}/login/oauth/access_token` (client_id, client_secret, code, redirect_uri;
`Accept: application/json`) for a user access token. That token then calls the REST API with
the person's rights intersected with the App's: GET /user, GET /user/memberships/orgs/{org},
GET /orgs/{org}/teams/{team_slug}/memberships/{username}, and, for which repositories the person
can read, GET /user/installations and GET /user/installations/{installation_id}/repositories
("the access the user has to each repository is included in the hash under the permissions
key"): one request per 100 installations or 100 repositories, whatever the number of
repositories the bot knows of, instead of one GET /repos/{owner}/{repo} per repository. GitHub
lists there the repositories the person has explicit permission to access, so a public
repository is shown only to people with a role on it (or its organisation's base permission).

No error text here carries a token or a code; a user access token (`ghu_...`) is redacted by its
shape wherever text is scrubbed (bot.core.redact), so tokens are not registered one by one (a
long-lived web process would keep every sign-in's). No retries: a person waits on these, and a failure says "try again".
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 10.0  # seconds, for the connection and each read
PER_PAGE = 100  # the largest page GitHub gives (the `per-page` parameter: "max 100")
MAX_LIST_PAGES = 50  # pages of installations and repositories read at one sign-in: 5,000 repositories
MAX_ANSWER = 1024 * 1024  # bytes of an answer read: GitHub's to these calls are a few KB
API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
               "User-Agent": "modelbot"}


class GitHubUserError(Exception):
    """GitHub could not be asked (down, refused the code, answered something unexpected)."""


class SignInExpired(GitHubUserError):
    """GitHub no longer accepts the user access token (401): the person must sign in again."""


def authorize_url(web_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    query = urllib.parse.urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state,
                                    "allow_signup": "false"})
    return f"{web_url}/login/oauth/authorize?{query}"


def _call(method: str, url: str, headers: dict, data: bytes | None = None) -> tuple[int, bytes]:
    """(status, body) of one HTTP request; GitHubUserError when GitHub cannot be reached."""
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:  # noqa: S310 - GitHub's configured URL
            return r.status, r.read(MAX_ANSWER)
    except urllib.error.HTTPError as exc:  # an answer, with a status >= 400
        try:
            return exc.code, exc.read(MAX_ANSWER)
        finally:
            exc.close()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise GitHubUserError(f"GitHub could not be reached ({type(exc).__name__})") from None


def exchange_code(web_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str) -> str:
    """The user access token for an authorization `code`; GitHubUserError when GitHub refuses it."""
    form = urllib.parse.urlencode({"client_id": client_id, "client_secret": client_secret, "code": code,
                                   "redirect_uri": redirect_uri}).encode()
    status, raw = _call("POST", f"{web_url}/login/oauth/access_token", {
        "Accept": "application/json", "User-Agent": "modelbot",
        "Content-Type": "application/x-www-form-urlencoded"}, form)
    if status != 200:
        raise GitHubUserError(f"GitHub answered {status} to the code exchange")
    try:
        body = json.loads(raw)
    except ValueError:
        raise GitHubUserError("GitHub's answer to the code exchange is not JSON") from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        error = body.get("error") if isinstance(body, dict) else None
        raise GitHubUserError(f"GitHub refused the sign-in code ({str(error or 'no token')[:60]})")
    return token


class UserApi:
    """REST reads with one person's user access token."""

    def __init__(self, api_url: str, token: str):
        self._api = api_url.rstrip("/")
        self._headers = {**API_HEADERS, "Authorization": f"Bearer {token}"}
        self.pages_read = 0

    def _get(self, path: str) -> tuple[int, object]:
        status, raw = _call("GET", self._api + path, self._headers)
        if status == 401:
            raise SignInExpired("GitHub no longer accepts this sign-in (401): sign in again")
        if status >= 500 or status == 429:
            raise GitHubUserError(f"GitHub answered {status}")
        try:
            return status, (json.loads(raw) if raw else None)
        except ValueError:
            raise GitHubUserError(f"GitHub's answer to GET {path.split('?')[0]} is not JSON") from None

    def login(self) -> str:
        status, body = self._get("/user")
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("login"), str):
            raise GitHubUserError(f"GET /user answered {status}")
        return body["login"]

    def org_state(self, org: str) -> str | None:
        """The person's membership state in `org` (active, pending), None when not a member."""
        status, body = self._get(f"/user/memberships/orgs/{urllib.parse.quote(org, safe='')}")
        if status in (403, 404):
            return None
        if status != 200 or not isinstance(body, dict):
            raise GitHubUserError(f"GET /user/memberships/orgs/{org} answered {status}")
        return body.get("state") if isinstance(body.get("state"), str) else None

    def team_state(self, org: str, team: str, login: str) -> str | None:
        q = urllib.parse.quote
        status, body = self._get(f"/orgs/{q(org, safe='')}/teams/{q(team, safe='')}/memberships/{q(login, safe='')}")
        if status in (403, 404):
            return None
        if status != 200 or not isinstance(body, dict):
            raise GitHubUserError(f"GET team membership {org}/{team} answered {status}")
        return body.get("state") if isinstance(body.get("state"), str) else None

    def _pages(self, path: str, key: str) -> list[dict]:
        """Every item under `key` of a paginated list (`total_count` + `key`), page by page; at most
        MAX_LIST_PAGES pages since `readable_repositories` began."""
        items: list[dict] = []
        page = 1
        while True:
            if self.pages_read >= MAX_LIST_PAGES:
                raise GitHubUserError(f"more than {MAX_LIST_PAGES * PER_PAGE} installations and repositories to "
                                      "read at sign-in; tell the bot's operators")
            self.pages_read += 1
            status, body = self._get(f"{path}?per_page={PER_PAGE}&page={page}")
            if status in (403, 404):  # an installation gone, or closed to this person, since the list
                return items
            chunk = body.get(key) if isinstance(body, dict) else None
            if status != 200 or not isinstance(chunk, list):
                raise GitHubUserError(f"GET {path} answered {status}")
            items += [item for item in chunk if isinstance(item, dict)]
            total = body.get("total_count")
            if not chunk or len(chunk) < PER_PAGE or (isinstance(total, int) and len(items) >= total):
                return items
            page += 1

    def readable_repositories(self) -> set[str]:
        """The full names (lower case) of the repositories in the App's installations that the
        person can read: GET /user/installations, then each installation's repositories."""
        self.pages_read = 0
        names: set[str] = set()
        for inst in self._pages("/user/installations", "installations"):
            ident = inst.get("id")
            if not isinstance(ident, int) or isinstance(ident, bool):
                continue
            for repo in self._pages(f"/user/installations/{ident}/repositories", "repositories"):
                name, perms = repo.get("full_name"), repo.get("permissions")
                if isinstance(name, str) and (not isinstance(perms, dict) or perms.get("pull")):
                    names.add(name.lower())
        return names
