"""Bad evaluation data gets a ComparisonDataError that names the problem; good data is aligned by id."""

from __future__ import annotations

import numpy as np
import pytest

from bot.core.compare.data import (
    ComparisonDataError,
    check_predictions,
    load_table,
    prepare,
    require_columns,
)

Y = np.array([0, 1, 0, 1, 1, 0])
P = np.array([0.1, 0.9, 0.2, 0.7, 0.6, 0.4])
M = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]])
YM = np.array([0, 1, 2, 2])


@pytest.mark.parametrize(
    "call,problem,message",
    [
        (lambda: prepare("binary", Y, np.r_[P[:-1], np.nan]), "non_finite", "candidate predictions: 1 NaN value(s) in 1 row(s) (rows 5)"),
        (lambda: prepare("binary", Y, P, np.r_[np.inf, P[1:]]), "non_finite", "baseline predictions: 1 infinite"),
        (lambda: prepare("regression", Y * 1.0, np.r_[P[:-1], -np.inf]), "non_finite", "infinite"),
        (lambda: prepare("binary", [], []), "empty", "evaluation set is empty"),
        (lambda: prepare("binary", Y, np.array(["0.1", "x", "0.2", "0.3", "0.4", "0.5"])), "non_numeric", "expected numbers"),
        (lambda: prepare("binary", Y, np.array([0.1, "high", 0.2, 0.3, 0.4, 0.5], dtype=object)), "non_numeric", "'high'"),
        (lambda: prepare("binary", np.r_[Y[:-1], 2], P), "unknown_labels", "outside the known classes [0, 1] (e.g. 2"),
        (lambda: prepare("binary", ["cat", "dog", "cat", "dog", "cow", "cat"], P, classes=["cat", "dog"]), "unknown_labels", "'cow'"),
        (lambda: prepare("multiclass", [0, 1, 3, 2], M), "unknown_labels", "known classes [0, 1, 2]"),
        (lambda: prepare("binary", np.zeros(6), P), "one_class", "only one class present in the labels (0, 6 rows): ROC AUC"),
        (lambda: prepare("multiclass", [2, 2, 2, 2], M), "one_class", "only one class"),
        (lambda: prepare("binary", Y, P * 2), "probability_range", "outside [0, 1]"),
        (lambda: prepare("binary", Y, P - 0.5), "probability_range", "not scores or logits"),
        (lambda: prepare("multiclass", YM, M * 0.9), "probability_sum", "(e.g. sum 0.9; rows 0, 1, 2, 3)"),
        (lambda: prepare("multiclass", YM, np.c_[M[:, :2], M[:, 2:] + 0.05]), "probability_sum", "do not sum to 1"),
        (lambda: prepare("binary", Y, P[:-1]), "length_mismatch", "6 labels but 5 candidate predictions"),
        (lambda: prepare("binary", Y, P, P[:4]), "length_mismatch", "4 baseline predictions"),
        (lambda: prepare("binary", Y, np.c_[1 - P, P]), "bad_shape", "expected a 1-D column (P(positive class) per row), got shape (6, 2)"),
        (lambda: prepare("multiclass", YM, M[:, :2], classes=[0, 1, 2]), "bad_shape", "shape (n, 3), got (4, 2)"),
        (lambda: prepare("multiclass", YM, np.array([0.1, 0.2, 0.3, 0.4])), "bad_shape", "multiclass predictions must be an (n, k)"),
        (lambda: prepare("binary", np.r_[Y[:-1] * 1.0, np.nan], P), "missing_labels", "1 missing (NaN)"),
        (lambda: prepare("binary", np.array(["a", None, "b", "a", "b", "a"], dtype=object), P, classes=["a", "b"]), "missing_labels", "missing value"),
        (lambda: prepare("regression", [1.0, 1.0, 1.0], [1.0, 2.0, 3.0]), "constant_labels", "R² is undefined"),
        (lambda: prepare("regression", [1.0, np.nan, 2.0], [1.0, 2.0, 3.0]), "missing_labels", "labels: 1 missing"),
        (lambda: prepare("ranking", Y, P), "unknown_task", "unknown task 'ranking'"),
        (lambda: check_predictions(np.array([1 + 1j, 0.5]), "binary"), "non_numeric", "complex"),
    ],
    ids=[
        "nan", "inf-baseline", "inf-regression", "empty", "text", "text-object", "unknown-label",
        "unknown-string-label", "unknown-multiclass-label", "one-class", "one-class-multiclass", "above-1",
        "negative", "rows-sum-0.9", "rows-sum-1.05", "length", "length-baseline", "binary-matrix",
        "multiclass-width", "multiclass-1d", "nan-label", "none-label", "constant-regression",
        "nan-regression-label", "unknown-task", "complex",
    ],
)
def test_bad_data_is_refused_with_a_message_that_names_the_problem(call, problem, message):
    with pytest.raises(ComparisonDataError) as info:
        call()
    assert info.value.problem == problem
    assert message in str(info.value)


