"""SageMaker Runtime InvokeEndpoint in the emulator (tests/support/sagemaker_emulator/invocations.py),
through boto3's `sagemaker-runtime` client: in process under mock_aws, and on a moto server."""

from __future__ import annotations

import json
import urllib.request

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.support import sagemaker_emulator as emulator

ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
ACCOUNT = "123456789012"


@pytest.fixture
def sm(monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"):
        monkeypatch.delenv(var, raising=False)
    emulator.install()
    try:
        with mock_aws():
            yield emulator.client("sagemaker")
    finally:
        emulator.uninstall()


@pytest.fixture
def rt(sm):
    return emulator.client("sagemaker-runtime")


def model(sm, name: str, *, multi: bool = False, url: str | None = None) -> str:
    url = url or (f"s3://models/{name}/" if multi else f"s3://models/{name}/model.tar.gz")
    container = {"Image": f"image/{name}:1", "ModelDataUrl": url}
    if multi:
        container["Mode"] = "MultiModel"
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    return url


def variant(name: str, model_name: str, weight: float = 1.0, count: int = 1) -> dict:
    return {"VariantName": name, "ModelName": model_name, "InstanceType": "ml.m5.large",
            "InitialInstanceCount": count, "InitialVariantWeight": weight}


def endpoint(sm, name: str, config: str, variants: list[dict], **extra) -> None:
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=variants, **extra)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name,
                                               WaiterConfig={"Delay": 0, "MaxAttempts": 5})


def error_of(call) -> dict:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response


def invoke(rt, **kwargs) -> tuple[str, str, bytes]:
    kwargs.setdefault("EndpointName", "ep")
    kwargs.setdefault("Body", b"1.0,2.0")
    kwargs.setdefault("ContentType", "text/csv")
    answer = rt.invoke_endpoint(**kwargs)
    return answer["InvokedProductionVariant"], answer["ContentType"], answer["Body"].read()


# --------------------------------------------------------------------------- existence and status


def test_an_endpoint_that_does_not_exist_is_refused_as_aws_words_it(rt):
    response = error_of(lambda: rt.invoke_endpoint(EndpointName="missing", Body=b"1"))
    assert response["Error"]["Code"] == "ValidationError"
    assert response["Error"]["Message"] == f"Endpoint missing of account {ACCOUNT} not found."
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_endpoint_is_served_once_in_service_not_while_creating(sm, rt):
    model(sm, "m1")
    emulator.register_container("m1", {"kind": "constant", "body": "0.7"})
    sm.create_endpoint_config(EndpointConfigName="c1", ProductionVariants=[variant("main", "m1")])
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    response = error_of(lambda: invoke(rt))
    assert response["Error"]["Code"] == "ValidationError"
    assert "EndpointStatus Creating" in response["Error"]["Message"]
    sm.get_waiter("endpoint_in_service").wait(EndpointName="ep",
                                               WaiterConfig={"Delay": 0, "MaxAttempts": 5})
    assert invoke(rt) == ("main", "text/csv", b"0.7")  # content type: the request's Accept/ContentType


def test_failed_and_deleting_endpoints_are_refused(sm, rt):
    model(sm, "m1")
    sm.create_endpoint_config(EndpointConfigName="c1", ProductionVariants=[variant("main", "m1")])
    sm.create_endpoint(EndpointName="ep", EndpointConfigName="c1")
    emulator.force_outcome("ep", "Failed")
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "Failed"
    assert "EndpointStatus Failed" in error_of(lambda: invoke(rt))["Error"]["Message"]
    sm.delete_endpoint(EndpointName="ep")

    endpoint(sm, "ep2", "c2", [variant("main", "m1")])
    assert invoke(rt, EndpointName="ep2")[0] == "main"
    sm.delete_endpoint(EndpointName="ep2")
    assert "EndpointStatus Deleting" in error_of(lambda: invoke(rt, EndpointName="ep2"))["Error"]["Message"]
    assert sm.describe_endpoint(EndpointName="ep2")["EndpointStatus"] == "Deleting"
    with pytest.raises(ClientError):
        sm.describe_endpoint(EndpointName="ep2")
    assert error_of(lambda: invoke(rt, EndpointName="ep2"))["Error"]["Message"] == (
        f"Endpoint ep2 of account {ACCOUNT} not found.")


