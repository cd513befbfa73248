"""Carry out a rollout `Decision` with boto3 and observe the endpoint. Thin: no decisions here.

`observe(clients, endpoint, alarms)` makes at most two calls: sagemaker:DescribeEndpoint and,
when there are alarms, cloudwatch:DescribeAlarms. `execute(decision, clients, requests)` makes
the calls of the decision (none for wait/report/fail) and then observes. A multi-model deploy
first copies the candidate's artifact under the endpoint's prefix (`copy_artifact`: HeadObject
on both sides, then one CopyObject unless the same object is already there), in the same
action as the endpoint step that serves it. So a loop reads

    observed = observe(clients, state.endpoint, state.alarms)
    while True:
        decision = decide(state, observed, clock.utcnow())
        state = decision.state           # store it BEFORE executing
        if decision.final:
            done = execute(decision, clients, requests)   # done.error: run it again later
            break
        sleep(decision.seconds)
        observed = execute(decision, clients, requests)

Creates are safe to repeat: names are deterministic and a create that AWS refuses because the
resource already exists ("Cannot create already existing ...") counts as done; an update that
AWS refuses because the endpoint is already updating is left to the next observation. Any
other refusal of an action is returned in `Observation.error` for the controller to judge (for
a final decision, whose calls are autoscaling, tags and cleanup, for the caller: a terminal
state decides the same again, so executing it again later is safe); a failing observation
raises `AwsUnavailable`. What modelbot itself refuses to do (`DeployError`: an artifact over
CopyObject's 5 GB limit, a different object already at the multi-model key) is returned the
same way, never retried.

A smoke action (`smoke_test`) sends the contract's sample payloads with sagemaker-runtime
InvokeEndpoint after observing, and returns the answers' problems in `Observation.smoke`; the
engine records them in the state (`bot.core.deploy.rollout.record_smoke`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any, Callable

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.adapters.aws.invoke import invoke_payloads
from bot.adapters.aws.session import AwsUnavailable, client, smoke_client_config, unavailable
from bot.core.contract import judge_answers
from bot.core.manifest.model import Contract
from bot.core.deploy import scaling
from bot.core.deploy.requests import DeployRequests, weights_request
from bot.core.deploy.rollout import Cleanup, Decision, Observation
from bot.core.deploy.requests import split_s3_uri
from bot.core.experiment import bake

_RETRIABLE = {"ThrottlingException", "Throttling", "ThrottledException", "RequestLimitExceeded",
              "TooManyRequestsException", "ServiceUnavailable", "InternalFailure",
              "InternalServerError", "ServiceUnavailableException", "ConcurrentUpdateException"}
_NOT_FOUND = ("could not find", "does not exist", "not found", "cannot find", "no scalable target")
COPY_OBJECT_MAX_BYTES = 5 * 1024 ** 3  # S3 CopyObject copies at most 5 GB in one request
SOURCE_ETAG_METADATA = "modelbot-source-etag"
SOURCE_METADATA = "modelbot-source"
BOT_TAG_PREFIX = "modelbot:"
BACKLOG_ALARM_SUFFIX = "-backlog-no-capacity"  # bot.core.deploy.requests.backlog_alarm_name
MISSING_ALARM = "MISSING"  # Observation.alarms value of a watched alarm DescribeAlarms does not know


class DeployError(Exception):
    """Something modelbot refuses to do in a deploy (not an AWS refusal); never retried."""


@dataclass(frozen=True)
class Clients:
    """boto3 clients of one environment's session."""

    sagemaker: Any
    autoscaling: Any = None
    cloudwatch: Any = None
    s3: Any = None
    runtime: Any = None  # sagemaker-runtime: the smoke test's InvokeEndpoint

    @classmethod
    def from_session(cls, session: boto3.Session) -> "Clients":
        return cls(client(session, "sagemaker"), client(session, "application-autoscaling"),
                   client(session, "cloudwatch"), client(session, "s3"),
                   client(session, "sagemaker-runtime", smoke_client_config()))


def _message(exc: ClientError) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    return str(error.get("Code") or ""), str(error.get("Message") or "")


def _exists_already(exc: ClientError) -> bool:
    code, message = _message(exc)
    lowered = message.lower()
    return code in ("ValidationException", "ResourceInUse", "ResourceInUseException") and (
        "already exist" in lowered or "must be unique" in lowered)


