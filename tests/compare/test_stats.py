"""Bootstrap and DeLong: reproducible, paired, and in agreement with plain reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn import metrics as skm

from bot.core.compare.data import prepare
from bot.core.compare.metrics import MetricKernel
from bot.core.compare.stats import (
    bootstrap,
    bootstrap_weights,
    compare,
    default_resamples,
    delong,
)


def two_models(n, seed, *, ties=False, gap=0.0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    shared = rng.normal(size=n)
    cand = 1 / (1 + np.exp(-(1.2 * y + shared + 0.7 * rng.normal(size=n))))
    base = 1 / (1 + np.exp(-((1.2 + gap) * y + shared + 0.7 * rng.normal(size=n))))
    if ties:
        cand, base = np.round(cand, 1), np.round(base, 1)
    return y, cand, base


# -- DeLong ------------------------------------------------------------------------------------------


def delong_reference(y, a, b):
    """DeLong, DeLong & Clarke-Pearson (1988) straight from the definition: O(n^2) structural components."""
    def components(s):
        psi = (s[y][:, None] > s[~y][None, :]) + 0.5 * (s[y][:, None] == s[~y][None, :])
        return psi.mean(axis=1), psi.mean(axis=0)

    (v10a, v01a), (v10b, v01b) = components(a), components(b)
    m, n = y.sum(), (~y).sum()
    cov = np.cov(np.vstack([v10a, v10b])) / m + np.cov(np.vstack([v01a, v01b])) / n
    return v10a.mean(), v10b.mean(), cov


@pytest.mark.parametrize(
    "n,seed,ties,gap",
    [(300, 1, False, 0.0), (400, 2, True, 0.0), (250, 3, False, 0.8), (200, 4, True, -0.5)],
    ids=["continuous", "ties", "baseline-better", "candidate-better-ties"],
)
def test_delong_matches_quadratic_reference(n, seed, ties, gap):
    y, cand, base = two_models(n, seed, ties=ties, gap=gap)
    auc_a, auc_b, cov = delong_reference(y, cand, base)
    r = delong(y, cand, base, confidence=0.9)

    assert r.auc_candidate == pytest.approx(skm.roc_auc_score(y, cand), abs=1e-12)
    assert r.auc_baseline == pytest.approx(skm.roc_auc_score(y, base), abs=1e-12)
    assert np.array(r.covariance) == pytest.approx(cov, abs=1e-14)
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    assert r.se == pytest.approx(np.sqrt(var), rel=1e-10)
    z = (auc_a - auc_b) / np.sqrt(var)
    assert r.z == pytest.approx(z, rel=1e-10)
    assert r.p_value == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    half = norm.ppf(0.95) * np.sqrt(var)
    assert (r.ci_low, r.ci_high) == pytest.approx((auc_a - auc_b - half, auc_a - auc_b + half), abs=1e-12)
    assert r.interval(0.9) == pytest.approx((r.ci_low, r.ci_high), abs=1e-15)


def test_delong_identical_models_has_zero_delta_and_p_value_one():
    y, cand, _ = two_models(200, 5)
    r = delong(y, cand, cand)
    assert (r.delta, r.se, r.z, r.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert (r.ci_low, r.ci_high) == (0.0, 0.0)


def test_delong_detects_a_real_auc_drop():
    y, cand, base = two_models(3000, 6, gap=1.0)
    r = delong(y, cand, base)
    assert r.delta < 0 and r.p_value < 1e-6 and r.ci_high < 0


# -- bootstrap ---------------------------------------------------------------------------------------


def test_default_resamples_shrinks_with_size():
    assert [default_resamples(n) for n in (20, 5_000, 200_000, 400_000, 1_000_000, 10_000_000)] == [
        1000, 1000, 1000, 500, 200, 200,
    ]


def test_resample_weights_have_poisson_like_moments():
    w = bootstrap_weights(10_000, 40, seed=3).astype(float)
    assert w.min() == 0 and w.max() == 5
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.var() == pytest.approx(1.0, abs=0.02)
    assert np.mean(w == 0) == pytest.approx(np.exp(-1), abs=0.01)


def test_bootstrap_is_reproducible_and_independent_of_threads():
    y, cand, base = two_models(3000, 7)
    data = prepare("binary", y, cand, base)
    one = compare(data, seed=11, n_resamples=300, workers=1)
    two = compare(data, seed=11, n_resamples=300, workers=2)
    other = compare(data, seed=12, n_resamples=300, workers=2)
    for name in one.metrics:
        a, b = one.metrics[name], two.metrics[name]
        assert np.array_equal(a.candidate_replicates, b.candidate_replicates)
        assert np.array_equal(a.baseline_replicates, b.baseline_replicates)
        assert a.delta_interval(0.95) == b.delta_interval(0.95)
        assert not np.array_equal(a.candidate_replicates, other.metrics[name].candidate_replicates)


def assert_replicates_match_sklearn(kernel, reps, canonical, y, cand, base, resamples):
    """Each chosen bootstrap replicate equals scikit-learn on the rows that resample repeats."""
    for b in resamples:
        counts = np.zeros(len(y), dtype=int)
        counts[kernel.order] = canonical[b]
        rows = np.repeat(np.arange(len(y)), counts)
        for scores, got in ((cand, reps.candidate), (base, reps.baseline)):
            yy, ss = y[rows], scores[rows]
            assert got["roc_auc"][b] == pytest.approx(skm.roc_auc_score(yy, ss), abs=1e-12)
            assert got["pr_auc"][b] == pytest.approx(skm.average_precision_score(yy, ss), abs=1e-12)
            assert got["f1"][b] == pytest.approx(skm.f1_score(yy, ss >= 0.5), abs=1e-12)
            assert got["log_loss"][b] == pytest.approx(skm.log_loss(yy, ss, labels=[0, 1]), abs=1e-12)


def test_bootstrap_replicates_are_the_metrics_of_the_resampled_rows():
    """The vectorised bootstrap, resample by resample, against scikit-learn on the same resampled rows."""
    y, cand, base = two_models(60, 8)
    kernel = MetricKernel("binary", y, cand, base)
    reps = bootstrap(kernel, n_resamples=8, seed=5)
    canonical = bootstrap_weights(60, 8, seed=5)
    assert_replicates_match_sklearn(kernel, reps, canonical, y, cand, base, range(8))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_identical_models_give_a_zero_delta_interval(task):
    rng = np.random.default_rng(9)
    n = 500
    if task == "binary":
        y, preds = rng.random(n) < 0.3, rng.random(n)
    elif task == "multiclass":
        y, preds = rng.integers(0, 3, n), rng.dirichlet(np.ones(3), n)
    else:
        y, preds = rng.normal(size=n), rng.normal(size=n)
    comp = compare(prepare(task, y, preds, preds.copy()), n_resamples=200)
    for m in comp.metrics.values():
        iv = m.delta_interval(0.95)
        assert m.delta == 0 and iv.low == 0 and iv.high == 0, m.name


def test_delta_interval_covers_zero_when_models_are_equally_good():
    """Coverage sanity: two different models with the same true accuracy, many simulated sets."""
    covered = 0
    runs = 60
    for seed in range(runs):
        rng = np.random.default_rng(1000 + seed)
        n = 300
        y = rng.random(n) < 0.5
        cand = np.where(rng.random(n) < 0.85, y, ~y) * 0.8 + 0.1
        base = np.where(rng.random(n) < 0.85, y, ~y) * 0.8 + 0.1
        iv = compare(prepare("binary", y, cand, base), n_resamples=400, seed=seed).metrics["accuracy"].delta_interval(0.95)
        covered += iv.low <= 0 <= iv.high
    assert covered / runs >= 0.88


def test_bootstrap_interval_matches_the_analytic_standard_error_of_a_paired_accuracy_delta():
    y, cand, base = two_models(20_000, 10)
    comp = compare(prepare("binary", y, cand, base), n_resamples=1000)
    m = comp.metrics["accuracy"]
    diff = ((cand >= 0.5) == y).astype(float) - ((base >= 0.5) == y).astype(float)
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    iv = m.delta_interval(0.95)
    assert (iv.high - iv.low) / (2 * 1.96 * se) == pytest.approx(1.0, abs=0.1)
    assert m.delta == pytest.approx(diff.mean(), abs=1e-12)


def test_without_baseline_only_candidate_replicates_exist():
    y, cand, _ = two_models(400, 12)
    comp = compare(prepare("binary", y, cand), n_resamples=200)
    assert not comp.has_baseline
    m = comp.metrics["roc_auc"]
    assert m.baseline is None and m.delta is None and m.delta_interval() is None and m.delong is None
    iv = m.candidate_interval(0.95)
    assert iv.low < m.candidate < iv.high


def test_undefined_resamples_make_the_interval_undefined():
    # 1 positive in 40 rows: about 37% of the resamples leave it out, so recall/AUC are undefined
    # there (with 2 positives, 14% on average: too close to the 10% limit for any one seed)
    y = np.zeros(40, dtype=bool)
    y[:1] = True
    rng = np.random.default_rng(13)
    comp = compare(prepare("binary", y, rng.random(40), rng.random(40)), n_resamples=300)
    iv = comp.metrics["roc_auc"].candidate_interval()
    assert not iv.defined and iv.n_undefined > 30


def test_delong_refuses_a_single_class():
    with pytest.raises(ValueError, match="both classes"):
        delong(np.ones(5, dtype=bool), np.arange(5.0), np.arange(5.0))


def test_weight_rows_do_not_influence_each_other():
    """A resample's value depends on its own weights only, not on the batch it is evaluated in."""
    y, cand, base = two_models(3000, 14, ties=True)
    kernel = MetricKernel("binary", y, cand, base)
    w = bootstrap_weights(3000, 7, seed=2)
    whole_c, whole_b = kernel.evaluate(w)
    for lo, hi in ((0, 2), (2, 5), (5, 7)):
        part_c, part_b = kernel.evaluate(w[lo:hi])
        for name in whole_c:
            assert np.array_equal(part_c[name], whole_c[name][lo:hi])
            assert np.array_equal(part_b[name], whole_b[name][lo:hi])


