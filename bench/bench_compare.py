"""Benchmark: the full baseline comparison on a large binary evaluation set.

    .venv/bin/python bench/bench_compare.py [--rows 1000000] [--resamples N] [--repeat 7] [--workers W] [--slices K]

Measures, in one child process and interleaved run by run (baseline, comparison, baseline, ...):
  - baseline: one sklearn.metrics.roc_auc_score(labels, candidate) call on the same data;
  - full comparison: data.prepare (validation) + stats.compare (point estimates, paired bootstrap
    intervals for all 8 binary metrics, DeLong's test) + gates.evaluate_gates (9 gates); with
    `--slices K`, also slices.evaluate_slices over one column of K equal levels with a per-slice
    ROC AUC gate (each slice with the whole set's resample count, as the comparison runs them).
Goals: comparison <= 5x the baseline call, under 3 s wall time, peak memory under 1 GB measured
as ru_maxrss of the child process (everything it did: data, sklearn, comparison). Times are
judged on the median of --repeat runs of each side, so one run slowed down (or sped up) by the
rest of the machine does not decide the verdict; the best runs, the CPU times (process time, all
threads) and the load average before and after are printed too. The tracemalloc peak of one
extra comparison run is printed for information. Exits 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc

GOAL_RATIO = 5.0
GOAL_WALL_S = 3.0
GOAL_RSS_MB = 1024.0


def make_data(rows: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.random(rows) < 0.3
    shared = rng.normal(size=rows)  # both models see the same hard cases: correlated scores
    cand = 1 / (1 + np.exp(-(1.20 * y - 0.6 + shared + 0.6 * rng.normal(size=rows))))
    base = 1 / (1 + np.exp(-(1.25 * y - 0.6 + shared + 0.6 * rng.normal(size=rows))))
    return y.astype(np.int64), cand, base


def _timed(fn):
    """(result, wall seconds, CPU seconds of the whole process: every thread)."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def child(args) -> dict:
    from sklearn.metrics import roc_auc_score

    import numpy as np

    from bot.core.compare.data import prepare
    from bot.core.compare.gates import Gate, evaluate_gates
    from bot.core.compare.slices import evaluate_slices
    from bot.core.compare.metrics import available_workers, metric_names
    from bot.core.compare.stats import compare, default_resamples

    y, cand, base = make_data(args.rows, args.seed)
    gates = [Gate(m, max_regression=0.01) for m in metric_names("binary")] + [Gate("roc_auc", min=0.6)]

    segment = np.arange(args.rows) % args.slices if args.slices else None

    def full():
        data = prepare("binary", y, cand, base)
        comparison = compare(data, n_resamples=args.resamples, seed=args.seed, workers=args.workers)
        report = evaluate_gates(comparison, gates)
        if segment is not None:
            evaluate_slices(data, {"segment": segment}, [Gate("roc_auc", max_regression=0.01)], min_rows=100,
                            max_levels=200, confidence=0.95, seed=args.seed, n_resamples=comparison.n_resamples)
        return comparison, report

    roc_auc_score(y[:1000], cand[:1000])  # imports and first-call costs out of the way
    runs = []
    for _ in range(args.repeat):
        auc, base_wall, base_cpu = _timed(lambda: roc_auc_score(y, cand))
        (comparison, report), full_wall, full_cpu = _timed(full)
        runs.append({"baseline_s": base_wall, "baseline_cpu_s": base_cpu, "full_s": full_wall, "full_cpu_s": full_cpu})

    tracemalloc.start()
    full()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    roc = comparison.metrics["roc_auc"]
    assert abs(roc.candidate - auc) < 1e-9, (roc.candidate, auc)
    return {
        "rows": args.rows,
        "slices": args.slices,
        "resamples": comparison.n_resamples,
        "default_resamples": default_resamples(args.rows),
        "workers": available_workers(args.workers),
        "runs": runs,
        "traced_peak_mb": traced_peak / 2**20,
        "verdict": report.verdict,
        "roc_auc_delta": roc.delta,
        "roc_auc_interval": [roc.delta_interval(0.95).low, roc.delta_interval(0.95).high],
        "delong_p": roc.p_value,
    }


