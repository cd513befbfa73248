"""The deploy gate holds at the point of action: every bypass a user or an attacker would try is
refused with its reasons, through signed deliveries and the worker's code path against the fake
GitHub and the SageMaker emulator, on SQLite and on PostgreSQL + Redis — and AWS is left as it was.
The happy path still deploys exactly once; a break-glass override works and is on the record.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from bot.adapters.aws.live import AwsLiveReader
from bot.adapters.aws.session import client
from bot.adapters.aws.session import aws_session
from bot.core.config import load_settings
from tests.aws.test_merge_to_deploy import CONFIG, PATH, REPO, drive, manifest
from tests.conftest import SECRET
from tests.support import webhooks
from tests.support.harness import Harness

CHURN = "models/churn/modelbot.yaml"
FREEZE = """
policy:
  environments:
    production:
      freezes:
        - {reason: incident review, start: "2000-01-01T00:00:00Z", end: "2100-01-01T00:00:00Z"}
"""
BREAK_GLASS = """
  break_glass: {role: admin}
"""


def churn(**kw) -> str:
    return (manifest(**kw).replace("fraud-detector", "churn").replace("@acme/fraud-ml", "@acme/churn-ml"))


def make_bot(aws, bot_env, store, queue, fake_github, tmp_path, extra: str = "", *, comparison_default=False):
    text = CONFIG.read_text()
    if comparison_default:  # the shipped default: production refuses a manifest without a comparison
        text = text[:text.index("# These tests are not about comparisons")]
    if "break_glass" in extra:
        text = text.replace("permissions:\n", "permissions:\n" + extra.strip("\n") + "\n", 1)
    else:
        text += extra
    config = tmp_path / "modelbot.yaml"
    config.write_text(text)
    settings = load_settings({**bot_env, "MODELBOT_CONFIG": str(config)})
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
    for login, role in (("alice", "write"), ("bob", "write"), ("dave", "read"), ("carol", "admin"),
                        ("frank", "maintain")):
        fake_github.set_permission(REPO, login, role)
    fake_github.add_team_member("acme", "fraud-ml", "bob")
    fake_github.add_team_member("acme", "churn-ml", "erin")
    return Harness(settings, store, queue, fake_github, live_reader=AwsLiveReader(settings.server.environments),
                   secret=SECRET)


@pytest.fixture
def bot(aws, bot_env, store, queue, fake_github, tmp_path):
    return make_bot(aws, bot_env, store, queue, fake_github, tmp_path)


def sm(bot, env="production"):
    e = bot.settings.server.environments[env]
    return client(aws_session(e, env_name=env), "sagemaker")


def exists(bot, endpoint, env="production") -> bool:
    try:
        sm(bot, env).describe_endpoint(EndpointName=endpoint)
        return True
    except ClientError:
        return False


def endpoint_tags(bot, endpoint, env="production") -> dict:
    arn = sm(bot, env).describe_endpoint(EndpointName=endpoint)["EndpointArn"]
    return {t["Key"]: t["Value"] for t in sm(bot, env).list_tags(ResourceArn=arn)["Tags"]}


def open_pr(bot, number, files, user="alice"):
    bot.github.open_pull_request(REPO, f"change-{number}", files=files, number=number, user=user)
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number))


def approve(bot, number, *users):
    for u in users:
        bot.github.add_review(REPO, number, u, "APPROVED")
    bot.deliver("pull_request_review", webhooks.pull_request_review(
        "submitted", reviewer=users[-1], **webhooks.pr_args(bot.github, REPO, number)))


def merge(bot, number, redeliver=False):
    sha = bot.github.merge_pull_request(REPO, number)
    payload = webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(bot.github, REPO, number))
    assert bot.deliver("pull_request", payload) == "done"
    drive(bot)
    if redeliver:  # GitHub delivers the merge again (a new delivery id): nothing new happens
        assert bot.deliver("pull_request", payload) == "done"
        drive(bot)
    return sha


def ship(bot, number, files, *approvers):
    """A pull request that passes the gate: opened, approved, merged and deployed."""
    open_pr(bot, number, files)
    approve(bot, number, *(approvers or ("bob",)))
    sha = merge(bot, number)
    rows = [r for r in bot.store.deployments(repository=REPO) if r.pr_number == number]
    assert rows and all(r.status == "succeeded" for r in rows), [(r.environment, r.status, r.reason) for r in rows]
    return sha


def comment(bot, number, body, user) -> str:
    """A slash command in a PR comment, delivered; the bot's reply to it."""
    c = bot.github.add_comment(REPO, number, body, user=user)
    bot.deliver("issue_comment", webhooks.issue_comment(
        "created", body=body, commenter=user, comment_id=c.id, repo=REPO, number=number,
        installation_id=bot.github.repo(REPO).installation_id))
    return next(x.body for x in bot.github.comments_on(REPO, number) if f"modelbot:reply:{c.id}" in x.body)


