"""The experiment statistics held against independent computations (scipy.stats, direct loops)
and against simulations from known distributions with fixed seeds."""

import math
import time

import numpy as np
import pytest
from scipy import stats as sps
from scipy.stats import kstwo

from bot.core.experiment import special
from bot.core.experiment.stats import (
    FAIL,
    MARGINAL,
    NOT_ENOUGH_DATA,
    OK,
    PASS,
    PROMOTE,
    ROLL_BACK,
    KEEP_RUNNING,
    Arm,
    MetricSpec,
    ab_verdict,
    compare_shadow,
    disagreement,
    error_distribution,
    judge_canary,
    ks_2samp,
    mann_whitney,
    msprt,
    psi,
    sample_ratio_mismatch,
    sample_size_per_arm,
    sample_size_proportions,
    sequential_test,
    wilson_interval,
)

RNG = np.random.default_rng(20240501)


# -- shadow --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n1,n2,shift", [(5, 7, 0.0), (10, 10, 1.0), (30, 45, 0.3), (200, 150, 0.3),
                                         (1000, 1000, 0.1), (37, 3000, 0.2), (20000, 30000, 0.03)])
def test_ks_matches_scipy(n1, n2, shift):
    a, b = RNG.normal(size=n1), RNG.normal(shift, size=n2)
    ours = ks_2samp(a, b)
    method = "exact" if ours.method == "exact" else "asymp"
    ref = sps.ks_2samp(a, b, method=method)
    assert ours.statistic == pytest.approx(ref.statistic, abs=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-6 if method == "exact" else 2e-2, abs=1e-12)
    assert ours.method == ("asymptotic" if (n1, n2) == (20000, 30000) else "exact")


def test_ks_with_ties_and_the_asymptotic_tail():
    a, b = RNG.integers(0, 5, 300).astype(float), RNG.integers(0, 6, 250).astype(float)
    assert ks_2samp(a, b).p_value == pytest.approx(sps.ks_2samp(a, b, method="exact").pvalue, rel=1e-6)
    for n, d in [(5000, 0.03), (100_000, 0.01), (300, 0.1), (5000, 0.01)]:
        rel = 1e-6 if n * d * d >= 2.2 else 2e-2
        assert special._kolmogorov_sf(n, d) == pytest.approx(kstwo.sf(d, n), rel=rel)


def psi_direct(expected, actual, bins, eps):
    edges = sorted(set(np.quantile(expected, [k / bins for k in range(1, bins)]).tolist()))
    def shares(x):
        counts = [0] * (len(edges) + 1)
        for v in x:
            i = 0
            while i < len(edges) and v > edges[i]:
                i += 1
            counts[i] += 1
        return [c / len(x) or eps for c in counts]
    e, a = shares(expected), shares(actual)
    return sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e))


def test_psi_matches_a_direct_computation_and_reads_in_bands():
    base = RNG.normal(size=2000)
    same = RNG.normal(size=1500)
    moved = RNG.normal(0.8, 1.2, size=1500)
    for cand in (same, moved):
        assert psi(base, cand).value == pytest.approx(psi_direct(base, cand, 10, 1e-4), rel=1e-12)
    assert psi(base, same).band == "stable"
    assert psi(base, moved).band == "significant"
    # few distinct values: repeated quantile edges merge; an empty candidate bin gets epsilon
    labels = np.repeat([0.0, 1.0], [900, 100])
    r = psi(labels, np.zeros(500))
    assert len(r.edges) + 1 == len(r.expected) and 1e-4 in r.actual
    assert r.value == pytest.approx(psi_direct(labels, np.zeros(500), 10, 1e-4))


