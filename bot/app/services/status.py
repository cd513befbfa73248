"""What the status UI shows, read from the store only (never AWS or GitHub on a page view).

- `endpoints`: every endpoint the bot owns, per environment: the model and version serving (the
  ledger's chain of the last deployment that succeeded), the traffic split and the health as the
  bot last saw them (its rollout state and the ledger's `phase` entries), the rollout in flight.
- `rollouts`: deployments pending or running, with their phase, progress text and traffic share.
- `endpoint_detail`: one endpoint's history and lineage: `bot.app.services.lineage.trace`, the
  same chains as `modelbot trace` and `GET /api/v1/trace/<subject>`.
- `locks_and_holds`: the live endpoint leases and the pull requests on /hold.
- `drift`: per repository, what the last drift cycle found (`bot.app.services.drift`, kept in
  the store), each finding with when it was first and last seen and the command that would fix it;
  `EndpointView.drift` marks an endpoint with findings.
- `experiment_view`: a deployment's live experiment's current verdict (the shadow judge's gates or
  the A/B test's arms, effect and interval) from its rollout state; `EndpointDetail.experiments`:
  the endpoint's history of verdicts from the ledger's `experiment` entries.

Each function takes `readable`, the repositories the person may read: nothing of any other
repository is returned (a lock names its deployment, which names its repository).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from bot.app.services.lineage import trace
from bot.core.experiment.age import svg_plot
from bot.core.access import can_see
from bot.core.deploy.rollout import RolloutState
from bot.core.lineage import Chain, chains

ACTIVE = ("pending", "running")
HOLDER_PREFIX = "deployment:"  # bot.app.services.rollouts.holder_of


def _loads(text: str | None) -> dict:
    def hook(d):
        return dt.datetime.fromisoformat(d["__dt__"]) if set(d) == {"__dt__"} else d

    try:
        value = json.loads(text, object_hook=hook) if text else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def rollout_state(row) -> RolloutState | None:
    record = _loads(row.state).get("rollout")
    if not isinstance(record, dict):
        return None
    try:
        return RolloutState.from_record(record)
    except (TypeError, ValueError):
        return None


@dataclass
class Traffic:
    """Where requests go: (what, percent) pairs, and a note of how it is known."""

    split: list[tuple[str, float | None]] = field(default_factory=list)
    note: str = ""


@dataclass
class ExperimentView:
    """A verdict as the rollout engine stored it (`ShadowVerdict.as_record` / `ABJudgement.as_record`)."""

    kind: str                 # shadow | ab | canary (the operational judge alone; beside the others: `operational`)
    status: str               # pass | fail | running | not_enough_data
    verdict: dict
    evaluations: int = 0
    evaluated_at: dt.datetime | None = None
    at: dt.datetime | None = None          # a ledger entry's time (the history)
    deployment_id: int | None = None


def _experiment(record, **extra) -> ExperimentView | None:
    if not isinstance(record, dict) or not isinstance(record.get("status"), str):
        return None
    gates = record.get("gates")
    op = record.get("operational")
    if isinstance(op, dict):
        op = {**op, "metrics": [m for m in op.get("metrics") or () if isinstance(m, dict)]}
    verdict = {**record, "gates": [g for g in gates if isinstance(g, dict)] if isinstance(gates, list) else [],
               "reasons": [str(r) for r in record.get("reasons") or ()],
               "operational": op if isinstance(op, dict) else None}
    return ExperimentView(str(record.get("kind") or "shadow"), record["status"], verdict, **extra)


def experiment_view(row) -> ExperimentView | None:
    """The deployment's current experiment verdict (its state's `experiment`), None without one."""
    kept = _loads(row.state).get("experiment")
    if not isinstance(kept, dict):
        return None
    at = kept.get("evaluated_at")
    return _experiment(kept.get("verdict"), evaluations=int(kept.get("evaluations") or 0),
                       evaluated_at=at if isinstance(at, dt.datetime) else None)


MAX_EXPERIMENTS_SHOWN = 50


def experiment_history(entries: list[dict]) -> list[ExperimentView]:
    """The ledger's `experiment` entries (each a change of verdict), newest first, bounded."""
    out = []
    for e in reversed(entries):
        if e["kind"] != "experiment":
            continue
        view = _experiment(e["data"], at=e["at"], deployment_id=e["deployment_id"])
        if view is not None:
            out.append(view)
        if len(out) >= MAX_EXPERIMENTS_SHOWN:
            break
    return out


