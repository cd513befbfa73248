"""Branch protection as a second lock: the report says when the base branch does not require
modelbot's checks, or that the App may not read its protection, and how to require them."""

from __future__ import annotations

import pytest

from bot.core.config import Secret
from bot.adapters.github import GitHubApp
from bot.adapters.github.protection import protection_section, read_protection
from bot.core.protection import REQUIRED_CHECKS, Reading, assess, classic_contexts, ruleset_contexts

REPO = "acme/models"
VALIDATE, APPROVAL, COMPARE = REQUIRED_CHECKS


def policy(contexts=(), checks=()):
    """A classic `required_status_checks` object; `checks` carry an app id, `contexts` do not."""
    return {"url": "u", "contexts_url": "u/contexts", "strict": False, "contexts": list(contexts),
            "checks": [{"context": c, "app_id": 4242} for c in checks]}


def rules(*contexts, other=("deletion",)):
    return [{"type": t, "ruleset_id": 1} for t in other] + [
        {"type": "required_status_checks", "ruleset_id": 2,
         "parameters": {"strict_required_status_checks_policy": False,
                        "required_status_checks": [{"context": c} for c in contexts]}}]


NO_RULES = Reading(200, [])
NOT_PROTECTED = Reading(404)
FORBIDDEN = Reading(403)


# --- the pure judgement ---------------------------------------------------------------------------


@pytest.mark.parametrize("classic, rulesets, missing, complete", [
    pytest.param(Reading(200, policy(contexts=REQUIRED_CHECKS)), NO_RULES, (), True, id="classic contexts"),
    pytest.param(Reading(200, policy(checks=REQUIRED_CHECKS)), NO_RULES, (), True, id="classic checks[].context"),
    pytest.param(Reading(200, policy(contexts=["ci", VALIDATE], checks=[APPROVAL])), NO_RULES, (COMPARE,), True,
                 id="classic contexts and checks together, one missing"),
    pytest.param(NOT_PROTECTED, Reading(200, rules(*REQUIRED_CHECKS)), (), True, id="rulesets only"),
    pytest.param(Reading(200, policy(contexts=[VALIDATE])), Reading(200, rules(APPROVAL, COMPARE)), (), True,
                 id="classic and rulesets add up"),
    pytest.param(NOT_PROTECTED, NO_RULES, REQUIRED_CHECKS, True, id="404: not protected"),
    pytest.param(NOT_PROTECTED, NOT_PROTECTED, REQUIRED_CHECKS, True, id="404 on both"),
    pytest.param(FORBIDDEN, NO_RULES, REQUIRED_CHECKS, False, id="403: classic protection unreadable"),
    pytest.param(FORBIDDEN, Reading(200, rules(*REQUIRED_CHECKS)), (), False,
                 id="403 but rulesets require all three"),
    pytest.param(Reading(200, policy(contexts=["ci"])), Reading(200, rules("lint", other=("pull_request",))),
                 REQUIRED_CHECKS, True, id="other checks only"),
])
def test_missing_checks_and_completeness(classic, rulesets, missing, complete):
    result = assess(classic, rulesets)

    assert result.missing == missing
    assert result.complete is complete
    assert result.ok is (missing == ())
    assert set(result.reasons) == {"classic", "rulesets"}


def test_reasons_name_each_source():
    result = assess(Reading(200, policy(contexts=[VALIDATE], checks=[APPROVAL])), FORBIDDEN)

    assert result.reasons["classic"] == "classic branch protection: `modelbot/validate`, `modelbot/approval` required"
    assert result.reasons["rulesets"] == "rulesets in effect: not readable (the App lacks Metadata: read)"
    assert result.unreadable == ("rulesets",)
    assert assess(FORBIDDEN, NOT_PROTECTED).reasons == {
        "classic": "classic branch protection: not readable (the App lacks Administration: read)",
        "rulesets": "rulesets in effect: none (no status checks required)"}
    assert assess(Reading(200, policy()), NO_RULES).reasons["rulesets"] == \
        "rulesets in effect: none of modelbot's checks required"


def test_context_extraction_reads_both_shapes_and_only_status_check_rules():
    assert classic_contexts(policy(contexts=["a"], checks=["b"])) == {"a", "b"}
    assert classic_contexts({"required_status_checks": policy(checks=["c"])}) == {"c"}
    assert classic_contexts(None) == set()
    assert ruleset_contexts(rules("x", "y")) == {"x", "y"}
    assert ruleset_contexts([{"type": "deletion"}, {"type": "pull_request", "parameters": {}}]) == set()