def test_disagreement_with_wilson_interval():
    prod = RNG.integers(0, 2, 1000)
    flip = RNG.random(1000) < 0.03
    shadow = np.where(flip, 1 - prod, prod)
    r = disagreement(prod, shadow)
    assert r.status == OK and r.disagreements == int(flip.sum())
    low, high = sps.binomtest(r.disagreements, 1000).proportion_ci(0.95, method="wilson")
    assert (r.low, r.high) == (pytest.approx(low), pytest.approx(high))
    scored = disagreement(prod * 0.9, shadow * 0.9, threshold=0.5)
    assert scored.disagreements == r.disagreements
    assert all(math.isnan(x) for x in wilson_interval(0, 0))
    assert wilson_interval(0, 50)[0] == 0.0


def test_error_distribution_quantiles():
    prod = RNG.normal(size=500)
    shadow = prod + RNG.normal(0.1, 0.2, size=500)
    r = error_distribution(prod, shadow, quantiles=(0.5, 0.99))
    d = shadow - prod
    assert r.mean == pytest.approx(d.mean()) and r.quantiles[0.99] == pytest.approx(np.quantile(d, 0.99))
    assert r.abs_quantiles[0.5] == pytest.approx(np.median(np.abs(d)))


def test_shadow_bad_inputs_give_not_enough_data():
    assert disagreement([], []).status == NOT_ENOUGH_DATA
    assert disagreement([1, 2], [1]).status == NOT_ENOUGH_DATA
    assert disagreement(["a"] * 40, ["b"] * 40).status == NOT_ENOUGH_DATA
    nan = disagreement([math.nan] * 100, [1.0] * 100)
    assert nan.status == NOT_ENOUGH_DATA and nan.dropped == 100
    assert error_distribution([math.inf] * 5, [0] * 5).status == NOT_ENOUGH_DATA
    assert psi([], [1.0] * 100).status == NOT_ENOUGH_DATA
    assert ks_2samp([], [1.0]).status == NOT_ENOUGH_DATA
    const = compare_shadow(np.ones(100), np.ones(100), task="regression")
    assert const.status == OK and const.errors.mean == 0 and const.psi.value == 0 and const.ks.p_value == 1
    assert compare_shadow([], [], task="classification").status == NOT_ENOUGH_DATA


# -- A/B -----------------------------------------------------------------------------------------


def test_srm_matches_scipy_chisquare():
    r = sample_ratio_mismatch([5120, 4880], [0.5, 0.5])
    ref = sps.chisquare([5120, 4880], [5000, 5000])
    assert r.chi2 == pytest.approx(ref.statistic) and r.p_value == pytest.approx(ref.pvalue)
    assert r.mismatch is False
    r3 = sample_ratio_mismatch([8200, 1000, 1100], [0.8, 0.1, 0.1])
    ref3 = sps.chisquare([8200, 1000, 1100], np.array([0.8, 0.1, 0.1]) * 10300)
    assert r3.p_value == pytest.approx(ref3.pvalue, rel=1e-9)
    assert sample_ratio_mismatch([5400, 4600], [0.5, 0.5]).mismatch is True
    assert sample_ratio_mismatch([3, 1], [0.5, 0.5]).status == NOT_ENOUGH_DATA
    assert sample_ratio_mismatch([100, 0], [0.5, 0.5]).mismatch is True  # an arm with no traffic
    assert sample_ratio_mismatch([1, 2], [0.5]).status == NOT_ENOUGH_DATA
    assert sample_ratio_mismatch([1, math.nan], [0.5, 0.5]).status == NOT_ENOUGH_DATA


def test_sample_size_planning_figures():
    # the textbook case: 10% baseline, +2 points, alpha 0.05, power 0.8 -> about 3,840 per arm
    n = sample_size_proportions(0.10, 0.02)
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert n == math.ceil(z * z * (0.09 + 0.12 * 0.88) / 0.0004)
    assert 3800 < n < 3900
    assert sample_size_per_arm(0.5, 4.0) == math.ceil(z * z * 8 / 0.25)
    assert sample_size_per_arm(0, 1.0) is None and sample_size_per_arm(0.1, math.nan) is None


