"""The contract's smoke test end to end (issue #14, part 1): a merged PR deploys through the rollout
engine against the SageMaker emulator, whose InvokeEndpoint answers as the container registered
for the model's artifact says. A broken contract fails or rolls back the deploy, naming the
sample and the problem; an A/B candidate gets no traffic before its samples pass."""

from __future__ import annotations

import pytest

from bot.adapters.aws.session import aws_session, client
from tests.aws.test_merge_to_deploy import REPO, bot, merge  # noqa: F401 - bot: the fixture
from tests.conftest import ROOT
from tests.support import sagemaker_emulator as emulator

PATH = "models/churn-scorer/modelbot.yaml"
_TEXT = (ROOT / "examples" / "realtime-contract.yaml").read_text()
# without its `validation:` section (the data set is not in the emulator's S3); the contract stays
EXAMPLE = _TEXT[:_TEXT.index("validation:\n")] + _TEXT[_TEXT.index("contract:\n"):]
V5 = "s3://acme-models/churn-scorer/v5/model.tar.gz"
V6 = "s3://acme-models/churn-scorer/v6/model.tar.gz"
ENDPOINT = "churn-scorer-production"
GOOD = {"kind": "csv_rows", "value": "0.7"}


def manifest(uri=V5, strategy=None, samples=None):
    text = EXAMPLE.replace(V5, uri).replace('owners: [dana, "@acme/retention"]', "owners: [bob]")  # bob approves
    if strategy == "canary":
        text = text.replace("""    strategy:
      type: ab
      weights: {current: 80, candidate: 20}
      candidate_variant_name: challenger
""", """    strategy:
      type: canary
      canary_size: {type: instance_count, value: 1}
      wait_interval_seconds: 0
""")
    if samples is not None:
        start = text.index("  samples:\n")
        end = text.index("environments:", start)
        text = text[:start] + samples + text[end:]
    return text


def sm(bot):
    env = bot.settings.server.environments["production"]
    return client(aws_session(env, env_name="production"), "sagemaker")


def rows(bot):
    return [d for d in bot.store.deployments(repository=REPO) if d.manifest_path == PATH]


def drive(bot, until=lambda bot: False, limit=120):
    for _ in range(limit):
        active = [d for d in rows(bot) if d.status in ("pending", "running")]
        if not active or until(bot):
            return
        for d in active:
            bot.runtime.rollouts.tick(d.id)
    raise AssertionError("deployments did not finish")


def deploy(bot, files, number, until=lambda bot: False):
    _, payload = merge(bot, files, number)
    assert bot.deliver("pull_request", payload) == "done"
    drive(bot, until)
    return rows(bot)[-1]


def test_a_first_deploy_sends_the_samples_and_succeeds_when_they_hold(bot, aws):
    emulator.register_container_remote(aws, V5, GOOD)
    row = deploy(bot, {PATH: manifest()}, 21)
    assert row.status == "succeeded", row.reason
    calls = emulator.invocations_remote(aws, ENDPOINT)
    assert [c["body"] for c in calls] == [b"3,19.5,basic,", b"48,72.0,pro,4"]
    assert all(c["content_type"] == "text/csv" for c in calls)


def test_a_first_deploy_whose_answers_break_the_output_contract_fails_naming_the_sample(bot, aws):
    emulator.register_container_remote(aws, V5, {"kind": "csv_rows", "value": "1.7"})
    row = deploy(bot, {PATH: manifest()}, 22)
    assert row.status == "failed"
    assert "the new model broke its contract: sample 1 " in row.reason
    assert "1.7 is above the output maximum 1" in row.reason and '"tenure_months": 3' in row.reason


def test_an_ab_candidate_is_invoked_at_weight_0_and_rolled_back_before_any_traffic(bot, aws):
    emulator.register_container_remote(aws, V5, GOOD)
    assert deploy(bot, {PATH: manifest()}, 23).status == "succeeded"
    before = sm(bot).describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    emulator.register_container_remote(aws, V6, {"kind": "error", "status": 500, "message": "KeyError: 'plan'"})
    row = deploy(bot, {PATH: manifest(V6)}, 24)
    assert row.status == "rolled_back", row.reason
    assert "sample 1" in row.reason and "ModelError" in row.reason and "HTTP 500" in row.reason
    after = sm(bot).describe_endpoint(EndpointName=ENDPOINT)
    assert after["EndpointConfigName"] == before  # back on the previous config
    calls = [c for c in emulator.invocations_remote(aws, ENDPOINT) if c["endpoint_config"] != before]
    assert calls and {c["variant"] for c in calls} == {"challenger"}
    two = sm(bot).describe_endpoint_config(EndpointConfigName=calls[0]["endpoint_config"])
    weights = {v["VariantName"]: v["InitialVariantWeight"] for v in two["ProductionVariants"]}
    assert weights == {"AllTraffic": 0.8, "challenger": 0.0}


