"""The whole pure pipeline as an adapter will drive it: tables in, a gate report out."""

from __future__ import annotations

import json

import numpy as np

from bot.core.compare.data import load_table, prepare, require_columns
from bot.core.compare.gates import Gate, evaluate_gates
from bot.core.compare.stats import compare


def test_tables_to_verdict_joined_by_row_id():
    rng = np.random.default_rng(0)
    n = 400
    ids = [f"r{i:04d}" for i in range(n)]
    y = rng.random(n) < 0.4
    good = np.clip(0.5 + 0.35 * np.where(y, 1, -1) + rng.normal(0, 0.2, n), 0, 1)
    bad = np.clip(0.5 + 0.05 * np.where(y, 1, -1) + rng.normal(0, 0.2, n), 0, 1)
    labels_csv = "id,label\n" + "".join(f"{i},{int(v)}\n" for i, v in zip(ids, y))
    shuffled = rng.permutation(n)  # prediction files come in another row order
    cand_jsonl = "".join(json.dumps({"id": ids[j], "p": float(bad[j])}) + "\n" for j in shuffled)
    base_jsonl = "".join(json.dumps({"id": ids[j], "p": float(good[j])}) + "\n" for j in shuffled[::-1])

    lab = load_table(labels_csv.encode(), "csv", text_columns=["id"])
    cand, base = load_table(cand_jsonl.encode(), "jsonl"), load_table(base_jsonl.encode(), "jsonl")
    label_ids, labels = require_columns(lab, ["id", "label"], "labels.csv")
    data = prepare(
        "binary", labels, cand["p"], base["p"],
        ids=label_ids, candidate_ids=cand["id"], baseline_ids=base["id"],
    )
    assert np.allclose(data.candidate, bad) and np.allclose(data.baseline, good)

    report = evaluate_gates(compare(data), [Gate("roc_auc", min=0.6, max_regression=0.02), Gate("log_loss", max_regression=0.05)])
    assert report.verdict == "fail"
    assert [r.verdict for r in report.results] == ["fail", "fail"]
    assert report.results[0].p_value < 1e-6


def test_multiclass_macro_f1_gate():
    rng = np.random.default_rng(1)
    n, k = 3000, 3
    y = rng.integers(0, k, n)

    def model(skill):
        logits = rng.normal(size=(n, k))
        logits[np.arange(n), y] += skill
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    data = prepare("multiclass", np.array(["a", "b", "c"])[y], model(0.5), model(2.0), classes=["a", "b", "c"])
    comp = compare(data, n_resamples=300)
    report = evaluate_gates(comp, [Gate("f1", max_regression=0.02), Gate("roc_auc", max_regression=0.02)])
    assert [r.verdict for r in report.results] == ["fail", "fail"]
    assert report.results[1].interval_method == "bootstrap" and report.results[1].title == "ROC AUC (macro)"
