"""Rules across fields and AWS limits that a field's type cannot express.

Each check takes validated sections and returns `Finding`s located by YAML key path, so that
`load_manifest` can place them at a line and column. Sections that failed their own schema
are passed as None and the rules that need them are skipped; everything else still runs,
so one pass reports every problem in the file.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping

from bot.core.experiment import bake
from bot.core.manifest import aws_limits as aws
from bot.core.manifest.model import (
    BOT_TAG_KEYS,
    METRICS,
    Contract,
    EnvironmentSpec,
    Manifest,
    Metadata,
    ModelSpec,
    Provenance,
    ValidationSpec,
)
from bot.core.manifest.payloads import payload_problems
from bot.core.manifest.problems import Severity

Loc = tuple[Any, ...]

_SECTION_FOR_MODE = {"serverless": "serverless", "async": "async", "batch": "batch",
                     "multi_model": "multi_model", "inference_component": "inference_component"}
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
    "acknowledge_no_guardrails": ("all_at_once",),
    "experiment": ("shadow",),
    "ab_test": ("ab",),
    "canary_judge": ("ab", "shadow", "blue_green", "canary", "linear", "rolling"),
}
_STRATEGY_REQUIRED: dict[str, tuple[str, ...]] = {
    "canary": ("canary_size", "wait_interval_seconds"),
    "linear": ("linear_step", "wait_interval_seconds"),
    "rolling": ("max_batch_size", "wait_interval_seconds"),
    "shadow": ("sampling_percentage",),
    "ab": ("weights",),
}
_GUARDED_JUDGED = ("blue_green", "canary", "linear", "rolling")  # bot.core.experiment.bake.GUARDED
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
    return check_sections(m.metadata, m.model, m.provenance, m.validation, m.environments, m.contract)


def check_sections(metadata: Metadata | None, model: ModelSpec | None,
                   provenance: Provenance | None, validation: ValidationSpec | None,
                   environments: Mapping[str, EnvironmentSpec],
                   contract: Contract | None = None) -> list[Finding]:
    out: list[Finding] = []
    if contract is not None:
        out += _contract(contract, validation)
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
        if gate.per_slice and v.slices is None:
            out.append(_f(g + ("per_slice",), "per_slice gate, but the validation has no `slices`",
                          "a `validation.slices` section naming the slice columns", True,
                          rule="manifest.slices", at_key=True))
    if v.slices is not None:
        seen_cols: set[str] = set()
        for i, col in enumerate(v.slices.columns):
            loc = ("validation", "slices", "columns", i)
            if col in (ds.label_column, ds.id_column):
                what = "label" if col == ds.label_column else "id"
                out.append(_f(loc, f"slice column {col} is the {what} column", "a feature or metadata column",
                              col, rule="manifest.slices"))
            if col in seen_cols:
                out.append(_f(loc, f"slice column {col} is listed twice", "each column once", col,
                              rule="manifest.slices"))
            seen_cols.add(col)
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
    if p.source == "batch_transform" and p.instance_type is not None:
        why = aws.instance_type_problem(p.instance_type, aws.TRANSFORM_INSTANCE_SHAPE)
        if why:
            out.append(_f(pl + ("instance_type",), f"batch_transform predictions run a transform "
                          f"job, and {why}", _instance_expected(p.instance_type,
                                                                aws.TRANSFORM_INSTANCE_SHAPE),
                          p.instance_type, rule="aws.instance-type"))
    if p.source != "batch_transform" and p.instance_type is not None:
        out.append(_f(pl + ("instance_type",), f"`instance_type` is only used with source "
                      f"batch_transform, not {p.source}", "no instance_type", p.instance_type,
                      rule="manifest.predictions", at_key=True))
    return out


# --- contract ---------------------------------------------------------------------------------


def _contract(c: Contract, v: ValidationSpec | None) -> list[Finding]:
    out: list[Finding] = []
    seen: set[str] = set()
    label = v.dataset.label_column if v is not None else None
    for i, f in enumerate(c.input.fields):
        loc = ("contract", "input", "fields", i)
        if f.name in seen:
            out.append(_f(loc + ("name",), f"input field {f.name} is listed twice", "each field once", f.name,
                          rule="manifest.contract"))
        seen.add(f.name)
        if label is not None and f.name == label:
            out.append(_f(loc + ("name",), f"input field {f.name} is the validation set's label column",
                          "the model's inputs, not its label", f.name, rule="manifest.contract"))
        numeric = f.type in ("number", "integer")
        for key in ("min", "max"):
            if getattr(f, key) is not None and not numeric:
                out.append(_f(loc + (key,), f"`{key}` applies to number and integer fields, not {f.type}",
                              f"no {key}", getattr(f, key), rule="manifest.contract", at_key=True))
        if numeric and f.min is not None and f.max is not None and f.min > f.max:
            out.append(_f(loc + ("min",), f"min {f.min:g} is above max {f.max:g}", "min <= max", f.min,
                          rule="manifest.contract"))
        if f.categories is not None and f.type != "string":
            out.append(_f(loc + ("categories",), f"`categories` applies to string fields, not {f.type}",
                          "no categories", None, rule="manifest.contract", at_key=True))
        elif f.categories is not None and len(set(f.categories)) != len(f.categories):
            out.append(_f(loc + ("categories",), "a category is listed twice", "each category once", None,
                          rule="manifest.contract", at_key=True))
    o, ol = c.output, ("contract", "output")
    for key in ("min", "max"):
        if getattr(o, key) is not None and o.type == "string":
            out.append(_f(ol + (key,), f"`{key}` applies to number and integer outputs, not string",
                          f"no {key}", getattr(o, key), rule="manifest.contract", at_key=True))
    if o.min is not None and o.max is not None and o.min > o.max:
        out.append(_f(ol + ("min",), f"min {o.min:g} is above max {o.max:g}", "min <= max", o.min,
                      rule="manifest.contract"))
    if o.classes is not None:
        if len({str(x) for x in o.classes}) != len(o.classes):
            out.append(_f(ol + ("classes",), "a class is listed twice", "each class once", None,
                          rule="manifest.contract", at_key=True))
        if o.shape and o.shape[0] != len(o.classes):
            out.append(_f(ol + ("classes",), f"{len(o.classes)} classes for {o.shape[0]} values per record",
                          f"one class per value ({o.shape[0]})", None, rule="manifest.contract", at_key=True))
        if not o.shape and o.type == "number":
            out.append(_f(ol + ("classes",), "classes with one number per record: a label output is "
                          "`type: string` or `integer`, probabilities are `shape: [k]`",
                          "type string/integer, or shape [k]", None, rule="manifest.contract", at_key=True))
    s = c.samples
    if s is not None:
        sl = ("contract", "samples")
        if (s.inline is None) == (s.path is None):
            out.append(_f(sl, "samples need exactly one of `inline` and `path`",
                          "inline payloads or a JSON Lines file's path", rule="manifest.contract", at_key=True))
        for i, payload in enumerate(s.inline or ()):
            problems = payload_problems(c.input, payload)
            if problems:
                out.append(_f(sl + ("inline", i), "sample payload does not match the input contract: "
                              + "; ".join(problems[:5]), "a payload of the contract's input fields", None,
                              rule="manifest.contract"))
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
        for key in ("endpoint_name", "strategy", "alarms", "autoscaling", "data_capture", "performance_metric"):
            if getattr(e, key) is not None:
                out.append(_f(base + (key,), f"batch transform has no endpoint; `{key}` does "
                              "not apply", f"no `{key}`", None, rule="manifest.batch", at_key=True))
    elif e.endpoint_name is None and meta is not None:
        derived = f"{meta.name}-{name}"
        if aws.name_problem(derived):
            out.append(_f(base + ("endpoint_name",), f"the default endpoint name {derived} "
                          f"{aws.name_problem(derived)}", "an explicit endpoint_name",
                          rule="aws.endpoint-name"))

    out += _instance_type(base, e)
    out += _serverless_exclusions(base, e, model)
    out += _autoscaling(base, e)
    out += _strategy(base, e, model)
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
            if bake.is_reserved(alarm):
                out.append(_f(base + ("alarms", i), f"alarm names ending in {bake.ALARM_SUFFIX} are the "
                              "operational judge's own (modelbot writes and deletes them)",
                              f"a name not ending in {bake.ALARM_SUFFIX}", alarm, rule="aws.alarms"))
            seen.add(alarm)
    if e.batch is not None:
        out += _batch(base, e)
    if e.inference_component is not None and mode == "inference_component":
        out += _inference_component(base, e, model)
    if mode == "multi_model" and model is not None and model.registry is not None:
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
    if e.mode == "inference_component":
        return out + _component_autoscaling(loc, e)
    if a.target_invocations_per_copy is not None:
        out.append(_f(loc + ("target_invocations_per_copy",), "copies scale only in mode "
                      "inference_component", "target_invocations_per_instance",
                      a.target_invocations_per_copy, rule="manifest.autoscaling", at_key=True))
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


def _marketplace(model: ModelSpec | None) -> bool:
    return bool(model is not None and model.registry is not None and model.registry.marketplace)


def _instance_expected(instance_type: str, shape: str) -> str:
    close = aws.close_instance_types(instance_type, shape)
    return f"a value of botocore's {shape}" + (", e.g. " + ", ".join(close) if close else "")


def _instance_type(base: Loc, e: EnvironmentSpec) -> list[Finding]:
    """Instance types against botocore's enums (endpoints vs transform jobs) and, for
    multi-model endpoints, the instance types the MME page lists."""
    rules_ = aws.MODE_RULES[e.mode]
    if e.instance_type is None or rules_.instance_types is None:
        return []
    loc = base + ("instance_type",)
    why = aws.instance_type_problem(e.instance_type, rules_.instance_types)
    if why:
        return [_f(loc, why, _instance_expected(e.instance_type, rules_.instance_types),
                   e.instance_type, rule="aws.instance-type")]
    if e.mode == "multi_model":
        why = aws.multi_model_instance_problem(e.instance_type)
        if why:
            return [_f(loc, f"{why} ({aws.MME_PAGE})", "a CPU instance type or one of "
                       + ", ".join(aws.MME_GPU_INSTANCE_TYPES), e.instance_type,
                       rule="aws.multi-model-instance")]
    return []


def _serverless_exclusions(base: Loc, e: EnvironmentSpec, model: ModelSpec | None) -> list[Finding]:
    if e.mode != "serverless":
        return []
    out = []
    if e.data_capture is not None:
        out.append(_f(base + ("data_capture",), "serverless endpoints do not support data capture "
                      f"(nor Model Monitor, which reads it) ({aws.SERVERLESS_PAGE})",
                      "no data_capture, or mode realtime", rule="aws.serverless-exclusions",
                      at_key=True))
    if _marketplace(model):
        out.append(_f(base + ("mode",), "serverless endpoints cannot serve AWS Marketplace model "
                      f"packages ({aws.SERVERLESS_PAGE})", "mode realtime or async", e.mode,
                      rule="aws.serverless-exclusions"))
    if e.alarms:
        out.append(_f(base + ("alarms",), "rollback alarms belong to deployment guardrails "
                      "(AutoRollbackConfiguration), which do not apply to serverless endpoints "
                      f"({aws.GUARDRAILS_PAGE})", "no alarms", rule="aws.guardrails-serverless",
                      at_key=True))
    return out


def _no_guardrails_expected(rules_: aws.ModeRules) -> str:
    alt = aws.ACKNOWLEDGED_ALL_AT_ONCE
    if "ab" in rules_.strategies:
        alt += (", or strategy ab (modelbot shifts the variant weights itself, with its own "
                "bake and alarm watch)")
    return alt


def _strategy(base: Loc, e: EnvironmentSpec, model: ModelSpec | None = None) -> list[Finding]:
    s = e.strategy
    if e.mode == "batch":
        return []
    loc = base + ("strategy",)
    rules_ = aws.MODE_RULES[e.mode]
    excluded = aws.guardrails_excluded(mode=e.mode, instance_type=e.instance_type,
                                       marketplace=_marketplace(model))
    why_page = aws.GUARDRAILS_PAGE if e.mode == "serverless" else aws.EXCLUSIONS_PAGE
    excluded_rule = "aws.guardrails-serverless" if e.mode == "serverless" else "aws.guardrails-exclusions"
    if s is None:
        if excluded:
            return [_f(loc, f"SageMaker's deployment guardrails do not apply to {excluded} "
                       f"({why_page}): every update replaces the model at once, with no bake "
                       "and no alarm rollback; say so in the manifest", _no_guardrails_expected(rules_),
                       rule=excluded_rule)]
        return []
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
    if t not in rules_.strategies:
        if e.mode == "serverless" and t in aws.BOT_DRIVEN_STRATEGIES:
            out.append(_f(loc + ("type",), f"strategy {t} runs two production variants, and "
                          f"serverless endpoints support only one ({aws.SERVERLESS_PAGE})",
                          aws.ACKNOWLEDGED_ALL_AT_ONCE, t, rule="aws.serverless-exclusions"))
        elif e.mode == "serverless":
            out.append(_f(loc + ("type",), "Deployment guardrails only apply to Asynchronous "
                          "inference and Real-time inference endpoint types "
                          f"({aws.GUARDRAILS_PAGE}): a serverless endpoint is updated with a "
                          f"plain UpdateEndpoint, all at once, so a {t} update cannot happen",
                          aws.ACKNOWLEDGED_ALL_AT_ONCE, t, rule="aws.guardrails-serverless"))
        else:
            out.append(_f(loc + ("type",), f"strategy {t} runs two models side by side on a "
                          f"realtime endpoint, and this environment's mode is {e.mode}",
                          "one of " + ", ".join(rules_.strategies), t, rule="manifest.strategy"))
        return out
    if excluded and t in aws.GUARDED_STRATEGIES:
        out.append(_f(loc + ("type",), f"SageMaker's deployment guardrails do not apply to "
                      f"{excluded}: AWS falls back to all at once with no baking period, so this "
                      f"would not be the {t} update the plan promises ({aws.EXCLUSIONS_PAGE})",
                      _no_guardrails_expected(rules_), t, rule="aws.guardrails-exclusions"))
        return out
    if t == "all_at_once":
        if excluded and not s.acknowledge_no_guardrails:
            out.append(_f(loc + ("acknowledge_no_guardrails",), f"{excluded} get no deployment "
                          f"guardrails ({why_page}): acknowledge that an update replaces the "
                          "model at once, with no bake and no alarm rollback",
                          "acknowledge_no_guardrails: true", s.acknowledge_no_guardrails,
                          rule=excluded_rule))
        if e.alarms and e.mode != "serverless":
            out.append(_f(base + ("alarms",), "strategy all_at_once sends no DeploymentConfig, "
                          "so no alarm rolls the update back", "no alarms" + (
                              "" if excluded else ", or strategy blue_green (all at once with "
                              "alarm rollback)"), rule="manifest.strategy", at_key=True))
        return out
    if e.mode == "inference_component":
        if s.canary_judge is not None:
            out.append(_f(loc + ("canary_judge",), "the operational judge reads an endpoint's variant "
                          "metrics, and an inference component's update is judged by SageMaker's "
                          "alarms alone", "no canary_judge (use the component's alarms)",
                          rule="manifest.strategy", at_key=True))
        return out + _component_strategy(loc, e)
    if s.canary_judge is not None and t in _GUARDED_JUDGED and len(e.alarms or ()) >= aws.ALARMS[1]:
        out.append(_f(base + ("alarms",), f"the operational judge adds its own alarm to the update's "
                      f"AutoRollbackConfiguration, which takes at most {aws.ALARMS[1]} alarms (botocore "
                      "AutoRollbackConfig.Alarms)", f"at most {aws.ALARMS[1] - 1} alarms",
                      len(e.alarms or ()), rule="aws.guardrails", at_key=True))
    fleet = e.fleet
    for param in ("canary_size", "linear_step", "max_batch_size", "rollback_max_batch_size"):
        size = getattr(s, param)
        if size is not None and size.type == "copy_count":
            out.append(_f(loc + (param, "type"), "copy_count sizes count inference component "
                          f"copies, and this environment's mode is {e.mode}",
                          "capacity_percent or instance_count", size.type, rule="manifest.strategy"))
    for param in ("canary_size", "linear_step", "max_batch_size", "rollback_max_batch_size"):
        size = getattr(s, param)
        if size is None or t not in _STRATEGY_PARAMS[param]:
            continue
        sloc = loc + (param,)
        if size.type == "copy_count":
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
        real = aws.effective_percent(size.value, size.type, fleet)
        n = aws.effective_instances(size.value, size.type, fleet)
        of_fleet = f" of a fleet of {fleet}" if size.type == "instance_count" else ""
        for name, what, lo, hi, rule in (
                ("canary_size", "canary", 1, aws.CANARY_MAX_PERCENT, "aws.canary-size"),
                ("linear_step", "linear step", *aws.LINEAR_STEP_PERCENT, "aws.linear-step"),
                ("max_batch_size", "rolling batch", *aws.ROLLING_BATCH_PERCENT, "aws.rolling-batch")):
            if param != name:
                continue
            allowed = (f"AWS allows at most {hi}% of the fleet" if name == "canary_size"
                       else f"AWS allows {lo}-{hi}% of the fleet")
            if not lo <= pct <= hi:
                out.append(_f(sloc + ("value",), f"the {what} is {pct:g}%{of_fleet}; {allowed}",
                              _size_expected(size.type, fleet, lo, hi), size.value, rule=rule))
            elif real > hi:
                out.append(_f(sloc + ("value",), f"a {size.value}% {what} of a fleet of {fleet} "
                              f"is {n} instance(s), {real:g}% of the fleet (SageMaker turns on "
                              f"whole instances); {allowed}",
                              f"a smaller {what} or more instances", size.value, rule=rule))
    if t == "ab" and s.weights is not None:
        w = s.weights
        if w.candidate <= 0:
            out.append(_f(loc + ("weights", "candidate"), "the candidate gets no traffic",
                          "a weight > 0", w.candidate, rule="manifest.ab-weights"))
        elif w.current <= 0:
            out.append(_f(loc + ("weights", "current"), "the current model gets no traffic: "
                          "this is a replacement, not an A/B test", "a weight > 0", w.current,
                          rule="manifest.ab-weights", severity="warning"))
    out += _execution_timeout(loc, s, fleet)
    if t == "shadow" and s.experiment is not None:
        out += _shadow_judge(base, loc + ("experiment",), e, s.experiment)
    if t in _STRATEGY_PARAMS["canary_judge"] and s.canary_judge is not None:
        cj = s.canary_judge
        if cj.marginal_score > cj.pass_score:
            out.append(_f(loc + ("canary_judge", "marginal_score"), "the marginal score must not be above "
                          "the pass score", f"at most {cj.pass_score:g}", cj.marginal_score,
                          rule="manifest.experiment"))
        for name in cj.critical:
            if name not in cj.metrics:
                out.append(_f(loc + ("canary_judge", "critical"), f"`{name}` is critical but not among "
                              "the judged metrics", "names from `metrics`", name, rule="manifest.experiment"))
    if t == "ab" and s.ab_test is not None and s.ab_test.metric.namespace.startswith("AWS/"):
        out.append(_f(loc + ("ab_test", "metric", "namespace"), "the business metric is one the serving "
                      "side publishes: AWS/ namespaces hold AWS's own metrics (CloudWatch: custom metrics "
                      "cannot use them)", "a namespace of your own, e.g. Acme/Search",
                      s.ab_test.metric.namespace, rule="manifest.experiment"))
    if t == "ab" and s.ab_test is not None and {"EndpointName", "VariantName"} & set(s.ab_test.metric.dimensions):
        out.append(_f(loc + ("ab_test", "metric", "dimensions"), "EndpointName and VariantName are set "
                      "by modelbot (one series per variant)", "other dimensions only",
                      rule="manifest.experiment", at_key=True))
    return out


def _shadow_judge(base: Loc, loc: Loc, e: EnvironmentSpec, j) -> list[Finding]:
    """The judge reads both variants' answers from data capture (SageMaker Developer Guide,
    "Data capture": one JSON Lines object per invocation, input and output as configured)."""
    out: list[Finding] = []
    c = e.data_capture
    if c is None:
        out.append(_f(base + ("data_capture",), "the shadow judge compares the answers SageMaker "
                      "captures, and this environment captures nothing",
                      "data_capture: {destination: s3://..., capture: [input, output]}",
                      rule="manifest.experiment"))
    elif not {"input", "output"} <= set(c.capture):
        out.append(_f(base + ("data_capture", "capture"), "the shadow judge pairs the two variants' "
                      "answers by request, so it needs both the input and the output captured",
                      "[input, output]", list(c.capture), rule="manifest.experiment"))
    elif c.sampling_percentage < 100:
        out.append(_f(base + ("data_capture", "sampling_percentage"), "capture samples each variant "
                      "on its own, so at a sampling below 100% most shadow answers have no "
                      "production answer to pair with: the judge needs more traffic to decide",
                      "100", c.sampling_percentage, rule="manifest.experiment", severity="warning"))
    if j.task == "classification" and j.max_abs_error_p99 is not None:
        out.append(_f(loc + ("max_abs_error_p99",), "`max_abs_error_p99` judges regression answers",
                      "max_disagreement for classification", j.max_abs_error_p99,
                      rule="manifest.experiment", at_key=True))
    if j.task == "regression" and (j.max_disagreement is not None or j.threshold is not None):
        key = "max_disagreement" if j.max_disagreement is not None else "threshold"
        out.append(_f(loc + (key,), f"`{key}` judges classification answers",
                      "max_abs_error_p99 for regression", getattr(j, key), rule="manifest.experiment", at_key=True))
    main = j.max_disagreement if j.task == "classification" else j.max_abs_error_p99
    if main is None:
        key = "max_disagreement" if j.task == "classification" else "max_abs_error_p99"
        out.append(_f(loc + (key,), f"a {j.task} shadow judge needs `{key}`: without it nothing "
                      "says whether the candidate answers like production",
                      "max_disagreement: 0.02" if j.task == "classification" else "max_abs_error_p99: N",
                      rule="manifest.experiment"))
    return out


def _execution_timeout(loc: Loc, s, fleet: int) -> list[Finding]:
    """MaximumExecutionTimeoutInSeconds "should be larger than the total waiting time specified
    in TerminationWaitInSeconds and WaitIntervalInSeconds" (botocore BlueGreenUpdatePolicy)."""
    limit = s.max_execution_timeout_seconds
    if limit is None or s.type not in aws.GUARDED_STRATEGIES:
        return []
    size = s.linear_step if s.type == "linear" else s.max_batch_size if s.type == "rolling" else None
    steps = 1
    if size is not None:
        steps = math.ceil(fleet / max(1, aws.effective_instances(size.value, size.type, fleet)))
    wait, term = s.wait_interval_seconds or 0, s.termination_wait_seconds or 0
    total = aws.guardrail_wait_seconds(s.type, wait=wait, termination=term, steps=steps)
    if limit > total:
        return []
    parts = {"canary": f"{wait}s canary bake + {term}s termination wait",
             "linear": f"{max(0, steps - 1)} x {wait}s between {steps} steps + {term}s termination wait",
             "rolling": f"{steps} batches x {wait}s",
             "blue_green": f"{term}s termination wait"}[s.type]
    hi = aws.MAX_EXECUTION_TIMEOUT_SECONDS[1]
    return [_f(loc + ("max_execution_timeout_seconds",), f"the bakes add up to {total}s ({parts}), "
               "and the deployment times out and rolls back unless "
               "MaximumExecutionTimeoutInSeconds is larger than the total of "
               "WaitIntervalInSeconds and TerminationWaitInSeconds (botocore BlueGreenUpdatePolicy)",
               f"more than {total} (at most {hi})" if total < hi else "shorter bakes", limit,
               rule="aws.max-execution-timeout")]


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
    if wants_json_or_csv and (b.accept or "") not in _JOIN_CONTENT_TYPES:
        out.append(_f(loc + ("accept",), f"with {', '.join(wants_json_or_csv)}, the inference "
                      "output must be CSV or JSON too (TransformOutput Accept; SageMaker Developer "
                      "Guide: Associate Prediction Results with Input Records)",
                      "one of " + ", ".join(_JOIN_CONTENT_TYPES), b.accept, rule="aws.batch-join"))
    if b.join_source == "input" and b.content_type == "text/csv":
        for key, value in (("split_type", b.split_type), ("assemble_with", b.assemble_with)):
            if value != "line":
                out.append(_f(loc + (key,), "joining CSV input with its inference works line by "
                              f"line: SplitType and AssembleWith must be Line ({aws.TRANSFORM_API})",
                              "line", value, rule="aws.batch-join"))
    if b.split_type == "none" and "batch_strategy" in b.model_fields_set:
        out.append(_f(loc + ("batch_strategy",), "to enable the batch strategy, SplitType must "
                      f"be Line, RecordIO or TFRecord ({aws.TRANSFORM_API} BatchStrategy); with "
                      "split_type none each whole S3 object is one request",
                      "no batch_strategy, or split_type line, recordio or tfrecord",
                      b.batch_strategy, rule="aws.batch-strategy", at_key=True))
    payload = b.max_payload_mb if b.max_payload_mb is not None else aws.BATCH_PAYLOAD_DEFAULT_MB
    cap = aws.BATCH_CONCURRENT_PAYLOAD_MAX_MB
    if b.max_concurrent_transforms and payload * b.max_concurrent_transforms > cap:
        shown = "" if b.max_payload_mb is not None else f" (the default {payload} MB)"
        out.append(_f(loc + ("max_concurrent_transforms",), f"{b.max_concurrent_transforms} "
                      f"concurrent transforms x {payload} MB payload{shown} = "
                      f"{payload * b.max_concurrent_transforms} MB; MaxConcurrentTransforms x "
                      f"MaxPayloadInMB cannot exceed {cap} MB ({aws.TRANSFORM_API})",
                      f"at most {cap // payload}, or a smaller max_payload_mb",
                      b.max_concurrent_transforms, rule="aws.batch-payload"))
    if b.output_uri.rstrip("/") == b.input_uri.rstrip("/"):
        out.append(_f(loc + ("output_uri",), "the output would overwrite the input",
                      "a different S3 location", b.output_uri, rule="manifest.batch"))
    return out


