"""Baseline comparison of one manifest: `validation:` spec + sources in, a verdict out, once per identity.

`compare_manifest(request, deps)` drives one comparison:

1. Identities, cheaply: the candidate (the model digest modelbot tags deployments with, plus
   the artifact's S3 version/ETag, or the pipeline's prediction file), the baseline (the live
   production variant's model name and `modelbot:digest`), the dataset (its pinned digest, S3
   version, or git blob) and the spec (the `validation:` section, the algorithm version, the
   trust decision). Their digest is the cache key: a push that changes none of them computes
   nothing (`cache.ComparisonCache`), and `force` (the `/validate` command) recomputes.
2. Data: the validation set (S3 or repository path; csv, jsonl, parquet; digest checked).
3. Predictions from the source the manifest chooses: `pipeline` (the pipeline's prediction
   file joined to the labels by row id; the live model's predictions from its
   `baseline_<column>` column, or scored locally), `local` (both models in a sandboxed
   subprocess, `scoring`), or `batch_transform` (SageMaker jobs started here and finished by
   later polls: the outcome is `pending` until then, `batch`).
4. Contracts: the features each model expects against the set's columns and against each other,
   output shape/type/range (`data.check_predictions`), and, when a staging endpoint serves the
   candidate, a few real invocations with their latency.
5. Statistics: `data.prepare` -> `stats.compare` -> `gates.evaluate_gates`.

Verdicts: `pass`, `fail` (a gate fails, or a contract is broken), `inconclusive` (too little
evidence, a baseline that cannot be judged, or inputs that differ from the live model's),
`error` (the comparison could not run: bad data, unreachable objects, refused pickles; never a
pass), `pending` (batch transform running), `skipped`. Manifest metrics map to the core's
names (`auc` -> `roc_auc`, `macro_f1` -> `f1`); every manifest metric is computed. A metric the
set does not define (MAPE with a label of 0) is listed with the reason and a gate on it is
inconclusive, never passed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from bot.core.errors import LiveUnavailable
from bot.core.compare.data import ComparisonDataError, check_predictions, prepare
from bot.core.compare.gates import FAIL, INCONCLUSIVE, PASS, Gate, GateConfigError, evaluate_gates
from bot.core.compare.metrics import metric_title
from bot.core.compare.settings import CompareConfig, compare_config
from bot.adapters.sources import (
    TRANSIENT,
    Fetchers,
    dataset_location,
    is_s3,
    load_prediction_file,
    load_validation_set,
)
from bot.core.compare.stats import compare

ALGORITHM = "2"  # bump when a change in modelbot changes what a stored result means
ERROR, PENDING, SKIPPED = "error", "pending", "skipped"
SEVERITY = {SKIPPED: -1, PASS: 0, INCONCLUSIVE: 1, PENDING: 2, FAIL: 3, ERROR: 4}
# The manifest's metric names (bot.core.manifest.model.METRICS) -> the statistics core's.
METRIC_NAMES = {"auc": "roc_auc", "accuracy": "accuracy", "f1": "f1", "precision": "precision",
                "recall": "recall", "log_loss": "log_loss", "macro_f1": "f1", "rmse": "rmse", "mae": "mae",
                "r2": "r2", "brier": "brier", "weighted_f1": "weighted_f1", "mape": "mape"}


# --- who is compared -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """The model live in the compared environment: its production variant with the most traffic."""

    environment: str
    endpoint: str
    variant: str
    model_name: str
    model_digest: str | None

    @property
    def identity(self) -> str:
        return f"{self.environment}/{self.endpoint}/{self.variant}:{self.model_name}@{self.model_digest or '-'}"


def baseline_from_live(environment: str, live) -> Baseline | None:
    """The baseline from a `bot.core.plan.LiveState`; None when nothing is live (first deployment)."""
    if live is None or not live.endpoint_exists:
        return None
    variants = [v for v in live.production_variants if v.model_name]
    if not variants:
        return None
    top = max(variants, key=lambda v: v.weight)  # stable: the first of equals
    return Baseline(environment, live.endpoint_name or "", top.name, top.model_name, top.model_digest)


def choose_environment(manifest, ordered: list[str], configs) -> str | None:
    """The environment to compare against: the first production environment (server config
    `production: true`) in deploy order that the manifest deploys to, else its first one."""
    mine = [e for e in ordered if e in manifest.environments]
    for env in mine:
        if getattr(configs.get(env), "production", False):
            return env
    return mine[0] if mine else None


@dataclass(frozen=True)
class Staging:
    """An endpoint (not the compared one) that already serves the candidate: sampled for latency."""

    environment: str
    endpoint: str


@dataclass(frozen=True)
class CompareRequest:
    path: str
    manifest: Any  # bot.core.manifest.Manifest with a `validation` section
    environment: str
    repository: str
    commit: str
    baseline: Baseline | None
    pr_number: int | None = None
    baseline_unknown: str | None = None  # why the live model is unknown (not: known to be absent)
    staging: Staging | None = None
    force: bool = False


@dataclass
class CompareDeps:
    """Adapters a comparison may use; each is optional and failing ones become clear errors."""

    config: CompareConfig = field(default_factory=CompareConfig)
    fetchers: Fetchers = field(default_factory=Fetchers)  # dataset and prediction files
    sagemaker: Callable[[], Any] | None = None  # -> sagemaker client of the compared environment
    runtime: Callable[[str], Any] | None = None  # environment -> sagemaker-runtime client
    cache: Any = None  # ComparisonCache
    progress: Callable[[str], None] | None = None
    execution_role_arn: str | None = None  # the environment's (server config), for batch transform
    region: str | None = None  # the environment's, for a framework source's image
    now: Callable[[], dt.datetime] | None = None

    @property
    def s3(self):
        return self.fetchers.s3

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


# --- the outcome ------------------------------------------------------------------------------------


@dataclass
class CompareOutcome:
    """What the report, the check run, the CLI and the ledger show for one manifest."""

    path: str
    model: str
    environment: str | None
    source: str | None
    status: str  # done | error | pending | skipped
    verdict: str  # pass | fail | inconclusive | error | pending | skipped
    task: str | None = None
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    contract: list[dict] = field(default_factory=list)  # {"level": error|warning|info, "message"}
    samples: dict | None = None
    error: str | None = None
    problem: str | None = None
    progress: str | None = None
    dataset: dict = field(default_factory=dict)  # location, digest, version, rows
    candidate: str | None = None
    baseline: str | None = None
    baseline_model: str | None = None
    has_baseline: bool = False
    n_rows: int | None = None
    confidence: float | None = None
    commit: str | None = None
    cached: bool = False
    key: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CompareOutcome":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def worst(verdicts) -> str:
    return max(verdicts, key=SEVERITY.__getitem__, default=SKIPPED)


def skipped(path: str, model: str, reason: str, environment: str | None = None) -> CompareOutcome:
    return CompareOutcome(path, model, environment, None, SKIPPED, SKIPPED, notes=[reason])


# --- identities and the cache key -----------------------------------------------------------------------


def _digest(data: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def artifact_uri(manifest) -> str | None:
    src = manifest.model
    if src.artifact is not None:
        return src.artifact.uri
    if src.framework is not None:
        return src.framework.uri
    return None


def spec_digest(req: CompareRequest, config: CompareConfig) -> str:
    spec = req.manifest.validation
    uri = artifact_uri(req.manifest)
    from bot.adapters.scoring.runner import is_trusted

    return _digest({"validation": spec.model_dump(mode="json"), "algorithm": ALGORITHM,
                    "environment": req.environment,
                    "trusted_pickles": bool(uri and is_trusted(uri, config.trusted_pickle_prefixes)),
                    "local_max_rows": config.local_max_rows, "staging": asdict(req.staging) if req.staging else None,
                    "baseline_unknown": bool(req.baseline_unknown)})


def candidate_identity(req: CompareRequest, deps: CompareDeps) -> str:
    from bot.core.plan import model_digest

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


def _need_s3(deps: CompareDeps, uri: str):
    if deps.s3 is None:
        raise ComparisonDataError("unreachable", f"{uri}: S3 cannot be read here")
    return deps.s3


# --- the comparison ---------------------------------------------------------------------------------------


def compare_manifest(req: CompareRequest, deps: CompareDeps) -> CompareOutcome:
    """Compare one manifest's candidate with the live model; see the module docstring."""
    spec = req.manifest.validation
    out = CompareOutcome(req.path, req.manifest.metadata.name, req.environment, spec.predictions.source,
                         ERROR, ERROR, task=spec.task, confidence=spec.confidence_level, commit=req.commit,
                         baseline=req.baseline.identity if req.baseline else None,
                         baseline_model=req.baseline.model_name if req.baseline else None,
                         has_baseline=req.baseline is not None,
                         dataset={"location": dataset_location(spec.dataset), "digest": spec.dataset.digest,
                                  "version": spec.dataset.version, "rows": None})
    ident = key = None
    try:
        out.candidate = candidate_identity(req, deps)
        dataset_id = dataset_identity(spec.dataset, deps)
        from bot.adapters.cache import Identity

        ident = Identity(req.repository, req.pr_number, req.commit, req.path, req.manifest.metadata.name,
                         req.environment, spec.predictions.source, out.candidate,
                         req.baseline.identity if req.baseline else None, dataset_id,
                         spec_digest(req, deps.config))
        key = hashlib.sha256("|".join([ident.candidate, ident.baseline or "none", ident.dataset,
                                       ident.spec_digest]).encode()).hexdigest()
        out.key = key
        row = deps.cache.get(key) if deps.cache is not None else None
        if row is not None and req.force and row.status != "pending":
            row = None  # /validate: compute again, overwrite the row
        if row is not None and row.status in ("done", "error") and row.result_dict:
            cached = CompareOutcome.from_dict(row.result_dict)
            cached.cached, cached.path, cached.key = True, req.path, key
            return cached
        if spec.predictions.source == "batch_transform":
            out = _batch(req, deps, out, ident, key, row)  # pending until a poll finds the jobs done
        else:
            _compute(req, deps, out)
    except ComparisonDataError as exc:
        _failed(out, exc)
    except GateConfigError as exc:
        _failed(out, ComparisonDataError("bad_gate", str(exc)))
    if deps.cache is not None and key is not None and out.status in ("done", "error") \
            and out.problem not in TRANSIENT:
        deps.cache.save(key, ident, status=out.status, verdict=out.verdict, result=out.to_dict(),
                        dataset_digest=out.dataset.get("digest"))
    return out


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
    return validation


