"""Deployments: AWS requests and tags (pure), the rollout controller (pure), and a thin executor.

- `bot.deploy.tags`: provenance tags on every resource, checked against AWS's tag rules.
- `bot.deploy.images`: SageMaker's image for a framework source (the sagemaker SDK, offline).
- `bot.deploy.requests`: the exact boto3 requests of a deploy, from the manifest and the plan.
- `bot.deploy.rollout`: `decide(state, observed, now) -> Decision`, the reconcile step.
- `bot.deploy.executor`: boto3 calls for a Decision, and `observe` (at most 2 calls a poll); the
  multi-model artifact copy (`copy_artifact`).
- `bot.deploy.teardown`: what a deleted manifest's teardown removes (pure) and its phases.
"""

from .requests import DeployRequests, build_requests
from .rollout import Cleanup, Decision, Observation, Progress, RolloutState, decide, new_rollout
from .tags import DeployContext, TagError, resource_tags, validate_tags

__all__ = ["Cleanup", "Decision", "DeployContext", "DeployRequests", "Observation", "Progress",
           "RolloutState", "TagError", "build_requests", "decide", "new_rollout", "resource_tags",
           "validate_tags"]
