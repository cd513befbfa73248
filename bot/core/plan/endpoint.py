"""The plan for a real-time, serverless, asynchronous or multi-model endpoint: which model to
create or reuse, the variants of the new endpoint config, and every action, step, change and
note of creating or updating the endpoint."""

from __future__ import annotations

from typing import Mapping

from bot.core.experiment import bake
from bot.core.manifest.model import BOT_TAG_PREFIX, PipelineRef
from bot.core.plan.model import (
    Action,
    Change,
    Cost,
    DeploySpec,
    LiveState,
    LiveVariant,
    Plan,
    ResourceNames,
    TrafficStep,
    VariantPlan,
)
from bot.core.plan.names import config_digest, deploy_tags, model_digest
from bot.core.plan.problems import (
    _bake_judge_problems,
    _guardrail_problems,
    _guardrails_excluded,
    _mode_switch_problems,
    _problem,
    _status_problems,
)
from bot.core.plan.traffic import _batch_instances, _rollout_notes, _steps, _update_detail
from bot.core.plan.fleet import _autoscaling, _fleet_cost, _instance_changes, _live_rows, _plan_rows, _price


def _source_notes(spec: DeploySpec, names: ResourceNames) -> tuple[list[Action], list[str]]:
    m, e = spec.manifest, spec.env
    actions, notes = [], []
    if m.model.registry is not None:
        arn = m.model.registry.model_package_arn
        actions.append(Action("check", "model_package", arn, "must be Approved at deploy time"))
        notes.append(f"model package {arn} must have ModelApprovalStatus Approved when the deploy "
                     "runs; the deploy stops otherwise")
    if m.model.framework is not None:
        f = m.model.framework
        notes.append(f"container image: SageMaker's {f.name} {f.version}"
                     + (f" ({f.py_version})" if f.py_version else "")
                     + (f" image for {e.instance_type}" if e.instance_type else " image")
                     + ", resolved at deploy time")
    for key, value in (("build id", m.provenance.build_id), ("data version", m.provenance.data_version)):
        if isinstance(value, PipelineRef):
            notes.append(f"{key} is read from the pipeline output {value.from_pipeline} "
                         f"(key {value.key}) at deploy time and tagged on every resource")
    return actions, notes


def _variant(spec: DeploySpec, name: str, role: str, model_name: str, digest: str, new: bool,
             weight: float) -> VariantPlan:
    e = spec.env
    s = e.serverless
    return VariantPlan(name=name, model_name=model_name, role=role,
                       instance_type=None if s else e.instance_type,
                       instance_count=None if s else e.fleet, weight=weight,
                       serverless_memory_mb=s.memory_mb if s else None,
                       serverless_max_concurrency=s.max_concurrency if s else None,
                       model_digest=digest, new_model=new)


def _keep_variant(v: LiveVariant, role: str, weight: float) -> VariantPlan:
    return VariantPlan(name=v.name, model_name=v.model_name, role=role,
                       instance_type=v.instance_type, instance_count=v.instance_count,
                       weight=weight, serverless_memory_mb=v.serverless_memory_mb,
                       serverless_max_concurrency=v.serverless_max_concurrency,
                       model_digest=v.model_digest)


def _model_detail(spec: DeploySpec) -> str:
    m, e = spec.manifest, spec.env
    mode = "MultiModel" if e.multi_model else "SingleModel"
    if m.model.artifact is not None:
        src = f"{m.model.artifact.image} with {m.model.artifact.uri}"
    elif m.model.framework is not None:
        f = m.model.framework
        src = f"{f.name} {f.version} image with {f.uri}"
    else:
        src = f"model package {m.model.registry.model_package_arn}"  # type: ignore[union-attr]
    if e.multi_model:
        src += f"; serves models under {e.multi_model.prefix}"
    return f"{src} ({mode})"


