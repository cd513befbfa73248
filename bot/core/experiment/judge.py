"""The shadow judge: may the candidate be promoted, must it be rolled back, or is it too early?

Values in, a `ShadowVerdict` out; no I/O. The evidence is what one bounded read of the live
endpoint found (`ShadowEvidence`: the paired answers from data capture, `capture.pair_records`,
and per variant the CloudWatch sums and latency percentile over the experiment's window), the
gates are the manifest's `strategy.experiment` (`bot.core.manifest.model.ShadowJudge`, passed
as its plain record so a stored rollout state can carry it).

Each gate answers pass, fail or not_enough_data:

- `disagreement` (classification): the share of paired requests whose labels differ, with its
  Wilson interval at `confidence` (`stats.disagreement`). Pass when the interval's upper bound
  is at most `max_disagreement`; fail when its lower bound is above it (the candidate disagrees
  more than allowed, beyond the sampling noise); in between the experiment keeps running.
- `abs_error_p99` (regression): the 99th percentile of |shadow - production| over the pairs
  (`stats.error_distribution`): pass at most `max_abs_error_p99`, fail above.
- `psi`: population stability index of the shadow's scores against production's
  (`stats.psi`): pass at most `max_psi`, fail above.
- `latency`: the candidate's ModelLatency p99 over the window divided by production's: pass at
  most `max_latency_ratio`, fail above. CloudWatch reports ModelLatency in microseconds; only
  the ratio is judged.
- `errors`: the candidate's Invocation5XXErrors / Invocations over the window with its Wilson
  interval: pass when the upper bound is at most `max_error_rate`, fail when the lower bound is
  above it.

Every gate needs `min_pairs` paired answers (answer gates) or `min_pairs` candidate invocations
(CloudWatch gates) before it says anything but not_enough_data; a variant without traffic, an
empty capture prefix or a metric without data points is not_enough_data, never a pass.

Overall: `fail` when any gate fails (the rollout rolls back); `pass` when every configured gate
passes (`/promote` is allowed; with `promote_after_minutes`, the bot promotes by itself once the
experiment has run that long); otherwise `running` (enough data for some gates but no decision)
or `not_enough_data`. Promotion is never allowed on anything but `pass`.

Repeated looks: the judge runs at every evaluation of a running experiment. The interval
gates use the configured confidence at each look, which is not an always-valid interval: the
chance that a candidate within its bound is failed at some look grows with the number of looks.
To keep early rollbacks for clear failures only, a fail needs the bound exceeded at the
stricter level `FAIL_CONFIDENCE` (0.999) as well as at `confidence`, and the judge never
promotes before `min_pairs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bot.core.experiment.capture import Pairing
from bot.core.experiment.stats import NOT_ENOUGH_DATA, disagreement, error_distribution, psi, wilson_interval

PASS, FAIL, RUNNING = "pass", "fail", "running"
FAIL_CONFIDENCE = 0.999


@dataclass(frozen=True)
class VariantMetrics:
    """One variant's CloudWatch figures over the window (None: no data point)."""

    invocations: float | None = None
    errors_5xx: float | None = None
    errors_4xx: float | None = None
    latency_p99: float | None = None     # ModelLatency p99, microseconds
    overhead_p99: float | None = None    # OverheadLatency p99, microseconds


@dataclass(frozen=True)
class ShadowEvidence:
    """What one bounded read found. `capture`: counts of what was read and skipped (objects,
    bytes, records, truncated and malformed lines, objects left unread by the budget)."""

    pairing: Pairing
    production: VariantMetrics
    shadow: VariantMetrics
    capture: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gate:
    name: str
    status: str          # pass | fail | not_enough_data
    value: float | None  # the figure judged (None without data)
    limit: float
    detail: str


@dataclass(frozen=True)
class ShadowVerdict:
    status: str                      # pass | fail | running | not_enough_data
    gates: tuple[Gate, ...]
    pairs: int
    reasons: tuple[str, ...]         # why it is not a pass (or why it failed)
    promote_due: bool = False        # pass, and the experiment ran for promote_after_minutes

    @property
    def allows_promotion(self) -> bool:
        return self.status == PASS

    def as_record(self) -> dict:
        return {"status": self.status, "pairs": self.pairs, "reasons": list(self.reasons),
                "promote_due": self.promote_due,
                "gates": [{"name": g.name, "status": g.status, "value": g.value, "limit": g.limit,
                           "detail": g.detail} for g in self.gates]}

    @classmethod
    def from_record(cls, record: Mapping) -> "ShadowVerdict":
        gates = tuple(Gate(g["name"], g["status"], g.get("value"), g["limit"], g.get("detail", ""))
                      for g in record.get("gates") or ())
        return cls(record["status"], gates, int(record.get("pairs") or 0), tuple(record.get("reasons") or ()),
                   bool(record.get("promote_due")))


