"""Approvals for a pull request: inputs gathered from the BASE branch and GitHub, rules in
`bot.core.approvals`, the verdict published as the `modelbot/approval` check run and report section.

Required approvals per environment are the largest of the manifest's `approvals` at base, at
head (a PR may raise but never lower its own bar) and the policy's `min_approvals`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.approvals import OWNERSHIP_LABEL, Review, evaluate
from bot.core.codeowners import CODEOWNERS_PATHS, parse_codeowners
from bot.core.manifest import load_manifest
from bot.core.render import render
from bot.core.report import CheckOutput

APPROVAL_CHECK = "modelbot/approval"


@dataclass(frozen=True)
class ApprovalInputs:
    base_owners: dict[str, tuple[str, ...]]      # manifest path -> owners at base
    base_required: dict[tuple[str, str], int]    # (path, env) -> approvals at base
    codeowners: object                           # bot.core.codeowners.Codeowners at base, or None


def moved_from(result) -> list[tuple[str, str]]:
    """(environment, owning manifest) of every reviewed move (`move_endpoint_from`) in the review."""
    return [(e.environment, e.ownership.move_from) for m in result.manifests for e in m.environments
            if e.ownership is not None and e.ownership.move_from]


def base_inputs(base_files: dict[str, bytes | None], manifest_paths: list[str]) -> ApprovalInputs:
    """Owners and required approvals as the base branch has them, and CODEOWNERS at base."""
    owners, required = {}, {}
    for path in manifest_paths:
        text = base_files.get(path)
        if text is None:
            continue
        loaded = load_manifest(path, text)
        if loaded.manifest is None:
            continue
        owners[path] = tuple(loaded.manifest.metadata.owners)
        for env, spec in loaded.manifest.environments.items():
            required[(path, env)] = spec.approvals
    codeowners = None
    for candidate in CODEOWNERS_PATHS:
        if base_files.get(candidate) is not None:
            codeowners = parse_codeowners(base_files[candidate], path=candidate)
            break
    return ApprovalInputs(owners, required, codeowners)


def evaluate_pull(result, inputs: ApprovalInputs, *, reviews: list[dict], author: str, head_sha: str,
                  unchanged_tree_commits: set[str], team_members: dict[str, set[str]], held: bool,
                  policy, default_owners=(), pushers=()) -> list:
    """One ApprovalResult per environment the changed manifests deploy to."""
    per_env: dict[str, list[str]] = {}
    required: dict[str, int] = {}
    removed = {m.path for m in result.manifests if m.status == "removed"}
    # The default owners never approve on behalf of a manifest whose endpoint is moved away or
    # renamed away: only its own owners at base (manifest or CODEOWNERS) may.
    removed |= {p for _, p in moved_from(result)}
    removed |= {m.previous_path for m in result.manifests if m.status == "renamed" and m.previous_path}
    for m in result.manifests:  # a rename hands the manifest (and its endpoints) on: its base owners agree
        if m.status == "renamed" and m.previous_path and m.manifest is not None:
            for env in m.manifest.environments:
                per_env.setdefault(env, []).append(m.previous_path)
    for env, owner_path in moved_from(result):
        # A reviewed move: the owners of the manifest that owns the endpoint (at base) must agree.
        per_env.setdefault(env, []).append(owner_path)
        required[env] = max(required.get(env, 0), 1)
    for m in result.manifests:
        if m.manifest is None:
            continue
        for env, spec in m.manifest.environments.items():
            per_env.setdefault(env, []).append(m.path)
            env_policy = policy.environments.get(env)
            floor = env_policy.min_approvals if env_policy else 0
            if m.status == "removed":  # a deleted manifest tears its endpoint down: never without approval
                floor = max(floor, 1)
            required[env] = max(required.get(env, 0), spec.approvals, floor,
                                inputs.base_required.get((m.path, env), 0))
    for m in result.manifests:  # removed or unreadable at head: the base's environments count
        if m.manifest is None:
            for (path, env), n in inputs.base_required.items():
                if path == m.path:
                    per_env.setdefault(env, []).append(path)
                    # Deleting a manifest tears its endpoint down: that always needs an approval.
                    floor = 1 if m.status == "removed" else 0
                    required[env] = max(required.get(env, 0), n, floor)
    revs = [Review(r["user"], r["state"], r["commit_id"], r["submitted_at"]) for r in reviews]
    return [evaluate(environment=env, required=required[env], changed_paths=paths,
                     base_manifest_owners=inputs.base_owners, codeowners=inputs.codeowners, reviews=revs,
                     author=author, head_sha=head_sha, tree_unchanged_since=unchanged_tree_commits,
                     team_members=team_members, held=held, default_owners=default_owners,
                     no_default=removed, pushers=pushers)  # a deleted manifest: only its own owners at base
            for env, paths in per_env.items()]


def evaluate_ownership(paths: tuple[str, ...], inputs: ApprovalInputs, *, reviews: list[dict], author: str,
                       head_sha: str, unchanged_tree_commits: set[str], team_members: dict[str, set[str]],
                       held: bool, default_owners=(), pushers=()):
    """The approval a CODEOWNERS change needs: the base owners of each path whose ownership it
    changes (`bot.core.approvals.ownership_changes`); None when it changes nobody's ownership."""
    if not paths:
        return None
    revs = [Review(r["user"], r["state"], r["commit_id"], r["submitted_at"]) for r in reviews]
    return evaluate(environment=OWNERSHIP_LABEL, required=1, changed_paths=paths, base_manifest_owners={},
                    codeowners=inputs.codeowners, reviews=revs, author=author, head_sha=head_sha,
                    tree_unchanged_since=unchanged_tree_commits, team_members=team_members, held=held,
                    default_owners=default_owners, pushers=pushers)


def team_owners(inputs: ApprovalInputs, paths: list[str], default_owners=()) -> set[str]:
    teams = set()
    for path in paths:
        owners = list(inputs.base_owners.get(path, ()))
        if inputs.codeowners is not None:
            owners += list(inputs.codeowners.owners_for(path))
        owners += list(default_owners)
        teams.update(o.lstrip("@") for o in owners if "/" in o)
    return teams


def unapprovable(result) -> list[str]:
    """Changed manifests no approval can be judged for: they do not load at head (and are not
    being deleted). The approval check never passes while there is one."""
    return [m.path for m in result.manifests if m.manifest is None and m.status != "removed"]


def approval_check(results: list, touches_targets: bool, unreadable: list[str] = ()):
    """`modelbot/approval`: success only when something was judged and all of it is approved.
    A pull request that touches manifests or ownership but yields no result, or has a changed
    manifest that does not load, fails: approval is never vacuous."""
    unreadable = list(unreadable)
    if not touches_targets and not results and not unreadable:
        conclusion = "success"
    else:
        conclusion = "success" if results and not unreadable and all(r.satisfied for r in results) else "failure"
    title = render("checks/approval_title.txt.j2", results=results, touches=touches_targets or bool(results),
                   unreadable=unreadable, conclusion=conclusion).strip()
    summary = render("checks/approval_summary.md.j2", results=results, touches=touches_targets or bool(results),
                     unreadable=unreadable)
    return CheckOutput(conclusion, title, summary, "")
