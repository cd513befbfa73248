"""Model age versus performance: models from ledger entries, daily values by age."""

from __future__ import annotations

import datetime as dt

from bot.core.experiment.age import MAX_DAYS, age_chart, model_periods

T0 = dt.datetime(2024, 3, 1, 15, 0, tzinfo=dt.timezone.utc)


def deployment(pk, at, *, kind="update", status="succeeded", pr=None, commit="a" * 40, teardown=False):
    return [{"kind": "prepared", "deployment_id": pk, "at": at - dt.timedelta(minutes=5), "data": {"kind": kind},
             "pr_number": pr, "commit_sha": commit},
            {"kind": "finished", "deployment_id": pk, "at": at, "pr_number": pr, "commit_sha": commit,
             "data": {"status": status, "kind": "teardown" if teardown else None}}]


def test_models_are_deployments_that_changed_the_endpoint_and_succeeded():
    entries = (deployment(1, T0, kind="create", pr=10) + deployment(2, T0 + dt.timedelta(days=5), kind="no_changes")
               + deployment(3, T0 + dt.timedelta(days=8), status="rolled_back", pr=12)
               + deployment(4, T0 + dt.timedelta(days=10), pr=13, commit="b" * 40)
               + deployment(5, T0 + dt.timedelta(days=20), pr=None, commit="c" * 40))
    periods = model_periods(entries, T0 + dt.timedelta(days=30))
    assert [(p.deployment_id, p.label) for p in periods] == [(1, "#10"), (4, "#13"), (5, "ccccccc")]
    assert periods[0].until == T0 + dt.timedelta(days=10) and periods[-1].until is None
    assert [p.deployment_id for p in model_periods(entries, T0, limit=2)] == [4, 5]


def test_day_k_is_the_models_k_plus_first_whole_day_and_partial_days_are_left_out():
    entries = deployment(1, T0, pr=1) + deployment(2, T0 + dt.timedelta(days=4), pr=2)
    now = T0 + dt.timedelta(days=7, hours=3)
    periods = model_periods(entries, now)
    day = T0.date()
    daily = {day + dt.timedelta(days=k): float(k) for k in range(0, 10)}
    chart = age_chart("ep", periods, daily, metric="m", higher_is_better=True, now=now)
    first, second = chart.series
    # deployed on day 0 at 15:00: its whole days are 1, 2, 3 (replaced on day 4 at 15:00)
    assert first.values == (1.0, 2.0, 3.0) and not first.current
    # deployed on day 4: whole days 5, 6 (today, day 7, is not over)
    assert second.values == (5.0, 6.0) and second.current
    assert chart.days == 3 and chart.drawable and chart.bounds() == (1.0, 6.0)


def test_days_without_data_stay_unknown_and_the_chart_is_bounded():
    entries = deployment(1, T0, pr=1)
    now = T0 + dt.timedelta(days=400)
    chart = age_chart("ep", model_periods(entries, now), {T0.date() + dt.timedelta(days=2): 0.5},
                      metric="m", higher_is_better=False, now=now)
    [s] = chart.series
    assert len(s.values) == MAX_DAYS and s.values[0] is None and s.values[1] == 0.5 and s.known == 1
    empty = age_chart("ep", model_periods(entries, now), {}, metric="m", higher_is_better=False, now=now)
    assert not empty.drawable
