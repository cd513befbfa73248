"""bot.core.drift: what differs between a live endpoint, the default branch and the ledger. Pure."""

from __future__ import annotations

from dataclasses import replace

from bot.core.drift import EndpointFacts, LastDeployment, find_drift
from bot.core.plan import DeploySpec, LiveState, live_after, plan
from tests.deploy.helpers import COMMIT1, COMMIT2, PRICES, example

PATH = "models/minimal/modelbot.yaml"
SPEC = DeploySpec(example("minimal"), "staging", COMMIT1)
FIRST = plan(SPEC, LiveState(), PRICES)


def live():
    state = live_after(FIRST, SPEC)
    return replace(state, tags={**state.tags, "modelbot:manifest": PATH})


def facts(**kw) -> EndpointFacts:
    lv = kw.pop("live", live())
    values = dict(repository="acme/models", environment="staging", endpoint=FIRST.names.endpoint,
                  manifest_path=PATH, declared=True, live=lv,
                  plan=plan(DeploySpec(example("minimal"), "staging", COMMIT2), lv, PRICES) if lv else None,
                  last=LastDeployment(7, "succeeded", COMMIT1, 12))
    values.update(kw)
    return EndpointFacts(**values)


def kinds(f: EndpointFacts) -> list[str]:
    return [x.kind for x in find_drift(f)]


def test_an_endpoint_as_declared_has_no_drift():
    assert kinds(facts()) == []


def test_a_change_outside_modelbot_is_reported_with_the_plan_and_the_fix():
    lv = live()
    changed = replace(lv, variants=(replace(lv.variants[0], instance_count=5),))
    [f] = find_drift(facts(live=changed))
    assert f.kind == "changed_outside" and "changed outside modelbot" in f.detail
    assert f.changes == ("AllTraffic.instance_count: 5 live, 1 declared",), f.changes
    assert f.fix.startswith("on #12: `/rollback staging to 1111111")


def test_a_failed_rollout_left_behind_is_not_called_an_outside_change():
    lv = live()
    changed = replace(lv, config_digest="something-else")
    assert kinds(facts(live=changed, last=LastDeployment(8, "rolled_back", COMMIT2, 13))) == ["left_behind"]


def test_missing_orphaned_broken_untagged():
    assert kinds(facts(live=LiveState(), plan=None)) == ["missing"]
    assert kinds(facts(live=LiveState(), plan=None, last=None)) == []  # never deployed: nothing went missing
    assert kinds(facts(declared=False, plan=None)) == ["orphaned"]
    assert kinds(facts(declared=False, live=LiveState(), plan=None)) == []
    assert kinds(facts(live=replace(live(), endpoint_status="Failed"))) == ["broken"]
    assert kinds(facts(live=replace(live(), tags={}))) == ["untagged"]
    assert kinds(facts(live=replace(live(), tags={"modelbot:manifest": "models/other/modelbot.yaml"}))) == ["untagged"]


def test_nothing_is_judged_while_a_deployment_moves_it_or_when_aws_was_not_read():
    lv = replace(live(), variants=(replace(live().variants[0], instance_count=5),))
    assert kinds(facts(live=lv, in_flight=True)) == []
    assert kinds(facts(live=None, plan=None)) == []


def test_a_component_on_a_shared_endpoint_is_judged_by_its_own_state():
    spec = DeploySpec(example("inference-component"), "production", COMMIT1)
    lv = live_after(plan(spec, LiveState(), PRICES), spec)
    comp = lv.components[0]
    mine = replace(comp, tags={**comp.tags, "modelbot:manifest": PATH})
    lv = replace(lv, components=(mine,))
    base = dict(live=lv, plan=None, component=comp.name, endpoint=lv.endpoint_name, environment="production")
    assert kinds(facts(**base)) == []
    assert kinds(facts(**{**base, "live": replace(lv, components=())})) == ["missing"]
    failed = replace(lv, components=(replace(mine, status="Failed", failure_reason="OOM"),))
    [f] = find_drift(facts(**{**base, "live": failed}))
    assert f.kind == "broken" and "OOM" in f.detail and f.component == comp.name


def test_managed_instance_scaling_and_a_deploy_of_an_open_pull_request_are_not_drift():
    spec = DeploySpec(example("inference-component"), "production", COMMIT1)
    lv = live_after(plan(spec, LiveState(), PRICES), spec)
    lv = replace(lv, variants=(replace(lv.variants[0], instance_count=2),),  # SageMaker added an instance
                 tags={**lv.tags, "modelbot:manifest": PATH})
    p = plan(spec, lv, PRICES)
    assert kinds(facts(live=lv, plan=p, environment="production", endpoint=lv.endpoint_name)) == []
    lv2 = live()
    changed = replace(lv2, variants=(replace(lv2.variants[0], instance_count=5),))
    pr_deploy = LastDeployment(9, "succeeded", COMMIT2, 14, trigger="command")
    assert kinds(facts(live=changed, last=pr_deploy)) == []


def test_what_the_issue_says_pings_nobody_and_stays_within_githubs_limit():
    from bot.app.services.drift import MARKER, MAX_SHOWN, _quiet
    from bot.core.drift import DriftFinding
    from bot.core.render import render

    f = DriftFinding("staging", "e", "models/@acme/team/`x`/modelbot.yaml", "broken",
                     "endpoint e is Failed: <img src=x> by @mallory\nsecond line", "fix it")
    q = _quiet(f)
    assert "@\u200bacme" in q.manifest_path and "`" not in q.manifest_path
    assert "<img" not in q.detail and "@\u200bmallory" in q.detail and "\n" not in q.detail
    body = render("drift/issue.md.j2", marker=MARKER, repository="acme/models", default_branch="main",
                  findings=[q] * MAX_SHOWN, more=450, checked=500, unreadable=[], at="2026-12-02 10:00")
    assert len(body) < 65536 and "(and 450 more not shown)" in body
