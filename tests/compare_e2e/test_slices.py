"""Slices (issue #14, parts 2 and 6): where the candidate is worse, judged per segment with the same
paired intervals, Bonferroni-corrected, worst first in the report; and every bad slice input a
clear, located error or an explicit "not enough data", never a crash and never a pass.

Through `compare_manifest` over a checkout (pipeline predictions joined by row id), the manifest
rules, and the report / check / `modelbot check` templates."""

from __future__ import annotations

import numpy as np
import pytest

from bot.app.services.comparison import CompareDeps, CompareRequest, compare_manifest
from bot.adapters.sources import Fetchers, LocalFetcher
from bot.core.compare.data import prepare
from bot.core.compare.gates import Gate
from bot.core.compare.limits import ComparisonDataError
from bot.core.compare.slices import MISSING, evaluate_slices, slice_levels
from bot.core.manifest import load_manifest
from bot.core.render import render
from tests.compare_e2e import helpers as h
from tests.compare_e2e.test_bad_data import BASELINE, DATASET, PREDICTIONS

GATES = ("    - metric: auc\n      max_regression: {absolute: 0.03}\n      per_slice: true\n"
         "    - metric: accuracy\n      max_regression: {absolute: 0.05}\n")
SLICES = "  slices:\n    columns: [country]\n    min_rows: 100\n"


def write(tmp_path, countries, worse=("FR",), n=None, extra=None):
    """A set whose candidate matches the baseline except on the `worse` countries."""
    n = n or len(countries)
    ids, y, x = h.binary_set(n, 11)
    data = {**h.dataset_columns(ids, y, x), "country": np.asarray(countries, dtype=object), **(extra or {})}
    base = h.probabilities(y, 0.3, 5)
    cand = h.probabilities(y, 0.3, 6)
    bad = np.isin(np.asarray(countries, dtype=object), worse)
    cand[bad] = h.probabilities(y[bad], 0.02, 7)
    preds = {"id": ids.copy(), "prediction": cand, "baseline_prediction": base}
    (tmp_path / DATASET).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / PREDICTIONS).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / DATASET).write_bytes(h.csv_bytes(data))
    (tmp_path / PREDICTIONS).write_bytes(h.csv_bytes(preds))


def manifest_text(slices=SLICES, gates=GATES):
    return h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE + slices, gates=gates)


def run(tmp_path, text=None):
    loaded = load_manifest(h.PATH, text or manifest_text())
    assert loaded.manifest is not None, loaded.problems
    req = CompareRequest(h.PATH, loaded.manifest, "production", h.REPO, "a" * 40, BASELINE)
    return compare_manifest(req, CompareDeps(fetchers=Fetchers(repo=LocalFetcher(tmp_path))))


def countries(**counts):
    out = [c for c, k in counts.items() for _ in range(k)]
    return list(np.random.default_rng(3).permutation(np.array(out, dtype=object)))


def test_a_regression_on_one_slice_fails_the_per_slice_gate_and_is_shown_first(tmp_path):
    write(tmp_path, countries(DE=1200, FR=600, US=60))
    out = run(tmp_path)
    assert out.status == "done", out.error
    sl = out.slices
    [gate] = sl["gates"]
    assert gate["verdict"] == "fail" and gate["judged"] == 2
    assert "country=FR" in gate["reason"] and "significantly worse" in gate["reason"]
    assert out.verdict == "fail"
    rows = sl["columns"][0]["rows"]
    assert [r["level"] for r in rows] == ["FR", "DE", "US"]  # the worst first, the unjudged last
    assert rows[0]["verdict"] == "fail" and rows[1]["verdict"] == "pass"
    assert rows[2]["verdict"] == "not enough data" and rows[2]["n_rows"] == 60
    assert rows[2]["reason"] == "60 rows < min_rows 100"
    # Bonferroni over the two judged slices: 97.5% each, so that both together hold at 95%
    assert sl["confidence"] == pytest.approx(0.975)
    assert "Bonferroni over the 2 slices judged" in sl["correction"] and "97.5%" in sl["correction"]
    assert rows[0]["interval_method"] == "delong"  # binary ROC AUC: DeLong's interval per slice too
    md = render("compare/section.md.j2", outcomes=[out])
    assert "**Slices** (ROC AUC; Bonferroni over the 2 slices judged" in md
    assert md.index("| FR |") < md.index("| DE |") < md.index("| US |")
    assert "per-slice gate auc regression <= 0.03" in md
    text = render("compare/cli.txt.j2", outcomes=[out])
    assert "country=FR" in text and "per-slice gate" in text


