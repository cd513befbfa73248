"""Gates: fail only on significant regressions, inconclusive on small or ambiguous evidence."""

from __future__ import annotations

import numpy as np
import pytest

from bot.core.compare.data import prepare
from bot.core.compare.gates import Gate, GateConfigError, evaluate_gates
from bot.core.compare.stats import compare


def accuracy_pair(n, cand_acc, base_acc, seed=0):
    """Binary labels and hard-ish probabilities with the given accuracies (errors independent)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.5
    def model(acc):
        right = np.zeros(n, dtype=bool)
        right[rng.permutation(n)[: round(acc * n)]] = True
        return np.where(right, y, ~y) * 0.8 + 0.1
    return y, model(cand_acc), model(base_acc)


def judge(y, cand, base, gates, task="binary", **kw):
    return evaluate_gates(compare(prepare(task, y, cand, base), n_resamples=500, seed=1), gates, **kw)


def test_identical_models_pass():
    y, cand, _ = accuracy_pair(2000, 0.85, 0.85)
    report = judge(y, cand, cand.copy(), [Gate("accuracy", max_regression=0.0), Gate("roc_auc", max_regression=0.0)])
    assert report.verdict == "pass"
    for r in report.results:
        assert r.ci_low == 0 and r.ci_high == 0 and r.delta == 0


@pytest.mark.parametrize(
    "n,verdict",
    [(5000, "fail"), (20, "inconclusive")],
    ids=["5000-rows-real-regression-fails", "20-rows-is-noise"],
)
def test_accuracy_drop_from_090_to_080(n, verdict):
    y, cand, base = accuracy_pair(n, 0.80, 0.90, seed=2)
    report = judge(y, cand, base, [Gate("accuracy", max_regression=0.01)])
    assert report.verdict == verdict
    r = report.results[0]
    assert r.baseline == pytest.approx(0.90, abs=0.03) and r.candidate == pytest.approx(0.80, abs=0.03)
    if verdict == "fail":
        assert r.ci_high < -0.01 and "significantly worse" in r.reason
    else:
        assert "too few rows" in r.reason


@pytest.mark.parametrize(
    "cand_acc,base_acc,n,allowed,verdict,phrase",
    [
        (0.80, 0.90, 5000, 0.01, "fail", "significantly worse"),
        (0.80, 0.90, 5000, 0.15, "pass", "within the allowed regression"),
        (0.89, 0.90, 1000, 0.01, "inconclusive", "straddles"),
        (0.92, 0.90, 5000, 0.0, "pass", "within the allowed regression"),
        (0.80, 0.90, 29, 0.01, "inconclusive", "too few rows"),
    ],
    ids=["clear-drop", "drop-within-margin", "ambiguous", "improvement", "29-rows"],
)
def test_regression_limit_verdicts(cand_acc, base_acc, n, allowed, verdict, phrase):
    y, cand, base = accuracy_pair(n, cand_acc, base_acc, seed=3)
    r = judge(y, cand, base, [Gate("accuracy", max_regression=allowed)]).results[0]
    assert (r.verdict, r.allowed_regression) == (verdict, allowed)
    assert phrase in r.reason


def test_too_few_rows_of_the_minority_class_is_inconclusive():
    rng = np.random.default_rng(4)
    n = 400
    y = np.zeros(n, dtype=bool)
    y[:8] = True
    cand, base = rng.random(n), rng.random(n)
    r = judge(y, cand, base, [Gate("roc_auc", max_regression=0.5)]).results[0]
    assert r.verdict == "inconclusive"
    assert "rarest class 1" in r.reason and "8 < 10" in r.reason


def test_lower_is_better_metrics_fail_when_they_rise():
    y, good, bad = accuracy_pair(4000, 0.9, 0.8, seed=5)
    # candidate is the worse model: its log loss is higher than the baseline's
    r = judge(y, bad, good, [Gate("log_loss", max_regression=0.01)]).results[0]
    assert r.verdict == "fail" and not r.higher_is_better
    assert r.delta > 0 and r.ci_low > 0.01
    assert "above the allowed regression limit +0.01" in r.reason
    r = judge(y, good, bad, [Gate("log_loss", max_regression=0.01)]).results[0]
    assert r.verdict == "pass" and r.delta < 0


def test_regression_metrics_gate_on_rmse():
    rng = np.random.default_rng(6)
    y = rng.normal(size=3000)
    good, bad = y + rng.normal(0, 0.5, 3000), y + rng.normal(0, 0.8, 3000)
    report = judge(y, bad, good, [Gate("rmse", max_relative_regression=0.05), Gate("r2", min=0.0)], task="regression")
    assert [r.verdict for r in report.results] == ["fail", "pass"]
    assert report.verdict == "fail"
    assert report.results[0].allowed_regression == pytest.approx(0.05 * report.results[0].baseline)


def test_relative_and_absolute_limits_together_use_the_smaller():
    y, cand, base = accuracy_pair(3000, 0.85, 0.90, seed=7)
    r = judge(y, cand, base, [Gate("accuracy", max_regression=0.5, max_relative_regression=0.01)]).results[0]
    assert r.allowed_regression == pytest.approx(0.01 * r.baseline)
    assert r.verdict == "fail"


def test_roc_auc_gate_uses_delong_interval_and_reports_its_p_value():
    y, cand, base = accuracy_pair(3000, 0.80, 0.90, seed=8)
    r = judge(y, cand, base, [Gate("roc_auc", max_regression=0.01, confidence=0.99)]).results[0]
    assert r.interval_method == "delong" and r.p_value is not None and r.p_value < 1e-6
    assert r.confidence == 0.99 and r.verdict == "fail"
    assert judge(y, cand, base, [Gate("accuracy", max_regression=0.01)]).results[0].p_value is None


@pytest.mark.parametrize(
    "gate,verdict,phrase",
    [
        (Gate("roc_auc", min=0.7), "pass", "meets the floor 0.7"),
        (Gate("roc_auc", min=0.95), "fail", "below the floor 0.95"),
        (Gate("log_loss", max=0.1), "fail", "above the ceiling 0.1"),
        (Gate("roc_auc", min=0.7, max_regression=0.0), "pass", "regression limit not applicable"),
        (Gate("accuracy", max_regression=0.01), "pass", "regression limit not applicable"),
        (Gate("accuracy", min=0.88, absolute_on="interval"), "inconclusive", "straddles the floor 0.88"),
        (Gate("accuracy", min=0.5, absolute_on="interval"), "pass", "lies within the floor 0.5"),
        (Gate("accuracy", min=0.95, absolute_on="interval"), "fail", "lies outside the floor 0.95"),
    ],
    ids=["floor-met", "floor-missed", "ceiling-missed", "no-baseline-regression-skipped", "regression-only",
         "interval-straddles", "interval-within", "interval-outside"],
)
def test_first_deployment_applies_only_absolute_limits(gate, verdict, phrase):
    y, cand, _ = accuracy_pair(600, 0.88, 0.88, seed=9)
    report = evaluate_gates(compare(prepare("binary", y, cand), n_resamples=500), [gate])
    assert not report.has_baseline
    assert any("first deployment" in note for note in report.notes)
    r = report.results[0]
    assert (r.verdict, r.baseline, r.delta, r.allowed_regression) == (verdict, None, None, None)
    assert phrase in r.reason


@pytest.mark.parametrize(
    "verdicts,overall",
    [((), "pass"), (("pass", "pass"), "pass"), (("pass", "inconclusive"), "inconclusive"),
     (("inconclusive", "fail", "pass"), "fail")],
)
def test_overall_verdict_is_the_worst_gate(verdicts, overall):
    y, cand, base = accuracy_pair(3000, 0.85, 0.90, seed=10)
    comp = compare(prepare("binary", y, cand, base), n_resamples=300)
    by_verdict = {
        "pass": Gate("accuracy", max_regression=0.2),
        "fail": Gate("accuracy", max_regression=0.001),
        "inconclusive": Gate("accuracy", max_regression=0.05),
    }
    report = evaluate_gates(comp, [by_verdict[v] for v in verdicts])
    assert [r.verdict for r in report.results] == list(verdicts)
    assert report.verdict == overall


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"metric": "auc", "min": 0.5}, "unknown metric 'auc'"),
        ({"metric": "f1"}, "sets no limit"),
        ({"metric": "f1", "max_regression": -0.1}, "must be a finite number >= 0"),
        ({"metric": "f1", "min": 0.9, "max": 0.8}, "above max"),
        ({"metric": "f1", "min": float("nan")}, "min must be a finite number"),
        ({"metric": "f1", "min": 0.5, "confidence": 95}, "between 0 and 1"),
        ({"metric": "f1", "min": 0.5, "absolute_on": "ci"}, "absolute_on"),
    ],
)
def test_bad_gate_configuration_is_rejected(kwargs, message):
    with pytest.raises(GateConfigError, match=message):
        Gate(**kwargs)


def test_gate_for_a_metric_of_another_task_is_rejected():
    y, cand, base = accuracy_pair(100, 0.8, 0.8)
    with pytest.raises(GateConfigError, match="'rmse' is not computed for a binary task"):
        evaluate_gates(compare(prepare("binary", y, cand, base), n_resamples=10), [Gate("rmse", max=1.0)])


def test_result_carries_the_numbers_and_a_description():
    y, cand, base = accuracy_pair(2000, 0.86, 0.88, seed=11)
    r = judge(y, cand, base, [Gate("f1", min=0.5, max_regression=0.02, confidence=0.9)]).results[0]
    assert r.gate == "f1 >= 0.5, f1 regression <= 0.02 (90%)"
    assert r.title == "F1" and r.higher_is_better
    assert r.ci_low <= r.delta <= r.ci_high
    assert r.delta == pytest.approx(r.candidate - r.baseline)
    assert r.interval_method == "bootstrap"
