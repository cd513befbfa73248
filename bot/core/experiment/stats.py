"""Statistics for experiments on live traffic: shadow comparison, A/B test, canary judge.

Values in, frozen results out; data problems (empty samples, NaN/inf, no traffic, constant
samples) give a result with `status="not_enough_data"` (or the verdict "not_enough_data") and a
reason, never an exception and never a winner. Non-finite values are dropped and counted.
Everything works on numpy arrays in O(n log n) at most.

Shadow comparison (production and shadow answers to the same requests, `capture.pair_records`):
- `disagreement`: share of requests whose labels differ, with the Wilson score interval
  (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it over the Wald interval) at
  `confidence` (0.95). Scores become labels at `threshold` (score >= threshold) when given.
- `error_distribution`: shadow - production per request: mean, mean absolute difference and
  quantiles (numpy's linear interpolation) of the difference and of its absolute value.
- `psi`: population stability index, sum over bins of (a - e) ln(a / e), e and a the baseline's
  and candidate's shares per bin. Bins: `bins` (10) quantile bins of the baseline (edges at
  its k/bins quantiles, repeated edges merged, so a baseline with few distinct values gets
  fewer bins), bin i = (edge[i-1], edge[i]], outer bins open-ended; an empty bin's share is
  replaced by `epsilon` (1e-4) on either side, the other shares left as they are. Reading
  (Siddiqi 2006, the usual credit-scoring bands): < 0.1 stable, 0.1-0.25 moderate shift,
  >= 0.25 significant shift.
- `ks_2samp`: two-sample Kolmogorov–Smirnov statistic D = max |F1 - F2| and its two-sided
  p-value, exact or asymptotic as in `special.ks_2samp_sf` (scipy.stats.ks_2samp's method).

A/B test, valid under continuous monitoring (the report is read at every tick):
- `sequential_test`: mixture sequential probability ratio test (mSPRT; Johari, Koomen, Pekelis
  & Walsh 2017, "Peeking at A/B tests: why it matters, and what to do about it", KDD; and
  "Always valid inference", Operations Research 2022) for the difference of two means
  (proportions are means of 0/1), treatment - control. With theta_hat the difference of the
  arm means and V = s_t^2 / n_t + s_c^2 / n_c its variance (plug-in sample variances), the
  normal mixture with mixing distribution N(0, tau^2) over the effect gives
      Lambda = sqrt(V / (V + tau^2)) exp(theta_hat^2 tau^2 / (2 V (V + tau^2))).
  The always-valid p-value is the running minimum of min(1, 1 / Lambda) over the looks; the
  confidence sequence at level 1 - alpha is theta_hat +- sqrt(V (V + tau^2) / tau^2 (2 ln(1 /
  alpha) + ln((V + tau^2) / V))), intersected over the looks. Parameter: the mixing standard
  deviation `tau` in the metric's units (tau^2 the mixing variance); by default the configured
  minimum detectable effect (the effect size one wants to detect, as Johari et al. advise
  matching tau to the effects expected). Looks are ordered by their sample count, not by
  their timestamps (clock skew); looks with fewer than `min_per_arm` per arm are skipped.
- `sample_ratio_mismatch`: Pearson's chi-square goodness of fit of the observed counts per arm
  against the configured weights (k - 1 degrees of freedom); a mismatch at p < `alpha` =
  0.001, the strict level conventional for SRM checks (Fabijan et al. 2019, "Diagnosing sample
  ratio mismatch in online controlled experiments", KDD), since it is run at every look.
  Fewer than 5 expected per arm: not enough data.
- `sample_size_per_arm` / `sample_size_proportions`: the fixed-horizon planning figure
  n = (z_{1-alpha/2} + z_power)^2 (var_c + var_t) / mde^2 per arm (two-sided, normal
  approximation; for proportions var = p (1 - p) at the baseline rate and at baseline + mde).
  A planning figure only: the sequential test stays valid before and after it.
- `ab_verdict`: promote | keep_running | roll_back | not_enough_data with the reason: not enough
  data below `min_per_arm` per arm or with no variance; keep_running (no winner) on a sample
  ratio mismatch; promote / roll_back when the confidence sequence excludes 0 (better / worse
  in the metric's direction); otherwise keep_running, saying how much of the planned sample
  has been seen (past it, that no difference beyond the mde is being detected).

Operational canary judge (Kayenta-style; Spinnaker Kayenta's Mann–Whitney classifier):
- `mann_whitney`: U of the candidate (U1 as scipy.stats.mannwhitneyu reports it) and its
  p-value: exact without ties when a side has <= 8 points (`special.mwu_exact_sf`), otherwise
  the normal approximation with tie correction and continuity correction (Mann & Whitney 1947;
  tie term sum(t^3 - t)), as scipy.
- `judge_canary`: per metric (`MetricSpec`: name, higher_is_worse, weight, critical,
  tolerance), candidate vs baseline samples over the bake. Fewer than `min_points` (10) on
  either side -> not_enough_data. A one-sided test in the bad direction at `alpha` (0.05):
  not significantly worse -> pass; significantly worse with a relative shift of the means
  within `tolerance` -> marginal; beyond it -> fail. Score = 100 x (weight of passing metrics)
  / (weight of all metrics). Overall: fail if a critical metric fails (even when others lack
  data: a clear failure rolls back early); else not_enough_data if any metric lacks data
  (never promoting on too little data); else pass if score >= `pass_threshold` (95), marginal
  if score >= `marginal_threshold` (75), fail below.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from bot.core.experiment.special import (
    chi2_sf,
    ks_2samp_sf,
    mwu_exact_feasible,
    mwu_exact_sf,
    norm_ppf,
    norm_sf,
)

OK, NOT_ENOUGH_DATA = "ok", "not_enough_data"
PROMOTE, KEEP_RUNNING, ROLL_BACK = "promote", "keep_running", "roll_back"
PASS, MARGINAL, FAIL = "pass", "marginal", "fail"
MIN_PAIRS = 30
PSI_BINS = 10
PSI_EPSILON = 1e-4
PSI_BANDS = ((0.1, "stable"), (0.25, "moderate"), (math.inf, "significant"))
SRM_ALPHA = 0.001
SRM_MIN_EXPECTED = 5.0
AB_MIN_PER_ARM = 30
CANARY_MIN_POINTS = 10


def finite(values) -> tuple[np.ndarray, int]:
    """(the finite values as a 1-d float array, how many were dropped). Non-numbers -> empty."""
    try:
        a = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        try:
            n = len(values)
        except TypeError:
            n = 0
        return np.empty(0), n
    ok = np.isfinite(a)
    return a[ok], int(a.size - ok.sum())


def _paired(production, shadow) -> tuple[np.ndarray, np.ndarray, int, str | None]:
    try:
        p = np.asarray(production, dtype=np.float64).ravel()
        s = np.asarray(shadow, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return np.empty(0), np.empty(0), 0, "answers are not numbers"
    if p.shape != s.shape:
        return np.empty(0), np.empty(0), 0, f"{p.size} production answers but {s.size} shadow answers"
    ok = np.isfinite(p) & np.isfinite(s)
    return p[ok], s[ok], int(p.size - ok.sum()), None


# -- shadow comparison ---------------------------------------------------------------------------


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion k / n; (nan, nan) for n = 0."""
    if n <= 0:
        return math.nan, math.nan
    z = norm_ppf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, center - half), min(1.0, center + half)


