"""Comparisons that read S3 and SageMaker (moto server with the project's SageMaker emulator),
through the signed webhook against the fake GitHub: local scoring of XGBoost models in a
subprocess, a refused pickle, an unreachable object, and batch transform polled through the queue.

moto runs transform jobs (InProgress, then Completed on the next describe) but writes no
output: the batch test writes the joined output objects SageMaker would write (each input line
followed by the model's inference, `JoinSource: Input`) to moto's S3 itself, before the polls
see the jobs complete.
"""

from __future__ import annotations

import json
import pickle

import pytest
from sqlalchemy import select

from bot.adapters.scoring import runner as scoring
from bot.adapters import sources
from bot.adapters.cache import ComparisonRow
from bot.core.config import load_settings
from bot.core.report import part_of
from bot.adapters.store import DeliveryRow
from tests.compare_e2e import helpers as h
from tests.conftest import SECRET
from tests.support import sagemaker_emulator as emulator
from tests.support.harness import Harness

DATA_URI = "s3://acme-data/churn/validation.csv"
CANDIDATE_URI = "s3://acme-models/churn/v2/model.tar.gz"
BASELINE_URI = "s3://acme-models/churn/v1/model.tar.gz"


@pytest.fixture
def s3(aws):
    client = emulator.client("s3", aws)
    for bucket in ("acme-data", "acme-models", "acme-work"):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture
def sm(aws):
    return emulator.client("sagemaker", aws)


def put(s3, uri: str, data: bytes) -> None:
    bucket, key = uri[5:].split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=data)


def get(s3, uri: str) -> bytes:
    bucket, key = uri[5:].split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def live_baseline(sm, uri: str = BASELINE_URI) -> None:
    sm.create_model(ModelName=h.BASELINE_MODEL, ExecutionRoleArn=h.ROLE,
                    PrimaryContainer={"Image": h.IMAGE, "ModelDataUrl": uri})


def harness(settings, store, queue, fake):
    inst = fake.add_installation("acme").id
    fake.add_repo(h.REPO, {"README.md": "models\n"}, installation_id=inst)
    return Harness(settings, store, queue, fake, live_reader=h.live_production(), secret=SECRET)


def dataset(s3, n=400, seed=0):
    ids, y, x = h.binary_set(n, seed)
    data = h.csv_bytes(h.dataset_columns(ids, y, x))
    put(s3, DATA_URI, data)
    return ids, y, x, h.digest(data)


def open_pr(fake, text: str, number=9) -> int:
    fake.open_pull_request(h.REPO, "feature", files={h.PATH: text}, number=number)
    return number


def poll_deliveries(store):
    with store.session() as s:
        return s.scalars(select(DeliveryRow).where(DeliveryRow.event == "modelbot_compare")).all()


def compare_run(fake, number):
    pr = fake.pull(h.REPO, number)
    return fake.check_runs_for(h.REPO, head_sha=fake.head_sha(h.REPO, pr), name="modelbot/compare")[-1]


def report(fake, number) -> str:
    return "\n".join(c.body for c in fake.comments_on(h.REPO, number) if part_of(c.body))


def test_local_xgboost_scoring_in_a_subprocess_and_the_cache(bot_env, store, queue, fake_github, s3, sm):
    ids, y, x, pin = dataset(s3)
    model = h.xgboost_model(x, y, fmt="json")
    put(s3, BASELINE_URI, h.tar_gz({"xgboost-model": model}))
    put(s3, CANDIDATE_URI, h.tar_gz({"model.ubj": h.xgboost_model(x, y, fmt="ubj")}))
    live_baseline(sm)
    bot = harness(load_settings(bot_env), store, queue, fake_github)
    number = open_pr(fake_github, h.manifest(dataset=h.s3_dataset(DATA_URI, pin), predictions=h.LOCAL))

    calls, gets = scoring.CALLS["score"], sources.REQUESTS["s3:get"]
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    assert scoring.CALLS["score"] == calls + 1  # both models, one sandboxed subprocess
    assert sources.REQUESTS["s3:get"] == gets + 3  # the set and both artifacts
    run = compare_run(fake_github, number)
    assert run.conclusion == "success", run.summary
    text = report(fake_github, number)
    assert "scored locally in a sandboxed subprocess (candidate: xgboost model.ubj, baseline: xgboost xgboost-model" \
        in text
    assert "candidate (xgboost) reads 3 named features" in text
    assert pin in text and "400 rows" in text

    # A push that does not change the model, the data or the spec: no S3 GET, no scoring.
    fake_github.commit(h.REPO, "feature", {"README.md": "docs\n"})
    bot.deliver("pull_request", bot.pr_event("synchronize", h.REPO, number))
    assert scoring.CALLS["score"] == calls + 1 and sources.REQUESTS["s3:get"] == gets + 3
    assert compare_run(fake_github, number).conclusion == "success"

    # The ledger keeps both identities, the dataset digest and the commit.
    with store.session() as s:
        [row] = s.scalars(select(ComparisonRow)).all()
    assert (row.status, row.verdict, row.dataset_digest, row.model) == ("done", "pass", pin, "churn")
    assert h.BASELINE_MODEL in row.baseline and "artifact:" + CANDIDATE_URI in row.candidate
    assert len(row.commit_sha) == 40 and row.pr_number == number