def test_parallel_and_serial_kernels_agree():
    y, cand, base = two_models(120_000, 15)
    w = bootstrap_weights(120_000, 3, seed=4)
    serial = MetricKernel("binary", y, cand, base, workers=1)
    parallel = MetricKernel("binary", y, cand, base, workers=2)
    assert np.array_equal(serial.order, parallel.order)
    for a, b in zip(serial.evaluate(w), parallel.evaluate(w)):
        for name in a:
            assert np.array_equal(a[name], b[name])


def test_zero_weight_positives_ranked_first_count_for_nothing():
    """Top-ranked positives left out of a resample (weight 0, nothing ranked above them) must not give NaN."""
    y = np.array([1, 1, 0, 1, 0, 0, 1, 0], dtype=bool)
    p = np.array([0.99, 0.98, 0.9, 0.8, 0.7, 0.6, 0.5, 0.1])
    counts = np.array([[0, 0, 1, 2, 1, 0, 1, 3]])
    kernel = MetricKernel("binary", y, p)
    got, _ = kernel.evaluate(kernel.to_canonical(counts))
    rows = np.repeat(np.arange(8), counts[0])
    assert got["pr_auc"][0] == pytest.approx(skm.average_precision_score(y[rows], p[rows]), abs=1e-12)
    assert got["roc_auc"][0] == pytest.approx(skm.roc_auc_score(y[rows], p[rows]), abs=1e-12)


