"""Model contracts before merge (issue #14, parts 1 and 6): the manifest's `contract:` held against
the whole validation set, both models' predictions and its own sample payloads; every broken
contract a located error that fails the verdict, never a crash and never a pass.

Through `compare_manifest` over a checkout (pipeline predictions joined by row id), as in
test_slices."""

from __future__ import annotations

import numpy as np

from bot.app.services.comparison import CompareDeps, CompareRequest, compare_manifest
from bot.adapters.sources import Fetchers, LocalFetcher
from bot.core.manifest import load_manifest
from bot.core.render import render
from tests.compare_e2e import helpers as h
from tests.compare_e2e.test_bad_data import BASELINE, DATASET, PREDICTIONS

CONTRACT = """contract:
  input:
    fields:
      - {name: tenure, type: number, min: -10, max: 10}
      - {name: spend, type: number, min: -10, max: 10}
      - {name: tickets, type: number, required: false}
      - {name: plan, type: string, categories: [basic, pro]}
  output: {type: number, min: 0, max: 1}
"""


def write(tmp_path, n=600, *, plan=None, cand_scale=1.0, base_scale=1.0, extra=None):
    ids, y, x = h.binary_set(n, 5)
    plans = np.asarray(plan if plan is not None else ["basic", "pro"] * (n // 2), dtype=object)
    data = {**h.dataset_columns(ids, y, x), "plan": plans, **(extra or {})}
    preds = {"id": ids.copy(), "prediction": h.probabilities(y, 0.3, 6) * cand_scale,
             "baseline_prediction": h.probabilities(y, 0.3, 5) * base_scale}
    (tmp_path / DATASET).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / PREDICTIONS).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / DATASET).write_bytes(h.csv_bytes(data))
    (tmp_path / PREDICTIONS).write_bytes(h.csv_bytes(preds))


def manifest_text(contract=CONTRACT):
    text = h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE,
                      gates="    - metric: auc\n      max_regression: {absolute: 0.2}\n")
    return text.replace("environments:\n", contract + "environments:\n", 1)


def run(tmp_path, text=None):
    loaded = load_manifest(h.PATH, text or manifest_text())
    assert loaded.manifest is not None, loaded.problems
    req = CompareRequest(h.PATH, loaded.manifest, "production", h.REPO, "a" * 40, BASELINE)
    return compare_manifest(req, CompareDeps(fetchers=Fetchers(repo=LocalFetcher(tmp_path))))


def errors(out):
    return [c["message"] for c in out.contract if c["level"] == "error"]


def test_a_set_and_models_that_honour_the_contract_pass(tmp_path):
    write(tmp_path)
    out = run(tmp_path)
    assert out.status == "done", out.error
    assert errors(out) == [] and out.verdict == "pass"
    assert not [c for c in out.contract if c["level"] == "warning"]


def test_values_outside_a_range_or_the_categories_fail_with_field_count_and_first_row(tmp_path):
    plans = ["basic", "pro"] * 300
    plans[41], plans[77] = "gold", "gold"
    write(tmp_path, plan=plans)
    text = manifest_text(CONTRACT.replace("min: -10, max: 10}", "min: -1, max: 10}", 1))
    out = run(tmp_path, text)
    errs = errors(out)
    assert out.verdict == "fail"
    tenure = next(e for e in errs if "`tenure`" in e)
    assert tenure.startswith("contract.input.fields[0] `tenure`: below the minimum -1 in ")
    assert "first row" in tenure
    plan = next(e for e in errs if "`plan`" in e)
    assert "values outside the categories in 2 row(s), first row 42 ('gold')" in plan
    md = render("compare/section.md.j2", outcomes=[out])
    assert "first row 42" in md


def test_a_required_field_missing_from_the_set_or_of_the_wrong_type_is_an_error(tmp_path):
    write(tmp_path)
    contract = CONTRACT.replace(
        "      - {name: plan, type: string, categories: [basic, pro]}\n",
        "      - {name: plan, type: integer}\n      - {name: region, type: string}\n"
        "      - {name: device, type: string, required: false}\n")
    out = run(tmp_path, manifest_text(contract))
    errs = errors(out)
    assert any("`plan`: the column holds text, the contract says integer" in e for e in errs)
    assert any("`region`: not a column of the validation set" in e for e in errs)
    assert not any("`device`" in e for e in errs)  # optional: noted, not an error
    assert any("`device`" in c["message"] and c["level"] == "info" for c in out.contract)
    assert out.verdict == "fail"


def test_predictions_outside_the_output_range_fail_the_candidate_and_warn_for_the_live_model(tmp_path):
    narrow = manifest_text(CONTRACT.replace("max: 1}", "max: 0.9}"))
    write(tmp_path, base_scale=0.9)  # the candidate reaches 0.999, the live model stays under 0.9
    out = run(tmp_path, narrow)
    errs = errors(out)
    assert any(e.startswith("candidate's predictions: above the output maximum 0.9 in ") and "worst 0.999" in e
               for e in errs), errs
    assert out.verdict == "fail"
    write(tmp_path, cand_scale=0.9)
    out = run(tmp_path, narrow)
    assert errors(out) == []
    warnings = [c["message"] for c in out.contract if c["level"] == "warning"]
    assert any(w.startswith("baseline's predictions: above the output maximum 0.9") for w in warnings)
    assert out.verdict == "inconclusive"


def test_a_shape_the_predictions_do_not_have_is_an_error(tmp_path):
    write(tmp_path)
    out = run(tmp_path, manifest_text(CONTRACT.replace("output: {type: number, min: 0, max: 1}",
                                                       "output: {type: number, shape: [3]}")))
    assert any("1 value(s) per record, the contract's output shape says 3" in e for e in errors(out))
    assert out.verdict == "fail"


def test_sample_payloads_from_a_file_are_checked_and_a_bad_line_is_located(tmp_path):
    write(tmp_path)
    (tmp_path / "contracts").mkdir()
    good = '{"tenure": 1.5, "spend": 0.2, "plan": "pro"}\n{"tenure": 0, "spend": 1, "plan": "basic"}\n'
    (tmp_path / "contracts/churn.jsonl").write_text(good)
    text = manifest_text(CONTRACT + "  samples:\n    path: contracts/churn.jsonl\n")
    out = run(tmp_path, text)
    assert errors(out) == [] and out.verdict == "pass"
    assert any("2 sample payload(s) match the input contract" in c["message"] for c in out.contract)
    (tmp_path / "contracts/churn.jsonl").write_text(good + '{"tenure": 99, "spend": 0, "plan": "pro"}\n')
    out = run(tmp_path, text)
    [err] = errors(out)
    assert err == ("sample payloads: contract.samples.path contracts/churn.jsonl line 3: field 'tenure': "
                   "99 is above the maximum 10")
    assert out.verdict == "fail"
    (tmp_path / "contracts/churn.jsonl").write_text('{"tenure": 1, "spend": 0, "plan": "pro"\n')
    out = run(tmp_path, text)
    assert "line 1: not JSON" in errors(out)[0]


def test_a_samples_file_that_is_missing_is_an_error_not_a_pass(tmp_path):
    write(tmp_path)
    out = run(tmp_path, manifest_text(CONTRACT + "  samples:\n    path: contracts/none.jsonl\n"))
    assert out.verdict in ("fail", "error")
    assert out.verdict != "pass"


def test_changing_the_contract_changes_the_cache_key(tmp_path):
    write(tmp_path)
    a = run(tmp_path)
    b = run(tmp_path, manifest_text(CONTRACT.replace("max: 1}", "max: 2}")))
    assert a.key and b.key and a.key != b.key