def _missing(exc: ClientError) -> bool:
    code, message = _message(exc)
    if code in ("ResourceNotFoundException", "ObjectNotFoundException", "ResourceNotFound"):
        return True
    return code in ("ValidationException", "ResourceNotFound", "ResourceNotFoundException",
                    "ObjectNotFoundException") and any(m in message.lower() for m in _NOT_FOUND)


def _busy(exc: ClientError) -> bool:
    code, message = _message(exc)
    return code == "ValidationException" and "in-progress" in message.lower()


def _create(fn: Callable[..., Any], request: dict) -> bool:
    """`fn(**request)`; False (and no error) if the resource already exists."""
    try:
        fn(**request)
        return True
    except ClientError as exc:
        if _exists_already(exc):
            return False
        raise


def _ignore_missing(fn: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise


# --- observing ------------------------------------------------------------------------------------


def observe(clients: Clients, endpoint: str, alarms: tuple[str, ...] | list[str] = (),
            component: str | None = None) -> Observation:
    """The endpoint and its alarms now: DescribeEndpoint, plus DescribeAlarms if `alarms`, plus
    DescribeInferenceComponent if `component`."""
    observed = _observe_endpoint(clients, endpoint, alarms)
    if component is None or not observed.exists:
        return observed
    where = f"inference component {component}"
    try:
        c = clients.sagemaker.describe_inference_component(InferenceComponentName=component)
    except ClientError as exc:
        if not _missing(exc):
            raise unavailable(exc, where=where, call="sagemaker:DescribeInferenceComponent") from None
        return observed
    except BotoCoreError as exc:
        raise unavailable(exc, where=where, call="sagemaker:DescribeInferenceComponent") from None
    runtime = c.get("RuntimeConfig") or {}
    return replace(observed, component_status=c.get("InferenceComponentStatus"),
                   component_model=(c.get("Specification") or {}).get("ModelName"),
                   component_copies=runtime.get("DesiredCopyCount"),
                   component_failure=c.get("FailureReason"), component_modified=c.get("LastModifiedTime"))


def _observe_endpoint(clients: Clients, endpoint: str, alarms: tuple[str, ...] | list[str] = ()) -> Observation:
    where = f"endpoint {endpoint}"
    try:
        described = clients.sagemaker.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:
        if not _missing(exc):
            raise unavailable(exc, where=where, call="sagemaker:DescribeEndpoint") from None
        described = None
    except BotoCoreError as exc:
        raise unavailable(exc, where=where, call="sagemaker:DescribeEndpoint") from None
    states: dict[str, str] = {}
    if alarms:
        try:
            # Without AlarmTypes DescribeAlarms answers metric alarms only (CloudWatch API
            # reference, DescribeAlarms: "If you omit this parameter, only metric alarms are
            # returned"); rollback alarms may be composite.
            answer = clients.cloudwatch.describe_alarms(
                AlarmNames=list(alarms)[:100], AlarmTypes=["CompositeAlarm", "MetricAlarm"])
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, where=where, call="cloudwatch:DescribeAlarms") from None
        for alarm in answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", []):
            states[alarm["AlarmName"]] = alarm.get("StateValue", "INSUFFICIENT_DATA")
        for name in alarms:  # an alarm that does not exist can never fire: say so
            states.setdefault(name, MISSING_ALARM)
    if described is None:
        return Observation(exists=False, alarms=states)
    return observation_from(described, states)


def observation_from(described: dict, alarms: dict[str, str] | None = None) -> Observation:
    """An Observation from a DescribeEndpoint answer and alarm states."""
    pending = described.get("PendingDeploymentSummary") or None
    traffic = stage = stage_since = None
    if pending:
        rows = pending.get("ProductionVariants") or []
        desired = sum(float(r.get("DesiredWeight") or 0) for r in rows)
        current = sum(float(r.get("CurrentWeight") or 0) for r in rows)
        if desired > 0:
            traffic = round(100.0 * current / desired, 2)
        for row in rows:
            statuses = row.get("VariantStatus") or []
            if statuses:
                stage = statuses[0].get("Status")
                started = statuses[0].get("StartTime")
                stage_since = started if isinstance(started, dt.datetime) else None
                break
    weights = {v["VariantName"]: float(v.get("CurrentWeight", 0.0))
               for v in described.get("ProductionVariants") or [] if "CurrentWeight" in v}
    return Observation(
        exists=True,
        status=described.get("EndpointStatus"),
        config_name=described.get("EndpointConfigName"),
        pending_config=pending.get("EndpointConfigName") if pending else None,
        failure_reason=described.get("FailureReason"),
        weights=weights,
        traffic_percent=traffic,
        stage=stage,
        stage_since=stage_since,
        last_modified=described.get("LastModifiedTime"),
        alarms=dict(alarms or {}),
        arn=described.get("EndpointArn"),
    )


