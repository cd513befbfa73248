"""Merge-to-deploy end to end: a merged PR deploys each manifest to its environments in order,
exactly once, through the rollout engine against the SageMaker emulator, with progress on GitHub."""

from __future__ import annotations

import json

import pytest

from bot.adapters.aws.live import AwsLiveReader
from bot.adapters.aws.session import client
from bot.adapters.aws.session import aws_session
from bot.core.config import load_settings
from bot.core.report import part_of
from tests.conftest import ROOT, SECRET
from tests.support import webhooks
from tests.support.harness import Harness

REPO = "acme/models"
PATH = "models/fraud/modelbot.yaml"
CANARY = (ROOT / "examples" / "realtime-canary.yaml").read_text()
CONFIG = ROOT / "tests" / "fixtures" / "deploy.yaml"


def without_validation(text: str) -> str:
    """The manifest without its `validation:` section (its data set is not in the emulator's S3)."""
    start = text.index("validation:\n")
    end = text.index("\nenvironments:", start)
    return text[:start] + text[end + 1:]


def manifest(instance="ml.m5.large", approvals=1):
    # The canary example, reading provenance from the manifest itself and with our test alarms,
    # no comparison, and production needing `approvals` approvals (bob, a default owner, gives one).
    return (without_validation(CANARY).replace("build_id: {from_pipeline: outputs/build.json, key: build_id}",
                                               "build_id: b-7")
            .replace("instance_type: ml.m5.large", f"instance_type: {instance}")
            .replace("approvals: 2", f"approvals: {approvals}"))


@pytest.fixture
def bot(aws, bot_env, store, queue, fake_github):
    return harness_with(CONFIG, bot_env, store, queue, fake_github)


def harness_with(config, bot_env, store, queue, fake_github) -> Harness:
    """The bot on server config `config`, with the live reader, on an `acme/models` repository
    alice may write to."""
    settings = load_settings({**bot_env, "MODELBOT_CONFIG": str(config)})
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
    fake_github.set_permission(REPO, "alice", "write")
    return Harness(settings, store, queue, fake_github, live_reader=AwsLiveReader(settings.server.environments),
                   secret=SECRET)


def merge(bot, files, number):
    gh = bot.github
    gh.open_pull_request(REPO, f"change-{number}", files=files, number=number, user="alice")
    gh.add_review(REPO, number, "bob", "APPROVED")
    sha = gh.merge_pull_request(REPO, number)
    payload = webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, number))
    return sha, payload


def drive(bot, limit=80):
    """Tick every active deployment until none is left (the worker's reconcile tasks, in line)."""
    for _ in range(limit):
        active = [d for d in bot.store.deployments(repository=REPO) if d.status in ("pending", "running")]
        if not active:
            return
        for d in active:
            bot.runtime.rollouts.tick(d.id)
    raise AssertionError("deployments did not finish")


class Killed(BaseException):
    """The worker process dies here: nothing after this line runs, no handler sees it."""


def drive_through_kills(bot, limit=120) -> bool:
    """`drive` by workers that may die mid-tick (a hook raises Killed): another worker takes the
    deployment over once the dead one's lease has run out. True when a worker died."""
    killed = False
    for _ in range(limit):
        active = [d for d in bot.store.deployments(repository=REPO) if d.status in ("pending", "running")]
        if not active:
            return killed
        for d in active:
            try:
                bot.runtime.rollouts.tick(d.id)
            except Killed:
                killed = True
                bot.store.save_deployment(d.id, release=True)  # the dead worker's lease ran out
    raise AssertionError("deployments did not finish")


def sm(bot):
    env = bot.settings.server.environments["staging"]
    return client(aws_session(env, env_name="staging"), "sagemaker")


def test_a_merged_pr_deploys_in_order_exactly_once_and_reports(bot, fake_github):
    sha, payload = merge(bot, {PATH: manifest()}, 11)
    assert bot.deliver("pull_request", payload) == "done"
    assert bot.deliver("pull_request", payload) == "done"  # GitHub delivers it again (a new id)
    rows = bot.store.deployments(repository=REPO)
    assert [(r.environment, r.status) for r in rows] == [("staging", "pending"), ("production", "pending")]
    assert rows[1].after_id == rows[0].id

    drive(bot)
    rows = bot.store.deployments(repository=REPO)
    assert [(r.environment, r.status) for r in rows] == [("staging", "succeeded"), ("production", "succeeded")]

    described = sm(bot).describe_endpoint(EndpointName="fraud-detector-staging")
    assert described["EndpointStatus"] == "InService"
    tags = {t["Key"]: t["Value"] for t in sm(bot).list_tags(ResourceArn=described["EndpointArn"])["Tags"]}
    assert tags["modelbot:commit"] == sha and tags["modelbot:build-id"] == "b-7"
    assert tags["modelbot:pr"] == "11" and tags["modelbot:approvers"] == "bob"

    deployments = fake_github.repo(REPO).deployments
    assert sorted(d.environment for d in deployments) == ["production", "staging"]
    for d in deployments:
        assert d.statuses[-1].state == "success"
        assert d.statuses[-1].environment_url.endswith(d.environment == "staging" and "fraud-detector-staging"
                                                      or "fraud-detector")
    assert not fake_github.violations

    # The ledger: what put the current model on the endpoint.
    current = bot.store.current_deployment("production", "fraud-detector")
    prov = json.loads(current.provenance)
    assert (current.commit_sha, current.pr_number, prov["approvers"]) == (sha, 11, ["bob"])


def test_the_report_shows_the_rollout_table(bot, fake_github):
    gh = bot.github
    gh.open_pull_request(REPO, "change-12", files={PATH: manifest()}, number=12, user="alice")
    bot.deliver("pull_request", bot.pr_event("opened", REPO, 12))
    gh.add_review(REPO, 12, "bob", "APPROVED")
    sha = gh.merge_pull_request(REPO, 12)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, 12)))
    drive(bot)
    report = [c.body for c in gh.comments_on(REPO, 12) if part_of(c.body) == 1][0]
    assert "#### Deployment" in report and "✅ deployed" in report
    runs = gh.check_runs_for(REPO, name="modelbot/deploy")
    assert runs[-1].conclusion == "success"


def test_a_direct_push_to_the_default_branch_deploys_nothing_and_says_so(bot, fake_github):
    sha = fake_github.commit(REPO, "main", {PATH: manifest()})
    payload = webhooks.push(repo=REPO, after=sha, installation_id=fake_github.repo(REPO).installation_id)
    bot.deliver("push", payload)
    assert bot.store.deployments(repository=REPO) == []
    [run] = fake_github.check_runs_for(REPO, head_sha=sha, name="modelbot/deploy")
    assert run.conclusion == "neutral" and "without a pull request" in run.title
