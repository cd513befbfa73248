"""Which paths are manifests: `**` spans directories, `*` and `?` stay in one segment."""

from __future__ import annotations

import pytest

from bot.core.manifest import DEFAULT_GLOBS, matches_globs, select_manifests

CASES = [
    # path, globs, matches
    ("models/modelbot.yaml", DEFAULT_GLOBS, True),
    ("models/fraud/modelbot.yaml", DEFAULT_GLOBS, True),
    ("models/fraud/v2/modelbot.yaml", DEFAULT_GLOBS, True),
    ("./models/fraud/modelbot.yaml", DEFAULT_GLOBS, True),
    ("models/fraud/modelbot.yml", DEFAULT_GLOBS, False),
    ("models/fraud/other.yaml", DEFAULT_GLOBS, False),
    ("other/models/fraud/modelbot.yaml", DEFAULT_GLOBS, False),
    ("Models/fraud/modelbot.yaml", DEFAULT_GLOBS, False),
    ("models/../secrets/modelbot.yaml", DEFAULT_GLOBS, False),
    ("models//modelbot.yaml", DEFAULT_GLOBS, False),
    ("", DEFAULT_GLOBS, False),
    ("models/a/modelbot.yaml", ["models/*/modelbot.yaml"], True),
    ("models/a/b/modelbot.yaml", ["models/*/modelbot.yaml"], False),
    ("models/a/b/modelbot.yaml", ["**/modelbot.yaml"], True),
    ("modelbot.yaml", ["**/modelbot.yaml"], True),
    ("deploy/x.modelbot.yaml", ["deploy/*.modelbot.yaml"], True),
    ("deploy/sub/x.modelbot.yaml", ["deploy/*.modelbot.yaml"], False),
    ("models/a/b/c", ["models/**"], True),
    ("models", ["models/**"], False),
    ("m1/modelbot.yaml", ["m?/modelbot.yaml"], True),
    ("m12/modelbot.yaml", ["m?/modelbot.yaml"], False),
    ("env-b/modelbot.yaml", ["env-[ab]/modelbot.yaml"], True),
    ("env-c/modelbot.yaml", ["env-[!ab]/modelbot.yaml"], True),
    ("a.b/modelbot.yaml", ["a?b/modelbot.yaml"], True),
    ("a+b/modelbot.yaml", ["a+b/modelbot.yaml"], True),
    ("models/x/modelbot.yaml", [], False),
    ("svc/models/modelbot.yaml", ["svc/**/models/**/modelbot.yaml"], True),
]


@pytest.mark.parametrize("path, globs, expected", CASES)
def test_matches_globs(path, globs, expected):
    assert matches_globs(path, globs) is expected


def test_select_manifests_sorts_and_dedupes():
    paths = ["models/b/modelbot.yaml", "README.md", "models/a/modelbot.yaml", "models/b/modelbot.yaml"]
    assert select_manifests(paths) == ["models/a/modelbot.yaml", "models/b/modelbot.yaml"]
