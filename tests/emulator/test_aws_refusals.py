"""What AWS documents refusing or doing differently (issue #12), driven through boto3 (moto server).

Each test names the rule of tests/support/sagemaker_emulator/ (or aas_cloudwatch_emulator.py)
it checks; the rule's comment names the AWS page or botocore field.
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.emulator.conftest import ROLE
from tests.support import sagemaker_emulator as emulator

SERVERLESS = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def error_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as err:
        call(*args, **kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def canary(value=1, wait=600, termination=300, timeout=3600):
    return {"BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": wait,
                                        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": value}},
        "TerminationWaitInSeconds": termination,
        "MaximumExecutionTimeoutInSeconds": timeout}}


def serverless_config(aws, name, model, **extra):
    aws.sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "main", "ModelName": model, "ServerlessConfig": dict(SERVERLESS)}], **extra)


def phases_until_settled(aws, name="ep", limit=40):
    labels = []
    for _ in range(limit):
        status = aws.sm.describe_endpoint(EndpointName=name)["EndpointStatus"]
        if status in ("InService", "Failed", "UpdateRollbackFailed"):
            return labels, status
        labels.append(emulator.current_phase_remote(aws.url, name))
    raise AssertionError(f"endpoint {name} did not settle: {labels}")


@pytest.fixture
def aas(aws):
    return emulator.client("application-autoscaling", aws.url)


def register(aas, endpoint="ep", variant="main", low=1, high=4):
    aas.register_scalable_target(ServiceNamespace="sagemaker",
                                 ResourceId=f"endpoint/{endpoint}/variant/{variant}",
                                 ScalableDimension=DIMENSION, MinCapacity=low, MaxCapacity=high)


# --------------------------------------------------------------------------- 1. serverless guardrails


def test_deployment_config_on_a_serverless_endpoint_is_refused(aws):
    aws.model("m1")
    aws.model("m2")
    serverless_config(aws, "s1", "m1")
    serverless_config(aws, "s2", "m2")
    aws.endpoint("ep", "s1")
    code, message = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="s2",
                             DeploymentConfig={"BlueGreenUpdatePolicy": {
                                 "TrafficRoutingConfiguration": {
                                     "Type": "CANARY", "WaitIntervalInSeconds": 300,
                                     "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}}})
    assert code == "ValidationException"
    assert message.startswith("Deployment guardrails only apply to Asynchronous inference and "
                              "Real-time inference endpoint types")
    # Only an AutoRollbackConfiguration is a DeploymentConfig too.
    aws.alarm("errors")
    code, _ = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="s2",
                       DeploymentConfig={"AutoRollbackConfiguration": {
                           "Alarms": [{"AlarmName": "errors"}]}})
    assert code == "ValidationException"
    # Without a DeploymentConfig a serverless endpoint updates (all at once).
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="s2")
    assert phases_until_settled(aws) == (["provision-green", "shift-all", "terminate-blue"],
                                         "InService")


def test_deployment_config_towards_serverless_from_serverless_current_is_refused(aws):
    # serverless -> instance-based is allowed (Serverless page) but not with guardrails, since
    # the current endpoint is serverless.
    aws.model("m1")
    serverless_config(aws, "s1", "m1")
    aws.config("i1", "m1", count=2)
    aws.endpoint("ep", "s1")
    code, message = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="i1",
                             DeploymentConfig=canary(1))
    assert code == "ValidationException" and "'s1'" in message
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="i1")
    assert phases_until_settled(aws)[1] == "InService"
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "i1"


# --------------------------------------------------------------------------- 2. serverless exclusions


@pytest.mark.parametrize("feature,extra", [
    ("data capture", {"DataCaptureConfig": {
        "InitialSamplingPercentage": 10, "DestinationS3Uri": "s3://capture/ep",
        "CaptureOptions": [{"CaptureMode": "Input"}]}}),
    ("VPC configuration", {"VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}}),
    ("network isolation", {"EnableNetworkIsolation": True}),
])
def test_serverless_config_refuses_excluded_config_features(aws, feature, extra):
    aws.model("m1")
    code, message = error_of(aws.sm.create_endpoint_config, EndpointConfigName="s1",
                             ProductionVariants=[{"VariantName": "main", "ModelName": "m1",
                                                  "ServerlessConfig": dict(SERVERLESS)}], **extra)
    assert code == "ValidationException" and feature in message
    assert aws.sm.list_endpoint_configs()["EndpointConfigs"] == []


def test_serverless_config_refuses_several_variants_and_shadows(aws):
    aws.model("m1")
    aws.model("m2")
    code, message = error_of(aws.sm.create_endpoint_config, EndpointConfigName="s1",
                             ProductionVariants=[
                                 {"VariantName": "a", "ModelName": "m1",
                                  "ServerlessConfig": dict(SERVERLESS)},
                                 {"VariantName": "b", "ModelName": "m2",
                                  "ServerlessConfig": dict(SERVERLESS)}])
    assert code == "ValidationException" and "multiple production variants" in message
    code, message = error_of(aws.sm.create_endpoint_config, EndpointConfigName="s1",
                             ProductionVariants=[{"VariantName": "a", "ModelName": "m1",
                                                  "ServerlessConfig": dict(SERVERLESS)}],
                             ShadowProductionVariants=[{"VariantName": "b", "ModelName": "m2",
                                                        "ServerlessConfig": dict(SERVERLESS)}])
    assert code == "ValidationException" and "shadow" in message


@pytest.mark.parametrize("feature,model", [
    ("Multi-Model Endpoints", {"PrimaryContainer": {"Image": "img:1", "Mode": "MultiModel",
                                                     "ModelDataUrl": "s3://models/"}}),
    ("inference pipelines", {"Containers": [{"Image": "img:1"}, {"Image": "img:2"}]}),
    ("network isolation", {"PrimaryContainer": {"Image": "img:1"}, "EnableNetworkIsolation": True}),
    ("VPC configuration", {"PrimaryContainer": {"Image": "img:1"},
                           "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}}),
    ("private Docker registries", {"PrimaryContainer": {
        "Image": "registry.example.com/img:1", "ImageConfig": {"RepositoryAccessMode": "Vpc"}}}),
])
def test_serverless_config_refuses_excluded_model_features(aws, feature, model):
    aws.sm.create_model(ModelName="m1", ExecutionRoleArn=ROLE, **model)
    code, message = error_of(aws.sm.create_endpoint_config, EndpointConfigName="s1",
                             ProductionVariants=[{"VariantName": "main", "ModelName": "m1",
                                                  "ServerlessConfig": dict(SERVERLESS)}])
    assert code == "ValidationException" and feature in message


def test_instance_based_config_keeps_those_features(aws):
    aws.sm.create_model(ModelName="m1", ExecutionRoleArn=ROLE, EnableNetworkIsolation=True,
                        PrimaryContainer={"Image": "img:1", "Mode": "MultiModel",
                                          "ModelDataUrl": "s3://models/"})
    aws.config("c1", "m1", count=1, DataCaptureConfig={
        "InitialSamplingPercentage": 10, "DestinationS3Uri": "s3://capture/ep",
        "CaptureOptions": [{"CaptureMode": "Input"}]})
    assert aws.sm.describe_endpoint_config(EndpointConfigName="c1")["EndpointConfigName"] == "c1"


# --------------------------------------------------------------------------- 3. mode switches


def test_instance_based_endpoint_cannot_switch_to_serverless(aws):
    aws.model("m1")
    aws.config("i1", "m1", count=2)
    serverless_config(aws, "s1", "m1")
    aws.endpoint("ep", "i1")
    code, message = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="s1")
    assert code == "ValidationException" and "serverless" in message
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"


def test_serverless_endpoint_switched_to_instances_cannot_go_back(aws):
    aws.model("m1")
    aws.config("i1", "m1", count=2)
    serverless_config(aws, "s1", "m1")
    aws.endpoint("ep", "s1")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="i1")
    assert phases_until_settled(aws)[1] == "InService"
    code, _ = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="s1")
    assert code == "ValidationException"


def test_async_config_can_be_added_and_removed(aws):
    # AWS documents no refusal for switching AsyncInferenceConfig on a live endpoint.
    aws.model("m1")
    aws.config("rt", "m1", count=1)
    aws.config("as", "m1", count=1, AsyncInferenceConfig={
        "OutputConfig": {"S3OutputPath": "s3://out/"}})
    aws.endpoint("ep", "rt")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="as")
    assert phases_until_settled(aws)[1] == "InService"
    assert "AsyncInferenceConfig" in aws.sm.describe_endpoint(EndpointName="ep")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="rt")
    assert phases_until_settled(aws)[1] == "InService"
    assert "AsyncInferenceConfig" not in aws.sm.describe_endpoint(EndpointName="ep")


# --------------------------------------------------------------------------- 4. autoscaling


def test_autoscaled_variant_instance_type_change_is_refused(aws, aas):
    aws.blue_green_setup(count=2)
    aws.config("bigger", "m2", count=2, instance_type="ml.m5.xlarge")
    register(aas)
    code, message = error_of(aws.sm.update_endpoint, EndpointName="ep",
                             EndpointConfigName="bigger")
    assert code == "ValidationException"
    assert "endpoint/ep/variant/main" in message and "ml.m5.xlarge" in message
    assert "DeregisterScalableTarget" in message
    # Changing only the model is the documented exception.
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    assert phases_until_settled(aws)[1] == "InService"
    # After deregistering, the instance type can change.
    aas.deregister_scalable_target(ServiceNamespace="sagemaker",
                                   ResourceId="endpoint/ep/variant/main",
                                   ScalableDimension=DIMENSION)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="bigger")
    assert phases_until_settled(aws)[1] == "InService"


def test_removing_an_autoscaled_variant_is_refused(aws, aas):
    aws.model("m1")
    aws.sm.create_endpoint_config(EndpointConfigName="ab", ProductionVariants=[
        {"VariantName": "a", "ModelName": "m1", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 2},
        {"VariantName": "b", "ModelName": "m1", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 2}])
    aws.config("only-a", "m1", count=2, variant="a")
    aws.endpoint("ep", "ab")
    register(aas, variant="b")
    code, message = error_of(aws.sm.update_endpoint, EndpointName="ep",
                             EndpointConfigName="only-a")
    assert code == "ValidationException" and "'b'" in message and "removes it" in message
    register(aas, variant="a")
    aas.deregister_scalable_target(ServiceNamespace="sagemaker",
                                   ResourceId="endpoint/ep/variant/b", ScalableDimension=DIMENSION)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="only-a")  # a is unchanged


def test_delete_endpoint_deregisters_its_scalable_targets_and_policies(aws, aas):
    aws.blue_green_setup(count=2)
    register(aas)
    aas.put_scaling_policy(
        PolicyName="invocations", ServiceNamespace="sagemaker",
        ResourceId="endpoint/ep/variant/main", ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
    aws.sm.delete_endpoint(EndpointName="ep")
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []


def test_deregister_scalable_target_deletes_its_policies(aws, aas):
    aws.blue_green_setup(count=2)
    register(aas)
    aas.put_scaling_policy(
        PolicyName="invocations", ServiceNamespace="sagemaker",
        ResourceId="endpoint/ep/variant/main", ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 70.0, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
    aas.deregister_scalable_target(ServiceNamespace="sagemaker",
                                   ResourceId="endpoint/ep/variant/main",
                                   ScalableDimension=DIMENSION)
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []


def test_register_scalable_target_needs_an_existing_variant_and_valid_capacity(aws, aas):
    aws.blue_green_setup(count=2)
    code, message = error_of(register, aas, endpoint="nope")
    assert code == "ValidationException" and "endpoint/nope/variant/main" in message
    code, _ = error_of(register, aas, variant="other")
    assert code == "ValidationException"
    assert error_of(register, aas, low=0, high=2)[0] == "ValidationException"
    assert error_of(register, aas, low=3, high=2)[0] == "ValidationException"
    register(aas, low=1, high=3)
    target = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)


def test_registering_a_target_moves_the_capacity_inside_its_range(aws, aas):
    aws.blue_green_setup(count=2)
    register(aas, low=3, high=6)
    d = aws.sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointStatus"] == "Updating"
    assert d["ProductionVariants"][0]["DesiredInstanceCount"] == 3
    aws.wait_in_service("ep")
    assert aws.sm.describe_endpoint(EndpointName="ep")["ProductionVariants"][0][
        "CurrentInstanceCount"] == 3
    register(aas, low=1, high=2)
    aws.wait_in_service("ep")
    assert aws.sm.describe_endpoint(EndpointName="ep")["ProductionVariants"][0][
        "CurrentInstanceCount"] == 2
    register(aas, low=1, high=5)  # inside the range: nothing changes
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"


def test_asynchronous_endpoint_may_scale_to_zero(aws, aas):
    aws.model("m1")
    aws.config("as", "m1", count=1, AsyncInferenceConfig={
        "OutputConfig": {"S3OutputPath": "s3://out/"}})
    aws.endpoint("ep", "as")
    register(aas, low=0, high=2)
    target = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
    assert target["MinCapacity"] == 0


# --------------------------------------------------------------------------- 5. retained properties


def test_new_fleet_starts_at_the_new_config_count_without_retain(aws):
    aws.blue_green_setup(count=2)
    aws.config("c3", "m2", count=5)
    aws.sm.update_endpoint_weights_and_capacities(EndpointName="ep", DesiredWeightsAndCapacities=[
        {"VariantName": "main", "DesiredInstanceCount": 3}])
    aws.wait_in_service("ep")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c3")
    pending = aws.sm.describe_endpoint(EndpointName="ep")["PendingDeploymentSummary"]
    assert pending["ProductionVariants"][0]["DesiredInstanceCount"] == 5
    aws.wait_in_service("ep")
    variant = aws.sm.describe_endpoint(EndpointName="ep")["ProductionVariants"][0]
    assert (variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]) == (5, 5)


def test_retain_all_variant_properties_keeps_the_latest_capacity_and_weight(aws):
    aws.blue_green_setup(count=2)
    aws.config("c3", "m2", count=5)
    aws.sm.update_endpoint_weights_and_capacities(EndpointName="ep", DesiredWeightsAndCapacities=[
        {"VariantName": "main", "DesiredInstanceCount": 3, "DesiredWeight": 2.0}])
    aws.wait_in_service("ep")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c3",
                           RetainAllVariantProperties=True)
    pending = aws.sm.describe_endpoint(EndpointName="ep")["PendingDeploymentSummary"]
    assert pending["ProductionVariants"][0]["DesiredInstanceCount"] == 3
    aws.wait_in_service("ep")
    variant = aws.sm.describe_endpoint(EndpointName="ep")["ProductionVariants"][0]
    assert (variant["CurrentInstanceCount"], variant["CurrentWeight"]) == (3, 2.0)
    # ExcludeRetainedVariantProperties takes the count from the new config.
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           RetainAllVariantProperties=True,
                           ExcludeRetainedVariantProperties=[
                               {"VariantPropertyType": "DesiredInstanceCount"}])
    aws.wait_in_service("ep")
    variant = aws.sm.describe_endpoint(EndpointName="ep")["ProductionVariants"][0]
    assert (variant["CurrentInstanceCount"], variant["CurrentWeight"]) == (2, 2.0)


# --------------------------------------------------------------------------- 6. fallbacks


def test_canary_on_inf1_falls_back_to_all_at_once_without_bake(aws):
    aws.model("m1")
    aws.model("m2")
    aws.config("c1", "m1", count=4, instance_type="ml.inf1.xlarge")
    aws.config("c2", "m2", count=4, instance_type="ml.inf1.xlarge")
    aws.endpoint("ep", "c1")
    aws.alarm("errors")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=dict(
        canary(1), AutoRollbackConfiguration={"Alarms": [{"AlarmName": "errors"}]}))
    aws.cw.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="test")
    labels, status = phases_until_settled(aws)
    assert labels == ["provision-green", "shift-all", "terminate-blue"]
    # No canary, no bake, no alarm monitoring: the update went through.
    assert status == "InService"
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "c2"


def test_canary_with_a_marketplace_container_falls_back(aws):
    aws.model("m1")
    aws.sm.create_model(ModelName="market", ExecutionRoleArn=ROLE, EnableNetworkIsolation=True,
                        PrimaryContainer={"ModelPackageName": (
                            "arn:aws:sagemaker:us-east-1:865070037744:model-package/vendor-model")})
    aws.config("c1", "m1", count=4)
    aws.config("c2", "market", count=4)
    aws.endpoint("ep", "c1")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=canary(1))
    assert phases_until_settled(aws)[0] == ["provision-green", "shift-all", "terminate-blue"]


def test_own_account_model_package_keeps_the_canary(aws):
    aws.model("m1")
    aws.sm.create_model(ModelName="registry", ExecutionRoleArn=ROLE, PrimaryContainer={
        "ModelPackageName": "arn:aws:sagemaker:us-east-1:123456789012:model-package/mine/1"})
    aws.config("c1", "m1", count=4)
    aws.config("c2", "registry", count=4)
    aws.endpoint("ep", "c1")
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=canary(1))
    assert "canary-bake" in phases_until_settled(aws)[0]


# --------------------------------------------------------------------------- 7. in-progress states


def test_delete_endpoint_goes_through_deleting(aws):
    aws.blue_green_setup(count=2)
    aws.sm.delete_endpoint(EndpointName="ep")
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Deleting"
    code, message = error_of(aws.sm.delete_endpoint, EndpointName="ep")
    assert code == "ValidationException" and "Deleting" in message
    code, message = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="c2")
    assert code == "ValidationException" and "in-progress" in message
    code, message = error_of(aws.sm.describe_endpoint, EndpointName="ep")
    assert code == "ValidationException" and "Could not find endpoint" in message
    aws.sm.get_waiter("endpoint_deleted").wait(EndpointName="ep",
                                               WaiterConfig={"Delay": 0, "MaxAttempts": 3})
    # The name is free again.
    aws.endpoint("ep", "c1")


@pytest.mark.parametrize("start", ["create", "update"])
def test_delete_of_a_creating_or_updating_endpoint_is_refused(aws, start):
    aws.model("m1")
    aws.config("c1", "m1", count=2)
    aws.config("c2", "m1", count=3)
    if start == "create":
        aws.sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
        expected = "Creating"
    else:
        aws.endpoint("ep", "c1")
        aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
        expected = "Updating"
    code, message = error_of(aws.sm.delete_endpoint, EndpointName="ep")
    assert code == "ValidationException" and expected in message
    aws.wait_in_service("ep")
    aws.sm.delete_endpoint(EndpointName="ep")


def test_delete_of_a_rolling_back_endpoint_is_refused(aws):
    aws.blue_green_setup(count=2)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2")
    emulator.force_outcome_remote(aws.url, "ep", "RolledBack")
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "RollingBack"
    assert error_of(aws.sm.delete_endpoint, EndpointName="ep")[0] == "ValidationException"


def test_delete_endpoint_config_in_use_is_allowed(aws):
    # UpdateEndpoint / DeleteEndpointConfig: "You must not delete an EndpointConfig in use by an
    # endpoint that is live" is advice; AWS deletes it (and you "may lose visibility").
    aws.blue_green_setup(count=2)
    aws.sm.delete_endpoint_config(EndpointConfigName="c1")
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"


def test_failed_endpoint_can_be_deleted(aws):
    aws.model("m1")
    aws.config("c1", "m1")
    emulator.force_outcome_remote(aws.url, "ep", "Failed")
    aws.sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Failed"
    aws.sm.delete_endpoint(EndpointName="ep")


# --------------------------------------------------------------------------- 8. execution timeout


@pytest.mark.parametrize("timeout", [28801, 100000])  # below 600 botocore refuses client-side
def test_execution_timeout_out_of_range_is_refused(aws, timeout):
    aws.blue_green_setup(count=4)
    code, message = error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="c2",
                             DeploymentConfig=canary(1, timeout=timeout))
    assert code == "ValidationException" and "maximumExecutionTimeoutInSeconds" in message
    rolling = {"RollingUpdatePolicy": {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 60,
        "MaximumExecutionTimeoutInSeconds": timeout}}
    assert error_of(aws.sm.update_endpoint, EndpointName="ep", EndpointConfigName="c2",
                    DeploymentConfig=rolling)[0] == "ValidationException"


def test_deployment_longer_than_its_timeout_rolls_back(aws):
    aws.blue_green_setup(count=4)
    # 600 s canary bake + 600 s termination wait > 900 s timeout: it times out in the final bake.
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           DeploymentConfig=canary(1, wait=600, termination=600, timeout=900))
    labels, status = phases_until_settled(aws)
    assert labels == ["provision-green", "canary-shift", "canary-bake", "full-shift",
                      "final-bake", "rollback"]
    d = aws.sm.describe_endpoint(EndpointName="ep")
    assert status == "InService" and d["EndpointConfigName"] == "c1"
    assert "MaximumExecutionTimeoutInSeconds" in d["FailureReason"]


def test_rolling_deployment_longer_than_its_timeout_rolls_back(aws):
    aws.blue_green_setup(count=4)
    rolling = {"RollingUpdatePolicy": {
        "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 300,
        "MaximumExecutionTimeoutInSeconds": 600}}
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=rolling)
    labels, _ = phases_until_settled(aws)
    assert labels[-2:] == ["rolling-batch-2-bake", "rollback"]
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "c1"


def test_deployment_within_its_timeout_completes(aws):
    aws.blue_green_setup(count=4)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           DeploymentConfig=canary(1, wait=300, termination=300, timeout=900))
    labels, _ = phases_until_settled(aws)
    assert "rollback" not in labels
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "c2"


def test_execution_timeout_in_clock_mode(aws):
    aws.blue_green_setup(count=4)
    emulator.configure_remote(aws.url, mode="clock", time_scale=0.0001)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2",
                           DeploymentConfig=canary(1, wait=1800, termination=1800, timeout=900))
    deadline = time.monotonic() + 5
    seen = set()
    while True:
        status = aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"]
        seen.add(status)
        if status == "InService":
            break
        assert time.monotonic() < deadline
        time.sleep(0.005)
    d = aws.sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointConfigName"] == "c1" and "MaximumExecutionTimeoutInSeconds" in d["FailureReason"]


# --------------------------------------------------------------------------- 9. transform jobs


def transform(aws, name="batch", instance_type="ml.m5.large", **extra):
    aws.sm.create_transform_job(
        TransformJobName=name, ModelName="m1",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": "s3://in/"}},
                        **extra.pop("input", {})},
        TransformOutput={"S3OutputPath": "s3://out/"},
        TransformResources={"InstanceType": instance_type, "InstanceCount": 1}, **extra)


def test_transform_instance_type_must_be_in_the_transform_enum(aws):
    aws.model("m1")
    # ml.inf1.xlarge is a hosting instance type, not a TransformInstanceType.
    code, message = error_of(transform, aws, instance_type="ml.inf1.xlarge")
    assert code == "ValidationException" and "transformResources.instanceType" in message
    transform(aws, instance_type="ml.m5.large")


def test_transform_payload_limits(aws):
    aws.model("m1")
    assert error_of(transform, aws, MaxPayloadInMB=101)[0] == "ValidationException"
    code, message = error_of(transform, aws, MaxPayloadInMB=20, MaxConcurrentTransforms=6)
    assert code == "ValidationException" and "100 MB" in message
    # the default payload (6 MB) counts when only MaxConcurrentTransforms is given
    assert error_of(transform, aws, MaxConcurrentTransforms=17)[0] == "ValidationException"
    transform(aws, name="ok", MaxPayloadInMB=20, MaxConcurrentTransforms=5)


def test_transform_batch_strategy_needs_a_split_type(aws):
    aws.model("m1")
    code, message = error_of(transform, aws, BatchStrategy="MultiRecord")
    assert code == "ValidationException" and "SplitType" in message
    transform(aws, name="ok", BatchStrategy="MultiRecord", input={"SplitType": "Line"},
              DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input"})


# --------------------------------------------------------------------------- 10. cloudwatch


def test_describe_alarms_honours_alarm_types(aws):
    aws.alarm("errors")
    aws.cw.put_composite_alarm(AlarmName="any", AlarmRule='ALARM("errors")')
    plain = aws.cw.describe_alarms()
    assert [a["AlarmName"] for a in plain["MetricAlarms"]] == ["errors"]
    assert plain["CompositeAlarms"] == []
    both = aws.cw.describe_alarms(AlarmNames=["errors", "any"],
                                  AlarmTypes=["CompositeAlarm", "MetricAlarm"])
    assert [a["AlarmName"] for a in both["MetricAlarms"]] == ["errors"]
    assert [a["AlarmName"] for a in both["CompositeAlarms"]] == ["any"]
    only = aws.cw.describe_alarms(AlarmTypes=["CompositeAlarm"])
    assert only["MetricAlarms"] == [] and only["CompositeAlarms"][0]["AlarmRule"] == 'ALARM("errors")'


def test_composite_alarm_state_follows_its_rule(aws):
    aws.alarm("errors")
    aws.alarm("latency")
    aws.cw.put_composite_alarm(AlarmName="both", AlarmRule='ALARM(errors) AND NOT OK("latency")')

    def state():
        return aws.cw.describe_alarms(AlarmNames=["both"], AlarmTypes=["CompositeAlarm"])[
            "CompositeAlarms"][0]["StateValue"]

    assert state() == "OK"
    aws.cw.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="t")
    assert state() == "OK"
    aws.cw.set_alarm_state(AlarmName="latency", StateValue="ALARM", StateReason="t")
    assert state() == "ALARM"


def test_bad_composite_rule_is_refused(aws):
    code, _ = error_of(aws.cw.put_composite_alarm, AlarmName="bad", AlarmRule="ALARM(a) AND")
    assert code == "ValidationError"


def test_composite_alarm_in_auto_rollback_trips_through_its_child(aws):
    aws.blue_green_setup(count=4)
    aws.alarm("errors")
    aws.cw.put_composite_alarm(AlarmName="guard", AlarmRule='ALARM("errors")')
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=dict(
        canary(1), AutoRollbackConfiguration={"Alarms": [{"AlarmName": "guard"}]}))
    aws.sm.describe_endpoint(EndpointName="ep")  # provision-green
    aws.cw.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="t")
    labels, status = phases_until_settled(aws)
    assert labels[-1] == "rollback" and status == "InService"
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "c1"


def test_missing_rollback_alarm_never_trips(aws):
    aws.blue_green_setup(count=4)
    aws.sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig=dict(
        canary(1), AutoRollbackConfiguration={"Alarms": [{"AlarmName": "does-not-exist"}]}))
    labels, status = phases_until_settled(aws)
    assert "rollback" not in labels and status == "InService"
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointConfigName"] == "c2"
