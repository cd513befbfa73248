"""Drift end to end: endpoints deployed through the bot, then changed, broken or deleted behind its
back in the SageMaker emulator; the worker's drift cycle reports them in one issue per repository,
edits it as they change, and closes it once everything matches again."""

from __future__ import annotations

import json

from bot.app.features.drift import drift_cycle
from bot.app.services.drift import MARKER, reconcile
from bot.core.errors import LiveUnavailable
from tests.aws.test_merge_to_deploy import REPO, bot, drive, manifest, merge, sm  # noqa: F401 - bot: the fixture

PATH = "models/fraud/modelbot.yaml"
OWNERS = next(line.strip() for line in manifest().splitlines() if line.strip().startswith("owners:"))


def deploy(bot, text, number):
    text = text.replace(OWNERS, "owners: [bob]")  # bob approves each PR (the base owners of the manifest)
    _, payload = merge(bot, {PATH: text}, number)
    assert bot.deliver("pull_request", payload) == "done"
    drive(bot)
    rows = bot.store.deployments(repository=REPO)
    assert [d.status for d in rows][-2:] == ["succeeded", "succeeded"], [d.reason for d in rows[-2:]]


def drift_issue(bot):
    issues = [i for i in bot.github.repo(REPO).issues.values() if not i.is_pull and MARKER in (i.body or "")]
    assert len(issues) <= 1
    return issues[0] if issues else None


def test_a_change_behind_the_bots_back_is_reported_then_cleared(bot):
    deploy(bot, manifest(), 71)
    assert [len(r.findings) for r in reconcile(bot.runtime)] == [0]
    assert drift_issue(bot) is None  # nothing differs: no issue

    staging = sm(bot)
    staging.update_endpoint_weights_and_capacities(EndpointName="fraud-detector-staging", DesiredWeightsAndCapacities=[
        {"VariantName": "AllTraffic", "DesiredInstanceCount": 3}])
    staging.describe_endpoint(EndpointName="fraud-detector-staging")  # the emulator's tick: InService again
    [result] = reconcile(bot.runtime)
    assert [(f.environment, f.kind) for f in result.findings] == [("staging", "changed_outside")]
    issue = drift_issue(bot)
    assert issue.state == "open" and result.issue == issue.number and result.issue_action == "created"
    assert "AllTraffic.instance_count: 3 live, 1 declared" in issue.body
    assert "`/rollback staging to " in issue.body and "on #71" in issue.body
    [kept] = bot.store.drift_findings(REPO)  # the same finding for the status UI, with the issue's texts
    assert (kept.environment, kept.kind) == ("staging", "changed_outside") and kept.fix in issue.body
    assert kept.change_list == list(result.findings[0].changes) and kept.detail in issue.body
    assert [(c.repository, c.issue) for c in bot.store.drift_checks()] == [(REPO, issue.number)]

    # the next cycle with the same drift writes nothing
    before = len(bot.github.calls)
    [again] = reconcile(bot.runtime)
    assert again.issue_action == "unchanged"
    assert not [r for r in bot.github.calls[before:] if r.method != "GET"]

    # a cycle that reads nothing of staging (AWS refuses) saw no drift there, and knows none went:
    # the issue and the UI's findings stay as they are
    real = bot.runtime.live_reader

    def blind(environment, endpoint):
        if environment == "staging":
            raise LiveUnavailable("staging: AWS refused the read")
        return real(environment, endpoint)

    bot.runtime._live_reader = blind
    [blinded] = reconcile(bot.runtime)
    bot.runtime._live_reader = real
    assert blinded.findings == [] and blinded.unreadable and blinded.issue_action is None
    assert [f.kind for f in bot.store.drift_findings(REPO)] == ["changed_outside"]

    # the endpoint deleted outside modelbot: the issue is edited to say so
    staging.delete_endpoint(EndpointName="fraud-detector-staging")
    for _ in range(5):
        try:
            staging.describe_endpoint(EndpointName="fraud-detector-staging")
        except staging.exceptions.ClientError:
            break
    [gone] = reconcile(bot.runtime)
    assert [(f.environment, f.kind) for f in gone.findings] == [("staging", "missing")]
    assert gone.issue_action == "edited" and "no longer exists in AWS" in drift_issue(bot).body
    assert [f.kind for f in bot.store.drift_findings(REPO)] == ["missing"]

    # repaired through the bot (a new PR redeploys): the issue is closed
    deploy(bot, manifest().replace("b-7", "b-8"), 171)  # (a number the drift issue did not take)
    [clean] = reconcile(bot.runtime)
    assert clean.findings == [] and clean.issue_action == "closed"
    assert drift_issue(bot).state == "closed"
    assert bot.store.drift_findings(REPO) == [] and bot.store.drift_checks()[0].checked == clean.checked
    kinds = [json.loads(e.data)["kind"] for e in bot.store.ledger(repository=REPO) if e.kind == "drift"]
    assert kinds == ["changed_outside", "missing"]
    assert any(e.kind == "drift_cleared" for e in bot.store.ledger(repository=REPO))
    assert not bot.github.violations


def test_the_cycle_runs_once_per_interval_across_workers(bot):
    deploy(bot, manifest(), 73)
    assert drift_cycle(bot.runtime) == 0
    before = len(bot.github.calls)
    assert drift_cycle(bot.runtime) == 0  # within the interval: no cycle, no request
    assert len(bot.github.calls) == before
