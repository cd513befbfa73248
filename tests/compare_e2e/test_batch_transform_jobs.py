"""Batch transform comparisons through the signed webhook, against the fake GitHub and moto with
the SageMaker emulator: a framework-source candidate (SageMaker's own image, looked up offline
for the environment's region), an unknown framework version, and the jobs that no head needs
any more (a push that changes the model, a closed pull request) being stopped.

The emulator keeps a transform job InProgress for `transform_ticks` DescribeTransformJob calls;
StopTransformJob makes it Stopping, then Stopped on a later describe (AWS's documented order).
"""

from __future__ import annotations

import dataclasses
import json

from sqlalchemy import select

from bot.adapters.cache import ComparisonRow
from bot.core.config import load_settings
from bot.adapters.store import DeliveryRow
from tests.compare_e2e import helpers as h
from tests.compare_e2e.test_aws_flows import (CANDIDATE_URI, DATA_URI, compare_run, dataset, get,  # noqa: F401
                                              harness, live_baseline, open_pr, put, report, s3, sm)
from tests.support import sagemaker_emulator as emulator

BATCH = "    source: batch_transform\n    instance_type: ml.m5.xlarge\n"
FRAMEWORK_URI = "s3://acme-models/churn/v2-xgb/model.tar.gz"
NEW_URI = "s3://acme-models/churn/v3/model.tar.gz"


def framework_manifest(pin: str, version: str = "1.7-1") -> str:
    """The comparison manifest with a `model.framework` source instead of an artifact + image."""
    text = h.manifest(dataset=h.s3_dataset(DATA_URI, pin), predictions=BATCH)
    artifact = f"  artifact:\n    uri: {CANDIDATE_URI}\n    image: {h.IMAGE}\n"
    assert artifact in text
    return text.replace(artifact, f"  framework:\n    name: xgboost\n    version: \"{version}\"\n"
                                  f"    py_version: py3\n    uri: {FRAMEWORK_URI}\n")


def batch_settings(bot_env, **regions):
    settings = h.with_compare(load_settings(bot_env), work_prefix="s3://acme-work/modelbot/",
                              execution_role_arn=h.ROLE, batch_poll_seconds=30)
    envs = {name: env.model_copy(update={"region": regions.get(name, env.region)})
            for name, env in settings.server.environments.items()}
    return dataclasses.replace(settings, server=settings.server.model_copy(update={"environments": envs}))


def rows(store) -> list[ComparisonRow]:
    with store.session() as s:
        return list(s.scalars(select(ComparisonRow).order_by(ComparisonRow.id)))


def queued_polls(store) -> list[DeliveryRow]:
    with store.session() as s:
        return list(s.scalars(select(DeliveryRow).where(DeliveryRow.event == "modelbot_compare",
                                                        DeliveryRow.status == "queued")))


def time_passes(store) -> None:
    """The scheduled polls fall due (their delay is the queue's business, not this test's)."""
    import datetime as dt

    from sqlalchemy import update

    with store.session() as s:
        s.execute(update(ComparisonRow).where(ComparisonRow.next_poll_at.is_not(None)).values(
            next_poll_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))


def run_polls(bot, store, rounds: int = 5) -> None:
    """The worker runs the scheduled polls as they fall due."""
    for _ in range(rounds):
        due = queued_polls(store)
        if not due:
            return
        time_passes(store)
        for d in due:
            assert bot.runtime.process(d.id) == "done"


def write_outputs(s3, state: dict, predictions: dict) -> None:
    """What SageMaker writes with `JoinSource: Input`: each input line, then the inference."""
    lines = get(s3, state["input"]).decode().splitlines()
    for label, preds in predictions.items():
        body = "".join(f"{line},{float(preds[int(line.split(',')[0])])!r}\n" for line in lines)
        put(s3, state["jobs"][label]["output"], body.encode())


def job_status(sm, name: str) -> str:
    return sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"]


def settled(sm, name: str) -> str:
    """The job's status once it is no longer Stopping (StopTransformJob: Stopping, then Stopped)."""
    for _ in range(3):
        status = job_status(sm, name)
        if status != "Stopping":
            return status
    return status


def job_names(state: dict) -> list[str]:
    return [j["name"] for j in state["jobs"].values()]


# --- a framework source ---------------------------------------------------------------------------