@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
def test_bootstrap_of_a_larger_set_matches_sklearn_and_the_kernel(ties):
    """Sets with thousands of rows per class take the bootstrap's large-set paths (weights gathered
    four resamples at a time for the baseline, cumulative sums row by row): still the metrics of
    the resampled rows, and the same numbers as evaluating the drawn weights directly."""
    y, cand, base = two_models(12_000, 16, ties=ties)
    kernel = MetricKernel("binary", y, cand, base)
    assert min(kernel.class_counts) >= 4096
    reps = bootstrap(kernel, n_resamples=6, seed=3)  # 6: one group of four resamples and a partial one
    canonical = bootstrap_weights(12_000, 6, seed=3)
    direct_c, direct_b = kernel.evaluate(canonical)
    for name in reps.candidate:
        assert np.array_equal(reps.candidate[name], direct_c[name]), name
        assert np.array_equal(reps.baseline[name], direct_b[name]), name
    assert_replicates_match_sklearn(kernel, reps, canonical, y, cand, base, (0, 5))


# -- batch layout and blocks ---------------------------------------------------------------------


@pytest.mark.parametrize("per,workers", [(1, 1), (8, 2), (24, 1), (40, 2), (256, 2)])
def test_replicates_do_not_depend_on_the_batch_layout(monkeypatch, per, workers):
    """The same seed gives the same replicates and intervals whatever the batches (their size is
    patched here, down to one resample asked per batch) and threads: every group of eight
    resamples draws from its own stream."""
    import bot.core.compare.stats as stats

    y, cand, base = two_models(5000, 21, ties=True)
    data = prepare("binary", y, cand, base)
    reference = compare(data, seed=9, n_resamples=203, workers=1)  # 203: a last, partial group of eight
    monkeypatch.setattr(stats, "batch_rows", lambda n_rows: per)
    assert len(stats._batches(5000, 203, workers)) > 1
    other = compare(data, seed=9, n_resamples=203, workers=workers)
    for name, a in reference.metrics.items():
        b = other.metrics[name]
        assert np.array_equal(a.candidate_replicates, b.candidate_replicates), name
        assert np.array_equal(a.baseline_replicates, b.baseline_replicates), name
        assert a.delta_interval(0.95) == b.delta_interval(0.95)
        assert a.candidate_interval(0.95) == b.candidate_interval(0.95)
        assert a.delta_interval(0.999, normal=True) == b.delta_interval(0.999, normal=True)