# --------------------------------------------------------------------------- variants and weights


def test_without_target_variant_the_weights_decide_deterministically(sm, rt):
    model(sm, "m1")
    model(sm, "m2")
    model(sm, "m3")
    emulator.register_container("m1", {"kind": "constant", "body": "a"})
    emulator.register_container("m2", {"kind": "constant", "body": "b"})
    emulator.register_container("m3", {"kind": "constant", "body": "zero"})
    endpoint(sm, "ep", "c1", [variant("a", "m1", 3.0), variant("b", "m2", 1.0), variant("z", "m3", 0.0)])
    chosen = [invoke(rt)[0] for _ in range(8)]
    assert chosen == ["a", "a", "b", "a", "a", "a", "b", "a"]  # smooth weighted round robin, 3:1
    assert "z" not in chosen
    assert [e["variant"] for e in emulator.invocations("ep")] == chosen


def test_target_variant_ignores_weights_and_reaches_a_weight_zero_variant(sm, rt):
    model(sm, "m1")
    model(sm, "m2")
    emulator.register_container("m2", {"kind": "constant", "body": "from-b"})
    endpoint(sm, "ep", "c1", [variant("a", "m1", 1.0), variant("b", "m2", 0.0)])
    assert invoke(rt, TargetVariant="b") == ("b", "text/csv", b"from-b")
    log = emulator.invocations("ep")
    assert [(e["variant"], e["model"], e["shadow_copy"]) for e in log] == [("b", "m2", False)]


def test_target_variant_must_name_a_production_variant(sm, rt):
    model(sm, "m1")
    endpoint(sm, "ep", "c1", [variant("a", "m1")])
    response = error_of(lambda: invoke(rt, TargetVariant="nope"))
    assert response["Error"]["Code"] == "ValidationError"
    assert '"nope" is not a production variant' in response["Error"]["Message"]


def test_a_shadow_variant_gets_a_copy_but_cannot_be_targeted_and_its_answer_is_dropped(sm, rt):
    model(sm, "prod")
    model(sm, "shadow")
    emulator.register_container("prod", {"kind": "constant", "body": "0.1"})
    emulator.register_container("shadow", {"kind": "error", "status": 500, "message": "shadow broke"})
    endpoint(sm, "ep", "c1", [variant("main", "prod")],
             ShadowProductionVariants=[variant("candidate", "shadow")])
    assert invoke(rt, Body=b"5.0") == ("main", "text/csv", b"0.1")  # the shadow's 500 is not returned
    log = emulator.invocations("ep")
    assert [(e["variant"], e["shadow_copy"], e["status"], e["body"]) for e in log] == [
        ("main", False, 200, b"5.0"), ("candidate", True, 500, b"5.0")]
    response = error_of(lambda: invoke(rt, TargetVariant="candidate"))
    assert response["Error"]["Code"] == "ValidationError"
    assert "is a shadow variant, not a production variant" in response["Error"]["Message"]


def test_shadow_copies_follow_the_weight_ratio(sm, rt):
    model(sm, "prod")
    model(sm, "shadow")
    endpoint(sm, "ep", "c1", [variant("main", "prod", 1.0)],
             ShadowProductionVariants=[variant("candidate", "shadow", 0.5)])
    for _ in range(4):
        invoke(rt)
    copies = [e for e in emulator.invocations("ep") if e["shadow_copy"]]
    assert len(copies) == 2


