"""The execution role example (config/iam/modelbot-sagemaker-execution-*.json): what SageMaker
needs to run the bot's models, checked against AWS's IAM definitions, and nothing that deploys.

SageMaker's deployment guardrails read the rollback alarms with this role ("Ensure that your IAM
execution role has permission to perform the cloudwatch:DescribeAlarms action on the
auto-rollback alarms you specify", SageMaker Developer Guide, deployment-guardrails-configuration);
the deployer role's own DescribeAlarms does not stand in for it.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.test_iam_evaluator import allowed, as_list
from tests.test_iam_policy import (ACCOUNT, POLICY_PATH, REGION, condition_keys, privilege, rendered,
                                   resource_types, type_of)

EXEC_POLICY = POLICY_PATH.parent / "modelbot-sagemaker-execution-policy.json"
EXEC_TRUST = POLICY_PATH.parent / "modelbot-sagemaker-execution-trust-policy.json"


@pytest.fixture(scope="module")
def execution() -> dict:
    return rendered(EXEC_POLICY)


def test_sagemaker_may_read_the_rollback_alarms(execution):
    assert allowed(execution, "cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:fraud-5xx")


def test_it_reads_model_artifacts_pulls_images_and_writes_logs(execution):
    assert allowed(execution, "s3:GetObject", "arn:aws:s3:::acme-models/fraud/model.tar.gz")
    assert allowed(execution, "ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/fraud")
    assert allowed(execution, "ecr:GetAuthorizationToken", "*")
    stream = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/fraud-detector:log-stream:AllTraffic/i-1"
    assert allowed(execution, "logs:PutLogEvents", stream)
    component = (f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/InferenceComponents/"
                 "summarizer-production-ic:log-stream:AllTraffic/i-1")  # mode inference_component
    assert allowed(execution, "logs:PutLogEvents", component)
    assert not allowed(execution, "logs:PutLogEvents",
                       f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/x:log-stream:y")
    assert not allowed(execution, "s3:PutObject", "arn:aws:s3:::acme-models/fraud/model.tar.gz")


def test_the_execution_role_cannot_deploy_or_escalate(execution):
    actions = {a for s in execution["Statement"] for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith(("sagemaker:", "iam:", "application-autoscaling:", "sts:"))}
    assert not {a for a in actions if a.startswith("cloudwatch:") and a != "cloudwatch:DescribeAlarms"}
    assert all(s["Effect"] == "Allow" and "*" not in "".join(as_list(s["Action"])) for s in execution["Statement"])


def test_actions_resources_and_keys_are_in_the_iam_definitions(execution):
    for s in execution["Statement"]:
        actions, resources = as_list(s["Action"]), as_list(s["Resource"])
        for a in actions:
            privilege(a)
        if resources == ["*"]:
            assert all(not resource_types(a) for a in actions), s["Sid"]
            continue
        samples = [r.replace("*", "x1") for r in resources]
        assert all(any(type_of(a, x) for a in actions) for x in samples), s["Sid"]
        assert all(any(type_of(a, x) for x in samples) for a in actions), s["Sid"]
        for block in (s.get("Condition") or {}).values():
            for key in block:
                assert all(key.lower() in condition_keys(a) for a in actions), (s["Sid"], key)


def test_only_sagemaker_of_the_account_assumes_it():
    [s] = rendered(EXEC_TRUST)["Statement"]
    assert s["Principal"] == {"Service": "sagemaker.amazonaws.com"} and s["Action"] == "sts:AssumeRole"
    assert s["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    assert json.loads(EXEC_TRUST.read_text())["Version"] == "2012-10-17"
    assert re.search(r"<ACCOUNT_ID>", EXEC_TRUST.read_text())
