"""Rules across fields and AWS limits that a field's type cannot express.

Each check takes validated sections and returns `Finding`s located by YAML key path, so that
`load_manifest` can place them at a line and column. Sections that failed their own schema
are passed as None and the rules that need them are skipped; everything else still runs,
so one pass reports every problem in the file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

from . import aws_limits as aws
from .model import (BOT_TAG_KEYS, METRICS, EnvironmentSpec, Manifest, Metadata,
                    ModelSpec, Provenance, ValidationSpec)
from .problems import Severity

Loc = tuple[Any, ...]

_SECTION_FOR_MODE = {"serverless": "serverless", "async": "async", "batch": "batch",
                     "multi_model": "multi_model"}
_ATTR = {"async": "async_"}
_STRATEGY_PARAMS: dict[str, tuple[str, ...]] = {
    "canary_size": ("canary",),
    "linear_step": ("linear",),
    "max_batch_size": ("rolling",),
    "rollback_max_batch_size": ("rolling",),
    "wait_interval_seconds": ("canary", "linear", "rolling"),
    "termination_wait_seconds": ("blue_green", "canary", "linear"),
    "max_execution_timeout_seconds": ("blue_green", "canary", "linear", "rolling"),
    "sampling_percentage": ("shadow",),
    "weights": ("ab",),
    "candidate_variant_name": ("ab", "shadow"),
}
_STRATEGY_REQUIRED: dict[str, tuple[str, ...]] = {
    "canary": ("canary_size", "wait_interval_seconds"),
    "linear": ("linear_step", "wait_interval_seconds"),
    "rolling": ("max_batch_size", "wait_interval_seconds"),
    "shadow": ("sampling_percentage",),
    "ab": ("weights",),
}
_JOIN_CONTENT_TYPES = ("text/csv", "application/json", "application/jsonlines")


@dataclass(frozen=True)
class Finding:
    """A rule's verdict at a YAML key path (`at_key`: point at the key, not the value)."""

    loc: Loc
    message: str
    expected: str | None
    value: Any
    rule: str
    severity: Severity = "error"
    at_key: bool = False


def _f(loc: Loc, message: str, expected: str | None = None, value: Any = None, *,
       rule: str, severity: Severity = "error", at_key: bool = False) -> Finding:
    return Finding(tuple(loc), message, expected, value, rule, severity, at_key)


def check_manifest(m: Manifest) -> list[Finding]:
    """All cross-field rules for a fully validated manifest."""
    return check_sections(m.metadata, m.model, m.provenance, m.validation, m.environments)


def check_sections(metadata: Metadata | None, model: ModelSpec | None,
                   provenance: Provenance | None, validation: ValidationSpec | None,
                   environments: Mapping[str, EnvironmentSpec]) -> list[Finding]:
    out: list[Finding] = []
    if metadata is not None:
        out += _metadata(metadata)
    if model is not None:
        out += _model(model)
    if provenance is not None:
        out += _provenance(provenance)
    if validation is not None:
        out += _validation(validation)
    for name, env in environments.items():
        out += _environment(name, env, metadata, model)
    return out


# --- sections -----------------------------------------------------------------------------------


def _metadata(meta: Metadata) -> list[Finding]:
    out = []
    for owner, n in Counter(o.lstrip("@").lower() for o in meta.owners).items():
        if n > 1:
            out.append(_f(("metadata", "owners"), f"owner {owner} is listed {n} times",
                          "each owner once", owner, rule="manifest.owners", severity="warning",
                          at_key=True))
    return out


def _model(model: ModelSpec) -> list[Finding]:
    given = [k for k in ("artifact", "framework", "registry") if getattr(model, k) is not None]
    if len(given) == 1:
        return []
    if not given:
        return [_f(("model",), "the model has no source", "exactly one of artifact, framework, registry",
                   rule="manifest.model-source", at_key=True)]
    return [_f(("model", k), f"the model has {len(given)} sources ({', '.join(given)})",
               "exactly one of artifact, framework, registry", k, rule="manifest.model-source",
               at_key=True) for k in given[1:]]