def _compute(req: CompareRequest, deps: CompareDeps, out: CompareOutcome) -> None:
    spec = req.manifest.validation
    source = spec.predictions.source
    local_hint = "use `validation.predictions.source: batch_transform` for sets this large"
    validation = _load(req, deps, out, hint=local_hint if source == "local" else "", local=source == "local")
    cand_ids = base_ids = None
    contracts: dict[str, dict] = {}
    if source == "pipeline":
        deps.say(f"reading the pipeline's predictions {spec.predictions.path}")
        pf = load_prediction_file(spec.predictions.path, spec.predictions.column, spec.dataset.id_column,
                                  deps.fetchers, max_bytes=deps.config.max_dataset_bytes,
                                  limits=deps.config.table_limits())
        cand, cand_ids = pf.candidate, pf.ids
        out.notes.append(f"candidate predictions: column `{spec.predictions.column}` of the pipeline's file "
                         f"{pf.location} ({pf.digest[:19]}…)"
                         + (f", joined to the labels by `{spec.dataset.id_column}`" if spec.dataset.id_column else
                            ", aligned with the labels row by row (no id column)"))
        base = None
        if req.baseline is not None:
            if pf.baseline is not None:
                base, base_ids = pf.baseline, pf.ids
                out.notes.append(f"baseline predictions: column `baseline_{spec.predictions.column}` of the same "
                                 f"file (the pipeline scored the live model {req.baseline.model_name})")
            else:
                deps.say(f"scoring the live model {req.baseline.model_name} locally")
                [scored] = _score(req, deps, validation, baseline_only=True)
                base, contracts["baseline"] = scored.predictions, scored.contract
                base_ids = validation.ids if cand_ids is not None else None
                out.notes.append(f"baseline predictions: the live model {req.baseline.model_name} scored locally "
                                 f"({scored.contract.get('framework')}, {scored.contract.get('file')})")
    else:  # local
        deps.say("scoring the candidate" + (" and the live model" if req.baseline else "") + " locally")
        scored = _score(req, deps, validation)
        cand, contracts["candidate"] = scored[0].predictions, scored[0].contract
        base = None
        if req.baseline is not None:
            base, contracts["baseline"] = scored[1].predictions, scored[1].contract
        out.notes.append("predictions: scored locally in a sandboxed subprocess ("
                         + ", ".join(f"{s.label}: {s.contract.get('framework')} {s.contract.get('file')}"
                                     for s in scored) + f", {scored[0].seconds:.1f} s)")
    _input_contracts(out, validation, contracts)
    _evaluate(req, deps, out, validation, cand, base, cand_ids, base_ids)


