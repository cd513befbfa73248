"""Deployments driven to completion: the reconcile loop around the pure rollout controller.

A deployment row is the unit of work. `Rollouts.tick(pk)` claims it (a lease in the store),
reads what it needs, asks `bot.core.deploy.rollout.decide` for the next action, stores the new
state BEFORE acting (so a worker that dies at any line leaves a state another worker resumes
from), acts through the thin executor, tells GitHub when the progress changed, and schedules
the next tick through the queue. The reaper re-enqueues a deployment whose message was lost or
whose worker died. Nothing here decides: the controller does.

A teardown (a deleted manifest, `Prepared.kind == "teardown"`) is a deployment too: same lock,
order, ledger row and GitHub reporting, driven by `bot.adapters.aws.teardown.teardown_step`, its state
stored after every phase. Once started it cannot be aborted (nothing deleted comes back); it
ends `succeeded` and is reported as `torn_down` (GitHub Deployment state `inactive`), and so is
the deployment it replaced on the endpoint.

The deploy gate (`bot.core.gate`, through `Services.gate`) is asked before anything else a
deployment does: before it takes its endpoint's lock, reads for its plan or writes to AWS, and
again before a promotion. A refusal ends the deployment `refused` with every reason, holding no
lock and having written nothing to AWS; a comparison still running makes it wait (without the
lock). An allowed deployment records the decision (the approvals that counted and the rule that
made each count, any override) in its provenance, and claims its endpoint for its manifest in
the store (`bot.core.ownership`) before `prepare`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Callable

from bot.core.clock import utcnow
from bot.adapters.aws.executor import execute, observe, publish_judge_failure, start_transform_job, transform_job_status
from bot.adapters.aws.experiment import Budget, read_ab_counts, read_bake_minutes, read_minutes, read_shadow_evidence
from bot.adapters.aws.session import AwsUnavailable
from bot.adapters.aws.teardown import TeardownFailed, TeardownRequests, TeardownState, teardown_step
from bot.core.deploy import DeployRequests, RolloutState, decide
from bot.core.deploy.rollout import record_smoke
from bot.core.experiment import bake
from bot.core.experiment.judge import (
    arm,
    judge_ab,
    judge_bake,
    judge_operational,
    judge_shadow,
    thin_looks,
    unreadable,
    verdict_from_record,
    with_operational,
)
from bot.core.experiment.stats import Arm
from bot.core.render import render
from bot.core.gate import Decision, NotReady, Reason
from bot.core.logs import scrub

log = logging.getLogger(__name__)

LEASE_SECONDS = 120
LOCK_SECONDS = 900          # an endpoint lock outlives a dead worker by at most this much
WAIT_FOR_LOCK_SECONDS = 30
WAIT_FOR_PREVIOUS_SECONDS = 30
MAX_FINISHING_ATTEMPTS = 6  # throttled finishing calls: 5 retries, doubling from the poll interval
TERMINAL = ("succeeded", "failed", "rolled_back", "aborted", "superseded", "refused")


def _prepared_facts(prepared: "Prepared") -> dict:
    """What the ledger keeps of a prepared deployment: the facts `prepare` found, and from its
    requests the models (name, image, artifact), configs and the endpoint it moves to."""
    facts = dict(prepared.facts)
    req = prepared.requests or {}
    if prepared.kind == "teardown":  # TeardownRequests: the names it deletes
        facts.update(deletes={k: v for k, v in req.items() if k in ("endpoint", "endpoint_configs", "models", "alarms")})
        return facts
    models = []
    for m in req.get("models") or ():
        c = m.get("PrimaryContainer") or ((m.get("Containers") or [{}])[0])
        models.append({"name": m.get("ModelName"), "image": c.get("Image"),
                       "artifact": c.get("ModelDataUrl") or c.get("ModelPackageName")})
    facts.update(models=models, endpoint_configs=[c.get("EndpointConfigName") for c in req.get("endpoint_configs") or ()],
                 target_config=req.get("target_config"), promoted_config=req.get("promoted_config"),
                 transform_job=(req.get("transform_job") or {}).get("TransformJobName"),
                 smoke_samples=len((req.get("smoke") or {}).get("payloads") or ()) or None,
                 inference_component=req.get("component_name"))
    if prepared.rollout:
        facts.update(flow=prepared.rollout.get("flow"), strategy=prepared.rollout.get("strategy"))
    return facts


_PROMOTED_BECAUSE = {"ab": "the A/B test found the candidate better", "shadow": "every gate of the shadow judge passed"}


def _verdict_line(verdict, state: RolloutState, now: dt.datetime) -> str:
    after = (state.experiment or {}).get("promote_after_minutes")
    promote_in = None
    if after is not None:
        started = state.phase_started_at or state.started_at
        left = int((started + dt.timedelta(minutes=int(after)) - now).total_seconds() // 60)
        promote_in = f"{left} min" if left > 0 else ""
    return render("experiment/summary.txt.j2", verdict=verdict.as_record(), promote_in=promote_in,
                  bake=bool((state.experiment or {}).get("bake"))).strip()


def lock_key(environment: str, endpoint: str) -> str:
    return f"{environment}:{endpoint}"


def holder_of(pk: int) -> str:
    return f"deployment:{pk}"


def _dumps(value) -> str:
    def default(o):
        if isinstance(o, dt.datetime):
            return {"__dt__": o.isoformat()}
        raise TypeError(type(o).__name__)

    return json.dumps(value, default=default, sort_keys=True)


def _loads(text: str | None):
    def hook(d):
        return dt.datetime.fromisoformat(d["__dt__"]) if set(d) == {"__dt__"} else d

    return json.loads(text, object_hook=hook) if text else None


@dataclass
class Prepared:
    """What a deployment needs before its first AWS write, resolved once and stored."""

    rollout: dict | None          # RolloutState.as_record(), None for a batch job, teardown or no-op
    requests: dict | None         # DeployRequests.to_dict() (TeardownRequests.to_dict() for a teardown)
    kind: str                     # create | update | no_changes | run_batch | teardown | refused
    headline: str                 # refused: why
    facts: dict = field(default_factory=dict)  # for the ledger: manifest digest, build id, data version, ...


@dataclass
class Services:
    """Adapters the engine uses, injected so tests and benchmarks can count or replace them."""

    clients_for: Callable[[str], object]                # environment -> executor Clients
    prepare: Callable[[object], Prepared]              # DeploymentRow -> Prepared (reads GitHub/AWS)
    notify: Callable[[object, str, str | None], None]  # (row, status, text) -> GitHub statuses/report
    enqueue: Callable[[int, float], None]              # (deployment id, delay seconds)
    # (row, action) -> bot.app.services.gate.Admission; None only where a test drives the engine alone
    gate: Callable[[object, str], object] | None = None


def _finishing_failed(decision, error: str, attempts: int) -> str:
    """Why a deployment ended when its last AWS calls were refused (or failed every try)."""
    st = decision.state
    tries = f" after {attempts} tries" if attempts > 1 else ""
    if decision.action == "succeed":
        return (f"the endpoint serves the new config {st.target_config}, but finishing the "
                f"deployment failed{tries}: {error}; autoscaling, tags or clean-up may be "
                "incomplete (the next plan of this endpoint shows what differs)")
    return (f"{decision.reason or st.reason or st.phase}; registering the previous autoscaling "
            f"again failed{tries}: {error}")


@dataclass
class Rollouts:
    store: object
    services: Services
    now: Callable[[], dt.datetime] = utcnow
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self, pk: int) -> str:
        """Advance one deployment by one step; returns its status afterwards (or 'skipped')."""
        row = self.store.claim_deployment(pk, LEASE_SECONDS)
        if row is None:
            return "skipped"
        try:
            return self._tick(row)
        except Exception as exc:  # noqa: BLE001 - recorded; the reaper or the next tick retries
            if isinstance(exc, AwsUnavailable):  # expected (no credentials, unreachable): one line
                log.warning("deployment tick: AWS unavailable: %s", exc.reason,
                            extra={"deployment": pk, "kind": exc.kind})
            else:
                log.exception("deployment tick failed", extra={"deployment": pk})
            self.store.save_deployment(pk, reason=scrub(f"{type(exc).__name__}: {exc}")[:2000],
                                       next_tick_at=self.now() + dt.timedelta(seconds=WAIT_FOR_LOCK_SECONDS))
            self.services.enqueue(pk, WAIT_FOR_LOCK_SECONDS)
            return row.status

    # --- steps ------------------------------------------------------------------------------

    def _tick(self, row) -> str:
        if row.status == "pending":
            return self._start(row)
        return self._advance(row)

    def _wait(self, row, seconds: float, reason: str | None = None) -> str:
        self.store.save_deployment(row.id, next_tick_at=self.now() + dt.timedelta(seconds=seconds),
                                   **({"reason": reason} if reason else {}))
        self.services.enqueue(row.id, seconds)
        return row.status

    def _finish(self, row, status: str, text: str | None, notify_as: str | None = None) -> str:
        self.store.save_deployment(row.id, status=status, reason=text)
        self.store.append_ledger_for(row, "finished", {"status": status, "reason": scrub(text) if text else text,
                                                       "kind": row.kind if row.kind != "deploy" else None})
        if row.endpoint:
            self.store.release_lock(lock_key(row.environment, row.endpoint), holder_of(row.id))
        self.services.notify(row, notify_as or status, text)
        for nxt in self.store.deployments(after_id=row.id):
            self.services.enqueue(nxt.id, 0)
        log.info("deployment finished", extra={"deployment": row.id, "status": status, "reason": text})
        return status

    def _start(self, row) -> str:
        if row.after_id is not None:
            before = self.store.deployment(row.after_id)
            if before.status in ("pending", "running"):
                return self._wait(row, WAIT_FOR_PREVIOUS_SECONDS, f"waiting for {before.environment}")
            if before.status != "succeeded":
                return self._finish(row, "superseded",
                                    f"not started: the deploy to {before.environment} ended {before.status}")
        if row.requested in ("abort", "rollback"):
            return self._finish(row, "aborted", "aborted before it started")
        admission = None
        if self.services.gate is not None:
            try:
                admission = self.services.gate(row, "deploy")
            except NotReady as exc:  # the evidence cannot be read yet: wait, decide nothing
                return self._wait(row, WAIT_FOR_LOCK_SECONDS, f"waiting for the deploy gate's evidence: {exc}"[:2000])
            if admission.verdict == "wait":
                if row.endpoint:  # waiting for evidence holds no lock
                    self.store.release_lock(lock_key(row.environment, row.endpoint), holder_of(row.id))
                return self._wait(row, WAIT_FOR_LOCK_SECONDS, "waiting: " + "; ".join(
                    r.message for r in admission.decision.reasons))
            if admission.verdict != "allow":
                return self._refuse(row, admission.decision)
            prov = json.loads(row.provenance)
            prov.update(gate=admission.decision.as_record(), approvers=list(admission.decision.approvers))
            if getattr(admission, "claim", None) and admission.claim != row.endpoint:
                prov["claim"] = admission.claim  # a component on a shared endpoint: what it owns
            if admission.decision.override is not None:
                prov["override"] = vars(admission.decision.override)
            self.store.save_deployment(row.id, provenance=json.dumps(prov), release=False)
            self.store.append_ledger_for(row, "gate", {"action": "deploy", **admission.decision.as_record(),
                                                       **getattr(admission, "evidence", {})})
            row = self.store.deployment(row.id)
        if row.endpoint:
            ok, holder = self.store.acquire_lock(lock_key(row.environment, row.endpoint), holder_of(row.id),
                                                 LOCK_SECONDS)
            if not ok:
                return self._wait(row, WAIT_FOR_LOCK_SECONDS, f"waiting for the lock held by {holder}")
            if admission is not None and row.kind != "teardown":
                claimed, owner = self.store.claim_endpoint(
                    row.environment, getattr(admission, "claim", None) or row.endpoint,
                    repository=row.repository, manifest_path=row.manifest_path,
                    how=admission.how, deployment_id=row.id, move_from=admission.move_from,
                    s3_prefix=admission.s3_prefix)
                if not claimed:
                    what = getattr(admission, "claim", None) or row.endpoint
                    return self._refuse(row, Decision("refuse", (Reason(
                        "ownership", f"{'inference component' if '/' in what else 'endpoint'} `{what}` in "
                                     f"{row.environment} belongs to `{owner.manifest_path}`"),)))
        try:
            prepared = self.services.prepare(row)
        except ValueError as exc:
            # The manifest, plan, registry or config says no (a blocked plan, an unapproved model
            # package, a missing role or pipeline output): retrying cannot help, and waiting would
            # hold the endpoint's lock. AWS or GitHub being unreachable is not a ValueError: those
            # are retried by `tick`.
            return self._finish(row, "failed", f"not deployed: {exc}")
        self.store.append_ledger_for(row, "prepared", {"kind": prepared.kind, "headline": prepared.headline,
                                                       **_prepared_facts(prepared)})
        if prepared.kind == "no_changes":
            return self._finish(row, "succeeded", prepared.headline)
        if prepared.kind == "refused":
            return self._finish(row, "failed", prepared.headline)
        if prepared.kind == "run_batch":
            return self._start_batch(row, prepared)
        if prepared.kind == "teardown":
            return self._start_teardown(row, prepared)
        state = {"rollout": prepared.rollout, "requests": prepared.requests}
        self.store.save_deployment(row.id, status="running", state=_dumps(state), next_tick_at=self.now(),
                                   release=False)
        self.services.notify(row, "in_progress", prepared.headline)
        return self._advance(self.store.deployment(row.id), fresh=True)

    def _refuse(self, row, decision) -> str:
        """The gate said no: nothing written to AWS, no lock kept, every reason recorded."""
        if row.endpoint:
            self.store.release_lock(lock_key(row.environment, row.endpoint), holder_of(row.id))
        prov = json.loads(row.provenance)
        prov["gate"] = decision.as_record()
        self.store.save_deployment(row.id, provenance=json.dumps(prov), release=False)
        self.store.append_ledger_for(row, "gate", {"action": "deploy", **decision.as_record()})
        text = "refused by the deploy gate: " + "; ".join(r.message for r in decision.reasons)
        log.warning("deployment refused", extra={"deployment": row.id, "reasons": [r.message for r in decision.reasons]})
        return self._finish(self.store.deployment(row.id), "refused", text[:4000])

    def _gate_promotion(self, row) -> bool:
        """A promotion is a write to AWS too: the gate decides it now. False when refused (the
        request is dropped, the rollout goes on as it was, and the person is told why)."""
        if self.services.gate is None:
            return True
        try:
            admission = self.services.gate(row, "promote")
        except NotReady:
            return False  # the request stays: the next tick asks again
        self.store.append_ledger_for(row, "gate", {"action": "promote", **admission.decision.as_record(),
                                                   **getattr(admission, "evidence", {})})
        if admission.verdict == "allow":
            return True
        self.store.consume_request(row.id, "promote")
        text = "promotion refused by the deploy gate: " + "; ".join(r.message for r in admission.decision.reasons)
        self.store.save_deployment(row.id, reason=text[:4000], release=False)
        self.services.notify(row, "promotion_refused", text)
        return False

    def _advance(self, row, fresh: bool = False) -> str:
        if row.endpoint:  # renew the lease on the endpoint while we work on it
            self.store.acquire_lock(lock_key(row.environment, row.endpoint), holder_of(row.id), LOCK_SECONDS)
        data = _loads(row.state) or {}
        if data.get("batch"):
            return self._advance_batch(row, data)
        if data.get("teardown"):
            return self._advance_teardown(row, data)
        state = RolloutState.from_record(data["rollout"])
        verdict = None
        if state.phase == "experiment" and state.experiment is not None:
            verdict = self._judge_experiment(row, data, state)
            row = self.store.deployment(row.id)
        requested = row.requested
        if requested == "promote" and state.flow in ("ab", "shadow") and state.phase != "experiment":
            requested = None  # acted on only in the experiment (after the smoke test, a weight shift): ask then
        elif requested == "promote" and not state.done and not self._gate_promotion(row):
            requested = None
        if requested and not state.done:
            state = replace(state, requested=requested)
        requests = DeployRequests.from_dict(data["requests"])
        clients = self.services.clients_for(row.environment)
        observed = observe(clients, state.endpoint, state.alarms, state.component)
        if state.flow == "guarded" and state.phase == "updating" and (state.experiment or {}).get("bake"):
            verdict = self._judge_bake(row, data, state, observed)
        if verdict is not None:
            observed = replace(observed, experiment=verdict.status, experiment_reasons=verdict.reasons,
                               experiment_summary=_verdict_line(verdict, state, self.now()))
        decision = decide(state, observed, self.now())
        if decision.refused:  # the controller turned a request down: say why, where it was asked
            self.store.append_ledger_for(row, "gate", {"action": requested, "verdict": "refuse",
                                                       "reasons": [{"rule": "experiment", "message": decision.refused}]})
            self.store.save_deployment(row.id, reason=f"promotion refused: {decision.refused}"[:4000], release=False)
            self.services.notify(row, "promotion_refused", f"promotion refused: {decision.refused}")
        data["rollout"] = decision.state.as_record()
        # Store the decision before acting on it: a crash after this line repeats an idempotent act.
        self.store.save_deployment(row.id, state=_dumps(data), release=False)
        if decision.state.phase != state.phase or fresh:
            self.store.append_ledger_for(row, "phase", {
                "phase": decision.state.phase, "action": decision.action, "endpoint_arn": observed.arn,
                "status": observed.status, "config": observed.config_name,
                "progress": decision.progress.text if decision.progress else None,
                "traffic_percent": decision.progress.traffic_percent if decision.progress else None})
        if requested and decision.state.requested != requested:
            self.store.consume_request(row.id, requested)  # only if nobody asked again meanwhile
        after = None
        if decision.action not in ("wait", "report"):
            after = execute(decision, clients, requests)
        if decision.action == "smoke" and after is not None and after.smoke is not None:
            # The smoke test's outcome is a fact the next decision needs: keep it in the state.
            smoked = record_smoke(decision.state, after.smoke, retriable=after.smoke_retriable)
            data["rollout"] = smoked.as_record()
            self.store.save_deployment(row.id, state=_dumps(data), release=False)
            self.store.append_ledger_for(row, "smoke", {"config": smoked.smoke_on,
                                                        "result": scrub(smoked.smoke_result) if smoked.smoke_result
                                                        else smoked.smoke_result,
                                                        "problems": [scrub(p) for p in after.smoke[:20]],
                                                        "retrying": smoked.smoke_result is None})
            if decision.progress is not None:
                self.services.notify(row, "in_progress", decision.progress.text)
            return self._wait(row, 1 if smoked.smoke_result is not None else max(1, state.poll_seconds))
        if after is not None and after.error and not decision.final:
            # The act was refused: let the controller judge the refusal now (a refusal that is not
            # worth retrying fails the deployment with its reason; anything else is polled again).
            judged = decide(decision.state, after, self.now())
            if judged.action == "fail":
                data["rollout"] = judged.state.as_record()
                self.store.save_deployment(row.id, state=_dumps(data), release=False)
                return self._finish(row, "failed", judged.reason or judged.state.reason)
        if decision.final and after is not None and after.error:
            # Autoscaling, tags or clean-up failed: throttling and the like are tried again, a
            # few times; a refusal (or too many tries) ends the deployment with AWS's message
            # and frees the endpoint for the next deploy.
            attempts = int(data.get("finishing_attempts") or 0) + 1
            if after.error_retriable and attempts < MAX_FINISHING_ATTEMPTS:
                data["finishing_attempts"] = attempts
                self.store.save_deployment(row.id, state=_dumps(data), release=False)
                return self._wait(row, min(300, max(5, state.poll_seconds) * 2 ** (attempts - 1)),
                                  f"finishing: {after.error}")
            return self._finish(row, "failed", _finishing_failed(decision, after.error, attempts))
        if decision.progress is not None and (decision.action == "report" or fresh):
            self.services.notify(row, "in_progress", decision.progress.text)
        if decision.final:
            st = decision.state
            if decision.action == "succeed":
                return self._finish(row, "succeeded", st.progress or "deployed")
            status = "rolled_back" if st.phase == "rolled_back" else (
                "aborted" if st.phase == "aborted" else "failed")
            return self._finish(row, status, decision.reason or st.reason)
        return self._wait(row, max(1, decision.seconds or state.poll_seconds))

    def _judge_experiment(self, row, data: dict, state: RolloutState):
        """The judges' verdict now (shadow: `judge_shadow`, A/B: `judge_ab`, with or alone the
        operational `judge_operational`, the stricter deciding): read again (within the
        manifest's budget) once every `evaluate_every_minutes`, else the stored one. A changed
        verdict goes to the ledger; a pass past `promote_after_minutes` asks for the promotion,
        which then goes through the deploy gate like a person's /promote."""
        spec, now = state.experiment, self.now()
        kind = spec.get("kind", "shadow")
        kept = data.get("experiment") or {}
        every = dt.timedelta(minutes=int(spec.get("evaluate_every_minutes") or 5))
        started = state.phase_started_at or state.started_at
        if kept.get("since") != started:  # a new traffic split (an A/B ramp step): a new experiment
            kept = {}
        if kept.get("verdict") and kept.get("evaluated_at") and now - kept["evaluated_at"] < every:
            verdict = verdict_from_record(kept["verdict"])
        else:
            extra: dict = {"capture": {}, "problems": []}
            looks = list(kept.get("looks") or [])
            elapsed = (now - started).total_seconds()
            clients = self.services.clients_for(row.environment)
            try:
                verdict = None
                if kind == "ab":
                    control, treatment = read_ab_counts(clients.cloudwatch, state.endpoint,
                                                        (state.current_variant, state.candidate_variant),
                                                        spec["metric"], started, now)
                    c, t = arm(*control), arm(*treatment)
                    if not looks or looks[-1] != [[c.n, c.total, c.total_sq], [t.n, t.total, t.total_sq]]:
                        looks = thin_looks(looks + [[[c.n, c.total, c.total_sq], [t.n, t.total, t.total_sq]]])
                    share = state.ab_steps[state.step] if state.ab_steps else 0.5
                    verdict = judge_ab(spec, [(Arm(*a), Arm(*b)) for a, b in looks], (1 - share, share),
                                       elapsed_seconds=elapsed)
                elif kind == "shadow":
                    evidence = read_shadow_evidence(
                        clients, destination=state.capture_destination, endpoint=state.endpoint,
                        production_variant=state.current_variant, shadow_variant=state.candidate_variant,
                        since=started, now=now, budget=Budget(int(spec.get("read_budget_mb") or 16) * 1024 * 1024),
                        output_index=int(spec.get("output_index") or 0))
                    verdict = judge_shadow(spec, evidence, elapsed_seconds=elapsed)
                    extra = {"capture": dict(evidence.capture), "problems": [scrub(p) for p in evidence.problems]}
                if spec.get("canary"):
                    series = read_minutes(clients.cloudwatch, state.endpoint,
                                          (state.current_variant, state.candidate_variant), started, now,
                                          spec["canary"].get("metrics") or ("model_latency", "error_rate"))
                    verdict = with_operational(verdict, judge_operational(spec["canary"], series))
            except AwsUnavailable as exc:
                # Unreadable evidence decides nothing (never a pass), and must not stop the
                # rollout from hearing /rollback or /abort: it is read again at the next evaluation.
                log.warning("experiment judge: evidence unreadable: %s", exc.reason, extra={"deployment": row.id})
                verdict = unreadable(kind, scrub(f"the evidence could not be read: {exc.reason}"))
            previous = (kept.get("verdict") or {}).get("status")
            data["experiment"] = {"evaluated_at": now, "since": started, "verdict": verdict.as_record(), **extra,
                                  "evaluations": int(kept.get("evaluations") or 0) + 1,
                                  **({"looks": looks} if kind == "ab" else {})}
            self.store.save_deployment(row.id, state=_dumps(data), release=False)
            if verdict.status != previous:
                self.store.append_ledger_for(row, "experiment", {**verdict.as_record(), **extra})
        if verdict.promote_due and not row.requested:
            if self.store.request_deployment(row.id, "promote", "modelbot"):
                self.store.append_ledger_for(row, "request", {"what": "promote", "why": (
                    f"{_PROMOTED_BECAUSE.get(kind, 'the judges passed')} after {spec.get('promote_after_minutes')} minutes")},
                    actor="modelbot")
        return verdict

    def _judge_bake(self, row, data: dict, state: RolloutState, observed):
        """The operational judge of an update SageMaker drives (`bot.core.experiment.bake`):
        once a minute, the endpoint's variants since traffic reached the new fleet against the
        same variants before the update. A fail is final: each tick while the update runs puts
        the judge's alarm into ALARM (PutMetricData), and SageMaker rolls back."""
        spec, now = state.experiment, self.now()
        kept = data.get("experiment") or {}
        update_at = state.issued_at or state.phase_started_at or state.started_at
        since = kept.get("bake_since")
        if since is None and ((observed.traffic_percent or 0) > 0 or observed.stage in ("ActivatingTraffic", "Baking")
                              or observed.on(state.target_config)):
            # The first tick that sees traffic on the new fleet; when SageMaker says since when its
            # fleet is in that stage (VariantStatus StartTime), that time (after a worker outage
            # the tick may come long after the shift). Never later than now: AWS's clock may lead.
            since = now
            if observed.stage in ("ActivatingTraffic", "Baking") and observed.stage_since is not None:
                since = min(now, max(observed.stage_since.astimezone(dt.timezone.utc), update_at))
        stored = verdict_from_record(kept["verdict"]) if kept.get("verdict") else None
        if stored is not None and (stored.status == "fail" or now - kept["evaluated_at"] < dt.timedelta(minutes=1)):
            verdict = stored
        else:
            judge = spec["canary"]
            baseline = int(judge.get("baseline_minutes") or 60)
            try:
                per_variant = read_bake_minutes(self.services.clients_for(row.environment).cloudwatch, state.endpoint,
                                                spec.get("variants") or (), update_at - dt.timedelta(minutes=baseline), now)
                series = {v: {m: bake.split(values[m], update_at=update_at, baseline_minutes=baseline, bake_since=since)
                              for m in judge.get("metrics") or ("model_latency", "error_rate")}
                          for v, values in per_variant.items()}
                verdict = judge_bake(judge, series, bake_started=since is not None)
            except AwsUnavailable as exc:
                log.warning("operational judge: metrics unreadable: %s", exc.reason, extra={"deployment": row.id})
                verdict = unreadable("canary", scrub(f"the metrics could not be read: {exc.reason}"))
            data["experiment"] = {"evaluated_at": now, "since": since, "bake_since": since, "update_at": update_at,
                                  "verdict": verdict.as_record(), "evaluations": int(kept.get("evaluations") or 0) + 1}
            self.store.save_deployment(row.id, state=_dumps(data), release=False)
            if stored is None or verdict.status != stored.status:
                self.store.append_ledger_for(row, "experiment", verdict.as_record())
        if verdict.status == "fail" and observed.pending_config == state.target_config:
            try:
                publish_judge_failure(self.services.clients_for(row.environment), state.endpoint,
                                      state.deployment_id, now)
            except AwsUnavailable as exc:  # tried again at the next tick
                log.warning("operational judge: could not put its alarm into ALARM: %s", exc.reason,
                            extra={"deployment": row.id})
        return verdict

    def _start_batch(self, row, prepared: Prepared) -> str:
        requests = DeployRequests.from_dict(prepared.requests)
        job = start_transform_job(self.services.clients_for(row.environment), requests)
        self.store.save_deployment(row.id, status="running", release=False,
                                   state=_dumps({"batch": job, "requests": prepared.requests}))
        self.services.notify(row, "in_progress", f"transform job {job} started")
        return self._wait(self.store.deployment(row.id), 30)

    def _advance_batch(self, row, data: dict) -> str:
        status, reason = transform_job_status(self.services.clients_for(row.environment), data["batch"])
        if status == "Completed":
            return self._finish(row, "succeeded", f"transform job {data['batch']} completed")
        if status in ("Failed", "Stopped"):
            return self._finish(row, "failed", f"transform job {data['batch']} {status.lower()}: {reason or ''}")
        return self._wait(row, 30)

    def _start_teardown(self, row, prepared: Prepared) -> str:
        if prepared.requests is None:  # nothing live: nothing to delete, the environment is still gone
            return self._finish(row, "succeeded", prepared.headline, notify_as="torn_down")
        state = {"teardown": TeardownState(started_at=self.now()).as_record(), "requests": prepared.requests}
        self.store.save_deployment(row.id, status="running", state=_dumps(state), next_tick_at=self.now(),
                                   release=False)
        self.services.notify(row, "in_progress", prepared.headline)
        return self._advance(self.store.deployment(row.id))

    def _advance_teardown(self, row, data: dict) -> str:
        if row.requested:  # nothing deleted comes back: a started teardown runs to its end
            self.store.consume_request(row.id, row.requested)
            log.info("request ignored: a teardown cannot be stopped", extra={"deployment": row.id,
                                                                              "requested": row.requested})
        requests = TeardownRequests.from_dict(data["requests"])
        state = TeardownState.from_record(data["teardown"])

        def checkpoint(s: TeardownState) -> None:  # after every phase: a crash resumes from here
            data["teardown"] = s.as_record()
            self.store.save_deployment(row.id, state=_dumps(data), release=False)

        try:
            state, wait = teardown_step(self.services.clients_for(row.environment), requests, state,
                                        self.now(), checkpoint)
        except TeardownFailed as exc:
            return self._finish(row, "failed", f"teardown of {requests.endpoint} stopped: {exc}")
        checkpoint(state)
        if wait is not None:
            return self._wait(row, wait, f"tearing down {requests.endpoint}: waiting for AWS")
        text = state.summary(requests.endpoint, shared=requests.shared)
        previous = [d for d in self.store.deployments(environment=row.environment, endpoint=row.endpoint,
                                                      status="succeeded") if d.id < row.id
                    and (not requests.shared or d.manifest_path == row.manifest_path)]  # a shared endpoint: ours only
        if not state.endpoint_foreign and row.endpoint:
            self.store.release_endpoint(row.environment, requests.claim or row.endpoint, repository=row.repository,
                                        manifest_path=row.manifest_path)
        status = self._finish(row, "succeeded", text, notify_as="torn_down")
        if previous and previous[-1].github_deployment_id is not None and not state.endpoint_foreign:
            by = f"#{row.pr_number}" if row.pr_number is not None else row.commit_sha[:7]
            what = (f"inference component {requests.components[0]} removed from {requests.endpoint}"
                    if requests.shared and requests.components else f"endpoint {requests.endpoint} torn down")
            self.services.notify(previous[-1], "torn_down", f"{what} by {by}")
        return status

    # --- requests from people -----------------------------------------------------------------

    def request(self, pk: int, what: str, by: str | None = None) -> bool:
        """Ask an active deployment to abort, roll back or promote at its next tick (`by`: who
        asked, kept in the ledger)."""
        if not self.store.request_deployment(pk, what, by):
            return False
        row = self.store.deployment(pk)
        if row is not None:
            self.store.append_ledger_for(row, "request", {"what": what}, actor=by)
        self.services.enqueue(pk, 0)
        return True

