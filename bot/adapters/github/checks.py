"""Check runs driven to a desired state: publish only what differs, annotations ≤ 50 per request.

GitHub appends annotations on every update, so an existing run is never patched with them
again: when the run GitHub shows for this commit already says what we would say, nothing is
sent; otherwise a fresh run is created (GitHub shows the newest run of a name per commit).
A run's buttons (`actions`) are not in GitHub's answer: callers say them in the text as well.
"""

from __future__ import annotations

from github import GithubException

from bot.adapters.github.pacer import superseding
from bot.core.report import CheckOutput, annotation_batches


def latest_check_run(requester, full_name: str, head_sha: str, name: str) -> dict | None:
    _, data = requester.requestJsonAndCheck(
        "GET", f"/repos/{full_name}/commits/{head_sha}/check-runs",
        parameters={"check_name": name, "filter": "latest", "per_page": 1})
    runs = data.get("check_runs") or []
    return runs[0] if runs else None


def _same(run: dict, out: CheckOutput, status: str) -> bool:
    output = run.get("output") or {}
    return (run.get("status") == status and (status != "completed" or run.get("conclusion") == out.conclusion)
            and output.get("title") == out.title and output.get("summary") == out.summary
            and output.get("text") == out.text and output.get("annotations_count") == len(out.annotations))


def publish_check_run(requester, full_name: str, head_sha: str, name: str, out: CheckOutput,
                      details_url: str | None = None, status: str = "completed") -> int | None:
    """Make the newest `name` run on `head_sha` show `out` (`status` in_progress: still working,
    no conclusion yet); return its id (None: a newer publication of this check on this commit,
    started while this one waited for the pacer, publishes instead)."""
    with superseding(requester, f"check:{full_name}@{head_sha}:{name}"):
        existing = latest_check_run(requester, full_name, head_sha, name)
        if existing is not None and _same(existing, out, status):
            return existing["id"]
        batches = annotation_batches(out.annotations)
        body = {"name": name, "head_sha": head_sha, "status": status,
                "output": {"title": out.title, "summary": out.summary, "text": out.text,
                           "annotations": batches[0]}}
        if status == "completed":
            body["conclusion"] = out.conclusion
        if details_url:
            body["details_url"] = details_url
        if out.actions:  # buttons; GitHub shows them on a completed run
            body["actions"] = list(out.actions)
        _, run = requester.requestJsonAndCheck("POST", f"/repos/{full_name}/check-runs", input=body)
        for batch in batches[1:]:
            requester.requestJsonAndCheck(
                "PATCH", f"/repos/{full_name}/check-runs/{run['id']}",
                input={"output": {"title": out.title, "summary": out.summary, "annotations": batch}})
        return run["id"]
    return None


def get_check_run(requester, full_name: str, run_id: int) -> dict | None:
    """The check run `run_id` of this repository as GitHub has it, None when it has none."""
    try:
        _, run = requester.requestJsonAndCheck("GET", f"/repos/{full_name}/check-runs/{int(run_id)}")
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise
    return run
