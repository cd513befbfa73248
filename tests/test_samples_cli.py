"""`modelbot samples` (issue #14, part 1: sample payloads generated from the validation set): rows
spread over the set, payloads of the contract's fields that match it, the others listed, written
where `contract.samples.path` reads them, and clear errors for what cannot be done."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bot.app.cli import main
from bot.app.samples import spread
from bot.core.contract import read_samples
from bot.core.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[1]
CSV = ("customer_id,churned,tenure_months,monthly_spend,plan,support_tickets\n"
       "c1,0,3,19.5,basic,\nc2,1,48,72,pro,4\nc3,0,-1,10,plus,1\nc4,1,12,30,gold,0\nc5,0,7,11,plus,2\n")


def checkout(tmp_path, samples="  samples:\n    path: contracts/churn.jsonl\n"):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "data/churn").mkdir(parents=True)
    (tmp_path / "data/churn/validation.csv").write_text(CSV)
    text = (ROOT / "examples/realtime-contract.yaml").read_text()
    text = text[:text.index("  samples:\n")] + samples + text[text.index("environments:"):]
    (tmp_path / "models/churn").mkdir(parents=True)
    path = tmp_path / "models/churn/modelbot.yaml"
    path.write_text(text)
    return path


def test_spread_is_even_and_deterministic():
    assert spread(3, 5) == [0, 1, 2]
    assert spread(100, 4) == [12, 37, 62, 87]
    assert spread(10_000_000, 20) == spread(10_000_000, 20) and len(spread(10_000_000, 20)) == 20


def test_samples_are_printed_and_rows_that_break_the_contract_left_out(tmp_path, capsys):
    path = checkout(tmp_path)
    assert main(["samples", str(path), "--rows", "5"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0] == {"tenure_months": 3, "monthly_spend": 19.5, "plan": "basic"}  # the empty optional field left out
    assert lines[1] == {"tenure_months": 48, "monthly_spend": 72.0, "plan": "pro", "support_tickets": 4}
    assert len(lines) == 3
    assert "modelbot samples: 3 payload(s) from data/churn/validation.csv (5 rows)\n" in err
    assert "row 3 left out: field 'tenure_months': -1 is below the minimum 0" in err
    assert "row 4 left out: field 'plan': 'gold' is not an allowed category (basic, plus, pro)" in err


def test_write_puts_them_where_the_contract_reads_them_and_they_load(tmp_path, capsys):
    path = checkout(tmp_path)
    assert main(["samples", str(path), "--rows", "5", "--write"]) == 0
    written = (tmp_path / "contracts/churn.jsonl").read_bytes()
    m = load_manifest(str(path), path.read_bytes()).manifest
    assert len(read_samples(written, "contracts/churn.jsonl", m.contract.input)) == 3
    assert "written to contracts/churn.jsonl" in capsys.readouterr().err


def test_what_cannot_be_done_is_a_usage_error(tmp_path, capsys):
    path = checkout(tmp_path, samples="  samples:\n    inline:\n      - {tenure_months: 1, monthly_spend: 1, plan: pro}\n")
    assert main(["samples", str(path), "--write"]) == 2
    assert "--write needs `contract.samples.path`" in capsys.readouterr().err
    assert main(["samples", str(path), "--rows", "50"]) == 2
    assert "--rows: between 1 and 20" in capsys.readouterr().err
    assert main(["samples", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    minimal = ROOT / "examples/minimal.yaml"
    assert main(["samples", str(minimal)]) == 2
    assert "need both a `contract:` and a `validation:` section" in capsys.readouterr().err


def test_a_set_that_cannot_be_read_is_a_data_error(tmp_path, capsys):
    path = checkout(tmp_path)
    (tmp_path / "data/churn/validation.csv").unlink()
    assert main(["samples", str(path)]) == 2
    assert "data error" in capsys.readouterr().err


def test_write_refuses_a_symbolic_link_out_of_the_repository(tmp_path, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    path = checkout(repo)
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "contracts").symlink_to(outside, target_is_directory=True)
    assert main(["samples", str(path), "--write"]) == 2
    assert "leading out of the repository" in capsys.readouterr().err
    assert list(outside.iterdir()) == []
    (repo / "contracts").unlink()
    (repo / "contracts").mkdir()
    (repo / "contracts/churn.jsonl").symlink_to(outside / "victim")
    assert main(["samples", str(path), "--write"]) == 2
    assert not (outside / "victim").exists()