def rows_of(bot, number):
    return {r.environment: r for r in bot.store.deployments(repository=REPO) if r.pr_number == number}


def refusals(bot, number) -> list[str]:
    return [c.body for c in bot.github.comments_on(REPO, number) if "<!-- modelbot:refused:" in c.body]


def latest(bot, name, sha=None):
    runs = bot.github.check_runs_for(REPO, head_sha=sha, name=name)
    return runs[-1] if runs else None


def assert_refused(bot, number, env, *fragments):
    row = rows_of(bot, number)[env]
    assert row.status == "refused", (row.status, row.reason)
    for f in fragments:
        assert f in row.reason, (f, row.reason)
    gate = json.loads(row.provenance)["gate"]
    assert gate["verdict"] == "refuse" and gate["reasons"]
    assert bot.store.lock(f"{env}:{row.endpoint}") is None  # no lock taken or kept
    [dep] = [d for d in bot.github.repo(REPO).deployments if d.payload.get("modelbot_deployment") == row.id]
    assert dep.statuses[-1].state == "failure" and "refused" in dep.statuses[-1].description
    return row


# --- approvals, freezes, comparisons ------------------------------------------------------------------


def test_a_merge_with_too_few_approvals_is_refused_once_and_writes_nothing(bot):
    open_pr(bot, 21, {PATH: manifest(approvals=2)})  # production needs 2; bob, a default owner, gives 1
    approve(bot, 21, "bob")
    assert latest(bot, "modelbot/approval").conclusion == "failure"
    merge(bot, 21, redeliver=True)  # branch protection did not stop the merge: the bot does
    rows = rows_of(bot, 21)
    assert rows["staging"].status == "succeeded"  # staging asks for no approval
    assert_refused(bot, 21, "production", "1 more approval")
    assert not exists(bot, "fraud-detector")
    assert len(bot.store.deployments(repository=REPO)) == 2  # the redelivery recorded nothing more
    [reply] = refusals(bot, 21)
    assert "Not deployed" in reply and "1 more approval" in reply
    check = latest(bot, "modelbot/deploy")
    assert check.conclusion == "failure" and "Refused" in check.title
    assert not bot.github.violations


def test_a_merge_during_a_freeze_is_refused_and_an_override_lifts_it_on_the_record(
        aws, bot_env, store, queue, fake_github, tmp_path):
    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path, FREEZE + "permissions:\n" + BREAK_GLASS)
    open_pr(bot, 22, {PATH: manifest()})
    approve(bot, 22, "bob")
    report = [c.body for c in bot.github.comments_on(REPO, 22) if "Deploy gate" in c.body][0]
    assert "frozen until" in report and "an override may lift this" in report  # the check shows it
    merge(bot, 22)
    assert_refused(bot, 22, "production", "frozen until 2100-01-01")
    assert not exists(bot, "fraud-detector")

    def command(body, user):
        return comment(bot, 22, body, user)

    # frank may deploy to production, but not break glass: nothing is recorded
    assert "permissions.break_glass" in command('/deploy production --override "incident 4711 hotfix"', "frank")
    assert len(bot.store.deployments(repository=REPO)) == 2
    text = command('/deploy production --override "incident 4711 hotfix"', "carol")
    assert "break-glass override" in text, text
    drive(bot)
    row = [r for r in bot.store.deployments(repository=REPO) if r.trigger == "redeploy"][0]
    assert row.status == "succeeded", row.reason
    prov = json.loads(row.provenance)
    assert prov["override"]["by"] == "carol" and prov["override"]["reason"] == "incident 4711 hotfix"
    assert prov["gate"]["verdict"] == "allow" and any("frozen" in r for r in prov["gate"]["lifted"])
    tags = endpoint_tags(bot, "fraud-detector")
    assert tags["modelbot:override"].startswith("carol ") and "incident 4711 hotfix" in tags["modelbot:override"]
    [dep] = [d for d in bot.github.repo(REPO).deployments if d.payload.get("modelbot_deployment") == row.id]
    assert dep.payload["override"]["by"] == "carol" and "override" in dep.description
    report = [c.body for c in bot.github.comments_on(REPO, 22) if "#### Deployment" in c.body][0]
    assert "override by `carol`" in report