def _provenance(p: Provenance) -> list[Finding]:
    out = []
    for name in ("data_version", "build_id"):
        value = getattr(p, name)
        if isinstance(value, str):
            why = aws.tag_text_problem(value, what="value") or (
                f"is {len(value)} characters long" if len(value) > aws.TAG_VALUE_MAX else None)
            if why:
                out.append(_f(("provenance", name), f"{name} becomes a tag on every resource, and {why}",
                              f"at most {aws.TAG_VALUE_MAX} of: {aws.TAG_EXPECTED}", value,
                              rule="aws.tags"))
    return out


def _validation(v: ValidationSpec) -> list[Finding]:
    out: list[Finding] = []
    d = ("validation", "dataset")
    ds = v.dataset
    if (ds.uri is None) == (ds.path is None):
        out.append(_f(d + ("path" if ds.path else "uri",),
                      "the dataset needs exactly one location" if ds.uri is None
                      else "the dataset has both `uri` and `path`",
                      "exactly one of uri (S3) or path (in the repository)", ds.path,
                      rule="manifest.dataset-location", at_key=True))
    if (ds.digest is None) == (ds.version is None):
        out.append(_f(d + ("version" if ds.version else "digest",),
                      "the dataset must be pinned by exactly one of digest or version"
                      if ds.digest is None else "the dataset has both `digest` and `version`",
                      "exactly one of digest (sha256:...) or version", ds.version,
                      rule="manifest.dataset-pin", at_key=True))
    if ds.id_column is not None and ds.id_column == ds.label_column:
        out.append(_f(d + ("id_column",), "the id column is the label column",
                      "a different column", ds.id_column, rule="manifest.dataset-columns"))
    fits = sorted(n for n, m in METRICS.items() if v.task in m.tasks)
    seen: set[str] = set()
    for i, name in enumerate(v.metrics):
        loc = ("validation", "metrics", i)
        if name in seen:
            out.append(_f(loc, f"metric {name} is listed twice", "each metric once", name,
                          rule="manifest.metrics"))
        seen.add(name)
        if name not in METRICS:
            out.append(_f(loc, f"unknown metric {name}", "one of " + ", ".join(fits), name,
                          rule="manifest.metrics"))
        elif v.task not in METRICS[name].tasks:
            out.append(_f(loc, f"metric {name} does not apply to task {v.task}",
                          "one of " + ", ".join(fits), name, rule="manifest.metrics"))
    for i, gate in enumerate(v.gates):
        g = ("validation", "gates", i)
        if gate.metric not in v.metrics:
            out.append(_f(g + ("metric",), f"gate on {gate.metric}, which is not in `metrics`",
                          "one of " + ", ".join(v.metrics), gate.metric, rule="manifest.gates"))
        if gate.min is None and gate.max is None and gate.max_regression is None:
            out.append(_f(g, "the gate sets no bound", "at least one of min, max, max_regression",
                          rule="manifest.gates"))
        if gate.min is not None and gate.max is not None and gate.min > gate.max:
            out.append(_f(g + ("max",), f"max {gate.max} is below min {gate.min}",
                          f"a number >= {gate.min}", gate.max, rule="manifest.gates"))
        mr = gate.max_regression
        if mr is not None and (mr.absolute is None) == (mr.relative is None):
            out.append(_f(g + ("max_regression",), "max_regression needs exactly one bound",
                          "exactly one of absolute or relative", rule="manifest.gates", at_key=True))
    p = v.predictions
    pl = ("validation", "predictions")
    if p.source == "pipeline" and p.path is None:
        out.append(_f(pl + ("path",), "predictions from the pipeline need the file's `path`",
                      "a path among the pipeline's outputs", rule="manifest.predictions"))
    if p.source != "pipeline" and p.path is not None:
        out.append(_f(pl + ("path",), f"`path` is only used with source pipeline, not {p.source}",
                      "no path", p.path, rule="manifest.predictions", at_key=True))
    if p.source == "batch_transform" and p.instance_type is None:
        out.append(_f(pl + ("instance_type",), "batch_transform predictions need an instance type",
                      aws.INSTANCE_TYPE_EXPECTED, rule="manifest.predictions"))
    if p.source != "batch_transform" and p.instance_type is not None:
        out.append(_f(pl + ("instance_type",), f"`instance_type` is only used with source "
                      f"batch_transform, not {p.source}", "no instance_type", p.instance_type,
                      rule="manifest.predictions", at_key=True))
    return out


# --- environments -------------------------------------------------------------------------------


