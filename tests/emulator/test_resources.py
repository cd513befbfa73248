"""Duplicate names, tags, transform jobs and describe echoes (moto server)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator.conftest import ROLE


def code_of(call, **kwargs):
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_duplicate_model_config_and_endpoint_names_are_rejected(aws):
    aws.model("m1", image="image:1")
    code, message = code_of(aws.sm.create_model, ModelName="m1", ExecutionRoleArn=ROLE,
                            PrimaryContainer={"Image": "image:2"})
    assert code == "ValidationException"
    assert message.startswith("Cannot create already existing model")
    assert aws.sm.describe_model(ModelName="m1")["PrimaryContainer"]["Image"] == "image:1"

    aws.config("c1", "m1")
    code, message = code_of(aws.sm.create_endpoint_config, EndpointConfigName="c1",
                            ProductionVariants=[{"VariantName": "v", "ModelName": "m1",
                                                 "InstanceType": "ml.m5.large",
                                                 "InitialInstanceCount": 1}])
    assert code == "ValidationException" and "already existing endpoint configuration" in message

    aws.endpoint("ep", "c1")
    code, _ = code_of(aws.sm.create_endpoint, EndpointName="ep", EndpointConfigName="c1")
    assert code == "ValidationException"


@pytest.mark.parametrize("tags", [
    [{"Key": f"k{i}", "Value": "v"} for i in range(51)],
    [{"Key": "x" * 129, "Value": "v"}],
    [{"Key": "k", "Value": "v" * 257}],
    [{"Key": "aws:reserved", "Value": "v"}],
    [{"Key": "bad#key", "Value": "v"}],
    [{"Key": "k", "Value": "bad\nvalue"}],
])
def test_tags_aws_rejects_are_rejected(aws, tags):
    code, _ = code_of(aws.sm.create_model, ModelName="m1", ExecutionRoleArn=ROLE,
                      PrimaryContainer={"Image": "image:1"}, Tags=tags)
    assert code == "ValidationException"


def test_valid_tags_pass_and_add_tags_overwrites_keys(aws):
    tags = [{"Key": "build-id", "Value": "gh-123"}, {"Key": "commit", "Value": "abc/def=+@:_."},
            {"Key": "datä version", "Value": ""}]
    aws.sm.create_model(ModelName="m1", ExecutionRoleArn=ROLE,
                        PrimaryContainer={"Image": "image:1"}, Tags=tags)
    arn = aws.sm.describe_model(ModelName="m1")["ModelArn"]
    aws.sm.add_tags(ResourceArn=arn, Tags=[{"Key": "commit", "Value": "fff"}])
    listed = {t["Key"]: t["Value"] for t in aws.sm.list_tags(ResourceArn=arn)["Tags"]}
    assert listed == {"build-id": "gh-123", "commit": "fff", "datä version": ""}
    code, _ = code_of(aws.sm.add_tags, ResourceArn=arn,
                      Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(48)])
    assert code == "ValidationException"


def test_describe_endpoint_echoes_async_and_data_capture_config(aws):
    aws.model("m1")
    async_config = {"ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
                    "OutputConfig": {"S3OutputPath": "s3://bucket/out",
                                     "S3FailurePath": "s3://bucket/failed"}}
    aws.config("c1", "m1", count=1, instance_type="ml.g5.xlarge",
               AsyncInferenceConfig=async_config,
               DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 20,
                                  "DestinationS3Uri": "s3://bucket/capture",
                                  "CaptureOptions": [{"CaptureMode": "Input"},
                                                     {"CaptureMode": "Output"}]})
    aws.endpoint("ep", "c1")
    d = aws.sm.describe_endpoint(EndpointName="ep")
    assert d["AsyncInferenceConfig"] == async_config
    assert d["DataCaptureConfig"] == {"EnableCapture": True, "CaptureStatus": "Started",
                                      "CurrentSamplingPercentage": 20,
                                      "DestinationS3Uri": "s3://bucket/capture"}


def test_instance_types_follow_the_service_model(aws):
    aws.model("m1")
    aws.config("g5", "m1", instance_type="ml.g5.xlarge")
    code, _ = code_of(aws.sm.create_endpoint_config, EndpointConfigName="bad",
                      ProductionVariants=[{"VariantName": "v", "ModelName": "m1",
                                           "InstanceType": "ml.nope.large",
                                           "InitialInstanceCount": 1}])
    assert code == "ValidationException"


def transform_job(aws, name="batch"):
    aws.model("m1")
    aws.sm.create_transform_job(
        TransformJobName=name, ModelName="m1",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": "s3://bucket/in"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": "s3://bucket/out", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        DataProcessing={"InputFilter": "$", "JoinSource": "Input", "OutputFilter": "$"})


def status_of(aws, name="batch"):
    return aws.sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"]


def test_transform_job_runs_then_completes(aws):
    transform_job(aws)
    assert [status_of(aws), status_of(aws)] == ["InProgress", "Completed"]
    assert "TransformEndTime" in aws.sm.describe_transform_job(TransformJobName="batch")
    code, _ = code_of(aws.sm.stop_transform_job, TransformJobName="batch")
    assert code == "ValidationException"


def test_stop_transform_job(aws):
    transform_job(aws)
    assert status_of(aws) == "InProgress"
    aws.sm.stop_transform_job(TransformJobName="batch")
    assert status_of(aws) == "Stopping"
    assert status_of(aws) == "Stopped"
    aws.sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName="batch", WaiterConfig={"Delay": 0, "MaxAttempts": 3})
    listed = aws.sm.list_transform_jobs()["TransformJobSummaries"]
    assert [j["TransformJobStatus"] for j in listed] == ["Stopped"]


def test_stop_missing_transform_job_is_resource_not_found(aws):
    code, _ = code_of(aws.sm.stop_transform_job, TransformJobName="missing")
    assert code == "ResourceNotFound"