# --- executing ------------------------------------------------------------------------------------


def execute(decision: Decision, clients: Clients, requests: DeployRequests) -> Observation:
    """Make the AWS calls of `decision`, then observe the endpoint."""
    state = decision.state
    error = None
    retriable = False
    by_aws = True
    try:
        _ACTIONS[decision.action](decision, clients, requests)
    except DeployError as exc:
        error, by_aws = str(exc), False
    except ClientError as exc:
        code, message = _message(exc)
        error = f"{exc.operation_name}: {code}: {message}"
        retriable = code in _RETRIABLE or exc.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", 400) >= 500
    except BotoCoreError as exc:
        error, retriable = f"{type(exc).__name__}: {exc}", True
    observed = observe(clients, state.endpoint, state.alarms, state.component)
    if error:
        observed = replace(observed, error=error, error_retriable=retriable, error_by_aws=by_aws)
    elif decision.action == "smoke":
        problems, retriable = smoke_test(clients, requests, state)
        observed = replace(observed, smoke=tuple(problems), smoke_retriable=retriable)
    return observed


SMOKE_BUDGET_SECONDS = 60  # all samples together, well within a worker's lease on the deployment


def smoke_test(clients: Clients, requests: DeployRequests, state) -> tuple[list[str], bool]:
    """Send the contract's samples to the new model and judge the answers (`bot.core.contract`):
    (the problems, whether every one of them is worth trying again)."""
    smoke = requests.smoke
    if not smoke:
        return ["the deployment has no smoke test to run"], False
    if clients.runtime is None:
        return ["no sagemaker-runtime client to invoke the endpoint with"], False
    contract = Contract.model_validate(smoke["contract"])
    ab = state.flow == "ab" and state.smoke_on == state.target_config
    result = invoke_payloads(clients.runtime, state.endpoint, [b.encode("utf-8") for b in smoke["bodies"]],
                             content_type=smoke["content_type"], accept=smoke["accept"],
                             target_variant=smoke.get("target_variant") if ab else None,
                             target_model=smoke.get("target_model"),
                             inference_component=smoke.get("inference_component"),
                             budget_seconds=SMOKE_BUDGET_SECONDS)
    problems = judge_answers(contract, smoke["payloads"], list(result.answers))
    expected = smoke.get("target_variant") if ab else None
    for i, a in enumerate(result.answers, 1):
        if expected and not a.error and a.variant != expected:
            problems.append(f"sample {i} was answered by variant {a.variant or '(AWS did not say)'}, not {expected}")
    failed = [a for a in result.answers if a.error]
    retriable = bool(problems) and len(failed) == len(problems) and all(a.retriable for a in failed)
    return problems, retriable


def create_models(clients: Clients, requests: DeployRequests) -> None:
    for request in requests.models:
        _create(clients.sagemaker.create_model, request)


def create_config(clients: Clients, requests: DeployRequests, name: str | None) -> None:
    request = requests.endpoint_config(name) if name else None
    if request is not None:
        _create(clients.sagemaker.create_endpoint_config, request)


def _update(clients: Clients, requests: DeployRequests, config: str) -> None:
    try:
        clients.sagemaker.update_endpoint(**requests.update_to(config))
    except ClientError as exc:
        if not _busy(exc):
            raise


def _weights(clients: Clients, endpoint: str, weights: dict[str, float]) -> None:
    try:
        clients.sagemaker.update_endpoint_weights_and_capacities(**weights_request(endpoint, weights))
    except ClientError as exc:
        if not _busy(exc):
            raise