def looks_from(control, treatment, n_looks):
    """Cumulative (control, treatment) Arms at n_looks equally spaced looks."""
    cut_c = np.linspace(0, len(control), n_looks + 1).astype(int)[1:]
    cut_t = np.linspace(0, len(treatment), n_looks + 1).astype(int)[1:]
    return [(Arm.from_values(control[:i]), Arm.from_values(treatment[:j])) for i, j in zip(cut_c, cut_t)]


def test_a_known_better_variant_wins_and_a_worse_one_is_rolled_back():
    rng = np.random.default_rng(7)
    control = (rng.random(20000) < 0.10).astype(float)
    better = (rng.random(20000) < 0.12).astype(float)
    v = ab_verdict(looks_from(control, better, 20), mde=0.02, proportion=True)
    assert v.recommendation == PROMOTE, v.reason
    assert v.sequential.ci_low > 0 and v.srm.mismatch is False and v.required_per_arm > 3000
    worse = (rng.random(20000) < 0.08).astype(float)
    assert ab_verdict(looks_from(control, worse, 20), mde=0.02, proportion=True).recommendation == ROLL_BACK
    # lower is better (say, a cost per request): the lower arm wins
    cost_c, cost_t = rng.normal(10, 2, 5000), rng.normal(9.7, 2, 5000)
    assert ab_verdict(looks_from(cost_c, cost_t, 10), mde=0.3, higher_is_better=False).recommendation == PROMOTE


def test_ab_bad_inputs_never_give_a_winner():
    assert ab_verdict([], mde=0.1).recommendation == NOT_ENOUGH_DATA
    no_traffic = [(Arm.from_values(np.ones(500)), Arm.from_values([]))]
    assert ab_verdict(no_traffic, mde=0.1).recommendation == NOT_ENOUGH_DATA
    constant = [(Arm.from_values(np.ones(500)), Arm.from_values(np.ones(500)))]
    assert ab_verdict(constant, mde=0.1).recommendation == NOT_ENOUGH_DATA
    few = [(Arm.from_values([1.0, 2.0]), Arm.from_values([5.0, 6.0]))]
    assert ab_verdict(few, mde=0.1).recommendation == NOT_ENOUGH_DATA
    nan = [(Arm.from_values([math.nan] * 100), Arm.from_values([math.inf] * 100))]
    assert ab_verdict(nan, mde=0.1).recommendation == NOT_ENOUGH_DATA
    assert ab_verdict(constant, mde=math.nan).recommendation == NOT_ENOUGH_DATA
    # a broken split: the treatment got far fewer requests than its 50 % -> no winner
    rng = np.random.default_rng(3)
    skewed = looks_from(rng.normal(0, 1, 6000), rng.normal(1, 1, 4000), 5)
    v = ab_verdict(skewed, mde=0.5)
    assert v.recommendation == KEEP_RUNNING and v.srm.mismatch and "sample ratio" in v.reason
    # looks delivered out of order (clock skew) give the same verdict
    looks = looks_from(rng.normal(0, 1, 3000), rng.normal(0.3, 1, 3000), 6)
    assert ab_verdict(looks[::-1], mde=0.2) == ab_verdict(looks, mde=0.2)


def test_msprt_matches_the_formula():
    lam, p, half = msprt(0.3, 0.01, 0.04, 0.05)
    v, t2 = 0.01, 0.04
    expect = math.sqrt(v / (v + t2)) * math.exp(0.09 * t2 / (2 * v * (v + t2)))
    assert float(lam) == pytest.approx(expect) and float(p) == pytest.approx(1 / expect)
    assert float(half) == pytest.approx(math.sqrt(v * (v + t2) / t2 * (2 * math.log(20) + math.log((v + t2) / v))))
    same = sequential_test([(Arm.from_values([0, 1] * 50), Arm.from_values([0, 1] * 50))], tau=0.1)
    v = 2 * (0.25 * 100 / 99) / 100
    assert same.status == OK and same.effect == 0 and same.p_value == 1.0  # 1 / Lambda = sqrt((v + tau^2) / v) > 1
    assert math.sqrt((v + 0.01) / v) > 1
    assert sequential_test([], tau=0.1).status == NOT_ENOUGH_DATA
    assert sequential_test([], tau=-1).status == NOT_ENOUGH_DATA


