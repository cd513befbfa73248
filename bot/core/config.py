"""Settings: secrets and URLs from the environment, server policy from `config/modelbot.yaml`.

Two sources, one object. The environment holds what differs per deployment and must stay
secret (12-factor); the YAML file holds what the organisation decides (allowlist, environments,
policy). Anything missing or malformed stops start-up with a `ConfigError` naming the setting.
Secret values are wrapped in `Secret` so that no repr, log line or error can print them.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.compare.settings import compare_config
from bot.core.errors import DEFAULT_CONFIG_PATH, ConfigError
from bot.core.gate import ConfigError as GateConfigError
from bot.core.gate import GatePolicy
from bot.core.pacing import Limits
from bot.core.permissions import PermissionPolicy
from bot.core.policy import PolicyConfig

MAX_CONFIG_BYTES = 1_000_000


API_TOKEN_MIN = 32


class Secret:
    """A string that refuses to show itself in repr/str/format."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# --- server config file (config/modelbot.yaml) -------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvironmentConfig(_Strict):
    """One deployment target: where the bot deploys and as whom."""

    aws_role_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$"
    )
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    aws_external_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$",
        description="ExternalId the deployer role's trust policy requires (config/iam/).")
    execution_role_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$",
        description="The SageMaker execution role models run as (passed to CreateModel).")
    production: bool = False
    order: int = 0
    poll_seconds: int = Field(
        default=30, ge=5, le=600,
        description="Seconds between two looks at a rollout in progress (DescribeEndpoint, "
                    "DescribeAlarms); the bot's own bakes and alarm watch are as fine as this.")


class UiConfig(_Strict):
    """Who may sign in to the status UI (bot/app/ui.py): active members of `organization` and,
    when `teams` are listed, of at least one of those teams (slugs of that organisation). Each
    person then sees a repository's endpoints only if GitHub lets them read that repository."""

    organization: str | None = Field(default=None, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
    teams: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]] = Field(default_factory=list)
    recheck_seconds: int = Field(
        default=300, ge=30, le=3600,
        description="How long a session's membership and readable repositories are trusted before "
                    "they are asked of GitHub again (a removed member loses access within this).")


class ServerConfig(_Strict):
    """The organisation's settings. Only this file and the base branch carry authority."""

    repositories: list[str] = Field(
        default_factory=list,
        description="Allowlist of `owner/name` patterns (fnmatch per segment: `*` never crosses `/`). "
                    "Empty means no repository.",
    )
    manifest_globs: list[str] = Field(default_factory=lambda: ["models/**/modelbot.yaml"])
    environments: dict[str, EnvironmentConfig] = Field(default_factory=dict)
    policy: dict[str, Any] = Field(default_factory=dict)
    permissions: dict[str, Any] = Field(
        default_factory=dict, description="Who may run which command; see bot/core/permissions.py.")
    compare: dict[str, Any] = Field(
        default_factory=dict, description="Baseline comparison settings; see bot/app/services/comparison/.")
    gate: dict[str, Any] = Field(
        default_factory=dict, description="What the deploy gate makes of comparison verdicts; see bot/core/gate.py.")
    prices: dict[str, float] = Field(
        default_factory=dict, description="On-demand USD per hour by instance type, for plan cost changes.")
    ui: UiConfig = Field(default_factory=UiConfig,
                         description="Sign-in to the status UI: the organisation and teams allowed.")
    drift_interval_seconds: Annotated[int, Field(ge=0, description=(
        "How often the worker compares every endpoint modelbot owns with its repository's default branch "
        "and the ledger (bot/app/services/drift.py); 0 turns the drift check off."))] = 3600

    @field_validator("prices")
    @classmethod
    def _prices(cls, value: dict[str, float]) -> dict[str, float]:
        for itype, price in value.items():
            if not itype.startswith("ml.") or price < 0:
                raise ValueError(f"{itype}: expected an ml.* instance type with a non-negative price")
        return value

    def ordered_environments(self) -> list[str]:
        """Environment names in deploy order (`order`, then name)."""
        return sorted(self.environments, key=lambda n: (self.environments[n].order, n))

    @field_validator("repositories")
    @classmethod
    def _repo_patterns(cls, value: list[str]) -> list[str]:
        for item in value:
            if item.count("/") != 1 or not all(item.split("/")):
                raise ValueError(f"{item!r} is not an 'owner/name' pattern")
        return value

    def allows_repository(self, full_name: str | None) -> bool:
        return any(repository_matches(full_name, pat) for pat in self.repositories)


# GitHub's rules for names: an owner is 1-39 letters, digits and hyphens; a repository name is
# 1-100 letters, digits, `.`, `_` and `-`, and never `.` or `..`.
_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_REPO_NAME = re.compile(r"(?!\.\.?$)[A-Za-z0-9._-]{1,100}")