def test_during_a_canary_traffic_goes_to_both_fleets_by_the_phase_share(sm, rt):
    model(sm, "m1")
    model(sm, "m2")
    emulator.register_container("m1", {"kind": "constant", "body": "old"})
    emulator.register_container("m2", {"kind": "constant", "body": "new"})
    endpoint(sm, "ep", "c1", [variant("main", "m1", count=2)])
    sm.create_endpoint_config(EndpointConfigName="c2", ProductionVariants=[variant("main", "m2", count=2)])
    sm.update_endpoint(EndpointName="ep", EndpointConfigName="c2", DeploymentConfig={
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
            "Type": "CANARY", "WaitIntervalInSeconds": 60,
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50}}}})
    # provision-green: no traffic on the new fleet yet (invoking does not tick the deployment)
    assert {invoke(rt)[2] for _ in range(4)} == {b"old"}
    sm.describe_endpoint(EndpointName="ep")  # shows provision-green
    shown = sm.describe_endpoint(EndpointName="ep")  # canary-shift: half the traffic
    assert emulator.current_phase("ep") == "canary-shift"
    assert shown["PendingDeploymentSummary"]["ProductionVariants"][0]["CurrentWeight"] == 0.5
    bodies = [invoke(rt)[2] for _ in range(4)]
    assert sorted(bodies) == [b"new", b"new", b"old", b"old"]
    # the same variant name in both fleets: TargetVariant splits by the share too
    assert sorted(invoke(rt, TargetVariant="main")[2] for _ in range(2)) == [b"new", b"old"]
    configs = [e["endpoint_config"] for e in emulator.invocations("ep")[4:8]]
    assert sorted(configs) == ["c1", "c1", "c2", "c2"]
    for _ in range(10):
        if sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService":
            break
    assert {invoke(rt)[2] for _ in range(3)} == {b"new"}


def test_weights_update_applies_when_it_ends(sm, rt):
    model(sm, "m1")
    model(sm, "m2")
    endpoint(sm, "ep", "c1", [variant("a", "m1", 1.0), variant("b", "m2", 0.0)])
    sm.update_endpoint_weights_and_capacities(EndpointName="ep", DesiredWeightsAndCapacities=[
        {"VariantName": "a", "DesiredWeight": 0.0}, {"VariantName": "b", "DesiredWeight": 1.0}])
    assert invoke(rt)[0] == "a"  # Updating: the current weights still apply
    sm.describe_endpoint(EndpointName="ep")
    sm.describe_endpoint(EndpointName="ep")
    assert sm.describe_endpoint(EndpointName="ep")["EndpointStatus"] == "InService"
    assert invoke(rt)[0] == "b"


# --------------------------------------------------------------------------- multi-model


def test_target_model_reaches_the_multi_model_container(sm, rt):
    prefix = model(sm, "mme", multi=True)
    emulator.register_container(prefix, {"kind": "by_target_model", "models": {
        "a.tar.gz": {"kind": "constant", "body": "A"}}, "default": {"kind": "echo"}})
    emulator.register_container(prefix + "b.tar.gz", {"kind": "constant", "body": "B"})
    endpoint(sm, "ep", "c1", [variant("main", "mme")])
    assert invoke(rt, TargetModel="a.tar.gz")[2] == b"A"
    assert invoke(rt, TargetModel="b.tar.gz")[2] == b"B"  # its own registration: prefix + TargetModel
    assert invoke(rt, TargetModel="c.tar.gz", Body=b"x")[2] == b"x"
    assert [e["target_model"] for e in emulator.invocations("ep")] == ["a.tar.gz", "b.tar.gz", "c.tar.gz"]
    response = error_of(lambda: invoke(rt))
    assert response["Error"]["Code"] == "ValidationError"
    assert "specify TargetModel" in response["Error"]["Message"]


def test_target_model_is_refused_on_a_single_model_endpoint(sm, rt):
    model(sm, "m1")
    endpoint(sm, "ep", "c1", [variant("main", "m1")])
    response = error_of(lambda: invoke(rt, TargetModel="a.tar.gz"))
    assert response["Error"]["Code"] == "ValidationError"
    assert "TargetModel is only for multi-model endpoints" in response["Error"]["Message"]
    assert emulator.invocations("ep") == []


