"""GitHub-flavoured Markdown as a terminal shows it: what a person reading the PR would see.

Pure: `to_text(markdown) -> str`. Used by `modelbot demo` to print the bot's comments and check
runs the way GitHub renders them, without a browser. Handles what the bot's templates write:
headings, pipe tables (laid out in columns), `<details>`/`<summary>` folds (closed, as GitHub
shows them: `▸ summary`; `unfold(summary)` opens chosen ones: `▾ summary` and the content), HTML
comments (hidden, as GitHub hides them), `<br>`, inline code, emphasis, links (their text),
entities, fenced code (kept verbatim) and block quotes.
"""

from __future__ import annotations

import html
import re

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FOLD = re.compile(r"(<details[^>]*>\s*<summary>.*?</summary>|</details>)", re.DOTALL | re.IGNORECASE)
_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.DOTALL | re.IGNORECASE)
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(\s[^<>]*)?/?>")
_LINK = re.compile(r"\[([^\]]+)\]\([^)\s]+(?:\s+\"[^\"]*\")?\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
_CODE = re.compile(r"`([^`]+)`")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def inline(text: str) -> str:
    """One line of Markdown inline content as plain text."""
    text = _BR.sub(" / ", text)
    text = _LINK.sub(r"\1", text)
    text = _BOLD.sub(r"\2", text)
    parts = re.split(r"(`[^`]+`)", text)  # code spans are kept as they are
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(part[1:-1])
            continue
        part = _TAG.sub("", part)
        part = _BOLD.sub(r"\2", part)
        part = _ITALIC.sub(r"\1", part)
        out.append(part.replace("\\|", "|").replace("\\*", "*").replace("\\_", "_"))
    return html.unescape("".join(out))


def _cells(line: str) -> list[str]:
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    cells, cur, i = [], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] == "|":
            cur.append("\\|")
            i += 2
            continue
        if ch == "|":
            cells.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    cells.append("".join(cur))
    return [inline(c.strip()).replace("\\|", "|") for c in cells]


def _table(rows: list[list[str]], indent: str) -> list[str]:
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(width)]
    lines = []
    for n, row in enumerate(rows):
        lines.append(indent + "  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip())
        if n == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return lines


def fold(text: str, unfold=None) -> str:
    """`<details>` blocks as GitHub first shows them: the summary line only, unless
    `unfold(summary)` says a reader opens that one."""
    out: list[str] = []
    visible: list[bool] = []  # per open <details>: is its content shown
    pos = 0
    for m in _FOLD.finditer(text):
        if all(visible):
            out.append(text[pos:m.start()])
        pos = m.end()
        if m.group(0).lower().startswith("</details"):
            if visible:
                visible.pop()
            if all(visible):
                out.append("\n")
            continue
        summary = " ".join(inline(_SUMMARY.search(m.group(0)).group(1)).split())
        opened = bool(unfold and unfold(summary))
        if all(visible):
            out.append(f"\n{'▾' if opened else '▸'} {summary}\n")
        visible.append(opened)
    if all(visible):
        out.append(text[pos:])
    return "".join(out)


def to_text(markdown: str, indent: str = "", unfold=None) -> str:
    """Markdown (as the bot writes it) rendered as plain text, each line prefixed by `indent`;
    folds stay closed unless `unfold(summary)` is true for them."""
    text = _COMMENT.sub("", markdown.replace("\r\n", "\n"))
    text = fold(text, unfold)
    out: list[str] = []
    table: list[list[str]] = []
    fenced = False
    blank = indent.rstrip()
    for raw in text.split("\n"):
        line = raw.rstrip()
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            out.append(indent + "    " + line)
            continue
        stripped = line.strip()
        if stripped.startswith("|") and stripped.count("|") >= 2:
            if not _TABLE_RULE.match(stripped):
                table.append(_cells(stripped))
            continue
        if table:
            out.extend(_table(table, indent))
            table = []
        heading = _HEADING.match(stripped)
        if heading:
            title = inline(heading.group(2))
            if out and out[-1].strip() != blank.strip():
                out.append(blank)
            out.append(indent + title)
            if len(heading.group(1)) <= 3:
                out.append(indent + "=" * min(len(title), 78))
            continue
        if stripped.startswith(">"):
            out.append(indent + "  │ " + inline(stripped.lstrip("> ")))
            continue
        out.append(indent + inline(line) if stripped else blank)
    if table:
        out.extend(_table(table, indent))
    # Blank lines as a browser shows them: never more than one in a row, none at the ends.
    squeezed: list[str] = []
    for line in out:
        if line.strip() == blank.strip() and (not squeezed or squeezed[-1].strip() == blank.strip()):
            continue
        squeezed.append(line)
    while squeezed and squeezed[-1].strip() == blank.strip():
        squeezed.pop()
    return "\n".join(squeezed)
