"""What blocks or warns on a plan: missing rollback alarms, an endpoint that is busy or broken,
inference-mode switches SageMaker refuses, and the variant rules of its deployment guardrails.
Each problem points at the manifest line it concerns."""

from __future__ import annotations

from typing import Any

from bot.core.experiment import bake
from bot.core.manifest.aws_limits import (
    SERVERLESS_UPDATE_PAGE,
    guardrail_variant_problem,
    guardrails_excluded,
    rolling_problem,
)
from bot.core.manifest.problems import Problem
from bot.core.plan.model import BROKEN, DeploySpec, LiveState, TRANSITIONAL, VariantPlan


def missing_alarms(names, existing: frozenset[str] | None) -> list[str]:
    """The rollback alarms CloudWatch does not have (`existing`: the ones it has; None: not
    read, nothing to say). A rollout refuses to start on such an alarm (bot.core.deploy.rollout): it
    could never fire, so nothing would roll the update back; the plan says so before the merge."""
    if existing is None:
        return []
    return [n for n in dict.fromkeys(names) if n not in existing]


def rolls_out(actions) -> bool:
    """Whether an update plan moves the endpoint to a new config (the rollout's guarded, A/B or
    shadow flows, which watch alarms; otherwise bot.core.deploy.rollout runs it in place)."""
    creates_config = any(a.resource == "endpoint_config" and a.verb == "create" for a in actions)
    updates = any(a.resource == "endpoint" and a.verb in ("create", "update") for a in actions)
    component = any(a.resource == "inference_component" and a.verb in ("create", "update") for a in actions)
    return (creates_config and updates) or component


def _alarm_problems(spec: DeploySpec, live: LiveState, kind: str, actions=()) -> list[Problem]:
    e = spec.env
    alarms = list(e.alarms or ())
    missing = set(missing_alarms(alarms, live.existing_alarms))
    if not missing or kind not in ("update", "create"):  # nothing would roll out
        return []
    if kind == "update" and not rolls_out(actions):  # tags or autoscaling only: no rollout, no alarm watched
        return []
    if kind == "update":  # the rollout watches the alarms, and refuses to start
        why, severity = "a deploy is refused until it exists", "error"
    else:  # a create: no rollout watches alarms yet, but the next update will not start
        why, severity = ("this first deploy creates the endpoint without it, but no update will start "
                         "until it exists"), "warning"
    return [_problem(spec, ("environments", spec.environment, "alarms", i), name,
                     f"alarm {name} does not exist in CloudWatch for {spec.environment} (DescribeAlarms): "
                     f"it could never fire, so nothing would roll a rollout back on it; {why}",
                     "the name of an existing metric or composite alarm in the environment's account "
                     "and region", "aws.alarm-exists", severity)
            for i, name in enumerate(alarms) if name in missing]


def _problem(spec: DeploySpec, loc: tuple, value: Any, message: str, expected: str, rule: str,
             severity: str = "error") -> Problem:
    """A plan problem at the manifest line it concerns (an environment: at its key)."""
    src = spec.manifest.source
    line, col = src.position(loc, at_key=len(loc) == 2) if src else (1, 1)
    return Problem(src.path if src else "", line, col, ".".join(map(str, loc)), value, message,
                   expected, rule, severity)  # type: ignore[arg-type]


def _status_problems(spec: DeploySpec, live: LiveState, teardown: bool = False) -> list[Problem]:
    """A busy endpoint is a warning (the deploy waits); a broken one blocks a deploy, while a
    teardown deletes it all the same (a warning)."""
    status = live.endpoint_status
    loc = ("environments", spec.environment)
    if status in TRANSITIONAL:
        waits = "the teardown waits until AWS has finished" if teardown else "a deploy waits until it is InService"
        return [_problem(spec, loc, status, f"the endpoint is {status}; {waits}", "InService",
                         "live.endpoint-status", "warning")]
    if status in BROKEN:
        if teardown:
            return [_problem(spec, loc, status, f"the endpoint is {status}; the teardown deletes it all the "
                             "same", "InService", "live.endpoint-status", "warning")]
        return [_problem(spec, loc, status, f"the endpoint is {status} and needs repair before "
                         "modelbot can update it", "InService", "live.endpoint-status")]
    return []


