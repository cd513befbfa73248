"""The shadow judge end to end against the emulator: a merged shadow test is judged on its data
capture (S3) and CloudWatch metrics, the verdict is shown in the PR and kept in the ledger, and
the judge is enforced where the bot acts: `/promote` is refused until every gate passes, a
failing candidate is rolled back without anyone asking, and `promote_after_minutes` promotes
through the deploy gate like a person would."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from bot.adapters.aws.session import aws_session, client
from bot.app.services.lineage import trace
from bot.core.render import render
from tests.aws.test_deploy_gate import REPO, approve, bot, comment, open_pr, rows_of, ship, sm  # noqa: F401 - fixture
from tests.conftest import ROOT
from tests.support import webhooks

PATH = "models/search/modelbot.yaml"
ENDPOINT = "search-ranker-production"
BUCKET = "acme-capture"
JUDGE = """    strategy:
      type: shadow
      sampling_percentage: 100
      candidate_variant_name: shadow
      experiment:
        task: classification
        threshold: 0.5
        min_pairs: 400
        max_disagreement: 0.05
        max_psi: 0.25
        max_latency_ratio: 1.5
        max_error_rate: 0.02{extra}
    data_capture:
      destination: s3://acme-capture/search/
"""


def shadow_manifest(extra: str = "") -> str:
    ab = (ROOT / "examples" / "realtime-ab.yaml").read_text().replace("approvals: 2", "approvals: 1")
    start = ab.index("    strategy:\n")
    end = ab.index("    alarms:")
    return ab[:start] + JUDGE.format(extra=extra) + ab[end:]


def cw(bot):
    e = bot.settings.server.environments["production"]
    return client(aws_session(e, env_name="production"), "cloudwatch")


def s3(bot):
    e = bot.settings.server.environments["production"]
    return client(aws_session(e, env_name="production"), "s3")


class Clock:
    def __init__(self):
        self.now = dt.datetime.now(dt.timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, minutes: float):
        self.now += dt.timedelta(minutes=minutes)


@pytest.fixture
def clock(bot):
    c = Clock()
    bot.runtime.rollouts.now = c
    return c


def into_the_shadow_test(bot, extra: str = ""):
    """PR #43 merged: its candidate runs in shadow beside production, judged."""
    s3(bot).create_bucket(Bucket=BUCKET)
    base = shadow_manifest(extra)
    ship(bot, 42, {PATH: base}, "bob")
    open_pr(bot, 43, {PATH: base.replace("v3/model", "v4/model")})
    approve(bot, 43, "carol")
    sha = bot.github.merge_pull_request(REPO, 43)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha,
                                                             **webhooks.pr_args(bot.github, REPO, 43)))
    row = rows_of(bot, 43)["production"]
    for _ in range(8):
        bot.runtime.rollouts.tick(row.id)
        if rollout(bot, row)["phase"] == "experiment":
            break
    assert rollout(bot, row)["phase"] == "experiment", rollout(bot, row)
    bot.runtime.rollouts.tick(row.id)  # the first look at the evidence
    return row


def state(bot, row) -> dict:
    return json.loads(bot.store.deployment(row.id).state)


def rollout(bot, row) -> dict:
    return state(bot, row)["rollout"]


def verdict(bot, row) -> dict:
    return state(bot, row)["experiment"]["verdict"]


def live_config(bot):
    return sm(bot).describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]


