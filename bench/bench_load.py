"""Load benchmark: mixed GitHub deliveries at a fixed rate against gunicorn + two queue workers.

    .venv/bin/python bench/bench_load.py [--backends embedded,scale] [--rate 200] [--seconds 60]
                                         [--repos 50] [--web-workers 2] [--workers 2] [--drain-timeout 600]
                                         [--seed 13] [--keep]

What it does, on loopback, once per backend (embedded: SQLite store + SQLite huey queue; scale:
PostgreSQL + Redis, the test suite's servers, in a schema and queue name of its own):

1. A fake GitHub (tests/support/fake_github.FakeGitHub, held to GitHub's REST description) runs in
   a child process of its own, so its CPU is not the load generator's: 5 organisations, each one
   installation of the App, `--repos` repositories between them, each with a code-only pull
   request (#1), a pull request changing a model manifest (#2) and four comments on #1.
2. A plan of `--rate` x `--seconds` requests is built before the clock starts (seeded), each a
   pre-built HTTP/1.1 request on a new connection, as GitHub sends them. The mix: pull_request
   opened/synchronize on those repositories (20%), issue_comment `/help` (7%), push to a feature
   branch (15%), check_run completed (28%, not handled: answered "ignored"), ping (2%),
   installation (1%), redeliveries of an earlier delivery with its X-GitHub-Delivery (15%, a fifth
   of them sent 5 ms after the original, racing it), bad signatures (8%) and a repository outside
   the allowlist (4%). Every request has its expected answer.
3. The bare app (bench/bare_app.py:app, answers 204) under the very same gunicorn settings gets the
   same plan at the same rate first; then the bot: `modelbot serve` (tests/support/processes
   web_process) and `--workers` `modelbot worker` processes (start_worker, 2 threads each) racing
   for one queue, talking to the fake GitHub (GITHUB_API_URL; write pacing off, see README). A
   warm-up batch of every kind is sent and drained first (imports, tokens, connections).
4. During the run both workers' VmRSS is sampled from /proc every 0.5 s. After it, the bench waits
   (bounded by --drain-timeout) until the queue is empty and no delivery is unfinished.

Goals (PASS/MISS each; exit 1 on any MISS):

- no 5xx, no connection error, and every answer the expected one (202 queued / duplicate /
  ignored, 401 bad signature, 403 foreign repository);
- every accepted delivery handled exactly once: one row per delivery id that got "queued" (and none
  for the refused ones), each `done` after one claim (attempts == 1), one successful handler run
  per handler the router has for its event and none failed;
- the queue drained within --drain-timeout (no pending or scheduled message, no unfinished row);
- worker memory flat: mean VmRSS of the last 10 s of the run / the first 10 s <= 1.10, each worker;
- intake keeps up: achieved rate of the bot >= 0.95 x the bare app's in the same run.
Latency p50/p99 (from each request's scheduled send time) and the achieved rate are printed as
ratios bot / bare.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_intake import _cpu_seconds, _status_kb, bot_server, exchange, plain_server  # noqa: E402
from bot.app.intake import sign  # noqa: E402
from tests.support.processes import start_worker, stop  # noqa: E402

SECRET = "bench-load-" + uuid.uuid4().hex
ORGS = ("acme", "octo-org", "ml-platform", "data-team", "forecasting")
FOREIGN_REPO = "intruder/outside"
GOAL_RSS_RATIO = 1.10
GOAL_KEEP_UP = 0.95
MEMORY_WINDOW = 10.0
SAMPLE_EVERY = 0.5
# Share of each kind of request in the plan (percent).
MIX = {"pull_request": 20, "issue_comment": 7, "push": 15, "check_run": 28, "ping": 2, "installation": 1,
       "duplicate": 15, "bad_signature": 8, "foreign": 4}
HANDLED = ("pull_request", "issue_comment", "push", "ping", "installation")
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()


# --- the fake GitHub, in a child process -----------------------------------------------------------


def fake_github_child(repos: int) -> int:
    """Run the fake GitHub; print one JSON line (url, App, payloads); serve until stdin closes;
    then print its counters as a second JSON line."""
    from tests.support import webhooks
    from tests.support.fake_github import FakeGitHub

    gh = FakeGitHub(rate_limit=10**9).start()
    payloads: dict[str, list] = defaultdict(list)
    installations = {}
    for org in ORGS:
        installations[org] = gh.add_installation(org).id
    names = [f"{ORGS[i % len(ORGS)]}/model-{i:03d}" for i in range(repos)]
    for full_name in names:
        org, short = full_name.split("/")
        inst = installations[org]
        gh.add_repo(full_name, {"README.md": f"# {short}\n", "src/train.py": "print('train')\n"},
                    installation_id=inst)
        gh.open_pull_request(full_name, "tune", files={"src/train.py": "print('train v2')\n"}, number=1,
                             title="Tune the training loop")
        manifest = MINIMAL.replace("name: churn", f"name: {short}")
        gh.open_pull_request(full_name, "model", files={f"models/{short}/modelbot.yaml": manifest}, number=2,
                             title="Add the model manifest")
        for number in (1, 2):
            args = webhooks.pr_args(gh, full_name, number)
            for action in ("opened", "synchronize"):
                payloads["pull_request"].append(webhooks.pull_request(action, **args))
        for k in range(4):
            comment = gh.add_comment(full_name, 1, "/help", user="alice" if k % 2 else "bob")
            payloads["issue_comment"].append(webhooks.issue_comment(
                body="/help", comment_id=comment.id, commenter=comment.user.login, repo=full_name, number=1,
                installation_id=inst))
        payloads["push"].append(webhooks.push(repo=full_name, ref="refs/heads/tune", installation_id=inst,
                                              after=gh.repo(full_name).branches["tune"]))
        payloads["check_run"].append(webhooks.check_run("completed", repo=full_name, installation_id=inst,
                                                        conclusion="success", name="modelbot/validate"))
    for org, inst in installations.items():
        payloads["ping"].append(webhooks.ping(installation_id=inst))
        payloads["installation"].append(webhooks.installation(
            "new_permissions_accepted", account=org, installation_id=inst,
            repositories=[n for n in names if n.startswith(org + "/")][:10]))
    payloads["foreign"].append(webhooks.pull_request("opened", repo=FOREIGN_REPO,
                                                     installation_id=installations[ORGS[0]]))
    print(json.dumps({"url": gh.url, "app_id": gh.app_id, "private_key": gh.private_key_pem,
                      "repositories": names, "payloads": payloads}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    print(json.dumps({"calls": len(gh.calls), "violations": gh.violations[:5], "n_violations": len(gh.violations),
                      "writes": sum(c.method != "GET" for c in gh.calls)}), flush=True)
    gh.stop()
    return 0


class FakeGitHubProcess:
    def __init__(self, repos: int, log_dir: Path):
        self.log = open(log_dir / "fake-github.log", "wb")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--fake-github-child",
                                      "--repos", str(repos)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, cwd=ROOT)
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the fake GitHub did not start; see {self.log.name}")
        self.info = json.loads(line)

    def close(self) -> dict:
        summary = {}
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                out = self.proc.stdout.readline()
                summary = json.loads(out) if out else {}
                self.proc.wait(timeout=15)
            except (subprocess.TimeoutExpired, ValueError):
                pass
        stop(self.proc)
        self.log.close()
        return summary


# --- the plan --------------------------------------------------------------------------------------


@dataclass
class Item:
    kind: str          # a MIX key (duplicate: "duplicate" or "duplicate-racing")
    event: str
    delivery_id: str
    head: bytes        # request line and headers, ending with the blank line
    body: bytes
    expect: tuple[int, str]  # (status, outcome)


def _head(event: str, body: bytes, delivery_id: str, signature: str) -> bytes:
    return (f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: GitHub-Hookshot/bench\r\nAccept: */*\r\n"
            f"Content-Type: application/json\r\nX-GitHub-Event: {event}\r\nX-GitHub-Hook-ID: 5150\r\n"
            f"X-GitHub-Hook-Installation-Target-Type: integration\r\nX-GitHub-Delivery: {delivery_id}\r\n"
            f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()


class Planner:
    """Builds requests from the fake GitHub's payloads: bodies and signatures are made once each."""

    EVENTS = {"pull_request": "pull_request", "issue_comment": "issue_comment", "push": "push",
              "check_run": "check_run", "ping": "ping", "installation": "installation",
              "foreign": "pull_request", "bad_signature": "pull_request"}

    def __init__(self, payloads: dict[str, list], seed: int):
        self.rng = random.Random(seed)
        self.bodies = {kind: [(b := json.dumps(p, separators=(",", ":")).encode(), sign(SECRET, b)) for p in items]
                       for kind, items in payloads.items()}
        self.bodies["bad_signature"] = [(b, sign("not-the-secret-" + str(i), b))
                                        for i, (b, _) in enumerate(self.bodies["pull_request"])]

    def fresh(self, kind: str) -> Item:
        body, signature = self.rng.choice(self.bodies[kind])
        delivery_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        event = self.EVENTS[kind]
        expect = {"check_run": (202, "ignored"), "bad_signature": (401, "bad_signature"),
                  "foreign": (403, "forbidden_repository")}.get(kind, (202, "queued"))
        return Item(kind, event, delivery_id, _head(event, body, delivery_id, signature), body, expect)

    def plan(self, n: int, rate: float) -> list[Item]:
        kinds = self.rng.choices(list(MIX), weights=list(MIX.values()), k=n)
        items: list[Item] = []
        for i, kind in enumerate(kinds):
            if kind != "duplicate":
                items.append(self.fresh(kind))
                continue
            racing = self.rng.random() < 0.2
            if racing:  # one of the last three requests, still in flight 5-15 ms later
                window = items[max(0, i - 3):i]
            else:  # a redelivery 0.5-5 s later
                back = self.rng.randint(max(1, int(0.5 * rate)), max(1, int(5 * rate)))
                window = items[max(0, i - back - 20):max(0, i - back + 1)]
            handled = [it for it in window if it.kind in HANDLED]
            if not handled:
                items.append(self.fresh("ping"))
                continue
            orig = handled[-1]
            items.append(Item("duplicate-racing" if racing else "duplicate", orig.event, orig.delivery_id,
                              orig.head, orig.body, (202, "duplicate")))
        return items

    def warmup(self) -> list[Item]:
        return [self.fresh(kind) for kind in MIX if kind != "duplicate" for _ in range(3)]