def _do_create_endpoint(d: Decision, clients: Clients, requests: DeployRequests) -> None:
    copy_artifact(clients, requests)
    create_models(clients, requests)
    create_config(clients, requests, d.config)
    if requests.create_endpoint is not None:
        _create(clients.sagemaker.create_endpoint, requests.create_endpoint)


def _do_update_endpoint(d: Decision, clients: Clients, requests: DeployRequests) -> None:
    assert d.config is not None
    if d.config in (requests.target_config, requests.promoted_config):
        copy_artifact(clients, requests)  # not on the way back: a rollback needs no new artifact
    create_models(clients, requests)
    create_config(clients, requests, d.config)
    _deregister_for(clients, requests, d.config)
    if d.config == requests.target_config and requests.judge_alarm is not None:
        # The alarm the update rolls back on must exist before it starts, on this rollout's own
        # metric and in OK (a previous rollout's failure may have left it in ALARM:
        # bot.core.experiment.bake). Both calls are safe to repeat.
        deployment = d.state.deployment_id
        clients.cloudwatch.put_metric_alarm(**bake.for_deployment(requests.judge_alarm, deployment))
        clients.cloudwatch.set_alarm_state(**bake.reset_request(d.state.endpoint, deployment))
    _update(clients, requests, d.config)


def publish_judge_failure(clients: Clients, endpoint: str, deployment: str, now) -> None:
    """Put the judge's alarm into ALARM (`bot.core.experiment.bake.failure_datum`, rollout
    `deployment`'s metric): SageMaker then rolls the update back. Raises AwsUnavailable when
    CloudWatch refuses."""
    try:
        clients.cloudwatch.put_metric_data(**bake.failure_datum(endpoint, deployment, now))
    except (ClientError, BotoCoreError) as exc:
        raise unavailable(exc, where=f"the operational judge's metric of {endpoint}",
                          call="cloudwatch:PutMetricData") from None


def _do_place_component(d: Decision, clients: Clients, requests: DeployRequests) -> None:
    """Create the model, then create the component, update it, or change its copy count."""
    create_models(clients, requests)
    sm = clients.sagemaker
    if requests.create_component is not None:
        request = requests.create_component
        if not _create(sm.create_inference_component, request):
            # Names are per account and region: one that exists must be this deploy's own, on its
            # endpoint (a retry), never another endpoint's component taken for ours.
            found = sm.describe_inference_component(InferenceComponentName=request["InferenceComponentName"])
            mine = {t["Key"]: t["Value"] for t in request.get("Tags") or ()}
            theirs = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=found["InferenceComponentArn"],
                                                                 MaxResults=100).get("Tags", [])}
            if found.get("EndpointName") != request["EndpointName"] or \
                    theirs.get("modelbot:manifest") != mine.get("modelbot:manifest"):
                raise DeployError(f"an inference component named {request['InferenceComponentName']} already "
                                  f"exists on endpoint {found.get('EndpointName')} (not this manifest's): "
                                  "choose another inference_component.name")
    elif requests.update_component is not None:
        try:
            sm.update_inference_component(**requests.update_component)
        except ClientError as exc:
            if not _busy(exc):
                raise
    elif requests.component_copies is not None:
        try:
            sm.update_inference_component_runtime_config(**requests.component_copies)
        except ClientError as exc:
            if not _busy(exc):  # an update or autoscaling in progress: tried again at the next tick
                raise


def _do_rollback_component(d: Decision, clients: Clients, requests: DeployRequests) -> None:
    if requests.rollback_component is None:
        raise DeployError(f"the previous specification of {requests.component_name} is not known; "
                          "nothing to roll back to")
    try:
        clients.sagemaker.update_inference_component(**requests.rollback_component)
    except ClientError as exc:
        if not _busy(exc):
            raise


def _deregister_for(clients: Clients, requests: DeployRequests, config: str) -> None:
    """AWS fails an update that removes an autoscaled variant or changes its instance type:
    deregister those first (their policies go with them; `restore_autoscaling` brings them
    back on any ending but success, `apply_autoscaling` registers the new ones on success)."""
    if clients.autoscaling is None:
        return
    for request in requests.deregister_for(config):
        try:
            _ignore_missing(clients.autoscaling.deregister_scalable_target, **request)
        except ClientError as exc:
            # Under the tag-conditioned deployer policy a target already gone (a retried
            # update) answers AccessDenied, not "not found"; if it is still there, someone
            # else's, the UpdateEndpoint below is refused by AWS with its own message.
            if _message(exc)[0] not in ("AccessDenied", "AccessDeniedException"):
                raise