def repository_matches(full_name: str | None, pattern: str) -> bool:
    """Whether `owner/name` matches an allowlist pattern, case-insensitively, segment by
    segment: a wildcard never crosses `/` (`acme/ml-*` does not match `acme/ml-x/../../evil/repo`),
    and a name GitHub could not have (more or fewer than two segments, `..`) matches nothing."""
    if not isinstance(full_name, str):
        return False
    parts = full_name.split("/")
    pats = pattern.split("/")
    if len(parts) != 2 or len(pats) != 2:
        return False
    if not _OWNER.fullmatch(parts[0]) or not _REPO_NAME.fullmatch(parts[1]):
        return False
    return all(fnmatch.fnmatchcase(p.lower(), q.lower()) for p, q in zip(parts, pats))


def _format_validation_error(source: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"{source}: {where}: {item['msg']}")
    return "\n".join(lines)


def load_server_config(path: str | os.PathLike[str]) -> ServerConfig:
    """Read and validate the server config file; raise ConfigError naming each bad setting."""
    p = Path(path)
    try:
        raw_bytes = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"MODELBOT_CONFIG: file {p} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"MODELBOT_CONFIG: cannot read {p}: {exc.strerror}") from None
    if len(raw_bytes) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        data = yaml.safe_load(raw_bytes.decode("utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping, got {type(data).__name__}")
    try:
        return ServerConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(str(p), exc)) from None


# --- environment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Everything a process needs, resolved once at start-up."""

    server: ServerConfig
    config_path: str
    webhook_secrets: tuple[Secret, ...]
    database_url: str
    redis_url: str | None
    data_dir: Path
    github_api_url: str
    github_app_id: str | None = None
    github_private_key: Secret | None = field(default=None)
    max_body_bytes: int = 25 * 1024 * 1024
    max_attempts: int = 5
    lease_seconds: int = 300
    queue_name: str = "modelbot"
    reap_grace_seconds: int = 60
    # The GitHub request budget per installation (bot.core.pacing; GitHub's documented
    # secondary limits). A write interval of 0 lifts spacing and caps (a GitHub enforcing none).
    github_write_interval: float = 1.0
    github_writes_per_minute: int = 80
    github_writes_per_hour: int = 500
    github_write_concurrency: int = 1
    api_tokens: tuple[Secret, ...] = ()  # bearer tokens of the JSON API (MODELBOT_API_TOKENS)
    # Sign-in to the status UI with GitHub (the App's OAuth user flow, bot/app/ui.py).
    github_web_url: str = "https://github.com"          # GITHUB_URL: where /login/oauth/* lives
    github_client_id: str | None = None                 # GITHUB_CLIENT_ID: the App's client id
    github_client_secret: Secret | None = None          # GITHUB_CLIENT_SECRET
    session_secret: Secret | None = None                # MODELBOT_SESSION_SECRET: signs session cookies
    public_url: str | None = None                       # MODELBOT_PUBLIC_URL: the callback's base
    cookie_secure: bool = True                          # MODELBOT_COOKIE_SECURE=false: local http only
    session_hours: int = 8                              # MODELBOT_SESSION_HOURS: a sign-in's lifetime
    # /metrics: a bearer token (MODELBOT_METRICS_TOKENS or an API token) or a client address in
    # these networks (MODELBOT_METRICS_ALLOW; `none`: no address is enough).
    metrics_tokens: tuple[Secret, ...] = ()
    metrics_allow: tuple[str, ...] = ("127.0.0.1/32", "::1/128")

    @property
    def ui_enabled(self) -> bool:
        """Whether sign-in to the status UI is configured (every piece of it, see `load_settings`)."""
        return bool(self.github_client_id and self.github_client_secret and self.session_secret
                    and self.public_url and self.server.ui.organization)

    @property
    def oauth_callback_url(self) -> str | None:
        return f"{self.public_url}/oauth/callback" if self.public_url else None

    @cached_property
    def policy(self):
        """The parsed `policy:` block (bot.core.policy.PolicyConfig); raises ConfigError naming bad settings.

        Parsed on first use, not on the web path: `serve` and `worker` touch it at start-up.
        """
        return PolicyConfig.from_server_policy(self.server.policy, environments=self.server.environments,
                                               source=self.config_path)

    @cached_property
    def permissions(self):
        """The parsed `permissions:` block (bot.core.permissions.PermissionPolicy); raises ConfigError."""
        return PermissionPolicy.from_server_config(self.server.permissions, environments=self.server.environments,
                                                   source=self.config_path)

    @cached_property
    def gate(self):
        """The parsed `gate:` block (bot.core.gate.GatePolicy); raises ConfigError naming bad settings."""
        try:
            return GatePolicy.from_server_config(self.server.gate, environments=self.server.environments,
                                                 source=self.config_path)
        except GateConfigError as exc:
            raise ConfigError(str(exc)) from None

    def validate_deep(self, *, compare: bool = True) -> None:
        """Parse the blocks that are parsed lazily, so a bad one stops start-up.

        `compare=False` skips the `compare:` block, whose parser brings numpy along (the gunicorn
        master must stay light; its migration child checks that block instead).
        """
        self.policy  # noqa: B018
        self.permissions  # noqa: B018
        self.gate  # noqa: B018
        if compare:
            compare_config(self)

    @property
    def queue_backend(self) -> str:
        return "redis" if self.redis_url else "sqlite"

    @property
    def store_backend(self) -> str:
        return self.database_url.split(":", 1)[0].split("+", 1)[0]

    def require_github_app(self) -> tuple[str, Secret]:
        if not self.github_app_id:
            raise ConfigError("GITHUB_APP_ID: not set (the worker needs the App id to call GitHub)")
        if self.github_private_key is None:
            raise ConfigError(
                "GITHUB_PRIVATE_KEY / GITHUB_PRIVATE_KEY_PATH: neither is set "
                "(the worker needs the App's private key to call GitHub)"
            )
        return self.github_app_id, self.github_private_key

    def github_limits(self) -> Limits:
        """The pacer's budget (bot.core.pacing.Limits) these settings describe."""
        if self.github_write_interval == 0:
            return Limits.unlimited()
        return Limits(interval=self.github_write_interval, per_minute=self.github_writes_per_minute,
                      per_hour=self.github_writes_per_hour, concurrency=self.github_write_concurrency)