def test_a_resample_is_the_same_in_a_longer_run():
    """Resample r does not depend on how many resamples are drawn after it."""
    y, cand, base = two_models(2000, 22)
    data = prepare("binary", y, cand, base)
    short, long = compare(data, seed=4, n_resamples=13), compare(data, seed=4, n_resamples=200)
    for name, a in short.metrics.items():
        assert np.array_equal(a.candidate_replicates, long.metrics[name].candidate_replicates[:13]), name
        assert np.array_equal(a.baseline_replicates, long.metrics[name].baseline_replicates[:13]), name
    assert np.array_equal(bootstrap_weights(2000, 13, 4), bootstrap_weights(2000, 200, 4)[:13])


@pytest.mark.parametrize("block", [16, 64, 1000])
@pytest.mark.parametrize("ties", [False, True], ids=["continuous", "ties"])
def test_small_blocks_give_the_metrics_of_the_resampled_rows(monkeypatch, block, ties):
    """The kernel walks each view in blocks carrying the running weights; blocks far smaller than
    the set (threshold counts, tie groups and runs of negatives between blocks) still give each
    resample's metrics exactly, and a row's values do not depend on the other rows."""
    import bot.core.compare.metrics as metrics

    monkeypatch.setattr(metrics, "_BLOCK", block)
    y, cand, base = two_models(3000, 23, ties=ties)
    kernel = MetricKernel("binary", y, cand, base)
    assert len(kernel.views[0].blocks) > 1 and len(kernel.views[1].blocks) > 1
    reps = bootstrap(kernel, n_resamples=11, seed=6)
    canonical = bootstrap_weights(3000, 11, seed=6)
    assert_replicates_match_sklearn(kernel, reps, canonical, y, cand, base, (0, 3, 10))
    for r in (0, 3, 10):
        counts = np.zeros(len(y), dtype=int)
        counts[kernel.order] = canonical[r]
        rows = np.repeat(np.arange(len(y)), counts)
        for scores, got in ((cand, reps.candidate), (base, reps.baseline)):
            yy, pred = y[rows], scores[rows] >= 0.5
            assert got["accuracy"][r] == pytest.approx(skm.accuracy_score(yy, pred), abs=1e-12)
            assert got["precision"][r] == pytest.approx(skm.precision_score(yy, pred, zero_division=0), abs=1e-12)
            assert got["recall"][r] == pytest.approx(skm.recall_score(yy, pred), abs=1e-12)
            assert got["brier"][r] == pytest.approx(skm.brier_score_loss(yy, scores[rows]), abs=1e-12)
    c1, b1 = kernel.evaluate(canonical[2:5])
    c2, b2 = kernel.evaluate(canonical)
    for name in c1:
        assert np.array_equal(c1[name], c2[name][2:5]) and np.array_equal(b1[name], b2[name][2:5]), name


