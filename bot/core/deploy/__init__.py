"""Deployments: AWS requests and tags (pure), the rollout controller (pure), and a thin executor.

- `bot.core.deploy.tags`: provenance tags on every resource, checked against AWS's tag rules.
- `bot.adapters.aws.images`: SageMaker's image for a framework source (the sagemaker SDK, offline).
- `bot.core.deploy.requests`: the exact boto3 requests of a deploy, from the manifest and the plan.
- `bot.core.deploy.rollout`: `decide(state, observed, now) -> Decision`, the reconcile step.
- `bot.adapters.aws.executor`: boto3 calls for a Decision, and `observe` (at most 2 calls a poll); the
  multi-model artifact copy (`copy_artifact`).
- `bot.adapters.aws.teardown`: what a deleted manifest's teardown removes (pure) and its phases.
"""

from bot.core.deploy.requests import DeployRequests, build_requests
from bot.core.deploy.rollout import (
    Cleanup,
    Decision,
    Observation,
    Progress,
    RolloutState,
    decide,
    new_rollout,
)
from bot.core.deploy.tags import DeployContext, TagError, resource_tags, validate_tags

__all__ = ["Cleanup", "Decision", "DeployContext", "DeployRequests", "Observation", "Progress",
           "RolloutState", "TagError", "build_requests", "decide", "new_rollout", "resource_tags",
           "validate_tags"]