def _do_shift(d: Decision, clients: Clients, requests: DeployRequests) -> None:
    if d.weights is not None:
        _weights(clients, d.state.endpoint, d.weight_map)
    if d.config is not None:
        create_config(clients, requests, d.config)
        _deregister_for(clients, requests, d.config)
        _update(clients, requests, d.config)


def _do_fail(d: Decision, clients: Clients, requests: DeployRequests) -> None:
    """A rollout that ends otherwise than in success (rolled back, aborted, failed): register
    again what it deregistered, where the endpoint still serves those variants."""
    if requests.endpoint is not None and requests.restore_autoscaling:
        restore_autoscaling(clients, requests)


def _do_succeed(d: Decision, clients: Clients, requests: DeployRequests) -> None:
    if requests.endpoint is None:
        return
    apply_autoscaling(clients, requests)
    if requests.component_tags and requests.component_name:
        # the component's provenance and digest only once the update has landed: a rollback
        # leaves the previous ones (the next plan sees the component as it is)
        arn = clients.sagemaker.describe_inference_component(
            InferenceComponentName=requests.component_name)["InferenceComponentArn"]
        clients.sagemaker.add_tags(ResourceArn=arn, Tags=list(requests.component_tags))
    if d.state.flow != "create" and requests.manages_endpoint:
        refresh_endpoint_tags(clients, requests, d.state.previous_config)
    if d.cleanup is not None:
        delete_superseded(clients, d.cleanup)


def _nothing(d: Decision, clients: Clients, requests: DeployRequests) -> None:
    return None


_ACTIONS: dict[str, Callable[[Decision, Clients, DeployRequests], None]] = {
    "create_endpoint": _do_create_endpoint,
    "update_endpoint": _do_update_endpoint,
    "shift_weights": _do_shift,
    "promote": _do_shift,
    "rollback": _do_shift,
    "succeed": _do_succeed,
    "fail": _do_fail,
    "wait": _nothing,
    "report": _nothing,
    "smoke": _nothing,  # the invocations run in `execute`, after the endpoint is observed
    "place_component": _do_place_component,
    "rollback_component": _do_rollback_component,
}


def apply_autoscaling(clients: Clients, requests: DeployRequests) -> None:
    """Register the scalable target and put its policies (upserts), the async backlog alarm
    pointing at the step policy, and deregister targets the manifest dropped."""
    a = requests.autoscaling
    aas = clients.autoscaling
    if aas is None:
        return
    for request in a.deregister:
        _ignore_missing(aas.deregister_scalable_target, **request)
    if a.register is None:
        return
    aas.register_scalable_target(**a.register)
    if a.target_tracking is not None:
        aas.put_scaling_policy(**a.target_tracking)
    if a.step_policy is not None:
        arn = aas.put_scaling_policy(**a.step_policy)["PolicyARN"]
        if a.backlog_alarm is not None and clients.cloudwatch is not None:
            clients.cloudwatch.put_metric_alarm(**a.backlog_alarm, AlarmActions=[arn])


def restore_autoscaling(clients: Clients, requests: DeployRequests) -> list[str]:
    """Register again the scalable targets (with their policies, and the alarms of their step
    policies pointed at the restored ARNs) that were live when the deploy was planned and are
    not registered now, for the variants the endpoint serves. Returns the variants restored."""
    aas, sm = clients.autoscaling, clients.sagemaker
    if aas is None or requests.endpoint is None:
        return []
    try:
        described = sm.describe_endpoint(EndpointName=requests.endpoint)
    except ClientError as exc:
        if _missing(exc):
            return []
        raise
    serving = [v["VariantName"] for v in described.get("ProductionVariants") or ()]
    ids = [e["register"]["ResourceId"] for e in requests.restore_autoscaling]
    registered = [t["ResourceId"] for t in aas.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=ids,
        ScalableDimension=scaling.SCALABLE_DIMENSION).get("ScalableTargets", [])]
    done = []
    for entry in scaling.to_restore(requests.restore_autoscaling, registered, serving):
        aas.register_scalable_target(**entry["register"])
        arns = {}
        for policy in entry["policies"]:
            arns[policy["PolicyName"]] = aas.put_scaling_policy(**policy)["PolicyARN"]
        resource = entry["register"]["ResourceId"]
        for link in entry["alarms"]:
            if clients.cloudwatch is None or link["PolicyName"] not in arns:
                continue
            if not link["AlarmName"].endswith(BACKLOG_ALARM_SUFFIX):
                continue  # not modelbot's alarm: the deployer role may not write it (config/iam)
            found = clients.cloudwatch.describe_alarms(AlarmNames=[link["AlarmName"]],
                                                       AlarmTypes=["MetricAlarm"]).get("MetricAlarms", [])
            if found:
                clients.cloudwatch.put_metric_alarm(**scaling.alarm_update(
                    found[0], resource, link["PolicyName"], arns[link["PolicyName"]]))
        done.append(entry["variant"])
    return done


