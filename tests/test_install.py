"""Installing the App from nothing: the App definition against the code, `modelbot register`
(GitHub's manifest flow, against the fake GitHub), `modelbot init` (the minimal server config)."""

from __future__ import annotations

import html
import os
import re
import stat
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
import yaml

from bot.app import install
from bot.core.config import load_settings
from bot.app.features import load_router
from bot.app.router import is_internal_event
from tests.support.fake_github import ALTERNATIVE_PERMISSION, REQUIRED_PERMISSION
from tests.support.github_contract import RestContract

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = install.load_definition()
LEVEL = {"read": 1, "write": 2}
# Operations the fake GitHub does not gate by permission, with the one GitHub's REST reference
# names for them ("Fine-grained access tokens" box of each endpoint's page).
EXTRA_PERMISSION = {"repos/list-pull-requests-associated-with-commit": ("contents", "read"),
                    "repos/download-tarball-archive": ("contents", "read"),
                    # The status UI's sign-in, with a user access token (bot/adapters/github_user.py):
                    # GET /user needs no permission of the App; an org membership needs Members: read.
                    "users/get-authenticated": ("metadata", "read"),
                    "orgs/get-membership-for-authenticated-user": ("members", "read"),
                    # the installations and their repositories a person can access: GitHub's REST
                    # reference says a user access token needs no permission for these.
                    "apps/list-installations-for-authenticated-user": ("metadata", "read"),
                    "apps/list-installation-repos-for-authenticated-user": ("metadata", "read")}


# --- the definition cannot drift from the code ------------------------------------------------


def handled_events() -> set[str]:
    """GitHub events the bot's composed router has a handler for (event or event.action keys)."""
    return {key.split(".", 1)[0] for key in load_router(extra="").keys() if not is_internal_event(key)}


def test_the_app_subscribes_to_exactly_the_events_the_router_handles():
    subscribable = handled_events() - install.ALWAYS_DELIVERED
    assert subscribable, "the router handles no GitHub event?"
    assert set(DEFINITION["default_events"]) == subscribable
    # ping and installation are handled, and GitHub sends them without a subscription.
    assert {"ping", "installation"} <= handled_events()


def test_every_handled_action_is_one_github_sends_for_that_event():
    """The other way round: a handler registered for an action GitHub never sends would never run."""
    from tests.support.webhooks import event_actions

    sent = event_actions()  # the actions of GitHub's webhook description (tests/contract/)
    for key in load_router(extra="").keys():
        if is_internal_event(key):
            continue
        event, _, action = key.partition(".")
        assert event in sent, f"{key}: GitHub's webhook description has no event {event}"
        assert not action or action in sent[event], f"{key}: GitHub sends no {event} action {action}"


def test_each_event_needs_the_permission_githubs_webhook_docs_name():
    # "To subscribe to this event, a GitHub App must have at least read-level access for the
    # ... repository permission" (docs.github.com, Webhook events and payloads).
    assert {e: install.EVENT_PERMISSION[e] for e in DEFINITION["default_events"]} == {
        "pull_request": "pull_requests", "pull_request_review": "pull_requests", "issue_comment": "issues",
        "push": "contents", "check_run": "checks", "check_suite": "checks", "merge_group": "merge_queues",
        "deployment_protection_rule": "deployments"}


_PATH = re.compile(r"""f?"(/(?:repos|orgs|app|installation|user|teams)[^"]*)\"""")
_METHOD_BEFORE = re.compile(r"""\"(GET|POST|PATCH|PUT|DELETE)\"\s*,\s*$""")


def github_calls() -> list[tuple[str, str, str]]:
    """Every REST path written in bot/ as (file, method, concrete path), placeholders made `x`.

    The method is the literal just before the path (`requestJsonAndCheck("POST", f"/repos/...")`);
    a path passed without one (PaginatedList, the protection reader's `_get`) is a GET."""
    found = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        text = path.read_text()
        for match in _PATH.finditer(text):
            before = _METHOD_BEFORE.search(text[max(0, match.start() - 80):match.start()])
            method = before.group(1) if before else "GET"
            concrete = re.sub(r"\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", "x", match.group(1))
            concrete = re.sub(r"^/repos/x(?=/|$)", "/repos/o/x", concrete)  # {full_name} is owner/name
            found.append((str(path.relative_to(ROOT)), method, concrete))
    return found