def _int_env(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
    return value


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    if not 0 <= value <= 60:
        raise ConfigError(f"{name}: must be between 0 and 60 seconds, got {value}")
    return value


def _private_key(env: Mapping[str, str]) -> Secret | None:
    inline = env.get("GITHUB_PRIVATE_KEY")
    path = env.get("GITHUB_PRIVATE_KEY_PATH")
    if inline and path:
        raise ConfigError("GITHUB_PRIVATE_KEY and GITHUB_PRIVATE_KEY_PATH: set only one of them")
    if path:
        try:
            inline = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"GITHUB_PRIVATE_KEY_PATH: cannot read {path}: {exc.strerror}") from None
    if not inline:
        return None
    inline = inline.replace("\\n", "\n").strip()
    if "-----BEGIN" not in inline or "PRIVATE KEY-----" not in inline:
        name = "GITHUB_PRIVATE_KEY_PATH" if path else "GITHUB_PRIVATE_KEY"
        raise ConfigError(f"{name}: not a PEM private key")
    return Secret(inline + "\n")


def load_settings(env: Mapping[str, str] | None = None, *, require_secrets: bool = True) -> Settings:
    """Build Settings from an environment mapping (os.environ by default)."""
    env = os.environ if env is None else env
    config_path = env.get("MODELBOT_CONFIG") or DEFAULT_CONFIG_PATH
    server = load_server_config(config_path)

    raw_secrets = env.get("MODELBOT_WEBHOOK_SECRETS", "")
    secrets = tuple(Secret(s.strip()) for s in raw_secrets.split(",") if s.strip())
    if require_secrets and not secrets:
        raise ConfigError("MODELBOT_WEBHOOK_SECRETS: not set (comma-separated webhook secrets)")
    for s in secrets:
        if len(s.get()) < 8:
            raise ConfigError("MODELBOT_WEBHOOK_SECRETS: each secret must be at least 8 characters")

    api_tokens = tuple(Secret(t.strip()) for t in env.get("MODELBOT_API_TOKENS", "").split(",") if t.strip())
    for t in api_tokens:
        if len(t.get()) < API_TOKEN_MIN:
            raise ConfigError(f"MODELBOT_API_TOKENS: each token must be at least {API_TOKEN_MIN} characters "
                              "(e.g. `openssl rand -hex 32`)")

    ui = _ui_settings(env, server)
    metrics_tokens = _tokens(env, "MODELBOT_METRICS_TOKENS")
    metrics_allow = _networks(env)

    data_dir = Path(env.get("MODELBOT_DATA_DIR") or "var")
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'modelbot.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    if not database_url.startswith(("sqlite:", "postgresql+psycopg:")):
        raise ConfigError("DATABASE_URL: only sqlite:/// and postgresql:// URLs are supported")

    redis_url = env.get("REDIS_URL") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL: expected a redis://, rediss:// or unix:// URL")

    api_url = (env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    if not api_url.startswith(("http://", "https://")):
        raise ConfigError("GITHUB_API_URL: expected an http(s) URL")

    return Settings(
        server=server,
        config_path=config_path,
        webhook_secrets=secrets,
        api_tokens=api_tokens,
        database_url=database_url,
        redis_url=redis_url,
        data_dir=data_dir,
        github_api_url=api_url,
        github_app_id=env.get("GITHUB_APP_ID") or None,
        github_private_key=_private_key(env),
        max_body_bytes=_int_env(env, "MODELBOT_MAX_BODY_BYTES", 25 * 1024 * 1024),
        max_attempts=_int_env(env, "MODELBOT_MAX_ATTEMPTS", 5),
        lease_seconds=_int_env(env, "MODELBOT_LEASE_SECONDS", 300, minimum=5),
        queue_name=env.get("MODELBOT_QUEUE_NAME") or "modelbot",
        reap_grace_seconds=_int_env(env, "MODELBOT_REAP_GRACE_SECONDS", 60, minimum=0),
        github_write_interval=_float_env(env, "MODELBOT_GITHUB_WRITE_INTERVAL", 1.0),
        github_writes_per_minute=_int_env(env, "MODELBOT_GITHUB_WRITES_PER_MINUTE", 80),
        github_writes_per_hour=_int_env(env, "MODELBOT_GITHUB_WRITES_PER_HOUR", 500),
        github_write_concurrency=_int_env(env, "MODELBOT_GITHUB_WRITE_CONCURRENCY", 1),
        metrics_tokens=metrics_tokens,
        metrics_allow=metrics_allow,
        **ui,
    )


SESSION_SECRET_MIN = 32
UI_SETTINGS = ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET", "MODELBOT_SESSION_SECRET", "MODELBOT_PUBLIC_URL")


def _tokens(env: Mapping[str, str], name: str) -> tuple[Secret, ...]:
    tokens = tuple(Secret(t.strip()) for t in env.get(name, "").split(",") if t.strip())
    for t in tokens:
        if len(t.get()) < API_TOKEN_MIN:
            raise ConfigError(f"{name}: each token must be at least {API_TOKEN_MIN} characters "
                              "(e.g. `openssl rand -hex 32`)")
    return tokens


def _networks(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("MODELBOT_METRICS_ALLOW")
    if raw is None or raw.strip() == "":
        return Settings.metrics_allow
    if raw.strip().lower() == "none":
        return ()
    out = []
    for item in (x.strip() for x in raw.split(",") if x.strip()):
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"MODELBOT_METRICS_ALLOW: {item!r} is not an IP address or network") from None
    return tuple(out)


def _ui_settings(env: Mapping[str, str], server: ServerConfig) -> dict[str, Any]:
    """The status UI's sign-in settings: all of them or none (a half-configured sign-in stops
    start-up naming what is missing, instead of a UI that lets nobody in for a reason nobody sees)."""
    given = {name: (env.get(name) or "").strip() for name in UI_SETTINGS}
    web_url = (env.get("GITHUB_URL") or "https://github.com").rstrip("/")
    if not web_url.startswith(("http://", "https://")):
        raise ConfigError("GITHUB_URL: expected an http(s) URL")
    secure_raw = (env.get("MODELBOT_COOKIE_SECURE") or "true").strip().lower()
    if secure_raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"MODELBOT_COOKIE_SECURE: expected true or false, got {secure_raw!r}")
    secure = secure_raw in ("true", "1", "yes")
    hours = _int_env(env, "MODELBOT_SESSION_HOURS", 8)
    if hours > 24:
        raise ConfigError(f"MODELBOT_SESSION_HOURS: at most 24, got {hours}")
    out: dict[str, Any] = {"github_web_url": web_url, "cookie_secure": secure, "session_hours": hours}
    if not any(given.values()):
        return out
    missing = [name for name, value in given.items() if not value]
    if server.ui.organization is None:
        missing.append("ui.organization (in the server config file)")
    if missing:
        raise ConfigError("status UI sign-in: set all of GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, "
                          "MODELBOT_SESSION_SECRET, MODELBOT_PUBLIC_URL and ui.organization, or none; "
                          "missing: " + ", ".join(missing))
    if len(given["MODELBOT_SESSION_SECRET"]) < SESSION_SECRET_MIN:
        raise ConfigError(f"MODELBOT_SESSION_SECRET: at least {SESSION_SECRET_MIN} characters "
                          "(e.g. `openssl rand -hex 32`)")
    public = given["MODELBOT_PUBLIC_URL"].rstrip("/")
    if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", public):
        raise ConfigError(f"MODELBOT_PUBLIC_URL: expected the bot's http(s) base URL, got {public!r}")
    if public.startswith("http://") and secure:
        raise ConfigError("MODELBOT_PUBLIC_URL: an http:// URL cannot carry Secure cookies; use https, "
                          "or MODELBOT_COOKIE_SECURE=false for a local trial only")
    return {**out, "github_client_id": given["GITHUB_CLIENT_ID"],
            "github_client_secret": Secret(given["GITHUB_CLIENT_SECRET"]),
            "session_secret": Secret(given["MODELBOT_SESSION_SECRET"]), "public_url": public}
