"""Deployment policy: the organisation's rules from the server config, never from a PR.

`PolicyConfig` parses the `policy:` block of config/modelbot.yaml; `check_policy` holds one
manifest's environment against it and returns a `Problem` per violation, located at the
offending line of the manifest and naming the setting that forbids it
(`config/modelbot.yaml: policy.environments.production.allowed_instance_types`).
Pure: `now` is passed in, nothing is read.

    policy:
      allowed_sources: [artifact, registry]
      allowed_artifact_prefixes: [s3://acme-models/]
      allowed_output_prefixes: [s3://acme-inference/]
      allowed_image_registries: [123456789012.dkr.ecr.us-east-1.amazonaws.com]
      allowed_image_repositories: ["*/ml/*"]
      allowed_model_packages: ["arn:aws:sagemaker:*:123456789012:model-package/*"]
      required_tags: [team, cost-center]
      freezes:
        - {reason: year-end freeze, start: "2024-12-20T00:00:00Z", end: "2025-01-02T00:00:00Z"}
      environments:
        production:
          allowed_instance_types: ["ml.m5.*", ml.c5.xlarge]
          min_instance_count: 2
          max_instance_count: 10
          allowed_modes: [realtime, async]
          allowed_strategies: [canary, linear, blue_green]
          min_alarms: 1
          min_approvals: 2
          require_validation: true
          freezes:
            - {reason: weekend, days: [fri, sat, sun], from: "16:00", until: "23:59",
               timezone: Europe/Berlin}
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from dataclasses import dataclass
from typing import Annotated, Any, Iterable, Literal, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (AwareDatetime, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError,
                      field_validator, model_validator)

from bot.core.errors import DEFAULT_CONFIG_PATH, ConfigError
from bot.core.manifest.aws_limits import S3_URI_RE, parse_image
from bot.core.manifest.globs import matches_globs
from bot.core.manifest.model import Manifest, Mode, StrategyType
from bot.core.manifest.problems import Problem
from bot.core.manifest.yamlsource import format_path

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[str, ...] = Day.__args__  # type: ignore[attr-defined]
Source = Literal["artifact", "framework", "registry"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True,
                              validate_by_alias=True)


def _time(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError("write times in quotes, e.g. \"16:00\" (unquoted, YAML reads 16:00 as "
                         f"the number {value})")
    return value


class Freeze(_Strict):
    """No deploys during a period (`start`..`end`) or weekly (`days`, `from`..`until`)."""

    reason: Annotated[str, Field(min_length=1, max_length=200)]
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    days: list[Day] | None = None
    from_: dt.time | None = Field(default=None, alias="from")
    until: dt.time | None = None
    timezone: str = "UTC"

    _check_times = field_validator("from_", "until", mode="before")(classmethod(lambda cls, v: _time(v)))

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> "Freeze":
        period = self.start is not None or self.end is not None
        weekly = self.days is not None or self.from_ is not None or self.until is not None
        if period == weekly:
            raise ValueError("give either start and end (a period) or days, from and until (weekly)")
        if period and (self.start is None or self.end is None or self.end <= self.start):
            raise ValueError("a period needs both start and end, with end after start")
        if weekly and (not self.days or self.from_ is None or self.until is None):
            raise ValueError("a weekly freeze needs days, from and until")
        return self

    def active_until(self, now: dt.datetime) -> dt.datetime | None:
        """If `now` falls in this freeze, when the freeze ends; else None."""
        if self.start is not None and self.end is not None:
            return self.end if self.start <= now < self.end else None
        assert self.days and self.from_ is not None and self.until is not None
        local = now.astimezone(ZoneInfo(self.timezone))
        day, t = DAYS[local.weekday()], local.time().replace(tzinfo=None)
        yesterday = DAYS[(local.weekday() - 1) % 7]
        today_end = dt.datetime.combine(local.date(), self.until, local.tzinfo)
        if self.from_ < self.until:
            return today_end if day in self.days and self.from_ <= t < self.until else None
        # An overnight window (from 22:00 until 06:00) runs into the next day.
        if day in self.days and t >= self.from_:
            return today_end + dt.timedelta(days=1)
        if yesterday in self.days and t < self.until:
            return today_end
        return None


def _prefix(value: str) -> str:
    if not S3_URI_RE.match(value):
        raise ValueError(f"{value!r} is not an S3 URI like s3://bucket/prefix/")
    return value if value.endswith("/") else value + "/"


class SharedEndpoint(_Strict):
    """An endpoint whose instances host inference components of several manifests."""

    repositories: Annotated[list[str], Field(min_length=1, description=(
        "owner/name patterns (fnmatch) of the repositories whose manifests may join"))]
    manifests: Annotated[list[str], Field(min_length=1, description=(
        "manifest path globs (as manifest_globs) whose components may be placed on it"))]


class EnvironmentPolicy(_Strict):
    """Rules for one environment (the name must be one of the server's `environments`)."""

    allowed_instance_types: list[str] | None = Field(default=None, description="fnmatch patterns")
    min_instance_count: Annotated[int | None, Field(ge=0)] = None
    max_instance_count: Annotated[int | None, Field(ge=1)] = None
    allowed_modes: list[Mode] | None = None
    allowed_strategies: list[StrategyType] | None = None
    min_alarms: Annotated[int, Field(ge=0, le=10)] = 0
    min_approvals: Annotated[int, Field(ge=0, le=10)] = 0
    require_validation: bool = False
    required_tags: list[str] = Field(default_factory=list)
    freezes: list[Freeze] = Field(default_factory=list)
    shared_endpoints: dict[str, SharedEndpoint] = Field(default_factory=dict, description=(
        "endpoint name -> who may place inference components on it; any other endpoint hosts the "
        "component of one manifest only"))

    @model_validator(mode="after")
    def _counts(self) -> "EnvironmentPolicy":
        lo, hi = self.min_instance_count, self.max_instance_count
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"min_instance_count {lo} is above max_instance_count {hi}")
        return self


