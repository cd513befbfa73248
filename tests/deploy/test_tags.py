"""Tags on every resource: provenance, the manifest's tags and the digest, within AWS's rules
(checked here, before any call; neither botocore nor moto checks them)."""

from __future__ import annotations

import unicodedata

import pytest

from bot.core.deploy import tags as t
from bot.core.deploy.tags import (TagError, approvers_value, decode_tag_value, encode_tag_value,
                             resource_tags, tag_list, tag_problems, validate_tags)
from bot.core.manifest import load_manifest
from bot.core.plan import DeploySpec
from tests.deploy.helpers import COMMIT1, ROOT, context, example

SPEC = DeploySpec(example("realtime-canary"), "production", COMMIT1)


def test_every_resource_carries_provenance_the_manifest_tags_and_the_digest():
    tags = resource_tags(SPEC, context(), digest="abc123")
    assert tags == {
        "team": "fraud", "cost-center": "4711",
        "modelbot:model": "fraud-detector", "modelbot:environment": "production",
        "modelbot:commit": COMMIT1, "modelbot:build-id": "build-42",
        "modelbot:data-version": "2024-06-01", "modelbot:pr": "17",
        "modelbot:manifest": "models/fraud/modelbot.yaml", "modelbot:approvers": "@acme/fraud-ml alice",
        "modelbot:bot-version": "0.1.0", "modelbot:digest": "abc123",
    }
    # Every key modelbot sets but one: `modelbot:override` is set only on a break-glass deploy.
    assert set(tags) - {"team", "cost-center"} == set(t.KEYS) - {t.OVERRIDE}
    overridden = resource_tags(SPEC, context(override="carol 2026-01-01T00:00:00Z: incident 42"), digest="abc123")
    assert overridden == {**tags, t.OVERRIDE: "carol 2026-01-01T00:00:00Z: incident 42"}
    assert set(overridden) - {"team", "cost-center"} == set(t.KEYS)
    assert tag_list({"b": "2", "a": "1"}) == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]


def test_without_a_pull_request_or_approvers_those_tags_are_left_out():
    tags = resource_tags(SPEC, context(pr_number=None, approvers=()))
    assert "modelbot:pr" not in tags and "modelbot:approvers" not in tags and "modelbot:digest" not in tags


def test_approvers_are_joined_with_spaces_never_commas():
    value = approvers_value(["carol", "@acme/search", "bob", "carol"])
    assert value == "@acme/search bob carol"
    assert "," not in value and tag_problems({"k": value}) == []


def test_many_approvers_are_cut_to_256_characters_with_a_count():
    names = [f"reviewer-{i:02d}-with-a-long-login" for i in range(20)]
    value = approvers_value(names)
    assert len(value) <= 256 and value.endswith(" more")
    shown = value.rsplit(" +", 1)[0].split(" ")
    assert int(value.rsplit("+", 1)[1].split()[0]) == 20 - len(shown)


@pytest.mark.parametrize("raw, encoded", [
    ("build-42", "build-42"),
    ("gha#99812", "gha=2399812"),
    ("a,b", "a=2Cb"),
    ("x=1#2", "x=3D1=232"),          # once encoding, `=` is escaped too: decodable
    ("x=1", "x=1"),                  # a valid value stays as it is
    ("Zürich データ 2024", "Zürich データ 2024"),  # letters of any script are allowed
    ("émoji 🚀", "émoji =F0=9F=9A=80"),
])
def test_values_that_break_the_pattern_are_encoded_not_refused(raw, encoded):
    assert encode_tag_value(raw) == encoded
    assert tag_problems({"k": encoded}) == []
    if raw != encoded:
        assert decode_tag_value(encoded) == raw


def test_a_build_id_with_a_hash_is_tagged_encoded():
    tags = resource_tags(SPEC, context(build_id="gha#7", manifest_path="models/a b,c/modelbot.yaml"))
    assert tags["modelbot:build-id"] == "gha=237"
    assert tags["modelbot:manifest"] == "models/a b=2Cc/modelbot.yaml"


@pytest.mark.parametrize("tags, words", [
    ({f"k{i}": "v" for i in range(51)}, "51 tags (0 set by modelbot, 51 from the manifest); AWS allows at most 50"),
    ({"aws:owner": "x"}, "tag key 'aws:owner': the prefix `aws:` is reserved"),
    ({"AWS:Owner": "x"}, "reserved"),
    ({"": "x"}, "must be 1-128 characters"),
    ({"k" * 129: "x"}, "must be 1-128 characters"),
    ({"team": "v" * 257}, "tag 'team': the value is 257 characters long (AWS allows 256)"),
    ({"a,b": "x"}, "tag key 'a,b': contains characters AWS does not allow in tags: ','"),
    ({"team": "a;b"}, "tag 'team': the value contains characters AWS does not allow in tags: ';'"),
])
def test_a_tag_set_aws_would_refuse_names_the_tag(tags, words):
    with pytest.raises(TagError) as info:
        validate_tags(tags)
    assert words in str(info.value)


def test_the_limits_themselves_are_allowed():
    validate_tags({**{f"k{i}": "v" for i in range(49)}, "k" * 128: "v" * 256})
    validate_tags({"empty": ""})


def _with_tags(n: int) -> str:
    return (ROOT / "examples" / "minimal.yaml").read_text().replace(
        "  owners: [alice]\n", "  owners: [alice]\n  tags:\n" + "".join(f"    t{i}: v\n" for i in range(n)))


def test_a_manifest_at_its_tag_limit_fits_beside_modelbots_tags():
    """The manifest allows 50 - len(BOT_TAG_KEYS) = 39 tags; with modelbot's 11 (a break-glass
    deploy sets them all) that is AWS's 50."""
    from bot.core.manifest.model import BOT_TAG_KEYS

    assert set(BOT_TAG_KEYS) == set(t.KEYS) and len(BOT_TAG_KEYS) == 11
    manifest = load_manifest("m.yaml", _with_tags(39)).manifest
    assert manifest is not None
    tags = resource_tags(DeploySpec(manifest, "staging", COMMIT1), context(override="carol now: why"), digest="d")
    assert len(tags) == 50
    validate_tags(tags)
    assert load_manifest("m.yaml", _with_tags(40)).manifest is None  # refused before any call


def test_the_pattern_check_matches_unicode_categories_l_z_n():
    """`regex`'s \\p{L}\\p{Z}\\p{N} and the unicodedata fallback agree on every assigned character."""
    sample = [chr(c) for c in range(0x3100)] + ["\u00a0", "\u2003", "\u0660", "\U0001d7d8", "\U0001f680"]
    for ch in sample:
        if unicodedata.category(ch) == "Cn":
            continue
        assert t._pattern_ok(ch) == t._char_ok(ch), repr(ch)
