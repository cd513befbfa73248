"""Benchmark of the rollout engine: one worker tracking many rollouts, and merge-to-first-AWS-write.

    .venv/bin/python bench/bench_rollouts.py [--rollouts 500] [--bake-ticks 5] [--create-ticks 3]
                                             [--poll-seconds 30] [--time-scale 0.5] [--threads N]

Everything runs on loopback and stops by itself (bounded in rollouts and in seconds):

- moto (with the project's SageMaker emulator, tests/support/moto_server.py) in a child process
  on 127.0.0.1, so the worker's CPU figures are this process's alone; a SQLite store in a
  temporary directory, migrated with bot.adapters.migrate; `tests/fixtures/deploy.yaml` as the server
  config (environment `production`, no role to assume: moto's dummy credentials).

Part A, one worker process tracking N concurrent rollouts. N manifests are made from
examples/realtime-canary.yaml, each with its own endpoint and alarms (`fraud-0001` ...). Phase
"create": N deployment rows (first deployments: CreateEndpoint, then autoscaling). Phase
"canary": N more rows for a new model version of each manifest (UpdateEndpoint with the canary
DeploymentConfig and AutoRollbackConfiguration on two alarms, then autoscaling, tags, cleanup).
Each phase is driven by `Rollouts.tick` from an in-process scheduler loop (one thread: a heap of
(due time, deployment id)) that honours every delay the engine asks for through
`Services.enqueue`, with the engine's real objects otherwise: `Services.prepare` reads the live
endpoint through `bot.adapters.aws.AwsLiveReader` and makes the same pure calls as
`bot.app.features.deploys.prepare_deployment` (plan, DeployContext, build_requests, new_rollout);
only the manifest text comes from memory instead of GitHub. `notify` is a counter;
`clients_for` gives real boto3 clients (`Clients.from_session(aws_session(...))`) against moto.

Time compression (the only things not as in production):
  * every delay the engine asks for is multiplied by --time-scale (default 0.5: the 30 s poll of
    `new_rollout` comes every 15 s; the bench never runs a tick before its compressed due time);
  * the emulator runs in "describe" mode: each DescribeEndpoint moves a deployment one phase on,
    with --bake-ticks describes per bake (canary bake and final bake, default 5) and
    --create-ticks describes in Creating (default 3). With the default 30 s poll this stands for
    bakes of 150 s; AWS's real canary bakes (600 s + 900 s here) only add more polls of the same
    cost, so per-poll figures do not depend on it.

Measured, per tick (exact: one thread): AWS calls (a botocore `before-call` hook on the sessions
of both the executor's clients and the live reader), CPU (getrusage of this thread) and wall
time. A tick is a "poll" when it makes read calls only, an "action" when it writes, a "start"
when it prepares the deployment. Baseline, same run: a bare loop of `describe_endpoint` over the
N endpoints with the executor's sagemaker client (one call per endpoint per "poll").

Part B, latency from a merged pull request to the first CreateEndpoint/UpdateEndpoint: the
bot's Flask app (`bot.app.web.create_app`, served by werkzeug on 127.0.0.1) receives a signed
`pull_request.closed` (merged) delivery built with tests/support/webhooks against the fake GitHub
of tests/support/fake_github.py (repo, PR, approving review, merge, as
tests/aws/test_merge_to_deploy.py does); a real huey consumer built exactly as
`bot.app.worker.run_worker` builds it (same arguments, captured from run_worker itself; worker
threads = `modelbot worker`'s default) runs `Runtime.process` and then `Rollouts.tick` on the
enqueued deployment with the production adapters (`services_for`: GitHub App client with the
configured write pacing, AWS clients per environment assuming the staging role in moto); the
first CreateEndpoint/UpdateEndpoint is timestamped by a `before-call` hook registered on the
session `bot.adapters.aws.session.aws_session` returns. Three deliveries: cold (first in the process),
warm (the consumer polled the queue moments ago), idle (posted as the consumer's workers begin
a sleep of huey's max_delay, the state of a worker no delivery reached for a minute). No time
is compressed in part B. Baseline: the POST of the delivery itself.

Goals (PASS/MISS, exit 1 on any MISS): AWS calls per rollout per poll <= 2; merged-PR delivery
to the first CreateEndpoint/UpdateEndpoint < 2 s (warm and idle worker).
"""

