"""The deploy gate's adapter: gathers what `bot.core.gate.decide` judges, for a pull request's
checks (`gather`, called by `refresh_pull`) and at the point of action (`gate_deployment`,
called by the rollout engine before the first AWS write of every deployment and before a
promotion). Both read the same things the same way: the changed manifests at the commit to
deploy, owners and CODEOWNERS at the base, the reviews of the final head, endpoint owners from
the store, live state from AWS, the comparison for exactly this candidate; only the clock and
the commit differ. Nothing here decides.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from bot.core.approvals import ownership_changes
from bot.core.changes import manifest_changes, paths_to_read
from bot.core.clock import utcnow
from bot.core.codeowners import CODEOWNERS_PATHS, parse_codeowners
from bot.core.gate import Comparison, Decision, Evidence, NotReady, Override, Reason, decide, is_freeze
from bot.core.manifest import Problem
from bot.core.ownership import Owner, location
from bot.core.policy import check_policy
from bot.core.review import review
from bot.app.services.approvals import (
    base_inputs,
    evaluate_ownership,
    evaluate_pull,
    moved_from,
    team_owners,
    unapprovable,
)
from bot.adapters.cache import ComparisonCache
from bot.adapters.github.pulls import get_pull, pull_commits, reviews, team_membership
from bot.adapters.github.reader import RepoReader
from bot.adapters.sources import RepoFetcher
from bot.app.services.comparison import CompareOutcome, Sessions, compare_manifest, make_deps, plan_comparison

log = logging.getLogger(__name__)

WAIT_SECONDS = 30


@dataclass
class PullState:
    """One reading of a pull request: its review and its approval results."""

    files: list
    changes: list
    result: object                    # bot.core.review.Review
    base_files: dict
    head_files: dict
    approvals: list = field(default_factory=list)   # ApprovalResult per environment
    ownership: object = None          # ApprovalResult of a CODEOWNERS change, or None
    unreadable: list = field(default_factory=list)  # changed manifests that do not load
    notes: list = field(default_factory=list)
    reviews: list = field(default_factory=list)     # the pull request's reviews, as read

    @property
    def all_approvals(self) -> list:
        return self.approvals + ([self.ownership] if self.ownership is not None else [])

    def manifest(self, path: str):
        return next((m for m in self.result.manifests if m.path == path), None)


@dataclass(frozen=True)
class Admission:
    """The gate's answer for one deployment, and what to record when it is allowed."""

    decision: object                  # bot.core.gate.Decision
    how: str = "deployed"             # the ownership claim: deployed | adopted | moved
    move_from: str | None = None
    s3_prefix: str | None = None      # a multi-model endpoint's model prefix, claimed with it
    claim: str | None = None          # what the deployment claims in the store: its endpoint, or
                                      # `<endpoint>/<component>` on a shared endpoint (None: the row's endpoint)
    evidence: dict = field(default_factory=dict)  # for the ledger: the approving reviews, the comparison's numbers

    @property
    def verdict(self) -> str:
        return self.decision.verdict


def owner_lookup(store, environments=None):
    """(environment, endpoint) -> bot.core.ownership.Owner: the store's record for this environment,
    else one of another environment that reaches the same AWS account and region (the same
    physical endpoint), else the ledger's last deployment there (endpoints deployed before
    ownership was recorded)."""
    def owner(row):
        dep = store.deployment(row.deployment_id) if row.deployment_id is not None else None
        return Owner(row.repository, row.manifest_path, row.how, row.environment,
                     dep.pr_number if dep is not None else None)

    def lookup(environment: str, endpoint: str):
        rows = store.endpoint_owners_named(endpoint)
        here = [r for r in rows if r.environment == environment]
        if not here and environments:
            where = location(environments.get(environment))
            here = [r for r in rows if r.environment in environments and location(environments[r.environment]) == where]
        if here:
            return owner(here[0])
        last = store.current_deployment(environment, endpoint)
        if last is not None and last.kind != "teardown":
            return Owner(last.repository, last.manifest_path, "deployed", environment, last.pr_number)
        return None

    return lookup


