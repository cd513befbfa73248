"""The shipped examples and reference stay true: each validates and the docs show it as is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.core.manifest import load_manifest
from bot.core.manifest.model import MODES, STRATEGIES
from bot.core.manifest.schema import SCHEMA_PATH, generate_schema, render_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
REFERENCE = ROOT / "docs" / "manifest-reference.md"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates_without_problems(path):
    result = load_manifest(f"examples/{path.name}", path.read_bytes())
    assert result.ok
    assert result.problems == (), [p.format() for p in result.problems]


def _loaded():
    return [load_manifest(p.name, p.read_text()).manifest for p in EXAMPLES]


def test_examples_cover_every_mode_and_strategy():
    envs = [e for m in _loaded() for e in m.environments.values()]
    assert {e.mode for e in envs} == set(MODES)
    assert {e.effective_strategy.type for e in envs if e.mode != "batch"} == set(STRATEGIES)
    sources = {m.model.source_kind for m in _loaded()}
    assert sources == {"artifact", "framework", "registry"}


def test_reference_shows_every_example_unchanged():
    text = REFERENCE.read_text()
    shown = dict(re.findall(r"<!-- example: (examples/[\w.-]+) -->\n```yaml\n(.*?)```", text, re.S))
    assert sorted(shown) == sorted(f"examples/{p.name}" for p in EXAMPLES)
    for name, body in shown.items():
        assert body == (ROOT / name).read_text(), f"{name} differs from the reference"


def test_committed_schema_is_fresh():
    assert SCHEMA_PATH.read_text() == render_schema(), "run: python -m bot.core.manifest.schema"


def test_schema_is_valid_and_accepts_the_examples():
    schema = generate_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in EXAMPLES:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], (path.name, errors)
    assert json.loads(render_schema())["title"] == "modelbot ModelDeployment manifest"


def test_schema_rejects_what_the_model_rejects():
    validator = jsonschema.Draft202012Validator(generate_schema())
    data = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
    data["environments"]["staging"]["endpoint_name"] = "bad_name"
    data["environments"]["staging"]["instance_typo"] = "x"
    assert len(list(validator.iter_errors(data))) == 2
