"""The rollout controller: a pure reconcile step, `decide(state, observed, now) -> Decision`.

`RolloutState` is what the store keeps for one deployment; `Observation` is the endpoint as
DescribeEndpoint shows it plus the states of its alarms (and the error of the last action, if
any); a `Decision` is the one next action and the state to store. Any process may run the next
step: store `decision.state` BEFORE executing the decision, so that a crash between the two
is seen as "nothing happened" and the action is issued again (creates skip what exists).

Flows (`RolloutState.flow`):

- `create`: first deploy. create_endpoint -> Creating -> InService on the target config: succeed.
- `guarded`: blue/green, canary, linear, rolling. SageMaker drives the traffic shift and rolls
  back on the alarms of AutoRollbackConfiguration. The controller issues update_endpoint and
  watches: InService on the target config is success; InService again on the OLD config after
  the update was seen (or with a FailureReason) is a rollback, not success; RollingBack waits;
  Failed and UpdateRollbackFailed fail. SageMaker cannot stop an update midway, so /abort and
  /rollback during one wait for it to end and then roll back to the previous config; /promote
  has nothing to do and is dropped.
- `ab` / `shadow`: the candidate runs beside the live model. The bot drives: update_endpoint to
  the two-variant config, then an open-ended experiment in which the bot itself rolls back when
  a rollback alarm is in ALARM (nobody else will) or on /rollback or /abort, and promotes on
  /promote. A/B shifts weights with UpdateEndpointWeightsAndCapacities first (traffic moves in
  seconds), then releases the old fleet with an update to the "promoted" config (the candidate
  alone under the production variant name) or, on rollback, to the previous config. Extra
  A/B steps (`ab_steps`) are walked one /promote at a time.
- `in_place`: nothing to roll out (autoscaling or tags only): succeed at once.

Smoke test (`RolloutState.smoke`, when the manifest's contract has sample payloads): phase
`smoke` sends them to the new model and holds each answer to the output contract
(`bot.core.contract`; the engine records the outcome with `record_smoke`). Where it runs:
a created endpoint, once InService, before success; an A/B candidate right after the update,
while its weight is still 0 (the config starts it there), before the first weight shift; a
guarded update (blue/green, canary, linear, rolling) once SageMaker has finished it: SageMaker
offers no step between provisioning the new fleet and shifting traffic to it, so here the
smoke test is a check after the shift, and failing it rolls back to the previous config; a
shadow test after promotion (a shadow variant cannot be invoked directly: TargetVariant names
a production variant), rolling back from the promoted config (`unpromoting`). A broken contract
rolls back (a created endpoint, with nothing to roll back to, fails) naming the payload and
the field.

The previous endpoint config is kept until the rollout has ended; `succeed` lists the
superseded configs and models (`Cleanup`). A rollback keeps the candidate's resources: a retry
of the same commit reuses them by name. Deciding twice on the same inputs gives the same
decision; a terminal state gives its terminal decision again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Mapping

from bot.core.experiment import bake
from bot.core.plan import DeploySpec, LiveState, Plan, rolls_out
from bot.core.deploy.requests import multi_model_target, promoted_config_name, two_models

Action = Literal["create_endpoint", "update_endpoint", "wait", "shift_weights", "promote",
                 "rollback", "succeed", "fail", "report", "smoke", "place_component",
                 "rollback_component"]
Requested = Literal["abort", "rollback", "promote"]

TERMINAL = ("succeeded", "rolled_back", "failed", "aborted")
MAX_ATTEMPTS = 3
DEFAULT_POLL_SECONDS = 30
SETUP_MARGIN_SECONDS = 3600  # provisioning, traffic switches and termination around the bakes
WEIGHTS_TIMEOUT_SECONDS = 900
RECENT_SKEW = dt.timedelta(seconds=120)  # clock skew allowed when comparing with AWS times
_TOLERANCE = 0.005


# --- values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutState:
    """One deployment's rollout, as the store keeps it (see `as_record`/`from_record`).

    `phase`: pending, creating, updating, smoke, experiment, shifting, promote_shift, promoting,
    rollback_shift, rolling_back, unpromoting, or a terminal one (succeeded, rolled_back, failed, aborted).
    `requested`: a command waiting to be handled (abort, rollback, promote); the controller
    clears it when it acts on it. `progress`: the last progress text reported.
    """

    deployment_id: str
    endpoint: str
    flow: str  # create | guarded | ab | shadow | in_place
    strategy: str
    target_config: str
    previous_config: str | None
    started_at: dt.datetime
    phase: str = "pending"
    phase_started_at: dt.datetime | None = None
    deadline: dt.datetime | None = None
    timeout_seconds: int = SETUP_MARGIN_SECONDS
    poll_seconds: int = DEFAULT_POLL_SECONDS
    attempts: int = 0
    issued_at: dt.datetime | None = None
    seen_progress: bool = False
    alarms: tuple[str, ...] = ()
    target_models: tuple[str, ...] = ()
    previous_models: tuple[str, ...] = ()
    promoted_config: str | None = None
    current_variant: str | None = None
    candidate_variant: str | None = None
    candidate_model: str | None = None
    ab_steps: tuple[float, ...] = ()
    step: int = 0
    requested: str | None = None
    reason: str | None = None
    progress: str | None = None
    target_model: str | None = None  # multi-model: the candidate's TargetModel under the prefix
    smoke: bool = False               # send the contract's samples to the new model (see the module doc)
    smoke_on: str | None = None       # the config the smoke test ran (or runs) on
    smoke_result: str | None = None   # "passed", or what broke the contract
    component: str | None = None      # flow component: the inference component it deploys
    component_step: str | None = None  # create | update | copies | None (the fleet or autoscaling only)
    target_copies: int | None = None   # step copies: the DesiredCopyCount it sets
    # flow shadow with `strategy.experiment` / ab with `strategy.ab_test`: the judge's settings (the
    # manifest's record, with "kind": shadow | ab) and, for shadow, where SageMaker writes the data
    # capture both variants' answers are read from
    experiment: Mapping[str, Any] | None = None
    capture_destination: str | None = None

    @property
    def done(self) -> bool:
        return self.phase in TERMINAL

    def as_record(self) -> dict[str, Any]:
        """Plain values for a table row (tuples become lists; datetimes stay datetimes)."""
        return {f.name: list(v) if isinstance(v, tuple) else v
                for f in fields(self) for v in [getattr(self, f.name)]}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "RolloutState":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in names}
        for key in ("alarms", "target_models", "previous_models"):
            values[key] = tuple(values.get(key) or ())
        values["ab_steps"] = tuple(float(x) for x in values.get("ab_steps") or ())
        return cls(**values)


@dataclass(frozen=True)
class Observation:
    """The endpoint as DescribeEndpoint shows it, alarm states, and the last action's error.

    `pending_config`: PendingDeploymentSummary.EndpointConfigName (None when no deployment
    runs). `weights`: CurrentWeight of each production variant. `traffic_percent`: the share
    of traffic on the pending (new) fleet. `stage`: VariantStatus of the pending fleet
    (Creating, ActivatingTraffic, Baking, ...). `alarms`: name -> OK | ALARM | INSUFFICIENT_DATA | MISSING (not found).
    `error`: why the last action's AWS call failed; `error_retriable`: throttling and the like;
    `error_by_aws`: False when modelbot itself refused (e.g. a multi-model artifact too large).
    `smoke`: after a smoke action, the problems its answers showed (see `record_smoke`).
    """

    exists: bool
    status: str | None = None
    config_name: str | None = None
    pending_config: str | None = None
    failure_reason: str | None = None
    weights: Mapping[str, float] = field(default_factory=dict)
    traffic_percent: float | None = None
    stage: str | None = None
    stage_since: dt.datetime | None = None  # the VariantStatus StartTime of `stage`
    last_modified: dt.datetime | None = None
    alarms: Mapping[str, str] = field(default_factory=dict)
    arn: str | None = None
    error: str | None = None
    error_retriable: bool = False
    error_by_aws: bool = True
    smoke: tuple[str, ...] | None = None  # after a smoke action: what broke the contract (empty: held)
    smoke_retriable: bool = False          # ... only errors worth trying again (throttling, not ready)
    # flow component: DescribeInferenceComponent (component_status None: no such component)
    component_status: str | None = None
    component_model: str | None = None
    component_copies: int | None = None
    component_failure: str | None = None
    component_modified: dt.datetime | None = None
    # flow shadow/ab with a judge: its last verdict (bot.core.experiment.judge)
    experiment: str | None = None                 # pass | fail | running | not_enough_data
    experiment_reasons: tuple[str, ...] = ()
    experiment_summary: str | None = None

    def on(self, config: str | None) -> bool:
        """InService on `config` with no deployment running."""
        return (self.exists and self.status == "InService" and config is not None
                and self.config_name == config and self.pending_config is None)

    def firing(self, names: tuple[str, ...]) -> list[str]:
        return sorted(n for n in names if self.alarms.get(n) == "ALARM")

    def missing(self, names: tuple[str, ...]) -> list[str]:
        """Watched alarms DescribeAlarms does not know (deleted, or never created)."""
        return sorted(n for n in names if self.alarms.get(n) == "MISSING")

    def watch_broken(self, names: tuple[str, ...]) -> str | None:
        """Why the bot's own alarm watch says roll back: an alarm in ALARM, or one that no
        longer exists (it could never fire, so the test would be unwatched)."""
        firing, missing = self.firing(names), self.missing(names)
        if firing:
            return "alarm " + ", ".join(firing) + " in ALARM"
        if missing:
            return ("alarm " + ", ".join(missing) + " does not exist, so nothing watches the "
                    "candidate")
        return None


@dataclass(frozen=True)
class Progress:
    """What to tell people: the phase, the endpoint's status and stage, the traffic on the
    new fleet or candidate (percent), and a sentence."""

    phase: str
    status: str | None
    traffic_percent: float | None
    stage: str | None
    text: str


@dataclass(frozen=True)
class Cleanup:
    """Superseded resources to delete once a rollout has succeeded."""

    endpoint_configs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The next action and the state to store before executing it.

    create_endpoint/update_endpoint: move the endpoint to `config` (creating models and
    configs that do not exist yet). shift_weights: set `weights`. promote/rollback: start the
    promotion or rollback, by `weights` (A/B) or by an update to `config`. wait/report: poll
    again after `seconds` (report: post `progress` first). succeed: apply autoscaling and tags,
    delete `cleanup`. fail: stop; `reason` says why.
    """

    action: Action
    state: RolloutState
    seconds: int = 0
    config: str | None = None
    weights: tuple[tuple[str, float], ...] | None = None
    reason: str | None = None
    progress: Progress | None = None
    cleanup: Cleanup | None = None
    refused: str | None = None  # a request turned down (e.g. /promote before the judge passed), and why

    @property
    def final(self) -> bool:
        return self.action in ("succeed", "fail")

    @property
    def weight_map(self) -> dict[str, float]:
        return dict(self.weights or ())