def test_production_refuses_a_manifest_without_a_comparison_by_default(
        aws, bot_env, store, queue, fake_github, tmp_path):
    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path, comparison_default=True)
    open_pr(bot, 23, {PATH: manifest()})
    approve(bot, 23, "bob")
    merge(bot, 23)
    assert rows_of(bot, 23)["staging"].status == "succeeded"  # staging allows it by default
    assert_refused(bot, 23, "production", "comparison not configured", "gate.comparison.production.not_configured")
    assert not exists(bot, "fraud-detector")


def test_deploy_command_without_approvals_is_refused_at_the_command_and_at_the_point_of_action(bot):
    from bot.app.services.deployments import record_deployments
    from bot.adapters.github.pulls import get_pull

    open_pr(bot, 24, {PATH: manifest().replace("approvals: 0", "approvals: 1")})
    assert "not approved yet" in comment(bot, 24, "/deploy staging", "alice")
    assert bot.store.deployments(repository=REPO) == []
    # An attacker who gets past the command (or a bug in it) still meets the gate when it acts.
    from bot.app.worker import Context

    ctx = Context(bot.settings, bot.store, bot.github.repo(REPO).installation_id, bot.app, bot.runtime)
    pr = get_pull(ctx.github.requester, REPO, 24)
    [pk] = record_deployments(ctx, REPO, pr, pr["head"]["sha"], "command", "alice", environments=["staging"])
    drive(bot)
    assert_refused(bot, 24, "staging", "1 more approval")
    assert not exists(bot, "fraud-detector-staging", "staging")


# --- endpoint ownership -------------------------------------------------------------------------------


def test_a_new_manifest_aimed_at_another_manifests_endpoint_is_invalid_and_refused(bot):
    ship(bot, 25, {CHURN: churn()}, "bob")
    attack = manifest().replace("endpoint_name: fraud-detector\n", "endpoint_name: churn\n")
    open_pr(bot, 26, {PATH: attack})
    validate = latest(bot, "modelbot/validate")
    assert validate.conclusion == "failure"
    assert any("belongs to models/churn/modelbot.yaml" in a["message"] for a in validate.annotations)
    approve(bot, 26, "bob")
    merge(bot, 26)
    assert_refused(bot, 26, "production", "belongs to models/churn/modelbot.yaml")
    assert endpoint_tags(bot, "churn")["modelbot:manifest"] == CHURN  # churn's model is untouched
    assert bot.store.endpoint_owner("production", "churn").manifest_path == CHURN


def test_an_edited_endpoint_name_cannot_take_over_unless_the_owners_approve_a_move(bot):
    ship(bot, 27, {CHURN: churn()}, "bob")
    ship(bot, 28, {PATH: manifest()}, "bob")
    edited = manifest().replace("endpoint_name: fraud-detector\n", "endpoint_name: churn\n")
    open_pr(bot, 29, {PATH: edited})
    approve(bot, 29, "bob")  # fraud's owner (team acme/fraud-ml) approves; churn's owners were never asked
    merge(bot, 29)
    assert_refused(bot, 29, "production", "belongs to models/churn/modelbot.yaml")
    assert endpoint_tags(bot, "churn")["modelbot:manifest"] == CHURN

    moved = edited.replace("  production:\n    mode: realtime\n",
                           f"  production:\n    mode: realtime\n    move_endpoint_from: {CHURN}\n")
    open_pr(bot, 30, {PATH: moved})
    approve(bot, 30, "bob")
    approval = latest(bot, "modelbot/approval")
    assert approval.conclusion == "failure" and CHURN in approval.summary  # churn's owners must agree
    approve(bot, 30, "erin")  # an owner of churn's manifest at base
    assert latest(bot, "modelbot/approval").conclusion == "success"
    merge(bot, 30)
    assert rows_of(bot, 30)["production"].status == "succeeded"
    owner = bot.store.endpoint_owner("production", "churn")
    assert (owner.manifest_path, owner.how) == (PATH, "moved")
    assert endpoint_tags(bot, "churn")["modelbot:manifest"] == PATH


