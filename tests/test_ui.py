"""The status UI (issue #16, part 4) through Flask's test client, on both backends: sign-in with
GitHub through FakeGitHub's OAuth flow, membership and repository filtering, CSRF, cookies,
and nothing reachable without a session but health checks, the webhook and the sign-in."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import re
import secrets
import urllib.parse

import pytest
import requests
from flask.sessions import SecureCookieSessionInterface

from bot.app.web import create_app
from bot.core.access import sessionless_path
from bot.core.config import load_settings
from tests.support import ui as support

PUBLIC = "https://modelbot.example"


@pytest.fixture
def ui_settings(bot_env, fake_github, tmp_path):
    support.people(fake_github)
    return load_settings(support.ui_env(bot_env, fake_github, tmp_path, PUBLIC))


@pytest.fixture
def app(ui_settings, store, queue):
    support.seed(store)
    return create_app(ui_settings, store=store, queue=queue)


def https_client(app):
    """A test client whose requests come over https to modelbot.example (Secure cookies are sent)."""
    c = app.test_client()
    c.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "modelbot.example"})
    return c


@pytest.fixture
def client(app):
    return https_client(app)


def sign_in(client, gh, login, next_path="/"):
    """The browser's round trip: /login -> GitHub's authorize -> /oauth/callback; the callback's answer."""
    gh.sign_in_as(login)
    start = client.get("/login?" + urllib.parse.urlencode({"next": next_path}))
    assert start.status_code == 302, start.get_data(as_text=True)
    authorize = start.headers["Location"]
    assert authorize.startswith(gh.url + "/login/oauth/authorize?")
    back = requests.get(authorize, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    callback = urllib.parse.urlsplit(back.headers["Location"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == PUBLIC + "/oauth/callback"
    return client.get(f"{callback.path}?{callback.query}")


def csrf_of(page: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def test_a_member_signs_in_and_sees_the_endpoints_of_repositories_they_can_read(client, fake_github):
    done = sign_in(client, fake_github, support.MEMBER, "/rollouts")
    assert done.status_code == 302 and done.headers["Location"] == "/rollouts"
    page = client.get("/").get_data(as_text=True)
    assert 'id="login">alice<' in page
    assert "churn" in page and "acme/models" in page
    assert "fraud" not in page and "secret-models" not in page  # alice cannot read that repository
    assert "rolling out" in page and "1 rollout in flight" in page
    auth = {c.auth for c in fake_github.calls}
    assert "user" in auth and fake_github.violations == []
    ops = {c.operation for c in fake_github.calls if c.auth == "user"}
    assert ops == {"users/get-authenticated", "orgs/get-membership-for-authenticated-user",
                   "apps/list-installations-for-authenticated-user",
                   "apps/list-installation-repos-for-authenticated-user"}
    assert ("POST", "/login/oauth/access_token", 200) in fake_github.oauth_requests


def test_pages_of_an_unreadable_repository_are_404_not_403(client, fake_github, store):
    sign_in(client, fake_github, support.MEMBER)
    secret = next(r for r in store.deployments(repository=support.HIDDEN))
    for path in ("/endpoints/production/fraud", f"/deployments/{secret.id}", "/endpoints/production/nowhere"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "eve" not in r.get_data(as_text=True)
    locks = client.get("/locks").get_data(as_text=True)
    assert "#12" in locks and "dave" in locks and "#7" not in locks and "eve" not in locks
    assert "production:churn" in locks


def test_the_endpoint_page_shows_history_lineage_traffic_and_the_rollout(client, fake_github, store):
    sign_in(client, fake_github, support.MEMBER)
    old = store.deployments(repository=support.READABLE)[0]
    page = client.get("/endpoints/production/churn").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page  # a rollout is in flight
    assert "a" * 40 in page and "build-" in page and "health" in page
    assert page.count('class="chain') == 2 and "(serving)" in page
    assert "<td>running</td>" in page  # the rollout in flight, as the store has it (the ledger: not finished)
    assert "churn-cfg-1-p" in page  # the serving deployment's promoted config carries all traffic
    assert f"deployment:{old.id + 1}" in page  # the lock of the rollout in flight
    detail = client.get(f"/deployments/{old.id}").get_data(as_text=True)
    assert "bob" in detail and "auc_delta" in detail and "pass" in detail and "k" * 64 in detail
    support.advance(store, old.id + 1, "shifting", 50.0, "shifting A/B traffic on churn, now 50% on candidate")
    flight = client.get("/rollouts").get_data(as_text=True)
    assert "50.0%" in flight and "shifting A/B traffic" in flight and 'class="now">shifting' in flight


@pytest.mark.parametrize("login,why", [(support.OUTSIDER, "not a member of the acme organisation"),
                                       (support.PENDING, "a pending invitation to the acme organisation")])
def test_a_non_member_is_refused_and_gets_no_session(client, fake_github, login, why):
    r = sign_in(client, fake_github, login)
    assert r.status_code == 403 and why in r.get_data(as_text=True)
    after = client.get("/")
    assert after.status_code == 302 and after.headers["Location"].startswith("/login")


def test_teams_restrict_sign_in_to_their_members(bot_env, fake_github, tmp_path, store, queue):
    support.people(fake_github)
    settings = load_settings(support.ui_env(bot_env, fake_github, tmp_path, PUBLIC, teams=["ml-oncall"]))
    client = https_client(create_app(settings, store=store, queue=queue))
    r = sign_in(client, fake_github, support.MEMBER)
    assert r.status_code == 403 and "ml-oncall" in r.get_data(as_text=True)
    fake_github.add_team_member(support.ORG, "ml-oncall", support.MEMBER)
    assert sign_in(client, fake_github, support.MEMBER).status_code == 302
    assert client.get("/").status_code == 200
    assert fake_github.violations == []


def test_a_state_that_does_not_match_is_refused(client, fake_github):
    fake_github.sign_in_as(support.MEMBER)
    start = client.get("/login")
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back.headers["Location"]).query))
    forged = client.get("/oauth/callback?" + urllib.parse.urlencode({**query, "state": "forged" + query["state"]}))
    assert forged.status_code == 400 and "state" in forged.get_data(as_text=True)
    # The state was spent by the refusal: replaying the right one now fails too (no session state).
    assert client.get("/oauth/callback?" + urllib.parse.urlencode(query)).status_code == 400
    other = create_app_client_without_state(client)
    assert other.get("/oauth/callback?" + urllib.parse.urlencode(query)).status_code == 400
    assert client.get("/").status_code == 302


def create_app_client_without_state(client):
    return https_client(client.application)


def test_a_code_github_refuses_is_not_a_sign_in(client, fake_github):
    fake_github.sign_in_as(support.MEMBER)
    start = client.get("/login")
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.headers["Location"]).query))["state"]
    r = client.get("/oauth/callback?" + urllib.parse.urlencode({"state": state, "code": "not-a-code"}))
    assert r.status_code == 502 and "bad_verification_code" in r.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_forms_without_the_sessions_csrf_token_are_refused(client, fake_github):
    sign_in(client, fake_github, support.MEMBER)
    token = csrf_of(client.get("/").get_data(as_text=True))
    for form in ({}, {"csrf_token": ""}, {"csrf_token": token + "x"}):
        r = client.post("/logout", data=form)
        assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
        assert client.get("/").status_code == 200  # still signed in
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 200 and "Signed out" in r.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_the_session_cookie_is_secure_httponly_lax_and_bounded(client, fake_github, ui_settings):
    done = sign_in(client, fake_github, support.MEMBER)
    header = done.headers["Set-Cookie"]
    attrs = [a.strip().lower() for a in header.split(";")]
    assert header.startswith("__Host-modelbot=")  # the __Host- prefix: Secure, Path=/, no Domain
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(attrs)
    assert not any(a.startswith("domain=") for a in attrs)
    expires = next(a.split("=", 1)[1] for a in header.split(";") if a.strip().lower().startswith("expires="))
    left = (email.utils.parsedate_to_datetime(expires) - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert abs(left - ui_settings.session_hours * 3600) < 120
    cookie = client.get_cookie("__Host-modelbot")
    assert cookie is not None and cookie.secure and cookie.http_only and cookie.same_site == "Lax"
    # The user access token is in the cookie encrypted only, and on no page.
    token = next(iter(fake_github.user_tokens))
    assert token not in cookie.value
    for path in ("/", "/rollouts", "/locks", "/endpoints/production/churn"):
        assert token not in client.get(path).get_data(as_text=True)


def test_a_session_past_its_lifetime_is_over(client, fake_github, monkeypatch):
    sign_in(client, fake_github, support.MEMBER)
    assert client.get("/").status_code == 200
    import time as time_module

    real = time_module.time
    monkeypatch.setattr("bot.app.ui.time.time", lambda: real() + 9 * 3600)
    assert client.get("/").status_code == 302


def test_membership_is_asked_again_after_the_recheck_interval(client, fake_github, monkeypatch):
    sign_in(client, fake_github, support.MEMBER)
    assert client.get("/").status_code == 200
    del fake_github.org_members[(support.ORG, support.MEMBER)]  # removed from the organisation
    assert client.get("/").status_code == 200  # within recheck_seconds: the session's answer holds
    import time as time_module

    real = time_module.time
    monkeypatch.setattr("bot.app.ui.time.time", lambda: real() + 120)
    assert client.get("/").status_code == 302


def public_routes(app) -> set[str]:
    return {r.rule for r in app.url_map.iter_rules() if r.rule in ("/healthz", "/readyz", "/webhook")}


def test_every_route_but_health_webhook_and_sign_in_refuses_without_authentication(app):
    client = https_client(app)
    seen = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:int:)?(\w+)>", lambda m: "1" if m.group(0).startswith("<int") else "x", rule.rule)
        path = re.sub(r"<path:\w+>", "x", path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            r = client.open(path, method=method, environ_base={"REMOTE_ADDR": "203.0.113.9"})
            seen.append((rule.rule, method, r.status_code))
            if rule.rule in ("/healthz", "/readyz"):
                assert r.status_code in (200, 503)
            elif rule.rule == "/webhook":
                assert r.status_code == 401  # unsigned
            elif rule.rule == "/login":
                assert r.status_code == 302 and "/login/oauth/authorize" in r.headers["Location"]
            elif rule.rule == "/oauth/callback":
                assert r.status_code == 400
            elif rule.rule.startswith("/api/") or rule.rule == "/metrics":
                assert r.status_code == 401, (rule.rule, r.status_code)
            elif method == "GET":
                assert r.status_code == 302 and r.headers["Location"].startswith("/login?"), (rule.rule, r.status_code)
            else:
                assert r.status_code == 401, (rule.rule, method, r.status_code)
            body = r.get_data(as_text=True)
            assert "churn" not in body and "acme/models" not in body
    rules = {s[0] for s in seen}
    assert {"/", "/rollouts", "/locks", "/logout", "/endpoints/<environment>/<endpoint>", "/metrics"} <= rules
    # An unknown path is no way around it either.
    assert client.get("/no/such/page").status_code == 302


def test_without_sign_in_configured_the_ui_says_so_and_shows_nothing(settings, store, queue):
    support.seed(store)
    client = create_app(settings, store=store, queue=queue).test_client()
    r = client.get("/")
    assert r.status_code == 503 and "Sign-in is not configured" in r.get_data(as_text=True)
    assert "churn" not in r.get_data(as_text=True)
    assert client.get("/login").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_html_pages_carry_security_headers(client, fake_github):
    sign_in(client, fake_github, support.MEMBER)
    r = client.get("/")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"


def test_next_never_leaves_the_site(client, fake_github):
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        done = sign_in(client, fake_github, support.MEMBER, evil)
        assert done.status_code == 302 and done.headers["Location"] == "/"


def test_secrets_and_tokens_stay_out_of_the_logs(client, fake_github, ui_settings, caplog):
    caplog.set_level(logging.DEBUG)
    sign_in(client, fake_github, support.MEMBER)
    sign_in(client, fake_github, support.OUTSIDER)
    client.post("/logout", data={})
    from bot.core.logs import JsonFormatter, scrub

    raw = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)  # before any redaction
    formatted = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "ui sign-in" in raw and "ui sign-in refused: not a member" in raw and support.OUTSIDER in raw
    codes = [c for c in fake_github.codes]
    assert fake_github.user_tokens and codes
    for secret in (ui_settings.github_client_secret.get(), ui_settings.session_secret.get(),
                   *fake_github.user_tokens, *codes):
        assert secret not in raw and secret not in formatted
    for secret in (ui_settings.github_client_secret.get(), ui_settings.session_secret.get(), *fake_github.user_tokens):
        assert scrub(f"x {secret} y") == "x *** y"  # and were one ever logged, it would be redacted


