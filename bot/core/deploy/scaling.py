"""Autoscaling kept through every ending of a rollout (pure: values in, requests out).

AWS's rules this module follows ("Update endpoints that use auto scaling", SageMaker
Developer Guide, endpoint-scaling-update):

- an UpdateEndpoint that changes the instance type of, or removes, a production variant that is
  a registered scalable target fails: such variants are deregistered first (their policies go
  with them), and registered again afterwards;
- changing only the model of an autoscaled variant is allowed, and to keep the instance count
  autoscaling reached, the update sets `RetainAllVariantProperties` (the count of a variant of
  the same name is then taken from DescribeEndpoint's DesiredInstanceCount, not the new config's
  InitialInstanceCount); weights and data capture stay those of the new config
  (`ExcludeRetainedVariantProperties`: DesiredWeight, DataCaptureConfig);
- where a variant must be deregistered, the new fleet would start at the manifest's
  `instance_count` while autoscaling had raised the old one (the capacity cliff the page warns
  of): its InitialInstanceCount becomes the larger of the two, within the manifest's
  max_capacity.

Whatever was deregistered comes back on every ending that is not a success (rollback, abort,
failure, a worker killed in between): `restore` holds, per autoscaled live variant, the
RegisterScalableTarget and PutScalingPolicy requests of what was live when the deploy was
planned, and the alarms that pointed at its step policies (PutScalingPolicy gives a restored
step policy a new ARN, so those alarms are pointed at it again).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
NOT_RETAINED = ("DesiredWeight", "DataCaptureConfig")


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def _target(endpoint: str, variant: str) -> dict:
    return {"ServiceNamespace": "sagemaker", "ResourceId": resource_id(endpoint, variant),
            "ScalableDimension": SCALABLE_DIMENSION}


def target_tags(environment: str) -> dict[str, str]:
    """RegisterScalableTarget's Tags: the deployer policy lets the bot register, change and
    deregister only targets tagged for its environment."""
    return {"modelbot:environment": environment}


def _rows(config_request: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    if not config_request:
        return {}
    return {r["VariantName"]: r for r in config_request.get("ProductionVariants") or ()}


def conflicts(endpoint: str, live_variants: Iterable[Any],
              config_request: Mapping[str, Any] | None) -> tuple[dict, ...]:
    """DeregisterScalableTarget requests for the autoscaled live variants that moving to
    `config_request` removes or gives another instance type (or turns serverless)."""
    new = _rows(config_request)
    out = []
    for v in live_variants:
        if getattr(v, "shadow", False) or getattr(v, "autoscaling", None) is None:
            continue
        row = new.get(v.name)
        if row is None or row.get("InstanceType") != v.instance_type:
            out.append(_target(endpoint, v.name))
    return tuple(out)


def retain_counts(live_variants: Iterable[Any], config_request: Mapping[str, Any] | None,
                  deregistered: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the update should retain the live instance counts: some autoscaled live variant
    stays under its name and instance type (it is not deregistered)."""
    gone = {d["ResourceId"].rsplit("/", 1)[-1] for d in deregistered}
    new = _rows(config_request)
    return any(getattr(v, "autoscaling", None) is not None and not getattr(v, "shadow", False)
               and v.name in new and v.name not in gone
               and new[v.name].get("InstanceType") == v.instance_type
               for v in live_variants)


def raised_count(manifest_count: int | None, live_count: int | None, max_capacity: int | None) -> int | None:
    """The new fleet's InitialInstanceCount when its variant must be deregistered: at least
    the autoscaled count now, within max_capacity; never below the manifest's count."""
    if manifest_count is None or live_count is None or live_count <= manifest_count:
        return manifest_count
    return min(live_count, max_capacity) if max_capacity else live_count


