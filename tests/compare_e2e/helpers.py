"""Small generated validation sets, predictions, manifests and models for the comparison tests.

Everything is generated in the test run (seeded): binary labels with a chosen positive rate,
probabilities from a "model" with a chosen skill, tiny XGBoost / ONNX models trained on the
same features, and manifests whose `validation:` section points at them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile

import numpy as np

from bot.core.plan import LiveState, LiveVariant

REPO = "acme/models"
PATH = "models/churn/modelbot.yaml"
BASELINE_MODEL = "churn-production-1111111"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:2.0.0"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
FEATURES = ("tenure", "spend", "tickets")


def binary_set(n: int, seed: int = 0, pos_rate: float = 0.4):
    """(ids, labels 0/1, features (n, 3)) where the label depends on the features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    score = 1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.4 * x[:, 2]
    threshold = np.quantile(score + rng.normal(0, 0.7, n), 1 - pos_rate)
    y = ((score + rng.normal(0, 0.7, n)) > threshold).astype(int)
    ids = np.array([f"c{i:05d}" for i in range(n)])
    return ids, y, x


def probabilities(y, skill: float, seed: int, noise: float = 0.25) -> np.ndarray:
    """P(positive) with `skill` separation: 0 is a coin, 0.4 is a good model."""
    rng = np.random.default_rng(seed)
    return np.clip(0.5 + skill * np.where(y == 1, 1, -1) + rng.normal(0, noise, len(y)), 0.001, 0.999)


def csv_bytes(columns: dict) -> bytes:
    names = list(columns)
    n = len(next(iter(columns.values())))
    lines = [",".join(names)]
    for i in range(n):
        lines.append(",".join(_cell(columns[c][i]) for c in names))
    return ("\n".join(lines) + "\n").encode()


def _cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if np.isnan(v) else repr(float(v))
    return str(v.item() if isinstance(v, np.generic) else v)


def jsonl_bytes(columns: dict) -> bytes:
    names = list(columns)
    n = len(next(iter(columns.values())))
    rows = [{c: _plain(columns[c][i]) for c in names} for i in range(n)]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def dataset_columns(ids, y, x) -> dict:
    return {"id": ids, "label": y, **{name: x[:, j] for j, name in enumerate(FEATURES)}}


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest(*, dataset: str, predictions: str, task: str = "binary", metrics: str = "[auc, accuracy]",
             gates: str | None = None, uri: str = "s3://acme-models/churn/v2/model.tar.gz",
             name: str = "churn") -> str:
    """A manifest deploying to staging and production with the given validation pieces
    (`dataset` and `predictions` are indented YAML mapping bodies)."""
    gates = gates if gates is not None else (
        "    - metric: auc\n      min: 0.7\n      max_regression: {absolute: 0.03}\n"
        "    - metric: accuracy\n      max_regression: {absolute: 0.05}\n")
    return f"""apiVersion: modelbot/v1
kind: ModelDeployment
metadata:
  name: {name}
  owners: [alice]
model:
  artifact:
    uri: {uri}
    image: {IMAGE}
provenance:
  data_version: "2024-06-01"
  build_id: "build-7"
validation:
  dataset:
{dataset}  task: {task}
  metrics: {metrics}
  gates:
{gates}  predictions:
{predictions}environments:
  staging:
    mode: realtime
    instance_type: ml.m5.large
  production:
    mode: realtime
    instance_type: ml.m5.large
"""


REPO_DATASET = ("    path: data/churn/validation.csv\n    format: csv\n    version: \"v1\"\n"
                "    label_column: label\n    id_column: id\n")
PIPELINE = "    source: pipeline\n    path: outputs/predictions.csv\n"
LOCAL = "    source: local\n"


def s3_dataset(uri: str, pin: str, fmt: str = "csv") -> str:
    return (f"    uri: {uri}\n    format: {fmt}\n    digest: {pin}\n"
            "    label_column: label\n    id_column: id\n")


def live_production(model_name: str = BASELINE_MODEL, digest_tag: str | None = "0123456789abcdef"):
    """A live reader with `churn-production` serving `model_name` (staging: nothing live)."""
    live = LiveState(endpoint_exists=True, endpoint_name="churn-production", endpoint_status="InService",
                     endpoint_config_name=model_name,
                     variants=(LiveVariant("AllTraffic", model_name, "ml.m5.large", 1, 1.0, model_digest=digest_tag),))

    def reader(env, endpoint):
        return live if endpoint == "churn-production" else LiveState(endpoint_exists=False, endpoint_name=endpoint)
    return reader


def nothing_live(env, endpoint):
    return LiveState(endpoint_exists=False, endpoint_name=endpoint)


def with_compare(settings, **compare):
    """Settings whose server config has this `compare:` block."""
    server = settings.server.model_copy(update={"compare": compare})
    return dataclasses.replace(settings, server=server)


# --- models --------------------------------------------------------------------------------------


def xgboost_model(x, y, *, rounds: int = 20, depth: int = 3, feature_names=FEATURES, fmt: str = "json",
                  label_noise: float = 0.0, seed: int = 0) -> bytes:
    """A tiny binary:logistic booster (feature names in the model), as JSON or UBJ bytes."""
    import xgboost as xgb

    yy = y.copy()
    if label_noise:
        rng = np.random.default_rng(seed)
        flip = rng.random(len(yy)) < label_noise
        yy[flip] = 1 - yy[flip]
    d = xgb.DMatrix(x, label=yy, feature_names=list(feature_names) if feature_names else None)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": depth, "eta": 0.3, "nthread": 1,
                         "seed": seed}, d, rounds)
    return bytes(booster.save_raw(fmt))


def tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def onnx_model(x, y) -> bytes:
    """A logistic regression as ONNX (one float input [None, 3], probabilities output)."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(x, y)
    return to_onnx(model, x[:1].astype(np.float32), options={"zipmap": False}).SerializeToString()
