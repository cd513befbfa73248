"""Benchmark: one evaluation of the shadow judge (and of an A/B test) — S3 and CloudWatch calls,
bytes read, time and memory — on a small capture prefix and on a 10 GB one.

    .venv/bin/python bench/bench_experiment.py [--huge-gb 10] [--budget-mb 16]

The capture lives in an in-memory S3 stand-in that answers ListObjectsV2 (1,000 keys a page) and
GetObject (with Range) for `<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<n>.jsonl` objects of
1 MB, generated on demand (never held: a 10 GB prefix costs nothing to declare), the records of
both variants answering the same requests; CloudWatch is a stand-in answering GetMetricData with
fixed figures. Both count every call and byte. The same evaluation
(`bot.adapters.aws.experiment.read_shadow_evidence` then `judge_shadow`) runs on a prefix of
`--small-mb` (baseline, same run) and of `--huge-gb`.

Goals: per evaluation at most 2 x 24 lists, 2 x 200 gets, 1 GetMetricData, capture bytes within
`--budget-mb`; the huge prefix's calls, bytes, time and peak memory within 1.2x of the small
one's (the cost follows the budget, not the prefix). The A/B test: 1 GetMetricData, no S3. The
operational judge of an update SageMaker drives: 1 GetMetricData per evaluation (once a minute)
within GetMetricData's limits at the largest window (10 variants, 1,440 baseline minutes and the
rest of the read window, `BAKE_WINDOW`, for the update: 1,060 minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.aws.executor import Clients  # noqa: E402
from bot.adapters.aws.experiment import (BAKE_WINDOW, Budget, read_ab_counts, read_bake_minutes,  # noqa: E402
                                         read_shadow_evidence)
from bot.core.experiment import bake  # noqa: E402
from bot.core.experiment.judge import arm, judge_ab, judge_bake, judge_shadow  # noqa: E402

OBJECT = 1024 * 1024
EP = "ranker-production"
NOW = dt.datetime(2026, 12, 4, 12, 30, tzinfo=dt.timezone.utc)
GATES = {"kind": "shadow", "task": "classification", "threshold": 0.5, "min_pairs": 500, "max_disagreement": 0.02,
         "max_psi": 0.25, "max_latency_ratio": 1.2, "max_error_rate": 0.01}


def _line(i: int, variant: str) -> bytes:
    score = ((i * 2654435761) % 1000) / 1000
    if variant == "shadow" and i % 97 == 0:
        score = 1 - score
    return json.dumps({"captureData": {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": f"{i},{i % 13}", "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": f"{score:.4f}", "encoding": "CSV"}},
        "eventMetadata": {"eventId": f"{variant}-{i}", "inferenceId": f"r{i}", "inferenceTime": "2026-12-04T12:00:00Z"},
        "eventVersion": "0"}).encode() + b"\n"


class FakeS3:
    """Capture objects of one endpoint: `objects_per_variant` of 1 MB, spread over the hours."""

    def __init__(self, objects_per_variant: int, hours: int = 24):
        self.n, self.hours = objects_per_variant, hours
        self.calls = {"ListObjectsV2": 0, "GetObject": 0}
        self.bytes = 0

    def _keys(self, prefix: str) -> list[str]:
        parts = prefix.rstrip("/").split("/")
        hour = dt.datetime(int(parts[-4]), int(parts[-3]), int(parts[-2]), int(parts[-1]), tzinfo=dt.timezone.utc)
        back = int((NOW.replace(minute=0) - hour).total_seconds() // 3600)
        if not 0 <= back < self.hours:
            return []
        per_hour = -(-self.n // self.hours)
        first = back * per_hour
        return [f"{prefix}{k:06d}.jsonl" for k in range(first, min(self.n, first + per_hour))]

    def list_objects_v2(self, *, Bucket, Prefix, MaxKeys=1000):
        self.calls["ListObjectsV2"] += 1
        keys = self._keys(Prefix)
        return {"Contents": [{"Key": k, "Size": OBJECT} for k in keys[:MaxKeys]], "IsTruncated": len(keys) > MaxKeys}

    def get_object(self, *, Bucket, Key, Range=None):
        self.calls["GetObject"] += 1
        variant = Key.split("/")[-6]
        index = int(Key.rsplit("/", 1)[1].split(".")[0])
        size = OBJECT if Range is None else int(Range.split("-")[1]) + 1
        out, i = bytearray(), (index % 50) * 10_000  # objects repeat the same requests: pairs exist across variants
        while len(out) < size:
            out += _line(i, variant)
            i += 1
        body = bytes(out[:size])
        self.bytes += len(body)
        return {"Body": io.BytesIO(body)}


class FakeCloudWatch:
    def __init__(self):
        self.calls = 0

    def get_metric_data(self, *, MetricDataQueries, StartTime, EndTime):
        self.calls += 1
        figures = {"Invocations": 50_000.0, "Invocation5XXErrors": 3.0, "Invocation4XXErrors": 0.0,
                   "ModelLatency": 21_000.0, "OverheadLatency": 900.0, "Clicked": 5_000.0}
        out = []
        for q in MetricDataQueries:
            name, stat = q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"]
            value = 50_000.0 if stat == "SampleCount" else figures.get(name, 1.0)
            out.append({"Id": q["Id"], "Values": [value], "Timestamps": [StartTime]})
        return {"MetricDataResults": out}


class MinuteCloudWatch:
    """GetMetricData answering one value per minute of the asked window for every query."""

    def __init__(self):
        self.calls = self.queries = self.points = 0

    def get_metric_data(self, *, MetricDataQueries, StartTime, EndTime):
        self.calls += 1
        self.queries += len(MetricDataQueries)
        minutes = int((EndTime - StartTime).total_seconds() // 60)
        stamps = [StartTime + dt.timedelta(minutes=k) for k in range(minutes)]
        out = []
        for q in MetricDataQueries:
            name = q["MetricStat"]["Metric"]["MetricName"]
            value = {"Invocations": 100.0, "Invocation5XXErrors": 0.0}.get(name, 20_000.0)
            out.append({"Id": q["Id"], "Values": [value + (k % 7) for k in range(minutes)], "Timestamps": stamps})
            self.points += minutes
        return {"MetricDataResults": out}


def evaluate_bake(variants: int, baseline_minutes: int, bake_minutes: int) -> dict:
    """One evaluation of the operational judge during an update SageMaker drives."""
    cw = MinuteCloudWatch()
    update_at = NOW - dt.timedelta(minutes=bake_minutes)
    spec = {"metrics": ["model_latency", "overhead_latency", "error_rate"], "min_points": 10}
    t0 = time.perf_counter()
    per = read_bake_minutes(cw, EP, [f"v{i}" for i in range(variants)], update_at - dt.timedelta(minutes=baseline_minutes), NOW)
    series = {v: {m: bake.split(values[m], update_at=update_at, baseline_minutes=baseline_minutes, bake_since=update_at)
                  for m in spec["metrics"]} for v, values in per.items()}
    verdict = judge_bake(spec, series, bake_started=True)
    return {"calls": cw.calls, "queries": cw.queries, "points": cw.points, "seconds": time.perf_counter() - t0,
            "verdict": verdict.status}


def evaluate(objects: int, budget_mb: int) -> dict:
    s3, cw = FakeS3(objects), FakeCloudWatch()
    clients = Clients(sagemaker=None, cloudwatch=cw, s3=s3)
    tracemalloc.start()
    t0 = time.perf_counter()
    evidence = read_shadow_evidence(clients, destination="s3://capture/cap/", endpoint=EP,
                                    production_variant="AllTraffic", shadow_variant="shadow",
                                    since=NOW - dt.timedelta(hours=24), now=NOW, budget=Budget(budget_mb * 1024 * 1024))
    verdict = judge_shadow(GATES, evidence, elapsed_seconds=3600)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"lists": s3.calls["ListObjectsV2"], "gets": s3.calls["GetObject"], "metric_calls": cw.calls,
            "bytes": s3.bytes, "seconds": seconds, "peak_mb": peak / 1e6, "pairs": evidence.pairing.n,
            "verdict": verdict.status, "unread": evidence.capture["production_left_unread"]
            + evidence.capture["shadow_left_unread"]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--huge-gb", type=float, default=10.0)
    ap.add_argument("--small-mb", type=int, default=40)
    ap.add_argument("--budget-mb", type=int, default=16)
    args = ap.parse_args()
    small = evaluate(max(1, args.small_mb // 2), args.budget_mb)          # both variants together
    huge = evaluate(int(args.huge_gb * 1024 / 2), args.budget_mb)
    rows = [("S3 ListObjectsV2", "lists"), ("S3 GetObject", "gets"), ("CloudWatch GetMetricData", "metric_calls"),
            ("capture bytes read", "bytes"), ("seconds", "seconds"), ("peak memory (MB, tracemalloc)", "peak_mb"),
            ("paired answers", "pairs"), ("objects left unread", "unread")]
    print(f"shadow judge, one evaluation: {args.small_mb} MB prefix (baseline) vs {args.huge_gb:g} GB prefix, "
          f"budget {args.budget_mb} MB")
    print(f"{'':34} {'small':>12} {'huge':>12} {'ratio':>8}")
    for label, key in rows:
        a, b = small[key], huge[key]
        ratio = f"{b / a:.2f}x" if a else "-"
        fmt = (lambda v: f"{v:.3f}") if isinstance(a, float) else (lambda v: f"{v}")
        print(f"{label:34} {fmt(a):>12} {fmt(b):>12} {ratio:>8}")
    print(f"verdicts: {small['verdict']} / {huge['verdict']}")

    cw = FakeCloudWatch()
    counts = read_ab_counts(cw, EP, ("AllTraffic", "challenger"), {"namespace": "Acme/Search", "metric_name": "Clicked"},
                            NOW - dt.timedelta(hours=24), NOW)
    judge_ab({"mde": 0.01, "metric": {}}, [(arm(*counts[0]), arm(*counts[1]))], (0.5, 0.5), elapsed_seconds=0)
    print(f"A/B test, one evaluation: {cw.calls} GetMetricData call, 0 S3 calls")

    small_bake = evaluate_bake(1, 60, 30)
    longest = int(BAKE_WINDOW.total_seconds() // 60) - 1440
    huge_bake = evaluate_bake(10, 1440, longest)
    print("operational judge on a SageMaker-driven update, one evaluation (1 variant, 60 + 30 min; "
          f"10 variants, 1,440 + {longest:,} min, the largest window):")
    for label, key in (("GetMetricData calls", "calls"), ("queries", "queries"), ("data points", "points"),
                       ("seconds", "seconds")):
        a, b = small_bake[key], huge_bake[key]
        fmt = (lambda v: f"{v:.3f}") if isinstance(a, float) else (lambda v: f"{v}")
        print(f"{label:34} {fmt(a):>12} {fmt(b):>12} {b / a:>7.2f}x")
    print(f"verdicts: {small_bake['verdict']} / {huge_bake['verdict']}")

    budget = args.budget_mb * 1024 * 1024
    goals = {
        "bake judge: one GetMetricData within its limits (<= 500 queries, <= 100,800 points)":
        huge_bake["calls"] == 1 and huge_bake["queries"] <= 500 and huge_bake["points"] <= 100_800,
        "calls bounded (<= 48 lists, <= 400 gets, 1 GetMetricData)": huge["lists"] <= 48 and huge["gets"] <= 400
        and huge["metric_calls"] == 1,
        "bytes within the budget": huge["bytes"] <= budget and small["bytes"] <= budget,
        "huge / small calls and bytes <= 1.2x": huge["gets"] <= 1.2 * small["gets"]
        and huge["bytes"] <= 1.2 * small["bytes"] and huge["lists"] <= 1.2 * small["lists"],
        "huge / small time and memory <= 1.2x": huge["seconds"] <= 1.2 * small["seconds"] + 0.05
        and huge["peak_mb"] <= 1.2 * small["peak_mb"],
        "A/B: one GetMetricData": cw.calls == 1,
    }
    for name, ok in goals.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