def refresh_endpoint_tags(clients: Clients, requests: DeployRequests,
                          previous_config: str | None = None) -> None:
    """Tag the endpoint with the provenance of the model it now serves, and drop the tags the
    bot put there that are gone: modelbot's own keys, and manifest tags that the previous
    config carried when the bot created it. Tags others put on the endpoint (an adopted one,
    say) stay, as do AWS's (`aws:`)."""
    sm = clients.sagemaker
    arn = sm.describe_endpoint(EndpointName=requests.endpoint)["EndpointArn"]
    wanted = {t["Key"] for t in requests.endpoint_tags}
    current = sm.list_tags(ResourceArn=arn, MaxResults=100).get("Tags", [])
    ours = _bot_applied_keys(sm, arn, previous_config)
    stale = [t["Key"] for t in current if t["Key"] not in wanted and not t["Key"].startswith("aws:")
             and (t["Key"].startswith(BOT_TAG_PREFIX) or t["Key"] in ours)]
    if stale:
        sm.delete_tags(ResourceArn=arn, TagKeys=stale)
    if requests.endpoint_tags:
        sm.add_tags(ResourceArn=arn, Tags=list(requests.endpoint_tags))


def _bot_applied_keys(sm: Any, endpoint_arn: str, config: str | None) -> set[str]:
    """The tag keys of `config` if modelbot created it (it carries modelbot's environment tag):
    the manifest tags the bot applied with the previous deploy."""
    if not config:
        return set()
    config_arn = endpoint_arn.split(":endpoint/", 1)[0] + ":endpoint-config/" + config.lower()
    try:
        tags = {t["Key"] for t in sm.list_tags(ResourceArn=config_arn, MaxResults=100).get("Tags", [])}
    except ClientError as exc:
        if _missing(exc) or _message(exc)[0] in ("AccessDenied", "AccessDeniedException"):
            return set()
        raise
    return tags if BOT_TAG_PREFIX + "environment" in tags else set()


def delete_superseded(clients: Clients, cleanup: Cleanup) -> None:
    """Delete superseded endpoint configs, then models; what is already gone is fine (under the
    tag-conditioned IAM policy a deleted resource answers AccessDenied, not "not found")."""
    for fn, key, names in ((clients.sagemaker.delete_endpoint_config, "EndpointConfigName", cleanup.endpoint_configs),
                           (clients.sagemaker.delete_model, "ModelName", cleanup.models)):
        for name in names:
            try:
                _ignore_missing(fn, **{key: name})
            except ClientError as exc:
                if _message(exc)[0] not in ("AccessDenied", "AccessDeniedException"):
                    raise


# --- multi-model artifacts ------------------------------------------------------------------------


