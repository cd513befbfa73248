"""Which repository paths are manifests: glob patterns with `**` spanning directories."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

DEFAULT_GLOBS = ("models/**/modelbot.yaml",)


@lru_cache(maxsize=256)
def _compile(glob: str) -> re.Pattern[str]:
    """`*` and `?` stay inside one path segment, `[..]` is a class, `**` is any number of
    whole segments (including none): `models/**/m.yaml` matches `models/m.yaml` and
    `models/a/b/m.yaml`."""
    parts = glob.strip("/").split("/")
    out = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:[^/]+/)*"
            continue
        j = 0
        while j < len(part):
            c = part[j]
            if c == "*":
                while j + 1 < len(part) and part[j + 1] == "*":
                    j += 1
                out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif c == "[":
                end = part.find("]", j + 2)
                if end == -1:
                    out += re.escape(c)
                else:
                    body = part[j + 1:end]
                    if body.startswith("!"):
                        body = "^" + body[1:]
                    out += "[" + body.replace("\\", "\\\\") + "]"
                    j = end
            else:
                out += re.escape(c)
            j += 1
        if not last:
            out += "/"
    return re.compile(out + r"\Z", re.DOTALL)


def normalize_path(path: str) -> str | None:
    """A repository-relative POSIX path, or None for paths that escape or are empty."""
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    path = path.lstrip("/")
    segments = path.split("/")
    if not path or any(s in ("", ".", "..") for s in segments):
        return None
    return path


def matches_globs(path: str, globs: Iterable[str] = DEFAULT_GLOBS) -> bool:
    """Whether repository path `path` matches any of `globs` (case-sensitive)."""
    norm = normalize_path(path)
    if norm is None:
        return False
    return any(_compile(g).match(norm) for g in globs if g)


def select_manifests(paths: Iterable[str], globs: Iterable[str] = DEFAULT_GLOBS) -> list[str]:
    """The paths among `paths` that are manifests, sorted and without repeats."""
    globs = tuple(globs)
    return sorted({p for p in paths if matches_globs(p, globs)})
