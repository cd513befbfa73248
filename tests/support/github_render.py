"""JSON representations of the fake's state, shaped after GitHub's REST schemas.

Every URL is absolute and under the fake's own base URL (API and web pages alike), because
PyGithub follows the `url` fields it is given and asserts their host. The fake validates each
answer against the operation's response schema, so a field missing here fails loudly.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from .github_state import (
    Account, BranchProtection, CheckRun, Comment, Commit, CommitStatus, Deployment, DeploymentStatus, GitHubState,
    Installation, Issue, Label, PullRequest, Reaction, Repository, Review, Ruleset, TreeEntry,
)

REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")
DOCS = "https://docs.github.com/rest"


def iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, ident: int | str) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode()


class Renderer:
    def __init__(self, state: GitHubState, base_url: str):
        self.state = state
        self.base = base_url.rstrip("/")

    # -- accounts and the App ------------------------------------------------------------------

    def user(self, account: Account | None) -> dict | None:
        if account is None:
            return None
        api = f"{self.base}/users/{account.login}"
        return {
            "login": account.login, "id": account.id, "node_id": node_id("User", account.id),
            "avatar_url": f"{self.base}/avatars/{account.login}", "gravatar_id": "",
            "url": api, "html_url": f"{self.base}/{account.login}",
            "followers_url": f"{api}/followers", "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}", "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions", "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos", "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events", "type": account.type,
            "site_admin": False, "user_view_type": "public",
        }

    def app(self) -> dict:
        app = self.state.app
        return {
            "id": app.id, "slug": app.slug, "node_id": node_id("App", app.id), "client_id": f"Iv1.{app.id:016x}",
            "owner": self.user(app.owner), "name": app.name, "description": "modelbot under test",
            "external_url": f"{self.base}/apps/{app.slug}/home", "html_url": f"{self.base}/apps/{app.slug}",
            "created_at": iso(app.created_at), "updated_at": iso(app.created_at),
            "permissions": dict(app.permissions), "events": list(app.events),
            "installations_count": len(self.state.installations),
        }

    def installation(self, inst: Installation) -> dict:
        app = self.state.app
        return {
            "id": inst.id, "account": self.user(inst.account), "repository_selection": inst.repository_selection,
            "access_tokens_url": f"{self.base}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{self.base}/installation/repositories",
            "html_url": f"{self.base}/organizations/{inst.account.login}/settings/installations/{inst.id}",
            "app_id": app.id, "app_slug": app.slug, "client_id": f"Iv1.{app.id:016x}",
            "target_id": inst.account.id, "target_type": inst.account.type,
            "permissions": dict(inst.permissions), "events": list(inst.events),
            "created_at": iso(inst.created_at), "updated_at": iso(inst.created_at),
            "single_file_name": None, "has_multiple_single_files": False, "single_file_paths": [],
            "suspended_by": self.user(inst.account) if inst.suspended_at else None,
            "suspended_at": iso(inst.suspended_at),
        }

    # -- repositories --------------------------------------------------------------------------

    def repo_url(self, repo: Repository) -> str:
        return f"{self.base}/repos/{repo.full_name}"

    def html(self, repo: Repository, suffix: str = "") -> str:
        return f"{self.base}/{repo.full_name}{suffix}"

    def repository(self, repo: Repository) -> dict:
        """The `full-repository` shape (a superset of `repository`)."""
        api = self.repo_url(repo)
        host = self.base.split("://", 1)[1]
        tip = repo.commits[repo.branches[repo.default_branch]]
        open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
        data = {
            "id": repo.id, "node_id": node_id("Repository", repo.id), "name": repo.name,
            "full_name": repo.full_name, "owner": self.user(repo.owner), "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "html_url": self.html(repo), "description": None, "fork": False, "url": api,
            "clone_url": f"{self.html(repo)}.git", "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git", "svn_url": self.html(repo),
            "mirror_url": None, "homepage": None, "language": None,
            "forks_count": 0, "forks": 0, "stargazers_count": 0, "watchers_count": 0, "watchers": 0,
            "size": sum(len(c) for c in tip.files.values()) // 1024, "default_branch": repo.default_branch,
            "open_issues_count": open_issues, "open_issues": open_issues, "topics": [],
            "has_issues": True, "has_projects": False, "has_wiki": False, "has_pages": False,
            "has_downloads": False, "has_discussions": False, "archived": False, "disabled": False,
            "is_template": False, "allow_forking": False, "web_commit_signoff_required": False,
            "pushed_at": iso(tip.date), "created_at": iso(repo.created_at), "updated_at": iso(tip.date),
            "permissions": {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True},
            "license": None, "network_count": 0, "subscribers_count": 0,
        }
        for key, suffix in _REPO_URLS.items():
            data[key] = api + suffix
        return data

    # -- git -----------------------------------------------------------------------------------

    def git_user(self, commit: Commit) -> dict:
        return {"name": commit.author_name, "email": commit.author_email, "date": iso(commit.date)}

    def commit(self, repo: Repository, sha: str, files: list[dict] | None = None) -> dict:
        """The `commit` shape (repos/get-commit and lists of commits)."""
        c = repo.commits[sha]
        api = self.repo_url(repo)
        data = {
            "url": f"{api}/commits/{sha}", "sha": sha, "node_id": node_id("Commit", sha[:12]),
            "html_url": self.html(repo, f"/commit/{sha}"), "comments_url": f"{api}/commits/{sha}/comments",
            "commit": {
                "url": f"{api}/git/commits/{sha}", "author": self.git_user(c), "committer": self.git_user(c),
                "message": c.message, "comment_count": 0,
                "tree": {"sha": c.tree, "url": f"{api}/git/trees/{c.tree}"},
                "verification": _UNSIGNED,
            },
            "author": self.user(self.state.accounts.get(c.author_name)),
            "committer": self.user(self.state.accounts.get(c.author_name)),
            "parents": [{"sha": p, "url": f"{api}/commits/{p}", "html_url": self.html(repo, f"/commit/{p}")}
                        for p in c.parents],
        }
        if files is not None:
            rendered = [self.diff_entry(repo, sha, f) for f in files]
            plus = sum(f["additions"] for f in files)
            minus = sum(f["deletions"] for f in files)
            data["stats"] = {"additions": plus, "deletions": minus, "total": plus + minus}
            data["files"] = rendered
        return data

    def git_commit(self, repo: Repository, sha: str) -> dict:
        c = repo.commits[sha]
        api = self.repo_url(repo)
        return {
            "sha": sha, "node_id": node_id("Commit", sha[:12]), "url": f"{api}/git/commits/{sha}",
            "html_url": self.html(repo, f"/commit/{sha}"), "author": self.git_user(c),
            "committer": self.git_user(c), "message": c.message,
            "tree": {"sha": c.tree, "url": f"{api}/git/trees/{c.tree}"},
            "parents": [{"sha": p, "url": f"{api}/git/commits/{p}", "html_url": self.html(repo, f"/commit/{p}")}
                        for p in c.parents],
            "verification": _UNSIGNED,
        }

    def tree_entry(self, repo: Repository, path: str, entry: TreeEntry) -> dict:
        api = self.repo_url(repo)
        data = {"path": path, "mode": entry.mode, "type": entry.type, "sha": entry.sha}
        if entry.type == "blob":
            data["size"] = len(repo.blobs[entry.sha])
            data["url"] = f"{api}/git/blobs/{entry.sha}"
        else:
            data["url"] = f"{api}/git/trees/{entry.sha}"
        return data

    def git_tree(self, repo: Repository, sha: str, recursive: bool) -> dict:
        if recursive:
            entries = [self.tree_entry(repo, p, e) for p, e in repo.walk_tree(sha)]
        else:
            entries = [self.tree_entry(repo, e.name, e) for e in repo.trees[sha]]
        return {"sha": sha, "url": f"{self.repo_url(repo)}/git/trees/{sha}", "tree": entries, "truncated": False}

    def blob(self, repo: Repository, sha: str) -> dict:
        content = repo.blobs[sha]
        return {
            "sha": sha, "node_id": node_id("Blob", sha[:12]), "size": len(content),
            "url": f"{self.repo_url(repo)}/git/blobs/{sha}", "content": _b64(content), "encoding": "base64",
        }

    def content(self, repo: Repository, ref: str, path: str, entry: TreeEntry, with_content: bool = True) -> dict:
        api = self.repo_url(repo)
        kind = "file" if entry.type == "blob" else "dir"
        self_url = f"{api}/contents/{path}?ref={ref}"
        git_url = f"{api}/git/{'blobs' if kind == 'file' else 'trees'}/{entry.sha}"
        html = self.html(repo, f"/{'blob' if kind == 'file' else 'tree'}/{ref}/{path}")
        data = {
            "type": kind, "name": path.rsplit("/", 1)[-1], "path": path, "sha": entry.sha,
            "size": len(repo.blobs[entry.sha]) if kind == "file" else 0, "url": self_url,
            "git_url": git_url, "html_url": html,
            "download_url": f"{self.base}/raw/{repo.full_name}/{ref}/{path}" if kind == "file" else None,
            "_links": {"self": self_url, "git": git_url, "html": html},
        }
        if kind == "file" and with_content:
            data["content"] = _b64(repo.blobs[entry.sha], wrap=True)
            data["encoding"] = "base64"
        return data

    def diff_entry(self, repo: Repository, ref: str, change: dict) -> dict:
        api = self.repo_url(repo)
        path = change["filename"]
        data = {
            "sha": change["sha"], "filename": path, "status": change["status"],
            "additions": change["additions"], "deletions": change["deletions"], "changes": change["changes"],
            "blob_url": self.html(repo, f"/blob/{ref}/{path}"),
            "raw_url": self.html(repo, f"/raw/{ref}/{path}"),
            "contents_url": f"{api}/contents/{path}?ref={ref}",
        }
        if "previous_filename" in change:
            data["previous_filename"] = change["previous_filename"]
        return data

    def branch(self, repo: Repository, name: str) -> dict:
        api = self.repo_url(repo)
        protection = repo.protection.get(name)
        required = {"enforcement_level": "non_admins" if protection and protection.checks is not None else "off",
                    **self._required_checks(protection)}
        return {
            "name": name, "commit": self.commit(repo, repo.branches[name]),
            "_links": {"html": self.html(repo, f"/tree/{name}"), "self": f"{api}/branches/{name}"},
            "protected": protection is not None,
            "protection": {"enabled": protection is not None, "required_status_checks": required},
            "protection_url": f"{api}/branches/{name}/protection",
        }

    @staticmethod
    def _required_checks(protection: BranchProtection | None) -> dict:
        checks = (protection.checks if protection else None) or []
        return {"contexts": [c for c, _ in checks], "checks": [{"context": c, "app_id": a} for c, a in checks]}

    def status_check_policy(self, repo: Repository, branch: str) -> dict:
        """A protected branch's required status checks (`contexts` lists every check, as GitHub does)."""
        url = f"{self.repo_url(repo)}/branches/{branch}/protection/required_status_checks"
        return {"url": url, "strict": repo.protection[branch].strict, "contexts_url": f"{url}/contexts",
                **self._required_checks(repo.protection[branch])}

    def branch_rules(self, ruleset: Ruleset) -> list[dict]:
        """A ruleset's rules as the branch-rules operation lists them: its parameterless rules, then
        a required_status_checks rule when it requires checks."""
        info = {"ruleset_source_type": ruleset.source_type, "ruleset_source": ruleset.source,
                "ruleset_id": ruleset.id}
        rules = [{"type": kind, **info} for kind in ruleset.other_rules]
        if ruleset.required_checks:
            checks = [{"context": c} | ({"integration_id": i} if i is not None else {})
                      for c, i in ruleset.required_checks]
            rules.append({"type": "required_status_checks", "parameters": {
                "required_status_checks": checks, "strict_required_status_checks_policy": False,
                "do_not_enforce_on_create": False}, **info})
        return rules

    # -- issues and pull requests ----------------------------------------------------------------

    def label(self, repo: Repository, label: Label) -> dict:
        return {
            "id": label.id, "node_id": node_id("Label", label.id), "url": f"{self.repo_url(repo)}/labels/{label.name}",
            "name": label.name, "description": label.description, "color": label.color, "default": False,
        }

    def issue(self, repo: Repository, issue: Issue) -> dict:
        api = f"{self.repo_url(repo)}/issues/{issue.number}"
        comments = len(self.state.comments_on(repo, issue.number))
        data = {
            "id": issue.id, "node_id": node_id("Issue", issue.id), "url": api,
            "repository_url": self.repo_url(repo), "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments", "events_url": f"{api}/events",
            "html_url": self.html(repo, f"/{'pull' if issue.is_pull else 'issues'}/{issue.number}"),
            "number": issue.number, "state": issue.state, "title": issue.title, "body": issue.body,
            "user": self.user(issue.user), "labels": [self.label(repo, repo.labels[n]) for n in issue.labels],
            "assignee": None, "assignees": [], "milestone": None, "locked": issue.locked,
            "active_lock_reason": None, "comments": comments, "closed_at": iso(issue.closed_at),
            "created_at": iso(issue.created_at), "updated_at": iso(issue.updated_at),
            "author_association": self.association(repo, issue.user), "reactions": self.rollup(f"{api}/reactions", []),
            "timeline_url": f"{api}/timeline",
        }
        if isinstance(issue, PullRequest):
            pulls = f"{self.repo_url(repo)}/pulls/{issue.number}"
            data["draft"] = issue.draft
            data["pull_request"] = {
                "url": pulls, "html_url": self.html(repo, f"/pull/{issue.number}"),
                "diff_url": self.html(repo, f"/pull/{issue.number}.diff"),
                "patch_url": self.html(repo, f"/pull/{issue.number}.patch"), "merged_at": iso(issue.merged_at),
            }
        return data

    def pull(self, repo: Repository, pr: PullRequest) -> dict:
        api = f"{self.repo_url(repo)}/pulls/{pr.number}"
        issue_api = f"{self.repo_url(repo)}/issues/{pr.number}"
        head, base = self.state.head_sha(repo, pr), self.state.base_sha(repo, pr)
        files = self.state.pull_files(repo, pr)
        html = self.html(repo, f"/pull/{pr.number}")
        statuses = f"{self.repo_url(repo)}/statuses/{head}"
        return {
            "url": api, "id": pr.id, "node_id": node_id("PullRequest", pr.id), "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue_api,
            "commits_url": f"{api}/commits", "review_comments_url": f"{api}/comments",
            "review_comment_url": f"{self.repo_url(repo)}/pulls/comments{{/number}}",
            "comments_url": f"{issue_api}/comments", "statuses_url": statuses,
            "number": pr.number, "state": pr.state, "locked": pr.locked, "title": pr.title,
            "user": self.user(pr.user), "body": pr.body,
            "labels": [self.label(repo, repo.labels[n]) for n in pr.labels], "milestone": None,
            "active_lock_reason": None, "created_at": iso(pr.created_at), "updated_at": iso(pr.updated_at),
            "closed_at": iso(pr.closed_at), "merged_at": iso(pr.merged_at), "merge_commit_sha": pr.merge_commit_sha,
            "assignee": None, "assignees": [], "requested_reviewers": [], "requested_teams": [],
            "head": self.pr_ref(repo, pr.head_ref, head), "base": self.pr_ref(repo, pr.base_ref, base),
            "_links": {
                "self": {"href": api}, "html": {"href": html}, "issue": {"href": issue_api},
                "comments": {"href": f"{issue_api}/comments"}, "review_comments": {"href": f"{api}/comments"},
                "review_comment": {"href": f"{self.repo_url(repo)}/pulls/comments{{/number}}"},
                "commits": {"href": f"{api}/commits"}, "statuses": {"href": statuses},
            },
            "author_association": self.association(repo, pr.user), "auto_merge": None, "draft": pr.draft,
            "merged": pr.merged, "mergeable": None if pr.merged else True, "rebaseable": None if pr.merged else True,
            "mergeable_state": "unknown" if pr.merged else ("draft" if pr.draft else "clean"),
            "merged_by": self.user(pr.merged_by), "comments": len(self.state.comments_on(repo, pr.number)),
            "review_comments": 0, "maintainer_can_modify": False,
            "commits": len(self.state.pull_commits(repo, pr)),
            "additions": sum(f["additions"] for f in files), "deletions": sum(f["deletions"] for f in files),
            "changed_files": len(files),
        }

    def pr_ref(self, repo: Repository, ref: str, sha: str) -> dict:
        return {"label": f"{repo.owner.login}:{ref}", "ref": ref, "sha": sha, "user": self.user(repo.owner),
                "repo": self.repository(repo)}

    def pull_minimal(self, repo: Repository, pr: PullRequest) -> dict:
        mini = {"id": repo.id, "url": self.repo_url(repo), "name": repo.name}
        return {"id": pr.id, "number": pr.number, "url": f"{self.repo_url(repo)}/pulls/{pr.number}",
                "head": {"ref": pr.head_ref, "sha": self.state.head_sha(repo, pr), "repo": mini},
                "base": {"ref": pr.base_ref, "sha": self.state.base_sha(repo, pr), "repo": mini}}

    def review(self, repo: Repository, review: Review) -> dict:
        html = self.html(repo, f"/pull/{review.number}#pullrequestreview-{review.id}")
        pull = f"{self.repo_url(repo)}/pulls/{review.number}"
        return {
            "id": review.id, "node_id": node_id("PullRequestReview", review.id), "user": self.user(review.user),
            "body": review.body, "state": review.state, "html_url": html, "pull_request_url": pull,
            "_links": {"html": {"href": html}, "pull_request": {"href": pull}},
            "submitted_at": iso(review.submitted_at), "commit_id": review.commit_id,
            "author_association": self.association(repo, review.user),
        }

    def association(self, repo: Repository, account: Account) -> str:
        if account.login == repo.owner.login:
            return "OWNER"
        role = repo.permissions.get(account.login, "none")
        return "COLLABORATOR" if role != "none" else ("CONTRIBUTOR" if account.type == "User" else "NONE")

    def comment(self, comment: Comment) -> dict:
        repo = comment.repo
        api = f"{self.repo_url(repo)}/issues/comments/{comment.id}"
        issue = repo.issues[comment.issue_number]
        page = "pull" if issue.is_pull else "issues"
        data = {
            "id": comment.id, "node_id": node_id("IssueComment", comment.id), "url": api,
            "html_url": self.html(repo, f"/{page}/{comment.issue_number}#issuecomment-{comment.id}"),
            "body": comment.body, "user": self.user(comment.user), "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "issue_url": f"{self.repo_url(repo)}/issues/{comment.issue_number}",
            "author_association": self.association(repo, comment.user),
            "performed_via_github_app": self.app() if comment.via_app else None,
            "reactions": self.rollup(f"{api}/reactions", comment.reactions),
        }
        return data

    def rollup(self, url: str, reactions: list[Reaction]) -> dict:
        counts = {name: sum(1 for r in reactions if r.content == name) for name in REACTIONS}
        return {"url": url, "total_count": len(reactions), **counts}

    def reaction(self, reaction: Reaction) -> dict:
        return {"id": reaction.id, "node_id": node_id("Reaction", reaction.id), "user": self.user(reaction.user),
                "content": reaction.content, "created_at": iso(reaction.created_at)}

    # -- checks, statuses, deployments -----------------------------------------------------------

    def check_run(self, run: CheckRun) -> dict:
        repo = run.repo
        api = f"{self.repo_url(repo)}/check-runs/{run.id}"
        pulls = [self.pull_minimal(repo, pr) for pr in repo.issues.values()
                 if isinstance(pr, PullRequest) and pr.state == "open" and self.state.head_sha(repo, pr) == run.head_sha]
        return {
            "id": run.id, "head_sha": run.head_sha, "node_id": node_id("CheckRun", run.id),
            "external_id": run.external_id if run.external_id is not None else "", "url": api,
            "html_url": self.html(repo, f"/runs/{run.id}"),
            "details_url": run.details_url or f"{self.base}/apps/{self.state.app.slug}/home",
            "status": run.status, "conclusion": run.conclusion,
            "started_at": iso(run.started_at), "completed_at": iso(run.completed_at),
            "output": {"title": run.title, "summary": run.summary, "text": run.text,
                       "annotations_count": len(run.annotations), "annotations_url": f"{api}/annotations"},
            "name": run.name, "check_suite": {"id": run.check_suite_id}, "app": self.app(),
            "pull_requests": pulls,
        }

    def status(self, repo: Repository, status: CommitStatus) -> dict:
        return {
            "url": f"{self.repo_url(repo)}/statuses/{status.sha}",
            "avatar_url": f"{self.base}/avatars/{status.creator.login}", "id": status.id,
            "node_id": node_id("StatusContext", status.id), "state": status.state,
            "description": status.description, "target_url": status.target_url, "context": status.context,
            "created_at": iso(status.created_at), "updated_at": iso(status.created_at),
            "creator": self.user(status.creator),
        }

    def deployment(self, repo: Repository, dep: Deployment) -> dict:
        api = f"{self.repo_url(repo)}/deployments/{dep.id}"
        return {
            "url": api, "id": dep.id, "node_id": node_id("Deployment", dep.id), "sha": dep.sha, "ref": dep.ref,
            "task": dep.task, "payload": dep.payload, "original_environment": dep.environment,
            "environment": dep.environment, "description": dep.description, "creator": self.user(dep.creator),
            "created_at": iso(dep.created_at), "updated_at": iso(dep.statuses[-1].created_at if dep.statuses
                                                                  else dep.created_at),
            "statuses_url": f"{api}/statuses", "repository_url": self.repo_url(repo),
            "transient_environment": dep.transient_environment,
            "production_environment": dep.production_environment,
            "performed_via_github_app": self.app() if dep.creator.type == "Bot" else None,
        }

    def deployment_status(self, repo: Repository, dep: Deployment, status: DeploymentStatus) -> dict:
        api = f"{self.repo_url(repo)}/deployments/{dep.id}"
        data = {
            "url": f"{api}/statuses/{status.id}", "id": status.id, "node_id": node_id("DeploymentStatus", status.id),
            "state": status.state, "creator": self.user(status.creator), "description": status.description,
            "environment": status.environment, "target_url": status.target_url,
            "created_at": iso(status.created_at), "updated_at": iso(status.created_at),
            "deployment_url": api, "repository_url": self.repo_url(repo),
            "environment_url": status.environment_url, "log_url": status.log_url,
            "performed_via_github_app": self.app() if status.creator.type == "Bot" else None,
        }
        return data

    # -- authority and limits --------------------------------------------------------------------

    def collaborator_permission(self, repo: Repository, account: Account, role: str) -> dict:
        # `permission` is the legacy level (maintain reads as write, triage as read); `role_name` is exact.
        legacy = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}
        perms = {
            "admin": role == "admin", "maintain": role in ("admin", "maintain"),
            "push": role in ("admin", "maintain", "write"), "triage": role in ("admin", "maintain", "write", "triage"),
            "pull": role != "none",
        }
        user = self.user(account) | {"permissions": perms, "role_name": role}
        return {"permission": legacy.get(role, "none"), "role_name": role, "user": user}

    def team_membership(self, org: str, slug: str, login: str, role: str, state: str) -> dict:
        return {"url": f"{self.base}/organizations/{org}/team/{slug}/memberships/{login}", "role": role, "state": state}

    def rate_limit(self, limit: int, remaining: int, reset: int) -> dict:
        core = {"limit": limit, "remaining": remaining, "reset": reset, "used": limit - remaining}
        search = {"limit": 30, "remaining": 30, "reset": reset, "used": 0}
        graphql = {"limit": limit, "remaining": limit, "reset": reset, "used": 0}
        return {"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core}

    def error(self, status: int, message: str, errors: list[dict] | None = None) -> dict:
        body: dict[str, Any] = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors:
            body["errors"] = errors
        return body


_REPO_URLS = {
    "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}", "contributors_url": "/contributors",
    "deployments_url": "/deployments", "downloads_url": "/downloads", "events_url": "/events",
    "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks", "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}", "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}", "languages_url": "/languages",
    "merges_url": "/merges", "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}", "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags",
    "teams_url": "/teams", "trees_url": "/git/trees{/sha}",
}
_UNSIGNED = {"verified": False, "reason": "unsigned", "signature": None, "payload": None, "verified_at": None}


def _b64(content: bytes, wrap: bool = False) -> str:
    text = base64.b64encode(content).decode()
    if wrap:  # the contents API wraps base64 at 60 characters, like `base64` does
        text = "\n".join(text[i:i + 60] for i in range(0, len(text), 60)) + ("\n" if text else "")
    return text
