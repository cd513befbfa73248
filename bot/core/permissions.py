"""Who may run which command: the `permissions:` block of the server config, and `authorize`.

Authority comes from the server config only, never from a pull request. A command needs a
minimum GitHub repository role (read < triage < write < maintain < admin, as the collaborator
permission API reports it in `role_name`); an environment may additionally require membership
in one of some teams. The most specific setting wins: `environments.<env>`, then `production`
(for environments with `production: true`), then `commands`, then the built-in defaults below.
Bots and GitHub Apps, the bot itself included, never run commands. Pure: the caller passes the
actor's role and team memberships.

`/deploy <env> --override "<reason>"` (break glass) needs, on top of `/deploy`'s own permission,
what `break_glass` names (`authorize_override`); without that block nobody may override.

    permissions:
      commands:                 # minimum role per command, every environment (defaults shown)
        plan: read
        validate: read
        status: read
        help: read
        deploy: write
        promote: write
        rollback: write
        abort: write
        hold: write
        unhold: write
        unlock: admin
      production:               # environments with `production: true`
        commands:               # default: maintain (or the `commands` role, if higher) for
          abort: write          #   deploy, promote, rollback, abort and unlock
        teams: [acme/ml-release]          # the actor must be in one of these teams...
        team_commands: [deploy, promote, rollback]   # ...for these commands (default shown)
      environments:             # per environment, over the two above
        staging:
          commands: {deploy: triage}
      custom_roles:             # repository custom roles, by the base role they count as
        ml-deployer: write
      default_owners: ["@acme/ml-platform"]   # approvers of a manifest with no owners at base
      break_glass:              # who may `/deploy <env> --override "<reason>"`; absent: nobody
        teams: [acme/ml-oncall] # a member of one of these teams (left out or []: any team)...
        role: admin             # ...with at least this role (default admin)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Any, Iterable, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from bot.core.commands import COMMANDS, MAX_COMMANDS, OVERRIDE, OVERRIDE_USAGE, Command, code_span
from bot.core.errors import ConfigError
from bot.core.render import render

DEFAULT_SOURCE = "config/modelbot.yaml"

Role = Literal["read", "triage", "write", "maintain", "admin"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
CommandName = Literal["plan", "validate", "deploy", "promote", "rollback", "abort", "hold",
                      "unhold", "unlock", "status", "help"]
assert set(CommandName.__args__) == set(COMMANDS)  # type: ignore[attr-defined]

DEFAULT_ROLES: dict[str, str] = {
    "plan": "read", "validate": "read", "status": "read", "help": "read",
    "deploy": "write", "promote": "write", "rollback": "write", "abort": "write",
    "hold": "write", "unhold": "write", "unlock": "admin",
}
PRODUCTION_ROLE = "maintain"
# Commands aimed at an environment; in a production one they need at least PRODUCTION_ROLE.
ENV_COMMANDS = tuple(name for name, spec in COMMANDS.items() if spec.takes_env)
DEFAULT_TEAM_COMMANDS = ("deploy", "promote", "rollback")

Team = Annotated[str, Field(pattern=r"^@?[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
                            description="a GitHub team, org/team-slug (a leading @ is allowed)")]
Owner = Annotated[str, Field(pattern=r"^@?[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:/[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?$",
                             description="a GitHub user or @org/team")]


def rank(role: str) -> int:
    """The role's place in read < triage < write < maintain < admin."""
    return ROLES.index(role)


def team_key(team: str) -> str:
    """A team as compared: `org/slug`, lowercase, without a leading @."""
    return team.strip().lstrip("@").lower()


