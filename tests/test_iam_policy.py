"""The deployer role's IAM policy (config/iam/) grants exactly what the bot calls, and no more.

Every boto3 operation called anywhere under bot/ is found by scanning the sources for the
operation names of the services the bot uses (botocore's own service models give the names,
so a new call cannot slip past a hand-kept list), mapped to its IAM action, and evaluated
against the policy with the resource ARN and request context the bot really produces (tags
from `bot.deploy.build_requests` on an example manifest). The policy may hold nothing else but
the few actions AWS needs besides the call itself (each listed with its reason below). No
wildcard actions, PassRole only with `iam:PassedToService`, creates only with modelbot's tags,
changes only to resources tagged for the role's environment, and a trust policy that lets only
the bot's principal in, with an ExternalId.

The evaluator here implements the subset of IAM's policy language the files use (Allow, exact
actions, ARN patterns with `*`/`?`, StringEquals/StringLike/StringNotEquals, their
ForAllValues forms, Null). With policy_sentry installed, every action and condition key is also
checked against AWS's published IAM definitions.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
POLICY_PATH = ROOT / "config" / "iam" / "modelbot-deployer-policy.json"
TRUST_PATH = ROOT / "config" / "iam" / "modelbot-deployer-trust-policy.json"
README_PATH = ROOT / "config" / "iam" / "README.md"

ACCOUNT, REGION, ENV = "123456789012", "us-east-1", "production"
EXECUTION_ROLE = "modelbot-sagemaker-execution"
VALUES = {"<ACCOUNT_ID>": ACCOUNT, "<REGION>": REGION, "<ENVIRONMENT>": ENV,
          "<EXECUTION_ROLE_NAME>": EXECUTION_ROLE, "<VALIDATION_DATA_BUCKET>": "acme-datasets",
          "<COMPARE_WORK_BUCKET>": "acme-modelbot", "<COMPARE_WORK_PREFIX>": "compare",
          "<BOT_ACCOUNT_ID>": "210987654321", "<BOT_RUNTIME_ROLE_NAME>": "modelbot-runtime",
          "<EXTERNAL_ID>": "4f1c2a9e-modelbot", "<MODEL_ARTIFACTS_BUCKET>": "acme-models",
          "<MULTI_MODEL_BUCKET>": "acme-models", "<MULTI_MODEL_PREFIX>": "store-forecast/models/"}

# Services whose clients the bot creates (bot.aws.session.client / Clients.from_session).
SERVICES = ("sagemaker", "sagemaker-runtime", "application-autoscaling", "cloudwatch", "s3", "sts")
IAM_PREFIX = {"sagemaker-runtime": "sagemaker"}
# Attribute names that are boto3 operation names but not AWS calls in bot/.
NOT_AWS_CALLS = {"search": "re.search (sagemaker:Search is never called)"}
# How an operation maps to IAM actions when not one to one.
ACTIONS_OF = {
    "s3:HeadObject": ("s3:GetObject",),  # HeadObject is authorised as GetObject
    "s3:GetObject": ("s3:GetObject", "s3:GetObjectVersion"),  # reads pass VersionId when pinned
    "s3:CopyObject": ("s3:GetObject", "s3:PutObject"),  # GetObject on the source, PutObject on the target
}
# Called by the bot's own principal to become the deployer role: granted by the trust policy.
BOT_PRINCIPAL_ACTIONS = {"sts:AssumeRole"}
# Actions the policy needs although no bot/ line calls them, and why.
DEPENDENT = {
    "iam:PassRole": "CreateModel passes ExecutionRoleArn (the role SageMaker runs the model as)",
    "cloudwatch:DeleteAlarms": "Application Auto Scaling checks that the caller of PutScalingPolicy may manage "
                               "the TargetTracking-* alarms a target-tracking policy creates",
}


# --- the policy files -----------------------------------------------------------------------------


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def rendered(path: Path) -> dict:
    text = path.read_text()
    for placeholder, value in VALUES.items():
        text = text.replace(placeholder, value)
    assert not re.search(r"<[A-Z_]+>", text), f"undocumented placeholder left in {path.name}"
    return json.loads(text)


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def policy() -> dict:
    return rendered(POLICY_PATH)


@pytest.fixture(scope="module")
def trust() -> dict:
    return rendered(TRUST_PATH)


def policy_actions(doc: dict) -> set[str]:
    return {a for s in doc["Statement"] for a in as_list(s["Action"])}


# --- a small IAM evaluator (Allow statements; the subset of operators the files use) -------------


def _like(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _cond_ok(op: str, key: str, wanted, ctx: dict) -> bool:
    wanted = [str(w) for w in as_list(wanted)]
    present = key in ctx
    if op == "Null":
        return (not present) == (wanted[0] == "true")
    if op.startswith("ForAllValues:"):
        values = as_list(ctx.get(key, []))
        base = op.split(":", 1)[1]
        return all(_cond_ok(base, key, wanted, {key: v}) for v in values)
    if op.startswith("ForAnyValue:"):
        values = as_list(ctx.get(key, []))
        base = op.split(":", 1)[1]
        return any(_cond_ok(base, key, wanted, {key: v}) for v in values)
    if not present:
        return op.startswith("StringNot")  # a negated operator matches a missing key
    values = as_list(ctx[key])
    if op == "StringEquals":
        return any(v in wanted for v in values)
    if op == "StringLike":
        return any(_like(v, w) for v in values for w in wanted)
    if op == "StringNotEquals":
        return all(v not in wanted for v in values)
    raise AssertionError(f"operator {op} is not understood by this test's evaluator")


def statement_allows(s: dict, action: str, resource: str, ctx: dict) -> bool:
    if s["Effect"] != "Allow" or action not in as_list(s["Action"]):
        return False
    if not any(_like(resource, r) for r in as_list(s["Resource"])):
        return False
    return all(_cond_ok(op, key, wanted, ctx)
               for op, block in (s.get("Condition") or {}).items() for key, wanted in block.items())


def allowed(doc: dict, action: str, resource: str, ctx: dict | None = None) -> bool:
    denied = any(s["Effect"] == "Deny" and statement_allows({**s, "Effect": "Allow"}, action, resource, ctx or {})
                 for s in doc["Statement"])
    return not denied and any(statement_allows(s, action, resource, ctx or {}) for s in doc["Statement"])


# --- what bot/ calls ------------------------------------------------------------------------------


def _operations() -> dict[str, tuple[str, str]]:
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    ops: dict[str, tuple[str, str]] = {}
    for service in SERVICES:
        for op in session.get_service_model(service).operation_names:
            ops.setdefault(xform_name(op), (service, op))
    return ops


def scan_calls() -> dict[str, list[str]]:
    """`service:Operation` -> where in bot/ an attribute of that name is used."""
    ops = _operations()
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"\.([a-z_][a-z0-9_]*)\b", text):
            name = m.group(1)
            if name not in ops or name in NOT_AWS_CALLS:
                continue
            service, op = ops[name]
            line = text.count("\n", 0, m.start()) + 1
            found.setdefault(f"{service}:{op}", []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def iam_actions(call: str) -> tuple[str, ...]:
    if call in ACTIONS_OF:
        return ACTIONS_OF[call]
    service, op = call.split(":", 1)
    return (f"{IAM_PREFIX.get(service, service)}:{op}",)


@pytest.fixture(scope="module")
def calls() -> dict[str, list[str]]:
    return scan_calls()


# --- request contexts as the bot makes them --------------------------------------------------------


def arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name}"


def tag_context(tags: list[dict]) -> dict:
    ctx = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in tags}
    ctx["aws:TagKeys"] = [t["Key"] for t in tags]
    return ctx


@pytest.fixture(scope="module")
def requests():
    """The requests of a real first deploy of the canary example to `production`."""
    from bot.deploy import DeployContext, build_requests
    from bot.manifest import load_manifest
    from bot.plan import DeploySpec, LiveState, plan

    text = (ROOT / "examples" / "realtime-canary.yaml").read_text().replace(
        "build_id: {from_pipeline: outputs/build.json, key: build_id}", "build_id: b-7")
    m = load_manifest("models/fraud/modelbot.yaml", text).manifest
    commit = "a" * 40
    spec = DeploySpec(m, ENV, commit)
    p = plan(spec, LiveState(endpoint_exists=False, endpoint_name=m.endpoint_name(ENV)), {})
    ctx = DeployContext(build_id="b-7", commit=commit, data_version="2024-06-01",
                        manifest_path="models/fraud/modelbot.yaml", bot_version="0", pr_number=11,
                        approvers=("bob",))
    return build_requests(spec, p, ctx, execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION_ROLE}")


def contexts(requests) -> dict[str, tuple[str, dict]]:
    """IAM action -> (resource ARN, request context) for one real use of it by the bot."""
    from bot.deploy.requests import SCALABLE_DIMENSION, backlog_alarm_name

    ep = requests.endpoint
    model = requests.models[0]
    config = requests.endpoint_configs[0]
    own = {"aws:ResourceTag/modelbot:environment": ENV}
    job_tags = [*model["Tags"]]
    scaling = {"application-autoscaling:service-namespace": "sagemaker",
               "application-autoscaling:scalable-dimension": SCALABLE_DIMENSION}
    target = f"arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/0123456789abcdef"
    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"
    policy_arn = (f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:scalingPolicy:1b2c:resource/sagemaker/endpoint/{ep}"
                  f"/variant/AllTraffic:policyName/modelbot-backlog-without-capacity")
    return {
        "sagemaker:DescribeEndpoint": (arn("endpoint", ep), {}),
        "sagemaker:DescribeEndpointConfig": (arn("endpoint-config", config["EndpointConfigName"]), {}),
        "sagemaker:DescribeModel": (arn("model", model["ModelName"]), {}),
        "sagemaker:DescribeTransformJob": (arn("transform-job", "fraud-production-aaaaaaa"), {}),
        "sagemaker:ListTags": (arn("endpoint", ep), {}),
        "sagemaker:DescribeModelPackage": (arn("model-package", "fraud/3"), {}),
        "sagemaker:CreateModel": (arn("model", model["ModelName"]), tag_context(model["Tags"])),
        "sagemaker:CreateEndpointConfig": (arn("endpoint-config", config["EndpointConfigName"]),
                                           tag_context(config["Tags"])),
        "sagemaker:CreateEndpoint": (arn("endpoint", ep), tag_context(requests.create_endpoint["Tags"])),
        "sagemaker:CreateTransformJob": (arn("transform-job", "mbc-0123456789abcdef01234567-c"),
                                         tag_context(job_tags)),
        "sagemaker:AddTags": (arn("endpoint", ep), tag_context(list(requests.endpoint_tags))),
        "sagemaker:DeleteTags": (arn("endpoint", ep), {**own, "aws:TagKeys": ["team", "modelbot:pr"]}),
        "sagemaker:UpdateEndpoint": (arn("endpoint", ep), own),
        "sagemaker:UpdateEndpointWeightsAndCapacities": (arn("endpoint", ep), own),
        "sagemaker:DeleteEndpoint": (arn("endpoint", ep), own),
        "sagemaker:DeleteEndpointConfig": (arn("endpoint-config", "fraud-production-0000000"), own),
        "sagemaker:DeleteModel": (arn("model", "fraud-production-0000000"), own),
        "sagemaker:StopTransformJob": (arn("transform-job", "mbc-0123456789abcdef01234567-c"), own),
        "sagemaker:InvokeEndpoint": (arn("endpoint", ep), own),
        "iam:PassRole": (f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION_ROLE}",
                         {"iam:PassedToService": "sagemaker.amazonaws.com"}),
        "application-autoscaling:RegisterScalableTarget": (target, scaling),
        "application-autoscaling:PutScalingPolicy": (target, scaling),
        "application-autoscaling:DeregisterScalableTarget": (target, scaling),
        "application-autoscaling:DeleteScalingPolicy": (target, scaling),
        "application-autoscaling:DescribeScalableTargets": ("*", {}),
        "application-autoscaling:DescribeScalingPolicies": ("*", {}),
        "cloudwatch:DescribeAlarms": (alarm + "fraud-detector-5xx", {}),
        "cloudwatch:PutMetricAlarm": (alarm + backlog_alarm_name(ep), {"cloudwatch:AlarmActions": [policy_arn]}),
        "cloudwatch:DeleteAlarms": (alarm + f"TargetTracking-endpoint/{ep}/variant/AllTraffic-AlarmHigh-1f2e", {}),
        "s3:GetObject": ("arn:aws:s3:::acme-datasets/fraud/validation-2024-05.parquet", {}),
        "s3:GetObjectVersion": ("arn:aws:s3:::acme-datasets/fraud/validation-2024-05.parquet", {}),
        "s3:PutObject": ("arn:aws:s3:::acme-modelbot/compare/inputs/9f86d0.csv", {}),
    }


# --- tests: the scan ------------------------------------------------------------------------------


def test_the_scan_finds_the_executor_and_live_reader_calls(calls):
    for call in ("sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:CreateModel",
                 "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities",
                 "sagemaker:DescribeEndpointConfig", "cloudwatch:DescribeAlarms",
                 "application-autoscaling:RegisterScalableTarget",
                 "application-autoscaling:DescribeScalingPolicies", "sts:AssumeRole"):
        assert call in calls, f"the source scan no longer finds {call}: is the scan broken?"
    assert any("bot/deploy/executor.py" in where for w in calls.values() for where in w)
    assert any("bot/aws/live.py" in where for w in calls.values() for where in w)


# --- tests: the deployer policy -------------------------------------------------------------------


def test_every_aws_call_in_bot_is_allowed_with_the_context_the_bot_sends(policy, calls, requests):
    ctx = contexts(requests)
    missing = []
    for call, where in sorted(calls.items()):
        for action in iam_actions(call):
            if action in BOT_PRINCIPAL_ACTIONS:
                continue
            assert action in ctx, f"{call} ({where[0]}) is new: add a request context for {action} to this test"
            resource, context = ctx[action]
            if not allowed(policy, action, resource, context):
                missing.append(f"{action} on {resource} (called at {', '.join(where[:3])})")
    assert not missing, "the deployer policy does not allow:\n" + "\n".join(missing)


def test_the_dependent_actions_are_allowed_too(policy, requests):
    ctx = contexts(requests)
    for action in DEPENDENT:
        resource, context = ctx[action]
        assert allowed(policy, action, resource, context), action


def test_the_policy_grants_nothing_the_bot_does_not_need(policy, calls):
    needed = {a for call in calls for a in iam_actions(call)} - BOT_PRINCIPAL_ACTIONS
    granted = policy_actions(policy)
    assert granted - needed - set(DEPENDENT) == set(), "granted but never called (remove, or add to DEPENDENT why)"
    assert needed | set(DEPENDENT) <= granted


def test_no_wildcard_actions_and_only_allow_statements(policy):
    raw = load(POLICY_PATH)
    assert raw["Version"] == "2012-10-17"
    for s in raw["Statement"]:
        assert s["Effect"] == "Allow" and s.get("Sid")
        assert "NotAction" not in s and "NotResource" not in s
        for action in as_list(s["Action"]):
            assert "*" not in action and "?" not in action, f"{s['Sid']}: wildcard action {action}"
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), action
    sids = [s["Sid"] for s in raw["Statement"]]
    assert len(sids) == len(set(sids))


def test_resources_are_scoped_to_the_account_and_region(policy):
    open_ok = {"application-autoscaling:DescribeScalableTargets",
               "application-autoscaling:DescribeScalingPolicies"}  # no resource-level permissions exist
    for s in load(POLICY_PATH)["Statement"]:
        for r in as_list(s["Resource"]):
            if r == "*":
                assert set(as_list(s["Action"])) <= open_ok, f"{s['Sid']}: Resource * for {s['Action']}"
            elif r.startswith("arn:aws:s3:::"):
                assert "<" in r.split(":::", 1)[1].split("/", 1)[0], f"{s['Sid']}: bucket must be a placeholder"
            else:
                assert "<ACCOUNT_ID>" in r, f"{s['Sid']}: {r} is not scoped to the account"


def test_pass_role_only_for_the_execution_role_and_only_to_sagemaker(policy, requests):
    raw = load(POLICY_PATH)
    passing = [s for s in raw["Statement"] if "iam:PassRole" in as_list(s["Action"])]
    assert passing
    for s in passing:
        assert as_list(s["Action"]) == ["iam:PassRole"]
        assert s["Condition"]["StringEquals"]["iam:PassedToService"] == "sagemaker.amazonaws.com"
        assert all(r.startswith("arn:aws:iam::<ACCOUNT_ID>:role/") and "*" not in r for r in as_list(s["Resource"]))
    role = f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION_ROLE}"
    assert requests.models[0]["ExecutionRoleArn"] == role
    assert not allowed(policy, "iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not allowed(policy, "iam:PassRole", role, {})
    assert not allowed(policy, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin",
                       {"iam:PassedToService": "sagemaker.amazonaws.com"})


def test_creates_must_carry_the_modelbot_tags_of_the_role_environment(policy, requests):
    resource, ctx = contexts(requests)["sagemaker:CreateEndpoint"]
    assert allowed(policy, "sagemaker:CreateEndpoint", resource, ctx)
    untagged = {k: v for k, v in ctx.items() if not k.startswith("aws:RequestTag/modelbot:")}
    assert not allowed(policy, "sagemaker:CreateEndpoint", resource, untagged)
    assert not allowed(policy, "sagemaker:CreateEndpoint", resource,
                       {**ctx, "aws:RequestTag/modelbot:environment": "staging"})
    no_commit = {k: v for k, v in ctx.items() if k != "aws:RequestTag/modelbot:commit"}
    assert not allowed(policy, "sagemaker:CreateModel", resource.replace("endpoint/", "model/"), no_commit)
    for action in ("sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint",
                   "sagemaker:CreateTransformJob"):
        statement = next(s for s in policy["Statement"] if action in s["Action"])
        assert statement["Condition"]["StringEquals"]["aws:RequestTag/modelbot:environment"] == ENV


def test_changes_only_to_resources_tagged_for_the_role_environment(policy, requests):
    ep = arn("endpoint", requests.endpoint)
    for action in ("sagemaker:UpdateEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities",
                   "sagemaker:DeleteModel", "sagemaker:DeleteEndpointConfig", "sagemaker:InvokeEndpoint",
                   "sagemaker:DeleteEndpoint"):
        assert not allowed(policy, action, ep, {}), f"{action} on an untagged resource"
        assert not allowed(policy, action, ep, {"aws:ResourceTag/modelbot:environment": "staging"})
    assert allowed(policy, "sagemaker:DeleteEndpoint", ep, {"aws:ResourceTag/modelbot:environment": ENV})
    assert not allowed(policy, "sagemaker:AddTags", ep, tag_context([{"Key": "team", "Value": "x"}]))


def test_the_environment_tag_cannot_be_removed(policy, requests):
    ep = arn("endpoint", requests.endpoint)
    own = {"aws:ResourceTag/modelbot:environment": ENV}
    assert allowed(policy, "sagemaker:DeleteTags", ep, {**own, "aws:TagKeys": ["team"]})
    assert not allowed(policy, "sagemaker:DeleteTags", ep, {**own, "aws:TagKeys": ["team", "modelbot:environment"]})


def test_the_bot_tags_every_resource_with_the_keys_the_policy_requires(requests):
    for request in (*requests.models, *requests.endpoint_configs, requests.create_endpoint):
        keys = {t["Key"]: t["Value"] for t in request["Tags"]}
        assert keys["modelbot:environment"] == ENV and keys.get("modelbot:model") and keys.get("modelbot:commit")
    assert {t["Key"]: t["Value"] for t in requests.endpoint_tags}["modelbot:environment"] == ENV


def test_scaling_alarms_can_only_trigger_scaling_policies(policy, requests):
    from bot.deploy.requests import backlog_alarm_name

    alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{backlog_alarm_name(requests.endpoint)}"
    sns = f"arn:aws:sns:{REGION}:{ACCOUNT}:pager"
    assert not allowed(policy, "cloudwatch:PutMetricAlarm", alarm, {"cloudwatch:AlarmActions": [sns]})
    assert not allowed(policy, "cloudwatch:PutMetricAlarm", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:fraud-5xx",
                       {})  # the team's rollback alarms are read, never changed
    assert not allowed(policy, "cloudwatch:DeleteAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:fraud-5xx", {})
    assert allowed(policy, "cloudwatch:DeleteAlarms", alarm, {})  # a teardown deletes the backlog alarm


def test_a_multi_model_deploy_may_copy_its_artifact_under_the_prefix_and_nowhere_else(policy):
    """CopyObject is authorised as GetObject on the source and PutObject on the target."""
    from bot.deploy import DeployContext, build_requests
    from bot.manifest import load_manifest
    from bot.plan import DeploySpec, LiveState, plan

    m = load_manifest("models/forecast/modelbot.yaml", (ROOT / "examples" / "multi-model.yaml").read_text()).manifest
    spec = DeploySpec(m, ENV, "b" * 40)
    p = plan(spec, LiveState(endpoint_exists=False, endpoint_name=m.endpoint_name(ENV)), {})
    ctx = DeployContext(build_id="b-1", commit="b" * 40, data_version="d",
                        manifest_path="models/forecast/modelbot.yaml", bot_version="0")
    copy = build_requests(spec, p, ctx, execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION_ROLE}",
                          image="x").artifact_copy
    source = "arn:aws:s3:::" + copy["Source"][len("s3://"):]
    target = f"arn:aws:s3:::{copy['Bucket']}/{copy['Key']}"
    assert allowed(policy, "s3:GetObject", source) and allowed(policy, "s3:GetObject", target)
    assert allowed(policy, "s3:PutObject", target)
    assert not allowed(policy, "s3:PutObject", "arn:aws:s3:::acme-models/store-forecast/other/m.tar.gz")
    assert not allowed(policy, "s3:PutObject", source.replace("acme-models", "elsewhere"))


# --- tests: the trust policy ----------------------------------------------------------------------


def test_only_the_bot_principal_may_assume_the_role_with_the_external_id(trust, calls):
    assert load(TRUST_PATH)["Version"] == "2012-10-17"
    [s] = trust["Statement"]
    assert s["Effect"] == "Allow" and s["Action"] == "sts:AssumeRole"
    principal = s["Principal"]["AWS"]
    assert principal != "*" and "*" not in principal and principal.startswith("arn:aws:iam::")
    cond = s["Condition"]["StringEquals"]
    assert cond["sts:ExternalId"] == VALUES["<EXTERNAL_ID>"]
    assert cond["sts:RoleSessionName"] == f"modelbot-{ENV}"
    assert "sts:AssumeRole" in calls
    from bot.aws import session

    source = Path(session.__file__).read_text()
    assert 'f"modelbot-{env_name}"' in source, "the session name the trust policy pins has changed"


# --- tests: documentation -------------------------------------------------------------------------


def test_every_placeholder_is_documented():
    readme = README_PATH.read_text()
    for path in (POLICY_PATH, TRUST_PATH):
        for placeholder in set(re.findall(r"<[A-Z_]+>", path.read_text())):
            assert placeholder in VALUES, f"{placeholder} in {path.name} has no test value"
            assert f"`{placeholder}`" in readme, f"{placeholder} is not explained in config/iam/README.md"


# --- optional: AWS's published IAM definitions ------------------------------------------------------


def test_actions_and_condition_keys_exist_in_the_iam_definitions():
    pytest.importorskip("policy_sentry")
    from policy_sentry.querying.actions import get_action_data

    for doc_path in (POLICY_PATH,):
        for s in load(doc_path)["Statement"]:
            for action in as_list(s["Action"]):
                service, name = action.split(":", 1)
                rows = get_action_data(service, name).get(service) or []
                assert rows, f"{action} is not an IAM action"
                supported = {k.split("/", 1)[0] for row in rows for k in row["condition_keys"]}
                for block in (s.get("Condition") or {}).values():
                    for key in block:
                        base = key.split("/", 1)[0]
                        assert base in supported, f"{action} does not support the condition key {key}"
