"""The baseline comparison in pull requests, through the signed webhook against the fake GitHub.

These use the `pipeline` source with files in the repository (the pipeline's prediction file,
joined to the validation set by row id), so no AWS is involved: the live model is what the
live reader says is on `churn-production`.
"""

from __future__ import annotations

import numpy as np
import pytest

from bot.adapters import sources
from bot.core.config import load_settings
from bot.core.report import part_of
from bot.app.worker import Context
from tests.compare_e2e import helpers as h
from tests.conftest import SECRET
from tests.support.harness import Harness

DATASET = "data/churn/validation.csv"
PREDICTIONS = "outputs/predictions.csv"


@pytest.fixture
def installation(fake_github):
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(h.REPO, {"README.md": "models\n"}, installation_id=inst)
    return inst


@pytest.fixture
def bot(bot_env, store, queue, fake_github, installation):
    return Harness(load_settings(bot_env), store, queue, fake_github, live_reader=h.live_production(),
                   secret=SECRET)


def files(n=600, *, cand_skill=0.3, base_skill=0.3, same=True, seed=0, shuffle=True, drop=None, extra=None,
          manifest=None, candidate=None):
    """Repository files: the manifest, the validation set, the pipeline's predictions (rows in
    another order than the set, candidate and live model side by side)."""
    ids, y, x = h.binary_set(n, seed)
    base = h.probabilities(y, base_skill, seed + 1)
    cand = candidate if candidate is not None else (
        np.clip(base + np.random.default_rng(seed + 2).normal(0, 0.005, n), 0.001, 0.999) if same
        else h.probabilities(y, cand_skill, seed + 3))
    order = np.random.default_rng(seed + 4).permutation(n) if shuffle else np.arange(n)
    preds = {"id": ids[order], "prediction": cand[order], "baseline_prediction": base[order]}
    data = h.dataset_columns(ids, y, x)
    if drop:
        data.pop(drop)
    out = {h.PATH: manifest or h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE),
           DATASET: h.csv_bytes(data), PREDICTIONS: h.csv_bytes(preds)}
    out.update(extra or {})
    return out


def open_pr(fake, files, number=7, draft=False):
    fake.open_pull_request(h.REPO, "feature", files=files, number=number, draft=draft)
    return number


def report(fake, number) -> str:
    bodies = {part_of(c.body): c.body for c in fake.comments_on(h.REPO, number) if part_of(c.body)}
    return "\n".join(bodies[k] for k in sorted(bodies))


def compare_run(fake, number):
    pr = fake.pull(h.REPO, number)
    runs = fake.check_runs_for(h.REPO, head_sha=fake.head_sha(h.REPO, pr), name="modelbot/compare")
    assert runs, "no modelbot/compare check run"
    return runs[-1]


def test_a_candidate_as_good_as_production_passes(bot, fake_github):
    number = open_pr(fake_github, files())
    assert bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number)) == "done"
    run = compare_run(fake_github, number)
    assert (run.status, run.conclusion) == ("completed", "success")
    assert run.title == "1 model no worse than production"
    text = report(fake_github, number)
    assert "#### Model comparison" in text
    assert "| metric | baseline | candidate | delta (95% CI) | gate | verdict |" in text
    assert "| ROC AUC |" in text and "✅ pass" in text
    assert "joined to the labels by `id`" in text  # the prediction file came in another row order
    assert h.BASELINE_MODEL in text  # the baseline's identity, from the live endpoint