def _environment(name: str, e: EnvironmentSpec, meta: Metadata | None,
                 model: ModelSpec | None) -> list[Finding]:
    base: Loc = ("environments", name)
    out: list[Finding] = []
    mode = e.mode

    for section_mode, key in _SECTION_FOR_MODE.items():
        present = getattr(e, _ATTR.get(key, key)) is not None
        if mode == section_mode and not present:
            out.append(_f(base + (key,), f"mode {mode} needs a `{key}:` section",
                          f"a `{key}:` mapping", rule="manifest.mode-section"))
        elif mode != section_mode and present:
            out.append(_f(base + (key,), f"`{key}:` only applies to mode {section_mode}, "
                          f"and this environment's mode is {mode}", f"no `{key}:` section",
                          rule="manifest.mode-section", at_key=True))

    if mode == "serverless":
        for key in ("instance_type", "instance_count", "autoscaling"):
            if getattr(e, key) is not None:
                out.append(_f(base + (key,), f"serverless endpoints have no instances; "
                              f"`{key}` does not apply", "serverless.memory_mb and "
                              "serverless.max_concurrency instead", getattr(e, key) if key !=
                              "autoscaling" else None, rule="manifest.serverless", at_key=True))
    elif e.instance_type is None:
        out.append(_f(base + ("instance_type",), f"mode {mode} needs an instance type",
                      aws.INSTANCE_TYPE_EXPECTED, rule="manifest.instances"))

    if mode == "batch":
        for key in ("endpoint_name", "strategy", "alarms", "autoscaling", "data_capture"):
            if getattr(e, key) is not None:
                out.append(_f(base + (key,), f"batch transform has no endpoint; `{key}` does "
                              "not apply", f"no `{key}`", None, rule="manifest.batch", at_key=True))
    elif e.endpoint_name is None and meta is not None:
        derived = f"{meta.name}-{name}"
        if aws.name_problem(derived):
            out.append(_f(base + ("endpoint_name",), f"the default endpoint name {derived} "
                          f"{aws.name_problem(derived)}", "an explicit endpoint_name",
                          rule="aws.endpoint-name"))

    out += _autoscaling(base, e)
    out += _strategy(base, e)
    if e.serverless and e.serverless.provisioned_concurrency is not None \
            and e.serverless.provisioned_concurrency > e.serverless.max_concurrency:
        out.append(_f(base + ("serverless", "provisioned_concurrency"),
                      "provisioned concurrency exceeds max_concurrency",
                      f"at most {e.serverless.max_concurrency}",
                      e.serverless.provisioned_concurrency, rule="aws.serverless"))
    if e.alarms:
        seen: set[str] = set()
        for i, alarm in enumerate(e.alarms):
            if alarm in seen:
                out.append(_f(base + ("alarms", i), f"alarm {alarm} is listed twice",
                              "each alarm once", alarm, rule="aws.alarms"))
            seen.add(alarm)
    if e.batch is not None:
        out += _batch(base, e)
    if mode == "multi_model" and model is not None:
        if model.registry is not None:
            out.append(_f(base + ("mode",), "multi_model endpoints load artifacts from an S3 "
                          "prefix; a model registry package cannot be served this way",
                          "model.artifact or model.framework", mode, rule="manifest.multi-model"))

    total = len({**(meta.tags if meta else {}), **e.tags}) + len(BOT_TAG_KEYS)
    if total > aws.TAGS_MAX and e.tags:
        out.append(_f(base + ("tags",), f"resources in {name} would carry {total} tags "
                      f"(metadata.tags, these, and {len(BOT_TAG_KEYS)} set by modelbot)",
                      f"at most {aws.TAGS_MAX} in all", rule="aws.tags", at_key=True))
    if e.strategy and e.strategy.candidate_variant_name == e.variant_name:
        out.append(_f(base + ("strategy", "candidate_variant_name"), "the candidate variant "
                      "needs a name different from variant_name", f"not {e.variant_name}",
                      e.variant_name, rule="manifest.variant-names"))
    return out