N_EXPERIMENTS, N_LOOKS, PER_LOOK, ALPHA = 1000, 50, 40, 0.05
# Monte Carlo margin: 3 standard errors of a rate at alpha over 1,000 experiments
MC_MARGIN = 3 * math.sqrt(ALPHA * (1 - ALPHA) / N_EXPERIMENTS)


def simulate_null_looks(seed: int):
    """1,000 A/A experiments (both arms Bernoulli(0.1)), 50 looks of 40 requests per arm each:
    the difference of the cumulative means and its plug-in variance at every look."""
    rng = np.random.default_rng(seed)
    n = PER_LOOK * np.arange(1, N_LOOKS + 1)
    sums = []
    for _ in range(2):
        per = rng.binomial(PER_LOOK, 0.1, size=(N_EXPERIMENTS, N_LOOKS))
        sums.append(np.cumsum(per, axis=1))
    mc, mt = sums[0] / n, sums[1] / n
    var = (mc * (1 - mc) * n / (n - 1) + mt * (1 - mt) * n / (n - 1)) / n
    return mt - mc, var


def test_msprt_false_positive_rate_under_continuous_peeking_stays_within_alpha():
    """No difference, 1,000 experiments x 50 looks: the always-valid p-value drops below alpha at
    some look in at most alpha (+ Monte Carlo margin) of experiments; a fixed-horizon z-test
    peeked at the same looks does not hold its level."""
    diff, var = simulate_null_looks(11)
    tau = 0.02  # the mixing sd: a 2-point effect on a 10 % rate, as ab_verdict would use for mde 0.02
    _, p, _ = msprt(diff, var, tau * tau, ALPHA)
    p = np.where(np.isnan(p), 1.0, p)
    fpr_msprt = float(np.mean(np.min(p, axis=1) <= ALPHA))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(diff) / np.sqrt(var)
    naive = 2 * sps.norm.sf(np.nan_to_num(z))
    fpr_naive = float(np.mean(np.min(naive, axis=1) <= ALPHA))
    fpr_last_look = float(np.mean(naive[:, -1] <= ALPHA))
    print(f"mSPRT FPR {fpr_msprt:.3f}; naive peeking FPR {fpr_naive:.3f}; naive at the final look only {fpr_last_look:.3f}")
    assert fpr_msprt <= ALPHA + MC_MARGIN
    assert fpr_naive > ALPHA + MC_MARGIN  # peeking breaks the fixed-horizon test
    assert fpr_last_look <= ALPHA + MC_MARGIN  # ... which is fine when read once


def test_ab_verdict_declares_no_winner_on_an_aa_test_over_repeated_looks():
    """The full ab_verdict on 200 A/A experiments with 25 looks each: a winner (promote) in at
    most alpha/2 + margin of them (promote is one side of the two-sided test)."""
    rng = np.random.default_rng(5)
    promoted = rolled = 0
    for _ in range(200):
        control, treatment = rng.normal(5, 1, 2500), rng.normal(5, 1, 2500)
        looks = looks_from(control, treatment, 25)
        for k in range(1, 26):  # the report read at every tick
            rec = ab_verdict(looks[:k], mde=0.1).recommendation
            if rec in (PROMOTE, ROLL_BACK):
                promoted += rec == PROMOTE
                rolled += rec == ROLL_BACK
                break
    assert promoted / 200 <= ALPHA / 2 + 3 * math.sqrt(0.025 * 0.975 / 200)
    assert (promoted + rolled) / 200 <= ALPHA + 3 * math.sqrt(0.05 * 0.95 / 200)


# -- canary --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n1,n2,ties,alt", [(5, 7, False, "two-sided"), (8, 30, False, "greater"),
                                             (20, 25, True, "less"), (300, 280, True, "two-sided"),
                                             (6, 6, True, "greater"), (9, 9, False, "two-sided")])