def gather(*, requester, store, settings, live_reader, reader, full_name: str, pr: dict, head_sha: str,
           base_sha: str, commit: str, plan: bool, environments=None, held: bool, now) -> PullState:
    """Review the pull request's manifests at `commit` against `base_sha`, and evaluate its
    approvals for `head_sha` (its final head), as the checks and the gate both need them."""
    globs = settings.server.manifest_globs
    files = reader.changed_files(pr["number"])
    head_paths, base_paths = paths_to_read(files, globs)
    head_files = reader.read(commit, head_paths)
    base_files = reader.read(base_sha, base_paths)
    changes = manifest_changes(files, head_files, base_files, globs)
    result = review(changes, known_environments=settings.server.ordered_environments(), policy=settings.policy,
                    commit=commit, now=now, live_reader=live_reader, prices=settings.server.prices,
                    plan_deploys=plan, environments=environments, config_source=settings.config_path,
                    repository=full_name, pr_number=pr["number"],
                    endpoint_owner=owner_lookup(store, settings.server.environments) if plan else None,
                    prefix_owners=(lambda prefix: [Owner(r.repository, r.manifest_path, r.how, r.environment)
                                                   for r in store.prefix_owners(prefix)]) if plan else None)
    state = PullState(files, changes, result, base_files, head_files, unreadable=unapprovable(result))
    touched = [p for f in files for p in (f.path, f.previous_path) if p in CODEOWNERS_PATHS]
    if not result.touches_targets and not touched:
        return state
    moves = [p for _, p in moved_from(result)]
    extra = sorted(set(moves) - set(base_files))
    if extra:
        base_files.update(reader.read(base_sha, extra))
    renamed = [c.previous_path for c in changes if c.status == "renamed" and c.previous_path]
    inputs = base_inputs(base_files, [c.path for c in changes] + moves + renamed)
    ownership_paths: tuple[str, ...] = ()
    if touched:
        head_co = reader.read(head_sha, CODEOWNERS_PATHS)
        first = next((p for p in CODEOWNERS_PATHS if head_co.get(p) is not None), None)
        head_owners = parse_codeowners(head_co[first], path=first) if first else None
        tree, complete = reader.tree_paths(base_sha)
        added = [f.path for f in files if f.status != "removed"]
        ownership_paths = ownership_changes(inputs.codeowners, head_owners, [*tree, *added], touched)
        if not complete:
            state.notes.append("the base tree is too large to list whole: ownership changes were judged on "
                               "the part GitHub returned")
    default_owners = settings.permissions.default_owners
    pr_reviews = reviews(requester, full_name, pr["number"])
    state.reviews = pr_reviews
    trees, pushers = pull_commits(requester, full_name, pr["number"])
    head_tree = trees.get(head_sha)
    unchanged = {sha for sha, tree in trees.items() if head_tree and tree == head_tree}
    # Whose team membership matters: everyone whose latest review counts either way (an approval,
    # or an owner's request for changes, which blocks). When GitHub will not tell, fail closed: an
    # approval does not count, a request for changes blocks.
    latest = _latest_states(pr_reviews)
    members: dict[str, set[str]] = {}
    for team in team_owners(inputs, [c.path for c in changes] + moves + renamed + list(ownership_paths),
                            default_owners):
        members[team] = set()
        for user, review_state in latest.items():
            known = team_membership(requester, team, user)
            if known or (known is None and review_state == "CHANGES_REQUESTED"):
                members[team].add(user)
            if known is None:
                state.notes.append(f"GitHub would not say whether `{user}` is in `@{team}`: their "
                                   + ("request for changes blocks" if review_state == "CHANGES_REQUESTED"
                                      else "approval does not count for it"))
    author = pr["user"]["login"]
    common = dict(reviews=pr_reviews, author=author, head_sha=head_sha, unchanged_tree_commits=unchanged,
                  team_members=members, held=held, default_owners=default_owners, pushers=pushers)
    state.approvals = evaluate_pull(result, inputs, policy=settings.policy, **common)
    state.ownership = evaluate_ownership(ownership_paths, inputs, **common)
    return state


