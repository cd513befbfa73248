"""Review of changed manifests: validation, environments, policy and plan, as values.

The PR report and `modelbot check` both call `review`. It takes the changed files' contents and a
reader of live state (an adapter passed in), and returns what a person needs to see; it does
not talk to GitHub and knows nothing of comments or check runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, Mapping

from bot.core.contract import contract_changes
from bot.core.errors import LiveUnavailable
from bot.core.manifest import Manifest, Problem, load_manifest, sort_problems
from bot.core.manifest.parse import finding_problem
from bot.core.manifest.rules import Finding as RuleFinding
from bot.core.plan import DeploySpec, LiveState, Plan, plan
from bot.core.ownership import Finding, Owner, check_component, check_endpoint
from bot.core.policy import PolicyConfig, check_environments, check_policy

Status = Literal["added", "modified", "removed", "renamed"]


LiveReader = Callable[[str, str], LiveState]  # (environment, endpoint name) -> LiveState
OwnerLookup = Callable[[str, str], "Owner | None"]  # (environment, endpoint name) -> its recorded owner


@dataclass(frozen=True)
class ManifestChange:
    """A manifest the change touches: its head content, or for a removal its base content."""

    path: str
    status: Status
    text: bytes | None = None
    base_text: bytes | None = None
    previous_path: str | None = None


@dataclass(frozen=True)
class EnvironmentReview:
    environment: str
    plan: Plan | None
    live: Literal["read", "unavailable", "skipped"]
    live_note: str | None = None
    ownership: Finding | None = None  # None: not judged (no owner lookup given, or a removal)


@dataclass(frozen=True)
class ManifestReview:
    path: str
    status: Status
    problems: tuple[Problem, ...]
    manifest: Manifest | None
    environments: tuple[EnvironmentReview, ...] = ()
    previous_path: str | None = None  # a renamed manifest's path at base

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.all_problems if p.is_error)

    @property
    def all_problems(self) -> tuple[Problem, ...]:
        plan_problems = [p for e in self.environments if e.plan for p in e.plan.problems]
        return tuple(sort_problems([*self.problems, *plan_problems]))

    @property
    def model_name(self) -> str | None:
        return self.manifest.metadata.name if self.manifest else None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Review:
    manifests: tuple[ManifestReview, ...]
    planned: bool
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for m in self.manifests for p in m.all_problems)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.is_error)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def touches_targets(self) -> bool:
        return bool(self.manifests)


def review(changes: Iterable[ManifestChange], *, known_environments: Iterable[str], policy: PolicyConfig,
           commit: str, now: dt.datetime, live_reader: LiveReader | None, prices: Mapping[str, float],
           plan_deploys: bool = True, environments: Iterable[str] | None = None,
           config_source: str = "config/modelbot.yaml", repository: str | None = None,
           endpoint_owner: OwnerLookup | None = None, pr_number: int | None = None,
           prefix_owners: Callable[[str], tuple] | None = None,
           server_known: bool = True) -> Review:
    """Validate every changed manifest and, when asked, plan each of its environments.

    `live_reader` None plans against the desired state only (an empty endpoint). A removed
    manifest is read from its base content and plans a teardown. With `endpoint_owner` (and
    `repository`), each planned environment's endpoint ownership is judged too
    (`bot.core.ownership`): a conflict is a problem of the manifest. `server_known` False (no
    server config: `modelbot check` in a models repository) skips what only the server config
    can decide: environment names, policy and plans.
    """
    known = list(dict.fromkeys(known_environments))  # the server's deploy order
    wanted = set(environments) if environments is not None else None
    out = []
    for change in sorted(changes, key=lambda c: c.path):
        removed = change.status == "removed"
        text = change.base_text if removed else change.text
        if text is None:
            problem = Problem(change.path, 1, 1, "", None, "the file could not be read", None, "read")
            out.append(ManifestReview(change.path, change.status, (problem,), None))
            continue
        loaded = load_manifest(change.path, text)
        problems = list(loaded.problems)
        manifest = loaded.manifest
        if manifest is None:
            out.append(ManifestReview(change.path, change.status, tuple(sort_problems(problems)), None))
            continue
        if removed:
            # A teardown is judged by what was approved before: no policy on a file being deleted.
            problems = []
        else:
            problems += _compatibility(change, manifest)
            if server_known:
                problems += check_environments(manifest, known, source=config_source)
            for env in manifest.environments:
                if env in known and (wanted is None or env in wanted):
                    problems += check_policy(manifest, policy, env, now=now, repository=repository)
        env_reviews = []
        if plan_deploys:
            for env in known:
                if env not in manifest.environments or (wanted is not None and env not in wanted):
                    continue
                er, live = _plan_env(manifest, env, commit, removed, live_reader, prices)
                if endpoint_owner is not None and not removed and er.plan is not None:
                    owner = endpoint_owner(env, manifest.ownership_key(env))
                    exists, tags = bool(live and live.endpoint_exists), (live.tags if live else {})
                    if manifest.joins_shared_endpoint(env):  # it owns its component, not the endpoint
                        mine = live.component(manifest.component_name(env)) if live else None
                        exists, tags = mine is not None, (mine.tags if mine is not None else {})
                    problems += check_component(manifest, env, path=change.path, live=live,
                                                shared_endpoints=_shared(policy, env))
                    finding = check_endpoint(manifest, env, repository=repository or "", path=change.path,
                                             owner=owner, live_exists=exists, live_tags=tags,
                                             new_at_base=change.base_text is None, pr_number=pr_number,
                                             prefix_owners=_prefix_owners(manifest, env, prefix_owners))
                    problems += finding.problems
                    er = EnvironmentReview(er.environment, er.plan, er.live, er.live_note, finding)
                env_reviews.append(er)
        out.append(ManifestReview(change.path, change.status, tuple(sort_problems(problems)), manifest,
                                  tuple(env_reviews), change.previous_path))
    return Review(tuple(out), planned=plan_deploys)


def _compatibility(change: ManifestChange, manifest: Manifest) -> list[Problem]:
    """What the change's contract removes or narrows against the base branch's (the live
    model's): a warning each, at the field it concerns."""
    if change.base_text is None or manifest.source is None:
        return []
    base = load_manifest(change.previous_path or change.path, change.base_text).manifest
    if base is None:
        return []
    return [finding_problem(change.path, manifest.source, RuleFinding(
        c.loc, f"breaks callers of the live model: {c.message}",
        "a contract that accepts what the base branch's contract accepts (or callers changed first)",
        None, "contract.compatibility", "warning", at_key=True))
        for c in contract_changes(base.contract, manifest.contract)]


def _shared(policy: PolicyConfig, env: str):
    ep = policy.environments.get(env)
    return ep.shared_endpoints if ep is not None else {}


def _prefix_owners(manifest: Manifest, env: str, lookup) -> tuple:
    spec = manifest.environments[env]
    if lookup is None or spec.mode != "multi_model" or spec.multi_model is None:
        return ()
    return tuple(lookup(spec.multi_model.prefix))


def _plan_env(manifest: Manifest, env: str, commit: str, removed: bool, live_reader: LiveReader | None,
              prices: Mapping[str, float]) -> tuple[EnvironmentReview, LiveState | None]:
    """The environment's plan, and the live state it was planned against (None: not read)."""
    spec = DeploySpec(manifest, env, commit, deleted=removed)
    endpoint = manifest.endpoint_name(env)
    if manifest.environments[env].mode == "batch":
        return EnvironmentReview(env, plan(spec, LiveState(), prices), "skipped",
                                 "batch transform: there is no endpoint to read"), None
    empty = LiveState(endpoint_exists=False, endpoint_name=endpoint)
    if live_reader is None:
        return EnvironmentReview(env, plan(spec, empty, prices), "skipped",
                                 "planned against the desired state only (live state not read)"), None
    alarms = tuple(manifest.environments[env].alarms or ())
    try:
        if alarms and not removed and getattr(live_reader, "reads_alarms", False):
            live = live_reader(env, endpoint, alarms=alarms)
        else:
            live = live_reader(env, endpoint)
    except (LiveUnavailable, KeyError) as exc:  # KeyError: the reader knows no such environment
        return EnvironmentReview(env, plan(spec, empty, prices), "unavailable",
                                 f"live state unavailable ({exc}); planned against the desired state only"), None
    return EnvironmentReview(env, plan(spec, live, prices), "read"), live
