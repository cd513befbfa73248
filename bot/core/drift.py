"""Drift: what is live on an endpoint the bot owns, against what the default branch declares and
the ledger recorded. Pure: values in, findings out.

`find_drift(EndpointFacts) -> tuple[DriftFinding, ...]` judges one owned endpoint (or one
component on a shared endpoint) and returns what differs, each finding with the command that
would fix it. Kinds:

- `changed_outside`: the endpoint is not what the default branch's manifest plans (the plan is
  not "no changes") although the last deployment of that manifest there succeeded: someone
  changed it outside modelbot (a console edit, another tool).
- `left_behind`: the last deployment there failed, was rolled back or aborted, and the endpoint
  is not what the default branch declares: a failed rollout (or rollback) left it so.
- `broken`: the endpoint is Failed, UpdateRollbackFailed or OutOfService (or its component is
  Failed).
- `missing`: the manifest is declared and the bot deployed it, but the endpoint (or its
  component) is gone from AWS.
- `orphaned`: the endpoint is live and the bot owns it, but the default branch no longer has the
  manifest (a teardown refused or failed).
- `untagged`: a live endpoint or component under a name a declared manifest uses, without
  modelbot's tags for it: not the bot's, and in the way of a deploy.

Nothing is judged while a deployment of the endpoint is pending or running (it is moving it);
a live state that could not be read is `unknown`, not drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from bot.core.plan import BROKEN, LiveState, Plan

Kind = Literal["changed_outside", "left_behind", "broken", "missing", "orphaned", "untagged"]
ACTIVE = ("pending", "running")
UNSETTLED = ("failed", "rolled_back", "aborted")


@dataclass(frozen=True)
class LastDeployment:
    """The ledger's last deployment of this manifest to this endpoint."""

    id: int
    status: str
    commit: str
    pr_number: int | None
    kind: str = "deploy"  # deploy | teardown
    trigger: str = "merge"  # merge | command (a /deploy of an open pull request) | rollback


@dataclass(frozen=True)
class EndpointFacts:
    """What drift is judged on, for one owned endpoint of one environment (or one component on a
    shared endpoint: `component`). `declared`: the default branch has the owning manifest with
    this environment; `plan`: that manifest planned against `live` (None when not declared or
    not planned); `live`: None when it could not be read (`unreadable` says why)."""

    repository: str
    environment: str
    endpoint: str
    manifest_path: str
    declared: bool
    live: LiveState | None
    plan: Plan | None = None
    last: LastDeployment | None = None
    in_flight: bool = False
    component: str | None = None
    unreadable: str | None = None
    default_branch: str = "main"


@dataclass(frozen=True)
class DriftFinding:
    environment: str
    endpoint: str
    manifest_path: str
    kind: Kind
    detail: str
    fix: str
    changes: tuple[str, ...] = ()
    component: str | None = None

    @property
    def key(self) -> tuple[str, str, str | None, str]:
        return (self.environment, self.endpoint, self.component, self.kind)

    def as_record(self) -> dict[str, Any]:
        return {"environment": self.environment, "endpoint": self.endpoint, "manifest_path": self.manifest_path,
                "kind": self.kind, "detail": self.detail, "fix": self.fix, "changes": list(self.changes),
                "component": self.component}


def _redeploy(f: EndpointFacts) -> str:
    last = f.last
    if last is not None and last.pr_number is not None and last.kind != "teardown":
        return (f"on #{last.pr_number}: `/rollback {f.environment} to {last.commit[:12]}` deploys the version the "
                f"ledger recorded again")
    return (f"a pull request that changes {f.manifest_path} deploys it again on merge (or `/deploy {f.environment}` "
            "on an open one)")


def _changes(p: Plan | None) -> tuple[str, ...]:
    if p is None:
        return ()
    out = [f"{a.verb} {a.resource} {a.name}" + (f": {a.detail}" if a.detail else "") for a in p.actions]
    out += [f"{c.what}: {c.before} -> {c.after}" for c in p.instance_changes + p.autoscaling_changes]
    return tuple(out[:20])


