"""The status UI's drift page and markers, and the live experiments' verdicts (issue #16), on
both backends: drift as the drift cycle keeps it (`keep_findings`, findings from
`bot.core.drift.find_drift`), verdicts from the real judges (`judge_shadow`, `judge_ab`) stored
as the rollout engine stores them (the deployment's state and the ledger's `experiment`
entries); a person sees only what repositories they can read have."""

from __future__ import annotations

import datetime as dt
import html

import numpy as np
import pytest

from bot.app.services.drift import RepositoryDrift, keep_findings
from bot.app.services.model_age import _drawing
from bot.app.services.rollouts import _dumps
from bot.app.services.status import _loads
from bot.app.web import create_app
from bot.core.config import load_settings
from bot.core.drift import DriftFinding, EndpointFacts, LastDeployment, find_drift
from bot.core.experiment.age import age_chart, model_periods
from bot.core.experiment.capture import Pairing
from bot.core.experiment.judge import (ShadowEvidence, VariantMetrics, arm, judge_ab, judge_bake,
                                       judge_operational, judge_shadow, with_operational)
from bot.core.plan import LiveState
from bot.core.render import html_environment
from tests.support import ui as support
from tests.test_ui import PUBLIC, https_client, sign_in

T = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)
OTHER = "zed"  # a member who can read acme/secret-models only


@pytest.fixture
def ui_settings(bot_env, fake_github, tmp_path):
    support.people(fake_github)
    fake_github.add_org_member(support.ORG, OTHER)
    fake_github.set_permission(support.HIDDEN, OTHER, "read")
    fake_github.set_permission(support.READABLE, OTHER, "none")
    return load_settings(support.ui_env(bot_env, fake_github, tmp_path, PUBLIC))


@pytest.fixture
def ids(store):
    return support.seed(store)


@pytest.fixture
def app(ui_settings, store, queue, ids):
    return create_app(ui_settings, store=store, queue=queue)


def client_of(app, gh, login):
    c = https_client(app)
    assert sign_in(c, gh, login).status_code == 302
    return c


def drift_cycle(store, ids):
    """What a cycle keeps: churn (acme/models) deleted behind the bot's back, a component of it
    broken; fraud (acme/secret-models) Failed."""
    churn = find_drift(EndpointFacts(support.READABLE, "production", "churn", "models/churn/modelbot.yaml", True,
                                     LiveState(), last=LastDeployment(ids["old"], "succeeded", "a" * 40, 11)))
    odd = DriftFinding("production", "churn", "models/churn/modelbot.yaml", "broken",
                       "inference component ranker on churn is Failed: <script>alert(1)</script>",
                       "repair or delete it in AWS, then `/deploy production` on an open one", component="ranker")
    fraud = find_drift(EndpointFacts(support.HIDDEN, "production", "fraud", "models/fraud/modelbot.yaml", True,
                                     LiveState(endpoint_exists=True, endpoint_status="Failed",
                                               tags={"modelbot:manifest": "models/fraud/modelbot.yaml"}),
                                     last=LastDeployment(ids["secret"], "succeeded", "c" * 40, 5)))
    assert [f.kind for f in churn] == ["missing"] and [f.kind for f in fraud] == ["broken"]
    keep_findings(store, RepositoryDrift(support.READABLE, [*churn, odd], checked=1), default_branch="main", now=T)
    keep_findings(store, RepositoryDrift(support.HIDDEN, list(fraud), checked=1), default_branch="trunk", now=T)
    store.set_drift_issue(support.READABLE, 42)
    return churn[0], fraud[0]


def test_the_drift_page_shows_each_finding_its_fix_and_when_to_readers_of_its_repository(app, fake_github, store, ids):
    churn, fraud = drift_cycle(store, ids)
    alice = client_of(app, fake_github, support.MEMBER)
    page = alice.get("/drift").get_data(as_text=True)
    assert "acme/models" in page
    assert f'GitHub issue <a class="drift-issue" href="{fake_github.url}/acme/models/issues/42">#42</a>' in page
    assert html.escape(churn.detail, quote=False).split(":")[0] in page  # "endpoint churn no longer exists in AWS..."
    assert f"<code>/rollback production to {'a' * 12}</code>" in page  # the issue's fix, its code as code
    assert "first seen 2026-12-01 10:00 UTC, last seen 2026-12-01 10:00 UTC" in page
    assert 'id="drift-production-churn-missing"' in page and 'id="drift-production-churn-ranker-broken"' in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "fraud" not in page and "secret-models" not in page and "trunk" not in page  # alice cannot read it

    index = alice.get("/").get_data(as_text=True)
    assert "1 endpoint with drift" in index and 'class="drift" href="/drift#drift-acme/models">missing, broken<' in index
    endpoint = alice.get("/endpoints/production/churn").get_data(as_text=True)
    assert "2 findings</a> at the last drift check" in endpoint and "no longer exists in AWS" in endpoint
    assert "<code>/deploy production</code> on an open one" in endpoint
    assert alice.get("/endpoints/production/fraud").status_code == 404

    zed = client_of(app, fake_github, OTHER)  # reads acme/secret-models only
    theirs = zed.get("/drift").get_data(as_text=True)
    assert "acme/secret-models" in theirs and fraud.detail.split(":")[0] in theirs and "trunk" in theirs
    assert "churn" not in theirs and "acme/models<" not in theirs and "#42" not in theirs
    assert "churn" not in zed.get("/").get_data(as_text=True)
    assert zed.get("/endpoints/production/churn").status_code == 404