def test_when_github_cannot_confirm_access_nothing_is_shown(client, fake_github, monkeypatch):
    sign_in(client, fake_github, support.MEMBER)
    import time as time_module

    real = time_module.time
    monkeypatch.setattr("bot.app.ui.time.time", lambda: real() + 120)  # a recheck is due
    fake_github.fail_next("GET", r"^/user/memberships/orgs/", status=502)
    r = client.get("/")
    assert r.status_code == 503 and "GitHub cannot confirm your access" in r.get_data(as_text=True)
    assert "churn" not in r.get_data(as_text=True)
    assert client.get("/").status_code == 200  # GitHub answers again: so does the UI
    fake_github.expire_user_tokens()
    monkeypatch.setattr("bot.app.ui.time.time", lambda: real() + 240)
    assert client.get("/").status_code == 302  # GitHub no longer takes the token: sign in again


def test_text_from_aws_or_people_is_escaped_on_pages(client, fake_github, store):
    sign_in(client, fake_github, support.MEMBER)
    old = store.deployments(repository=support.READABLE)[0]
    store.append_ledger_for(old, "correction", {"note": "<script>alert(1)</script>"}, actor="<b>eve</b>")
    store.save_deployment(old.id + 1, reason="<img src=x onerror=alert(1)>")
    support.advance(store, old.id + 1, "shifting", 20.0, "<script>alert(2)</script>")
    pages = [client.get(p).get_data(as_text=True) for p in
             ("/", "/rollouts", f"/deployments/{old.id}", f"/deployments/{old.id + 1}", "/endpoints/production/churn")]
    joined = "\n".join(pages)
    assert "<script>alert" not in joined and "<img src=x" not in joined and "<b>eve</b>" not in joined
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in joined