def _score(req: CompareRequest, deps: CompareDeps, validation, *, baseline_only: bool = False):
    from bot.adapters.scoring.runner import ScoringJob, is_trusted, score_locally

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
    return score_locally(jobs, validation, req.manifest.validation.task, deps.config.scoring_limits())


def _sm(deps: CompareDeps, what: str):
    if deps.sagemaker is None:
        raise ComparisonDataError("aws_unavailable", f"{what}: SageMaker cannot be reached here")
    try:
        return deps.sagemaker()
    except Exception as exc:  # AwsUnavailable and friends: the reason is safe to show
        raise ComparisonDataError("aws_unavailable", f"{what}: {getattr(exc, 'reason', exc)}") from None


def baseline_artifact(deps: CompareDeps, baseline: Baseline) -> str:
    """The live model's ModelDataUrl (DescribeModel; a registry package's first container)."""
    from bot.adapters.aws.batch import _call

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
    from bot.adapters.aws.batch import _call

    where = f"model package {package_arn}"
    answer = _call(_sm(deps, where).describe_model_package, where, "sagemaker:DescribeModelPackage",
                   ModelPackageName=package_arn) or {}
    for c in answer.get("InferenceSpecification", {}).get("Containers", []):
        if c.get("ModelDataUrl"):
            return c["ModelDataUrl"]
    raise ComparisonDataError("unsupported_model", f"{where} has no model artifact (ModelDataUrl) to score locally")


