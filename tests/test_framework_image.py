"""A framework source resolves to SageMaker's own image, offline (the sagemaker SDK's tables)."""

from __future__ import annotations

from bot.app.features.deploys import _framework_image
from bot.core.manifest import load_manifest
from bot.core.plan import DeploySpec
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


def test_the_shared_lookup_names_what_it_cannot_resolve(monkeypatch):
    import sys

    import pytest

    from bot.adapters.aws.images import framework_image

    assert framework_image("sklearn", "1.2-1", None, "us-east-1", "ml.m5.large") == \
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    with pytest.raises(ValueError, match=r"framework xgboost 9\.9-9 \(py3\) in us-east-1 on ml\.m5\.large: "
                                         r"Unsupported xgboost version: 9\.9-9.*Supported xgboost version"):
        framework_image("xgboost", "9.9-9", "py3", "us-east-1", "ml.m5.large")
    with pytest.raises(ValueError, match="framework 'caffe' .*does not know this framework"):
        framework_image("caffe", "1.0", None, "us-east-1", "ml.m5.large")
    monkeypatch.setitem(sys.modules, "sagemaker.core", None)  # the optional SDK is not installed
    with pytest.raises(ValueError, match=r"xgboost 1\.7-1 .*need the sagemaker SDK"):
        framework_image("xgboost", "1.7-1", "py3", "us-east-1", "ml.m5.large")
