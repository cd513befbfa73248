"""UpdateEndpointWeightsAndCapacities (moto server)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def two_variant_endpoint(aws):
    aws.model("m1")
    aws.model("m2")
    aws.sm.create_endpoint_config(EndpointConfigName="ab", ProductionVariants=[
        {"VariantName": "a", "ModelName": "m1", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 3, "InitialVariantWeight": 3.0},
        {"VariantName": "b", "ModelName": "m2", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 2, "InitialVariantWeight": 1.0}])
    aws.endpoint("ep", "ab")


def variants(aws):
    d = aws.sm.describe_endpoint(EndpointName="ep")
    return d["EndpointStatus"], {
        v["VariantName"]: (v["CurrentWeight"], v["DesiredWeight"], v["CurrentInstanceCount"],
                           v["DesiredInstanceCount"])
        for v in d["ProductionVariants"]}


def test_weight_change_keeps_instance_counts(aws):
    two_variant_endpoint(aws)
    aws.sm.update_endpoint_weights_and_capacities(EndpointName="ep", DesiredWeightsAndCapacities=[
        {"VariantName": "a", "DesiredWeight": 1.0}, {"VariantName": "b", "DesiredWeight": 1.0}])
    assert variants(aws) == ("Updating", {"a": (3.0, 1.0, 3, 3), "b": (1.0, 1.0, 2, 2)})
    assert variants(aws) == ("InService", {"a": (1.0, 1.0, 3, 3), "b": (1.0, 1.0, 2, 2)})


def test_capacity_change_keeps_weight(aws):
    two_variant_endpoint(aws)
    aws.sm.update_endpoint_weights_and_capacities(EndpointName="ep", DesiredWeightsAndCapacities=[
        {"VariantName": "b", "DesiredInstanceCount": 5}])
    status, before = variants(aws)
    assert status == "Updating" and before["b"] == (1.0, 1.0, 2, 5)
    d = aws.sm.describe_endpoint(EndpointName="ep")
    assert d["EndpointStatus"] == "InService"
    b = next(v for v in d["ProductionVariants"] if v["VariantName"] == "b")
    assert (b["CurrentWeight"], b["CurrentInstanceCount"], b["DesiredInstanceCount"]) == (1.0, 5, 5)


def test_unknown_or_repeated_variant_is_rejected(aws):
    two_variant_endpoint(aws)
    for request in ([{"VariantName": "zzz", "DesiredWeight": 1.0}],
                    [{"VariantName": "a", "DesiredWeight": 1.0},
                     {"VariantName": "a", "DesiredWeight": 2.0}]):
        with pytest.raises(ClientError) as err:
            aws.sm.update_endpoint_weights_and_capacities(
                EndpointName="ep", DesiredWeightsAndCapacities=request)
        assert err.value.response["Error"]["Code"] == "ValidationException"
    assert variants(aws)[0] == "InService"


def test_rejected_while_updating(aws):
    two_variant_endpoint(aws)
    aws.sm.update_endpoint_weights_and_capacities(EndpointName="ep", DesiredWeightsAndCapacities=[
        {"VariantName": "a", "DesiredWeight": 2.0}])
    with pytest.raises(ClientError) as err:
        aws.sm.update_endpoint_weights_and_capacities(
            EndpointName="ep", DesiredWeightsAndCapacities=[{"VariantName": "a",
                                                             "DesiredWeight": 1.0}])
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_list_endpoints_follows_the_status(aws):
    two_variant_endpoint(aws)
    aws.sm.update_endpoint_weights_and_capacities(EndpointName="ep", DesiredWeightsAndCapacities=[
        {"VariantName": "a", "DesiredWeight": 2.0}])
    assert aws.sm.list_endpoints()["Endpoints"][0]["EndpointStatus"] == "Updating"
    aws.wait_in_service("ep")
    assert aws.sm.list_endpoints()["Endpoints"][0]["EndpointStatus"] == "InService"
