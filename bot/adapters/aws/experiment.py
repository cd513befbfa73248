"""The shadow judge's evidence, read from the live endpoint within a fixed budget per evaluation.

Data capture (SageMaker Developer Guide, "Data capture" / "View collected data"): objects keyed
`<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl`, one JSON object per
invocation. For each variant the hours of the experiment (widened by `CLOCK_SKEW` at both
ends: the keys' hours are SageMaker's clock) are listed newest first, one ListObjectsV2 page (up
to 1,000 keys) per hour, and objects are read newest first until the
variant's half of the byte budget is spent; an object larger than what is left is read with a
Range request, its cut last line counted as truncated by `capture.parse_capture`. Per variant
and evaluation at most `MAX_LIST_CALLS` lists and `MAX_GET_CALLS` gets, so a 10 GB capture
prefix costs what a small one does. An hour holding more than one page of keys is read from its
first page only (the keys of an hour sort by time of writing, so the newest are the ones
missed); the count is reported as `listings_truncated`.

CloudWatch (SageMaker Developer Guide, "Amazon SageMaker AI metrics in Amazon CloudWatch",
namespace AWS/SageMaker, dimensions EndpointName and VariantName): one GetMetricData call per
evaluation with one period spanning the whole window (a multiple of 60 s, as GetMetricData's
Period requires): Invocations, Invocation5XXErrors, Invocation4XXErrors as Sum and
ModelLatency, OverheadLatency as p99 (microseconds), for both variants: 10 queries, well under
the 500 a call may carry.

An A/B test's business metric (`read_ab_counts`): one more GetMetricData call per evaluation,
the custom metric's Sum and SampleCount per variant over the same kind of window (4 queries).
The operational judge (`read_minutes`): one more, both variants' ModelLatency, OverheadLatency
(Average) and Invocation5XXErrors, Invocations (Sum) per minute (Period 60: 8 queries of at most
1,440 points, under GetMetricData's 100,800 a call).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from bot.adapters.aws.session import unavailable
from bot.core.deploy.requests import split_s3_uri
from bot.core.experiment.capture import CaptureRecord, capture_hour_prefix, pair_records, parse_capture
from bot.core.experiment.judge import ShadowEvidence, VariantMetrics

MAX_HOURS = 72          # hours of capture looked at, newest first
MAX_LIST_CALLS = 24     # ListObjectsV2 calls per variant and evaluation
MAX_GET_CALLS = 200     # GetObject calls per variant and evaluation
MAX_RECORDS = 200_000   # capture records kept per variant
CLOUDWATCH_MAX_WINDOW = dt.timedelta(days=14)  # 1-minute data points are kept 15 days
# How far our clock may trail or lead AWS's: capture hours are listed this much past both ends of
# the window, and CloudWatch windows end this much after now (pairing never trusts times: it
# matches by inference id, event id or request body, see capture.pair_records).
CLOCK_SKEW = dt.timedelta(minutes=10)

METRICS = (("invocations", "Invocations", "Sum"), ("errors_5xx", "Invocation5XXErrors", "Sum"),
           ("errors_4xx", "Invocation4XXErrors", "Sum"), ("latency_p99", "ModelLatency", "p99"),
           ("overhead_p99", "OverheadLatency", "p99"))


@dataclass(frozen=True)
class Budget:
    """What one evaluation may read: bytes of capture (both variants together) and calls."""

    capture_bytes: int
    list_calls: int = MAX_LIST_CALLS
    get_calls: int = MAX_GET_CALLS


def capture_prefix(destination: str) -> tuple[str, str]:
    """(bucket, key prefix without a trailing slash) of the data capture destination."""
    uri = destination.rstrip("/")
    if uri.count("/") < 3:  # s3://bucket: no prefix
        return uri[5:], ""
    return split_s3_uri(uri)


def read_variant_capture(s3: Any, destination: str, endpoint: str, variant: str, since: dt.datetime,
                         now: dt.datetime, *, max_bytes: int, list_calls: int = MAX_LIST_CALLS,
                         get_calls: int = MAX_GET_CALLS) -> tuple[list[CaptureRecord], dict, list[str]]:
    """The newest capture records of `variant` since `since`, read within the budget."""
    bucket, prefix = capture_prefix(destination)
    counts = {"lists": 0, "gets": 0, "objects": 0, "bytes": 0, "lines": 0, "truncated": 0, "malformed": 0,
              "over_cap": 0, "left_unread": 0, "listings_truncated": 0}
    problems: list[str] = []
    records: list[CaptureRecord] = []
    # One hour past our own clock's: the keys' hours are SageMaker's clock, which ours may trail.
    hour = (now + CLOCK_SKEW).replace(minute=0, second=0, microsecond=0)
    first = (since - CLOCK_SKEW).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour >= first and len(hours) < MAX_HOURS:
        hours.append(hour)
        hour -= dt.timedelta(hours=1)
    left = max_bytes
    for h in hours:
        if counts["lists"] >= list_calls or left <= 0:
            break
        key_prefix = capture_hour_prefix(prefix, endpoint, variant, h)
        try:
            page = s3.list_objects_v2(Bucket=bucket, Prefix=key_prefix, MaxKeys=1000)
        except ClientError as exc:
            raise unavailable(exc, where=f"data capture s3://{bucket}/{key_prefix}", call="s3:ListObjectsV2") from None
        except BotoCoreError as exc:
            raise unavailable(exc, where=f"data capture s3://{bucket}/{key_prefix}", call="s3:ListObjectsV2") from None
        counts["lists"] += 1
        if page.get("IsTruncated"):
            counts["listings_truncated"] += 1
        objects = sorted(page.get("Contents") or (), key=lambda o: o["Key"], reverse=True)
        for o in objects:
            if left <= 0 or counts["gets"] >= get_calls or len(records) >= MAX_RECORDS:
                counts["left_unread"] += 1
                continue
            size = int(o.get("Size") or 0)
            if size <= 0:
                continue
            ask = {"Range": f"bytes=0-{left - 1}"} if size > left else {}
            try:
                body = s3.get_object(Bucket=bucket, Key=o["Key"], **ask)["Body"].read(left)
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code") or "")
                if code in ("NoSuchKey", "404"):  # deleted since the list (a lifecycle rule): skipped
                    problems.append(f"{o['Key']}: gone before it was read")
                    continue
                raise unavailable(exc, where=f"data capture s3://{bucket}/{o['Key']}", call="s3:GetObject") from None
            except BotoCoreError as exc:
                raise unavailable(exc, where=f"data capture s3://{bucket}/{o['Key']}", call="s3:GetObject") from None
            counts["gets"] += 1
            counts["objects"] += 1
            counts["bytes"] += len(body)
            left -= len(body)
            batch = parse_capture(body, max_records=MAX_RECORDS - len(records))
            records.extend(batch.records)
            for k in ("lines", "truncated", "malformed", "over_cap"):
                counts[k] += getattr(batch, k)
            problems.extend(f"{o['Key']}: {p}" for p in batch.problems[:2])
    if not counts["objects"]:
        problems.append(f"no capture of variant {variant} under s3://{bucket}/{prefix}{'/' if prefix else ''}"
                        f"{endpoint}/{variant}/ since {since:%Y-%m-%d %H:00} UTC")
    return records, counts, problems


def read_metrics(cloudwatch: Any, endpoint: str, variants: tuple[str, str], since: dt.datetime,
                 now: dt.datetime) -> tuple[VariantMetrics, VariantMetrics]:
    """Both variants' figures over [since, now] in one GetMetricData call."""
    start, end, period = _window(since, now)
    queries = []
    for i, variant in enumerate(variants):
        for j, (_, metric, stat) in enumerate(METRICS):
            queries.append({"Id": f"m{i}_{j}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": "AWS/SageMaker", "MetricName": metric,
                           "Dimensions": [{"Name": "EndpointName", "Value": endpoint},
                                          {"Name": "VariantName", "Value": variant}]},
                "Period": period, "Stat": stat}})
    try:
        answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
    except ClientError as exc:
        raise unavailable(exc, where=f"metrics of endpoint {endpoint}", call="cloudwatch:GetMetricData") from None
    except BotoCoreError as exc:
        raise unavailable(exc, where=f"metrics of endpoint {endpoint}", call="cloudwatch:GetMetricData") from None
    values = {r["Id"]: [float(v) for v in r.get("Values") or () if v is not None and math.isfinite(float(v))]
              for r in answer.get("MetricDataResults") or ()}
    out = []
    for i, _ in enumerate(variants):
        figures = {}
        for j, (name, _, stat) in enumerate(METRICS):
            got = values.get(f"m{i}_{j}") or []
            figures[name] = (sum(got) if stat == "Sum" else max(got)) if got else None
        out.append(VariantMetrics(**figures))
    return out[0], out[1]