def _autoscaling(base: Loc, e: EnvironmentSpec) -> list[Finding]:
    a = e.autoscaling
    if a is None or e.mode in ("serverless", "batch"):
        return []
    loc = base + ("autoscaling",)
    out = []
    if a.max_capacity < a.min_capacity:
        out.append(_f(loc + ("max_capacity",), f"max_capacity {a.max_capacity} is below "
                      f"min_capacity {a.min_capacity}", f">= {a.min_capacity}", a.max_capacity,
                      rule="manifest.autoscaling"))
    if a.min_capacity == 0 and e.mode != "async":
        out.append(_f(loc + ("min_capacity",), "only async endpoints can scale to zero",
                      ">= 1", 0, rule="aws.autoscaling"))
    if e.mode == "async":
        if a.target_backlog_per_instance is None and a.target_invocations_per_instance is None:
            out.append(_f(loc + ("target_backlog_per_instance",), "async autoscaling needs a "
                          "target", "target_backlog_per_instance (or target_invocations_per_instance)",
                          rule="manifest.autoscaling"))
        if a.min_capacity == 0 and a.target_backlog_per_instance is None:
            out.append(_f(loc + ("target_backlog_per_instance",), "scaling to zero needs a "
                          "backlog target (ApproximateBacklogSizePerInstance)",
                          "a number > 0", rule="aws.autoscaling"))
    else:
        if a.target_invocations_per_instance is None:
            out.append(_f(loc + ("target_invocations_per_instance",), "autoscaling needs a "
                          "target for SageMakerVariantInvocationsPerInstance", "an integer >= 1",
                          rule="manifest.autoscaling"))
        if a.target_backlog_per_instance is not None:
            out.append(_f(loc + ("target_backlog_per_instance",), "a backlog target only "
                          "applies to async endpoints", "no target_backlog_per_instance",
                          a.target_backlog_per_instance, rule="manifest.autoscaling", at_key=True))
    count = e.instance_count
    if count is not None and a.min_capacity <= a.max_capacity and not a.min_capacity <= count <= a.max_capacity:
        out.append(_f(base + ("instance_count",), f"instance_count {count} is outside the "
                      f"autoscaling range {a.min_capacity}-{a.max_capacity}; autoscaling will "
                      "move it", f"{a.min_capacity}-{a.max_capacity}", count,
                      rule="manifest.autoscaling", severity="warning"))
    return out


