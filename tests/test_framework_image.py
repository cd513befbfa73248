"""A framework source resolves to SageMaker's own image, offline (the sagemaker SDK's tables)."""

from __future__ import annotations

from bot.features.deploys import _framework_image
from bot.manifest import load_manifest
from bot.plan import DeploySpec
from tests.conftest import ROOT


def test_a_framework_and_version_resolve_to_sagemakers_image_offline():
    path = ROOT / "examples" / "realtime-linear.yaml"  # framework xgboost 1.7-1, py3
    manifest = load_manifest(str(path), path.read_text()).manifest
    spec = DeploySpec(manifest, "production", "a" * 40)
    image = _framework_image(manifest, "us-east-1", spec)
    assert image == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert _framework_image(manifest, "eu-west-1", spec).startswith("141502667606.dkr.ecr.eu-west-1")


def test_an_artifact_source_needs_no_lookup():
    path = ROOT / "examples" / "minimal.yaml"
    manifest = load_manifest(str(path), path.read_text()).manifest
    assert _framework_image(manifest, "us-east-1", DeploySpec(manifest, "staging", "a" * 40)) is None
