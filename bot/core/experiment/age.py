"""Model age versus performance: how each production model did, day by day since it was deployed.

Values in, an `AgeChart` out. The models come from the ledger (`model_periods`): every
deployment of the endpoint that changed its model (prepared as create or update) and finished
succeeded, from the time it finished until the next one did. The values are one per UTC day
(`daily`, read from CloudWatch by the adapter): the manifest's `performance_metric`, or by
default the 5XX error rate (Invocation5XXErrors / Invocations, an operational figure, named so).
Day 0 is the model's first whole day live; a day the model did not serve all of (its last, or
one without a data point) is left out rather than mixed with its successor. At most
`MAX_MODELS` models (the newest) and `MAX_DAYS` days each, so the chart stays readable and its
read bounded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAX_MODELS = 4
MAX_DAYS = 60


@dataclass(frozen=True)
class ModelPeriod:
    deployment_id: int
    label: str                  # `#PR` or the commit's first 7 characters
    deployed_at: dt.datetime
    until: dt.datetime | None   # replaced by the next model then; None: serving now


@dataclass(frozen=True)
class AgeSeries:
    label: str
    values: tuple[float | None, ...]  # index = days since deployment
    current: bool = False

    @property
    def known(self) -> int:
        return sum(v is not None for v in self.values)


@dataclass(frozen=True)
class AgeChart:
    endpoint: str
    metric: str
    higher_is_better: bool
    series: tuple[AgeSeries, ...]

    @property
    def days(self) -> int:
        return max((len(s.values) for s in self.series), default=0)

    @property
    def drawable(self) -> bool:
        return any(s.known for s in self.series)

    def bounds(self) -> tuple[float, float]:
        vals = [v for s in self.series for v in s.values if v is not None]
        lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
        if lo == hi:
            lo, hi = lo - (abs(lo) or 1) * 0.1, hi + (abs(hi) or 1) * 0.1
        return lo, hi

    def as_record(self) -> dict:
        return {"endpoint": self.endpoint, "metric": self.metric, "higher_is_better": self.higher_is_better,
                "series": [{"label": s.label, "current": s.current, "values": list(s.values)} for s in self.series]}


def model_periods(entries: Iterable[Mapping], now: dt.datetime, *, limit: int = MAX_MODELS) -> list[ModelPeriod]:
    """The models the endpoint served, oldest first (the newest `limit`), from its ledger
    entries (`Store.ledger_entries`: kind, deployment_id, at, data, pr_number, commit_sha)."""
    changed: set[int] = set()
    finished: dict[int, Mapping] = {}
    for e in entries:
        if e["kind"] == "prepared" and (e.get("data") or {}).get("kind") in ("create", "update"):
            changed.add(e["deployment_id"])
        elif e["kind"] == "finished" and (e.get("data") or {}).get("status") == "succeeded" \
                and not (e.get("data") or {}).get("kind"):
            finished[e["deployment_id"]] = e
    done = sorted((finished[d] for d in changed if d in finished), key=lambda e: (e["at"], e["deployment_id"]))
    out = []
    for i, e in enumerate(done):
        nxt = done[i + 1]["at"] if i + 1 < len(done) else None
        label = f"#{e['pr_number']}" if e.get("pr_number") is not None else (e.get("commit_sha") or "")[:7]
        out.append(ModelPeriod(e["deployment_id"], label, e["at"], nxt))
    return out[-limit:]


def first_day(periods: list[ModelPeriod]) -> dt.date | None:
    return min((p.deployed_at.date() for p in periods), default=None)


def age_chart(endpoint: str, periods: list[ModelPeriod], daily: Mapping[dt.date, float | None], *,
              metric: str, higher_is_better: bool, now: dt.datetime, max_days: int = MAX_DAYS) -> AgeChart:
    """Each model's daily values by age: day k is the (k+1)-th whole UTC day after it went live,
    up to the day before it was replaced (or before today)."""
    series = []
    for p in periods:
        start = p.deployed_at.date() + dt.timedelta(days=1)  # its first whole day
        end = (p.until or now).date()                        # exclusive: a partial day is left out
        n = max(0, min(max_days, (end - start).days))
        values = tuple(daily.get(start + dt.timedelta(days=k)) for k in range(n))
        series.append(AgeSeries(p.label, values, current=p.until is None))
    return AgeChart(endpoint, metric, higher_is_better, tuple(series))


COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")  # one per model line, in the table's order


def svg_plot(drawing: Mapping, *, width: int = 640, height: int = 220, pad: int = 40) -> dict:
    """Coordinates for an inline SVG of a stored drawing (`bot.app.services.model_age`): one
    polyline per model (x: days since deployment, y: the metric, `lo` at the bottom, `hi` at the
    top), and the axis labels. Values in, values out: the template only draws them."""
    days = max(1, int(drawing.get("days") or 1))
    lo, hi = float(drawing.get("lo", 0.0)), float(drawing.get("hi", 1.0))
    span = (hi - lo) or 1.0
    inner_w, inner_h = width - 2 * pad, height - 2 * pad

    def x(i: int) -> float:
        return round(pad + (inner_w * i / (days - 1) if days > 1 else inner_w / 2), 1)

    def y(v: float) -> float:
        return round(pad + inner_h * (1 - (v - lo) / span), 1)

    lines = []
    for k, line in enumerate(drawing.get("lines") or ()):
        pts = " ".join(f"{x(i)},{y(float(v))}" for i, v in enumerate(line.get("points") or ()))
        lines.append({"label": line.get("label"), "current": bool(line.get("current")), "points": pts,
                      "colour": COLOURS[k % len(COLOURS)]})
    return {"width": width, "height": height, "pad": pad, "lines": lines, "days": days,
            "lo": lo, "hi": hi, "x_end": x(days - 1), "y_top": y(hi), "y_bottom": y(lo)}
