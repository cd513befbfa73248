"""Bypasses of the deploy gate found by attacking it from outside, each refused: the live model
stays the one the rules let through (an `EVIL` artifact never reaches the endpoint)."""

from __future__ import annotations

from tests.aws.test_deploy_gate import (CHURN, REPO, approve, churn, comment, make_bot, manifest, merge, open_pr,
                                        rows_of, ship)
from tests.aws.test_merge_to_deploy import PATH, drive

EVIL = "s3://acme-models/fraud-detector/EVIL/model.tar.gz"


def evil(text: str) -> str:
    return text.replace("s3://acme-models/fraud-detector/2024-06-01/model.tar.gz", EVIL)


command = comment


def model_uri(bot, endpoint, env="production"):
    from tests.aws.test_deploy_gate import sm
    s = sm(bot, env)
    cfg = s.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    model = s.describe_endpoint_config(EndpointConfigName=cfg)["ProductionVariants"][0]["ModelName"]
    return s.describe_model(ModelName=model)["PrimaryContainer"].get("ModelDataUrl")


# An attacker's own branch as base: its owners would approve, and branch protection on main never sees it.
def test_pr_merged_into_attacker_controlled_branch_does_not_deploy(aws, bot_env, store, queue, fake_github, tmp_path):
    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path)
    ship(bot, 50, {PATH: manifest(approvals=1)}, "bob")          # production owned by fraud-ml (bob), 1 approval
    good = model_uri(bot, "fraud-detector")
    # alice (write) pushes her own branch (no PR, nobody reviews it): she and dave own the manifest there
    base = manifest(approvals=1).replace('owners: ["@acme/fraud-ml", alice]', "owners: [dave]")
    assert base != manifest(approvals=1)
    bot.github.commit(REPO, "alice-base", {PATH: base}, author="alice")
    bot.github.commit(REPO, "alice-head", {PATH: evil(base)}, author="alice", parent=bot.github.repo(REPO).branches["alice-base"])
    bot.github.open_pull_request(REPO, "alice-head", "alice-base", number=51, user="alice")
    bot.deliver("pull_request", bot.pr_event("opened", REPO, 51))
    approve(bot, 51, "dave")                                    # dave: read-only, owns nothing on main
    merge(bot, 51)                                              # merged into alice-base, not main
    assert model_uri(bot, "fraud-detector") == good, rows_of(bot, 51)["production"].status


# An owner, through a team, requests changes: that blocks, as an owner's own review would.
def test_team_owner_changes_requested_blocks(aws, bot_env, store, queue, fake_github, tmp_path):
    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path)
    fake_github.add_team_member("acme", "fraud-ml", "frank")
    ship(bot, 50, {PATH: manifest(approvals=1)}, "bob")
    good = model_uri(bot, "fraud-detector")
    open_pr(bot, 51, {PATH: evil(manifest(approvals=1))})
    bot.github.add_review(REPO, 51, "frank", "CHANGES_REQUESTED")  # an owner (team acme/fraud-ml) says no
    approve(bot, 51, "bob")
    from tests.aws.test_deploy_gate import latest
    check = latest(bot, "modelbot/approval")
    merge(bot, 51)
    assert check.conclusion == "failure", check.summary
    assert model_uri(bot, "fraud-detector") == good


# Rename a manifest away, then add a new file at its old path: the new file does not inherit the endpoint.
def test_rename_then_readd_cannot_take_over_an_endpoint(aws, bot_env, store, queue, fake_github, tmp_path):
    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path)
    c = churn(approvals=1)
    ship(bot, 50, {CHURN: c}, "bob")
    ship(bot, 51, {CHURN: c.replace("owners: [\"@acme/churn-ml\", alice]", "owners: [\"@acme/churn-ml\"]")},
         "erin")  # now owned by churn-ml (erin) only
    good = model_uri(bot, "churn")
    owned = c.replace("owners: [\"@acme/churn-ml\", alice]", "owners: [\"@acme/churn-ml\"]")
    # step 1: a pure rename (GitHub: status renamed); approved by bob, a default owner only
    open_pr(bot, 52, {CHURN: None, "models/churn-old/modelbot.yaml": owned})
    approve(bot, 52, "bob")
    merge(bot, 52)
    # step 2: a "new" manifest at the old path, pointing at the old endpoint; again bob approves
    open_pr(bot, 53, {CHURN: owned.replace("s3://acme-models/churn/2024-06-01/model.tar.gz", EVIL)})
    approve(bot, 53, "bob")
    merge(bot, 53)
    assert "erin" not in [r.user.login for r in bot.github.repo(REPO).reviews if r.number in (52, 53)]
    from tests.aws.test_deploy_gate import latest
    checks = {n: latest(bot, n, bot.github.repo(REPO).issues[53].frozen_head_sha).conclusion
              for n in ("modelbot/validate", "modelbot/approval")}
    assert model_uri(bot, "churn") == good, (checks, rows_of(bot, 53)["production"].status)