def test_a_clearly_worse_candidate_fails_with_the_numbers(bot, fake_github):
    number = open_pr(fake_github, files(same=False, cand_skill=0.05, base_skill=0.35))
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    run = compare_run(fake_github, number)
    assert (run.conclusion, run.title) == ("failure", "Significantly worse than production: churn")
    text = report(fake_github, number)
    row = next(line for line in text.splitlines() if line.startswith("| ROC AUC |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    baseline, candidate = float(cells[1]), float(cells[2])
    assert baseline > 0.9 and candidate < 0.7 and cells[3].startswith("-0.")
    assert "DeLong" in cells[3] and "❌ fail" in cells[5]
    assert "significantly worse than baseline" in text
    assert "significantly worse" in run.summary and "| ROC AUC |" in run.summary


def test_a_small_noisy_set_is_inconclusive_not_failed(bot, fake_github):
    number = open_pr(fake_github, files(n=24, same=False, cand_skill=0.1, base_skill=0.3))
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    run = compare_run(fake_github, number)
    assert (run.conclusion, run.title) == ("neutral", "Inconclusive: churn")
    assert "too few rows to judge: 24 < 30" in report(fake_github, number)
    assert "A person should look before merging" in run.summary


def test_first_deployment_applies_absolute_gates_only_and_says_so(bot, fake_github):
    bot.runtime._live_reader = h.nothing_live
    number = open_pr(fake_github, files())
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    run = compare_run(fake_github, number)
    assert run.conclusion == "success"
    text = report(fake_github, number)
    assert "No baseline model live in production: only absolute limits (min/max) were applied." in text
    assert "regression limit not applicable" in text
    assert "baseline: `none (first deployment)`" in text


def test_bad_data_fails_the_check_with_the_reason(bot, fake_github):
    number = open_pr(fake_github, files(drop="label"))
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    run = compare_run(fake_github, number)
    assert (run.conclusion, run.title) == ("failure", "Comparison could not run: churn")
    assert "data/churn/validation.csv (version v1): missing label column 'label'" in run.summary
    assert "could not run" in run.summary and "🛑 error" in report(fake_github, number)


def test_a_push_that_does_not_change_the_model_does_not_recompute(bot, fake_github, monkeypatch):
    calls = []
    real = sources.load_validation_set
    monkeypatch.setattr("bot.app.services.comparison.inputs.load_validation_set", lambda *a, **k: calls.append(1) or real(*a, **k))
    number = open_pr(fake_github, files())
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    assert calls == [1] and compare_run(fake_github, number).conclusion == "success"

    fake_github.commit(h.REPO, "feature", {"README.md": "docs only\n"})  # the model, data, spec unchanged
    bot.deliver("pull_request", bot.pr_event("synchronize", h.REPO, number))
    assert calls == [1], "recomputed although nothing the comparison depends on changed"
    run = compare_run(fake_github, number)
    assert run.conclusion == "success" and run.head_sha == fake_github.head_sha(h.REPO, fake_github.pull(h.REPO, number))
    assert "(cached result from `" in report(fake_github, number)

    # New predictions from the pipeline are a new candidate: computed again.
    worse = files(same=False, cand_skill=0.05, base_skill=0.35)
    fake_github.commit(h.REPO, "feature", {PREDICTIONS: worse[PREDICTIONS]})
    bot.deliver("pull_request", bot.pr_event("synchronize", h.REPO, number))
    assert calls == [1, 1] and compare_run(fake_github, number).conclusion == "failure"

    # /validate recomputes on demand (the command handler calls refresh_pull(force_compare=True)).
    from bot.app.services.pull_report import refresh_pull

    ctx = Context(bot.settings, bot.store, fake_github.repo(h.REPO).installation_id, bot.app, bot.runtime)
    pr = bot.pr_event("synchronize", h.REPO, number)["pull_request"]
    refresh_pull(ctx, h.REPO, pr, force_compare=True)
    assert calls == [1, 1, 1]


def test_draft_prs_are_not_compared(bot, fake_github):
    number = open_pr(fake_github, files(), draft=True)
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number, draft=True))
    pr = fake_github.pull(h.REPO, number)
    assert fake_github.check_runs_for(h.REPO, head_sha=fake_github.head_sha(h.REPO, pr), name="modelbot/compare") == []
    assert "Model comparison" not in report(fake_github, number)


def test_comparison_shows_progress_then_completes_in_one_run(bot, fake_github):
    number = open_pr(fake_github, files())
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    pr = fake_github.pull(h.REPO, number)
    runs = fake_github.check_runs_for(h.REPO, head_sha=fake_github.head_sha(h.REPO, pr), name="modelbot/compare")
    assert len(runs) == 1 and runs[0].status == "completed"  # the in_progress run was completed, not doubled
    posts = [c for c in fake_github.requests("POST", r"/check-runs$") if (c.json or {}).get("name") == "modelbot/compare"]
    assert posts[0].json["status"] == "in_progress" and "Comparing with the model in production" in str(posts[0].json)
    patches = fake_github.requests("PATCH", rf"/check-runs/{runs[0].id}$")
    assert patches and patches[-1].json["conclusion"] == "success"


def test_a_pr_without_validation_gets_a_passing_compare_check(bot, fake_github):
    plain = h.manifest(dataset=h.REPO_DATASET, predictions=h.PIPELINE)
    plain = plain[:plain.index("validation:")] + plain[plain.index("environments:"):]
    number = open_pr(fake_github, {h.PATH: plain})
    bot.deliver("pull_request", bot.pr_event("opened", h.REPO, number))
    run = compare_run(fake_github, number)
    assert (run.conclusion, run.title) == ("success", "No model comparison configured")