def test_a_framework_candidate_is_transformed_on_sagemakers_image_for_the_region(aws, bot_env, store, queue,
                                                                                  fake_github, s3):
    from sagemaker.core import image_uris

    _, y, _, pin = dataset(s3, n=400)
    put(s3, FRAMEWORK_URI, b"an xgboost model.tar.gz")
    sm_eu = emulator.client("sagemaker", aws, region="eu-west-1")
    live_baseline(sm_eu)  # production (the compared environment) is in eu-west-1 here
    bot = harness(batch_settings(bot_env, production="eu-west-1"), store, queue, fake_github)
    number = open_pr(fake_github, framework_manifest(pin))
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))

    assert compare_run(fake_github, number).status == "in_progress"
    [row] = rows(store)
    state = json.loads(row.state)
    candidate = sm_eu.describe_transform_job(TransformJobName=state["jobs"]["candidate"]["name"])
    model = sm_eu.describe_model(ModelName=candidate["ModelName"])
    expected = image_uris.retrieve("xgboost", "eu-west-1", version="1.7-1", py_version="py3",
                                   instance_type="ml.m5.xlarge", image_scope="inference")
    assert expected == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert model["PrimaryContainer"]["Image"] == expected
    assert model["PrimaryContainer"]["ModelDataUrl"] == FRAMEWORK_URI
    assert model["ExecutionRoleArn"] == h.ROLE
    assert emulator.client("sagemaker", aws).list_transform_jobs()["TransformJobSummaries"] == []  # not us-east-1

    same = h.probabilities(y, 0.35, 1)  # the candidate predicts what the live model predicts
    write_outputs(s3, state, {"candidate": same, "baseline": same})
    run_polls(bot, store)
    run = compare_run(fake_github, number)
    assert (run.status, run.conclusion) == ("completed", "success"), run.summary
    assert "SageMaker batch transform jobs" in run.summary and "| ROC AUC |" in run.summary
    assert [r.status for r in rows(store)] == ["done"]


def test_an_unknown_framework_version_is_a_clear_error_and_starts_nothing(aws, bot_env, store, queue,
                                                                          fake_github, s3, sm):
    _, _, _, pin = dataset(s3)
    put(s3, FRAMEWORK_URI, b"an xgboost model.tar.gz")
    live_baseline(sm)
    bot = harness(batch_settings(bot_env), store, queue, fake_github)
    number = open_pr(fake_github, framework_manifest(pin, version="9.9-9"))
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))

    run = compare_run(fake_github, number)
    assert (run.status, run.conclusion) == ("completed", "failure")
    assert "no SageMaker image for framework xgboost 9.9-9 (py3) in us-east-1" in run.summary, run.summary
    assert "Unsupported xgboost version: 9.9-9" in run.summary  # the SDK's list of versions follows
    assert "model.framework" in report(fake_github, number)
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [h.BASELINE_MODEL]  # no candidate model
    assert queued_polls(store) == []


# --- jobs nobody needs any more --------------------------------------------------------------------


