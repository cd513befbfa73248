"""`modelbot check` reads nothing outside the repository (issue #11, deliverable 6).

In the trial, a manifest that was a symlink to /etc/passwd had its content printed. Now a
manifest, dataset or predictions path that resolves outside the repository (a symlink, a
symlinked directory, `..`, an absolute path) is an error located at the file (and field), and
the outside file is never read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot.app.check import OUTSIDE_RULE, outside, repository_root
from bot.app.cli import main
from tests.test_check_cli import CONFIG, COMMIT, EXAMPLES, MINIMAL, clean_env  # noqa: F401 - autouse fixture

SECRET_LINE = "root:x:0:0:the-outside-file-content:/root:/bin/bash"
SERVERLESS = (EXAMPLES / "serverless.yaml").read_text()


def check_json(capsys, path: Path, *extra: str) -> tuple[int, dict, str]:
    code = main(["check", str(path), "--no-live", "--config", str(CONFIG), "--commit", COMMIT,
                 "--format", "json", *extra])
    out = capsys.readouterr()
    return code, json.loads(out.out), out.out + out.err


def check_text(capsys, path: Path, *extra: str) -> tuple[int, str]:
    code = main(["check", str(path), "--no-live", "--config", str(CONFIG), "--commit", COMMIT, *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def layout(tmp_path):
    """A git repository `repo` and, beside it, a file that is not part of it."""
    repo = tmp_path / "repo"
    (repo / "models" / "churn").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text(SECRET_LINE + "\n")
    return repo, secret


def problems_of(data: dict) -> list[dict]:
    return [p for f in data["files"] for p in f["problems"]]


def test_a_manifest_symlinked_out_of_the_repository_is_refused_unread(capsys, layout):
    repo, secret = layout
    (repo / "models" / "churn" / "modelbot.yaml").symlink_to(secret)

    code, out = check_text(capsys, repo, "--no-compare")
    assert code == 1
    assert SECRET_LINE not in out and "the-outside-file-content" not in out
    assert "models/churn/modelbot.yaml" in out and "outside the repository" in out

    code, data, raw = check_json(capsys, repo, "--no-compare")
    assert "the-outside-file-content" not in raw
    (problem,) = problems_of(data)
    assert problem["rule"] == OUTSIDE_RULE and problem["line"] == 1
    assert problem["path"].endswith("models/churn/modelbot.yaml")
    assert str(secret.resolve()) in problem["message"]


def test_a_manifest_named_directly_through_a_symlink_is_refused(capsys, layout):
    repo, secret = layout
    link = repo / "models" / "churn" / "modelbot.yaml"
    link.symlink_to(secret)
    code, out = check_text(capsys, link, "--no-compare")
    assert code == 1 and "outside the repository" in out and "the-outside-file-content" not in out


def test_a_symlinked_directory_leading_out_is_refused(capsys, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "churn.yaml").write_text(MINIMAL)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "fraud").mkdir(parents=True)
    (elsewhere / "fraud" / "modelbot.yaml").write_text(SECRET_LINE + "\n")
    (repo / "models").symlink_to(elsewhere, target_is_directory=True)  # the glob's literal start

    code, data, raw = check_json(capsys, repo, "--no-compare")
    assert code == 1 and "the-outside-file-content" not in raw
    by_name = {Path(f["path"]).name if "models" not in f["path"] else "fraud": f for f in data["files"]}
    assert by_name["churn.yaml"]["valid"] and by_name["churn.yaml"]["problems"] == []
    assert [p["rule"] for p in by_name["fraud"]["problems"]] == [OUTSIDE_RULE]


def test_a_symlink_that_stays_inside_the_repository_is_read(capsys, layout):
    repo, _ = layout
    (repo / "shared.yaml.txt").write_text(MINIMAL)
    (repo / "models" / "churn" / "modelbot.yaml").symlink_to(repo / "shared.yaml.txt")
    code, data, _ = check_json(capsys, repo, "--no-compare")
    assert code == 0, data
    assert [f["valid"] for f in data["files"]] == [True]


def test_a_dataset_path_symlinked_out_of_the_repository_is_a_located_error(capsys, layout):
    repo, secret = layout
    (repo / "data").mkdir()
    (repo / "data" / "validation.jsonl").symlink_to(secret)
    text = SERVERLESS.replace("uri: s3://acme-datasets/tickets/validation.jsonl", "path: data/validation.jsonl")
    (repo / "models" / "churn" / "modelbot.yaml").write_text(text)
    dataset_line = text.splitlines().index("    path: data/validation.jsonl") + 1

    code, data, raw = check_json(capsys, repo)  # with the comparison: it must not read the file either
    assert code == 1
    assert "the-outside-file-content" not in raw
    problem = next(p for p in problems_of(data) if p["rule"] == OUTSIDE_RULE)
    assert (problem["field"], problem["line"]) == ("validation.dataset.path", dataset_line)
    assert "outside the repository" in problem["message"]


@pytest.mark.parametrize("value", ["../outside/passwd", "data/../../outside/passwd", "/etc/passwd"])
def test_dot_dot_and_absolute_dataset_paths_are_refused_where_written(capsys, layout, value):
    repo, _ = layout
    text = SERVERLESS.replace("uri: s3://acme-datasets/tickets/validation.jsonl", f"path: {value}")
    (repo / "models" / "churn" / "modelbot.yaml").write_text(text)
    code, data, raw = check_json(capsys, repo)
    assert code == 1 and "the-outside-file-content" not in raw
    problem = next(p for p in problems_of(data) if p["field"] == "validation.dataset.path")
    assert problem["line"] == text.splitlines().index(f"    path: {value}") + 1


def test_outside_is_decided_on_the_resolved_path(tmp_path):
    repo = tmp_path / "r"
    (repo / "a").mkdir(parents=True)
    (repo / "a" / "in").write_text("x")
    (repo / "a" / "up").symlink_to(tmp_path)
    assert outside(repo.resolve(), repo / "a" / "in") is None
    assert outside(repo.resolve(), repo / "a" / ".." / "a" / "in") is None
    assert outside(repo.resolve(), repo / "a" / "up" / "x") == (tmp_path / "x").resolve()
    assert outside(repo.resolve(), repo / ".." / "r2") == (tmp_path / "r2").resolve()
    assert repository_root(repo / "a" / "in") == (repo / "a").resolve()  # no git: the file's directory
