"""The model-age chart in the PR report, end to end: the models come from the ledger of real
deploys, their daily values from CloudWatch (moto), one GetMetricData call per endpoint."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.adapters.aws.session import aws_session, client
from bot.app.services import pull_report
from tests.aws.test_deploy_gate import REPO, bot, open_pr, ship  # noqa: F401 - fixture
from tests.conftest import ROOT

PATH = "models/search/modelbot.yaml"
ENDPOINT = "search-ranker-production"
AB = (ROOT / "examples" / "realtime-ab.yaml").read_text().replace("approvals: 2", "approvals: 1")
METRIC = """    performance_metric:
      namespace: Acme/Quality
      metric_name: Accuracy
      dimensions: {Labels: daily}
      label: accuracy
"""


def cw(bot):
    e = bot.settings.server.environments["production"]
    return client(aws_session(e, env_name="production"), "cloudwatch")


def report(bot, number) -> str:
    return next(c.body for c in bot.github.comments_on(REPO, number) if "modelbot:report" in c.body)


@pytest.fixture
def later(monkeypatch):
    """The report is written six days after the deploys (the chart needs whole days)."""
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=6)
    monkeypatch.setattr(pull_report, "utcnow", lambda: when)
    return when


def test_the_report_draws_the_live_models_error_rate_by_age(bot, later):
    ship(bot, 42, {PATH: AB}, "bob")
    deployed = dt.datetime.now(dt.timezone.utc).date()
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}]
    for k in range(1, 6):  # its whole days: errors grow as the model ages
        at = dt.datetime.combine(deployed + dt.timedelta(days=k), dt.time(12), dt.timezone.utc)
        cw(bot).put_metric_data(Namespace="AWS/SageMaker", MetricData=[
            {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": 1000.0},
            {"MetricName": "Invocation5XXErrors", "Dimensions": dims, "Timestamp": at, "Value": float(k)}])
    open_pr(bot, 44, {PATH: AB.replace("v3/model", "v4/model")})
    body = report(bot, 44)
    assert "Model age" in body and "```mermaid\nxychart-beta" in body
    assert 'x-axis "days since deployment" [0, 1, 2, 3, 4]' in body
    assert "line [0.001, 0.002, 0.003, 0.004, 0.005]" in body
    assert "| 1 | #42 (serving now) | 5 | 0 |" in body
    assert "5XX error rate (lower is better)" in body
    assert not bot.github.violations


def test_a_declared_performance_metric_is_charted_and_a_missing_day_is_said(bot, later):
    manifest = AB.replace("    alarms:", METRIC + "    alarms:")
    ship(bot, 42, {PATH: manifest}, "bob")
    deployed = dt.datetime.now(dt.timezone.utc).date()
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "Labels", "Value": "daily"}]
    for k, acc in ((1, 0.91), (2, 0.90), (4, 0.87)):  # day 3 has no data point
        at = dt.datetime.combine(deployed + dt.timedelta(days=k), dt.time(6), dt.timezone.utc)
        cw(bot).put_metric_data(Namespace="Acme/Quality", MetricData=[
            {"MetricName": "Accuracy", "Dimensions": dims, "Timestamp": at, "Value": acc}])
    open_pr(bot, 44, {PATH: manifest.replace("v3/model", "v4/model")})
    body = report(bot, 44)
    assert "accuracy (higher is better)" in body
    assert "line [0.91, 0.9, 0.9, 0.87]" in body and "| 1 | #42 (serving now) | 4 | 1 |" in body
    assert "drawn at the day before's value" in body


def test_no_whole_day_yet_says_so_without_a_chart(bot):
    ship(bot, 42, {PATH: AB}, "bob")
    open_pr(bot, 44, {PATH: AB.replace("v3/model", "v4/model")})
    body = report(bot, 44)
    assert "xychart-beta" not in body
    assert "no daily data point of 5XX error rate yet" in body


def test_the_chart_is_kept_for_the_status_ui(bot, later):
    ship(bot, 42, {PATH: AB}, "bob")
    deployed = dt.datetime.now(dt.timezone.utc).date()
    dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}]
    at = dt.datetime.combine(deployed + dt.timedelta(days=2), dt.time(12), dt.timezone.utc)
    cw(bot).put_metric_data(Namespace="AWS/SageMaker", MetricData=[
        {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": 500.0}])
    open_pr(bot, 44, {PATH: AB.replace("v3/model", "v4/model")})
    [(repo, drawn_at, drawing)] = bot.store.model_age("production", ENDPOINT, [REPO])
    assert repo == REPO and drawn_at == later and drawing["chart"]["endpoint"] == ENDPOINT
    assert [line["label"] for line in drawing["lines"]] == ["#42"] and drawing["lines"][0]["points"] == [0.0, 0.0]
    assert bot.store.model_age("production", ENDPOINT, ["acme/other"]) == []