def _latest_states(pr_reviews: list[dict]) -> dict[str, str]:
    """Each reviewer's latest APPROVED / CHANGES_REQUESTED / DISMISSED state (COMMENTED changes nothing)."""
    out: dict[str, str] = {}
    for r in sorted((r for r in pr_reviews if r.get("submitted_at")), key=lambda r: r["submitted_at"]):
        if r["state"] in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            out[r["user"]] = r["state"]
    return {u: st for u, st in out.items() if st != "DISMISSED"}


def for_environment(problems, env: str, environments) -> list:
    """The problems that concern `env`: the manifest's own and env's, not another environment's."""
    others = [e for e in environments if e != env]
    return [p for p in problems
            if not any(p.field == f"environments.{o}" or p.field.startswith(f"environments.{o}.")
                       or (p.rule or "").startswith(f"policy.environments.{o}.") for o in others)]


def pr_gate(state: PullState, outcomes: list, settings) -> list:
    """The gate as the checks show it: one (path, environment, Decision) per manifest environment
    of the pull request, judged on its head now (no override)."""
    by_path = {o.path: o for o in outcomes}
    out = []
    for m in state.result.manifests:
        if m.manifest is None or m.status == "removed":
            continue
        for env in settings.server.ordered_environments():
            if env not in m.manifest.environments:
                continue
            o = by_path.get(m.path)
            comparison = (Comparison("not_configured") if m.manifest.validation is None
                          else Comparison(o.verdict, "", o.key) if o is not None else Comparison("pending"))
            evidence = Evidence("deploy", m.path, env,
                                tuple(for_environment(m.all_problems, env, m.manifest.environments)),
                                tuple(a for a in state.approvals if a.environment == env)
                                + ((state.ownership,) if state.ownership is not None else ()),
                                comparison)
            out.append((m.path, env, decide(evidence, settings.gate)))
    return out


# --- at the point of action -------------------------------------------------------------------------


