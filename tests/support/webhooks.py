"""Webhook deliveries for tests, built from GitHub's real example payloads and held against
GitHub's webhook schemas (tests/contract/webhook-examples.subset.json, webhooks.subset.json).

- `payload(event, action, **overrides)`: an example that validates against the current schema,
  deep-merged with `overrides`.
- builders that fill repository, pull request, head sha, users and installation consistently
  from their arguments, including variants the examples lack (a merged pull request, a comment
  on a pull request, an approving review); `pr_args(state, repo, number)` reads those arguments
  from a FakeGitHub so a delivery matches what the fake serves.
- `validate(event, action, payload)`: raises `InvalidPayload` naming every failure.
- `signed_headers(body, secret, event)`: the headers GitHub sends with a delivery.

Every builder validates what it returns. The schemas are JSON Schema 2020-12 (OpenAPI 3.1) and
formats (date-time, email...) are asserted.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import hmac
import json
import uuid
from typing import Any, Sequence

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from bot.app.intake import sign

from .github_contract import load_contract_json

REPO = "acme/models"
INSTALLATION_ID = 42
APP_ID = 4242  # FakeGitHub's default App id
APP_SLUG = "modelbot"
HOOK_ID = 5150
HEAD_SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
BASE_SHA = "9049f1265b7d61be4a8904a9a27120d2064dab3b"
_DOC_URI = "urn:github-webhooks"


class InvalidPayload(ValueError):
    """A payload that does not match GitHub's webhook schema; the message lists each failure."""


# --- the contract --------------------------------------------------------------------------------


def event_actions() -> dict[str, list[str | None]]:
    """The events kept in the subset and their actions (None: the event has no action)."""
    return load_contract_json("webhooks.subset.json")["x-event-actions"]


def schema_name(event: str, action: str | None) -> str:
    """pull_request/closed -> webhook-pull-request-closed, push -> webhook-push."""
    return "webhook-" + event.replace("_", "-") + (f"-{action.replace('_', '-')}" if action else "")


