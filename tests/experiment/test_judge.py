"""The shadow judge's verdicts on evidence built from known distributions: a candidate that
answers like production passes, one that does not fails, too little data is never a pass."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bot.core.experiment.capture import Pairing
from bot.core.experiment.judge import (
    FAIL,
    MAX_LOOKS,
    PASS,
    RUNNING,
    ShadowEvidence,
    ShadowVerdict,
    VariantMetrics,
    arm,
    judge_ab,
    judge_operational,
    judge_shadow,
    thin_looks,
    unreadable,
    verdict_from_record,
    with_operational,
)
from bot.core.experiment.stats import NOT_ENOUGH_DATA, wilson_interval

GATES = {"task": "classification", "threshold": 0.5, "min_pairs": 500, "confidence": 0.95,
         "max_disagreement": 0.02, "max_psi": 0.25, "max_latency_ratio": 1.2, "max_error_rate": 0.01}
FAST = VariantMetrics(invocations=2000, errors_5xx=0, latency_p99=40_000)


def evidence(n=2000, flip=0.0, noise=0.005, seed=3, shadow=FAST, production=FAST, shift=0.0) -> ShadowEvidence:
    rng = np.random.default_rng(seed)
    prod = rng.beta(2, 5, n)
    cand = np.clip(prod + shift + rng.normal(0, noise, n), 0, 1)
    flipped = rng.random(n) < flip
    cand[flipped] = 1 - cand[flipped]
    pairing = Pairing(prod, cand, {"inference_id": n, "event_id": 0, "input": 0}, 0, 0, 0, 0)
    return ShadowEvidence(pairing, production, shadow)


def gates_of(v: ShadowVerdict) -> dict[str, str]:
    return {g.name: g.status for g in v.gates}


def test_a_candidate_that_answers_like_production_passes_every_gate():
    v = judge_shadow(GATES, evidence(), elapsed_seconds=600)
    assert v.status == PASS and v.allows_promotion and v.reasons == ()
    assert gates_of(v) == {"disagreement": PASS, "psi": PASS, "latency": PASS, "errors": PASS}
    assert v.pairs == 2000 and not v.promote_due  # no promote_after_minutes: only /promote


def test_the_disagreement_gate_is_the_wilson_interval_of_differing_labels():
    e = evidence(flip=0.1)
    v = judge_shadow(GATES, e, elapsed_seconds=0)
    [g] = [g for g in v.gates if g.name == "disagreement"]
    p, s = e.pairing.production >= 0.5, e.pairing.shadow >= 0.5
    k = int(np.count_nonzero(p != s))
    assert g.value == pytest.approx(k / 2000)
    low, _ = wilson_interval(k, 2000, 0.95)
    assert low > 0.02 and g.status == FAIL and v.status == FAIL
    assert any(r.startswith("disagreement") for r in v.reasons)


def test_an_interval_straddling_the_limit_keeps_the_experiment_running():
    # ~2% of labels differ at n=2000: the 95% interval holds 0.02 on both sides
    for seed in range(40):
        e = evidence(flip=0.02, seed=seed)
        v = judge_shadow({**GATES, "max_psi": None}, e, elapsed_seconds=0)
        [g] = [g for g in v.gates if g.name == "disagreement"]
        if g.status == NOT_ENOUGH_DATA:
            break
    assert g.status == NOT_ENOUGH_DATA and "straddles" in g.detail
    assert v.status == RUNNING and not v.allows_promotion


def test_below_min_pairs_nothing_is_decided_and_nothing_passes():
    few = VariantMetrics(invocations=200, errors_5xx=0, latency_p99=40_000)
    v = judge_shadow(GATES, evidence(n=200, shadow=few, production=few), elapsed_seconds=10_000)
    assert v.status == NOT_ENOUGH_DATA and not v.allows_promotion
    assert set(gates_of(v).values()) == {NOT_ENOUGH_DATA}
    # a clear failure with too few pairs is not a rollback either: noise could make one
    assert judge_shadow(GATES, evidence(n=200, flip=0.5, shadow=few), elapsed_seconds=0).status != FAIL


def test_a_variant_without_traffic_or_metrics_without_data_points_is_not_a_pass():
    silent = VariantMetrics()
    v = judge_shadow(GATES, evidence(shadow=silent), elapsed_seconds=0)
    assert gates_of(v)["latency"] == NOT_ENOUGH_DATA and gates_of(v)["errors"] == NOT_ENOUGH_DATA
    assert v.status == RUNNING
    empty = ShadowEvidence(Pairing(np.empty(0), np.empty(0), {}, 0, 0, 0, 0), VariantMetrics(), VariantMetrics())
    assert judge_shadow(GATES, empty, elapsed_seconds=0).status == NOT_ENOUGH_DATA


def test_latency_and_errors_gates():
    slow = VariantMetrics(invocations=2000, errors_5xx=0, latency_p99=60_000)
    v = judge_shadow(GATES, evidence(shadow=slow), elapsed_seconds=0)
    [g] = [g for g in v.gates if g.name == "latency"]
    assert g.status == FAIL and g.value == pytest.approx(1.5) and v.status == FAIL
    failing = VariantMetrics(invocations=2000, errors_5xx=100, latency_p99=40_000)
    assert gates_of(judge_shadow(GATES, evidence(shadow=failing), elapsed_seconds=0))["errors"] == FAIL
    few = VariantMetrics(invocations=2000, errors_5xx=22, latency_p99=40_000)  # 1.1%: not clearly over 1%
    assert gates_of(judge_shadow(GATES, evidence(shadow=few), elapsed_seconds=0))["errors"] == NOT_ENOUGH_DATA


def test_a_shifted_score_distribution_fails_the_psi_gate():
    v = judge_shadow({**GATES, "max_disagreement": 0.9}, evidence(shift=0.3), elapsed_seconds=0)
    assert gates_of(v)["psi"] == FAIL


def test_regression_judges_the_99th_percentile_of_the_absolute_error():
    gates = {"task": "regression", "min_pairs": 500, "max_abs_error_p99": 0.05, "max_psi": None,
             "max_latency_ratio": None, "max_error_rate": None}
    e = evidence(noise=0.01)
    v = judge_shadow(gates, e, elapsed_seconds=0)
    [g] = v.gates
    expected = float(np.quantile(np.abs(e.pairing.shadow - e.pairing.production), 0.99))
    assert g.name == "abs_error_p99" and g.value == pytest.approx(expected) and g.status == PASS
    assert judge_shadow(gates, evidence(noise=0.1), elapsed_seconds=0).status == FAIL


def test_promote_after_minutes_is_due_only_on_a_pass_after_that_long():
    gates = {**GATES, "promote_after_minutes": 60}
    assert not judge_shadow(gates, evidence(), elapsed_seconds=59 * 60).promote_due
    assert judge_shadow(gates, evidence(), elapsed_seconds=60 * 60).promote_due
    assert not judge_shadow(gates, evidence(flip=0.2), elapsed_seconds=10 * 3600).promote_due


def test_no_gate_configured_is_never_a_pass():
    v = judge_shadow({"task": "classification", "max_psi": None, "max_latency_ratio": None, "max_error_rate": None},
                     evidence(), elapsed_seconds=0)
    assert v.status == NOT_ENOUGH_DATA and v.reasons == ("no gate is configured",)


def test_kolmogorov_smirnov_is_shown_beside_the_gates_and_matches_an_independent_computation():
    e = evidence(shift=0.05)
    v = judge_shadow(GATES, e, elapsed_seconds=0)
    a, b = np.sort(e.pairing.production), np.sort(e.pairing.shadow)
    grid = np.concatenate([a, b])
    d = np.max(np.abs(np.searchsorted(a, grid, side="right") / a.size - np.searchsorted(b, grid, side="right") / b.size))
    assert v.ks["statistic"] == pytest.approx(d) and 0 <= v.ks["p_value"] <= 1
    assert "ks" not in {g.name for g in v.gates}
    assert judge_shadow(GATES, evidence(n=100), elapsed_seconds=0).ks is None  # below min_pairs


def test_the_verdict_survives_the_store():
    v = judge_shadow(GATES, evidence(flip=0.1), elapsed_seconds=0)
    assert ShadowVerdict.from_record(v.as_record()) == v


def test_the_false_rollback_rate_over_repeated_looks_stays_small():
    """A candidate exactly at the limit's edge from below (1.5% vs 2%) looked at 10 times as
    its sample grows, 200 times over: how often is it failed at some look?"""
    rng = np.random.default_rng(11)
    failed = 0
    for _ in range(200):
        flips = rng.random(5000) < 0.015
        for n in range(500, 5001, 500):
            k = int(np.count_nonzero(flips[:n]))
            p = np.zeros(n)
            s = np.where(np.arange(n) < k, 1.0, 0.0)
            e = ShadowEvidence(Pairing(p, s, {}, 0, 0, 0, 0), FAST, FAST)
            if judge_shadow({**GATES, "max_psi": None, "threshold": 0.5}, e, elapsed_seconds=0).status == FAIL:
                failed += 1
                break
    assert failed / 200 <= 0.01, failed


# -- A/B test ------------------------------------------------------------------------------------

AB = {"kind": "ab", "metric": {"namespace": "Acme/Search", "metric_name": "Clicked", "higher_is_better": True},
      "mde": 0.02, "alpha": 0.05, "power": 0.8, "min_per_arm": 500, "roll_back_on_loss": True}


def looks_of(rate_c, rate_t, n_per_look, looks, seed=0, share=0.5):
    """Cumulative (control, treatment) arms after each look; `share` of traffic on the treatment."""
    rng = np.random.default_rng(seed)
    out, c, t = [], [0, 0], [0, 0]
    for _ in range(looks):
        nt = int(n_per_look * share)
        nc = n_per_look - nt
        c = [c[0] + nc, c[1] + int(rng.binomial(nc, rate_c))]
        t = [t[0] + nt, t[1] + int(rng.binomial(nt, rate_t))]
        out.append((arm(*c), arm(*t)))
    return out


def test_a_known_better_candidate_wins_and_a_worse_one_fails():
    better = judge_ab(AB, looks_of(0.10, 0.14, 2000, 5), (0.5, 0.5), elapsed_seconds=0)
    assert better.status == PASS and better.recommendation == "promote" and better.allows_promotion
    assert better.effect > 0 and better.ci_low > 0 and better.p_value < 0.05
    worse = judge_ab(AB, looks_of(0.14, 0.10, 2000, 5), (0.5, 0.5), elapsed_seconds=0)
    assert worse.status == FAIL and worse.ci_high < 0
    kept = judge_ab({**AB, "roll_back_on_loss": False}, looks_of(0.14, 0.10, 2000, 5), (0.5, 0.5), elapsed_seconds=0)
    assert kept.status == RUNNING and "roll_back_on_loss is off" in kept.reasons[0]
    lower = {**AB, "metric": {**AB["metric"], "higher_is_better": False}}  # e.g. a complaint rate
    assert judge_ab(lower, looks_of(0.14, 0.10, 2000, 5), (0.5, 0.5), elapsed_seconds=0).status == PASS


def test_no_difference_is_not_declared_a_winner_over_repeated_looks():
    """1,000 A/A tests, each read at 4 looks as it grows (the judge folds every look up to the
    one it is given): the share that ever passes or fails (a false winner or loser) stays
    within the nominal 5%."""
    false = 0
    for seed in range(1000):
        looks = looks_of(0.1, 0.1, 400, 20, seed=seed)
        if any(judge_ab(AB, looks[:k], (0.5, 0.5), elapsed_seconds=0).status in (PASS, FAIL) for k in (5, 10, 15, 20)):
            false += 1
    assert false / 1000 <= 0.05, false


def test_a_sample_ratio_mismatch_names_no_winner():
    looks = [(arm(6000, 600), arm(4000, 560))]  # configured 50/50, served 60/40
    j = judge_ab(AB, looks, (0.5, 0.5), elapsed_seconds=0)
    assert j.status == RUNNING and j.srm_mismatch and "sample ratio mismatch" in j.reasons[0]


def test_too_few_observations_or_no_traffic_is_not_enough_data():
    assert judge_ab(AB, looks_of(0.1, 0.3, 200, 1), (0.5, 0.5), elapsed_seconds=0).status == NOT_ENOUGH_DATA
    assert judge_ab(AB, [(arm(5000, 500), arm(None, None))], (0.9, 0.1), elapsed_seconds=0).status == NOT_ENOUGH_DATA
    assert judge_ab(AB, [], (0.5, 0.5), elapsed_seconds=0).status == NOT_ENOUGH_DATA


def test_promote_after_minutes_for_an_ab_test():
    looks = looks_of(0.10, 0.14, 2000, 5)
    spec = {**AB, "promote_after_minutes": 60}
    assert not judge_ab(spec, looks, (0.5, 0.5), elapsed_seconds=3000).promote_due
    assert judge_ab(spec, looks, (0.5, 0.5), elapsed_seconds=3600).promote_due


def test_thinning_keeps_the_newest_looks_and_a_bound():
    looks = list(range(MAX_LOOKS + 10))
    thin = thin_looks(looks)
    assert len(thin) <= MAX_LOOKS and thin[-1] == looks[-1] and thin[-(len(looks) // 2):] == looks[len(looks) // 2:]


def test_ab_verdicts_survive_the_store():
    j = judge_ab(AB, looks_of(0.10, 0.14, 2000, 5), (0.5, 0.5), elapsed_seconds=0)
    assert verdict_from_record(j.as_record()) == j
    assert verdict_from_record(unreadable("ab", "denied").as_record()).reasons == ("denied",)


# -- the operational judge -----------------------------------------------------------------------

CANARY = {"metrics": ["model_latency", "error_rate"], "critical": ["error_rate"], "min_points": 10, "alpha": 0.05,
          "tolerance": 0.1, "pass_score": 95, "marginal_score": 75}


def minutes(mean, n=30, seed=0, spread=0.05):
    rng = np.random.default_rng(seed)
    return list(mean * (1 + rng.normal(0, spread, n)))


def test_the_operational_judge_passes_a_candidate_like_the_current_one_and_fails_a_slow_one():
    same = {"model_latency": (minutes(20_000, seed=1), minutes(20_000, seed=2)),
            "error_rate": (minutes(0.001, seed=3), minutes(0.001, seed=4))}
    op = judge_operational(CANARY, same)
    assert op.status == PASS and op.score == 100.0
    slow = {**same, "model_latency": (minutes(30_000, seed=1), minutes(20_000, seed=2))}
    op = judge_operational(CANARY, slow)
    [lat] = [m for m in op.metrics if m["name"] == "model_latency"]
    assert lat["result"] == FAIL and lat["relative_shift"] == pytest.approx(0.5, abs=0.05)
    assert op.status == FAIL  # score 50 < 75


def test_a_critical_metric_fails_at_once_even_while_others_lack_data():
    series = {"model_latency": (minutes(20_000, n=3), minutes(20_000, n=3)),      # 3 minutes: not enough
              "error_rate": (minutes(0.05, n=12, seed=5), minutes(0.001, n=12, seed=6))}
    op = judge_operational(CANARY, series)
    assert op.status == FAIL and "critical metric failed: error_rate" in op.reason


def test_too_few_minutes_is_never_a_pass_and_a_marginal_canary_does_not_promote():
    few = {"model_latency": (minutes(20_000, n=5), minutes(20_000, n=5)),
           "error_rate": (minutes(0.001, n=5), minutes(0.001, n=5))}
    assert judge_operational(CANARY, few).status == NOT_ENOUGH_DATA
    a_bit_slower = {"model_latency": (minutes(21_000, n=60, seed=1, spread=0.01), minutes(20_000, n=60, seed=2, spread=0.01)),
                    "error_rate": (minutes(0.001, seed=3), minutes(0.001, seed=4))}
    # significantly slower, by 5%: within the 10% tolerated; one metric of two passing scores 50
    assert judge_operational(CANARY, a_bit_slower).status == FAIL  # below the marginal score, 75
    op = judge_operational({**CANARY, "marginal_score": 50}, a_bit_slower)
    assert op.verdict == "marginal" and op.status == RUNNING and op.score == 50.0


def test_the_stricter_of_the_two_judges_decides():
    main = judge_ab(AB, looks_of(0.10, 0.14, 2000, 5), (0.5, 0.5), elapsed_seconds=7200)
    assert main.status == PASS
    fail = judge_operational(CANARY, {"model_latency": (minutes(40_000), minutes(20_000)),
                                      "error_rate": (minutes(0.001), minutes(0.001))})
    both = with_operational(main, fail)
    assert both.status == FAIL and both.reasons[0].startswith("operational judge:") and not both.allows_promotion
    waiting = judge_operational(CANARY, {})
    both = with_operational(replace(main, promote_due=True), waiting)
    assert both.status == NOT_ENOUGH_DATA and not both.promote_due
    assert with_operational(main, judge_operational(CANARY, {
        "model_latency": (minutes(20_000, seed=1), minutes(20_000, seed=2)),
        "error_rate": (minutes(0.001, seed=3), minutes(0.001, seed=4))})).status == PASS
    alone = with_operational(None, fail)
    assert alone.status == FAIL and verdict_from_record(alone.as_record()) == alone
    assert verdict_from_record(both.as_record()).operational == both.operational
