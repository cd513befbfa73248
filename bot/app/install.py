"""Installing the App from nothing: `modelbot register` (GitHub's App manifest flow) and `modelbot init`.

Pure part: read the one definition of the App's permissions and events
(`config/github-app-manifest.yaml`), build the manifest GitHub's flow takes, check the redirect that
comes back (state, code), read the conversion's answer, build the minimal server config. Thin
adapters below it: the conversion request (`POST /app-manifests/{code}/conversions`), writing the
credentials with mode 0600, and the one-page local server the browser goes through.

The flow, as GitHub's "Registering a GitHub App from a manifest" describes it: a form POSTs the
manifest JSON to `{github}/settings/apps/new?state=S` (or `/organizations/ORG/settings/apps/new`);
the person names the App and creates it; GitHub redirects to the manifest's `redirect_url` with
`code` and `state`; the code (single use, valid for one hour) is exchanged, without
authentication, for the App's id, webhook secret and private key.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from bot.core.config import _OWNER, _REPO_NAME, Secret, ServerConfig
from bot.core.render import render

APP_DEFINITION = Path(__file__).resolve().parents[2] / "config" / "github-app-manifest.yaml"
# GitHub delivers these to every App, subscribed or not ("installation" and
# "installation_repositories" are App-only events; "ping" follows the App's creation).
ALWAYS_DELIVERED = frozenset({"ping", "installation", "installation_repositories"})
# The repository permission a subscription to each event needs (GitHub's webhook events page:
# "To subscribe to this event, a GitHub App must have at least read-level access for ...").
EVENT_PERMISSION = {"pull_request": "pull_requests", "pull_request_review": "pull_requests",
                    "issue_comment": "issues", "push": "contents", "check_run": "checks",
                    "check_suite": "checks", "merge_group": "merge_queues",
                    "deployment_protection_rule": "deployments"}
DEFINITION_KEYS = frozenset({"name", "description", "public", "default_permissions", "default_events"})
ACCESS = ("read", "write")
WEBHOOK_PATH = "/webhook"  # bot/app/web.py
CALLBACK_PATH = "/callback"
OAUTH_CALLBACK_PATH = "/oauth/callback"  # the status UI's sign-in callback (bot/app/ui.py)
_CODE = re.compile(r"[A-Za-z0-9_-]{1,200}")
_EVENT = re.compile(r"[a-z_]{1,60}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
_ROLE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}")
_ENV_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
CREDENTIAL_FILES = {"app_id": "app-id", "webhook_secret": "webhook-secret", "private_key": "private-key.pem"}


class InstallError(Exception):
    """A bad input or answer; the message names it (never a secret's value)."""


# --- the App's definition and its manifest (pure) -----------------------------------------------


def parse_definition(data: Any, source: str) -> dict:
    """Check the App definition (permissions, events, name); raise InstallError naming each problem."""
    if not isinstance(data, dict):
        raise InstallError(f"{source}: top level must be a mapping")
    problems = [f"{source}: {key}: unknown key (expected one of {', '.join(sorted(DEFINITION_KEYS))})"
                for key in data if key not in DEFINITION_KEYS]
    if not isinstance(data.get("name"), str) or not 1 <= len(data["name"]) <= 34:
        problems.append(f"{source}: name: expected a name of 1-34 characters (GitHub's limit)")
    perms = data.get("default_permissions")
    if not isinstance(perms, dict) or not perms:
        problems.append(f"{source}: default_permissions: expected a mapping of permission: read|write")
        perms = {}
    for key, value in perms.items():
        if value not in ACCESS:
            problems.append(f"{source}: default_permissions.{key}: expected read or write, got {value!r}")
    events = data.get("default_events")
    if not isinstance(events, list) or not events:
        problems.append(f"{source}: default_events: expected a list of event names")
        events = []
    for i, event in enumerate(events):
        if not isinstance(event, str) or not _EVENT.fullmatch(event):
            problems.append(f"{source}: default_events[{i}]: not an event name: {event!r}")
        elif event in ALWAYS_DELIVERED:
            problems.append(f"{source}: default_events[{i}]: {event} is delivered to every App; "
                            "GitHub refuses it as a subscription")
        elif EVENT_PERMISSION.get(event) and EVENT_PERMISSION[event] not in perms:
            problems.append(f"{source}: default_events[{i}]: {event} needs the "
                            f"{EVENT_PERMISSION[event]} permission in default_permissions")
    if "public" in data and not isinstance(data["public"], bool):
        problems.append(f"{source}: public: expected true or false")
    if problems:
        raise InstallError("\n".join(problems))
    return data


def load_definition(path: str | os.PathLike[str] = APP_DEFINITION) -> dict:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InstallError(f"{p}: cannot read the App definition: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InstallError(f"{p}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_definition(data, str(p))


def _http_url(value: str, what: str) -> str:
    parts = urllib.parse.urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise InstallError(f"{what}: expected an http(s) URL without query or fragment, got {value!r}")
    return value.rstrip("/")


def build_manifest(definition: Mapping[str, Any], *, url: str, redirect_url: str,
                   name: str | None = None) -> dict:
    """The manifest GitHub's flow takes: the definition plus this server's URLs.

    `url` is the bot's public base URL: the App's homepage, `{url}/webhook` its webhook and
    `{url}/oauth/callback` the callback URL of sign-in to the status UI (MODELBOT_PUBLIC_URL).
    """
    base = _http_url(url, "--url")
    manifest = {
        "name": name or definition["name"],
        "url": base,
        "hook_attributes": {"url": base + WEBHOOK_PATH, "active": True},
        "redirect_url": _http_url(redirect_url, "redirect URL"),
        # Sign-in to the status UI (bot/app/ui.py): GitHub sends people back here with the code.
        "callback_urls": [base + OAUTH_CALLBACK_PATH],
        "request_oauth_on_install": False,
        "public": bool(definition.get("public", False)),
        "default_permissions": dict(definition["default_permissions"]),
        "default_events": list(definition["default_events"]),
    }
    if definition.get("description"):
        manifest["description"] = definition["description"]
    if not 1 <= len(manifest["name"]) <= 34:
        raise InstallError(f"--name: expected 1-34 characters, got {len(manifest['name'])}")
    return manifest


def new_app_url(github_url: str, state: str, org: str | None = None) -> str:
    """Where the form POSTs the manifest: the personal account's or an organization's new-App page."""
    base = _http_url(github_url, "--github")
    if org is not None:
        if not _OWNER.fullmatch(org):
            raise InstallError(f"--org: {org!r} is not a GitHub organization name")
        path = f"/organizations/{org}/settings/apps/new"
    else:
        path = "/settings/apps/new"
    return f"{base}{path}?{urllib.parse.urlencode({'state': state})}"


def api_url_for(github_url: str) -> str:
    """The REST API of a GitHub web URL: api.github.com for github.com, /api/v3 for GitHub Enterprise."""
    base = _http_url(github_url, "--github")
    host = urllib.parse.urlsplit(base).hostname
    return "https://api.github.com" if host in ("github.com", "www.github.com") else base + "/api/v3"


def check_redirect(query: Mapping[str, str], expected_state: str) -> str:
    """The code of GitHub's redirect, once its state is the one this registration sent."""
    state = query.get("state") or ""
    if not state or not hmac.compare_digest(state.encode(), expected_state.encode()):
        raise InstallError("state: the redirect does not carry the state this registration sent "
                           "(a link from elsewhere, or an older registration); nothing was exchanged")
    code = query.get("code") or ""
    if not _CODE.fullmatch(code):
        raise InstallError("code: the redirect carries no code, or one GitHub could not have issued")
    return code


@dataclass(frozen=True)
class Credentials:
    app_id: int
    slug: str
    html_url: str
    webhook_secret: Secret
    private_key: Secret

    @property
    def install_url(self) -> str:
        return f"{self.html_url}/installations/new"


def parse_conversion(body: Any) -> Credentials:
    """Read GitHub's answer to the conversion (apps/create-from-manifest, 201)."""
    if not isinstance(body, dict):
        raise InstallError("GitHub's answer: expected a JSON object")
    missing = [k for k in ("id", "slug", "html_url", "pem", "webhook_secret") if not body.get(k)]
    if missing:
        raise InstallError(f"GitHub's answer: missing {', '.join(missing)}")
    if not isinstance(body["id"], int) or body["id"] <= 0:
        raise InstallError("GitHub's answer: id is not a positive integer")
    pem = str(body["pem"])
    if "-----BEGIN" not in pem or "PRIVATE KEY-----" not in pem:
        raise InstallError("GitHub's answer: pem is not a PEM private key")
    if len(str(body["webhook_secret"])) < 8:  # bot/core/config.py refuses shorter webhook secrets
        raise InstallError("GitHub's answer: webhook_secret is shorter than 8 characters")
    return Credentials(body["id"], str(body["slug"]), str(body["html_url"]).rstrip("/"),
                       Secret(str(body["webhook_secret"])), Secret(pem.strip() + "\n"))


def credential_files(creds: Credentials) -> dict[str, str]:
    return {CREDENTIAL_FILES["app_id"]: f"{creds.app_id}\n",
            CREDENTIAL_FILES["webhook_secret"]: creds.webhook_secret.get() + "\n",
            CREDENTIAL_FILES["private_key"]: creds.private_key.get()}


# --- the minimal server config (pure) -----------------------------------------------------------


def minimal_config_text(*, repositories: list[str], region: str, environment: str = "staging",
                        execution_role_arn: str | None = None, source: str = "modelbot init") -> str:
    """The smallest server config that serves the first report: an allowlist and one environment.

    Every value is checked first (the message names the option); the text is then parsed back with
    the server's own loader, so what this returns is what `modelbot serve` accepts.
    """
    problems = []
    if not repositories:
        problems.append("--repository/--org: name at least one repository (owner/name) or organization")
    for item in repositories:
        owner, _, name = item.partition("/")
        if not _OWNER.fullmatch(owner) or not (name == "*" or _REPO_NAME.fullmatch(name)):
            problems.append(f"--repository: {item!r} is not owner/name (or ORG/*)")
    if not _REGION.fullmatch(region or ""):
        problems.append(f"--region: {region!r} is not an AWS region such as us-east-1")
    if not _ENV_NAME.fullmatch(environment or ""):
        problems.append(f"--environment: {environment!r} is not a lower-case name such as staging")
    if execution_role_arn is not None and not _ROLE.fullmatch(execution_role_arn):
        problems.append(f"--execution-role-arn: {execution_role_arn!r} is not an IAM role ARN")
    if problems:
        raise InstallError("\n".join(problems))
    text = render("install/minimal_config.yaml.j2", repositories=repositories, region=region,
                  environment=environment, execution_role_arn=execution_role_arn)
    ServerConfig.model_validate(yaml.safe_load(text))  # a template bug must not reach a file
    return text


# --- adapters -----------------------------------------------------------------------------------


def convert_code(api_url: str, code: str, *, timeout: float = 15) -> dict:
    """POST /app-manifests/{code}/conversions (no authentication: the code is the credential)."""
    if not _CODE.fullmatch(code):
        raise InstallError("code: not a code GitHub could have issued")
    request = urllib.request.Request(
        f"{api_url.rstrip('/')}/app-manifests/{urllib.parse.quote(code)}/conversions", method="POST", data=b"",
        headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                 "User-Agent": "modelbot-register"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) checked
            return json.loads(answer.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise InstallError("GitHub answered 404 to the code: it was used already or is older than "
                               "an hour; run `modelbot register` again") from None
        raise InstallError(f"GitHub answered {exc.code} to the conversion of the code") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InstallError(f"cannot reach {api_url}: {reason}") from None
    except ValueError:
        raise InstallError("GitHub's answer to the conversion is not JSON") from None


def write_credentials(out_dir: str | os.PathLike[str], files: Mapping[str, str]) -> dict[str, Path]:
    """Write each file with mode 0600 in a 0700 directory; never overwrite one (an App's key is not
    replaceable from here)."""
    out = Path(out_dir)
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = [str(out / name) for name in files if (out / name).exists()]
    if existing:
        raise InstallError(f"--out: {', '.join(existing)} exist already; choose another directory "
                           "(modelbot never overwrites an App's credentials)")
    paths = {}
    for name, content in files.items():
        path = out / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(path, 0o600)  # whatever the umask
        paths[name] = path
    return paths


@dataclass
class Registration:
    """One run of the manifest flow: what the local page posts, and what came back."""

    manifest: dict
    action: str  # the new-App URL, with the state
    state: str
    api_url: str
    out_dir: Path
    convert: Callable[[str, str], dict] = None  # (api_url, code) -> answer; convert_code by default
    result: Credentials | None = None
    paths: dict[str, Path] | None = None
    error: str | None = None

    def __post_init__(self):
        self.convert = self.convert or (lambda api, code: convert_code(api, code))
        self.done = threading.Event()
        self._lock = threading.Lock()

    def form_page(self) -> str:
        return render("install/form.html.j2", action=self.action,
                      manifest=json.dumps(self.manifest, indent=2, sort_keys=True))

    def handle_redirect(self, query: Mapping[str, str]) -> tuple[int, str]:
        """The redirect from GitHub: (HTTP status, page). A wrong state is refused and the flow keeps
        waiting for the right redirect; a failed exchange ends it."""
        try:
            code = check_redirect(query, self.state)
        except InstallError as exc:
            return 400, render("install/refused.html.j2", reason=str(exc))
        with self._lock:
            if self.done.is_set():
                return 409, render("install/refused.html.j2",
                                   reason="this registration is finished; run `modelbot register` again")
            try:
                creds = parse_conversion(self.convert(self.api_url, code))
                self.paths = write_credentials(self.out_dir, credential_files(creds))
                self.result = creds
            except InstallError as exc:
                self.error = str(exc)
                return 502, render("install/refused.html.j2", reason=self.error)
            finally:
                self.done.set()
        return 200, render("install/done.html.j2", html_url=creds.html_url, install_url=creds.install_url,
                           slug=creds.slug)


def make_server(host: str = "127.0.0.1", port: int = 3000) -> ThreadingHTTPServer:
    """The local page, bound to the loopback interface only: GET / serves the form that posts the
    manifest, GET /callback takes GitHub's redirect. Set `.registration` before serving (the port,
    known once bound, goes into the manifest's redirect URL)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the query carries the code: keep it out of the terminal
            pass

        def _send(self, status: int, page: str) -> None:
            data = page.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            registration: Registration = self.server.registration
            parts = urllib.parse.urlsplit(self.path)
            if parts.path == "/":
                self._send(200, registration.form_page())
            elif parts.path == CALLBACK_PATH:
                query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query).items()}
                self._send(*registration.handle_redirect(query))
            else:
                self._send(404, render("install/refused.html.j2", reason=f"no page at {parts.path}"))

    return ThreadingHTTPServer((host, port), Handler)


def register(*, url: str, github_url: str = "https://github.com", api_url: str | None = None,
             org: str | None = None, name: str | None = None, port: int = 3000,
             out_dir: str = "var/github-app", definition_path: str | os.PathLike[str] = APP_DEFINITION,
             timeout: float = 1800, say: Callable[[str], None] = print,
             open_browser: Callable[[str], Any] | None = None) -> int:
    """Run the flow end to end; 0 once the credentials are written, 1 otherwise."""
    definition = load_definition(definition_path)
    state = secrets.token_urlsafe(24)
    action = new_app_url(github_url, state, org)
    api = _http_url(api_url or api_url_for(github_url), "--api")
    try:
        server = make_server(port=port)
    except OSError as exc:
        raise InstallError(f"--port: cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    local = f"http://127.0.0.1:{server.server_address[1]}"
    thread = None
    try:
        registration = Registration(
            manifest=build_manifest(definition, url=url, redirect_url=local + CALLBACK_PATH, name=name),
            action=action, state=state, api_url=api, out_dir=Path(out_dir))
        server.registration = registration
        thread = threading.Thread(target=server.serve_forever, name="modelbot-register", daemon=True)
        thread.start()
        say(render("install/register_start.txt.j2", local=local, org=org, action=action.split("?")[0],
                   minutes=int(timeout // 60)))
        if open_browser is not None:
            open_browser(local + "/")
        if not registration.done.wait(timeout):
            say(render("install/register_error.txt.j2", reason=f"no redirect from GitHub within {int(timeout)} s"))
            return 1
    finally:
        if thread is not None:
            server.shutdown()
        server.server_close()
    if registration.result is None:
        say(render("install/register_error.txt.j2", reason=registration.error or "the exchange failed"))
        return 1
    creds, paths = registration.result, registration.paths
    say(render("install/registered.txt.j2", slug=creds.slug, app_id=creds.app_id, html_url=creds.html_url,
               install_url=creds.install_url, api_url=api, default_api=api == "https://api.github.com",
               paths={k: str(paths[v].resolve()) for k, v in CREDENTIAL_FILES.items()}))
    return 0


def init_config(*, out: str, repositories: list[str], region: str, environment: str = "staging",
                execution_role_arn: str | None = None, force: bool = False) -> Path:
    """Write the minimal server config to `out`; refuse to replace an existing file unless `force`."""
    path = Path(out)
    if path.exists() and not force:
        raise InstallError(f"--out: {path} exists already; pass --force to replace it")
    text = minimal_config_text(repositories=repositories, region=region, environment=environment,
                               execution_role_arn=execution_role_arn)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