def test_a_clean_cycle_clears_the_markers(app, fake_github, store, ids):
    drift_cycle(store, ids)
    keep_findings(store, RepositoryDrift(support.READABLE, [], checked=1), default_branch="main",
                  now=T + dt.timedelta(hours=1))
    alice = client_of(app, fake_github, support.MEMBER)
    page = alice.get("/drift").get_data(as_text=True)
    assert "Nothing differs." in page and "2026-12-01 11:00" in page and "no longer exists" not in page
    assert "with drift" not in alice.get("/").get_data(as_text=True)
    assert "none at the last drift check" in alice.get("/endpoints/production/churn").get_data(as_text=True)


GATES = {"kind": "shadow", "task": "classification", "threshold": 0.5, "min_pairs": 500, "confidence": 0.95,
         "max_disagreement": 0.02, "max_psi": 0.25, "max_latency_ratio": 1.2, "max_error_rate": 0.01}
AB = {"kind": "ab", "metric": {"namespace": "Acme/Search", "metric_name": "Clicked", "higher_is_better": True},
      "mde": 0.02, "alpha": 0.05, "power": 0.8, "min_per_arm": 500, "roll_back_on_loss": True}


def shadow_evidence(n: int) -> ShadowEvidence:
    rng = np.random.default_rng(3)
    prod = rng.beta(2, 5, n)
    cand = np.clip(prod + rng.normal(0, 0.005, n), 0, 1)
    metrics = VariantMetrics(invocations=n, errors_5xx=0, latency_p99=40_000)
    return ShadowEvidence(Pairing(prod, cand, {"inference_id": n, "event_id": 0, "input": 0}, 0, 0, 0, 0),
                          metrics, metrics)