def _mode_switch_problems(spec: DeploySpec, live: LiveState) -> list[Problem]:
    """Changes of inference mode that SageMaker refuses on a live endpoint (ValidationError)."""
    e, env = spec.env, spec.environment
    ep = live.endpoint_name or spec.manifest.endpoint_name(env)
    fix = (f"a new endpoint_name (deploy the new mode beside {ep}, move callers, then remove it), "
           "or tear the endpoint down first (remove the environment, merge, then add it back)")
    out = []
    live_serverless = any(v.serverless_memory_mb for v in live.production_variants)
    live_instances = any(v.instance_type for v in live.production_variants)
    if e.serverless is not None and live_instances and not live_serverless:
        out.append(_problem(spec, ("environments", env, "mode"), e.mode,
                            f"the live endpoint {ep} runs on instances, and SageMaker does not "
                            "update an instance-based endpoint to serverless (UpdateEndpoint "
                            f"fails with a ValidationError; {SERVERLESS_UPDATE_PAGE})", fix,
                            "aws.mode-switch"))
    wants_async = e.async_ is not None
    if live.async_inference is not None and live.async_inference != wants_async:
        if wants_async:
            loc, why = ("environments", env, "async"), "an AsyncInferenceConfig cannot be added to"
        else:
            loc, why = ("environments", env, "mode"), "its AsyncInferenceConfig cannot be removed from"
        out.append(_problem(spec, loc, e.mode, f"the live endpoint {ep} is "
                            f"{'not ' if wants_async else ''}asynchronous, and {why} a live "
                            "endpoint by UpdateEndpoint (ValidationError)", fix, "aws.mode-switch"))
    return out


def _guardrails_excluded(spec: DeploySpec) -> str | None:
    e, registry = spec.env, spec.manifest.model.registry
    return guardrails_excluded(mode=e.mode, instance_type=e.instance_type,
                               marketplace=bool(registry is not None and registry.marketplace))


def _guardrail_problems(spec: DeploySpec, live: LiveState, variants: tuple[VariantPlan, ...],
                        two_models: bool) -> list[Problem]:
    e = spec.env
    s = e.effective_strategy
    if two_models:
        return []
    if s.type == "all_at_once" or _guardrails_excluded(spec):
        return []
    guarded = s.type in ("canary", "linear", "rolling") or bool(
        e.alarms or s.termination_wait_seconds or s.max_execution_timeout_seconds)
    loc = ("environments", spec.environment, "variant_name")
    out = []
    if guarded:
        live_names = sorted(v.name for v in live.production_variants)
        why = guardrail_variant_problem(live_names, (v.name for v in variants))
        if why:
            out.append(_problem(spec, loc, e.variant_name, why, "variant_name: " + ", ".join(live_names),
                                "aws.guardrail-variant-names"))
    if s.type == "rolling":
        why = rolling_problem(serverless=any(v.serverless_memory_mb for v in live.variants),
                              variants=len(live.production_variants))
        if why:
            out.append(_problem(spec, loc, s.type, f"the live endpoint: {why}",
                                "blue_green, canary or linear", "aws.rolling"))
    return out


def _bake_judge_problems(spec: DeploySpec, steps) -> list[Problem]:
    """The operational judge of a SageMaker-driven update needs `min_points` minutes of the new
    fleet inside SageMaker's bakes: a shorter bake ends before it could ever fail the update."""
    judge = spec.env.effective_strategy.canary_judge
    minutes = sum(int(s.wait_seconds or 0) for s in steps) / 60
    if judge is None or minutes >= judge.min_points + bake.JUDGE_LAG_MINUTES:
        return []
    return [_problem(spec, ("environments", spec.environment, "strategy", "canary_judge", "min_points"),
                     judge.min_points, f"the update bakes {minutes:g} minutes in all, and the operational "
                     f"judge needs {judge.min_points} one-minute values of the new fleet, which a bake "
                     f"gives only after {judge.min_points + bake.JUDGE_LAG_MINUTES} minutes (the first, "
                     f"partial minute and about {bake.JUDGE_LAG_MINUTES - 1} more until CloudWatch has "
                     "them and the bot reads them): SageMaker would finish before it could judge",
                     f"bakes of at least {judge.min_points + bake.JUDGE_LAG_MINUTES} minutes in all "
                     "(wait_interval_seconds, termination_wait_seconds) or a smaller min_points",
                     "manifest.experiment")]