@dataclass(frozen=True)
class Disagreement:
    status: str
    reason: str | None
    n: int
    disagreements: int
    rate: float | None
    low: float | None
    high: float | None
    confidence: float
    dropped: int = 0


def disagreement(production, shadow, *, threshold: float | None = None, confidence: float = 0.95,
                 min_pairs: int = MIN_PAIRS) -> Disagreement:
    """Share of paired requests where the shadow's label differs from production's."""
    p, s, dropped, why = _paired(production, shadow)
    if why is None and p.size < min_pairs:
        why = f"{p.size} paired answers, fewer than the {min_pairs} needed"
    if why is not None:
        return Disagreement(NOT_ENOUGH_DATA, why, int(p.size), 0, None, None, None, confidence, dropped)
    if threshold is not None:
        p, s = p >= threshold, s >= threshold
    k = int(np.count_nonzero(p != s))
    low, high = wilson_interval(k, p.size, confidence)
    return Disagreement(OK, None, int(p.size), k, k / p.size, low, high, confidence, dropped)


@dataclass(frozen=True)
class ErrorDistribution:
    """shadow - production per request: `quantiles[q]` of the difference, `abs_quantiles[q]` of
    its absolute value."""

    status: str
    reason: str | None
    n: int
    mean: float | None = None
    mean_abs: float | None = None
    quantiles: Mapping[float, float] = field(default_factory=lambda: MappingProxyType({}))
    abs_quantiles: Mapping[float, float] = field(default_factory=lambda: MappingProxyType({}))
    dropped: int = 0