@dataclass
class RolloutView:
    id: int
    repository: str
    environment: str
    endpoint: str | None
    status: str
    phase: str
    flow: str | None
    strategy: str | None
    progress: str
    traffic_percent: float | None
    steps: list[tuple[str, bool]]       # the phases of this flow, and whether each is behind us
    commit: str
    pr_number: int | None
    requested: str | None
    started_at: dt.datetime
    updated_at: dt.datetime
    alarms: tuple[str, ...] = ()
    experiment: ExperimentView | None = None


@dataclass
class EndpointView:
    environment: str
    endpoint: str
    repository: str
    manifest_path: str
    current: Chain | None
    traffic: Traffic
    health: str            # healthy | rolling out | degraded | unknown
    health_detail: str
    rollout: RolloutView | None
    last_status: str | None
    drift: list = field(default_factory=list)  # the last drift cycle's findings on this endpoint


FLOW_PHASES = {
    "create": ("pending", "creating", "smoke", "succeeded"),
    "guarded": ("pending", "updating", "smoke", "succeeded"),
    "in_place": ("pending", "updating", "smoke", "succeeded"),
    "ab": ("pending", "updating", "smoke", "shifting", "experiment", "promote_shift", "promoting", "succeeded"),
    "shadow": ("pending", "updating", "smoke", "experiment", "promoting", "succeeded"),
    "component": ("pending", "fleet", "placing", "smoke", "succeeded"),
}


def _steps(state: RolloutState | None) -> list[tuple[str, bool]]:
    if state is None:
        return []
    phases = FLOW_PHASES.get(state.flow, ("pending", state.phase, "succeeded"))
    if state.phase not in phases:
        return [(p, False) for p in phases] + [(state.phase, False)]
    at = phases.index(state.phase)
    return [(p, i < at or state.phase == "succeeded") for i, p in enumerate(phases)]


def _last_phase(entries: list[dict]) -> dict:
    for e in reversed(entries):
        if e["kind"] == "phase":
            return e["data"]
    return {}


def rollout_view(store, row, entries: list[dict] | None = None) -> RolloutView:
    state = rollout_state(row)
    entries = entries if entries is not None else store.ledger_entries(deployment_ids=[row.id])
    phase_entry = _last_phase(entries)
    progress = (state.progress if state and state.progress else phase_entry.get("progress")) or (
        row.reason or ("waiting to start" if row.status == "pending" else row.status))
    return RolloutView(
        id=row.id, repository=row.repository, environment=row.environment, endpoint=row.endpoint,
        status=row.status, phase=state.phase if state else row.status, flow=state.flow if state else None,
        strategy=state.strategy if state else None, progress=progress,
        traffic_percent=phase_entry.get("traffic_percent"), steps=_steps(state), commit=row.commit_sha,
        pr_number=row.pr_number, requested=row.requested, started_at=row.created_at, updated_at=row.updated_at,
        alarms=state.alarms if state else (), experiment=experiment_view(row))