def capture_traffic(bot, row, now: dt.datetime, *, n=600, flip=0.0, shadow_latency=1.0, shadow_5xx=0, seed=1):
    """`n` requests, captured on both variants (the same inference ids), and their metrics:
    production's scores from a known distribution, the shadow's the same except a `flip` share
    of labels; the shadow's latency `shadow_latency` times production's."""
    rng = np.random.default_rng(seed)
    prod = rng.beta(2, 5, n)
    shadow = prod + rng.normal(0, 0.01, n)
    flipped = rng.random(n) < flip
    shadow[flipped] = 1 - shadow[flipped]
    st = rollout(bot, row)
    hour = now.strftime("%Y/%m/%d/%H")
    for variant, scores in ((st["current_variant"], prod), (st["candidate_variant"], shadow)):
        lines = []
        for i, score in enumerate(scores):
            lines.append(json.dumps({
                "captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                                  "data": f"{i},{i % 7}", "encoding": "CSV"},
                                "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                                   "data": f"{score:.6f}", "encoding": "CSV"}},
                "eventMetadata": {"eventId": f"{variant}-{i}", "inferenceId": f"req-{seed}-{i}",
                                  "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
                "eventVersion": "0"}))
        for part in range(2):  # two files per hour, as SageMaker writes them
            body = "\n".join(lines[part::2]) + "\n"
            s3(bot).put_object(Bucket=BUCKET, Key=f"search/{ENDPOINT}/{variant}/{hour}/0{part}-00-000-{seed}.jsonl",
                               Body=body.encode())
        latency = rng.gamma(4, 5000, n) * (shadow_latency if variant == st["candidate_variant"] else 1.0)
        dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
        stamp = now + dt.timedelta(minutes=1)  # after the shadow test began, before the next look
        errors = shadow_5xx if variant == st["candidate_variant"] else 0
        cw(bot).put_metric_data(Namespace="AWS/SageMaker", MetricData=[
            {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": stamp, "Value": float(n)},
            {"MetricName": "Invocation5XXErrors", "Dimensions": dims, "Timestamp": stamp, "Value": float(errors)},
            {"MetricName": "Invocation4XXErrors", "Dimensions": dims, "Timestamp": stamp, "Value": 0.0},
            *({"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": stamp,
               "Values": [float(v) for v in latency[k:k + 150]]} for k in range(0, n, 150))])


def report(bot, number) -> str:
    return next(c.body for c in bot.github.comments_on(REPO, number) if "modelbot:report" in c.body)


def test_promote_is_refused_until_the_judge_passes_then_the_candidate_is_promoted(bot, clock):
    row = into_the_shadow_test(bot)
    before = live_config(bot)
    assert verdict(bot, row)["status"] == "not_enough_data"  # nothing captured yet: never a pass

    reply = comment(bot, 43, "/promote production", "carol")
    assert "promote" in reply
    bot.runtime.rollouts.tick(row.id)
    assert live_config(bot) == before  # nothing promoted
    refused = [c.body for c in bot.github.comments_on(REPO, 43) if "Promotion refused" in c.body]
    assert refused and "the shadow judge has not passed the candidate" in refused[-1]
    assert bot.store.deployment(row.id).requested is None  # the request is used up, not left waiting
    gate = [e for e in bot.store.ledger_entries(deployment_ids=[row.id]) if e["kind"] == "gate"]
    assert gate[-1]["data"]["verdict"] == "refuse" and gate[-1]["data"]["reasons"][0]["rule"] == "experiment"

    capture_traffic(bot, row, clock.now)
    clock.advance(6)  # past evaluate_every_minutes: the evidence is read again
    bot.runtime.rollouts.tick(row.id)
    v = verdict(bot, row)
    assert v["status"] == "pass", v
    assert v["pairs"] == 600
    assert {g["name"]: g["status"] for g in v["gates"]} == {
        "disagreement": "pass", "psi": "pass", "latency": "pass", "errors": "pass"}
    section = report(bot, 43)
    assert "**Shadow judge**" in section and "✅ pass: `/promote` allowed" in section
    assert "Kolmogorov–Smirnov (shown, not a gate): D = " in section and v["ks"]["method"] in ("exact", "asymptotic")
    kinds = [e["data"]["status"] for e in bot.store.ledger_entries(deployment_ids=[row.id])
             if e["kind"] == "experiment"]
    assert kinds == ["not_enough_data", "pass"]  # each change of verdict, once

    comment(bot, 43, "/promote production", "carol")
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) == "succeeded":
            break
    assert bot.store.deployment(row.id).status == "succeeded"
    assert live_config(bot).endswith("-promoted")
    assert not bot.github.violations


def test_a_candidate_that_disagrees_is_rolled_back_without_anyone_asking(bot, clock):
    row = into_the_shadow_test(bot)
    before = rollout(bot, row)["previous_config"]
    capture_traffic(bot, row, clock.now, flip=0.3)  # 30% of labels differ: far over 5%
    clock.advance(6)
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) in ("rolled_back", "failed"):
            break
    done = bot.store.deployment(row.id)
    assert done.status == "rolled_back", (done.status, done.reason)
    assert "the shadow judge failed the candidate" in done.reason and "disagreement" in done.reason
    live = sm(bot).describe_endpoint(EndpointName=ENDPOINT)
    assert "ShadowProductionVariants" not in live and live["EndpointConfigName"] == before  # PR #42's
    failed = [e["data"] for e in bot.store.ledger_entries(deployment_ids=[row.id]) if e["kind"] == "experiment"]
    assert failed[-1]["status"] == "fail" and failed[-1]["capture"]["shadow_objects"] == 2


