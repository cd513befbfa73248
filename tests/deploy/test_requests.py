"""The boto3 requests of a deploy, for every mode and strategy of docs/manifest-reference.md,
checked against botocore's service models (the shapes AWS accepts). No AWS."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.validate import ParamValidator

from bot.core.deploy.requests import (DeployRequests, build_requests, data_capture_config,
                                 deployment_config, transform_job_request, weights_request)
from bot.core.deploy.tags import TagError
from bot.core.manifest import Manifest
from bot.core.plan import DeploySpec, LiveState, config_digest, live_after, plan
from tests.deploy.helpers import COMMIT1, COMMIT2, PRICES, ROLE, context, example

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
_session = botocore.session.get_session()


def valid(service: str, operation: str, request: dict) -> dict:
    """`request` if botocore's model of `operation` accepts it (else the test fails)."""
    model = _session.get_service_model(service).operation_model(operation)
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()
    return request


def first(name: str, env: str = "production", image: str | None = IMAGE):
    spec = DeploySpec(example(name), env, COMMIT1)
    p = plan(spec, LiveState(), PRICES)
    return spec, p, build_requests(spec, p, context(), execution_role_arn=ROLE, image=image)


def update(name: str, changes: dict[str, str], env: str = "production"):
    spec1 = DeploySpec(example(name), env, COMMIT1)
    live = live_after(plan(spec1, LiveState(), PRICES), spec1)
    spec = DeploySpec(example(name, changes), env, COMMIT2)
    p = plan(spec, live, PRICES)
    return spec, p, build_requests(spec, p, context(COMMIT2), execution_role_arn=ROLE, image=IMAGE)


def check_shapes(r: DeployRequests) -> None:
    for m in r.models:
        valid("sagemaker", "CreateModel", m)
    for c in r.endpoint_configs:
        valid("sagemaker", "CreateEndpointConfig", c)
    if r.create_endpoint:
        valid("sagemaker", "CreateEndpoint", r.create_endpoint)
    if r.update_endpoint:
        valid("sagemaker", "UpdateEndpoint", r.update_endpoint)
    if r.transform_job:
        valid("sagemaker", "CreateTransformJob", r.transform_job)
    a = r.autoscaling
    if a.register:
        valid("application-autoscaling", "RegisterScalableTarget", a.register)
    for policy in (a.target_tracking, a.step_policy):
        if policy:
            valid("application-autoscaling", "PutScalingPolicy", policy)
    if a.backlog_alarm:
        valid("cloudwatch", "PutMetricAlarm", {**a.backlog_alarm, "AlarmActions": ["arn:aws:x"]})
    assert DeployRequests.from_dict(r.to_dict()) == r


def tags(request: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in request["Tags"]}


# --- first deploys: one per mode --------------------------------------------------------------------


