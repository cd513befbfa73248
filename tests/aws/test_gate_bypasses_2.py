"""Second round of attacks on the deploy gate from outside, each refused: the live model and the
models a multi-model endpoint serves stay the ones the rules let through."""

from __future__ import annotations

from bot.adapters.aws.session import client
from bot.adapters.aws.session import aws_session
from tests.aws.test_deploy_gate import REPO, comment, make_bot, rows_of, ship
from tests.aws.test_merge_to_deploy import ROOT, drive

MM = (ROOT / "examples" / "multi-model.yaml").read_text().replace('owners: ["@acme/forecasting"]',
                                                                     'owners: ["@acme/fraud-ml"]')
MM_PATH = "models/store-forecast/modelbot.yaml"
BUCKET, PREFIX = "acme-models", "store-forecast/models/"


def s3(bot, env="production"):
    e = bot.settings.server.environments[env]
    return client(aws_session(e, env_name=env), "s3")


# A multi-model endpoint serves every object under its prefix: another manifest may not put models there,
# not even through its own staging endpoint before merge.
def test_another_manifest_cannot_plant_an_artifact_under_a_production_multi_model_prefix(
        aws, bot_env, store, queue, fake_github, tmp_path):
    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path)
    b = s3(bot)
    b.create_bucket(Bucket=BUCKET)
    b.put_object(Bucket=BUCKET, Key=PREFIX + "store-0042.tar.gz", Body=b"good model")
    b.put_object(Bucket=BUCKET, Key="scratch/EVIL.tar.gz", Body=b"EVIL model")
    ship(bot, 50, {MM_PATH: MM}, "bob")                          # production MME, owned by fraud-ml
    before = sorted(o["Key"] for o in b.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"])
    attack = f"""apiVersion: modelbot/v1
kind: ModelDeployment
metadata:
  name: scratch
  owners: [alice]
model:
  artifact:
    uri: s3://{BUCKET}/scratch/EVIL.tar.gz
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/forecast-mme:1.2.0
provenance:
  data_version: "x"
  build_id: "x"
environments:
  staging:
    mode: multi_model
    endpoint_name: scratch-mme
    instance_type: ml.m5.large
    instance_count: 1
    approvals: 0
    multi_model:
      prefix: s3://{BUCKET}/{PREFIX}
"""
    bot.github.open_pull_request(REPO, "change-51", files={"models/scratch/modelbot.yaml": attack}, number=51,
                                 user="alice")
    bot.deliver("pull_request", bot.pr_event("opened", REPO, 51))
    reply = comment(bot, 51, "/deploy staging", "alice")       # nobody approved anything
    drive(bot)
    after = sorted(o["Key"] for o in b.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"])
    assert after == before, (reply, [(r.environment, r.status, r.reason) for r in rows_of(bot, 51).values()],
                             after)


# An endpoint left by a refused teardown: a move from the deleted path is not approved by the default owners.
def test_a_move_from_a_deleted_manifest_is_not_approved_by_the_default_owners(
        aws, bot_env, store, queue, fake_github, tmp_path):
    from tests.aws.test_deploy_gate import CHURN, approve, churn, merge, open_pr
    from tests.aws.test_gate_bypasses import EVIL, model_uri

    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path)
    owned = churn(approvals=1).replace('owners: ["@acme/churn-ml", alice]', 'owners: ["@acme/churn-ml"]')
    ship(bot, 50, {CHURN: owned}, "bob")                        # new at base: default owner bob approves
    good = model_uri(bot, "churn")
    open_pr(bot, 51, {CHURN: None})                              # delete it; nobody of churn-ml approves
    approve(bot, 51, "dave")
    merge(bot, 51)
    assert rows_of(bot, 51)["staging"].status == "refused"     # the endpoints stay, owned by CHURN
    attack = (owned.replace("s3://acme-models/churn/2024-06-01/model.tar.gz", EVIL)
              .replace("    mode: realtime\n", f"    mode: realtime\n    move_endpoint_from: {CHURN}\n"))
    open_pr(bot, 52, {CHURN: attack})
    approve(bot, 52, "bob")                                      # a default owner, not churn-ml
    merge(bot, 52)
    assert "erin" not in [r.user.login for r in bot.github.repo(REPO).reviews]
    assert model_uri(bot, "churn") == good, [(r.environment, r.status, r.reason) for r in rows_of(bot, 52).values()]


# A team owner requests changes and GitHub will not say who is in the team (403): the request still blocks.
def test_a_team_owners_changes_requested_still_blocks_when_membership_cannot_be_read(
        aws, bot_env, store, queue, fake_github, tmp_path):
    from tests.aws.test_deploy_gate import PATH, approve, manifest, merge, open_pr
    from tests.aws.test_gate_bypasses import evil, model_uri

    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path)
    fake_github.add_team_member("acme", "fraud-ml", "frank")
    ship(bot, 50, {PATH: manifest(approvals=1)}, "bob")          # base owners: @acme/fraud-ml, alice
    good = model_uri(bot, "fraud-detector")
    open_pr(bot, 51, {PATH: evil(manifest(approvals=1))}, user="dave")
    bot.github.add_review(REPO, 51, "frank", "CHANGES_REQUESTED")   # an owner (through the team) says no
    approve(bot, 51, "alice")                                        # a direct owner approves
    fake_github.fail_next("GET", r"/orgs/acme/teams/fraud-ml/memberships/frank", 403, times=1000,
                          body={"message": "Resource not accessible by integration"})
    merge(bot, 51)
    assert model_uri(bot, "fraud-detector") == good, [(r.environment, r.status, r.reason)
                                                      for r in rows_of(bot, 51).values()]


# An open PR's head never reaches production, even past the /deploy command: the gate refuses it too.
def test_the_gate_refuses_an_unmerged_head_in_production(aws, bot_env, store, queue, fake_github, tmp_path):
    from bot.app.services.deployments import record_deployments
    from bot.adapters.github.pulls import get_pull
    from bot.app.worker import Context
    from tests.aws.test_deploy_gate import PATH, approve, manifest, open_pr
    from tests.aws.test_gate_bypasses import evil, model_uri

    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path)
    ship(bot, 50, {PATH: manifest(approvals=1)}, "bob")
    good = model_uri(bot, "fraud-detector")
    open_pr(bot, 51, {PATH: evil(manifest(approvals=1))})
    approve(bot, 51, "bob")                                       # approved, never merged
    reply = comment(bot, 51, "/deploy production", "carol")     # the command holds
    assert "Deploying" not in reply and not rows_of(bot, 51), reply
    ctx = Context(bot.settings, bot.store, bot.github.repo(REPO).installation_id, bot.app, bot.runtime)
    pr = get_pull(ctx.github.requester, REPO, 51)
    record_deployments(ctx, REPO, pr, pr["head"]["sha"], "command", "alice", environments=["production"])
    drive(bot)
    assert model_uri(bot, "fraud-detector") == good, [(r.environment, r.status, r.reason)
                                                      for r in rows_of(bot, 51).values()]
