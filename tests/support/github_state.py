"""What the fake GitHub knows: accounts, the App and its installations, repositories with a small
git object model (blobs, trees, commits hashed as git does), pull requests, comments, reviews,
check runs, deployments, statuses, labels, permissions, team memberships, branch protection and
rulesets.

`GitHubState` holds the data and the helpers tests use to set it up and inspect it; it knows
nothing of HTTP (see fake_github.py) nor of JSON representations (see github_render.py).
Repository arguments accept a `Repository` or its "owner/name".
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
import hashlib
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

ROLES = ("admin", "maintain", "write", "triage", "read", "none")
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING")
DEFAULT_APP_PERMISSIONS = {
    "checks": "write", "contents": "read", "deployments": "write", "issues": "write",
    "metadata": "read", "pull_requests": "write", "statuses": "write", "members": "read",
    "administration": "read",  # to read branch protection
}
DEFAULT_APP_EVENTS = ["check_run", "check_suite", "issue_comment", "pull_request", "pull_request_review", "push"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


# --- git objects ---------------------------------------------------------------------------------


def git_hash(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


@dataclass(frozen=True)
class TreeEntry:
    name: str
    mode: str  # "100644" (blob) or "040000" (tree)
    type: str  # "blob" or "tree"
    sha: str


@dataclass
class Commit:
    sha: str
    tree: str
    parents: list[str]
    message: str
    author_name: str
    author_email: str
    date: dt.datetime
    files: dict[str, bytes]  # the whole snapshot, path -> content


# --- accounts and the App ------------------------------------------------------------------------


@dataclass
class Account:
    """A user, a bot or an organization."""

    login: str
    id: int
    type: str = "User"  # User | Bot | Organization
    name: str | None = None
    email: str | None = None


@dataclass
class App:
    id: int
    slug: str
    name: str
    owner: Account
    permissions: dict[str, str]
    events: list[str]
    created_at: dt.datetime


@dataclass
class Installation:
    id: int
    account: Account
    permissions: dict[str, str]
    events: list[str]
    repository_selection: str = "all"
    created_at: dt.datetime = field(default_factory=utcnow)
    suspended_at: dt.datetime | None = None


@dataclass
class Token:
    value: str
    installation_id: int
    expires_at: dt.datetime


# --- repository contents -------------------------------------------------------------------------


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Issue:
    number: int
    title: str
    body: str | None
    user: Account
    created_at: dt.datetime
    updated_at: dt.datetime
    state: str = "open"
    closed_at: dt.datetime | None = None
    labels: list[str] = field(default_factory=list)
    id: int = 0
    locked: bool = False

    @property
    def is_pull(self) -> bool:
        return False


@dataclass
class PullRequest(Issue):
    head_ref: str = ""
    base_ref: str = ""
    draft: bool = False
    merged: bool = False
    merged_at: dt.datetime | None = None
    merged_by: Account | None = None
    merge_commit_sha: str | None = None
    frozen_head_sha: str | None = None  # head and base once closed; live branch tips while open
    frozen_base_sha: str | None = None

    @property
    def is_pull(self) -> bool:
        return True


@dataclass
class Reaction:
    id: int
    user: Account
    content: str
    created_at: dt.datetime


@dataclass
class Comment:
    id: int
    repo: "Repository"
    issue_number: int
    body: str
    user: Account
    created_at: dt.datetime
    updated_at: dt.datetime
    via_app: bool = False
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class Review:
    id: int
    number: int
    user: Account
    state: str
    body: str
    commit_id: str
    submitted_at: dt.datetime


@dataclass
class CheckRun:
    id: int
    repo: "Repository"
    head_sha: str
    name: str
    status: str
    conclusion: str | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    details_url: str | None = None
    external_id: str | None = None
    title: str | None = None
    summary: str | None = None
    text: str | None = None
    annotations: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    check_suite_id: int = 0


@dataclass
class DeploymentStatus:
    id: int
    state: str
    creator: Account
    description: str
    environment: str
    target_url: str
    log_url: str
    environment_url: str
    created_at: dt.datetime


@dataclass
class Deployment:
    id: int
    sha: str
    ref: str
    task: str
    environment: str
    payload: Any
    description: str | None
    creator: Account
    created_at: dt.datetime
    transient_environment: bool = False
    production_environment: bool = False
    statuses: list[DeploymentStatus] = field(default_factory=list)


@dataclass
class CommitStatus:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: Account
    created_at: dt.datetime


@dataclass
class BranchProtection:
    """A classic protection rule's required status checks: (context, app_id or None for any source).
    `checks` None: the branch is protected but requires no status checks."""

    checks: list[tuple[str, int | None]] | None = None
    strict: bool = False


@dataclass
class Ruleset:
    """A branch ruleset: `include` holds branch names, fnmatch patterns, ~DEFAULT_BRANCH or ~ALL."""

    id: int
    name: str
    include: list[str]
    required_checks: list[tuple[str, int | None]]
    enforcement: str = "active"  # active | evaluate | disabled
    source_type: str = "Repository"  # Repository | Organization
    source: str = ""
    other_rules: tuple[str, ...] = ("deletion", "non_fast_forward")  # parameterless rules it also holds

    def applies_to(self, repo: "Repository", branch: str) -> bool:
        return self.enforcement == "active" and any(
            p == "~ALL" or (p == "~DEFAULT_BRANCH" and branch == repo.default_branch)
            or fnmatch.fnmatchcase(branch, p.removeprefix("refs/heads/")) for p in self.include)


@dataclass
class Repository:
    id: int
    owner: Account
    name: str
    default_branch: str
    private: bool
    installation_id: int | None
    created_at: dt.datetime
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    trees: dict[str, list[TreeEntry]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    reviews: list[Review] = field(default_factory=list)
    check_runs: list[CheckRun] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    statuses: list[CommitStatus] = field(default_factory=list)
    labels: dict[str, Label] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)  # login -> role
    protection: dict[str, BranchProtection] = field(default_factory=dict)  # branch -> classic protection
    rulesets: list[Ruleset] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    # git plumbing ------------------------------------------------------------------------------

    def resolve(self, ref: str) -> str | None:
        """Commit sha for a branch name, refs/heads/<branch>, a full or abbreviated sha."""
        ref = ref.removeprefix("refs/heads/").removeprefix("heads/")
        if ref in self.branches:
            return self.branches[ref]
        if ref in self.commits:
            return ref
        if len(ref) >= 7:
            found = [sha for sha in self.commits if sha.startswith(ref)]
            if len(found) == 1:
                return found[0]
        return None

    def ancestors(self, sha: str) -> list[str]:
        """`sha` and every commit reachable from it, newest first (breadth first)."""
        seen, order, queue = set(), [], [sha]
        while queue:
            current = queue.pop(0)
            if current in seen:
                continue
            seen.add(current)
            order.append(current)
            queue.extend(self.commits[current].parents)
        return order

    def merge_base(self, a: str, b: str) -> str | None:
        others = set(self.ancestors(b))
        return next((sha for sha in self.ancestors(a) if sha in others), None)

    def store_tree(self, files: dict[str, bytes]) -> str:
        """Write blobs and (nested) trees for a flat snapshot; the root tree's sha."""
        children: dict[str, dict] = {}
        for path, content in files.items():
            node = children
            *dirs, leaf = path.split("/")
            for d in dirs:
                node = node.setdefault(d, {})
            node[leaf] = content
        return self._write_tree(children)

    def _write_tree(self, node: dict) -> str:
        entries = []
        for name, value in node.items():
            if isinstance(value, dict):
                entries.append(TreeEntry(name, "040000", "tree", self._write_tree(value)))
            else:
                sha = git_hash("blob", value)
                self.blobs[sha] = value
                entries.append(TreeEntry(name, "100644", "blob", sha))
        # git orders entries by name, a tree's name compared as if it ended with "/"
        entries.sort(key=lambda e: e.name + ("/" if e.type == "tree" else ""))
        raw = b"".join(f"{'40000' if e.type == 'tree' else e.mode} {e.name}\0".encode() + bytes.fromhex(e.sha)
                       for e in entries)
        sha = git_hash("tree", raw)
        self.trees[sha] = entries
        return sha

    def walk_tree(self, tree_sha: str, prefix: str = "") -> Iterable[tuple[str, TreeEntry]]:
        for entry in self.trees[tree_sha]:
            path = prefix + entry.name
            yield path, entry
            if entry.type == "tree":
                yield from self.walk_tree(entry.sha, path + "/")

    def find_entry(self, commit_sha: str, path: str) -> TreeEntry | None:
        """The tree entry at `path` in a commit ('' is the root tree)."""
        path = path.strip("/")
        root = TreeEntry("", "040000", "tree", self.commits[commit_sha].tree)
        if not path:
            return root
        entry = root
        for part in path.split("/"):
            if entry.type != "tree":
                return None
            entry = next((e for e in self.trees[entry.sha] if e.name == part), None)
            if entry is None:
                return None
        return entry


