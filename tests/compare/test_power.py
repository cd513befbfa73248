"""What a gate could have seen (issue #14, part 3): the minimum detectable regression of a gate, and
for an inconclusive one the rows that would decide it (bot/core/compare/power.py).

The numbers are held to the gate's own rule by simulation: a true regression equal to the
minimum detectable one fails the gate (bot.core.compare.gates._regression) in 80% of draws, and an
inconclusive estimate re-measured on the rows said to decide it is decided in 80% of draws. Then
the same on real data through the paired bootstrap, and in the report and `modelbot check` text."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from bot.core.compare.data import prepare
from bot.core.compare.gates import FAIL, INCONCLUSIVE, PASS, Gate, _regression, evaluate_gates
from bot.core.compare.power import POWER, min_detectable, rows_for_minimum, rows_to_decide, standard_error, z_value
from bot.core.compare.stats import Interval, MetricComparison, compare
from bot.core.render import render

Z95 = 1.959963984540054
Z80 = 0.8416212335729143


def test_z_and_standard_error_read_off_an_interval():
    assert z_value(0.95) == pytest.approx(Z95, abs=1e-12)
    assert z_value(0.9) == pytest.approx(1.6448536269514722, abs=1e-12)
    assert standard_error(-0.0196, 0.0196, 0.95) == pytest.approx(0.0196 / Z95, abs=1e-15)
    assert standard_error(float("nan"), 0.1, 0.95) is None
    assert standard_error(0.2, 0.1, 0.95) is None


def test_min_detectable_is_the_allowed_regression_plus_the_power_margin():
    assert min_detectable(0.01, 0.02, 0.95) == pytest.approx(0.02 + (Z95 + Z80) * 0.01, abs=1e-12)
    assert min_detectable(None, 0.02, 0.95) is None
    # more rows, a smaller SE: a smaller detectable regression, never below the allowed one
    assert min_detectable(0.001, 0.02, 0.95) < min_detectable(0.01, 0.02, 0.95)
    assert min_detectable(0.0, 0.02, 0.95) == 0.02


def test_rows_to_decide_scales_with_the_square_of_se_over_gap():
    rows, why = rows_to_decide(0.01, 0.005, 1000, 0.95)
    assert why is None
    assert rows == math.ceil(1000 * ((Z95 + Z80) * 0.01 / 0.005) ** 2)
    assert rows_to_decide(0.01, -0.005, 1000, 0.95) == (rows, None)  # either side of the limit
    assert rows_to_decide(0.01, 0.0, 1000, 0.95)[0] is None
    assert "sits on the limit" in rows_to_decide(0.01, 0.0, 1000, 0.95)[1]
    assert rows_to_decide(0.01, float("nan"), 1000, 0.95) == (None, "the estimate is undefined")
    assert rows_to_decide(None, 0.01, 1000, 0.95) == (None, "the interval is undefined")
    assert rows_to_decide(0.001, 0.5, 1000, 0.95) == (1000, None)  # never fewer than are there


def test_rows_for_minimum_counts_the_rarest_class():
    assert rows_for_minimum(20, 30) == 30
    assert rows_for_minimum(500, 30, rarest=4, min_minority=10) == 1250
    assert rows_for_minimum(500, 30, rarest=40, min_minority=10) == 500


def _mc(delta_hat: float, se: float) -> tuple[MetricComparison, Interval]:
    mc = MetricComparison("accuracy", True, 0.9 + delta_hat, 0.9, np.zeros(1), np.zeros(1))
    return mc, Interval(delta_hat - Z95 * se, delta_hat + Z95 * se, 0.95, "bootstrap")


def test_a_regression_of_the_minimum_detectable_size_fails_the_gate_in_80_percent_of_draws():
    se, allowed = 0.01, 0.02
    gate = Gate("accuracy", max_regression=allowed)
    true_delta = -min_detectable(se, allowed, 0.95)
    draws = np.random.default_rng(7).normal(true_delta, se, 20000)
    fails = sum(_regression(gate, *_mc(d, se), allowed)[0] == FAIL for d in draws)
    assert fails / len(draws) == pytest.approx(POWER, abs=0.015)
    # a regression of exactly the allowed size fails at the interval's one-sided error rate, 2.5%
    draws = np.random.default_rng(8).normal(-allowed, se, 20000)
    fails = sum(_regression(gate, *_mc(d, se), allowed)[0] == FAIL for d in draws)
    assert fails / len(draws) == pytest.approx((1 - 0.95) / 2, abs=0.006)


def test_the_rows_said_to_decide_an_inconclusive_gate_decide_it_in_80_percent_of_draws():
    se, n, allowed = 0.01, 1000, 0.02
    gate = Gate("accuracy", max_regression=allowed)
    delta_hat = -allowed - 0.006  # the interval straddles the limit at n rows
    assert _regression(gate, *_mc(delta_hat, se), allowed)[0] == INCONCLUSIVE
    rows, _ = rows_to_decide(se, delta_hat - (-allowed), n, 0.95)
    se_then = se * math.sqrt(n / rows)
    draws = np.random.default_rng(9).normal(delta_hat, se_then, 20000)
    decided = sum(_regression(gate, *_mc(d, se_then), allowed)[0] != INCONCLUSIVE for d in draws)
    assert decided / len(draws) == pytest.approx(POWER, abs=0.015)


def _paired_accuracy(n: int, p_base: float, p_cand: float, seed: int):
    """Binary labels; each model right with its own probability, independently per row."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    right_b = rng.random(n) < p_base
    right_c = rng.random(n) < p_cand
    score = lambda right: np.where(right == (y == 1), 0.8, 0.2) + rng.normal(0, 0.01, n)  # noqa: E731
    return y, np.clip(score(right_c), 0, 1), np.clip(score(right_b), 0, 1)


