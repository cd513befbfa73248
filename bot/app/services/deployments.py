"""Recording deployments: one per changed manifest and environment, in the server's deploy
order, exactly once per (commit, manifest, environment, trigger) whatever GitHub redelivers.
A merge records them (`bot.app.features.deploys`), so do `/deploy` and `/rollback`
(`bot.app.features.commands`); `bot.app.services.rollouts` then drives each one."""

from __future__ import annotations

import json
import logging

from bot.core.changes import paths_to_read
from bot.core.manifest import load_manifest, select_manifests

log = logging.getLogger(__name__)


def record_deployments(ctx, full_name: str, pr: dict, commit: str, trigger: str, requested_by: str | None,
                       environments: list[str] | None = None, override: dict | None = None,
                       key_suffix: str = "", undeployable: list | None = None) -> list[int]:
    """One deployment per changed manifest and environment (in deploy order), exactly once per
    (commit, manifest, environment, trigger). A deleted manifest (read at the PR's base) records
    a teardown of each of its endpoints (provenance `kind: teardown`). The deploy gate judges
    each when it starts (`bot.app.services.rollouts`); what it needs is recorded here: the PR's final head
    and its base. `override`: a break-glass override ({by, at, reason}). Returns the ids created now."""
    settings = ctx.settings
    reader = ctx.repo_reader(full_name)
    files = reader.changed_files(pr["number"])
    head_paths, _ = paths_to_read(files, settings.server.manifest_globs)
    removed = _removed_manifests(files, settings.server.manifest_globs) - head_paths
    base_sha = (pr.get("base") or {}).get("sha")
    texts = reader.read(commit, head_paths)
    if removed and base_sha:
        texts.update(reader.read(base_sha, removed))
    order = settings.server.ordered_environments()
    created = []
    for path in sorted(head_paths | removed):
        teardown = path in removed
        loaded = load_manifest(path, texts[path]) if texts.get(path) is not None else None
        if loaded is None or loaded.manifest is None:
            log.warning("manifest not deployable", extra={"path": path, "commit": commit, "teardown": teardown})
            if undeployable is not None:
                undeployable.append(path)
            continue
        m = loaded.manifest
        previous = None
        for env in order:
            if env not in m.environments or (environments is not None and env not in environments):
                continue
            spec = m.environments[env]
            if teardown and spec.mode == "batch":
                continue  # a batch environment has no endpoint to tear down
            provenance = {"installation_id": ctx.installation_id, "pr_number": pr["number"],
                          "head_sha": pr["head"]["sha"], "base_sha": base_sha, "approvers": [],
                          "data_version": m.provenance.data_version if isinstance(m.provenance.data_version, str)
                          else None, "model": m.metadata.name}
            if teardown:
                provenance.update(kind="teardown", manifest_commit=base_sha)
            if override:
                provenance["override"] = override
            pk, new = ctx.store.create_deployment(
                key=f"{full_name}@{commit}:{path}:{env}:{trigger}{key_suffix}", repository=full_name,
                pr_number=pr["number"],
                commit_sha=commit, manifest_path=path, environment=env,
                endpoint=None if spec.mode == "batch" else m.endpoint_name(env), trigger=trigger,
                requested_by=requested_by, after_id=previous, provenance=json.dumps(provenance))
            previous = pk
            if new:
                created.append(pk)
                row = ctx.store.deployment(pk)
                ctx.store.append_ledger_for(row, "recorded", {
                    "trigger": trigger, "kind": provenance.get("kind", "deploy"), "after_id": row.after_id,
                    **{k: provenance.get(k) for k in ("head_sha", "base_sha", "model", "data_version", "override",
                                                      "manifest_commit")}}, actor=requested_by)
    return created


def _removed_manifests(files, globs) -> set[str]:
    """Manifests the change deletes (or moves out of the manifest globs), as the PR report sees them."""
    out = set()
    for f in files:
        if f.status == "removed" and select_manifests([f.path], globs):
            out.add(f.path)
        elif (f.status == "renamed" and f.previous_path and not select_manifests([f.path], globs)
              and select_manifests([f.previous_path], globs)):
            out.add(f.previous_path)
    return out
