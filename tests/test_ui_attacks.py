"""Attacks on the status UI's sign-in and access checks (security review of issue #16 part 4):
each test is one attack an outsider or a signed-in member of another team would try."""

from __future__ import annotations

import urllib.parse

import pytest
import requests

from tests.support import ui as support
from tests.test_ui import app, client, csrf_of, https_client, sign_in, ui_settings  # noqa: F401  (fixtures)


def cookie_of(client):
    return {c.key: c.value for c in client._cookies.values()}


def stolen(client):
    """The browser's cookies as they are now (a copy an attacker kept)."""
    return dict(client._cookies)


def replay(client, cookies):
    """Another browser sending copied cookies."""
    thief = https_client(client.application)
    thief._cookies.update(cookies)
    return thief


def test_a_session_cookie_kept_from_before_sign_out_no_longer_signs_in(client, fake_github):
    sign_in(client, fake_github, support.MEMBER)
    kept = stolen(client)
    token = csrf_of(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 200
    thief = replay(client, kept)
    r = thief.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")  # the store knows it ended
    assert thief.post("/logout", data={"csrf_token": token}).status_code == 401
    again = https_client(client.application)  # signing in again is a new session, not the ended one
    sign_in(again, fake_github, support.MEMBER)
    assert again.get("/").status_code == 200


def test_a_forged_or_malformed_session_cookie_is_no_session(client, fake_github):
    for value in ("eyJsb2dpbiI6ImFsaWNlIn0.forged.sig", "x" * 5000, "\u00ff\u00fe", ""):
        c = https_client(client.application)
        c.set_cookie("__Host-modelbot", value, domain="modelbot.example", secure=True)
        r = c.get("/")
        assert r.status_code == 302, value[:20]


@pytest.mark.parametrize("next_path", ["/\t/evil.example", "/\n/evil.example", "https://evil.example",
                                       "//evil.example", "/\\evil.example", "/%0d%0aSet-Cookie:x=1",
                                       "/\r\nSet-Cookie: x=1", "///evil.example", "/.//evil.example"])
def test_the_return_path_never_leaves_the_site(client, fake_github, next_path):
    done = sign_in(client, fake_github, support.MEMBER, next_path)
    assert done.status_code == 302
    location = done.headers["Location"]
    assert "\n" not in location and "\r" not in location
    parsed = urllib.parse.urlsplit(location.replace("\t", ""))
    assert not parsed.netloc and not parsed.scheme and not location.startswith("//")
    assert client.get("/").status_code == 200  # and the sign-in happened


def test_the_callback_url_replayed_after_sign_in_is_refused(client, fake_github):
    fake_github.sign_in_as(support.MEMBER)
    start = client.get("/login")
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    cb = urllib.parse.urlsplit(back.headers["Location"])
    assert client.get(f"{cb.path}?{cb.query}").status_code == 302
    other = https_client(client.application)
    assert other.get(f"{cb.path}?{cb.query}").status_code == 400
    # The same browser, signed in, replaying it: the state is spent.
    r = client.get(f"{cb.path}?{cb.query}")
    assert r.status_code == 400


def test_an_error_from_github_is_refused_and_spends_the_state(client, fake_github):
    fake_github.sign_in_as(support.MEMBER)
    start = client.get("/login")
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.headers["Location"]).query))["state"]
    r = client.get("/oauth/callback?" + urllib.parse.urlencode({"error": "access_denied", "state": state,
                                                               "error_description": "<script>x</script>"}))
    assert r.status_code == 403 and "<script>" not in r.get_data(as_text=True)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("path", ["/endpoints/production/FRAUD", "/endpoints/production/fraud/",
                                  "/endpoints/production/fraud%2F", "/endpoints/production/..%2Ffraud",
                                  "/endpoints/PRODUCTION/fraud", "/endpoints/production/fraud%00",
                                  "/endpoints/production/%66raud"])