def test_a_push_that_changes_the_model_stops_the_old_heads_jobs(aws, bot_env, store, queue, fake_github, s3, sm):
    _, _, _, pin = dataset(s3)
    put(s3, CANDIDATE_URI, b"model v2")
    put(s3, NEW_URI, b"model v3")
    live_baseline(sm)
    emulator.configure_remote(aws, transform_ticks=20)  # the jobs run through the whole test
    bot = harness(batch_settings(bot_env), store, queue, fake_github)
    text = h.manifest(dataset=h.s3_dataset(DATA_URI, pin), predictions=BATCH)
    number = open_pr(fake_github, text)
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    [old] = rows(store)
    old_jobs = job_names(old.state_dict)
    [old_poll] = queued_polls(store)
    first_head = fake_github.head_sha(h.REPO, fake_github.pull(h.REPO, number))

    # A push that does not change the model shares the comparison: its jobs keep running.
    fake_github.commit(h.REPO, "feature", {"README.md": "docs\n"})
    bot.deliver("pull_request", bot.pr_event("synchronize", h.REPO, number))
    readme_head = fake_github.head_sha(h.REPO, fake_github.pull(h.REPO, number))
    assert readme_head != first_head and compare_run(fake_github, number).status == "in_progress"
    assert [r.status for r in rows(store)] == ["pending"]
    assert [job_status(sm, n) for n in old_jobs] == ["InProgress", "InProgress"]

    # A push that changes the model: new jobs for the new head, the old ones stopped.
    fake_github.commit(h.REPO, "feature", {h.PATH: text.replace(CANDIDATE_URI, NEW_URI)})
    sync = bot.pr_event("synchronize", h.REPO, number)
    bot.deliver("pull_request", sync)
    old, new = rows(store)
    assert old.key != new.key and (old.status, new.status) == ("superseded", "pending")
    assert [settled(sm, n) for n in old_jobs] == ["Stopped", "Stopped"]
    new_jobs = job_names(new.state_dict)
    assert set(new_jobs).isdisjoint(old_jobs)
    assert old.state_dict["released"]["reason"].startswith("the head moved on to ")
    assert compare_run(fake_github, number).status == "in_progress"  # the new head's comparison runs
    # The older heads' checks (the first one and the README push, which shared its jobs) end neutral.
    for sha in (first_head, readme_head):
        old_run = fake_github.check_runs_for(h.REPO, head_sha=sha, name="modelbot/compare")[-1]
        assert (old_run.status, old_run.conclusion) == ("completed", "neutral"), old_run
        assert old_run.title.startswith("Not compared: the head moved on to "), old_run.title
        assert all(n in old_run.summary for n in old_jobs), old_run.summary

    # The old head's scheduled poll finds nothing to poll: no describe, no refresh.
    polls_before, updated_before = old.polls, old.updated_at
    time_passes(store)
    assert bot.runtime.process(old_poll.id) == "done"
    old = rows(store)[0]
    assert (old.status, old.polls, old.updated_at) == ("superseded", polls_before, updated_before)

    # The same event again (a redelivery under another id) changes nothing: the new jobs run on.
    bot.deliver("pull_request", sync)
    assert [r.status for r in rows(store)] == ["superseded", "pending"]
    assert [job_status(sm, n) for n in new_jobs] == ["InProgress", "InProgress"]
    assert [job_status(sm, n) for n in old_jobs] == ["Stopped", "Stopped"]


def test_closing_the_pull_request_stops_its_jobs_unless_another_one_needs_them(aws, bot_env, store, queue,
                                                                               fake_github, s3, sm):
    _, _, _, pin = dataset(s3)
    put(s3, CANDIDATE_URI, b"model v2")
    live_baseline(sm)
    emulator.configure_remote(aws, transform_ticks=20)
    bot = harness(batch_settings(bot_env), store, queue, fake_github)
    text = h.manifest(dataset=h.s3_dataset(DATA_URI, pin), predictions=BATCH)
    first = open_pr(fake_github, text, number=9)
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, first))
    fake_github.open_pull_request(h.REPO, "feature-copy", files={h.PATH: text}, number=10)
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, 10))
    [row] = rows(store)  # the same model, data and spec: one comparison, one pair of jobs
    jobs = job_names(row.state_dict)
    assert set(row.pulls) == {f"{h.REPO}#9", f"{h.REPO}#10"}
    assert len(emulator.client("sagemaker", aws).list_transform_jobs()["TransformJobSummaries"]) == 2

    # Closing one of them: the other still needs the jobs.
    fake_github.close_pull_request(h.REPO, first)
    bot.deliver("pull_request", bot.pr_event("closed", h.REPO, first))
    [row] = rows(store)
    assert (row.status, row.pulls) == ("pending", [f"{h.REPO}#10"])
    assert [job_status(sm, n) for n in jobs] == ["InProgress", "InProgress"]

    # The first pull request's scheduled poll now polls for the second one.
    [poll] = queued_polls(store)
    assert json.loads(poll.payload)["number"] == first
    time_passes(store)
    assert bot.runtime.process(poll.id) == "done"
    assert rows(store)[0].polls == 2  # the second's opening polled once, the poll once more

    # Closing the last one stops them; closing it again (redelivered) changes nothing.
    fake_github.close_pull_request(h.REPO, 10)
    closed = bot.pr_event("closed", h.REPO, 10)
    bot.deliver("pull_request", closed)
    [row] = rows(store)
    assert row.status == "superseded" and row.state_dict["released"]["reason"] == "the pull request was closed"
    assert [settled(sm, n) for n in jobs] == ["Stopped", "Stopped"]
    closed_run = compare_run(fake_github, 10)  # nobody waits for the comparison: its check ends neutral
    assert (closed_run.status, closed_run.conclusion) == ("completed", "neutral")
    assert closed_run.title == "Not compared: the pull request was closed"
    assert bot.deliver("pull_request", closed) == "done"
    assert rows(store)[0].status == "superseded"
    run_polls(bot, store)  # whatever poll is still scheduled finds nothing to poll
    assert rows(store)[0].polls == 2