OWN_ISSUES = ("issues/create", "issues/update", "issues/list-for-repo")  # bot/adapters/github/issues.py


def needed_permissions() -> dict[str, str]:
    """The permissions the code's REST calls and the subscribed events need, at the highest level."""
    contract = RestContract()
    needed: dict[str, str] = {"metadata": "read"}  # GitHub grants every App metadata: read
    unmatched = []
    for where, method, path in github_calls():
        op, _ = contract.match(method, path)
        if op is None:
            unmatched.append(f"{where}: {method} {path}")
            continue
        kind, level = {**EXTRA_PERMISSION, **REQUIRED_PERMISSION}[op.operation_id]
        # modelbot writes issue comments and reactions only on pull requests, where GitHub accepts
        # the pull_requests permission instead (fake_github.ALTERNATIVE_PERMISSION); the issues it
        # opens and edits itself (the drift issue) are issues, and need the issues permission.
        if op.operation_id not in OWN_ISSUES:
            kind = ALTERNATIVE_PERMISSION.get(kind, kind)
        if LEVEL[level] > LEVEL.get(needed.get(kind), 0):
            needed[kind] = level
    assert unmatched == [], "calls outside the contract the fake GitHub holds"
    for event in DEFINITION["default_events"]:
        kind = install.EVENT_PERMISSION[event]
        needed.setdefault(kind, "read")
    return needed


def test_the_grep_finds_the_calls_that_need_each_kind_of_permission():
    calls = {(m, p) for _, m, p in github_calls()}
    # A few calls the bot is known to make: the grep must see them, or the next test proves nothing.
    assert ("POST", "/repos/o/x/check-runs") in calls
    assert ("GET", "/repos/o/x/branches/x/protection/required_status_checks") in calls
    assert ("POST", "/repos/o/x/deployments") in calls
    assert ("GET", "/orgs/x/teams/x/memberships/x") in calls
    assert len(calls) >= 20


def test_the_app_asks_for_exactly_the_permissions_the_code_uses():
    assert DEFINITION["default_permissions"] == needed_permissions()


def test_branch_protection_reading_is_covered_as_the_readme_says():
    from bot.core.protection import PERMISSION

    for wanted in PERMISSION.values():  # "Administration: read", "Metadata: read"
        kind, level = wanted.lower().split(": ")
        assert DEFINITION["default_permissions"][kind] == level


def test_docs_list_the_same_permissions_and_events():
    doc = (ROOT / "docs" / "install.md").read_text()
    for kind, level in DEFINITION["default_permissions"].items():
        assert re.search(rf"\|\s*`{kind}`\s*\|\s*{level}\s*\|", doc), f"docs/install.md: {kind}: {level}"
    for event in DEFINITION["default_events"]:
        assert f"`{event}`" in doc, event
    table = re.findall(r"^\s*\|\s*`([a-z_]+)`\s*\|\s*(read|write)\s*\|", doc, re.M)
    assert dict(table) == DEFINITION["default_permissions"], "docs/install.md lists a permission the App lacks"


@pytest.mark.parametrize("change, problem", [
    ({"scopes": 1}, "scopes: unknown key"),
    ({"default_permissions": {"checks": "admin"}}, "default_permissions.checks: expected read or write"),
    ({"default_events": ["pull_request", "installation"]}, "installation is delivered to every App"),
    ({"default_permissions": {"checks": "write"}}, "pull_request needs the pull_requests permission"),
    ({"name": "x" * 35}, "name: expected a name of 1-34 characters"),
])
def test_a_bad_definition_is_refused_naming_the_field(change, problem):
    with pytest.raises(install.InstallError, match=re.escape(problem)):
        install.parse_definition({**DEFINITION, **change}, "config/github-app-manifest.yaml")


