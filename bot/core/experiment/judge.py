"""The judges of live experiments: may the candidate be promoted, must it be rolled back, or is
it too early? `judge_shadow` for a shadow test (below), `judge_ab` for an A/B test (at the end).

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

Shown beside the gates, not a gate: the two-sample Kolmogorov–Smirnov statistic D of the two
score distributions and its p-value (`stats.ks_2samp`); with thousands of pairs it is
significant for differences too small to matter, which PSI's bands and the gates judge instead.

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
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from bot.core.experiment.capture import Pairing
from bot.core.experiment.stats import (
    KEEP_RUNNING,
    MARGINAL,
    MetricSpec,
    judge_canary,
    NOT_ENOUGH_DATA,
    PROMOTE,
    ROLL_BACK,
    Arm,
    ab_verdict,
    disagreement,
    error_distribution,
    ks_2samp,
    psi,
    wilson_interval,
)

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
    operational: Mapping | None = None  # the operational judge's record (`Operational.as_record`)
    ks: Mapping | None = None        # two-sample Kolmogorov-Smirnov of the scores: shown, not a gate

    @property
    def allows_promotion(self) -> bool:
        return self.status == PASS

    def as_record(self) -> dict:
        return {"kind": "shadow", "status": self.status, "pairs": self.pairs, "reasons": list(self.reasons),
                "promote_due": self.promote_due, "operational": dict(self.operational) if self.operational else None,
                "ks": dict(self.ks) if self.ks else None,
                "gates": [{"name": g.name, "status": g.status, "value": g.value, "limit": g.limit,
                           "detail": g.detail} for g in self.gates]}

    @classmethod
    def from_record(cls, record: Mapping) -> "ShadowVerdict":
        gates = tuple(Gate(g["name"], g["status"], g.get("value"), g["limit"], g.get("detail", ""))
                      for g in record.get("gates") or ())
        return cls(record["status"], gates, int(record.get("pairs") or 0), tuple(record.get("reasons") or ()),
                   bool(record.get("promote_due")), record.get("operational"), record.get("ks"))


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
    k = ks_2samp(p.production, p.shadow, min_points=min_pairs)
    ks = {"statistic": k.statistic, "p_value": k.p_value, "method": k.method} if k.status != NOT_ENOUGH_DATA else None
    return ShadowVerdict(status, tuple(out), p.n, reasons, due, ks=ks)


def _shown(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


# -- A/B test --------------------------------------------------------------------------------------
#
# The business metric (the manifest's `strategy.ab_test.metric`) is a rate: per variant, the
# successes (the metric's Sum) of the observations (its SampleCount). Each evaluation is one look
# of cumulative counts since the current traffic split began (a new split, after a /promote step
# of `ab_steps`, starts new looks: the arms' populations changed). `stats.ab_verdict` decides:
# the mSPRT's always-valid confidence sequence for treatment - control (valid however often the
# report is read), a sample-ratio-mismatch check of the counts against the configured split, and
# the fixed-horizon sample for `mde` as a planning figure. Mapped here: promote -> pass (the
# final /promote allowed), roll_back -> fail (rolled back at once when `roll_back_on_loss`),
# keep_running -> running (also on a sample ratio mismatch: no winner), not_enough_data.

MAX_LOOKS = 2016  # a week of 5-minute evaluations; older looks are thinned (every other one kept)


@dataclass(frozen=True)
class ABJudgement:
    status: str                  # pass | fail | running | not_enough_data
    recommendation: str          # stats.ab_verdict's: promote | keep_running | roll_back | not_enough_data
    reasons: tuple[str, ...]
    promote_due: bool
    n_control: int
    n_treatment: int
    control_rate: float | None
    treatment_rate: float | None
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    looks: int
    srm_p: float | None
    srm_mismatch: bool | None
    required_per_arm: int | None
    higher_is_better: bool = True
    operational: Mapping | None = None

    @property
    def allows_promotion(self) -> bool:
        return self.status == PASS

    def as_record(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["reasons"] = list(self.reasons)
        out["operational"] = dict(self.operational) if self.operational else None
        return {"kind": "ab", **out}

    @classmethod
    def from_record(cls, record: Mapping) -> "ABJudgement":
        values = {k: record.get(k) for k in cls.__dataclass_fields__}
        values["reasons"] = tuple(record.get("reasons") or ())
        values["promote_due"] = bool(record.get("promote_due"))
        return cls(**values)


def verdict_from_record(record: Mapping):
    kind = record.get("kind")
    if kind == "ab":
        return ABJudgement.from_record(record)
    if kind == "canary":
        return OperationalVerdict.from_record(record)
    return ShadowVerdict.from_record(record)


def thin_looks(looks: list) -> list:
    """At most MAX_LOOKS looks: past it the older half keeps every other look (the newest half
    stays whole). Dropping looks only loses chances to stop; the test stays valid."""
    if len(looks) <= MAX_LOOKS:
        return looks
    half = len(looks) // 2
    return looks[:half:2] + looks[half:]


def judge_ab(spec: Mapping, looks, weights: tuple[float, float], *, elapsed_seconds: float) -> ABJudgement:
    """The verdict of the manifest's `strategy.ab_test` (`spec`, its record) on the looks so far,
    each a (control, treatment) pair of `stats.Arm` (cumulative counts), under the configured
    split `weights` (control, treatment)."""
    metric = spec.get("metric") or {}
    higher = bool(metric.get("higher_is_better", True))
    v = ab_verdict(list(looks), mde=float(spec["mde"]), weights=weights, alpha=float(spec.get("alpha") or 0.05),
                   power=float(spec.get("power") or 0.8), higher_is_better=higher,
                   min_per_arm=int(spec.get("min_per_arm") or 1000), proportion=True)
    status = {PROMOTE: PASS, ROLL_BACK: FAIL, KEEP_RUNNING: RUNNING}.get(v.recommendation, NOT_ENOUGH_DATA)
    reasons = (v.reason,)
    if status == FAIL and not spec.get("roll_back_on_loss", True):
        status = RUNNING
        reasons = (v.reason + "; roll_back_on_loss is off: `/rollback` ends the test",)
    if status == PASS:
        reasons = ()
    after = spec.get("promote_after_minutes")
    due = status == PASS and after is not None and elapsed_seconds >= float(after) * 60
    seq, srm = v.sequential, v.srm
    return ABJudgement(status, v.recommendation, reasons, due, v.n_control, v.n_treatment, v.control_mean,
                       v.treatment_mean, seq.effect, seq.ci_low, seq.ci_high, seq.p_value, seq.looks,
                       srm.p_value, srm.mismatch, v.required_per_arm, higher)


def arm(n: float | None, successes: float | None) -> Arm:
    """One arm of a rate from CloudWatch's SampleCount and Sum (None: no data point, an empty arm)."""
    count = int(n or 0)
    return Arm.from_counts(count, int(min(max(successes or 0, 0), count)))


