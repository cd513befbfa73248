"""The PR report's model-age section: for each endpoint the pull request changes (at most
`MAX_CHARTS`), its models from the ledger (`bot.core.experiment.age.model_periods`) and one
GetMetricData call for their daily values (`bot.adapters.aws.model_age`), drawn as a Mermaid
`xychart-beta` (rendered by GitHub) by `report/model_age.md.j2`. The same chart, as data
(`AgeChart.as_record` and the drawing's lines), is kept in the store per endpoint
(`Store.keep_model_age`) for the status UI, which reads no AWS on a page view.

Reads go through the live reader's session pool; without one (a reader that is not AWS's), or
for an environment whose AWS cannot be reached, the section says so and the report goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from bot.adapters.aws.model_age import read_daily
from bot.adapters.aws.session import AwsUnavailable
from bot.core.experiment.age import MAX_DAYS, MAX_MODELS, age_chart, model_periods
from bot.core.render import render
from bot.core.report import Section

log = logging.getLogger(__name__)

MAX_CHARTS = 3
DEFAULT_METRIC = "5XX error rate"


def _variants(store, environment: str, endpoint: str, spec) -> set[str]:
    """The variant names the endpoint's models served as: the manifest's, and each A/B or
    shadow candidate's (a promoted candidate keeps its variant name)."""
    names = {spec.variant_name}
    for d in store.deployments(environment=environment, endpoint=endpoint):
        try:
            rollout = (json.loads(d.state) if d.state else {}).get("rollout") or {}
        except (TypeError, ValueError):
            continue
        if rollout.get("flow") in ("ab", "shadow") and rollout.get("candidate_variant"):
            names.add(rollout["candidate_variant"])
    return names


def charts_for(store, pool, repository: str, targets, now: dt.datetime) -> tuple[list[dict], list[str]]:
    """([{environment, chart record, ...drawing values}], problems) for `targets`: (environment,
    endpoint, environment spec) triples."""
    charts, problems = [], []
    for environment, endpoint, spec in targets[:MAX_CHARTS]:
        entries = [e for e in store.ledger_entries(environment=environment, endpoint=endpoint)
                   if e.get("repository") == repository]
        periods = model_periods(entries, now)
        if not periods:
            continue
        first = max(min(p.deployed_at for p in periods).date() + dt.timedelta(days=1),
                    now.date() - dt.timedelta(days=MAX_DAYS * MAX_MODELS))
        metric = spec.performance_metric.model_dump(mode="json") if spec.performance_metric else None
        try:
            daily = read_daily(pool.client(environment, "cloudwatch"), endpoint, metric=metric,
                               variants=_variants(store, environment, endpoint, spec), first=first, today=now.date())
        except AwsUnavailable as exc:
            problems.append(f"`{endpoint}` in {environment}: the daily metrics could not be read: {exc.reason}")
            continue
        except KeyError:  # an environment the server config does not know: the plan says so already
            continue
        label = (metric.get("label") or f"{metric['namespace']}/{metric['metric_name']} ({metric['statistic']})") \
            if metric else DEFAULT_METRIC
        chart = age_chart(endpoint, periods, daily, metric=label,
                          higher_is_better=metric.get("higher_is_better", True) if metric else False, now=now)
        if not chart.drawable:
            problems.append(f"`{endpoint}` in {environment}: no daily data point of {label} yet "
                            "(a model's first chart day is its first whole day live)")
            continue
        drawing = _drawing(environment, chart, periods)
        store.keep_model_age(repository, environment, endpoint, drawing, now)  # for the status UI
        charts.append(drawing)
    return charts, problems


def _drawing(environment: str, chart, periods) -> dict:
    lo, hi = chart.bounds()
    lines, filled = [], False
    for s, p in zip(chart.series, periods):
        known = [i for i, v in enumerate(s.values) if v is not None]
        last = known[-1] if known else -1
        points, prev, gaps = [], None, 0
        for v in s.values[:last + 1]:
            if v is None:
                gaps += 1
                filled = True
                v = prev if prev is not None else next(x for x in s.values if x is not None)
            points.append(float(f"{v:.6g}"))
            prev = v
        first_day = (p.deployed_at.date() + dt.timedelta(days=1)) if points else None
        lines.append({"label": s.label, "current": s.current, "points": points, "gaps": gaps,
                      "first": first_day.isoformat() if first_day else None,
                      "last": (first_day + dt.timedelta(days=len(points) - 1)).isoformat() if points else None})
    return {"environment": environment, "chart": chart.as_record(), "lines": lines, "lo": lo, "hi": hi,
            "days": max((len(line["points"]) for line in lines), default=0), "filled": filled}


def model_age_section(store, live_reader, repository: str, result, now: dt.datetime) -> Section | None:
    """The section for the manifests `result` (a `bot.core.review.Review`) holds, or None."""
    pool = getattr(live_reader, "pool", None)
    if pool is None:
        return None
    targets = []
    for m in result.manifests:
        if m.manifest is None:
            continue
        for e in m.environments:
            spec = m.manifest.environments.get(e.environment)
            if spec is None or spec.mode == "batch" or e.live != "read":  # AWS not read for the plan: not here either
                continue
            targets.append((e.environment, m.manifest.endpoint_name(e.environment), spec))
    if not targets:
        return None
    charts, problems = charts_for(store, pool, repository, targets, now)
    if not charts and not problems:
        return None
    return Section("Model age", render("report/model_age.md.j2", charts=charts, problems=problems,
                                       max_models=MAX_MODELS, max_days=MAX_DAYS))
