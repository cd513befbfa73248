"""Identities of the candidate, the dataset and the `validation:` spec: their digest is the cache
key, so a push that changes none of them computes nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from bot.core.compare.settings import CompareConfig
from bot.adapters.sources import dataset_location, is_s3
from bot.adapters.scoring.runner import is_trusted
from bot.core.plan import model_digest
from bot.app.services.comparison.model import ALGORITHM, CompareDeps, CompareRequest


def _digest(data: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def artifact_uri(manifest) -> str | None:
    src = manifest.model
    if src.artifact is not None:
        return src.artifact.uri
    if src.framework is not None:
        return src.framework.uri
    return None


def spec_digest(req: CompareRequest, config: CompareConfig, deps: CompareDeps | None = None) -> str:
    """The `validation:` and `contract:` sections (a samples file by its content) and the settings
    that change what a comparison finds."""
    spec = req.manifest.validation
    uri = artifact_uri(req.manifest)
    contract = req.manifest.contract
    samples_file = None
    if contract is not None and contract.samples is not None and contract.samples.path and deps is not None:
        samples_file = deps.fetchers.fingerprint(contract.samples.path)
    return _digest({"validation": spec.model_dump(mode="json"), "algorithm": ALGORITHM,
                    "contract": contract.model_dump(mode="json") if contract is not None else None,
                    "samples_file": samples_file,
                    "environment": req.environment,
                    "trusted_pickles": bool(uri and is_trusted(uri, config.trusted_pickle_prefixes)),
                    "local_max_rows": config.local_max_rows, "staging": asdict(req.staging) if req.staging else None,
                    "baseline_unknown": bool(req.baseline_unknown)})


def candidate_identity(req: CompareRequest, deps: CompareDeps) -> str:
    spec = req.manifest.validation
    ident = f"{req.manifest.metadata.name}@{model_digest(req.manifest, req.environment)}"
    if spec.predictions.source == "pipeline":
        return ident + "|predictions:" + deps.fetchers.fingerprint(spec.predictions.path)
    uri = artifact_uri(req.manifest)
    if uri is not None:
        return ident + "|artifact:" + deps.fetchers.fingerprint(uri)
    return ident + "|package:" + req.manifest.model.registry.model_package_arn


def dataset_identity(ds, deps: CompareDeps) -> str:
    location = dataset_location(ds)
    if ds.digest:
        return ds.digest
    if is_s3(location) and ds.version:
        return f"{location}?versionId={ds.version}"
    return deps.fetchers.fingerprint(location, version=ds.version)