def test_a_pickled_artifact_is_refused(bot_env, store, queue, fake_github, s3, sm):
    _, y, x, pin = dataset(s3)
    from sklearn.linear_model import LogisticRegression

    put(s3, CANDIDATE_URI, h.tar_gz({"model.joblib": pickle.dumps(LogisticRegression().fit(x, y))}))
    bot = harness(load_settings(bot_env), store, queue, fake_github)
    calls = scoring.CALLS["score"]
    number = open_pr(fake_github, h.manifest(dataset=h.s3_dataset(DATA_URI, pin), predictions=h.LOCAL))
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    run = compare_run(fake_github, number)
    assert run.conclusion == "failure"
    assert f"{CANDIDATE_URI}: refusing to load model.joblib: pickle-based formats" in run.summary
    assert "compare.trusted_pickle_prefixes" in run.summary
    assert scoring.CALLS["score"] == calls  # nothing was started, let alone unpickled


def test_an_unreachable_dataset_names_the_uri_and_fails(bot_env, store, queue, fake_github, s3, sm):
    put(s3, CANDIDATE_URI, b"anything")
    bot = harness(load_settings(bot_env), store, queue, fake_github)
    missing = "s3://acme-data/churn/missing.csv"
    number = open_pr(fake_github, h.manifest(dataset=h.s3_dataset(missing, "sha256:" + "0" * 64).replace(
        "digest: sha256:" + "0" * 64, 'version: "3HL4kqtJlcpXroDTDmJ"'), predictions=h.LOCAL))
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    run = compare_run(fake_github, number)
    assert run.conclusion == "failure"
    assert f"cannot read {missing} (version 3HL4kqtJlcpXroDTDmJ)" in run.summary
    with store.session() as s:  # a transient failure is not cached: the next push tries again
        assert s.scalars(select(ComparisonRow)).all() == []


def test_batch_transform_is_started_then_polled_through_the_queue(bot_env, store, queue, fake_github, s3, sm):
    ids, y, x, pin = dataset(s3, n=500)
    put(s3, CANDIDATE_URI, b"a model the container knows how to load")
    live_baseline(sm)
    settings = h.with_compare(load_settings(bot_env), work_prefix="s3://acme-work/modelbot/",
                              execution_role_arn=h.ROLE, batch_poll_seconds=30)
    bot = harness(settings, store, queue, fake_github)
    batch_source = "    source: batch_transform\n    instance_type: ml.m5.xlarge\n"
    number = open_pr(fake_github, h.manifest(dataset=h.s3_dataset(DATA_URI, pin), predictions=batch_source))
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))

    run = compare_run(fake_github, number)
    assert (run.status, run.conclusion, run.title) == ("in_progress", None, "Batch transform running: churn")
    assert "batch transform running" in report(fake_github, number)
    jobs = sm.list_transform_jobs()["TransformJobSummaries"]
    assert len(jobs) == 2
    with store.session() as s:
        row = s.scalar(select(ComparisonRow))
    state = json.loads(row.state)
    assert row.status == "pending" and set(state["jobs"]) == {"candidate", "baseline"}

    # Another event while the jobs run polls them once more but schedules no second chain of polls.
    bot.deliver("pull_request", bot.pr_event("synchronize", h.REPO, number))
    assert len(poll_deliveries(store)) == 1 and compare_run(fake_github, number).status == "in_progress"

    # What SageMaker would write: each input line joined to its inference.
    lines = get(s3, state["input"]).decode().splitlines()
    assert lines[0].count(",") == 3 and lines[0].startswith("0,")  # row index, then the 3 features
    good, bad = h.probabilities(y, 0.35, 1), h.probabilities(y, 0.02, 2)
    for label, preds in (("baseline", good), ("candidate", bad)):
        body = "".join(f"{line},{float(preds[int(line.split(',')[0])])!r}\n" for line in reversed(lines))
        put(s3, state["jobs"][label]["output"], body.encode())

    for _ in range(4):  # the worker runs the scheduled polls (their delay is the queue's business)
        with store.session() as s:
            due = s.scalars(select(DeliveryRow.id).where(DeliveryRow.event == "modelbot_compare",
                                                          DeliveryRow.status == "queued")).all()
        if not due:
            break
        for pk in due:
            assert bot.runtime.process(pk) == "done"
    run = compare_run(fake_github, number)
    assert (run.status, run.conclusion) == ("completed", "failure"), run.summary
    assert "SageMaker batch transform jobs" in run.summary and "| ROC AUC |" in run.summary, run.summary
    polls = poll_deliveries(store)
    assert len(polls) == 1 and polls[0].status == "done"  # the synchronize saw InProgress, the poll Completed
    described = sm.describe_transform_job(TransformJobName=state["jobs"]["candidate"]["name"])
    assert described["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input"}
    assert described["TransformResources"]["InstanceType"] == "ml.m5.xlarge"
    assert described["ModelName"].startswith("mbc-")
    assert sm.describe_transform_job(TransformJobName=state["jobs"]["baseline"]["name"])["ModelName"] == h.BASELINE_MODEL