def test_the_whole_set_can_pass_while_a_slice_fails(tmp_path):
    write(tmp_path, countries(DE=3000, FR=300))
    out = run(tmp_path, manifest_text(gates="    - metric: auc\n      max_regression: {absolute: 0.05}\n"
                                            "      per_slice: true\n"))
    whole = next(r for r in out.rows if r["metric"] == "auc")
    assert whole["verdict"] == "pass"
    assert out.slices["gates"][0]["verdict"] == "fail" and out.verdict == "fail"


def test_no_regression_passes_every_slice(tmp_path):
    write(tmp_path, countries(DE=1500, FR=1500), worse=())
    out = run(tmp_path)
    assert out.slices["gates"][0]["verdict"] in ("pass", "inconclusive")
    assert all(r["verdict"] != "fail" for r in out.slices["columns"][0]["rows"])
    assert out.verdict != "fail"


def test_long_slice_lists_are_folded_after_the_worst_five(tmp_path):
    write(tmp_path, countries(**{f"C{i}": 150 for i in range(8)}), worse=("C5",))
    out = run(tmp_path)
    rows = out.slices["columns"][0]["rows"]
    assert rows[0]["level"] == "C5" and len(rows) == 8
    md = render("compare/section.md.j2", outcomes=[out])
    assert "<details><summary>3 more slices of country</summary>" in md
    assert "Bonferroni over the 8 slices judged" in out.slices["correction"]
    assert out.slices["confidence"] == pytest.approx(1 - 0.05 / 8)


def test_slices_without_a_per_slice_gate_are_reported_but_decide_nothing(tmp_path):
    write(tmp_path, countries(DE=1200, FR=600))
    gates = "    - metric: auc\n      max_regression: {absolute: 0.5}\n"
    out = run(tmp_path, manifest_text(gates=gates))
    assert out.slices["gates"] == [] and out.verdict == "pass"
    assert out.slices["columns"][0]["rows"][0]["level"] == "FR"  # still the worst first
    assert "no slice" not in out.slices["correction"]


# --- bad inputs ------------------------------------------------------------------------------------


def test_a_slice_column_the_set_lacks_is_a_located_error(tmp_path):
    write(tmp_path, countries(DE=200, FR=200))
    out = run(tmp_path, manifest_text(slices="  slices:\n    columns: [country, region]\n"))
    assert out.status == "error" and out.verdict == "error" and out.problem == "bad_slices"
    assert "validation.slices.columns[1]: column 'region' is not in the validation set" in out.error
    assert "country" in out.error  # the columns it has


def test_a_column_with_ten_thousand_levels_is_refused(tmp_path):
    n = 10_000
    write(tmp_path, [f"user{i}" for i in range(n)], worse=())
    out = run(tmp_path)
    assert out.status == "error" and out.problem == "bad_slices"
    assert "column 'country' has 10,000 distinct values, more than max_levels (50)" in out.error


def test_slices_all_too_small_are_inconclusive_never_a_pass(tmp_path):
    write(tmp_path, countries(DE=90, FR=90, US=90), worse=())
    out = run(tmp_path)
    [gate] = out.slices["gates"]
    assert gate["verdict"] == "inconclusive" and "no slice has at least 100 rows" in gate["reason"]
    assert out.verdict != "pass"
    assert {r["verdict"] for r in out.slices["columns"][0]["rows"]} == {"not enough data"}


def test_missing_values_are_one_slice(tmp_path):
    c = countries(DE=400, FR=400)
    for i in range(0, 150):
        c[i] = ""  # an empty CSV cell
    write(tmp_path, c, worse=())
    out = run(tmp_path)
    levels = [r["level"] for r in out.slices["columns"][0]["rows"]]
    assert MISSING in levels and "" not in levels


@pytest.mark.parametrize("slices, gates, where, message", [
    ("", GATES, "validation.gates[0].per_slice", "per_slice gate, but the validation has no `slices`"),
    ("  slices:\n    columns: [label]\n", GATES, "validation.slices.columns[0]", "slice column label is the label column"),
    ("  slices:\n    columns: [country, country]\n", GATES, "validation.slices.columns[1]", "listed twice"),
    ("  slices:\n    columns: [country]\n    min_rows: 5\n", GATES, "validation.slices.min_rows", "30"),
    ("  slices:\n    columns: [country]\n    max_levels: 100000\n", GATES, "validation.slices.max_levels", "200"),
    ("  slices:\n    columns: []\n", GATES, "validation.slices.columns", "at least 1"),
    ("  slices: country\n", GATES, "validation.slices", ""),
])
def test_manifest_rules_refuse_bad_slice_specs_at_the_line(slices, gates, where, message):
    loaded = load_manifest(h.PATH, manifest_text(slices=slices, gates=gates))
    errors = [p for p in loaded.problems if p.is_error]
    assert any(p.field == where and message in p.message + str(p.expected) for p in errors), \
        [(p.field, p.message, p.expected) for p in errors]
    assert all(p.line > 1 for p in errors)


