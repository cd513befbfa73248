"""Progress reports GitHub did not take are owed, kept in the store and delivered by the reaper;
a rollout never waits for them, a newer report supersedes an older one, and the reaper gives up
after a bounded number of attempts."""

from __future__ import annotations

import json
import logging

import pytest

from bot.app.services import progress
from tests.aws.test_merge_to_deploy import PATH, REPO, bot, drive, manifest, merge  # noqa: F401 - fixture

STATUSES = r"^/repos/acme/models/deployments/\d+/statuses$"


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(progress, "NOTIFY_BACKOFF", (0.0, 0.0))


def last_states(fake_github):
    return {d.environment: [s.state for s in d.statuses] for d in fake_github.repo(REPO).deployments}


def test_reports_github_refused_are_owed_and_delivered_by_the_reaper(bot, fake_github, quick_retries):
    fault = fake_github.fail_next("POST", STATUSES, 502, times=10_000)
    sha, payload = merge(bot, {PATH: manifest()}, 21)
    assert bot.deliver("pull_request", payload) == "done"
    drive(bot)  # GitHub is down for statuses: the rollouts go on regardless

    rows = bot.store.deployments(repository=REPO)
    assert [r.status for r in rows] == ["succeeded", "succeeded"]
    assert all(json.loads(r.notify_owed)["status"] == "succeeded" for r in rows)
    assert all(not states for states in last_states(fake_github).values())

    fake_github.faults.remove(fault)  # GitHub is back
    assert bot.runtime.reap() >= 2
    rows = bot.store.deployments(repository=REPO)
    assert [(r.notify_owed, r.notify_attempts, r.notify_due_at) for r in rows] == [(None, 0, None)] * 2
    assert {env: states[-1] for env, states in last_states(fake_github).items()} == \
        {"staging": "success", "production": "success"}
    assert bot.runtime.reap() == 0  # nothing owed any more: nothing posted twice
    assert all(len(states) == 1 for states in last_states(fake_github).values())
    assert not fake_github.violations


def test_a_later_report_supersedes_an_owed_one(bot, fake_github, quick_retries):
    fake_github.fail_next("POST", STATUSES, 502, times=1)  # only the first status is refused
    sha, payload = merge(bot, {PATH: manifest()}, 22)
    bot.deliver("pull_request", payload)
    drive(bot)
    rows = bot.store.deployments(repository=REPO)
    assert [r.notify_owed for r in rows] == [None, None]
    assert {env: states[-1] for env, states in last_states(fake_github).items()} == \
        {"staging": "success", "production": "success"}


def test_the_reaper_gives_up_after_the_last_attempt(bot, fake_github, quick_retries, monkeypatch, caplog):
    monkeypatch.setattr(progress, "NOTIFY_MAX_ATTEMPTS", 3)
    fake_github.fail_next("POST", STATUSES, 502, times=10_000)
    sha, payload = merge(bot, {PATH: manifest()}, 23)
    bot.deliver("pull_request", payload)
    drive(bot)
    with caplog.at_level(logging.WARNING, logger="bot.app.services.progress"):
        for _ in range(5):
            bot.runtime.reap()
    rows = bot.store.deployments(repository=REPO)
    assert [r.notify_owed for r in rows] == [None, None]
    gave_up = [r for r in caplog.records if r.getMessage().startswith("gave up reporting")]
    assert sorted(r.deployment for r in gave_up) == sorted(r.id for r in rows)
    assert all(r.attempts == 3 for r in gave_up)
