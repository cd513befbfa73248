"""The local work tree a `modelbot check` reads (thin: one git call)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def repository_root(path: str | os.PathLike[str]) -> Path:
    """The repository a check reads: git's top level for `path`, else `path` itself (a
    directory) or its directory (a file). Resolved: symlinks in it are followed once, here."""
    where = Path(path)
    where = where if where.is_dir() else where.parent
    try:
        answer = subprocess.run(["git", "-C", str(where), "rev-parse", "--show-toplevel"], capture_output=True,
                                text=True, timeout=10, check=False)
        if answer.returncode == 0 and answer.stdout.strip():
            return Path(answer.stdout.strip()).resolve()
    except (OSError, subprocess.SubprocessError):
        pass
    return where.resolve()
