"""Distribution functions for the experiment statistics, in numpy and the standard library.

The bot's process does not load scipy for these; the tests hold each one against scipy.stats.

- `norm_sf`, `norm_cdf`, `norm_ppf`: the standard normal (math.erfc, statistics.NormalDist).
- `chi2_sf(x, dof)`: the chi-square survival function, the regularised upper incomplete gamma
  Q(dof/2, x/2), by its series below a + 1 and Lentz's continued fraction above (Numerical
  Recipes, 3rd ed., section 6.2).
- `ks_2samp_sf(n1, n2, d)`: P(D >= d) for the two-sample Kolmogorov–Smirnov statistic under the
  null of one continuous distribution.
  - exact (`ks_exact_feasible`: (n1 + n2) * (min(n1, n2) + 1) <= KS_EXACT_WORK): the share of
    lattice paths from (0, 0) to (n1, n2) that leave the band |x/n1 - y/n2| < d (Hodges 1958,
    "The significance probability of the Smirnov two-sample test"), d rounded to a multiple of
    1/lcm(n1, n2) as scipy does. Computed as the probability mass of a uniformly random path,
    one anti-diagonal at a time (vectorised, no overflow). This covers every case scipy's
    `ks_2samp(method="auto")` computes exactly (max(n1, n2) <= 10,000) and also a small sample
    against a large one.
  - asymptotic, otherwise: as scipy, the one-sample Kolmogorov distribution at
    n = round(n1 n2 / (n1 + n2)): 0 for n d^2 >= 370; 2 x the exact one-sided Smirnov tail
    (Birnbaum & Tingey 1951) for n d^2 >= 2.2 (Miller's approximation, scipy's choice there);
    above (p > ~0.02) the limiting distribution with Stephens' (1970) correction,
    Q_KS((sqrt(n) + 0.12 + 0.11 / sqrt(n)) d), where scipy uses Pelz–Good or Durbin's matrix
    (agreement to about 1e-3 relative).
- `mwu_exact_sf(u, n1, n2)`: P(U >= u) for the Mann–Whitney U statistic without ties, from the
  counts of rank sums of the smaller sample (a subset-sum recursion), for MWU_EXACT_MAX_SMALL
  or fewer points on the smaller side (scipy's rule: exact when a side has <= 8 points and
  there are no ties) and at most MWU_EXACT_MAX_LARGE on the other.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

_NORMAL = NormalDist()
KS_EXACT_WORK = 210_000_000  # lattice points the exact KS computation may visit
MWU_EXACT_MAX_SMALL = 8
MWU_EXACT_MAX_LARGE = 1000


def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z (accurate in the far tail)."""
    if math.isnan(z):
        return math.nan
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def norm_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z."""
    return norm_sf(-z)


def norm_ppf(p: float) -> float:
    """The standard normal quantile (1.96 at 0.975)."""
    return _NORMAL.inv_cdf(p)


# -- chi-square ----------------------------------------------------------------------------------


def chi2_sf(x: float, dof: float) -> float:
    """P(X > x) for X chi-square with `dof` degrees of freedom."""
    if math.isnan(x) or not dof > 0:
        return math.nan
    if x <= 0:
        return 1.0
    return _gamma_q(dof / 2.0, x / 2.0)


def _gamma_q(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function Q(a, x), a > 0, x > 0."""
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:  # series for P(a, x), then Q = 1 - P
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    # continued fraction for Q(a, x) (modified Lentz)
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return min(1.0, math.exp(log_prefix) * h)


# -- Kolmogorov–Smirnov --------------------------------------------------------------------------


def ks_exact_feasible(n1: int, n2: int) -> bool:
    """Whether `ks_2samp_sf` computes the exact null distribution for these sizes."""
    return (n1 + n2) * (min(n1, n2) + 1) <= KS_EXACT_WORK


def ks_2samp_sf(n1: int, n2: int, d: float) -> tuple[float, str]:
    """(P(D >= d), "exact" | "asymptotic") for the two-sided two-sample KS statistic."""
    if n1 <= 0 or n2 <= 0 or math.isnan(d):
        return math.nan, "none"
    if ks_exact_feasible(n1, n2):
        return _ks_exact_sf(n1, n2, d), "exact"
    en = round(n1 * n2 / (n1 + n2))
    return _kolmogorov_sf(en, d), "asymptotic"


