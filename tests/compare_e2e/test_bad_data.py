"""Every class of bad input gives a clear error, no crash and never a pass: the comparison of one
manifest (`bot.app.services.comparison.compare_manifest`) over files in a checkout, as a pull request's head
or `modelbot check` presents them, with the check run it leads to."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from bot.app.services.comparison import Baseline, CompareDeps, CompareRequest, compare_manifest
from bot.adapters.sources import Fetchers, LocalFetcher
from bot.app.services.pull_comparison import compare_check
from bot.core.manifest import load_manifest
from tests.compare_e2e import helpers as h

DATASET = "data/churn/validation.csv"
PREDICTIONS = "outputs/predictions.csv"
BASELINE = Baseline("production", "churn-production", "AllTraffic", h.BASELINE_MODEL, "0123456789abcdef")


def checkout(tmp_path, n=200, *, dataset=None, predictions=None, **change):
    """Write the set and the pipeline's predictions; `change` edits columns before writing."""
    ids, y, x = h.binary_set(n, 3)
    data = h.dataset_columns(ids, y, x)
    cand, base = h.probabilities(y, 0.3, 4), h.probabilities(y, 0.3, 5)
    preds = {"id": ids.copy(), "prediction": cand, "baseline_prediction": base}
    for key, fn in change.items():
        target = data if key.startswith("data_") else preds
        fn(target)
    (tmp_path / DATASET).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / PREDICTIONS).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / DATASET).write_bytes(dataset if dataset is not None else h.csv_bytes(data))
    (tmp_path / PREDICTIONS).write_bytes(predictions if predictions is not None else h.csv_bytes(preds))


def compare(tmp_path, text=None, baseline=BASELINE):
    text = text or h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE)
    loaded = load_manifest(h.PATH, text)
    assert loaded.manifest is not None, loaded.problems
    req = CompareRequest(h.PATH, loaded.manifest, "production", h.REPO, "a" * 40, baseline)
    return compare_manifest(req, CompareDeps(fetchers=Fetchers(repo=LocalFetcher(tmp_path))))


def _set(column, index, value):
    def change(table):
        table[column] = table[column].astype(object if isinstance(value, str) else float)
        table[column][index] = value
    return change


CASES = [
    ("missing label column", dict(data_drop=lambda t: t.pop("label")),
     "missing_column", "data/churn/validation.csv (version v1): missing label column 'label'; columns present: "),
    ("row ids that do not match", dict(preds_ids=lambda t: t.update(id=np.char.add("x", t["id"]))),
     "id_mismatch", "no prediction for 200 of 200 label rows (ids: 'c00000', 'c00001'"),
    ("duplicate row ids", dict(preds_ids=lambda t: t["id"].__setitem__(1, t["id"][0])),
     "duplicate_ids", "1 duplicate id(s) (e.g. 'c00000')"),
    ("NaN predictions", dict(preds_nan=_set("prediction", 3, float("nan"))),
     "non_finite", "candidate predictions: 1 NaN value(s) in 1 row(s) (ids 'c00003')"),
    ("infinite predictions", dict(preds_inf=_set("baseline_prediction", 5, float("inf"))),
     "non_finite", "baseline predictions: 1 infinite value(s) in 1 row(s) (ids 'c00005')"),
    ("scores instead of probabilities", dict(preds_range=_set("prediction", 7, 3.5)),
     "probability_range", "the model must output probabilities, not scores or logits"),
    ("text predictions", dict(preds_text=_set("prediction", 2, "high")),
     "non_numeric", "candidate predictions: expected numbers"),
    ("text labels", dict(data_text=lambda t: t.update(label=np.where(t["label"] == 1, "yes", "no"))),
     "unknown_labels", "the labels are text"),
    ("one class only", dict(data_one=lambda t: t.update(label=np.zeros_like(t["label"]))),
     "one_class", "only one class present in the labels (0, 200 rows)"),
    ("missing labels", dict(data_nan=_set("label", 4, float("nan"))),
     "missing_labels", "labels: 1 missing (NaN) value(s) (ids 'c00004')"),
    ("no prediction column", dict(preds_col=lambda t: t.update(score=t.pop("prediction"))),
     "missing_column", "outputs/predictions.csv: missing the prediction column 'prediction'"),
]


@pytest.mark.parametrize("name, change, problem, message", CASES, ids=[c[0] for c in CASES])
def test_bad_data_is_a_clear_error_and_fails_the_check(tmp_path, name, change, problem, message):
    checkout(tmp_path, **change)
    out = compare(tmp_path)
    assert (out.status, out.verdict, out.problem) == ("error", "error", problem), out.error
    assert message in out.error
    check = compare_check([out])
    assert check.conclusion == "failure" and message in check.summary


def test_an_empty_set(tmp_path):
    checkout(tmp_path, dataset=b"id,label,tenure\n")
    out = compare(tmp_path)
    assert (out.verdict, out.problem) == ("error", "empty")
    assert "data/churn/validation.csv (version v1): the validation set is empty: no rows to compare" in out.error


