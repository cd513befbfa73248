"""The PR report and the validate check run, through the signed webhook against the fake GitHub."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import load_settings
from bot.core.plan import LiveState, LiveVariant
from bot.core.report import COMMENT_LIMIT, part_of
from tests.conftest import ROOT, SECRET
from tests.support.harness import Harness

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
REPO = "acme/models"
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()


@pytest.fixture
def installation(fake_github):
    inst = fake_github.add_installation("acme").id
    fake_github.add_repo(REPO, {"README.md": "models\n", "models/old/modelbot.yaml": MINIMAL.replace("churn", "old")},
                         installation_id=inst)
    return inst


def make_harness(bot_env, store, queue, fake, config: Path | None = None) -> Harness:
    env = dict(bot_env)
    if config:
        env["MODELBOT_CONFIG"] = str(config)
    return Harness(load_settings(env), store, queue, fake, live_reader=None, secret=SECRET)


@pytest.fixture
def bot(bot_env, store, queue, fake_github, installation):
    return make_harness(bot_env, store, queue, fake_github)


def written(fake) -> int:
    """Writes the bot made: POST and PATCH, but for GraphQL queries (POST /graphql reads)."""
    return fake.count("POST", r"^/(?!graphql$)") + fake.count("PATCH")


def open_pr(fake, files, number=7, draft=False, branch="feature"):
    fake.open_pull_request(REPO, branch, files=files, number=number, draft=draft)
    return number


def report_bodies(fake, number):
    bodies = {part_of(c.body): c.body for c in fake.comments_on(REPO, number) if part_of(c.body)}
    return [bodies[k] for k in sorted(bodies)]


def validate_run(fake, number):
    pr = fake.pull(REPO, number)
    runs = fake.check_runs_for(REPO, head_sha=fake.head_sha(REPO, pr), name="modelbot/validate")
    assert runs, "no modelbot/validate check run"
    return runs[-1]


def test_every_example_mode_and_strategy_is_valid_and_planned(bot, fake_github):
    files = {f"models/{p.stem}/modelbot.yaml": p.read_text() for p in EXAMPLES}
    number = open_pr(fake_github, files)
    assert bot.deliver("pull_request", bot.pr_event("opened", REPO, number)) == "done"
    [report] = report_bodies(fake_github, number)
    assert "All changed manifests are valid and within policy" in report
    for p in EXAMPLES:
        assert f"`models/{p.stem}/modelbot.yaml`" in report
    assert "create endpoint fraud-detector" in report
    assert "the canary strategy applies to later updates" in report
    assert "run batch transform" in report and "serverless" in report
    run = validate_run(fake_github, number)
    assert (run.status, run.conclusion) == ("completed", "success")
    assert run.title == f"{len(EXAMPLES)} manifests valid"


BROKEN = {
    "models/yaml/modelbot.yaml": ("apiVersion: modelbot/v1\nkind: [unclosed\n", 3, "yaml"),
    "models/alias/modelbot.yaml": ("a: &x [1]\nb: *x\n", 2, "alias"),
    "models/dupkey/modelbot.yaml": (MINIMAL.replace("  owners: [alice]\n", "  owners: [alice]\n  owners: [bob]\n"),
                                    7, "duplicate"),
    "models/name/modelbot.yaml": (MINIMAL.replace("name: churn", "name: Churn_Model"), 5, "metadata.name"),
    "models/serverless/modelbot.yaml": (MINIMAL.replace("    instance_type: ml.m5.large",
                                                        "    mode_: x\n"), 17, "mode_"),
    "models/tag/modelbot.yaml": (MINIMAL.replace("owners: [alice]", "owners: [alice]\n  tags: {aws:team: x}"),
                                 7, "aws:"),
    "models/python/modelbot.yaml": ("x: !!python/object/apply:os.system ['true']\n", 1, "tag"),
    "models/env/modelbot.yaml": (MINIMAL.replace("  staging:", "  qa:"), 15, "qa"),
}


def test_each_class_of_error_is_reported_on_its_line(bot, fake_github):
    number = open_pr(fake_github, {path: text for path, (text, _, _) in BROKEN.items()})
    assert bot.deliver("pull_request", bot.pr_event("opened", REPO, number)) == "done"
    run = validate_run(fake_github, number)
    assert run.conclusion == "failure"
    annotations = run.annotations
    for path, (_, line, word) in BROKEN.items():
        mine = [a for a in annotations if a["path"] == path]
        assert mine, f"no annotation for {path}"
        assert any(a["start_line"] == line and word.lower() in (a["message"] + a["title"]).lower() for a in mine), (
            path, [(a["start_line"], a["title"], a["message"]) for a in mine])
        assert all(a["annotation_level"] in ("failure", "warning") for a in mine)
    [report] = report_bodies(fake_github, number)
    assert "must be fixed before this can deploy" in report
    for path in BROKEN:
        assert f"`{path}:" in report


def test_policy_violations_name_the_rule_and_where_it_is_configured(bot_env, store, queue, fake_github,
                                                                     installation):
    bot = make_harness(bot_env, store, queue, fake_github, ROOT / "tests" / "fixtures" / "policy.yaml")
    linear = (ROOT / "examples" / "realtime-linear.yaml").read_text()  # ml.c5 instances in production
    number = open_pr(fake_github, {"models/price/modelbot.yaml": linear})
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number))
    run = validate_run(fake_github, number)
    assert run.conclusion == "failure"
    messages = " ".join(a["message"] for a in run.annotations)
    assert "policy.environments.production.allowed_instance_types" in messages
    assert "tests/fixtures/policy.yaml" in messages


def test_a_pr_cannot_widen_policy_from_its_own_head(bot_env, store, queue, fake_github, installation):
    bot = make_harness(bot_env, store, queue, fake_github, ROOT / "tests" / "fixtures" / "policy.yaml")
    linear = (ROOT / "examples" / "realtime-linear.yaml").read_text()
    widened = "policy:\n  environments:\n    production:\n      allowed_instance_types: ['*']\n"
    number = open_pr(fake_github, {"models/price/modelbot.yaml": linear, "config/modelbot.yaml": widened,
                                   ".modelbot.yaml": widened})
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number))
    assert validate_run(fake_github, number).conclusion == "failure"


def test_report_is_edited_in_place_across_pushes_and_redeliveries(bot, fake_github):
    number = open_pr(fake_github, {"models/churn/modelbot.yaml": MINIMAL.replace("name: churn", "name: Bad_")})
    opened = bot.pr_event("opened", REPO, number)
    bot.deliver("pull_request", opened, delivery_id="d-open")
    assert validate_run(fake_github, number).conclusion == "failure"
    writes = written(fake_github)

    # GitHub redelivers (same id): nothing happens. A new delivery of the same event: no writes.
    assert bot.deliver("pull_request", opened, delivery_id="d-open") == "duplicate"
    bot.deliver("pull_request", opened)
    assert written(fake_github) == writes

    # A push fixes the manifest: the same comment is edited, a new check run for the new head.
    fake_github.commit(REPO, "feature", {"models/churn/modelbot.yaml": MINIMAL})
    bot.deliver("pull_request", bot.pr_event("synchronize", REPO, number))
    comments = fake_github.comments_on(REPO, number)
    assert len(comments) == 1 and "All changed manifests are valid" in comments[0].body
    assert validate_run(fake_github, number).conclusion == "success"


def test_an_older_delivery_processed_last_does_not_overwrite_the_newer_report(bot, fake_github):
    """The opened run of a PR pushed to since is retried after the synchronize run has reported:
    its report (about the old head) is superseded and never written; its handler still succeeds."""
    number = open_pr(fake_github, {"models/churn/modelbot.yaml": MINIMAL.replace("name: churn", "name: Bad_")})
    old_head = fake_github.head_sha(REPO, fake_github.pull(REPO, number))
    bot.post("pull_request", bot.pr_event("opened", REPO, number), delivery_id="d-opened")
    fake_github.commit(REPO, "feature", {"models/churn/modelbot.yaml": MINIMAL})
    new_head = fake_github.head_sha(REPO, fake_github.pull(REPO, number))
    assert bot.deliver("pull_request", bot.pr_event("synchronize", REPO, number)) == "done"
    assert bot.runtime.process(bot.store.get_delivery("d-opened").id) == "done"
    comments = fake_github.comments_on(REPO, number)
    assert len(comments) == 1 and new_head[:7] in comments[0].body and "All changed manifests are valid" in comments[0].body
    assert not any(old_head[:7] in str(c.json) for c in fake_github.calls if "/comments" in c.path)
    # the older run's own check runs, of its own head, are not superseded by the newer head's
    assert fake_github.check_runs_for(REPO, head_sha=old_head, name="modelbot/validate")[-1].conclusion == "failure"


def test_very_long_reports_are_split_and_shrink_back(bot, fake_github):
    bad = "apiVersion: modelbot/v1\nkind: ModelDeployment\n" + "".join(
        f"unknown_key_{i}_{'x' * 40}: {i}\n" for i in range(60))
    files = {f"models/m{i:03d}/modelbot.yaml": bad for i in range(40)}
    number = open_pr(fake_github, files)
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number))
    bodies = report_bodies(fake_github, number)
    assert len(bodies) >= 2
    assert all(len(b) <= COMMENT_LIMIT for b in bodies)
    assert all(b.count("<details") == b.count("</details>") for b in bodies)
    reported = "".join(bodies)
    for path in files:
        assert f"<code>{path}</code>" in reported  # every manifest is somewhere in the parts
    run = validate_run(fake_github, number)
    assert len(run.annotations) == sum(1 for _ in run.annotations) and len(run.annotations) > 50
    assert len(run.text) <= 65535

    # The PR is fixed down to one manifest: the extra parts are deleted, part 1 is edited.
    fake_github.commit(REPO, "feature", {**{p: None for p in files}, "models/m000/modelbot.yaml": MINIMAL})
    bot.deliver("pull_request", bot.pr_event("synchronize", REPO, number))
    assert len(report_bodies(fake_github, number)) == 1


def test_draft_prs_get_validation_only(bot, fake_github):
    number = open_pr(fake_github, {"models/churn/modelbot.yaml": MINIMAL}, draft=True)
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number, draft=True))
    [report] = report_bodies(fake_github, number)
    assert "Draft pull request: validation only" in report and "create endpoint" not in report
    assert validate_run(fake_github, number).conclusion == "success"
    fake_github.pull(REPO, number).draft = False
    bot.deliver("pull_request", bot.pr_event("ready_for_review", REPO, number))
    [report] = report_bodies(fake_github, number)
    assert "create endpoint churn-staging" in report


def test_a_pr_touching_no_manifest_says_so_without_a_comment(bot, fake_github):
    number = open_pr(fake_github, {"README.md": "new readme\n", "models/churn/train.py": "print()\n"})
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number))
    assert fake_github.comments_on(REPO, number) == []
    run = validate_run(fake_github, number)
    assert (run.conclusion, run.title) == ("success", "No model manifests changed")


def test_a_removed_manifest_plans_a_teardown_needing_explicit_approval(bot, fake_github):
    live = LiveState(endpoint_exists=True, endpoint_name="old-staging", endpoint_status="InService",
                     endpoint_config_name="old-staging-1234567",
                     variants=(LiveVariant("AllTraffic", "old-staging-1234567", "ml.m5.large", 1, 1.0),))
    bot.runtime._live_reader = lambda env, endpoint: live if endpoint == "old-staging" else LiveState()
    number = open_pr(fake_github, {"models/old/modelbot.yaml": None})
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number))
    [report] = report_bodies(fake_github, number)
    assert "(removed)" in report and "tear down endpoint old-staging" in report
    assert "needs explicit approval" in report


def test_reading_manifests_costs_a_bounded_number_of_requests(bot, fake_github):
    files = {f"models/m{i:03d}/modelbot.yaml": MINIMAL.replace("name: churn", f"name: m{i:03d}") for i in range(120)}
    number = open_pr(fake_github, files)
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number))
    # GraphQL reads the files, 100 to a query: 120 manifests at the head in 2, the 120 and the
    # three CODEOWNERS candidates at the base in 2; no file through the contents API, no archive.
    assert fake_github.count("GET", r"/contents/|/git/blobs/|/tarball/|^/_codeload/") == 0
    assert len(fake_github.graphql_calls()) == 4
    manifest_reads = fake_github.requests("*", r"/pulls/\d+/files|^/graphql$")
    assert len(manifest_reads) <= 10, [c.path for c in manifest_reads]
    reads = fake_github.requests("GET") + fake_github.graphql_calls()
    # 14 as before, plus the Branch protection section's two reads of the base branch (classic
    # required_status_checks, and one page of rules/branches). No git tree read: CODEOWNERS is
    # not changed here.
    assert fake_github.count("GET", r"/protection/required_status_checks$|/rules/branches/") == 2
    assert len(reads) <= 16, [c.path for c in reads]


def test_a_pr_on_a_500_mb_repository_gets_its_report_without_the_archive(bot, fake_github):
    # Issue #17 part 5: the archive of a 500 MB repository is over the 200 MB cap. The files come
    # through GraphQL, so the report and the check come as for a tiny repository.
    fake_github.declare_archive_size(REPO, 500 * 1000 * 1000)
    files = {f"models/m{i}/modelbot.yaml": MINIMAL.replace("name: churn", f"name: m{i}") for i in range(5)}
    number = open_pr(fake_github, files)
    bot.deliver("pull_request", bot.pr_event("opened", REPO, number))
    assert report_bodies(fake_github, number)
    assert validate_run(fake_github, number).conclusion == "success"
    assert fake_github.count("GET", r"/tarball/|^/_codeload/") == 0
    # Without GraphQL the archive is the only way, and it is refused (as every refresh was before).
    fake_github.fail_next("POST", r"^/graphql$", 404, times=100)
    fake_github.commit(REPO, "feature", {"models/m0/modelbot.yaml": MINIMAL.replace("name: churn", "name: m0b")})
    with pytest.raises(AssertionError, match=r"is larger than 209,715,200 bytes, the most modelbot downloads"):
        bot.deliver("pull_request", bot.pr_event("synchronize", REPO, number))
