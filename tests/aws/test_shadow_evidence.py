"""The shadow judge's reads against moto's S3 and CloudWatch (with the emulator's GetMetricData
percentiles): bounded by the budget whatever the prefix holds, truncated and malformed capture
counted, percentiles as CloudWatch defines them, and GetMetricData's documented refusals."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from bot.adapters.aws.executor import Clients
from bot.adapters.aws.experiment import MAX_GET_CALLS, Budget, read_metrics, read_shadow_evidence
from bot.adapters.aws.session import AwsUnavailable
from tests.support.aas_cloudwatch_emulator import percentile_of

NOW = dt.datetime(2026, 12, 1, 12, 30, tzinfo=dt.timezone.utc)  # fixed: the hours listed do not depend on when the test runs
SINCE = NOW - dt.timedelta(hours=2)
EP = "ranker-production"


@pytest.fixture
def clients(aws):
    session = boto3.Session(region_name="us-east-1")
    c = Clients.from_session(session)
    c.s3.create_bucket(Bucket="capture")
    return c


def line(i: int, score: float, variant: str) -> str:
    return json.dumps({"captureData": {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": f"{i},1", "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": f"{score:.5f}",
                           "encoding": "CSV"}},
        "eventMetadata": {"eventId": f"{variant}-{i}", "inferenceId": f"r{i}",
                          "inferenceTime": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}, "eventVersion": "0"})


def put(clients, variant: str, hour: dt.datetime, name: str, body: str) -> None:
    clients.s3.put_object(Bucket="capture", Key=f"cap/{EP}/{variant}/{hour:%Y/%m/%d/%H}/{name}.jsonl",
                          Body=body.encode())


def counting(client, counts: dict):
    def before(event_name, **_):
        op = event_name.split(".")[-1]
        counts[op] = counts.get(op, 0) + 1
    client.meta.events.register("before-call.*.*", before)
    return client


def test_both_variants_are_read_paired_and_counted(clients):
    rng = np.random.default_rng(0)
    scores = rng.random(300)
    for variant in ("AllTraffic", "shadow"):
        put(clients, variant, NOW, "00-00", "\n".join(line(i, s, variant) for i, s in enumerate(scores)) + "\n")
    # an older hour holds a truncated line and a malformed one
    put(clients, "shadow", NOW - dt.timedelta(hours=1), "59-00", line(900, 0.5, "shadow") + "\n{not json}\n"
        + line(901, 0.5, "shadow")[:40])
    e = read_shadow_evidence(clients, destination="s3://capture/cap/", endpoint=EP, production_variant="AllTraffic",
                             shadow_variant="shadow", since=SINCE, now=NOW, budget=Budget(4 * 1024 * 1024))
    assert e.pairing.n == 300 and e.pairing.by["inference_id"] == 300
    assert np.allclose(e.pairing.production, np.round(scores, 5))
    assert e.capture["shadow_truncated"] == 1 and e.capture["shadow_malformed"] == 1
    assert e.capture["unmatched_shadow"] == 1  # the complete line of the older hour has no partner
    assert e.capture["production_lists"] == 3 and e.capture["shadow_objects"] == 2  # hours since SINCE


def test_a_huge_prefix_costs_what_the_budget_allows(clients):
    """300 objects of 64 KB in one hour (19 MB) read with a 1 MB budget: half a megabyte per
    variant, newest first, the rest counted as unread; calls bounded."""
    body = ("\n".join(line(i, 0.5, "x") for i in range(300)) + "\n").encode()
    body = (body * (65536 // len(body) + 1))[:65536]
    for k in range(300):
        for variant in ("AllTraffic", "shadow"):
            clients.s3.put_object(Bucket="capture", Key=f"cap/{EP}/{variant}/{NOW:%Y/%m/%d/%H}/{k:04d}.jsonl",
                                  Body=body)
    counts: dict[str, int] = {}
    counted = Clients(clients.sagemaker, cloudwatch=counting(clients.cloudwatch, counts),
                      s3=counting(clients.s3, counts))
    e = read_shadow_evidence(counted, destination="s3://capture/cap", endpoint=EP, production_variant="AllTraffic",
                             shadow_variant="shadow", since=NOW - dt.timedelta(minutes=5), now=NOW,
                             budget=Budget(1024 * 1024))
    for side in ("production", "shadow"):
        assert e.capture[f"{side}_bytes"] <= 512 * 1024
        assert e.capture[f"{side}_objects"] == 8 and e.capture[f"{side}_left_unread"] == 292
    assert counts == {"ListObjectsV2": 2, "GetObject": 16, "GetMetricData": 1}
    assert e.capture["production_objects"] <= MAX_GET_CALLS


def test_a_missing_prefix_is_a_clear_problem_not_a_crash(clients):
    e = read_shadow_evidence(clients, destination="s3://capture/nothing/", endpoint=EP,
                             production_variant="AllTraffic", shadow_variant="shadow", since=SINCE, now=NOW,
                             budget=Budget(1024))
    assert e.pairing.n == 0
    assert any("no capture of variant shadow under s3://capture/nothing/ranker-production/shadow/" in p
               for p in e.problems)


def test_an_unreachable_bucket_is_aws_unavailable(clients):
    with pytest.raises(AwsUnavailable) as err:
        read_shadow_evidence(clients, destination="s3://no-such-bucket/cap/", endpoint=EP,
                             production_variant="AllTraffic", shadow_variant="shadow", since=SINCE, now=NOW,
                             budget=Budget(1024))
    assert "NoSuchBucket" in err.value.reason


def test_metrics_sums_and_the_p99_as_cloudwatch_defines_it(clients):
    rng = np.random.default_rng(5)
    latency = rng.gamma(3, 4000, 1000)
    for variant, factor in (("AllTraffic", 1.0), ("shadow", 1.3)):
        dims = [{"Name": "EndpointName", "Value": EP}, {"Name": "VariantName", "Value": variant}]
        at = NOW - dt.timedelta(minutes=30)
        clients.cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[
            {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": 600.0},
            {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": 400.0},
            {"MetricName": "Invocation5XXErrors", "Dimensions": dims, "Timestamp": at, "Value": 3.0},
            *({"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": at,
               "Values": [float(v) * factor for v in latency[k:k + 100]]} for k in range(0, 1000, 100))])
    prod, shadow = read_metrics(clients.cloudwatch, EP, ("AllTraffic", "shadow"), SINCE, NOW)
    assert (prod.invocations, prod.errors_5xx, prod.errors_4xx) == (1000.0, 3.0, None)
    expected = sorted(latency)[989]  # nearest rank: ceil(0.99 * 1000) = 990th value
    assert prod.latency_p99 == pytest.approx(expected)
    assert shadow.latency_p99 == pytest.approx(expected * 1.3)
    assert prod.overhead_p99 is None  # no data point: None, never 0


def test_percentile_definition():
    assert percentile_of([5.0, 1.0, 3.0], "p50") == 3.0
    assert percentile_of([1.0, 2.0, 3.0, 4.0], "p99.9") == 4.0
    assert percentile_of([1.0, 2.0], "p0") == 1.0
    assert percentile_of([], "p99") is None


@pytest.mark.parametrize("query, words", [
    ({"Period": 90, "Stat": "Sum"}, "multiple of 60"),
    ({"Period": 60, "Stat": "p101"}, "is invalid"),
    ({"Period": 60, "Stat": "Median"}, "is invalid"),
])
def test_get_metric_data_refuses_what_cloudwatch_refuses(clients, query, words):
    q = {"Id": "m0", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "Invocations"},
                                    **query}}
    with pytest.raises(ClientError) as err:
        clients.cloudwatch.get_metric_data(MetricDataQueries=[q], StartTime=SINCE, EndTime=NOW)
    assert words in str(err.value)
    with pytest.raises(ClientError) as err:
        clients.cloudwatch.get_metric_data(MetricDataQueries=[{**q, "MetricStat": {**q["MetricStat"], "Period": 60,
                                                                                    "Stat": "Sum"}}] * 2,
                                           StartTime=SINCE, EndTime=NOW)
    assert "not unique" in str(err.value)


def test_capture_keyed_by_a_clock_ahead_of_ours_is_still_read(clients):
    """SageMaker's clock five minutes ahead of ours, across an hour: its newest capture is keyed
    in the hour that has not begun for us yet."""
    now = dt.datetime(2026, 12, 1, 12, 57, tzinfo=dt.timezone.utc)
    ahead = now + dt.timedelta(minutes=5)
    for variant in ("AllTraffic", "shadow"):
        put(clients, variant, ahead, "02-00", "\n".join(line(i, 0.5, variant) for i in range(50)) + "\n")
    e = read_shadow_evidence(clients, destination="s3://capture/cap/", endpoint=EP, production_variant="AllTraffic",
                             shadow_variant="shadow", since=now - dt.timedelta(minutes=30), now=now,
                             budget=Budget(1024 * 1024))
    assert e.pairing.n == 50
