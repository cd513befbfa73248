"""What a gate could have seen: the minimum detectable regression, and the rows that would decide.

Both rest on the normal approximation of the gate's interval. The standard error is read off
the interval the gate judged: SE = (high - low) / (2 z), z = the normal quantile of the gate's
confidence ((1 + confidence) / 2). That is exact for DeLong's interval and the usual reading of
a bootstrap percentile interval. SE shrinks as 1 / sqrt(rows).

- **Minimum detectable regression** (a gate on the delta, with a baseline): the smallest true
  worsening of the candidate against the baseline that makes the gate fail with probability
  `POWER` on this many rows. The gate fails when the whole interval lies beyond the allowed
  regression `a`, so with delta estimate d ~ N(delta, SE) it fails with probability
  Phi((-a - delta) / SE - z) (higher is better); that reaches `POWER` at
  delta = -(a + (z + z_power) SE). The regression is `a + (z + z_power) SE`, in metric units.
- **Rows that would decide** an inconclusive gate: the interval straddles the limit; with the
  estimate staying where it is (gap g from the limit), the interval clears the limit with
  probability `POWER` once (z + z_power) SE' <= g, that is at n' = n ((z + z_power) SE / g)^2
  rows. An estimate on the limit (g = 0) is decided by no number of rows (None, with the reason).
  The same reading applies to a floor or ceiling judged on the candidate's interval.

Pure: numbers in, numbers out. Used by `bot.core.compare.gates`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

POWER = 0.8
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Power:
    """`min_detectable`: the smallest true regression (metric units, a positive worsening) that
    fails the gate with probability `power` on `n_rows`; None where the gate judges no delta.
    `rows_to_decide`: for an inconclusive gate, about how many rows would decide it (None: no
    number would, or not applicable; `why` says which)."""

    power: float
    n_rows: int
    min_detectable: float | None = None
    rows_to_decide: int | None = None
    why: str | None = None


def z_value(confidence: float) -> float:
    """The two-sided normal quantile of an interval at `confidence` (1.96 at 95%)."""
    return _NORMAL.inv_cdf((1 + confidence) / 2)


def standard_error(low: float, high: float, confidence: float) -> float | None:
    """The standard error an interval implies; None for an undefined or degenerate interval."""
    if not (math.isfinite(low) and math.isfinite(high)) or high < low:
        return None
    return (high - low) / (2 * z_value(confidence))


def min_detectable(se: float | None, allowed: float, confidence: float, power: float = POWER) -> float | None:
    """The smallest true regression beyond which a gate with `allowed` regression fails with
    probability `power` (see the module docstring)."""
    if se is None:
        return None
    return allowed + (z_value(confidence) + _NORMAL.inv_cdf(power)) * se


def rows_to_decide(se: float | None, gap: float, n_rows: int, confidence: float,
                   power: float = POWER) -> tuple[int | None, str | None]:
    """Rows at which an interval of standard error `se` (on `n_rows`) around an estimate `gap`
    away from the limit clears it with probability `power`; (None, why) where none would."""
    if se is None or n_rows <= 0:
        return None, "the interval is undefined"
    if se == 0:
        return n_rows, None
    if not math.isfinite(gap):
        return None, "the estimate is undefined"
    gap = abs(gap)
    if gap == 0:
        return None, "the estimate sits on the limit: more rows narrow the interval around it, but never off it"
    k = (z_value(confidence) + _NORMAL.inv_cdf(power)) * se / gap
    return max(n_rows, math.ceil(n_rows * k * k)), None


def rows_for_minimum(n_rows: int, min_rows: int, rarest: int | None = None, min_minority: int | None = None) -> int:
    """Rows a set needs (at the same class mix) before a gate judges it at all."""
    need = max(n_rows, min_rows)
    if rarest and min_minority is not None and rarest < min_minority:
        need = max(need, math.ceil(n_rows * min_minority / rarest))
    return need