def test_a_slow_candidate_fails_the_latency_gate(bot, clock):
    row = into_the_shadow_test(bot)
    capture_traffic(bot, row, clock.now, shadow_latency=2.5)
    clock.advance(6)
    bot.runtime.rollouts.tick(row.id)
    v = verdict(bot, row)
    gates = {g["name"]: g for g in v["gates"]}
    assert gates["latency"]["status"] == "fail" and gates["latency"]["value"] > 1.5
    assert v["status"] == "fail"


def test_promote_after_minutes_promotes_through_the_gate_once_every_gate_passes(bot, clock):
    row = into_the_shadow_test(bot, extra="\n        promote_after_minutes: 30")
    capture_traffic(bot, row, clock.now)
    clock.advance(6)
    bot.runtime.rollouts.tick(row.id)
    assert verdict(bot, row)["status"] == "pass"
    assert bot.store.deployment(row.id).status == "running"  # a pass before 30 minutes waits
    assert not any(e["kind"] == "request" for e in bot.store.ledger_entries(deployment_ids=[row.id]))

    clock.advance(30)
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) == "succeeded":
            break
    assert bot.store.deployment(row.id).status == "succeeded"
    assert live_config(bot).endswith("-promoted")
    entries = bot.store.ledger_entries(deployment_ids=[row.id])
    [asked] = [e for e in entries if e["kind"] == "request"]
    assert asked["actor"] == "modelbot" and "30 minutes" in asked["data"]["why"]
    promote_gate = [e["data"] for e in entries if e["kind"] == "gate" and e["data"].get("action") == "promote"]
    assert promote_gate and promote_gate[-1]["verdict"] == "allow"  # the deploy gate decided it too


def test_unreadable_evidence_decides_nothing_and_rollback_still_works(bot, clock):
    row = into_the_shadow_test(bot)
    s3(bot).delete_bucket(Bucket=BUCKET)  # the capture bucket is gone
    clock.advance(6)
    bot.runtime.rollouts.tick(row.id)
    v = verdict(bot, row)
    assert v["status"] == "not_enough_data" and "could not be read" in v["reasons"][0]
    comment(bot, 43, "/rollback production", "carol")
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) in ("rolled_back", "aborted"):
            break
    assert bot.store.deployment(row.id).status == "rolled_back"


# -- A/B test: the business metric, judged with the always-valid sequential test ------------------

AB_TEST = """      candidate_variant_name: challenger
      ab_test:
        metric: {namespace: Acme/Search, metric_name: Clicked, dimensions: {Surface: web}}
        mde: 0.02
        min_per_arm: 500
"""


def ab_manifest() -> str:
    ab = (ROOT / "examples" / "realtime-ab.yaml").read_text().replace("approvals: 2", "approvals: 1")
    return ab.replace("      candidate_variant_name: challenger\n", AB_TEST)


def into_the_ab_test(bot):
    base = ab_manifest()
    ship(bot, 42, {PATH: base}, "bob")
    open_pr(bot, 43, {PATH: base.replace("v3/model", "v4/model")})
    approve(bot, 43, "carol")
    sha = bot.github.merge_pull_request(REPO, 43)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha,
                                                             **webhooks.pr_args(bot.github, REPO, 43)))
    row = rows_of(bot, 43)["production"]
    for _ in range(10):
        bot.runtime.rollouts.tick(row.id)
        if rollout(bot, row)["phase"] == "experiment":
            break
    assert rollout(bot, row)["phase"] == "experiment", rollout(bot, row)
    bot.runtime.rollouts.tick(row.id)
    return row