# --- starting a rollout ---------------------------------------------------------------------------


def new_rollout(deployment_id: str, spec: DeploySpec, plan: Plan, live: LiveState, now: dt.datetime,
                *, poll_seconds: int = DEFAULT_POLL_SECONDS, timeout_seconds: int | None = None,
                ab_ramp: tuple[float, ...] = (), smoke: bool = False) -> RolloutState:
    """The state of a rollout of `plan` over `live`, not started yet.

    `timeout_seconds` bounds each phase SageMaker or the bot is moving the endpoint in
    (default: the strategy's max execution timeout, or the plan's bake times plus an hour).
    `ab_ramp`: further candidate shares (0-1) an A/B test moves through, one /promote each,
    before the final promotion. `smoke`: the deploy's requests carry a smoke test
    (`DeployRequests.smoke`).
    """
    if plan.kind not in ("create", "update") or plan.names.endpoint is None:
        raise ValueError(f"a {plan.kind} plan has no endpoint rollout")
    if plan.blocked:
        raise ValueError("the plan is blocked")
    s = spec.env.effective_strategy
    target = next((a.name for a in plan.actions if a.resource == "endpoint_config" and a.verb == "create"),
                  None)
    if plan.component is not None:
        return _component_rollout(deployment_id, spec, plan, live, now, poll_seconds=poll_seconds,
                                  timeout_seconds=timeout_seconds, smoke=smoke)
    if plan.kind == "create":
        flow = "create"
    elif not rolls_out(plan.actions):  # the rule bot.core.plan's alarm check uses too
        flow, target = "in_place", live.endpoint_config_name or plan.names.endpoint_config
    elif two_models(plan):
        flow = "ab" if any(v.role == "candidate" for v in plan.variants) else "shadow"
    else:
        flow = "guarded"
    assert target is not None
    if timeout_seconds is None:
        timeout_seconds = (s.max_execution_timeout_seconds or plan.total_wait_seconds) + SETUP_MARGIN_SECONDS
    cand = next((v for v in plan.variants if v.role in ("candidate", "shadow")), None)
    current = next((v for v in plan.variants if v.role in ("current", "production")), None)
    steps: tuple[float, ...] = ()
    if flow == "ab" and cand is not None:
        total = sum(v.weight for v in plan.variants)
        first = cand.weight / total if total else cand.weight
        steps = (round(first, 6),) + tuple(sorted(r for r in ab_ramp if first < r < 1))
    return RolloutState(
        deployment_id=deployment_id, endpoint=plan.names.endpoint, flow=flow, strategy=s.type,
        target_config=target,
        previous_config=live.endpoint_config_name if live.endpoint_exists else None,
        started_at=now, phase_started_at=now, deadline=now + dt.timedelta(seconds=timeout_seconds),
        timeout_seconds=timeout_seconds, poll_seconds=poll_seconds,
        alarms=tuple(plan.rollback_alarms),
        target_models=tuple(sorted({v.model_name for v in plan.variants})),
        previous_models=tuple(sorted({v.model_name for v in live.variants})),
        promoted_config=promoted_config_name(plan) if flow in ("ab", "shadow") else None,
        current_variant=current.name if flow in ("ab", "shadow") and current else None,
        candidate_variant=cand.name if cand else None,
        candidate_model=cand.model_name if cand else None,
        ab_steps=steps, target_model=None if flow == "in_place" else multi_model_target(spec, plan),
        smoke=smoke and flow != "in_place",
        experiment=_experiment_record(flow, s, plan),
        capture_destination=(spec.env.data_capture.destination if flow == "shadow" and s.experiment
                             and spec.env.data_capture else None))


