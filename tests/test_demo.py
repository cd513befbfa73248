"""The README's first command: `modelbot demo --once` plays the whole lifecycle on embedded
defaults (gunicorn web + a worker process on SQLite, the local GitHub, the local SageMaker) and
each step shows what it should. The steps' facts come from steps.json, the demo's own record."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.processes import ROOT

pytestmark = pytest.mark.slow


def test_demo_plays_the_lifecycle_on_embedded_defaults(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    data = tmp_path / "d"
    result = subprocess.run([sys.executable, "-m", "bot.app.cli", "demo", "--once", "--data-dir", str(data)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=480)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout
    record = json.loads((data / "steps.json").read_text())
    assert record["ok"] and record["error"] is None
    steps = {s["number"]: s for s in record["steps"]}
    assert len(steps) == 12 and all(s["ok"] for s in steps.values())
    assert "store sqlite, queue sqlite" in out

    # PR #1: a new manifest, nothing live: validated, compared on absolute gates; merged: created.
    assert steps[2]["facts"]["checks"]["modelbot/validate"] == "success"
    assert steps[3]["facts"]["deployments"] == {"staging": "succeeded", "production": "succeeded"}
    # PR #2: the report as text, with the comparison against production and the plan with cost.
    assert steps[4]["facts"]["checks"]["modelbot/compare"] == "success"
    assert steps[4]["facts"]["checks"]["modelbot/approval"] == "failure"  # nobody approved yet
    assert "vs the live model in production: ✅ pass" in out and "delta (95% CI)" in out
    assert "cost: $0.46/h → $0.46/h" in out and "canary: 1 of 2 instance(s), 50% of traffic" in out
    assert "<details>" not in out and "<!--" not in out and "**" not in out  # rendered, not raw
    # mallory may read only: refused, and told why.
    assert "needs the maintain role or higher" in steps[5]["facts"]["reply"]
    assert "mallory has read" in steps[5]["facts"]["reply"]
    assert steps[6]["facts"]["approval"] == "success"
    # The merge: staging, then a production canary through its bakes.
    assert steps[7]["facts"]["deployments"] == {"staging": "succeeded", "production": "succeeded"}
    assert [p for p in steps[7]["facts"]["phases"] if "bake" in p] == ["canary-bake", "final-bake"]
    assert steps[7]["facts"]["last_deployment"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"][
        "Type"] == "CANARY"
    # PR #3: the worse model fails its comparison; merged anyway, production refuses it.
    assert steps[8]["facts"]["compare"] == "failure"
    assert steps[9]["facts"]["deployments"] == {"staging": "succeeded", "production": "refused"}
    assert "comparison fail" in steps[9]["facts"]["reasons"]["production"]
    assert steps[9]["facts"]["refusals"] == 1
    # PR #4: the alarm fires during the canary's bake; SageMaker rolls back, v2 serves again.
    assert steps[10]["facts"]["checks"]["modelbot/compare"] == "success"
    assert steps[11]["facts"]["deployments"] == {"staging": "succeeded", "production": "rolled_back"}
    assert "bake" in steps[11]["facts"]["alarm_at"]
    assert steps[11]["facts"]["endpoint_config"] == steps[7]["facts"]["endpoint_config"]
    # The ledger and the endpoint's tags name what put the model there.
    ledger = steps[12]["facts"]
    assert ledger["pr"] == 2 and ledger["approvers"] == ["bob"]
    assert ledger["tags"]["modelbot:commit"] == ledger["commit"]
    assert ledger["tags"]["modelbot:build-id"] == "build-102"
    assert ledger["tags"]["modelbot:data-version"] == "breast-cancer-2024-06"
    assert "All 12 steps done" in out
    assert (data / "modelbot.db").exists()


def test_demo_refuses_a_data_directory_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = subprocess.run([sys.executable, "-m", "bot.app.cli", "demo", "--once", "--data-dir", str(tmp_path)],
                            cwd=ROOT, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "is not empty and was not made by modelbot demo" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