def ab_looks(rate_c: float, rate_t: float, looks: int = 5, n: int = 2000):
    rng = np.random.default_rng(0)
    out, c, t = [], [0, 0], [0, 0]
    for _ in range(looks):
        c = [c[0] + n // 2, c[1] + int(rng.binomial(n // 2, rate_c))]
        t = [t[0] + n // 2, t[1] + int(rng.binomial(n // 2, rate_t))]
        out.append((arm(*c), arm(*t)))
    return out


def judged(store, pk: int, verdict, at: dt.datetime, extra: dict | None = None) -> None:
    """What `Rollouts._judge_experiment` writes: the verdict in the state, a change to the ledger."""
    row = store.deployment(pk)
    data = _loads(row.state)
    kept = data.get("experiment") or {}
    extra = extra if extra is not None else {"capture": {}, "problems": []}
    previous = (kept.get("verdict") or {}).get("status")
    data["experiment"] = {"evaluated_at": at, "since": at, "verdict": verdict.as_record(), **extra,
                          "evaluations": int(kept.get("evaluations") or 0) + 1}
    store.save_deployment(pk, state=_dumps(data))
    if verdict.status != previous:
        store.append_ledger_for(store.deployment(pk), "experiment", {**verdict.as_record(), **extra})


def test_a_shadow_tests_verdict_and_gates_on_the_deployment_rollouts_and_endpoint_pages(app, fake_github, store, ids):
    early = judge_shadow(GATES, shadow_evidence(100), elapsed_seconds=60)
    passed = judge_shadow(GATES, shadow_evidence(2000), elapsed_seconds=900)
    assert early.status == "not_enough_data" and passed.status == "pass"
    judged(store, ids["new"], early, T)
    judged(store, ids["new"], passed, T + dt.timedelta(minutes=5), {"capture": {"objects": 3}, "problems": []})
    alice = client_of(app, fake_github, support.MEMBER)
    for path in (f"/deployments/{ids['new']}", "/rollouts"):
        page = alice.get(path).get_data(as_text=True)
        assert "Shadow judge</strong>: <span class=\"verdict pass\">pass: /promote allowed</span>" in page, path
        assert "(evaluation 2, at 2026-12-01 10:05:00 UTC)" in page and "2000 paired answers" in page
        for g in passed.gates:
            assert f'<tr class="gate pass"><td>{g.name}</td><td>{g.value:.4g}</td><td>{g.limit:.4g}</td>' in page
            assert html.escape(g.detail) in page
    history = alice.get("/endpoints/production/churn").get_data(as_text=True)
    rows = history.split('class="experiment-entry ')[1:]
    assert [r.split('"')[0] for r in rows] == ["pass", "not_enough_data"]  # newest first
    assert all(f'href="/deployments/{ids["new"]}"' in r for r in rows)
    assert "Shadow judge" in rows[0] and "2000 pairs; disagreement pass; psi pass; latency pass; errors pass" in rows[0]
    assert all(html.escape(r, quote=False) in rows[1] for r in early.reasons)


def test_an_ab_tests_arms_effect_interval_and_sample_ratio(app, fake_github, store, ids):
    better = judge_ab(AB, ab_looks(0.10, 0.14), (0.5, 0.5), elapsed_seconds=600)
    assert better.status == "pass"
    judged(store, ids["old"], better, T)  # a finished deployment keeps its last verdict
    alice = client_of(app, fake_github, support.MEMBER)
    page = alice.get(f"/deployments/{ids['old']}").get_data(as_text=True)
    assert 'id="experiment"' in page and "A/B test</strong>" in page and "the candidate is better" in page
    assert f"<tr><td>current</td><td>{better.n_control}</td><td>{better.control_rate:.4g}</td></tr>" in page
    assert f"<tr><td>candidate</td><td>{better.n_treatment}</td><td>{better.treatment_rate:.4g}</td></tr>" in page
    assert (f"Effect (candidate − current): {better.effect:+.4g}, confidence sequence [{better.ci_low:.4g}, "
            f"{better.ci_high:.4g}], always-valid p = {better.p_value:.3g}; {better.looks} looks") in page
    assert f"Sample ratio: p = {better.srm_p:.3g}, consistent with the split" in page

    skewed = judge_ab(AB, [(arm(6000, 600), arm(4000, 560))], (0.5, 0.5), elapsed_seconds=60)
    assert skewed.srm_mismatch and skewed.status == "running"
    judged(store, ids["old"], skewed, T + dt.timedelta(minutes=5))
    page = alice.get(f"/deployments/{ids['old']}").get_data(as_text=True)
    assert "running: no winner yet" in page and "a mismatch with the configured split" in page
    history = alice.get("/endpoints/production/churn").get_data(as_text=True)
    assert history.count('class="experiment-entry ') == 2 and "sample ratio mismatch" in history
    assert f"effect {better.effect:+.4g} [{better.ci_low:.4g}, {better.ci_high:.4g}]" in history


CANARY = {"metrics": ["model_latency", "error_rate"], "critical": ["error_rate"], "min_points": 10, "alpha": 0.05,
          "tolerance": 0.1, "pass_score": 95, "marginal_score": 75}


def minutes(mean, n=30, seed=0):
    return list(mean * (1 + np.random.default_rng(seed).normal(0, 0.05, n)))


def test_the_operational_judge_beside_an_ab_test_and_alone(app, fake_github, store, ids):
    slow = judge_operational(CANARY, {"model_latency": (minutes(40_000, seed=1), minutes(20_000, seed=2)),
                                      "error_rate": (minutes(0.001, seed=3), minutes(0.001, seed=4))})
    both = with_operational(judge_ab(AB, ab_looks(0.10, 0.14), (0.5, 0.5), elapsed_seconds=600), slow)
    assert both.status == "fail"
    judged(store, ids["new"], both, T)
    alice = client_of(app, fake_github, support.MEMBER)
    page = alice.get(f"/deployments/{ids['new']}").get_data(as_text=True)
    assert "A/B test</strong>: <span class=\"verdict fail\">the candidate is worse: rolled back" in page
    assert f"score {slow.score:.0f} (pass ≥ 95, marginal ≥ 75)" in page
    [latency] = [m for m in slow.metrics if m["name"] == "model_latency"]
    assert (f'<tr class="metric fail"><td>model_latency</td><td>{latency["mean_candidate"]:.4g} '
            f'({latency["n_candidate"]} min)</td>') in page
    assert f"{100 * latency['relative_shift']:+.1f}%" in page and "error_rate (critical)" in page
    assert html.escape(both.reasons[0], quote=False) in page  # "operational judge: ..."

    alone = with_operational(None, judge_operational(CANARY, {
        "model_latency": (minutes(20_000, seed=1), minutes(20_000, seed=2)),
        "error_rate": (minutes(0.001, seed=3), minutes(0.001, seed=4))}))
    assert alone.status == "pass" and alone.as_record()["kind"] == "canary"
    judged(store, ids["new"], alone, T + dt.timedelta(minutes=5))
    page = alice.get("/rollouts").get_data(as_text=True)
    assert "Operational judge</strong>: <span class=\"verdict pass\">pass: /promote allowed" in page
    history = alice.get("/endpoints/production/churn").get_data(as_text=True)
    assert "operational pass (score 100)" in history and "operational fail" in history


def test_the_operational_judge_of_an_update_sagemaker_drives_says_what_it_does(app, fake_github, store, ids):
    slow = judge_bake(CANARY, {"AllTraffic": {
        "model_latency": (minutes(40_000, seed=1), minutes(20_000, seed=2)),
        "error_rate": (minutes(0.001, seed=3), minutes(0.001, seed=4))}}, bake_started=True)
    assert slow.status == "fail"
    judged(store, ids["new"], slow, T, extra={"bake_since": T, "update_at": T})
    alice = client_of(app, fake_github, support.MEMBER)
    page = alice.get(f"/deployments/{ids['new']}").get_data(as_text=True)
    assert "Operational judge</strong>: <span class=\"verdict fail\">fail: SageMaker rolls the update back" in page
    assert "variant AllTraffic during the bake vs before the update" in page
    assert "<th>bake</th><th>before</th>" in page and "/promote allowed" not in page
    history = alice.get("/endpoints/production/churn").get_data(as_text=True)
    assert "fail: SageMaker rolls the update back" in history


def test_verdicts_of_an_unreadable_repository_are_not_shown(app, fake_github, store, ids):
    secret = judge_ab(AB, ab_looks(0.10, 0.14), (0.5, 0.5), elapsed_seconds=600)
    judged(store, ids["secret"], secret, T)
    alice = client_of(app, fake_github, support.MEMBER)
    assert alice.get(f"/deployments/{ids['secret']}").status_code == 404
    pages = "".join(alice.get(p).get_data(as_text=True) for p in ("/", "/rollouts", "/endpoints/production/churn"))
    assert "A/B test</" not in pages and "the candidate is better" not in pages
    assert f"{secret.effect:+.4g}" not in pages and 'class="experiment-entry' not in pages
    zed = client_of(app, fake_github, OTHER)
    assert "A/B test</strong>" in zed.get(f"/deployments/{ids['secret']}").get_data(as_text=True)
    assert "the candidate is better" in zed.get("/endpoints/production/fraud").get_data(as_text=True)


def test_a_macros_output_is_redacted_and_escaped_once():
    """A macro's output is markup; non-ASCII text (the A/B test's "−") runs every redaction
    pattern over it, which must leave it markup (escaped once) and still redact a secret."""
    t = html_environment().from_string("{% macro m(x) %}<b>{{ x }}</b> −{% endmacro %}{{ m(v) }}")
    out = t.render(v="<i> see https://x.example/r?token=abcdefabcdef1234 −")
    assert out.startswith("<b>&lt;i&gt; see https://x.example/r?token=") and "</b> −" in out
    assert "abcdefabcdef1234" not in out and "&lt;b&gt;" not in out


def test_the_model_age_chart_the_report_drew_is_on_the_endpoint_page_for_readers_only(app, fake_github, store, ids):
    entries = [{"kind": "prepared", "deployment_id": 1, "at": T - dt.timedelta(days=9), "data": {"kind": "create"},
                "pr_number": 7, "commit_sha": "a" * 40},
               {"kind": "finished", "deployment_id": 1, "at": T - dt.timedelta(days=9), "data": {"status": "succeeded"},
                "pr_number": 7, "commit_sha": "a" * 40}]
    periods = model_periods(entries, T)
    day0 = (T - dt.timedelta(days=8)).date()
    daily = {day0 + dt.timedelta(days=k): 0.9 - 0.01 * k for k in range(8)}
    chart = age_chart("churn", periods, daily, metric="accuracy <b>", higher_is_better=True, now=T)
    store.keep_model_age(support.READABLE, "production", "churn", _drawing("production", chart, periods), T)
    store.keep_model_age(support.HIDDEN, "production", "fraud", _drawing("production", chart, periods), T)

    page = client_of(app, fake_github, support.MEMBER).get("/endpoints/production/churn").get_data(as_text=True)
    assert '<svg id="model-age"' in page and page.count('class="model-line"') == 1
    assert "accuracy &lt;b&gt;" in page and "<b>" not in page.split("Model age", 1)[1].split("</svg>", 1)[0]
    assert "#7 (serving now)" in page and "<td>8</td>" in page
    hidden = client_of(app, fake_github, support.MEMBER).get("/endpoints/production/fraud")
    assert hidden.status_code == 404
    other = client_of(app, fake_github, OTHER).get("/endpoints/production/fraud").get_data(as_text=True)
    assert '<svg id="model-age"' in other