def error_distribution(production, shadow, *, quantiles: Sequence[float] = (0.05, 0.5, 0.95, 0.99),
                       min_pairs: int = MIN_PAIRS) -> ErrorDistribution:
    p, s, dropped, why = _paired(production, shadow)
    if why is None and p.size < min_pairs:
        why = f"{p.size} paired answers, fewer than the {min_pairs} needed"
    if why is not None:
        return ErrorDistribution(NOT_ENOUGH_DATA, why, int(p.size), dropped=dropped)
    d = s - p
    qs = [float(q) for q in quantiles]
    return ErrorDistribution(OK, None, int(d.size), float(d.mean()), float(np.abs(d).mean()),
                             MappingProxyType(dict(zip(qs, map(float, np.quantile(d, qs))))),
                             MappingProxyType(dict(zip(qs, map(float, np.quantile(np.abs(d), qs))))), dropped)


@dataclass(frozen=True)
class PSI:
    """`edges`: the interior bin edges (baseline quantiles); `expected`/`actual`: shares per bin
    after the epsilon replacement."""

    status: str
    reason: str | None
    value: float | None = None
    band: str | None = None
    edges: tuple[float, ...] = ()
    expected: tuple[float, ...] = ()
    actual: tuple[float, ...] = ()
    epsilon: float = PSI_EPSILON
    n_baseline: int = 0
    n_candidate: int = 0


