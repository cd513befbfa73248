"""Local scoring (XGBoost, ONNX, trusted pickles) in the sandboxed subprocess, input/output
contracts, limits, formats (jsonl, parquet), other tasks, and reading batch transform output.

S3 is an in-memory stand-in here (`MemoryS3`, the `S3Fetcher` interface); the S3 adapter itself
is exercised against moto in test_aws_flows.py.
"""

from __future__ import annotations

import io
import json
import pickle
import sys

import numpy as np
import pytest
from sklearn import metrics as skm

from bot.adapters.aws import batch
from bot.core.compare.data import ComparisonDataError
from bot.app.services.comparison import Baseline, CompareConfig, CompareDeps, CompareRequest, compare_manifest
from bot.adapters.scoring.runner import ScoringJob, ScoringLimits, score_locally
from bot.adapters.sources import Blob, Fetchers, LocalFetcher, load_validation_set, sha256_digest
from bot.core.manifest import load_manifest
from tests.compare_e2e import helpers as h

CANDIDATE_URI = "s3://acme-models/churn/v2/model.tar.gz"
BASELINE_URI = "s3://acme-models/churn/v1/model.tar.gz"
DATA_URI = "s3://acme-data/churn/validation.csv"
BASELINE = Baseline("production", "churn-production", "AllTraffic", h.BASELINE_MODEL, "0123456789abcdef")


class MemoryS3:
    """S3Fetcher's interface over a dict, for tests that are about what is read, not how."""

    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def fetch(self, location, *, version=None, max_bytes, too_large_hint=""):
        if location not in self.objects:
            raise ComparisonDataError("unreachable", f"cannot read {location}: no such object")
        return Blob(location, self.objects[location])

    def fingerprint(self, location, *, version=None):
        return f"{location}@{sha256_digest(self.fetch(location, max_bytes=1 << 40).data)}"


class FakeSageMaker:
    """DescribeModel of the live model (its artifact)."""

    def __init__(self, uri=BASELINE_URI):
        self.uri = uri

    def describe_model(self, ModelName):
        return {"ModelName": ModelName, "PrimaryContainer": {"Image": h.IMAGE, "ModelDataUrl": self.uri}}


@pytest.fixture(scope="module")
def data():
    ids, y, x = h.binary_set(300, 11)
    return ids, y, x, h.csv_bytes(h.dataset_columns(ids, y, x))


def run_local(objects, *, baseline=BASELINE, config=CompareConfig(), text=None, tmp_path=None):
    text = text or h.manifest(dataset=h.s3_dataset(DATA_URI, h.digest(objects[DATA_URI])), predictions=h.LOCAL)
    manifest = load_manifest(h.PATH, text).manifest
    req = CompareRequest(h.PATH, manifest, "production", h.REPO, "b" * 40, baseline)
    deps = CompareDeps(config=config, fetchers=Fetchers(s3=MemoryS3(objects),
                                                        repo=LocalFetcher(tmp_path) if tmp_path else None),
                       sagemaker=lambda: FakeSageMaker())
    return compare_manifest(req, deps)


def test_onnx_candidate_against_xgboost_baseline(data):
    ids, y, x, csv = data
    objects = {DATA_URI: csv, CANDIDATE_URI: h.tar_gz({"model.onnx": h.onnx_model(x, y)}),
               BASELINE_URI: h.tar_gz({"xgboost-model": h.xgboost_model(x, y)})}
    out = run_local(objects)
    assert out.status == "done" and out.rows[0]["candidate"] > 0.8, out.error  # scored, whatever the verdict
    assert "candidate: onnx model.onnx, baseline: xgboost xgboost-model" in " ".join(out.notes)
    assert any("candidate (onnx) reads 3 positional features" in c["message"] for c in out.contract)


def test_a_candidate_that_reads_other_features_is_inconclusive(data):
    ids, y, x, csv = data
    two = h.xgboost_model(x[:, :2], y, feature_names=("tenure", "spend"))
    objects = {DATA_URI: csv, CANDIDATE_URI: h.tar_gz({"m.json": h.xgboost_model(x, y)}),
               BASELINE_URI: h.tar_gz({"m.json": two})}
    out = run_local(objects)
    assert out.verdict == "inconclusive"
    assert any(c["level"] == "warning" and "new: tickets" in c["message"] for c in out.contract)


def test_a_candidate_needing_columns_the_set_lacks(data):
    ids, y, x, csv = data
    objects = {DATA_URI: csv, BASELINE_URI: b"",
               CANDIDATE_URI: h.tar_gz({"m.json": h.xgboost_model(x, y, feature_names=("tenure", "spend", "age"))})}
    out = run_local(objects, baseline=None)
    assert out.problem == "missing_features"
    assert "expects features the validation set does not have: 'age'" in out.error


