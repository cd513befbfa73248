"""Multi-model endpoints, end to end through the signed webhook: the deploy copies the
candidate's artifact under the endpoint's S3 prefix at a deterministic key (what callers pass
as TargetModel), once, before the endpoint step that serves it; the model's ModelDataUrl is the
prefix. Plus the refusals: an artifact over CopyObject's 5 GB, and a different object at the key."""

from __future__ import annotations

import pytest

from bot.adapters.aws.session import client
from bot.adapters.aws.session import aws_session
from bot.adapters.aws.executor import COPY_OBJECT_MAX_BYTES, Clients, DeployError, copy_artifact
from bot.core.deploy.requests import DeployRequests, multi_model_target
from bot.core.plan import DeploySpec, LiveState, plan
from tests.aws.test_merge_to_deploy import REPO, ROOT, Killed, bot, drive, drive_through_kills, merge  # noqa: F401 - fixture
from tests.deploy.helpers import COMMIT1, PRICES, example

PATH = "models/store-forecast/modelbot.yaml"
MM = (ROOT / "examples" / "multi-model.yaml").read_text()
BUCKET, PREFIX = "acme-models", "store-forecast/models/"
SOURCE_KEY = PREFIX + "store-0042.tar.gz"
BODY = b"store-0042 model bytes"


def aws(bot, service="sagemaker"):
    env = bot.settings.server.environments["production"]
    return client(aws_session(env, env_name="production"), service)


@pytest.fixture
def artifact(bot):
    s3 = aws(bot, "s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=SOURCE_KEY, Body=BODY, ContentType="application/x-gzip")
    return s3


def target_key() -> str:
    spec = DeploySpec(example("multi-model"), "production", COMMIT1)
    key = multi_model_target(spec, plan(spec, LiveState(), PRICES))
    assert key is not None and key.startswith("store-forecast-") and key.endswith(".tar.gz")
    return key


class S3Calls:
    """Counts the worker's S3 calls by operation."""

    def __init__(self, bot):
        self.s3 = bot.runtime.rollouts.services.clients_for("production").s3
        self.ops: list[str] = []
        self.s3.meta.events.register("before-call.s3", self._record)

    def _record(self, model, **_):
        self.ops.append(model.name)

    def close(self):
        self.s3.meta.events.unregister("before-call.s3", self._record)


def production(bot, sha):
    [row] = [r for r in bot.store.deployments(repository=REPO, commit_sha=sha)]
    return row


def test_a_multi_model_deploy_copies_the_artifact_under_the_prefix_once(bot, artifact):
    calls = S3Calls(bot)
    try:
        sha, payload = merge(bot, {PATH: MM}, 31)
        bot.deliver("pull_request", payload)
        drive(bot)
        row = production(bot, sha)
        key = target_key()
        assert row.status == "succeeded", row.reason
        assert f"TargetModel={key}" in row.reason, row.reason  # where the deployment is described
        copied = artifact.get_object(Bucket=BUCKET, Key=PREFIX + key)
        assert copied["Body"].read() == BODY and copied["ContentType"] == "application/x-gzip"
        assert copied["Metadata"]["modelbot-source"] == f"s3://{BUCKET}/{SOURCE_KEY}"
        assert calls.ops.count("CopyObject") == 1

        sm = aws(bot)
        config = sm.describe_endpoint_config(
            EndpointConfigName=sm.describe_endpoint(EndpointName="store-forecast-production")["EndpointConfigName"])
        container = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])["PrimaryContainer"]
        assert (container["Mode"], container["ModelDataUrl"]) == ("MultiModel", f"s3://{BUCKET}/{PREFIX}")

        # A second deploy of the same artifact (one more instance) finds it there: no second copy.
        # The manifest is at base now, owned by @acme/forecasting: bob approves as its member.
        bot.github.add_team_member("acme", "forecasting", "bob")
        sha2, payload = merge(bot, {PATH: MM.replace("instance_count: 2", "instance_count: 3")}, 32)
        bot.deliver("pull_request", payload)
        drive(bot)
        assert production(bot, sha2).status == "succeeded", production(bot, sha2).reason
        assert calls.ops.count("CopyObject") == 1 and calls.ops.count("HeadObject") == 4
    finally:
        calls.close()
    assert not bot.github.violations


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_worker_killed_at_the_copy_resumes_and_copies_once(bot, artifact, when):
    state = {"armed": True}

    def die(**_):
        if state["armed"]:
            state["armed"] = False
            raise Killed()

    calls = S3Calls(bot)
    calls.s3.meta.events.register(f"{when}-call.s3.CopyObject", die)
    try:
        sha, payload = merge(bot, {PATH: MM}, 33)
        bot.deliver("pull_request", payload)
        assert drive_through_kills(bot, limit=60)
    finally:
        calls.s3.meta.events.unregister(f"{when}-call.s3.CopyObject", die)
        calls.close()
    assert not state["armed"]
    assert production(bot, sha).status == "succeeded"
    # Killed before the request left: copied by the next worker. Killed after S3 copied: found there by
    # the next worker's HeadObject, not copied again. (The kill runs before the counter on its event.)
    assert calls.ops.count("CopyObject") == 1, calls.ops
    assert calls.ops.count("HeadObject") == 4, calls.ops
    assert artifact.head_object(Bucket=BUCKET, Key=PREFIX + target_key())["ContentLength"] == len(BODY)
    assert aws(bot).describe_endpoint(EndpointName="store-forecast-production")["EndpointStatus"] == "InService"


