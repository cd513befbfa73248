"""Brier score, weighted F1 and MAPE: the point values against scikit-learn, the paired bootstrap
(every replicate against scikit-learn with the resample's weights as sample_weight), the gates in
the metric's direction, and the report's text. Also: every metric the manifest accepts is one the
statistics core computes for that task, so no gate can be left "not computed"."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from bot.core.compare.data import prepare
from bot.core.compare.gates import Gate, evaluate_gates
from bot.core.compare.metrics import METRICS, MetricKernel, compute_metrics, metric_names, metric_title
from bot.core.compare.stats import bootstrap, bootstrap_weights, compare
from bot.core.manifest import METRICS as MANIFEST_METRICS

TOL = 1e-9
SEEDS = (0, 1, 2, 3, 4)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def binary(n, seed, *, skill=1.5, prevalence=0.3):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prevalence
    return y, sigmoid(skill * (2 * y - 1) + rng.normal(size=n))


def multiclass(n, k, seed, *, skill=1.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += skill
    return y, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def regression(n, seed, *, noise=1.0):
    rng = np.random.default_rng(seed)
    y = rng.normal(3.0, 2.0, n)
    return y, y + rng.normal(0.2, noise, n)


def sk_weighted_f1(y, proba, sample_weight=None):
    return skm.f1_score(y, proba.argmax(axis=1), average="weighted", zero_division=0, sample_weight=sample_weight)


SK = {
    "brier": lambda y, p, w=None: skm.brier_score_loss(y, p, pos_label=1, sample_weight=w),
    "weighted_f1": sk_weighted_f1,
    "mape": lambda y, p, w=None: skm.mean_absolute_percentage_error(y, p, sample_weight=w),
}
TASK = {"brier": "binary", "weighted_f1": "multiclass", "mape": "regression"}


def data(metric, n, seed, **kw):
    if metric == "brier":
        return binary(n, seed, **kw)
    if metric == "weighted_f1":
        return multiclass(n, 4, seed, **kw)
    return regression(n, seed, **kw)


# -- point values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", sorted(SK))
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [37, 1000])
def test_point_value_equals_sklearn(metric, seed, n):
    y, p = data(metric, n, seed)
    got = compute_metrics(TASK[metric], y, p)[metric]
    assert got == pytest.approx(SK[metric](y, p), abs=TOL, rel=TOL)


@pytest.mark.parametrize("case", ["all-negative", "all-positive", "ties", "certain", "rare"])
def test_brier_edge_cases_equal_sklearn(case):
    y, p = binary(300, 7)
    if case == "all-negative":
        y = np.zeros_like(y)
    elif case == "all-positive":
        y = np.ones_like(y)
    elif case == "ties":
        p = np.round(p, 1)  # heavy ties, 0.5 among them
    elif case == "certain":
        p = np.where(np.arange(len(p)) % 3 == 0, y.astype(float), p)  # exact 0 and 1 probabilities
        p[:5] = 1.0 - y[:5]  # certain and wrong: Brier is not clipped like log loss
    elif case == "rare":
        y = np.zeros_like(y)
        y[[3, 150]] = True
    got = compute_metrics("binary", y, p)["brier"]
    assert got == pytest.approx(skm.brier_score_loss(y, p, pos_label=1), abs=TOL)


@pytest.mark.parametrize("case", ["one-class", "never-predicted", "predicted-never-true", "argmax-ties", "two-classes"])
def test_weighted_f1_edge_cases_equal_sklearn(case):
    y, proba = multiclass(400, 4, 8)
    if case == "one-class":
        y = np.full_like(y, 2)
    elif case == "never-predicted":
        proba[:, 1] = 0.0  # class 1 has rows but is never the argmax: F1 0 with its full weight
        proba /= proba.sum(axis=1, keepdims=True)
    elif case == "predicted-never-true":
        y = np.where(y == 3, 0, y)  # class 3 is predicted but no row has it: weight 0
    elif case == "argmax-ties":
        proba = np.round(proba, 1)  # ties resolve to the first class, as np.argmax does for sklearn's input
    elif case == "two-classes":
        y, proba = multiclass(400, 2, 9)
    got = compute_metrics("multiclass", y, proba)["weighted_f1"]
    assert got == pytest.approx(sk_weighted_f1(y, proba), abs=TOL)
    if case == "never-predicted":
        per_class = skm.f1_score(y, proba.argmax(axis=1), average=None, zero_division=0)
        assert per_class[1] == 0 and got < skm.f1_score(y, proba.argmax(axis=1), average="micro")


@pytest.mark.parametrize("case", ["negative-labels", "tiny-labels", "exact-predictions", "large-errors"])
def test_mape_edge_cases_equal_sklearn(case):
    y, p = regression(300, 10)
    if case == "negative-labels":
        y, p = y - 3.0, p - 3.0  # labels of both signs: the denominator is |y|
    elif case == "tiny-labels":
        y[:4] = [1e-12, -1e-9, 3e-15, 1e-300 * 1e290]  # small but above eps: divided by |y| in both
    elif case == "exact-predictions":
        p = y.copy()
    elif case == "large-errors":
        p = -10 * y
    got = compute_metrics("regression", y, p)["mape"]
    assert got == pytest.approx(skm.mean_absolute_percentage_error(y, p), abs=TOL, rel=TOL)


@pytest.mark.parametrize("zeros", [[0], [5, 17, 200], [1, 2, 3, 4, 5]])
def test_mape_refuses_labels_of_zero_and_says_where(zeros):
    y, p = regression(300, 11)
    y[zeros] = 0.0
    kernel = MetricKernel("regression", y, p, p + 0.5)
    cand, base = kernel.point()
    assert math.isnan(cand["mape"]) and math.isnan(base["mape"])
    # scikit-learn's epsilon turns each such row into |p| / 2.2e-16: a number that means nothing
    assert skm.mean_absolute_percentage_error(y, p) > 1e10
    why = kernel.undefined["mape"]
    rows = ", ".join(map(str, zeros[:3])) + (", ..." if len(zeros) > 3 else "")
    assert f"{len(zeros)} of 300 labels are 0 (data row{'s' if len(zeros) > 1 else ''} {rows}, counted from 0)" in why
    # the other regression metrics are untouched by the refusal
    for name in ("rmse", "mae", "r2"):
        assert cand[name] == pytest.approx(compute_metrics("regression", y, p)[name], abs=TOL)
    assert cand["mae"] == pytest.approx(skm.mean_absolute_error(y, p), abs=TOL)
    reps = bootstrap(kernel, n_resamples=20, seed=1)
    assert np.isnan(reps.candidate["mape"]).all() and np.isnan(reps.baseline["mape"]).all()


def test_a_label_below_eps_is_refused_too():
    y, p = regression(100, 12)
    y[7] = 1e-17  # scikit-learn would divide by eps here instead of |y|
    assert "data row 7" in MetricKernel("regression", y, p).undefined["mape"]


def test_directions_and_titles():
    assert [METRICS[m].higher_is_better for m in ("brier", "weighted_f1", "mape")] == [False, True, False]
    assert metric_title("brier", "binary") == "Brier score"
    assert metric_title("weighted_f1", "multiclass") == "F1 (weighted)"
    assert metric_title("mape", "regression") == "MAPE"
    assert "brier" in metric_names("binary") and "weighted_f1" in metric_names("multiclass")
    assert "mape" in metric_names("regression")


def test_every_manifest_metric_is_computed_for_each_of_its_tasks():
    from bot.app.services.comparison import METRIC_NAMES

    assert set(METRIC_NAMES) == set(MANIFEST_METRICS)
    for name, spec in MANIFEST_METRICS.items():
        core = METRIC_NAMES[name]
        for task in spec.tasks:
            assert core in metric_names(task), (name, task)
        assert METRICS[core].higher_is_better is spec.higher_is_better, name


# -- bootstrap -----------------------------------------------------------------------------------------


def _with_baseline(metric, n, seed):
    y, cand = data(metric, n, seed)
    rng = np.random.default_rng(seed + 100)
    if metric == "brier":
        base = np.clip(cand + rng.normal(0, 0.1, n), 0, 1)
    elif metric == "weighted_f1":
        base = np.clip(cand + rng.normal(0, 0.1, cand.shape), 1e-6, None)
        base /= base.sum(axis=1, keepdims=True)
    else:
        base = cand + rng.normal(0, 0.5, n)
    return y, cand, base


@pytest.mark.parametrize("metric", sorted(SK))
@pytest.mark.parametrize("seed", [0, 1])
def test_every_replicate_equals_sklearn_with_the_resample_weights(metric, seed):
    # 300 resamples of 60 rows: two batches (256 + 44), lanes of a partial group of four included
    n, b = 60, 300
    y, cand, base = _with_baseline(metric, n, seed)
    kernel = MetricKernel(TASK[metric], y, cand, base)
    reps = bootstrap(kernel, n_resamples=b, seed=seed, workers=2)
    canonical = bootstrap_weights(n, b, seed)
    row_weights = np.empty_like(canonical)
    row_weights[:, kernel.order] = canonical
    for r in list(range(0, b, 23)) + [255, 256, 299]:
        w = row_weights[r].astype(float)
        for model, got in ((cand, reps.candidate[metric]), (base, reps.baseline[metric])):
            assert got[r] == pytest.approx(SK[metric](y, model, w), abs=TOL, rel=TOL), r


@pytest.mark.parametrize("metric", sorted(SK))
def test_interval_contains_the_point_and_is_reproducible(metric):
    y, cand, base = _with_baseline(metric, 500, 3)
    ev = prepare(TASK[metric], y, cand, base)
    first = compare(ev, n_resamples=400, seed=11, workers=1)
    again = compare(ev, n_resamples=400, seed=11, workers=2)
    other = compare(ev, n_resamples=400, seed=12, workers=1)
    mc = first.metrics[metric]
    assert mc.candidate == pytest.approx(SK[metric](y, cand), abs=TOL, rel=TOL)
    assert mc.baseline == pytest.approx(SK[metric](y, base), abs=TOL, rel=TOL)
    own, delta = mc.candidate_interval(0.95), mc.delta_interval(0.95)
    assert own.method == delta.method == "bootstrap" and own.n_undefined == 0
    assert own.low < mc.candidate < own.high
    assert delta.low < mc.delta < delta.high
    assert np.array_equal(mc.candidate_replicates, again.metrics[metric].candidate_replicates)
    assert np.array_equal(mc.baseline_replicates, again.metrics[metric].baseline_replicates)
    assert again.metrics[metric].delta_interval(0.95) == delta
    assert not np.array_equal(mc.candidate_replicates, other.metrics[metric].candidate_replicates)


# -- gates ---------------------------------------------------------------------------------------------


def _models(metric, quality):
    """(labels, candidate, baseline) on 3000 rows: the candidate clearly better, clearly worse, or
    as good as the baseline with its own noise ("noisy")."""
    n = 3000
    rng = np.random.default_rng(21)
    if metric == "brier":
        y = rng.random(n) < 0.4
        shared = rng.normal(size=n)
        skill = {"better": 2.5, "worse": 0.6, "noisy": 1.5}[quality]
        cand = sigmoid(skill * (2 * y - 1) + shared + 0.5 * rng.normal(size=n))
        return y, cand, sigmoid(1.5 * (2 * y - 1) + shared + 0.5 * rng.normal(size=n))
    if metric == "weighted_f1":
        k = 4
        y = rng.integers(0, k, n)
        shared = rng.normal(size=(n, k))

        def model(skill, noise):
            logits = shared + noise * rng.normal(size=(n, k))
            logits[np.arange(n), y] += skill
            return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

        skill = {"better": 2.5, "worse": 0.5, "noisy": 1.2}[quality]
        return y, model(skill, 0.5), model(1.2, 0.5)
    y = rng.uniform(5, 15, n)
    base = y * (1 + rng.normal(0, 0.10, n))
    spread = {"better": 0.05, "worse": 0.20, "noisy": 0.10}[quality]
    return y, y * (1 + rng.normal(0, spread, n)), base


LIMITS = {"brier": 0.002, "weighted_f1": 0.002, "mape": 0.0005}


@pytest.mark.parametrize("metric", sorted(SK))
@pytest.mark.parametrize("quality,verdict", [("better", "pass"), ("worse", "fail"), ("noisy", "inconclusive")])
def test_regression_gate_in_the_metric_direction(metric, quality, verdict):
    y, cand, base = _models(metric, quality)
    comparison = compare(prepare(TASK[metric], y, cand, base), n_resamples=400, seed=3)
    mc = comparison.metrics[metric]
    worse_is_larger = not METRICS[metric].higher_is_better
    if quality != "noisy":  # the data are what the test says they are
        assert (mc.delta > 0) == ((quality == "worse") == worse_is_larger)
    report = evaluate_gates(comparison, [Gate(metric, max_regression=LIMITS[metric])])
    (result,) = report.results
    assert result.verdict == verdict == report.verdict, result.reason
    limit = LIMITS[metric] if worse_is_larger else -LIMITS[metric]
    assert result.allowed_regression == LIMITS[metric] and result.interval_method == "bootstrap"
    assert f"limit {limit:+.4g}" in result.reason
    if verdict == "fail":
        assert ("lies above" if worse_is_larger else "lies below") in result.reason
        assert (result.ci_low > limit) if worse_is_larger else (result.ci_high < limit)
    elif verdict == "pass":
        assert (result.ci_high <= limit) if worse_is_larger else (result.ci_low >= limit)
    else:
        assert "straddles" in result.reason and result.ci_low < limit < result.ci_high


@pytest.mark.parametrize("metric", sorted(SK))
def test_absolute_limits_follow_the_metric(metric):
    y, cand, base = _models(metric, "noisy")
    comparison = compare(prepare(TASK[metric], y, cand, None), n_resamples=200, seed=4)
    value = comparison.metrics[metric].candidate
    bound = "max" if not METRICS[metric].higher_is_better else "min"
    ok = evaluate_gates(comparison, [Gate(metric, **{bound: value * (1.1 if bound == "max" else 0.9)})])
    bad = evaluate_gates(comparison, [Gate(metric, **{bound: value * (0.9 if bound == "max" else 1.1)})])
    assert ok.verdict == "pass" and bad.verdict == "fail"
    assert ("above the ceiling" if bound == "max" else "below the floor") in bad.results[0].reason


def test_a_gate_on_mape_with_zero_labels_is_inconclusive_never_a_pass():
    y, cand, base = _models("mape", "better")
    y[[10, 20]] = 0.0
    comparison = compare(prepare("regression", y, cand, base), n_resamples=200, seed=5)
    gates = [Gate("mape", max=1e9), Gate("mape", max_regression=1e9), Gate("mape", max=1e9, absolute_on="interval")]
    report = evaluate_gates(comparison, gates)
    assert report.verdict == "inconclusive"
    for r in report.results:
        assert r.verdict == "inconclusive" and r.reason.startswith("MAPE is undefined on this set: 2 of 3000 labels are 0")
    assert evaluate_gates(comparison, [Gate("mae", max_regression=0.01)]).verdict == "pass"


def test_an_undefined_point_estimate_is_not_a_pass():
    # R² of constant labels is undefined: a floor on it must not pass on NaN
    # (prepare refuses constant labels; the gate must not rely on that)
    from bot.core.compare.data import EvaluationSet

    y = np.full(200, 3.0)
    comparison = compare(EvaluationSet("regression", y, y + np.linspace(-1, 1, 200), None, None), n_resamples=50)
    assert math.isnan(comparison.metrics["r2"].candidate)
    (r,) = evaluate_gates(comparison, [Gate("r2", min=0.5)]).results
    assert r.verdict == "inconclusive" and "undefined" in r.reason


# -- report and check text -------------------------------------------------------------------------


@pytest.mark.parametrize("task,metrics,title", [
    ("binary", "[auc, brier]", "Brier score"),
    ("multiclass", "[macro_f1, weighted_f1]", "F1 (weighted)"),
    ("regression", "[mae, mape]", "MAPE"),
])
def test_report_and_check_text_name_the_metric(tmp_path, task, metrics, title):
    from bot.app.services.comparison import Baseline, CompareDeps, CompareRequest, compare_manifest
    from bot.adapters.sources import Fetchers, LocalFetcher
    from bot.app.services.pull_comparison import compare_check
    from bot.core.manifest import load_manifest
    from bot.core.render import render
    from tests.compare_e2e import helpers as h

    metric = metrics.strip("[]").split(", ")[1]
    n = 400
    y, cand, base = _with_baseline(metric, n, 30)
    if task == "regression":
        cand, base = y + 0.01 * (cand - y), base  # a candidate far better on MAPE
    ids = np.array([f"r{i}" for i in range(n)])
    (tmp_path / "data").mkdir()
    (tmp_path / "data/v.csv").write_bytes(h.csv_bytes({"id": ids, "label": y.astype(int) if task != "regression" else y,
                                                       "f": np.zeros(n)}))
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs/p.jsonl").write_text("".join(
        json.dumps({"id": i, "prediction": np.asarray(c).tolist(), "baseline_prediction": np.asarray(b).tolist()}) + "\n"
        for i, c, b in zip(ids, cand, base)))
    ds = "    path: data/v.csv\n    format: csv\n    version: v1\n    label_column: label\n    id_column: id\n"
    text = h.manifest(dataset=ds, predictions="    source: pipeline\n    path: outputs/p.jsonl\n", task=task,
                      metrics=metrics, gates=f"    - metric: {metric}\n      max_regression: {{absolute: 0.5}}\n")
    loaded = load_manifest(h.PATH, text)
    assert loaded.manifest is not None, loaded.problems
    req = CompareRequest(h.PATH, loaded.manifest, "production", h.REPO, "a" * 40,
                         Baseline("production", "churn-production", "AllTraffic", h.BASELINE_MODEL, "0" * 16))
    out = compare_manifest(req, CompareDeps(fetchers=Fetchers(repo=LocalFetcher(tmp_path))))
    assert out.verdict == "pass", (out.error, out.rows)
    row = next(r for r in out.rows if r["metric"] == metric)
    assert row["title"] == title and row["gate"] == f"{metric} regression <= 0.5 (95%)"
    assert row["candidate"] == pytest.approx(SK[metric](y, cand), abs=TOL, rel=TOL)
    summary = compare_check([out]).summary
    assert f"| {title} | {row['baseline']:.4f} | {row['candidate']:.4f} | {row['delta']:+.4f} [" in summary
    assert "not computed" not in summary and "does not compute" not in summary
    cli = render("compare/cli.txt.j2", outcomes=[out])
    line = next(line for line in cli.splitlines() if line.strip().startswith(title))
    assert f"{row['candidate']:.4f}" in line and line.rstrip().endswith("pass")
    assert f"{title} ({metric} regression <= 0.5 (95%)): within the allowed regression" in cli