def psi_bin_edges(baseline: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Interior edges: the baseline's k/bins quantiles, k = 1 .. bins-1, repeats merged."""
    qs = np.arange(1, bins) / bins
    return np.unique(np.quantile(baseline, qs)) if bins > 1 else np.empty(0)


def psi(baseline, candidate, *, bins: int = PSI_BINS, epsilon: float = PSI_EPSILON,
        min_points: int = MIN_PAIRS) -> PSI:
    """Population stability index of `candidate` against `baseline` (module docstring)."""
    b, _ = finite(baseline)
    c, _ = finite(candidate)
    if b.size < min_points or c.size < min_points:
        return PSI(NOT_ENOUGH_DATA, f"{b.size} baseline and {c.size} candidate values; {min_points} needed on each side",
                   epsilon=epsilon, n_baseline=int(b.size), n_candidate=int(c.size))
    edges = psi_bin_edges(b, bins)
    k = edges.size + 1
    e = np.bincount(np.searchsorted(edges, b, side="left"), minlength=k) / b.size
    a = np.bincount(np.searchsorted(edges, c, side="left"), minlength=k) / c.size
    e = np.where(e == 0, epsilon, e)
    a = np.where(a == 0, epsilon, a)
    value = float(np.sum((a - e) * np.log(a / e)))
    band = next(name for limit, name in PSI_BANDS if value < limit)
    return PSI(OK, None, value, band, tuple(map(float, edges)), tuple(map(float, e)), tuple(map(float, a)),
               epsilon, int(b.size), int(c.size))


@dataclass(frozen=True)
class KS:
    status: str
    reason: str | None
    statistic: float | None = None
    p_value: float | None = None
    method: str | None = None
    n1: int = 0
    n2: int = 0


def ks_2samp(a, b, *, min_points: int = 1) -> KS:
    """Two-sided two-sample Kolmogorov–Smirnov test (module docstring)."""
    x, _ = finite(a)
    y, _ = finite(b)
    if x.size < max(1, min_points) or y.size < max(1, min_points):
        return KS(NOT_ENOUGH_DATA, f"{x.size} and {y.size} values; {max(1, min_points)} needed on each side",
                  n1=int(x.size), n2=int(y.size))
    x, y = np.sort(x), np.sort(y)
    both = np.concatenate([x, y])
    diff = np.searchsorted(x, both, side="right") / x.size - np.searchsorted(y, both, side="right") / y.size
    d = float(max(np.max(diff), np.clip(-np.min(diff), 0, 1)))
    p, method = ks_2samp_sf(int(x.size), int(y.size), d)
    if method == "exact":  # as scipy: D reported on the 1/lcm lattice the exact p-value uses
        g = math.gcd(x.size, y.size)
        lcm = (x.size // g) * y.size
        d = round(d * lcm) / lcm
    return KS(OK, None, d, float(p), method, int(x.size), int(y.size))


@dataclass(frozen=True)
class ShadowComparison:
    """Everything the shadow report shows for one pair of answer series."""

    task: str
    n: int
    disagreement: Disagreement | None
    errors: ErrorDistribution | None
    psi: PSI
    ks: KS

    @property
    def status(self) -> str:
        main = self.disagreement if self.task == "classification" else self.errors
        return main.status if main is not None else NOT_ENOUGH_DATA


def compare_shadow(production, shadow, *, task: str, threshold: float | None = None, confidence: float = 0.95,
                   bins: int = PSI_BINS, epsilon: float = PSI_EPSILON, min_pairs: int = MIN_PAIRS) -> ShadowComparison:
    """Shadow vs production on paired answers; `task` "classification" (labels, or scores cut at
    `threshold`) or "regression". PSI and KS compare the two answer distributions (shadow
    against production as the baseline)."""
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    p, s, _, _ = _paired(production, shadow)
    dis = disagreement(production, shadow, threshold=threshold, confidence=confidence, min_pairs=min_pairs) \
        if task == "classification" else None
    err = error_distribution(production, shadow, min_pairs=min_pairs) if task == "regression" else None
    return ShadowComparison(task, int(p.size), dis, err, psi(p, s, bins=bins, epsilon=epsilon, min_points=min_pairs),
                            ks_2samp(p, s, min_points=min_pairs))


# -- A/B test ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    """One arm's running sums (mergeable across ticks): count, sum and sum of squares."""

    n: int
    total: float
    total_sq: float

    @classmethod
    def from_values(cls, values) -> Arm:
        v, _ = finite(values)
        return cls(int(v.size), float(v.sum()), float(np.dot(v, v)))

    @classmethod
    def from_counts(cls, n: int, successes: int) -> Arm:
        """A proportion: `successes` of `n` (0/1 outcomes)."""
        return cls(int(n), float(successes), float(successes))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n > 0 else math.nan

    @property
    def variance(self) -> float:
        if self.n < 2:
            return math.nan
        return max(0.0, (self.total_sq - self.total * self.total / self.n) / (self.n - 1))


def msprt(diff, variance, tau2: float, alpha: float):
    """Vectorised mSPRT at one look: (likelihood ratio Lambda, p = min(1, 1/Lambda), half-width
    of the confidence sequence) for estimate(s) `diff` with variance(s) `variance` (arrays
    broadcast; variance <= 0 gives nan)."""
    diff = np.asarray(diff, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        v = np.where(v > 0, v, np.nan)
        log_lr = 0.5 * np.log(v / (v + tau2)) + diff * diff * tau2 / (2 * v * (v + tau2))
        lam = np.exp(np.minimum(log_lr, 700.0))
        p = np.minimum(1.0, np.exp(-log_lr))
        half = np.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / alpha) + np.log((v + tau2) / v)))
    return lam, p, half