def _ks_exact_sf(n1: int, n2: int, d: float) -> float:
    g = math.gcd(n1, n2)
    lcm = (n1 // g) * n2
    h = int(round(d * lcm))
    if h <= 0:
        return 1.0
    m, n = (n1, n2) if n1 <= n2 else (n2, n1)  # the vector runs over the smaller side
    limit = h * g  # inside the band: |n x - m y| < h g, y = s - x on anti-diagonal s
    xs_all = np.arange(m + 1, dtype=np.float64)
    mass = np.zeros(m + 2)  # mass[x + 1]: probability of being at (x, s - x), inside so far
    mass[1] = 1.0
    plo = phi = 0
    for s in range(m + n):  # from anti-diagonal s to s + 1, only across the band
        t = m * (s + 1)
        lo = max(0, s + 1 - n, (t - limit) // (m + n) + 1)
        hi = min(m, s + 1, -((-(t + limit)) // (m + n)) - 1)
        if lo > hi:
            return 1.0
        xs = xs_all[lo : hi + 1]
        new = mass[lo : hi + 1] * (m - xs + 1)  # from (x - 1, y): a step in x
        new += mass[lo + 1 : hi + 2] * (n - s + xs)  # from (x, y - 1): a step in y
        new /= m + n - s
        mass[plo + 1 : phi + 2] = 0.0
        mass[lo + 1 : hi + 2] = new
        plo, phi = lo, hi
    inside = float(mass[m + 1]) if phi == m else 0.0
    return min(1.0, max(0.0, 1.0 - inside))


def _kolmogorov_sf(n: int, d: float) -> float:
    """P(D_n >= d), the two-sided one-sample KS distribution, for n of about 100 and more."""
    if d >= 1.0:
        return 0.0
    if d <= 0.0:
        return 1.0
    nd2 = n * d * d
    if nd2 >= 370.0:
        return 0.0
    if nd2 >= 2.2:
        return min(1.0, 2.0 * _smirnov_sf(n, d))
    sn = math.sqrt(n)
    return _kolmogorov_limit_sf((sn + 0.12 + 0.11 / sn) * d)


def _kolmogorov_limit_sf(t: float) -> float:
    """Q_KS(t) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 t^2), the Kolmogorov limit's tail."""
    if t <= 0.0:
        return 1.0
    if t < 1.0:  # the alternating series converges slowly here; use the theta-function form
        w = math.sqrt(2.0 * math.pi) / t
        cdf = w * sum(math.exp(-((2 * k - 1) ** 2) * math.pi ** 2 / (8.0 * t * t)) for k in range(1, 30))
        return min(1.0, max(0.0, 1.0 - cdf))
    k = np.arange(1, 101)
    return float(min(1.0, max(0.0, 2.0 * np.sum((-1.0) ** (k - 1) * np.exp(-2.0 * k * k * t * t)))))


def _smirnov_sf(n: int, d: float) -> float:
    """P(D_n^+ >= d), exact (Birnbaum & Tingey 1951), in log space."""
    jmax = int(math.floor(n * (1.0 - d)))
    j = np.arange(jmax + 1, dtype=np.float64)
    steps = np.log(n - j[1:] + 1.0) - np.log(j[1:])
    log_binom = np.concatenate(([0.0], np.cumsum(steps)))
    a = 1.0 - d - j / n
    b = d + j / n
    with np.errstate(divide="ignore"):
        log_terms = log_binom + (n - j) * np.log(np.maximum(a, 0.0)) + (j - 1) * np.log(b)
    log_terms = np.where((n - j) == 0, log_binom + (j - 1) * np.log(b), log_terms)
    top = np.max(log_terms)
    if not np.isfinite(top):
        return 0.0
    return float(d * math.exp(top) * np.sum(np.exp(log_terms - top)))


# -- Mann–Whitney --------------------------------------------------------------------------------


def mwu_exact_feasible(n1: int, n2: int) -> bool:
    return 0 < min(n1, n2) <= MWU_EXACT_MAX_SMALL and max(n1, n2) <= MWU_EXACT_MAX_LARGE


def mwu_exact_sf(u: float, n1: int, n2: int) -> float:
    """P(U >= u) under the null, no ties (U of either sample: the distribution is the same)."""
    k, big = min(n1, n2), max(n1, n2)
    total_n = k + big
    top = k * big
    # counts[j, s]: subsets of size j of the ranks seen so far whose U-contribution... kept as
    # rank sums minus the minimum j (j + 1) / 2, so s runs over 0 .. k * big.
    counts = np.zeros((k + 1, top + 1))
    counts[0, 0] = 1.0
    for r in range(1, total_n + 1):
        # adding rank r to a subset of size j - 1 makes size j; its sum offset grows by r - j
        for j in range(min(k, r), 0, -1):
            shift = r - j
            if shift > top:
                continue
            counts[j, shift:] += counts[j - 1, : top + 1 - shift]
    dist = counts[k]
    lo = int(math.ceil(u - 1e-9))
    if lo <= 0:
        return 1.0
    if lo > top:
        return 0.0
    return float(dist[lo:].sum() / dist.sum())
