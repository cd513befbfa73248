"""The bot's own comments, found again by hidden markers and edited in place."""

from __future__ import annotations

from typing import Callable, Hashable

from github.IssueComment import IssueComment
from github.PaginatedList import PaginatedList


def issue_comments(requester, full_name: str, number: int) -> PaginatedList:
    return PaginatedList(IssueComment, requester, f"/repos/{full_name}/issues/{number}/comments",
                         {"per_page": 100})


def sync_comments(requester, full_name: str, number: int, author: str, bodies: dict[Hashable, str],
                  key_of: Callable[[str], Hashable | None], create_missing: bool = True) -> dict[Hashable, int]:
    """Make the bot's keyed comments on an issue/PR equal `bodies`: edit, create, delete extras.

    Only comments written by `author` count, so a person pasting a marker changes nothing.
    Repeating the call with the same bodies sends no write. With `create_missing` False only
    comments that already exist are edited (and extras deleted). Returns comment ids by key.
    """
    mine: dict[Hashable, IssueComment] = {}
    for comment in issue_comments(requester, full_name, number):
        if comment.user is None or comment.user.login != author:
            continue
        key = key_of(comment.body or "")
        if key is not None and key not in mine:
            mine[key] = comment
    ids = {}
    for key, body in bodies.items():
        existing = mine.pop(key, None)
        if existing is None:
            if not create_missing:
                continue
            _, data = requester.requestJsonAndCheck("POST", f"/repos/{full_name}/issues/{number}/comments",
                                                    input={"body": body})
            ids[key] = data["id"]
        else:
            if existing.body != body:
                existing.edit(body)
            ids[key] = existing.id
    for stale in mine.values():
        stale.delete()
    return ids
