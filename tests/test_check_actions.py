"""Check run buttons (bot.core.check_actions): offered only where the state allows them, within
GitHub's limits as its REST description states them, and parsed back only into what is offered."""

from __future__ import annotations

import pytest

from bot.core.check_actions import (
    DeploymentView, Offer, compare_offers, deploy_offers, github_actions, parse_identifier,
)
from tests.support.github_contract import load_contract_json


def _actions_schema() -> dict:
    doc = load_contract_json("github-rest.subset.json")
    body = doc["paths"]["/repos/{owner}/{repo}/check-runs"]["post"]["requestBody"]["content"]["application/json"]
    return body["schema"]["properties"]["actions"]


def test_the_limits_are_githubs():
    schema = _actions_schema()
    props = schema["items"]["properties"]
    from bot.core import check_actions as ca

    assert (ca.MAX_ACTIONS, ca.LABEL_MAX, ca.DESCRIPTION_MAX, ca.IDENTIFIER_MAX) == (
        schema["maxItems"], props["label"]["maxLength"], props["description"]["maxLength"],
        props["identifier"]["maxLength"])


@pytest.mark.parametrize("env", ["staging", "production", "e", "eleven-char"])
def test_every_button_fits_githubs_limits(env):
    offers = [Offer("promote", env), Offer("rollback", env), Offer("abort", env), Offer("rerun")]
    for action in github_actions(offers[:3]) + github_actions(offers[3:]):
        assert len(action["label"]) <= 20 and len(action["description"]) <= 40 and len(action["identifier"]) <= 20
        assert parse_identifier(action["identifier"]) in offers


def test_an_environment_name_too_long_for_an_identifier_gets_no_button():
    assert deploy_offers([DeploymentView("a-very-long-environment-name", "running")]) == []


def running(flow=None, phase=None, env="production", status="running", kind=None):
    return DeploymentView(env, status, kind, flow, phase)


@pytest.mark.parametrize("rows, expected", [
    ([], []),
    ([running(status="succeeded")], []),
    ([running(flow="guarded", phase="bake")], ["rollback:production", "abort:production"]),
    ([running(flow="ab", phase="smoke")], ["rollback:production", "abort:production"]),
    ([running(flow="ab", phase="experiment")], ["promote:production", "rollback:production", "abort:production"]),
    ([running(flow="shadow", phase="experiment")], ["promote:production", "rollback:production", "abort:production"]),
    ([running(kind="teardown")], []),  # nothing deleted comes back: a teardown cannot be stopped
    ([running(env="staging", status="succeeded"), running(env="production", status="pending")],
     ["rollback:production", "abort:production"]),
])
def test_deploy_buttons_follow_the_rollouts_state(rows, expected):
    assert [o.identifier for o in deploy_offers(rows)] == expected


def test_re_run_comparison_only_on_a_finished_comparison():
    assert compare_offers(False) == []
    assert [o.command for o in compare_offers(True)] == ["/validate"]


@pytest.mark.parametrize("identifier", [None, 7, "", "deploy:production", "promote", "rerun:staging",
                                        "abort:" + "x" * 30, "lgtm|26764"])
def test_identifiers_modelbot_never_offers_are_not_parsed(identifier):
    assert parse_identifier(identifier) is None


def test_a_button_is_its_command():
    assert [Offer(v, "staging").command for v in ("promote", "rollback", "abort")] == [
        "/promote staging", "/rollback staging", "/abort staging"]


def test_a_button_that_does_not_fit_is_not_sent():
    assert github_actions([Offer("rollback", "twelve-chars")]) == []
