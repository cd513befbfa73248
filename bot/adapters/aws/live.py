"""Read what is live for one endpoint from AWS into `bot.core.plan.LiveState`. No decisions here.

`read_live_state(session, endpoint_name)` makes a bounded number of calls per endpoint:

    1  sagemaker:DescribeEndpoint                      (a missing endpoint stops here: 1 call)
    1  sagemaker:ListTags on the endpoint              -> LiveState.tags
    1  sagemaker:DescribeEndpointConfig (current)      -> variants, shadow variants
    1  sagemaker:ListTags on the endpoint config       -> config_digest (`modelbot:digest`)
    2M sagemaker:DescribeModel + ListTags per model    -> LiveVariant.model_digest
    1  application-autoscaling:DescribeScalableTargets (all variants at once)
    S  application-autoscaling:DescribeScalingPolicies per variant with a scalable target

that is 5 + 2M + S calls for M distinct models and S autoscaled variants (8 for a typical
single-variant endpoint with autoscaling; at most 5 + 22 + 11 for SageMaker's 10 production
variants and one shadow). Instance counts and weights are what the endpoint reports now
(CurrentInstanceCount, CurrentWeight), falling back to the config's initial values while the
endpoint has none (Creating); instance types, models and serverless settings come from the
config. `AwsLiveReader` reads for the server's environments, a session per environment; given
the manifest's rollback alarms it makes one more call, cloudwatch:DescribeAlarms (at most 100
names), for `LiveState.existing_alarms`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Iterable, Mapping

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.core.config import EnvironmentConfig
from bot.core.manifest.model import BOT_TAG_PREFIX
from bot.core.deploy.scaling import policy_request
from bot.core.manifest.aws_limits import IC_SCALABLE_DIMENSION
from bot.core.plan import LiveAutoscaling, LiveComponent, LiveState, LiveVariant
from bot.adapters.aws.session import AwsUnavailable, SessionPool, client, unavailable

DIGEST_TAG = BOT_TAG_PREFIX + "digest"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
_NOT_FOUND_MARKERS = ("could not find", "does not exist", "not found")


def _call(where: str, name: str, fn: Callable[..., dict], *, missing_ok: bool = False,
          **kwargs: Any) -> dict | None:
    """`fn(**kwargs)`; None if `missing_ok` and AWS says the resource does not exist."""
    try:
        return fn(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        message = str(error.get("Message") or "").lower()
        if missing_ok and (error.get("Code") in ("ValidationException", "ResourceNotFound",
                                                 "ResourceNotFoundException")
                           and any(m in message for m in _NOT_FOUND_MARKERS)):
            return None
        raise unavailable(exc, where=where, call=name) from None
    except BotoCoreError as exc:
        raise unavailable(exc, where=where, call=name) from None


def _tags(where: str, sm: Any, arn: str) -> dict[str, str]:
    answer = _call(where, "sagemaker:ListTags", sm.list_tags, ResourceArn=arn, MaxResults=100) or {}
    return {t["Key"]: t.get("Value", "") for t in answer.get("Tags", [])}


def read_live_state(session: boto3.Session, endpoint_name: str, *,
                    clients: Callable[[str], Any] | None = None) -> LiveState:
    """What is live for `endpoint_name` in the session's account and region.

    `clients(service)` supplies reused clients (default: new ones from `session`). A missing
    endpoint gives `LiveState(endpoint_exists=False)`. Raises AwsUnavailable for any other AWS
    failure (its reason names the endpoint, region and call).
    """
    clients = clients or (lambda service: client(session, service))
    where = f"endpoint {endpoint_name} in {session.region_name}"
    sm = clients("sagemaker")
    endpoint = _call(where, "sagemaker:DescribeEndpoint", sm.describe_endpoint, missing_ok=True,
                     EndpointName=endpoint_name)
    if endpoint is None:
        return LiveState(endpoint_exists=False, endpoint_name=endpoint_name)
    endpoint_tags = _tags(where, sm, endpoint["EndpointArn"])
    config_name = endpoint.get("EndpointConfigName")
    config = _call(where, "sagemaker:DescribeEndpointConfig", sm.describe_endpoint_config,
                   missing_ok=True, EndpointConfigName=config_name) if config_name else None
    config_digest = None
    applied: frozenset[str] = frozenset()
    rows: list[tuple[bool, dict]] = []
    if config is not None:
        config_tags = _tags(where, sm, config["EndpointConfigArn"])
        config_digest = config_tags.get(DIGEST_TAG)
        if "modelbot:environment" in config_tags:  # modelbot made it: its tags are the bot's
            applied = frozenset(config_tags)
        rows = [(False, v) for v in config.get("ProductionVariants", [])]
        rows += [(True, v) for v in config.get("ShadowProductionVariants", [])]
    else:  # the config was deleted under a live endpoint: only the endpoint's own view is left
        rows = [(False, v) for v in endpoint.get("ProductionVariants", [])]
        rows += [(True, v) for v in endpoint.get("ShadowProductionVariants", [])]

    digests: dict[str, str | None] = {}
    for _, row in rows:
        model = row.get("ModelName")
        if model and model not in digests:
            described = _call(where, "sagemaker:DescribeModel", sm.describe_model, missing_ok=True,
                              ModelName=model)
            digests[model] = (_tags(where, sm, described["ModelArn"]).get(DIGEST_TAG)
                              if described is not None else None)

    names = [row["VariantName"] for _, row in rows]
    scaling = _autoscaling(where, clients, endpoint_name, names)

    now = {(False, v["VariantName"]): v for v in endpoint.get("ProductionVariants", [])}
    now.update({(True, v["VariantName"]): v for v in endpoint.get("ShadowProductionVariants", [])})
    variants = []
    for shadow, row in rows:
        name = row["VariantName"]
        current = now.get((shadow, name), {})
        serverless = row.get("ServerlessConfig") or current.get("CurrentServerlessConfig") or {}
        count = current.get("CurrentInstanceCount")
        weight = current.get("CurrentWeight")
        variants.append(LiveVariant(
            name=name,
            model_name=row.get("ModelName", ""),
            instance_type=row.get("InstanceType"),
            instance_count=count if count is not None else row.get("InitialInstanceCount"),
            weight=float(weight if weight is not None else row.get("InitialVariantWeight", 1.0)),
            serverless_memory_mb=serverless.get("MemorySizeInMB"),
            serverless_max_concurrency=serverless.get("MaxConcurrency"),
            shadow=shadow,
            model_digest=digests.get(row.get("ModelName", "")),
            autoscaling=scaling.get(name),
        ))
    hosts = bool(rows) and all(not row.get("ModelName") for _, row in rows)
    components = _components(where, sm, clients, endpoint_name) if hosts else ()
    return LiveState(endpoint_exists=True, endpoint_name=endpoint["EndpointName"],
                     endpoint_status=endpoint.get("EndpointStatus"), endpoint_config_name=config_name,
                     config_digest=config_digest, variants=tuple(variants), tags=endpoint_tags,
                     bot_applied_tag_keys=applied,
                     async_inference=bool(config.get("AsyncInferenceConfig")) if config is not None else None,
                     components=components, hosts_components=hosts)


_MAX_COMPONENTS = 500  # an endpoint's components read at most (ListInferenceComponents pages of 100)


def _components(where: str, sm: Any, clients: Callable[[str], Any], endpoint_name: str) -> tuple[LiveComponent, ...]:
    """The inference components on an endpoint (ListInferenceComponents, then Describe, the
    model's digest tag and the copy-count scalable target of each)."""
    names: list[str] = []
    token = None
    while len(names) < _MAX_COMPONENTS:
        kwargs: dict[str, Any] = {"EndpointNameEquals": endpoint_name, "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        answer = _call(where, "sagemaker:ListInferenceComponents", sm.list_inference_components, **kwargs) or {}
        names += [c["InferenceComponentName"] for c in answer.get("InferenceComponents", [])]
        token = answer.get("NextToken")
        if not token:
            break
    out = []
    for name in names[:_MAX_COMPONENTS]:
        c = _call(where, "sagemaker:DescribeInferenceComponent", sm.describe_inference_component,
                  missing_ok=True, InferenceComponentName=name)
        if c is None:
            continue
        spec = c.get("Specification") or {}
        model = spec.get("ModelName")
        digest = None
        if model:
            described = _call(where, "sagemaker:DescribeModel", sm.describe_model, missing_ok=True, ModelName=model)
            digest = _tags(where, sm, described["ModelArn"]).get(DIGEST_TAG) if described is not None else None
        tags = _tags(where, sm, c["InferenceComponentArn"])
        runtime = c.get("RuntimeConfig") or {}
        request_spec = {k: spec[k] for k in ("ModelName", "ComputeResourceRequirements", "StartupParameters")
                        if spec.get(k)}
        out.append(LiveComponent(name, c.get("InferenceComponentStatus"), model, digest,
                                 runtime.get("DesiredCopyCount"), runtime.get("CurrentCopyCount"),
                                 tags.get(DIGEST_TAG), tags, _copy_autoscaling(where, clients, name),
                                 c.get("FailureReason"), request_spec or None))
    return tuple(out)


def _copy_autoscaling(where: str, clients: Callable[[str], Any], component: str) -> LiveAutoscaling | None:
    aas = clients("application-autoscaling")
    resource = f"inference-component/{component}"
    answer = _call(where, "application-autoscaling:DescribeScalableTargets", aas.describe_scalable_targets,
                   ServiceNamespace="sagemaker", ResourceIds=[resource],
                   ScalableDimension=IC_SCALABLE_DIMENSION) or {}
    target = next((t for t in answer.get("ScalableTargets", []) if t["ResourceId"] == resource), None)
    if target is None:
        return None
    policies = (_call(where, "application-autoscaling:DescribeScalingPolicies", aas.describe_scaling_policies,
                      ServiceNamespace="sagemaker", ResourceId=resource,
                      ScalableDimension=IC_SCALABLE_DIMENSION) or {}).get("ScalingPolicies", [])
    tracking = sorted((p for p in policies if p.get("PolicyType") == "TargetTrackingScaling"),
                      key=lambda p: p.get("PolicyName", ""))
    value = tracking[0].get("TargetTrackingScalingPolicyConfiguration", {}).get("TargetValue") if tracking else None
    return LiveAutoscaling(int(target["MinCapacity"]), int(target["MaxCapacity"]),
                           float(value) if value is not None else None)


def _autoscaling(where: str, clients: Callable[[str], Any], endpoint_name: str,
                 variant_names: list[str]) -> dict[str, LiveAutoscaling]:
    """Scalable targets of the variants and the target value of their target-tracking policy."""
    if not variant_names:
        return {}
    aas = clients("application-autoscaling")
    ids = {f"endpoint/{endpoint_name}/variant/{name}": name for name in variant_names}
    answer = _call(where, "application-autoscaling:DescribeScalableTargets",
                   aas.describe_scalable_targets, ServiceNamespace="sagemaker",
                   ResourceIds=list(ids), ScalableDimension=SCALABLE_DIMENSION) or {}
    out = {}
    for target in answer.get("ScalableTargets", []):
        resource = target["ResourceId"]
        if resource not in ids:
            continue
        policies = (_call(where, "application-autoscaling:DescribeScalingPolicies",
                          aas.describe_scaling_policies, ServiceNamespace="sagemaker",
                          ResourceId=resource, ScalableDimension=SCALABLE_DIMENSION) or {}
                    ).get("ScalingPolicies", [])
        tracking = sorted((p for p in policies if p.get("PolicyType") == "TargetTrackingScaling"),
                          key=lambda p: p.get("PolicyName", ""))
        value = (tracking[0].get("TargetTrackingScalingPolicyConfiguration", {}).get("TargetValue")
                 if tracking else None)
        out[ids[resource]] = LiveAutoscaling(int(target["MinCapacity"]), int(target["MaxCapacity"]),
                                             float(value) if value is not None else None,
                                             tuple(policy_request(p) for p in policies))
    return out


def existing_alarms(where: str, cw: Any, names: Iterable[str]) -> frozenset[str]:
    """Which of `names` CloudWatch has, metric or composite: one DescribeAlarms (at most 100
    names, the API's limit; AlarmTypes both, since without it only metric alarms are answered)."""
    wanted = list(dict.fromkeys(names))[:100]
    answer = _call(where, "cloudwatch:DescribeAlarms", cw.describe_alarms, AlarmNames=wanted,
                   AlarmTypes=["CompositeAlarm", "MetricAlarm"]) or {}
    return frozenset(a["AlarmName"] for a in answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", []))


class AwsLiveReader:
    """`reader(env, endpoint_name, alarms=()) -> LiveState` over the server's environments;
    with `alarms`, one more call (DescribeAlarms) fills `LiveState.existing_alarms`.

    Sessions and clients come from a `SessionPool` (made on first use with `session_factory`,
    renewed before role credentials expire). Once an environment has no valid credentials or its
    AWS endpoint is unreachable, reads for it fail at once with the same reason for a short while
    instead of waiting on timeouts again. Thread-safe.
    """

    def __init__(self, environments: Mapping[str, EnvironmentConfig], *,
                 session_factory: Callable[..., boto3.Session] | None = None,
                 base_session: boto3.Session | None = None, pool: SessionPool | None = None):
        self._pool = pool or SessionPool(environments, session_factory=session_factory, base_session=base_session)

    @property
    def pool(self) -> SessionPool:
        return self._pool

    reads_alarms = True  # bot.core.review passes the manifest's rollback alarms

    def __call__(self, env: str, endpoint_name: str, alarms: Iterable[str] = ()) -> LiveState:
        try:
            session = self._pool.session(env)
            live = read_live_state(session, endpoint_name, clients=lambda service: self._pool.client(env, service))
            names = tuple(alarms)
            if names:
                where = f"alarms of endpoint {endpoint_name} in {session.region_name}"
                live = replace(live, existing_alarms=existing_alarms(where, self._pool.client(env, "cloudwatch"),
                                                                     names))
            return live
        except AwsUnavailable as exc:
            reason = exc.reason if exc.reason.startswith(f"environment {env}") \
                else f"environment {env}: {exc.reason}"
            failure = AwsUnavailable(reason, kind=exc.kind)
            if exc.kind in ("credentials", "unreachable"):
                self._pool.failed(env, failure)
            raise failure from None