def _traffic(current: Chain | None, active: RolloutView | None, state: RolloutState | None,
             serving: RolloutState | None = None) -> Traffic:
    if active is not None and active.traffic_percent is not None and state is not None:
        new = state.candidate_variant or state.target_config
        old = state.current_variant or state.previous_config or "previous"
        share = float(active.traffic_percent)
        return Traffic([(new, share), (old, round(100.0 - share, 2))],
                       f"rollout {active.id} in progress, as last observed")
    if active is not None and state is not None and state.flow == "shadow" and state.phase == "experiment":
        return Traffic([(state.current_variant or state.previous_config or "current", 100.0),
                        (f"{state.candidate_variant} (shadow copy)", None)], "shadow test: the candidate gets copies")
    if current is not None:
        config = current.promoted_config or current.target_config or current.last_config
        if serving is not None:  # the controller's own record of what it left serving
            config = (serving.promoted_config if serving.flow in ("ab", "shadow") else None) or serving.target_config or config
        if config:
            return Traffic([(config, 100.0)], f"since deployment {current.deployment_id} succeeded")
    return Traffic([], "no deployment of this endpoint has succeeded")


def _health(last, current: Chain | None, active: RolloutView | None, last_state: RolloutState | None) -> tuple[str, str]:
    if active is not None:
        return "rolling out", active.progress
    if last is None:
        return "unknown", "the ledger has no deployment of this endpoint"
    if last.status == "succeeded":
        smoke = last_state.smoke_result if last_state else None
        return "healthy", "last deployment succeeded" + (f"; smoke test {smoke}" if smoke else "")
    return "degraded", f"last deployment {last.status.replace('_', ' ')}: {last.reason or ''}".rstrip(": ")


def _serving_chain(store, environment: str, endpoint: str) -> tuple[Chain | None, object]:
    row = store.current_deployment(environment, endpoint)
    if row is None:
        return None, None
    found = chains(store.ledger_entries(deployment_ids=[row.id]))
    return (found[0] if found else None), row


def endpoints(store, readable) -> list[EndpointView]:
    out: list[EndpointView] = []
    found: dict[tuple, list] = {}
    for f in store.drift_findings():
        found.setdefault((f.repository, f.environment, f.endpoint), []).append(f)
    for owner in store.endpoint_owners():
        if not can_see(owner.repository, readable) or "/" in owner.endpoint:  # a component: on its endpoint's page
            continue
        view = _endpoint_view(store, owner.environment, owner.endpoint, owner.repository, owner.manifest_path)
        view.drift = found.get((owner.repository, owner.environment, owner.endpoint), [])
        out.append(view)
    return out


def _endpoint_view(store, environment: str, endpoint: str, repository: str, manifest_path: str) -> EndpointView:
    current, serving_row = _serving_chain(store, environment, endpoint)
    rows = [r for r in store.deployments(environment=environment, endpoint=endpoint) if r.repository == repository]
    last_row = rows[-1] if rows else None
    active_row = next((r for r in reversed(rows) if r.status in ACTIVE), None)
    active = rollout_view(store, active_row) if active_row is not None else None
    state = rollout_state(active_row) if active_row is not None else None
    health, detail = _health(last_row, current, active, rollout_state(last_row) if last_row else None)
    return EndpointView(environment, endpoint, repository, manifest_path, current,
                        _traffic(current, active, state, rollout_state(serving_row) if serving_row else None),
                        health, detail, active,
                        last_row.status if last_row else None)


def rollouts(store, readable) -> list[RolloutView]:
    rows = [r for status in ACTIVE for r in store.deployments(status=status) if can_see(r.repository, readable)]
    return [rollout_view(store, r) for r in sorted(rows, key=lambda r: r.id)]


@dataclass
class EndpointDetail:
    view: EndpointView
    chains: list[Chain]
    lock_holder: str | None
    holds: list
    statuses: dict = field(default_factory=dict)  # deployment id -> the store's status (running, ...)
    experiments: list = field(default_factory=list)  # ExperimentView, newest first (the ledger's)
    model_age: dict | None = None  # the last model-age chart the PR report drew (drawing + `svg`), with `drawn_at`


