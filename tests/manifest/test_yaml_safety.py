"""Hostile or broken input is bounded and answered with a Problem: never a crash or a hang."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.manifest import MAX_BYTES, MAX_DEPTH, MAX_NODES, load_manifest

from .helpers import doc, locate

VALID = doc()

CASES = [
    # (id, text with « at the expected position, rule)
    ("alias", "a: &x 1\nb: «*x\n", "yaml.alias"),
    ("anchor", "a: «&x 1\n", "yaml.anchor"),
    ("billion laughs", "a: «&a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "yaml.anchor"),
    ("alias in billion laughs", "a: &a [x, x]\nb: &b [«*a, *a]\n", "yaml.alias"),
    ("python object", "apiVersion: «!!python/object/apply:os.system [echo]\n", "yaml.tag"),
    ("python name", "kind: «!!python/name:os.system\n", "yaml.tag"),
    ("binary", "a: «!!binary aGk=\n", "yaml.tag"),
    ("set", "a: «!!set {x, y}\n", "yaml.tag"),
    ("timestamp", "a: «!!timestamp 2024-01-01\n", "yaml.tag"),
    ("local tag", "a: «!secret x\n", "yaml.tag"),
    ("bad standard tag", "a: «!!int twelve\n", "yaml.tag"),
    ("merge key", "a: 1\n«<<: {b: 2}\n", "yaml.merge-key"),
    ("complex key", "? «[a, b]\n: 1\n", "yaml.complex-key"),
    ("duplicate key", VALID.replace("kind: ModelDeployment\n", "kind: ModelDeployment\n«kind: X\n"),
     "yaml.duplicate-key"),
    ("nested duplicate", VALID.replace("    mode: realtime\n", "    mode: realtime\n    «mode: batch\n"),
     "yaml.duplicate-key"),
    ("second document", VALID + "«---\nkind: Other\n", "yaml.multiple-documents"),
    # The top-level mapping counts: it and MAX_DEPTH - 1 lists are allowed, one more is not.
    ("deep flow nesting", "a: " + "[" * (MAX_DEPTH - 1) + "«[" + "]" * MAX_DEPTH + "\n", "yaml.too-deep"),
    ("control character", "a: b«\x07\n", "yaml.character"),
    ("syntax", "a: [1, 2\nb«: 3\n", "yaml.syntax"),
    ("not a mapping", "«- a\n- b\n", "manifest.shape"),
    ("empty", "«\n   \n", "manifest.empty"),
    ("only a comment", "«# nothing here\n", "manifest.empty"),
    ("unknown apiVersion", VALID.replace("apiVersion: modelbot/v1", "apiVersion: «modelbot/v2"),
     "manifest.header"),
    ("unknown kind", VALID.replace("kind: ModelDeployment", "kind: «Deployment"), "manifest.header"),
]


@pytest.mark.parametrize("marked, rule", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_yaml_is_a_problem_at_its_position(marked, rule):
    text, line, column = locate(marked)
    result = load_manifest("models/x/modelbot.yaml", text)
    assert result.manifest is None
    hits = [p for p in result.problems if p.rule == rule]
    assert hits, [p.format() for p in result.problems]
    assert (hits[0].line, hits[0].column) == (line, column), hits[0].format()
    assert hits[0].path == "models/x/modelbot.yaml"
    assert hits[0].expected


@pytest.mark.parametrize("data, rule, line, column", [
    (b"apiVersion: modelbot/v1\nkind: Mod\xffel\n", "file.encoding", 2, 10),
    (b"\xfe\xff\x00a", "file.encoding", 1, 1),
    (b"a: " + b"x" * (MAX_BYTES + 1), "file.too-large", 1, 1),
], ids=["latin-1 byte", "utf-16 bom", "too large"])
def test_bytes_must_be_small_utf8(data, rule, line, column):
    result = load_manifest("m.yaml", data)
    [problem] = result.problems
    assert (problem.rule, problem.line, problem.column) == (rule, line, column)


def test_utf8_bytes_and_bom_are_fine():
    assert load_manifest("m.yaml", ("\ufeff" + VALID).encode()).ok
    assert load_manifest("m.yaml", VALID.replace("owners: [alice]", "owners: [alice]\n  description: Betrugserkennung für Zahlungen ✓")).ok


def test_too_many_nodes_stops_early():
    text = "a: [" + ",".join(["1"] * (MAX_NODES + 10)) + "]\n"
    started = time.monotonic()
    result = load_manifest("m.yaml", text)
    assert time.monotonic() - started < 2
    assert [p.rule for p in result.problems] == ["yaml.too-many-nodes"]


@pytest.mark.parametrize("text", [
    "a: &a [" + ",".join(["x"] * 10) + "]\n" + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcdefgh", "bcdefghi")),
    "a: " + "[" * 100_000,
    "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 200)),
    "{" * 50_000,
], ids=["alias bomb", "unclosed flow", "deep block", "deep braces"])
def test_bombs_finish_quickly(text):
    started = time.monotonic()
    result = load_manifest("m.yaml", text)
    assert time.monotonic() - started < 2
    assert not result.ok and result.problems


def test_yaml_12_scalars_no_surprises():
    # yes/no/on/off and dates stay strings; they would be bool/date under YAML 1.1.
    text = VALID.replace('data_version: "2024-06-01"', "data_version: 2024-06-01").replace(
        'build_id: "build-1"', "build_id: yes")
    result = load_manifest("m.yaml", text)
    assert result.ok, [p.format() for p in result.problems]
    assert result.manifest.provenance.data_version == "2024-06-01"
    assert result.manifest.provenance.build_id == "yes"


def test_refused_values_are_not_reported_twice():
    text = VALID.replace("kind: ModelDeployment", "kind: !!python/name:os.system")
    rules = [p.rule for p in load_manifest("m.yaml", text).problems]
    assert rules == ["yaml.tag"]


def test_lone_surrogates_in_text_are_a_problem():
    [p] = load_manifest("m.yaml", "a: b\nc: \ud800\n").problems
    assert (p.rule, p.line, p.column) == ("file.encoding", 2, 4)


def test_percent_tag_directives_do_not_smuggle_tags():
    text = "%TAG !e! tag:example.com,2000:\n---\na: !e!foo 1\n"
    assert "yaml.tag" in {p.rule for p in load_manifest("m.yaml", text).problems}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400),
    st.lists(st.sampled_from(VALID.splitlines(keepends=True) + [
        "- ", "&a ", "*a", "!!python/object ", "{", "}", "[", "]", ": ", "? ", "---\n", "  ",
        "<<: ", '"', "'", "\t", "#", "|\n", ">\n", "\x00", "\ufeff", "~", "\n"]), max_size=60).map("".join),
))
def test_any_input_gives_problems_or_a_manifest_never_an_exception(data):
    result = load_manifest("m.yaml", data)
    assert result.ok or any(p.is_error for p in result.problems)
    for p in result.problems:
        assert p.line >= 1 and p.column >= 1 and p.message