# --- contracts --------------------------------------------------------------------------------------------


def _inputs(contract: dict) -> tuple[list[str] | None, int | None]:
    return contract.get("feature_names"), contract.get("n_features")


def _input_contracts(out: CompareOutcome, validation, contracts: dict[str, dict]) -> None:
    cand, base = contracts.get("candidate"), contracts.get("baseline")
    for label, c in (("candidate", cand), ("baseline", base)):
        if c is None:
            continue
        names, n = _inputs(c)
        what = f"{len(names)} named features" if names else f"{n} positional features" if n else "its inputs"
        out.contract.append({"level": "info", "message": f"{label} ({c.get('framework')}) reads {what}; output "
                                                          f"shape {tuple(c.get('output_shape') or ())}"})
    for level in sorted({c["isolation"] for c in (cand, base) if c and c.get("isolation")}):
        from bot.adapters.scoring.runner import isolation_note

        out.notes.append(isolation_note(level))
    if cand is None or base is None:
        return
    (cn, cc), (bn, bc) = _inputs(cand), _inputs(base)
    if cn and bn and cn != bn:
        added, removed = [f for f in cn if f not in bn], [f for f in bn if f not in cn]
        detail = "; ".join(p for p in (f"new: {', '.join(added[:10])}" if added else "",
                                       f"no longer read: {', '.join(removed[:10])}" if removed else "",
                                       "same features in another order" if not added and not removed else "") if p)
        out.contract.append({"level": "warning", "message": "the candidate reads different features than the live "
                                                            f"model ({detail}): callers must send what it expects"})
    elif cc is not None and bc is not None and cc != bc:
        out.contract.append({"level": "warning", "message": f"the candidate expects {cc} features, the live model "
                                                            f"{bc}: callers must change what they send"})