def test_an_ab_candidate_that_passes_gets_its_share_afterwards(bot, aws):
    emulator.register_container_remote(aws, V5, GOOD)
    assert deploy(bot, {PATH: manifest()}, 25).status == "succeeded"
    emulator.register_container_remote(aws, V6, GOOD)

    def in_experiment(bot):
        d = rows(bot)[-1]
        return d.pr_number == 26 and '"phase": "experiment"' in (d.state or "")

    row = deploy(bot, {PATH: manifest(V6)}, 26, until=in_experiment)
    assert row.status == "running"
    variants = {v["VariantName"]: v["CurrentWeight"]
                for v in sm(bot).describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}
    assert variants == {"AllTraffic": pytest.approx(0.8), "challenger": pytest.approx(0.2)}
    calls = emulator.invocations_remote(aws, ENDPOINT)
    assert [c["variant"] for c in calls[-2:]] == ["challenger", "challenger"]


def test_a_canary_update_that_breaks_the_contract_is_rolled_back_once_sagemaker_is_done(bot, aws):
    emulator.register_container_remote(aws, V5, GOOD)
    assert deploy(bot, {PATH: manifest(strategy="canary")}, 27).status == "succeeded"
    before = sm(bot).describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    emulator.register_container_remote(aws, V6, {"kind": "constant", "body": "0.2,0.8"})
    row = deploy(bot, {PATH: manifest(V6, strategy="canary")}, 28)
    assert row.status == "rolled_back", row.reason
    assert "2 value(s) per record, the contract's output shape says 1" in row.reason
    assert sm(bot).describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == before


def test_a_samples_file_missing_at_the_deploy_commit_refuses_the_deploy_before_any_aws_write(bot, aws):
    text = manifest(samples="  samples:\n    path: contracts/churn.jsonl\n")
    row = deploy(bot, {PATH: text}, 29)
    assert row.status == "failed"
    assert row.reason == "not deployed: contract.samples.path contracts/churn.jsonl: not found at " + row.commit_sha[:7]
    assert sm(bot).list_endpoints()["Endpoints"] == []


def test_a_samples_file_in_the_repository_is_sent(bot, aws):
    emulator.register_container_remote(aws, V5, GOOD)
    text = manifest(samples="  samples:\n    path: contracts/churn.jsonl\n")
    files = {PATH: text, "contracts/churn.jsonl": '{"tenure_months": 1, "monthly_spend": 5, "plan": "plus"}\n'}
    row = deploy(bot, files, 30)
    assert row.status == "succeeded", row.reason
    assert [c["body"] for c in emulator.invocations_remote(aws, ENDPOINT)] == [b"1,5,plus,"]


MM = (ROOT / "examples" / "multi-model.yaml").read_text().replace('owners: ["@acme/forecasting"]', "owners: [bob]")
MM_CONTRACT = """contract:
  input:
    fields:
      - {name: store, type: integer, min: 1}
      - {name: week, type: integer, min: 1, max: 53}
  output: {type: number, min: 0}
  samples:
    inline:
      - {store: 42, week: 7}
"""


def test_a_multi_model_endpoint_is_smoke_tested_through_the_candidates_target_model(bot, aws):
    env = bot.settings.server.environments["production"]
    s3 = client(aws_session(env, env_name="production"), "s3")
    s3.create_bucket(Bucket="acme-models")
    s3.put_object(Bucket="acme-models", Key="store-forecast/models/store-0042.tar.gz", Body=b"model")
    emulator.register_container_remote(aws, "s3://acme-models/store-forecast/models/", GOOD)
    path = "models/store-forecast/modelbot.yaml"
    _, payload = merge(bot, {path: MM.replace("environments:\n", MM_CONTRACT + "environments:\n", 1)}, 31)
    assert bot.deliver("pull_request", payload) == "done"
    for _ in range(120):
        active = [d for d in bot.store.deployments(repository=REPO) if d.status in ("pending", "running")]
        if not active:
            break
        for d in active:
            bot.runtime.rollouts.tick(d.id)
    [row] = [d for d in bot.store.deployments(repository=REPO) if d.manifest_path == path]
    assert row.status == "succeeded", row.reason
    [call] = emulator.invocations_remote(aws, "store-forecast-production")
    assert call["body"] == b"42,7" and call["target_model"].startswith("store-forecast-")
    assert call["target_model"].endswith(".tar.gz") and call["target_model"] in row.reason