def _endpoint(spec: DeploySpec, live: LiveState, names: ResourceNames,
              prices: Mapping[str, float]) -> Plan:
    e, env = spec.env, spec.environment
    s = e.effective_strategy
    st = s.type
    digest = model_digest(spec.manifest, env)
    actions, notes = _source_notes(spec, names)
    problems = _status_problems(spec, live) if live.endpoint_exists else []
    cost_notes: list[str] = []
    exists = live.endpoint_exists
    prod = live.production_variants
    current = max(prod, key=lambda v: (v.weight, v.name), default=None)

    # Reuse a live model whose definition is unchanged (same digest), else create one.
    reuse = next((v.model_name for v in live.variants if v.model_digest == digest), None)
    model_name, new_model = (reuse, False) if reuse else (names.model, True)

    # A/B and shadow put the candidate beside the current model, unless it is the current model.
    two_models = (st in ("ab", "shadow") and exists and current is not None
                  and current.model_digest != digest)
    if two_models:
        assert current is not None
        cand_name = s.candidate_variant_name or ("candidate" if st == "ab" else "shadow")
        if st == "ab":
            w = s.weights
            assert w is not None
            total = w.current + w.candidate
            variants = (_keep_variant(current, "current", round(w.current / total, 4)),
                        _variant(spec, cand_name, "candidate", model_name, digest, new_model,
                                 round(w.candidate / total, 4)))
        else:
            # The shadow's weight relative to the production variant's is its sampling share.
            sample = round((s.sampling_percentage or 0) / 100, 4)
            variants = (_keep_variant(current, "production", 1.0),
                        _variant(spec, cand_name, "shadow", model_name, digest, new_model, sample))
    else:
        variants = (_variant(spec, e.variant_name, "production", model_name, digest, new_model, 1.0),)
        if st in ("canary", "linear", "rolling", "ab", "shadow") and not exists:
            notes.append(f"first deploy: the endpoint is created with all traffic on this model; "
                         f"the {st} strategy applies to later updates")

    new_digest = config_digest(variants, e)
    config_changed = not exists or live.config_digest != new_digest
    dropped = [v.name for v in live.variants if v.name not in {x.name for x in variants}
               and (two_models or v.shadow or len(prod) > 1)]
    if exists and config_changed and dropped:
        notes.append("variants removed by this update: " + ", ".join(dropped))
    if exists and config_changed and live.endpoint_config_name == names.endpoint_config:
        problems.append(_problem(spec, ("environments", env), names.endpoint_config,
                                 f"the live endpoint config {names.endpoint_config} comes from this "
                                 "commit but differs from the manifest (changed outside modelbot?); "
                                 "a config of that name cannot be created again",
                                 "a new commit, or the live endpoint repaired", "live.config-name-taken"))
    if exists:
        problems += _mode_switch_problems(spec, live)
    excluded = _guardrails_excluded(spec)
    if exists and config_changed and not two_models:
        notes += _rollout_notes(spec, excluded)
    auto_changes, auto_actions = _autoscaling(spec, live, variants)
    desired_user_tags = {k: v for k, v in deploy_tags(spec).items() if not k.startswith(BOT_TAG_PREFIX)}
    live_user_tags = {k: v for k, v in live.tags.items() if not k.startswith(BOT_TAG_PREFIX)
                      and (k in desired_user_tags or k in live.bot_applied_tag_keys)}
    tags_changed = exists and desired_user_tags != live_user_tags

    before, before_usage = _fleet_cost(_live_rows(live), prices, cost_notes) if exists else (0.0, False)
    if exists and not config_changed and not auto_changes and not tags_changed:
        return Plan(env, "no_changes", e.mode, st, names, variants=variants, notes=tuple(notes),
                    cost=Cost(before, before, usage_based=before_usage),
                    tags=deploy_tags(spec), problems=tuple(problems),
                    rollback_alarms=tuple(e.alarms or ()), config_digest=new_digest)

    steps: list[TrafficStep] = []
    judge_alarm: str | None = None
    instance_changes: list[Change] = []
    config_name = live.endpoint_config_name or names.endpoint_config
    if config_changed:
        config_name = names.endpoint_config
        if new_model:
            actions.append(Action("create", "model", model_name, _model_detail(spec)))
        else:
            notes.append(f"model unchanged: reusing {model_name}")
        actions.append(Action("create", "endpoint_config", config_name,
                              "; ".join(f"{v.name} ({v.role}): {v.model_name}, {v.describe()}"
                                        + (f", weight {v.weight:g}" if len(variants) > 1 and not v.shadow else "")
                                        for v in variants)))
        if exists:
            detail = _update_detail(st, s, two_models, excluded)
            actions.append(Action("update", "endpoint", names.endpoint or "", detail))
            steps = _steps(spec, live, variants, two_models)
            problems += _guardrail_problems(spec, live, variants, two_models)
            if not two_models and not excluded and bake.judges_bake(s):
                judge_alarm = bake.alarm_name(names.endpoint or "")
                actions.insert(len(actions) - 1, Action("create", "alarm", judge_alarm, "the operational judge's rollback "
                                      "alarm (Modelbot/CanaryJudge JudgeFailed >= 1), added to the update's "
                                      "AutoRollbackConfiguration"))
                problems += _bake_judge_problems(spec, steps)
                notes.append(f"the operational judge compares {', '.join(s.canary_judge.metrics)} of the "
                             f"endpoint during the bakes with the {s.canary_judge.baseline_minutes} minutes before "
                             f"the update; a failure puts {judge_alarm} into ALARM and SageMaker rolls back "
                             f"(about {bake.JUDGE_LAG_MINUTES} minutes of the bakes come too early or too late "
                             "for it to read: the first, partial one and CloudWatch's delay)")
            instance_changes = _instance_changes(live, variants, two_models)
            notes.append(f"keep the previous endpoint config {live.endpoint_config_name} until "
                         "the update has finished")
        else:
            actions.append(Action("create", "endpoint", names.endpoint or "",
                                  f"with config {config_name}"))
            steps = [TrafficStep(100.0, 0, "the new endpoint serves all traffic once InService")]
            instance_changes = [Change(f"{v.name}", None, v.describe()) for v in variants]
    actions += auto_actions
    if tags_changed:
        actions.append(Action("update", "tags", names.endpoint or "",
                              "tags: " + ", ".join(f"{k}={v}" for k, v in sorted(desired_user_tags.items()))))

    after, after_usage = _fleet_cost(_plan_rows(variants), prices, cost_notes)
    peak = None
    if exists and config_changed and before is not None and after is not None:
        peak = round(before + after, 4) if not two_models else after
        if st == "rolling":
            batch = _batch_instances(s.max_batch_size, e.fleet) if s.max_batch_size else 0
            p = _price(prices, e.instance_type, cost_notes)
            peak = round(before + batch * p, 4) if p is not None else None
    max_cost = None
    if e.autoscaling is not None and e.instance_type:
        p = _price(prices, e.instance_type, cost_notes)
        if p is not None and after is not None:
            max_cost = round(after + (e.autoscaling.max_capacity - e.fleet) * p, 4)
        if e.autoscaling.min_capacity == 0:
            cost_notes.append("the endpoint scales to zero instances when idle")
    usage = before_usage or after_usage
    if usage:
        cost_notes.append("serverless cost is per request and compute time (usage-based)")
    if two_models and st == "ab":
        notes.append("promote or roll back the A/B test with /promote or /rollback")
    if two_models and st == "shadow":
        notes.append("callers only get answers from the production variant; promote the shadow "
                     "with /promote")
    return Plan(env, "update" if exists else "create", e.mode, st, names, tuple(actions),
                tuple(variants), tuple(steps), tuple(dict.fromkeys(tuple(e.alarms or ()) + ((judge_alarm,) if judge_alarm else ()))),
                tuple(instance_changes),
                tuple(auto_changes),
                Cost(before, after, peak, max_cost, usage, tuple(cost_notes)),
                deploy_tags(spec), tuple(notes), tuple(problems), config_digest=new_digest)