def clicks(bot, row, now, *, control=(9000, 900), treatment=(1000, 200)):
    """The serving side's business metric: one 0/1 value per request, per variant."""
    st = rollout(bot, row)
    for variant, (n, hits) in ((st["current_variant"], control), (st["candidate_variant"], treatment)):
        dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant},
                {"Name": "Surface", "Value": "web"}]
        cw(bot).put_metric_data(Namespace="Acme/Search", MetricData=[
            {"MetricName": "Clicked", "Dimensions": dims, "Timestamp": now + dt.timedelta(minutes=1),
             "Values": [1.0, 0.0], "Counts": [float(hits), float(n - hits)]}])


def test_an_ab_winner_is_promoted_only_once_the_test_says_so(bot, clock):
    row = into_the_ab_test(bot)
    before = live_config(bot)
    assert verdict(bot, row)["status"] == "not_enough_data"
    comment(bot, 43, "/promote production", "carol")
    bot.runtime.rollouts.tick(row.id)
    assert live_config(bot) == before
    refused = [c.body for c in bot.github.comments_on(REPO, 43) if "Promotion refused" in c.body]
    assert refused and "the A/B test has not passed the candidate" in refused[-1]

    clicks(bot, row, clock.now)  # 20% vs 10%, split 10/90 as configured
    clock.advance(6)
    bot.runtime.rollouts.tick(row.id)
    v = verdict(bot, row)
    assert v["status"] == "pass" and v["kind"] == "ab", v
    assert (v["n_control"], v["n_treatment"]) == (9000, 1000) and v["ci_low"] > 0 and not v["srm_mismatch"]
    body = report(bot, 43)
    assert "**A/B test**" in body and "`/promote` allowed" in body and "always-valid p" in body

    comment(bot, 43, "/promote production", "carol")
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) == "succeeded":
            break
    assert bot.store.deployment(row.id).status == "succeeded" and live_config(bot).endswith("-promoted")
    ledger = [e["data"] for e in bot.store.ledger_entries(deployment_ids=[row.id]) if e["kind"] == "experiment"]
    assert [e["status"] for e in ledger] == ["not_enough_data", "pass"] and ledger[-1]["effect"] > 0
    assert not bot.github.violations


def test_an_ab_loser_is_rolled_back_without_anyone_asking(bot, clock):
    row = into_the_ab_test(bot)
    clicks(bot, row, clock.now, control=(9000, 1800), treatment=(1000, 100))  # the candidate loses clicks
    clock.advance(6)
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) in ("rolled_back", "failed"):
            break
    done = bot.store.deployment(row.id)
    assert done.status == "rolled_back" and "the A/B test failed the candidate" in done.reason, done.reason
    weights = {v["VariantName"]: v["CurrentWeight"]
               for v in sm(bot).describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"]}
    assert weights.get("challenger", 0.0) == 0.0


def test_a_split_that_does_not_match_the_weights_names_no_winner(bot, clock):
    row = into_the_ab_test(bot)
    clicks(bot, row, clock.now, control=(6000, 600), treatment=(4000, 800))  # 40% served, 10% configured
    clock.advance(6)
    bot.runtime.rollouts.tick(row.id)
    v = verdict(bot, row)
    assert v["status"] == "running" and v["srm_mismatch"] and "sample ratio mismatch" in v["reasons"][0]
    assert "mismatch with the configured split" in report(bot, 43)
    comment(bot, 43, "/promote production", "carol")
    bot.runtime.rollouts.tick(row.id)
    assert bot.store.deployment(row.id).status == "running" and rollout(bot, row)["phase"] == "experiment"


def test_the_trace_shows_the_verdict_that_let_the_candidate_through(bot, clock):
    row = into_the_shadow_test(bot)
    capture_traffic(bot, row, clock.now)
    clock.advance(6)
    bot.runtime.rollouts.tick(row.id)
    comment(bot, 43, "/promote production", "carol")
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) == "succeeded":
            break
    result = trace(bot.store, ENDPOINT)
    [chain] = [c for c in result.chains if c.deployment_id == row.id]
    assert chain.serving and chain.experiment["status"] == "pass" and chain.experiment["pairs"] == 600
    assert any(e.kind == "experiment" and e.text == "shadow judge: pass" for e in chain.events)
    text = render("cli/trace.txt.j2", t=result)
    assert "shadow judge: pass after 600 paired answers; disagreement pass" in text