def unreadable(kind: str, reason: str):
    """The verdict when the evidence could not be read: not enough data, with the reason."""
    if kind == "canary":
        return OperationalVerdict(NOT_ENOUGH_DATA, (reason,))
    if kind == "ab":
        return ABJudgement(NOT_ENOUGH_DATA, NOT_ENOUGH_DATA, (reason,), False, 0, 0, None, None, None, None, None,
                           None, 0, None, None, None)
    return ShadowVerdict(NOT_ENOUGH_DATA, (), 0, (reason,))


# -- the operational judge -------------------------------------------------------------------------
#
# Kayenta-style (`stats.judge_canary`): per metric, the candidate variant's one-minute values over
# the test against the current variant's over the same minutes, a one-sided Mann-Whitney test in
# the bad direction at `alpha`; not significantly worse -> pass, worse within `tolerance` ->
# marginal, beyond -> fail; score = share of metrics passing; a critical metric failing fails the
# judge at once (even while others lack data: a clear failure rolls back before any alarm would),
# any metric short of `min_points` points leaves it not_enough_data (never a pass). Mapped: pass ->
# pass, fail -> fail, marginal -> running (no promotion on a marginal canary), not_enough_data.
# Beside a main judge (shadow, A/B) the stricter of the two decides (`with_operational`).

OPERATIONAL_METRICS = {"model_latency": "ModelLatency", "overhead_latency": "OverheadLatency",
                       "error_rate": "Invocation5XXErrors / Invocations"}


@dataclass(frozen=True)
class Operational:
    status: str
    verdict: str
    score: float | None
    reason: str
    metrics: tuple[Mapping, ...]
    pass_threshold: float
    marginal_threshold: float

    def as_record(self) -> dict:
        return {"status": self.status, "verdict": self.verdict, "score": self.score, "reason": self.reason,
                "metrics": [dict(m) for m in self.metrics], "pass_threshold": self.pass_threshold,
                "marginal_threshold": self.marginal_threshold}


