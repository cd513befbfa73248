"""Cut the parts of GitHub's published contract that the tests use out of the full descriptions.

Reads the three files published by octokit (see README.md beside this script) and writes:

- github-rest.subset.json     the REST operations in `REST_OPERATIONS` plus every component
                              they reference, transitively (OpenAPI 3.0.3)
- webhooks.subset.json        the `webhooks` entries of `WEBHOOK_ACTIONS` plus the
                              `components/schemas` they reference, transitively (OpenAPI 3.1)
- webhook-examples.subset.json  real example deliveries of `WEBHOOK_ACTIONS`

Prose (descriptions, summaries, examples, docs links, x-github notes) is dropped to keep the
files commit-sized; everything a validator reads (types, required, enums, formats, nullable,
limits, composition) is kept verbatim. Run from anywhere:

    python tests/contract/extract.py [SOURCE_DIR]

SOURCE_DIR defaults to $GITHUB_SPEC_DIR, else ../shared/github beside the repository.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent

REST_OPERATIONS: list[tuple[str, str]] = [
    ("get", "/app"),
    ("get", "/app/installations/{installation_id}"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/rate_limit"),
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("get", "/repos/{owner}/{repo}/issues"),                   # the drift issue, found again
    ("post", "/repos/{owner}/{repo}/issues"),                  # ... opened
    ("post", "/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule"),  # a custom rule's answer
    ("patch", "/repos/{owner}/{repo}/issues/{issue_number}"),  # ... edited, closed, reopened
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("delete", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/repos/{owner}/{repo}/tarball/{ref}"),
    ("get", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
    ("get", "/repos/{owner}/{repo}/git/blobs/{file_sha}"),
    ("get", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}"),
    ("get", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"),
    ("get", "/repos/{owner}/{repo}/compare/{basehead}"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/orgs/{org}/teams/{team_slug}/memberships/{username}"),
    ("post", "/repos/{owner}/{repo}/deployments"),
    ("get", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("get", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("post", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("get", "/repos/{owner}/{repo}/branches/{branch}"),
    ("get", "/repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks"),
    ("get", "/repos/{owner}/{repo}/rules/branches/{branch}"),
    ("post", "/app-manifests/{code}/conversions"),  # `modelbot register` (bot/app/install.py)
    ("get", "/user"),                                 # the status UI's sign-in (bot/adapters/github_user.py)
    ("get", "/user/memberships/orgs/{org}"),          # ... is the person an active member
    ("get", "/user/installations"),                   # ... the App's installations the person can see
    ("get", "/user/installations/{installation_id}/repositories"),  # ... and the repositories in each
]
# Error bodies the fake answers with on any operation, documented for that status or not.
ALWAYS_SCHEMAS = ["basic-error", "validation-error"]

# The deliveries the bot subscribes to, and the actions of each it can react to (None: the event
# has no action). Only these schemas and examples are kept.
WEBHOOK_ACTIONS: dict[str, list[str | None]] = {
    "ping": [None],
    "installation": ["created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"],
    "installation_repositories": ["added", "removed"],
    "pull_request": [
        "opened", "reopened", "synchronize", "closed", "edited", "ready_for_review", "converted_to_draft",
    ],
    "issue_comment": ["created", "edited", "deleted"],
    "pull_request_review": ["submitted", "edited", "dismissed"],
    "push": [None],
    "check_run": ["created", "completed", "rerequested", "requested_action"],
    "check_suite": ["requested", "rerequested", "completed"],
    "merge_group": ["checks_requested"],
    "deployment_protection_rule": ["requested"],
}
WEBHOOK_EVENTS = list(WEBHOOK_ACTIONS)
# Per (event, action) keep the last example in the source, usually the newest delivery. Several
# of them still fail the current schemas (fields added later): tests/support/webhooks.py says how
# it brings them up to date.
EXAMPLES_PER_ACTION = 1
EXAMPLES_VERSION = "7.6.1"  # index.json carries no version of its own: keep in step with README.md


def webhook_name(event: str, action: str | None) -> str:
    """`webhooks` key and (with a `webhook-` prefix) schema name: pull_request/closed -> pull-request-closed."""
    return event.replace("_", "-") + (f"-{action.replace('_', '-')}" if action else "")


DROP_KEYS = frozenset({
    "description", "summary", "externalDocs", "example", "examples", "tags", "x-github",
    "x-octokit", "x-github-breaking-changes", "x-githubCloudOnly", "x-multi-segment",
    "x-github-releases", "x-changes", "x-displayName",
})
# Keywords whose value is a map from names (not keywords) to nested objects.
NAME_MAPS = frozenset({
    "properties", "patternProperties", "$defs", "definitions", "paths", "responses", "content",
    "headers", "schemas", "parameters", "requestBodies", "securitySchemes", "links", "callbacks",
    "encoding", "webhooks", "dependentSchemas",
})


def strip(node: Any, names: bool = False) -> Any:
    """Drop prose keys from an OpenAPI fragment; keys of name maps (e.g. `properties`) are kept."""
    if isinstance(node, list):
        return [strip(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if names:
            out[key] = strip(value)
        elif key in DROP_KEYS or key.startswith("x-"):
            continue
        elif key in NAME_MAPS and isinstance(value, dict):
            out[key] = strip(value, names=True)
        else:
            out[key] = strip(value)
    return out


def refs_in(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def close_components(doc: dict, roots: Any, always: list[str] = ()) -> dict:
    """The stripped `components` reachable from `roots` (plus `always` schemas), transitively."""
    components: dict[str, dict] = {}
    pending = set(refs_in(roots)) | {f"#/components/schemas/{name}" for name in always}
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if not ref.startswith("#/components/"):
            raise SystemExit(f"unexpected $ref {ref}")
        _, _, kind, name = ref.split("/", 3)
        value = strip(doc["components"][kind][name])
        components.setdefault(kind, {})[name] = value
        pending |= refs_in(value) - seen
    return {kind: dict(sorted(items.items())) for kind, items in sorted(components.items())}


def source_note(doc: dict, package: str, file: str) -> dict:
    return {"package": package, "version": doc["info"]["version"], "file": file, "license": "MIT"}


def rest_subset(doc: dict) -> dict:
    paths: dict[str, dict] = {}
    for method, path in REST_OPERATIONS:
        item = doc["paths"][path]
        op = item[method]
        kept = {k: v for k, v in op.items() if k in ("operationId", "parameters", "requestBody", "responses")}
        entry = paths.setdefault(path, {})
        if "parameters" in item:
            entry["parameters"] = strip(item["parameters"])
        entry[method] = strip(kept)
    paths = dict(sorted(paths.items()))
    return {
        "openapi": doc["openapi"],
        "info": {"title": doc["info"]["title"], "version": doc["info"]["version"]},
        "x-source": source_note(doc, "@octokit/openapi", "generated/api.github.com.json"),
        "paths": paths,
        "components": close_components(doc, paths, ALWAYS_SCHEMAS),
    }


def webhooks_subset(doc: dict) -> dict:
    # Names alone are ambiguous (pull-request-review-requested is a pull_request action), so
    # check each against GitHub's own event name, x-github.subcategory.
    hooks = {}
    for event, actions in WEBHOOK_ACTIONS.items():
        for action in actions:
            name = webhook_name(event, action)
            item = doc["webhooks"][name]
            assert item["post"]["x-github"]["subcategory"] == event, (name, event)
            hooks[name] = strip(item)
    return {
        "openapi": doc["openapi"],
        "info": {"title": doc["info"]["title"], "version": doc["info"]["version"]},
        "x-source": source_note(doc, "@octokit/openapi-webhooks", "generated/api.github.com.json"),
        "x-event-actions": WEBHOOK_ACTIONS,
        "webhooks": hooks,
        "components": close_components(doc, hooks),
    }


def examples_subset(events: list[dict]) -> dict:
    out = []
    for event in events:
        if event["name"] not in WEBHOOK_EVENTS:
            continue
        by_action: dict[Any, list[dict]] = {}
        for example in event["examples"]:
            by_action.setdefault(example.get("action"), []).append(example)
        kept = []
        for action, examples in by_action.items():
            if action in WEBHOOK_ACTIONS[event["name"]]:
                kept.extend(examples[-EXAMPLES_PER_ACTION:])
        order = {id(e): i for i, e in enumerate(event["examples"])}
        kept.sort(key=lambda e: order[id(e)])
        actions = [a for a in event["actions"] if a in WEBHOOK_ACTIONS[event["name"]]]
        out.append({"name": event["name"], "actions": actions, "examples": kept})
    out.sort(key=lambda e: WEBHOOK_EVENTS.index(e["name"]))
    return {
        "x-source": {"package": "@octokit/webhooks-examples", "version": EXAMPLES_VERSION,
                     "file": "api.github.com/index.json", "license": "MIT",
                     "selection": f"last {EXAMPLES_PER_ACTION} example(s) of each action in WEBHOOK_ACTIONS"},
        "events": out,
    }


def write(name: str, data: dict) -> None:
    path = HERE / name
    path.write_text(json.dumps(data, separators=(",", ":"), sort_keys=False, ensure_ascii=False) + "\n")
    print(f"{path.relative_to(REPO_ROOT)}: {path.stat().st_size:,} bytes")


def main(argv: list[str]) -> int:
    default = os.environ.get("GITHUB_SPEC_DIR") or REPO_ROOT.parent / "shared" / "github"
    source = Path(argv[1] if len(argv) > 1 else default)
    rest = json.loads((source / "rest-api.openapi.json").read_text())
    hooks = json.loads((source / "webhooks.openapi.json").read_text())
    examples = json.loads((source / "webhook-examples.json").read_text())
    write("github-rest.subset.json", rest_subset(rest))
    write("webhooks.subset.json", webhooks_subset(hooks))
    write("webhook-examples.subset.json", examples_subset(examples))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
