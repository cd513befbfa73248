"""The deploy gate holds through real processes: a signed merge delivery POSTed to a gunicorn web
process is handled by a worker subprocess (through the durable queue and the rollout engine's
reconcile ticks) against the fake GitHub over HTTP and the SageMaker emulator on a moto server, on
SQLite and on PostgreSQL + Redis. tests/aws/test_deploy_gate.py holds the same scenarios in one
process; here nothing is driven in line: only what the processes do counts.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from bot.adapters.aws.session import client
from bot.adapters.aws.session import aws_session
from bot.core.config import load_settings
from bot.adapters.store import Store
from tests.aws.conftest import DUMMY_KEY, DUMMY_SECRET, aws, moto_url, no_aws  # noqa: F401 - fixtures
from tests.aws.test_merge_to_deploy import CONFIG, PATH, REPO, manifest
from tests.conftest import SECRET
from tests.support import sagemaker_emulator as emulator
from tests.support import webhooks
from tests.support.processes import post_delivery, start_worker, stop, wait_until, web_process

pytestmark = pytest.mark.slow

DEPLOY_TIMEOUT = 90  # the engine polls a rollout every 30 s: staging, then production


@pytest.fixture
def proc_env(aws, bot_env, fake_github, tmp_path):
    """The environment of the web and worker processes: the test backend, the deploy config,
    the fake GitHub App, and boto3 pointed at the moto server with dummy credentials only."""
    key = tmp_path / "app-key.pem"
    key.write_text(fake_github.private_key_pem)
    # A new endpoint is InService on the first describe after CreateEndpoint (AWS takes minutes;
    # the engine's 30 s poll interval is what this test waits for).
    emulator.configure_remote(aws, create_ticks=0)
    return {
        **bot_env,
        "MODELBOT_CONFIG": str(CONFIG),
        "GITHUB_APP_ID": str(fake_github.app_id),
        "GITHUB_PRIVATE_KEY_PATH": str(key),
        "GITHUB_API_URL": fake_github.url,
        "MODELBOT_GITHUB_WRITE_INTERVAL": "0",
        "AWS_ENDPOINT_URL": aws,
        "AWS_ACCESS_KEY_ID": DUMMY_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def gh(fake_github):
    """acme/models installed, alice and bob may write, bob is in acme/fraud-ml (and a default owner)."""
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
    for login in ("alice", "bob"):
        fake_github.set_permission(REPO, login, "write")
    fake_github.add_team_member("acme", "fraud-ml", "bob")
    return fake_github


@pytest.fixture
def db(proc_env):
    s = Store(load_settings(proc_env).database_url)
    yield s
    s.dispose()


def logs(env) -> str:
    """The tail of every process log, for a failure message."""
    out = []
    for f in sorted(Path(env["MODELBOT_DATA_DIR"]).glob("*.log")):
        out.append(f"--- {f.name}\n" + "\n".join(f.read_text(errors="replace").splitlines()[-40:]))
    return "\n".join(out)


def post(url: str, event: str, payload: dict, delivery_id: str) -> tuple[int, dict]:
    return post_delivery(url, event, payload, SECRET, delivery_id)


def open_approve_merge(gh, number: int, text: str, *approvers: str) -> dict:
    """The PR by alice adding the manifest, approved and merged on GitHub; the merge delivery."""
    gh.open_pull_request(REPO, f"change-{number}", files={PATH: text}, number=number, user="alice")
    for u in approvers:
        gh.add_review(REPO, number, u, "APPROVED")
    sha = gh.merge_pull_request(REPO, number)
    return webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, number))


def rows_of(db, number: int) -> dict:
    return {r.environment: r for r in db.deployments(repository=REPO) if r.pr_number == number}


def settled(db, number: int, expected: dict):
    """The PR's deployments once every one is terminal and they are exactly `expected`
    ({environment: status}); raises when one ends otherwise (no point waiting on)."""
    rows = rows_of(db, number)
    if set(rows) != set(expected) or any(r.status in ("pending", "running") for r in rows.values()):
        return None
    got = {env: r.status for env, r in rows.items()}
    assert got == expected, {env: (r.status, r.reason) for env, r in rows.items()}
    return rows


def refusals(gh, number: int) -> list[str]:
    return [c.body for c in gh.comments_on(REPO, number) if "<!-- modelbot:refused:" in c.body]


def github_deployment(gh, row):
    [dep] = [d for d in gh.repo(REPO).deployments if d.payload.get("modelbot_deployment") == row.id]
    return dep


def sagemaker(proc_env, env_name="production"):
    e = load_settings(proc_env).server.environments[env_name]
    return client(aws_session(e, env_name=env_name), "sagemaker")


def redeliver_and_settle(url, db, payload, env) -> None:
    """GitHub delivers the merge again under a new delivery id: the worker handles it to the end."""
    again = "merge-again-" + uuid.uuid4().hex[:8]
    status, body = post(url, "pull_request", payload, again)
    assert (status, body["outcome"]) == (202, "queued"), body
    try:
        wait_until(lambda: getattr(db.get_delivery(again), "status", None) == "done", timeout=30,
                   what="the redelivered merge to be handled")
    except TimeoutError:
        pytest.fail("the redelivery was not handled\n" + logs(env))
    time.sleep(2)  # any tick it might have enqueued has had time to run


def merge_and_settle(url, db, payload, number: int, expected: dict, env: dict) -> dict:
    """POST the merge and wait until its deployments end as `expected` (environment -> status)."""
    status, body = post(url, "pull_request", payload, f"merge-{number}")
    assert (status, body["outcome"]) == (202, "queued"), body
    try:
        return wait_until(lambda: settled(db, number, expected), timeout=DEPLOY_TIMEOUT, interval=0.5,
                          what="staging and production to settle")
    except TimeoutError:
        pytest.fail(f"deployments {[(r.environment, r.status, r.reason) for r in rows_of(db, number).values()]}"
                    "\n" + logs(env))


def test_a_merge_with_too_few_approvals_is_refused_in_production_by_the_worker(proc_env, gh, db):
    payload = open_approve_merge(gh, 41, manifest(approvals=2), "bob")  # production needs 2; bob gives 1
    with web_process(proc_env) as url:
        worker = start_worker(proc_env)
        try:
            rows = merge_and_settle(url, db, payload, 41, {"staging": "succeeded", "production": "refused"}, proc_env)
            prod = rows["production"]
            assert "1 more approval" in prod.reason, prod.reason
            assert json.loads(prod.provenance)["gate"]["verdict"] == "refuse"
            assert db.lock(f"production:{prod.endpoint}") is None  # no lock taken or kept
            with pytest.raises(ClientError):  # nothing was written to production
                sagemaker(proc_env).describe_endpoint(EndpointName="fraud-detector")
            staging = sagemaker(proc_env, "staging").describe_endpoint(EndpointName="fraud-detector-staging")
            assert staging["EndpointStatus"] == "InService"
            [reply] = refusals(gh, 41)
            assert "1 more approval" in reply
            last = github_deployment(gh, prod).statuses[-1]
            assert last.state == "failure" and "refused" in last.description
            assert github_deployment(gh, rows["staging"]).statuses[-1].state == "success"

            redeliver_and_settle(url, db, payload, proc_env)
            assert len(db.deployments(repository=REPO)) == 2  # the redelivery recorded nothing more
            assert len(refusals(gh, 41)) == 1
            assert rows_of(db, 41)["production"].status == "refused"
        finally:
            stop(worker)
    assert worker.returncode == 0, logs(proc_env)


def test_an_approved_merge_deploys_both_environments_once_through_the_worker(proc_env, gh, db):
    payload = open_approve_merge(gh, 42, manifest(), "bob")  # production needs 1: bob's counts
    with web_process(proc_env) as url:
        worker = start_worker(proc_env)
        try:
            rows = merge_and_settle(url, db, payload, 42, {"staging": "succeeded", "production": "succeeded"}, proc_env)
            prod = rows["production"]
            prov = json.loads(prod.provenance)
            assert prov["gate"]["verdict"] == "allow" and prov["approvers"] == ["bob"]
            ep = sagemaker(proc_env).describe_endpoint(EndpointName="fraud-detector")
            assert ep["EndpointStatus"] == "InService"
            assert github_deployment(gh, prod).statuses[-1].state == "success"
            assert refusals(gh, 42) == []

            redeliver_and_settle(url, db, payload, proc_env)
            assert len(db.deployments(repository=REPO)) == 2  # deployed once
            assert sagemaker(proc_env).describe_endpoint(EndpointName="fraud-detector")[
                "EndpointConfigName"] == ep["EndpointConfigName"]
        finally:
            stop(worker)
    assert worker.returncode == 0, logs(proc_env)