def test_variants_of_an_unreadable_endpoint_path_show_nothing_of_it(client, fake_github, path):
    sign_in(client, fake_github, support.MEMBER)
    r = client.get(path)
    assert r.status_code in (404, 308), path
    assert "eve" not in r.get_data(as_text=True) and "secret-models" not in r.get_data(as_text=True)


def test_other_methods_and_slash_variants_need_a_session(client):
    for method in ("HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "POST"):
        for path in ("/", "/rollouts", "/locks", "/drift", "/rollouts/", "/deployments/1", "/static/x.css",
                     "/healthz/", "/login/", "/nope"):
            r = client.open(path, method=method)
            body = r.get_data(as_text=True)
            assert r.status_code in (302, 401, 404, 405), (method, path, r.status_code)
            assert "churn" not in body and "acme/models" not in body, (method, path)


def test_the_user_token_appears_in_no_page_header_or_cookie_in_clear(client, fake_github):
    done = sign_in(client, fake_github, support.MEMBER)
    tokens = [t for t in getattr(fake_github, "issued_user_tokens", [])] or []
    pages = [done] + [client.get(p) for p in ("/", "/rollouts", "/locks", "/drift", "/endpoints/production/churn")]
    text = "".join(p.get_data(as_text=True) + str(p.headers) for p in pages) + str(cookie_of(client))
    assert "ghu_" not in text
    for t in tokens:
        assert t not in text


def test_a_session_of_a_member_whose_membership_becomes_pending_ends(client, fake_github, monkeypatch):
    import time as _time
    sign_in(client, fake_github, support.MEMBER)
    assert client.get("/").status_code == 200
    fake_github.add_org_member(support.ORG, support.MEMBER, state="pending")
    now = _time.time()
    monkeypatch.setattr("bot.app.ui.time.time", lambda: now + 3600)
    assert client.get("/").status_code == 302


def test_a_copied_session_cookie_does_sign_in_the_copy(client, fake_github):
    """The control for the sign-out replay test: the copy is sent and works while signed in."""
    sign_in(client, fake_github, support.MEMBER)
    thief = replay(client, stolen(client))
    r = thief.get("/")
    assert r.status_code == 200, (name, value[:30], r.headers.get("Location"))


METRICS_TOKEN = "m" * 40
API_TOKEN = "api-token-" + "q" * 30  # not a commit SHA of the tests: a registered token is redacted process-wide


@pytest.fixture
def token_app(bot_env, store, queue):
    from bot.app.web import create_app
    from bot.core.config import load_settings
    return create_app(load_settings({**bot_env, "MODELBOT_API_TOKENS": API_TOKEN,
                                     "MODELBOT_METRICS_TOKENS": METRICS_TOKEN}), store=store, queue=queue)


def test_metrics_believe_no_forwarded_header_and_no_mapped_or_spoofed_address(token_app):
    c = token_app.test_client()
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    for headers in ({"X-Forwarded-For": "127.0.0.1"}, {"X-Real-IP": "127.0.0.1"}, {"Forwarded": "for=127.0.0.1"},
                    {"Authorization": "Bearer "}, {"Authorization": "Bearer"}, {"Authorization": "Basic " + "m" * 40},
                    {"Authorization": "Bearer " + METRICS_TOKEN[:-1]}, {"Authorization": "Bearer " + METRICS_TOKEN + "x"}):
        r = c.get("/metrics", environ_base=outside, headers=headers)
        assert r.status_code == 401 and "modelbot_" not in r.get_data(as_text=True), headers
    assert c.get(f"/metrics?token={METRICS_TOKEN}", environ_base=outside).status_code == 401
    assert c.get("/metrics", environ_base={"REMOTE_ADDR": "::ffff:203.0.113.9"}).status_code == 401
    assert c.get("/metrics", environ_base={"REMOTE_ADDR": "not-an-ip"}).status_code == 401
    assert c.get("/metrics", environ_base=outside, headers={"Authorization": "bEaReR " + METRICS_TOKEN}).status_code == 200
    for method, path in (("POST", "/metrics"), ("GET", "/metrics/"), ("GET", "/Metrics")):
        r = c.open(path, method=method, environ_base=outside)  # 503 here: this app has no sign-in configured
        assert r.status_code in (302, 401, 404, 405, 503) and "modelbot_" not in r.get_data(as_text=True), path


def test_the_api_takes_only_a_bearer_header_never_a_query_token(token_app):
    c = token_app.test_client()
    for kwargs in ({"query_string": {"token": API_TOKEN}}, {"query_string": {"access_token": API_TOKEN}},
                   {"headers": {"Authorization": "Bearer "}}, {"headers": {"Authorization": API_TOKEN}},
                   {"headers": {"Authorization": "Token " + API_TOKEN}},
                   {"headers": {"Authorization": "Bearer " + METRICS_TOKEN}}):
        r = c.get("/api/v1/trace/churn", **kwargs)
        assert r.status_code == 401, kwargs
    for method in ("HEAD", "OPTIONS", "POST", "DELETE"):
        assert c.open("/api/v1/trace/churn", method=method).status_code == 401, method
    ok = c.get("/api/v1/trace/churn", headers={"Authorization": "Bearer " + API_TOKEN})
    assert ok.status_code in (200, 404)


def test_pages_answered_without_a_session_and_errors_carry_the_security_headers(client, fake_github):
    for path in ("/login", "/", "/nope"):
        r = client.get(path)
        assert r.headers.get("Cache-Control") == "no-store", path
    sign_in(client, fake_github, support.MEMBER)
    for path in ("/endpoints/production/fraud", "/nope", "/deployments/999999"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.headers.get("X-Frame-Options") == "DENY" and "frame-ancestors 'none'" in r.headers[
            "Content-Security-Policy"], path


def test_when_github_fails_during_sign_in_no_session_is_made(client, fake_github, monkeypatch):
    import bot.adapters.github_user as gu
    def down(self, path):
        raise gu.GitHubUserError("GitHub answered 502")
    monkeypatch.setattr(gu.UserApi, "_get", down)
    r = sign_in(client, fake_github, support.MEMBER)
    assert r.status_code == 502
    monkeypatch.undo()
    assert client.get("/").status_code == 302


def test_sign_out_is_post_only_and_login_callback_take_no_other_method(client, fake_github):
    sign_in(client, fake_github, support.MEMBER)
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200  # a GET (an <img> on another site) did not sign out
    for method in ("POST", "PUT", "DELETE"):
        assert client.open("/oauth/callback", method=method).status_code == 405, method
    assert client.get("/").status_code == 200


def test_a_member_of_another_team_sees_none_of_the_repository_through_any_page(client, fake_github, store):
    sign_in(client, fake_github, support.MEMBER)
    secret = next(r for r in store.deployments(repository=support.HIDDEN))
    for pk in (secret.id, -1, 0, 10**12):
        r = client.get(f"/deployments/{pk}")
        assert r.status_code == 404 and "secret-models" not in r.get_data(as_text=True)
    for path in ("/", "/rollouts", "/locks", "/drift"):
        body = client.get(path).get_data(as_text=True)
        assert "secret-models" not in body and "fraud" not in body, path


def test_the_api_answers_a_nul_byte_in_its_parameters_without_a_server_error(token_app):
    c = token_app.test_client()
    auth = {"Authorization": "Bearer " + API_TOKEN}
    for url in ("/api/v1/trace/churn%00", "/api/v1/trace/churn?environment=prod%00",
                "/api/v1/trace/churn?repository=acme/x%00"):
        assert c.get(url, headers=auth).status_code in (400, 404), url


def test_a_link_to_login_from_another_site_does_not_sign_anyone_out(client, fake_github):
    sign_in(client, fake_github, support.MEMBER)
    start = client.get("/login?next=/locks")
    assert start.status_code == 302
    assert client.get("/").status_code == 200  # still signed in
    # ...and the callback, when it comes, replaces the session with a fresh one.
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    cb = urllib.parse.urlsplit(back.headers["Location"])
    done = client.get(f"{cb.path}?{cb.query}")
    assert done.status_code == 302 and done.headers["Location"] == "/locks"
    assert client.get("/").status_code == 200
