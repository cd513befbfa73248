"""Statistics to a verdict: the manifest's gates as the core's `Gate`s, `prepare` -> `compare` ->
`evaluate_gates`, and the rows the report and the check show."""

from __future__ import annotations

import math
from typing import Any

from bot.core.compare.data import prepare
from bot.core.compare.gates import FAIL, INCONCLUSIVE, PASS, Gate, evaluate_gates
from bot.core.compare.metrics import METRICS, metric_title
from bot.core.compare.slices import evaluate_slices
from bot.core.compare.stats import compare
from bot.app.services.comparison.model import (
    CompareDeps,
    CompareOutcome,
    CompareRequest,
    METRIC_NAMES,
    SEVERITY,
    worst,
)
from bot.app.services.comparison.contracts import _manifest_contract, _samples


def core_gates(spec) -> list[tuple[Any, Gate]]:
    """The manifest's gates paired with the core's Gates (every manifest metric has a core name)."""
    judged = []
    for g in spec.gates:
        name = METRIC_NAMES[g.metric]
        mr = g.max_regression
        judged.append((g, Gate(name, min=g.min, max=g.max, max_regression=mr.absolute if mr else None,
                               max_relative_regression=mr.relative if mr else None,
                               confidence=spec.confidence_level)))
    return judged


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _row(metric: str, title: str, **values) -> dict:
    row = {"metric": metric, "title": title, "candidate": None, "baseline": None, "delta": None, "ci_low": None,
           "ci_high": None, "interval_method": None, "p_value": None, "gate": "—", "verdict": "—", "reason": "",
           "higher_is_better": None, "min_detectable": None, "rows_to_decide": None, "power_note": None, "power": None}
    row.update(values)
    return row


def _power(results) -> dict:
    """What the gates on one metric could have seen: the largest minimum detectable regression of
    its regression gates (the weakest claim holds for all) and, when the metric is inconclusive,
    the most rows any of its inconclusive gates needs (None if one of them no number decides)."""
    detect = [x.min_detectable for x in results if x.min_detectable is not None]
    open_ = [x for x in results if x.verdict == INCONCLUSIVE]
    undecidable = next((x.power_note for x in open_ if x.rows_to_decide is None), None)
    rows = None if undecidable or not open_ else max(x.rows_to_decide for x in open_)
    return {"min_detectable": _num(max(detect)) if detect else None, "rows_to_decide": rows,
            "power_note": undecidable, "power": results[0].power}


def _slices(spec, data, validation, judged, whole) -> dict:
    """The per-slice comparison as the report shows it: per column, the worst slices first. Each
    slice takes as many resamples as the whole set did, so one column's slices together cost
    about one more comparison of the whole set."""
    sl = spec.slices
    per_slice = [(mg, g) for mg, g in judged if mg.per_slice]
    report = evaluate_slices(data, {c: validation.table[c] for c in sl.columns}, [g for _, g in per_slice],
                             min_rows=sl.min_rows, max_levels=sl.max_levels, confidence=spec.confidence_level,
                             seed=whole.seed, n_resamples=whole.n_resamples)
    shown = per_slice[0][0].metric if per_slice else spec.metrics[0]
    core = METRIC_NAMES[shown]
    columns: dict[str, list] = {c: [] for c in sl.columns}
    for s in report.slices:
        row = {"level": s.level, "n_rows": s.n_rows, "judged": s.judged, "candidate": None, "baseline": None,
               "delta": None, "ci_low": None, "ci_high": None, "interval_method": None, "p_value": None,
               "verdict": "—" if s.judged else "not enough data", "reason": s.note or "", "severity": -1}
        if s.judged:
            mc = s.comparison.metrics[core]
            iv = mc.delta_interval(report.confidence, normal=True) if mc.baseline is not None else \
                mc.candidate_interval(report.confidence, normal=True)
            ok = iv is not None and iv.defined
            row.update(candidate=_num(mc.candidate), baseline=_num(mc.baseline), delta=_num(mc.delta),
                       ci_low=_num(iv.low) if ok else None, ci_high=_num(iv.high) if ok else None,
                       interval_method=iv.method if iv is not None else None, reason=mc.undefined or "")
            if s.results:
                row["verdict"] = max((r.verdict for r in s.results), key=SEVERITY.__getitem__)
                row["severity"] = SEVERITY[row["verdict"]]
                row["reason"] = "; ".join(r.reason for r in s.results if r.verdict != PASS) or row["reason"]
        columns[s.column].append(row)
    higher = METRICS[core].higher_is_better
    for rows in columns.values():
        rows.sort(key=lambda r: (not r["judged"], -r["severity"],
                                 math.inf if r["delta"] is None else (r["delta"] if higher else -r["delta"])))
    return {"metric": metric_title(core, spec.task), "confidence": report.confidence if report.gates else None,
            "min_rows": sl.min_rows,
            "correction": report.correction,
            "gates": [{"gate": g.gate.describe().replace(core, mg.metric), "verdict": g.verdict, "reason": g.reason,
                       "judged": g.judged} for (mg, _), g in zip(per_slice, report.gates)],
            "columns": [{"column": c, "levels": len(rows), "rows": rows} for c, rows in columns.items()]}


