"""GitHub CODEOWNERS files: parse the rules and answer who owns a path.

GitHub's syntax: one rule per line, a gitignore-like pattern followed by owners (`@user`,
`@org/team` or an e-mail address); `#` starts a comment, also after a rule; the last rule that
matches a path wins, and a rule without owners leaves its paths un-owned. Patterns: `*` and `?`
stay within one path segment, `**` spans segments, a leading `/` (or any `/` before the last
segment) anchors the pattern at the repository root, a trailing `/` matches everything under a
directory, a pattern naming a directory owns everything under it, except that a trailing `/*`
owns only the files directly in it. What GitHub rejects (`!` negation, `[ ]` ranges, `\\#`
escapes) and lines it cannot read are reported as problems with their line numbers and skipped,
as GitHub skips them. Paths are case-sensitive.

Which file to read is the caller's job: the first of `CODEOWNERS_PATHS` that exists at the
pull request's BASE ref, never its head.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from bot.core.manifest.problems import Problem

CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
MAX_BYTES = 3 * 1024 * 1024   # GitHub does not load a larger CODEOWNERS file
MAX_LINE_CHARS = 4096
MAX_PATH_SEGMENTS = 256
RULE = "codeowners"

_USER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
_OWNER = re.compile(rf"@{_USER}(?:/[A-Za-z0-9][A-Za-z0-9_.-]{{0,99}})?|[^@\s]+@[^@\s]+\.[^@\s]+")
_STAR = object()     # `**` spanning zero or more segments
_STARS1 = object()   # a trailing `**`: one or more segments


@dataclass(frozen=True)
class Rule:
    """One rule: its pattern, owners (as written) and 1-based line."""

    pattern: str
    owners: tuple[str, ...]
    line: int
    _tokens: tuple = field(repr=False, compare=False, default=())
    _descendants: bool = field(repr=False, compare=False, default=True)

    def matches(self, path: str) -> bool:
        segments = _segments(path)
        return bool(segments) and _match(self._tokens, self._descendants, segments)


@dataclass(frozen=True)
class Codeowners:
    """A parsed CODEOWNERS file: its rules in file order and the problems found."""

    rules: tuple[Rule, ...] = ()
    problems: tuple[Problem, ...] = ()
    path: str | None = None

    def rule_for(self, path: str) -> Rule | None:
        """The rule that decides `path` (the last one matching), or None."""
        segments = _segments(path)
        if not segments:
            return None
        for rule in reversed(self.rules):
            if _match(rule._tokens, rule._descendants, segments):
                return rule
        return None

    def owners_for(self, path: str) -> tuple[str, ...]:
        """The owners of repository path `path`; () when no rule or an owner-less rule decides."""
        rule = self.rule_for(path)
        return rule.owners if rule else ()


EMPTY = Codeowners()


def parse_codeowners(text: str | bytes | None, *, path: str = "CODEOWNERS") -> Codeowners:
    """Parse a CODEOWNERS file's content; never raises on bad content.

    Unreadable lines become `Problem`s (rule `codeowners`) at their line and are skipped.
    """
    if text is None:
        return Codeowners(path=path)
    problems: list[Problem] = []
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            return Codeowners((), (_problem(path, 1, f"the file is larger than {MAX_BYTES} bytes; "
                                            "GitHub does not load it", None),), path)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(_problem(path, text[: exc.start].count(b"\n") + 1,
                                     "not UTF-8: undecodable bytes were replaced", None))
            text = text.decode("utf-8", errors="replace")
    elif len(text) > MAX_BYTES:
        return Codeowners((), (_problem(path, 1, f"the file is larger than {MAX_BYTES} bytes; "
                                        "GitHub does not load it", None),), path)
    text = text.removeprefix("\ufeff")
    rules: list[Rule] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if len(line) > MAX_LINE_CHARS:
            problems.append(_problem(path, number, f"the line is longer than {MAX_LINE_CHARS} "
                                     "characters", line))
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            pattern, owners = _split(stripped)
            tokens, descendants = _compile(pattern)
        except ValueError as exc:
            problems.append(_problem(path, number, str(exc), stripped))
            continue
        bad = [o for o in owners if not _OWNER.fullmatch(o)]
        if bad:
            problems.append(_problem(path, number, f"`{bad[0][:60]}` is not an owner (expected "
                                     "@user, @org/team or an e-mail address)", stripped))
            continue
        rules.append(Rule(pattern, tuple(owners), number, tokens, descendants))
    return Codeowners(tuple(rules), tuple(problems), path)


def _problem(path: str, line: int, message: str, text: str | None) -> Problem:
    value = None if text is None else text[:120]
    return Problem(path, line, 1, "", value, message, None, RULE, "error")


def _split(line: str) -> tuple[str, list[str]]:
    """The pattern (backslash escapes kept) and the owners; `#` after a space ends the rule."""
    words: list[str] = []
    current = ""
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            current += line[i:i + 2]
            i += 2
            continue
        if c.isspace():
            if current:
                words.append(current)
                current = ""
        elif c == "#" and not current:
            break
        else:
            current += c
        i += 1
    if current:
        words.append(current)
    if not words:  # pragma: no cover - the caller skips blank and comment lines
        raise ValueError("no pattern")
    return words[0], words[1:]


def _compile(pattern: str) -> tuple[tuple, bool]:
    """Pattern -> (segment tokens, whether it also owns what lies under a match)."""
    if pattern.startswith("\\#"):
        raise ValueError("`\\#` escapes are not supported in CODEOWNERS (GitHub reads no pattern "
                         "starting with #)")
    if pattern.startswith("!"):
        raise ValueError("negation with `!` is not supported in CODEOWNERS")
    unescaped = re.sub(r"\\.", "", pattern)
    if "[" in unescaped or "]" in unescaped:
        raise ValueError("character ranges with `[ ]` are not supported in CODEOWNERS")
    if "***" in unescaped:
        raise ValueError("a pattern may not hold three asterisks in a row")
    if pattern == "/":
        raise ValueError("the pattern `/` matches nothing")
    segs = pattern.split("/")
    if segs[0] == "":
        segs = segs[1:]
    elif (len(segs) == 1 or (len(segs) == 2 and segs[1] == "")) and segs[0] != "**":
        segs = ["**"] + segs   # no slash but a trailing one: matches at any depth
    if len(segs) > 1 and segs[-1] == "":
        segs[-1] = "**"        # a trailing slash: everything under the directory
    if "" in segs:
        raise ValueError("the pattern has an empty path segment (`//`)")
    if len(segs) > MAX_PATH_SEGMENTS:
        raise ValueError("the pattern has too many segments")
    tokens: list = []
    last = len(segs) - 1
    for i, seg in enumerate(segs):
        if seg == "**":
            tokens.append(_STARS1 if i == last else _STAR)
        else:
            tokens.append(_segment_regex(seg))
    # A pattern ending in a literal-ish segment also owns what lies under it; one ending in a
    # lone `*` owns only the entries directly in its directory (GitHub's `docs/*`).
    descendants = segs[-1] not in ("*", "**")
    return tuple(tokens), descendants


@lru_cache(maxsize=4096)
def _segment_regex(seg: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "\\" and i + 1 < len(seg):
            out += re.escape(seg[i + 1])
            i += 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out, re.DOTALL)


def _segments(path: str) -> tuple[str, ...]:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    parts = tuple(p for p in path.strip("/").split("/") if p)
    return parts[:MAX_PATH_SEGMENTS]


def _match(tokens: tuple, descendants: bool, segments: tuple[str, ...]) -> bool:
    """Whether the segment tokens match `segments` (or, with `descendants`, a leading part of
    them). Dynamic programming over (token, segment) positions: linear in each, no backtracking
    blow-up whatever the pattern."""
    n, m = len(tokens), len(segments)
    # reach[j]: tokens[:i] can match segments[:j]
    reach = [False] * (m + 1)
    reach[0] = True
    for token in tokens:
        nxt = [False] * (m + 1)
        if token is _STAR:
            seen = False
            for j in range(m + 1):
                seen = seen or reach[j]
                nxt[j] = seen
        elif token is _STARS1:
            seen = False
            for j in range(1, m + 1):
                seen = seen or reach[j - 1]
                nxt[j] = seen
        else:
            for j in range(m):
                if reach[j] and token.fullmatch(segments[j]):
                    nxt[j + 1] = True
        reach = nxt
        if not any(reach):
            return False
    if reach[m]:
        return True
    return descendants and n > 0 and any(reach[1:m])