def test_sign_in_asks_github_a_request_per_100_repositories_not_one_per_repository(client, fake_github, store):
    for i in range(250):  # the bot has data of 250 more repositories; alice can read 150 of them
        name = f"acme/m{i:03d}"
        fake_github.add_repo(name, {"README.md": "x"})
        fake_github.set_permission(name, support.MEMBER, "read" if i % 5 < 3 else "none")
        store.claim_endpoint("staging", f"ep{i}", repository=name, manifest_path="m.yaml", how="deployed",
                             deployment_id=None)
    before = len(fake_github.calls)
    assert sign_in(client, fake_github, support.MEMBER).status_code == 302
    user_calls = [c for c in fake_github.calls[before:] if c.auth == "user"]
    # GET /user, the membership, the installations, two pages of 100 of acme's 151 readable repositories
    assert len(user_calls) == 5, [c.path for c in user_calls]
    assert fake_github.violations == []
    page = client.get("/").get_data(as_text=True)
    assert "acme/m000" in page and "acme/m002" in page and "acme/m247" in page
    assert "acme/m003" not in page and "acme/m249" not in page and "secret-models" not in page


def test_more_repositories_than_sign_in_reads_is_refused_with_a_reason(client, fake_github, monkeypatch):
    monkeypatch.setattr("bot.adapters.github_user.MAX_LIST_PAGES", 2)  # the installations + one page
    for i in range(100):
        fake_github.add_repo(f"acme/m{i:03d}", {"README.md": "x"})
        fake_github.set_permission(f"acme/m{i:03d}", support.MEMBER, "read")
    r = sign_in(client, fake_github, support.MEMBER)
    assert r.status_code == 502 and "more than 200 installations and repositories" in r.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_a_session_too_large_for_a_cookie_is_refused_with_a_reason(client, fake_github, store):
    for i in range(400):  # readable repositories with endpoints: more than a cookie holds
        name = f"acme/m-{secrets.token_hex(12)}"  # random: compression cannot shrink them
        fake_github.add_repo(name, {"README.md": "x"})
        fake_github.set_permission(name, support.MEMBER, "read")
        store.claim_endpoint("staging", f"ep{i}", repository=name, manifest_path="m.yaml", how="deployed",
                             deployment_id=None)
    r = sign_in(client, fake_github, support.MEMBER)
    assert r.status_code == 500 and "more than a session cookie holds" in r.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_machine_routes_open_no_session_and_set_no_cookie(client, fake_github, monkeypatch):
    sign_in(client, fake_github, support.MEMBER)
    decoded = []  # requests whose signed cookie Flask's session interface read
    real = SecureCookieSessionInterface.open_session
    monkeypatch.setattr(SecureCookieSessionInterface, "open_session",
                        lambda self, app, request: decoded.append(request.path) or real(self, app, request))
    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/trace/churn"):
        r = client.get(path)
        assert "Set-Cookie" not in r.headers, path
        assert sessionless_path(path)
    assert decoded == []
    assert client.get("/").status_code == 200  # the person's session is read there, and holds
    assert decoded == ["/"] and not sessionless_path("/")