def test_positional_models_must_match_the_feature_count(data):
    ids, y, x, csv = data
    objects = {DATA_URI: csv, CANDIDATE_URI: h.tar_gz({"m.json": h.xgboost_model(x[:, :2], y, feature_names=None)})}
    out = run_local(objects, baseline=None)
    assert out.problem == "feature_count" and "expects 2 features, the validation set has 3" in out.error


def test_with_a_contract_a_positional_model_reads_its_fields_not_every_column(data):
    ids, y, x, _ = data
    csv = h.csv_bytes({**h.dataset_columns(ids, y, x), "segment": np.arange(len(y)) % 4})  # metadata, not an input
    objects = {DATA_URI: csv, CANDIDATE_URI: h.tar_gz({"m.json": h.xgboost_model(x[:, :2], y, feature_names=None)})}
    plain = h.manifest(dataset=h.s3_dataset(DATA_URI, h.digest(csv)), predictions=h.LOCAL)
    out = run_local(objects, baseline=None, text=plain)
    assert out.problem == "feature_count" and "expects 2 features, the validation set has 4" in out.error
    contract = ("contract:\n  input:\n    fields:\n      - {name: tenure, type: number}\n"
                "      - {name: spend, type: number}\n  output: {type: number, min: 0, max: 1}\n")
    out = run_local(objects, baseline=None, text=plain.replace("environments:\n", contract + "environments:\n", 1))
    assert out.status == "done", out.error
    assert not [c for c in out.contract if c["level"] == "error"]
    assert any("not model inputs" in c["message"] and "segment" in c["message"] for c in out.contract)


def test_too_large_for_local_scoring_points_to_batch_transform(data):
    ids, y, x, csv = data
    objects = {DATA_URI: csv, CANDIDATE_URI: b"never read"}
    out = run_local(objects, baseline=None, config=CompareConfig(local_max_rows=100))
    assert out.problem == "too_large_for_local"
    assert "300 rows, more than the 100 rows modelbot scores locally" in out.error
    assert "validation.predictions.source: batch_transform" in out.error


def test_pickles_load_only_from_trusted_prefixes(data):
    from sklearn.linear_model import LogisticRegression

    ids, y, x, csv = data
    pkl = pickle.dumps(LogisticRegression().fit(x, y))
    objects = {DATA_URI: csv, CANDIDATE_URI: h.tar_gz({"model.pkl": pkl})}
    refused = run_local(objects, baseline=None)
    assert refused.problem == "pickle_refused"
    # Pickles are recognised by their bytes too, whatever the name.
    objects[CANDIDATE_URI] = h.tar_gz({"model": pkl})
    assert run_local(objects, baseline=None).problem == "pickle_refused"
    trusted = CompareConfig(trusted_pickle_prefixes=["s3://acme-models/churn/"])
    out = run_local(objects, baseline=None, config=trusted)
    assert out.status == "done" and out.verdict == "pass", out.error
    with pytest.raises(ValueError, match="repository paths are never trusted"):
        CompareConfig(trusted_pickle_prefixes=["models/"])
    with pytest.raises(ValueError):  # a bucket name prefix would trust s3://acme-models-evil/
        CompareConfig(trusted_pickle_prefixes=["s3://acme-models"])


def test_scoring_is_stopped_at_the_wall_clock_limit(data):
    ids, y, x, csv = data
    vs = load_validation_set(load_manifest(h.PATH, h.manifest(dataset=h.s3_dataset(DATA_URI, h.digest(csv)),
                                                                 predictions=h.LOCAL)).manifest.validation.dataset,
                             Fetchers(s3=MemoryS3({DATA_URI: csv})))
    job = ScoringJob("candidate", CANDIDATE_URI, h.tar_gz({"m.json": h.xgboost_model(x, y)}))
    with pytest.raises(ComparisonDataError, match="took longer than 0.05 s and was stopped") as err:
        score_locally([job], vs, "binary", ScoringLimits(wall_seconds=0.05))
    assert err.value.problem == "scoring_timeout"
    with pytest.raises(ComparisonDataError) as err:  # an address space too small to load the model
        score_locally([job], vs, "binary", ScoringLimits(memory_mb=64))
    assert err.value.problem in ("scoring_memory", "scoring_failed")