@dataclass(frozen=True)
class SequentialResult:
    """`p_value`: always-valid (running minimum over the looks); [ci_low, ci_high]: the
    confidence sequence (intersection over the looks) for treatment - control."""

    status: str
    reason: str | None
    effect: float | None = None
    p_value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    looks: int = 0
    tau: float | None = None
    alpha: float = 0.05


def _ordered_looks(looks: Sequence[tuple[Arm, Arm]]) -> list[tuple[Arm, Arm]]:
    good = [(c, t) for c, t in looks if isinstance(c, Arm) and isinstance(t, Arm)]
    return sorted(good, key=lambda ct: (ct[0].n + ct[1].n, ct[0].n))


def sequential_test(looks: Sequence[tuple[Arm, Arm]], *, tau: float, alpha: float = 0.05,
                    min_per_arm: int = AB_MIN_PER_ARM) -> SequentialResult:
    """mSPRT over the looks so far, each (control, treatment) cumulative (module docstring)."""
    if not (tau > 0 and math.isfinite(tau)):
        return SequentialResult(NOT_ENOUGH_DATA, "the mixing standard deviation tau must be a positive number",
                                alpha=alpha)
    p_run, low, high, used = 1.0, -math.inf, math.inf, 0
    last = None
    for c, t in _ordered_looks(looks):
        if c.n < min_per_arm or t.n < min_per_arm:
            continue
        v = c.variance / c.n + t.variance / t.n
        if not (v > 0 and math.isfinite(v)):
            continue
        d = t.mean - c.mean
        _, p, half = msprt(d, v, tau * tau, alpha)
        p_run = min(p_run, float(p))
        low, high = max(low, d - float(half)), min(high, d + float(half))
        used += 1
        last = d
    if used == 0:
        return SequentialResult(NOT_ENOUGH_DATA, f"no look with {min_per_arm} or more per arm and some variance",
                                tau=tau, alpha=alpha)
    if low > high:  # the running intersection emptied: the plug-in variances moved; keep the last
        low, high = last, last
    return SequentialResult(OK, None, last, p_run, low, high, used, tau, alpha)


@dataclass(frozen=True)
class SampleRatio:
    status: str
    reason: str | None
    observed: tuple[int, ...] = ()
    expected: tuple[float, ...] = ()
    chi2: float | None = None
    p_value: float | None = None
    mismatch: bool | None = None
    alpha: float = SRM_ALPHA