# --- the core, directly ------------------------------------------------------------------------


def test_slice_levels_most_rows_first_with_missing_values_as_one_level():
    values = np.array(["b", "a", None, "b", float("nan"), "b", "a"], dtype=object)
    levels = slice_levels(values, "c", 10)
    assert [(name, int(mask.sum())) for name, mask in levels] == [("b", 3), ("a", 2), (MISSING, 2)]
    ints = slice_levels(np.array([2.0, 1.0, 2.0, np.nan]), "tier", 10)
    assert [name for name, _ in ints] == ["2", "1", MISSING]
    with pytest.raises(ComparisonDataError) as err:
        slice_levels(np.arange(60), "user_id", 50)
    assert err.value.problem == "bad_slices" and "60 distinct values" in str(err.value)


@pytest.mark.parametrize("values", [
    np.array([3, -2, 3, 7, -2, 3, 0, 7]),  # integers, counted
    np.array([True, False, True, True]),  # booleans, counted
    np.array([10**12, 5, 10**12, 5, 5]),  # a range too wide to count: sorted
    np.array([0.5, 1.5, 0.5, 2.0]),  # floats: sorted
    np.array(["x", "y", "x", "z", "y", "x"]),
], ids=["int", "bool", "wide-int", "float", "text"])
def test_slice_levels_are_the_distinct_values_counted_or_sorted(values):
    """Integer columns are counted instead of sorted; the levels (most rows first, ties by name)
    and their rows are the same either way."""
    from bot.core.compare.slices import _label

    uniques, inverse = np.unique(values, return_inverse=True)
    want = sorted(((_label(u), inverse == i) for i, u in enumerate(uniques)), key=lambda lm: (-int(lm[1].sum()), lm[0]))
    got = slice_levels(values, "c", 10)
    assert [name for name, _ in got] == [name for name, _ in want]
    for (_, a), (_, b) in zip(got, want):
        assert np.array_equal(a, b)


def test_slice_results_do_not_depend_on_the_order_of_the_columns():
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    cand, base = h.probabilities(y, 0.3, 1), h.probabilities(y, 0.3, 2)
    a = rng.choice(np.array(["x", "y"], dtype=object), n)
    b = rng.choice(np.array(["p", "q", "r"], dtype=object), n)
    data = prepare("binary", y, cand, base)
    gates = [Gate("accuracy", max_regression=0.02)]
    one = evaluate_slices(data, {"a": a, "b": b}, gates, min_rows=100, max_levels=10, confidence=0.95, seed=4)
    two = evaluate_slices(data, {"b": b, "a": a}, gates, min_rows=100, max_levels=10, confidence=0.95, seed=4)
    key = lambda r: (r.column, r.level)  # noqa: E731
    for x, y_ in zip(sorted(one.slices, key=key), sorted(two.slices, key=key)):
        assert x.results[0].ci_low == y_.results[0].ci_low and x.results[0].verdict == y_.results[0].verdict
    assert one.gates[0].confidence == pytest.approx(1 - 0.05 / 5)
    # each slice's delta interval is the normal one at the corrected confidence
    r = one.slices[0].results[0]
    assert r.interval_method == "bootstrap-normal" and r.confidence == pytest.approx(0.99)


def test_a_slice_with_one_class_only_is_listed_not_judged_and_does_not_crash():
    rng = np.random.default_rng(0)
    n = 1000
    y = rng.integers(0, 2, n)
    y[:200] = 0  # segment A: no positives, so no ROC AUC
    seg = np.where(np.arange(n) < 200, "A", "B").astype(object)
    data = prepare("binary", y, h.probabilities(y, 0.3, 1), h.probabilities(y, 0.3, 2))
    report = evaluate_slices(data, {"s": seg}, [Gate("roc_auc", max_regression=0.02)], min_rows=100,
                             max_levels=10, confidence=0.95)
    a = next(s for s in report.slices if s.level == "A")
    assert not a.judged and a.note == "only the class '0' in its 200 rows"
    assert report.gates[0].judged == 1


def test_a_column_of_many_slices_stays_within_the_report_size(tmp_path):
    levels = {f"L{i:02d}": 40 for i in range(45)}  # 45 slices, one worse
    write(tmp_path, countries(**levels), worse=("L07",))
    out = run(tmp_path, manifest_text(slices="  slices:\n    columns: [country]\n    min_rows: 30\n"))
    rows = out.slices["columns"][0]["rows"]
    assert len(rows) == 45 and rows[0]["level"] == "L07"
    md = render("compare/section.md.j2", outcomes=[out])
    assert "15 more, each better than those above" in md
    assert md.count("| L") == 30  # the 30 worst slices, no more