# --- the manifest and the flow's URLs ---------------------------------------------------------


def test_the_manifest_carries_the_definition_and_this_servers_urls():
    manifest = install.build_manifest(DEFINITION, url="https://bot.example.com/",
                                      redirect_url="http://127.0.0.1:3000/callback")
    assert manifest["url"] == "https://bot.example.com"
    assert manifest["hook_attributes"] == {"url": "https://bot.example.com/webhook", "active": True}
    assert manifest["redirect_url"] == "http://127.0.0.1:3000/callback"
    assert manifest["callback_urls"] == ["https://bot.example.com/oauth/callback"]  # the status UI's sign-in
    assert manifest["request_oauth_on_install"] is False
    assert manifest["default_permissions"] == DEFINITION["default_permissions"]
    assert manifest["default_events"] == DEFINITION["default_events"]
    assert manifest["public"] is False


@pytest.mark.parametrize("url", ["bot.example.com", "ftp://bot.example.com", "https://bot.example.com/?a=1", ""])
def test_a_url_github_could_not_deliver_to_is_refused(url):
    with pytest.raises(install.InstallError, match="--url: expected an http"):
        install.build_manifest(DEFINITION, url=url, redirect_url="http://127.0.0.1:3000/callback")


def test_new_app_urls_for_a_personal_account_an_organization_and_enterprise():
    assert install.new_app_url("https://github.com", "s1") == "https://github.com/settings/apps/new?state=s1"
    assert (install.new_app_url("https://github.com", "s1", org="acme")
            == "https://github.com/organizations/acme/settings/apps/new?state=s1")
    with pytest.raises(install.InstallError, match="--org"):
        install.new_app_url("https://github.com", "s1", org="acme/../evil")
    assert install.api_url_for("https://github.com") == "https://api.github.com"
    assert install.api_url_for("https://ghe.example.com") == "https://ghe.example.com/api/v3"


def test_a_redirect_with_another_state_or_no_code_is_refused():
    with pytest.raises(install.InstallError, match="state"):
        install.check_redirect({"code": "abc", "state": "other"}, "mine")
    with pytest.raises(install.InstallError, match="state"):
        install.check_redirect({"code": "abc"}, "mine")
    with pytest.raises(install.InstallError, match="code"):
        install.check_redirect({"code": "../../user", "state": "mine"}, "mine")
    assert install.check_redirect({"code": "abc123", "state": "mine"}, "mine") == "abc123"


def test_the_form_escapes_the_manifest():
    manifest = {"name": '"><script>alert(1)</script>', "url": "https://bot.example.com"}
    page = install.Registration(manifest, "https://github.com/settings/apps/new?state=s&x=1", "s", "", Path(".")) \
        .form_page()
    assert "<script>alert" not in page
    assert 'action="https://github.com/settings/apps/new?state=s&amp;x=1"' in page
    value = re.search(r'name="manifest" value="([^"]*)"', page).group(1)
    assert yaml.safe_load(html.unescape(value))["name"] == manifest["name"]


# --- `modelbot register` end to end, GitHub played by the fake --------------------------------


