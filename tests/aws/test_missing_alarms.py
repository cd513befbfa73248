"""A rollback alarm that CloudWatch does not have is shown before the merge (the plan's problem,
the validate check, the deploy gate's table) by the same rule that makes a rollout refuse to
start on it (bot.core.plan.missing_alarms; bot.core.deploy.rollout at the point of action)."""

from __future__ import annotations

from bot.adapters.aws.live import AwsLiveReader
from bot.adapters.aws.session import client
from bot.adapters.aws.session import aws_session
from bot.core.config import load_settings
from bot.core.manifest import load_manifest
from bot.core.plan import DeploySpec, LiveState, missing_alarms, plan
from bot.core.report import part_of
from tests.aws.test_merge_to_deploy import CONFIG, PATH, REPO, manifest
from tests.conftest import SECRET
from tests.support.harness import Harness


def live_production(bot) -> str:
    """fraud-detector deployed by the bot from an earlier merge (PR #4); its production config."""
    from tests.aws.test_merge_to_deploy import drive, merge

    bot.github.set_permission(REPO, "alice", "write")
    _, payload = merge(bot, {PATH: manifest()}, 4)
    assert bot.deliver("pull_request", payload) == "done"
    drive(bot)
    sm = client(aws_session(bot.settings.server.environments["production"], env_name="production"), "sagemaker")
    return sm.describe_endpoint(EndpointName="fraud-detector")["EndpointConfigName"]


def test_missing_alarms_is_one_rule():
    assert missing_alarms(["a", "b", "a"], frozenset({"b"})) == ["a"]
    assert missing_alarms(["a"], None) == []  # not read: nothing to say
    assert missing_alarms([], frozenset()) == []


def test_the_plan_names_the_alarm_and_its_line():
    text = manifest().replace("alarms: [fraud-detector-5xx, fraud-detector-latency-p99]",
                              "alarms: [fraud-detector-5xx, fraud-detector-typo]")
    m = load_manifest(PATH, text).manifest
    spec = DeploySpec(m, "production", "1" * 40)
    live = LiveState(endpoint_exists=True, endpoint_name="fraud-detector", endpoint_status="InService",
                     existing_alarms=frozenset({"fraud-detector-5xx"}))
    [problem] = [p for p in plan(spec, live, {}).problems if p.rule == "aws.alarm-exists"]
    assert problem.is_error and problem.value == "fraud-detector-typo"
    assert "a deploy is refused until it exists" in problem.message
    assert problem.field == "environments.production.alarms.1"
    assert problem.line == text.splitlines().index(
        next(ln for ln in text.splitlines() if "fraud-detector-typo" in ln)) + 1
    assert "does not exist in CloudWatch for production" in problem.message
    # Read and all there, or not read at all: no problem.
    ok = LiveState(endpoint_exists=True, endpoint_name="fraud-detector", endpoint_status="InService",
                   existing_alarms=frozenset({"fraud-detector-5xx", "fraud-detector-typo"}))
    assert not [p for p in plan(spec, ok, {}).problems if p.rule == "aws.alarm-exists"]
    assert not [p for p in plan(spec, LiveState(), {}).problems if p.rule == "aws.alarm-exists"]
    # A first deploy creates the endpoint without guardrails: a warning, the next update is refused.
    new = LiveState(endpoint_exists=False, endpoint_name="fraud-detector",
                    existing_alarms=frozenset({"fraud-detector-5xx"}))
    [warning] = [p for p in plan(spec, new, {}).problems if p.rule == "aws.alarm-exists"]
    assert not warning.is_error and "no update will start until it exists" in warning.message


def test_the_live_reader_asks_cloudwatch_once_for_the_alarms(aws, bot_env):
    settings = load_settings({**bot_env, "MODELBOT_CONFIG": str(CONFIG)})
    reader = AwsLiveReader(settings.server.environments)
    cw = client(aws_session(settings.server.environments["production"], env_name="production"), "cloudwatch")
    cw.put_composite_alarm(AlarmName="fraud-composite", AlarmRule='ALARM("fraud-detector-5xx")')
    live = reader("production", "fraud-detector", alarms=("fraud-detector-5xx", "fraud-composite", "nope"))
    assert live.existing_alarms == frozenset({"fraud-detector-5xx", "fraud-composite"})
    assert reader("production", "fraud-detector").existing_alarms is None  # not asked: not read


def test_a_pr_naming_a_missing_alarm_fails_validation_and_the_gate_says_why(aws, bot_env, store, queue,
                                                                             fake_github):
    settings = load_settings({**bot_env, "MODELBOT_CONFIG": str(CONFIG)})
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
    bot = Harness(settings, store, queue, fake_github, live_reader=AwsLiveReader(settings.server.environments),
                  secret=SECRET)
    live_production(bot)
    text = manifest().replace("alarms: [fraud-detector-5xx, fraud-detector-latency-p99]",
                              "alarms: [fraud-detector-5xx, fraud-detector-errors-typo]") \
        .replace("2024-06-01/model.tar.gz", "2024-07-01/model.tar.gz")
    fake_github.open_pull_request(REPO, "feature", files={PATH: text}, number=5, user="alice")
    assert bot.deliver("pull_request", bot.pr_event("opened", REPO, 5)) == "done"
    report = "\n".join(c.body for c in fake_github.comments_on(REPO, 5) if part_of(c.body))
    assert "alarm fraud-detector-errors-typo does not exist in CloudWatch for production" in report
    assert "fraud-detector-5xx does not exist" not in report
    run = fake_github.check_runs_for(REPO, head_sha=fake_github.head_sha(REPO, fake_github.pull(REPO, 5)),
                                     name="modelbot/validate")[-1]
    assert run.conclusion == "failure"
    assert any("fraud-detector-errors-typo" in a["message"] for a in run.annotations)
    gate = report[report.index("Deploy gate"):]
    assert "fraud-detector-errors-typo" in gate and "would be refused" in gate
    assert not fake_github.violations