from __future__ import annotations

import argparse
import heapq
import http.client
import itertools
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_CALLS_PER_POLL = 2.0
GOAL_LATENCY_S = 2.0
SECRET = "bench-webhook-secret-1"
DEPLOY_CONFIG = ROOT / "tests" / "fixtures" / "deploy.yaml"
CANARY = ROOT / "examples" / "realtime-canary.yaml"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
REPO = "acme/models"
WRITE_OPS_PREFIXES = ("Create", "Update", "Delete", "Put", "Register", "Deregister", "Add", "Stop", "Start",
                      "Set", "Tag", "Untag")
RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)


def cpu(who=RUSAGE_THREAD) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


# --- the AWS side ---------------------------------------------------------------------------------


class CallCounter:
    """A botocore `before-call` handler: counts every AWS call made through a hooked session."""

    def __init__(self):
        self.total = 0
        self.by_op: Counter = Counter()
        self.first_write_at: float | None = None  # perf_counter of the first CreateEndpoint/UpdateEndpoint
        self.lock = threading.Lock()

    def __call__(self, model=None, **_):
        now = time.perf_counter()
        name = f"{model.service_model.service_name}:{model.name}"
        with self.lock:
            self.total += 1
            self.by_op[name] += 1
            if self.first_write_at is None and model.name in ("CreateEndpoint", "UpdateEndpoint"):
                self.first_write_at = now

    def hook(self, session):
        session.events.register("before-call", self)
        return session