def test_mann_whitney_matches_scipy(n1, n2, ties, alt):
    gen = (lambda n: RNG.integers(0, 6, n).astype(float)) if ties else (lambda n: RNG.normal(size=n))
    x, y = gen(n1) + 0.5, gen(n2)
    ours = mann_whitney(x, y, alternative=alt)
    ref = sps.mannwhitneyu(x, y, alternative=alt, method="auto")
    assert ours.u == pytest.approx(ref.statistic)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.method == ("exact" if not ties and min(n1, n2) <= 8 else "asymptotic")
    assert mann_whitney([], y) is None


SPECS = (MetricSpec("latency_ms", higher_is_worse=True, weight=2, critical=True, tolerance=0.1),
         MetricSpec("error_rate", higher_is_worse=True, weight=1),
         MetricSpec("invocations", higher_is_worse=False, weight=1))


def canary_samples(latency_shift=0.0, errors=0.01, n=30, seed=1):
    rng = np.random.default_rng(seed)
    return {"latency_ms": (rng.lognormal(math.log(50 * (1 + latency_shift)), 0.1, n), rng.lognormal(math.log(50), 0.1, n)),
            "error_rate": (rng.binomial(1000, errors, n) / 1000, rng.binomial(1000, 0.01, n) / 1000),
            "invocations": (rng.poisson(1000, n).astype(float), rng.poisson(1000, n).astype(float))}


def test_canary_passes_a_healthy_candidate_and_fails_a_slow_one():
    ok = judge_canary(canary_samples(), SPECS)
    assert ok.verdict == PASS and ok.score == 100
    slow = judge_canary(canary_samples(latency_shift=0.5), SPECS)
    assert slow.verdict == FAIL and "critical" in slow.reason
    assert slow.metrics[0].classification == FAIL and slow.metrics[0].relative_shift > 0.4
    erring = judge_canary(canary_samples(errors=0.05), SPECS)
    assert erring.metrics[1].classification == FAIL and erring.score == 75  # weights 2 + 1 of 4 pass
    assert erring.verdict == MARGINAL  # 75 <= score < 95
    assert judge_canary(canary_samples(errors=0.05), SPECS, marginal_threshold=80).verdict == FAIL
    slight = judge_canary(canary_samples(latency_shift=0.05, n=200), SPECS)
    assert slight.metrics[0].classification == MARGINAL  # significant but within 10 %


def test_canary_never_promotes_on_too_little_data():
    few = canary_samples(n=5)
    assert judge_canary(few, SPECS).verdict == NOT_ENOUGH_DATA
    missing = canary_samples()
    del missing["error_rate"]
    assert judge_canary(missing, SPECS).verdict == NOT_ENOUGH_DATA
    no_traffic = canary_samples()
    no_traffic["invocations"] = ([], no_traffic["invocations"][1])
    assert judge_canary(no_traffic, SPECS).verdict == NOT_ENOUGH_DATA
    nan = canary_samples()
    nan["latency_ms"] = (np.full(30, math.nan), nan["latency_ms"][1])
    assert judge_canary(nan, SPECS).verdict == NOT_ENOUGH_DATA
    constant = {k: (np.zeros(30), np.zeros(30)) for k in ("latency_ms", "error_rate", "invocations")}
    assert judge_canary(constant, SPECS).verdict == PASS  # identical constants: no evidence of harm
    # a clear critical failure rolls back even while another metric still lacks data
    early = canary_samples(latency_shift=0.5)
    early["error_rate"] = ([], [])
    assert judge_canary(early, SPECS).verdict == FAIL
    assert judge_canary({}, ()).verdict == NOT_ENOUGH_DATA


def test_large_inputs_run_in_bounded_time():
    big = RNG.normal(size=2_000_000)
    start = time.perf_counter()
    ks_2samp(big[:1_000_000], big[1_000_000:] + 0.001)
    mann_whitney(big[:1_000_000], big[1_000_000:])
    psi(big[:1_000_000], big[1_000_000:])
    assert time.perf_counter() - start < 5
