"""Deterministic resource names (within AWS's 63 characters) and the digests that tell a changed
model or endpoint config from an unchanged one; the tags every resource of a deploy carries."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from bot.core.manifest.aws_limits import NAME_MAX
from bot.core.manifest.model import EnvironmentSpec, Manifest
from bot.core.plan.model import DeploySpec, ResourceNames, VariantPlan


_COMMIT_RE = re.compile(r"^[0-9a-f]{7,64}$")


def short_commit(commit: str) -> str:
    c = commit.strip().lower()
    if not _COMMIT_RE.match(c):
        raise ValueError(f"not a git commit id: {commit!r}")
    return c[:7]


def bounded_name(*parts: str) -> str:
    """`a-b-c` within 63 characters; a longer first part is cut and a hash keeps it unique."""
    name = "-".join(parts)
    if len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    rest = "-".join((digest,) + parts[1:])
    head = parts[0][: NAME_MAX - len(rest) - 1].rstrip("-")
    return f"{head}-{rest}"


def resource_names(model: str, env: str, commit: str, endpoint: str | None = None) -> ResourceNames:
    """Deterministic names for the model, endpoint config and transform job of a deploy."""
    base = bounded_name(model, env, short_commit(commit))
    return ResourceNames(model=base, endpoint_config=base, endpoint=endpoint,
                         transform_job=None if endpoint else base)


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_digest(manifest: Manifest, env: str) -> str:
    """Digest of what defines the SageMaker model (source, container env, container mode)."""
    e = manifest.environments[env]
    return _digest({"model": manifest.model.model_dump(mode="json", by_alias=True),
                    "multi_model": e.multi_model.prefix if e.multi_model else None})


def config_digest(variants: tuple[VariantPlan, ...], e: EnvironmentSpec) -> str:
    """Digest of an endpoint config's content (variants by model digest, capture, async)."""
    return _digest({
        "variants": [(v.name, v.model_digest or v.model_name, v.instance_type, v.instance_count,
                      v.weight, v.serverless_memory_mb, v.serverless_max_concurrency, v.shadow)
                     for v in variants],
        "data_capture": e.data_capture.model_dump(mode="json") if e.data_capture else None,
        "async": e.async_.model_dump(mode="json") if e.async_ else None,
        "serverless_provisioned": e.serverless.provisioned_concurrency if e.serverless else None,
    })


def deploy_tags(spec: DeploySpec) -> dict[str, str]:
    """Tags for every resource of this deploy (pipeline values are added when resolved)."""
    m = spec.manifest
    tags = {**m.metadata.tags, **spec.env.tags,
            "modelbot:model": m.metadata.name, "modelbot:environment": spec.environment,
            "modelbot:commit": spec.commit.lower()}
    for key, value in (("modelbot:build-id", m.provenance.build_id),
                       ("modelbot:data-version", m.provenance.data_version)):
        if isinstance(value, str):
            tags[key] = value
    return tags