def test_realtime_create():
    _, p, r = first("realtime-canary")
    check_shapes(r)
    (model,) = r.models
    assert model["ModelName"] == "fraud-detector-production-1111111"
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"] == {
        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud-detector:1.4.2",
        "ModelDataUrl": "s3://acme-models/fraud-detector/2024-06-01/model.tar.gz",
        "Mode": "SingleModel", "Environment": {"LOG_LEVEL": "info"}}
    assert tags(model)["modelbot:digest"] == p.variants[0].model_digest
    (config,) = r.endpoint_configs
    assert config["ProductionVariants"] == [{
        "VariantName": "AllTraffic", "ModelName": "fraud-detector-production-1111111",
        "InitialVariantWeight": 1.0, "InstanceType": "ml.m5.xlarge", "InitialInstanceCount": 4}]
    assert config["DataCaptureConfig"] == {
        "EnableCapture": True, "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://acme-capture/fraud-detector/",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    assert tags(config)["modelbot:digest"] == p.config_digest
    assert r.create_endpoint["EndpointName"] == "fraud-detector"
    assert r.create_endpoint["EndpointConfigName"] == config["EndpointConfigName"]
    assert "modelbot:digest" not in tags(r.create_endpoint)
    assert r.update_endpoint is None
    assert r.autoscaling.register == {
        "ServiceNamespace": "sagemaker", "ResourceId": "endpoint/fraud-detector/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "MinCapacity": 4, "MaxCapacity": 10,
        "Tags": {"modelbot:environment": "production"}}  # the deployer policy's condition
    assert r.autoscaling.target_tracking["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 200.0, "ScaleInCooldown": 300, "ScaleOutCooldown": 60,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}
    assert r.autoscaling.step_policy is None and r.autoscaling.backlog_alarm is None


def test_serverless_create_has_no_instances():
    _, _, r = first("serverless")
    check_shapes(r)
    (row,) = r.endpoint_configs[0]["ProductionVariants"]
    assert row == {"VariantName": "AllTraffic", "ModelName": "text-classifier-production-1111111",
                   "InitialVariantWeight": 1.0,
                   "ServerlessConfig": {"MemorySizeInMB": 4096, "MaxConcurrency": 50,
                                        "ProvisionedConcurrency": 5}}
    assert r.models[0]["PrimaryContainer"]["Image"] == IMAGE  # the resolved framework image


def test_async_create_with_scale_to_zero():
    _, _, r = first("async-scale-to-zero")
    check_shapes(r)
    assert r.endpoint_configs[0]["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": "s3://acme-inference/doc-ocr/output/",
                         "S3FailurePath": "s3://acme-inference/doc-ocr/failures/",
                         "NotificationConfig": {
                             "SuccessTopic": "arn:aws:sns:us-east-1:123456789012:doc-ocr-done",
                             "ErrorTopic": "arn:aws:sns:us-east-1:123456789012:doc-ocr-failed"}},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4}}
    a = r.autoscaling
    assert (a.register["MinCapacity"], a.register["MaxCapacity"]) == (0, 5)
    metric = a.target_tracking["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert metric == {"MetricName": "ApproximateBacklogSizePerInstance", "Namespace": "AWS/SageMaker",
                      "Dimensions": [{"Name": "EndpointName", "Value": "doc-ocr-production"}],
                      "Statistic": "Average"}
    assert a.step_policy["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]
    assert a.backlog_alarm["AlarmName"] == "doc-ocr-production-backlog-no-capacity"
    assert a.backlog_alarm["MetricName"] == "HasBacklogWithoutCapacity"


def test_multi_model_create_serves_the_prefix():
    _, _, r = first("multi-model")
    check_shapes(r)
    container = r.models[0]["PrimaryContainer"]
    assert (container["Mode"], container["ModelDataUrl"]) == ("MultiModel", "s3://acme-models/store-forecast/models/")


def test_registry_create_uses_the_model_package():
    _, _, r = first("realtime-shadow")
    check_shapes(r)
    model = r.models[0]
    assert model["Containers"] == [{"ModelPackageName":
                                    "arn:aws:sagemaker:us-east-1:123456789012:model-package/recommender/14"}]
    assert "PrimaryContainer" not in model
    assert r.model_package_arn.endswith("/recommender/14")


def test_batch_transform_keeps_inputs_beside_inferences():
    _, _, r = first("batch-transform")
    check_shapes(r)
    job = r.transform_job
    assert {k: v for k, v in job.items() if k != "Tags"} == {
        "TransformJobName": "credit-scorer-production-1111111",
        "ModelName": "credit-scorer-production-1111111",
        "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6, "MaxConcurrentTransforms": 4,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                           "S3Uri": "s3://acme-batch/credit/input/"}},
                           "ContentType": "text/csv", "SplitType": "Line", "CompressionType": "None"},
        "TransformOutput": {"S3OutputPath": "s3://acme-batch/credit/output/", "Accept": "text/csv",
                            "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.4xlarge", "InstanceCount": 2},
        "DataProcessing": {"InputFilter": "$[1:]", "OutputFilter": "$[0,-1]", "JoinSource": "Input"}}
    assert tags(job)["modelbot:build-id"] == "build-42"
    assert r.endpoint is None and r.create_endpoint is None and r.endpoint_configs == ()


# --- updates: one per strategy ----------------------------------------------------------------------