def _start_register(fake_github, out: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.app.cli", "register", "--url", "https://bot.example.com", "--api", fake_github.url,
         "--port", "0", "--out", str(out), "--no-browser", "--timeout", "60", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"open (http://127\.0\.0\.1:\d+)/ ", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("register did not start: " + "".join(lines) + proc.stderr.read())


def _form(local: str) -> tuple[str, dict]:
    page = requests.get(local + "/", timeout=5)
    assert page.status_code == 200
    action = html.unescape(re.search(r'action="([^"]*)"', page.text).group(1))
    manifest = yaml.safe_load(html.unescape(re.search(r'name="manifest" value="([^"]*)"', page.text).group(1)))
    return action, manifest


def test_register_runs_the_manifest_flow_and_stores_the_credentials_privately(fake_github, tmp_path):
    out = tmp_path / "app"
    proc, local = _start_register(fake_github, out, "--org", "acme")
    try:
        action, manifest = _form(local)
        assert action.startswith("https://github.com/organizations/acme/settings/apps/new?state=")
        state = urllib.parse.parse_qs(urllib.parse.urlsplit(action).query)["state"][0]
        assert manifest["redirect_url"] == local + "/callback"
        assert manifest["default_permissions"] == DEFINITION["default_permissions"]

        # A redirect carrying another state (a forged link) is refused, exchanges nothing, and
        # the registration keeps waiting for the real one.
        code = fake_github.issue_manifest_code(manifest)
        forged = requests.get(local + "/callback", params={"code": code, "state": "forged"}, timeout=5)
        assert forged.status_code == 400 and "state" in forged.text
        assert fake_github.count("POST", "/app-manifests/") == 0
        assert not out.exists() or not any(out.iterdir())

        done = requests.get(local + "/callback", params={"code": code, "state": state}, timeout=15)
        assert done.status_code == 200
        assert "/installations/new" in done.text
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert fake_github.count("POST", "/app-manifests/") == 1

    files = {p.name: p for p in out.iterdir()}
    assert set(files) == {"app-id", "webhook-secret", "private-key.pem"}
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    secret = files["webhook-secret"].read_text().strip()
    pem = files["private-key.pem"].read_text()
    assert files["app-id"].read_text().strip() == str(fake_github.app_id)
    assert pem.strip() == fake_github.private_key_pem.strip()

    printed = stdout + stderr
    assert secret not in printed
    assert not any(line in printed for line in pem.splitlines() if len(line) > 20)
    assert str(files["private-key.pem"]) in printed and str(files["webhook-secret"]) in printed
    assert f"export GITHUB_APP_ID={fake_github.app_id}" in printed
    assert f"export GITHUB_PRIVATE_KEY_PATH={files['private-key.pem']}" in printed
    assert f"export GITHUB_API_URL={fake_github.url}" in printed
    assert f"{fake_github.url}/apps/{fake_github.app.slug}/installations/new" in printed

    # What was stored is what the server reads: the settings load, and the key signs as the App.
    from bot.adapters.github import GitHubApp

    settings = load_settings({"MODELBOT_CONFIG": str(ROOT / "config" / "modelbot.minimal.yaml"),
                              "GITHUB_APP_ID": files["app-id"].read_text().strip(),
                              "GITHUB_PRIVATE_KEY_PATH": str(files["private-key.pem"]),
                              "MODELBOT_WEBHOOK_SECRETS": secret, "GITHUB_API_URL": fake_github.url})
    app_id, key = settings.require_github_app()
    assert GitHubApp(app_id, key, settings.github_api_url).bot_login() == f"{fake_github.app.slug}[bot]"


def test_a_used_or_unknown_code_is_refused_with_a_reason(fake_github):
    code = fake_github.issue_manifest_code({"name": "modelbot", "url": "https://bot.example.com"})
    assert install.convert_code(fake_github.url, code)["id"] == fake_github.app_id
    with pytest.raises(install.InstallError, match="used already or is older than an hour"):
        install.convert_code(fake_github.url, code)
    with pytest.raises(install.InstallError, match="used already"):
        install.convert_code(fake_github.url, "deadbeef")
    fake_github.violations[:] = []  # the 404s above are GitHub's answers, not contract breaks


def test_a_finished_registration_refuses_another_redirect_and_never_overwrites_a_key(fake_github, tmp_path):
    manifest = install.build_manifest(DEFINITION, url="https://bot.example.com",
                                      redirect_url="http://127.0.0.1:1/callback")
    reg = install.Registration(manifest, "https://github.com/settings/apps/new?state=s", "s", fake_github.url,
                               tmp_path)
    status, _ = reg.handle_redirect({"code": fake_github.issue_manifest_code(manifest), "state": "s"})
    assert status == 200 and reg.result.app_id == fake_github.app_id
    again, page = reg.handle_redirect({"code": fake_github.issue_manifest_code(manifest), "state": "s"})
    assert again == 409 and "finished" in page

    second = install.Registration(manifest, reg.action, "s", fake_github.url, tmp_path)
    status, page = second.handle_redirect({"code": fake_github.issue_manifest_code(manifest), "state": "s"})
    assert status == 502 and "exist already" in page
    assert second.result is None and "exist already" in second.error


def test_an_answer_without_a_key_is_refused():
    body = {"id": 1, "slug": "modelbot", "html_url": "https://github.com/apps/modelbot",
            "webhook_secret": "0123456789", "pem": "not a key"}
    with pytest.raises(install.InstallError, match="pem is not a PEM private key"):
        install.parse_conversion(body)
    with pytest.raises(install.InstallError, match="missing webhook_secret"):
        install.parse_conversion({**body, "webhook_secret": None})


# --- `modelbot init` --------------------------------------------------------------------------


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.app.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)


