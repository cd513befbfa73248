"""The status UI's access decisions (bot/core/access.py), as pure functions."""

from __future__ import annotations

from bot.core.access import (address_allowed, bearer_matches, can_see, member_decision, needs_recheck, new_secret,
                             public_path, safe_return_path, same_secret, session_current, token_path,
                             visible_repositories)


def test_only_active_members_of_the_organisation_and_teams_are_let_in():
    assert member_decision("acme", "active", [], {}).allowed
    assert not member_decision("acme", "pending", [], {}).allowed
    assert "pending invitation" in member_decision("acme", "pending", [], {}).reason
    assert not member_decision("acme", None, [], {}).allowed
    assert not member_decision("acme", "active", ["oncall", "ml"], {"oncall": None, "ml": "pending"}).allowed
    ok = member_decision("acme", "active", ["oncall", "ml"], {"oncall": None, "ml": "active"})
    assert ok.allowed and "ml" in ok.reason
    assert not member_decision("acme", None, ["ml"], {"ml": "active"}).allowed  # a team without the org: no


def test_repositories_are_filtered_case_insensitively():
    assert visible_repositories(["Acme/Models", "acme/secret", ""], ["acme/models"]) == ["Acme/Models"]
    assert can_see("ACME/models", ["acme/Models"]) and not can_see("acme/secret", ["acme/models"])
    assert not can_see(None, ["acme/models"]) and not can_see("", [""])


def test_secrets_compare_only_when_both_are_given_and_equal():
    s = new_secret()
    assert len(s) >= 40 and s != new_secret()
    assert same_secret(s, s) and not same_secret(s, s + "x")
    assert not same_secret("", "") and not same_secret(None, None) and not same_secret(s, None)
    assert not same_secret(["a"], ["a"])


def test_sessions_end_at_their_lifetime_and_are_rechecked():
    assert session_current(1000.0, 1000.0 + 3599, 3600) and not session_current(1000.0, 1000.0 + 3600, 3600)
    assert not session_current(None, 1000, 3600) and not session_current(True, 1000, 3600)
    assert not session_current(5000.0, 1000.0, 3600)  # from the future
    assert not needs_recheck(1000.0, 1059.0, 60) and needs_recheck(1000.0, 1060.0, 60)
    assert needs_recheck(None, 1000.0, 60) and needs_recheck(9999.0, 1000.0, 60)


def test_operator_addresses_and_bearer_tokens():
    nets = ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert address_allowed("10.2.3.4", nets) and address_allowed("::1", nets)
    assert not address_allowed("203.0.113.9", nets) and not address_allowed(None, nets)
    assert not address_allowed("not-an-ip", nets) and not address_allowed("10.0.0.1", ())
    tokens = ["a" * 40, "b" * 40]
    assert bearer_matches("Bearer " + "b" * 40, tokens) and bearer_matches("bearer " + "a" * 40, tokens)
    assert not bearer_matches("Basic " + "a" * 40, tokens) and not bearer_matches("Bearer ", tokens)
    assert not bearer_matches("Bearer " + "c" * 40, tokens) and not bearer_matches("Bearer x", [])


def test_public_paths_are_health_webhook_and_sign_in_only():
    assert all(public_path(p) for p in ("/healthz", "/readyz", "/webhook", "/login", "/oauth/callback"))
    assert not any(public_path(p) for p in ("/", "/rollouts", "/logout", "/healthz/x", "/metrics", "/api/v1/trace/x"))
    assert token_path("/metrics") and token_path("/api/v1/trace/x") and not token_path("/")


def test_the_return_path_after_sign_in_stays_on_the_site_and_fits_a_header():
    assert safe_return_path("/endpoints/production/churn?x=1") == "/endpoints/production/churn?x=1"
    for bad in (None, "", "x", "https://evil.example", "//evil.example", "/\\evil.example", "/\t/evil.example",
                "/\n/evil.example", "/\r\nSet-Cookie: a=b", "/a\x00b", "/a b", "/a\x7fb", "/login", "/oauth/callback"):
        assert safe_return_path(bad) == "/", repr(bad)