def test_canary_update():
    _, _, r = update("realtime-canary", {"2024-06-01/model": "2024-07-01/model"})
    check_shapes(r)
    assert r.create_endpoint is None
    assert r.update_endpoint == {
        "EndpointName": "fraud-detector", "EndpointConfigName": "fraud-detector-production-2222222",
        "DeploymentConfig": {
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 600,
                                                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 25}},
                "TerminationWaitInSeconds": 900, "MaximumExecutionTimeoutInSeconds": 7200},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "fraud-detector-5xx"},
                                                     {"AlarmName": "fraud-detector-latency-p99"}]}}}
    assert r.update_to("fraud-detector-production-1111111") == {
        "EndpointName": "fraud-detector", "EndpointConfigName": "fraud-detector-production-1111111"}


def test_linear_update():
    _, _, r = update("realtime-linear", {"v12/": "v13/"})
    check_shapes(r)
    policy = r.update_endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "LINEAR", "WaitIntervalInSeconds": 300,
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20}}
    assert policy["TerminationWaitInSeconds"] == 600


def test_rolling_update():
    _, _, r = update("realtime-rolling", {"2024-06/": "2024-07/"})
    check_shapes(r)
    assert r.update_endpoint["DeploymentConfig"] == {
        "RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 2},
                                "WaitIntervalInSeconds": 120, "MaximumExecutionTimeoutInSeconds": 3600,
                                "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50}},
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "ranker-5xx"}]}}


def test_blue_green_with_a_bake_is_guarded_all_at_once():
    _, _, r = update("async-scale-to-zero", {"doc-ocr:0.9.1": "doc-ocr:0.9.2"})
    check_shapes(r)
    assert r.update_endpoint["DeploymentConfig"]["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
        "TerminationWaitInSeconds": 300}


def test_plain_blue_green_is_sagemakers_default_update():
    _, _, r = update("minimal", {"churn:2.0.0": "churn:2.1.0"}, env="staging")
    check_shapes(r)
    assert r.update_endpoint == {"EndpointName": "churn-staging", "EndpointConfigName": "churn-staging-2222222"}


def test_ab_update_puts_the_candidate_beside_the_current_model():
    spec, p, r = update("realtime-ab", {"/v3/": "/v4/"})
    check_shapes(r)
    ab, promoted = r.endpoint_configs
    assert ab["ProductionVariants"] == [
        {"VariantName": "AllTraffic", "ModelName": "search-ranker-production-1111111",
         "InitialVariantWeight": 0.9, "InstanceType": "ml.c5.2xlarge", "InitialInstanceCount": 2},
        {"VariantName": "challenger", "ModelName": "search-ranker-production-2222222",
         "InitialVariantWeight": 0.1, "InstanceType": "ml.c5.2xlarge", "InitialInstanceCount": 2}]
    assert [m["ModelName"] for m in r.models] == ["search-ranker-production-2222222"]
    assert "DeploymentConfig" not in r.update_endpoint  # variant names change: no guardrails
    assert promoted["EndpointConfigName"] == r.promoted_config == "search-ranker-production-2222222-promoted"
    assert promoted["ProductionVariants"] == [
        {"VariantName": "AllTraffic", "ModelName": "search-ranker-production-2222222",
         "InitialVariantWeight": 1.0, "InstanceType": "ml.c5.2xlarge", "InitialInstanceCount": 2}]
    # The promoted config is what planning the same manifest over it would ask for.
    after = plan(DeploySpec(spec.manifest, "production", "3" * 40), _live_on_promoted(spec, p, promoted), PRICES)
    assert after.config_digest == tags(promoted)["modelbot:digest"]


def _live_on_promoted(spec, p, promoted):
    from bot.core.plan import LiveState, LiveVariant
    row = promoted["ProductionVariants"][0]
    cand = next(v for v in p.variants if v.role == "candidate")
    return LiveState(True, "search-ranker-production", "InService", promoted["EndpointConfigName"],
                     tags(promoted)["modelbot:digest"],
                     (LiveVariant(row["VariantName"], row["ModelName"], row["InstanceType"],
                                  row["InitialInstanceCount"], 1.0, model_digest=cand.model_digest),),
                     {k: v for k, v in p.tags.items()})


def test_shadow_update_adds_a_shadow_variant():
    _, _, r = update("realtime-shadow", {"recommender/14": "recommender/15"})
    check_shapes(r)
    config = r.endpoint_configs[0]
    assert [v["VariantName"] for v in config["ProductionVariants"]] == ["AllTraffic"]
    assert config["ShadowProductionVariants"] == [
        {"VariantName": "shadow", "ModelName": "recommender-production-2222222", "InitialVariantWeight": 0.3,
         "InstanceType": "ml.m5.2xlarge", "InitialInstanceCount": 2}]
    assert "DeploymentConfig" not in r.update_endpoint


