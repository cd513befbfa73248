"""Table tests for the pure deploy-gate rules: bot.core.gate, bot.core.ownership, bot.core.approvals, approval_check."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.approvals import Review, evaluate, ownership_changes
from bot.core.codeowners import parse_codeowners
from bot.core.config import EnvironmentConfig
from bot.app.services.approvals import approval_check
from bot.core.gate import Comparison, ConfigError, Evidence, GatePolicy, Override, decide
from bot.core.manifest import Problem, load_manifest
from bot.core.ownership import MANIFEST_TAG, Owner, check_endpoint

PATH = "models/a/modelbot.yaml"
ENVS = {"production": EnvironmentConfig(region="us-east-1", production=True),
        "staging": EnvironmentConfig(region="us-east-1")}
POLICY = GatePolicy.from_server_config(None, environments=ENVS)
OVERRIDE = Override("carol", "2026-01-01T00:00:00+00:00", "incident 42")


def approval(environment="production", *, required=1, reviewer="bob", state="APPROVED", commit="h1",
             held=False, owners=("bob",)):
    return evaluate(environment=environment, required=required, changed_paths=[PATH],
                    base_manifest_owners={PATH: owners}, codeowners=None,
                    reviews=[Review(reviewer, state, commit, "2026-01-01T00:00:00+00:00")],
                    author="alice", head_sha="h1", held=held)


def problem(rule, severity="error"):
    return Problem(PATH, 7, 3, "environments.production", None, f"broken by {rule}", None, rule, severity)


def evidence(environment="production", *, problems=(), approvals=None, comparison="pass", reviewed=None,
             override=None):
    return Evidence("deploy", PATH, environment, tuple(problems),
                    (approval(environment),) if approvals is None else tuple(approvals),
                    None if comparison is None else Comparison(comparison), reviewed, override)


# --- GatePolicy.from_server_config / meaning ---------------------------------------------------

@pytest.mark.parametrize("raw, env, verdict, meaning", [
    (None, "production", "fail", "refuse"),
    (None, "production", "error", "refuse"),
    (None, "production", "inconclusive", "refuse"),
    (None, "production", "skipped", "refuse"),
    (None, "production", "not_configured", "refuse"),
    (None, "staging", "fail", "refuse"),
    (None, "staging", "error", "refuse"),
    (None, "staging", "inconclusive", "allow"),
    (None, "staging", "skipped", "allow"),
    (None, "staging", "not_configured", "allow"),
    (None, "production", "pass", "allow"),
    (None, "staging", "pending", "wait"),
    (None, "production", "pending", "wait"),
    ({"comparison": {"production": {"inconclusive": "allow"}}}, "production", "inconclusive", "allow"),
    ({"comparison": {"production": {"inconclusive": "allow"}}}, "staging", "fail", "refuse"),
    ({"comparison": {"other": {"inconclusive": "refuse"}}}, "staging", "inconclusive", "refuse"),
    ({"comparison": {"other": {"inconclusive": "refuse"}}}, "production", "skipped", "refuse"),
    ({"comparison": {"environments": {"staging": {"fail": "allow"}}}}, "staging", "fail", "allow"),
    ({"comparison": {"other": {"fail": "allow"}, "environments": {"staging": {"fail": "refuse"}}}},
     "staging", "fail", "refuse"),
    ({"comparison": {"environments": {"production": {"not_configured": "allow"}}}},
     "production", "not_configured", "allow"),
])
def test_policy_meaning(raw, env, verdict, meaning):
    got, setting = GatePolicy.from_server_config(raw, environments=ENVS).meaning(env, verdict)
    assert got == meaning
    if verdict not in ("pass", "pending"):
        kind = "production" if env == "production" else "other"
        assert f"gate.comparison.{kind}.{verdict}" in setting


@pytest.mark.parametrize("raw, names", [
    ({"comparison": {"environments": {"qa": {"fail": "allow"}}}}, "gate.comparison.environments"),
    ({"comparison": {"production": {"fail": "maybe"}}}, "gate.comparison.production.fail"),
    ({"comparison": {"other": {"skipped": "yes"}}}, "gate.comparison.other.skipped"),
    ({"comparison": {"environments": {"staging": {"error": "wait"}}}}, "gate.comparison.environments.staging.error"),
    ({"comparison": {"production": {"failed": "allow"}}}, "gate.comparison.production.failed"),
    ({"comparisons": {}}, "gate.comparisons"),
])
def test_policy_config_errors(raw, names):
    with pytest.raises(ConfigError) as err:
        GatePolicy.from_server_config(raw, environments=ENVS, source="cfg.yaml")
    assert str(err.value).startswith("cfg.yaml: ") and names in str(err.value)


# --- decide ------------------------------------------------------------------------------------

FREEZE = problem("policy.environments.production.freezes[0]")
GLOBAL_FREEZE = problem("policy.freezes[1]")

# (evidence, verdict, reason rules left, lifted rules, liftable per remaining reason)
DECIDE = {
    "clean production": (evidence(), "allow", [], []),
    "no approvals at all": (evidence(approvals=()), "refuse", ["approvals"], []),
    "unsatisfied approvals": (evidence(approvals=[approval(reviewer="mallory")]), "refuse",
                              ["approvals", "approvals"], []),   # per path and in total
    "unsatisfied with override": (evidence(approvals=[approval(reviewer="mallory")], override=OVERRIDE), "refuse",
                                  ["approvals", "approvals"], []),
    "stale approval": (evidence(approvals=[approval(commit="old")]), "refuse", ["approvals", "approvals"], []),
    "changes requested": (evidence(approvals=[approval(state="CHANGES_REQUESTED")]), "refuse",
                          ["approvals", "approvals", "approvals"], []),
    "held": (evidence(approvals=[approval(held=True)]), "refuse", ["hold"], []),
    "held with override": (evidence(approvals=[approval(held=True)], override=OVERRIDE), "refuse", ["hold"], []),
    "freeze": (evidence(problems=[FREEZE]), "refuse", ["freeze"], []),
    "global freeze": (evidence(problems=[GLOBAL_FREEZE]), "refuse", ["freeze"], []),
    "freeze with override": (evidence(problems=[FREEZE], override=OVERRIDE), "allow", [], ["freeze"]),
    "ownership": (evidence(problems=[problem("ownership.endpoint")]), "refuse", ["ownership"], []),
    "ownership with override": (evidence(problems=[problem("ownership.endpoint")], override=OVERRIDE),
                                "refuse", ["ownership"], []),
    "policy with override": (evidence(problems=[problem("policy.environments.production.min_instance_count")],
                                      override=OVERRIDE), "refuse", ["policy"], []),
    "validation with override": (evidence(problems=[problem("schema")], override=OVERRIDE),
                                 "refuse", ["validation"], []),
    "rule-less problem": (evidence(problems=[problem(None)], override=OVERRIDE), "refuse", ["validation"], []),
    "warning only": (evidence(problems=[problem("schema", "warning"), problem("ownership.endpoint", "warning"),
                                        problem("policy.freezes[0]", "warning")]), "allow", [], []),
    "fail production": (evidence(comparison="fail"), "refuse", ["comparison"], []),
    "fail production override": (evidence(comparison="fail", override=OVERRIDE), "refuse", ["comparison"], []),
    "error production override": (evidence(comparison="error", override=OVERRIDE), "refuse", ["comparison"], []),
    "fail staging": (evidence("staging", comparison="fail"), "refuse", ["comparison"], []),
    "inconclusive production": (evidence(comparison="inconclusive"), "refuse", ["comparison"], []),
    "inconclusive production override": (evidence(comparison="inconclusive", override=OVERRIDE), "allow", [],
                                         ["comparison"]),
    "skipped production override": (evidence(comparison="skipped", override=OVERRIDE), "allow", [],
                                    ["comparison"]),
    "not_configured production": (evidence(comparison="not_configured"), "refuse", ["comparison"], []),
    "not_configured production override": (evidence(comparison="not_configured", override=OVERRIDE), "allow", [],
                                           ["comparison"]),
    "inconclusive staging": (evidence("staging", comparison="inconclusive"), "allow", [], []),
    "skipped staging": (evidence("staging", comparison="skipped"), "allow", [], []),
    "not_configured staging": (evidence("staging", comparison="not_configured"), "allow", [], []),
    "teardown, no comparison": (evidence(comparison=None), "allow", [], []),
    "pending alone": (evidence(comparison="pending"), "wait", ["comparison"], []),
    "pending staging": (evidence("staging", comparison="pending"), "wait", ["comparison"], []),
    "pending plus freeze": (evidence(comparison="pending", problems=[FREEZE]), "refuse", ["freeze", "comparison"], []),
    "pending plus no approvals": (evidence(comparison="pending", approvals=()), "refuse",
                                  ["approvals", "comparison"], []),
    "pending with override": (evidence(comparison="pending", override=OVERRIDE), "allow", [], ["comparison"]),
    "pending + freeze with override": (evidence(comparison="pending", problems=[FREEZE], override=OVERRIDE),
                                       "allow", [], ["freeze", "comparison"]),
    "reviewed": (evidence(reviewed="head moved after review"), "refuse", ["reviewed"], []),
    "reviewed with override": (evidence(reviewed="head moved after review", override=OVERRIDE), "refuse",
                               ["reviewed"], []),
    "freeze + ownership override": (evidence(problems=[FREEZE, problem("ownership.endpoint")], override=OVERRIDE),
                                    "refuse", ["ownership"], ["freeze"]),
}


@pytest.mark.parametrize("name", DECIDE)
def test_decide(name):
    ev, verdict, rules, lifted = DECIDE[name]
    d = decide(ev, POLICY)
    assert d.verdict == verdict
    assert [r.rule for r in d.reasons] == rules
    assert [r.rule for r in d.lifted] == lifted
    assert d.allowed == (verdict == "allow")
    assert d.override == ev.override
    if ev.override is not None:  # everything the override could lift was lifted
        assert not any(r.liftable for r in d.reasons)
    assert all(r.liftable for r in d.lifted)


@pytest.mark.parametrize("ev, rule, liftable", [
    (evidence(problems=[FREEZE]), "freeze", True),
    (evidence(problems=[problem("ownership.endpoint")]), "ownership", False),
    (evidence(problems=[problem("policy.environments.production.min_instance_count")]), "policy", False),
    (evidence(problems=[problem("schema")]), "validation", False),
    (evidence(comparison="fail"), "comparison", False),
    (evidence(comparison="error"), "comparison", False),
    (evidence(comparison="inconclusive"), "comparison", True),
    (evidence(comparison="not_configured"), "comparison", True),
    (evidence(comparison="pending"), "comparison", True),
    (evidence(reviewed="stale"), "reviewed", False),
    (evidence(approvals=[approval(held=True)]), "hold", False),
    (evidence(approvals=()), "approvals", False),
    (evidence(approvals=[approval(reviewer="mallory")]), "approvals", False),
    (evidence(approvals=[approval(state="CHANGES_REQUESTED")]), "approvals", False),
])
def test_reason_liftable(ev, rule, liftable):
    reasons = decide(ev, POLICY).reasons
    assert reasons and {(r.rule, r.liftable) for r in reasons} == {(rule, liftable)}


def test_decide_messages():
    none = decide(evidence(approvals=()), POLICY).reasons[0].message
    assert PATH in none and "nothing was approved" in none
    missing = [r.message for r in decide(evidence(approvals=[approval(reviewer="mallory")]), POLICY).reasons]
    assert missing == [f"production: 1 more approval from bob for {PATH}", "production: 1 more approval from bob in total"]
    blocked = decide(evidence(approvals=[approval(state="CHANGES_REQUESTED")]), POLICY).reasons[0].message
    assert blocked == "`bob` requested changes (production)"
    freeze = decide(evidence(problems=[FREEZE]), POLICY).reasons[0].message
    assert f"{PATH}:7" in freeze and "policy.environments.production.freezes[0]" in freeze
    fail = decide(evidence(comparison="fail"), POLICY).reasons[0].message
    assert "comparison fail" in fail and "gate.comparison.production.fail" in fail
    nc = decide(evidence(comparison="not_configured"), POLICY).reasons[0].message
    assert "no `validation:` section" in nc
    assert decide(evidence(reviewed="the head moved"), POLICY).reasons[0].message == "the head moved"


def test_unsatisfied_result_never_silent():
    """An unsatisfied result that names nothing missing still refuses."""
    from dataclasses import replace
    bare = replace(approval(), satisfied=False)
    d = decide(evidence(approvals=[bare]), POLICY)
    assert d.verdict == "refuse" and [r.message for r in d.reasons] == ["production: not approved"]


CODEOWNERS = parse_codeowners("models/ @carol\n", path=".github/CODEOWNERS")


@pytest.mark.parametrize("results, counted", [
    ([approval()], [("bob", (PATH,), "owner in the manifest at base")]),
    ([approval(reviewer="mallory")], []),
    ([approval(commit="old")], []),
    ([approval(), approval("staging")], [("bob", (PATH,), "owner in the manifest at base")]),
    ([evaluate(environment="production", required=2, changed_paths=[PATH, "models/b.yaml"],
               base_manifest_owners={PATH: ("bob",)}, codeowners=CODEOWNERS, author="alice", head_sha="h1",
               reviews=[Review("bob", "APPROVED", "h1", "2026-01-01T00:00:00+00:00"),
                        Review("carol", "APPROVED", "h1", "2026-01-01T01:00:00+00:00"),
                        Review("alice", "APPROVED", "h1", "2026-01-01T01:00:00+00:00"),
                        Review("dave", "APPROVED", "h1", "2026-01-01T01:00:00+00:00")])],
     [("bob", (PATH,), "owner at base (manifest and CODEOWNERS)"),
      ("carol", (PATH, "models/b.yaml"), "owner at base (manifest and CODEOWNERS); CODEOWNERS owner at base")]),
])
def test_counted_approvals(results, counted):
    d = decide(evidence(approvals=results), POLICY)
    assert [(a.user, a.paths, a.rule) for a in d.approvals] == counted
    expected_users = list(dict.fromkeys(u for r in results for p in r.paths for u in p.approved_by))
    assert list(d.approvers) == expected_users == [c[0] for c in counted]


# --- ownership.check_endpoint ------------------------------------------------------------------

EXAMPLE = (Path(__file__).resolve().parents[1] / "examples" / "realtime-canary.yaml").read_text()
CHURN = "models/churn/modelbot.yaml"
ENDPOINT_LINE = next(i for i, line in enumerate(EXAMPLE.splitlines(), 1) if "endpoint_name: fraud-detector\n"
                     in line + "\n")


def with_production(*lines):
    anchor = "    endpoint_name: fraud-detector\n"
    assert anchor in EXAMPLE
    return EXAMPLE.replace(anchor, anchor + "".join(f"    {line}\n" for line in lines))


def manifest(text=EXAMPLE):
    loaded = load_manifest(PATH, text)
    assert loaded.manifest is not None, [p.format() for p in loaded.problems]
    return loaded.manifest


MOVE = with_production(f"move_endpoint_from: {CHURN}")
MOVE_OTHER = with_production("move_endpoint_from: models/other/modelbot.yaml")
ADOPT = with_production("adopt_endpoint: true")

# (text, owner, live_exists, live_tags, how | None (a problem), move_from, words in the problem)
OWNERSHIP = {
    "fresh": (EXAMPLE, None, False, {}, "deployed", None, ()),
    "own": (EXAMPLE, Owner("acme/ml", PATH, "deployed"), True, {MANIFEST_TAG: PATH}, "deployed", None, ()),
    "own by tag": (EXAMPLE, None, True, {MANIFEST_TAG: PATH}, "deployed", None, ()),
    "other manifest": (EXAMPLE, Owner("acme/ml", CHURN, "deployed"), True, {}, None, None,
                       (CHURN, "cannot take over")),
    "moved": (MOVE, Owner("acme/ml", CHURN, "deployed"), True, {}, "moved", CHURN, ()),
    "moved from tag owner": (MOVE, None, True, {MANIFEST_TAG: CHURN}, "moved", CHURN, ()),
    "move from wrong path": (MOVE_OTHER, Owner("acme/ml", CHURN, "deployed"), True, {}, None, None,
                             (CHURN, "models/other/modelbot.yaml")),
    "move with no owner": (MOVE, None, False, {}, None, None, ("no owner to move it from",)),
    "untagged live": (EXAMPLE, None, True, {}, None, None, ("modelbot did not create it",)),
    "untagged live, other tags": (EXAMPLE, None, True, {"team": "fraud"}, None, None,
                                  ("modelbot did not create it",)),
    "adopted": (ADOPT, None, True, {}, "adopted", None, ()),
    "adopt, nothing live": (ADOPT, None, False, {}, "deployed", None, ()),
    "tag names another": (EXAMPLE, None, True, {MANIFEST_TAG: CHURN}, None, None, (CHURN, "modelbot:manifest tag")),
    "adopt, tag names another": (ADOPT, None, True, {MANIFEST_TAG: CHURN}, None, None, (CHURN,)),
    "other repository": (EXAMPLE, Owner("acme/other", CHURN, "deployed"), True, {}, None, None,
                         ("acme/other:" + CHURN,)),
    "other repository, move": (MOVE, Owner("acme/other", CHURN, "deployed"), True, {}, None, None,
                               ("acme/other:" + CHURN,)),
    "same path, other repository": (EXAMPLE, Owner("acme/other", PATH, "deployed"), True, {}, None, None,
                                    ("acme/other:" + PATH,)),
}


@pytest.mark.parametrize("name", OWNERSHIP)
def test_check_endpoint(name):
    text, owner, live, tags, how, move_from, words = OWNERSHIP[name]
    f = check_endpoint(manifest(text), "production", repository="acme/ml", path=PATH, owner=owner,
                       live_exists=live, live_tags=tags)
    if how is not None:
        assert (f.problems, f.how, f.move_from) == ((), how, move_from)
        return
    (p,) = f.problems
    assert (p.rule, p.path, p.line, p.field, p.value, p.is_error) == (
        "ownership.endpoint", PATH, ENDPOINT_LINE, "environments.production.endpoint_name", "fraud-detector", True)
    assert ENDPOINT_LINE == 49
    for word in words:
        assert word in p.message
    assert "fraud-detector" in p.message and p.expected


def test_check_endpoint_staging_is_separate():
    f = check_endpoint(manifest(), "staging", repository="acme/ml", path=PATH,
                       owner=Owner("acme/ml", CHURN, "deployed"), live_exists=True, live_tags={})
    (p,) = f.problems
    assert p.field == "environments.staging.endpoint_name" and p.value == "fraud-detector-staging"
    assert p.line == next(i for i, line in enumerate(EXAMPLE.splitlines(), 1) if "fraud-detector-staging" in line)


# --- approvals.ownership_changes ---------------------------------------------------------------

BASE = """\
* @root
models/x/ @bob
models/y/ @bob
models/z/ @carol
docs/ @dora
"""
HEAD_RULES = BASE.replace("models/x/ @bob", "models/x/ @mallory").replace("models/y/ @bob", "models/y/ @eve") \
    .replace("models/z/ @carol", "models/z/ @carol @mallory")
PATHS = ["models/x/m.yaml", "models/y/m.yaml", "models/z/m.yaml", "docs/a.md", "README.md"]
CO = ".github/CODEOWNERS"


@pytest.mark.parametrize("head, paths, changed, expected", [
    (HEAD_RULES, PATHS, [CO], (CO, "models/x/m.yaml", "models/z/m.yaml")),
    (HEAD_RULES, PATHS, [CO, "models/x/m.yaml", CO], (CO, "models/x/m.yaml", "models/z/m.yaml")),
    (HEAD_RULES, PATHS[1:], [CO], (CO, "models/y/m.yaml", "models/z/m.yaml")),
    (BASE + "# who owns what\n", PATHS, [CO], (CO,)),
    (BASE.replace("@dora", "@dora  # the docs team"), PATHS, [CO], (CO,)),
    (BASE.replace("@bob", "@BOB"), PATHS, [CO], (CO,)),           # owners are case-insensitive
    (BASE, PATHS, [], ()),
    (BASE.replace("docs/ @dora", "docs/ @dora\nREADME.md @dora"), PATHS, [CO], (CO, "README.md")),
    (BASE.replace("* @root\n", ""), PATHS, [CO], (CO, "README.md")),    # losing an owner is a change
    (BASE + "models/new/ @zed\n", PATHS + ["models/new/m.yaml"], [CO], (CO, "models/new/m.yaml")),
])
def test_ownership_changes(head, paths, changed, expected):
    got = ownership_changes(parse_codeowners(BASE, path=CO), parse_codeowners(head, path=CO), paths, changed)
    assert got == expected


def test_ownership_changes_none_sides():
    assert ownership_changes(None, None, PATHS, ["CODEOWNERS"]) == ("CODEOWNERS",)
    assert ownership_changes(None, parse_codeowners("* @a"), ["f"], []) == ("f",)


def test_ownership_changes_owner_order_is_not_a_change():
    head = BASE.replace("models/z/ @carol", "models/z/ @carol @dora")
    base = BASE.replace("models/z/ @carol", "models/z/ @dora @carol")
    assert ownership_changes(parse_codeowners(base), parse_codeowners(head), PATHS, []) == ()


# --- features.approvals.approval_check ---------------------------------------------------------

@pytest.mark.parametrize("results, touches, unreadable, conclusion", [
    ([], False, [], "success"),
    ([], True, [], "failure"),
    ([approval()], True, [], "success"),
    ([approval()], False, [], "success"),
    ([approval(), approval("staging")], True, [], "success"),
    ([approval(), approval(reviewer="mallory")], True, [], "failure"),
    ([approval(held=True)], True, [], "failure"),
    ([approval()], True, ["models/b/modelbot.yaml"], "failure"),
    ([], True, ["models/b/modelbot.yaml"], "failure"),
    ([approval(reviewer="mallory")], False, [], "failure"),
])
def test_approval_check(results, touches, unreadable, conclusion):
    out = approval_check(results, touches, unreadable)
    assert out.conclusion == conclusion
    assert out.title


def test_approval_check_unreadable_alone_fails():
    assert approval_check([], False, ["models/b/modelbot.yaml"]).conclusion == "failure"


MULTI_MODEL = (Path(__file__).resolve().parent.parent / "examples" / "multi-model.yaml").read_text()


@pytest.mark.parametrize("owner, problem", [
    (None, False),
    (Owner("acme/models", "models/mm/modelbot.yaml", "deployed", "production"), False),       # its own
    (Owner("acme/models", "models/other/modelbot.yaml", "deployed", "production"), True),    # another's
    (Owner("acme/models", "models/mm/modelbot.yaml", "deployed", "staging"), True),           # another env
    (Owner("acme/other", "models/mm/modelbot.yaml", "deployed", "production"), True),         # another repo
])
def test_a_multi_model_prefix_belongs_to_the_endpoint_that_serves_it(owner, problem):
    m = load_manifest("models/mm/modelbot.yaml", MULTI_MODEL).manifest
    env = next(e for e, s in m.environments.items() if s.mode == "multi_model")
    found = check_endpoint(m, env, repository="acme/models", path="models/mm/modelbot.yaml", owner=None,
                           live_exists=False, live_tags={}, prefix_owners=(owner,) if owner else ())
    assert bool(found.problems) == problem
    if problem:
        [p] = found.problems
        assert p.rule == "ownership.prefix" and p.field == f"environments.{env}.multi_model.prefix"
        assert MULTI_MODEL.splitlines()[p.line - 1].strip().startswith("prefix:")