# --- the load ------------------------------------------------------------------------------------


def open_loop(port: int, items: list[Item], rate: float) -> dict:
    """Send items[i] at start + i / rate whatever the answers; latency from the scheduled time."""
    results: list = [None] * len(items)

    def one(i: int, scheduled: float, data: bytes) -> None:
        try:
            answer = exchange(port, data)
        except OSError as exc:
            answer = f"ERROR {exc!r}".encode()
        results[i] = (scheduled, time.perf_counter(), answer)

    cpu0 = time.process_time()
    with ThreadPoolExecutor(max_workers=64) as pool:
        start = time.perf_counter() + 0.05
        for i, item in enumerate(items):
            scheduled = start + i / rate
            data = item.head + item.body
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i, scheduled, data)
    latencies = sorted(done - scheduled for scheduled, done, _ in results)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    last = max(done for _, done, _ in results)
    return {"start": start, "results": results, "p50": q[49] * 1000, "p99": q[98] * 1000,
            "max": latencies[-1] * 1000, "achieved": len(items) / (last - start),
            "client_cpu": time.process_time() - cpu0}


def parse(answer: bytes) -> tuple[int, str]:
    """(status, outcome) of a raw answer; status 0 when there was no HTTP answer."""
    if not answer.startswith(b"HTTP/1."):
        return 0, answer[:200].decode(errors="replace")
    status = int(answer[9:12])
    body = answer.partition(b"\r\n\r\n")[2]
    try:
        outcome = json.loads(body).get("outcome", "")
    except ValueError:
        outcome = ""
    return status, outcome