def test_an_instance_type_change_deregisters_autoscaling_before_the_update():
    _, _, r = update("realtime-canary", {"instance_type: ml.m5.xlarge": "instance_type: ml.m5.2xlarge"})
    assert r.deregister_before_update == ({"ServiceNamespace": "sagemaker",
                                           "ResourceId": "endpoint/fraud-detector/variant/AllTraffic",
                                           "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"},)
    assert r.autoscaling.register is not None  # and registered again after success


def test_removing_autoscaling_deregisters_the_target():
    _, _, r = update("realtime-canary", {"    autoscaling:\n      min_capacity: 4\n      max_capacity: 10\n"
                                         "      target_invocations_per_instance: 200\n": ""})
    assert r.autoscaling.register is None
    assert [d["ResourceId"] for d in r.autoscaling.deregister] == ["endpoint/fraud-detector/variant/AllTraffic"]


def test_weights_request_sets_weights_only():
    assert valid("sagemaker", "UpdateEndpointWeightsAndCapacities",
                 weights_request("ep", {"challenger": 1, "AllTraffic": 0})) == {
        "EndpointName": "ep", "DesiredWeightsAndCapacities": [
            {"VariantName": "AllTraffic", "DesiredWeight": 0.0},
            {"VariantName": "challenger", "DesiredWeight": 1.0}]}


# --- refusals ---------------------------------------------------------------------------------------


def test_a_framework_image_must_be_resolved_first():
    with pytest.raises(ValueError, match="xgboost 1.7-1 framework image must be resolved"):
        first("realtime-linear", image=None)


@pytest.mark.parametrize("role", ["", "sagemaker-role", "arn:aws:iam::123:role/x"])
def test_the_execution_role_must_be_a_role_arn(role):
    spec = DeploySpec(example("minimal"), "staging", COMMIT1)
    with pytest.raises(ValueError, match="not an IAM role ARN"):
        build_requests(spec, plan(spec, LiveState(), PRICES), context(), execution_role_arn=role)


def test_the_context_must_be_for_the_same_commit():
    spec = DeploySpec(example("minimal"), "staging", COMMIT1)
    with pytest.raises(ValueError, match="commit"):
        build_requests(spec, plan(spec, LiveState(), PRICES), context(COMMIT2), execution_role_arn=ROLE)


def test_a_blocked_plan_or_a_teardown_has_no_requests():
    spec = DeploySpec(example("minimal"), "staging", COMMIT1)
    live = LiveState(True, "churn-staging", "Failed", "c0")
    with pytest.raises(ValueError, match="blocked"):
        build_requests(spec, plan(spec, live, PRICES), context(), execution_role_arn=ROLE)
    gone = DeploySpec(example("minimal"), "staging", COMMIT1, deleted=True)
    live = live_after(plan(spec, LiveState(), PRICES), spec)
    with pytest.raises(ValueError, match="teardown"):
        build_requests(gone, plan(gone, live, PRICES), context(), execution_role_arn=ROLE)


def test_bad_tags_stop_the_build():
    spec = DeploySpec(example("minimal"), "staging", COMMIT1)
    with pytest.raises(TagError, match="modelbot:bot-version"):
        build_requests(spec, plan(spec, LiveState(), PRICES), context(bot_version="x" * 300),
                       execution_role_arn=ROLE)


def test_config_digest_helper_is_the_plans():
    spec, p, r = first("minimal", env="staging")
    assert tags(r.endpoint_configs[0])["modelbot:digest"] == config_digest(p.variants, spec.env)


# --- where SageMaker's guardrails do not apply (issue #12) ----------------------------------------


def test_a_serverless_update_is_a_plain_update_endpoint():
    spec, p, r = update("serverless", {"max_concurrency: 50": "max_concurrency: 60"})
    check_shapes(r)
    assert not p.blocked
    assert r.update_endpoint == {"EndpointName": "text-classifier-production",
                                 "EndpointConfigName": r.target_config}
    assert deployment_config(spec, p) is None


