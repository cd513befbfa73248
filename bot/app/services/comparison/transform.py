"""Batch transform predictions: SageMaker jobs started by one comparison and finished by later
polls (the outcome is `pending` until then)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from bot.core.compare.data import ComparisonDataError
from bot.adapters.aws import batch
from bot.adapters.aws.batch import TransformModel
from bot.adapters.aws.images import framework_image
from bot.adapters.cache import pull_ref
from bot.app.services.comparison.model import CompareDeps, CompareOutcome, CompareRequest, PENDING
from bot.app.services.comparison.inputs import _load, _need_s3, _sm
from bot.app.services.comparison.verdict import _evaluate


def _batch(req: CompareRequest, deps: CompareDeps, out: CompareOutcome, ident, key: str, row) -> CompareOutcome:
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
    return [pull_ref(req.repository, req.pr_number)] if req.pr_number is not None else []


def _candidate_model(req: CompareRequest, deps: CompareDeps, key: str):
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