def check_answers(items: list[Item], results: list, bare: bool) -> dict:
    """Count answers by (kind, status, outcome); the unexpected ones, the 5xx; which ids were queued.

    A delivery id sent more than once (a redelivery) must be answered "queued" exactly once and
    "duplicate" the other times, whichever copy came first (a racing copy may beat the original).
    """
    counts: Counter = Counter()
    unexpected: Counter = Counter()
    server_errors = 0
    first_bad = None
    queued: Counter = Counter()
    sent: Counter = Counter()
    for item, (_, _, answer) in zip(items, results):
        status, outcome = parse(answer)
        counts[(item.kind, status, outcome)] += 1
        if status == 0 or status >= 500:
            server_errors += 1
        if bare:
            ok = status == 204
        elif item.expect == (202, "queued") or item.kind.startswith("duplicate"):
            sent[item.delivery_id] += 1
            ok = (status, outcome) in ((202, "queued"), (202, "duplicate"))
            queued[item.delivery_id] += outcome == "queued"
        else:
            ok = (status, outcome) == item.expect
        if not ok:
            unexpected[(item.kind, status, outcome)] += 1
            first_bad = first_bad or answer[:400]
    if not bare:
        for delivery_id, n in sent.items():
            if queued[delivery_id] != 1:
                unexpected[(f"delivery sent {n}x, answered 'queued'", 202, f"{queued[delivery_id]}x")] += 1
    return {"counts": counts, "unexpected": unexpected, "server_errors": server_errors, "first_bad": first_bad,
            "queued": +queued}