def gate_deployment(runtime, row, action: str = "deploy") -> Admission:
    """The gate for deployment `row`, evaluated now (see the module docstring). Raises
    NotReady when the evidence cannot be read yet."""
    prov = json.loads(row.provenance)
    if row.trigger == "rollback":
        return _rollback_admission(runtime, row, prov)
    gh = runtime.github_app.client(prov.get("installation_id"))
    settings = runtime.settings
    pr = get_pull(gh.requester, row.repository, row.pr_number)
    teardown = row.kind == "teardown"

    def refuse(message: str) -> Admission:
        return Admission(Decision("refuse", (Reason("reviewed", message),)))

    if row.trigger == "command" and pr.get("state") != "open":
        return refuse(f"the pull request #{row.pr_number} is no longer open")
    if row.trigger == "command" and settings.server.environments[row.environment].production:
        return refuse(f"{row.environment} is a production environment: only a merge deploys there")
    if row.trigger in ("merge", "redeploy") and not pr.get("merged"):
        return refuse(f"the pull request #{row.pr_number} is not merged")
    if row.trigger in ("merge", "redeploy") and pr.get("merge_commit_sha") != row.commit_sha:
        return refuse(f"{row.commit_sha[:7]} is not the merge commit of #{row.pr_number}")
    base = pr.get("base") or {}
    default = (base.get("repo") or {}).get("default_branch")
    if not default or base.get("ref") != default:
        # The owners and rules that authorise a deploy are the default branch's: a pull request
        # into any other branch (which its author may control) deploys nothing.
        return refuse(f"#{row.pr_number} targets `{base.get('ref')}`, not the default branch `{default}`: only "
                      "changes to the default branch deploy")
    head_sha = prov.get("head_sha") or pr["head"]["sha"]
    if row.trigger == "command" and head_sha != pr["head"]["sha"]:
        return refuse(f"the pull request's head moved on from {head_sha[:7]} to {pr['head']['sha'][:7]}")
    base_sha = prov.get("base_sha") or pr["base"]["sha"]
    reader = RepoReader(gh, row.repository)
    held = runtime.store.hold(row.repository, row.pr_number) is not None
    state = gather(requester=gh.requester, store=runtime.store, settings=settings, live_reader=runtime.live_reader,
                   reader=reader, full_name=row.repository, pr=pr, head_sha=head_sha, base_sha=base_sha,
                   commit=row.commit_sha, plan=True, environments=[row.environment], held=held, now=utcnow())
    m = state.manifest(row.manifest_path)
    if m is None or m.manifest is None:
        problems = m.problems if m is not None else ()
        detail = "; ".join(p.message for p in problems if p.is_error)[:500]
        return refuse(f"`{row.manifest_path}` at {row.commit_sha[:7]} is not a manifest this pull request "
                      f"changes, or does not load{': ' + detail if detail else ''}")
    env_review = next((e for e in m.environments if e.environment == row.environment), None)
    if env_review is not None and env_review.live == "unavailable":
        raise NotReady(env_review.live_note or "live state unavailable")
    # A promotion acts on a rollout in flight: the plan of a new deploy does not apply to it.
    problems = list(for_environment(m.problems if action == "promote" else m.all_problems, row.environment,
                                    m.manifest.environments))
    if teardown:
        problems = _teardown_problems(runtime, row, m.manifest, state)
    reviewed = None
    if row.commit_sha != head_sha and not teardown:
        approved = reader.read(head_sha, [row.manifest_path]).get(row.manifest_path)
        if approved != state.head_files.get(row.manifest_path):
            reviewed = (f"`{row.manifest_path}` at {row.commit_sha[:7]} is not the file reviewed and approved at "
                        f"the pull request's head {head_sha[:7]}")
    comparison, outcome = (None, None) if teardown else _comparison(runtime, gh, row, m)
    override = Override(**prov["override"]) if prov.get("override") else None
    evidence = Evidence(action if not teardown else "teardown", row.manifest_path, row.environment,
                        tuple(problems), tuple(a for a in state.approvals if a.environment == row.environment)
                        + ((state.ownership,) if state.ownership is not None else ()),
                        comparison, reviewed, override)
    decision = decide(evidence, settings.gate)
    finding = env_review.ownership if env_review is not None else None
    spec = m.manifest.environments[row.environment]
    prefix = spec.multi_model.prefix if spec.mode == "multi_model" and spec.multi_model is not None else None
    return Admission(decision, finding.how if finding else "deployed", finding.move_from if finding else None, prefix,
                     m.manifest.ownership_key(row.environment), ledger_evidence(decision, state.reviews, outcome, problems))


def ledger_evidence(decision, pr_reviews: list[dict], outcome, problems=()) -> dict:
    """What the ledger keeps beside the decision: the validation's result, for each approval
    that counted the review that gave it (when, on which commit), and the comparison's numbers."""
    approvers = set(decision.approvers)
    latest: dict[str, dict] = {}
    for r in sorted((r for r in pr_reviews if r.get("submitted_at")), key=lambda r: str(r["submitted_at"])):
        if r["user"] in approvers and r["state"] == "APPROVED":
            latest[r["user"]] = {"user": r["user"], "submitted_at": str(r["submitted_at"]), "commit": r.get("commit_id")}
    out: dict = {"approval_reviews": [latest[u] for u in decision.approvers if u in latest],
                 "validation": {"errors": [f"{p.field}: {p.message}" for p in problems if p.is_error][:20],
                                "warnings": [f"{p.field}: {p.message}" for p in problems if not p.is_error][:20]}}
    if outcome is not None:
        out["comparison"] = {
            "verdict": outcome.verdict, "key": outcome.key, "baseline_model": outcome.baseline_model,
            "n_rows": outcome.n_rows, "dataset": outcome.dataset, "candidate": outcome.candidate,
            "rows": [{k: r.get(k) for k in ("metric", "candidate", "baseline", "delta", "ci_low", "ci_high",
                                            "verdict", "gate")} for r in outcome.rows or ()],
            "contract_errors": sum(1 for c in outcome.contract if c.get("level") == "error")}
    return out