def _samples(req: CompareRequest, deps: CompareDeps, out: CompareOutcome, validation) -> None:
    if req.staging is None or deps.runtime is None or deps.config.sample_invocations <= 0:
        return
    from bot.adapters.scoring.runner import sample_endpoint

    _, matrix, _ = validation.numeric_features()
    deps.say(f"invoking {req.staging.endpoint} ({req.staging.environment}) with sample rows")
    try:
        client = deps.runtime(req.staging.environment)
    except Exception as exc:  # noqa: BLE001 - an unreachable staging endpoint is reported, not fatal
        out.contract.append({"level": "warning", "message": f"sample invocations of {req.staging.endpoint} "
                                                            f"skipped: {getattr(exc, 'reason', exc)}"})
        return
    samples = sample_endpoint(client, req.staging.endpoint, matrix, n=deps.config.sample_invocations)
    out.samples = {**samples.to_dict(), "environment": req.staging.environment}
    for err in samples.errors:
        out.contract.append({"level": "error", "message": f"{req.staging.endpoint}: {err}"})
    if samples.outputs:
        task = req.manifest.validation.task
        try:
            if len({len(o) for o in samples.outputs}) != 1:
                raise ComparisonDataError("bad_shape", f"answers of {req.staging.endpoint} have different lengths")
            values = np.array(samples.outputs, dtype=np.float64)
            if task == "binary" and values.shape[1] == 2:
                values = values[:, 1]
            check_predictions(values, task, name=f"answers of {req.staging.endpoint}")
        except ComparisonDataError as exc:
            out.contract.append({"level": "error", "message": str(exc)})


# --- statistics and verdicts ------------------------------------------------------------------------------


def core_gates(spec) -> list[tuple[Any, Gate]]:
    """The manifest's gates paired with the core's Gates (every manifest metric has a core name)."""
    judged = []
    for g in spec.gates:
        name = METRIC_NAMES[g.metric]
        mr = g.max_regression
        judged.append((g, Gate(name, min=g.min, max=g.max, max_regression=mr.absolute if mr else None,
                               max_relative_regression=mr.relative if mr else None,
                               confidence=spec.confidence_level)))
    return judged


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _row(metric: str, title: str, **values) -> dict:
    row = {"metric": metric, "title": title, "candidate": None, "baseline": None, "delta": None, "ci_low": None,
           "ci_high": None, "interval_method": None, "p_value": None, "gate": "—", "verdict": "—", "reason": "",
           "higher_is_better": None}
    row.update(values)
    return row


def _evaluate(req: CompareRequest, deps: CompareDeps, out: CompareOutcome, validation, cand, base,
              cand_ids=None, base_ids=None) -> None:
    spec = req.manifest.validation
    deps.say("computing metrics and intervals")
    joined = cand_ids is not None
    data = prepare(spec.task, validation.labels, cand, base,
                   ids=validation.ids if joined else None,
                   candidate_ids=cand_ids if joined else None,
                   baseline_ids=(base_ids if base_ids is not None else validation.ids)
                   if joined and base is not None else None)
    comparison = compare(data)
    judged = core_gates(spec)
    report = evaluate_gates(comparison, [g for _, g in judged])
    _samples(req, deps, out, validation)
    by_metric: dict[str, list] = {}
    for (mg, _), result in zip(judged, report.results):
        by_metric.setdefault(mg.metric, []).append(result)
    conf = spec.confidence_level
    rows, verdicts = [], [report.verdict]
    for metric in spec.metrics:
        core = METRIC_NAMES[metric]
        mc = comparison.metrics[core]  # manifest rules admit only the task's metrics
        results = by_metric.get(metric, [])
        if results:
            r = results[0]
            rows.append(_row(metric, r.title, candidate=_num(r.candidate), baseline=_num(r.baseline),
                             delta=_num(r.delta), ci_low=_num(r.ci_low), ci_high=_num(r.ci_high),
                             interval_method=r.interval_method, p_value=_num(r.p_value),
                             gate="; ".join(x.gate.replace(core, metric) for x in results),
                             verdict=max((x.verdict for x in results), key=SEVERITY.__getitem__),
                             reason="; ".join(x.reason for x in results), higher_is_better=r.higher_is_better,
                             regression_gate=any(g.has_regression_limit for mg, g in judged if mg.metric == metric)))
        else:
            iv = mc.delta_interval(conf) if mc.baseline is not None else mc.candidate_interval(conf)
            ok = iv is not None and iv.defined
            rows.append(_row(metric, metric_title(core, spec.task), candidate=_num(mc.candidate),
                             baseline=_num(mc.baseline), delta=_num(mc.delta),
                             ci_low=_num(iv.low) if ok else None, ci_high=_num(iv.high) if ok else None,
                             interval_method=iv.method if iv is not None else None, p_value=_num(mc.p_value),
                             reason=mc.undefined or "no gate on this metric", higher_is_better=mc.higher_is_better))
    if req.baseline is None and req.baseline_unknown:
        for row in rows:
            if row.get("regression_gate") and row["verdict"] == PASS:
                row["verdict"] = INCONCLUSIVE
                row["reason"] += f"; the regression limit was not judged: {req.baseline_unknown}"
                verdicts.append(INCONCLUSIVE)
        out.notes.append(f"baseline unknown: {req.baseline_unknown}; only absolute limits (min/max) were judged")
    else:
        out.notes.extend(report.notes)
    levels = {c["level"] for c in out.contract}
    if "error" in levels:
        verdicts.append(FAIL)
    elif "warning" in levels:
        verdicts.append(INCONCLUSIVE)
    out.rows = rows
    out.n_rows = comparison.n_rows
    out.has_baseline = comparison.has_baseline
    out.status, out.verdict = "done", worst(verdicts)
    if comparison.class_counts is not None:
        out.notes.append("rows per class: " + ", ".join(f"{c!r}: {k}" for c, k in
                                                          zip(comparison.classes or (), comparison.class_counts)))
    out.notes.append(f"{comparison.n_resamples} paired bootstrap resamples (seed {comparison.seed}); "
                     f"{conf:.0%} intervals")


