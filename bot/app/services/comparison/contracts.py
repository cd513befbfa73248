"""Contracts: the features each model expects against the set's columns and each other; the
manifest's `contract:` against the whole validation set, both models' predictions and its own
sample payloads; and a few real invocations of a staging endpoint that serves the candidate (the
contract's samples when it has them), with their latency."""

from __future__ import annotations

import numpy as np

from bot.core.compare.contract import prediction_findings, table_findings
from bot.core.compare.data import ComparisonDataError, check_predictions
from bot.core.contract import ContractError, contract_samples, encode_payload, judge_answers
from bot.adapters.aws.invoke import invoke_payloads
from bot.adapters.scoring.runner import isolation_note, sample_endpoint
from bot.app.services.comparison.inputs import contract_features
from bot.app.services.comparison.model import CompareDeps, CompareOutcome, CompareRequest


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


def _manifest_contract(req: CompareRequest, deps: CompareDeps, out: CompareOutcome, validation,
                       cand, base) -> list[dict] | None:
    """The manifest's contract against the set, both models' predictions and its samples;
    returns the sample payloads (None: none, or unreadable, which is an error line)."""
    c = req.manifest.contract
    if c is None:
        return None
    spec = req.manifest.validation
    ignore = (validation.label_column, validation.id_column, *(spec.slices.columns if spec.slices else ()))
    out.contract.extend(table_findings(c.input, validation.table, location=validation.location, ignore=ignore))
    if cand is not None:
        out.contract.extend(prediction_findings(c.output, cand, label="candidate", task=spec.task))
    if base is not None:
        out.contract.extend(prediction_findings(c.output, base, label="baseline", task=spec.task))
    try:
        samples = contract_samples(req.manifest, lambda path, n: deps.fetchers.fetch(path, max_bytes=n).data)
    except (ContractError, ComparisonDataError) as exc:
        out.contract.append({"level": "error", "message": f"sample payloads: {exc}"})
        return None
    if samples is not None:
        out.contract.append({"level": "info", "message": f"{len(samples)} sample payload(s) match the input "
                             "contract; they are sent to the new endpoint after each deploy"})
    return samples


def _samples(req: CompareRequest, deps: CompareDeps, out: CompareOutcome, validation,
             payloads: list[dict] | None = None) -> None:
    if req.staging is None or deps.runtime is None or deps.config.sample_invocations <= 0:
        return
    c = req.manifest.contract
    if c is not None and payloads:
        _contract_samples(req, deps, out, payloads)
        return
    _, matrix, _ = contract_features(req.manifest, validation).numeric_features()
    deps.say(f"invoking {req.staging.endpoint} ({req.staging.environment}) with sample rows")
    client = _staging_client(req, deps, out)
    if client is None:
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


def _staging_client(req: CompareRequest, deps: CompareDeps, out: CompareOutcome):
    """The staging environment's sagemaker-runtime client, or None with a warning line."""
    try:
        return deps.runtime(req.staging.environment)
    except Exception as exc:  # noqa: BLE001 - an unreachable staging endpoint is reported, not fatal
        out.contract.append({"level": "warning", "message": f"sample invocations of {req.staging.endpoint} "
                                                            f"skipped: {getattr(exc, 'reason', exc)}"})
        return None


def _contract_samples(req: CompareRequest, deps: CompareDeps, out: CompareOutcome, payloads: list[dict]) -> None:
    """The contract's payloads sent to the staging endpoint, each answer held to the output contract."""
    c = req.manifest.contract
    deps.say(f"invoking {req.staging.endpoint} ({req.staging.environment}) with the contract's samples")
    client = _staging_client(req, deps, out)
    if client is None:
        return
    bodies = [encode_payload(c.input, p) for p in payloads]
    result = invoke_payloads(client, req.staging.endpoint, bodies, content_type=c.input.content_type,
                             accept=c.output.accept)
    out.samples = {**result.to_dict(), "environment": req.staging.environment}
    for problem in judge_answers(c, payloads, list(result.answers)):
        out.contract.append({"level": "error", "message": f"{req.staging.endpoint}, {problem}"})