def _head(s3: Any, bucket: str, key: str) -> dict | None:
    """HeadObject, or None when the object is not there. Without s3:ListBucket S3 answers a
    missing key with 403, not 404: the deployer policy grants GetObject on the multi-model
    prefix, so a 403 there means "missing" (a real refusal then fails the CopyObject)."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = _message(exc)[0]
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("404", "NoSuchKey", "NotFound", "403", "Forbidden") or status in (403, 404):
            return None
        raise


def _etag(answer: dict) -> str:
    return str(answer.get("ETag") or "").strip('"')


def copy_artifact(clients: Clients, requests: DeployRequests) -> bool:
    """Put the candidate's artifact under the multi-model prefix (`requests.artifact_copy`).

    HeadObject on the source and the target; nothing more when the target already holds the
    same object (same size, and the source's ETag as its own or in its `modelbot-source-etag`
    metadata: a copy of a multipart upload gets a new ETag). Otherwise one CopyObject, on the
    condition that the source is still the object just looked at. Single CopyObject only: an
    artifact over 5 GB is refused (`DeployError`; multipart UploadPartCopy is not implemented),
    and so is a different object already at the target key (callers may be served from it).
    True when it copied."""
    copy = requests.artifact_copy
    if not copy:
        return False
    if clients.s3 is None:
        raise DeployError("multi-model deploys copy the artifact in S3, but no S3 client was given")
    source_uri, target_uri = copy["Source"], f"s3://{copy['Bucket']}/{copy['Key']}"
    src_bucket, src_key = split_s3_uri(source_uri)
    if (src_bucket, src_key) == (copy["Bucket"], copy["Key"]):
        return False
    source = _head(clients.s3, src_bucket, src_key)
    if source is None:
        raise DeployError(f"CopyObject: the model artifact {source_uri} does not exist (or the deployer "
                          "role may not read it)")
    size, etag = int(source.get("ContentLength") or 0), _etag(source)
    if size > COPY_OBJECT_MAX_BYTES:
        raise DeployError(f"CopyObject: the model artifact {source_uri} is {size / 1024 ** 3:.1f} GiB; "
                          "modelbot copies multi-model artifacts with a single CopyObject, which S3 "
                          "limits to 5 GiB: put the artifact under the prefix at "
                          f"{target_uri} yourself, or make it smaller")
    target = _head(clients.s3, copy["Bucket"], copy["Key"])
    if target is not None:
        same = int(target.get("ContentLength") or 0) == size and etag in (
            _etag(target), str((target.get("Metadata") or {}).get(SOURCE_ETAG_METADATA) or ""))
        if same:
            return False
        raise DeployError(f"CopyObject: {target_uri} already holds a different object than {source_uri} "
                          f"(ETag {_etag(target)}, not {etag}); modelbot does not overwrite a model an "
                          "endpoint may be serving: change the artifact's uri")
    metadata = {SOURCE_ETAG_METADATA: etag}
    if source_uri.isascii():
        metadata[SOURCE_METADATA] = source_uri
    extra = {"ContentType": source["ContentType"]} if source.get("ContentType") else {}
    clients.s3.copy_object(Bucket=copy["Bucket"], Key=copy["Key"],
                           CopySource={"Bucket": src_bucket, "Key": src_key},
                           CopySourceIfMatch=f'"{etag}"', MetadataDirective="REPLACE",
                           Metadata=metadata, **extra)
    return True


# --- batch and registry ---------------------------------------------------------------------------


def start_transform_job(clients: Clients, requests: DeployRequests) -> str:
    """Create the model and the transform job of a batch deploy (skipping what exists);
    returns the job name. Poll it with `transform_job_status`."""
    if requests.transform_job is None:
        raise ValueError("these requests have no transform job")
    create_models(clients, requests)
    _create(clients.sagemaker.create_transform_job, requests.transform_job)
    return requests.transform_job["TransformJobName"]


def transform_job_status(clients: Clients, name: str) -> tuple[str, str | None]:
    """(TransformJobStatus, FailureReason) of a transform job: one DescribeTransformJob."""
    answer = clients.sagemaker.describe_transform_job(TransformJobName=name)
    return answer["TransformJobStatus"], answer.get("FailureReason")


def model_package_approved(clients: Clients, arn: str) -> bool:
    """Whether a Model Registry package is Approved (check before starting its rollout)."""
    try:
        answer = clients.sagemaker.describe_model_package(ModelPackageName=arn)
    except (ClientError, BotoCoreError) as exc:
        raise unavailable(exc, where=f"model package {arn}", call="sagemaker:DescribeModelPackage") from None
    return answer.get("ModelApprovalStatus") == "Approved"


__all__ = ["AwsUnavailable", "Clients", "DeployError", "apply_autoscaling", "copy_artifact",
           "delete_superseded", "execute",
           "model_package_approved", "observation_from", "observe", "refresh_endpoint_tags", "restore_autoscaling",
           "start_transform_job", "transform_job_status"]