def test_an_endpoint_modelbot_did_not_create_is_never_taken_over_implicitly(bot):
    s = sm(bot)
    s.create_model(ModelName="hand-made", ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker-execution",
                   PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    s.create_endpoint_config(EndpointConfigName="hand-made", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "hand-made", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    s.create_endpoint(EndpointName="fraud-detector", EndpointConfigName="hand-made")
    open_pr(bot, 31, {PATH: manifest()})
    approve(bot, 31, "bob")
    merge(bot, 31)
    assert_refused(bot, 31, "production", "modelbot did not create it")
    assert sm(bot).describe_endpoint(EndpointName="fraud-detector")["EndpointConfigName"] == "hand-made"

    adopted = manifest().replace("  production:\n    mode: realtime\n",
                                 "  production:\n    mode: realtime\n    adopt_endpoint: true\n")
    ship(bot, 32, {PATH: adopted}, "bob")
    assert bot.store.endpoint_owner("production", "fraud-detector").how == "adopted"


# --- teardown, CODEOWNERS, invalid manifests, the happy path -------------------------------------------


def test_a_teardown_approved_only_by_a_non_owner_deletes_nothing(bot):
    ship(bot, 33, {PATH: manifest()}, "bob")
    open_pr(bot, 34, {PATH: None})
    approve(bot, 34, "dave")  # read-only, owns nothing
    assert latest(bot, "modelbot/approval").conclusion == "failure"
    merge(bot, 34)
    assert_refused(bot, 34, "staging", "more approval")
    assert rows_of(bot, 34)["production"].status == "superseded"  # not started after staging's refusal
    assert exists(bot, "fraud-detector-staging", "staging") and exists(bot, "fraud-detector")
    assert bot.store.endpoint_owner("production", "fraud-detector").manifest_path == PATH


def test_a_codeowners_only_change_needs_the_current_owners(bot):
    bot.github.commit(REPO, "main", {".github/CODEOWNERS": "models/ @acme/fraud-ml\n"})
    open_pr(bot, 35, {".github/CODEOWNERS": "models/ @dave\n"}, user="dave")
    check = latest(bot, "modelbot/approval")
    assert check.conclusion == "failure" and "CODEOWNERS" in check.title
    approve(bot, 35, "dave")  # the author, and the owner the change would make: neither counts
    assert latest(bot, "modelbot/approval").conclusion == "failure"
    approve(bot, 35, "bob")   # a current owner of models/ (team acme/fraud-ml at base)
    assert latest(bot, "modelbot/approval").conclusion == "success"


def test_an_invalid_new_manifest_never_passes_the_approval_check(bot):
    open_pr(bot, 36, {PATH: "apiVersion: modelbot/v1\nkind: ModelDeployment\nmetadata: {name: x}\n"})
    approve(bot, 36, "bob")
    check = latest(bot, "modelbot/approval")
    assert check.conclusion == "failure" and "does not load" in check.title
    assert latest(bot, "modelbot/validate").conclusion == "failure"
    merge(bot, 36, redeliver=True)
    assert bot.store.deployments(repository=REPO) == []  # nothing deployable was recorded
    [reply] = [c.body for c in bot.github.comments_on(REPO, 36) if "undeployable" in c.body]
    assert "does not load" in reply
    assert latest(bot, "modelbot/deploy").conclusion == "failure"


def test_the_happy_path_deploys_once_and_records_only_the_approvals_that_counted(bot):
    open_pr(bot, 37, {PATH: manifest()})
    approve(bot, 37, "alice", "dave", "bob")  # the author's and a non-owner's do not count
    merge(bot, 37, redeliver=True)
    rows = rows_of(bot, 37)
    assert [r.status for r in rows.values()] == ["succeeded", "succeeded"]
    assert len(bot.store.deployments(repository=REPO)) == 2
    prov = json.loads(rows["production"].provenance)
    assert prov["approvers"] == ["bob"]
    assert prov["gate"]["approvals"] == [{"user": "bob", "paths": [PATH],
                                         "rule": "default owner (permissions.default_owners)"}]
    assert endpoint_tags(bot, "fraud-detector")["modelbot:approvers"] == "bob"
    assert bot.store.endpoint_owner("production", "fraud-detector").manifest_path == PATH
    assert refusals(bot, 37) == []
    assert not bot.github.violations


def test_production_refuses_a_failed_comparison_and_deploys_a_passing_one(
        aws, bot_env, store, queue, fake_github, tmp_path):
    from tests.compare_e2e import helpers as h
    from tests.compare_e2e.test_pull_requests import files as compared

    # The shipped comparison policy, except that staging takes a failed comparison (to reach production).
    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path, comparison_default=True,
                   extra="gate:\n  comparison:\n    environments:\n      staging: {fail: allow}\n")
    owned = h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE).replace("owners: [alice]", "owners: [bob]")
    open_pr(bot, 40, compared(same=False, cand_skill=0.05, base_skill=0.35, manifest=owned))  # below the AUC floor
    approve(bot, 40, "bob")
    assert latest(bot, "modelbot/compare").conclusion == "failure"
    merge(bot, 40)
    assert rows_of(bot, 40)["staging"].status == "succeeded"
    row = assert_refused(bot, 40, "production", "comparison fail", "gate.comparison.production.fail")
    assert json.loads(row.provenance)["gate"]["comparison"]["key"]  # exactly which comparison refused it
    assert not exists(bot, "churn-production")

    better = owned.replace("churn/v2/model", "churn/v3/model")
    ship(bot, 41, compared(same=False, cand_skill=0.35, base_skill=0.35, manifest=better), "bob")
    prod = rows_of(bot, 41)["production"]
    assert json.loads(prod.provenance)["gate"]["comparison"]["verdict"] == "pass"
    assert exists(bot, "churn-production")