def _accuracy_gate(y, cand, base, allowed=0.01):
    comp = compare(prepare("binary", y, cand, base), n_resamples=400, seed=1)
    return evaluate_gates(comp, [Gate("accuracy", max_regression=allowed)]).results[0]


def test_on_real_data_a_true_regression_of_the_stated_size_fails_most_of_the_time():
    n, p = 1500, 0.85
    pilot = _accuracy_gate(*_paired_accuracy(n, p, p, seed=100))
    assert pilot.verdict in (PASS, INCONCLUSIVE) and pilot.min_detectable is not None
    # the SE of a difference of two independent accuracies: the number the pilot should find
    se = math.sqrt(2 * p * (1 - p) / n)
    assert pilot.min_detectable == pytest.approx(0.01 + (Z95 + Z80) * se, rel=0.2)
    # The claim assumes the SE under the regression is the one observed; a worse candidate has a
    # larger variance, so measure once more where the regression would be (one fixed-point step).
    detectable = _accuracy_gate(*_paired_accuracy(n, p, p - pilot.min_detectable, seed=101)).min_detectable
    verdicts = [_accuracy_gate(*_paired_accuracy(n, p, p - detectable, seed=200 + i)).verdict for i in range(60)]
    assert 0.65 <= verdicts.count(FAIL) / len(verdicts) <= 0.93, verdicts  # 80% expected; sd 5%


def test_gate_results_carry_power_only_where_it_means_something():
    y, cand, base = _paired_accuracy(400, 0.85, 0.85, seed=3)
    comp = compare(prepare("binary", y, cand, base), n_resamples=400, seed=1)
    regression, floor_point, floor_interval = evaluate_gates(comp, [
        Gate("accuracy", max_regression=0.01), Gate("accuracy", min=0.5),
        Gate("accuracy", min=float(comp.metrics["accuracy"].candidate), absolute_on="interval")]).results
    assert regression.verdict == INCONCLUSIVE and regression.min_detectable > 0.01
    assert regression.rows_to_decide > 400 and regression.power_note is None
    assert floor_point.verdict == PASS and floor_point.min_detectable is None and floor_point.rows_to_decide is None
    # a floor exactly at the candidate's value: its interval straddles it, and no rows decide it
    assert floor_interval.verdict == INCONCLUSIVE and floor_interval.rows_to_decide is None
    assert "sits on the limit" in floor_interval.power_note
    # no baseline: nothing to detect against
    first = evaluate_gates(compare(prepare("binary", y, cand), n_resamples=200),
                           [Gate("accuracy", max_regression=0.01)]).results[0]
    assert first.min_detectable is None and first.rows_to_decide is None


