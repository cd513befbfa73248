"""The comparison's inputs: the validation set (bounded before it is read), the live model's and
a registry package's artifacts, and local scoring in the sandbox."""

from __future__ import annotations

from dataclasses import replace

from bot.core.compare.data import ComparisonDataError
from bot.adapters.sources import dataset_location, load_validation_set
from bot.adapters.aws.batch import _call
from bot.adapters.scoring.runner import ScoringJob, is_trusted, score_locally
from bot.app.services.comparison.model import Baseline, CompareDeps, CompareOutcome, CompareRequest, ERROR
from bot.app.services.comparison.identity import artifact_uri


def _need_s3(deps: CompareDeps, uri: str):
    if deps.s3 is None:
        raise ComparisonDataError("unreachable", f"{uri}: S3 cannot be read here")
    return deps.s3


def _failed(out: CompareOutcome, exc: ComparisonDataError) -> None:
    out.status, out.verdict, out.problem, out.error = ERROR, ERROR, exc.problem, str(exc)


def _load(req: CompareRequest, deps: CompareDeps, out: CompareOutcome, *, hint: str = "", local: bool = False):
    spec = req.manifest.validation
    deps.say(f"reading the validation set {dataset_location(spec.dataset)}")
    validation = load_validation_set(spec.dataset, deps.fetchers, max_bytes=deps.config.max_dataset_bytes,
                                     too_large_hint=hint, limits=deps.config.table_limits(local=local))
    out.dataset = {"location": validation.location, "digest": validation.digest, "version": validation.version,
                   "rows": validation.n_rows, "format": validation.format}
    out.n_rows = validation.n_rows
    if spec.slices is not None:  # before any scoring: a slice column the set lacks is the manifest's error
        for i, column in enumerate(spec.slices.columns):
            if column not in validation.table or column in (validation.label_column, validation.id_column):
                known = [c for c in validation.table if c not in (validation.label_column, validation.id_column)]
                raise ComparisonDataError(
                    "bad_slices", f"validation.slices.columns[{i}]: column {column!r} is not in the validation set "
                    f"{validation.location} (its columns: {', '.join(known[:20]) or 'none'}"
                    f"{', ...' if len(known) > 20 else ''})")
    return validation


def _sm(deps: CompareDeps, what: str):
    if deps.sagemaker is None:
        raise ComparisonDataError("aws_unavailable", f"{what}: SageMaker cannot be reached here")
    try:
        return deps.sagemaker()
    except Exception as exc:  # AwsUnavailable and friends: the reason is safe to show
        raise ComparisonDataError("aws_unavailable", f"{what}: {getattr(exc, 'reason', exc)}") from None


def baseline_artifact(deps: CompareDeps, baseline: Baseline) -> str:
    """The live model's ModelDataUrl (DescribeModel; a registry package's first container)."""
    where = f"the live model {baseline.model_name}"
    sm = _sm(deps, where)
    model = _call(sm.describe_model, where, "sagemaker:DescribeModel", ModelName=baseline.model_name) or {}
    containers = [model.get("PrimaryContainer")] if model.get("PrimaryContainer") else model.get("Containers", [])
    for c in containers or []:
        if c.get("ModelDataUrl"):
            return c["ModelDataUrl"]
        if c.get("ModelPackageName"):
            return registry_artifact(deps, c["ModelPackageName"])
    raise ComparisonDataError("unsupported_model", f"{where} has no model artifact (ModelDataUrl) to score locally")


def registry_artifact(deps: CompareDeps, package_arn: str) -> str:
    where = f"model package {package_arn}"
    answer = _call(_sm(deps, where).describe_model_package, where, "sagemaker:DescribeModelPackage",
                   ModelPackageName=package_arn) or {}
    for c in answer.get("InferenceSpecification", {}).get("Containers", []):
        if c.get("ModelDataUrl"):
            return c["ModelDataUrl"]
    raise ComparisonDataError("unsupported_model", f"{where} has no model artifact (ModelDataUrl) to score locally")


def _score(req: CompareRequest, deps: CompareDeps, validation, *, baseline_only: bool = False):
    trusted = deps.config.trusted_pickle_prefixes
    limit = deps.config.max_model_mb * 1024 * 1024
    def candidate():
        uri = artifact_uri(req.manifest) or registry_artifact(deps, req.manifest.model.registry.model_package_arn)
        return ScoringJob("candidate", uri, deps.fetchers.fetch(uri, max_bytes=limit).data,
                          is_trusted(uri, trusted))

    def baseline():
        uri = baseline_artifact(deps, req.baseline)
        return ScoringJob("baseline", uri, deps.fetchers.fetch(uri, max_bytes=limit).data,
                          is_trusted(uri, trusted))

    jobs = ([] if baseline_only else [candidate]) + ([baseline] if req.baseline is not None else [])
    return score_locally(jobs, contract_features(req.manifest, validation), req.manifest.validation.task,
                         deps.config.scoring_limits())


def contract_features(manifest, validation):
    """With a contract, the models read its input fields in its order (those the set has; a
    missing required one is the contract check's error), not every other column of the set:
    a slice or metadata column is no model input."""
    c = manifest.contract
    if c is None:
        return validation
    return replace(validation, feature_names=tuple(f.name for f in c.input.fields if f.name in validation.table))
