"""Fuzzing the manifest reader (issue #11, deliverable 8): whatever bytes a pull request holds,
`load_manifest` returns a result whose problems are located (path, line, column >= 1); it never
raises and never hangs. Bounded so the file runs in a few seconds."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings, strategies as st

from bot.core.manifest import MAX_BYTES, Problem, load_manifest
from tests.test_check_cli import MINIMAL

PATH = "models/x/modelbot.yaml"
YAML_BITS = st.sampled_from([
    "a: 1\n", "- x\n", "&a [*a]\n", "!!python/object:os.system x\n", "{", "}", "[", "]", "? k\n", ": v\n",
    "key: &anchor\n  b: *anchor\n", "<<: *x\n", "%YAML 1.1\n", "---\n", "...\n", "\t", "  ", "\"\\u0000\"\n",
    "'", "\"", "|\n  text\n", ">-\n", "!!binary YQ==\n", "0x1F", "1e999", ".nan", "~", "yes", "\ud800",
    "apiVersion: modelbot/v1\n", "environments:\n", "  staging:\n", "    mode: realtime\n",
])
texts = st.one_of(
    st.text(max_size=400),
    st.lists(YAML_BITS, max_size=40).map("".join),
    st.builds(lambda lines, cut: "\n".join(MINIMAL.splitlines()[:cut] + lines),
              st.lists(st.text(max_size=30), max_size=5), st.integers(0, 60)),
    st.builds(lambda pos, junk: MINIMAL[:pos] + junk + MINIMAL[pos:], st.integers(0, len(MINIMAL)),
              st.text(max_size=10)),
    st.builds(lambda n: "[" * n + "]" * n, st.integers(1, 5000)),
    st.builds(lambda n: "a: &a [" + "*a, " * n + "]", st.integers(1, 2000)),
)


@settings(max_examples=250, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, as_bytes=st.booleans())
def test_the_reader_only_ever_returns_located_problems(text, as_bytes):
    data = text.encode("utf-8", "surrogatepass") if as_bytes else text
    started = time.perf_counter()
    result = load_manifest(PATH, data)
    assert time.perf_counter() - started < 2.0
    assert result.manifest is not None or result.problems
    for problem in result.problems:
        assert isinstance(problem, Problem)
        assert problem.path == PATH and problem.line >= 1 and problem.column >= 1
        assert problem.message
        problem.format()


@settings(max_examples=20, deadline=5000)
@given(st.binary(min_size=0, max_size=64), st.integers(0, 2))
def test_raw_and_oversized_bytes_are_problems_too(junk, repeat):
    data = junk + b"x" * (MAX_BYTES * repeat + (1 if repeat else 0))  # over the limit when repeat
    result = load_manifest(PATH, data)
    assert result.manifest is None and result.problems  # junk never makes a manifest
    assert all(p.path == PATH and p.line >= 1 and p.column >= 1 for p in result.problems)
    if repeat:
        assert any(str(MAX_BYTES) in p.message or "large" in p.message or "bytes" in p.message
                   for p in result.problems), [p.message for p in result.problems]