def diff_files(old: dict[str, bytes], new: dict[str, bytes]) -> list[dict]:
    """GitHub-style file changes between two snapshots: status, additions, deletions.

    A removed and an added file with identical content count as one rename, as git does."""
    changes = []
    removed = {p: c for p, c in old.items() if p not in new}
    added = {p: c for p, c in new.items() if p not in old}
    for path, content in list(added.items()):
        source = next((p for p, c in removed.items() if c == content), None)
        if source is not None:
            del removed[source], added[path]
            changes.append({"filename": path, "status": "renamed", "previous_filename": source,
                            "additions": 0, "deletions": 0, "sha": git_hash("blob", content)})
    for path in sorted(set(old) | set(new)):
        if path in old and path in new and old[path] != new[path]:
            plus, minus = _line_changes(old[path], new[path])
            changes.append({"filename": path, "status": "modified", "additions": plus,
                            "deletions": minus, "sha": git_hash("blob", new[path])})
        elif path in added:
            changes.append({"filename": path, "status": "added", "additions": _lines(new[path]),
                            "deletions": 0, "sha": git_hash("blob", new[path])})
        elif path in removed:
            changes.append({"filename": path, "status": "removed", "additions": 0,
                            "deletions": _lines(old[path]), "sha": None})
    changes.sort(key=lambda c: c["filename"])
    for change in changes:
        change["changes"] = change["additions"] + change["deletions"]
    return changes