# --- inference components ----------------------------------------------------------------------


def _copies_fit(e: EnvironmentSpec) -> tuple[int, int] | None:
    """(copies per instance, instances at most) when the capacity table knows the type."""
    ic = e.inference_component
    cap = aws.INSTANCE_CAPACITY.get(e.instance_type or "")
    if ic is None or cap is None or ic.shared_endpoint:  # a shared fleet's size is its host's (the plan checks)
        return None
    per = aws.copies_per_instance(cap, cpu_cores=ic.compute.cpu_cores,
                                  accelerators=ic.compute.accelerators, memory_mb=ic.compute.min_memory_mb)
    most = ic.managed_instance_scaling.max_instance_count if ic.managed_instance_scaling else e.fleet
    return per, max(most, e.fleet)


def _inference_component(base: Loc, e: EnvironmentSpec, model: ModelSpec | None) -> list[Finding]:
    """A component's requirements against the instance type (the capacity table in
    `aws_limits.INSTANCE_CAPACITY`, named in `CAPACITY_TABLE_SOURCE`) and the API's rules."""
    ic = e.inference_component
    assert ic is not None
    loc = base + ("inference_component",)
    out: list[Finding] = []
    c = ic.compute
    if c.max_memory_mb is not None and c.max_memory_mb < c.min_memory_mb:
        out.append(_f(loc + ("compute", "max_memory_mb"), f"max_memory_mb {c.max_memory_mb} is below "
                      f"min_memory_mb {c.min_memory_mb}", f">= {c.min_memory_mb}", c.max_memory_mb,
                      rule="aws.inference-component"))
    for key in ("data_capture", "async_", "serverless"):
        if getattr(e, key) is not None:
            shown = key.rstrip("_")
            out.append(_f(base + (shown,), f"`{shown}` does not apply to inference components in "
                          "modelbot", f"no `{shown}`", None, rule="manifest.inference-component",
                          at_key=True))
    if _marketplace(model):
        out.append(_f(base + ("mode",), "modelbot does not place AWS Marketplace containers as "
                      "inference components (guardrails do not apply to them)", "mode realtime", e.mode,
                      rule="aws.guardrails-exclusions"))
    if ic.shared_endpoint:
        if e.endpoint_name is None:
            out.append(_f(loc + ("shared_endpoint",), "a component on a shared endpoint needs the endpoint's "
                          "name", "endpoint_name: <the shared endpoint>", True, rule="manifest.inference-component"))
        if e.instance_count is not None:
            out.append(_f(base + ("instance_count",), "the shared endpoint's fleet is its host's: "
                          "`instance_count` does not apply", "no instance_count", e.instance_count,
                          rule="manifest.inference-component", at_key=True))
        if ic.managed_instance_scaling is not None:
            out.append(_f(loc + ("managed_instance_scaling",), "the shared endpoint's fleet is its host's: "
                          "`managed_instance_scaling` does not apply", "no managed_instance_scaling", None,
                          rule="manifest.inference-component", at_key=True))
    m = ic.managed_instance_scaling
    if m is not None:
        if m.max_instance_count < m.min_instance_count:
            out.append(_f(loc + ("managed_instance_scaling", "max_instance_count"), f"max_instance_count "
                          f"{m.max_instance_count} is below min_instance_count {m.min_instance_count}",
                          f">= {m.min_instance_count}", m.max_instance_count, rule="aws.managed-instance-scaling"))
        elif not m.min_instance_count <= e.fleet <= m.max_instance_count:
            out.append(_f(base + ("instance_count",), f"instance_count {e.fleet} is outside managed "
                          f"instance scaling's {m.min_instance_count}-{m.max_instance_count}",
                          f"{m.min_instance_count}-{m.max_instance_count}", e.fleet,
                          rule="aws.managed-instance-scaling"))
    if e.instance_type is None:
        return out
    cap = aws.INSTANCE_CAPACITY.get(e.instance_type)
    if cap is None:
        out.append(_f(base + ("instance_type",), f"{e.instance_type} is not in modelbot's capacity "
                      "table, so whether the copies fit is not checked before the deploy "
                      f"({aws.CAPACITY_TABLE_SOURCE})", "a type of the table, e.g. ml.g5.12xlarge",
                      e.instance_type, rule="aws.inference-component-capacity", severity="warning"))
        return out
    why = aws.component_fit_problem(e.instance_type, cpu_cores=c.cpu_cores, accelerators=c.accelerators,
                                    memory_mb=c.min_memory_mb)
    if why:
        key = ("accelerators" if c.accelerators and c.accelerators > cap.accelerators else
               "cpu_cores" if c.cpu_cores and c.cpu_cores > cap.vcpus else "min_memory_mb")
        out.append(_f(loc + ("compute", key), f"{why} ({aws.CAPACITY_TABLE_SOURCE})",
                      f"what one {e.instance_type} offers: {cap.accelerators} accelerators, "
                      f"{cap.vcpus} vCPUs, {cap.memory_mb} MB", getattr(c, key),
                      rule="aws.inference-component-capacity"))
        return out
    if c.accelerators is None and cap.accelerators:
        out.append(_f(loc + ("compute", "accelerators"), f"{e.instance_type} has {cap.accelerators} "
                      "accelerator device(s) and the copies ask for none: they run on CPU only",
                      "accelerators: N, or a CPU instance type", rule="aws.inference-component",
                      severity="warning"))
    fit = _copies_fit(e)
    if fit is None:
        return out
    per, most = fit
    if ic.copies > per * most:
        out.append(_f(loc + ("copies",), f"{ic.copies} copies need {-(-ic.copies // per)} instance(s) "
                      f"({per} fit on one {e.instance_type}), and the endpoint has at most {most}",
                      f"at most {per * most} copies, more instances, or managed_instance_scaling",
                      ic.copies, rule="aws.inference-component-capacity"))
    return out


