"""Application Auto Scaling and CloudWatch behaviour the bot depends on that moto 5.2 lacks.

Installed and undone by `tests.support.sagemaker_emulator.install()` / `uninstall()` (the same
reference count), never on its own. Each rule names the page or API field it follows.

CloudWatch
----------
- PutCompositeAlarm (moto: "not implemented"). CloudWatch API Reference, PutCompositeAlarm:
  AlarmName 1-255 characters, AlarmRule 1-10240 characters built from ALARM(x), OK(x),
  INSUFFICIENT_DATA(x), TRUE, FALSE, AND, OR, NOT and parentheses; alarm names in the rule may
  be quoted. A composite alarm's state is derived from its rule: `refresh_composite_states()`
  re-evaluates every composite alarm of a backend (called before DescribeAlarms answers and
  before SageMaker reads alarm states for AutoRollbackConfiguration). Assumption: a rule that
  names an alarm that does not exist evaluates that term as false (CloudWatch documents that
  the rule may only name existing alarms, not what happens when one is deleted later).
- DescribeAlarms honours AlarmTypes (CloudWatch API Reference, DescribeAlarms, AlarmTypes: "If
  you omit this parameter, only metric alarms are returned, even if composite alarms exist");
  moto ignored the parameter and always answered both kinds.

- GetMetricData percentiles (moto answers only Sum, Average, Minimum, Maximum and SampleCount,
  and nothing for `p99`). CloudWatch User Guide, "CloudWatch statistics definitions":
  `pNN.NN` is the NN.NN-th percentile of the period's values (0 <= NN.NN <= 100, at most two
  decimals); computed here from the raw values (the nearest-rank percentile, CloudWatch's own
  is an approximation of it). Percentiles are not available for values published as a
  StatisticSet unless SampleCount is 1 or Minimum equals Maximum ("Percentiles": "you can't
  retrieve percentile statistics for this data unless ..."): no value is returned then.
  Refused with ValidationError, as botocore documents the fields: a MetricStat.Period that is
  not 1, 5, 10, 30 or a multiple of 60 (MetricStat.Period), more than 500 queries
  (MetricDataQueries: "you can include as many as 500"), a Stat that is neither a statistic
  nor a percentile, and duplicate query Ids (MetricDataQuery.Id "must be unique").

Application Auto Scaling (ServiceNamespace sagemaker, sagemaker:variant:DesiredInstanceCount)
---------------------------------------------------------------------------------------------
- RegisterScalableTarget: the endpoint variant must exist (SageMaker Developer Guide, "Auto
  scaling prerequisites": "Before you can use auto scaling, you must have already created an
  Amazon SageMaker AI model endpoint"), MinCapacity >= 1 and MinCapacity <= MaxCapacity
  ("Register a model": min "must be set to at least 1 and must be equal to or less than the
  value specified for max-capacity"); MinCapacity 0 is allowed on an asynchronous endpoint
  ("Asynchronous inference": it can autoscale "the instance count to zero"). Refused with
  ValidationException. An InService variant whose instance count is outside the new range is
  moved inside it (RegisterScalableTarget API: "it changes the resource's current capacity to a
  value that is inside of this range"), shown like UpdateEndpointWeightsAndCapacities (one
  Updating tick); an endpoint that is not InService is left alone ("If the specified resource is
  not active in the target service, this operation does not change the resource's current
  capacity").
- `scalable_variant_targets(account, region, endpoint)` lets the SageMaker emulator see which
  variants are registered (UpdateEndpoint / DeleteEndpoint rules live there), and
  `deregister_endpoint_targets` removes an endpoint's targets and their scaling policies
  ("Delete endpoints configured for auto scaling": Application Auto Scaling deregisters them
  "without notifying you").
- Inference components (sagemaker:inference-component:DesiredCopyCount): RegisterScalableTarget
  and PutScalingPolicy rules are in tests/support/sagemaker_emulator/component_scaling.py.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from tests.support.sagemaker_emulator import component_scaling

VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"

_ORIGINAL: dict[str, Callable] = {}


# --------------------------------------------------------------------------- GetMetricData

_PERCENTILE = re.compile(r"^p(\d{1,3}(?:\.\d{1,2})?)$")
_STATS = frozenset({"Sum", "Average", "Minimum", "Maximum", "SampleCount"})


def percentile_of(values: list[float], stat: str) -> float | None:
    """The nearest-rank percentile `stat` (`p99`, `p99.9`) of `values`; None without values."""
    m = _PERCENTILE.match(stat)
    if not m or not values:
        return None
    q = float(m.group(1))
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100), at least the first value
    return ordered[int(min(rank, len(ordered))) - 1]


def _statistic(self: Any, stat: str) -> Any:
    if not _PERCENTILE.match(stat):
        return _ORIGINAL["get_statistics_for_type"](self, stat)
    values = list(self.metric_single_values_list)
    for agg in self.metric_aggregated_list:
        if agg.sample_count == 1 or agg.min == agg.max:
            values.extend([agg.min] * int(agg.sample_count))
        else:
            return None  # a StatisticSet with spread values has no percentile
    return percentile_of(values, stat)


def h_get_metric_data(self: Any) -> Any:
    queries = self._get_params().get("MetricDataQueries", []) or []
    if len(queries) > 500:
        raise _cw_validation("The collection MetricDataQueries must not have a size greater than 500.")
    ids = [q.get("Id") for q in queries]
    if len(set(ids)) != len(ids):
        raise _cw_validation("The values for parameter id in MetricDataQueries are not unique.")
    for q in queries:
        stat = q.get("MetricStat")
        if not stat:
            continue
        period = int(stat.get("Period") or 0)
        if period not in (1, 5, 10, 30) and (period < 60 or period % 60):
            raise _cw_validation(f"The parameter MetricDataQueries.member.Period must be 1, 5, 10, 30, "
                                 f"or a multiple of 60; got {period}.")
        name = stat.get("Stat") or ""
        m = _PERCENTILE.match(name)
        if name not in _STATS and not (m and 0 <= float(m.group(1)) <= 100):
            raise _cw_validation(f"The value {name} for parameter MetricDataQueries.member.MetricStat.Stat is invalid.")
    return _ORIGINAL["get_metric_data"](self)


# --------------------------------------------------------------------------- composite alarms

_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<fn>ALARM|OK|INSUFFICIENT_DATA)\s*\(\s*'
    r'(?:"(?P<qname>[^"]*)"|(?P<name>[^()"]+?))\s*\)|(?P<op>AND|OR|NOT)\b|(?P<lit>TRUE|FALSE)\b)'
)


def _tokens(rule: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = rule.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse AlarmRule at character {pos + 1}: {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group("lp"):
            out.append(("(", None))
        elif m.group("rp"):
            out.append((")", None))
        elif m.group("fn"):
            name = m.group("qname") if m.group("qname") is not None else m.group("name").strip()
            out.append(("term", (m.group("fn"), name)))
        elif m.group("op"):
            out.append((m.group("op"), None))
        else:
            out.append(("lit", m.group("lit") == "TRUE"))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def alarm_rule_names(rule: str) -> list[str]:
    """Names of the alarms an AlarmRule refers to (raises ValueError if it does not parse)."""
    _evaluate(rule, lambda state, name: False)
    return [value[1] for kind, value in _tokens(rule) if kind == "term"]


def _evaluate(rule: str, term: Callable[[str, str], bool]) -> bool:
    tokens = _tokens(rule)
    index = 0

    def peek() -> str | None:
        return tokens[index][0] if index < len(tokens) else None

    def take() -> tuple[str, Any]:
        nonlocal index
        if index >= len(tokens):
            raise ValueError("AlarmRule ends too early")
        index += 1
        return tokens[index - 1]

    def expr() -> bool:  # OR has the lowest precedence, then AND, then NOT
        value = conj()
        while peek() == "OR":
            take()
            value = conj() or value
        return value

    def conj() -> bool:
        value = unary()
        while peek() == "AND":
            take()
            value = unary() and value
        return value

    def unary() -> bool:
        if peek() == "NOT":
            take()
            return not unary()
        kind, value = take()
        if kind == "(":
            inner = expr()
            if take()[0] != ")":
                raise ValueError("AlarmRule has an unclosed parenthesis")
            return inner
        if kind == "term":
            return term(*value)
        if kind == "lit":
            return bool(value)
        raise ValueError(f"unexpected {kind!r} in AlarmRule")

    result = expr()
    if index != len(tokens):
        raise ValueError("AlarmRule has text after a complete expression")
    return result


def refresh_composite_states(backend: Any) -> None:
    """Set each composite alarm's state from its AlarmRule (children first, cycles ignored)."""
    alarms = backend.alarms
    done: set[str] = set()

    def state_of(name: str, stack: tuple[str, ...]) -> str | None:
        alarm = alarms.get(name)
        if alarm is None:
            return None
        if alarm.rule is not None and name not in done and name not in stack:
            refresh(alarm, stack + (name,))
        return alarm.state_value

    def refresh(alarm: Any, stack: tuple[str, ...]) -> None:
        try:
            value = _evaluate(alarm.rule, lambda state, child: state_of(child, stack) == state)
        except ValueError:
            return
        new = "ALARM" if value else "OK"
        if alarm.state_value != new:
            alarm.update_state(f"Composite alarm rule evaluated to {value}.", "{}", new)
        done.add(alarm.name)

    for alarm in list(alarms.values()):
        if alarm.rule is not None and alarm.name not in done:
            refresh(alarm, (alarm.name,))


