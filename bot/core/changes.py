"""The manifests a pull request changes: which files to read at its head and at its base, the
changes the review judges, and the endpoints they name.

Shared by the feature modules (pull requests, the deploy gate, deploys, commands), so none of
them imports another for it. The reading goes through the repository reader it is given.
"""

from __future__ import annotations

from bot.core.codeowners import CODEOWNERS_PATHS
from bot.core.manifest import load_manifest, select_manifests
from bot.core.review import ManifestChange


def manifest_changes(files, head: dict, base: dict, globs: list[str]):
    """The changed files that are manifests, with head content (base content for removals)."""
    out = []
    for f in files:
        if select_manifests([f.path], globs):
            status = f.status if f.status in ("added", "removed", "renamed") else "modified"
            path = f.path
        elif f.status == "renamed" and f.previous_path and select_manifests([f.previous_path], globs):
            status, path = "removed", f.previous_path  # moved out of the globs: removed for the bot
        else:
            continue
        out.append(ManifestChange(path, status, head.get(path), base.get(path), f.previous_path))
    return out


def paths_to_read(files, globs) -> tuple[set[str], set[str]]:
    """The paths to read at the head (changed manifests that still exist) and at the base (every
    changed manifest, and CODEOWNERS: owners and approvals as the base branch has them)."""
    head, base = set(), set(CODEOWNERS_PATHS)
    for f in files:
        for path in (f.path, f.previous_path):
            if path and select_manifests([path], globs):
                base.add(path)  # owners and approvals as the base branch has them
                if f.status != "removed" and path == f.path:
                    head.add(path)
    return head, base


def endpoints_of(ctx, full_name: str, pr: dict, environment: str) -> list[str]:
    """The endpoints in `environment` of the manifests the pull request changes (head, or base
    for a removed manifest)."""
    globs = ctx.settings.server.manifest_globs
    reader = ctx.repo_reader(full_name)
    files = reader.changed_files(pr["number"])
    head_paths, base_paths = paths_to_read(files, globs)
    head = reader.read(pr["head"]["sha"], head_paths)
    base = reader.read(pr["base"]["sha"], base_paths - head_paths)
    out = []
    for path in sorted(p for p in head_paths | base_paths if select_manifests([p], globs)):
        text = head.get(path) if path in head_paths else base.get(path)
        loaded = load_manifest(path, text) if text is not None else None
        m = loaded.manifest if loaded else None
        if m is not None and environment in m.environments and m.environments[environment].mode != "batch":
            out.append(m.endpoint_name(environment))
    return sorted(set(out))