def _lines(content: bytes) -> int:
    return len(content.splitlines())


def _line_changes(old: bytes, new: bytes) -> tuple[int, int]:
    """Lines added and deleted, as a line diff counts them."""
    a, b = old.splitlines(), new.splitlines()
    plus = minus = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            minus += i2 - i1
        if tag in ("replace", "insert"):
            plus += j2 - j1
    return plus, minus


def _bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


# --- the state -----------------------------------------------------------------------------------


class GitHubState:
    """Everything the fake serves, with setup helpers. Thread-safe through `self.lock`."""

    def __init__(self, app_id: int = 4242, app_slug: str = "modelbot", app_name: str = "modelbot",
                 clock: Callable[[], dt.datetime] = utcnow):
        self.lock = threading.RLock()
        self.clock = clock
        self._app_args = (app_id, app_slug, app_name)
        self._clear()

    def _clear(self) -> None:
        app_id, app_slug, app_name = self._app_args
        self._ids = itertools.count(1000)
        self.accounts: dict[str, Account] = {}
        self.repos: dict[str, Repository] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self.comments: dict[int, Comment] = {}
        self.teams: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
        owner = self.account("modelbot-dev", type="Organization")
        self.app = App(app_id, app_slug, app_name, owner, dict(DEFAULT_APP_PERMISSIONS),
                       list(DEFAULT_APP_EVENTS), self.clock())
        self.bot = self.account(f"{app_slug}[bot]", type="Bot")

    def next_id(self) -> int:
        return next(self._ids)

    # accounts, installations ------------------------------------------------------------------

    def account(self, login: str, type: str = "User") -> Account:
        """The account named `login`, created on first use."""
        with self.lock:
            if login not in self.accounts:
                self.accounts[login] = Account(login, self.next_id(), type)
            return self.accounts[login]

    def add_installation(self, account: str, installation_id: int | None = None,
                         account_type: str = "Organization", suspended: bool = False) -> Installation:
        with self.lock:
            inst = Installation(installation_id or self.next_id(), self.account(account, account_type),
                                dict(self.app.permissions), list(self.app.events), created_at=self.clock())
            if suspended:
                inst.suspended_at = self.clock()
            self.installations[inst.id] = inst
            return inst

    def installation_for(self, account: str) -> Installation | None:
        return next((i for i in self.installations.values() if i.account.login == account), None)

    # repositories and git ---------------------------------------------------------------------

    def repo(self, repo: Repository | str) -> Repository:
        if isinstance(repo, Repository):
            return repo
        return self.repos[repo.lower()]

    def add_repo(self, full_name: str, files: dict[str, str | bytes] | None = None, *,
                 default_branch: str = "main", private: bool = True, installation_id: int | None = None,
                 owner_type: str = "Organization", author: str = "alice") -> Repository:
        """A repository with one commit of `files` on its default branch, installed for the App
        under `installation_id` (default: the owner's installation); a missing installation is created."""
        owner_login, name = full_name.split("/")
        with self.lock:
            owner = self.account(owner_login, owner_type)
            if installation_id is None:
                inst = self.installation_for(owner_login) or self.add_installation(owner_login, account_type=owner_type)
                installation_id = inst.id
            elif installation_id not in self.installations:
                self.add_installation(owner_login, installation_id, account_type=owner_type)
            repo = Repository(self.next_id(), owner, name, default_branch, private, installation_id, self.clock())
            self.repos[full_name.lower()] = repo
            self.commit(repo, default_branch, files or {"README.md": f"# {name}\n"}, message="Initial commit",
                        author=author)
            return repo

    def commit(self, repo: Repository | str, branch: str, files: dict[str, str | bytes | None], *,
               message: str = "Change files", author: str = "alice", parent: str | None = None) -> str:
        """Commit `files` (content, or None to delete) on top of `parent` (default: the branch tip,
        or the default branch for a new branch) and move `branch` to it. Returns the new sha."""
        with self.lock:
            repo = self.repo(repo)
            parent = parent or repo.branches.get(branch) or repo.branches.get(repo.default_branch)
            snapshot = dict(repo.commits[parent].files) if parent else {}
            for path, content in files.items():
                if content is None:
                    snapshot.pop(path, None)
                else:
                    snapshot[path] = _bytes(content)
            sha = self._write_commit(repo, snapshot, [parent] if parent else [], message, author)
            repo.branches[branch] = sha
            return sha

    def _write_commit(self, repo: Repository, snapshot: dict[str, bytes], parents: list[str], message: str,
                      author: str) -> str:
        tree = repo.store_tree(snapshot)
        when = self.clock()
        email = f"{author}@users.noreply.example"
        stamp = f"{author} <{email}> {int(when.timestamp())} +0000"
        raw = f"tree {tree}\n" + "".join(f"parent {p}\n" for p in parents)
        raw += f"author {stamp}\ncommitter {stamp}\n\n{message}\n"
        sha = git_hash("commit", raw.encode())
        # The same content, parents, author, second and message hash to the same commit, as in git.
        repo.commits.setdefault(sha, Commit(sha, tree, parents, message, author, email, when, snapshot))
        return sha

    def create_branch(self, repo: Repository | str, branch: str, from_ref: str | None = None) -> str:
        with self.lock:
            repo = self.repo(repo)
            sha = repo.resolve(from_ref or repo.default_branch)
            if sha is None:
                raise KeyError(f"{repo.full_name} has no ref {from_ref}")
            repo.branches[branch] = sha
            return sha

    # pull requests and issues -----------------------------------------------------------------

    def _next_number(self, repo: Repository) -> int:
        return max(repo.issues, default=0) + 1

    def open_pull_request(self, repo: Repository | str, head: str, base: str | None = None, *,
                          files: dict[str, str | bytes | None] | None = None, title: str = "Update model",
                          body: str | None = "", user: str = "alice", draft: bool = False,
                          number: int | None = None) -> PullRequest:
        """A pull request from branch `head` into `base` (default branch). With `files`, `head` is
        first created from `base` (if missing) and gets a commit changing them."""
        with self.lock:
            repo = self.repo(repo)
            base = base or repo.default_branch
            if files is not None:
                if head not in repo.branches:
                    self.create_branch(repo, head, base)
                self.commit(repo, head, files, message=title, author=user)
            if head not in repo.branches:
                raise KeyError(f"{repo.full_name} has no branch {head}; pass files= to create it")
            now = self.clock()
            pr = PullRequest(number or self._next_number(repo), title, body, self.account(user), now, now,
                             id=self.next_id(), head_ref=head, base_ref=base, draft=draft)
            repo.issues[pr.number] = pr
            return pr

    def add_issue(self, repo: Repository | str, title: str, body: str | None = "", user: str = "alice") -> Issue:
        with self.lock:
            repo = self.repo(repo)
            now = self.clock()
            issue = Issue(self._next_number(repo), title, body, self.account(user), now, now, id=self.next_id())
            repo.issues[issue.number] = issue
            return issue

    def pull(self, repo: Repository | str, number: int) -> PullRequest:
        pr = self.repo(repo).issues[number]
        if not isinstance(pr, PullRequest):
            raise KeyError(f"#{number} is an issue, not a pull request")
        return pr

    def head_sha(self, repo: Repository | str, pr: PullRequest) -> str:
        repo = self.repo(repo)
        return pr.frozen_head_sha or repo.branches[pr.head_ref]

    def base_sha(self, repo: Repository | str, pr: PullRequest) -> str:
        repo = self.repo(repo)
        return pr.frozen_base_sha or repo.branches[pr.base_ref]

    def pull_files(self, repo: Repository | str, pr: PullRequest) -> list[dict]:
        """The pull request's changes: merge base of base and head, against head (three-dot diff)."""
        repo = self.repo(repo)
        head, base = self.head_sha(repo, pr), self.base_sha(repo, pr)
        start = repo.merge_base(base, head) or base
        return diff_files(repo.commits[start].files, repo.commits[head].files)

    def pull_commits(self, repo: Repository | str, pr: PullRequest) -> list[str]:
        """Commits on head and not on base, oldest first."""
        repo = self.repo(repo)
        on_base = set(repo.ancestors(self.base_sha(repo, pr)))
        return [sha for sha in reversed(repo.ancestors(self.head_sha(repo, pr))) if sha not in on_base]

    def merge_pull_request(self, repo: Repository | str, number: int, *, merged_by: str = "maintainer",
                           message: str | None = None) -> str:
        """Merge with a merge commit on the base branch; the pull request is closed and merged."""
        with self.lock:
            repo = self.repo(repo)
            pr = self.pull(repo, number)
            head, base = self.head_sha(repo, pr), self.base_sha(repo, pr)
            start = repo.merge_base(base, head) or base
            snapshot = dict(repo.commits[base].files)
            before, after = repo.commits[start].files, repo.commits[head].files
            for path in set(before) | set(after):
                if before.get(path) != after.get(path):
                    if path in after:
                        snapshot[path] = after[path]
                    else:
                        snapshot.pop(path, None)
            sha = self._write_commit(repo, snapshot, [base, head],
                                     message or f"Merge pull request #{number} from {pr.head_ref}", merged_by)
            repo.branches[pr.base_ref] = sha
            now = self.clock()
            pr.frozen_head_sha, pr.frozen_base_sha = head, base
            pr.state, pr.merged, pr.merged_at, pr.closed_at, pr.updated_at = "closed", True, now, now, now
            pr.merged_by, pr.merge_commit_sha = self.account(merged_by), sha
            return sha

    def close_pull_request(self, repo: Repository | str, number: int) -> PullRequest:
        with self.lock:
            repo = self.repo(repo)
            pr = self.pull(repo, number)
            pr.frozen_head_sha, pr.frozen_base_sha = self.head_sha(repo, pr), self.base_sha(repo, pr)
            pr.state, pr.closed_at = "closed", self.clock()
            return pr

    # conversation -----------------------------------------------------------------------------

    def add_comment(self, repo: Repository | str, number: int, body: str, user: str = "alice") -> Comment:
        """A comment by a person (or any account) on issue or pull request `number`."""
        with self.lock:
            return self._new_comment(self.repo(repo), number, body, self.account(user), via_app=False)

    def _new_comment(self, repo: Repository, number: int, body: str, user: Account, via_app: bool) -> Comment:
        now = self.clock()
        comment = Comment(self.next_id(), repo, number, body, user, now, now, via_app=via_app)
        self.comments[comment.id] = comment
        return comment

    def comments_on(self, repo: Repository | str, number: int) -> list[Comment]:
        repo = self.repo(repo)
        return [c for c in self.comments.values() if c.repo is repo and c.issue_number == number]

    def add_review(self, repo: Repository | str, number: int, user: str, state: str = "APPROVED", *,
                   body: str = "", commit_id: str | None = None) -> Review:
        """A submitted review; `commit_id` defaults to the pull request's current head."""
        if state not in REVIEW_STATES:
            raise ValueError(f"review state must be one of {REVIEW_STATES}")
        with self.lock:
            repo = self.repo(repo)
            pr = self.pull(repo, number)
            review = Review(self.next_id(), number, self.account(user), state, body,
                            commit_id or self.head_sha(repo, pr), self.clock())
            repo.reviews.append(review)
            return review

    # authority --------------------------------------------------------------------------------

    def set_permission(self, repo: Repository | str, login: str, role: str) -> None:
        """A collaborator's role: admin, maintain, write, triage, read or none."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        with self.lock:
            self.account(login)
            self.repo(repo).permissions[login] = role

    def add_team_member(self, org: str, team_slug: str, login: str, role: str = "member",
                        state: str = "active") -> None:
        with self.lock:
            self.account(login)
            self.teams.setdefault((org.lower(), team_slug.lower()), {})[login.lower()] = (role, state)

    def set_installation_permission(self, installation_id: int, kind: str, level: str | None) -> None:
        """Grant (`read`/`write`) or, with None, withdraw one permission of an installation; e.g.
        ("administration", None) makes branch protection answer 403 as it does for such an App."""
        with self.lock:
            perms = self.installations[installation_id].permissions
            if level is None:
                perms.pop(kind, None)
            else:
                perms[kind] = level

    # branch protection and rulesets -----------------------------------------------------------

    def set_branch_protection(self, repo: Repository | str, branch: str, contexts: Iterable[str] | None = (),
                              checks: Iterable[tuple[str, int | None]] = (), strict: bool = False) -> None:
        """Protect `branch` requiring `contexts` (any source) and `checks` ((context, app_id));
        `contexts=None` and no checks: protected without required status checks."""
        with self.lock:
            required = None if contexts is None and not checks else \
                [(c, None) for c in contexts or ()] + [(c, a) for c, a in checks]
            self.repo(repo).protection[branch] = BranchProtection(required, strict)

    def remove_branch_protection(self, repo: Repository | str, branch: str) -> None:
        with self.lock:
            self.repo(repo).protection.pop(branch, None)

    def add_ruleset(self, repo: Repository | str, branch: str | Iterable[str] = "~DEFAULT_BRANCH", *,
                    required_checks: Iterable[str | tuple[str, int | None]] = (), enforcement: str = "active",
                    name: str = "protect", source_type: str = "Repository") -> Ruleset:
        """A branch ruleset over `branch` (a name, pattern, ~DEFAULT_BRANCH, ~ALL, or several) requiring
        `required_checks` (contexts, or (context, integration_id))."""
        with self.lock:
            repo = self.repo(repo)
            include = [branch] if isinstance(branch, str) else list(branch)
            checks = [(c, None) if isinstance(c, str) else tuple(c) for c in required_checks]
            source = repo.full_name if source_type == "Repository" else repo.owner.login
            ruleset = Ruleset(self.next_id(), name, include, checks, enforcement, source_type, source)
            repo.rulesets.append(ruleset)
            return ruleset

    # inspection helpers -----------------------------------------------------------------------

    def check_runs_for(self, repo: Repository | str, head_sha: str | None = None,
                       name: str | None = None) -> list[CheckRun]:
        return [r for r in self.repo(repo).check_runs
                if (head_sha is None or r.head_sha == head_sha) and (name is None or r.name == name)]

    def statuses_for(self, repo: Repository | str, sha: str) -> list[CommitStatus]:
        return [s for s in self.repo(repo).statuses if s.sha == sha]

    def labels_on(self, repo: Repository | str, number: int) -> list[str]:
        return list(self.repo(repo).issues[number].labels)