def test_unsafe_archives_and_unknown_formats_are_refused(data):
    ids, y, x, csv = data
    objects = {DATA_URI: csv, CANDIDATE_URI: h.tar_gz({"../../etc/evil.json": b"{}"})}
    assert "points outside the archive" in run_local(objects, baseline=None).error
    objects[CANDIDATE_URI] = h.tar_gz({"inference.py": b"print()", "weights.bin": b"\x00" * 10})
    out = run_local(objects, baseline=None)
    assert out.problem == "unsupported_model" and "XGBoost .json/.ubj or ONNX .onnx" in out.error
    objects[CANDIDATE_URI] = h.tar_gz({"a.onnx": h.onnx_model(x, y), "b.json": h.xgboost_model(x, y)})
    assert run_local(objects, baseline=None).problem == "ambiguous_artifact"


def test_parquet_and_jsonl_sets(tmp_path, data, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids, y, x, csv = data
    buf = io.BytesIO()
    pq.write_table(pa.table(h.dataset_columns(ids, y, x)), buf)
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs/predictions.csv").write_bytes(h.csv_bytes({"id": ids, "prediction": h.probabilities(y, .3, 1)}))
    objects = {"s3://acme-data/v.parquet": buf.getvalue(),
               "s3://acme-data/v.jsonl": h.jsonl_bytes(h.dataset_columns(ids, y, x))}
    for uri, fmt in (("s3://acme-data/v.parquet", "parquet"), ("s3://acme-data/v.jsonl", "jsonl")):
        text = h.manifest(dataset=h.s3_dataset(uri, h.digest(objects[uri]), fmt), predictions=h.PIPELINE)
        out = run_local({**objects, DATA_URI: objects[uri]}, baseline=None, text=text, tmp_path=tmp_path)
        assert out.status == "done" and out.dataset["rows"] == 300 and out.dataset["format"] == fmt, out.error
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # an installation without pyarrow
    text = h.manifest(dataset=h.s3_dataset("s3://acme-data/v.parquet", h.digest(buf.getvalue()), "parquet"),
                      predictions=h.PIPELINE)
    out = run_local({**objects, DATA_URI: b""}, baseline=None, text=text, tmp_path=tmp_path)
    assert out.problem == "parquet_unavailable" and "parquet needs pyarrow" in out.error


def test_multiclass_and_regression_from_pipeline_files(tmp_path):
    rng = np.random.default_rng(5)
    n, k = 600, 3
    y = rng.integers(0, k, n)
    ids = np.array([f"r{i}" for i in range(n)])

    def softmax(skill):
        logits = rng.normal(size=(n, k))
        logits[np.arange(n), y] += skill
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    (tmp_path / "data").mkdir()
    (tmp_path / "outputs").mkdir()
    (tmp_path / "data/v.csv").write_bytes(h.csv_bytes({"id": ids, "label": y, "f": rng.normal(size=n)}))
    cand, base = softmax(0.3), softmax(2.5)
    (tmp_path / "outputs/p.jsonl").write_text("".join(
        json.dumps({"id": i, "prediction": c.tolist(), "baseline_prediction": b.tolist()}) + "\n"
        for i, c, b in zip(ids, cand, base)))
    ds = "    path: data/v.csv\n    format: csv\n    version: v1\n    label_column: label\n    id_column: id\n"
    text = h.manifest(dataset=ds, predictions="    source: pipeline\n    path: outputs/p.jsonl\n", task="multiclass",
                      metrics="[macro_f1, accuracy, log_loss]",
                      gates="    - metric: macro_f1\n      max_regression: {relative: 0.05}\n")
    out = run_local({}, text=text, tmp_path=tmp_path)
    assert out.verdict == "fail", out.error
    assert [r["metric"] for r in out.rows] == ["macro_f1", "accuracy", "log_loss"]
    assert out.rows[0]["title"] == "F1 (macro)" and out.rows[0]["gate"].startswith("macro_f1 regression")

    price = rng.normal(100, 20, n)
    (tmp_path / "data/v.csv").write_bytes(h.csv_bytes({"id": ids, "label": price, "f": rng.normal(size=n)}))
    base = price + rng.normal(0, 5, n)
    (tmp_path / "outputs/p.jsonl").write_text("".join(
        json.dumps({"id": i, "prediction": b + rng.normal(0, 0.3), "baseline_prediction": b}) + "\n"
        for i, b in zip(ids, base)))
    text = h.manifest(dataset=ds, predictions="    source: pipeline\n    path: outputs/p.jsonl\n", task="regression",
                      metrics="[rmse, mae, mape]",
                      gates="    - metric: rmse\n      max: 12.5\n      max_regression: {relative: 0.1}\n")
    out = run_local({}, text=text, tmp_path=tmp_path)
    assert out.verdict == "pass", (out.error, out.rows)
    mape = next(r for r in out.rows if r["metric"] == "mape")
    written = [json.loads(line) for line in (tmp_path / "outputs/p.jsonl").read_text().splitlines()]
    assert [w["id"] for w in written] == ids.tolist()
    for side in ("prediction", "baseline_prediction"):
        want = skm.mean_absolute_percentage_error(price, [w[side] for w in written])
        assert mape["candidate" if side == "prediction" else "baseline"] == pytest.approx(want, abs=1e-9)
    assert mape["title"] == "MAPE" and mape["reason"] == "no gate on this metric"
    assert mape["ci_low"] <= mape["delta"] <= mape["ci_high"]


# --- batch transform output ------------------------------------------------------------------------


def test_joined_output_is_read_back_by_row_index():
    csv_out = b"2,0.1,0.2,0.9\n0,1.0,2.0,0.25\n1,3.0,,0.5\n"
    keys, values = batch.parse_joined_output(csv_out, n_input_fields=3)
    assert keys == [2, 0, 1] and values == [[0.9], [0.25], [0.5]]
    assert batch.align(keys, values, 3, "x").tolist() == [0.25, 0.5, 0.9]
    # A JSON list inference (multiclass), and the JSON Lines form of a joined record.
    keys, values = batch.parse_joined_output(b'0,1.0,"[0.2,0.8]"\n1,2.0,[0.6,0.4]\n', n_input_fields=2)
    assert values == [[0.2, 0.8], [0.6, 0.4]]
    keys, values = batch.parse_joined_output(
        b'{"SageMakerInput": [1, 0.5], "SageMakerOutput": {"score": 0.7}}\n'
        b'{"SageMakerInput": [0, 0.1], "SageMakerOutput": 0.2}\n', n_input_fields=2)
    assert (keys, values) == ([1, 0], [[0.7], [0.2]])


@pytest.mark.parametrize("body, problem, message", [
    (b"0,1.0,0.3\n", "id_mismatch", "no prediction for 1 of 2 rows (e.g. rows 1)"),
    (b"0,1.0,0.3\n0,1.0,0.4\n1,1.0,0.5\n", "duplicate_ids", "rows answered more than once (e.g. 0)"),
    (b"0,1.0,0.3\n1,1.0,0.5\n7,1.0,0.5\n", "id_mismatch", "1 row(s) that are not in the input (e.g. 7)"),
    (b"0,1.0\n1,1.0\n", "bad_file", "was the job run with JoinSource: Input?"),
    (b"0,1.0,high\n1,1.0,0.5\n", "non_numeric", "the inference 'high'"),
    (b"", "empty", "no predictions"),
])
def test_broken_batch_output_is_a_clear_error(body, problem, message):
    with pytest.raises(ComparisonDataError) as err:
        keys, values = batch.parse_joined_output(body, n_input_fields=2, source="out")
        batch.align(keys, values, 2, "candidate batch transform output")
    assert err.value.problem == problem and message in str(err.value)


def test_a_missing_framework_is_named(data, tmp_path, monkeypatch):
    from bot.adapters.scoring import runner as scoring

    ids, y, x, csv = data
    wrapper = tmp_path / "worker.py"  # the worker as it runs where xgboost is not installed
    wrapper.write_text("import runpy, sys\nsys.modules['xgboost'] = None\n"
                       f"runpy.run_path({str(scoring.WORKER)!r}, run_name='__main__')\n")
    monkeypatch.setattr(scoring, "WORKER", wrapper)
    objects = {DATA_URI: csv, CANDIDATE_URI: h.tar_gz({"m.json": h.xgboost_model(x, y)})}
    out = run_local(objects, baseline=None)
    assert out.problem == "framework_missing" and "needs the xgboost package" in out.error


def test_pipeline_predictions_from_s3(data):
    ids, y, x, csv = data
    preds = h.csv_bytes({"id": ids[::-1], "prediction": h.probabilities(y, 0.3, 9)[::-1]})
    text = h.manifest(dataset=h.s3_dataset(DATA_URI, h.digest(csv)),
                      predictions="    source: pipeline\n    path: s3://acme-pipeline/run-7/predictions.csv\n")
    out = run_local({DATA_URI: csv, "s3://acme-pipeline/run-7/predictions.csv": preds}, baseline=None, text=text)
    assert out.verdict == "pass", out.error
    assert "s3://acme-pipeline/run-7/predictions.csv" in out.candidate