_JUDGES = {"ab": "the A/B test", "shadow": "the shadow judge"}


def _experiment_record(flow: str, s, plan: Plan) -> dict[str, Any] | None:
    """The judges of a shadow or A/B test as the state keeps them: the main judge's settings
    ("kind": shadow | ab) and the operational judge's under "canary" ("kind": canary alone).
    A guarded update with the judge (`bot.core.experiment.bake`): "kind" canary, "bake" true,
    its alarm and the variants judged."""
    if flow == "guarded" and s.canary_judge is not None and plan.names.endpoint \
            and bake.alarm_name(plan.names.endpoint) in plan.rollback_alarms:
        return {"kind": "canary", "bake": True, "alarm": bake.alarm_name(plan.names.endpoint),
                "variants": sorted({v.name for v in plan.variants if not v.shadow}),
                "canary": s.canary_judge.model_dump(mode="json")}
    if flow not in ("ab", "shadow"):
        return None
    out: dict[str, Any] | None = None
    if flow == "shadow" and s.experiment:
        out = {"kind": "shadow", **s.experiment.model_dump(mode="json")}
    elif flow == "ab" and s.ab_test:
        out = {"kind": "ab", **s.ab_test.model_dump(mode="json")}
    if s.canary_judge:
        out = {**(out or {"kind": "canary"}), "canary": s.canary_judge.model_dump(mode="json")}
    return out


# --- deciding -------------------------------------------------------------------------------------


