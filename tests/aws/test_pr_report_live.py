"""The PR report plans against what is live on SageMaker (moto server + emulator)."""

from __future__ import annotations

from bot.adapters.aws.live import AwsLiveReader
from bot.adapters.aws.session import client
from bot.adapters.aws.session import aws_session
from bot.core.config import load_settings
from bot.core.manifest import load_manifest
from bot.core.plan import DeploySpec, LiveState, plan
from bot.core.report import part_of
from tests.aws.deployed import deploy
from tests.conftest import ROOT, SECRET
from tests.support.harness import Harness

REPO = "acme/models"
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
CONFIG = ROOT / "tests" / "fixtures" / "check" / "live.yaml"


def test_report_plans_an_update_of_the_live_endpoint(aws, bot_env, store, queue, fake_github):
    settings = load_settings({**bot_env, "MODELBOT_CONFIG": str(CONFIG)})
    # What is live: churn-staging, deployed by an earlier merge of the minimal manifest.
    spec = DeploySpec(load_manifest("models/churn/modelbot.yaml", MINIMAL).manifest, "staging", "1" * 40)
    first = plan(spec, LiveState(), {})
    session = aws_session(settings.server.environments["staging"], env_name="staging")
    deploy(client(session, "sagemaker"), client(session, "application-autoscaling"), spec, first)

    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(REPO, {"models/churn/modelbot.yaml": MINIMAL}, installation_id=inst)
    bigger = MINIMAL.replace("instance_type: ml.m5.large", "instance_type: ml.m5.xlarge\n    instance_count: 2")
    fake_github.open_pull_request(REPO, "feature", files={"models/churn/modelbot.yaml": bigger}, number=3)

    bot = Harness(settings, store, queue, fake_github, live_reader=AwsLiveReader(settings.server.environments),
                  secret=SECRET)
    assert bot.deliver("pull_request", bot.pr_event("opened", REPO, 3)) == "done"
    [report] = [c.body for c in fake_github.comments_on(REPO, 3) if part_of(c.body) == 1]
    assert "update endpoint churn-staging by blue_green" in report
    assert "AllTraffic.instance_type: ml.m5.large → ml.m5.xlarge" in report
    assert "AllTraffic.instance_count: 1 → 2" in report
    assert "model unchanged: reusing churn-staging-1111111" in report
    assert "live state unavailable" not in report and "desired state only" not in report
