"""Pull requests, reviews, permissions and reactions: thin reads and writes over the requester."""

from __future__ import annotations

from github import GithubException
from github.PaginatedList import PaginatedList
from github.PullRequestReview import PullRequestReview


def get_pull(requester, full_name: str, number: int) -> dict:
    _, data = requester.requestJsonAndCheck("GET", f"/repos/{full_name}/pulls/{number}")
    return data


def reviews(requester, full_name: str, number: int) -> list[dict]:
    items = PaginatedList(PullRequestReview, requester, f"/repos/{full_name}/pulls/{number}/reviews",
                          {"per_page": 100})
    return [{"user": r.user.login if r.user else "", "state": r.state, "commit_id": r.commit_id,
             "submitted_at": r.raw_data.get("submitted_at")} for r in items]


def commit_trees(requester, full_name: str, number: int) -> dict[str, str]:
    """Each commit of the pull request (up to 250, GitHub's limit here) -> its tree sha."""
    return pull_commits(requester, full_name, number)[0]


def pull_commits(requester, full_name: str, number: int) -> tuple[dict[str, str], set[str]]:
    """The pull request's commits (up to 250, GitHub's limit here): each commit's tree sha, and
    the GitHub logins that authored or committed any of them (their approvals never count:
    nobody approves their own change)."""
    trees: dict[str, str] = {}
    people: set[str] = set()
    page = 1
    while True:
        _, data = requester.requestJsonAndCheck("GET", f"/repos/{full_name}/pulls/{number}/commits",
                                                parameters={"per_page": 100, "page": page})
        for c in data:
            trees[c["sha"]] = c["commit"]["tree"]["sha"]
            for who in (c.get("author"), c.get("committer")):
                if who and who.get("login") and who.get("type") != "Bot" and who["login"] != "web-flow":
                    people.add(who["login"])
        if len(data) < 100 or page >= 3:
            return trees, people
        page += 1


def role_of(requester, full_name: str, login: str) -> str | None:
    """The user's repository role (`role_name`: read, triage, write, maintain, admin or custom)."""
    try:
        _, data = requester.requestJsonAndCheck("GET", f"/repos/{full_name}/collaborators/{login}/permission")
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise
    return data.get("role_name") or data.get("permission")


def is_team_member(requester, team: str, login: str) -> bool:
    """Whether `login` is an active member of `team` (`org/slug`); False when GitHub will not say."""
    return team_membership(requester, team, login) is True


def team_membership(requester, team: str, login: str) -> bool | None:
    """True or False when GitHub says (404: not a member), None when it will not tell (403: the
    App may not read the team, a secret team, a secondary rate limit). Callers fail closed."""
    org, _, slug = team.lstrip("@").partition("/")
    try:
        _, data = requester.requestJsonAndCheck("GET", f"/orgs/{org}/teams/{slug}/memberships/{login}")
    except GithubException as exc:
        if exc.status == 404:
            return False
        if exc.status == 403:
            return None
        raise
    return data.get("state") == "active"


def react(requester, full_name: str, comment_id: int, content: str) -> None:
    """Add a reaction to an issue comment (GitHub answers 200 when it is already there)."""
    requester.requestJsonAndCheck("POST", f"/repos/{full_name}/issues/comments/{comment_id}/reactions",
                                  input={"content": content})


def pulls_of_commit(requester, full_name: str, sha: str) -> list[dict]:
    """The pull requests GitHub associates with a commit (its head, or its merge commit)."""
    _, pulls = requester.requestJsonAndCheck("GET", f"/repos/{full_name}/commits/{sha}/pulls")
    return list(pulls or [])


def commit_parents(requester, full_name: str, sha: str) -> list[str]:
    """The parents of a commit, first parent first."""
    _, commit = requester.requestJsonAndCheck("GET", f"/repos/{full_name}/git/commits/{sha}")
    return [p["sha"] for p in commit.get("parents") or []]