# Staging and production reach the same account and region: staging may not deploy production's endpoint.
def test_staging_cannot_overwrite_the_production_endpoint(aws, bot_env, store, queue, fake_github, tmp_path):
    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path)
    ship(bot, 50, {PATH: manifest(approvals=1)}, "bob")
    good = model_uri(bot, "fraud-detector")
    attack = evil(manifest(approvals=1)).replace("endpoint_name: fraud-detector-staging", "endpoint_name: fraud-detector")
    open_pr(bot, 51, {PATH: attack})  # no approval at all
    command(bot, 51, "/deploy staging", "alice")
    drive(bot)
    assert model_uri(bot, "fraud-detector") == good, [(r.environment, r.status, r.reason) for r in rows_of(bot, 51).values()]
    assert "staging" not in rows_of(bot, 51)  # the command saw the ownership error; the gate would too
    [run] = [r for r in bot.github.check_runs_for(REPO, name="modelbot/validate")
             if any("in production" in a["message"] for a in r.annotations)][-1:]
    assert run.conclusion == "failure"


# /rollback production to the id of a staging deployment of an unmerged head: only the same endpoint's past.
def test_rollback_to_a_staging_deployment_of_an_unmerged_head(aws, bot_env, store, queue, fake_github, tmp_path):
    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path)
    text = (tmp_path / "modelbot.yaml").read_text()
    assert "region: us-east-1\n    aws_role_arn" in text
    (tmp_path / "modelbot.yaml").write_text(text.replace("region: us-east-1\n    aws_role_arn",
                                                          "region: us-west-2\n    aws_role_arn", 1))
    from bot.core.config import load_settings
    from tests.support.harness import Harness
    from bot.adapters.aws.live import AwsLiveReader
    from tests.conftest import SECRET
    settings = load_settings({**bot_env, "MODELBOT_CONFIG": str(tmp_path / "modelbot.yaml")})
    bot = Harness(settings, store, queue, fake_github, live_reader=AwsLiveReader(settings.server.environments),
                  secret=SECRET)
    same = manifest(approvals=1).replace("endpoint_name: fraud-detector-staging", "endpoint_name: fraud-detector")
    ship(bot, 50, {PATH: same}, "bob")
    good = model_uri(bot, "fraud-detector")
    open_pr(bot, 51, {PATH: evil(same)})
    command(bot, 51, "/deploy staging", "alice")  # staging: 0 approvals, pre-merge
    drive(bot)
    staged = rows_of(bot, 51)["staging"]
    assert staged.status == "succeeded", staged.reason
    reply = command(bot, 50, f"/rollback production to {staged.id}", "frank")  # maintain
    drive(bot)
    rb = [r for r in bot.store.deployments(repository=REPO) if r.trigger == "rollback"]
    assert model_uri(bot, "fraud-detector") == good, (reply, [(r.environment, r.commit_sha, r.status) for r in rb])


# Someone who pushed the change to another's pull request cannot approve it.
def test_the_pusher_of_the_change_cannot_approve_it(aws, bot_env, store, queue, fake_github, tmp_path):
    bot = make_bot(aws, bot_env, store, queue, fake_github, tmp_path)
    ship(bot, 50, {PATH: manifest(approvals=1)}, "bob")
    good = model_uri(bot, "fraud-detector")
    open_pr(bot, 51, {"README.md": "typo\n"})                     # alice: harmless
    bot.github.commit(REPO, "change-51", {PATH: evil(manifest(approvals=1))}, author="bob")  # bob pushes
    bot.deliver("pull_request", bot.pr_event("synchronize", REPO, 51))
    approve(bot, 51, "bob")                                       # ...and approves his own change
    merge(bot, 51)
    assert model_uri(bot, "fraud-detector") == good
