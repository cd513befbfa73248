"""The PR report and the validate check run, as text: pure functions over a `Review`.

One report per pull request, found again by its hidden marker. When it outgrows GitHub's
65,536-character comment limit it is split between manifests into numbered parts, each carrying
its own marker, so every part is edited in place on the next push.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.core.render import render
from bot.core.review import Review

MARKER_PREFIX = "<!-- modelbot:report"
COMMENT_LIMIT = 65_536
CHECK_TEXT_LIMIT = 65_535
ANNOTATIONS_PER_REQUEST = 50
_PART = re.compile(r"<!-- modelbot:report(?: part=(\d+))? -->")


def marker(part: int) -> str:
    return f"{MARKER_PREFIX} -->" if part == 1 else f"{MARKER_PREFIX} part={part} -->"


def part_of(body: str) -> int | None:
    """The report part a comment body carries (1 for the main report), or None."""
    m = _PART.search(body or "")
    if not m:
        return None
    return int(m.group(1) or 1)


@dataclass(frozen=True)
class PullInfo:
    repository: str
    number: int
    head_sha: str
    base_ref: str
    draft: bool = False

    @property
    def short_sha(self) -> str:
        return self.head_sha[:7]


@dataclass(frozen=True)
class Section:
    """A later feature's part of the report (comparison, approvals, deployment)."""

    title: str
    body: str


@dataclass(frozen=True)
class CheckOutput:
    conclusion: str  # success | failure | neutral
    title: str
    summary: str
    text: str
    annotations: tuple[dict, ...] = field(default_factory=tuple)
    # Buttons (GitHub check run `actions`, bot.core.check_actions.github_actions): GitHub does not
    # return them, so whoever sets them says so in `text` too (a change of buttons changes the text).
    actions: tuple[dict, ...] = field(default_factory=tuple)


def report_comments(review: Review, pull: PullInfo, sections: tuple[Section, ...] = (),
                    limit: int = COMMENT_LIMIT) -> list[str]:
    """The report's comment bodies, first the summary, each within `limit` characters."""
    head = render("report/summary.md.j2", review=review, pull=pull)
    blocks = [render("report/section.md.j2", s=s) for s in sections]
    blocks += [render("report/manifest.md.j2", m=m, pull=pull) for m in review.manifests]
    return _pack(head, blocks, limit)


def _pack(head: str, blocks: list[str], limit: int) -> list[str]:
    budget = limit - len(marker(1)) - 2
    if len(head) > budget:
        head = _truncate(head, budget)
    parts: list[list[str]] = [[marker(1), head]]
    for block in blocks:
        current = parts[-1]
        budget = limit - sum(len(x) + 1 for x in current) - 1
        if len(block) + 1 > budget:
            parts.append([marker(len(parts) + 1), render("report/continued.md.j2", part=len(parts) + 1)])
            current = parts[-1]
            budget = limit - sum(len(x) + 1 for x in current) - 1
            if len(block) + 1 > budget:
                block = _truncate(block, budget)
        current.append(block)
    return ["\n".join(p) for p in parts]


def _truncate(block: str, budget: int) -> str:
    note = render("report/truncated.md.j2")
    cut = block[: max(0, budget - len(note) - 1)]
    # Keep the markdown balanced: an open <details> must be closed.
    if cut.count("<details>") > cut.count("</details>"):
        note = note + "\n</details>"
        cut = cut[: max(0, budget - len(note) - 1)]
    return cut + "\n" + note


def validate_check(review: Review, pull: PullInfo) -> CheckOutput:
    """The `modelbot/validate` check run: failing on any error, with one annotation per problem."""
    conclusion = "success" if review.ok else "failure"
    title = render("checks/validate_title.txt.j2", review=review).strip()
    summary = _clip(render("checks/validate_summary.md.j2", review=review, pull=pull))
    text = _clip(render("checks/validate_text.md.j2", review=review, pull=pull))
    annotations = tuple(_annotation(p) for p in review.problems)
    return CheckOutput(conclusion, title, summary, text, annotations)


def _annotation(p) -> dict:
    ann = {"path": p.path, "start_line": max(1, p.line), "end_line": max(1, p.line),
           "annotation_level": "failure" if p.is_error else "warning",
           "title": (p.field or p.rule or "manifest")[:255],
           "message": render("checks/annotation.txt.j2", p=p).strip()[:64_000]}
    if p.column:
        ann["start_column"] = ann["end_column"] = p.column
    return ann


def _clip(text: str, limit: int = CHECK_TEXT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    note = "\n\n… (cut at GitHub's limit; the PR report and `modelbot check` have the rest)"
    return text[: limit - len(note)] + note


def annotation_batches(annotations: tuple[dict, ...], size: int = ANNOTATIONS_PER_REQUEST) -> list[list[dict]]:
    return [list(annotations[i:i + size]) for i in range(0, len(annotations), size)] or [[]]