def _component_autoscaling(loc: Loc, e: EnvironmentSpec) -> list[Finding]:
    a = e.autoscaling
    assert a is not None
    out = []
    if a.target_invocations_per_copy is None:
        out.append(_f(loc + ("target_invocations_per_copy",), "copy autoscaling needs a target for "
                      f"{aws.IC_INVOCATIONS_METRIC}", "an integer >= 1", rule="manifest.autoscaling"))
    for key in ("target_invocations_per_instance", "target_backlog_per_instance"):
        if getattr(a, key) is not None:
            out.append(_f(loc + (key,), f"an inference component scales copies, not instances: `{key}` "
                          "does not apply", "target_invocations_per_copy", getattr(a, key),
                          rule="manifest.autoscaling", at_key=True))
    if a.min_capacity == 0:
        out.append(_f(loc + ("min_capacity",), "modelbot does not scale inference components to zero "
                      "copies", ">= 1", 0, rule="manifest.autoscaling"))
    ic = e.inference_component
    if ic is not None and a.min_capacity <= a.max_capacity and not a.min_capacity <= ic.copies <= a.max_capacity:
        out.append(_f(loc[:-1] + ("inference_component", "copies"), f"copies {ic.copies} is outside the "
                      f"autoscaling range {a.min_capacity}-{a.max_capacity}; autoscaling will move it",
                      f"{a.min_capacity}-{a.max_capacity}", ic.copies, rule="manifest.autoscaling",
                      severity="warning"))
    fit = _copies_fit(e)
    if fit is not None and fit[0] and a.max_capacity > fit[0] * fit[1]:
        per, most = fit
        out.append(_f(loc + ("max_capacity",), f"{a.max_capacity} copies need {-(-a.max_capacity // per)} "
                      f"instance(s) ({per} fit on one {e.instance_type}), and the endpoint has at most "
                      f"{most}: copies past {per * most} would not be placed",
                      f"at most {per * most}, or a larger managed_instance_scaling.max_instance_count",
                      a.max_capacity, rule="aws.inference-component-capacity", severity="warning"))
    return out


