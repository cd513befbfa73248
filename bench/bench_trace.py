"""Benchmark: `modelbot trace` on an endpoint with 1,000 past deployments (issue #16, part 2).

    .venv/bin/python bench/bench_trace.py [--deployments 1000] [--small 100] [--noise-endpoints 20]
                                          [--noise-deployments 200] [--runs 9] [--cli-runs 3]
                                          [--backends sqlite,postgresql] [--no-analyze] [--seed 16] [--keep]

Per backend (SQLite: a file in a temporary directory; PostgreSQL: a fresh schema on
MODELBOT_TEST_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test, selected with
`options=-csearch_path=<schema>` and dropped afterwards), on a store migrated by
`bot.adapters.migrate.migrate` like the tests':

- **History**: the main endpoint (`fraud-detector`, production) with `--deployments` past
  deployments, and `--noise-endpoints` other endpoints (one of them `fraud-detector-staging`)
  with `--noise-deployments` each, all in one `ledger` table, deployments interleaved in time
  order. Each deployment has the entries the worker writes (shapes as in
  `bot.app.services.rollouts` / `deployments` and `tests/aws/test_ledger.py`): `recorded`,
  `gate` (approvals with the reviews that gave them, the comparison with 8 metric rows),
  `prepared` (models, configs, digests), 4-6 `phase` entries with the endpoint's ARN, `smoke`,
  sometimes a `request`, and `finished`; about 8% are refused by the gate (recorded, gate,
  finished), 6% roll back, 3% fail. The rows are written with SQLAlchemy core bulk inserts into
  `ledger` (building only); PostgreSQL's table is then `VACUUM ANALYZE`d, as autovacuum would
  have done to a table that grew over years (`--no-analyze` skips it).
- **Statements**: the SQL statements `bot.app.services.lineage.trace` issues per subject,
  counted with a `before_cursor_execute` listener, once the main endpoint has `--small`
  deployments (the first part of the timeline) and again at `--deployments`: they must not
  grow with the history.
- **Time**: `trace(store, subject)` for the endpoint name, its ARN, a model ARN
  (`arn:aws:sagemaker:...:model/<name>`) and `modelbot:commit=<sha>` (the model and the commit
  of the main endpoint's 50th deployment), one warm-up then `--runs` runs each, interleaved with
  the **baseline**: one `SELECT * FROM ledger WHERE endpoint = :e` fetch of the endpoint's rows
  (`fetchall`, no parsing). Printed: median and max wall time, median CPU time of this process,
  and trace / baseline (medians). Also, for information: where the endpoint trace's time goes
  (`Store.ledger_endpoints`, the `Store.ledger` ORM read, `LedgerRow.as_entry`,
  `lineage.chains`), the first query of the model and commit traces (both read the whole
  table), the query plans of the endpoint trace's two statements, and the CLI end to end,
  `modelbot trace fraud-detector --format json` in a subprocess with DATABASE_URL set, beside a
  process that only imports `bot.app.trace_cli`.

Goals (exit 1 when one is missed): `trace` by the endpoint name and by its ARN < 1 s (median of
the runs) at `--deployments` deployments on each backend; the statement count of every subject
the same at `--small` and at `--deployments`; and every trace answers what it should (all the
endpoint's deployments, the newest succeeded one serving; the model and the commit matched).
Exits 2 when PostgreSQL cannot be reached even after `.ci/services`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bot.adapters.migrate import migrate  # noqa: E402
from bot.adapters.store import LedgerRow, Store  # noqa: E402
from bot.app.services.lineage import trace  # noqa: E402
from bot.core.lineage import chains  # noqa: E402

PG_URL = os.environ.get("MODELBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GOAL_SECONDS = 1.0
MAIN = ("production", "fraud-detector")
REGION, ACCOUNT = "us-east-1", "123456789012"
NOISE_NAMES = ("fraud-detector-staging", "churn-predictor", "churn-predictor-staging", "ltv-regressor",
               "ltv-regressor-staging", "search-ranker", "search-ranker-staging", "spam-filter",
               "spam-filter-staging", "credit-risk", "credit-risk-staging", "demand-forecast",
               "demand-forecast-staging", "image-tagger", "image-tagger-staging", "recsys-candidates",
               "recsys-candidates-staging", "eta-estimator", "eta-estimator-staging", "toxicity-classifier")
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier")
USERS = ("bob", "alice", "carol", "dave", "erin")
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
SPAN = dt.timedelta(days=3 * 365)


# --- the history ------------------------------------------------------------------------------------

def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def _digest(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def plan_history(args) -> list[dict]:
    """Every deployment of every endpoint, in time order: who, where, when, and how it ends."""
    rng = random.Random(args.seed)
    endpoints = [(MAIN, args.deployments)]
    for i in range(args.noise_endpoints):
        name = NOISE_NAMES[i] if i < len(NOISE_NAMES) else f"noise-model-{i:02d}"
        endpoints.append((("staging" if name.endswith("-staging") else "production", name), args.noise_deployments))
    out = []
    for (env, name), n in endpoints:
        model = name.removesuffix("-staging")
        repo = "acme/models" if zlib.crc32(model.encode()) % 3 else "acme/ml-platform"
        for k in range(n):
            start = START + SPAN * ((k + rng.random() * 0.5) / n)
            r = rng.random()
            outcome = ("refused" if r < 0.08 else "rolled_back" if r < 0.14 else "failed" if r < 0.17
                       else "succeeded")
            out.append({"environment": env, "endpoint": name, "model": model, "index": k, "at": start,
                        "repository": repo, "manifest_path": f"models/{model}/modelbot.yaml",
                        "commit": _sha(rng), "head": _sha(rng), "base": _sha(rng), "outcome": outcome,
                        "strategy": rng.choice(("canary", "linear", "blue_green")),
                        "approvers": rng.sample(USERS, rng.choice((1, 1, 2))),
                        "request": rng.random() < 0.03, "seed": rng.getrandbits(32)})
    out.sort(key=lambda d: d["at"])
    prs: dict[str, int] = {}
    for pk, d in enumerate(out, start=1):
        d["deployment_id"] = pk
        prs[d["repository"]] = prs.get(d["repository"], 0) + 1
        d["pr_number"] = prs[d["repository"]]
        prefix = d["endpoint"] if d["environment"] == "staging" else d["model"] + "-production"
        d["model_name"] = f"{prefix}-{d['commit'][:7]}"
    return out


def entries_of(d: dict, previous: dict | None) -> list[dict]:
    """The ledger entries one deployment writes, in order."""
    rng = random.Random(d["seed"])
    env, name, sha = d["environment"], d["endpoint"], d["commit"]
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}"
    model_name = d["model_name"]
    previous_config = previous["serving"] if previous else None
    d["serving"] = previous_config  # what the endpoint serves after this deployment (unless it succeeds)
    data_version = f"{(d['at'] - dt.timedelta(days=rng.randint(1, 20))):%Y-%m-%d}"
    at = d["at"]
    rows = []

    def add(kind: str, data: dict, actor: str | None = None, seconds: float = 1.0) -> None:
        nonlocal at
        at = at + dt.timedelta(seconds=seconds)
        rows.append({"at": at, "kind": kind, "deployment_id": d["deployment_id"], "repository": d["repository"],
                     "environment": env, "endpoint": name, "commit_sha": sha, "pr_number": d["pr_number"],
                     "manifest_path": d["manifest_path"], "actor": actor,
                     "data": json.dumps(data, sort_keys=True, default=str)})

    add("recorded", {"trigger": "merge", "kind": "deploy", "after_id": None, "head_sha": d["head"],
                     "base_sha": d["base"], "model": d["model"], "data_version": data_version, "override": None,
                     "manifest_commit": None}, actor="maintainer", seconds=0)
    approvals = [{"user": u, "paths": [d["manifest_path"]], "rule": "owner in the manifest at base"}
                 for u in d["approvers"]]
    refused = d["outcome"] == "refused"
    comparison_verdict = "fail" if refused and rng.random() < 0.5 else "pass"
    key = "sha256:" + _digest(d["deployment_id"], "comparison")
    if refused:
        reasons = ([f"production: the comparison with the live model failed: roc_auc regression "
                    f"{rng.uniform(0.021, 0.05):.4f} > 0.02"] if comparison_verdict == "fail"
                   else [f"{env}: 1 more approval from an owner in total"])
        add("gate", {"action": "deploy", "verdict": "refuse", "reasons": reasons, "lifted": [],
                     "approvals": approvals, "override": None,
                     "comparison": {"verdict": comparison_verdict, "key": key}}, seconds=30)
        add("finished", {"status": "refused", "reason": "refused by the deploy gate: " + "; ".join(reasons),
                         "kind": None})
        return rows
    metric_rows = []
    for metric in METRICS:
        base = rng.uniform(0.80, 0.97) if metric not in ("log_loss", "brier") else rng.uniform(0.05, 0.3)
        delta = rng.uniform(-0.01, 0.02)
        half = rng.uniform(0.003, 0.02)
        metric_rows.append({"metric": metric, "candidate": round(base + delta, 6), "baseline": round(base, 6),
                            "delta": round(delta, 6), "ci_low": round(delta - half, 6),
                            "ci_high": round(delta + half, 6),
                            "verdict": "pass" if metric in ("roc_auc", "recall") else None,
                            "gate": ("auc >= 0.9, auc regression <= 0.02 (95%)" if metric == "roc_auc" else
                                     "recall regression <= 0.1 (95%)" if metric == "recall" else None)})
    add("gate", {"action": "deploy", "verdict": "allow", "reasons": [], "lifted": [], "approvals": approvals,
                 "override": None,
                 "approval_reviews": [{"user": u, "submitted_at": f"{d['at'] - dt.timedelta(hours=2):%Y-%m-%dT%H:%M:%SZ}",
                                       "commit": d["head"]} for u in d["approvers"]],
                 "comparison": {"verdict": comparison_verdict, "key": key,
                                "baseline_model": previous_config,
                                "n_rows": 20000, "dataset": f"s3://acme-validation/{d['model']}/{data_version}.parquet",
                                "candidate": f"s3://acme-models/{d['model']}/{data_version}/predictions.parquet",
                                "rows": metric_rows, "contract_errors": 0}}, seconds=30)
    strategy = d["strategy"]
    add("prepared", {"kind": "update", "headline": f"update endpoint {name} by {strategy}",
                     "manifest_digest": "sha256:" + _digest(sha, "manifest"), "mode": "realtime",
                     "strategy": strategy, "model": d["model"], "model_digest": _digest(sha, "model")[:16],
                     "config_digest": _digest(sha, "config")[:16], "region": REGION,
                     "build_id": f"b-{d['deployment_id']}", "data_version": data_version,
                     "models": [{"name": model_name,
                                 "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{d['model']}:1.{d['index'] % 40}.0",
                                 "artifact": f"s3://acme-models/{d['model']}/{data_version}/model.tar.gz"}],
                     "endpoint_configs": [model_name], "target_config": model_name, "promoted_config": None,
                     "transform_job": None, "smoke_samples": 5, "flow": "guarded"})

    def phase(ph: str, action: str, progress: str, traffic=None, config=None, seconds=60.0) -> None:
        add("phase", {"phase": ph, "action": action, "endpoint_arn": arn, "status": "InService"
                      if ph != "updating" else "Updating", "config": config or previous_config,
                      "progress": progress, "traffic_percent": traffic}, seconds=seconds)

    phase("updating", "update_endpoint", f"{strategy}: updating {name} to {model_name}")
    phase("smoke", "smoke", f"{strategy}: smoke test of {model_name} (5 samples)", seconds=420)
    add("smoke", {"config": model_name, "result": "passed", "problems": [], "retrying": False}, seconds=5)
    if d["outcome"] == "failed":
        phase("failed", "fail", f"{name}: timed out: shifting did not finish within 3600 s", seconds=3600)
        add("finished", {"status": "failed", "reason": "timed out: shifting did not finish within 3600 s",
                         "kind": None})
        return rows
    phase("shifting", "report", f"{strategy}: {model_name} takes 10% of the traffic, baking 600 s", traffic=10,
          config=model_name)
    if d["request"]:
        add("request", {"what": "promote" if d["outcome"] == "succeeded" else "rollback"},
            actor=rng.choice(USERS), seconds=120)
    if d["outcome"] == "rolled_back":
        why = f"alarm {d['model']}-5xx is ALARM"
        phase("rolling_back", "rollback", f"{strategy}: rolling back to {previous_config}: {why}",
              config=previous_config, seconds=300)
        phase("rolled_back", "roll_back", f"{name} serves {previous_config} again: {why}", config=previous_config)
        add("finished", {"status": "rolled_back", "reason": f"rolled back to {previous_config}: {why}", "kind": None})
        return rows
    if strategy == "linear":
        phase("promote_shift", "report", f"linear: {model_name} takes 50% of the traffic", traffic=50,
              config=model_name, seconds=600)
    phase("promoting", "promote", f"{strategy}: {model_name} takes all the traffic", traffic=100,
          config=model_name, seconds=600)
    phase("succeeded", "succeed", f"{name} serves {model_name}: deployment succeeded", traffic=100,
          config=model_name, seconds=300)
    add("finished", {"status": "succeeded", "reason": f"{name} serves {model_name}: deployment succeeded",
                     "kind": None})
    d["serving"] = model_name
    return rows


def insert(engine, deployments: list[dict], last: dict, chunk: int = 2000) -> int:
    """Write the deployments' entries in bulk (core inserts, in order); `last` is the previous
    deployment of each endpoint (updated)."""
    table = LedgerRow.__table__
    n, batch = 0, []
    with engine.begin() as conn:
        for d in deployments:
            where = (d["environment"], d["endpoint"])
            rows = entries_of(d, last.get(where))
            if d["outcome"] != "refused":
                last[where] = d
            batch.extend(rows)
            if len(batch) >= chunk:
                conn.execute(table.insert(), batch)
                n, batch = n + len(batch), []
        if batch:
            conn.execute(table.insert(), batch)
            n += len(batch)
    return n


# --- measuring --------------------------------------------------------------------------------------

class StatementCounter:
    def __init__(self, engine):
        self.on, self.statements = False, []
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, _parameters, _context, _executemany):
        if self.on:
            self.statements.append(" ".join(statement.split()))

    def count(self, fn):
        self.statements, self.on = [], True
        try:
            result = fn()
        finally:
            self.on = False
        return result, list(self.statements)


def baseline(store, endpoint: str) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(sa.text("SELECT * FROM ledger WHERE endpoint = :e"), {"e": endpoint}).fetchall())


def breakdown(store, name: str, subj: dict[str, str]) -> dict:
    """Where the endpoint trace's time goes, step by step as `trace` does it, and the first
    query of the model and commit traces (they read the whole table), for information."""
    out = {}
    model = subj["model ARN"].rsplit("/", 1)[1]
    commit = subj["commit"].split("=", 1)[1]
    t = time.perf_counter()
    store.ledger_deployments_mentioning(model)
    out["model: ledger_deployments_mentioning"] = time.perf_counter() - t
    t = time.perf_counter()
    store.ledger(commit_sha=commit)
    out["commit: ledger(commit_sha=)"] = time.perf_counter() - t
    t = time.perf_counter()
    where = store.ledger_endpoints(name)
    out["ledger_endpoints"] = time.perf_counter() - t
    t = time.perf_counter()
    rows = [r for env, n in where for r in store.ledger(endpoint=n, environment=env)]
    out["Store.ledger (ORM rows)"] = time.perf_counter() - t
    t = time.perf_counter()
    entries = [r.as_entry() for r in rows]
    out["as_entry (json.loads)"] = time.perf_counter() - t
    t = time.perf_counter()
    chains(entries)
    out["chains"] = time.perf_counter() - t
    return out


def subjects(history: list[dict]) -> dict[str, str]:
    mine = [d for d in history if (d["environment"], d["endpoint"]) == MAIN]
    pick = next(d for d in mine[50:] if d["outcome"] == "succeeded")
    return {"endpoint": MAIN[1], "endpoint ARN": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{MAIN[1]}",
            "model ARN": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{pick['model_name']}",
            "commit": f"modelbot:commit={pick['commit'][:10]}", "_pick": pick["deployment_id"]}


def check(kind: str, t, n_main: int, pick: int, expect_serving: int) -> list[str]:
    problems = []
    mine = [c for c in t.chains if (c.environment, c.endpoint) == MAIN]
    if t.endpoints != (MAIN,):
        problems.append(f"{kind}: endpoints {t.endpoints}")
    if len(mine) != n_main or len(t.chains) != n_main:
        problems.append(f"{kind}: {len(t.chains)} chains, {len(mine)} of {MAIN[1]}, expected {n_main}")
    serving = [c.deployment_id for c in mine if c.serving]
    if serving != [expect_serving]:
        problems.append(f"{kind}: serving {serving}, expected [{expect_serving}]")
    if any(not c.events or c.events[0].kind != "recorded" for c in mine):
        problems.append(f"{kind}: a chain that does not start with its recorded entry")
    if kind in ("model ARN", "commit") and t.matched != (pick,):
        problems.append(f"{kind}: matched {t.matched}, expected ({pick},)")
    return problems


def cli(url: str, runs: int) -> dict:
    env = {**os.environ, "DATABASE_URL": url, "MODELBOT_CONFIG": str(ROOT / "config" / "modelbot.yaml")}
    exe = str(ROOT / ".venv" / "bin" / "modelbot")
    if not Path(exe).exists():
        exe = str(Path(sys.executable).parent / "modelbot")

    def once(cmd) -> tuple[float, subprocess.CompletedProcess]:
        t = time.perf_counter()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        return time.perf_counter() - t, p

    cmd = [exe, "trace", MAIN[1], "--format", "json"]
    floor_cmd = [sys.executable, "-c", "import bot.app.trace_cli"]
    once(cmd)  # warm-up: page cache, pyc
    times, floors, deployments, ok = [], [], None, True
    for _ in range(runs):
        s, p = once(floor_cmd)
        floors.append(s)
        s, p = once(cmd)
        times.append(s)
        if p.returncode != 0:
            ok = False
            sys.stderr.write(p.stderr[-2000:])
        else:
            deployments = len(json.loads(p.stdout)["deployments"])
    return {"median": statistics.median(times), "max": max(times), "import_floor": statistics.median(floors),
            "ok": ok, "deployments": deployments}


# --- backends ---------------------------------------------------------------------------------------

def pg_available() -> bool:
    def ping() -> bool:
        engine = sa.create_engine(PG_URL)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.OperationalError:
            return False
        finally:
            engine.dispose()

    if ping():
        return True
    print(f"PostgreSQL is not reachable at {PG_URL}: running .ci/services", flush=True)
    subprocess.run([str(ROOT / ".ci" / "services")], check=False)
    return ping()


class Backend:
    def __init__(self, name: str, keep: bool):
        self.name, self.keep, self.cleanup = name, keep, []
        if name == "sqlite":
            tmp = tempfile.mkdtemp(prefix="bench-trace-")
            self.url = f"sqlite:///{tmp}/modelbot.db"
            self.where = f"{tmp}/modelbot.db"
            if not keep:
                import shutil
                self.cleanup.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
        else:
            schema = "bench_trace_" + uuid.uuid4().hex[:10]
            admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

            def drop():
                if not keep:
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()

            self.cleanup.append(drop)
            sep = "&" if "?" in PG_URL else "?"
            self.url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
            self.where = f"schema {schema}"

    def close(self):
        for fn in reversed(self.cleanup):
            fn()


def run_backend(name: str, args, history: list[dict]) -> dict:
    backend = Backend(name, args.keep)
    store = None
    try:
        store = Store(backend.url)
        migrate(store.engine)
        counter = StatementCounter(store.engine)
        subj = subjects(history)
        pick = subj.pop("_pick")
        mine = [d for d in history if (d["environment"], d["endpoint"]) == MAIN]
        cut = history.index(mine[args.small - 1]) + 1
        last: dict = {}
        res: dict = {"backend": name, "where": backend.where, "problems": [], "counts": {}, "times": {}}

        def vacuum():
            if store.engine.dialect.name == "postgresql" and not args.no_analyze:
                with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(sa.text("VACUUM ANALYZE ledger"))

        def serving_now(n: int) -> int:
            return [d for d in mine[:n] if d["outcome"] == "succeeded"][-1]["deployment_id"]

        for stage, upto, n_main in (("small", cut, args.small), ("full", len(history), args.deployments)):
            t = time.perf_counter()
            rows = insert(store.engine, history[cut if stage == "full" else 0:upto], last)
            vacuum()
            built = time.perf_counter() - t
            with store.engine.connect() as conn:
                total = conn.execute(sa.text("SELECT count(*) FROM ledger")).scalar()
                size = conn.execute(sa.text("SELECT sum(length(data)) FROM ledger")).scalar()
            res.setdefault("built", {})[stage] = {"rows_added": rows, "rows": total, "data_mb": size / 1e6,
                                                  "seconds": built, "main": n_main,
                                                  "deployments": sum(1 for d in history[:upto])}
            print(f"  [{name}] {stage}: {n_main} deployments of {MAIN[1]}, {upto} in all, {total:,} ledger rows "
                  f"({size / 1e6:.1f} MB of data), built in {built:.1f} s", flush=True)
            for kind, text in subj.items():
                trace(store, text)  # warm-up
                result, statements = counter.count(lambda: trace(store, text))
                res["counts"].setdefault(kind, {})[stage] = statements
                res["problems"] += [f"{stage}: {p}" for p in check(kind, result, n_main, pick, serving_now(n_main))]
        # Timing at the full history: rounds of (baseline, each subject), after a warm-up of each.
        expected_rows = baseline(store, MAIN[1])
        samples: dict[str, list[tuple[float, float]]] = {"baseline": [], **{k: [] for k in subj}}

        def timed(fn) -> tuple[float, float]:
            t, c = time.perf_counter(), time.process_time()
            fn()
            return time.perf_counter() - t, time.process_time() - c

        for _ in range(args.runs):
            samples["baseline"].append(timed(lambda: baseline(store, MAIN[1])))
            for kind, text in subj.items():
                samples[kind].append(timed(lambda: trace(store, text)))
        res["times"] = {k: {"median": statistics.median(w for w, _ in v), "max": max(w for w, _ in v),
                            "cpu": statistics.median(c for _, c in v)} for k, v in samples.items()}
        res["baseline_rows"] = expected_rows
        parts = [breakdown(store, MAIN[1], subj) for _ in range(3)]
        res["breakdown"] = {k: statistics.median(p[k] for p in parts) for k in parts[0]}
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect() as conn:
                res["plans"] = {
                    "ledger_endpoints": [r[0] for r in conn.execute(sa.text(
                        "EXPLAIN ANALYZE SELECT DISTINCT environment, endpoint FROM ledger "
                        "WHERE lower(endpoint) = :n"), {"n": MAIN[1]})],
                    "ledger(endpoint)": [r[0] for r in conn.execute(sa.text(
                        "EXPLAIN ANALYZE SELECT * FROM ledger WHERE endpoint = :e AND environment = :v ORDER BY id"),
                        {"e": MAIN[1], "v": MAIN[0]})]}
        else:
            with store.engine.connect() as conn:
                res["plans"] = {
                    "ledger_endpoints": [str(r[-1]) for r in conn.execute(sa.text(
                        "EXPLAIN QUERY PLAN SELECT DISTINCT environment, endpoint FROM ledger "
                        "WHERE lower(endpoint) = :n"), {"n": MAIN[1]})],
                    "ledger(endpoint)": [str(r[-1]) for r in conn.execute(sa.text(
                        "EXPLAIN QUERY PLAN SELECT * FROM ledger WHERE endpoint = :e AND environment = :v "
                        "ORDER BY id"), {"e": MAIN[1], "v": MAIN[0]})]}
        res["cli"] = cli(backend.url, args.cli_runs) if args.cli_runs else None
        if res["cli"] and (not res["cli"]["ok"] or res["cli"]["deployments"] != args.deployments):
            res["problems"].append(f"CLI: exit ok={res['cli']['ok']}, {res['cli']['deployments']} deployments")
        return res
    finally:
        if store is not None:
            store.dispose()
        backend.close()


# --- report -----------------------------------------------------------------------------------------

def report(results: list[dict], args) -> bool:
    ok = True
    print()
    print(f"modelbot trace: {MAIN[0]}/{MAIN[1]} with {args.deployments} past deployments, "
          f"{args.noise_endpoints} other endpoints x {args.noise_deployments}; median / max of {args.runs} runs "
          f"after a warm-up")
    for r in results:
        b = r["built"]["full"]
        print(f"\n== {r['backend']} ({r['where']}): {b['rows']:,} ledger rows, {b['deployments']:,} deployments, "
              f"{b['data_mb']:.1f} MB of entry data; {r['baseline_rows']:,} rows of {MAIN[1]}")
        base = r["times"]["baseline"]["median"]
        print(f"  {'subject':<14}{'median':>10}{'max':>10}{'cpu':>10}{'/ baseline':>12}   statements at "
              f"{args.small} -> {args.deployments}")
        bt = r["times"]["baseline"]
        print(f"  {'baseline':<14}{base * 1e3:>8.1f}ms{bt['max'] * 1e3:>8.1f}ms{bt['cpu'] * 1e3:>8.1f}ms{'1.0x':>12}   "
              f"1 (SELECT * FROM ledger WHERE endpoint = :e)")
        for kind, c in r["counts"].items():
            t = r["times"][kind]
            small, full = len(c["small"]), len(c["full"])
            goal = kind in ("endpoint", "endpoint ARN")
            verdict = ""
            if goal:
                passed = t["median"] < GOAL_SECONDS
                ok &= passed
                verdict = f"  < {GOAL_SECONDS:.0f} s: {'PASS' if passed else 'MISS'}"
            flat = small == full
            ok &= flat
            print(f"  {kind:<14}{t['median'] * 1e3:>8.1f}ms{t['max'] * 1e3:>8.1f}ms{t['cpu'] * 1e3:>8.1f}ms"
                  f"{t['median'] / base:>11.1f}x   "
                  f"{small} -> {full} {'PASS' if flat else 'MISS (grows)'}{verdict}")
        print("  statements (at the full history):")
        for kind, c in r["counts"].items():
            for s in c["full"]:
                print(f"    {kind:<13} {s[:150]}{'...' if len(s) > 150 else ''}")
        print("  (cpu: this process's CPU time, median; PostgreSQL's own work is not in it)")
        print("  where the time goes (medians of 3):",
              ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in r["breakdown"].items()))
        for q, plan in r["plans"].items():
            print(f"  plan of {q}: " + " | ".join(p.strip() for p in plan))
        if r["cli"]:
            c = r["cli"]
            print(f"  CLI `modelbot trace {MAIN[1]} --format json` (information): median {c['median']:.2f} s, "
                  f"max {c['max']:.2f} s, {c['deployments']} deployments; a process that only imports "
                  f"bot.app.trace_cli: {c['import_floor']:.2f} s")
        for p in r["problems"]:
            print(f"  MISS {p}")
        ok &= not r["problems"]
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    print(f"OVERALL {'PASS' if ok else 'MISS'}")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--small", type=int, default=100, help="deployments of the endpoint at the first count")
    parser.add_argument("--noise-endpoints", type=int, default=20)
    parser.add_argument("--noise-deployments", type=int, default=200)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-analyze", action="store_true", help="leave PostgreSQL's table un-vacuumed")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file / PostgreSQL schema")
    args = parser.parse_args(argv)
    if args.runs < 7:
        parser.error("--runs must be at least 7")
    if not 51 < args.small < args.deployments:
        parser.error("--small must be between 52 and --deployments")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "postgresql" in backends and not pg_available():
        print(f"PostgreSQL is still not reachable at {PG_URL} after .ci/services: cannot run the PostgreSQL half")
        return 2
    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)", flush=True)
    results = []
    for name in backends:
        history = plan_history(args)
        results.append(run_backend(name, args, history))
    return 0 if report(results, args) else 1


if __name__ == "__main__":
    sys.exit(main())