@functools.cache
def _validator(event: str, action: str | None) -> Draft202012Validator:
    doc = load_contract_json("webhooks.subset.json")
    name = schema_name(event, action)
    if name not in doc["components"]["schemas"]:
        known = sorted(k.removeprefix("webhook-") for k in doc["webhooks"])
        raise KeyError(f"no schema {name} in webhooks.subset.json (known: {', '.join(known)}); "
                       f"add the action to WEBHOOK_ACTIONS in tests/contract/extract.py")
    registry = Registry().with_resource(_DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{_DOC_URI}#/components/schemas/{name}"}, registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(event: str, action: str | None, payload: dict) -> list[str]:
    """Readable failures of `payload` against the schema of `event`/`action` (empty: valid)."""
    found = sorted(_validator(event, action).iter_errors(payload), key=lambda e: e.json_path)
    out = []
    for error in found:
        message = error.message if len(error.message) < 200 else error.message[:197] + "..."
        if error.validator in ("oneOf", "anyOf") and error.context:
            message = f"matches no {error.validator} alternative: " + "; ".join(
                f"{e.json_path}: {e.message[:100]}" for e in error.context[:3])
        out.append(f"{error.json_path}: {message}")
    return out


def validate(event: str, action: str | None, payload: dict) -> dict:
    """`payload` if it matches components/schemas/webhook-<event>-<action>; else InvalidPayload."""
    found = errors(event, action, payload)
    if found:
        raise InvalidPayload(f"{event}{'.' + action if action else ''} payload breaks {schema_name(event, action)}:\n  "
                             + "\n  ".join(found))
    return payload


def examples(event: str, action: str | None = None) -> list[dict]:
    """Copies of the real example deliveries of `event` (and `action`), oldest first."""
    for item in load_contract_json("webhook-examples.subset.json")["events"]:
        if item["name"] == event:
            return [copy.deepcopy(e) for e in item["examples"] if e.get("action") == action]
    raise KeyError(f"no examples of {event} in webhook-examples.subset.json")


# Fields GitHub added to deliveries after some examples were recorded. Each fills a field the
# current schema requires, the way a current delivery carries it; nothing present is changed
# except the installation timestamps, which old deliveries sent as epoch seconds.
def bring_up_to_date(node: Any) -> Any:
    if isinstance(node, dict):
        if {"full_name", "owner", "private"} <= node.keys():  # a repository
            node.setdefault("has_discussions", False)
            node.setdefault("topics", [])
            node.setdefault("visibility", "private" if node["private"] else "public")
            node.setdefault("disabled", False)
        if {"app_id", "target_type", "access_tokens_url"} <= node.keys():  # an installation
            for key in ("created_at", "updated_at"):
                if isinstance(node.get(key), int):
                    node[key] = _iso(dt.datetime.fromtimestamp(node[key], dt.timezone.utc))
            node.setdefault("app_slug", APP_SLUG)
            node.setdefault("suspended_by", None)
            node.setdefault("suspended_at", None)
        for value in node.values():
            bring_up_to_date(value)
    elif isinstance(node, list):
        for value in node:
            bring_up_to_date(value)
    return node


def payload(event: str, action: str | None = None, **overrides: Any) -> dict:
    """A delivery of `event`/`action` from GitHub's examples, deep-merged with `overrides`.

    Takes the first example that validates as recorded; failing that, the first that validates
    once `bring_up_to_date`; failing that, a valid example of another action of the same event
    relabelled with `action` (the schemas of one event share their objects). Raises
    InvalidPayload if none fits, or if the overrides break the schema."""
    if (event, action) in BUILT_FROM_SCHEMA:  # GitHub publishes no example of these
        return validate(event, action, deep_merge(BUILT_FROM_SCHEMA[(event, action)](), overrides))
    base = _pick_example(event, action)
    return validate(event, action, deep_merge(base, overrides))


# What a relabelled example needs beside `action` for the target schema (fields only that action has).
RELABEL_EXTRAS: dict[tuple[str, str | None], dict] = {
    ("pull_request", "edited"): {"changes": {"title": {"from": "Previous title"}}},
    ("pull_request", "synchronize"): {"before": BASE_SHA, "after": HEAD_SHA},
    ("pull_request_review", "edited"): {"changes": {"body": {"from": ""}}},
}


@functools.cache
def _example_for(event: str, action: str | None) -> str:
    candidates = examples(event, action)
    for example in candidates:
        if not errors(event, action, example):
            return json.dumps(example)
    for example in candidates:
        if not errors(event, action, bring_up_to_date(example)):
            return json.dumps(example)
    for item in load_contract_json("webhook-examples.subset.json")["events"]:
        if item["name"] != event:
            continue
        for other in item["examples"]:
            if other.get("action") == action:
                continue
            relabelled = deep_merge(bring_up_to_date(copy.deepcopy(other)), RELABEL_EXTRAS.get((event, action), {}))
            relabelled["action"] = action
            if not errors(event, action, relabelled):
                return json.dumps(relabelled)
    detail = "\n".join(f"example {i}: " + "; ".join(errors(event, action, e)[:5]) for i, e in enumerate(candidates))
    raise InvalidPayload(f"no example of {event}.{action} validates against {schema_name(event, action)}, "
                         f"even brought up to date or relabelled from another action\n{detail}")


def _pick_example(event: str, action: str | None) -> dict:
    return json.loads(_example_for(event, action))


def with_installation(event: str, event_payload: dict, installation_id: int = INSTALLATION_ID) -> dict:
    """A copy of `event_payload` carrying `installation` as an App's deliveries do (only some examples do)."""
    out = deep_merge(event_payload, {"installation": installation_ref(installation_id)})
    return validate(event, out.get("action"), out)


def deep_merge(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` applied: nested dicts merge, anything else (lists too) replaces."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# --- consistent pieces ---------------------------------------------------------------------------


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> str:
    return _iso(dt.datetime.now(dt.timezone.utc))


def _id(text: str) -> int:
    """A stable positive id derived from a name, so the same login always has the same id."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def user(login: str, type: str = "User") -> dict:
    """A `simple-user` as deliveries carry it."""
    api = f"https://api.github.com/users/{login}"
    return {
        "login": login, "id": _id(login), "node_id": f"U_{_id(login)}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{_id(login)}?v=4", "gravatar_id": "",
        "url": api, "html_url": f"https://github.com/{login}", "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}", "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs", "repos_url": f"{api}/repos", "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events", "type": type, "user_view_type": "public",
        "site_admin": False,
    }


def repository_fields(full_name: str, private: bool = True) -> dict:
    """Overrides that make a repository object of an example name `full_name` throughout."""
    owner, name = full_name.split("/")
    api = f"https://api.github.com/repos/{full_name}"
    return {"id": _id(full_name), "node_id": f"R_{_id(full_name)}", "name": name, "full_name": full_name,
            "owner": user(owner, "Organization"), "private": private,
            "visibility": "private" if private else "public", "html_url": f"https://github.com/{full_name}",
            "url": api, "clone_url": f"https://github.com/{full_name}.git", "default_branch": "main"}


def installation_ref(installation_id: int) -> dict:
    return {"id": installation_id, "node_id": f"MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u{installation_id}"}


def _pull_fields(repo: str, number: int, *, head_sha: str, base_sha: str, head_ref: str, base_ref: str,
                 user_login: str, title: str, body: str | None, draft: bool, state: str = "open") -> dict:
    owner = repo.split("/")[0]
    api = f"https://api.github.com/repos/{repo}"
    html = f"https://github.com/{repo}/pull/{number}"
    return {
        "number": number, "id": _id(f"{repo}#{number}"), "node_id": f"PR_{_id(f'{repo}#{number}')}",
        "url": f"{api}/pulls/{number}", "html_url": html, "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
        "issue_url": f"{api}/issues/{number}", "comments_url": f"{api}/issues/{number}/comments",
        "commits_url": f"{api}/pulls/{number}/commits", "statuses_url": f"{api}/statuses/{head_sha}",
        "review_comments_url": f"{api}/pulls/{number}/comments", "title": title, "body": body, "draft": draft,
        "state": state, "user": user(user_login),
        "head": {"label": f"{owner}:{head_ref}", "ref": head_ref, "sha": head_sha, "user": user(owner, "Organization"),
                 "repo": repository_fields(repo)},
        "base": {"label": f"{owner}:{base_ref}", "ref": base_ref, "sha": base_sha, "user": user(owner, "Organization"),
                 "repo": repository_fields(repo)},
        "_links": {"self": {"href": f"{api}/pulls/{number}"}, "html": {"href": html},
                   "issue": {"href": f"{api}/issues/{number}"}, "comments": {"href": f"{api}/issues/{number}/comments"},
                   "commits": {"href": f"{api}/pulls/{number}/commits"},
                   "statuses": {"href": f"{api}/statuses/{head_sha}"}},
    }


def pr_args(state: Any, repo: Any, number: int) -> dict:
    """Builder arguments describing pull request `number` as a FakeGitHub (GitHubState) holds it."""
    r = state.repo(repo)
    pr = state.pull(r, number)
    return {"repo": r.full_name, "number": number, "head_sha": state.head_sha(r, pr),
            "base_sha": state.base_sha(r, pr), "head_ref": pr.head_ref, "base_ref": pr.base_ref,
            "user": pr.user.login, "title": pr.title, "draft": pr.draft, "installation_id": r.installation_id}


# --- builders ------------------------------------------------------------------------------------


def ping(*, hook_id: int = HOOK_ID, app_id: int = APP_ID, installation_id: int = INSTALLATION_ID,
         **overrides: Any) -> dict:
    """The delivery GitHub sends when an App's webhook is created."""
    base = {"hook_id": hook_id, "hook": {"id": hook_id, "type": "App", "app_id": app_id},
            "installation": installation_ref(installation_id)}
    return payload("ping", None, **deep_merge(base, overrides))


def installation(action: str = "created", *, account: str = "acme", installation_id: int = INSTALLATION_ID,
                 repositories: Sequence[str] = (REPO,), app_id: int = APP_ID, sender: str = "alice",
                 **overrides: Any) -> dict:
    base = {
        "installation": {"id": installation_id, "account": user(account, "Organization"), "app_id": app_id,
                         "app_slug": APP_SLUG, "target_id": _id(account), "target_type": "Organization",
                         "access_tokens_url": f"https://api.github.com/app/installations/{installation_id}/access_tokens"},
        "repositories": [_short_repo(r) for r in repositories], "sender": user(sender),
    }
    return payload("installation", action, **deep_merge(base, overrides))


def installation_repositories(action: str = "added", *, account: str = "acme",
                              installation_id: int = INSTALLATION_ID, repositories: Sequence[str] = (REPO,),
                              app_id: int = APP_ID, sender: str = "alice", **overrides: Any) -> dict:
    key = "repositories_added" if action == "added" else "repositories_removed"
    other = "repositories_removed" if action == "added" else "repositories_added"
    base = {
        "installation": {"id": installation_id, "account": user(account, "Organization"), "app_id": app_id,
                         "app_slug": APP_SLUG, "target_id": _id(account), "target_type": "Organization"},
        key: [_short_repo(r) for r in repositories], other: [], "repository_selection": "selected",
        "requester": None, "sender": user(sender),
    }
    return payload("installation_repositories", action, **deep_merge(base, overrides))


def _short_repo(full_name: str) -> dict:
    return {"id": _id(full_name), "node_id": f"R_{_id(full_name)}", "name": full_name.split("/")[1],
            "full_name": full_name, "private": True}


def pull_request(action: str = "opened", *, repo: str = REPO, number: int = 1, head_sha: str = HEAD_SHA,
                 base_sha: str = BASE_SHA, head_ref: str = "feature", base_ref: str = "main", user: str = "alice",
                 sender: str | None = None, title: str = "Update model", body: str | None = "",
                 draft: bool = False, installation_id: int = INSTALLATION_ID, before: str | None = None,
                 **overrides: Any) -> dict:
    """A pull_request delivery. `synchronize` also carries `before` (default: base_sha) and `after`."""
    state = "closed" if action == "closed" else "open"
    base = {
        "number": number, "installation": installation_ref(installation_id), "repository": repository_fields(repo),
        "sender": _user(sender or user),
        "pull_request": _pull_fields(repo, number, head_sha=head_sha, base_sha=base_sha, head_ref=head_ref,
                                     base_ref=base_ref, user_login=user, title=title, body=body, draft=draft,
                                     state=state),
    }
    if action == "closed":
        base["pull_request"].update({"merged": False, "merged_at": None, "merge_commit_sha": None,
                                     "closed_at": _now()})
    if action == "synchronize":
        base.update({"before": before or base_sha, "after": head_sha})
    return payload("pull_request", action, **deep_merge(base, overrides))


_user = user  # `user` is also a parameter name of the builders


def merged_pull_request(*, merge_commit_sha: str = "e5bd3914e2e596debea16f433f57875b5b90bcd6",
                        merged_by: str = "maintainer", **kwargs: Any) -> dict:
    """`pull_request.closed` with the pull request merged (the examples only hold unmerged ones).
    Takes the arguments of `pull_request`."""
    kwargs.setdefault("sender", merged_by)
    now = _now()
    merged = {"pull_request": {"merged": True, "merged_at": now, "closed_at": now, "state": "closed",
                               "merge_commit_sha": merge_commit_sha, "merged_by": _user(merged_by)}}
    return validate("pull_request", "closed", deep_merge(pull_request("closed", **kwargs), merged))


def issue_comment(action: str = "created", *, body: str = "/plan", commenter: str = "alice",
                  comment_id: int = 1001, repo: str = REPO, number: int = 1, on_pull_request: bool = True,
                  issue_title: str = "Update model", issue_user: str = "alice",
                  installation_id: int = INSTALLATION_ID, commenter_type: str = "User", **overrides: Any) -> dict:
    """An issue_comment delivery; with `on_pull_request` (the default) the issue is a pull request,
    marked as GitHub marks it: `issue.pull_request` present (no example has that)."""
    api = f"https://api.github.com/repos/{repo}"
    page = "pull" if on_pull_request else "issues"
    issue = {"number": number, "title": issue_title, "user": _user(issue_user), "state": "open",
             "url": f"{api}/issues/{number}", "html_url": f"https://github.com/{repo}/{page}/{number}",
             "comments_url": f"{api}/issues/{number}/comments", "repository_url": api}
    if on_pull_request:
        html = f"https://github.com/{repo}/pull/{number}"
        issue["pull_request"] = {"url": f"{api}/pulls/{number}", "html_url": html, "diff_url": f"{html}.diff",
                                 "patch_url": f"{html}.patch", "merged_at": None}
    now = _now()
    comment = {"id": comment_id, "node_id": f"IC_{comment_id}", "body": body, "user": _user(commenter, commenter_type),
               "url": f"{api}/issues/comments/{comment_id}", "issue_url": f"{api}/issues/{number}",
               "html_url": f"https://github.com/{repo}/{page}/{number}#issuecomment-{comment_id}",
               "created_at": now, "updated_at": now, "performed_via_github_app": None}
    base = {"issue": issue, "comment": comment, "repository": repository_fields(repo),
            "sender": _user(commenter, commenter_type), "installation": installation_ref(installation_id)}
    built = payload("issue_comment", action, **deep_merge(base, overrides))
    if not on_pull_request:
        built["issue"].pop("pull_request", None)
        validate("issue_comment", action, built)
    return built


def pull_request_review(action: str = "submitted", *, state: str = "approved", reviewer: str = "bob",
                        review_id: int = 2001, body: str | None = "", commit_id: str | None = None,
                        repo: str = REPO, number: int = 1, head_sha: str = HEAD_SHA, base_sha: str = BASE_SHA,
                        head_ref: str = "feature", base_ref: str = "main", user: str = "alice",
                        title: str = "Update model", draft: bool = False,
                        installation_id: int = INSTALLATION_ID, **overrides: Any) -> dict:
    """A pull_request_review delivery; `state` is lowercase as deliveries carry it
    (approved, changes_requested, commented, dismissed). No example holds an approval."""
    api = f"https://api.github.com/repos/{repo}"
    html = f"https://github.com/{repo}/pull/{number}#pullrequestreview-{review_id}"
    review = {"id": review_id, "node_id": f"PRR_{review_id}", "user": _user(reviewer), "body": body,
              "commit_id": commit_id or head_sha, "submitted_at": _now(), "state": state, "html_url": html,
              "pull_request_url": f"{api}/pulls/{number}", "author_association": "COLLABORATOR",
              "_links": {"html": {"href": html}, "pull_request": {"href": f"{api}/pulls/{number}"}}}
    base = {"review": review, "repository": repository_fields(repo), "sender": _user(reviewer),
            "installation": installation_ref(installation_id),
            "pull_request": _pull_fields(repo, number, head_sha=head_sha, base_sha=base_sha, head_ref=head_ref,
                                         base_ref=base_ref, user_login=user, title=title, body="", draft=draft)}
    return payload("pull_request_review", action, **deep_merge(base, overrides))


def push(*, repo: str = REPO, ref: str = "refs/heads/main", before: str = BASE_SHA, after: str = HEAD_SHA,
         pusher: str = "alice", message: str = "Update model", installation_id: int = INSTALLATION_ID,
         **overrides: Any) -> dict:
    """A push of one commit `after` on top of `before`."""
    now = _now()
    person = {"name": pusher, "email": f"{pusher}@example.com", "username": pusher}
    commit = {"id": after, "tree_id": after, "distinct": True, "message": message, "timestamp": now,
              "url": f"https://github.com/{repo}/commit/{after}", "author": person, "committer": person,
              "added": [], "removed": [], "modified": []}
    base = {"ref": ref, "before": before, "after": after, "created": False, "deleted": False, "forced": False,
            "base_ref": None, "compare": f"https://github.com/{repo}/compare/{before[:12]}...{after[:12]}",
            "commits": [commit], "head_commit": commit, "pusher": {"name": pusher, "email": person["email"]},
            "repository": repository_fields(repo), "sender": _user(pusher),
            "installation": installation_ref(installation_id)}
    return payload("push", None, **deep_merge(base, overrides))


def check_run(action: str = "rerequested", *, name: str = "modelbot/policy", check_run_id: int = 3001,
              head_sha: str = HEAD_SHA, head_branch: str = "feature", app_id: int = APP_ID, repo: str = REPO,
              status: str = "completed", conclusion: str | None = "failure", requested_action: str | None = None,
              sender: str = "alice", installation_id: int = INSTALLATION_ID, **overrides: Any) -> dict:
    """A check_run delivery for a run of this App; `requested_action` is the button identifier."""
    api = f"https://api.github.com/repos/{repo}"
    app = {"id": app_id, "slug": APP_SLUG, "name": APP_SLUG}
    run = {"id": check_run_id, "name": name, "head_sha": head_sha, "status": status, "conclusion": conclusion,
           "url": f"{api}/check-runs/{check_run_id}", "html_url": f"https://github.com/{repo}/runs/{check_run_id}",
           "app": app, "check_suite": {"head_sha": head_sha, "head_branch": head_branch, "app": app}}
    if status != "completed":
        run["conclusion"] = None
    run["pull_requests"] = []  # the examples name pull requests of other repositories
    base = {"check_run": run, "repository": repository_fields(repo), "sender": _user(sender),
            "installation": installation_ref(installation_id)}
    if action == "requested_action":
        base["requested_action"] = {"identifier": requested_action or "rerun"}
    return payload("check_run", action, **deep_merge(base, overrides))


def check_suite(action: str = "requested", *, head_sha: str = HEAD_SHA, head_branch: str = "feature",
                app_id: int = APP_ID, repo: str = REPO, sender: str = "alice",
                installation_id: int = INSTALLATION_ID, **overrides: Any) -> dict:
    app = {"id": app_id, "slug": APP_SLUG, "name": APP_SLUG}
    suite = {"head_sha": head_sha, "head_branch": head_branch, "app": app, "pull_requests": []}
    if action != "completed":
        suite.update({"status": "queued", "conclusion": None})
    base = {"check_suite": suite, "repository": repository_fields(repo), "sender": _user(sender),
            "installation": installation_ref(installation_id)}
    return payload("check_suite", action, **deep_merge(base, overrides))


def merge_group(action: str = "checks_requested", *, number: int = 1, head_sha: str = HEAD_SHA,
                base_sha: str = BASE_SHA, base_ref: str = "main", repo: str = REPO, sender: str = "alice",
                installation_id: int = INSTALLATION_ID, **overrides: Any) -> dict:
    """A merge group of the merge queue for pull request `number` on `base_ref`: its head commit
    `head_sha` on `refs/heads/gh-readonly-queue/<base_ref>/pr-<number>-<base_sha>`."""
    group = {"head_sha": head_sha, "base_sha": base_sha, "base_ref": f"refs/heads/{base_ref}",
             "head_ref": f"refs/heads/gh-readonly-queue/{base_ref}/pr-{number}-{base_sha}"}
    group_commit = {"id": head_sha, "tree_id": head_sha}
    base = {"merge_group": {**group, "head_commit": group_commit}, "repository": repository_fields(repo),
            "sender": _user(sender), "installation": installation_ref(installation_id)}
    return payload("merge_group", action, **deep_merge(base, overrides))


def _deployment_object(environment: str, repo: str = REPO, sha: str = HEAD_SHA) -> dict:
    """A GitHub Deployment as the REST API and webhooks show it (schema `deployment`)."""
    api = f"https://api.github.com/repos/{repo}/deployments/1001"
    when = _now()
    return {"url": api, "id": 1001, "node_id": "DE_kwDOExample", "sha": sha, "ref": "main", "task": "deploy",
            "payload": {}, "original_environment": environment, "environment": environment, "description": "",
            "creator": _user("github-actions[bot]", "Bot"), "created_at": when, "updated_at": when,
            "statuses_url": f"{api}/statuses", "repository_url": f"https://api.github.com/repos/{repo}",
            "transient_environment": False, "production_environment": environment == "production"}


def deployment_protection_rule(*, environment: str = "staging", deployment: dict | None = None,
                               deployment_callback_url: str = "https://api.github.com/repos/acme/models/actions/runs/"
                                                              "1/deployment_protection_rule",
                               pull_requests: list | None = None, repo: str = REPO, sender: str = "alice",
                               installation_id: int = INSTALLATION_ID, event: str = "workflow_dispatch") -> dict:
    """GitHub asking this App, a custom protection rule of `environment`, about a run's deployment.
    GitHub publishes no example delivery of this event: the payload is built from its webhook
    schema (`webhook-deployment-protection-rule-requested`) and validated against it."""
    # The repository and sender objects are those of a real delivery (the same schemas).
    like = _pick_example("pull_request", "opened")
    data = {"action": "requested", "environment": environment, "event": event,
            "deployment_callback_url": deployment_callback_url,
            "deployment": deployment if deployment is not None else _deployment_object(environment, repo),
            "pull_requests": list(pull_requests or []),
            "repository": deep_merge(like["repository"], repository_fields(repo)),
            "sender": deep_merge(like["sender"], _user(sender)), "installation": installation_ref(installation_id)}
    return validate("deployment_protection_rule", "requested", data)


# Deliveries GitHub publishes no example of: built from their webhook schema (and validated).
BUILT_FROM_SCHEMA = {("deployment_protection_rule", "requested"): lambda: deployment_protection_rule()}


# --- delivery headers ----------------------------------------------------------------------------


def signed_headers(body: bytes, secret: str, event: str, delivery_id: str | None = None, *,
                   hook_id: int = HOOK_ID, app_id: int = APP_ID) -> dict[str, str]:
    """The headers GitHub sends with a delivery of `body` from an App's webhook.

    Checked against the header parameters the webhook's contract requires."""
    headers = {
        "User-Agent": "GitHub-Hookshot/a1b2c3d",
        "Content-Type": "application/json",
        "X-GitHub-Hook-ID": str(hook_id),
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-GitHub-Hook-Installation-Target-ID": str(app_id),
        # GitHub still sends the SHA-1 signature beside the SHA-256 one when a secret is set.
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": sign(secret, body),
    }
    _check_headers(event, headers)
    return headers


def _check_headers(event: str, headers: dict[str, str]) -> None:
    doc = load_contract_json("webhooks.subset.json")
    prefix = event.replace("_", "-")
    entry = next((v for k, v in doc["webhooks"].items() if k == prefix or k.startswith(prefix + "-")), None)
    if entry is None:
        raise KeyError(f"no webhook {event} in webhooks.subset.json")
    present = {k.lower() for k in headers}
    missing = [p["name"] for p in entry["post"]["parameters"]
               if p["in"] == "header" and p.get("required") and p["name"].lower() not in present]
    if missing:
        raise InvalidPayload(f"{event} delivery lacks required headers: {', '.join(missing)}")


def delivery(event_payload: dict, event: str, secret: str, delivery_id: str | None = None,
             **header_args: Any) -> tuple[bytes, dict[str, str]]:
    """(body, headers) ready to POST to the bot's /webhook, signed with `secret`."""
    body = json.dumps(event_payload).encode()
    return body, signed_headers(body, secret, event, delivery_id, **header_args)