# --- batch transform ---------------------------------------------------------------------------------------


def _batch(req: CompareRequest, deps: CompareDeps, out: CompareOutcome, ident, key: str, row) -> CompareOutcome:
    from bot.adapters.aws import batch

    spec = req.manifest.validation
    now = (deps.now or (lambda: dt.datetime.now(dt.timezone.utc)))()
    if row is None or row.status != "pending":
        config = deps.config
        if not config.work_prefix:
            raise ComparisonDataError("batch_config", "batch transform comparisons need an S3 work prefix: set "
                                                      "`compare.work_prefix` in the server config")
        validation = _load(req, deps, out)
        run_key = key[:18] + secrets.token_hex(3)  # a fresh start (/validate) gets fresh job names
        models = [_candidate_model(req, deps, run_key)]
        if req.baseline is not None:
            models.append(batch.TransformModel("baseline", req.baseline.model_name))
        deps.say("starting batch transform jobs")
        sm = _sm(deps, "batch transform")
        state = batch.start(sm, _need_s3(deps, config.work_prefix), key=run_key, validation=validation,
                            models=models, work_prefix=config.work_prefix,
                            instance_type=spec.predictions.instance_type,
                            instance_count=spec.predictions.instance_count,
                            tags={"modelbot:model": req.manifest.metadata.name,
                                  "modelbot:environment": req.environment, "modelbot:commit": req.commit.lower()})
        state.update(started=now.isoformat(), dataset=out.dataset, pulls=_pulls(req), heads=[req.commit])
        if deps.cache is not None:
            deps.cache.save(key, ident, status="pending", state=state, dataset_digest=validation.digest)
        return _pending(out, state, polls=0)
    state = row.state_dict
    out.dataset = state.get("dataset", out.dataset)
    out.n_rows = out.dataset.get("rows")
    sm = _sm(deps, "batch transform")
    state = {**batch.poll(sm, state), "pulls": _pulls(req), "heads": [req.commit]}  # needed here too (cache: union)
    if not batch.finished(state):
        started = dt.datetime.fromisoformat(state["started"])
        if (now - started).total_seconds() > deps.config.batch_timeout_seconds:
            batch.stop(sm, state)
            raise ComparisonDataError("batch_timeout", f"the batch transform jobs did not finish within "
                                                       f"{deps.config.batch_timeout_seconds} s; comment /validate to "
                                                       "start them again")
        polls = deps.cache.bump_polls(key, state) if deps.cache is not None else row.polls + 1
        return _pending(out, state, polls=polls)
    failed = batch.failures(state)
    if failed:
        raise ComparisonDataError("batch_failed", "batch transform failed: " + "; ".join(failed))
    deps.say("reading the batch transform outputs")
    validation = _load(req, deps, out)
    s3 = _need_s3(deps, state["input"])
    cand = batch.read_predictions(s3, state, "candidate", max_bytes=deps.config.max_dataset_bytes * 4)
    base = batch.read_predictions(s3, state, "baseline", max_bytes=deps.config.max_dataset_bytes * 4) \
        if "baseline" in state["jobs"] else None
    out.notes.append("predictions: SageMaker batch transform jobs "
                     + ", ".join(f"{j['name']} ({label})" for label, j in state["jobs"].items())
                     + " on " + state["input"])
    _evaluate(req, deps, out, validation, cand, base)
    return out