def isolate_aws(url: str) -> None:
    """boto3 in this process talks to moto only: dummy credentials, no profiles, one attempt."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_DEFAULT_REGION", "AWS_REGION"):
        os.environ.pop(name, None)
    os.environ.update({"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
                       "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                       "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(log_path: Path) -> tuple[str, subprocess.Popen]:
    port = free_port()
    with open(log_path, "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([sys.executable, "-m", "tests.support.moto_server", "-H", "127.0.0.1", "-p",
                                 str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"moto exited with {proc.returncode}; see {log_path}")
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).read()
            return url, proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto did not start within 30 s")


# --- manifests ------------------------------------------------------------------------------------


def manifest(i: int, version: int) -> str:
    """The canary example with its own endpoint, model, image and alarms; `version` 2 is a new model.
    Without its `validation:` section (its data set is not in the emulator's S3; the deploy gate
    would refuse the comparison that cannot run) and with one production approval (bob's)."""
    text = CANARY.read_text()
    text = text[:text.index("validation:\n")] + text[text.index("environments:\n"):]
    text = text.replace("approvals: 2", "approvals: 1").replace("fraud-detector", f"fraud-{i:04d}")
    text = text.replace("build_id: {from_pipeline: outputs/build.json, key: build_id}", f"build_id: b-{version}")
    if version > 1:
        text = (text.replace("2024-06-01/model.tar.gz", f"2024-0{5 + version}-01/model.tar.gz")
                .replace(":1.4.2", f":1.{3 + version}.0"))
    return text


def commit_of(i: int, version: int) -> str:
    return f"{version:02x}{i:06x}".ljust(40, "c")


# --- part A: many rollouts in one worker -----------------------------------------------------------


class Scheduler:
    """The queue of part A: ticks in due order, never before their (compressed) due time."""

    def __init__(self, scale: float):
        self.scale, self.heap, self.seq = scale, [], itertools.count()

    def enqueue(self, pk: int, delay: float) -> None:
        heapq.heappush(self.heap, (time.monotonic() + max(0.0, delay) * self.scale, next(self.seq), pk))


class TickStats:
    def __init__(self):
        self.n = Counter()
        self.calls = Counter()
        self.cpu = Counter()
        self.wall = Counter()
        self.ops = {k: Counter() for k in ("start", "action", "poll")}

    def add(self, kind, calls, ops, cpu_s, wall_s):
        self.n[kind] += 1
        self.calls[kind] += calls
        self.cpu[kind] += cpu_s
        self.wall[kind] += wall_s
        self.ops[kind].update(ops)


def run_phase(name, rollouts, sched, counter, pks, deadline, started) -> dict:
    """Tick every deployment of the phase until all are finished (or the deadline passes)."""
    stats = TickStats()
    pending = set(pks)
    for pk in pks:
        sched.enqueue(pk, 0)
    t0, c0, calls0 = time.perf_counter(), cpu(resource.RUSAGE_SELF), counter.total
    idle = 0.0
    late = []
    statuses = {}
    while sched.heap and pending and time.monotonic() < deadline:
        due, _, pk = heapq.heappop(sched.heap)
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
            idle += wait
        else:
            late.append(-wait)
        before_ops = counter.by_op.copy()
        n0, u0, w0 = counter.total, cpu(), time.perf_counter()
        kind_hint = "start" if pk not in started else None
        status = rollouts.tick(pk)
        w1, u1 = time.perf_counter(), cpu()
        ops = counter.by_op - before_ops
        calls = counter.total - n0
        if status == "skipped":
            continue
        started.add(pk)
        writes = any(op.split(":", 1)[1].startswith(WRITE_OPS_PREFIXES) for op in ops)
        kind = kind_hint or ("action" if writes else "poll")
        stats.add(kind, calls, ops, u1 - u0, w1 - w0)
        if status not in ("pending", "running"):
            pending.discard(pk)
            statuses[pk] = status
    elapsed = time.perf_counter() - t0
    for pk in pending:
        statuses[pk] = "unfinished"
    return {"name": name, "stats": stats, "elapsed": elapsed, "cpu": cpu(resource.RUSAGE_SELF) - c0,
            "calls": counter.total - calls0, "idle": idle, "statuses": Counter(statuses.values()),
            "late_p50": statistics.median(late) if late else 0.0,
            "late_p99": statistics.quantiles(late, n=100)[98] if len(late) >= 2 else (late[0] if late else 0.0),
            "late_max": max(late) if late else 0.0, "ticks": sum(stats.n.values())}


def baseline_describe(sm, endpoints, counter) -> dict:
    n0, u0, w0 = counter.total, cpu(), time.perf_counter()
    for ep in endpoints:
        sm.describe_endpoint(EndpointName=ep)
    return {"calls": counter.total - n0, "cpu": cpu() - u0, "wall": time.perf_counter() - w0, "n": len(endpoints)}


def part_a(args, url, tmp: Path) -> dict:
    import bot
    from bot.adapters.aws.live import AwsLiveReader
    from bot.adapters.aws.session import aws_session
    from bot.core.clock import utcnow
    from bot.core.config import load_settings
    from bot.core.deploy import DeployContext, build_requests, new_rollout
    from bot.adapters.aws.executor import Clients
    from bot.core.manifest import load_manifest
    from bot.adapters.migrate import migrate
    from bot.core.plan import DeploySpec, plan
    from bot.app.services.rollouts import Prepared, Rollouts, Services
    from bot.adapters.store import Store
    from tests.support import sagemaker_emulator as emulator

    emulator.reset(url)
    emulator.configure_remote(url, bake_ticks=args.bake_ticks, create_ticks=args.create_ticks)
    settings = load_settings({"MODELBOT_CONFIG": str(DEPLOY_CONFIG), "MODELBOT_WEBHOOK_SECRETS": SECRET,
                              "MODELBOT_DATA_DIR": str(tmp / "a")})
    store = Store(settings.database_url)
    migrate(store.engine)
    env = "production"
    counter = CallCounter()

    def hooked_session(env_config, *, env_name, base_session=None):
        return counter.hook(aws_session(env_config, env_name=env_name, base_session=base_session))

    clients = Clients.from_session(hooked_session(settings.server.environments[env], env_name=env))
    live_reader = AwsLiveReader(settings.server.environments, session_factory=hooked_session)
    texts: dict[tuple[str, str], str] = {}
    notified = Counter()

    def prepare(row):  # bot.app.features.deploys.prepare_deployment without GitHub: same pure calls
        m = load_manifest(row.manifest_path, texts[(row.manifest_path, row.commit_sha)]).manifest
        spec = DeploySpec(m, row.environment, row.commit_sha)
        live = live_reader(row.environment, m.endpoint_name(row.environment))
        p = plan(spec, live, settings.server.prices)
        if p.kind in ("no_changes", "teardown"):
            return Prepared(None, None, p.kind, p.headline)
        if p.blocked:
            raise ValueError("the plan is blocked: " + "; ".join(x.message for x in p.problems if x.is_error))
        prov = json.loads(row.provenance)
        ctx = DeployContext(build_id=m.provenance.build_id, commit=row.commit_sha,
                            data_version=m.provenance.data_version, manifest_path=row.manifest_path,
                            bot_version=bot.__version__, pr_number=row.pr_number,
                            approvers=tuple(prov.get("approvers") or ()))
        requests = build_requests(spec, p, ctx, execution_role_arn=settings.server.environments[env].execution_role_arn)
        state = new_rollout(str(row.id), spec, p, live, utcnow(), poll_seconds=args.poll_seconds)
        return Prepared(state.as_record(), requests.to_dict(), p.kind, p.headline)

    sched = Scheduler(args.time_scale)
    rollouts = Rollouts(store, Services(clients_for=lambda e: clients, prepare=prepare,
                                        notify=lambda row, status, text: notified.update([status]),
                                        enqueue=sched.enqueue))
    n = args.rollouts
    endpoints = [f"fraud-{i:04d}" for i in range(1, n + 1)]
    # The rollback alarms of every endpoint exist and are OK (AWS would have them from the team's stack).
    cw = clients.cloudwatch
    for ep in endpoints:
        for suffix in ("5xx", "latency-p99"):
            cw.put_metric_alarm(AlarmName=f"{ep}-{suffix}", MetricName="Invocation5XXErrors", Namespace="AWS/SageMaker",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanOrEqualToThreshold",
                                Dimensions=[{"Name": "EndpointName", "Value": ep}])

    def rows(version: int) -> list[int]:
        pks = []
        for i in range(1, n + 1):
            path, sha = f"models/fraud-{i:04d}/modelbot.yaml", commit_of(i, version)
            texts[(path, sha)] = manifest(i, version)
            pk, _ = store.create_deployment(
                key=f"{REPO}@{sha}:{path}:{env}:merge", repository=REPO, pr_number=1000 * version + i,
                commit_sha=sha, manifest_path=path, environment=env, endpoint=f"fraud-{i:04d}", trigger="merge",
                requested_by="maintainer", after_id=None,
                provenance=json.dumps({"installation_id": 1, "pr_number": 1000 * version + i, "head_sha": sha,
                                       "approvers": ["bob"], "data_version": "2024-06-01",
                                       "model": f"fraud-{i:04d}"}))
            pks.append(pk)
        return pks

    deadline = time.monotonic() + args.max_seconds
    started: set[int] = set()
    phases = []
    phases.append(run_phase("create", rollouts, sched, counter, rows(1), deadline, started))
    base = [baseline_describe(clients.sagemaker, endpoints, counter)]
    phases.append(run_phase("canary", rollouts, sched, counter, rows(2), deadline, started))
    base.append(baseline_describe(clients.sagemaker, endpoints, counter))
    store.dispose()
    return {"phases": phases, "baseline": base, "notified": notified, "n": n, "by_op": counter.by_op}


# --- part B: merged PR to the first AWS write --------------------------------------------------------


def part_b(args, url, tmp: Path) -> dict:
    from werkzeug.serving import make_server

    import bot.adapters.aws.session as aws_session_module
    from bot.adapters.aws.session import clear_credential_cache
    from bot.core.config import load_settings
    from bot.app.features import load_router
    from bot.adapters.github import GitHubApp
    from bot.adapters.migrate import migrate
    from bot.adapters.queue import Queue
    from bot.adapters.store import Store
    from bot.app.web import create_app
    from bot.app.worker import Runtime, run_worker
    from tests.support import sagemaker_emulator as emulator
    from tests.support import webhooks
    from tests.support.fake_github import FakeGitHub

    emulator.reset(url)
    clear_credential_cache()
    gh = FakeGitHub().start()
    out: dict = {}
    try:
        inst = gh.add_installation("acme").id
        gh.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
        gh.set_permission(REPO, "alice", "write")
        settings = load_settings({"MODELBOT_CONFIG": str(DEPLOY_CONFIG), "MODELBOT_WEBHOOK_SECRETS": SECRET,
                                  "MODELBOT_DATA_DIR": str(tmp / "b"), "GITHUB_APP_ID": str(gh.app_id),
                                  "GITHUB_PRIVATE_KEY": gh.private_key_pem, "GITHUB_API_URL": gh.url})
        store = Store(settings.database_url)
        migrate(store.engine)
        queue = Queue(settings)
        # As `modelbot worker` builds its runtime (bot.app.cli.cmd_worker).
        github_app = GitHubApp(settings.github_app_id, settings.github_private_key, settings.github_api_url,
                               limits=settings.github_limits(), book=store)
        runtime = Runtime(settings, store, queue, load_router(), github_app)

        # The consumer exactly as run_worker makes it: call run_worker with create_consumer captured.
        captured: dict = {}

        class _Capture:
            def run(self):
                return None

        real_create = queue.huey.create_consumer
        queue.huey.create_consumer = lambda **kw: captured.update(kw) or _Capture()
        run_worker(runtime, workers=args.threads, reap_every=3600, stop=threading.Event())
        queue.huey.create_consumer = real_create
        out["consumer"] = dict(captured)
        if args.consumer_max_delay is not None:  # what-if: not how run_worker runs today
            captured["max_delay"] = args.consumer_max_delay
            out["what_if"] = f"max_delay={args.consumer_max_delay:g} (override, not run_worker's)"

        counter = CallCounter()
        real_aws_session = aws_session_module.aws_session

        def hooked(*a, **kw):  # the sessions the production adapters make, with the call hook on them
            return counter.hook(real_aws_session(*a, **kw))

        aws_session_module.aws_session = hooked

        app = create_app(settings, store=store, queue=queue)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, name="web", daemon=True).start()
        port = server.server_port

        saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        consumer = queue.huey.create_consumer(**captured)
        consumer.start()

        def post(payload: dict) -> tuple[float, float, int]:
            body, headers = webhooks.delivery(payload, "pull_request", SECRET)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t0 = time.perf_counter()
            conn.request("POST", "/webhook", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            t1 = time.perf_counter()
            conn.close()
            return t0, t1, resp.status

        def deliver(number: int, name: str) -> dict:
            text = manifest(number, 1)
            path = f"models/{name}/modelbot.yaml"
            gh.open_pull_request(REPO, f"change-{number}", files={path: text}, number=number, user="alice")
            gh.add_review(REPO, number, "bob", "APPROVED")
            sha = gh.merge_pull_request(REPO, number)
            payload = webhooks.merged_pull_request(merge_commit_sha=sha, **webhooks.pr_args(gh, REPO, number))
            with counter.lock:
                counter.first_write_at = None
            t0, t1, status = post(payload)
            limit = time.perf_counter() + args.latency_timeout
            while counter.first_write_at is None and time.perf_counter() < limit:
                time.sleep(0.005)
            first = counter.first_write_at
            return {"post_s": t1 - t0, "status": status,
                    "latency_s": (first - t0) if first is not None else None}

        def workers():
            return [w for w, _ in consumer.worker_threads]

        try:
            out["cold"] = deliver(901, "bench-cold")
            time.sleep(0.5)  # the worker took the cold delivery's tasks: it polls again at its initial delay
            out["warm"] = deliver(902, "bench-warm")
            # Idle: no more work (the earlier rollouts' next ticks are minutes of real polls away:
            # drop them), then wait until every worker backs off to max_delay and post as they start
            # such a sleep.
            consumer.stop(graceful=True)
            queue.huey.flush()
            consumer = queue.huey.create_consumer(**captured)
            consumer.start()
            max_delay = consumer.max_delay
            limit = time.monotonic() + args.idle_wait
            while time.monotonic() < limit and not all(w.delay >= max_delay for w in workers()):
                time.sleep(0.05)
            if all(w.delay >= max_delay for w in workers()):
                w0 = workers()[0]
                limit = time.monotonic() + max_delay * 1.5
                while time.monotonic() < limit and w0.delay != max_delay:  # 10.0 while asleep, 11.5 after
                    time.sleep(0.001)
                out["idle"] = deliver(903, "bench-idle")
            else:
                out["idle"] = None
            out["max_delay"] = max_delay
            out["backoff"] = (consumer.default_delay, consumer.backoff, consumer.max_delay)
        finally:
            consumer.stop(graceful=True)
            for s, h in saved.items():
                signal.signal(s, h)
            server.shutdown()
            aws_session_module.aws_session = real_aws_session
            queue.huey.flush()
            store.dispose()
        out["github_writes"] = sum(1 for c in gh.calls if c.method != "GET")
        out["violations"] = list(gh.violations)
    finally:
        gh.stop()
    return out


# --- report ---------------------------------------------------------------------------------------


def report(args, a: dict | None, b: dict | None) -> bool:
    ok = True
    print(f"\nrollouts bench: {args.rollouts} rollouts, time scale {args.time_scale} (poll {args.poll_seconds} s "
          f"-> {args.poll_seconds * args.time_scale:g} s), emulator bake_ticks={args.bake_ticks} "
          f"create_ticks={args.create_ticks}, {os.cpu_count()} CPUs, load average at start/end "
          f"{args.load_start:.2f}/{os.getloadavg()[0]:.2f}")
    if a is not None:
        base_cpu = min(x["cpu"] / x["n"] for x in a["baseline"])
        base_wall = min(x["wall"] / x["n"] for x in a["baseline"])
        base_calls = max(x["calls"] / x["n"] for x in a["baseline"])
        print(f"\nbaseline: bare describe_endpoint loop over {a['n']} endpoints, best of {len(a['baseline'])}: "
              f"{base_calls:.0f} call, {base_cpu * 1e3:.2f} ms CPU, {base_wall * 1e3:.2f} ms wall per endpoint")
        poll_ratio_worst = 0.0
        for ph in a["phases"]:
            st = ph["stats"]
            n = a["n"]
            print(f"\nphase {ph['name']}: {ph['ticks']} ticks in {ph['elapsed']:.1f} s wall, worker CPU "
                  f"{ph['cpu']:.1f} s in total ({ph['cpu'] / n * 1e3:.1f} ms per rollout), {ph['calls']} AWS calls "
                  f"({ph['calls'] / n:.1f} per rollout, {ph['calls'] / max(1, ph['ticks']):.2f} per tick all-in); "
                  f"outcomes {dict(ph['statuses'])}")
            print(f"  worker idle (waiting for due ticks) {ph['idle']:.1f} s = {100 * ph['idle'] / ph['elapsed']:.0f}% "
                  f"of the phase; ticks ran after their due time by p50 {ph['late_p50'] * 1e3:.0f} ms, "
                  f"p99 {ph['late_p99'] * 1e3:.0f} ms, max {ph['late_max'] * 1e3:.0f} ms (compressed time)")
            for kind in ("start", "action", "poll"):
                k = st.n[kind]
                if not k:
                    continue
                calls, c, w = st.calls[kind] / k, st.cpu[kind] / k, st.wall[kind] / k
                top = ", ".join(f"{op} {v / k:.2f}" for op, v in st.ops[kind].most_common(10))
                print(f"  {kind:6} ticks {k:6d} ({k / n:.1f}/rollout): {calls:5.2f} calls, {c * 1e3:6.2f} ms CPU "
                      f"({c / base_cpu:5.1f}x baseline), {w * 1e3:6.2f} ms wall per tick  [{top}]")
            if st.n["poll"]:
                per_poll = st.calls["poll"] / st.n["poll"]
                poll_cpu = st.cpu["poll"] / st.n["poll"]
                passed = per_poll <= GOAL_CALLS_PER_POLL
                ok &= passed
                poll_ratio_worst = max(poll_ratio_worst, per_poll / base_calls)
                print(f"  GOAL AWS calls per rollout per poll: {per_poll:.2f} = {per_poll / base_calls:.2f}x the bare "
                      f"loop (goal <= {GOAL_CALLS_PER_POLL:g}) {'PASS' if passed else 'MISS'}")
                busy = n * poll_cpu / args.poll_seconds
                print(f"  capacity: at a real {args.poll_seconds} s poll, {n} rollouts cost {100 * busy:.1f}% of one core in "
                      f"polls ({poll_cpu * 1e3:.2f} ms CPU each); one core polls ~{args.poll_seconds / poll_cpu:,.0f} "
                      f"rollouts, one worker thread ~{args.poll_seconds / (st.wall['poll'] / st.n['poll']):,.0f} "
                      "(wall time per poll, mostly waiting on AWS)")
            unfinished = ph["statuses"].get("unfinished", 0) + sum(v for s, v in ph["statuses"].items()
                                                                   if s not in ("succeeded", "unfinished"))
            if unfinished:
                ok = False
                print(f"  MISS: {unfinished} rollouts did not succeed")
        print(f"\nnotify calls (GitHub not part of part A): {dict(a['notified'])}")
    if b is not None:
        print(f"\nmerged PR -> first CreateEndpoint/UpdateEndpoint (huey consumer as run_worker makes it: "
              f"{b['consumer']}; polling delay {b['backoff'][0]} s x{b['backoff'][1]} up to {b['backoff'][2]} s)")
        if b.get("what_if"):
            print(f"  WHAT-IF run: {b['what_if']}")
        for label in ("cold", "warm", "idle"):
            r = b.get(label)
            if r is None:
                print(f"  {label:5}: not measured (workers did not reach max_delay within --idle-wait)")
                ok = False
                continue
            lat = r["latency_s"]
            text = f"{lat:.3f} s" if lat is not None else f"none within {args.latency_timeout:g} s"
            ratio = f" = {lat / r['post_s']:.0f}x the delivery POST ({r['post_s'] * 1e3:.1f} ms, HTTP {r['status']})" \
                if lat is not None else f" (delivery POST {r['post_s'] * 1e3:.1f} ms, HTTP {r['status']})"
            if label == "cold":
                print(f"  {label:5}: {text}{ratio} (first delivery of the process: imports, App token, STS; info)")
                continue
            passed = lat is not None and lat < GOAL_LATENCY_S
            ok &= passed
            print(f"  {label:5}: {text}{ratio} (goal < {GOAL_LATENCY_S:g} s) {'PASS' if passed else 'MISS'}")
        print(f"  GitHub writes during part B: {b['github_writes']}; contract violations: {len(b['violations'])}")
    print("\nOVERALL", "PASS" if ok else "MISS")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rollouts", type=int, default=500)
    p.add_argument("--bake-ticks", type=int, default=5, help="emulator: describes per bake period")
    p.add_argument("--create-ticks", type=int, default=3, help="emulator: describes an endpoint stays Creating")
    p.add_argument("--poll-seconds", type=int, default=30, help="the rollouts' poll interval (new_rollout)")
    p.add_argument("--time-scale", type=float, default=0.5,
                   help="real seconds per engine second in part A (0.5: the 30 s poll every 15 s)")
    p.add_argument("--max-seconds", type=float, default=900, help="bound on part A's wall time")
    p.add_argument("--threads", type=int, default=int(os.environ.get("MODELBOT_WORKER_THREADS", "4")),
                   help="huey worker threads in part B (modelbot worker's default)")
    p.add_argument("--latency-timeout", type=float, default=30.0)
    p.add_argument("--idle-wait", type=float, default=120.0, help="bound on waiting for idle workers in part B")
    p.add_argument("--consumer-max-delay", type=float, default=None,
                   help="what-if for part B: override the consumer's max_delay that run_worker uses (huey: 10 s)")
    p.add_argument("--skip", choices=("a", "b"), help="skip a part")
    args = p.parse_args(argv)
    args.load_start = os.getloadavg()[0]

    import logging

    logging.disable(logging.CRITICAL)  # the bot's JSON logs are not part of what is measured
    with tempfile.TemporaryDirectory(prefix="bench-rollouts-") as tmpdir:
        tmp = Path(tmpdir)
        url, moto = start_moto(tmp / "moto.log")
        try:
            isolate_aws(url)
            a = part_a(args, url, tmp) if args.skip != "a" else None
            b = part_b(args, url, tmp) if args.skip != "b" else None
        finally:
            moto.terminate()
            try:
                moto.wait(10)
            except subprocess.TimeoutExpired:
                moto.kill()
    return 0 if report(args, a, b) else 1


if __name__ == "__main__":
    sys.exit(main())