def staging_plan(text: str):
    from bot.core.manifest import load_manifest
    from bot.core.plan import DeploySpec, LiveState, plan

    spec = DeploySpec(load_manifest(h.PATH, text).manifest, "staging", "1" * 40)
    return plan(spec, LiveState(), {})


def staging_serving_the_candidate(text: str):
    """A live reader where churn-staging already serves this manifest's model (as a deploy of
    it leaves the endpoint: model and config tagged with their digests) and production the
    baseline."""
    from bot.core.plan import LiveState, LiveVariant

    p = staging_plan(text)
    v = p.variants[0]
    staging = LiveState(endpoint_exists=True, endpoint_name="churn-staging", endpoint_status="InService",
                        endpoint_config_name=p.names.endpoint_config, config_digest=p.config_digest,
                        variants=(LiveVariant(v.name, v.model_name, v.instance_type, v.instance_count, 1.0,
                                              model_digest=v.model_digest),))
    production = h.live_production()
    return lambda env, endpoint: staging if endpoint == "churn-staging" else production(env, endpoint)


def create_staging_endpoint(aws, text: str) -> None:
    """churn-staging in moto as the live reader describes it: the emulator's InvokeEndpoint
    refuses an endpoint that does not exist, as SageMaker does."""
    sm = emulator.client("sagemaker", aws)
    p = staging_plan(text)
    v = p.variants[0]
    sm.create_model(ModelName=v.model_name, ExecutionRoleArn=h.ROLE,
                    PrimaryContainer={"Image": h.IMAGE, "ModelDataUrl": CANDIDATE_URI})
    sm.create_endpoint_config(EndpointConfigName=p.names.endpoint_config, ProductionVariants=[{
        "VariantName": v.name, "ModelName": v.model_name, "InstanceType": v.instance_type,
        "InitialInstanceCount": v.instance_count, "InitialVariantWeight": 1.0}])
    sm.create_endpoint(EndpointName="churn-staging", EndpointConfigName=p.names.endpoint_config)
    sm.get_waiter("endpoint_in_service").wait(EndpointName="churn-staging",
                                               WaiterConfig={"Delay": 0, "MaxAttempts": 5})


def test_sample_invocations_of_a_staging_endpoint_serving_the_candidate(aws, bot_env, store, queue, fake_github):
    import requests

    from tests.compare_e2e.test_pull_requests import files

    text = h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE)
    create_staging_endpoint(aws, text)
    answers = [{"Body": body, "ContentType": "text/csv"} for body in ("0.71", "0.12\n", "[0.93]")]
    requests.post(f"{aws}/moto-api/static/sagemaker/endpoint-results", json={"results": answers}, timeout=10)
    bot = harness(load_settings(bot_env), store, queue, fake_github)
    bot.runtime._live_reader = staging_serving_the_candidate(text)
    number = 11
    fake_github.open_pull_request(h.REPO, "feature", files=files(manifest=text), number=number)
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    run = compare_run(fake_github, number)
    assert run.conclusion == "success", run.summary
    assert "- sample invocations of churn-staging (staging): 3, latency p50 " in report(fake_github, number)
    with store.session() as s:
        result = json.loads(s.scalar(select(ComparisonRow)).result)
    assert len(result["samples"]["latencies_ms"]) == 3 and result["samples"]["errors"] == []
    sent = emulator.invocations_remote(aws, "churn-staging")
    assert [(e["content_type"], e["accept"], e["shadow_copy"]) for e in sent] == [("text/csv", "text/csv", False)] * 3

    # A staging endpoint whose answers are not probabilities breaks the output contract: fail.
    emulator.reset(aws)  # moto answers a repeated request as it did the first time: forget those
    create_staging_endpoint(aws, text)
    requests.post(f"{aws}/moto-api/static/sagemaker/endpoint-results",
                  json={"results": [{"Body": "1.5"}, {"Body": "0.2"}, {"Body": "0.3"}]}, timeout=10)
    from bot.app.services.pull_report import refresh_pull
    from bot.app.worker import Context

    ctx = Context(bot.settings, bot.store, fake_github.repo(h.REPO).installation_id, bot.app, bot.runtime)
    refresh_pull(ctx, h.REPO, bot.pr_event("synchronize", h.REPO, number)["pull_request"], force_compare=True)
    run = compare_run(fake_github, number)
    assert run.conclusion == "failure"
    assert "answers of churn-staging: 1 probabilities outside [0, 1]" in run.summary