# --- the adapter against the fake GitHub ----------------------------------------------------------


@pytest.fixture
def repo(fake_github):
    inst = fake_github.add_installation("acme").id
    return fake_github.add_repo(REPO, installation_id=inst)


@pytest.fixture
def requester(fake_github, repo):
    app = GitHubApp(str(fake_github.app_id), Secret(fake_github.private_key_pem), fake_github.url)
    return app.client(repo.installation_id).requester


def test_unprotected_branch_gets_a_section_naming_the_three_checks_and_how(fake_github, repo, requester):
    section = protection_section(requester, REPO, "main")

    assert section is not None and section.title == "Branch protection"
    assert "does not require `modelbot/validate`, `modelbot/approval`, `modelbot/compare`" in section.body
    assert "Settings → Branches" in section.body and "Settings → Rules → Rulesets" in section.body
    assert "cannot tell" not in section.body
    assert fake_github.count("GET", "/protection/required_status_checks$") == 1
    assert fake_github.count("GET", "/rules/branches/main$") == 1
    assert fake_github.violations == []


def test_classic_protection_requiring_all_three_means_no_section(fake_github, repo, requester):
    fake_github.set_branch_protection(repo, "main", contexts=[VALIDATE], checks=[(APPROVAL, fake_github.app_id),
                                                                               (COMPARE, None)])

    assert protection_section(requester, REPO, "main") is None
    assert fake_github.violations == []


def test_rulesets_count_only_where_they_apply(fake_github, repo, requester):
    fake_github.create_branch(repo, "release/v1")
    fake_github.add_ruleset(repo, "release/*", required_checks=REQUIRED_CHECKS)
    fake_github.add_ruleset(repo, "~ALL", required_checks=[VALIDATE], enforcement="evaluate")

    assert read_protection(requester, REPO, "release/v1").ok
    assert read_protection(requester, REPO, "main").missing == REQUIRED_CHECKS
    assert fake_github.violations == []


def test_classic_and_rulesets_add_up_and_the_section_names_only_what_is_missing(fake_github, repo, requester):
    fake_github.set_branch_protection(repo, "main", contexts=["ci", VALIDATE])
    fake_github.add_ruleset(repo, required_checks=[(APPROVAL, fake_github.app_id)])

    section = protection_section(requester, REPO, "main")

    assert "does not require `modelbot/compare`." in section.body
    assert "classic branch protection: `modelbot/validate` required" in section.body
    assert "rulesets in effect: `modelbot/approval` required" in section.body
    assert fake_github.violations == []


def test_protection_without_required_checks_reads_as_none_required(fake_github, repo, requester):
    fake_github.set_branch_protection(repo, "main", contexts=None)

    result = read_protection(requester, REPO, "main")

    assert (result.missing, result.complete) == (REQUIRED_CHECKS, True)
    assert fake_github.requests("GET", "/protection/required_status_checks$")[0].status == 404
    assert fake_github.violations == []


def test_without_administration_permission_the_report_cannot_tell_and_says_what_to_grant(fake_github, repo,
                                                                                         requester):
    fake_github.set_branch_protection(repo, "main", contexts=REQUIRED_CHECKS)
    fake_github.set_installation_permission(repo.installation_id, "administration", None)

    section = protection_section(requester, REPO, "main")

    assert fake_github.requests("GET", "/protection/required_status_checks$")[-1].status == 403
    assert "cannot tell whether the base branch `main` requires" in section.body
    assert "**Administration: read**" in section.body
    assert "does not require" not in section.body
    assert fake_github.violations == []


def test_without_administration_rulesets_still_suffice(fake_github, repo, requester):
    fake_github.set_installation_permission(repo.installation_id, "administration", None)
    fake_github.add_ruleset(repo, required_checks=REQUIRED_CHECKS)

    result = read_protection(requester, REPO, "main")

    assert result.ok and not result.complete
    assert protection_section(requester, REPO, "main") is None
    assert fake_github.violations == []


def test_other_errors_are_raised_not_taken_for_an_answer(fake_github, repo, requester):
    from github import GithubException

    fake_github.fail_next("GET", "/protection/required_status_checks$", status=422)

    with pytest.raises(GithubException) as caught:
        read_protection(requester, REPO, "main")
    assert caught.value.status == 422