def _live_differences(p: Plan, live: LiveState) -> tuple[str, ...]:
    """What a "no changes" plan does not see: the endpoint's current instance counts and weights
    (UpdateEndpointWeightsAndCapacities leaves the config, and so its digest, as it was) against
    the config's, where autoscaling does not own the count."""
    out: list[str] = []
    if live.hosts_components:  # instances follow the copies (managed instance scaling), not a count
        return ()
    now = {v.name: v for v in live.production_variants}
    for v in p.variants:
        if v.shadow or v.serverless_memory_mb:
            continue
        cur = now.get(v.name)
        if cur is None:
            continue
        if cur.autoscaling is None and v.instance_count is not None and cur.instance_count != v.instance_count:
            out.append(f"{v.name}.instance_count: {cur.instance_count} live, {v.instance_count} declared")
        if len(p.variants) > 1 and abs(cur.weight - v.weight) > 0.005:
            out.append(f"{v.name}.weight: {cur.weight:g} live, {v.weight:g} declared")
    return tuple(out)


def find_drift(f: EndpointFacts) -> tuple[DriftFinding, ...]:
    """What differs on this endpoint (see the module docstring); () when nothing does or it cannot
    be judged now."""
    if f.in_flight or f.live is None:
        return ()

    def finding(kind: Kind, detail: str, fix: str, changes: tuple[str, ...] = ()) -> DriftFinding:
        return DriftFinding(f.environment, f.endpoint, f.manifest_path, kind, detail, fix, changes, f.component)

    live = f.live
    what = f"inference component {f.component} on {f.endpoint}" if f.component else f"endpoint {f.endpoint}"
    component = live.component(f.component) if f.component else None
    exists = component is not None if f.component else live.endpoint_exists
    if not f.declared:
        if not exists:
            return ()
        return (finding("orphaned", f"{what} is live, but {f.default_branch} no longer has {f.manifest_path} "
                        f"for {f.environment}: its teardown did not happen or failed",
                        f"a pull request that restores {f.manifest_path}, or one that deletes it again and is "
                        "approved for the teardown"),)
    if not exists:
        if f.last is None or f.last.kind == "teardown" or f.last.status != "succeeded":
            return ()  # never deployed there (or torn down): nothing went missing
        return (finding("missing", f"{what} no longer exists in AWS, but the ledger shows deployment "
                        f"{f.last.id} ({f.last.commit[:7]}) put it there and {f.default_branch} still declares it",
                        _redeploy(f)),)
    tags = component.tags if component is not None else live.tags
    if tags.get("modelbot:manifest") != f.manifest_path:
        return (finding("untagged", f"{what} exists without modelbot's tags for {f.manifest_path}: modelbot "
                        "did not create it, and it holds a name the manifest uses",
                        "another endpoint_name in the manifest, or `adopt_endpoint: true` to adopt it "
                        "(reviewed and recorded)"),)
    status = component.status if component is not None else live.endpoint_status
    if live.endpoint_status in BROKEN or status == "Failed":
        reason = component.failure_reason if component is not None and component.failure_reason else ""
        return (finding("broken", f"{what} is {status if status == 'Failed' else live.endpoint_status}"
                        + (f": {reason}" if reason else ""),
                        "repair or delete it in AWS, then " + _redeploy(f)),)
    p = f.plan
    if p is None:
        return ()
    changes = _changes(p) if p.kind != "no_changes" else _live_differences(p, live)
    if not changes:
        return ()
    if f.last is not None and f.last.status in UNSETTLED and f.last.kind != "teardown":
        return (finding("left_behind", f"the last deployment there ({f.last.id}, {f.last.commit[:7]}) ended "
                        f"{f.last.status.replace('_', ' ')}, and {what} is not what {f.default_branch} declares",
                        _redeploy(f), changes),)
    if f.last is not None and f.last.status == "succeeded" and f.last.trigger == "command":
        return ()  # `/deploy` of an open pull request: that version, not the default branch's, is meant to be live
    if f.last is not None and f.last.status == "succeeded":
        return (finding("changed_outside", f"{what} differs from what {f.default_branch} declares, and the last "
                        f"deployment there ({f.last.id}, {f.last.commit[:7]}) succeeded: it was changed outside "
                        "modelbot", _redeploy(f), changes),)
    return ()
