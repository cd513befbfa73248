"""Endpoint ownership: each endpoint of each environment belongs to one manifest. Pure.

The owner is recorded in the store when modelbot first deploys to an endpoint or adopts it (the
store is the truth; the `modelbot:manifest` tag on the endpoint mirrors it, and stands in for an
endpoint deployed before ownership was recorded). A manifest that points at an endpoint another
manifest owns — a new manifest, an edited `endpoint_name`, a renamed file — is a validation
error on that line, unless the environment says `move_endpoint_from: <owning manifest>`: a
reviewed move, which the owners of the owning manifest, as they are at base, must approve. An
endpoint that exists in AWS without modelbot's tags is never taken over implicitly:
`adopt_endpoint: true` adopts it, explicitly and on the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from bot.core.manifest import Manifest, Problem

MANIFEST_TAG = "modelbot:manifest"
ENVIRONMENT_TAG = "modelbot:environment"


@dataclass(frozen=True)
class Owner:
    """Who owns an endpoint: the store's record, or (`how == "tag"`) the endpoint's tags. An
    endpoint belongs to one manifest *in one environment*: two environments that reach the same
    AWS account and region reach the same endpoint, and only the owning one may deploy it."""

    repository: str | None   # None: known from the tag only (the tag does not name the repository)
    manifest_path: str
    how: str                 # deployed | adopted | moved | tag
    environment: str | None = None
    pr_number: int | None = None  # the pull request whose deployment recorded it


def location(config) -> str:
    """Where an environment's endpoints live: its AWS account (from the deployer role's ARN, or
    the ambient credentials) and region. Environments with the same location share endpoints."""
    role = getattr(config, "aws_role_arn", None) or ""
    parts = role.split(":")
    account = parts[4] if len(parts) > 4 and parts[4] else "ambient"
    return f"{account}/{getattr(config, 'region', '')}"


@dataclass(frozen=True)
class Finding:
    """What ownership says of one manifest environment: its problems, and the claim a deploy
    records (`how`: deployed | adopted | moved; `move_from`: the owner a reviewed move replaces,
    whose base owners must approve)."""

    problems: tuple[Problem, ...]
    how: str = "deployed"
    move_from: str | None = None


def check_endpoint(manifest: Manifest, env: str, *, repository: str, path: str, owner: Owner | None,
                   live_exists: bool, live_tags: Mapping[str, str], new_at_base: bool = False,
                   pr_number: int | None = None, prefix_owners: tuple[Owner, ...] = ()) -> Finding:
    """Whether `path` may deploy `manifest`'s endpoint in `env` (see the module docstring).
    `new_at_base`: the path has no file on the base branch (a new or renamed manifest): a path
    added again does not inherit the endpoint its earlier file owned (nobody at base vouches for it).
    `prefix_owners`: for a multi-model environment, the owners of endpoints whose model prefix
    overlaps this one's: the artifacts under a prefix belong to the endpoint that serves them."""
    spec = manifest.environments[env]
    if spec.mode == "batch":
        return Finding(())
    endpoint = manifest.endpoint_name(env)
    # a component on a shared endpoint owns the component, not the endpoint (its host's)
    what = (f"inference component {manifest.component_name(env)} on {endpoint}"
            if manifest.joins_shared_endpoint(env) else f"endpoint {endpoint}")
    move_from, adopt = spec.move_endpoint_from, spec.adopt_endpoint
    if spec.mode == "multi_model" and spec.multi_model is not None:
        for other in prefix_owners:
            if (other.manifest_path, other.environment) != (path, env) or other.repository not in (None, repository):
                field = ("environments", env, "multi_model", "prefix")
                src = manifest.source
                line, col = src.position(field) if src is not None else (1, 1)
                return Finding((Problem(
                    path, line, col, ".".join(field), spec.multi_model.prefix,
                    f"the models under {spec.multi_model.prefix} belong to the multi-model endpoint of "
                    f"{other.manifest_path} in {other.environment}: a manifest cannot put models there",
                    "a prefix of this manifest's own", "ownership.prefix"),))
    if owner is None and live_exists and live_tags.get(MANIFEST_TAG):
        owner = Owner(None, live_tags[MANIFEST_TAG], "tag", live_tags.get(ENVIRONMENT_TAG))

    def problem(message: str, expected: str) -> Finding:
        field = ("environments", env, "endpoint_name") if spec.endpoint_name else ("environments", env)
        src = manifest.source
        line, col = src.position(field, at_key=not spec.endpoint_name) if src is not None else (1, 1)
        return Finding((Problem(path, line, col, ".".join(field), endpoint, message, expected, "ownership.endpoint"),))

    if owner is None:
        if move_from:
            return problem(f"`move_endpoint_from: {move_from}` but endpoint {endpoint} in {env} has no owner to "
                           "move it from", "no move_endpoint_from, or the path of the manifest that owns it")
        if live_exists and not adopt:
            return problem(f"{what} already exists in {env} and modelbot did not create it "
                           "(it has no modelbot tags): modelbot never takes one over implicitly",
                           "another endpoint_name, or `adopt_endpoint: true` to adopt it (reviewed and recorded)")
        return Finding((), "adopted" if live_exists else "deployed")
    same_repo = owner.repository in (None, repository)
    same_env = owner.environment in (None, env)
    mine = owner.manifest_path == path and same_repo and same_env
    if mine and (not new_at_base or (owner.pr_number is not None and owner.pr_number == pr_number)):
        return Finding(())  # (a new manifest owns what its own pull request deployed before merge)
    where = owner.manifest_path if same_repo else f"{owner.repository}:{owner.manifest_path}"
    if not same_env:
        where += f" in {owner.environment}"
    if move_from and move_from == owner.manifest_path and same_repo and same_env:
        return Finding((), "moved", owner.manifest_path)
    if mine:  # re-added at a path whose earlier file owned the endpoint
        return problem(f"{what} in {env} was deployed by an earlier {path} that no longer exists at "
                       "base: a manifest added again does not inherit its endpoint",
                       f"move_endpoint_from: {path}, approved by the owners the base names for it")
    if move_from:
        return problem(f"{what} in {env} belongs to {where}, not to `move_endpoint_from: {move_from}`",
                       f"move_endpoint_from: {owner.manifest_path}" if same_repo and same_env
                       else "an endpoint of this repository and environment")
    return problem(f"{what} in {env} belongs to {where}"
                   + (" (its modelbot:manifest tag)" if owner.how == "tag" else "")
                   + ": a manifest cannot take over another manifest's endpoint",
                   "an endpoint of this manifest's own, or `move_endpoint_from: "
                   f"{owner.manifest_path}` approved by that manifest's owners" if same_repo and same_env
                   else "an endpoint of this manifest's own")