def read_shadow_evidence(clients: Any, *, destination: str, endpoint: str, production_variant: str,
                         shadow_variant: str, since: dt.datetime, now: dt.datetime, budget: Budget,
                         output_index: int = 0) -> ShadowEvidence:
    """Capture of both variants (half the byte budget each), paired, and their CloudWatch figures."""
    half = max(1, budget.capture_bytes // 2)
    prod, prod_counts, prod_problems = read_variant_capture(
        clients.s3, destination, endpoint, production_variant, since, now, max_bytes=half,
        list_calls=budget.list_calls, get_calls=budget.get_calls)
    shadow, shadow_counts, shadow_problems = read_variant_capture(
        clients.s3, destination, endpoint, shadow_variant, since, now, max_bytes=half,
        list_calls=budget.list_calls, get_calls=budget.get_calls)
    pairing = pair_records(prod, shadow, index=output_index)
    prod_m, shadow_m = read_metrics(clients.cloudwatch, endpoint, (production_variant, shadow_variant), since, now)
    counts = {f"{side}_{k}": v for side, c in (("production", prod_counts), ("shadow", shadow_counts))
              for k, v in c.items()}
    counts.update(unmatched_production=pairing.unmatched_production, unmatched_shadow=pairing.unmatched_shadow,
                  ambiguous=pairing.ambiguous, without_output=pairing.without_output)
    return ShadowEvidence(pairing, prod_m, shadow_m, MappingProxyType(counts),
                          tuple((prod_problems + shadow_problems)[:10]))


OPERATIONAL_WINDOW = dt.timedelta(hours=24)  # the operational judge's newest minutes: 1,440 points a series
BAKE_WINDOW = dt.timedelta(minutes=2500)  # baseline (at most 1,440 min) + an update of up to 17 h
MAX_BAKE_VARIANTS = 10  # botocore ProductionVariantList: max 10


def read_minutes(cloudwatch: Any, endpoint: str, variants: tuple[str, str], since: dt.datetime,
                 now: dt.datetime, metrics: Iterable[str]) -> dict[str, tuple[list[float], list[float]]]:
    """One GetMetricData call: per operational metric (`judge.OPERATIONAL_METRICS`), the
    (candidate, current) one-minute values since `since` (the newest 24 hours). `variants` is
    (current, candidate); a minute without invocations has no error rate."""
    end = _ceil_minute(now + CLOCK_SKEW)
    start = max(since.replace(second=0, microsecond=0), end - OPERATIONAL_WINDOW)
    current, candidate = (
        {m: [v for _, v in sorted(series.items())] for m, series in per.items()}
        for per in minute_series(cloudwatch, endpoint, variants, start, end))
    return {m: (candidate[m], current[m]) for m in metrics if m in current}


def read_bake_minutes(cloudwatch: Any, endpoint: str, variants: Iterable[str], since: dt.datetime,
                      now: dt.datetime) -> dict[str, dict[str, dict[dt.datetime, float]]]:
    """One GetMetricData call: per variant, per operational metric, the one-minute values by
    minute from `since` (at most BAKE_WINDOW before `now`), for `bot.core.experiment.bake.split`."""
    names = tuple(variants)[:MAX_BAKE_VARIANTS]
    end = _ceil_minute(now + CLOCK_SKEW)
    start = max(since.replace(second=0, microsecond=0), end - BAKE_WINDOW)
    return dict(zip(names, minute_series(cloudwatch, endpoint, names, start, end)))


def minute_series(cloudwatch: Any, endpoint: str, variants: tuple[str, ...], start: dt.datetime,
                  end: dt.datetime) -> list[dict[str, dict[dt.datetime, float]]]:
    """One GetMetricData call (AWS/SageMaker, EndpointName + VariantName, Period 60): per
    variant, model_latency and overhead_latency (Average) and error_rate (Invocation5XXErrors /
    Invocations; a minute without invocations has none), by minute. At most 2,500 minutes of 4
    queries for 10 variants stay within GetMetricData's 100,800 data points of one call
    (CloudWatch API Reference, GetMetricData), so no NextToken is needed."""
    wanted = (("ModelLatency", "Average"), ("OverheadLatency", "Average"), ("Invocation5XXErrors", "Sum"),
              ("Invocations", "Sum"))
    queries = []
    for i, variant in enumerate(variants):
        for j, (name, stat) in enumerate(wanted):
            queries.append({"Id": f"o{i}_{j}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": "AWS/SageMaker", "MetricName": name,
                           "Dimensions": [{"Name": "EndpointName", "Value": endpoint},
                                          {"Name": "VariantName", "Value": variant}]},
                "Period": 60, "Stat": stat}})
    try:
        answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
    except ClientError as exc:
        raise unavailable(exc, where=f"metrics of endpoint {endpoint}", call="cloudwatch:GetMetricData") from None
    except BotoCoreError as exc:
        raise unavailable(exc, where=f"metrics of endpoint {endpoint}", call="cloudwatch:GetMetricData") from None
    got: dict[str, dict] = {}
    for r in answer.get("MetricDataResults") or ():
        got[r["Id"]] = {t: float(v) for t, v in zip(r.get("Timestamps") or (), r.get("Values") or ())
                        if v is not None and math.isfinite(float(v))}
    out = []
    for i, _ in enumerate(variants):
        latency, overhead, errors, calls = (got.get(f"o{i}_{j}", {}) for j in range(4))
        out.append({"model_latency": dict(sorted(latency.items())), "overhead_latency": dict(sorted(overhead.items())),
                    "error_rate": {t: errors.get(t, 0.0) / n for t, n in sorted(calls.items()) if n > 0}})
    return out