def endpoint_detail(store, environment: str, endpoint: str, readable) -> EndpointDetail | None:
    """None when the endpoint is unknown or of a repository the person cannot read (both 404)."""
    owner = store.endpoint_owner(environment, endpoint)
    if owner is None or not can_see(owner.repository, readable):
        return None
    view = _endpoint_view(store, environment, endpoint, owner.repository, owner.manifest_path)
    view.drift = store.drift_findings(owner.repository, environment=environment, endpoint=endpoint)
    try:
        found = trace(store, endpoint, environment=environment, repository=owner.repository)
    except ValueError:
        found = None
    lock = store.lock(f"{environment}:{endpoint}")
    statuses = {r.id: r.status for r in store.deployments(environment=environment, endpoint=endpoint)}
    experiments = experiment_history(store.ledger_entries(endpoint=endpoint, environment=environment,
                                                          repository=owner.repository))
    age = next(((at, drawing) for repo, at, drawing in store.model_age(environment, endpoint, [owner.repository])), None)
    model_age = {**age[1], "drawn_at": age[0], "svg": svg_plot(age[1])} if age else None
    return EndpointDetail(view, list(found.chains) if found else [], lock.holder if lock else None,
                          store.holds(owner.repository), statuses, experiments, model_age)


def deployment_chain(store, pk: int, readable) -> Chain | None:
    row = store.deployment(pk)
    if row is None or not can_see(row.repository, readable):
        return None
    found = chains(store.ledger_entries(deployment_ids=[pk]))
    return found[0] if found else None


@dataclass
class LockView:
    key: str
    holder: str
    repository: str | None
    deployment_id: int | None
    acquired_at: dt.datetime
    lease_until: dt.datetime


def locks_and_holds(store, readable) -> tuple[list[LockView], list]:
    """Locks held by a deployment of a readable repository (other locks are the bot's own, e.g. the
    drift cycle's, and name no repository: shown to every member), and readable repositories' holds."""
    out = []
    for lock in store.live_locks():
        pk = None
        repository = None
        if lock.holder.startswith(HOLDER_PREFIX) and lock.holder[len(HOLDER_PREFIX):].isdigit():
            pk = int(lock.holder[len(HOLDER_PREFIX):])
            row = store.deployment(pk)
            repository = row.repository if row is not None else None
            if not can_see(repository, readable):
                continue
        elif ":" in lock.key and store.endpoint_owner(*lock.key.split(":", 1)) is not None:
            owner = store.endpoint_owner(*lock.key.split(":", 1))
            repository = owner.repository
            if not can_see(repository, readable):
                continue
        out.append(LockView(lock.key, lock.holder, repository, pk, lock.acquired_at, lock.lease_until))
    holds = [h for h in store.holds() if can_see(h.repository, readable)]
    return out, holds


@dataclass
class DriftView:
    """A repository's last drift cycle and its findings (`bot.adapters.store.DriftFindingRow`)."""

    repository: str
    checked_at: dt.datetime
    checked: int
    unreadable: list[str]
    default_branch: str | None
    issue: int | None
    findings: list


def drift(store, readable) -> list[DriftView]:
    """The drift the last cycle found in each readable repository (repositories with none too:
    "checked, nothing differs"), by repository."""
    out = []
    for check in store.drift_checks():
        if not can_see(check.repository, readable):
            continue
        try:
            unreadable = [str(u) for u in json.loads(check.unreadable or "[]")]
        except ValueError:
            unreadable = []
        out.append(DriftView(check.repository, check.checked_at, check.checked, unreadable, check.default_branch,
                             check.issue, store.drift_findings(check.repository)))
    return out


def repositories(store) -> list[str]:
    """Every repository the store has endpoints or deployments of: what a person's read access is asked for."""
    names = {o.repository for o in store.endpoint_owners()}
    names |= {r.repository for status in ACTIVE for r in store.deployments(status=status)}
    names |= {h.repository for h in store.holds()}
    names |= {c.repository for c in store.drift_checks()}
    return sorted(names, key=str.lower)
