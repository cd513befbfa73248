"""The per-mode table in docs/manifest-reference.md is the validator's own data, regenerated."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.manifest import aws_limits as aws
from bot.core.manifest.model import MODES, STRATEGIES

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "manifest-reference.md"


def test_reference_mode_table_is_generated_from_the_rule_data():
    text = REFERENCE.read_text()
    found = re.search(r"<!-- mode-table:start -->\n(.*?)<!-- mode-table:end -->", text, re.S)
    assert found, "the mode table markers are missing from the reference"
    assert found.group(1) == aws.mode_table(), "regenerate: bot.core.manifest.aws_limits.mode_table()"


def test_rule_data_covers_every_mode_and_only_known_strategies():
    assert set(aws.MODE_RULES) == set(MODES)
    for rules in aws.MODE_RULES.values():
        assert set(rules.strategies) <= set(STRATEGIES), rules.mode
    assert aws.MODE_RULES["serverless"].strategies == ("all_at_once",)
    assert not aws.MODE_RULES["serverless"].guardrails and not aws.MODE_RULES["serverless"].data_capture


def test_instance_type_shapes_exist_in_the_installed_botocore():
    for shape in (aws.ENDPOINT_INSTANCE_SHAPE, aws.TRANSFORM_INSTANCE_SHAPE):
        assert "ml.m5.xlarge" in aws.botocore_enum(shape)
    # ml.c5.large serves endpoints but is not a transform instance type in botocore
    assert "ml.c5.large" in aws.botocore_enum(aws.ENDPOINT_INSTANCE_SHAPE)
    assert "ml.c5.large" not in aws.botocore_enum(aws.TRANSFORM_INSTANCE_SHAPE)
    # every single-GPU type the multi-model page lists is an endpoint instance type
    assert set(aws.MME_GPU_INSTANCE_TYPES) <= aws.botocore_enum(aws.ENDPOINT_INSTANCE_SHAPE)


def test_capacity_percent_rounds_up_to_whole_instances():
    assert aws.effective_instances(10, "capacity_percent", 2) == 1
    assert aws.effective_percent(10, "capacity_percent", 2) == 50.0
    assert aws.effective_instances(25, "capacity_percent", 4) == 1
    assert aws.effective_instances(50, "capacity_percent", 3) == 2
    assert aws.effective_instances(3, "instance_count", 4) == 3
