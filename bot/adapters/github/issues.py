"""An issue the App keeps up to date by itself (the drift report): found again by a hidden marker
in its body among the issues the App opened, edited in place, closed when there is nothing to
say, reopened when there is again. One read to find it (the App's own issues, newest first, one
page), at most one write per call, none when nothing changed."""

from __future__ import annotations


def _find(requester, full_name: str, author: str, marker: str) -> dict | None:
    _, items = requester.requestJsonAndCheck(
        "GET", f"/repos/{full_name}/issues",
        parameters={"creator": author, "state": "all", "per_page": 100, "sort": "created", "direction": "desc"})
    return next((i for i in items or () if "pull_request" not in i and marker in (i.get("body") or "")
                 and (i.get("user") or {}).get("login") == author), None)


def keep_issue(requester, full_name: str, author: str, marker: str, title: str, body: str | None) -> tuple[int | None, str]:
    """Make the App's marked issue say `body` (open) or, with `body` None, be closed (or absent).
    Returns (issue number or None, what was done: created | edited | reopened | closed | unchanged)."""
    found = _find(requester, full_name, author, marker)
    if body is None:
        if found is None or found["state"] == "closed":
            return (found["number"] if found else None), "unchanged"
        requester.requestJsonAndCheck("PATCH", f"/repos/{full_name}/issues/{found['number']}",
                                      input={"state": "closed"})
        return found["number"], "closed"
    if found is None:
        _, data = requester.requestJsonAndCheck("POST", f"/repos/{full_name}/issues",
                                                input={"title": title, "body": body})
        return data["number"], "created"
    change: dict = {}
    if found.get("body") != body:
        change["body"] = body
    if found.get("title") != title:
        change["title"] = title
    if found["state"] != "open":
        change["state"] = "open"
    if not change:
        return found["number"], "unchanged"
    requester.requestJsonAndCheck("PATCH", f"/repos/{full_name}/issues/{found['number']}", input=change)
    return found["number"], "reopened" if "state" in change else "edited"
