"""`compare_manifest`: one comparison, from the cache key to the verdict (see the package docstring)."""

from __future__ import annotations

import hashlib

from bot.core.compare.data import ComparisonDataError
from bot.core.compare.gates import GateConfigError
from bot.adapters.sources import TRANSIENT, dataset_location, load_prediction_file
from bot.adapters.cache import Identity
from bot.app.services.comparison.model import CompareDeps, CompareOutcome, CompareRequest, ERROR
from bot.app.services.comparison.identity import candidate_identity, dataset_identity, spec_digest
from bot.app.services.comparison.inputs import _failed, _load, _score
from bot.app.services.comparison.contracts import _input_contracts
from bot.app.services.comparison.verdict import _evaluate
from bot.app.services.comparison.transform import _batch


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
        ident = Identity(req.repository, req.pr_number, req.commit, req.path, req.manifest.metadata.name,
                         req.environment, spec.predictions.source, out.candidate,
                         req.baseline.identity if req.baseline else None, dataset_id,
                         spec_digest(req, deps.config, deps))
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