class MemorySampler(threading.Thread):
    def __init__(self, pids: list[int], window: float):
        super().__init__(daemon=True)
        self.window = window
        self.pids, self.samples, self.halt = pids, [], threading.Event()
        self.t0 = time.perf_counter()

    def run(self) -> None:
        while not self.halt.is_set():
            now = time.perf_counter() - self.t0
            for pid in self.pids:
                try:
                    self.samples.append((now, pid, _status_kb(pid, "VmRSS")))
                except OSError:
                    pass
            self.halt.wait(SAMPLE_EVERY)

    def windows(self, end: float) -> dict[int, tuple[float, float]]:
        """pid -> (mean MB of the first `window` s, mean MB of the last `window` s of the run)."""
        out = {}
        for pid in self.pids:
            first = [kb for t, p, kb in self.samples if p == pid and kb and t < self.window]
            last = [kb for t, p, kb in self.samples if p == pid and kb and end - self.window <= t <= end]
            if first and last:
                out[pid] = (statistics.fmean(first) / 1024, statistics.fmean(last) / 1024)
        return out


# --- the store -----------------------------------------------------------------------------------


class Ledger:
    """What the store and the queue say (read from the bench process)."""

    def __init__(self, env: dict[str, str]):
        from bot.core.config import load_settings
        from bot.adapters.queue import Queue
        from bot.adapters.store import Store

        self.settings = load_settings(env)
        self.store = Store(self.settings.database_url)
        self.queue = Queue(self.settings)

    def unfinished(self) -> tuple[int, int, int]:
        """(rows not done/failed, pending messages, scheduled messages)."""
        from sqlalchemy import func, select

        from bot.adapters.store import DeliveryRow

        with self.store.session() as s:
            rows = s.scalar(select(func.count()).select_from(DeliveryRow).where(
                DeliveryRow.status.notin_(("done", "failed"))))
        return rows, self.queue.depth(), self.queue.scheduled()

    def done_count(self) -> int:
        from sqlalchemy import func, select

        from bot.adapters.store import DeliveryRow

        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(DeliveryRow).where(DeliveryRow.status == "done"))

    def rows(self):
        from sqlalchemy import func, select

        from bot.adapters.store import DeliveryRow, HandlerRunRow

        with self.store.session() as s:
            deliveries = list(s.execute(select(DeliveryRow.id, DeliveryRow.delivery_id, DeliveryRow.event,
                                               DeliveryRow.action, DeliveryRow.status, DeliveryRow.attempts)))
            runs = list(s.execute(select(HandlerRunRow.delivery_pk, HandlerRunRow.handler, HandlerRunRow.ok,
                                         func.count(), func.sum(HandlerRunRow.duration))
                                  .group_by(HandlerRunRow.delivery_pk, HandlerRunRow.handler, HandlerRunRow.ok)))
            errors = {(pk, handler): error for pk, handler, error in s.execute(
                select(HandlerRunRow.delivery_pk, HandlerRunRow.handler, HandlerRunRow.error)
                .where(HandlerRunRow.ok.is_(False)))}
        return deliveries, runs, errors

    def close(self) -> None:
        self.store.dispose()