def _strategy(base: Loc, e: EnvironmentSpec) -> list[Finding]:
    s = e.strategy
    if s is None or e.mode == "batch":
        return []
    loc = base + ("strategy",)
    t = s.type
    out: list[Finding] = []
    for param, types in _STRATEGY_PARAMS.items():
        if getattr(s, param) is not None and t not in types:
            out.append(_f(loc + (param,), f"`{param}` is not used by strategy {t}",
                          "only with strategy " + " or ".join(types), getattr(s, param),
                          rule="manifest.strategy", at_key=True))
    for param in _STRATEGY_REQUIRED.get(t, ()):
        if getattr(s, param) is None:
            out.append(_f(loc + (param,), f"strategy {t} needs `{param}`", _PARAM_EXPECTED[param],
                          rule="manifest.strategy"))
    fleet = e.fleet
    serverless = e.mode == "serverless"
    for param in ("canary_size", "linear_step", "max_batch_size", "rollback_max_batch_size"):
        size = getattr(s, param)
        if size is None or t not in _STRATEGY_PARAMS[param]:
            continue
        sloc = loc + (param,)
        if size.type == "instance_count" and serverless:
            out.append(_f(sloc + ("type",), "serverless endpoints have no instances to count",
                          "capacity_percent", size.type, rule="aws.guardrails"))
            continue
        if size.type == "capacity_percent" and size.value > 100:
            out.append(_f(sloc + ("value",), f"{size.value}% is more than the whole fleet",
                          "1-100", size.value, rule="aws.guardrails"))
            continue
        if size.type == "instance_count" and size.value > fleet:
            out.append(_f(sloc + ("value",), f"{size.value} instances, but the fleet has {fleet}",
                          f"1-{fleet}", size.value, rule="aws.guardrails"))
            continue
        pct = aws.capacity_percent(size.type, size.value, fleet)
        of_fleet = f" of a fleet of {fleet}" if size.type == "instance_count" else ""
        if param == "canary_size" and pct > aws.CANARY_MAX_PERCENT:
            out.append(_f(sloc + ("value",), f"the canary is {pct:g}%{of_fleet}; AWS allows at "
                          f"most {aws.CANARY_MAX_PERCENT}% of the fleet",
                          _size_expected(size.type, fleet, 1, aws.CANARY_MAX_PERCENT),
                          size.value, rule="aws.canary-size"))
        lo, hi = aws.LINEAR_STEP_PERCENT
        if param == "linear_step" and not lo <= pct <= hi:
            out.append(_f(sloc + ("value",), f"the linear step is {pct:g}%{of_fleet}; AWS "
                          f"allows {lo}-{hi}% of the fleet", _size_expected(size.type, fleet, lo, hi),
                          size.value, rule="aws.linear-step"))
        lo, hi = aws.ROLLING_BATCH_PERCENT
        if param == "max_batch_size" and not lo <= pct <= hi:
            out.append(_f(sloc + ("value",), f"the rolling batch is {pct:g}%{of_fleet}; AWS "
                          f"allows {lo}-{hi}% of the fleet", _size_expected(size.type, fleet, lo, hi),
                          size.value, rule="aws.rolling-batch"))
    if t == "rolling":
        why = aws.rolling_problem(serverless=serverless, variants=1)
        if why:
            out.append(_f(loc + ("type",), why, "blue_green, canary or linear", t,
                          rule="aws.rolling"))
    if t in ("shadow", "ab") and e.mode != "realtime":
        out.append(_f(loc + ("type",), f"strategy {t} runs two models side by side on a "
                      f"realtime endpoint, and this environment's mode is {e.mode}",
                      "blue_green, canary or linear", t, rule="manifest.strategy"))
    if t == "ab" and s.weights is not None:
        w = s.weights
        if w.candidate <= 0:
            out.append(_f(loc + ("weights", "candidate"), "the candidate gets no traffic",
                          "a weight > 0", w.candidate, rule="manifest.ab-weights"))
        elif w.current <= 0:
            out.append(_f(loc + ("weights", "current"), "the current model gets no traffic: "
                          "this is a replacement, not an A/B test", "a weight > 0", w.current,
                          rule="manifest.ab-weights", severity="warning"))
    if t in ("canary", "linear") and e.instance_type and e.instance_type.startswith("ml.inf1."):
        out.append(_f(loc + ("type",), "endpoints on Inf1 instances cannot use guardrails; AWS "
                      "falls back to all-at-once with no baking period", "blue_green", t,
                      rule="aws.guardrails", severity="warning"))
    return out


_PARAM_EXPECTED = {
    "canary_size": "{type: capacity_percent|instance_count, value: N} (at most 50% of the fleet)",
    "linear_step": "{type: capacity_percent|instance_count, value: N} (10-50% of the fleet)",
    "max_batch_size": "{type: capacity_percent|instance_count, value: N}",
    "wait_interval_seconds": "seconds to bake after each step, 0-3600",
    "sampling_percentage": "percentage of requests copied to the candidate, 1-100",
    "weights": "{current: N, candidate: M}",
}


def _size_expected(size_type: str, fleet: int, lo: int, hi: int) -> str:
    if size_type == "capacity_percent":
        return f"{lo}-{hi}"
    low = max(1, -(-lo * fleet // 100))
    high = hi * fleet // 100
    if high < low:
        return f"capacity_percent, or more instances (a fleet of {fleet} cannot do this)"
    return f"{low}-{high} instances" if low != high else f"{low} instance(s)"


def _batch(base: Loc, e: EnvironmentSpec) -> list[Finding]:
    b = e.batch
    assert b is not None
    loc = base + ("batch",)
    out = []
    wants_json_or_csv = [k for k in ("join_source", "input_filter", "output_filter")
                         if (getattr(b, k) not in (None, "none"))]
    if wants_json_or_csv and (b.content_type or "") not in _JOIN_CONTENT_TYPES:
        out.append(_f(loc + ("content_type",), f"{', '.join(wants_json_or_csv)} only work with "
                      "CSV or JSON input", "one of " + ", ".join(_JOIN_CONTENT_TYPES),
                      b.content_type, rule="aws.batch-join"))
    if b.output_uri.rstrip("/") == b.input_uri.rstrip("/"):
        out.append(_f(loc + ("output_uri",), "the output would overwrite the input",
                      "a different S3 location", b.output_uri, rule="manifest.batch"))
    return out
