"""Daily values of a model's performance metric, for the model-age chart (`bot.core.experiment.age`).

One GetMetricData call per endpoint and report, Period 86400 s (one value per UTC day) from the
first whole day of the oldest model charted to today (exclusive), at most `age.MAX_MODELS x
age.MAX_DAYS` days back (CloudWatch keeps 1-hour data points 455 days: "Amazon CloudWatch
concepts", Metrics retention):

- the manifest's `performance_metric`: its statistic of the metric with EndpointName and its
  `dimensions`;
- by default the 5XX error rate: Invocation5XXErrors and Invocations (AWS/SageMaker, Sum per
  day) of each variant the endpoint's models served as, summed per day, errors / invocations.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.adapters.aws.session import unavailable

DAY = 86400
MAX_VARIANTS = 8


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def read_daily(cloudwatch: Any, endpoint: str, *, metric: dict | None, variants: Iterable[str],
               first: dt.date, today: dt.date) -> dict[dt.date, float | None]:
    """{day: value} for the whole days in [first, today); a day without a data point is absent."""
    if first >= today:
        return {}
    queries = []
    if metric is not None:
        dims = [{"Name": "EndpointName", "Value": endpoint},
                *({"Name": k, "Value": v} for k, v in sorted((metric.get("dimensions") or {}).items()))]
        queries.append({"Id": "p", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": metric["namespace"], "MetricName": metric["metric_name"], "Dimensions": dims},
            "Period": DAY, "Stat": metric.get("statistic") or "Average"}})
    else:
        for i, variant in enumerate(sorted(set(variants))[:MAX_VARIANTS]):
            for name, metric_name in (("e", "Invocation5XXErrors"), ("n", "Invocations")):
                queries.append({"Id": f"{name}{i}", "ReturnData": True, "MetricStat": {
                    "Metric": {"Namespace": "AWS/SageMaker", "MetricName": metric_name,
                               "Dimensions": [{"Name": "EndpointName", "Value": endpoint},
                                              {"Name": "VariantName", "Value": variant}]},
                    "Period": DAY, "Stat": "Sum"}})
    try:
        answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=_midnight(first),
                                            EndTime=_midnight(today))
    except ClientError as exc:
        raise unavailable(exc, where=f"daily metrics of endpoint {endpoint}", call="cloudwatch:GetMetricData") from None
    except BotoCoreError as exc:
        raise unavailable(exc, where=f"daily metrics of endpoint {endpoint}", call="cloudwatch:GetMetricData") from None
    per: dict[str, dict[dt.date, float]] = {}
    for r in answer.get("MetricDataResults") or ():
        got = per.setdefault(r["Id"], {})
        for t, v in zip(r.get("Timestamps") or (), r.get("Values") or ()):
            if v is None or not math.isfinite(float(v)):
                continue
            day = t.astimezone(dt.timezone.utc).date() if t.tzinfo else t.date()
            if first <= day < today:
                got[day] = got.get(day, 0.0) + float(v)
    if metric is not None:
        return dict(per.get("p", {}))
    errors: dict[dt.date, float] = {}
    calls: dict[dt.date, float] = {}
    for key, values in per.items():
        into = errors if key.startswith("e") else calls
        for day, v in values.items():
            into[day] = into.get(day, 0.0) + v
    return {day: errors.get(day, 0.0) / n for day, n in calls.items() if n > 0}
