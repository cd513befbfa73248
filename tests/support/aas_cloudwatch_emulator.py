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
- Metric alarm evaluation on PutMetricData (moto stores the data and never evaluates an alarm:
  a metric alarm stays OK unless SetAlarmState is called). `evaluate_metric_alarms()` follows
  the CloudWatch User Guide, "Using Amazon CloudWatch alarms": "Evaluating an alarm" (Period,
  Evaluation Periods = N, Datapoints to Alarm = M, default M = N: PutMetricAlarm
  DatapointsToAlarm "is used only if you are setting an M out of N alarm") and "Configuring how
  CloudWatch alarms treat missing data" / "How alarm state is evaluated when data is missing"
  (the evaluation range, TreatMissingData missing | notBreaching | breaching | ignore, default
  missing, and the two example tables), and the PutMetricAlarm API reference (Statistic /
  ExtendedStatistic, ComparisonOperator "The specified statistic value is used as the first
  operand", Unit, EvaluateLowSampleCountPercentile, TreatMissingData's AWS/DynamoDB note). After
  moto stores a PutMetricData request, every metric alarm whose Namespace, MetricName and
  Dimensions (compared as a set: User Guide "you must include all of the dimensions for the
  custom metric") equal those of a datum just put is evaluated; a changed state is set through
  moto's own SetAlarmState path (`CloudWatchBackend.set_alarm_state` -> `Alarm.update_state`,
  so StateValue, StateReason, StateReasonData, StateUpdatedTimestamp and the alarm's history
  look as after SetAlarmState), then the composite alarms are re-evaluated. Assumptions:
  * No clock. AWS evaluates every alarm once a period at the current time; the emulator
    evaluates only when matching data is put, and "now" is the period of the newest stored
    datapoint of the alarm's metric (not the wall clock), so tests that give explicit
    Timestamps do not depend on when they run. An alarm therefore never changes state because
    time passes without data (no INSUFFICIENT_DATA or `breaching` from silence alone), and
    PutMetricAlarm does not evaluate (moto's new alarm starts OK).
- PutMetricAlarm on an existing metric alarm keeps its state (PutMetricAlarm API reference:
  "When you update an existing alarm, its state is left unchanged, but the update completely
  overwrites the previous configuration of the alarm"); moto replaced the alarm and started it
  over in OK, so an alarm in ALARM looked cleared by any update of its configuration.
  * Periods are aligned to multiples of Period since the Unix epoch (UTC); a datum's
    Timestamp decides its period. The period that holds "now" is evaluated even though it is
    still open (AWS would wait for late data), so a breach shows at once.
  * The evaluation range is N + 2 periods (the User Guide's tables retrieve "the 5 most recent
    data points" for 3 evaluation periods; the real number "depends on the length of the
    alarm period and whether it is based on a metric with standard resolution or high
    resolution", not documented).
  * With fewer real data points than N in the range: `breaching` / `notBreaching` fill the
    missing ones as breaching / not breaching ("uses missing data points only as few times as
    possible"; all real points in the range count); `missing` and `ignore` consider only the
    real points: ALARM if at least M breach, OK if one of them does not breach, else
    INSUFFICIENT_DATA (`missing`) or the state is kept (`ignore`). This reproduces every row of
    both tables except the first table's "X - - - -" row (MISSING column ALARM, which the
    page explains by the position of the breaching point; not modelled: INSUFFICIENT_DATA here).
  * Not evaluated (state left as it is): alarms on `Metrics` (metric math / metric-stat
    queries), the anomaly-band operators LessThanLowerOrGreaterThanUpperThreshold,
    LessThanLowerThreshold and GreaterThanUpperThreshold (they need the band of
    ThresholdMetricId), and ExtendedStatistics other than pNN (tm90, IQM, PR(n:m), ...).
    pNN is the nearest-rank percentile of the GetMetricData rule below; a period whose
    percentile is unavailable (a StatisticSet with spread values) counts as missing.
  * Alarm actions (SNS, Auto Scaling, EC2) are not performed.
  * The StateReason wording and StateReasonData JSON are modelled on the example event in the
    User Guide's "How partial data from a Metrics Insights query is evaluated"; not byte-exact.
- PutMetricData refusals moto lacks (it already refuses NaN): a Value or a member of Values
  that is +/-Infinity or outside -2^360..2^360 (botocore MetricDatum.Value / Values: "Values
  must be in the range of -2^360 to 2^360. In addition, special values (for example, NaN,
  +Infinity, -Infinity) are not supported"), InvalidParameterValue as moto words its NaN
  refusal. StatisticValues are not checked (the range is documented for Value and Values
  only). A Namespace that begins with "AWS/" is NOT refused: PutMetricData's Namespace says
  "you should not specify a namespace that begins with AWS/" (advice, not a refusal).

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

import json
import math
import re
from datetime import datetime, timezone
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


def h_put_metric_alarm(self: Any) -> Any:
    """PutMetricAlarm, keeping an existing alarm's state (see the module doc)."""
    backend = self.cloudwatch_backend
    before = backend.alarms.get(self._get_param("AlarmName"))
    kept = None if before is None else (before.state_value, before.state_reason, before.state_reason_data,
                                        before.state_updated_timestamp, list(before.history))
    result = _ORIGINAL["put_metric_alarm"](self)
    after = backend.alarms.get(self._get_param("AlarmName"))
    if kept is not None and after is not None and after is not before:
        (after.state_value, after.state_reason, after.state_reason_data, after.state_updated_timestamp,
         history) = kept
        after.history = history + [entry for entry in after.history if entry not in history]
    return result


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


# --------------------------------------------------------------------------- metric alarm evaluation

# botocore MetricDatum.Value / Values: "Values must be in the range of -2^360 to 2^360. In
# addition, special values (for example, NaN, +Infinity, -Infinity) are not supported."
_VALUE_LIMIT = 2.0 ** 360

# User Guide, "How alarm state is evaluated when data is missing": CloudWatch "attempts to
# retrieve a higher number of data points than specified by Evaluation Periods"; its tables
# retrieve 5 for 3. Assumption (module docstring): the range is N + 2 periods.
_EXTRA_PERIODS = 2

# PutMetricAlarm ComparisonOperator: "The specified statistic value is used as the first
# operand." The anomaly-band operators are absent on purpose: they need ThresholdMetricId's band.
_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}


def _shown(value: float) -> str:
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _refuse_unsupported_values(metric_data: list[dict[str, Any]]) -> None:
    """botocore MetricDatum.Value / Values: +/-Infinity and values beyond 2^360 are refused
    (NaN is left to moto, which refuses it already)."""
    from moto.cloudwatch.exceptions import InvalidParameterValue

    for number, datum in enumerate(metric_data, 1):
        candidates = []
        if datum.get("Value") is not None:
            candidates.append(("Value", datum["Value"]))
        candidates.extend(("Values", v) for v in datum.get("Values") or [])
        for field, raw in candidates:
            value = float(raw)
            if not math.isnan(value) and abs(value) > _VALUE_LIMIT:
                raise InvalidParameterValue(
                    f"The value {_shown(value)} for parameter MetricData.member.{number}.{field} "
                    "is invalid.")


def _dimension_set(dimensions: Any) -> frozenset[tuple[Any, Any]]:
    out = set()
    for d in dimensions or []:
        if isinstance(d, dict):
            out.add((d.get("Name"), d.get("Value")))
        else:
            out.add((d.name, d.value))
    return frozenset(out)


def _epoch(ts: datetime) -> float:
    # moto keeps naive UTC datetimes (moto.core.utils.utcnow); an aware one is converted.
    return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).timestamp()


def _samples(data: list[Any]) -> float:
    return sum(getattr(md, "sample_count", 1) for md in data)


def _low_sample_threshold(stat: str) -> float | None:
    """User Guide, "Percentile-based alarms and low data samples": for percentiles between 0.5
    and 1.00 the setting applies "when there are fewer than 10/(1-percentile) data points during
    the evaluation period", between 0 and 0.5 "fewer than 10/percentile". Undefined for p0 and
    p100 (division by zero): those are always evaluated (assumption)."""
    m = _PERCENTILE.match(stat)
    if not m:
        return None
    q = float(m.group(1)) / 100
    if q <= 0 or q >= 1:
        return None
    return 10 / (1 - q) if q >= 0.5 else 10 / q


def _stamp(start: int, fmt: str) -> str:
    return datetime.fromtimestamp(start, timezone.utc).strftime(fmt)


def _evaluate_metric_alarm(backend: Any, alarm: Any) -> tuple[str, str, str] | None:
    """(state, reason, reason data) the alarm evaluates to now, or None to leave it alone."""
    from moto.cloudwatch.models import Statistics

    comparison = _COMPARISONS.get(alarm.comparison_operator or "")
    stat = alarm.extended_statistic or alarm.statistic
    if comparison is None or not stat or alarm.threshold is None:
        return None  # anomaly-band operators need a band (module docstring)
    if stat not in _STATS and not _PERCENTILE.match(stat):
        return None  # tm90, IQM, PR(n:m), ...: not evaluated (module docstring)
    period = int(alarm.period or 0)
    n = int(alarm.evaluation_periods or 0)
    if period <= 0 or n <= 0:
        return None
    # PutMetricAlarm DatapointsToAlarm: the M of "M out of N"; without it every one of the
    # EvaluationPeriods must breach (User Guide, "Evaluating an alarm").
    m = int(alarm.datapoints_to_alarm or n)
    threshold = float(alarm.threshold)
    dims = _dimension_set(alarm.dimensions)
    data = [md for md in backend.get_all_metrics()
            if md.namespace == alarm.namespace and md.name == alarm.metric_name
            and _dimension_set(md.dimensions) == dims
            # PutMetricAlarm Unit: "Metric data points that specify a unit of measure ... are
            # aggregated separately"; without Unit, "CloudWatch retrieves all unit types".
            and (not alarm.unit or md.unit == alarm.unit)]
    if not data:
        return None

    def start_of(md: Any) -> int:
        seconds = int(_epoch(md.timestamp))
        return seconds - seconds % period  # assumption: periods aligned to the epoch

    end = max(start_of(md) for md in data)  # assumption: "now" is the newest datapoint's period
    first = end - (n + _EXTRA_PERIODS - 1) * period
    buckets: dict[int, list[Any]] = {}
    for md in data:
        start = start_of(md)
        if first <= start <= end:
            buckets.setdefault(start, []).append(md)
    points: list[tuple[int, float, list[Any]]] = []  # oldest first, real data points only
    for start in sorted(buckets):
        stats = Statistics([stat], datetime.fromtimestamp(start, timezone.utc))
        stats.metric_data = buckets[start]
        value = stats.get_statistics_for_type(stat)  # pNN through `_statistic` above
        if value is not None:
            points.append((start, float(value), buckets[start]))

    breaches, words = comparison
    # "If no data points in the evaluation range are missing ... the most recent data points";
    # with enough real points "the value you set for how to treat missing data ... is ignored".
    evaluated = points[-n:] if len(points) >= n else points
    low = _low_sample_threshold(stat)
    if (low is not None and alarm.evaluate_low_sample_count_percentile == "ignore"
            and _samples([md for _, _, group in evaluated for md in group]) < low):
        # PutMetricAlarm EvaluateLowSampleCountPercentile: "If you specify ignore, the alarm
        # state does not change during periods with too few data points".
        return None
    breaching = sum(1 for _, value, _ in evaluated if breaches(value, threshold))
    fill = n - len(evaluated)
    treat = alarm.treat_missing_data or "missing"  # PutMetricAlarm: default "missing"
    if alarm.namespace == "AWS/DynamoDB":
        treat = "ignore"  # TreatMissingData: AWS/DynamoDB alarms "always ignore missing data"
    if fill == 0:
        state = "ALARM" if breaching >= m else "OK"
    elif treat == "breaching":  # "Missing data points are treated as breaching the threshold"
        state = "ALARM" if breaching + fill >= m else "OK"
    elif treat == "notBreaching":  # "... treated as being within the threshold"
        state = "ALARM" if breaching >= m else "OK"
    elif breaching >= m:  # missing / ignore: only the real points (module docstring)
        state = "ALARM"
    elif breaching < len(evaluated):  # a real non-breaching point decides OK (tables)
        state = "OK"
    elif treat == "missing":  # "missing": not enough data to decide
        state = "INSUFFICIENT_DATA"
    else:  # "ignore": "The current alarm state is maintained"
        return None

    shown = ", ".join(f"{value!r} ({_stamp(start, '%d/%m/%y %H:%M:%S')})"
                      for start, value, _ in reversed(evaluated))
    if state == "INSUFFICIENT_DATA":
        reason = (f"Insufficient Data: {len(evaluated)} datapoint"
                  f"{'' if len(evaluated) == 1 else 's'} [{shown}] and {fill} missing, "
                  f"fewer than {m} breaching the threshold ({threshold!r}).")
    else:
        if state == "ALARM":
            count, verb, needed = breaching + (fill if treat == "breaching" else 0), words, m
        else:
            count = len(evaluated) - breaching + (fill if treat == "notBreaching" else 0)
            verb, needed = f"not {words}", n - m + 1
        reason = (f"Threshold Crossed: {count} out of the last {n} datapoints [{shown}] "
                  f"{'was' if count == 1 else 'were'} {verb} the threshold ({threshold!r}) "
                  f"(minimum {needed} datapoint{'' if needed == 1 else 's'} for "
                  f"{alarm.state_value} -> {state} transition).")
    iso = "%Y-%m-%dT%H:%M:%S.000+0000"
    reason_data = json.dumps({
        "version": "1.0",
        "queryDate": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "startDate": _stamp(first, iso),
        "statistic": stat,
        "period": period,
        "recentDatapoints": [value for _, value, _ in evaluated],
        "threshold": threshold,
        "evaluatedDatapoints": [{"timestamp": _stamp(start, iso), "value": value,
                                 "sampleCount": _samples(group)}
                                for start, value, group in reversed(evaluated)],
    })
    return state, reason, reason_data


def evaluate_metric_alarms(backend: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    """Evaluate the metric alarms on the metrics of `metric_data` (just put), then composites."""
    keys = {(namespace, datum.get("MetricName"), _dimension_set(datum.get("Dimensions")))
            for datum in metric_data}
    for alarm in list(backend.alarms.values()):
        if alarm.rule is not None or alarm.metric_data_queries:
            continue  # composite alarms below; `Metrics` (metric math) alarms not evaluated
        if (alarm.namespace, alarm.metric_name, _dimension_set(alarm.dimensions)) not in keys:
            continue
        found = _evaluate_metric_alarm(backend, alarm)
        if found is not None and found[0] != alarm.state_value:
            state, reason, reason_data = found
            # moto's SetAlarmState path: the same history entry, reason and timestamp update.
            backend.set_alarm_state(alarm.name, reason, reason_data, state)
    refresh_composite_states(backend)


def h_put_metric_data(self: Any) -> Any:
    metric_data = self._get_param("MetricData", []) or []
    _refuse_unsupported_values(metric_data)
    result = _ORIGINAL["put_metric_data"](self)
    evaluate_metric_alarms(self.cloudwatch_backend, self._get_param("Namespace"), metric_data)
    return result


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
    _ORIGINAL["put_metric_alarm"] = CloudWatchResponse.put_metric_alarm
    patch(CloudWatchResponse, "put_metric_alarm", h_put_metric_alarm)
    _ORIGINAL["put_metric_data"] = CloudWatchResponse.put_metric_data
    patch(CloudWatchResponse, "put_metric_data", h_put_metric_data)
    patch(ApplicationAutoScalingResponse, "register_scalable_target", h_register_scalable_target)


def uninstall() -> None:
    _ORIGINAL.clear()