IDS = np.array(["a", "b", "c", "d", "e", "f"])


@pytest.mark.parametrize(
    "cand_ids,problem,message",
    [
        (np.array(["a", "b", "c", "d", "e", "x"]), "id_mismatch", "no prediction for 1 of 6 label rows (ids: 'f')"),
        (np.array(["a", "b", "c", "d", "e", "f", "g"]), "length_mismatch", "6 candidate predictions but 7 ids"),
        (np.array(["a", "b", "c", "d", "e", "e"]), "duplicate_ids", "candidate predictions ids: 1 duplicate id(s) (e.g. 'e')"),
        (np.arange(6), "id_mismatch", "different types"),
    ],
    ids=["missing-id", "length", "duplicate", "types"],
)
def test_prediction_ids_must_match_label_ids(cand_ids, problem, message):
    with pytest.raises(ComparisonDataError) as info:
        prepare("binary", Y, P, ids=IDS, candidate_ids=cand_ids)
    assert info.value.problem == problem and message in str(info.value)


def test_extra_prediction_rows_are_refused():
    with pytest.raises(ComparisonDataError, match=r"1 row id\(s\) that are not in the labels \(ids: 'z'\)") as info:
        prepare("binary", Y, np.append(P, 0.5), ids=IDS, candidate_ids=np.append(IDS, "z"))
    assert info.value.problem == "id_mismatch"


def test_predictions_are_joined_to_labels_by_id():
    order = np.array([3, 0, 5, 1, 4, 2])
    base = P[::-1].copy()
    data = prepare(
        "binary", Y, P[order], base[order[::-1]], ids=IDS, candidate_ids=IDS[order], baseline_ids=IDS[order[::-1]]
    )
    assert np.array_equal(data.candidate, P) and np.array_equal(data.baseline, base)
    assert data.labels.dtype == bool and data.class_counts == (3, 3)


def test_nan_prediction_error_names_the_row_id():
    with pytest.raises(ComparisonDataError, match="ids 'c'"):
        prepare("binary", Y, np.where(IDS == "c", np.nan, P), ids=IDS, candidate_ids=IDS)


def test_string_classes_and_positive_class_order():
    labels = np.array(["spam", "ham", "spam", "ham", "ham", "spam"])
    data = prepare("binary", labels, P, classes=("ham", "spam"))
    assert data.labels.tolist() == [True, False, True, False, False, True]
    assert data.classes == ("ham", "spam")


def test_multiclass_defaults_classes_to_columns_and_accepts_float32_rounding():
    proba = (M.astype(np.float32) / M.sum(axis=1, keepdims=True)).astype(np.float32)
    data = prepare("multiclass", YM, proba)
    assert data.classes == (0, 1, 2) and data.labels.tolist() == [0, 1, 2, 2]
    assert data.class_counts == (1, 1, 2)


# -- tables --------------------------------------------------------------------------------------


def test_missing_label_column_is_named():
    table = load_table(b"id,prediction\n1,0.5\n2,0.25\n", "csv")
    with pytest.raises(ComparisonDataError, match="missing label column 'label'; columns present: 'id', 'prediction'") as info:
        require_columns(table, ["id", "label"], source="labels.csv")
    assert info.value.problem == "missing_column"


def test_load_csv_types_columns():
    table = load_table(b"id,label,p,name\n007,1,0.25,x\n008,0,,y\n", "csv", text_columns=["id"])
    assert table["id"].tolist() == ["007", "008"]
    assert table["label"].dtype == np.int64 and table["label"].tolist() == [1, 0]
    assert table["p"][0] == 0.25 and np.isnan(table["p"][1])
    assert table["name"].tolist() == ["x", "y"]


def test_load_jsonl_with_probability_vectors(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text('{"id": 1, "proba": [0.2, 0.8], "label": "b"}\n\n{"id": 2, "proba": [0.6, 0.4]}\n')
    table = load_table(path, "jsonl")
    assert table["id"].tolist() == [1, 2]
    assert table["proba"].shape == (2, 2)
    assert table["label"].tolist() == ["b", None]
    with pytest.raises(ComparisonDataError, match="1 missing value"):
        prepare("multiclass", table["label"], table["proba"], classes=["a", "b"])


@pytest.mark.parametrize(
    "raw,fmt,message",
    [
        (b"a,b\n1,2\n3\n", "csv", "line 3 has 1 fields, header has 2"),
        (b"", "csv", "empty file"),
        (b'{"a": 1}\nnot json\n', "jsonl", "line 2 is not JSON"),
        (b"[1, 2]\n", "jsonl", "not a JSON object"),
        (b"\xff\xfe", "csv", "not UTF-8"),
        (b"a\n1\n", "parquet", "unsupported table format 'parquet'"),
    ],
)
def test_unreadable_tables_are_refused(raw, fmt, message):
    with pytest.raises(ComparisonDataError, match=message):
        load_table(raw, fmt)