def test_the_canonical_order_is_a_stable_ranking():
    """Ties keep row order, so the canonical order (which row takes which weight) is a function of
    the data alone."""
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=bool)
    p = np.array([0.5, 0.5, 0.9, 0.5, 0.2, 0.5, 0.9, 0.2])
    kernel = MetricKernel("binary", y, p)
    assert kernel.order.tolist() == [2, 6, 0, 3, 1, 5, 4, 7]


@pytest.mark.parametrize("kind", ["continuous", "rounded", "near-ties", "tiny", "zeros", "float32"])
def test_the_fast_ranking_is_a_stable_descending_argsort(kind):
    """The kernel's sort (8-byte keys with the row index in the low bits, then the runs whose
    values differ only in those bits put right) equals argsort(-x, kind="stable") exactly, with the
    positives first when asked."""
    from bot.core.compare.metrics import _descending

    rng = np.random.default_rng(len(kind))
    for n in (1, 2, 3, 17, 1000, 5000):
        if kind == "continuous":
            x = rng.random(n)
        elif kind == "rounded":
            x = np.round(rng.random(n), 2)
        elif kind == "near-ties":  # differences of a few ulps: below what the key keeps
            x = 0.5 + rng.integers(-40, 40, n) * 2.0**-52
        elif kind == "tiny":
            x = rng.normal(size=n) * 1e-300
        elif kind == "zeros":
            x = np.where(rng.random(n) < 0.5, -0.0, 0.0) + (rng.random(n) < 0.3) * rng.normal(size=n)
        else:
            x = rng.random(n).astype(np.float32).astype(np.float64)
        assert np.array_equal(_descending(x), np.argsort(-x, kind="stable")), n
        first = rng.random(n) < 0.3
        want = np.concatenate([np.flatnonzero(first)[np.argsort(-x[first], kind="stable")],
                               np.flatnonzero(~first)[np.argsort(-x[~first], kind="stable")]])
        assert np.array_equal(_descending(x, first=first), want), n


def test_compare_many_gives_the_numbers_of_one_compare_per_set():
    from bot.core.compare.stats import compare_many

    sets = [prepare("binary", *two_models(n, 30 + n)) for n in (300, 2000, 900)]
    together = compare_many(sets, seeds=[5, 6, 7], n_resamples=40, workers=2)
    for data, seed, got in zip(sets, (5, 6, 7), together):
        alone = compare(data, seed=seed, n_resamples=40, workers=1)
        for name, a in alone.metrics.items():
            b = got.metrics[name]
            assert a.candidate == b.candidate and a.baseline == b.baseline, name
            assert np.array_equal(a.candidate_replicates, b.candidate_replicates), name
            assert np.array_equal(a.baseline_replicates, b.baseline_replicates), name
        assert alone.metrics["roc_auc"].delong == got.metrics["roc_auc"].delong