def test_a_broken_csv_names_the_line(tmp_path):
    checkout(tmp_path, dataset=b"id,label,tenure\nc1,1,0.5\nc2,0\n")
    out = compare(tmp_path)
    assert out.problem == "bad_file" and "line 3 has 2 fields, header has 3" in out.error


def test_a_digest_mismatch_names_both_digests(tmp_path):
    checkout(tmp_path)
    actual = h.digest((tmp_path / DATASET).read_bytes())
    pinned = "sha256:" + "ab" * 32
    text = h.manifest(dataset=h.REPO_DATASET.replace('version: "v1"', f"digest: {pinned}"), predictions=h.PIPELINE)
    out = compare(tmp_path, text)
    assert out.problem == "digest_mismatch"
    assert f"the content's digest {actual} does not match the digest pinned in the manifest {pinned}" in out.error
    ok = h.manifest(dataset=h.REPO_DATASET.replace('version: "v1"', f"digest: {actual}"), predictions=h.PIPELINE)
    assert compare(tmp_path, ok).status == "done"


def test_a_missing_file_names_it(tmp_path):
    out = compare(tmp_path)
    assert out.problem == "unreachable" and "outputs/predictions.csv: no such file" in out.error


def test_a_live_model_without_predictions_in_the_file_is_not_compared_blindly(tmp_path):
    """The pipeline scored only the candidate: the live model is scored locally, and when that
    cannot be done (here: no SageMaker to describe it) the comparison is an error, not a pass."""
    checkout(tmp_path, preds_drop=lambda t: t.pop("baseline_prediction"))
    out = compare(tmp_path)
    assert out.verdict == "error" and "the live model churn-production-1111111" in out.error
    assert compare(tmp_path, baseline=None).verdict == "pass"  # first deployment: nothing to score


def test_brier_is_computed_and_its_gate_judged(tmp_path):
    checkout(tmp_path, n=400)
    _, y, _ = h.binary_set(400, 3)
    cand, base = h.probabilities(y, 0.3, 4), h.probabilities(y, 0.3, 5)
    want_c, want_b = skm.brier_score_loss(y, cand), skm.brier_score_loss(y, base)
    for limit, verdict in ((want_c + 0.01, "pass"), (want_c - 0.01, "fail")):
        text = h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE, metrics="[auc, brier]",
                          gates=f"    - metric: brier\n      max: {limit!r}\n")
        out = compare(tmp_path, text)
        brier = next(r for r in out.rows if r["metric"] == "brier")
        assert brier["title"] == "Brier score" and brier["higher_is_better"] is False
        assert brier["candidate"] == pytest.approx(want_c, abs=1e-9)
        assert brier["baseline"] == pytest.approx(want_b, abs=1e-9)
        assert brier["ci_low"] <= brier["delta"] <= brier["ci_high"]
        assert brier["verdict"] == verdict and out.verdict == verdict, brier["reason"]


def test_mape_on_labels_of_zero_is_refused_with_the_rows_and_its_gate_is_inconclusive(tmp_path):
    n = 300
    rng = np.random.default_rng(9)
    ids = np.array([f"r{i}" for i in range(n)])
    y = rng.normal(50, 10, n)
    y[[4, 120]] = 0.0
    cand, base = y + rng.normal(0, 1, n), y + rng.normal(0, 1, n)
    (tmp_path / DATASET).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / PREDICTIONS).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / DATASET).write_bytes(h.csv_bytes({"id": ids, "label": y, "f0": rng.normal(size=n)}))
    (tmp_path / PREDICTIONS).write_bytes(h.csv_bytes({"id": ids, "prediction": cand, "baseline_prediction": base}))
    text = h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE, task="regression", metrics="[mae, mape]",
                      gates="    - metric: mape\n      max: 0.5\n      max_regression: {absolute: 0.01}\n")
    out = compare(tmp_path, text)
    mape = next(r for r in out.rows if r["metric"] == "mape")
    assert mape["verdict"] == "inconclusive" and out.verdict == "inconclusive"
    assert mape["candidate"] is None and mape["ci_low"] is None
    assert "MAPE is undefined on this set: 2 of 300 labels are 0 (data rows 4, 120, counted from 0)" in mape["reason"]
    mae = next(r for r in out.rows if r["metric"] == "mae")
    assert mae["candidate"] == pytest.approx(skm.mean_absolute_error(y, cand), abs=1e-9)
    check = compare_check([out])
    assert check.conclusion == "neutral" and "MAPE is undefined on this set" in check.summary


def test_an_unexpected_failure_still_renders_and_fails_the_check(tmp_path):
    from bot.app.services.pull_comparison import failed_outcome
    from bot.core.render import render

    loaded = load_manifest(h.PATH, h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE))
    req = CompareRequest(h.PATH, loaded.manifest, "production", h.REPO, "a" * 40, BASELINE)
    out = failed_outcome(req, "the comparison failed unexpectedly (KeyError: 'x')")
    check = compare_check([out])
    assert check.conclusion == "failure" and "KeyError" in check.summary
    assert "KeyError" in render("compare/section.md.j2", outcomes=[out])
    assert "KeyError" in render("compare/cli.txt.j2", outcomes=[out])