def test_a_promotion_is_judged_when_it_acts_and_a_hold_refuses_it(bot):
    from tests.aws.test_merge_to_deploy import ROOT

    ab = (ROOT / "examples" / "realtime-ab.yaml").read_text().replace("approvals: 2", "approvals: 1")
    path = "models/search/modelbot.yaml"
    ship(bot, 42, {path: ab}, "bob")  # the first deploy creates the endpoint
    # The A/B test's alarm must exist: one that does not would roll the test back at once.
    client(aws_session(bot.settings.server.environments["production"], env_name="production"),
           "cloudwatch").put_metric_alarm(
        AlarmName="search-ranker-latency", MetricName="ModelLatency", Namespace="AWS/SageMaker",
        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=1e6,
        ComparisonOperator="GreaterThanThreshold")
    open_pr(bot, 43, {path: ab.replace("v3/model", "v4/model")})
    approve(bot, 43, "carol")  # an owner at base
    sha = bot.github.merge_pull_request(REPO, 43)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha,
                                                             **webhooks.pr_args(bot.github, REPO, 43)))
    row = rows_of(bot, 43)["production"]
    for _ in range(6):  # into the A/B experiment: it waits for /promote
        bot.runtime.rollouts.tick(row.id)
    assert bot.store.deployment(row.id).status == "running"

    def command(body):
        return comment(bot, 43, body, "carol")

    def live_config():
        return sm(bot).describe_endpoint(EndpointName="search-ranker-production")["EndpointConfigName"]

    command("/hold")
    before = live_config()
    command("/promote production")
    bot.runtime.rollouts.tick(row.id)
    after = bot.store.deployment(row.id)
    assert after.status == "running" and after.requested is None
    assert "promotion refused by the deploy gate" in after.reason and "on hold" in after.reason
    assert live_config() == before  # nothing promoted
    [reply] = refusals(bot, 43)
    assert "Promotion refused" in reply

    command("/unhold")
    command("/promote production")
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) == "succeeded":
            break
    done = bot.store.deployment(row.id)
    assert done.status == "succeeded"
    assert live_config().endswith("-promoted")
    asked = json.loads(done.provenance)["requests"]  # the ledger keeps who asked, and when
    assert [(r["what"], r["by"]) for r in asked] == [("promote", "carol"), ("promote", "carol")]


def test_a_hold_is_lifted_only_by_its_holder_or_a_maintainer(bot):
    open_pr(bot, 44, {PATH: manifest()})
    comment(bot, 44, "/hold", "bob")
    assert "only they" in comment(bot, 44, "/unhold", "alice")  # the author cannot lift a reviewer's hold
    assert bot.store.hold(REPO, 44) is not None
    assert latest(bot, "modelbot/approval").conclusion == "failure"
    comment(bot, 44, "/unhold", "frank")  # a maintainer may
    assert bot.store.hold(REPO, 44) is None