def restore_entries(endpoint: str, live_variants: Iterable[Any], environment: str) -> tuple[dict, ...]:
    """What to register again if the rollout does not succeed: per autoscaled live variant,
    its scalable target (tagged with the environment, which the deployer policy requires of a
    target it registers: config/iam/README.md), its policies and the alarms of its step
    policies."""
    out = []
    for v in live_variants:
        a = getattr(v, "autoscaling", None)
        if a is None or getattr(v, "shadow", False):
            continue
        base = _target(endpoint, v.name)
        policies = []
        alarms = []
        for p in getattr(a, "policies", ()) or ():
            request = {**base, "PolicyName": p["PolicyName"], "PolicyType": p["PolicyType"]}
            for key in ("TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration"):
                if p.get(key):
                    request[key] = p[key]
            policies.append(request)
            alarms.extend({"PolicyName": p["PolicyName"], "AlarmName": name}
                          for name in p.get("AlarmNames") or ())
        out.append({"variant": v.name,
                    "register": {**base, "MinCapacity": a.min_capacity, "MaxCapacity": a.max_capacity,
                                 "Tags": target_tags(environment)},
                    "policies": policies, "alarms": alarms})
    return tuple(out)


def policy_request(described: Mapping[str, Any]) -> dict:
    """A DescribeScalingPolicies entry as kept for restoring it (no ARN, times or alarm ARNs)."""
    kept = {k: described[k] for k in ("PolicyName", "PolicyType",
                                       "TargetTrackingScalingPolicyConfiguration",
                                       "StepScalingPolicyConfiguration") if described.get(k)}
    tracking = kept.get("TargetTrackingScalingPolicyConfiguration")
    if tracking:  # AWS answers with its own fields; PutScalingPolicy takes only these
        kept["TargetTrackingScalingPolicyConfiguration"] = {
            k: tracking[k] for k in ("TargetValue", "PredefinedMetricSpecification",
                                     "CustomizedMetricSpecification", "ScaleOutCooldown",
                                     "ScaleInCooldown", "DisableScaleIn") if k in tracking}
    # Only a step policy's alarms are someone's to point again: a target-tracking policy's
    # (TargetTracking-*) are made by Application Auto Scaling when the policy is put.
    kept["AlarmNames"] = ([a["AlarmName"] for a in described.get("Alarms") or () if a.get("AlarmName")]
                          if described.get("PolicyType") == "StepScaling" else [])
    return kept


def to_restore(entries: Iterable[Mapping[str, Any]], registered: Iterable[str],
               serving: Iterable[str]) -> list[Mapping[str, Any]]:
    """The entries to apply now: variants the endpoint serves that are not registered."""
    have, now = set(registered), set(serving)
    return [e for e in entries if e["variant"] in now and e["register"]["ResourceId"] not in have]


def alarm_update(alarm: Mapping[str, Any], resource: str, policy_name: str, new_arn: str) -> dict:
    """PutMetricAlarm for a DescribeAlarms entry whose actions may name the deleted ARN of the
    step policy `policy_name` of `resource`: the same alarm, that action replaced by `new_arn`.
    (Scaling policy ARNs end in `resource/sagemaker/<resource id>:policyName/<name>`.)"""
    fields = ("AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions",
              "InsufficientDataActions", "MetricName", "Namespace", "Statistic",
              "ExtendedStatistic", "Dimensions", "Period", "Unit", "EvaluationPeriods",
              "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
              "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId")
    out = {k: alarm[k] for k in fields if alarm.get(k) not in (None, [], "")}
    suffix = f"resource/sagemaker/{resource}:policyName/{policy_name}"
    actions = [a for a in out.get("AlarmActions") or ()
               if not (":scalingPolicy:" in a and a.endswith(suffix))]
    out["AlarmActions"] = actions + [new_arn]
    return out


__all__ = ["NOT_RETAINED", "SCALABLE_DIMENSION", "alarm_update", "target_tags", "conflicts", "policy_request",
           "raised_count", "resource_id", "restore_entries", "retain_counts", "to_restore"]