def _pulls(req: CompareRequest) -> list[str]:
    """The pull request whose head needs these jobs (`cache.ComparisonRow.pulls`)."""
    from bot.adapters.cache import pull_ref

    return [pull_ref(req.repository, req.pr_number)] if req.pr_number is not None else []


def _candidate_model(req: CompareRequest, deps: CompareDeps, key: str):
    from bot.adapters.aws.batch import TransformModel

    role = deps.execution_role_arn or deps.config.execution_role_arn
    if not role:
        raise ComparisonDataError("batch_config", "batch transform needs a role for the candidate's model: set "
                                                  f"`execution_role_arn` for environment {req.environment} or "
                                                  "`compare.execution_role_arn` in the server config")
    m = req.manifest.model
    request: dict[str, Any] = {"ExecutionRoleArn": role}
    env = dict(m.environment)
    if m.registry is not None:
        container: dict[str, Any] = {"ModelPackageName": m.registry.model_package_arn}
    elif m.artifact is not None:
        container = {"Image": m.artifact.image, "ModelDataUrl": m.artifact.uri}
    else:
        container = {"Image": _framework_image(req, deps), "ModelDataUrl": m.framework.uri}
    if env:
        container["Environment"] = env
    request["Containers" if m.registry is not None else "PrimaryContainer"] = \
        [container] if m.registry is not None else container
    return TransformModel("candidate", f"mbc-{key[:24]}-model", request)


def _framework_image(req: CompareRequest, deps: CompareDeps) -> str:
    """SageMaker's image for the candidate's framework, in the environment's region, for the
    instance type the transform jobs run on."""
    from bot.adapters.aws.images import framework_image

    f = req.manifest.model.framework
    if not deps.region:
        raise ComparisonDataError("batch_config", f"the {f.name} {f.version} framework image cannot be looked up: "
                                                  f"environment {req.environment} has no region")
    try:
        return framework_image(f.name, f.version, f.py_version, deps.region,
                               req.manifest.validation.predictions.instance_type)
    except ValueError as exc:
        raise ComparisonDataError("batch_config", f"model.framework: {exc}; fix the framework or version, use "
                                                  "model.artifact (uri + image), or predictions.source local or "
                                                  "pipeline") from None


def _pending(out: CompareOutcome, state: dict, *, polls: int) -> CompareOutcome:
    out.status, out.verdict = PENDING, PENDING
    jobs = ", ".join(f"{label} {j['name']}: {j.get('status', 'InProgress')}" for label, j in state["jobs"].items())
    checked = f"checked {polls} time{'s' if polls != 1 else ''}" if polls else "just started"
    out.progress = f"batch transform running ({jobs}); {checked}"
    out.dataset = state.get("dataset", out.dataset)
    return out


# --- from a review to comparisons: the pull request flow and `modelbot check` ------------------------------


class Sessions:
    """One boto3 session per server environment (its role assumed), made on first use."""

    def __init__(self, settings):
        self._envs = settings.server.environments
        self._made: dict[str, Any] = {}

    def __call__(self, env: str):
        if env not in self._made:
            from bot.adapters.aws.session import aws_session

            self._made[env] = aws_session(self._envs[env], env_name=env)
        return self._made[env]


def compared_manifests(review) -> list:
    """The reviewed manifests that have a `validation:` section and are not being removed."""
    return [m for m in review.manifests
            if m.manifest is not None and m.status != "removed" and m.manifest.validation is not None]


def _staging(m, env: str, configs) -> Staging | None:
    """An earlier, non-production environment whose endpoint already serves this candidate
    (its plan is "no changes": the live model has the candidate's digest)."""
    for e in m.environments:
        spec = m.manifest.environments.get(e.environment)
        if (e.environment != env and spec is not None and spec.mode in ("realtime", "serverless")
                and not getattr(configs.get(e.environment), "production", False)
                and e.live == "read" and e.plan is not None and e.plan.kind == "no_changes"):
            return Staging(e.environment, m.manifest.endpoint_name(e.environment))
    return None