def judge_operational(spec: Mapping, series: Mapping[str, tuple]) -> Operational:
    """`series[name] = (candidate values, current values)`, one per minute, for the metrics of
    `spec` (the manifest's `strategy.canary_judge` record)."""
    names = list(spec.get("metrics") or ("model_latency", "error_rate"))
    critical = set(spec.get("critical") or ())
    specs = [MetricSpec(n, higher_is_worse=True, critical=n in critical, tolerance=float(spec.get("tolerance") or 0.0))
             for n in names]
    j = judge_canary(series, specs, alpha=float(spec.get("alpha") or 0.05), min_points=int(spec.get("min_points") or 10),
                     marginal_threshold=float(spec.get("marginal_score", 75)), pass_threshold=float(spec.get("pass_score", 95)))
    status = {PASS: PASS, FAIL: FAIL, MARGINAL: RUNNING}.get(j.verdict, NOT_ENOUGH_DATA)
    metrics = tuple({"name": m.name, "result": m.classification, "reason": m.reason, "n_candidate": m.n_candidate,
                     "n_current": m.n_baseline, "mean_candidate": m.mean_candidate, "mean_current": m.mean_baseline,
                     "relative_shift": m.relative_shift if m.relative_shift is None or abs(m.relative_shift) != float("inf")
                     else None, "p_value": m.p_value, "critical": m.critical} for m in j.metrics)
    return Operational(status, j.verdict, j.score, j.reason, metrics, j.pass_threshold, j.marginal_threshold)


@dataclass(frozen=True)
class OperationalVerdict:
    """An A/B or shadow test judged by the operational judge alone."""

    status: str
    reasons: tuple[str, ...]
    promote_due: bool = False
    operational: Mapping | None = None

    @property
    def allows_promotion(self) -> bool:
        return self.status == PASS

    def as_record(self) -> dict:
        return {"kind": "canary", "status": self.status, "reasons": list(self.reasons), "promote_due": self.promote_due,
                "operational": dict(self.operational) if self.operational else None}

    @classmethod
    def from_record(cls, record: Mapping) -> "OperationalVerdict":
        return cls(record["status"], tuple(record.get("reasons") or ()), bool(record.get("promote_due")),
                   record.get("operational"))


_RANK = {FAIL: 0, NOT_ENOUGH_DATA: 1, RUNNING: 2, PASS: 3}


def judge_bake(spec: Mapping, series: Mapping[str, Mapping[str, tuple]], *, bake_started: bool) -> OperationalVerdict:
    """The operational judge of a SageMaker-driven update (`bot.core.experiment.bake`):
    `series[variant][metric] = (bake values, baseline values)`. Each variant is judged on its
    own; the worst verdict decides (one failing variant fails the update), and the one shown
    is that variant's."""
    if not bake_started:
        return OperationalVerdict(NOT_ENOUGH_DATA, ("no traffic on the new fleet yet",))
    if not series:
        return OperationalVerdict(NOT_ENOUGH_DATA, ("no variant to judge",))
    judged = {v: judge_operational(spec, s) for v, s in sorted(series.items())}
    variant, worst = min(judged.items(), key=lambda kv: _RANK[kv[1].status])
    named = len(judged) > 1
    record = {**worst.as_record(), "variant": variant, "bake": True}
    why = f"operational judge{f' (variant {variant})' if named else ''}: {worst.reason}"
    return OperationalVerdict(worst.status, () if worst.status == PASS else (why,), False, record)


def with_operational(main, op: Operational):
    """`main` (a ShadowVerdict or ABJudgement, or None for the operational judge alone) with the
    operational judge's verdict: the stricter status decides; promotion only if both pass."""
    record = op.as_record()
    why = f"operational judge: {op.reason}"
    if main is None:
        return OperationalVerdict(op.status, () if op.status == PASS else (why,), False, record)
    status = main.status
    reasons = tuple(main.reasons)
    if op.status == FAIL:
        status, reasons = FAIL, (why,) + (reasons if main.status == FAIL else ())
    elif _RANK[op.status] < _RANK[status]:
        status, reasons = op.status, reasons + (why,)
    return replace(main, status=status, reasons=reasons, promote_due=main.promote_due and status == PASS,
                   operational=record)