def check_component(manifest: Manifest, env: str, *, path: str, live, shared_endpoints: Mapping[str, object]) -> tuple[Problem, ...]:
    """Mode inference_component: whether this environment's component may be on its endpoint
    beside the components live there. Other manifests' components may share an endpoint only
    when the server policy lists it in `shared_endpoints` (who may join is
    `bot.core.policy.check_policy`'s); anywhere else the endpoint hosts one manifest's component.
    `live`: the `bot.core.plan.LiveState` of the endpoint (None: not read)."""
    spec = manifest.environments[env]
    if spec.mode != "inference_component" or live is None or not live.endpoint_exists:
        return ()
    endpoint, name = manifest.endpoint_name(env), manifest.component_name(env)
    others = sorted(c.name for c in live.components if c.name != name)
    if not others or endpoint in shared_endpoints:
        return ()
    field = ("environments", env, "endpoint_name") if spec.endpoint_name else ("environments", env)
    src = manifest.source
    line, col = src.position(field, at_key=not spec.endpoint_name) if src is not None else (1, 1)
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return (Problem(path, line, col, ".".join(field), endpoint,
                    f"endpoint {endpoint} in {env} hosts other inference components ({shown}) and the server "
                    "policy does not list it in shared_endpoints: an endpoint hosts one manifest's component",
                    "an endpoint of this manifest's own, or the endpoint listed in "
                    f"policy.environments.{env}.shared_endpoints", "ownership.shared-endpoint"),)
