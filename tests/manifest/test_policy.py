"""Policy from the server config: each violation at its manifest line, naming its setting."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.core.config import ConfigError
from bot.core.manifest import load_manifest
from bot.core.policy import PolicyConfig, check_environments, check_policy

from .helpers import doc, locate

NOW = dt.datetime(2024, 6, 5, 12, 0, tzinfo=dt.timezone.utc)  # a Wednesday

PROD = """
environments:
  production:
    mode: realtime
    instance_type: ml.m5.large
    instance_count: 4
    strategy: {type: canary, canary_size: {type: capacity_percent, value: 25}, wait_interval_seconds: 300}
    alarms: [fraud-5xx]
    approvals: 2
"""


CASES = [
    # id, policy, manifest text (with «), field, rule (policy path), message
    ("instance type", {"environments": {"production": {"allowed_instance_types": ["ml.c5.*", "ml.m5.xlarge"]}}},
     doc(environments=PROD.replace("instance_type: ml.m5.large", "instance_type: «ml.m5.large")),
     "environments.production.instance_type", "policy.environments.production.allowed_instance_types",
     "instance type ml.m5.large is not allowed in production"),
    ("too many instances", {"environments": {"production": {"max_instance_count": 3}}},
     doc(environments=PROD.replace("instance_count: 4", "instance_count: «4")),
     "environments.production.instance_count", "policy.environments.production.max_instance_count", "above the maximum"),
    ("too few instances", {"environments": {"production": {"min_instance_count": 5}}},
     doc(environments=PROD.replace("instance_count: 4", "instance_count: «4")),
     "environments.production.instance_count", "policy.environments.production.min_instance_count", "below the minimum"),
    ("autoscaling beyond the maximum", {"environments": {"production": {"max_instance_count": 8}}},
     doc(environments=PROD + "    autoscaling: {min_capacity: 4, max_capacity: «10, target_invocations_per_instance: 50}\n"),
     "environments.production.autoscaling.max_capacity", "policy.environments.production.max_instance_count", "max_capacity 10"),
    ("strategy", {"environments": {"production": {"allowed_strategies": ["linear", "blue_green"]}}},
     doc(environments=PROD.replace("{type: canary", "{type: «canary")),
     "environments.production.strategy.type", "policy.environments.production.allowed_strategies", "strategy canary is not allowed"),
    ("default strategy", {"environments": {"production": {"allowed_strategies": ["canary"]}}},
     doc(environments=PROD.replace("    strategy: {type: canary, canary_size: {type: capacity_percent, value: 25}, wait_interval_seconds: 300}\n", "").replace("  production:", "  «production:")),
     "environments.production.strategy", "policy.environments.production.allowed_strategies", "no strategy given means blue_green"),
    ("alarms", {"environments": {"production": {"min_alarms": 2}}},
     doc(environments=PROD.replace("alarms: [", "«alarms: [")),
     "environments.production.alarms", "policy.environments.production.min_alarms", "at least 2"),
    ("no alarms", {"environments": {"production": {"min_alarms": 1}}},
     doc(environments=PROD.replace("    alarms: [fraud-5xx]\n", "").replace("  production:", "  «production:")),
     "environments.production.alarms", "policy.environments.production.min_alarms", "at least 1"),
    ("approvals", {"environments": {"production": {"min_approvals": 3}}},
     doc(environments=PROD.replace("approvals: 2", "approvals: «2")),
     "environments.production.approvals", "policy.environments.production.min_approvals", "at least 3"),
    ("mode", {"environments": {"production": {"allowed_modes": ["async"]}}},
     doc(environments=PROD.replace("mode: realtime", "mode: «realtime")),
     "environments.production.mode", "policy.environments.production.allowed_modes", "mode realtime"),
    ("validation required", {"environments": {"production": {"require_validation": True}}},
     "«" + doc(environments=PROD),
     "validation", "policy.environments.production.require_validation", "requires a validation set"),
    ("artifact prefix", {"allowed_artifact_prefixes": ["s3://acme-models/approved"]},
     doc(environments=PROD, model="""
        model:
          artifact:
            uri: «s3://acme-models/fraud/model.tar.gz
            image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1.0.0
        """),
     "model.artifact.uri", "policy.allowed_artifact_prefixes", "outside the allowed S3 prefixes"),
    ("bucket prefix is not a string prefix", {"allowed_artifact_prefixes": ["s3://acme-models"]},
     doc(environments=PROD, model="""
        model:
          artifact:
            uri: «s3://acme-models-evil/fraud/model.tar.gz
            image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1.0.0
        """),
     "model.artifact.uri", "policy.allowed_artifact_prefixes", "outside"),
    ("image registry", {"allowed_image_registries": ["999999999999.dkr.ecr.*.amazonaws.com"]},
     doc(environments=PROD, model="""
        model:
          artifact:
            uri: s3://acme-models/fraud/model.tar.gz
            image: «123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1.0.0
        """),
     "model.artifact.image", "policy.allowed_image_registries", "images from 123456789012.dkr.ecr.us-east-1.amazonaws.com"),
    ("image repository", {"allowed_image_repositories": ["*/ml/*"]},
     doc(environments=PROD, model="""
        model:
          artifact:
            uri: s3://acme-models/fraud/model.tar.gz
            image: «123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1.0.0
        """),
     "model.artifact.image", "policy.allowed_image_repositories", "repository fraud"),
    ("model source", {"allowed_sources": ["registry"]},
     doc(environments=PROD, model="""
        model:
          «artifact:
            uri: s3://acme-models/fraud/model.tar.gz
            image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1.0.0
        """),
     "model.artifact", "policy.allowed_sources", "model source `artifact`"),
    ("model package", {"allowed_model_packages": ["arn:aws:sagemaker:*:111111111111:model-package/*"]},
     doc(environments=PROD, model="model:\n  registry: {model_package_arn: «'arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud/3'}\n"),
     "model.registry.model_package_arn", "policy.allowed_model_packages", "not allowed"),
    ("output prefix", {"allowed_output_prefixes": ["s3://acme-capture/"]},
     doc(environments=PROD + "    data_capture: {destination: «s3://elsewhere/capture/}\n"),
     "environments.production.data_capture.destination", "policy.allowed_output_prefixes", "outside"),
    ("required tag", {"required_tags": ["cost-center"]},
     doc(environments=PROD, metadata="metadata:\n  name: fraud\n  owners: [alice]\n  «tags: {team: fraud}\n"),
     "metadata.tags", "policy.required_tags", "`cost-center` is missing"),
    ("required tag per environment", {"environments": {"production": {"required_tags": ["pager"]}}},
     doc(environments=PROD, metadata="metadata:\n  name: fraud\n  owners: [alice]\n  «tags: {team: fraud}\n"),
     "metadata.tags", "policy.environments.production.required_tags", "`pager` is missing"),
    ("freeze period", {"freezes": [{"reason": "release week", "start": "2024-06-01T00:00:00Z", "end": "2024-06-10T00:00:00Z"}]},
     doc(environments=PROD.replace("  production:", "  «production:")),
     "environments.production", "policy.freezes[0]", "frozen until 2024-06-10 00:00 UTC: release week"),
    ("weekly freeze", {"environments": {"production": {"freezes": [
        {"reason": "midweek", "days": ["wed"], "from": "13:00", "until": "15:00", "timezone": "Europe/Berlin"}]}}},
     doc(environments=PROD.replace("  production:", "  «production:")),
     "environments.production", "policy.environments.production.freezes[0]", "frozen until 2024-06-05 13:00 UTC: midweek"),
]


@pytest.mark.parametrize("policy, marked, field, rule, message", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_violation_is_located_and_names_its_setting(policy, marked, field, rule, message):
    text, line, column = locate(marked)
    result = load_manifest("models/fraud/modelbot.yaml", text)
    assert result.ok, [p.format() for p in result.problems]
    cfg = PolicyConfig.from_server_policy(policy)
    problems = check_policy(result.manifest, cfg, "production", now=NOW)
    assert len(problems) == 1, [p.format() for p in problems]
    [p] = problems
    assert (p.field, p.rule) == (field, rule), p.format()
    assert (p.path, p.line, p.column) == ("models/fraud/modelbot.yaml", line, column), p.format()
    assert message in p.message, p.format()
    assert p.configured_at == f"config/modelbot.yaml: {rule}"
    assert p.expected and p.severity == "error"


def test_a_manifest_within_policy_has_no_problems():
    cfg = PolicyConfig.from_server_policy({
        "allowed_sources": ["artifact"],
        "allowed_artifact_prefixes": ["s3://acme-models/"],
        "allowed_image_registries": ["123456789012.dkr.ecr.us-east-1.amazonaws.com"],
        "allowed_image_repositories": ["*/fraud"],
        "environments": {"production": {
            "allowed_instance_types": ["ml.m5.*"], "min_instance_count": 2, "max_instance_count": 4,
            "allowed_strategies": ["canary", "linear", "blue_green"], "min_alarms": 1,
            "min_approvals": 2, "freezes": [{"reason": "weekend", "days": ["sat", "sun"],
                                             "from": "00:00", "until": "23:59"}]}},
    })
    result = load_manifest("m.yaml", doc(environments=PROD))
    assert check_policy(result.manifest, cfg, "production", now=NOW) == []


@pytest.mark.parametrize("freeze, now, frozen", [
    ({"days": ["fri"], "from": "22:00", "until": "06:00"}, dt.datetime(2024, 6, 7, 23, 0), True),   # Fri night
    ({"days": ["fri"], "from": "22:00", "until": "06:00"}, dt.datetime(2024, 6, 8, 5, 59), True),   # Sat early
    ({"days": ["fri"], "from": "22:00", "until": "06:00"}, dt.datetime(2024, 6, 8, 6, 0), False),
    ({"days": ["fri"], "from": "22:00", "until": "06:00"}, dt.datetime(2024, 6, 7, 21, 59), False),
    ({"days": ["wed"], "from": "09:00", "until": "17:00", "timezone": "America/New_York"},
     dt.datetime(2024, 6, 5, 12, 30), False),  # 08:30 in New York
    ({"days": ["wed"], "from": "09:00", "until": "17:00", "timezone": "America/New_York"},
     dt.datetime(2024, 6, 5, 13, 30), True),
    ({"start": "2024-06-05T12:00:00Z", "end": "2024-06-05T13:00:00Z"}, dt.datetime(2024, 6, 5, 12, 0), True),
    ({"start": "2024-06-05T12:00:00Z", "end": "2024-06-05T13:00:00Z"}, dt.datetime(2024, 6, 5, 13, 0), False),
])
def test_freeze_windows(freeze, now, frozen):
    cfg = PolicyConfig.from_server_policy({"freezes": [{"reason": "r", **freeze}]})
    m = load_manifest("m.yaml", doc(environments=PROD)).manifest
    problems = check_policy(m, cfg, "production", now=now.replace(tzinfo=dt.timezone.utc))
    assert bool(problems) is frozen


@pytest.mark.parametrize("raw, message", [
    ({"allowed_instance_typs": ["ml.m5.large"]}, "policy.allowed_instance_typs: Extra inputs are not permitted"),
    ({"environments": {"production": {"allowed_strategies": ["yolo"]}}},
     "policy.environments.production.allowed_strategies[0]: Input should be 'blue_green'"),
    ({"environments": {"production": {"min_instance_count": 5, "max_instance_count": 2}}},
     "policy.environments.production: min_instance_count 5 is above max_instance_count 2"),
    ({"allowed_artifact_prefixes": ["https://acme/models"]},
     "policy.allowed_artifact_prefixes: 'https://acme/models' is not an S3 URI"),
    ({"freezes": [{"reason": "x", "days": ["fri"], "from": 960, "until": "23:00"}]},
     'policy.freezes[0].from: write times in quotes, e.g. "16:00"'),
    ({"freezes": [{"reason": "x", "start": "2024-01-01T00:00:00", "end": "2024-01-02T00:00:00Z"}]},
     "policy.freezes[0].start: Input should have timezone info"),
    ({"freezes": [{"reason": "x", "start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}]},
     "policy.freezes[0]: a period needs both start and end, with end after start"),
    ({"freezes": [{"reason": "x", "days": ["fri"], "from": "10:00", "until": "11:00", "timezone": "Mars/Olympus"}]},
     "policy.freezes[0].timezone: unknown time zone 'Mars/Olympus'"),
    ({"environments": {"prod": {}}}, "policy.environments.prod: no such environment in `environments`"),
])
def test_bad_policy_settings_are_named(raw, message):
    with pytest.raises(ConfigError) as info:
        PolicyConfig.from_server_policy(raw, environments=["staging", "production"], source="cfg.yaml")
    assert f"cfg.yaml: {message}" in str(info.value)


def test_every_bad_setting_is_reported_at_once():
    with pytest.raises(ConfigError) as info:
        PolicyConfig.from_server_policy({"nope": 1, "environments": {"production": {"min_alarms": 11, "min_approvals": -1}}})
    assert len(str(info.value).splitlines()) == 3


def test_policy_is_read_from_the_shipped_server_config_shape():
    assert PolicyConfig.from_server_policy({}) == PolicyConfig()
    assert PolicyConfig.from_server_policy(None).environments == {}


def test_unknown_environments_are_reported_against_the_server_config():
    text, line, column = locate(doc(environments=PROD.replace("  production:", "  «production:")))
    m = load_manifest("models/fraud/modelbot.yaml", text).manifest
    [p] = check_environments(m, ["staging", "prod"])
    assert (p.line, p.column, p.rule, p.configured_at) == (line, column, "environments",
                                                           "config/modelbot.yaml: environments")
    assert check_environments(m, ["production"]) == []


def test_now_must_be_timezone_aware():
    m = load_manifest("m.yaml", doc(environments=PROD)).manifest
    with pytest.raises(ValueError):
        check_policy(m, PolicyConfig(), "production", now=dt.datetime(2024, 1, 1))
