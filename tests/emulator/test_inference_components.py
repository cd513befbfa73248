"""Inference components on the emulator (moto server): lifecycle, refusals, capacity, rollback,
invocation and Application Auto Scaling."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator.conftest import ROLE
from tests.support import sagemaker_emulator as emulator

DIM = "sagemaker:inference-component:DesiredCopyCount"


def raw_client(url):
    """A SageMaker client without botocore's parameter validation: the emulator itself must
    refuse what botocore would stop early (min values) or not check at all (max values)."""
    return boto3.client("sagemaker", region_name="us-east-1", endpoint_url=url,
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(parameter_validation=False, retries={"max_attempts": 1}))


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def ic_config(aws, name="c", *, instance_type="ml.g5.12xlarge", count=1, managed=None):
    row = {"VariantName": "main", "InstanceType": instance_type, "InitialInstanceCount": count,
           "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}}
    if managed:
        row["ManagedInstanceScaling"] = {"Status": "ENABLED", "MinInstanceCount": managed[0],
                                         "MaxInstanceCount": managed[1]}
    aws.sm.create_endpoint_config(EndpointConfigName=name, ExecutionRoleArn=ROLE,
                                  ProductionVariants=[row])


def spec(model="m1", *, accelerators=1, memory=1024, cpu=None):
    req = {"MinMemoryRequiredInMb": memory}
    if accelerators:
        req["NumberOfAcceleratorDevicesRequired"] = accelerators
    if cpu:
        req["NumberOfCpuCoresRequired"] = cpu
    return {"ModelName": model, "ComputeResourceRequirements": req,
            "StartupParameters": {"ModelDataDownloadTimeoutInSeconds": 600,
                                  "ContainerStartupHealthCheckTimeoutInSeconds": 600}}


def create(aws, name="ic1", copies=1, **kw):
    aws.sm.create_inference_component(
        InferenceComponentName=name, EndpointName="ep", VariantName="main",
        Specification=kw.pop("specification", None) or spec(**kw), RuntimeConfig={"CopyCount": copies})


def settle(aws, name="ic1", limit=20):
    for _ in range(limit):
        d = aws.sm.describe_inference_component(InferenceComponentName=name)
        if d["InferenceComponentStatus"] not in ("Creating", "Updating", "Deleting"):
            return d
    raise AssertionError(f"{name} did not settle: {d['InferenceComponentStatus']}")


def instances(aws):
    return aws.sm.describe_endpoint(EndpointName="ep")["ProductionVariants"][0]["CurrentInstanceCount"]


@pytest.fixture
def ic_env(aws):
    aws.model("m1")
    aws.model("m2")
    ic_config(aws)
    aws.endpoint("ep", "c")
    return aws


def test_config_without_model_name_is_echoed_and_endpoint_goes_in_service(aws):
    ic_config(aws, managed=(1, 3))
    d = aws.sm.describe_endpoint_config(EndpointConfigName="c")
    assert d["ExecutionRoleArn"] == ROLE
    row = d["ProductionVariants"][0]
    assert "ModelName" not in row
    assert row["ManagedInstanceScaling"] == {"Status": "ENABLED", "MinInstanceCount": 1,
                                             "MaxInstanceCount": 3}
    assert row["RoutingConfig"] == {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"}
    aws.sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Creating"
    aws.wait_in_service("ep")
    variant = aws.sm.describe_endpoint(EndpointName="ep")["ProductionVariants"][0]
    assert variant["ManagedInstanceScaling"]["MaxInstanceCount"] == 3


def test_create_describe_list_tags_and_delete(ic_env):
    aws = ic_env
    aws.sm.create_inference_component(
        InferenceComponentName="ic1", EndpointName="ep", VariantName="main",
        Specification=spec(), RuntimeConfig={"CopyCount": 2},
        Tags=[{"Key": "build", "Value": "1"}])
    d = aws.sm.describe_inference_component(InferenceComponentName="ic1")
    assert d["InferenceComponentStatus"] == "Creating"
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 2, "CurrentCopyCount": 0}
    d = aws.sm.describe_inference_component(InferenceComponentName="ic1")
    assert d["InferenceComponentStatus"] == "InService"
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 2, "CurrentCopyCount": 2}
    assert d["EndpointName"] == "ep" and d["VariantName"] == "main"
    assert d["InferenceComponentArn"].endswith(":inference-component/ic1")
    assert d["Specification"]["ModelName"] == "m1"
    assert d["Specification"]["ComputeResourceRequirements"] == {
        "NumberOfAcceleratorDevicesRequired": 1.0, "MinMemoryRequiredInMb": 1024}
    assert d["Specification"]["StartupParameters"]["ModelDataDownloadTimeoutInSeconds"] == 600
    assert d["Specification"]["Container"]["DeployedImage"]["SpecifiedImage"].endswith("/m1:1")

    arn = d["InferenceComponentArn"]
    aws.sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])
    aws.sm.delete_tags(ResourceArn=arn, TagKeys=["build"])
    assert aws.sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]

    create(aws, "ic2", copies=1, model="m2")
    settle(aws, "ic2")
    names = lambda **f: [c["InferenceComponentName"]  # noqa: E731
                         for c in aws.sm.list_inference_components(**f)["InferenceComponents"]]
    assert names(EndpointNameEquals="ep", SortBy="Name", SortOrder="Ascending") == ["ic1", "ic2"]
    assert names(NameContains="2") == ["ic2"]
    assert names(VariantNameEquals="other") == []
    assert names(StatusEquals="InService", SortBy="Name", SortOrder="Ascending") == ["ic1", "ic2"]

    aws.sm.delete_inference_component(InferenceComponentName="ic2")
    assert aws.sm.describe_inference_component(
        InferenceComponentName="ic2")["InferenceComponentStatus"] == "Deleting"
    code, message = error_of(aws.sm.describe_inference_component, InferenceComponentName="ic2")
    assert code == "ValidationException" and "Could not find inference component" in message


@pytest.mark.parametrize("change, fragment", [
    ({"EndpointName": "nope"}, "Could not find endpoint"),
    ({"VariantName": "other"}, 'Could not find variant "other"'),
    ({"Specification": spec("missing")}, "Could not find model"),
    ({"InferenceComponentName": "bad_name"}, "regular expression pattern"),
    ({"InferenceComponentName": "x" * 64}, "length less than or equal to 63"),
    ({"Tags": [{"Key": "aws:reserved", "Value": "v"}]}, "reserved"),
    ({"Specification": spec(cpu=0.1)}, "greater than or equal to 0.25"),
    ({"Specification": spec(memory=64)}, "greater than or equal to 128"),
    ({"Specification": {**spec(), "StartupParameters": {"ModelDataDownloadTimeoutInSeconds": 30}}},
     "between 60 and 3600"),
    ({"Specification": {**spec(), "StartupParameters": {
        "ContainerStartupHealthCheckTimeoutInSeconds": 3601}}}, "between 60 and 3600"),
    ({"Specification": {"ModelName": "m1", "ComputeResourceRequirements": {
        "MinMemoryRequiredInMb": 1024, "NumberOfAcceleratorDevicesRequired": 0}}},
     "greater than or equal to 1"),
])
def test_create_refusals(ic_env, change, fragment):
    raw = raw_client(ic_env.url)
    request = {"InferenceComponentName": "ic1", "EndpointName": "ep", "VariantName": "main",
               "Specification": spec(), "RuntimeConfig": {"CopyCount": 1}, **change}
    code, message = error_of(raw.create_inference_component, **request)
    assert code == "ValidationException" and fragment in message
    assert ic_env.sm.list_inference_components()["InferenceComponents"] == []


def test_duplicate_name_and_model_endpoint_are_refused(ic_env):
    aws = ic_env
    create(aws)
    code, message = error_of(aws.sm.create_inference_component, InferenceComponentName="ic1",
                             EndpointName="ep", VariantName="main", Specification=spec(),
                             RuntimeConfig={"CopyCount": 1})
    assert "already existing inference component" in message
    aws.config("plain", "m1", count=1, instance_type="ml.g5.xlarge")
    aws.endpoint("plain-ep", "plain")
    code, message = error_of(aws.sm.create_inference_component, InferenceComponentName="ic9",
                             EndpointName="plain-ep", VariantName="main", Specification=spec(),
                             RuntimeConfig={"CopyCount": 1})
    assert code == "ValidationException" and "created without ModelName" in message


def test_copies_that_do_not_fit_fail_the_component(ic_env):
    aws = ic_env  # one ml.g5.12xlarge: 4 accelerators, 192 GiB, 48 vCPUs; no managed scaling
    create(aws, "ic1", copies=4)
    assert settle(aws, "ic1")["RuntimeConfig"]["CurrentCopyCount"] == 4
    create(aws, "ic2", copies=1, model="m2")
    d = settle(aws, "ic2")
    assert d["InferenceComponentStatus"] == "Failed"
    assert d["RuntimeConfig"]["CurrentCopyCount"] == 0
    assert "accelerator devices" in d["FailureReason"]
    create(aws, "ic3", copies=1, model="m2", accelerators=None, memory=300 * 1024)
    assert "memory" in settle(aws, "ic3")["FailureReason"]
    assert instances(aws) == 1


def test_managed_instance_scaling_adds_instances_up_to_max(aws):
    aws.model("m1")
    ic_config(aws, managed=(1, 2))
    aws.endpoint("ep", "c")
    create(aws, "ic1", copies=6)  # 4 per instance: 2 instances
    d = settle(aws, "ic1")
    assert d["InferenceComponentStatus"] == "InService"
    assert d["RuntimeConfig"]["CurrentCopyCount"] == 6
    assert instances(aws) == 2
    aws.sm.update_inference_component_runtime_config(InferenceComponentName="ic1",
                                                     DesiredRuntimeConfig={"CopyCount": 10})
    d = settle(aws, "ic1")
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 10, "CurrentCopyCount": 8}
    assert "Placed 8 of 10 copies" in d["FailureReason"]
    aws.sm.update_inference_component_runtime_config(InferenceComponentName="ic1",
                                                     DesiredRuntimeConfig={"CopyCount": 3})
    assert aws.sm.describe_inference_component(
        InferenceComponentName="ic1")["InferenceComponentStatus"] == "Updating"
    d = settle(aws, "ic1")
    assert d["RuntimeConfig"] == {"DesiredCopyCount": 3, "CurrentCopyCount": 3}
    assert "FailureReason" not in d
    assert instances(aws) == 1  # the idle instance is released (IDLE_RELEASE)


def test_unknown_instance_type_is_not_accounted(aws):
    aws.model("m1")
    ic_config(aws, instance_type="ml.inf2.xlarge")
    aws.endpoint("ep", "c")
    create(aws, "ic1", copies=50)
    assert settle(aws, "ic1")["RuntimeConfig"]["CurrentCopyCount"] == 50


def rolling(batch, alarms=(), **policy):
    config = {"RollingUpdatePolicy": {"MaximumBatchSize": batch, "WaitIntervalInSeconds": 0,
                                      **policy}}
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return config


def test_rolling_update_replaces_copies_batch_by_batch(ic_env):
    aws = ic_env
    create(aws, copies=2, accelerators=1)
    settle(aws)
    config = rolling({"Type": "COPY_COUNT", "Value": 1})
    aws.sm.update_inference_component(InferenceComponentName="ic1", Specification=spec("m2"),
                                      DeploymentConfig=config)
    seen = []
    for _ in range(4):
        d = aws.sm.describe_inference_component(InferenceComponentName="ic1")
        seen.append((d["InferenceComponentStatus"], d["Specification"]["ModelName"],
                     d["RuntimeConfig"]["CurrentCopyCount"]))
    assert seen[0] == ("Updating", "m1", 2)
    assert seen[-1] == ("InService", "m2", 2)
    d = aws.sm.describe_inference_component(InferenceComponentName="ic1")
    assert d["LastDeploymentConfig"] == config


def test_rolling_update_needs_room_beside_old_copies(ic_env):
    aws = ic_env
    create(aws, copies=4, accelerators=1)  # fills the one instance
    settle(aws)
    aws.sm.update_inference_component(InferenceComponentName="ic1", Specification=spec("m2"),
                                      DeploymentConfig=rolling({"Type": "COPY_COUNT", "Value": 1}))
    d = settle(aws)
    assert d["InferenceComponentStatus"] == "InService"
    assert d["Specification"]["ModelName"] == "m1"
    assert "did not fit beside the copies still running" in d["FailureReason"]
    assert d["RuntimeConfig"]["CurrentCopyCount"] == 4


def test_alarm_rolls_update_back(ic_env):
    aws = ic_env
    create(aws, copies=2)
    settle(aws)
    aws.alarm("ic-errors")
    aws.cw.set_alarm_state(AlarmName="ic-errors", StateValue="ALARM", StateReason="test")
    aws.sm.update_inference_component(
        InferenceComponentName="ic1", Specification=spec("m2"),
        DeploymentConfig=rolling({"Type": "CAPACITY_PERCENT", "Value": 50}, alarms=["ic-errors"]))
    d = settle(aws)
    assert d["InferenceComponentStatus"] == "InService"
    assert d["Specification"]["ModelName"] == "m1"
    assert "ic-errors" in d["FailureReason"]
    assert d["RuntimeConfig"]["CurrentCopyCount"] == 2


@pytest.mark.parametrize("config, fragment", [
    (rolling({"Type": "CAPACITY_PERCENT", "Value": 60}), "between 5% and 50%"),
    (rolling({"Type": "CAPACITY_PERCENT", "Value": 4}), "between 5% and 50%"),
    (rolling({"Type": "COPY_COUNT", "Value": 3}), "between 5% and 50%"),
    (rolling({"Type": "COPY_COUNT", "Value": 1}, MaximumExecutionTimeoutInSeconds=300),
     "between 600 and 28800"),
    ({"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "COPY_COUNT", "Value": 1},
                              "WaitIntervalInSeconds": 4000}}, "between 0 and 3600"),
])
def test_update_deployment_config_refusals(ic_env, config, fragment):
    aws = ic_env
    create(aws, copies=4, accelerators=None)
    settle(aws)
    code, message = error_of(raw_client(aws.url).update_inference_component,
                             InferenceComponentName="ic1",
                             Specification=spec("m2", accelerators=None), DeploymentConfig=config)
    assert code == "ValidationException" and fragment in message


def test_update_refused_unless_in_service(ic_env):
    aws = ic_env
    create(aws)
    code, message = error_of(aws.sm.update_inference_component_runtime_config,
                             InferenceComponentName="ic1", DesiredRuntimeConfig={"CopyCount": 2})
    assert code == "ValidationException" and "must be InService" in message


def test_delete_endpoint_with_components_is_refused(ic_env):
    aws = ic_env
    create(aws)
    settle(aws)
    code, message = error_of(aws.sm.delete_endpoint, EndpointName="ep")
    assert code == "ValidationException" and "delete them first" in message
    aws.sm.delete_inference_component(InferenceComponentName="ic1")
    aws.sm.describe_inference_component(InferenceComponentName="ic1")  # Deleting
    error_of(aws.sm.describe_inference_component, InferenceComponentName="ic1")  # gone
    aws.sm.delete_endpoint(EndpointName="ep")


def test_invoke_routes_to_the_component_model(ic_env):
    aws = ic_env
    runtime = emulator.client("sagemaker-runtime", aws.url)
    emulator.register_container_remote(aws.url, "m1", {"kind": "constant", "body": "from-m1"})
    emulator.register_container_remote(aws.url, "m2", {"kind": "constant", "body": "from-m2"})
    create(aws, "ic1")
    create(aws, "ic2", model="m2")
    code, message = error_of(runtime.invoke_endpoint, EndpointName="ep", InferenceComponentName="ic1",
                             Body=b"x")
    assert code == "ValidationError" and "not in service" in message  # still Creating
    settle(aws, "ic1")
    settle(aws, "ic2")
    out = runtime.invoke_endpoint(EndpointName="ep", InferenceComponentName="ic2", Body=b"x")
    assert out["Body"].read() == b"from-m2" and out["InvokedProductionVariant"] == "main"
    assert runtime.invoke_endpoint(EndpointName="ep", InferenceComponentName="ic1",
                                   Body=b"x")["Body"].read() == b"from-m1"
    log = emulator.invocations_remote(aws.url, "ep")
    assert [e["model"] for e in log] == ["m2", "m1"]
    code, message = error_of(runtime.invoke_endpoint, EndpointName="ep", Body=b"x")
    assert code == "ValidationError" and "specify InferenceComponentName" in message
    code, message = error_of(runtime.invoke_endpoint, EndpointName="ep",
                             InferenceComponentName="nope", Body=b"x")
    assert "not found" in message
    aws.sm.update_inference_component_runtime_config(InferenceComponentName="ic1",
                                                     DesiredRuntimeConfig={"CopyCount": 0})
    settle(aws, "ic1")
    code, message = error_of(runtime.invoke_endpoint, EndpointName="ep",
                             InferenceComponentName="ic1", Body=b"x")
    assert "CurrentCopyCount 0" in message

    aws.config("plain", "m1", count=1)
    aws.endpoint("plain-ep", "plain")
    code, message = error_of(runtime.invoke_endpoint, EndpointName="plain-ep",
                             InferenceComponentName="ic1", Body=b"x")
    assert code == "ValidationError" and "does not host inference components" in message


def test_autoscaling_registration_clamps_and_policies(ic_env):
    aws = ic_env
    aas = emulator.client("application-autoscaling", aws.url)
    create(aws, copies=3, accelerators=None)
    target = {"ServiceNamespace": "sagemaker", "ScalableDimension": DIM}
    code, message = error_of(aas.register_scalable_target, ResourceId="inference-component/nope",
                             MinCapacity=1, MaxCapacity=2, **target)
    assert code == "ValidationException" and "does not exist" in message
    code, message = error_of(aas.register_scalable_target, ResourceId="inference-component/ic1",
                             MinCapacity=3, MaxCapacity=2, **target)
    assert "cannot be greater" in message
    settle(aws)
    aas.register_scalable_target(ResourceId="inference-component/ic1", MinCapacity=0,
                                 MaxCapacity=2, **target)
    d = aws.sm.describe_inference_component(InferenceComponentName="ic1")
    assert d["InferenceComponentStatus"] == "Updating"
    assert settle(aws)["RuntimeConfig"] == {"DesiredCopyCount": 2, "CurrentCopyCount": 2}

    tracking = {"TargetValue": 4.0, "PredefinedMetricSpecification": {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}
    code, message = error_of(aas.put_scaling_policy, PolicyName="p",
                             ResourceId="inference-component/ic1", PolicyType="TargetTrackingScaling",
                             TargetTrackingScalingPolicyConfiguration=tracking, **target)
    assert "does not apply" in message
    tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] = (
        "SageMakerInferenceComponentInvocationsPerCopy")
    aas.put_scaling_policy(PolicyName="p", ResourceId="inference-component/ic1",
                           PolicyType="TargetTrackingScaling",
                           TargetTrackingScalingPolicyConfiguration=tracking, **target)
    assert len(aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]) == 1

    aws.sm.delete_inference_component(InferenceComponentName="ic1")
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []
