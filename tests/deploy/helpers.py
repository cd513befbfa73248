"""Shared values for the deploy tests: example manifests at two commits, a deploy context,
and a recorder of AWS calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.core.manifest import load_manifest
from bot.core.manifest.model import Manifest
from bot.core.deploy.tags import DeployContext

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
COMMIT1 = "1111111" + "0" * 33
COMMIT2 = "2222222" + "0" * 33
COMMIT3 = "3333333" + "0" * 33
PRICES = {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.c5.2xlarge": 0.34}


def example(name: str, replace: dict[str, str] | None = None) -> Manifest:
    """examples/<name>.yaml, with text replaced (e.g. a new model URI for a second commit)."""
    text = (ROOT / "examples" / f"{name}.yaml").read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    result = load_manifest(f"models/{name}/modelbot.yaml", text)
    assert result.manifest is not None, result.problems
    return result.manifest


def context(commit: str = COMMIT1, **changes: Any) -> DeployContext:
    values: dict[str, Any] = dict(build_id="build-42", commit=commit, data_version="2024-06-01",
                                  manifest_path="models/fraud/modelbot.yaml", bot_version="0.1.0",
                                  pr_number=17, approvers=("alice", "@acme/fraud-ml"))
    values.update(changes)
    return DeployContext(**values)


class Calls:
    """Records the AWS calls made through some boto3 clients, as `service:Operation`."""

    def __init__(self, *clients: Any):
        self.names: list[str] = []
        for c in clients:
            if c is not None:
                c.meta.events.register("before-call", self._record)

    def _record(self, model, **_):
        self.names.append(f"{model.service_model.service_name}:{model.name}")

    def take(self) -> list[str]:
        names, self.names = self.names, []
        return names