def _interval_gate(name: str, k: int, n: int, limit: float, confidence: float, min_n: int, what: str) -> Gate:
    if n < min_n:
        return Gate(name, NOT_ENOUGH_DATA, None, limit, f"{n} {what}, {min_n} needed")
    rate = k / n
    low, high = wilson_interval(k, n, confidence)
    strict_low, _ = wilson_interval(k, n, FAIL_CONFIDENCE)
    detail = f"{rate:.2%} ({low:.2%}-{high:.2%} at {confidence:.0%}) of {n} {what}"
    if high <= limit:
        return Gate(name, PASS, rate, limit, detail)
    if low > limit and strict_low > limit:
        return Gate(name, FAIL, rate, limit, detail)
    return Gate(name, NOT_ENOUGH_DATA, rate, limit, detail + f"; the interval still straddles {limit:.2%}")


def judge_shadow(gates: Mapping, evidence: ShadowEvidence, *, elapsed_seconds: float) -> ShadowVerdict:
    """The verdict of the gates (the manifest's `strategy.experiment` record) on `evidence`."""
    task = gates["task"]
    min_pairs = int(gates.get("min_pairs") or 500)
    confidence = float(gates.get("confidence") or 0.95)
    p = evidence.pairing
    out: list[Gate] = []
    if task == "classification" and gates.get("max_disagreement") is not None:
        d = disagreement(p.production, p.shadow, threshold=gates.get("threshold"), confidence=confidence,
                         min_pairs=min_pairs)
        n = d.n if d is not None and d.status != NOT_ENOUGH_DATA else p.n
        k = d.disagreements if d is not None else 0
        out.append(_interval_gate("disagreement", k, n, float(gates["max_disagreement"]), confidence,
                                  min_pairs, "paired answers"))
    if task == "regression" and gates.get("max_abs_error_p99") is not None:
        e, limit = error_distribution(p.production, p.shadow, min_pairs=min_pairs), float(gates["max_abs_error_p99"])
        if e.status == NOT_ENOUGH_DATA:
            out.append(Gate("abs_error_p99", NOT_ENOUGH_DATA, None, limit, f"{p.n} paired answers, {min_pairs} needed"))
        else:
            v = e.abs_quantiles.get(0.99)
            out.append(Gate("abs_error_p99", PASS if v <= limit else FAIL, v, limit,
                            f"p99 of |shadow - production| over {e.n} paired answers"))
    if gates.get("max_psi") is not None:
        limit = float(gates["max_psi"])
        s = psi(p.production, p.shadow, min_points=min_pairs)
        if s.status == NOT_ENOUGH_DATA or s.value is None:
            out.append(Gate("psi", NOT_ENOUGH_DATA, None, limit, s.reason or "no data"))
        else:
            out.append(Gate("psi", PASS if s.value <= limit else FAIL, s.value, limit,
                            f"{s.band} shift over {s.n_candidate} answers"))
    cand, prod = evidence.shadow, evidence.production
    invocations = int(cand.invocations or 0)
    if gates.get("max_latency_ratio") is not None:
        limit = float(gates["max_latency_ratio"])
        if invocations < min_pairs or not cand.latency_p99 or not prod.latency_p99:
            out.append(Gate("latency", NOT_ENOUGH_DATA, None, limit,
                            f"{invocations} candidate invocations with latency data points, {min_pairs} needed"
                            if invocations < min_pairs else "ModelLatency p99 has no data point on a variant"))
        else:
            ratio = cand.latency_p99 / prod.latency_p99
            out.append(Gate("latency", PASS if ratio <= limit else FAIL, ratio, limit,
                            f"ModelLatency p99 {cand.latency_p99 / 1000:.1f} ms vs {prod.latency_p99 / 1000:.1f} ms"))
    if gates.get("max_error_rate") is not None:
        errors = int(cand.errors_5xx or 0)
        out.append(_interval_gate("errors", min(errors, invocations), invocations, float(gates["max_error_rate"]),
                                  confidence, min_pairs, "candidate invocations"))
    failed = [g for g in out if g.status == FAIL]
    if failed:
        status = FAIL
        reasons = tuple(f"{g.name} {_shown(g.value)} over its limit {_shown(g.limit)} ({g.detail})" for g in failed)
    elif out and all(g.status == PASS for g in out):
        status, reasons = PASS, ()
    else:
        waiting = [g for g in out if g.status != PASS]
        decided = [g for g in out if g.status == PASS]
        status = RUNNING if decided else NOT_ENOUGH_DATA
        reasons = tuple(f"{g.name}: {g.detail}" for g in waiting) or ("no gate is configured",)
    after = gates.get("promote_after_minutes")
    due = status == PASS and after is not None and elapsed_seconds >= float(after) * 60
    return ShadowVerdict(status, tuple(out), p.n, reasons, due)


def _shown(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"