class PolicyConfig(_Strict):
    """The `policy:` block of the server config. A list left out means "no restriction";
    an empty list means "nothing allowed"."""

    allowed_sources: list[Source] | None = None
    allowed_artifact_prefixes: list[str] | None = None
    allowed_output_prefixes: list[str] | None = None
    allowed_image_registries: list[str] | None = None
    allowed_image_repositories: list[str] | None = Field(default=None, description=(
        "fnmatch patterns on registry/repository"))
    allowed_model_packages: list[str] | None = Field(default=None, description=(
        "fnmatch patterns on model package ARNs"))
    required_tags: list[str] = Field(default_factory=list)
    freezes: list[Freeze] = Field(default_factory=list)
    environments: dict[str, EnvironmentPolicy] = Field(default_factory=dict)

    _source: str = PrivateAttr(default=DEFAULT_CONFIG_PATH)

    @field_validator("allowed_artifact_prefixes", "allowed_output_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_prefix(v) for v in value]

    @classmethod
    def from_server_policy(cls, raw: Mapping[str, Any] | None, *,
                           environments: Iterable[str] | None = None,
                           source: str = DEFAULT_CONFIG_PATH) -> "PolicyConfig":
        """Parse `ServerConfig.policy`; raise ConfigError naming every bad setting.

        With `environments` (the server's environment names), a policy for an unknown
        environment is an error too.
        """
        try:
            policy = cls.model_validate(dict(raw or {}))
        except ValidationError as exc:
            lines = []
            for err in exc.errors(include_url=False):
                where = format_path(("policy",) + tuple(err["loc"]))
                msg = err["msg"].removeprefix("Value error, ")
                got = "" if err["type"] == "missing" else f" (got {err.get('input')!r:.80})"
                lines.append(f"{source}: {where}: {msg}{got}")
            raise ConfigError("\n".join(lines)) from None
        if environments is not None:
            known = set(environments)
            unknown = sorted(set(policy.environments) - known)
            if unknown:
                raise ConfigError("\n".join(
                    f"{source}: policy.environments.{name}: no such environment in "
                    f"`environments` (known: {', '.join(sorted(known)) or 'none'})" for name in unknown))
        policy._source = source
        return policy

    @property
    def source(self) -> str:
        """The config file this policy came from, named in every violation."""
        return self._source


# --- checking -----------------------------------------------------------------------------------


@dataclass
class _Ctx:
    manifest: Manifest
    policy: PolicyConfig
    env: str
    out: list[Problem]

    def add(self, loc: tuple, setting: tuple, message: str, expected: str | None, value: Any,
            *, at_key: bool = False) -> None:
        src = self.manifest.source
        path = src.path if src is not None else ""
        line, col = src.position(loc, at_key=at_key) if src is not None else (1, 1)
        rule = format_path(("policy",) + setting)
        self.out.append(Problem(path, line, col, format_path(loc), value, message, expected, rule,
                                "error", f"{self.policy.source}: {rule}"))


def _under(uri: str, prefixes: Iterable[str]) -> bool:
    return any(uri.startswith(p) for p in prefixes)


def _matches(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def check_policy(manifest: Manifest, policy: PolicyConfig, env: str, *,
                 now: dt.datetime, repository: str | None = None) -> list[Problem]:
    """Every way `manifest`'s environment `env` breaks `policy` at time `now` (tz-aware).

    `manifest` is a valid manifest (from `load_manifest`); problems point at its lines when it
    was loaded from a file. KeyError if the manifest has no environment `env`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if env not in manifest.environments:
        raise KeyError(f"the manifest has no environment {env!r}")
    c = _Ctx(manifest, policy, env, [])
    e = manifest.environments[env]
    ep = policy.environments.get(env, EnvironmentPolicy())
    ebase: tuple = ("environments", env)
    pbase: tuple = ("environments", env)
    model = manifest.model
    kind = model.source_kind

    if policy.allowed_sources is not None and kind not in policy.allowed_sources:
        c.add(("model", kind), ("allowed_sources",), f"model source `{kind}` is not allowed",
              "one of " + (", ".join(policy.allowed_sources) or "(none)"), kind, at_key=True)
    uri = (model.artifact or model.framework).uri if kind != "registry" else None  # type: ignore[union-attr]
    prefixes = policy.allowed_artifact_prefixes
    if prefixes is not None:
        if uri is not None and not _under(uri, prefixes):
            c.add(("model", kind, "uri"), ("allowed_artifact_prefixes",),
                  "the model artifact is outside the allowed S3 prefixes",
                  "under " + (", ".join(prefixes) or "(none)"), uri)
        if e.multi_model is not None and not _under(e.multi_model.prefix, prefixes):
            c.add(ebase + ("multi_model", "prefix"), ("allowed_artifact_prefixes",),
                  "the multi-model prefix is outside the allowed S3 prefixes",
                  "under " + (", ".join(prefixes) or "(none)"), e.multi_model.prefix)
    if model.artifact is not None:
        _check_image(c, model.artifact.image)
    if model.registry is not None and policy.allowed_model_packages is not None:
        arn = model.registry.model_package_arn
        if not _matches(arn, policy.allowed_model_packages):
            c.add(("model", "registry", "model_package_arn"), ("allowed_model_packages",),
                  "this model package is not allowed", "one matching " +
                  (", ".join(policy.allowed_model_packages) or "(none)"), arn)
    outs = policy.allowed_output_prefixes
    if outs is not None:
        for loc, value in _outputs(e, ebase):
            if not _under(value, outs):
                c.add(loc, ("allowed_output_prefixes",), "output goes outside the allowed S3 "
                      "prefixes", "under " + (", ".join(outs) or "(none)"), value)

    tags = {**manifest.metadata.tags, **e.tags}
    for setting, required in ((("required_tags",), policy.required_tags),
                              (pbase + ("required_tags",), ep.required_tags)):
        for key in required:
            if not tags.get(key):
                c.add(("metadata", "tags"), setting, f"required tag `{key}` is missing",
                      f"a non-empty `{key}` in metadata.tags or environments.{env}.tags", None,
                      at_key=True)

    if ep.allowed_modes is not None and e.mode not in ep.allowed_modes:
        c.add(ebase + ("mode",), pbase + ("allowed_modes",), f"mode {e.mode} is not allowed in {env}",
              "one of " + (", ".join(ep.allowed_modes) or "(none)"), e.mode)
    if ep.allowed_instance_types is not None:
        itype = e.instance_type
        if itype is not None and not _matches(itype, ep.allowed_instance_types):
            c.add(ebase + ("instance_type",), pbase + ("allowed_instance_types",),
                  f"instance type {itype} is not allowed in {env}",
                  "one of " + (", ".join(ep.allowed_instance_types) or "(none)"), itype)
    _check_counts(c, e, ep, ebase, pbase)
    if e.mode != "batch" and ep.allowed_strategies is not None:
        st = e.effective_strategy.type
        if st not in ep.allowed_strategies:
            loc = ebase + ("strategy", "type") if e.strategy else ebase + ("strategy",)
            c.add(loc, pbase + ("allowed_strategies",), f"strategy {st} is not allowed in {env}"
                  + ("" if e.strategy else " (no strategy given means blue_green)"),
                  "one of " + (", ".join(ep.allowed_strategies) or "(none)"), st)
    if e.mode != "batch" and len(e.alarms or []) < ep.min_alarms:
        c.add(ebase + ("alarms",), pbase + ("min_alarms",),
              f"{env} needs at least {ep.min_alarms} CloudWatch alarm(s) for auto-rollback",
              f"at least {ep.min_alarms} alarm name(s) in alarms", len(e.alarms or []),
              at_key=e.alarms is not None)
    if e.approvals < ep.min_approvals:
        c.add(ebase + ("approvals",), pbase + ("min_approvals",),
              f"{env} needs at least {ep.min_approvals} approval(s)",
              f">= {ep.min_approvals}", e.approvals)
    if ep.require_validation and manifest.validation is None:
        c.add(("validation",), pbase + ("require_validation",),
              f"{env} requires a validation set and metric gates", "a `validation:` section", None)

    if manifest.joins_shared_endpoint(env):
        endpoint = manifest.endpoint_name(env)
        shared = ep.shared_endpoints.get(endpoint)
        path = manifest.source.path if manifest.source is not None else ""
        loc = ebase + ("inference_component", "shared_endpoint")
        if shared is None:
            c.add(loc, pbase + ("shared_endpoints",), f"endpoint {endpoint} is not a shared endpoint in {env}",
                  "one of " + (", ".join(sorted(ep.shared_endpoints)) or "(none)"), True)
        elif repository is not None and not _matches(repository, shared.repositories):
            c.add(loc, pbase + ("shared_endpoints", endpoint, "repositories"),
                  f"manifests of {repository} may not place components on the shared endpoint {endpoint}",
                  "a repository matching " + ", ".join(shared.repositories), True)
        elif not matches_globs(path, shared.manifests):
            c.add(loc, pbase + ("shared_endpoints", endpoint, "manifests"),
                  f"{path or 'this manifest'} may not place components on the shared endpoint {endpoint}",
                  "a manifest path matching " + ", ".join(shared.manifests), True)

    for setting, freezes in ((("freezes",), policy.freezes), (pbase + ("freezes",), ep.freezes)):
        for i, freeze in enumerate(freezes):
            until = freeze.active_until(now)
            if until is not None:
                c.add(ebase, setting + (i,), f"{env} is frozen until "
                      f"{until.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: {freeze.reason}",
                      "a deploy after the freeze", None, at_key=True)
    return c.out


def _check_image(c: _Ctx, image: str) -> None:
    p = c.policy
    parsed = parse_image(image)
    if parsed is None:
        return
    registry, repository, _ = parsed
    loc = ("model", "artifact", "image")
    if p.allowed_image_registries is not None and not _matches(registry, p.allowed_image_registries):
        c.add(loc, ("allowed_image_registries",), f"images from {registry} are not allowed",
              "a registry matching " + (", ".join(p.allowed_image_registries) or "(none)"), image)
    if p.allowed_image_repositories is not None and not _matches(
            f"{registry}/{repository}", p.allowed_image_repositories):
        c.add(loc, ("allowed_image_repositories",), f"repository {repository} is not allowed",
              "registry/repository matching " + (", ".join(p.allowed_image_repositories) or "(none)"),
              image)


def _outputs(e, base: tuple) -> list[tuple[tuple, str]]:
    out = []
    if e.async_ is not None:
        out.append((base + ("async", "output_path"), e.async_.output_path))
        if e.async_.failure_path:
            out.append((base + ("async", "failure_path"), e.async_.failure_path))
    if e.batch is not None:
        out.append((base + ("batch", "output_uri"), e.batch.output_uri))
    if e.data_capture is not None:
        out.append((base + ("data_capture", "destination"), e.data_capture.destination))
    return out


def _check_counts(c: _Ctx, e, ep: EnvironmentPolicy, ebase: tuple, pbase: tuple) -> None:
    lo, hi = ep.min_instance_count, ep.max_instance_count
    if e.mode == "serverless" or (lo is None and hi is None):
        return
    values = [(ebase + ("instance_count",), e.fleet, "instance_count")]
    ic = e.inference_component
    if ic is not None and ic.managed_instance_scaling is not None:
        # an inference component's autoscaling counts copies; its instances are these
        m, mloc = ic.managed_instance_scaling, ebase + ("inference_component", "managed_instance_scaling")
        values += [(mloc + ("min_instance_count",), m.min_instance_count, "min_instance_count"),
                   (mloc + ("max_instance_count",), m.max_instance_count, "max_instance_count")]
    elif e.autoscaling is not None and e.mode != "inference_component":
        values += [(ebase + ("autoscaling", "min_capacity"), e.autoscaling.min_capacity, "min_capacity"),
                   (ebase + ("autoscaling", "max_capacity"), e.autoscaling.max_capacity, "max_capacity")]
    for loc, n, what in values:
        if lo is not None and n < lo:
            c.add(loc, pbase + ("min_instance_count",), f"{what} {n} is below the minimum for {c.env}",
                  f">= {lo}", n)
        if hi is not None and n > hi:
            c.add(loc, pbase + ("max_instance_count",), f"{what} {n} is above the maximum for {c.env}",
                  f"<= {hi}", n)


def check_environments(manifest: Manifest, known: Iterable[str], *,
                       source: str = DEFAULT_CONFIG_PATH) -> list[Problem]:
    """Environments the manifest names that the server config does not define."""
    known = sorted(set(known))
    src = manifest.source
    out = []
    for name in manifest.environments:
        if name not in known:
            line, col = src.position(("environments", name), at_key=True) if src else (1, 1)
            out.append(Problem(src.path if src else "", line, col, f"environments.{name}", name,
                               f"no environment `{name}` is configured on the server",
                               "one of " + (", ".join(known) or "(none)"), "environments", "error",
                               f"{source}: environments"))
    return out
