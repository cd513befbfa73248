"""`modelbot check` runs the same comparison on a local checkout: the same table and verdicts as
the pull request, in text and JSON, `--no-compare` skips it, and a failed comparison exits 1."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from bot.app.cli import main
from bot.adapters import sources
from tests.aws.conftest import isolate_from_real_aws
from tests.compare_e2e import helpers as h
from tests.conftest import ROOT

CONFIG = ROOT / "tests" / "fixtures" / "check" / "modelbot.yaml"  # staging + production, globs *.yaml


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("MODELBOT_WEBHOOK_SECRETS", "GITHUB_APP_ID", "GITHUB_PRIVATE_KEY", "MODELBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    isolate_from_real_aws(monkeypatch, tmp_path / "aws")


def checkout(tmp_path, *, worse: bool):
    """A git work tree with the manifest, the validation set and the pipeline's predictions."""
    ids, y, x = h.binary_set(500, 21)
    base = h.probabilities(y, 0.35, 22)
    cand = h.probabilities(y, 0.03, 23) if worse else np.clip(base + 0.001, 0, 1)
    root = tmp_path / "repo"
    (root / "models/churn").mkdir(parents=True)
    (root / "data/churn").mkdir(parents=True)
    (root / "outputs").mkdir()
    (root / h.PATH).write_text(h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE))
    (root / "data/churn/validation.csv").write_bytes(h.csv_bytes(h.dataset_columns(ids, y, x)))
    (root / "outputs/predictions.csv").write_bytes(h.csv_bytes(
        {"id": ids[::-1], "prediction": cand[::-1], "baseline_prediction": base[::-1]}))
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def check(capsys, *args):
    code = main(["check", *args, "--config", str(CONFIG), "--commit", "c" * 40])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_prints_the_same_table_and_verdicts(tmp_path, capsys, monkeypatch):
    root = checkout(tmp_path, worse=True)
    # No AWS here: the live model is the one a reader reports (what AwsLiveReader reads in real use).
    monkeypatch.setattr("bot.adapters.aws.live.AwsLiveReader", lambda environments: h.live_production())
    code, out, err = check(capsys, str(root / h.PATH))
    assert code == 1, err
    assert f"-- comparison of {root / h.PATH} vs the live model in production: FAIL" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("ROC AUC"))
    assert "FAIL" in row and "DeLong" in row
    assert "auc regression <= 0.03" in out and "significantly worse than baseline" in out
    assert out.rstrip().endswith("ok: 1 file, 0 errors, 0 warnings, 2 plans")

    code, out, _ = check(capsys, str(root / h.PATH), "--format", "json")
    data = json.loads(out)
    [o] = data["comparisons"]
    assert code == data["exit_code"] == 1 and data["ok"]  # the manifest is valid; its comparison failed
    assert (o["verdict"], o["environment"], o["source"]) == ("fail", "production", "pipeline")
    assert [r["metric"] for r in o["rows"]] == ["auc", "accuracy"] and o["rows"][0]["verdict"] == "fail"
    assert o["baseline"].endswith(f"{h.BASELINE_MODEL}@0123456789abcdef") and o["dataset"]["rows"] == 500

    reads = sources.REQUESTS["local:read"]
    code, out, _ = check(capsys, str(root / h.PATH), "--no-compare")
    assert code == 0 and "comparison" not in out and sources.REQUESTS["local:read"] == reads


def test_without_live_state_regression_limits_are_not_judged(tmp_path, capsys):
    root = checkout(tmp_path, worse=False)
    code, out, _ = check(capsys, str(root), "--no-live")
    assert code == 0
    assert "vs the live model in production: inconclusive" in out
    assert "the regression limit was not judged: live state not read (--no-live)" in out
