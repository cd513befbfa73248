"""Benchmark: a burst of pull requests in one installation against a fake GitHub that enforces
GitHub's documented secondary limits (tests/support/github_limits.py: ≤ 80 content-creating
requests a minute and ≤ 500 an hour, ≥ 1 s between mutating requests, ≤ 100 concurrent).

50 pull requests × 20 manifests are opened at once; every other one is pushed to again before
the bot has got to it (an `opened` and a `synchronize` of the same PR in the queue side by
side, as GitHub sends them). Four worker threads (a huey consumer's) process the deliveries,
the pacer's book in the store, as `modelbot worker` runs. The baseline, measured in the same
run: the same burst without spacing and caps (the pacer still honouring Retry-After), which
is what honouring GitHub's answers alone gets.

Time is virtual: the pacer's clock and sleep and the fake's limit clock are one discrete-event
clock that jumps to the next wake-up when every worker thread is asleep (work takes no
virtual time, the strictest case for the limits). The paced burst lasts several virtual
minutes; the bench takes seconds.

    .venv/bin/python bench/bench_pacing.py [--prs 50] [--manifests 20] [--threads 4]
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.github import GitHubApp  # noqa: E402
from bot.adapters.github.pacer import Pacer  # noqa: E402
from bot.adapters.migrate import migrate  # noqa: E402
from bot.adapters.queue import Queue  # noqa: E402
from bot.adapters.store import Store  # noqa: E402
from bot.core.config import Secret, load_settings  # noqa: E402
from bot.core.pacing import Limits, is_write  # noqa: E402
from tests.support.fake_github import FakeGitHub  # noqa: E402
from tests.support.github_limits import SecondaryLimits  # noqa: E402
from tests.support.harness import Harness  # noqa: E402

SECRET = "bench-webhook-secret"
REPO = "acme/models"
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()


class EventClock:
    """Virtual epoch seconds shared by `threads` participants: sleeping blocks until the clock
    reaches the wake-up time, and the clock moves to the earliest wake-up once every
    participant still running is asleep."""

    def __init__(self, threads: int):
        self.now = 1_700_000_000.0
        self._cond = threading.Condition()
        self._running, self._wakes = threads, []

    def __call__(self) -> float:
        return self.now

    def _advance(self) -> None:
        if self._wakes and len(self._wakes) >= self._running:
            self.now = max(self.now, min(self._wakes))
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        with self._cond:
            wake = self.now + max(seconds, 0.0)
            self._wakes.append(wake)
            self._advance()
            while self.now < wake:
                self._cond.wait()
            self._wakes.remove(wake)

    def finished(self) -> None:
        with self._cond:
            self._running -= 1
            self._advance()


def run(prs: int, manifests: int, threads: int, limits: Limits) -> dict:
    clock = EventClock(threads)
    enforced = SecondaryLimits(clock=clock)
    with tempfile.TemporaryDirectory() as tmp, FakeGitHub(secondary_limits=enforced) as gh:
        settings = load_settings({"MODELBOT_CONFIG": str(ROOT / "tests" / "fixtures" / "modelbot.yaml"),
                                  "MODELBOT_WEBHOOK_SECRETS": SECRET, "MODELBOT_DATA_DIR": tmp})
        store = Store(settings.database_url)
        migrate(store.engine)
        inst = gh.add_installation("acme").id
        gh.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
        bot = Harness(settings, store, Queue(settings), gh, secret=SECRET)
        bot.app = GitHubApp(str(gh.app_id), Secret(gh.private_key_pem), gh.url,
                            pacer=Pacer(store, limits, clock=clock, sleep=clock.sleep))
        bot.runtime.github_app = bot.app
        for n in range(1, prs + 1):
            files = {f"models/p{n:02d}/m{i:02d}/modelbot.yaml":
                     MINIMAL.replace("name: churn", f"name: p{n:02d}-m{i:02d}") for i in range(manifests)}
            gh.open_pull_request(REPO, f"feature-{n}", files=files, number=n)
        bot.app.installation_token(inst)  # minted once an hour in a running worker
        bot.app.bot_login()
        gh.calls.clear()
        enforced.refusals.clear()
        queued = collections.deque()

        def post(action: str, n: int) -> None:
            delivery = str(uuid.uuid4())
            assert bot.post("pull_request", bot.pr_event(action, REPO, n), delivery).status_code == 202
            queued.append(store.get_delivery(delivery).id)

        for n in range(1, prs + 1):  # the burst: every delivery recorded before any is processed
            post("opened", n)
            if n % 2 == 0:  # pushed to again: the opened run's report is about to be replaced
                path = f"models/p{n:02d}/m00/modelbot.yaml"
                gh.commit(REPO, f"feature-{n}", {path: MINIMAL.replace("name: churn", f"name: p{n:02d}-m00")
                                                 + "# second push\n"})
                post("synchronize", n)
        statuses, lock = collections.Counter(), threading.Lock()

        def work():
            try:
                while True:
                    with lock:
                        if not queued:
                            return
                        pk = queued.popleft()
                    status = bot.runtime.process(pk)
                    with lock:
                        statuses[status] += 1
            finally:
                clock.finished()

        started_virtual, started = clock(), time.perf_counter()
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
        assert not gh.violations, gh.violations[:3]
        calls = list(gh.calls)
        writes = [c for c in calls if is_write(c.method, c.path)]
        reports = [gh.comments_on(REPO, n) for n in range(1, prs + 1)]
        stats = {s[0]: s for s in store.pacing_stats()}.get(inst, (inst, 0, 0, 0, 0, 0.0))
        # the newest report is the one shown: a pushed-to PR's report is about its second head
        newest = all(len(r) == 1 and (n % 2 or gh.head_sha(REPO, gh.pull(REPO, n))[:7] in r[0].body)
                     for n, r in enumerate(reports, 1))
        store.dispose()
        ops = collections.Counter(c.operation or ("graphql" if c.path.endswith("/graphql") else c.path)
                                  for c in calls if c.status < 400 or c.status not in (403, 429))
        return {"ops": ops, "requests": len(calls), "writes": len(writes), "reads": len(calls) - len(writes),
                "refusals": len(enforced.refusals), "coalesced": stats[3], "virtual": clock() - started_virtual,
                "seconds": elapsed, "statuses": dict(statuses), "one_report_each": newest,
                "why": collections.Counter(_kind(why) for *_, why in enforced.refusals)}


def _kind(why: str) -> str:
    for part, kind in (("after the previous write", "< 1 s after the previous write"),
                       ("in the last minute", "> 80 writes a minute"), ("in the last hour", "> 500 writes an hour"),
                       ("concurrent", "> 100 concurrent"), ("points a minute", "> 900 points a minute to one endpoint")):
        if part in why:
            return kind
    return why


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=50)
    parser.add_argument("--manifests", type=int, default=20)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    logging.getLogger("bot").setLevel(logging.CRITICAL)  # the baseline's refusals and failures, by the thousand
    paced = run(args.prs, args.manifests, args.threads, Limits())
    bare = run(args.prs, args.manifests, args.threads, Limits.unlimited())
    n = args.prs
    print(f"burst of {n} pull requests x {args.manifests} manifests in one installation "
          f"({n // 2} pushed to again), {args.threads} worker threads, a fake enforcing GitHub's secondary limits")
    print(f"{'':34}{'paced':>10}{'unpaced baseline':>18}{'ratio':>8}")
    rows = [("secondary-limit responses", "refusals"), ("requests per PR", "requests"), ("writes per PR", "writes"),
            ("reads per PR", "reads"), ("writes coalesced", "coalesced"), ("virtual minutes", "virtual"),
            ("wall seconds", "seconds")]
    for label, key in rows:
        a, b = paced[key], bare[key]
        if key in ("requests", "writes", "reads"):
            a, b = a / n, b / n
        if key == "virtual":
            a, b = a / 60, b / 60
        ratio = f"{a / b:>8.3f}" if b else f"{'-':>8}"
        fmt = "{:>10d}{:>18d}" if isinstance(a, int) else "{:>10.2f}{:>18.2f}"
        print(f"{label:34}" + fmt.format(a, b) + ratio)
    print("paced, answered requests per PR by operation: " + ", ".join(
        f"{op} {count / n:.2f}" for op, count in paced["ops"].most_common()))
    print(f"deliveries: paced {paced['statuses']}, unpaced {bare['statuses']}")
    if bare["why"]:
        print("the baseline's refusals: " + ", ".join(f"{k} x{v}" for k, v in bare["why"].most_common()))
    goals = [("paced: zero secondary-limit responses", paced["refusals"] == 0),
             ("paced: every delivery done", set(paced["statuses"]) == {"done"}),
             ("paced: one report per PR, the newest", paced["one_report_each"]),
             ("the baseline meets the limits (the fake enforces them)", bare["refusals"] > 0)]
    for name, ok in goals:
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