def _rollback_admission(runtime, row, prov: dict) -> Admission:
    """A rollback returns to a version the ledger shows passed the gate, on the same endpoint of
    the same environment and repository: no new evidence needed."""
    target = runtime.store.deployment(prov["rollback_of"]) if prov.get("rollback_of") else None
    record = (json.loads(target.provenance).get("gate") or {}) if target is not None else {}
    if (target is not None and record.get("verdict") == "allow" and target.status == "succeeded"
            and (target.repository, target.environment, target.endpoint, target.manifest_path)
            == (row.repository, row.environment, row.endpoint, row.manifest_path)):
        return Admission(Decision("allow", ()), claim=json.loads(target.provenance).get("claim"))
    return Admission(Decision("refuse", (Reason("reviewed", "the ledger does not show that the version to roll "
                                                "back to passed the deploy gate on this endpoint"),)))


def _teardown_problems(runtime, row, manifest, state) -> list:
    """A teardown is judged by its freezes now, and by who owns the endpoint: only the deleted
    manifest's own endpoint is torn down."""
    out = [p for p in check_policy(manifest, runtime.settings.policy, row.environment, now=utcnow()) if is_freeze(p)]
    key = manifest.ownership_key(row.environment) if row.environment in manifest.environments else row.endpoint
    owner = owner_lookup(runtime.store, runtime.settings.server.environments)(row.environment, key) \
        if row.endpoint else None
    if owner is not None and (owner.manifest_path != row.manifest_path or owner.repository != row.repository
                              or owner.environment not in (None, row.environment)):
        what = f"inference component {key.split('/', 1)[1]} on {row.endpoint}" if key != row.endpoint \
            else f"endpoint {row.endpoint}"
        out.append(Problem(row.manifest_path, 1, 1, f"environments.{row.environment}", row.endpoint,
                           f"{what} in {row.environment} belongs to {owner.manifest_path} now: "
                           "deleting this manifest does not tear it down", None, "ownership.endpoint"))
    return out


def _comparison(runtime, gh, row, m):
    """The comparison verdict for exactly this candidate, baseline, dataset and spec: from the
    cache when the pull request computed it, else computed now (batch transform: pending); and
    the outcome it came from (None without a `validation:` section)."""
    if m.manifest.validation is None:
        return Comparison("not_configured", "the manifest has no `validation:` section"), None
    settings = runtime.settings
    req = plan_comparison(m, settings=settings, live_reader=runtime.live_reader, repository=row.repository,
                          commit=row.commit_sha, pr_number=row.pr_number)
    if isinstance(req, CompareOutcome):
        if req.problem == "aws_unavailable":
            raise NotReady(req.error or "the live model cannot be read")
        return Comparison(req.verdict, "; ".join(req.notes) or (req.error or ""), req.key), req
    deps = make_deps(settings, req.environment, repo=RepoFetcher(gh.requester, row.repository, row.commit_sha),
                     cache=ComparisonCache(runtime.store), sessions=Sessions(settings))
    out = compare_manifest(req, deps)
    if out.problem == "aws_unavailable":  # AWS out of reach: decide nothing yet
        raise NotReady(out.error or out.problem)
    baseline = f"against {out.baseline_model}" if out.baseline_model else "with no live model (absolute gates)"
    detail = f"{m.manifest.metadata.name} {baseline}"
    if out.error:
        detail += f": {out.error[:300]}"
    return Comparison(out.verdict, detail, out.key), out
