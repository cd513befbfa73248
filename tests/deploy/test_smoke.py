"""The contract's smoke test in the rollout controller (issue #14, part 1): where each flow runs it,
what passing and failing do, retries, and the requests that put an A/B candidate at weight 0
until its samples pass. Pure: no AWS (the executor and the emulator are in test_smoke_e2e)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.deploy import build_requests
from bot.core.deploy.rollout import MAX_ATTEMPTS, decide, record_smoke
from bot.core.plan import DeploySpec, LiveState, plan
from tests.deploy.helpers import COMMIT1, COMMIT2, PRICES, ROLE, context, example
from tests.deploy.test_requests import live_after
from tests.deploy.test_rollout import AB, CREATE, GUARDED, NOW, SHADOW, at, moving, on

SMOKE = {"smoke": True}


def test_a_created_endpoint_is_smoke_tested_before_success():
    d = decide(at(replace(CREATE, **SMOKE), "creating"), on("c2"), NOW)
    assert d.action == "smoke" and d.state.phase == "smoke" and d.state.smoke_on == "c2"
    passed = record_smoke(d.state, [])
    assert passed.smoke_result == "passed"
    assert decide(passed, on("c2"), NOW).action == "succeed"


def test_a_created_endpoint_that_breaks_its_contract_fails_naming_the_sample():
    d = decide(at(replace(CREATE, **SMOKE), "creating"), on("c2"), NOW)
    broken = record_smoke(d.state, ['sample 2 {"age": 2}: 7 is above the output maximum 1'])
    out = decide(broken, on("c2"), NOW)
    assert out.action == "fail" and out.state.phase == "failed"
    assert 'sample 2 {"age": 2}: 7 is above the output maximum 1' in out.reason
    assert "no earlier config to roll back to" in out.reason


def test_without_samples_nothing_changes():
    assert decide(at(CREATE, "creating"), on("c2"), NOW).action == "succeed"
    assert decide(at(GUARDED, "updating", seen_progress=True), on("c2"), NOW).action == "succeed"


def test_a_guarded_update_is_smoke_tested_when_sagemaker_is_done_and_rolled_back_if_broken():
    d = decide(at(replace(GUARDED, **SMOKE), "updating", seen_progress=True), on("c2"), NOW)
    assert d.action == "smoke" and d.state.smoke_on == "c2"
    broken = record_smoke(d.state, ["sample 1 {}: InvokeEndpoint: ModelError: boom"])
    out = decide(broken, on("c2"), NOW)
    assert out.action == "rollback" and out.config == "c1" and out.state.phase == "rolling_back"
    assert "the new model broke its contract: sample 1 {}: InvokeEndpoint: ModelError: boom" in out.reason
    done = decide(replace(out.state, attempts=1), on("c1"), NOW)
    assert done.action == "fail" and done.state.phase == "rolled_back"
    assert "broke its contract" in done.reason


def test_an_ab_candidate_is_tested_at_weight_0_before_any_traffic_shifts():
    st = replace(AB, **SMOKE)
    d = decide(at(st, "updating", seen_progress=True), on("c2", weights={"AllTraffic": 1.0, "challenger": 0.0}), NOW)
    assert d.action == "smoke" and d.state.phase == "smoke"
    assert "challenger (weight 0)" in d.progress.text
    passed = record_smoke(d.state, [])
    shift = decide(passed, on("c2", weights={"AllTraffic": 1.0, "challenger": 0.0}), NOW)
    assert shift.action == "shift_weights" and shift.state.phase == "shifting"
    assert shift.weight_map == {"AllTraffic": 0.9, "challenger": 0.1}
    # once shifted, the experiment runs; the smoke test is not repeated
    exp = decide(replace(shift.state, attempts=1), on("c2", weights={"AllTraffic": 0.9, "challenger": 0.1}), NOW)
    assert exp.state.phase == "experiment"


def test_an_ab_candidate_that_breaks_its_contract_never_gets_traffic():
    st = replace(AB, **SMOKE)
    d = decide(at(st, "updating", seen_progress=True), on("c2", weights={"AllTraffic": 1.0, "challenger": 0.0}), NOW)
    out = decide(record_smoke(d.state, ["sample 1 {}: 2 value(s) per record"]), on("c2"), NOW)
    assert out.action == "rollback" and out.config == "c1" and out.weights is None
    assert out.state.phase == "rolling_back"


def test_a_shadow_test_is_smoke_tested_after_promotion_and_unpromoted_if_broken():
    st = at(replace(SHADOW, **SMOKE), "promoting", seen_progress=True)
    d = decide(st, on("c2-promoted"), NOW)
    assert d.action == "smoke" and d.state.smoke_on == "c2-promoted"
    out = decide(record_smoke(d.state, ["sample 1 {}: not JSON"]), on("c2-promoted"), NOW)
    assert out.action == "rollback" and out.config == "c1" and out.state.phase == "unpromoting"
    back = decide(replace(out.state, attempts=1), on("c1"), NOW)
    assert back.action == "fail" and back.state.phase == "rolled_back"
    waiting = decide(replace(out.state, attempts=1), moving("c2-promoted", "c1"), NOW)
    assert waiting.action in ("wait", "report")


def test_a_shadow_experiment_itself_is_not_smoke_tested():
    d = decide(at(replace(SHADOW, **SMOKE), "updating", seen_progress=True), on("c2"), NOW)
    assert d.state.phase == "experiment"


def test_retriable_failures_are_tried_again_then_count_as_failed():
    d = decide(at(replace(GUARDED, **SMOKE), "updating", seen_progress=True), on("c2"), NOW)
    again = record_smoke(d.state, ["sample 1 {}: InvokeEndpoint: ThrottlingException: slow down"], retriable=True)
    assert again.smoke_result is None
    nxt = decide(again, on("c2"), NOW)
    assert nxt.action == "smoke" and nxt.state.attempts == 2
    last = replace(nxt.state, attempts=MAX_ATTEMPTS)
    failed = record_smoke(last, ["sample 1 {}: InvokeEndpoint: ThrottlingException: slow down"], retriable=True)
    assert failed.smoke_result.startswith("sample 1")
    assert decide(failed, on("c2"), NOW).action == "rollback"


def test_a_smoke_test_that_never_reports_is_issued_again_up_to_the_limit():
    d = decide(at(replace(GUARDED, **SMOKE), "updating", seen_progress=True), on("c2"), NOW)
    again = decide(d.state, on("c2"), NOW)  # the worker died before recording the outcome
    assert again.action == "smoke" and again.state.attempts == 2
    out = decide(replace(again.state, attempts=MAX_ATTEMPTS), on("c2"), NOW)
    assert out.action == "rollback" and out.config == "c1"  # unverified is not passed
    assert "the smoke test did not report after 3 attempts" in out.reason


def test_abort_during_the_smoke_test_rolls_back():
    d = decide(at(replace(GUARDED, **SMOKE), "updating", seen_progress=True), on("c2"), NOW)
    out = decide(replace(d.state, requested="abort"), on("c2"), NOW)
    assert out.action == "rollback" and "requested by /abort" in out.reason


def test_an_endpoint_that_moves_away_during_the_smoke_test_fails():
    d = decide(at(replace(GUARDED, **SMOKE), "updating", seen_progress=True), on("c2"), NOW)
    out = decide(d.state, on("c9"), NOW)
    assert out.action == "fail" and "moved to config c9" in out.reason


def test_long_failure_lists_are_cut():
    d = decide(at(replace(GUARDED, **SMOKE), "updating", seen_progress=True), on("c2"), NOW)
    st = record_smoke(d.state, [f"sample {i} {{}}: bad" for i in range(1, 8)])
    assert st.smoke_result.endswith("; and 4 more")


# --- requests ------------------------------------------------------------------------------------

SAMPLES = """contract:
  input:
    fields:
      - {name: q, type: string}
      - {name: k, type: integer, min: 1}
  output: {type: number}
  samples:
    inline:
      - {q: shoes, k: 3}
      - {q: "a,b", k: 1}