# --------------------------------------------------------------------------- containers


def test_a_container_error_is_a_model_error_with_the_original_status(sm, rt):
    url = model(sm, "m1")
    emulator.register_container(url, {"kind": "error", "status": 500, "message": "out of memory"})
    endpoint(sm, "ep", "c1", [variant("main", "m1")])
    response = error_of(lambda: invoke(rt))
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 500
    assert response["OriginalMessage"] == "out of memory"
    assert response["Error"]["Message"].startswith(
        'Received server error (500) from primary with message "out of memory".')
    assert response["LogStreamArn"] == (
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/ep:log-stream:main/emulator")
    emulator.register_container(url, {"kind": "error", "status": 400, "message": "bad csv"})
    response = error_of(lambda: invoke(rt))
    assert response["OriginalStatusCode"] == 400
    assert response["Error"]["Message"].startswith("Received client error (400)")
    assert [e["status"] for e in emulator.invocations("ep")] == [500, 400]


def test_a_function_container_sees_content_type_accept_and_answers(sm, rt):
    model(sm, "m1")
    seen = []

    def fn(body, content_type, accept, target_model):
        seen.append((body, content_type, accept, target_model))
        rows = body.decode().splitlines()
        return 200, json.dumps({"predictions": [0.5] * len(rows)}), "application/json"

    emulator.register_container("m1", fn)
    endpoint(sm, "ep", "c1", [variant("main", "m1")])
    assert invoke(rt, Body=b"1,2\n3,4", Accept="application/json") == (
        "main", "application/json", b'{"predictions": [0.5, 0.5]}')
    assert seen == [(b"1,2\n3,4", "text/csv", "application/json", None)]

    def broken(body, content_type, accept, target_model):
        raise RuntimeError("model code bug")

    emulator.register_container("m1", broken)
    response = error_of(lambda: invoke(rt))
    assert (response["Error"]["Code"], response["OriginalStatusCode"]) == ("ModelError", 500)
    assert "RuntimeError: model code bug" in response["OriginalMessage"]


def test_csv_rows_answers_one_value_per_line(sm, rt):
    model(sm, "m1")
    emulator.register_container("m1", {"kind": "csv_rows", "value": "0.25"})
    endpoint(sm, "ep", "c1", [variant("main", "m1")])
    assert invoke(rt, Body=b"1,2\n3,4\n5,6\n") == ("main", "text/csv", b"0.25\n0.25\n0.25")


def test_unknown_behaviour_kinds_are_refused():
    with pytest.raises(ValueError):
        emulator.register_container("m1", {"kind": "magic"})
    with pytest.raises(ValueError):
        emulator.register_container("m1", {"kind": "error", "status": 200})


# --------------------------------------------------------------------------- size limits


def test_the_real_time_payload_limit_is_6_mb(sm, rt):
    model(sm, "m1")
    emulator.register_container("m1", {"kind": "constant", "body": "ok"})
    endpoint(sm, "ep", "c1", [variant("main", "m1")])
    assert invoke(rt, Body=b"x" * emulator.REALTIME_MAX_BODY)[2] == b"ok"
    response = error_of(lambda: invoke(rt, Body=b"x" * (emulator.REALTIME_MAX_BODY + 1)))
    assert response["Error"]["Code"] == "ValidationError"
    assert response["Error"]["Message"] == (
        "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must "
        "have length less than or equal to 6291456")
    assert len(emulator.invocations("ep")) == 1


def test_the_serverless_payload_limit_is_4_mb(sm, rt):
    model(sm, "m1")
    emulator.register_container("m1", {"kind": "constant", "body": "ok"})
    endpoint(sm, "ep", "c1", [{"VariantName": "main", "ModelName": "m1",
                               "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}])
    assert invoke(rt, Body=b"x" * emulator.SERVERLESS_MAX_BODY)[2] == b"ok"
    response = error_of(lambda: invoke(rt, Body=b"x" * (emulator.SERVERLESS_MAX_BODY + 1)))
    assert response["Error"]["Code"] == "ValidationError" and "serverless" in response["Error"]["Message"]


# --------------------------------------------------------------------------- fallback and reset


def test_without_a_container_moto_answers_but_the_refusals_still_apply(sm, rt):
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.set_sagemaker_result(
        body="0.42", content_type="text/csv", prod_variant="ignored", custom_attrs="trace=1",
        account_id=ACCOUNT, region="us-east-1")
    assert error_of(lambda: invoke(rt, EndpointName="nowhere"))["Error"]["Code"] == "ValidationError"
    model(sm, "m1")
    endpoint(sm, "ep", "c1", [variant("main", "m1")])
    assert error_of(lambda: invoke(rt, TargetVariant="other"))["Error"]["Code"] == "ValidationError"
    answer = rt.invoke_endpoint(EndpointName="ep", Body=b"1", ContentType="text/csv")
    assert (answer["Body"].read(), answer["ContentType"], answer["InvokedProductionVariant"],
            answer["CustomAttributes"]) == (b"0.42", "text/csv", "main", "trace=1")
    assert [(e["variant"], e["status"]) for e in emulator.invocations("ep")] == [("main", 200)]


def test_a_moto_reset_clears_the_log_and_the_containers(sm, rt):
    model(sm, "m1")
    emulator.register_container("m1", {"kind": "constant", "body": "x"})
    endpoint(sm, "ep", "c1", [variant("main", "m1")])
    invoke(rt)
    assert emulator.registered_containers() == {"m1": {"kind": "constant", "body": "x"}}
    from moto.core.base_backend import BackendDict

    BackendDict.reset()
    assert emulator.registered_containers() == {}
    assert emulator.invocations("ep") == []


# --------------------------------------------------------------------------- server mode


def test_server_mode_containers_log_refusals_and_canned_results(aws):
    rt = emulator.client("sagemaker-runtime", aws.url)
    aws.model("m1")  # ModelDataUrl s3://models/m1/model.tar.gz
    aws.model("m2")
    aws.sm.create_endpoint_config(EndpointConfigName="c1", ProductionVariants=[
        variant("a", "m1", 1.0), variant("b", "m2", 0.0)])
    aws.endpoint("ep", "c1")
    emulator.register_container_remote(aws.url, "s3://models/m1/model.tar.gz",
                                       {"kind": "csv_rows", "value": "0.9"})
    emulator.register_container_remote(aws.url, "m2", {"kind": "error", "status": 503,
                                                       "message": "warming up"})
    assert invoke(rt, Body=b"1\n2") == ("a", "text/csv", b"0.9\n0.9")
    response = error_of(lambda: invoke(rt, TargetVariant="b"))
    assert (response["Error"]["Code"], response["OriginalStatusCode"],
            response["OriginalMessage"]) == ("ModelError", 503, "warming up")
    assert error_of(lambda: invoke(rt, EndpointName="gone"))["Error"]["Message"] == (
        f"Endpoint gone of account {ACCOUNT} not found.")
    log = emulator.invocations_remote(aws.url, "ep")
    assert [(e["variant"], e["body"], e["status"], e["shadow_copy"]) for e in log] == [
        ("a", b"1\n2", 200, False), ("b", b"1.0,2.0", 503, False)]

    # no container for the model any more: moto's queued results answer
    emulator.register_container_remote(aws.url, "s3://models/m1/model.tar.gz", None)
    request = urllib.request.Request(
        f"{aws.url}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps({"results": [{"Body": "0.33", "ContentType": "text/csv"}]}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=10).read()
    assert invoke(rt, Body=b"7") == ("a", "text/csv", b"0.33")

    emulator.reset(aws.url)
    assert emulator.invocations_remote(aws.url, "ep") == []