def test_init_writes_a_config_that_serve_accepts(tmp_path):
    done = _run_cli("init", "--repository", "acme/models", "--org", "ml-team", "--region", "eu-west-1",
                    "--out", "config/modelbot.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "config" / "modelbot.yaml"
    # What `modelbot serve` checks before it starts gunicorn (bot/app/cli.py `_settings`).
    settings = load_settings({"MODELBOT_CONFIG": str(path), "MODELBOT_WEBHOOK_SECRETS": "a-secret-of-16-chars"},
                             require_secrets=True)
    settings.validate_deep()
    assert settings.server.repositories == ["acme/models", "ml-team/*"]
    assert settings.server.allows_repository("ml-team/churn")
    assert settings.server.environments["staging"].region == "eu-west-1"
    assert set(yaml.safe_load(path.read_text())) == {"repositories", "environments"}


def test_init_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "modelbot.yaml"
    target.write_text("repositories: [acme/keep]\n")
    refused = _run_cli("init", "--org", "acme", "--out", str(target), cwd=tmp_path)
    assert refused.returncode == 2 and "exists already; pass --force" in refused.stderr
    assert target.read_text() == "repositories: [acme/keep]\n"
    forced = _run_cli("init", "--org", "acme", "--out", str(target), "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "acme/*" in target.read_text()


@pytest.mark.parametrize("kwargs, problem", [
    ({"repositories": []}, "--repository/--org: name at least one"),
    ({"repositories": ["acme"]}, "--repository: 'acme' is not owner/name"),
    ({"region": "mars-1"}, "--region: 'mars-1' is not an AWS region"),
    ({"execution_role_arn": "arn:aws:iam::1:role/x"}, "--execution-role-arn"),
    ({"environment": "Prod Env"}, "--environment"),
])
def test_init_names_the_bad_option(kwargs, problem):
    values = {"repositories": ["acme/models"], "region": "us-east-1", **kwargs}
    with pytest.raises(install.InstallError, match=re.escape(problem)):
        install.minimal_config_text(**values)


def test_the_shipped_minimal_config_is_what_init_writes():
    shipped = (ROOT / "config" / "modelbot.minimal.yaml").read_text()
    assert shipped == install.minimal_config_text(repositories=["acme/models"], region="us-east-1")
    with_role = install.minimal_config_text(repositories=["acme/models"], region="us-east-1",
                                            execution_role_arn="arn:aws:iam::111122223333:role/sagemaker-execution")
    assert yaml.safe_load(with_role)["environments"]["staging"]["execution_role_arn"].endswith("sagemaker-execution")


def test_the_first_manifest_of_the_guide_passes_check_with_the_minimal_config(tmp_path):
    models = tmp_path / "models" / "churn"
    models.mkdir(parents=True)
    (models / "modelbot.yaml").write_text((ROOT / "examples" / "minimal.yaml").read_text())
    done = _run_cli("check", str(tmp_path), "--no-live", "--config", str(ROOT / "config" / "modelbot.minimal.yaml"),
                    "--commit", "0" * 40, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
