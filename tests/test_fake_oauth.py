"""FakeGitHub's OAuth web flow and user access tokens (tests/support/fake_oauth.py) behave as
GitHub documents them, so that the status UI's sign-in tests prove something."""

from __future__ import annotations

import urllib.parse

import pytest
import requests

CALLBACK = "https://modelbot.example/oauth/callback"


@pytest.fixture
def gh(fake_github):
    fake_github.set_callback_url(CALLBACK)
    fake_github.add_repo("acme/models", {"README.md": "x"})
    fake_github.add_repo("acme/private", {"README.md": "x"})
    fake_github.add_org_member("acme", "alice")
    fake_github.set_permission("acme/models", "alice", "read")
    fake_github.sign_in_as("alice")
    return fake_github


def authorize(gh, **params):
    query = {"client_id": gh.client_id, "redirect_uri": CALLBACK, "state": "s1", **params}
    r = requests.get(f"{gh.url}/login/oauth/authorize", params=query, allow_redirects=False, timeout=5)
    return r, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.headers.get("Location", "")).query))


def exchange(gh, code, **override):
    form = {"client_id": gh.client_id, "client_secret": gh.client_secret, "code": code, "redirect_uri": CALLBACK,
            **override}
    return requests.post(f"{gh.url}/login/oauth/access_token", data=form, headers={"Accept": "application/json"},
                         timeout=5).json()


def test_the_web_flow_gives_a_user_token_once_per_code(gh):
    r, back = authorize(gh)
    assert r.status_code == 302 and r.headers["Location"].startswith(CALLBACK + "?") and back["state"] == "s1"
    body = exchange(gh, back["code"])
    assert body["token_type"] == "bearer" and body["access_token"].startswith("ghu_")
    assert exchange(gh, back["code"])["error"] == "bad_verification_code"  # spent
    me = requests.get(f"{gh.url}/user", headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5)
    assert me.status_code == 200 and me.json()["login"] == "alice"


def test_the_flow_refuses_what_github_refuses(gh):
    r, _ = authorize(gh, client_id="Iv1.unknown")
    assert r.status_code == 404
    r, back = authorize(gh, redirect_uri="https://evil.example/cb")
    assert r.status_code == 302 and back["error"] == "redirect_uri_mismatch"
    assert r.headers["Location"].startswith(CALLBACK)
    _, back = authorize(gh)
    assert exchange(gh, back["code"], client_secret="wrong")["error"] == "incorrect_client_credentials"
    assert exchange(gh, back["code"], redirect_uri=CALLBACK + "/other")["error"] == "redirect_uri_mismatch"


def test_a_user_token_reads_only_what_the_person_may(gh):
    token = gh.user_token_for("alice")
    headers = {"Authorization": f"Bearer {token}"}
    ok = requests.get(f"{gh.url}/repos/acme/models", headers=headers, timeout=5)
    assert ok.status_code == 200 and ok.json()["permissions"]["pull"] is True and ok.json()["permissions"]["push"] is False
    assert requests.get(f"{gh.url}/repos/acme/private", headers=headers, timeout=5).status_code == 404
    member = requests.get(f"{gh.url}/user/memberships/orgs/acme", headers=headers, timeout=5)
    assert member.status_code == 200 and member.json()["state"] == "active"
    assert requests.get(f"{gh.url}/user/memberships/orgs/other", headers=headers, timeout=5).status_code == 404
    outsider = {"Authorization": f"Bearer {gh.user_token_for('mallory')}"}
    assert requests.get(f"{gh.url}/orgs/acme/teams/t/memberships/alice", headers=outsider, timeout=5).status_code == 404
    gh.expire_user_tokens()
    assert requests.get(f"{gh.url}/user", headers=headers, timeout=5).status_code == 401