def sample_ratio_mismatch(counts: Sequence[int], weights: Sequence[float], *, alpha: float = SRM_ALPHA,
                          min_expected: float = SRM_MIN_EXPECTED) -> SampleRatio:
    """Chi-square goodness of fit of `counts` per arm against the configured `weights`."""
    try:
        obs = np.asarray(counts, dtype=np.float64).ravel()
        w = np.asarray(weights, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return SampleRatio(NOT_ENOUGH_DATA, "counts or weights are not numbers", alpha=alpha)
    if obs.size != w.size or obs.size < 2:
        return SampleRatio(NOT_ENOUGH_DATA, "need one count and one weight per arm, two arms or more", alpha=alpha)
    if not (np.all(np.isfinite(obs)) and np.all(obs >= 0) and np.all(np.isfinite(w)) and np.all(w > 0)):
        return SampleRatio(NOT_ENOUGH_DATA, "counts must be >= 0 and weights > 0", alpha=alpha)
    total = obs.sum()
    expected = total * w / w.sum()
    if total == 0 or expected.min() < min_expected:
        return SampleRatio(NOT_ENOUGH_DATA, f"fewer than {min_expected:g} expected in an arm",
                           tuple(int(x) for x in obs), tuple(map(float, expected)), alpha=alpha)
    chi2 = float(np.sum((obs - expected) ** 2 / expected))
    p = chi2_sf(chi2, obs.size - 1)
    return SampleRatio(OK, None, tuple(int(x) for x in obs), tuple(map(float, expected)), chi2, p, p < alpha, alpha)


def sample_size_per_arm(mde: float, variance: float, *, alpha: float = 0.05, power: float = 0.8,
                        variance_treatment: float | None = None) -> int | None:
    """Fixed-horizon sample per arm to detect `mde` (two-sided `alpha`, `power`); None if undefined."""
    vt = variance if variance_treatment is None else variance_treatment
    if not (mde and math.isfinite(mde) and math.isfinite(variance) and math.isfinite(vt)) or variance < 0 or vt < 0:
        return None
    if not (0 < alpha < 1 and 0 < power < 1):
        return None
    z = norm_ppf(1 - alpha / 2) + norm_ppf(power)
    return max(1, math.ceil(z * z * (variance + vt) / (mde * mde)))


def sample_size_proportions(baseline_rate: float, mde: float, *, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """`sample_size_per_arm` for a rate: variances p (1 - p) at the baseline and at baseline + mde."""
    p2 = baseline_rate + mde
    if not (0 <= baseline_rate <= 1 and 0 <= p2 <= 1):
        return None
    return sample_size_per_arm(mde, baseline_rate * (1 - baseline_rate), alpha=alpha, power=power,
                               variance_treatment=p2 * (1 - p2))


@dataclass(frozen=True)
class ABVerdict:
    recommendation: str  # promote | keep_running | roll_back | not_enough_data
    reason: str
    sequential: SequentialResult
    srm: SampleRatio
    required_per_arm: int | None
    n_control: int
    n_treatment: int
    control_mean: float | None
    treatment_mean: float | None
    higher_is_better: bool


def ab_verdict(looks: Sequence[tuple[Arm, Arm]], *, mde: float, weights: Sequence[float] = (0.5, 0.5),
               alpha: float = 0.05, power: float = 0.8, tau: float | None = None, higher_is_better: bool = True,
               srm_alpha: float = SRM_ALPHA, min_per_arm: int = AB_MIN_PER_ARM, proportion: bool = False) -> ABVerdict:
    """The A/B recommendation from the looks so far (each (control, treatment), cumulative).

    `mde`: the minimum detectable effect (metric units, > 0); `weights`: the configured traffic
    split (control, treatment); `proportion`: the metric is a rate (sample size for rates)."""
    ordered = _ordered_looks(looks)
    mde = abs(float(mde)) if isinstance(mde, (int, float)) and math.isfinite(mde) else math.nan
    tau_used = float(tau) if tau is not None else mde
    seq = sequential_test(ordered, tau=tau_used, alpha=alpha, min_per_arm=min_per_arm)
    if not ordered:
        srm = SampleRatio(NOT_ENOUGH_DATA, "no traffic yet", alpha=srm_alpha)
        return ABVerdict(NOT_ENOUGH_DATA, "no traffic recorded yet", seq, srm, None, 0, 0, None, None, higher_is_better)
    c, t = ordered[-1]
    srm = sample_ratio_mismatch([c.n, t.n], weights, alpha=srm_alpha)
    if proportion and c.n > 0:
        required = sample_size_proportions(c.mean, mde if higher_is_better else -mde, alpha=alpha, power=power)
    else:
        required = sample_size_per_arm(mde, c.variance, alpha=alpha, power=power,
                                       variance_treatment=t.variance if t.n >= 2 else None)
    means = (None if c.n == 0 else c.mean, None if t.n == 0 else t.mean)

    def verdict(rec: str, why: str) -> ABVerdict:
        return ABVerdict(rec, why, seq, srm, required, c.n, t.n, means[0], means[1], higher_is_better)

    if c.n == 0 or t.n == 0:
        return verdict(NOT_ENOUGH_DATA, f"an arm has no traffic (control {c.n}, treatment {t.n})")
    if srm.mismatch:
        return verdict(KEEP_RUNNING, (f"sample ratio mismatch (p = {srm.p_value:.2g} < {srm_alpha:g}): the split "
                                      f"{c.n}:{t.n} does not match the configured weights, so the comparison cannot be "
                                      "trusted; no winner until the split is explained"))
    if seq.status != OK:
        return verdict(NOT_ENOUGH_DATA, seq.reason or "not enough data")
    better = seq.ci_low > 0 if higher_is_better else seq.ci_high < 0
    worse = seq.ci_high < 0 if higher_is_better else seq.ci_low > 0
    interval = f"[{seq.ci_low:.4g}, {seq.ci_high:.4g}]"
    if better:
        return verdict(PROMOTE, f"the treatment is better: always-valid p = {seq.p_value:.3g}, "
                                f"effect {seq.effect:.4g} in {interval} at {1 - alpha:.0%}")
    if worse:
        return verdict(ROLL_BACK, f"the treatment is worse: always-valid p = {seq.p_value:.3g}, "
                                  f"effect {seq.effect:.4g} in {interval} at {1 - alpha:.0%}")
    seen = min(c.n, t.n)
    if required is not None and seen >= required:
        return verdict(KEEP_RUNNING, f"no significant difference after {seen} per arm (planned {required}); effect "
                                     f"in {interval}, mde {mde:g}")
    plan = f" of the {required} per arm planned" if required is not None else ""
    return verdict(KEEP_RUNNING, f"no significant difference yet: {seen} per arm{plan}; effect in {interval}")


# -- canary judge --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample (candidate)
    p_value: float
    method: str  # "exact" | "asymptotic"
    alternative: str


def mann_whitney(x, y, *, alternative: str = "two-sided") -> MannWhitney | None:
    """Mann–Whitney U test of x against y ("two-sided", "greater": x tends to be larger,
    "less"); None when a sample is empty after dropping non-finite values."""
    a, _ = finite(x)
    b, _ = finite(y)
    n1, n2 = int(a.size), int(b.size)
    if n1 == 0 or n2 == 0:
        return None
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="mergesort")
    sorted_vals = both[order]
    # midranks: one pass over the runs of equal values
    starts = np.flatnonzero(np.concatenate(([True], sorted_vals[1:] != sorted_vals[:-1])))
    counts = np.diff(np.append(starts, both.size))
    mid = starts + (counts + 1) / 2.0
    ranks = np.empty(both.size)
    ranks[order] = np.repeat(mid, counts)
    u1 = float(ranks[:n1].sum() - n1 * (n1 + 1) / 2)
    u2 = n1 * n2 - u1
    if alternative == "greater":
        u, f = u1, 1
    elif alternative == "less":
        u, f = u2, 1
    elif alternative == "two-sided":
        u, f = max(u1, u2), 2
    else:
        raise ValueError(f"alternative must be two-sided, greater or less, got {alternative!r}")
    ties = bool(np.any(counts > 1))
    if (n1 <= 8 or n2 <= 8) and not ties and mwu_exact_feasible(n1, n2):
        p, method = mwu_exact_sf(u, n1, n2), "exact"
    else:
        n = n1 + n2
        tie_term = float(np.sum(counts.astype(np.float64) ** 3 - counts))
        s2 = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
        if s2 <= 0:  # every value equal: no evidence either way
            p = 1.0
        else:
            p = norm_sf((u - n1 * n2 / 2 - 0.5) / math.sqrt(s2))
        method = "asymptotic"
    return MannWhitney(u1, float(min(1.0, max(0.0, p * f))), method, alternative)


@dataclass(frozen=True)
class MetricSpec:
    """A canary metric: `higher_is_worse` (latency, errors) or not; `weight` in the score;
    `critical`: its failure fails the canary; `tolerance`: relative worsening of the mean
    accepted as marginal when significant (0.1 = 10 %)."""

    name: str
    higher_is_worse: bool = True
    weight: float = 1.0
    critical: bool = False
    tolerance: float = 0.0


@dataclass(frozen=True)
class MetricJudgement:
    name: str
    classification: str  # pass | marginal | fail | not_enough_data
    reason: str
    n_candidate: int
    n_baseline: int
    mean_candidate: float | None = None
    mean_baseline: float | None = None
    relative_shift: float | None = None  # (candidate - baseline) / |baseline|, + = worse
    p_value: float | None = None  # one-sided, in the bad direction
    u: float | None = None
    method: str | None = None
    weight: float = 1.0
    critical: bool = False


@dataclass(frozen=True)
class CanaryJudgement:
    verdict: str  # pass | marginal | fail | not_enough_data
    score: float | None
    reason: str
    metrics: tuple[MetricJudgement, ...]
    pass_threshold: float
    marginal_threshold: float


def judge_metric(spec: MetricSpec, candidate, baseline, *, alpha: float = 0.05,
                 min_points: int = CANARY_MIN_POINTS) -> MetricJudgement:
    c, _ = finite(candidate)
    b, _ = finite(baseline)
    base = dict(n_candidate=int(c.size), n_baseline=int(b.size), weight=spec.weight, critical=spec.critical)
    need = max(1, min_points)
    if c.size < need or b.size < need:
        return MetricJudgement(spec.name, NOT_ENOUGH_DATA,
                               f"{c.size} candidate and {b.size} baseline points; {need} needed on each side", **base)
    mc, mb = float(c.mean()), float(b.mean())
    sign = 1.0 if spec.higher_is_worse else -1.0
    if mb != 0:
        shift = sign * (mc - mb) / abs(mb)
    else:
        shift = 0.0 if mc == mb else (math.inf if sign * (mc - mb) > 0 else -math.inf)
    test = mann_whitney(c, b, alternative="greater" if spec.higher_is_worse else "less")
    stats = dict(mean_candidate=mc, mean_baseline=mb, relative_shift=shift, p_value=test.p_value, u=test.u,
                 method=test.method, **base)
    if test.p_value >= alpha:
        return MetricJudgement(spec.name, PASS, f"not significantly worse (p = {test.p_value:.3g})", **stats)
    if shift <= spec.tolerance:
        return MetricJudgement(spec.name, MARGINAL, (f"significantly worse (p = {test.p_value:.3g}) but the mean moved "
                                                     f"{shift:+.1%}, within the {spec.tolerance:.0%} tolerated"), **stats)
    return MetricJudgement(spec.name, FAIL, (f"significantly worse (p = {test.p_value:.3g}), mean {shift:+.1%} "
                                             f"against a {spec.tolerance:.0%} tolerance"), **stats)


def judge_canary(samples: Mapping[str, tuple], specs: Sequence[MetricSpec], *, alpha: float = 0.05,
                 min_points: int = CANARY_MIN_POINTS, marginal_threshold: float = 75.0,
                 pass_threshold: float = 95.0) -> CanaryJudgement:
    """Judge the canary: `samples[name] = (candidate values, baseline values)` over the bake."""
    if not 0 <= marginal_threshold <= pass_threshold <= 100:
        raise ValueError("thresholds must satisfy 0 <= marginal_threshold <= pass_threshold <= 100")
    judged = tuple(judge_metric(spec, *(samples.get(spec.name) or ((), ())), alpha=alpha, min_points=min_points)
                   for spec in specs)

    def out(verdict: str, score: float | None, why: str) -> CanaryJudgement:
        return CanaryJudgement(verdict, score, why, judged, pass_threshold, marginal_threshold)

    if not judged:
        return out(NOT_ENOUGH_DATA, None, "no metric to judge")
    critical = [m.name for m in judged if m.critical and m.classification == FAIL]
    if critical:
        return out(FAIL, None, f"critical metric failed: {', '.join(critical)}")
    missing = [m.name for m in judged if m.classification == NOT_ENOUGH_DATA]
    if missing:
        return out(NOT_ENOUGH_DATA, None, f"not enough data for {', '.join(missing)}")
    total = sum(max(0.0, m.weight) for m in judged)
    if total <= 0:
        return out(NOT_ENOUGH_DATA, None, "metric weights sum to zero")
    score = 100.0 * sum(max(0.0, m.weight) for m in judged if m.classification == PASS) / total
    if score >= pass_threshold:
        return out(PASS, score, f"score {score:.0f} >= {pass_threshold:g}")
    if score >= marginal_threshold:
        return out(MARGINAL, score, f"score {score:.0f} between {marginal_threshold:g} and {pass_threshold:g}")
    failing = [m.name for m in judged if m.classification != PASS]
    return out(FAIL, score, f"score {score:.0f} < {marginal_threshold:g} ({', '.join(failing)})")