@pytest.mark.parametrize("wanted", [{"recall"}, {"accuracy", "f1"}, {"pr_auc"}, {"log_loss", "brier"}, {"roc_auc", "precision"}])
def test_a_subset_of_metrics_has_the_same_replicates(wanted):
    """Drawing replicates for some metrics only (what a slice's gates judge) gives those metrics'
    replicates exactly: the label metrics come from counts above the threshold without the walk
    through the rankings, and agree with it."""
    y, cand, base = two_models(4000, 31, ties=True)
    kernel = MetricKernel("binary", y, cand, base)
    full = bootstrap(kernel, n_resamples=24, seed=8)
    part = bootstrap(kernel, n_resamples=24, seed=8, metrics=wanted)
    assert set(part.candidate) == set(part.baseline) == wanted
    for name in wanted:
        assert np.array_equal(part.candidate[name], full.candidate[name]), name
        assert np.array_equal(part.baseline[name], full.baseline[name]), name


def test_slices_draw_what_their_gates_judge():
    from bot.core.compare.gates import Gate
    from bot.core.compare.slices import _seed, evaluate_slices

    y, cand, base = two_models(6000, 32)
    data = prepare("binary", y, cand, base)
    column = np.arange(6000) % 3
    gates = [Gate("roc_auc", max_regression=0.05), Gate("recall", max_regression=0.05)]
    report = evaluate_slices(data, {"c": column}, gates, min_rows=100, max_levels=10, confidence=0.95, seed=3,
                             n_resamples=40)
    for s in report.slices:
        mask = column == int(s.level)
        alone = compare(prepare("binary", y[mask], cand[mask], base[mask]), seed=_seed(3, "c", s.level), n_resamples=40)
        assert set(s.comparison.metrics) == {"roc_auc", "recall"}
        roc, recall = s.comparison.metrics["roc_auc"], s.comparison.metrics["recall"]
        assert roc.candidate_replicates is None and roc.delong == alone.metrics["roc_auc"].delong  # DeLong's test
        assert roc.delta_interval(0.99, normal=True) == alone.metrics["roc_auc"].delta_interval(0.99, normal=True)
        with pytest.raises(ValueError, match="no bootstrap replicates of roc_auc"):
            roc.candidate_interval(0.95)
        assert np.array_equal(recall.candidate_replicates, alone.metrics["recall"].candidate_replicates)
        assert np.array_equal(recall.baseline_replicates, alone.metrics["recall"].baseline_replicates)
        assert recall.candidate == alone.metrics["recall"].candidate


def test_top_positives_left_out_across_several_blocks_count_for_nothing(monkeypatch):
    """Weight 0 on every positive of the first blocks (nothing weighted above them) must not turn
    PR AUC into NaN when the block after them starts with more such positives."""
    import bot.core.compare.metrics as metrics

    monkeypatch.setattr(metrics, "_BLOCK", 16)
    rng = np.random.default_rng(50)
    y = np.concatenate([np.ones(40, dtype=bool), rng.random(200) < 0.4])
    p = np.linspace(1.0, 0.01, len(y))
    counts = np.ones((1, len(y)), dtype=np.uint8)
    counts[0, :45] = 0  # the top 45 rows: the first 40 positives and whatever follows
    kernel = MetricKernel("binary", y, p)
    assert len(kernel.views[0].blocks) > 2
    got, _ = kernel.evaluate(kernel.to_canonical(counts))
    keep = counts[0] > 0
    assert got["pr_auc"][0] == pytest.approx(skm.average_precision_score(y[keep], p[keep]), abs=1e-12)
    assert got["roc_auc"][0] == pytest.approx(skm.roc_auc_score(y[keep], p[keep]), abs=1e-12)