def plan_comparison(m, *, settings, live_reader, repository: str, commit: str, pr_number: int | None = None,
                    force: bool = False, live_skipped: str = "the live state was not read"):
    """The CompareRequest for a reviewed manifest, or an outcome when there is nothing to run."""
    manifest = m.manifest
    configs = settings.server.environments
    env = choose_environment(manifest, settings.server.ordered_environments(), configs)
    name, spec = manifest.metadata.name, manifest.validation
    if env is None:
        return skipped(m.path, name, "the manifest deploys to no environment the server config defines")
    baseline, unknown = None, None
    if manifest.environments[env].mode == "batch":
        unknown = f"{env} runs batch transform jobs, not an endpoint: there is no live model to compare with"
    elif live_reader is None:
        unknown = live_skipped
    else:
        endpoint = manifest.endpoint_name(env)
        try:
            live = live_reader(env, endpoint)
        except (LiveUnavailable, KeyError) as exc:
            return CompareOutcome(m.path, name, env, spec.predictions.source, ERROR, ERROR, task=spec.task,
                                  problem="aws_unavailable", commit=commit,
                                  error=f"cannot read the model live in {env} (endpoint {endpoint}), so there is "
                                        f"no baseline to compare with: {getattr(exc, 'reason', exc)}",
                                  dataset={"location": dataset_location(spec.dataset), "digest": spec.dataset.digest})
        baseline = baseline_from_live(env, live)
    return CompareRequest(m.path, manifest, env, repository, commit, baseline, pr_number=pr_number,
                          baseline_unknown=unknown, staging=_staging(m, env, configs), force=force)


def make_deps(settings, env: str, *, repo, cache=None, progress=None, sessions: Sessions | None = None) -> CompareDeps:
    """Adapters for comparing in `env`: S3 and SageMaker as that environment, files from `repo`."""
    from bot.adapters.aws.session import client
    from bot.adapters.sources import S3Fetcher

    sessions = sessions or Sessions(settings)
    return CompareDeps(
        config=compare_config(settings),
        fetchers=Fetchers(s3=S3Fetcher(lambda: sessions(env)), repo=repo),
        sagemaker=lambda: client(sessions(env), "sagemaker"),
        runtime=lambda e: client(sessions(e), "sagemaker-runtime"),
        cache=cache, progress=progress,
        execution_role_arn=getattr(settings.server.environments[env], "execution_role_arn", None),
        region=getattr(settings.server.environments[env], "region", None))


def compare_checkout(result, settings, *, live_reader, root: str, live: bool = True) -> list[CompareOutcome]:
    """`modelbot check`: the same comparisons on a local checkout (files read under its root)."""
    from bot.adapters.sources import LocalFetcher

    from bot.adapters.worktree import repository_root

    repo = LocalFetcher(str(repository_root(root)))
    sessions = Sessions(settings)
    outcomes = []
    for m in compared_manifests(result.review):
        req = plan_comparison(m, settings=settings, live_reader=live_reader, repository="(local checkout)",
                              commit=result.commit, live_skipped="live state not read (--no-live)" if not live
                              else "the live state was not read")
        if isinstance(req, CompareOutcome):
            outcomes.append(req)
        elif req.manifest.validation.predictions.source == "batch_transform":
            outcomes.append(skipped(m.path, req.manifest.metadata.name, "batch transform comparisons run in the "
                                    "bot, which polls the jobs; `modelbot check` does not start them", req.environment))
        else:
            out = compare_manifest(req, make_deps(settings, req.environment, repo=repo, sessions=sessions))
            if out.problem in ("unreachable", "aws_unavailable"):  # runs "when the data is reachable"
                out = skipped(out.path, out.model, f"not run here: {out.error}", out.environment)
            outcomes.append(out)
    return outcomes


def exit_code(outcomes: list[CompareOutcome]) -> int:
    """1 when a comparison failed or could not run, else 0 (inconclusive does not fail a check)."""
    return 1 if any(o.verdict in (FAIL, ERROR) for o in outcomes) else 0