def _evaluate(req: CompareRequest, deps: CompareDeps, out: CompareOutcome, validation, cand, base,
              cand_ids=None, base_ids=None) -> None:
    spec = req.manifest.validation
    deps.say("computing metrics and intervals")
    joined = cand_ids is not None
    data = prepare(spec.task, validation.labels, cand, base,
                   ids=validation.ids if joined else None,
                   candidate_ids=cand_ids if joined else None,
                   baseline_ids=(base_ids if base_ids is not None else validation.ids)
                   if joined and base is not None else None)
    comparison = compare(data)
    judged = core_gates(spec)
    report = evaluate_gates(comparison, [g for _, g in judged])
    payloads = _manifest_contract(req, deps, out, validation, cand, base)
    _samples(req, deps, out, validation, payloads)
    by_metric: dict[str, list] = {}
    for (mg, _), result in zip(judged, report.results):
        by_metric.setdefault(mg.metric, []).append(result)
    conf = spec.confidence_level
    rows, verdicts = [], [report.verdict]
    for metric in spec.metrics:
        core = METRIC_NAMES[metric]
        mc = comparison.metrics[core]  # manifest rules admit only the task's metrics
        results = by_metric.get(metric, [])
        if results:
            r = results[0]
            rows.append(_row(metric, r.title, candidate=_num(r.candidate), baseline=_num(r.baseline),
                             delta=_num(r.delta), ci_low=_num(r.ci_low), ci_high=_num(r.ci_high),
                             interval_method=r.interval_method, p_value=_num(r.p_value),
                             gate="; ".join(x.gate.replace(core, metric) for x in results),
                             verdict=max((x.verdict for x in results), key=SEVERITY.__getitem__),
                             reason="; ".join(x.reason for x in results), higher_is_better=r.higher_is_better,
                             **_power(results),
                             regression_gate=any(g.has_regression_limit for mg, g in judged if mg.metric == metric)))
        else:
            iv = mc.delta_interval(conf) if mc.baseline is not None else mc.candidate_interval(conf)
            ok = iv is not None and iv.defined
            rows.append(_row(metric, metric_title(core, spec.task), candidate=_num(mc.candidate),
                             baseline=_num(mc.baseline), delta=_num(mc.delta),
                             ci_low=_num(iv.low) if ok else None, ci_high=_num(iv.high) if ok else None,
                             interval_method=iv.method if iv is not None else None, p_value=_num(mc.p_value),
                             reason=mc.undefined or "no gate on this metric", higher_is_better=mc.higher_is_better))
    if req.baseline is None and req.baseline_unknown:
        for row in rows:
            if row.get("regression_gate") and row["verdict"] == PASS:
                row["verdict"] = INCONCLUSIVE
                row["reason"] += f"; the regression limit was not judged: {req.baseline_unknown}"
                verdicts.append(INCONCLUSIVE)
        out.notes.append(f"baseline unknown: {req.baseline_unknown}; only absolute limits (min/max) were judged")
    else:
        out.notes.extend(report.notes)
    if spec.slices is not None:
        out.slices = _slices(spec, data, validation, judged, comparison)
        verdicts.extend(g["verdict"] for g in out.slices["gates"])
    levels = {c["level"] for c in out.contract}
    if "error" in levels:
        verdicts.append(FAIL)
    elif "warning" in levels:
        verdicts.append(INCONCLUSIVE)
    out.rows = rows
    out.n_rows = comparison.n_rows
    out.has_baseline = comparison.has_baseline
    out.status, out.verdict = "done", worst(verdicts)
    if comparison.class_counts is not None:
        out.notes.append("rows per class: " + ", ".join(f"{c!r}: {k}" for c, k in
                                                          zip(comparison.classes or (), comparison.class_counts)))
    out.notes.append(f"{comparison.n_resamples} paired bootstrap resamples (seed {comparison.seed}); "
                     f"{conf:.0%} intervals")