def _cw_validation(message: str) -> Exception:
    from moto.cloudwatch.exceptions import ValidationError

    return ValidationError(message)


def h_put_composite_alarm(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    name = self._get_param("AlarmName")
    rule = self._get_param("AlarmRule")
    if not name or not 1 <= len(name) <= 255:
        raise _cw_validation("AlarmName must be between 1 and 255 characters.")
    if not rule or not 1 <= len(rule) <= 10240:
        raise _cw_validation("AlarmRule must be between 1 and 10240 characters.")
    try:
        alarm_rule_names(rule)
    except ValueError as exc:
        raise _cw_validation(f"Invalid AlarmRule: {exc}.")
    backend = self.cloudwatch_backend
    backend.put_metric_alarm(
        name=name, namespace=None, metric_name=None, metric_data_queries=None,
        comparison_operator=None, evaluation_periods=None, datapoints_to_alarm=None,
        period=None, threshold=None, statistic=None, extended_statistic=None,
        description=self._get_param("AlarmDescription"), dimensions=[],
        alarm_actions=self._get_param("AlarmActions", []),
        ok_actions=self._get_param("OKActions", []),
        insufficient_data_actions=self._get_param("InsufficientDataActions", []),
        unit=None, actions_enabled=self._get_bool_param("ActionsEnabled"),
        treat_missing_data=None, evaluate_low_sample_count_percentile=None,
        threshold_metric_id=None, rule=rule, tags=self._get_param("Tags", []),
    )
    refresh_composite_states(backend)
    return EmptyResult()


def h_describe_alarms(self: Any) -> Any:
    from moto.core.responses import ActionResult

    refresh_composite_states(self.cloudwatch_backend)
    result = _ORIGINAL["describe_alarms"](self)
    types = self._get_param("AlarmTypes") or ["MetricAlarm"]
    body = dict(result.result)
    if "MetricAlarm" not in types:
        body["MetricAlarms"] = []
    if "CompositeAlarm" not in types:
        body["CompositeAlarms"] = []
    return ActionResult(body)


# --------------------------------------------------------------------------- application auto scaling


def _aas_validation(message: str) -> Exception:
    from moto.applicationautoscaling.exceptions import AWSValidationException

    return AWSValidationException(message)


def _variant_of(resource_id: str) -> tuple[str, str] | None:
    parts = (resource_id or "").split("/")
    if len(parts) == 4 and parts[0] == "endpoint" and parts[2] == "variant":
        return parts[1], parts[3]
    return None


def h_register_scalable_target(self: Any) -> str:
    namespace = self._get_param("ServiceNamespace")
    resource_id = self._get_param("ResourceId")
    dimension = self._get_param("ScalableDimension")
    if namespace == "sagemaker" and dimension == component_scaling.IC_DIMENSION:
        return component_scaling.h_register_component_target(
            self, _ORIGINAL["register_scalable_target"])
    if namespace == "sagemaker" and dimension == VARIANT_DIMENSION:
        from moto.sagemaker.models import sagemaker_backends

        backend = self.applicationautoscaling_backend
        found = _variant_of(resource_id)
        sm = sagemaker_backends[backend.account_id][backend.region_name]
        endpoint = sm.endpoints.get(found[0]) if found else None
        names = [pv.get("VariantName") for pv in (endpoint.production_variants or [])] if endpoint else []
        if found is None or endpoint is None or found[1] not in names:
            raise _aas_validation(
                f"The endpoint variant {resource_id} does not exist; register an existing "
                "endpoint variant (endpoint/<endpoint>/variant/<variant>).")
        existing = backend.targets.get(dimension, {}).get(resource_id)
        low = self._get_int_param("MinCapacity")
        high = self._get_int_param("MaxCapacity")
        if existing is None and (low is None or high is None):
            raise _aas_validation("MinCapacity and MaxCapacity are required when registering a "
                                  "new scalable target.")
        low = existing.min_capacity if low is None else low
        high = existing.max_capacity if high is None else high
        # Asynchronous endpoints may scale to zero (Developer Guide, "Asynchronous inference":
        # "autoscaling the instance count to zero when there are no requests to process").
        config = sm.endpoint_configs.get(endpoint.endpoint_config_name)
        floor = 0 if config is not None and config.async_inference_config else 1
        if low < floor:
            raise _aas_validation(
                f"MinCapacity {low} is invalid: it must be at least {floor}"
                + ("" if floor == 0 else " (only asynchronous endpoints can scale to zero)") + ".")
        if low > high:
            raise _aas_validation(
                f"MinCapacity {low} cannot be greater than MaxCapacity {high}.")
        result = _ORIGINAL["register_scalable_target"](self)
        # RegisterScalableTarget API: "If the specified resource is not active in the target
        # service, this operation does not change the resource's current capacity. Otherwise,
        # it changes the resource's current capacity to a value that is inside of this range."
        from tests.support import sagemaker_emulator

        sagemaker_emulator.clamp_variant_capacity(sm, found[0], found[1], low, high)
        return result
    return _ORIGINAL["register_scalable_target"](self)


def h_put_scaling_policy(self: Any) -> str:
    """Inference component targets: module sagemaker_emulator.component_scaling."""
    if (self._get_param("ServiceNamespace") == "sagemaker"
            and self._get_param("ScalableDimension") == component_scaling.IC_DIMENSION):
        return component_scaling.h_put_component_policy(self, _ORIGINAL["put_scaling_policy"])
    return _ORIGINAL["put_scaling_policy"](self)


def h_deregister_scalable_target(self: Any) -> str:
    """DeregisterScalableTarget API: "Deregistering a scalable target deletes the scaling policies
    and the scheduled actions that are associated with it" (moto kept them)."""
    result = _ORIGINAL["deregister_scalable_target"](self)
    backend = self.applicationautoscaling_backend
    namespace = self._get_param("ServiceNamespace")
    resource_id = self._get_param("ResourceId")
    dimension = self._get_param("ScalableDimension")
    _delete_attached(backend, namespace, resource_id, dimension)
    return result


def _delete_attached(backend: Any, namespace: str, resource_id: str, dimension: str) -> None:
    for key, policy in list(backend.policies.items()):
        if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == (
                namespace, resource_id, dimension):
            try:
                policy.delete_alarms(backend.account_id, backend.region_name)
            except Exception:  # pragma: no cover - defensive: moto's alarm bookkeeping
                pass
            del backend.policies[key]
    backend.scheduled_actions[:] = [
        a for a in backend.scheduled_actions
        if (a.service_namespace, a.resource_id, a.scalable_dimension)
        != (namespace, resource_id, dimension)]


def scalable_variant_targets(account_id: str, region: str, endpoint_name: str) -> dict[str, Any]:
    """Registered targets of an endpoint's variants: variant name -> moto FakeScalableTarget."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    backend = applicationautoscaling_backends[account_id][region]
    out: dict[str, Any] = {}
    for resource_id, target in backend.targets.get(VARIANT_DIMENSION, {}).items():
        found = _variant_of(resource_id)
        if target.service_namespace == "sagemaker" and found and found[0] == endpoint_name:
            out[found[1]] = target
    return out


def deregister_endpoint_targets(account_id: str, region: str, endpoint_name: str) -> list[str]:
    """Deregister an endpoint's variant targets and delete their scaling policies."""
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    backend = applicationautoscaling_backends[account_id][region]
    removed = []
    for variant in scalable_variant_targets(account_id, region, endpoint_name):
        resource_id = f"endpoint/{endpoint_name}/variant/{variant}"
        _delete_attached(backend, "sagemaker", resource_id, VARIANT_DIMENSION)
        del backend.targets[VARIANT_DIMENSION][resource_id]
        removed.append(resource_id)
    return removed


# --------------------------------------------------------------------------- install


def install(patch: Callable[[Any, str, Any], None]) -> None:
    """Patch moto through the SageMaker emulator's `patch` (which records the undo)."""
    from moto.applicationautoscaling import models as aas_models
    from moto.applicationautoscaling import responses as aas_responses
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
    from moto.cloudwatch.responses import CloudWatchResponse

    # sagemaker:inference-component:DesiredCopyCount (botocore ScalableDimension) is missing
    # from moto's enum of dimensions; both moto modules read it by name.
    dimensions = component_scaling.extended_dimensions(aas_models.ScalableDimensionValueSet)
    patch(aas_models, "ScalableDimensionValueSet", dimensions)
    patch(aas_responses, "ScalableDimensionValueSet", dimensions)
    _ORIGINAL["put_scaling_policy"] = ApplicationAutoScalingResponse.put_scaling_policy
    patch(ApplicationAutoScalingResponse, "put_scaling_policy", h_put_scaling_policy)

    from moto.cloudwatch.models import Statistics

    _ORIGINAL["get_statistics_for_type"] = Statistics.get_statistics_for_type
    patch(Statistics, "get_statistics_for_type", _statistic)
    _ORIGINAL["get_metric_data"] = CloudWatchResponse.get_metric_data
    patch(CloudWatchResponse, "get_metric_data", h_get_metric_data)
    _ORIGINAL["describe_alarms"] = CloudWatchResponse.describe_alarms
    _ORIGINAL["register_scalable_target"] = ApplicationAutoScalingResponse.register_scalable_target
    _ORIGINAL["deregister_scalable_target"] = (
        ApplicationAutoScalingResponse.deregister_scalable_target)
    patch(ApplicationAutoScalingResponse, "deregister_scalable_target",
          h_deregister_scalable_target)
    patch(CloudWatchResponse, "describe_alarms", h_describe_alarms)
    patch(CloudWatchResponse, "put_composite_alarm", h_put_composite_alarm)
    patch(ApplicationAutoScalingResponse, "register_scalable_target", h_register_scalable_target)


def uninstall() -> None:
    _ORIGINAL.clear()
