"""Benchmark: a pull request changing 200 manifests, from signed delivery to published report.

Counts the requests the bot sends to the fake GitHub (held to GitHub's OpenAPI description)
and the wall time from POST /webhook to the report and check run being published. The baseline,
measured in the same run, is the naive reader that fetches each manifest through the contents
API (one request per file). Goals: reading the manifests ≤ 10 requests; delivery to report
≤ 10 s.

The large-repository case (issue #17 part 5): the same refresh against a repository whose
archive is 500 MB (`--large-mb`; the fake serves that archive lazily and only if asked) and
against the tiny one, in the same run: bytes the bot received from GitHub, wall time and peak
Python memory (tracemalloc) of the delivery. Goal: each within 1.2x of the tiny repository's.

    .venv/bin/python bench/bench_report.py [--manifests 200] [--large-mb 500]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.config import load_settings  # noqa: E402
from bot.adapters.migrate import migrate  # noqa: E402
from bot.adapters.queue import Queue  # noqa: E402
from bot.adapters.store import Store  # noqa: E402
from tests.support.fake_github import FakeGitHub  # noqa: E402
from tests.support.harness import Harness  # noqa: E402

SECRET = "bench-webhook-secret"
REPO = "acme/models"
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()


class MeteredGitHub(FakeGitHub):
    """The fake, counting the bytes of every answer body it sends (what the bot downloads)."""

    sent = 0

    def __call__(self, environ, start_response):
        for chunk in super().__call__(environ, start_response):
            self.sent += len(chunk)
            yield chunk


def run(manifests: int, few_files: int, archive_bytes: int | None = None, trace: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp, MeteredGitHub() as gh:
        settings = load_settings({"MODELBOT_CONFIG": str(ROOT / "tests" / "fixtures" / "modelbot.yaml"),
                                  "MODELBOT_WEBHOOK_SECRETS": SECRET, "MODELBOT_DATA_DIR": tmp})
        store = Store(settings.database_url)
        migrate(store.engine)
        inst = gh.add_installation("acme").id
        gh.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
        if archive_bytes is not None:
            gh.declare_archive_size(REPO, archive_bytes)
        files = {f"models/m{i:03d}/modelbot.yaml": MINIMAL.replace("name: churn", f"name: m{i:03d}")
                 for i in range(manifests)}
        gh.open_pull_request(REPO, "feature", files=files, number=1)
        bot = Harness(settings, store, Queue(settings), gh, secret=SECRET)
        import bot.adapters.github.reader as reader

        reader.FEW_FILES, saved = few_files, reader.FEW_FILES
        try:
            bot.app.installation_token(inst)  # minted once per hour in a running worker
            bot.app.bot_login()  # asked once per process
            gh.calls.clear()
            payload = bot.pr_event("opened", REPO, 1)
            gh.sent = 0
            if trace:  # peak Python memory of the delivery (it slows the delivery down: timed alike)
                tracemalloc.start()
            started = time.perf_counter()
            status = bot.deliver("pull_request", payload)
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if trace else 0
        finally:
            if trace:
                tracemalloc.stop()
            reader.FEW_FILES = saved
        assert status == "done", status
        assert not gh.violations, gh.violations
        calls = list(gh.calls)
        # Reading the manifests: every GET but the report's comments, check runs and the branch
        # protection the report names (2 reads, counted in `requests`).
        # POST /graphql is a read (the files, 100 to a query).
        reads = [c for c in calls if (c.method == "GET" or c.path == "/graphql") and not c.path.endswith("/comments")
                 and "/check-runs" not in c.path and "/protection/" not in c.path and "/rules/branches/" not in c.path]
        comments = [c for c in gh.comments_on(REPO, 1)]
        store.dispose()
        return {"requests": len(calls), "reads": len(reads),
                "writes": sum(c.method != "GET" and c.path != "/graphql" for c in calls),
                "seconds": elapsed, "comments": len(comments), "bytes": gh.sent, "peak": peak,
                "archives": sum("/tarball/" in c.path for c in calls)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=200)
    parser.add_argument("--large-mb", type=int, default=500, help="the large repository's archive, MB (0: skip)")
    args = parser.parse_args(argv)
    bot = run(args.manifests, few_files=3)
    naive = run(args.manifests, few_files=10**9)
    print(f"pull request changing {args.manifests} manifests, delivery -> report")
    print(f"{'':24}{'modelbot':>10}{'per-file baseline':>20}{'ratio':>8}")
    for key in ("reads", "requests", "seconds"):
        fmt = "{:>10.2f}" if key == "seconds" else "{:>10d}"
        print(f"{key:24}" + fmt.format(bot[key]) + ("{:>20.2f}" if key == "seconds" else "{:>20d}").format(
            naive[key]) + f"{bot[key] / naive[key]:>8.3f}")
    print(f"writes: {bot['writes']} (report in {bot['comments']} comment(s), check run)")
    goals = [("reading the manifests <= 10 requests", bot["reads"] <= 10),
             ("delivery to report <= 10 s", bot["seconds"] <= 10)]
    if args.large_mb:
        large = run(args.manifests, few_files=3, archive_bytes=args.large_mb * 1000 * 1000, trace=True)
        tiny = run(args.manifests, few_files=3, trace=True)
        print(f"\nthe same refresh, a {args.large_mb} MB repository vs a tiny one (same run, both under tracemalloc)")
        print(f"{'':24}{'large':>12}{'tiny':>12}{'ratio':>8}")
        for key, unit in (("bytes", 1), ("seconds", 1), ("peak", 1024 * 1024), ("reads", 1), ("archives", 1)):
            fmt = "{:>12.2f}" if key in ("seconds", "peak") else "{:>12,d}"
            label = {"bytes": "bytes from GitHub", "peak": "peak Python MiB"}.get(key, key)
            ratio = large[key] / tiny[key] if tiny[key] else float(large[key] == 0)
            print(f"{label:24}" + fmt.format(large[key] / unit if unit > 1 else large[key])
                  + fmt.format(tiny[key] / unit if unit > 1 else tiny[key]) + f"{ratio:>8.3f}")
        for key, name in (("bytes", "bytes"), ("seconds", "time"), ("peak", "peak memory")):
            goals.append((f"{args.large_mb} MB repository: {name} within 1.2x of the tiny one's",
                          large[key] <= 1.2 * tiny[key]))
        goals.append((f"{args.large_mb} MB repository: a report, no archive", large["comments"] >= 1
                      and large["archives"] == 0))
    for name, ok in goals:
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