def is_bot(login: str, account_type: str | None = None) -> bool:
    """GitHub Apps act as `<slug>[bot]` accounts of type Bot."""
    return (account_type or "").lower() == "bot" or login.lower().endswith("[bot]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvironmentPermissions(_Strict):
    """Settings for production environments or for one environment by name."""

    commands: dict[CommandName, Role] = Field(default_factory=dict)
    teams: list[Team] | None = Field(default=None, description=(
        "The actor must be a member of one of these teams for `team_commands`. "
        "Left out: inherited (an environment inherits the production block's); [] = none."))
    team_commands: list[CommandName] | None = Field(default=None, description=(
        f"Commands the teams apply to; default {', '.join(DEFAULT_TEAM_COMMANDS)}."))

    @field_validator("commands")
    @classmethod
    def _env_commands_only(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = sorted(n for n in value if n not in ENV_COMMANDS)
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: not aimed at an environment; set "
                             f"{'it' if len(wrong) == 1 else 'them'} under permissions.commands "
                             f"(per environment: {', '.join(ENV_COMMANDS)})")
        return value


class BreakGlass(_Strict):
    """Who may deploy with `--override`: at least `role`, and a member of one of `teams` if any."""

    teams: list[Team] = Field(default_factory=list, max_length=50)
    role: Role = "admin"


class PermissionPolicy(_Strict):
    """The `permissions:` block of the server config (see the module docstring)."""

    commands: dict[CommandName, Role] = Field(default_factory=dict)
    production: EnvironmentPermissions = Field(default_factory=EnvironmentPermissions)
    environments: dict[str, EnvironmentPermissions] = Field(default_factory=dict)
    custom_roles: dict[Annotated[str, Field(min_length=1, max_length=100)], Role] = Field(
        default_factory=dict, description="Repository custom role name -> the role it counts as.")
    default_owners: list[Owner] = Field(default_factory=list, max_length=50, description=(
        "Approvers of a manifest that has neither owners nor a CODEOWNERS rule at base."))
    break_glass: BreakGlass | None = Field(default=None, description=(
        "Who may `/deploy <env> --override \"<reason>\"`; left out: nobody."))

    _source: str = PrivateAttr(default=DEFAULT_SOURCE)

    @classmethod
    def from_server_config(cls, raw: Mapping[str, Any] | None, *,
                           environments: Iterable[str] | None = None,
                           source: str = DEFAULT_SOURCE) -> PermissionPolicy:
        """Parse the `permissions:` block; raise bot.core.config.ConfigError naming every bad
        setting (with `environments`, also permissions for an unknown environment)."""
        try:
            policy = cls.model_validate(dict(raw or {}))
        except ValidationError as exc:
            lines = []
            for err in exc.errors(include_url=False):
                where = ".".join(str(p) for p in ("permissions",) + tuple(err["loc"]))
                msg = err["msg"].removeprefix("Value error, ")
                lines.append(f"{source}: {where}: {msg}")
            raise ConfigError("\n".join(lines)) from None
        if environments is not None:
            unknown = policy.unknown_environments(environments)
            if unknown:
                raise ConfigError("\n".join(f"{source}: {line}" for line in unknown))
        policy._source = source
        return policy

    def unknown_environments(self, known: Iterable[str]) -> list[str]:
        """A message for each `environments.<name>` that is not a configured environment."""
        known = sorted(set(known))
        return [f"permissions.environments.{name}: no such environment in `environments` "
                f"(known: {', '.join(known) or 'none'})"
                for name in sorted(self.environments) if name not in known]

    @property
    def source(self) -> str:
        """The config file these permissions came from, named in every reason."""
        return self._source

    # --- what a command needs -------------------------------------------------------------

    def requirement(self, name: str, env: str | None, production: bool) -> Requirement:
        """What running command `name` (aimed at `env`) needs, and where that is set."""
        if name not in COMMANDS:
            raise KeyError(name)
        scoped = COMMANDS[name].takes_env and env is not None
        env_rules = self.environments.get(env) if scoped and env is not None else None
        base_role, base_at = (self.commands[name], f"permissions.commands.{name}") \
            if name in self.commands else (DEFAULT_ROLES[name], None)
        role, at = base_role, base_at
        if scoped and production:
            if name in self.production.commands:
                role, at = self.production.commands[name], f"permissions.production.commands.{name}"
            elif rank(PRODUCTION_ROLE) > rank(base_role):
                role, at = PRODUCTION_ROLE, None
        if env_rules is not None and name in env_rules.commands:
            role, at = env_rules.commands[name], f"permissions.environments.{env}.commands.{name}"
        default_at = (f"permissions.production.commands.{name}" if scoped and production
                      else f"permissions.commands.{name}")

        teams: tuple[str, ...] = ()
        teams_at = None
        if scoped:
            layers = []
            if production:
                layers.append((self.production, "permissions.production"))
            if env_rules is not None:
                layers.append((env_rules, f"permissions.environments.{env}"))
            members, which, applies = None, None, None
            for layer, path in layers:
                if layer.teams is not None:
                    members, which = layer.teams, path
                if layer.team_commands is not None:
                    applies = layer.team_commands
            if members and name in (applies if applies is not None else DEFAULT_TEAM_COMMANDS):
                teams, teams_at = tuple(dict.fromkeys(team_key(t) for t in members)), f"{which}.teams"
        return Requirement(name, env if scoped else None, role, at or default_at, at is not None,
                           teams, teams_at, self.source)

    def override_requirement(self) -> Requirement | None:
        """What `--override` needs (on top of `/deploy`'s own permission); None: nobody may."""
        bg = self.break_glass
        if bg is None:
            return None
        role_set = "role" in bg.model_fields_set
        return Requirement("deploy", None, bg.role, "permissions.break_glass.role", role_set,
                           tuple(dict.fromkeys(team_key(t) for t in bg.teams)),
                           "permissions.break_glass.teams" if bg.teams else None, self.source)

    def break_glass_teams(self) -> tuple[str, ...]:
        """The teams (`org/slug`, lowercase) whose membership `authorize_override` needs."""
        req = self.override_requirement()
        return req.teams if req else ()

    def describe_override(self) -> str | None:
        """Who may override, in a few words, for the help text; None: nobody."""
        req = self.override_requirement()
        return req.role + _teams_words(req.teams) if req else None

    def describe(self, name: str, environments: Mapping[str, bool]) -> str:
        """Who may run command `name`, in a few words, for the help text."""
        req = self.requirement(name, None, False)
        if not COMMANDS[name].takes_env or not environments:
            return req.role
        groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for env, production in environments.items():
            r = self.requirement(name, env, production)
            groups.setdefault((r.role, r.teams), []).append(env)
        if len(groups) == 1:
            (role, teams), = groups
            return role + _teams_words(teams)
        return "; ".join(f"{', '.join(envs)}: {role}{_teams_words(teams)}"
                         for (role, teams), envs in groups.items())


def _teams_words(teams: tuple[str, ...]) -> str:
    return (" and a member of " + " or ".join(f"`@{t}`" for t in teams)) if teams else ""


@dataclass(frozen=True)
class Requirement:
    """What a command needs: a minimum role, maybe team membership, and where each is set."""

    command: str
    env: str | None
    role: str
    role_setting: str          # the setting that decides the role (or would, if set)
    role_configured: bool      # False: the built-in default
    teams: tuple[str, ...]     # org/slug, lowercase; empty: no team needed
    teams_setting: str | None
    source: str

    @property
    def where(self) -> str:
        if self.role_configured:
            return f"{self.role_setting} in {self.source}"
        return f"the default; set {self.role_setting} in {self.source} to change it"


@dataclass(frozen=True)
class Actor:
    """Who wrote the comment: the login and GitHub's account type (`User`, `Bot`, ...)."""

    login: str
    type: str = "User"


@dataclass(frozen=True)
class Decision:
    """Whether the actor may run the command, and why, naming the setting that decides it."""

    allowed: bool
    reason: str
    requirement: Requirement | None = None
    override: bool = False     # the decision is about `--override`, not the command itself


def authorize(command: Command, actor: Actor | str, *, role: str | None, teams: Iterable[str],
              env_is_production: bool, policy: PermissionPolicy) -> Decision:
    """May `actor` run `command`? `role` is the actor's repository role (`role_name` of the
    collaborator permission API: read, triage, write, maintain, admin, a custom role, or
    None/"none"), `teams` the teams (`org/slug`) the actor belongs to, `env_is_production`
    whether `command.env` is a production environment.

    `/promote` and `/abort` without an environment act on environments the handler chooses:
    ask once per environment with `command.with_env(env)` (ValueError otherwise).

    A command with `override` is decided here as without it: the override does not replace the
    command's permission. Ask `authorize_override` too; the command runs only if both allow.
    """
    if isinstance(actor, str):
        actor = Actor(actor)
    login = actor.login
    if is_bot(login, actor.type):
        return Decision(False, f"{login} is a bot: bots and GitHub Apps, modelbot included, never "
                        "run modelbot commands")
    spec = COMMANDS[command.name]
    if spec.takes_env and command.env is None:
        raise ValueError(f"/{command.name}: authorize it per environment (command.with_env(env))")
    req = policy.requirement(command.name, command.env, env_is_production)
    what = code_span(command.text, 250)
    return _decide(what, login, role, teams, req, policy)


def authorize_override(actor: Actor | str, *, role: str | None, teams: Iterable[str],
                       policy: PermissionPolicy) -> Decision:
    """May `actor` deploy with `--override`? `role` and `teams` as for `authorize`; the teams
    to look up are `policy.break_glass_teams()`. Only on top of `authorize` for the command."""
    if isinstance(actor, str):
        actor = Actor(actor)
    login, what = actor.login, f"`{OVERRIDE}`"
    if is_bot(login, actor.type):
        return Decision(False, f"{login} is a bot: bots and GitHub Apps, modelbot included, never "
                        "override", override=True)
    req = policy.override_requirement()
    if req is None:
        return Decision(False, f"nobody may deploy with {what}: permissions.break_glass is not set in "
                        f"{policy.source}", override=True)
    return replace(_decide(what, login, role, teams, req, policy), override=True)


def _decide(what: str, login: str, role: str | None, teams: Iterable[str], req: Requirement,
            policy: PermissionPolicy) -> Decision:
    """The role check, then the team check, of `req`; the reason names the setting of each."""
    effective = _effective_role(role, policy)
    if effective is None or rank(effective) < rank(req.role):
        if effective is not None:
            shown = effective if role is None or role.lower() in ROLES else f"{role} (counts as {effective})"
            lacks = f"{login} has {shown}"
        elif role and role.lower() != "none" and role.lower() not in ROLES:
            lacks = (f"{login}'s role `{role}` is a custom role that permissions.custom_roles in "
                     f"{policy.source} does not map to a base role")
        else:
            lacks = f"{login} has no role in this repository"
        return Decision(False, f"{what} needs the {req.role} role or higher ({req.where}); {lacks}", req)
    names = " or ".join(f"`@{t}`" for t in req.teams)
    if req.teams and not {team_key(t) for t in teams}.intersection(req.teams):
        return Decision(False, f"{what} also needs membership in {names} "
                        f"({req.teams_setting} in {req.source}); {login} is in none of them", req)
    return Decision(True, f"{login} has {effective}; {what} needs {req.role} ({req.where})"
                    + (f" and membership in {names} ({req.teams_setting})" if req.teams else ""), req)


def _effective_role(role: str | None, policy: PermissionPolicy) -> str | None:
    if not role:
        return None
    lowered = role.strip().lower()
    if lowered in ROLES:
        return lowered
    for name, base in policy.custom_roles.items():
        if name.lower() == lowered:
            return base
    return None


# --- replies: a refused command, and /help --------------------------------------------------------


def render_refusal(command: Command, actor: str, decision: Decision) -> str:
    """The reply to a command its author may not run, saying who may and where that is set
    (a refused `--override`, `decision.override`, has its own wording)."""
    template = "commands/override_refused.md.j2" if decision.override else "commands/refused.md.j2"
    return render(template, command=command, without=replace(command, override=None), actor=actor,
                  decision=decision, code=code_span)


def render_help(policy: PermissionPolicy, environments: Mapping[str, bool]) -> str:
    """The `/help` reply: every command with its usage and who may run it.

    `environments` maps each configured environment to whether it is a production environment,
    in deploy order.
    """
    rows = [(spec, policy.describe(spec.name, environments)) for spec in COMMANDS.values()]
    return render("commands/help.md.j2", rows=rows, environments=environments,
                  max_commands=MAX_COMMANDS, override=policy.describe_override(),
                  override_usage=OVERRIDE_USAGE, code=code_span)