def check_exactly_once(ledger: Ledger, queued: Counter, refused_ids: set[str]) -> tuple[bool, list[str], dict]:
    """Every id answered "queued" once has one row, done, claimed once, each handler run once, ok."""
    from bot.app.features import load_router

    router = load_router("")
    deliveries, runs, errors = ledger.rows()
    by_pk: dict[int, dict[tuple[str, bool], int]] = defaultdict(dict)
    durations: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for pk, handler, ok, count, total in runs:
        by_pk[pk][(handler, bool(ok))] = count
        if ok:
            durations[handler][0] += count
            durations[handler][1] += total or 0.0
    problems: Counter = Counter()
    examples: dict[str, list[str]] = defaultdict(list)

    def bad(what: str, detail: str) -> None:
        problems[what] += 1
        if len(examples[what]) < 3:
            examples[what].append(detail)

    stored = {d.delivery_id for d in deliveries}
    for delivery_id, n in queued.items():
        if n != 1:
            bad("answered 'queued' more than once", f"{delivery_id} x{n}")
    for delivery_id in set(queued) - stored:
        bad("queued but not in the store", delivery_id)
    for delivery_id in stored - set(queued):
        bad("in the store but never answered 'queued'", delivery_id)
    for delivery_id in stored & refused_ids:
        bad("refused but stored", delivery_id)
    for pk, delivery_id, event, action, status, attempts in deliveries:
        if status != "done":
            bad(f"status {status}", delivery_id)
        if attempts != 1:
            bad("claimed more than once (attempts != 1)", f"{delivery_id} attempts={attempts}")
        expected = {r.name for r in router.routes_for(event, action)}
        got = by_pk.get(pk, {})
        for name in expected:
            if got.get((name, True), 0) != 1:
                bad("handler not run exactly once", f"{delivery_id} {event}.{action} {name} "
                                                     f"ok x{got.get((name, True), 0)}")
        for (name, ok), count in got.items():
            if not ok:
                error = (errors.get((pk, name)) or "").strip().splitlines()
                bad("handler failed (then retried)", f"{delivery_id} {event}.{action} {name} x{count}: "
                                                     f"{error[-1][:300] if error else ''}")
            elif name not in expected:
                bad("unexpected handler", f"{delivery_id} {name}")
    lines = [f"{what}: {n}; e.g. " + " | ".join(examples[what]) for what, n in problems.items()]
    return not problems, lines, {
        "rows": len(deliveries), "runs": sum(r[3] for r in runs), "durations": durations}


# --- main ----------------------------------------------------------------------------------------


def _kinds_line(check: dict) -> str:
    per_kind: dict[str, Counter] = defaultdict(Counter)
    for (kind, status, outcome), n in check["counts"].items():
        per_kind[kind][f"{status} {outcome}".strip()] += n
    return "; ".join(f"{kind} " + ", ".join(f"{k} x{v}" for k, v in sorted(c.items()))
                     for kind, c in sorted(per_kind.items()))