# -- the operational judge: latency and errors, candidate vs current, minute by minute -------------

CANARY_JUDGE = """      candidate_variant_name: challenger
      canary_judge:
        min_points: 10
"""


def canary_manifest() -> str:
    ab = (ROOT / "examples" / "realtime-ab.yaml").read_text().replace("approvals: 2", "approvals: 1")
    return ab.replace("      candidate_variant_name: challenger\n", CANARY_JUDGE)


def into_the_canary(bot):
    base = canary_manifest()
    ship(bot, 42, {PATH: base}, "bob")
    open_pr(bot, 43, {PATH: base.replace("v3/model", "v4/model")})
    approve(bot, 43, "carol")
    sha = bot.github.merge_pull_request(REPO, 43)
    bot.deliver("pull_request", webhooks.merged_pull_request(merge_commit_sha=sha,
                                                             **webhooks.pr_args(bot.github, REPO, 43)))
    row = rows_of(bot, 43)["production"]
    for _ in range(10):
        bot.runtime.rollouts.tick(row.id)
        if rollout(bot, row)["phase"] == "experiment":
            break
    bot.runtime.rollouts.tick(row.id)
    return row


def per_minute(bot, row, start, *, minutes=15, slower=1.0, errors=0):
    st = rollout(bot, row)
    rng = np.random.default_rng(7)
    for variant, factor, bad in ((st["current_variant"], 1.0, 0), (st["candidate_variant"], slower, errors)):
        dims = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": variant}]
        data = []
        for k in range(1, minutes + 1):
            at = start + dt.timedelta(minutes=k)
            data += [{"MetricName": "ModelLatency", "Dimensions": dims, "Timestamp": at,
                      "Value": float(20_000 * factor * (1 + rng.normal(0, 0.05)))},
                     {"MetricName": "Invocations", "Dimensions": dims, "Timestamp": at, "Value": 100.0},
                     {"MetricName": "Invocation5XXErrors", "Dimensions": dims, "Timestamp": at, "Value": float(bad)}]
        for i in range(0, len(data), 20):
            cw(bot).put_metric_data(Namespace="AWS/SageMaker", MetricData=data[i:i + 20])


def test_the_operational_judge_holds_promotion_until_it_has_the_minutes_then_allows_it(bot, clock):
    row = into_the_canary(bot)
    assert verdict(bot, row)["kind"] == "canary" and verdict(bot, row)["status"] == "not_enough_data"
    per_minute(bot, row, clock.now, minutes=5)  # five minutes: fewer than the ten needed
    clock.advance(6)
    bot.runtime.rollouts.tick(row.id)
    assert verdict(bot, row)["status"] == "not_enough_data"
    comment(bot, 43, "/promote production", "carol")
    bot.runtime.rollouts.tick(row.id)
    assert rollout(bot, row)["phase"] == "experiment"  # refused: never promoting on too little data

    per_minute(bot, row, clock.now, minutes=15)
    clock.advance(16)
    bot.runtime.rollouts.tick(row.id)
    v = verdict(bot, row)
    assert v["status"] == "pass", v
    op = v["operational"]
    assert {m["name"]: m["result"] for m in op["metrics"]} == {"model_latency": "pass", "error_rate": "pass"}
    assert "**Operational judge**" in report(bot, 43)
    comment(bot, 43, "/promote production", "carol")
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) == "succeeded":
            break
    assert bot.store.deployment(row.id).status == "succeeded"


def test_a_candidate_that_errors_is_rolled_back_by_the_operational_judge(bot, clock):
    row = into_the_canary(bot)
    per_minute(bot, row, clock.now, minutes=12, errors=5)  # 5% of its requests fail, none of the current's
    clock.advance(13)
    for _ in range(10):
        if bot.runtime.rollouts.tick(row.id) in ("rolled_back", "failed"):
            break
    done = bot.store.deployment(row.id)
    assert done.status == "rolled_back", (done.status, done.reason)
    assert "the operational judge failed the candidate" in done.reason and "error_rate" in done.reason