# examples/realtime-linear.yaml's operational judge (tests/experiment/test_bake.py), left out where
# a test replaces the strategy with one the judge does not apply to
LINEAR_JUDGE = ("      # latency and errors of the new fleet during the bakes against the hour before the update;\n"
                "      # a failure rolls the update back through SageMaker (its own alarm, beside the team's)\n"
                "      canary_judge: {metrics: [model_latency, error_rate], baseline_minutes: 60}\n")


def test_inf1_and_marketplace_updates_send_no_deployment_config():
    inf1 = {LINEAR_JUDGE: "", "instance_type: ml.c5.xlarge": "instance_type: ml.inf1.xlarge",
            "      type: linear\n      linear_step: {type: capacity_percent, value: 20}\n"
            "      wait_interval_seconds: 300\n      termination_wait_seconds: 600\n"
            "    alarms: [price-estimator-errors]\n":
            "      type: all_at_once\n      acknowledge_no_guardrails: true\n"}
    spec1 = DeploySpec(example("realtime-linear", inf1), "production", COMMIT1)
    live = live_after(plan(spec1, LiveState(), PRICES), spec1)
    spec = DeploySpec(example("realtime-linear", {**inf1, "v12/": "v13/"}), "production", COMMIT2)
    p = plan(spec, live, PRICES)
    r = build_requests(spec, p, context(COMMIT2), execution_role_arn=ROLE, image=IMAGE)
    check_shapes(r)
    assert "DeploymentConfig" not in r.update_endpoint
    # the same manifest built in code with a guarded strategy (the validator refuses it) still
    # gets no policy that AWS would ignore
    data = spec.manifest.model_dump(by_alias=True, warnings=False)
    data["environments"]["production"]["strategy"] = {
        "type": "canary", "canary_size": {"type": "capacity_percent", "value": 25},
        "wait_interval_seconds": 60}
    built = DeploySpec(Manifest.model_validate(data), "production", COMMIT2)
    assert deployment_config(built, plan(built, live, PRICES)) is None
    market = example("realtime-shadow").model_dump(by_alias=True, warnings=False)
    market["model"]["registry"]["marketplace"] = True
    market["environments"]["production"]["strategy"] = {"type": "blue_green",
                                                        "termination_wait_seconds": 600}
    m_spec = DeploySpec(Manifest.model_validate(market), "production", COMMIT2)
    assert deployment_config(m_spec, plan(m_spec, live, PRICES)) is None


def test_all_at_once_sends_no_deployment_config_on_guarded_instances():
    spec, p, r = update("realtime-linear", {
        LINEAR_JUDGE: "",
        "      type: linear\n      linear_step: {type: capacity_percent, value: 20}\n"
        "      wait_interval_seconds: 300\n      termination_wait_seconds: 600\n"
        "    alarms: [price-estimator-errors]\n": "      type: all_at_once\n", "v12/": "v13/"})
    check_shapes(r)
    assert "DeploymentConfig" not in r.update_endpoint
    assert [(s.candidate_percent, s.wait_seconds) for s in p.traffic_steps] == [(100.0, 0)]


def test_serverless_never_gets_a_data_capture_config():
    data = example("serverless").model_dump(by_alias=True)
    data["environments"]["production"]["data_capture"] = {"destination": "s3://acme-capture/x/"}
    spec = DeploySpec(Manifest.model_validate(data), "production", COMMIT1)
    assert data_capture_config(spec) is None


def test_no_batch_strategy_without_a_split():
    spec, p, r = first("batch-transform")
    data = spec.manifest.model_dump(by_alias=True, exclude_unset=True)
    batch = data["environments"]["production"]["batch"]
    batch.update(split_type="none", join_source="none", input_filter=None, output_filter=None)
    batch.pop("batch_strategy")
    built = DeploySpec(Manifest.model_validate(data), "production", COMMIT1)
    job = transform_job_request(built, plan(built, LiveState(), PRICES), context())
    valid("sagemaker", "CreateTransformJob", job)
    assert "BatchStrategy" not in job and job["TransformInput"]["SplitType"] == "None"
    assert r.transform_job["BatchStrategy"] == "MultiRecord"  # with a split it is sent
