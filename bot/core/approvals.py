"""Approval rules: has this pull request the approvals an environment needs? Pure.

Who may approve comes from the BASE branch only: the owners a manifest has at base, plus the
CODEOWNERS owners (read at base) of each changed path; a path with neither falls back to the
policy's default owners. Owners a pull request writes into its own head never count, because
the caller passes base values only. Rules, after Prow: an approval counts only if given on the
head commit or on a commit whose tree equals the head's; each changed path needs an approver
among its owners, and the distinct valid approvers must reach `required`; the author's own
approval never counts; a user's latest review decides (a later COMMENTED keeps an APPROVED, a
dismissal cancels it); CHANGES_REQUESTED from an owner blocks; a `/hold` blocks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Sequence

from bot.core.codeowners import Codeowners
from bot.core.commands import code_span
from bot.core.render import render
from bot.core.codeowners import CODEOWNERS_PATHS

Source = Literal["manifest", "codeowners", "manifest+codeowners", "default", "none"]
COUNTING_STATES = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")  # COMMENTED changes nothing


@dataclass(frozen=True)
class Review:
    """A pull-request review as GitHub lists it. `submitted_at` is None for a PENDING one."""

    user: str
    state: str
    commit_id: str | None
    submitted_at: dt.datetime | str | None


@dataclass(frozen=True)
class PathOwners:
    """Who may approve a changed path, where that came from, and who of them approved."""

    path: str
    owners: tuple[str, ...]
    source: Source
    approved_by: tuple[str, ...]


@dataclass(frozen=True)
class Need:
    """Approvals still needed: `count` more from `owners`, for `path` (None: in total)."""

    count: int
    owners: tuple[str, ...]
    path: str | None = None

    def __str__(self) -> str:
        who = " or ".join(self.owners) if self.owners else "nobody (no owners)"
        s = "" if self.count == 1 else "s"
        where = f" for {self.path}" if self.path else " in total"
        return f"{self.count} more approval{s} from {who}{where}"


@dataclass(frozen=True)
class Block:
    """An owner whose latest review requests changes."""

    user: str
    commit_id: str | None
    paths: tuple[str, ...]


@dataclass(frozen=True)
class StaleApproval:
    """An owner's approval that does not count: `author` (own pull request), `pusher` (authored
    or committed one of its commits) or `outdated` (given on a commit whose tree differs from
    the head's)."""

    user: str
    commit_id: str | None
    reason: Literal["author", "pusher", "outdated"]


@dataclass(frozen=True)
class ApprovalResult:
    environment: str
    required: int
    satisfied: bool
    approvers: tuple[str, ...]
    missing: tuple[Need, ...]
    blocked_by: tuple[Block, ...]
    stale: tuple[StaleApproval, ...]
    reasons: tuple[str, ...]           # Markdown: values in code spans, nobody is mentioned
    held: bool = False
    paths: tuple[PathOwners, ...] = ()
    not_owners: tuple[str, ...] = ()   # valid approvals from people who own none of the paths
    head_sha: str = ""


def display_owner(owner: str) -> str:
    """`@org/team` for a team, `alice` for a user, an e-mail address as written."""
    kind, key = _owner_key(owner)
    return f"@{key}" if kind == "team" else owner.strip() if kind == "email" else owner.strip().lstrip("@")


def _owner_key(owner: str) -> tuple[Literal["user", "team", "email"], str]:
    raw = owner.strip()
    if "@" in raw.lstrip("@"):
        return "email", raw.lower()
    key = raw.lstrip("@").lower()
    return ("team" if "/" in key else "user"), key


def _when(value: dt.datetime | str | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def evaluate(*, environment: str, required: int, changed_paths: Iterable[str],
             base_manifest_owners: Mapping[str, Sequence[str]], codeowners: Codeowners | None,
             reviews: Iterable[Review], author: str, head_sha: str,
             tree_unchanged_since: Iterable[str] = (),
             team_members: Mapping[str, Iterable[str]] | None = None, held: bool = False,
             default_owners: Sequence[str] = (), no_default: Iterable[str] = (),
             pushers: Iterable[str] = ()) -> ApprovalResult:
    """Whether the pull request's approvals satisfy `environment`.

    `changed_paths`: the paths that need an owner's approval (the changed manifests, and any
    other changed file whose owners must agree). `base_manifest_owners`: for each manifest that
    exists at base, its `metadata.owners` there. `codeowners`: the CODEOWNERS file at base.
    `tree_unchanged_since`: commits whose tree equals the head's (approvals on them still
    count). `team_members`: members of each team among the owners (`org/slug` -> logins).
    `required`: the number of distinct approvers the environment needs (the caller takes the
    larger of the manifest's `approvals` and the policy's `min_approvals`); with 0, no approval
    is needed but an owner's CHANGES_REQUESTED and a hold still block. `no_default`: paths the
    default owners never approve (a deleted manifest: only its own owners at base may).
    """
    no_default = set(no_default)
    pusher_keys = {p.lower() for p in pushers} - {author.lower()}
    author_key = author.lower()
    valid_commits = {head_sha.lower(), *(c.lower() for c in tree_unchanged_since)}
    members = {_owner_key(t)[1]: {u.lower() for u in users} for t, users in (team_members or {}).items()}
    manifest_owners = dict(base_manifest_owners)
    reasons: list[str] = []

    # Who may approve each path (base values only).
    paths: list[tuple[str, tuple[str, ...], Source]] = []
    for path in dict.fromkeys(changed_paths):
        from_manifest = tuple(manifest_owners.get(path, ()))
        from_codeowners = codeowners.owners_for(path) if codeowners is not None else ()
        owners = _dedupe([*from_manifest, *from_codeowners])
        source: Source
        if from_manifest and from_codeowners:
            source = "manifest+codeowners"
        elif from_manifest:
            source = "manifest"
        elif from_codeowners:
            source = "codeowners"
            if path not in manifest_owners:
                reasons.append(f"{code_span(path)} has no owners at base (a new manifest or not a manifest): "
                               "its CODEOWNERS owners at base approve it")
        elif default_owners and path not in no_default:
            owners, source = _dedupe(default_owners), "default"
            reasons.append(f"{code_span(path)} has no owners at base and no CODEOWNERS rule: the policy's "
                           "default owners (permissions.default_owners) approve it")
        else:
            source = "none"
            reasons.append(f"{code_span(path)} has no owners at base, no CODEOWNERS rule and the policy "
                           "names no default owners (permissions.default_owners): nobody can "
                           "approve it")
        paths.append((path, owners, source))

    def owns(user_key: str, owners: Sequence[str]) -> bool:
        for owner in owners:
            kind, key = _owner_key(owner)
            if (kind == "user" and key == user_key) or (kind == "team" and user_key in members.get(key, ())):
                return True
        return False

    every_owner = _dedupe([o for _, owners, _ in paths for o in owners])
    for owner in every_owner:
        kind, key = _owner_key(owner)
        if kind == "team" and key not in members:
            reasons.append(f"the members of {code_span('@' + key)} are unknown: their approvals cannot count")
        elif kind == "email":
            reasons.append(f"owner {code_span(owner)} is an e-mail address: modelbot cannot tie it to a "
                           "reviewer")

    # Each user's latest review that changes their state; COMMENTED and PENDING change nothing.
    ordered = sorted(((when, i, r) for i, r in enumerate(reviews)
                      if (when := _when(r.submitted_at)) is not None and r.state.upper() in COUNTING_STATES),
                     key=lambda t: (t[0], t[1]))
    latest: dict[str, Review] = {}
    for _, _, r in ordered:
        latest.pop(r.user.lower(), None)
        latest[r.user.lower()] = r   # re-inserted: dict order is the order of latest reviews

    approvers: list[str] = []
    approver_keys: set[str] = set()
    stale: list[StaleApproval] = []
    blocked: list[Block] = []
    not_owners: list[str] = []
    for key, r in latest.items():
        state = r.state.upper()
        owned = tuple(p for p, owners, _ in paths if owns(key, owners))
        if key == author_key or (key in pusher_keys and state == "APPROVED"):
            if state == "APPROVED":  # nobody approves their own change: the author, or who pushed to it
                stale.append(StaleApproval(r.user, r.commit_id, "author" if key == author_key else "pusher"))
            continue
        if state == "APPROVED":
            if not owned:
                if (r.commit_id or "").lower() in valid_commits:
                    not_owners.append(r.user)
            elif (r.commit_id or "").lower() in valid_commits:
                approvers.append(r.user)
                approver_keys.add(key)
            else:
                stale.append(StaleApproval(r.user, r.commit_id, "outdated"))
        elif state == "CHANGES_REQUESTED":
            if owned:
                blocked.append(Block(r.user, r.commit_id, owned))
            else:
                reasons.append(f"{code_span(r.user)} requested changes but owns none of the changed paths: "
                               "this does not block")

    path_results = tuple(PathOwners(p, tuple(display_owner(o) for o in owners), source,
                                    tuple(a for a in approvers if owns(a.lower(), owners)))
                         for p, owners, source in paths)
    missing: list[Need] = []
    if required > 0:
        for p in path_results:
            if not p.approved_by:
                missing.append(Need(1, p.owners, p.path))
        if len(approvers) < required:
            missing.append(Need(required - len(approvers),
                                tuple(display_owner(o) for o in every_owner), None))
    if held:
        reasons.append("on hold: a `/hold` blocks deploys until someone comments `/unhold`")
    if blocked:
        reasons.append("changes requested by " + ", ".join(code_span(b.user) for b in blocked))
    satisfied = not held and not blocked and not missing
    return ApprovalResult(environment, required, satisfied, tuple(approvers), tuple(missing),
                          tuple(blocked), tuple(stale), tuple(reasons), held, path_results,
                          tuple(not_owners), head_sha)


OWNERSHIP_LABEL = "CODEOWNERS"
MAX_OWNERSHIP_PATHS = 200


def ownership_changes(base: Codeowners | None, head: Codeowners | None, paths: Iterable[str],
                      changed_files: Iterable[str] = ()) -> tuple[str, ...]:
    """The paths whose ownership a pull request changes by editing CODEOWNERS: of `paths` (the
    files at base and those the pull request adds), those whose owners at head differ from
    their owners at base — one path per distinct set of base owners (each such set must
    approve once), at most MAX_OWNERSHIP_PATHS — and the CODEOWNERS files it changes."""
    base, head = base or Codeowners(), head or Codeowners()
    seen: dict[tuple[str, ...], str] = {}
    for path in paths:
        before = base.owners_for(path)
        key = tuple(sorted(_owner_key(o)[1] for o in before))
        if key == tuple(sorted(_owner_key(o)[1] for o in head.owners_for(path))):  # order is no change
            continue
        if key not in seen:
            seen[key] = path
            if len(seen) >= MAX_OWNERSHIP_PATHS:
                break
    files = [f for f in dict.fromkeys(changed_files) if f in CODEOWNERS_PATHS]
    return tuple(dict.fromkeys([*files, *seen.values()]))


def _dedupe(owners: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for owner in owners:
        seen.setdefault(_owner_key(owner)[1], owner)
    return tuple(seen.values())


def render_approvals(results: Sequence[ApprovalResult]) -> str:
    """The approvals section of the pull-request report: one block per environment."""
    return render("commands/approvals.md.j2", results=list(results), code=code_span)
