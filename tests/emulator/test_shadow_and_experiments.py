"""Shadow variants and the InferenceExperiment API (moto server)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.emulator.conftest import ROLE


def shadow_config(aws, name="shadowed", extra_shadow=False):
    aws.model("prod-model")
    aws.model("shadow-model")
    shadows = [{"VariantName": "shadow", "ModelName": "shadow-model",
                "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
                "InitialVariantWeight": 0.5}]
    if extra_shadow:
        shadows.append(dict(shadows[0], VariantName="shadow2"))
    aws.sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "prod", "ModelName": "prod-model",
                             "InstanceType": "ml.m5.large", "InitialInstanceCount": 2,
                             "InitialVariantWeight": 1.0}],
        ShadowProductionVariants=shadows)


def test_shadow_variant_is_echoed_by_config_and_endpoint(aws):
    shadow_config(aws)
    cfg = aws.sm.describe_endpoint_config(EndpointConfigName="shadowed")
    assert [v["VariantName"] for v in cfg["ShadowProductionVariants"]] == ["shadow"]
    assert cfg["ShadowProductionVariants"][0]["ModelName"] == "shadow-model"
    assert "DataCaptureConfig" not in cfg  # moto answered an empty structure

    aws.sm.create_endpoint(EndpointName="ep", EndpointConfigName="shadowed")
    creating = aws.sm.describe_endpoint(EndpointName="ep")
    assert creating["PendingDeploymentSummary"]["ShadowProductionVariants"][0]["VariantName"] == "shadow"
    aws.wait_in_service("ep")
    d = aws.sm.describe_endpoint(EndpointName="ep")
    assert [v["VariantName"] for v in d["ProductionVariants"]] == ["prod"]
    shadow = d["ShadowProductionVariants"][0]
    assert (shadow["VariantName"], shadow["CurrentWeight"], shadow["CurrentInstanceCount"]) == (
        "shadow", 0.5, 1)


def test_more_than_one_shadow_or_production_variant_is_rejected(aws):
    with pytest.raises(ClientError) as err:
        shadow_config(aws, extra_shadow=True)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as err:
        aws.sm.create_endpoint_config(
            EndpointConfigName="two-prod",
            ProductionVariants=[
                {"VariantName": v, "ModelName": "prod-model", "InstanceType": "ml.m5.large",
                 "InitialInstanceCount": 1} for v in ("a", "b")],
            ShadowProductionVariants=[{"VariantName": "s", "ModelName": "shadow-model",
                                       "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    assert err.value.response["Error"]["Code"] == "ValidationException"


def experiment_endpoint(aws):
    aws.model("prod-model")
    aws.model("candidate")
    aws.config("prod-config", "prod-model", count=2, variant="prod")
    aws.endpoint("ep", "prod-config")


def variant_config(name, model, count=1):
    return {"ModelName": model, "VariantName": name, "InfrastructureConfig": {
        "InfrastructureType": "RealTimeInference",
        "RealTimeInferenceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": count}}}


def create_experiment(aws, name="shadow-test", **extra):
    return aws.sm.create_inference_experiment(
        Name=name, Type="ShadowMode", RoleArn=ROLE, EndpointName="ep",
        ModelVariants=[variant_config("prod", "prod-model", 2), variant_config("cand", "candidate")],
        ShadowModeConfig={"SourceModelVariantName": "prod", "ShadowModelVariants": [
            {"ShadowModelVariantName": "cand", "SamplingPercentage": 50}]},
        DataStorageConfig={"Destination": "s3://bucket/shadow-capture"},
        **extra)


def describe(aws, name="shadow-test"):
    return aws.sm.describe_inference_experiment(Name=name)


def test_inference_experiment_lifecycle_with_promote(aws):
    experiment_endpoint(aws)
    arn = create_experiment(aws)["InferenceExperimentArn"]
    assert arn.endswith(":inference-experiment/shadow-test")

    statuses = [describe(aws)["Status"] for _ in range(4)]
    assert statuses == ["Creating", "Created", "Starting", "Running"]
    running = describe(aws)
    assert {v["VariantName"]: v["Status"] for v in running["ModelVariants"]} == {
        "prod": "InService", "cand": "InService"}
    assert running["EndpointMetadata"] == {"EndpointName": "ep", "EndpointConfigName": "prod-config",
                                           "EndpointStatus": "InService"}
    assert running["DataStorageConfig"] == {"Destination": "s3://bucket/shadow-capture"}
    assert running["Schedule"]["EndTime"] - running["Schedule"]["StartTime"] == timedelta(days=7)
    endpoint = aws.sm.describe_endpoint(EndpointName="ep")
    assert [v["VariantName"] for v in endpoint["ShadowProductionVariants"]] == ["cand"]

    with pytest.raises(ClientError) as err:
        aws.sm.start_inference_experiment(Name="shadow-test")
    assert err.value.response["Error"]["Code"] == "ConflictException"

    aws.sm.stop_inference_experiment(
        Name="shadow-test", ModelVariantActions={"prod": "Remove", "cand": "Promote"},
        DesiredState="Completed", Reason="candidate is as fast and as accurate")
    stopping = describe(aws)
    assert stopping["Status"] == "Stopping"
    assert aws.sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Updating"
    done = describe(aws)
    assert done["Status"] == "Completed"
    assert done["StatusReason"] == "candidate is as fast and as accurate"
    assert "CompletionTime" in done
    assert {v["VariantName"]: v["Status"] for v in done["ModelVariants"]} == {
        "prod": "Deleted", "cand": "InService"}

    endpoint = aws.sm.describe_endpoint(EndpointName="ep")
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] != "prod-config"
    assert "ShadowProductionVariants" not in endpoint
    promoted = aws.sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert [(v["VariantName"], v["ModelName"]) for v in promoted["ProductionVariants"]] == [
        ("cand", "candidate")]

    listed = aws.sm.list_inference_experiments()["InferenceExperiments"]
    assert [(e["Name"], e["Status"]) for e in listed] == [("shadow-test", "Completed")]


def test_scheduled_experiment_waits_for_start_and_can_be_cancelled(aws):
    experiment_endpoint(aws)
    later = datetime.now(timezone.utc) + timedelta(days=1)
    create_experiment(aws, Schedule={"StartTime": later, "EndTime": later + timedelta(days=2)})
    assert [describe(aws)["Status"] for _ in range(4)] == ["Creating", "Created", "Created",
                                                           "Created"]
    aws.sm.start_inference_experiment(Name="shadow-test")
    assert [describe(aws)["Status"] for _ in range(2)] == ["Starting", "Running"]
    aws.sm.stop_inference_experiment(Name="shadow-test", ModelVariantActions={"cand": "Remove"},
                                     DesiredState="Cancelled")
    assert [describe(aws)["Status"] for _ in range(2)] == ["Stopping", "Cancelled"]
    endpoint = aws.sm.describe_endpoint(EndpointName="ep")
    assert endpoint["EndpointConfigName"] == "prod-config"
    assert "ShadowProductionVariants" not in endpoint
    assert aws.sm.list_inference_experiments(StatusEquals="Running")["InferenceExperiments"] == []


def test_experiment_errors(aws):
    experiment_endpoint(aws)
    for call in (aws.sm.describe_inference_experiment, aws.sm.start_inference_experiment):
        with pytest.raises(ClientError) as err:
            call(Name="missing")
        assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(ClientError) as err:
        aws.sm.stop_inference_experiment(Name="missing", ModelVariantActions={"a": "Remove"})
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"

    create_experiment(aws)
    with pytest.raises(ClientError) as err:
        create_experiment(aws)
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as err:
        create_experiment(aws, name="second")
    assert err.value.response["Error"]["Code"] == "ResourceInUse"

    with pytest.raises(ClientError) as err:  # still Creating
        aws.sm.stop_inference_experiment(Name="shadow-test", ModelVariantActions={"cand": "Remove"})
    assert err.value.response["Error"]["Code"] == "ConflictException"

    while describe(aws)["Status"] != "Running":
        pass
    for actions in ({"nope": "Remove"}, {"prod": "Remove"}):
        with pytest.raises(ClientError) as err:
            aws.sm.stop_inference_experiment(Name="shadow-test", ModelVariantActions=actions)
        assert err.value.response["Error"]["Code"] == "ValidationException"
    assert describe(aws)["Status"] == "Running"


def test_experiment_needs_an_in_service_endpoint_and_known_models(aws):
    aws.model("prod-model")
    aws.model("candidate")
    aws.config("prod-config", "prod-model", count=2, variant="prod")
    aws.sm.create_endpoint(EndpointName="ep", EndpointConfigName="prod-config")
    with pytest.raises(ClientError) as err:
        create_experiment(aws)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    aws.wait_in_service("ep")
    with pytest.raises(ClientError) as err:
        aws.sm.create_inference_experiment(
            Name="x", Type="ShadowMode", RoleArn=ROLE, EndpointName="ep",
            ModelVariants=[variant_config("prod", "prod-model"), variant_config("c", "ghost")],
            ShadowModeConfig={"SourceModelVariantName": "prod", "ShadowModelVariants": [
                {"ShadowModelVariantName": "c", "SamplingPercentage": 10}]})
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_experiment_tags_are_listed(aws):
    experiment_endpoint(aws)
    arn = create_experiment(aws, Tags=[{"Key": "build", "Value": "42"}])["InferenceExperimentArn"]
    assert aws.sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "build", "Value": "42"}]
