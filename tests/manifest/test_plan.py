"""Plans: what a deploy would do, from the manifest environment and what is live."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.manifest import load_manifest
from bot.core.manifest.aws_limits import NAME_RE
from bot.core.plan import (DeploySpec, LiveAutoscaling, LiveState, LiveVariant, bounded_name, live_after,
                      plan, resource_names)

from .helpers import doc

ROOT = Path(__file__).resolve().parents[2]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PRICES = {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.c5.2xlarge": 0.408}


def manifest(env_body: str, mode: str = "realtime", **sections):
    body = "".join(f"    {line}\n" for line in env_body.strip("\n").split("\n"))
    text = doc(environments=f"environments:\n  production:\n    mode: {mode}\n{body}", **sections)
    result = load_manifest("models/fraud/modelbot.yaml", text)
    assert result.ok, [p.format() for p in result.problems]
    return result.manifest


def spec(env_body: str, mode: str = "realtime", **kw) -> DeploySpec:
    return DeploySpec(manifest(env_body, mode), "production", COMMIT, **kw)


def live(*variants: LiveVariant, status: str = "InService") -> LiveState:
    return LiveState(True, "fraud-production", status, "fraud-production-1111111", "old-config",
                     variants)


SERVERLESS = ("serverless: {memory_mb: 2048, max_concurrency: 5}\n"
              "strategy: {type: all_at_once, acknowledge_no_guardrails: true}")
OLD = LiveVariant("AllTraffic", "fraud-production-1111111", "ml.m5.large", 4, 1.0, model_digest="old")
M5x4 = "instance_type: ml.m5.large\ninstance_count: 4\n"


# --- names ----------------------------------------------------------------------------------------


def test_names_are_deterministic_and_within_aws_limits():
    names = resource_names("fraud", "production", COMMIT, "fraud-production")
    assert (names.model, names.endpoint_config, names.endpoint) == (
        "fraud-production-0123456", "fraud-production-0123456", "fraud-production")
    assert resource_names("fraud", "production", COMMIT.upper()) == resource_names("fraud", "production", COMMIT)


@pytest.mark.parametrize("model", ["m" * 63, "a-" * 31 + "b", "x" * 40 + "-" + "y" * 22])
def test_long_names_are_cut_with_a_hash(model):
    a = bounded_name(model, "production", "0123456")
    b = bounded_name(model[:-1] + "z", "production", "0123456")
    assert len(a) <= 63 and NAME_RE.match(a) and a.endswith("-production-0123456")
    assert a != b


@pytest.mark.parametrize("commit", ["", "abc", "not-a-sha", "g123456", "0123456/x"])
def test_bad_commits_are_refused(commit):
    with pytest.raises(ValueError):
        resource_names("m", "e", commit)


# --- first deploy, update, no-op ------------------------------------------------------------------


def test_first_deploy_creates_model_config_and_endpoint():
    p = plan(spec(M5x4), LiveState(), PRICES)
    assert p.kind == "create"
    assert [(a.verb, a.resource, a.name) for a in p.actions] == [
        ("create", "model", "fraud-production-0123456"),
        ("create", "endpoint_config", "fraud-production-0123456"),
        ("create", "endpoint", "fraud-production")]
    assert [s.candidate_percent for s in p.traffic_steps] == [100.0]
    assert (p.cost.before_per_hour, p.cost.after_per_hour, p.cost.delta_per_hour) == (0.0, 0.46, 0.46)
    assert p.headline == "create endpoint fraud-production (realtime; AllTraffic: 4 x ml.m5.large)"
    assert p.tags["modelbot:commit"] == COMMIT and p.tags["modelbot:build-id"] == "build-1"


@pytest.mark.parametrize("strategy", [
    "{type: canary, canary_size: {type: capacity_percent, value: 25}, wait_interval_seconds: 60}",
    "{type: ab, weights: {current: 9, candidate: 1}}",
    "{type: shadow, sampling_percentage: 10}",
])
def test_first_deploy_notes_that_the_strategy_applies_later(strategy):
    p = plan(spec(M5x4 + f"strategy: {strategy}"), LiveState(), PRICES)
    assert p.kind == "create" and len(p.variants) == 1
    assert any("first deploy" in n for n in p.notes)


def test_update_blue_green_shifts_all_at_once_and_bakes():
    p = plan(spec(M5x4 + "strategy: {type: blue_green, termination_wait_seconds: 600}"), live(OLD), PRICES)
    assert p.kind == "update"
    assert [(a.verb, a.resource) for a in p.actions] == [
        ("create", "model"), ("create", "endpoint_config"), ("update", "endpoint")]
    assert [(s.candidate_percent, s.wait_seconds) for s in p.traffic_steps] == [(100.0, 600)]
    assert (p.cost.before_per_hour, p.cost.after_per_hour, p.cost.peak_per_hour) == (0.46, 0.46, 0.92)
    assert p.problems == ()


CANARY = "strategy: {type: canary, canary_size: %s, wait_interval_seconds: 300, termination_wait_seconds: 900}"
LINEAR = "strategy: {type: linear, linear_step: %s, wait_interval_seconds: 120, termination_wait_seconds: 600}"
ROLLING = "strategy: {type: rolling, max_batch_size: %s, wait_interval_seconds: 60}"


@pytest.mark.parametrize("strategy, steps", [
    (CANARY % "{type: capacity_percent, value: 10}", [(25, 300), (100, 900)]),  # 1 of 4 instances
    (CANARY % "{type: instance_count, value: 1}", [(25, 300), (100, 900)]),
    (CANARY % "{type: instance_count, value: 2}", [(50, 300), (100, 900)]),
    (LINEAR % "{type: capacity_percent, value: 20}", [(25, 120), (50, 120), (75, 120), (100, 600)]),
    (LINEAR % "{type: capacity_percent, value: 30}", [(50, 120), (100, 600)]),  # 2 of 4 a step
    (LINEAR % "{type: capacity_percent, value: 50}", [(50, 120), (100, 600)]),
    (LINEAR % "{type: instance_count, value: 1}", [(25, 120), (50, 120), (75, 120), (100, 600)]),
    (ROLLING % "{type: instance_count, value: 1}", [(25, 60), (50, 60), (75, 60), (100, 60)]),
    (ROLLING % "{type: capacity_percent, value: 50}", [(50, 60), (100, 60)]),
    ("strategy: {type: blue_green}", [(100, 0)]),
])
def test_traffic_steps_and_bake_times(strategy, steps):
    p = plan(spec(M5x4 + strategy), live(OLD), PRICES)
    assert [(s.candidate_percent, s.wait_seconds) for s in p.traffic_steps] == steps
    assert p.total_wait_seconds == sum(w for _, w in steps)
    assert all(s.description for s in p.traffic_steps)


def test_ab_keeps_the_current_model_beside_the_candidate():
    p = plan(spec(M5x4 + "strategy: {type: ab, weights: {current: 90, candidate: 10}, "
                  "candidate_variant_name: challenger}"), live(OLD), PRICES)
    assert [(v.name, v.role, v.model_name, v.weight) for v in p.variants] == [
        ("AllTraffic", "current", "fraud-production-1111111", 0.9),
        ("challenger", "candidate", "fraud-production-0123456", 0.1)]
    assert [s.candidate_percent for s in p.traffic_steps] == [10.0]
    assert p.cost.after_per_hour == 0.92  # both fleets run during the test
    assert [c.what for c in p.instance_changes] == ["challenger"]
    assert "no guardrails" in p.actions[-1].detail


def test_shadow_copies_a_sample_to_the_candidate():
    p = plan(spec(M5x4 + "strategy: {type: shadow, sampling_percentage: 30}"), live(OLD), PRICES)
    assert [(v.name, v.role, v.weight) for v in p.variants] == [
        ("AllTraffic", "production", 1.0), ("shadow", "shadow", 0.3)]
    assert [s.candidate_percent for s in p.traffic_steps] == [0.0]
    assert "30%" in p.traffic_steps[0].description
    assert "promotion waits" not in p.traffic_steps[0].description  # no judge: /promote decides


def test_the_plan_says_which_judges_decide_a_promotion():
    judged = ("strategy: {type: shadow, sampling_percentage: 30, experiment: {task: regression, "
              "max_abs_error_p99: 0.1, promote_after_minutes: 60}, canary_judge: {metrics: [error_rate]}}\n"
              "data_capture: {destination: s3://acme-capture/x/}")
    p = plan(spec(M5x4 + judged), live(OLD), PRICES)
    text = p.traffic_steps[0].description
    assert ("promotion waits for the shadow judge (regression, 500 paired answers) and the operational judge "
            "(error_rate), a failing judge rolls back, a pass promotes by itself after 60 min") in text


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.yaml")))
def test_replanning_after_a_deploy_changes_nothing(example):
    m = load_manifest(example, (ROOT / "examples" / example).read_text()).manifest
    for env in m.environments:
        s = DeploySpec(m, env, COMMIT)
        first = plan(s, LiveState(), PRICES)
        again = plan(s, live_after(first, s), PRICES)
        if first.kind == "run_batch":
            assert again.kind == "run_batch"
            continue
        assert again.kind == "no_changes", (env, again.actions)
        assert again.actions == () and not again.has_changes
        assert again.headline.startswith("no changes")


def test_same_model_new_size_reuses_the_model():
    s = spec(M5x4)
    now_live = live_after(plan(s, LiveState(), PRICES), s)
    bigger = spec("instance_type: ml.m5.xlarge\ninstance_count: 2\n")
    p = plan(bigger, now_live, PRICES)
    assert p.kind == "update"
    assert [a.resource for a in p.actions] == ["endpoint_config", "endpoint"]
    assert any("reusing fraud-production-0123456" in n for n in p.notes)
    assert [(c.what, c.before, c.after) for c in p.instance_changes] == [
        ("AllTraffic.instance_type", "ml.m5.large", "ml.m5.xlarge"),
        ("AllTraffic.instance_count", 4, 2)]
    assert p.cost.delta_per_hour == 0.0


def test_autoscaling_only_change_touches_only_autoscaling():
    s = spec(M5x4 + "autoscaling: {min_capacity: 2, max_capacity: 6, target_invocations_per_instance: 100}")
    now_live = live_after(plan(s, LiveState(), PRICES), s)
    s2 = spec(M5x4 + "autoscaling: {min_capacity: 2, max_capacity: 8, target_invocations_per_instance: 100}")
    p = plan(s2, now_live, PRICES)
    assert p.kind == "update" and p.traffic_steps == ()
    assert [(a.verb, a.resource) for a in p.actions] == [("register", "autoscaling")]
    assert [(c.what, c.before, c.after) for c in p.autoscaling_changes] == [
        ("AllTraffic.autoscaling.max_capacity", 6, 8)]
    assert p.cost.max_per_hour == round(0.115 * 8, 4)


def test_removing_autoscaling_deregisters_it():
    variant = LiveVariant("AllTraffic", "m", "ml.m5.large", 4, autoscaling=LiveAutoscaling(2, 6, 100.0))
    p = plan(spec(M5x4), live(variant), PRICES)
    assert ("deregister", "autoscaling", "endpoint/fraud-production/variant/AllTraffic") in [
        (a.verb, a.resource, a.name) for a in p.actions]


def test_async_scale_to_zero_adds_the_backlog_alarm():
    text = (ROOT / "examples" / "async-scale-to-zero.yaml").read_text()
    m = load_manifest("a.yaml", text).manifest
    p = plan(DeploySpec(m, "production", COMMIT), LiveState(), PRICES)
    assert [(a.verb, a.resource) for a in p.actions][-3:] == [
        ("register", "autoscaling"), ("create", "alarm"), ("register", "scaling_policy")]
    assert "ApproximateBacklogSizePerInstance" in p.actions[-3].detail
    assert any("scales to zero" in n for n in p.cost.notes)


# --- checks against what is live -----------------------------------------------------------------


def test_guarded_update_needs_the_live_variant_names():
    renamed = LiveVariant("primary", "m", "ml.m5.large", 4, model_digest="old")
    p = plan(spec(M5x4 + CANARY % "{type: capacity_percent, value: 10}"), live(renamed), PRICES)
    [problem] = p.problems
    assert problem.rule == "aws.guardrail-variant-names" and problem.is_error and p.blocked
    assert "live has primary" in problem.message and problem.expected == "variant_name: primary"
    assert problem.path == "models/fraud/modelbot.yaml"


def test_unguarded_blue_green_may_rename_variants():
    renamed = LiveVariant("primary", "m", "ml.m5.large", 4, model_digest="old")
    assert plan(spec(M5x4), live(renamed), PRICES).problems == ()


def test_rolling_refuses_a_multi_variant_live_endpoint():
    other = LiveVariant("candidate", "m2", "ml.m5.large", 1, 0.1)
    p = plan(spec(M5x4 + ROLLING % "{type: instance_count, value: 1}"), live(OLD, other), PRICES)
    assert "aws.rolling" in {q.rule for q in p.problems}


@pytest.mark.parametrize("status, severity", [("Updating", "warning"), ("RollingBack", "warning"),
                                              ("Failed", "error"), ("UpdateRollbackFailed", "error")])
def test_endpoint_status_is_reported(status, severity):
    p = plan(spec(M5x4), live(OLD, status=status), PRICES)
    assert [(q.rule, q.severity) for q in p.problems] == [("live.endpoint-status", severity)]


def test_registry_model_must_be_approved():
    m = manifest(M5x4, model="model:\n  registry: {model_package_arn: "
                 "'arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/3'}\n")
    p = plan(DeploySpec(m, "production", COMMIT), LiveState(), PRICES)
    assert (p.actions[0].verb, p.actions[0].resource) == ("check", "model_package")
    assert any("must have ModelApprovalStatus Approved" in n for n in p.notes)


# --- teardown, batch, cost ------------------------------------------------------------------------


def test_deleted_manifest_plans_a_teardown_that_needs_approval():
    variant = LiveVariant("AllTraffic", "fraud-production-1111111", "ml.m5.large", 4,
                          autoscaling=LiveAutoscaling(2, 6, 100.0))
    p = plan(spec(M5x4, deleted=True), live(variant), PRICES)
    assert p.kind == "teardown" and p.requires_explicit_approval
    assert [(a.verb, a.resource) for a in p.actions] == [
        ("deregister", "autoscaling"), ("delete", "endpoint"), ("delete", "endpoint_config"),
        ("delete", "model")]
    assert (p.cost.before_per_hour, p.cost.after_per_hour, p.cost.delta_per_hour) == (0.46, 0.0, -0.46)
    assert p.headline == "tear down endpoint fraud-production (needs explicit approval)"


def test_deleted_manifest_with_nothing_live_changes_nothing():
    p = plan(spec(M5x4, deleted=True), LiveState(), PRICES)
    assert p.kind == "no_changes" and not p.requires_explicit_approval


def test_batch_runs_a_transform_job():
    m = load_manifest("b.yaml", (ROOT / "examples" / "batch-transform.yaml").read_text()).manifest
    p = plan(DeploySpec(m, "production", COMMIT), LiveState(), {"ml.m5.4xlarge": 0.922})
    assert p.kind == "run_batch" and p.names.endpoint is None
    assert [(a.verb, a.resource, a.name) for a in p.actions] == [
        ("create", "model", "credit-scorer-production-0123456"),
        ("run", "transform_job", "credit-scorer-production-0123456")]
    assert "join input" in p.actions[1].detail
    assert p.cost.usage_based and "$1.844/hour while the job runs" in p.cost.notes[0]


def test_unknown_prices_and_serverless_are_noted_not_guessed():
    p = plan(spec("instance_type: ml.p4d.24xlarge\ninstance_count: 1"), LiveState(), PRICES)
    assert p.cost.after_per_hour is None and p.cost.delta_per_hour is None
    assert "no price known for ml.p4d.24xlarge" in p.cost.notes
    s = plan(spec(SERVERLESS, "serverless"), LiveState(), PRICES)
    assert s.cost.usage_based and s.cost.after_per_hour == 0.0


def test_dropping_a_shadow_variant_is_listed():
    shadow = LiveVariant("shadow", "fraud-production-2222222", "ml.m5.large", 1, 0.3, shadow=True)
    p = plan(spec(M5x4), live(OLD, shadow), PRICES)
    assert any(n == "variants removed by this update: shadow" for n in p.notes)
    assert ("shadow", "1 x ml.m5.large", None) in [(c.what, c.before, c.after) for c in p.instance_changes]


def test_a_drifted_config_from_the_same_commit_blocks_the_deploy():
    drifted = LiveState(True, "fraud-production", "InService", "fraud-production-0123456", "other",
                        (OLD,))
    p = plan(spec(M5x4), drifted, PRICES)
    assert [q.rule for q in p.problems] == ["live.config-name-taken"] and p.blocked


def test_plan_problems_point_at_the_manifest():
    text = doc(environments="environments:\n  production:\n    mode: realtime\n"
                            "    instance_type: ml.m5.large\n    instance_count: 4\n")
    m = load_manifest("models/fraud/modelbot.yaml", text).manifest
    [p] = plan(DeploySpec(m, "production", COMMIT), live(OLD, status="Failed"), PRICES).problems
    assert (p.path, p.line, p.column, p.field) == ("models/fraud/modelbot.yaml", 14, 3,
                                                   "environments.production")


# --- what AWS refuses or does differently on a live endpoint (issue #12) -------------------------


def _at(p, rule):
    hits = [x for x in p.problems if x.rule == rule]
    assert hits, [x.format() for x in p.problems]
    return hits[0]


def test_an_instance_based_endpoint_cannot_become_serverless():
    p = plan(spec(SERVERLESS, "serverless"), live(OLD), PRICES)
    problem = _at(p, "aws.mode-switch")
    assert p.blocked and problem.field == "environments.production.mode"
    text = doc(environments="environments:\n  production:\n    mode: serverless\n")
    assert text.splitlines()[problem.line - 1].strip() == "mode: serverless"  # located on its line
    assert "ValidationError" in problem.message and "serverless" in problem.message
    assert "new endpoint_name" in problem.expected and "tear the endpoint down" in problem.expected


def test_a_serverless_endpoint_may_move_to_instances():
    live_serverless = LiveState(True, "fraud-production", "InService", "c1", "d", (LiveVariant(
        "AllTraffic", "m1", serverless_memory_mb=2048, serverless_max_concurrency=5),))
    p = plan(spec(M5x4), live_serverless, PRICES)
    assert not [x for x in p.problems if x.rule == "aws.mode-switch"]


def test_async_config_cannot_be_added_to_or_removed_from_a_live_endpoint():
    sync_live = LiveState(True, "fraud-production", "InService", "c1", "d", (OLD,), async_inference=False)
    added = plan(spec(M5x4 + "async: {output_path: s3://acme-out/x/}", "async"), sync_live, PRICES)
    problem = _at(added, "aws.mode-switch")
    assert added.blocked and problem.field == "environments.production.async"
    assert "cannot be added" in problem.message
    async_live = LiveState(True, "fraud-production", "InService", "c1", "d", (OLD,), async_inference=True)
    removed = plan(spec(M5x4), async_live, PRICES)
    problem = _at(removed, "aws.mode-switch")
    assert removed.blocked and "cannot be removed" in problem.message
    assert not plan(spec(M5x4), sync_live, PRICES).blocked


def test_live_after_records_the_async_config():
    s = spec(M5x4 + "async: {output_path: s3://acme-out/x/}", "async")
    after = live_after(plan(s, LiveState(), PRICES), s)
    assert after.async_inference is True
    assert plan(s, after, PRICES).kind == "no_changes"


def test_serverless_update_says_it_goes_all_at_once_without_guardrails():
    s = spec(SERVERLESS.replace("max_concurrency: 5", "max_concurrency: 6"), "serverless")
    live_serverless = LiveState(True, "fraud-production", "InService", "c1", "d", (LiveVariant(
        "AllTraffic", "m1", serverless_memory_mb=2048, serverless_max_concurrency=5),))
    p = plan(s, live_serverless, PRICES)
    assert not p.blocked, [x.format() for x in p.problems]
    [update] = [a for a in p.actions if a.resource == "endpoint" and a.verb == "update"]
    assert "without DeploymentConfig" in update.detail
    assert [(t.candidate_percent, t.wait_seconds) for t in p.traffic_steps] == [(100.0, 0)]
    assert any("do not apply to serverless endpoints" in n for n in p.notes)


def test_inf1_all_at_once_names_the_bot_driven_alternative():
    body = ("instance_type: ml.inf1.xlarge\ninstance_count: 2\n"
            "strategy: {type: all_at_once, acknowledge_no_guardrails: true}")
    p = plan(spec(body), live(OLD), PRICES)
    note = next(n for n in p.notes if "Inf1" in n)
    assert "strategy ab" in note and "no alarm rollback" in note


def test_a_percent_canary_states_its_real_size_in_whole_instances():
    body = ("instance_type: ml.m5.large\ninstance_count: 2\n"
            "strategy: {type: canary, canary_size: {type: capacity_percent, value: 10}, "
            "wait_interval_seconds: 60}")
    p = plan(spec(body), live(OLD), PRICES)
    first = p.traffic_steps[0]
    assert first.candidate_percent == 50.0
    assert "1 of 2 instance(s)" in first.description and "rounds up" in first.description
