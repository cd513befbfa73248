"""Benchmark: a pull request changing 200 manifests, from signed delivery to published report.

Counts the requests the bot sends to the fake GitHub (held to GitHub's OpenAPI description)
and the wall time from POST /webhook to the report and check run being published. The baseline,
measured in the same run, is the naive reader that fetches each manifest through the contents
API (one request per file). Goals: reading the manifests ≤ 10 requests; delivery to report
≤ 10 s.

    .venv/bin/python bench/bench_report.py [--manifests 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
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


def run(manifests: int, few_files: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp, FakeGitHub() as gh:
        settings = load_settings({"MODELBOT_CONFIG": str(ROOT / "tests" / "fixtures" / "modelbot.yaml"),
                                  "MODELBOT_WEBHOOK_SECRETS": SECRET, "MODELBOT_DATA_DIR": tmp})
        store = Store(settings.database_url)
        migrate(store.engine)
        inst = gh.add_installation("acme").id
        gh.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
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
            started = time.perf_counter()
            status = bot.deliver("pull_request", payload)
            elapsed = time.perf_counter() - started
        finally:
            reader.FEW_FILES = saved
        assert status == "done", status
        assert not gh.violations, gh.violations
        calls = list(gh.calls)
        # Reading the manifests: every GET but the report's comments, check runs and the branch
        # protection the report names (2 reads, counted in `requests`).
        reads = [c for c in calls if c.method == "GET" and not c.path.endswith("/comments")
                 and "/check-runs" not in c.path and "/protection/" not in c.path and "/rules/branches/" not in c.path]
        comments = [c for c in gh.comments_on(REPO, 1)]
        store.dispose()
        return {"requests": len(calls), "reads": len(reads), "writes": sum(c.method != "GET" for c in calls),
                "seconds": elapsed, "comments": len(comments)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=200)
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
    for name, ok in goals:
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    raise SystemExit(main())