def _window(since: dt.datetime, now: dt.datetime) -> tuple[dt.datetime, dt.datetime, int]:
    end = _ceil_minute(now + CLOCK_SKEW)
    start = max(since.replace(second=0, microsecond=0), end - CLOUDWATCH_MAX_WINDOW)
    period = max(60, int((end - start).total_seconds()) // 60 * 60)
    return end - dt.timedelta(seconds=period), end, period


def read_ab_counts(cloudwatch: Any, endpoint: str, variants: tuple[str, str], metric: dict, since: dt.datetime,
                   now: dt.datetime) -> tuple[tuple[float | None, float | None], tuple[float | None, float | None]]:
    """(SampleCount, Sum) of the business metric for (control, treatment) over [since, now]."""
    start, end, period = _window(since, now)
    extra = [{"Name": k, "Value": v} for k, v in sorted((metric.get("dimensions") or {}).items())]
    queries = []
    for i, variant in enumerate(variants):
        for j, stat in enumerate(("SampleCount", "Sum")):
            queries.append({"Id": f"b{i}_{j}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": metric["namespace"], "MetricName": metric["metric_name"],
                           "Dimensions": [{"Name": "EndpointName", "Value": endpoint},
                                          {"Name": "VariantName", "Value": variant}, *extra]},
                "Period": period, "Stat": stat}})
    try:
        answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
    except ClientError as exc:
        raise unavailable(exc, where=f"metric {metric['namespace']}/{metric['metric_name']}",
                          call="cloudwatch:GetMetricData") from None
    except BotoCoreError as exc:
        raise unavailable(exc, where=f"metric {metric['namespace']}/{metric['metric_name']}",
                          call="cloudwatch:GetMetricData") from None
    values = {r["Id"]: [float(v) for v in r.get("Values") or () if v is not None and math.isfinite(float(v))]
              for r in answer.get("MetricDataResults") or ()}
    out = []
    for i, _ in enumerate(variants):
        n, total = values.get(f"b{i}_0") or [], values.get(f"b{i}_1") or []
        out.append((sum(n) if n else None, sum(total) if total else None))
    return out[0], out[1]


def _ceil_minute(t: dt.datetime) -> dt.datetime:
    floor = t.replace(second=0, microsecond=0)
    return floor if floor == t else floor + dt.timedelta(minutes=1)
