"""Approval rules: base-branch owners only, the author never counts, the latest review decides,
approvals tie to what was reviewed, an approver for every changed path, holds block."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.core.approvals import Block, Need, Review, StaleApproval, evaluate, render_approvals
from bot.core.codeowners import parse_codeowners

HEAD = "h" * 40
OLD = "0" * 40          # before a push that changed files
SAME_TREE = "5" * 40    # before a push that kept the tree (a rebase, an empty commit)
FRAUD = "models/fraud/modelbot.yaml"
CHURN = "models/churn/modelbot.yaml"
NEW = "models/new/modelbot.yaml"
BASE_OWNERS = {FRAUD: ["@acme/fraud-ml", "alice"], CHURN: ["carol"]}
TEAMS = {"acme/fraud-ml": {"Bob", "dave"}}
CODEOWNERS = parse_codeowners("/models/new/ @acme/platform\n")
T0 = dt.datetime(2024, 6, 1, 12, tzinfo=dt.timezone.utc)


def r(user: str, state: str = "APPROVED", commit: str = HEAD, minute: int = 0) -> Review:
    return Review(user, state, commit, T0 + dt.timedelta(minutes=minute))


def run(reviews, *, paths=(FRAUD,), required=1, author="erin", held=False, owners=None,
        codeowners=None, teams=None, default_owners=()):
    return evaluate(environment="production", required=required, changed_paths=paths,
                    base_manifest_owners=BASE_OWNERS if owners is None else owners,
                    codeowners=codeowners, reviews=reviews, author=author, head_sha=HEAD,
                    tree_unchanged_since={SAME_TREE}, team_members=TEAMS if teams is None else teams,
                    held=held, default_owners=default_owners)


CASES = [
    # id, reviews, kwargs, satisfied, approvers
    ("owner approves", [r("alice")], {}, True, ("alice",)),
    ("login case does not matter", [r("ALICE")], {}, True, ("ALICE",)),
    ("no reviews", [], {}, False, ()),
    ("self-approval ignored", [r("alice")], {"author": "Alice"}, False, ()),
    ("non-owner approval does not count", [r("mallory")], {}, False, ()),
    ("team member approves", [r("bob")], {}, True, ("bob",)),
    ("stale after a push that changed files", [r("alice", commit=OLD)], {}, False, ()),
    ("tree-unchanged push keeps the approval", [r("alice", commit=SAME_TREE)], {}, True, ("alice",)),
    ("changes requested by an owner blocks", [r("alice"), r("bob", "CHANGES_REQUESTED", minute=1)], {}, False, ("alice",)),
    ("changes requested on an old commit still blocks", [r("alice"), r("bob", "CHANGES_REQUESTED", OLD)], {}, False, ("alice",)),
    ("later approval by the same user unblocks",
     [r("bob", "CHANGES_REQUESTED", OLD, 0), r("bob", "APPROVED", HEAD, 5)], {}, True, ("bob",)),
    ("later changes requested replaces an approval",
     [r("bob", "APPROVED", HEAD, 0), r("bob", "CHANGES_REQUESTED", HEAD, 5)], {}, False, ()),
    ("later comment does not cancel an approval",
     [r("alice", "APPROVED", HEAD, 0), r("alice", "COMMENTED", HEAD, 5)], {}, True, ("alice",)),
    ("dismissed approval does not count",
     [r("alice", "DISMISSED", HEAD, 0), r("alice", "COMMENTED", HEAD, 5)], {}, False, ()),
    ("dismissed changes request no longer blocks",
     [r("alice"), r("bob", "DISMISSED", HEAD, 1)], {}, True, ("alice",)),
    ("pending review is ignored", [Review("alice", "PENDING", HEAD, None)], {}, False, ()),
    ("changes requested by a non-owner does not block",
     [r("alice"), r("mallory", "CHANGES_REQUESTED")], {}, True, ("alice",)),
    ("hold blocks", [r("alice")], {"held": True}, False, ("alice",)),
    ("two required, two owners", [r("alice"), r("bob")], {"required": 2}, True, ("alice", "bob")),
    ("two required, one owner", [r("alice")], {"required": 2}, False, ("alice",)),
    ("two required, one owner and the author", [r("alice"), r("dave")], {"required": 2, "author": "dave"}, False, ("alice",)),
    ("every changed manifest needs its own owner", [r("alice"), r("bob")], {"paths": (FRAUD, CHURN), "required": 2}, False, ("alice", "bob")),
    ("every changed manifest covered", [r("alice"), r("carol")], {"paths": (FRAUD, CHURN), "required": 2}, True, ("alice", "carol")),
    ("one approver may cover the count of one", [r("carol")], {"paths": (CHURN,), "required": 1}, True, ("carol",)),
    ("no approval required", [], {"required": 0}, True, ()),
    ("no approval required, but an owner said no", [r("alice", "CHANGES_REQUESTED")], {"required": 0}, False, ()),
    ("team members unknown", [r("bob")], {"teams": {}}, False, ()),
]


@pytest.mark.parametrize("reviews, kwargs, satisfied, approvers", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rules(reviews, kwargs, satisfied, approvers):
    result = run(reviews, **kwargs)
    assert result.satisfied is satisfied, result
    assert result.approvers == approvers


def test_only_base_owners_count_not_owners_written_in_the_head():
    # The PR adds mallory to the manifest's owners in its head; the caller passes base owners,
    # so her approval does not satisfy it.
    result = run([r("mallory")])
    assert not result.satisfied
    assert result.not_owners == ("mallory",)
    assert result.missing == (Need(1, ("@acme/fraud-ml", "alice"), FRAUD), Need(1, ("@acme/fraud-ml", "alice"), None))
    assert str(result.missing[0]) == f"1 more approval from @acme/fraud-ml or alice for {FRAUD}"


def test_new_manifest_is_approved_by_its_codeowners_at_base():
    result = run([r("pat")], paths=(NEW,), codeowners=CODEOWNERS, teams={"acme/platform": {"pat"}})
    assert result.satisfied and result.approvers == ("pat",)
    (p,) = result.paths
    assert (p.owners, p.source, p.approved_by) == (("@acme/platform",), "codeowners", ("pat",))
    assert any("has no owners at base" in reason for reason in result.reasons)


def test_codeowners_add_to_the_manifest_owners():
    codeowners = parse_codeowners("/models/ @acme/ml-leads\n")
    result = run([r("lee")], codeowners=codeowners, teams={**TEAMS, "acme/ml-leads": {"lee"}})
    assert result.satisfied
    assert result.paths[0].source == "manifest+codeowners"
    assert result.paths[0].owners == ("@acme/fraud-ml", "alice", "@acme/ml-leads")


def test_unowned_path_falls_back_to_the_policy_default_and_says_so():
    result = run([r("pat")], paths=(NEW,), default_owners=["@acme/platform"], teams={"acme/platform": {"pat"}})
    assert result.satisfied and result.paths[0].source == "default"
    assert any("permissions.default_owners" in reason for reason in result.reasons)


def test_unowned_path_without_a_default_cannot_be_approved():
    result = run([r("alice")], paths=(NEW,))
    assert not result.satisfied and result.paths[0].source == "none"
    assert Need(1, (), NEW) in result.missing
    assert any("nobody can approve it" in reason for reason in result.reasons)


def test_stale_approvals_say_why():
    result = run([r("alice", commit=OLD), r("erin")], author="erin")
    assert result.stale == (StaleApproval("alice", OLD, "outdated"), StaleApproval("erin", HEAD, "author"))


def test_blocked_by_names_the_owner_and_the_paths_they_own():
    result = run([r("dave", "CHANGES_REQUESTED")], paths=(FRAUD, CHURN))
    assert result.blocked_by == (Block("dave", HEAD, (FRAUD,)),)


def test_missing_counts_the_total_as_well_as_each_path():
    result = run([r("alice")], paths=(FRAUD, CHURN), required=3)
    assert result.missing == (Need(1, ("carol",), CHURN),
                              Need(2, ("@acme/fraud-ml", "alice", "carol"), None))


def test_review_order_is_by_time_not_by_list_order():
    reviews = [r("bob", "APPROVED", HEAD, 9), r("bob", "CHANGES_REQUESTED", HEAD, 1)]
    assert run(reviews).satisfied
    iso = [Review("bob", "CHANGES_REQUESTED", HEAD, "2024-06-01T12:00:00Z"),
           Review("bob", "APPROVED", HEAD, "2024-06-01T12:05:00Z")]
    assert run(iso).satisfied


def test_approvals_section_renders_each_environment():
    ok = run([r("alice")])
    waiting = run([r("alice", commit=OLD), r("erin")], paths=(FRAUD, CHURN), required=2, author="erin")
    blocked = run([r("dave", "CHANGES_REQUESTED")], required=1)
    held = run([r("alice")], held=True)
    text = render_approvals([ok, waiting, blocked, held])
    assert "**production**: ✅ approved — 1 of 1 approval (`alice`)" in text
    assert "**production**: ⏳ waiting for approval — 0 of 2 approvals\n" in text
    assert f"- ⏳ 1 more approval from `@acme/fraud-ml` or `alice` for `{FRAUD}`\n" in text
    assert "- ⏳ 2 more approvals from `@acme/fraud-ml` or `alice` or `carol` in total\n" in text
    assert "`alice`'s approval does not count: it was given on `0000000`" in text
    assert "`erin`'s approval does not count: authors cannot approve" in text
    assert "**production**: ❌ changes requested — 0 of 1 approval\n" in text
    assert f"- ❌ `dave` requested changes on `hhhhhhh` (owner of `{FRAUD}`)" in text
    assert "**production**: ⏸️ on hold — 1 of 1 approval (`alice`); `/unhold` releases the hold" in text
    assert f"| `{FRAUD}` | `@acme/fraud-ml`, `alice` | manifest owners | `alice` |" in text
    # nobody is mentioned: every login and team is in a code span
    assert " @acme" not in text and "\n@" not in text
    assert render_approvals([run([], required=0)]).startswith("**production**: ✅ approved — no approval required")


def test_many_reviews_and_paths():
    reviews = [r(f"user{i}", "COMMENTED", HEAD, i) for i in range(5000)] + [r("alice", minute=6000)]
    paths = [f"models/m{i}/modelbot.yaml" for i in range(200)]
    owners = {p: ["alice"] for p in paths}
    result = run(reviews, paths=paths, owners=owners, required=2)
    assert result.missing == (Need(1, ("alice",), None),)