def _component_strategy(loc: Loc, e: EnvironmentSpec) -> list[Finding]:
    """UpdateInferenceComponent's RollingUpdatePolicy: batches of copies (COPY_COUNT) or 5-50%
    of the copies (botocore InferenceComponentRollingUpdatePolicy.MaximumBatchSize)."""
    s, ic = e.strategy, e.inference_component
    if s is None or ic is None:
        return []
    out = []
    lo, hi = aws.IC_ROLLING_BATCH_PERCENT
    for param in ("max_batch_size", "rollback_max_batch_size"):
        size = getattr(s, param)
        if size is None:
            continue
        sloc = loc + (param,)
        if size.type == "instance_count":
            out.append(_f(sloc + ("type",), "an inference component rolls out by copies, not instances",
                          "copy_count or capacity_percent", size.type, rule="aws.rolling-batch"))
        elif size.type == "copy_count" and size.value > ic.copies:
            out.append(_f(sloc + ("value",), f"{size.value} copies, but the component has {ic.copies}",
                          f"1-{ic.copies}", size.value, rule="aws.rolling-batch"))
        elif size.type == "copy_count" and param == "max_batch_size" and not (
                max(1, math.ceil(lo * ic.copies / 100)) <= size.value <= max(1, hi * ic.copies // 100)):
            low, high = max(1, math.ceil(lo * ic.copies / 100)), max(1, hi * ic.copies // 100)
            out.append(_f(sloc + ("value",), f"a rolling batch of {size.value} of {ic.copies} copies; the "
                          f"batch \"must be between 5% to 50% of the copy count\" (botocore "
                          "InferenceComponentRollingUpdatePolicy.MaximumBatchSize)",
                          f"{low}-{high} copies" if low != high else f"{low} copy(ies)", size.value,
                          rule="aws.rolling-batch"))
        elif size.type == "capacity_percent" and param == "max_batch_size" and not lo <= size.value <= hi:
            out.append(_f(sloc + ("value",), f"a rolling batch of {size.value}% of the copies; AWS allows "
                          f"{lo}-{hi}% (botocore InferenceComponentRollingUpdatePolicy)", f"{lo}-{hi}",
                          size.value, rule="aws.rolling-batch"))
        elif size.type == "capacity_percent" and size.value > 100:
            out.append(_f(sloc + ("value",), f"{size.value}% is more than all the copies", "1-100",
                          size.value, rule="aws.rolling-batch"))
    if s.type == "rolling" and s.max_execution_timeout_seconds is not None and s.max_batch_size is not None:
        size = s.max_batch_size
        batch = size.value if size.type == "copy_count" else max(1, -(-size.value * ic.copies // 100))
        steps = -(-ic.copies // max(1, batch))
        total = (s.wait_interval_seconds or 0) * steps
        if s.max_execution_timeout_seconds <= total:
            out.append(_f(loc + ("max_execution_timeout_seconds",), f"the bakes add up to {total}s "
                          f"({steps} batches x {s.wait_interval_seconds}s) and the update would time out",
                          f"more than {total}", s.max_execution_timeout_seconds,
                          rule="aws.max-execution-timeout"))
    return out