def test_a_different_object_at_the_key_stops_the_deploy_before_the_endpoint(bot, artifact):
    artifact.put_object(Bucket=BUCKET, Key=PREFIX + target_key(), Body=b"someone else's model")
    sha, payload = merge(bot, {PATH: MM}, 34)
    bot.deliver("pull_request", payload)
    drive(bot)
    row = production(bot, sha)
    assert row.status == "failed"
    assert "already holds a different object" in row.reason and "AWS refused" not in row.reason, row.reason
    assert aws(bot).list_endpoints()["Endpoints"] == []
    assert artifact.get_object(Bucket=BUCKET, Key=PREFIX + target_key())["Body"].read() == b"someone else's model"


class FakeS3:
    """head_object/copy_object over a dict of {(bucket, key): HeadObject answer}."""

    def __init__(self, objects):
        self.objects, self.copies = dict(objects), []

    def head_object(self, Bucket, Key):
        from botocore.exceptions import ClientError

        if (Bucket, Key) not in self.objects:
            raise ClientError({"Error": {"Code": "404", "Message": "Not Found"},
                               "ResponseMetadata": {"HTTPStatusCode": 404}}, "HeadObject")
        return self.objects[(Bucket, Key)]

    def copy_object(self, **kwargs):
        self.copies.append(kwargs)


def _requests() -> DeployRequests:
    return DeployRequests(endpoint="e", target_config="c", artifact_copy={
        "Source": f"s3://{BUCKET}/{SOURCE_KEY}", "Bucket": BUCKET, "Key": PREFIX + "m-0123.tar.gz",
        "TargetModel": "m-0123.tar.gz"})


def test_an_artifact_over_five_gib_is_refused_with_the_reason():
    s3 = FakeS3({(BUCKET, SOURCE_KEY): {"ContentLength": COPY_OBJECT_MAX_BYTES + 1, "ETag": '"abc-3"'}})
    with pytest.raises(DeployError, match=r"5\.0 GiB; modelbot copies .* single CopyObject, which S3 limits to 5 GiB"):
        copy_artifact(Clients(sagemaker=None, s3=s3), _requests())
    assert s3.copies == []


def test_exactly_five_gib_is_copied_and_a_copy_of_a_multipart_upload_is_recognised():
    s3 = FakeS3({(BUCKET, SOURCE_KEY): {"ContentLength": COPY_OBJECT_MAX_BYTES, "ETag": '"abc-3"'}})
    assert copy_artifact(Clients(sagemaker=None, s3=s3), _requests()) is True
    [copy] = s3.copies
    assert copy["CopySourceIfMatch"] == '"abc-3"' and copy["Metadata"]["modelbot-source-etag"] == "abc-3"
    # The copy of a multipart upload has an ETag of its own; the metadata says what it is a copy of.
    s3.objects[(BUCKET, PREFIX + "m-0123.tar.gz")] = {"ContentLength": COPY_OBJECT_MAX_BYTES, "ETag": '"fff"',
                                                      "Metadata": {"modelbot-source-etag": "abc-3"}}
    assert copy_artifact(Clients(sagemaker=None, s3=s3), _requests()) is False
    assert len(s3.copies) == 1


def test_a_registry_package_or_a_single_model_endpoint_copies_nothing():
    spec = DeploySpec(example("realtime-canary", {"build_id: {from_pipeline: outputs/build.json, key: build_id}":
                                                  "build_id: b-7"}), "production", COMMIT1)
    assert multi_model_target(spec, plan(spec, LiveState(), PRICES)) is None
