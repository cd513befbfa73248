"""Every metric against scikit-learn, and the weighted kernel against a naive per-resample loop."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from bot.core.compare.metrics import METRICS, MetricKernel, compute_metrics, metric_names

TOL = 1e-9


def binary_data(n, seed, *, ties=False, prevalence=0.3):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prevalence
    p = 1 / (1 + np.exp(-(1.5 * y - 0.8 + rng.normal(size=n))))
    if ties:
        p = np.round(p, 1)  # heavy ties, including probabilities exactly 0.5 at the threshold
    return y, p


def multiclass_data(n, k, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def regression_data(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(3.0, 2.0, n)
    return y, y + rng.normal(0.2, 1.0, n)


def sk_binary(y, p, threshold=0.5):
    pred = (p >= threshold).astype(int)
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1": skm.f1_score(y, pred, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "log_loss": skm.log_loss(y, p, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, p, pos_label=1),
    }


def sk_multiclass(y, proba):
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, average="macro", zero_division=0),
        "recall": skm.recall_score(y, pred, average="macro", zero_division=0),
        "f1": skm.f1_score(y, pred, average="macro", zero_division=0),
        "weighted_f1": skm.f1_score(y, pred, average="weighted", zero_division=0),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=list(range(k))),
        "pr_auc": skm.average_precision_score(label_binarize(y, classes=list(range(k))), proba, average="macro"),
        "log_loss": skm.log_loss(y, proba, labels=list(range(k))),
    }


def sk_regression(y, p):
    return {
        "rmse": skm.root_mean_squared_error(y, p),
        "mae": skm.mean_absolute_error(y, p),
        "r2": skm.r2_score(y, p),
        "mape": skm.mean_absolute_percentage_error(y, p),
    }


@pytest.mark.parametrize("metric", metric_names("binary"))
@pytest.mark.parametrize(
    "case",
    [
        {"n": 1000, "seed": 1},
        {"n": 997, "seed": 2, "ties": True},
        {"n": 300, "seed": 3, "prevalence": 0.05},
        {"n": 500, "seed": 4, "threshold": 0.3},
        {"n": 500, "seed": 5, "threshold": 0.95},  # few or no predicted positives: precision 0 like zero_division=0
    ],
    ids=["plain", "ties", "rare-positives", "threshold-0.3", "threshold-0.95"],
)
def test_binary_metric_matches_sklearn(metric, case):
    case = dict(case)
    threshold = case.pop("threshold", 0.5)
    y, p = binary_data(**case)
    ours = compute_metrics("binary", y, p, threshold=threshold)[metric]
    assert ours == pytest.approx(sk_binary(y, p, threshold)[metric], abs=TOL)


def test_log_loss_clips_certain_wrong_predictions_like_sklearn():
    y = np.array([1, 0, 1, 0, 1], dtype=bool)
    p = np.array([0.0, 1.0, 1.0, 0.0, 0.5])
    assert compute_metrics("binary", y, p)["log_loss"] == pytest.approx(skm.log_loss(y, p), rel=1e-12)


@pytest.mark.parametrize("metric", metric_names("multiclass"))
@pytest.mark.parametrize("k,n,seed", [(3, 900, 11), (5, 1200, 12)])
def test_multiclass_metric_matches_sklearn(metric, k, n, seed):
    y, proba = multiclass_data(n, k, seed)
    assert compute_metrics("multiclass", y, proba)[metric] == pytest.approx(sk_multiclass(y, proba)[metric], abs=TOL)


def test_multiclass_macro_averages_over_classes_in_labels_or_predictions():
    # class 3 is never the true label nor the argmax: it does not count in the macro average, as in sklearn
    y, proba = multiclass_data(600, 3, 13)
    proba = np.column_stack([proba * 0.99, np.full(len(y), 0.01)])
    ours = compute_metrics("multiclass", y, proba)
    pred = proba.argmax(axis=1)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        assert ours[name] == pytest.approx(fn(y, pred, average="macro", zero_division=0), abs=TOL)


@pytest.mark.parametrize("metric", metric_names("regression"))
@pytest.mark.parametrize("n,seed", [(1000, 21), (31, 22)])
def test_regression_metric_matches_sklearn(metric, n, seed):
    y, p = regression_data(n, seed)
    assert compute_metrics("regression", y, p)[metric] == pytest.approx(sk_regression(y, p)[metric], abs=TOL)


@pytest.mark.parametrize(
    "name,higher_is_better",
    [("accuracy", True), ("precision", True), ("recall", True), ("f1", True), ("roc_auc", True),
     ("pr_auc", True), ("log_loss", False), ("rmse", False), ("mae", False), ("r2", True),
     ("brier", False), ("weighted_f1", True), ("mape", False)],
)
def test_metric_directions(name, higher_is_better):
    assert METRICS[name].higher_is_better is higher_is_better


# -- weighted evaluation == the metric of the resampled rows ---------------------------------------


def resample_counts(n, n_resamples, seed):
    """Classic bootstrap resamples as index matrices and the row multiplicities they imply."""
    idx = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    counts = np.stack([np.bincount(row, minlength=n) for row in idx])
    return idx, counts


@pytest.mark.parametrize(
    "task,make,reference",
    [
        ("binary", lambda: binary_data(80, 31), sk_binary),
        ("binary", lambda: binary_data(80, 32, ties=True), sk_binary),
        ("multiclass", lambda: multiclass_data(90, 3, 33), sk_multiclass),
        ("regression", lambda: regression_data(60, 34), sk_regression),
    ],
    ids=["binary", "binary-ties", "multiclass", "regression"],
)
@pytest.mark.parametrize("block", [None, 8], ids=["one-block", "blocks-of-8"])
def test_vectorised_replicates_equal_naive_loop_on_same_resample_indices(monkeypatch, task, make, reference, block):
    if block is not None:  # the kernel walks its views in blocks: many small ones here
        import bot.core.compare.metrics as metrics

        monkeypatch.setattr(metrics, "_BLOCK", block)
    y, cand = make()
    rng = np.random.default_rng(35)
    base = np.clip(cand + rng.normal(0, 0.05, cand.shape), 0, None)
    if task == "binary":
        base = np.clip(base, 0, 1)
    elif task == "multiclass":
        base = base / base.sum(axis=1, keepdims=True)
    idx, counts = resample_counts(len(y), 12, 36)
    kernel = MetricKernel(task, y, cand, base)
    got_c, got_b = kernel.evaluate(kernel.to_canonical(counts))
    for b in range(len(idx)):
        rows = idx[b]
        for model, got in ((cand, got_c), (base, got_b)):
            want = reference(y[rows], model[rows])
            for name, value in want.items():
                assert got[name][b] == pytest.approx(value, abs=TOL), (name, b)


def test_point_estimate_is_the_unit_weight_evaluation():
    y, p = binary_data(500, 41)
    kernel = MetricKernel("binary", y, p)
    cand, base = kernel.evaluate(np.ones((3, len(y)), dtype=np.uint8))
    assert base is None
    for name, value in kernel.point()[0].items():
        assert cand[name] == pytest.approx([value] * 3, rel=1e-12)


def test_metric_is_nan_when_a_weight_row_drops_a_class():
    y, p = binary_data(50, 42)
    kernel = MetricKernel("binary", y, p)
    w = np.ones((1, len(y)), dtype=np.uint8)
    w[0, y] = 0  # no positive rows left
    cand, _ = kernel.evaluate(kernel.to_canonical(w))
    assert np.isnan(cand["roc_auc"][0]) and np.isnan(cand["recall"][0]) and np.isnan(cand["pr_auc"][0])
    assert cand["accuracy"][0] == pytest.approx(np.mean(p[~y] < 0.5))


def test_weights_out_of_range_are_rejected():
    y, p = binary_data(20, 43)
    kernel = MetricKernel("binary", y, p)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        kernel.evaluate(np.full((1, 20), 300))
