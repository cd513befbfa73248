"""Benchmark: one drift cycle over many owned endpoints — AWS reads per endpoint, GitHub requests
per repository, time per endpoint.

    .venv/bin/python bench/bench_drift.py [--endpoints 50] [--drifted 5]

Everything runs on loopback: moto with the project's SageMaker emulator in a child process,
the fake GitHub (held to GitHub's OpenAPI description), a SQLite store. N manifests (made from
examples/minimal.yaml, each its own endpoint) are deployed by sending the very requests the bot
builds for them (`build_requests`: CreateModel, CreateEndpointConfig, CreateEndpoint, all tagged),
their owners and a succeeded deployment recorded in the store, as a merge would leave them.
Then `--drifted` of them are changed behind the bot's back (UpdateEndpointWeightsAndCapacities:
another instance count), and one drift cycle runs (`bot.app.services.drift.reconcile`).

Counted: AWS calls (a botocore `before-call` hook on the live reader's clients) and GitHub requests
(the fake's log). Baseline, same run: one `read_live_state` per endpoint — the live read every
plan of a pull request makes. Goals: the cycle's AWS reads per endpoint equal the baseline's
(ratio <= 1.0) and it makes no AWS write; GitHub requests per repository <= 4 + the manifests'
reads (no per-endpoint GitHub request); every drifted endpoint reported, no other.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.adapters.aws.live import AwsLiveReader, read_live_state  # noqa: E402
from bot.adapters.aws.session import aws_session, client  # noqa: E402
from bot.adapters.migrate import migrate  # noqa: E402
from bot.adapters.queue import Queue  # noqa: E402
from bot.adapters.store import Store  # noqa: E402
from bot.app.services.drift import reconcile  # noqa: E402
from bot.core.config import load_settings  # noqa: E402
from bot.core.deploy.requests import build_requests  # noqa: E402
from bot.core.deploy.tags import DeployContext  # noqa: E402
from bot.core.manifest import load_manifest  # noqa: E402
from bot.core.plan import DeploySpec, LiveState, plan  # noqa: E402
from tests.support import sagemaker_emulator as emulator  # noqa: E402
from tests.support.fake_github import FakeGitHub  # noqa: E402
from tests.support.harness import Harness  # noqa: E402

SECRET = "bench-webhook-secret"
REPO = "acme/models"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()


def manifest(i: int) -> str:
    return MINIMAL.replace("name: churn", f"name: churn-{i:04d}")


class Meter:
    def __init__(self):
        self.calls: Counter = Counter()

    def __call__(self, model, **_):
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def attach(self, c):
        c.meta.events.register("before-call", self)
        return c

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def writes(self) -> int:
        return sum(n for k, n in self.calls.items()
                   if not k.split(":")[1].startswith(("Describe", "List", "Get")))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoints", type=int, default=50)
    ap.add_argument("--drifted", type=int, default=5)
    args = ap.parse_args(argv)
    url, stop = emulator.start_moto_server()
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
                      AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AWS_DEFAULT_REGION="us-east-1")
    try:
        with tempfile.TemporaryDirectory() as tmp, FakeGitHub() as gh:
            settings = load_settings({"MODELBOT_CONFIG": str(ROOT / "tests" / "fixtures" / "deploy.yaml"),
                                      "MODELBOT_WEBHOOK_SECRETS": SECRET, "MODELBOT_DATA_DIR": tmp})
            store = Store(settings.database_url)
            migrate(store.engine)
            inst = gh.add_installation("acme").id
            files = {f"models/m{i:04d}/modelbot.yaml": manifest(i) for i in range(args.endpoints)}
            gh.add_repo(REPO, {"README.md": "models\n"}, installation_id=inst)
            gh.account("alice")  # the author of main's head (GitHub links commits to their author's account)
            sha = gh.commit(REPO, "main", files, message="models", author="alice")  # as a merge leaves main
            env = settings.server.environments["staging"]
            sm = client(aws_session(env, env_name="staging"), "sagemaker")
            endpoints = []
            for path, text in files.items():
                m = load_manifest(path, text).manifest
                spec = DeploySpec(m, "staging", sha)
                p = plan(spec, LiveState(), settings.server.prices)
                ctx = DeployContext("b-1", sha, "d-1", path, "bench", 1, ("bob",))
                r = build_requests(spec, p, ctx, execution_role_arn=ROLE)
                for model in r.models:
                    sm.create_model(**model)
                for config in r.endpoint_configs:
                    sm.create_endpoint_config(**config)
                sm.create_endpoint(**r.create_endpoint)
                pk, _ = store.create_deployment(
                    key=f"bench:{path}", repository=REPO, pr_number=1, commit_sha=sha, manifest_path=path,
                    environment="staging", endpoint=r.endpoint, trigger="merge",
                    provenance=json.dumps({"installation_id": inst}))
                store.save_deployment(pk, status="succeeded")
                store.claim_endpoint("staging", r.endpoint, repository=REPO, manifest_path=path, how="deployed",
                                     deployment_id=pk)
                endpoints.append(r.endpoint)
            for name in endpoints:  # the emulator's ticks: every endpoint InService
                for _ in range(5):
                    if sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService":
                        break
            drifted = endpoints[: args.drifted]
            for name in drifted:
                sm.update_endpoint_weights_and_capacities(EndpointName=name, DesiredWeightsAndCapacities=[
                    {"VariantName": "AllTraffic", "DesiredInstanceCount": 3}])
                sm.describe_endpoint(EndpointName=name)

            reader = AwsLiveReader(settings.server.environments)
            meter = Meter()
            for service in ("sagemaker", "application-autoscaling", "cloudwatch"):
                meter.attach(reader.pool.client("staging", service))
            bot = Harness(settings, store, Queue(settings), gh, live_reader=reader, secret=SECRET)

            base = Meter()
            session = aws_session(env, env_name="staging")
            clients = {s: base.attach(client(session, s)) for s in ("sagemaker", "application-autoscaling")}
            started = time.perf_counter()
            for name in endpoints:
                read_live_state(session, name, clients=lambda s: clients[s])
            baseline_s = time.perf_counter() - started

            before = len(gh.calls)
            started = time.perf_counter()
            [result] = reconcile(bot.runtime)
            cycle_s = time.perf_counter() - started
            gh_calls = gh.calls[before:]
    finally:
        stop()

    n = len(endpoints)
    reported = sorted(f.endpoint for f in result.findings)
    per_endpoint, base_per = meter.total / n, base.total / n
    auth = [c for c in gh_calls if c.path.endswith("/access_tokens")]
    reads = [c for c in gh_calls if c.method == "GET" or c.path == "/graphql"]
    writes = [c for c in gh_calls if c not in reads and c not in auth]
    print(f"drift cycle over {n} owned endpoints ({len(drifted)} changed behind the bot's back), one repository")
    print(f"  AWS calls: {meter.total} ({per_endpoint:.2f} per endpoint), writes {meter.writes}; "
          f"baseline (a plan's live read): {base.total} ({base_per:.2f} per endpoint); ratio {per_endpoint / base_per:.2f}")
    print("  AWS calls by operation: " + ", ".join(f"{k} {v}" for k, v in sorted(meter.calls.items())))
    print(f"  GitHub requests: {len(gh_calls)} ({len(reads)} reads, {len(writes)} writes, {len(auth)} token): "
          + ", ".join(f"{c.method} {c.path}" for c in gh_calls))
    print(f"  time: {cycle_s:.2f} s ({1000 * cycle_s / n:.1f} ms per endpoint); baseline reads {baseline_s:.2f} s")
    print(f"  issue #{result.issue} {result.issue_action}; reported: {len(reported)} endpoint(s)")
    goals = [("AWS reads per endpoint <= a plan's live read", per_endpoint <= base_per),
             ("no AWS write", meter.writes == 0),
             ("GitHub requests per repository bounded (none per endpoint; at most one issue write)",
              len(reads) <= 4 + -(-n // 100) and len(writes) <= 1),
             ("every drifted endpoint reported, no other", reported == sorted(drifted))]
    for name, ok in goals:
        print(f"  {'PASS' if ok else 'MISS'}: {name}")
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