"""


def _requests(name, env="production", samples=True, live=None):
    m = example(name, {"environments:": SAMPLES + "environments:"})
    spec = DeploySpec(m, env, COMMIT1)
    live = live or LiveState(endpoint_exists=False, endpoint_name=m.endpoint_name(env))
    p = plan(spec, live, PRICES)
    payloads = [dict(x) for x in m.contract.samples.inline] if samples else None
    return build_requests(spec, p, context(), execution_role_arn="arn:aws:iam::123456789012:role/sm",
                          image=None, live=live, samples=payloads), p


def test_the_requests_carry_the_encoded_samples():
    reqs, _ = _requests("minimal", next(iter(example("minimal").environments)))
    assert reqs.smoke["bodies"] == ["shoes,3", '"a,b",1']
    assert reqs.smoke["content_type"] == "text/csv" and reqs.smoke["target_variant"] is None
    assert reqs.smoke["contract"]["output"]["type"] == "number"
    plain, _ = _requests("minimal", next(iter(example("minimal").environments)), samples=False)
    assert plain.smoke is None


@pytest.mark.parametrize("name", ["async-scale-to-zero", "batch-transform"])
def test_modes_the_samples_are_not_sent_to_have_no_smoke_test(name):
    m = example(name)
    env = next(iter(m.environments))
    reqs, _ = _requests(name, env)
    assert reqs.smoke is None


def test_an_ab_candidate_starts_at_weight_0_when_it_has_samples():
    add = {"environments:": SAMPLES + "environments:"}
    spec1 = DeploySpec(example("realtime-ab", add), "production", COMMIT1)
    live = live_after(plan(spec1, LiveState(), PRICES), spec1)
    spec = DeploySpec(example("realtime-ab", {**add, "/v3/": "/v4/"}), "production", COMMIT2)
    p = plan(spec, live, PRICES)
    samples = [dict(x) for x in spec.manifest.contract.samples.inline]
    r = build_requests(spec, p, context(COMMIT2), execution_role_arn=ROLE, live=live, samples=samples)
    weights = {v["VariantName"]: v["InitialVariantWeight"] for v in r.endpoint_configs[0]["ProductionVariants"]}
    assert weights == {"AllTraffic": 0.9, "challenger": 0.0}
    assert r.smoke["target_variant"] == "challenger"
    plain = build_requests(spec, p, context(COMMIT2), execution_role_arn=ROLE, live=live)
    assert {v["VariantName"]: v["InitialVariantWeight"]
            for v in plain.endpoint_configs[0]["ProductionVariants"]} == {"AllTraffic": 0.9, "challenger": 0.1}


def test_the_plan_says_where_the_samples_go():
    add = {"environments:": SAMPLES + "environments:"}
    m = example("minimal", add)
    env = next(iter(m.environments))
    created = plan(DeploySpec(m, env, COMMIT1), LiveState(), PRICES)
    assert any(n.startswith("smoke test: the contract's sample payloads are sent to the new endpoint")
               for n in created.notes)
    spec1 = DeploySpec(example("realtime-ab", add), "production", COMMIT1)
    live = live_after(plan(spec1, LiveState(), PRICES), spec1)
    ab = plan(DeploySpec(example("realtime-ab", {**add, "/v3/": "/v4/"}), "production", COMMIT2), live, PRICES)
    assert any("variant challenger at weight 0 (TargetVariant) before any traffic shifts" in n for n in ab.notes)
    a = example("async-scale-to-zero", add)
    env = next(iter(a.environments))
    notes = plan(DeploySpec(a, env, COMMIT1), LiveState(), PRICES).notes
    assert any("not sent to an asynchronous endpoint" in n for n in notes)
    plain = example("minimal")
    plain_notes = plan(DeploySpec(plain, next(iter(plain.environments)), COMMIT1), LiveState(), PRICES).notes
    assert not any("smoke test" in n for n in plain_notes)