def test_a_pr_whose_alarms_exist_has_no_such_problem(aws, bot_env, store, queue, fake_github):
    settings = load_settings({**bot_env, "MODELBOT_CONFIG": str(CONFIG)})
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
    fake_github.open_pull_request(REPO, "feature", files={PATH: manifest()}, number=6, user="alice")
    bot = Harness(settings, store, queue, fake_github, live_reader=AwsLiveReader(settings.server.environments),
                  secret=SECRET)
    assert bot.deliver("pull_request", bot.pr_event("opened", REPO, 6)) == "done"
    report = "\n".join(c.body for c in fake_github.comments_on(REPO, 6) if part_of(c.body))
    assert "does not exist in CloudWatch" not in report
    [run] = [r for r in fake_github.check_runs_for(REPO, name="modelbot/validate")]
    assert run.conclusion == "success"


def test_merged_anyway_the_gate_refuses_production_before_any_write(aws, bot_env, store, queue, fake_github):
    from tests.aws.test_merge_to_deploy import drive, merge

    settings = load_settings({**bot_env, "MODELBOT_CONFIG": str(CONFIG)})
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
    bot = Harness(settings, store, queue, fake_github, live_reader=AwsLiveReader(settings.server.environments),
                  secret=SECRET)
    before = live_production(bot)
    text = manifest().replace("alarms: [fraud-detector-5xx, fraud-detector-latency-p99]",
                              "alarms: [fraud-detector-errors-typo]") \
        .replace("2024-06-01/model.tar.gz", "2024-07-01/model.tar.gz")
    _, payload = merge(bot, {PATH: text}, 7)
    assert bot.deliver("pull_request", payload) == "done"
    drive(bot)
    rows = {r.environment: r for r in store.deployments(repository=REPO) if r.pr_number == 7}
    assert rows["staging"].status == "succeeded"  # staging names no alarm
    assert rows["production"].status == "refused"
    assert "fraud-detector-errors-typo does not exist in CloudWatch" in rows["production"].reason
    sm = client(aws_session(settings.server.environments["production"], env_name="production"), "sagemaker")
    assert sm.describe_endpoint(EndpointName="fraud-detector")["EndpointConfigName"] == before  # untouched


def test_a_first_deploy_with_a_missing_alarm_is_warned_not_refused(aws, bot_env, store, queue, fake_github):
    settings = load_settings({**bot_env, "MODELBOT_CONFIG": str(CONFIG)})
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
    text = manifest().replace("alarms: [fraud-detector-5xx, fraud-detector-latency-p99]",
                              "alarms: [fraud-detector-errors-typo]")
    fake_github.open_pull_request(REPO, "feature", files={PATH: text}, number=8, user="alice")
    bot = Harness(settings, store, queue, fake_github, live_reader=AwsLiveReader(settings.server.environments),
                  secret=SECRET)
    assert bot.deliver("pull_request", bot.pr_event("opened", REPO, 8)) == "done"
    report = "\n".join(c.body for c in fake_github.comments_on(REPO, 8) if part_of(c.body))
    assert "no update will start until it exists" in report
    [run] = fake_github.check_runs_for(REPO, name="modelbot/validate")
    assert run.conclusion == "success"


def test_an_update_that_moves_no_traffic_is_not_held_to_the_alarms():
    """Tags or autoscaling only: the rollout runs it in place and watches no alarm, so a missing
    alarm is no problem of that plan (the same `rolls_out` rule the rollout uses)."""
    import datetime as dt

    from bot.core.deploy.rollout import new_rollout
    from bot.core.plan import LiveVariant, model_digest, rolls_out

    m = load_manifest(PATH, manifest()).manifest
    spec = DeploySpec(m, "production", "1" * 40)
    first = plan(spec, LiveState(endpoint_name="fraud-detector"), {})
    v = first.variants[0]
    # Live: the same config and model, one of the manifest's tags changed by someone.
    live = LiveState(endpoint_exists=True, endpoint_name="fraud-detector", endpoint_status="InService",
                     endpoint_config_name="cfg-old", config_digest=first.config_digest,
                     variants=(LiveVariant(v.name, v.model_name, v.instance_type, v.instance_count, 1.0,
                                           model_digest=model_digest(m, "production")),),
                     tags={"team": "someone-else-changed"}, bot_applied_tag_keys=frozenset({"team"}),
                     existing_alarms=frozenset())
    p = plan(spec, live, {})
    assert p.kind == "update" and not rolls_out(p.actions)
    assert not [x for x in p.problems if x.rule == "aws.alarm-exists"] and not p.blocked
    assert new_rollout("1", spec, p, live, dt.datetime.now(dt.timezone.utc)).flow == "in_place"
    # The same live endpoint on another model: a guarded update, held to its alarms.
    moved = plan(spec, LiveState(**{**live.__dict__, "variants": (LiveVariant(
        v.name, "other-model", v.instance_type, v.instance_count, 1.0, model_digest="0" * 16),),
        "config_digest": "other"}), {})
    assert rolls_out(moved.actions)
    assert [x.severity for x in moved.problems if x.rule == "aws.alarm-exists"] == ["error", "error"]
