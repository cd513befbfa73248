"""Mutated manifests never crash the loader, and valid ones never crash policy or plan."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.manifest import load_manifest
from bot.core.plan import DeploySpec, LiveState, LiveVariant, plan
from bot.core.policy import PolicyConfig, check_policy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))]
VALUES = [None, 0, -1, 1, 3, 50, 10**9, 1.5, True, "", "x", "realtime", "canary", "serverless",
          "async", "batch", "multi_model", "shadow", "ab", "linear", "rolling", "instance_count",
          "capacity_percent", "s3://acme-models/x/", "ml.m5.large", [], {}, ["a"], {"type": "canary"},
          {"from_pipeline": "o.json", "key": "k"}, {"current": 1, "candidate": 0}]
POLICY = PolicyConfig.from_server_policy({
    "allowed_artifact_prefixes": ["s3://acme-models/"], "allowed_output_prefixes": ["s3://acme-out/"],
    "allowed_image_registries": ["*.amazonaws.com"], "allowed_image_repositories": ["*"],
    "required_tags": ["team"], "allowed_sources": ["artifact", "framework"],
    "freezes": [{"reason": "r", "days": ["sun"], "from": "00:00", "until": "01:00"}],
    "environments": {"production": {"allowed_instance_types": ["ml.m5.*"], "max_instance_count": 5,
                                    "allowed_strategies": ["canary"], "min_alarms": 1,
                                    "min_approvals": 2, "require_validation": True}},
})
LIVE = LiveState(True, "e", "InService", "c", "d", (
    LiveVariant("AllTraffic", "m", "ml.m5.large", 2, 0.7, model_digest="x"),
    LiveVariant("candidate", "n", "ml.m5.large", 1, 0.3),
    LiveVariant("shadow", "s", "ml.m5.large", 1, 0.1, shadow=True)))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw):
    data = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(0, 2))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(VALUES)))
    return yaml.safe_dump(data, sort_keys=False)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_give_problems_or_a_manifest_and_plans_never_crash(text):
    result = load_manifest("m.yaml", text)
    for p in result.problems:
        assert p.line >= 1 and p.column >= 1 and p.message and p.rule
    if not result.ok:
        assert result.errors
        return
    m = result.manifest
    for env in m.environments:
        check_policy(m, POLICY, env, now=dt.datetime(2024, 6, 2, 0, 30, tzinfo=dt.timezone.utc))
        for live in (LiveState(), LIVE):
            for deleted in (False, True):
                p = plan(DeploySpec(m, env, "abcdef0", deleted), live, {"ml.m5.large": 0.1})
                assert p.headline
