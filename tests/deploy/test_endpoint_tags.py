"""After a rollout the endpoint's tags are the manifest's and modelbot's, and tags that others
put on the endpoint stay (issue #12, item 11: an adopted endpoint keeps its owners' tags)."""

from __future__ import annotations

from tests.deploy.helpers import COMMIT2, example
from tests.deploy.test_executor import CANARY, CANARY_V2, Rollout, _deployed, clients, session  # noqa: F401


def _tags(sm, arn):
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def test_a_removed_manifest_tag_goes_and_a_foreign_tag_stays(session, clients):
    _deployed(session, clients, example(CANARY))
    sm = clients.sagemaker
    arn = sm.describe_endpoint(EndpointName="fraud-detector")["EndpointArn"]
    assert _tags(sm, arn)["cost-center"] == "4711"
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "finops:owner", "Value": "platform"}])

    r = Rollout(session, clients, example(CANARY, {**CANARY_V2, '    cost-center: "4711"\n': ""}),
                "production", COMMIT2)
    assert r.run().action == "succeed"

    tags = _tags(sm, arn)
    assert "cost-center" not in tags             # the bot put it there; the manifest dropped it
    assert tags["finops:owner"] == "platform"    # not the bot's: kept
    assert tags["team"] == "fraud" and tags["modelbot:commit"] == COMMIT2


def test_a_foreign_tag_on_the_endpoint_does_not_make_the_plan_change_anything(session, clients):
    from bot.adapters.aws.live import read_live_state
    from bot.core.plan import DeploySpec, plan
    from tests.deploy.helpers import COMMIT3, PRICES

    _deployed(session, clients, example(CANARY))
    sm = clients.sagemaker
    arn = sm.describe_endpoint(EndpointName="fraud-detector")["EndpointArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "finops:owner", "Value": "platform"}])
    same = plan(DeploySpec(example(CANARY), "production", COMMIT3),
                read_live_state(session, "fraud-detector"), PRICES)
    assert same.kind == "no_changes", same.actions
    dropped = plan(DeploySpec(example(CANARY, {'    cost-center: "4711"\n': ""}), "production", COMMIT3),
                   read_live_state(session, "fraud-detector"), PRICES)
    assert dropped.kind != "no_changes"  # a tag the bot applied, now gone from the manifest