def test_too_few_rows_says_how_many_are_needed():
    y, cand, base = _paired_accuracy(20, 0.85, 0.85, seed=4)
    comp = compare(prepare("binary", y, cand, base), n_resamples=200)
    [r] = evaluate_gates(comp, [Gate("accuracy", max_regression=0.01)]).results
    assert r.verdict == INCONCLUSIVE and "too few rows" in r.reason
    assert r.rows_to_decide is not None and r.rows_to_decide >= 30


def test_an_undefined_metric_is_never_said_to_be_decided_by_more_rows():
    y = np.array([0.0, 1.0, 2.0, 3.0] * 20)  # a label of 0: MAPE is undefined
    comp = compare(prepare("regression", y, y + 0.1, y + 0.2), n_resamples=200)
    [r] = evaluate_gates(comp, [Gate("mape", max_regression=0.01)]).results
    assert r.verdict == INCONCLUSIVE and r.rows_to_decide is None
    assert r.power_note.startswith("more rows do not help")


def _outcome_row(result, metric="accuracy"):
    return {"metric": metric, "title": result.title, "candidate": result.candidate, "baseline": result.baseline,
            "delta": result.delta, "ci_low": result.ci_low, "ci_high": result.ci_high,
            "interval_method": result.interval_method, "p_value": None, "gate": result.gate,
            "verdict": result.verdict, "reason": result.reason, "higher_is_better": True,
            "min_detectable": result.min_detectable, "rows_to_decide": result.rows_to_decide,
            "power_note": result.power_note, "power": result.power}


def test_the_report_and_the_cli_say_what_the_gate_could_have_seen():
    from bot.app.services.comparison import CompareOutcome

    y, cand, base = _paired_accuracy(400, 0.85, 0.85, seed=3)
    comp = compare(prepare("binary", y, cand, base), n_resamples=400, seed=1)
    [r] = evaluate_gates(comp, [Gate("accuracy", max_regression=0.01)]).results
    out = CompareOutcome("models/a.yaml", "a", "prod", "local", "done", INCONCLUSIVE, task="binary",
                         rows=[_outcome_row(r)], n_rows=400, confidence=0.95, has_baseline=True)
    md = render("compare/section.md.j2", outcomes=[out])
    detect = f"{r.min_detectable:.4g}"
    assert f"; smallest regression these 400 rows detect (80% power): {detect}" in md
    assert f"; about {r.rows_to_decide:,} rows would decide it (80% power, if the estimate holds)" in md
    text = render("compare/cli.txt.j2", outcomes=[out])
    assert f"; smallest regression these 400 rows detect (80% power): {detect}" in text
    # a result stored before these fields existed renders without them
    old = dict(_outcome_row(r))
    for key in ("min_detectable", "rows_to_decide", "power_note", "power"):
        old.pop(key)
    out.rows = [old]
    assert "smallest regression" not in render("compare/section.md.j2", outcomes=[out])


def test_no_rows_decide_says_why():
    y, cand, base = _paired_accuracy(400, 0.85, 0.85, seed=3)
    comp = compare(prepare("binary", y, cand, base), n_resamples=400, seed=1)
    floor = float(comp.metrics["accuracy"].candidate)
    [r] = evaluate_gates(comp, [Gate("accuracy", min=floor, absolute_on="interval")]).results
    from bot.app.services.comparison import CompareOutcome

    out = CompareOutcome("models/a.yaml", "a", "prod", "local", "done", INCONCLUSIVE, task="binary",
                         rows=[_outcome_row(r)], n_rows=400, confidence=0.95, has_baseline=True)
    assert "; no number of rows is sure to decide it: the estimate sits on the limit" in render(
        "compare/section.md.j2", outcomes=[out])


def test_normal_quantiles_match_the_standard_library():
    assert Z80 == pytest.approx(NormalDist().inv_cdf(0.8), abs=1e-12)
