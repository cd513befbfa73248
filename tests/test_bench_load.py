"""bench/bench_load.py: its checks catch what they are for, and a short run on SQLite passes them."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, namedtuple

import pytest

from bench import bench_load
from tests.support.processes import ROOT

Row = namedtuple("Row", "id delivery_id event action status attempts")


def _item(kind: str, delivery_id: str, expect: tuple[int, str]) -> bench_load.Item:
    return bench_load.Item(kind, "ping", delivery_id, b"", b"", expect)


def _answer(status: int, outcome: str) -> tuple[float, float, bytes]:
    return 0.0, 0.0, (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\r\n"
                      f'{{"outcome": "{outcome}"}}').encode()


def test_answers_check_flags_5xx_wrong_refusals_and_a_delivery_queued_twice():
    items = [_item("ping", "a", (202, "queued")), _item("duplicate", "a", (202, "duplicate")),
             _item("ping", "b", (202, "queued")), _item("duplicate-racing", "b", (202, "duplicate")),
             _item("bad_signature", "c", (401, "bad_signature")), _item("ping", "d", (202, "queued"))]
    good = [_answer(202, "queued"), _answer(202, "duplicate"), _answer(202, "duplicate"), _answer(202, "queued"),
            _answer(401, "bad_signature"), _answer(202, "queued")]
    check = bench_load.check_answers(items, good, bare=False)
    assert check["server_errors"] == 0 and not check["unexpected"]  # a racing copy may win
    assert check["queued"] == Counter({"a": 1, "b": 1, "d": 1})

    bad = list(good)
    bad[1] = _answer(202, "queued")  # the redelivery processed again
    bad[4] = _answer(202, "queued")  # a forged signature accepted
    bad[5] = (0.0, 0.0, b"HTTP/1.1 500 INTERNAL SERVER ERROR\r\n\r\n")
    check = bench_load.check_answers(items, bad, bare=False)
    assert check["server_errors"] == 1
    assert check["unexpected"][("bad_signature", 202, "queued")] == 1
    assert check["unexpected"][("ping", 500, "")] == 1
    assert check["unexpected"][("delivery sent 2x, answered 'queued'", 202, "2x")] == 1


class _Ledger:
    def __init__(self, deliveries, runs, errors=None):
        self._rows = (deliveries, runs, errors or {})

    def rows(self):
        return self._rows


def test_exactly_once_check_flags_retries_double_runs_and_missing_rows():
    ping = "bot.app.features.meta.on_ping"
    deliveries = [Row(1, "a", "ping", None, "done", 1), Row(2, "b", "ping", None, "done", 1)]
    ok, lines, figures = bench_load.check_exactly_once(
        _Ledger(deliveries, [(1, ping, True, 1, 0.001), (2, ping, True, 1, 0.001)]), Counter({"a": 1, "b": 1}),
        refused_ids={"x"})
    assert ok and not lines and figures["rows"] == 2 and figures["runs"] == 2

    deliveries = [Row(1, "a", "ping", None, "done", 2), Row(2, "b", "ping", None, "running", 1),
                  Row(3, "x", "ping", None, "done", 1)]
    runs = [(1, ping, False, 1, 0.1), (1, ping, True, 1, 0.1), (2, ping, True, 2, 0.2), (3, ping, True, 1, 0.1)]
    ok, lines, _ = bench_load.check_exactly_once(
        _Ledger(deliveries, runs, {(1, ping): "IntegrityError: UNIQUE constraint failed"}),
        Counter({"a": 1, "b": 1, "c": 1}), refused_ids={"x"})
    text = "\n".join(lines)
    assert not ok
    for what in ("claimed more than once", "handler failed (then retried)", "UNIQUE constraint failed",
                 "status running", "handler not run exactly once", "queued but not in the store: 1",
                 "refused but stored", "in the store but never answered 'queued'"):
        assert what in text, (what, text)


@pytest.mark.slow
def test_short_run_on_sqlite_passes_every_goal():
    result = subprocess.run(
        [sys.executable, "bench/bench_load.py", "--backends", "embedded", "--rate", "20", "--seconds", "5",
         "--repos", "5"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    for goal in "abcde":
        assert re.search(rf"^\({goal}\) .* PASS", out, re.M), (goal, out)
    queued = re.search(r"\(b\) exactly once: (\d+) deliveries queued, (\d+) rows, (\d+) handler runs", out)
    assert queued and int(queued[1]) == int(queued[2]) == int(queued[3]) > 40, out
    assert "0 5xx/errors, 0 unexpected" in out
    assert re.search(r"pull_request 202 queued x\d+", out) and re.search(r"bad_signature 401 bad_signature x\d+", out)
    assert "0 contract violations" in out and out.rstrip().endswith("OVERALL PASS")