def reaped(data_dir: Path) -> int:
    """Deliveries the workers' reapers re-enqueued (their "re-enqueued" log lines)."""
    total = 0
    for log in data_dir.glob("worker-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if '"re-enqueued"' in line:
                try:
                    total += json.loads(line).get("deliveries", 0)
                except ValueError:
                    pass
    return total


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def run_backend(backend: str, args) -> bool:
    from tests.support.backends import make_backend

    ok = True
    n = int(args.rate * args.seconds)
    with ExitStack() as stack:
        if args.keep:  # the logs of every process stay there
            tmp = Path(tempfile.mkdtemp(prefix="modelbot-bench-load-"))
            print(f"logs and stores kept in {tmp}")
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelbot-bench-load-")))
        fake = FakeGitHubProcess(args.repos, tmp)
        fake_summary: dict = {}

        def close_fake():
            fake_summary.update(fake.close())
        stack.callback(close_fake)
        planner = Planner(fake.info["payloads"], seed=args.seed)
        warmup = planner.warmup()
        items = planner.plan(n, args.rate)
        refused_ids = {it.delivery_id for it in warmup + items if it.kind in ("bad_signature", "foreign")}

        config = tmp / "modelbot.yaml"
        config.write_text("repositories:\n" + "".join(f"  - {org}/*\n" for org in ORGS))
        store = make_backend(backend, str(tmp / "bot"))
        stack.callback(store.close)
        (tmp / "prom-bot").mkdir()
        env = {"MODELBOT_CONFIG": str(config), "MODELBOT_WEBHOOK_SECRETS": SECRET,
               "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom-bot"), "GITHUB_API_URL": fake.info["url"],
               "GITHUB_APP_ID": str(fake.info["app_id"]), "GITHUB_PRIVATE_KEY": fake.info["private_key"],
               "MODELBOT_GITHUB_WRITE_INTERVAL": "0", **store.env}
        stores = ("SQLite store + SQLite huey queue" if backend == "embedded"
                  else "PostgreSQL store + Redis huey queue")
        print(f"\n== backend {backend}: {stores} ==")
        print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; gunicorn {args.web_workers} web "
              f"workers (bot.app.gunicorn_conf), {args.workers} `modelbot worker` processes x 2 threads; "
              f"{len(fake.info['repositories'])} repositories in {len(ORGS)} installations")
        print(f"plan: {n} requests at {args.rate:g}/s for {args.seconds:g} s: "
              + ", ".join(f"{k} {v}" for k, v in sorted(Counter(it.kind for it in items).items())))

        # 1. the bare app, same gunicorn settings, same plan, same rate
        # (gunicorn's start-up hooks load the settings and migrate: an embedded store of its own)
        (tmp / "prom-bare").mkdir()
        bare_env = {"MODELBOT_CONFIG": str(config), "MODELBOT_WEBHOOK_SECRETS": SECRET,
                    "MODELBOT_DATA_DIR": str(tmp / "bare"), "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom-bare")}
        with plain_server("bare", "bench.bare_app:app", bare_env, args.web_workers, tmp) as bare:
            open_loop(bare.port, warmup, 50)
            cpu0 = bare.cpu()
            bare_run = open_loop(bare.port, items, args.rate)
            cpu1 = bare.cpu()
        bare_check = check_answers(items, bare_run["results"], bare=True)
        bare_cpu = sum(cpu1) - sum(cpu0)
        print(f"bare: achieved {bare_run['achieved']:.1f} req/s, p50 {bare_run['p50']:.1f} ms, "
              f"p99 {bare_run['p99']:.1f} ms, max {bare_run['max']:.1f} ms; {bare_check['server_errors']} 5xx/errors; "
              f"server CPU {bare_cpu:.1f} s; load generator CPU {bare_run['client_cpu']:.1f} s")

        # 2. the bot: web + workers
        web = stack.enter_context(bot_server(env, args.web_workers))
        workers = [start_worker(env, name=f"worker-{i + 1}") for i in range(args.workers)]
        for w in workers:
            stack.callback(stop, w)
        ledger = Ledger(env)
        stack.callback(ledger.close)

        def drain(timeout: float) -> tuple[bool, float]:
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < timeout:
                if any(w.poll() is not None for w in workers):
                    raise SystemExit(f"a worker exited; see {tmp / 'bot'}/worker-*.log")
                if ledger.unfinished() == (0, 0, 0):
                    return True, time.perf_counter() - t0
                time.sleep(0.5)
            return False, time.perf_counter() - t0

        warm = open_loop(web.port, warmup, 20)
        warm_check = check_answers(warmup, warm["results"], bare=False)
        warmed, warm_s = drain(120)
        print(f"warm-up: {len(warmup)} requests, {sum(warm_check['queued'].values())} queued, drained in "
              f"{warm_s:.1f} s" + ("" if warmed else " (NOT drained)"))

        window = min(MEMORY_WINDOW, args.seconds / 2)  # short smoke runs: the two halves
        sampler = MemorySampler([w.pid for w in workers], window)
        web_cpu0, work_cpu0 = web.cpu(), _cpu_seconds([w.pid for w in workers])
        done0 = ledger.done_count()
        sampler.start()
        bot_run = open_loop(web.port, items, args.rate)
        run_end = time.perf_counter() - sampler.t0
        done_in_run = ledger.done_count() - done0
        web_cpu1 = web.cpu()
        drained, drain_s = drain(args.drain_timeout)
        sampler.halt.set()
        sampler.join()
        work_cpu1 = _cpu_seconds([w.pid for w in workers])
        left = ledger.unfinished()
        web_rss = [(_status_kb(pid, "VmRSS") or 0) / 1024 for pid in web.workers]
        check = check_answers(items, bot_run["results"], bare=False)
        print(f"bot: achieved {bot_run['achieved']:.1f} req/s, p50 {bot_run['p50']:.1f} ms, "
              f"p99 {bot_run['p99']:.1f} ms, max {bot_run['max']:.1f} ms; web CPU "
              f"{sum(web_cpu1) - sum(web_cpu0):.1f} s, workers CPU {sum(work_cpu1) - sum(work_cpu0):.1f} s "
              f"(run + drain); load generator CPU {bot_run['client_cpu']:.1f} s; web worker VmRSS "
              f"{', '.join(f'{m:.1f}' for m in web_rss)} MB")
        print(f"answers: {_kinds_line(check)}")
        handled = sum(check["queued"].values())
        print(f"queue workers: {done_in_run} deliveries done during the {args.seconds:g} s "
              f"({done_in_run / args.seconds:.1f}/s against {handled / args.seconds:.1f}/s queued), the rest "
              f"drained in {drain_s:.1f} s; reaper re-enqueues (deliveries waiting > 60 s): "
              f"{reaped(tmp / 'bot')}; load average now {os.getloadavg()[0]:.2f}")

        # goals
        passed = check["server_errors"] == 0 and not check["unexpected"] and not warm_check["unexpected"]
        ok &= passed
        print(f"(a) no 5xx or connection error, every answer as expected: {check['server_errors']} 5xx/errors, "
              f"{sum(check['unexpected'].values())} unexpected {_verdict(passed)}")
        if check["unexpected"] or warm_check["unexpected"]:
            print(f"    unexpected: {dict(check['unexpected'] + warm_check['unexpected'])}; "
                  f"first: {check['first_bad'] or warm_check['first_bad']!r}")

        queued = check["queued"] + warm_check["queued"]
        passed, problems, figures = check_exactly_once(ledger, queued, refused_ids)
        passed &= drained  # an unfinished delivery cannot be judged done once
        ok &= passed
        print(f"(b) exactly once: {len(queued)} deliveries queued, {figures['rows']} rows, {figures['runs']} "
              f"handler runs; every row done after one claim, one successful run per handler "
              f"{_verdict(passed)}")
        for line in problems:
            print(f"    {line}")
        means = ", ".join(f"{h.rsplit('.', 1)[-1]} {1000 * t / c:.1f} ms x{c}"
                          for h, (c, t) in sorted(figures["durations"].items()))
        print(f"    handler runs (mean duration): {means}")

        passed = drained and left == (0, 0, 0)
        ok &= passed
        print(f"(c) queue drained within {args.drain_timeout:g} s: after {drain_s:.1f} s {left[0]} unfinished rows, "
              f"{left[1]} pending and {left[2]} scheduled messages {_verdict(passed)}")

        windows = sampler.windows(run_end)
        ratios = {pid: last / first for pid, (first, last) in windows.items()}
        passed = len(ratios) == len(workers) and all(r <= GOAL_RSS_RATIO for r in ratios.values())
        ok &= passed
        end_rss = {pid: [kb for _, p, kb in sampler.samples if p == pid and kb][-1] / 1024 for pid in windows}
        print(f"(d) worker VmRSS, mean of the first {window:g} s -> last {window:g} s of the run: "
              + "; ".join(f"pid {pid} {first:.1f} -> {last:.1f} MB ({ratios[pid]:.3f}x; {end_rss[pid]:.1f} MB "
                          f"after the drain)" for pid, (first, last) in windows.items())
              + f" (goal <= {GOAL_RSS_RATIO:.2f}x) {_verdict(passed)}")

        keep_up = bot_run["achieved"] / bare_run["achieved"]
        passed = keep_up >= GOAL_KEEP_UP
        ok &= passed
        print(f"(e) ratios bot / bare: achieved rate {keep_up:.3f} (goal >= {GOAL_KEEP_UP}) {_verdict(passed)}; "
              f"latency p50 {bot_run['p50'] / bare_run['p50']:.2f}x, p99 {bot_run['p99'] / bare_run['p99']:.2f}x")
    if fake_summary:
        print(f"fake GitHub: {fake_summary.get('calls')} requests ({fake_summary.get('writes')} writes), "
              f"{fake_summary.get('n_violations')} contract violations {fake_summary.get('violations') or ''}")
        if fake_summary.get("n_violations"):
            ok = False
            print("    MISS: the bot sent requests GitHub would refuse")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backends", default="embedded,scale",
                   help="comma-separated: embedded (SQLite + SQLite queue), scale (PostgreSQL + Redis; "
                        "MODELBOT_TEST_PG_URL / MODELBOT_TEST_REDIS_URL as in the tests)")
    p.add_argument("--rate", type=float, default=200.0, help="deliveries per second offered")
    p.add_argument("--seconds", type=float, default=60.0, help="duration of the run")
    p.add_argument("--repos", type=int, default=50, help="repositories (in 5 installations)")
    p.add_argument("--web-workers", type=int, default=2, help="gunicorn workers of the web process (and the bare app)")
    p.add_argument("--workers", type=int, default=2, help="`modelbot worker` processes")
    p.add_argument("--drain-timeout", type=float, default=600.0, help="seconds to wait for the queue to drain")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (process logs, SQLite files)")
    p.add_argument("--fake-github-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.fake_github_child:
        return fake_github_child(args.repos)
    if args.rate <= 0 or args.seconds < 2 or args.repos < 1 or args.workers < 1 or args.rate * args.seconds < 20:
        p.error("--rate and --repos must be positive, --workers at least 1, --seconds at least 2 "
                "and --rate x --seconds at least 20")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - {"embedded", "scale"})
    if unknown or not backends:
        p.error(f"--backends: unknown {unknown or 'none given'}; use embedded, scale or both")
    ok = True
    for backend in backends:
        ok &= run_backend(backend, args)
    print("OVERALL", _verdict(ok))
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop children on SIGTERM too
    raise SystemExit(main())