def decide(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    """The next action for `state` given what is `observed` at `now`. Pure."""
    if state.done:
        return _terminal(state)
    if state.requested == "promote" and state.flow not in ("ab", "shadow"):
        state = replace(state, requested=None)  # SageMaker drives these rollouts: nothing to promote
    if observed.error and (not observed.error_retriable or state.attempts >= MAX_ATTEMPTS):
        who = "AWS refused the last action" if observed.error_by_aws else "the last action failed"
        return _fail(state, now, f"{who}: {observed.error}")
    if state.flow == "component":
        return decide_component(state, observed, now)
    if state.phase == "pending":
        return _pending(state, observed, now)
    if not observed.exists:
        if state.phase == "creating":
            return _issue(state, observed, now, "create_endpoint", state.target_config)
        return _fail(state, now, f"the endpoint {state.endpoint} no longer exists")
    handler = _PHASES[state.phase]
    return handler(state, observed, now)


def _terminal(state: RolloutState) -> Decision:
    if state.phase == "succeeded":
        return Decision("succeed", state, cleanup=cleanup_of(state), progress=_progress_for(state))
    return Decision("fail", state, reason=state.reason, progress=_progress_for(state))


def cleanup_of(state: RolloutState) -> Cleanup:
    """What a succeeded rollout superseded: every config and model it or the previous config
    used that the final config does not."""
    if state.flow == "component":
        configs = {state.previous_config} - {state.target_config, None}
        models = set(state.previous_models) - set(state.target_models) - {None}
        return Cleanup(tuple(sorted(configs)), tuple(sorted(models)))  # type: ignore[arg-type]
    if state.flow in ("create", "in_place"):
        return Cleanup()
    final = state.promoted_config if state.flow in ("ab", "shadow") else state.target_config
    final_models = {state.candidate_model} if state.flow in ("ab", "shadow") else set(state.target_models)
    configs = {state.previous_config, state.target_config, state.promoted_config} - {final, None}
    models = (set(state.previous_models) | set(state.target_models)) - final_models - {None}
    return Cleanup(tuple(sorted(configs)), tuple(sorted(models)))  # type: ignore[arg-type]


def _enter(state: RolloutState, now: dt.datetime, phase: str, *, timeout: int | None = None,
           **changes: Any) -> RolloutState:
    """`state` moved to `phase` (its own deadline, attempts and progress flag reset)."""
    seconds = state.timeout_seconds if timeout is None else timeout
    deadline = None if phase in ("experiment",) + TERMINAL else now + dt.timedelta(seconds=seconds)
    base: dict[str, Any] = {"phase": phase, "phase_started_at": now, "deadline": deadline,
                            "attempts": 0, "issued_at": None, "seen_progress": False, **changes}
    return replace(state, **base)


def _fail(state: RolloutState, now: dt.datetime, reason: str, phase: str = "failed",
          observed: Observation | None = None) -> Decision:
    new = _enter(state, now, phase, reason=reason, requested=None)
    progress = _progress_for(new, observed)
    return Decision("fail", replace(new, progress=progress.text), reason=reason, progress=progress)


def _succeed(state: RolloutState, now: dt.datetime, observed: Observation) -> Decision:
    new = _enter(state, now, "succeeded", requested=None, reason=None)
    progress = _progress_for(new, observed)
    new = replace(new, progress=progress.text)
    return Decision("succeed", new, cleanup=cleanup_of(new), progress=progress)


def _issue(state: RolloutState, observed: Observation, now: dt.datetime, action: Action,
           config: str | None = None, weights: Mapping[str, float] | None = None, *,
           phase: str | None = None, reason: str | None = None, timeout: int | None = None,
           **changes: Any) -> Decision:
    """Issue `action` for `phase` (a new phase, or again for the current one, counting attempts)."""
    if phase is None or phase == state.phase:
        if state.attempts >= MAX_ATTEMPTS:
            return _fail(state, now, f"{action.replace('_', ' ')} did not take effect after "
                         f"{state.attempts} attempts; the endpoint is {observed.status or 'missing'}"
                         + (f" on {observed.config_name}" if observed.config_name else ""),
                         observed=observed)
        new = replace(state, **changes) if changes else state
    else:
        new = _enter(state, now, phase, timeout=timeout, **changes)
    if reason is not None:
        new = replace(new, reason=reason)
    new = replace(new, attempts=new.attempts + 1, issued_at=now)
    progress = _progress_for(new, replace(observed, status=None, stage=None, traffic_percent=None))
    new = replace(new, progress=progress.text)
    w = tuple(sorted((k, float(v)) for k, v in weights.items())) if weights is not None else None
    return Decision(action, new, config=config, weights=w, reason=reason or new.reason,
                    progress=progress)


def _poll(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    """Keep watching: fail past the deadline, else report when the progress changed, or wait."""
    if state.deadline is not None and now >= state.deadline:
        allowed = int((state.deadline - (state.phase_started_at or state.started_at)).total_seconds())
        return _fail(state, now, f"timed out: {state.phase} did not finish within "
                     f"{allowed}s; the endpoint is {observed.status}"
                     + (f" on {observed.config_name}" if observed.config_name else ""),
                     observed=observed)
    progress = _progress_for(state, observed)
    if progress.text != state.progress:
        return Decision("report", replace(state, progress=progress.text), seconds=state.poll_seconds,
                        progress=progress)
    return Decision("wait", state, seconds=state.poll_seconds, progress=progress)


def _moved(state: RolloutState, observed: Observation) -> bool:
    """Whether the endpoint did something since the action was issued: the controller saw the
    deployment run, or AWS reports a failure newer than the action."""
    if state.seen_progress:
        return True
    if not observed.failure_reason:
        return False
    if observed.last_modified is None or state.issued_at is None:
        return True
    return _aware(observed.last_modified) >= _aware(state.issued_at) - RECENT_SKEW


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)


def _broken(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision | None:
    if observed.status == "Failed":
        return _fail(state, now, "the endpoint failed: " + (observed.failure_reason or "no reason given"),
                     observed=observed)
    if observed.status == "UpdateRollbackFailed":
        return _fail(state, now, "the update failed and so did SageMaker's rollback; the endpoint "
                     "needs repair: " + (observed.failure_reason or "no reason given"), observed=observed)
    if observed.status == "OutOfService":
        return _fail(state, now, "the endpoint is OutOfService", observed=observed)
    return None


def _request_reason(requested: str | None) -> str:
    return f"requested by /{requested}"


# --- phases ---------------------------------------------------------------------------------------


def _pending(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    if state.requested in ("abort", "rollback"):
        return _fail(state, now, f"{_request_reason(state.requested)} before anything changed",
                     phase="aborted")
    if state.flow == "in_place":
        return _succeed(state, now, observed)
    if state.flow == "create":
        if not observed.exists:
            return _issue(state, observed, now, "create_endpoint", state.target_config, phase="creating")
        if observed.on(state.target_config):
            return _done_or_smoke(state, observed, now, state.target_config)
        if observed.config_name == state.target_config:
            return _poll(_enter(state, now, "creating", seen_progress=True), observed, now)
        return _fail(state, now, f"the endpoint {state.endpoint} already exists (config "
                     f"{observed.config_name}); this deployment expected to create it")
    if not observed.exists:
        return _fail(state, now, f"the endpoint {state.endpoint} does not exist")
    if observed.on(state.target_config):
        if state.flow == "guarded":
            return _done_or_smoke(state, observed, now, state.target_config)
        return _in_experiment(state, observed, now)
    if observed.pending_config == state.target_config:
        return _poll(_enter(state, now, "updating", seen_progress=True), observed, now)
    broken = _broken(state, observed, now)
    if broken:
        return broken
    if observed.status == "InService":
        if observed.config_name != state.previous_config:
            return _fail(state, now, f"the endpoint moved to config {observed.config_name} since "
                         f"the plan (expected {state.previous_config}); plan again")
        own = (state.experiment or {}).get("alarm") if state.flow == "guarded" else None
        missing = [a for a in observed.missing(state.alarms) if a != own]  # own: put with the update
        if missing:
            # The rollout's safety is its alarms (SageMaker's auto-rollback, or the bot's own
            # watch of an A/B or shadow test): one that does not exist could never trip.
            return _fail(state, now, "not started: alarm " + ", ".join(missing) + " does not exist "
                         "(CloudWatch DescribeAlarms), so nothing would roll this update back; create "
                         "it or remove it from the manifest's alarms")
        return _issue(state, observed, now, "update_endpoint", state.target_config, phase="updating")
    return _poll(state, observed, now)  # busy with something else: wait, up to the deadline


def _creating(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    if observed.on(state.target_config):
        if state.requested in ("abort", "rollback"):
            return _fail(state, now, f"{_request_reason(state.requested)}: the new endpoint was "
                         "created; remove the manifest to tear it down", phase="aborted",
                         observed=observed)
        return _done_or_smoke(state, observed, now, state.target_config)
    broken = _broken(state, observed, now)
    if broken:
        return broken
    if observed.config_name != state.target_config and observed.pending_config != state.target_config:
        return _fail(state, now, f"the endpoint serves config {observed.config_name}, not "
                     f"{state.target_config}", observed=observed)
    return _poll(replace(state, seen_progress=True), observed, now)


def _updating(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    """Waiting for the update to the target config (SageMaker drives it)."""
    target = state.target_config
    if observed.on(target):
        if state.flow in ("ab", "shadow"):
            return _in_experiment(state, observed, now)
        if state.requested in ("abort", "rollback"):
            reason = f"{_request_reason(state.requested)} during the update"
            return _issue(state, observed, now, "rollback", state.previous_config, phase="rolling_back",
                          reason=reason, requested=None)
        if observed.experiment == "fail":
            # The judge failed the new fleet but SageMaker finished first (it reads alarms only
            # during its bakes): the bot rolls back itself, as for /rollback.
            return _issue(state, observed, now, "rollback", state.previous_config, phase="rolling_back",
                          reason="the operational judge failed the new fleet after SageMaker's last bake: "
                          + "; ".join(observed.experiment_reasons), requested=None)
        return _done_or_smoke(state, observed, now, target)
    if observed.pending_config == target or observed.status == "RollingBack":
        return _poll(replace(state, seen_progress=True), observed, now)
    broken = _broken(state, observed, now)
    if broken:
        return broken
    if observed.on(state.previous_config):
        if _moved(state, observed):
            why = observed.failure_reason or "no reason given"
            if observed.experiment == "fail":  # the operational judge's alarm (bot.core.experiment.bake)
                why = ("the operational judge failed the new fleet: " + "; ".join(observed.experiment_reasons)
                       + f" (SageMaker: {why})")
            return _fail(state, now, f"SageMaker rolled the update back; the endpoint serves the "
                         f"previous config {state.previous_config} again: {why}", phase="rolled_back",
                         observed=observed)
        return _issue(state, observed, now, "update_endpoint", target)
    if observed.status == "InService":
        return _fail(state, now, f"the endpoint moved to config {observed.config_name} outside this "
                     "deployment", observed=observed)
    return _poll(state, observed, now)


def _in_experiment(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    """The two-variant config is InService: an A/B candidate with a smoke test still due takes
    it first (at weight 0); otherwise the experiment starts."""
    if state.flow == "ab" and state.smoke and state.smoke_result is None:
        return _issue(state, observed, now, "smoke", phase="smoke", smoke_on=state.target_config)
    return _experiment(_enter(state, now, "experiment"), observed, now)


def _done_or_smoke(state: RolloutState, observed: Observation, now: dt.datetime, config: str) -> Decision:
    """The rollout reached its final config: succeed, or run the smoke test there first."""
    if state.smoke and (state.smoke_result is None or state.smoke_on != config):
        return _issue(state, observed, now, "smoke", phase="smoke", smoke_on=config, smoke_result=None)
    return _succeed(state, now, observed)


def record_smoke(state: RolloutState, problems: list[str] | tuple[str, ...], *, retriable: bool = False) -> RolloutState:
    """`state` with the smoke test's outcome (the engine calls it after the smoke action). A
    retriable failure (throttling, a model not ready yet) leaves it undecided, so the phase
    issues the test again, up to MAX_ATTEMPTS; then it counts as failed."""
    if problems and retriable and state.attempts < MAX_ATTEMPTS:
        return state
    if not problems:
        return replace(state, smoke_result="passed")
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return replace(state, smoke_result=shown[:1500])


def _smoke(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    """The contract's samples against the new model (see the module docstring)."""
    config = state.smoke_on or state.target_config
    if not observed.on(config):
        broken = _broken(state, observed, now)
        if broken:
            return broken
        if observed.status == "InService":
            return _fail(state, now, f"the endpoint moved to config {observed.config_name} during the smoke "
                         "test, outside this deployment", observed=observed)
        return _poll(state, observed, now)
    if state.requested in ("abort", "rollback"):
        return _smoke_rollback(state, observed, now, _request_reason(state.requested))
    result = state.smoke_result
    if result is None and state.attempts >= MAX_ATTEMPTS:
        return _smoke_rollback(state, observed, now, f"the smoke test did not report after {state.attempts} "
                               "attempts, so the new model's contract is unverified")
    if result is None:
        return _issue(state, observed, now, "smoke")  # again (attempts counted): it did not report
    if result != "passed":
        return _smoke_rollback(state, observed, now, f"the new model broke its contract: {result}")
    if state.flow == "ab" and config == state.target_config:
        return _issue(state, observed, now, "shift_weights", weights=_ab_weights(state, state.ab_steps[0]),
                      phase="shifting", timeout=WEIGHTS_TIMEOUT_SECONDS, step=0)
    return _succeed(state, now, observed)


def _smoke_rollback(state: RolloutState, observed: Observation, now: dt.datetime, why: str) -> Decision:
    if state.flow == "create":
        return _fail(state, now, f"{why}; the endpoint was created and is left for inspection (no earlier "
                     "config to roll back to): fix the model or remove the manifest", observed=observed)
    phase = "unpromoting" if state.smoke_on == state.promoted_config and state.flow == "shadow" else "rolling_back"
    return _issue(state, observed, now, "rollback", state.previous_config, phase=phase, reason=why,
                  requested=None)


def _experiment(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    """A/B or shadow test running: the bot watches alarms and waits for a command."""
    if observed.status != "InService" or observed.config_name != state.target_config:
        broken = _broken(state, observed, now)
        if broken:
            return broken
        if observed.status in ("Updating", "SystemUpdating") and observed.config_name == state.target_config:
            return _poll(state, observed, now)
        return _fail(state, now, f"the endpoint left the {state.flow} config (now "
                     f"{observed.status} on {observed.config_name})", observed=observed)
    broken_watch = observed.watch_broken(state.alarms)
    if broken_watch:
        return _start_rollback(state, observed, now, broken_watch)
    if state.requested in ("abort", "rollback"):
        return _start_rollback(state, observed, now, _request_reason(state.requested))
    judged = state.flow in ("ab", "shadow") and state.experiment is not None
    judge = _JUDGES.get(state.experiment.get("kind"), "the operational judge") if judged else ""
    if judged and observed.experiment == "fail":
        return _start_rollback(state, observed, now, f"{judge} failed the candidate: "
                               + "; ".join(observed.experiment_reasons))
    ramp_step = state.flow == "ab" and state.step + 1 < len(state.ab_steps)  # more traffic, not all of it
    if state.requested == "promote" and judged and observed.experiment != "pass" and not ramp_step:
        # The judge decides promotion (bot.core.experiment.judge): nothing but a pass promotes.
        why = (f"{judge} has not passed the candidate" + (
            f" ({observed.experiment.replace('_', ' ')})" if observed.experiment else " (no evidence read yet)")
            + (": " + "; ".join(observed.experiment_reasons) if observed.experiment_reasons else ""))
        new = replace(state, requested=None)
        progress = _progress_for(new, observed)
        return Decision("report", replace(new, progress=progress.text), seconds=state.poll_seconds,
                        progress=progress, refused=why)
    if state.requested == "promote":
        if state.flow == "ab" and state.step + 1 < len(state.ab_steps):
            return _issue(state, observed, now, "shift_weights",
                          weights=_ab_weights(state, state.ab_steps[state.step + 1]), phase="shifting",
                          timeout=WEIGHTS_TIMEOUT_SECONDS, step=state.step + 1, requested=None)
        if state.flow == "ab":
            return _issue(state, observed, now, "promote", weights=_ab_weights(state, 1.0),
                          phase="promote_shift", timeout=WEIGHTS_TIMEOUT_SECONDS, requested=None,
                          reason=None)
        return _issue(state, observed, now, "promote", state.promoted_config, phase="promoting",
                      requested=None)
    return _poll(state, observed, now)


def _start_rollback(state: RolloutState, observed: Observation, now: dt.datetime, why: str) -> Decision:
    if state.flow == "ab":
        return _issue(state, observed, now, "rollback", weights=_ab_weights(state, 0.0),
                      phase="rollback_shift", timeout=WEIGHTS_TIMEOUT_SECONDS, reason=why,
                      requested=None)
    return _issue(state, observed, now, "rollback", state.previous_config, phase="rolling_back",
                  reason=why, requested=None)


def _ab_weights(state: RolloutState, candidate_share: float) -> dict[str, float]:
    assert state.current_variant and state.candidate_variant
    return {state.current_variant: round(1.0 - candidate_share, 6),
            state.candidate_variant: round(candidate_share, 6)}


def _share(observed: Observation, state: RolloutState) -> float | None:
    """The candidate's share of traffic, from the variants' current weights."""
    w = observed.weights
    if state.candidate_variant not in w or state.current_variant not in w:
        return None
    total = w[state.candidate_variant] + w[state.current_variant]
    return w[state.candidate_variant] / total if total > 0 else None


def _weights_phase(target_share: float | None, action: Action, then: Any) -> Any:
    """A phase that waits until the A/B weights give the candidate `target_share` (None: the
    current step's share), re-issuing the shift if it never took effect."""

    def handler(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
        share_wanted = state.ab_steps[state.step] if target_share is None else target_share
        if state.phase != "rollback_shift":
            broken_watch = observed.watch_broken(state.alarms)
            if broken_watch:
                return _start_rollback(state, observed, now, broken_watch)
            if state.requested in ("abort", "rollback"):
                return _start_rollback(state, observed, now, _request_reason(state.requested))
        broken = _broken(state, observed, now)
        if broken:
            return broken
        if observed.config_name != state.target_config:
            return _fail(state, now, f"the endpoint left the {state.flow} config (now "
                         f"{observed.status} on {observed.config_name})", observed=observed)
        share = _share(observed, state)
        if observed.status == "InService":
            if share is not None and abs(share - share_wanted) <= _TOLERANCE:
                return then(state, observed, now)
            weights = _ab_weights(state, share_wanted)
            reason = state.reason if action == "rollback" else None
            return _issue(state, observed, now, action, weights=weights, reason=reason)
        return _poll(replace(state, seen_progress=True), observed, now)

    return handler


def _shifted(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    new = _enter(state, now, "experiment")
    progress = _progress_for(new, observed)
    return Decision("report", replace(new, progress=progress.text), seconds=state.poll_seconds,
                    progress=progress)


def _promote_shifted(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    return _issue(state, observed, now, "update_endpoint", state.promoted_config, phase="promoting")


def _rollback_shifted(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    return _issue(state, observed, now, "update_endpoint", state.previous_config, phase="rolling_back")


def _moving_to(final: str, back_to: str, outcome: str) -> Any:
    """A phase that waits for the bot's own update to the config in field `final` (promoting,
    rolling back), from the config in field `back_to`."""

    def handler(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
        goal = getattr(state, final)
        if observed.on(goal):
            if outcome == "succeeded":
                if state.flow == "shadow":
                    return _done_or_smoke(state, observed, now, goal)
                return _succeed(state, now, observed)
            return _fail(state, now, f"rolled back ({state.reason or 'no reason given'}); the endpoint "
                         f"serves the previous config {goal} again", phase="rolled_back",
                         observed=observed)
        if observed.pending_config == goal or observed.status == "RollingBack":
            return _poll(replace(state, seen_progress=True), observed, now)
        broken = _broken(state, observed, now)
        if broken:
            return broken
        if observed.status == "InService" and observed.config_name == getattr(state, back_to):
            if _moved(state, observed):
                what = "the promotion" if outcome == "succeeded" else "the rollback"
                return _fail(state, now, f"SageMaker rolled {what} back: "
                             + (observed.failure_reason or "no reason given"), observed=observed)
            action: Action = "update_endpoint" if state.flow == "ab" else (
                "promote" if outcome == "succeeded" else "rollback")
            return _issue(state, observed, now, action, goal)
        if observed.status == "InService":
            return _fail(state, now, f"the endpoint moved to config {observed.config_name} outside "
                         "this deployment", observed=observed)
        return _poll(state, observed, now)

    return handler


_PHASES = {
    "creating": _creating,
    "updating": _updating,
    "experiment": _experiment,
    "shifting": _weights_phase(None, "shift_weights", _shifted),
    "promote_shift": _weights_phase(1.0, "promote", _promote_shifted),
    "rollback_shift": _weights_phase(0.0, "rollback", _rollback_shifted),
    "promoting": _moving_to("promoted_config", "target_config", "succeeded"),
    "rolling_back": _moving_to("previous_config", "target_config", "rolled_back"),
    "unpromoting": _moving_to("previous_config", "promoted_config", "rolled_back"),
    "smoke": _smoke,
}


# --- progress -------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return f"{x:g}%" if x is not None else "an unknown share"


def _in(status: str | None, stage: str | None = None) -> str:
    shown = stage or status
    return f" ({shown})" if shown else ""


def _progress_for(state: RolloutState, observed: Observation | None = None) -> Progress:
    """The progress of `state` as `observed` (without an observation: of the state alone)."""
    o = observed or Observation(exists=False)
    status, stage = o.status, o.stage
    ep = state.endpoint
    share = _share(o, state) if state.flow == "ab" else None
    traffic = round(share * 100, 2) if share is not None else o.traffic_percent
    phase = state.phase
    if state.flow == "component" and phase not in ("failed", "rolled_back", "aborted"):
        return Progress(phase, status, o.traffic_percent, stage, _component_progress(state, o))
    if phase == "succeeded":
        final = state.promoted_config if state.flow in ("ab", "shadow") else state.target_config
        text = f"{ep} serves {final}: deployment succeeded"
        if state.target_model:
            text += f"; invoke the new model with TargetModel={state.target_model}"
    elif phase in ("failed", "rolled_back", "aborted"):
        text = f"{ep}: deployment {phase.replace('_', ' ')}: {state.reason}"
    elif phase == "pending":
        text = f"{ep}: waiting for the endpoint to be InService to start" + _in(status)
    elif phase == "creating":
        text = f"creating endpoint {ep} with {state.target_config}" + _in(status)
    elif phase == "updating":
        if status == "RollingBack":
            text = f"SageMaker is rolling {ep} back to {state.previous_config}" + (
                f": {o.failure_reason}" if o.failure_reason else "")
        else:
            text = (f"{state.strategy}: updating {ep} to {state.target_config}"
                    + (f", {_pct(o.traffic_percent)} of traffic on the new fleet"
                       if o.traffic_percent is not None else "") + _in(status, stage))
        if state.experiment is not None and o.experiment_summary:
            text += "; " + o.experiment_summary
        if state.requested in ("abort", "rollback"):
            text += f"; /{state.requested} requested: rolls back once the update has finished"
    elif phase == "experiment" and state.flow == "ab":
        text = f"A/B test on {ep}: {_pct(traffic)} of traffic on {state.candidate_variant}"
        if state.experiment is not None:
            text += "; " + (o.experiment_summary or "the A/B test has read no evidence yet")
    elif phase == "experiment":
        text = f"shadow test on {ep}: {state.candidate_variant} gets a copy of requests"
        if state.experiment is not None:
            text += "; " + (o.experiment_summary or "the shadow judge has read no evidence yet")
    elif phase in ("shifting", "promote_shift", "rollback_shift"):
        verb = {"shifting": "shifting", "promote_shift": "promoting: shifting",
                "rollback_shift": f"rolling back ({state.reason}): shifting"}[phase]
        text = f"{verb} A/B traffic on {ep}, now {_pct(traffic)} on {state.candidate_variant}" + _in(status)
    elif phase == "smoke":
        where = (f"{state.candidate_variant} (weight 0)" if state.flow == "ab" and state.smoke_on == state.target_config
                 else state.smoke_on or state.target_config)
        text = f"smoke test on {ep}: sending the contract's sample payloads to {where}"
    elif phase == "promoting":
        text = f"promoting {state.candidate_variant} on {ep}: moving to {state.promoted_config}" + _in(status)
    else:  # rolling_back
        text = f"rolling {ep} back to {state.previous_config} ({state.reason})" + _in(status)
    return Progress(phase, status, traffic, stage, text)


# --- inference components (flow `component`) -------------------------------------------------------
#
# Phases: pending -> fleet (CreateEndpoint or UpdateEndpoint of the fleet, when the plan changes
# it) -> placing (CreateInferenceComponent / UpdateInferenceComponent /
# UpdateInferenceComponentRuntimeConfig; SageMaker drives a rolling update and rolls it back on
# the alarms of its AutoRollbackConfiguration) -> smoke (InvokeEndpoint with
# InferenceComponentName) -> succeeded. The component's statuses are those of
# DescribeInferenceComponent: InService | Creating | Updating | Failed | Deleting. InService on
# the previous model after an update was seen is SageMaker's rollback. /abort and /rollback
# during an update wait for it to end, then put the previous specification back
# (`rolling_back`); a broken smoke test does the same.


def _component_rollout(deployment_id: str, spec: DeploySpec, plan: Plan, live: LiveState, now: dt.datetime,
                       *, poll_seconds: int, timeout_seconds: int | None, smoke: bool) -> RolloutState:
    c = plan.component
    assert c is not None and plan.names.endpoint is not None
    s = spec.env.effective_strategy
    target = next((a.name for a in plan.actions if a.resource == "endpoint_config" and a.verb == "create"),
                  None)
    step = next((("copies" if a.resource == "inference_component_copies" else a.verb)
                 for a in plan.actions if a.name == c.name
                 and a.resource in ("inference_component", "inference_component_copies")), None)
    if timeout_seconds is None:
        timeout_seconds = (s.max_execution_timeout_seconds or plan.total_wait_seconds) + SETUP_MARGIN_SECONDS
    lc = live.component(c.name) if live.endpoint_exists else None
    return RolloutState(
        deployment_id=deployment_id, endpoint=plan.names.endpoint, flow="component", strategy=s.type,
        target_config=target or live.endpoint_config_name or plan.names.endpoint_config,
        previous_config=live.endpoint_config_name if live.endpoint_exists else None,
        started_at=now, phase_started_at=now, deadline=now + dt.timedelta(seconds=timeout_seconds),
        timeout_seconds=timeout_seconds, poll_seconds=poll_seconds, alarms=tuple(plan.rollback_alarms),
        target_models=(c.model_name,), previous_models=(lc.model_name,) if lc and lc.model_name else (),
        candidate_model=c.model_name, component=c.name, component_step=step,
        target_copies=c.copies if step == "copies" else None, smoke=smoke and step in ("create", "update"))


def _component_on(observed: Observation, model: str | None) -> bool:
    return observed.component_status == "InService" and model is not None and observed.component_model == model


def decide_component(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    """`decide` for flow component, once `decide` has judged the last action's error. Pure."""
    if state.phase == "pending":
        if state.requested in ("abort", "rollback"):
            return _fail(state, now, f"{_request_reason(state.requested)} before anything changed",
                         phase="aborted")
        if not observed.exists and state.previous_config is None:
            return _issue(state, observed, now, "create_endpoint", state.target_config, phase="fleet")
        if not observed.exists:
            return _fail(state, now, f"the endpoint {state.endpoint} no longer exists")
        if observed.status != "InService" or observed.pending_config is not None:
            broken = _broken(state, observed, now)
            return broken or _poll(state, observed, now)
        if observed.config_name != state.target_config:
            if observed.config_name != state.previous_config:
                return _fail(state, now, f"the endpoint moved to config {observed.config_name} since "
                             f"the plan (expected {state.previous_config}); plan again")
            return _issue(state, observed, now, "update_endpoint", state.target_config, phase="fleet")
        return _place(state, observed, now)
    if not observed.exists:
        if state.phase == "fleet" and state.previous_config is None:
            return _issue(state, observed, now, "create_endpoint", state.target_config)
        return _fail(state, now, f"the endpoint {state.endpoint} no longer exists")
    return _COMPONENT_PHASES[state.phase](state, observed, now)


def _place(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    """The fleet is ready: create or update the component (or only succeed)."""
    missing = observed.missing(state.alarms)
    if missing and state.component_step == "update":
        return _fail(state, now, "not started: alarm " + ", ".join(missing) + " does not exist "
                     "(CloudWatch DescribeAlarms), so nothing would roll this update back; create "
                     "it or remove it from the manifest's alarms")
    if state.component_step is None:
        return _succeed(state, now, observed)
    if state.component_step == "create" and _component_on(observed, state.candidate_model):
        return _component_done(state, observed, now)
    return _issue(state, observed, now, "place_component", phase="placing")


def _component_done(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    if state.smoke and state.smoke_result is None:
        return _issue(state, observed, now, "smoke", phase="smoke", smoke_on=state.component)
    return _succeed(state, now, observed)


def _fleet(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    if observed.on(state.target_config):
        if state.requested in ("abort", "rollback"):
            return _fail(state, now, f"{_request_reason(state.requested)}: the fleet was changed, the "
                         "component was not", phase="aborted", observed=observed)
        return _place(state, observed, now)
    broken = _broken(state, observed, now)
    if broken:
        return broken
    if observed.pending_config == state.target_config or observed.status in ("Creating", "Updating", "RollingBack"):
        return _poll(replace(state, seen_progress=True), observed, now)
    if observed.on(state.previous_config):
        if _moved(state, observed):
            return _fail(state, now, "SageMaker rolled the fleet update back: "
                         + (observed.failure_reason or "no reason given"), phase="rolled_back", observed=observed)
        return _issue(state, observed, now, "update_endpoint", state.target_config)  # not taken yet: again
    return _poll(state, observed, now)


def _component_moved(state: RolloutState, observed: Observation) -> bool:
    """Whether the component did something since the action was issued: seen Creating or
    Updating, or a failure newer than the action (a rollback reported by AWS)."""
    if state.seen_progress:
        return True
    if not observed.component_failure:
        return False
    if observed.component_modified is None or state.issued_at is None:
        return True
    return _aware(observed.component_modified) >= _aware(state.issued_at) - RECENT_SKEW


def _component_changed_since(state: RolloutState, observed: Observation) -> bool:
    """Seen moving, or modified at or after the action (an update that kept the model)."""
    if state.seen_progress:
        return True
    if observed.component_modified is None or state.issued_at is None:
        return False
    return _aware(observed.component_modified) >= _aware(state.issued_at)


def _placing(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    status = observed.component_status
    if status == "Failed":
        return _fail(state, now, f"the inference component {state.component} failed: "
                     + (observed.component_failure or "no reason given"), observed=observed)
    if status in ("Creating", "Updating"):
        return _poll(replace(state, seen_progress=True), observed, now)
    if status == "Deleting":
        return _fail(state, now, f"the inference component {state.component} is being deleted", observed=observed)
    if status is None:
        if state.component_step == "create":
            return _issue(state, observed, now, "place_component")
        return _fail(state, now, f"the inference component {state.component} no longer exists")
    # InService
    if (state.component_step == "update" and state.seen_progress and observed.component_failure
            and (observed.component_modified is None or state.issued_at is None
                 or _aware(observed.component_modified) >= _aware(state.issued_at))):
        # SageMaker rolled the update back (its FailureReason is newer than the update): also
        # when only compute or startup changed and the model is the same on both sides
        return _fail(state, now, f"SageMaker rolled the update of {state.component} back; it serves "
                     f"{observed.component_model} again: {observed.component_failure}", phase="rolled_back",
                     observed=observed)
    if state.component_step == "copies" and status == "InService" and observed.component_copies != state.target_copies:
        return _issue(state, observed, now, "place_component")  # the new count not visible yet: again
    if _component_on(observed, state.candidate_model):
        if state.component_step in ("copies", "create") or _component_changed_since(state, observed) \
                or state.candidate_model not in state.previous_models:
            if state.requested in ("abort", "rollback") and state.component_step == "update":
                return _issue(state, observed, now, "rollback_component", phase="rolling_back",
                              reason=f"{_request_reason(state.requested)} during the update", requested=None)
            return _component_done(state, observed, now)
        return _poll(state, observed, now)
    if state.previous_models and observed.component_model in state.previous_models:
        if _component_moved(state, observed):
            why = observed.component_failure or "no reason given"
            return _fail(state, now, f"SageMaker rolled the update of {state.component} back; it serves "
                         f"{observed.component_model} again: {why}", phase="rolled_back", observed=observed)
        return _issue(state, observed, now, "place_component")
    return _fail(state, now, f"the inference component {state.component} serves {observed.component_model} "
                 "outside this deployment", observed=observed)


def _component_smoke(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    if state.smoke_result is None:
        return _issue(state, observed, now, "smoke")
    if state.smoke_result == "passed":
        return _succeed(state, now, observed)
    why = f"the smoke test failed: {state.smoke_result}"
    if state.component_step == "update" and state.previous_models:
        return _issue(state, observed, now, "rollback_component", phase="rolling_back", reason=why)
    return _fail(state, now, why + "; the new component stays for inspection (remove the manifest "
                 "to tear it down)", observed=observed)


def _component_rolling_back(state: RolloutState, observed: Observation, now: dt.datetime) -> Decision:
    if observed.component_status == "InService" and observed.component_model in state.previous_models:
        return _fail(state, now, state.reason or "rolled back", phase="rolled_back", observed=observed)
    if observed.component_status in ("Creating", "Updating"):
        return _poll(replace(state, seen_progress=True), observed, now)
    if observed.component_status == "Failed":
        return _fail(state, now, f"rolling {state.component} back failed: {observed.component_failure}",
                     observed=observed)
    if observed.component_status == "InService" and not state.seen_progress:
        return _issue(state, observed, now, "rollback_component")
    return _poll(state, observed, now)


_COMPONENT_PHASES = {"fleet": _fleet, "placing": _placing, "smoke": _component_smoke,
                     "rolling_back": _component_rolling_back}


def _component_progress(state: RolloutState, o: Observation) -> str:
    ep, ic = state.endpoint, state.component
    shown = f" ({o.component_status})" if o.component_status else ""
    copies = f", {o.component_copies} copies" if o.component_copies is not None else ""
    if state.phase == "succeeded":
        return f"{ep} serves inference component {ic} with {state.candidate_model}{copies}: deployment succeeded"
    if state.phase == "pending":
        return f"{ep}: waiting for the endpoint to be InService to start" + _in(o.status)
    if state.phase == "fleet":
        return f"{'creating' if state.previous_config is None else 'updating'} endpoint {ep} with the fleet " \
               f"{state.target_config}" + _in(o.status)
    if state.phase == "placing":
        verb = {"create": "creating", "update": f"{state.strategy}: updating", "copies": "changing the copies of"}
        text = f"{verb.get(state.component_step or '', 'placing')} inference component {ic} on {ep}" + shown + copies
        if state.requested in ("abort", "rollback"):
            text += f"; /{state.requested} requested: rolls back once the update has finished"
        return text
    if state.phase == "smoke":
        return f"smoke test on {ep}: sending the contract's sample payloads to inference component {ic}"
    return f"rolling inference component {ic} back to {', '.join(state.previous_models)} ({state.reason})" + shown
