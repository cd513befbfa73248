"""The README's first command: the demo runs the bot end to end on embedded defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.processes import ROOT

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end_on_embedded_defaults(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--once", "--data-dir", str(tmp_path / "d")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "store sqlite, queue sqlite" in out
    lines = {ln.split("->")[0].strip(): ln for ln in out.splitlines() if "->" in ln}
    assert "queued" in lines["ping"] and "handled: done" in lines["ping"]
    assert "handled: done" in lines["installation.created"]
    assert "duplicate" in lines["ping again (redelivery)"]
    assert "HTTP 401" in lines["ping with a forged signature"]
    assert "HTTP 202 ignored" in lines["issues.opened (not handled)"]
    assert "HTTP 403" in lines["ping from a foreign repository"]
    assert (tmp_path / "d" / "modelbot.db").exists()