def _load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # not available on this platform
        return "n/a"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=None, help="default: stats.default_resamples(rows)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each side (the medians are judged)")
    parser.add_argument("--workers", type=int, default=None, help="bootstrap threads (default: up to 4 CPUs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slices", type=int, default=0, help="also compare K slices of one column (2-200)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args)))
        return 0

    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--rows", str(args.rows), "--repeat", str(args.repeat),
           "--seed", str(args.seed)]
    if args.resamples is not None:
        cmd += ["--resamples", str(args.resamples)]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    if args.slices:
        cmd += ["--slices", str(args.slices)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    load_before = _load()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, env=env, check=False)
    load_after = _load()
    if proc.returncode != 0:
        print(f"benchmark child failed with exit code {proc.returncode}", file=sys.stderr)
        return 2
    res = json.loads(proc.stdout)
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB

    runs = res["runs"]

    def col(key):
        return [r[key] for r in runs]

    med = {key: statistics.median(col(key)) for key in runs[0]}
    ratio = med["full_s"] / med["baseline_s"]
    best_ratio = min(col("full_s")) / min(col("baseline_s"))
    cpu_ratio = med["full_cpu_s"] / med["baseline_cpu_s"]
    goals = [
        ("ratio to roc_auc_score (medians)", ratio <= GOAL_RATIO, f"{ratio:.2f}x (goal <= {GOAL_RATIO:g}x)"),
        ("wall time (median)", med["full_s"] < GOAL_WALL_S, f"{med['full_s']:.3f} s (goal < {GOAL_WALL_S:g} s)"),
        ("peak memory (child maxrss)", rss_mb < GOAL_RSS_MB, f"{rss_mb:.0f} MB (goal < {GOAL_RSS_MB:g} MB)"),
    ]
    print(f"rows: {res['rows']:,}   bootstrap resamples: {res['resamples']} (default for this size: "
          f"{res['default_resamples']})   bootstrap threads: {res['workers']}   cpus: {os.cpu_count()}   "
          f"load average (1/5/15 min) before: {load_before}, after: {load_after}"
          + (f"   slices: {res['slices']} of one column, each judged" if res.get("slices") else ""))
    print("run   roc_auc_score wall / cpu     full comparison wall / cpu     ratio (wall)")
    for i, r in enumerate(runs, 1):
        print(f"{i:>3}   {r['baseline_s']:8.3f} s / {r['baseline_cpu_s']:6.3f} s     "
              f"{r['full_s']:8.3f} s / {r['full_cpu_s']:6.3f} s       {r['full_s'] / r['baseline_s']:5.2f}x")
    print(f"median {med['baseline_s']:7.3f} s / {med['baseline_cpu_s']:6.3f} s     "
          f"{med['full_s']:8.3f} s / {med['full_cpu_s']:6.3f} s       {ratio:5.2f}x")
    print(f"best runs: {min(col('baseline_s')):.3f} s vs {min(col('full_s')):.3f} s ({best_ratio:.2f}x)   "
          f"CPU time ratio (medians): {cpu_ratio:.2f}x")
    print(f"memory: child maxrss {rss_mb:.0f} MB, tracemalloc peak of one comparison {res['traced_peak_mb']:.0f} MB")
    lo, hi = res["roc_auc_interval"]
    print(f"result: verdict {res['verdict']}, ROC AUC delta {res['roc_auc_delta']:+.5f} "
          f"[{lo:+.5f}, {hi:+.5f}] DeLong p={res['delong_p']:.3g}")
    for name, ok, text in goals:
        print(f"  {'ok  ' if ok else 'MISS'} {name}: {text}")
    return 0 if all(ok for _, ok, _ in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
