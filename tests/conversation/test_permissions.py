"""Who may run what: roles per command, production rules, teams, bots; every reason names the
role or team needed and the setting that decides it."""

from __future__ import annotations

import pytest

from bot.core.commands import COMMANDS, Command
from bot.core.config import ConfigError
from bot.core.permissions import (DEFAULT_ROLES, ROLES, Actor, PermissionPolicy, authorize, authorize_override,
                             render_help, render_refusal)

DEFAULT = PermissionPolicy()
ENVS = {"staging": False, "production": True}


def decide(command: Command, role: str | None, *, teams=(), production=None, policy=DEFAULT,
           actor="alice"):
    if production is None:
        production = ENVS.get(command.env or "", False)
    return authorize(command, actor, role=role, teams=teams, env_is_production=production, policy=policy)


DEFAULTS = [
    # command, the lowest role that may run it
    (Command("plan"), "read"),
    (Command("validate"), "read"),
    (Command("status"), "read"),
    (Command("help"), "read"),
    (Command("deploy", "staging"), "write"),
    (Command("promote", "staging"), "write"),
    (Command("rollback", "staging"), "write"),
    (Command("abort", "staging"), "write"),
    (Command("hold"), "write"),
    (Command("unhold"), "write"),
    (Command("deploy", "production"), "maintain"),
    (Command("promote", "production"), "maintain"),
    (Command("rollback", "production"), "maintain"),
    (Command("abort", "production"), "maintain"),
    (Command("unlock", "staging"), "admin"),
    (Command("unlock", "production"), "admin"),
]


@pytest.mark.parametrize("command, lowest", DEFAULTS, ids=[c.text for c, _ in DEFAULTS])
def test_default_roles(command, lowest):
    for role in ROLES:
        d = decide(command, role)
        assert d.allowed == (ROLES.index(role) >= ROLES.index(lowest)), (role, d.reason)
        if not d.allowed:
            assert f"needs the {lowest} role or higher" in d.reason
            assert f"alice has {role}" in d.reason
            assert "config/modelbot.yaml" in d.reason


def test_defaults_cover_every_command():
    assert set(DEFAULT_ROLES) == set(COMMANDS)


@pytest.mark.parametrize("role", [None, "", "none"])
def test_no_role_no_command(role):
    d = decide(Command("plan"), role)
    assert not d.allowed and "alice has no role in this repository" in d.reason


def test_the_reason_names_the_default_setting_to_change():
    d = decide(Command("deploy", "production"), "write")
    assert d.reason == ("`/deploy production` needs the maintain role or higher (the default; set "
                        "permissions.production.commands.deploy in config/modelbot.yaml to change "
                        "it); alice has write")


def test_configured_roles_win_most_specific_first():
    policy = PermissionPolicy.from_server_config({
        "commands": {"deploy": "maintain", "plan": "triage"},
        "production": {"commands": {"abort": "write"}},
        "environments": {"staging": {"commands": {"deploy": "triage"}}},
    }, environments=ENVS, source="conf/bot.yaml")
    assert not decide(Command("plan"), "read", policy=policy).allowed
    d = decide(Command("deploy", "staging"), "triage", policy=policy)
    assert d.allowed and "permissions.environments.staging.commands.deploy in conf/bot.yaml" in d.reason
    d = decide(Command("abort", "production"), "write", policy=policy)
    assert d.allowed and "permissions.production.commands.abort in conf/bot.yaml" in d.reason
    # an unnamed environment gets the global rule...
    d = decide(Command("deploy", "qa"), "write", policy=policy, production=False)
    assert not d.allowed and "permissions.commands.deploy in conf/bot.yaml" in d.reason
    # ...and production never less than maintain unless set explicitly
    assert decide(Command("deploy", "production"), "maintain", policy=policy).allowed


def test_production_default_keeps_a_stricter_global_role():
    policy = PermissionPolicy(commands={"deploy": "admin"})
    d = decide(Command("deploy", "production"), "maintain", policy=policy)
    assert not d.allowed and "needs the admin role" in d.reason


def test_production_teams():
    policy = PermissionPolicy.from_server_config({"production": {"teams": ["@acme/ml-release", "acme/sre"]}})
    cmd = Command("deploy", "production")
    d = decide(cmd, "admin", teams=["acme/data"], policy=policy)
    assert not d.allowed
    assert d.reason == ("`/deploy production` also needs membership in `@acme/ml-release` or "
                        "`@acme/sre` (permissions.production.teams in config/modelbot.yaml); "
                        "alice is in none of them")
    assert decide(cmd, "maintain", teams=["ACME/SRE"], policy=policy).allowed
    assert decide(cmd, "maintain", teams=["@acme/ml-release"], policy=policy).allowed
    # the team is needed on top of the role, not instead of it
    assert not decide(cmd, "write", teams=["acme/sre"], policy=policy).allowed
    # teams apply to deploy, promote and rollback by default, not to staging
    assert decide(Command("abort", "production"), "maintain", policy=policy).allowed
    assert decide(Command("deploy", "staging"), "write", policy=policy).allowed


def test_team_commands_and_environment_teams():
    policy = PermissionPolicy.from_server_config({
        "production": {"teams": ["acme/ml-release"], "team_commands": ["deploy", "abort"]},
        "environments": {"staging": {"teams": ["acme/ml"]}, "production": {"teams": []}},
    }, environments=ENVS)
    assert decide(Command("deploy", "production"), "maintain", policy=policy).allowed  # [] = no team
    d = decide(Command("deploy", "staging"), "write", policy=policy)
    assert not d.allowed and "permissions.environments.staging.teams" in d.reason
    assert decide(Command("deploy", "staging"), "write", teams=["acme/ml"], policy=policy).allowed


@pytest.mark.parametrize("actor", ["modelbot[bot]", "dependabot[bot]", Actor("renovate", "Bot"),
                                   Actor("Modelbot[BOT]", "User")])
def test_bots_and_apps_never_command(actor):
    d = authorize(Command("plan"), actor, role="admin", teams=[], env_is_production=False, policy=DEFAULT)
    assert not d.allowed and "is a bot" in d.reason


def test_custom_roles_map_to_a_base_role():
    policy = PermissionPolicy(custom_roles={"ML-Deployer": "write"})
    d = decide(Command("deploy", "staging"), "ml-deployer", policy=policy)
    assert d.allowed
    d = decide(Command("deploy", "production"), "ml-deployer", policy=policy)
    assert not d.allowed and "ml-deployer (counts as write)" in d.reason
    d = decide(Command("plan"), "auditor", policy=policy)
    assert not d.allowed and "custom role that permissions.custom_roles" in d.reason


def test_promote_and_abort_are_authorized_per_environment():
    with pytest.raises(ValueError):
        decide(Command("promote"), "admin")
    assert decide(Command("promote").with_env("staging"), "write").allowed


BAD_CONFIG = [
    ({"commands": {"deploy": "owner"}}, "permissions.commands.deploy"),
    ({"commands": {"ship": "write"}}, "permissions.commands.ship"),
    ({"production": {"commands": {"plan": "admin"}}}, "permissions.production.commands: plan: not aimed at an environment"),
    ({"production": {"teams": ["ml-release"]}}, "permissions.production.teams.0"),
    ({"environments": {"qa": {}}}, "permissions.environments.qa: no such environment"),
    ({"default_owners": ["not an owner"]}, "permissions.default_owners.0"),
    ({"approvers": []}, "permissions.approvers"),
    ({"break_glass": {"role": "owner"}}, "permissions.break_glass.role"),
    ({"break_glass": {"teams": ["sre"]}}, "permissions.break_glass.teams.0"),
    ({"break_glass": {"teams": "acme/sre"}}, "permissions.break_glass.teams"),
    ({"break_glass": {"users": ["alice"]}}, "permissions.break_glass.users"),
    ({"break_glass": ["acme/sre"]}, "permissions.break_glass"),
]


@pytest.mark.parametrize("raw, message", BAD_CONFIG, ids=[m for _, m in BAD_CONFIG])
def test_bad_config_names_the_setting(raw, message):
    with pytest.raises(ConfigError) as exc:
        PermissionPolicy.from_server_config(raw, environments=ENVS, source="config/modelbot.yaml")
    assert f"config/modelbot.yaml: {message}" in str(exc.value)


def test_help_lists_every_command_with_usage_and_who_may_run_it():
    policy = PermissionPolicy(production={"teams": ["acme/ml-release"]})
    text = render_help(policy, ENVS)
    for spec in COMMANDS.values():
        assert spec.usage.replace("|", "\\|") in text
    assert "| `/plan` | Show what a deploy would change on each environment. | read |" in text
    assert "staging: write; production: maintain and a member of `@acme/ml-release`" in text
    assert "| `/unlock <environment>` |" in text and "| admin |" in text
    assert "`staging`, `production` (production)" in text
    # pipes inside a code span are escaped so that the table keeps its columns
    assert "`/rollback <environment> [to <commit-sha> \\| to <deployment-id>]`" in text


def test_refusal_reply():
    cmd = Command("unlock", "production")
    d = decide(cmd, "maintain")
    text = render_refusal(cmd, "alice", d)
    assert text.startswith("@alice, `/unlock production` was not run")
    assert "needs the admin role or higher" in text and "alice has maintain" in text


def test_the_documented_example_parses_and_means_what_it_says():
    import textwrap

    import yaml

    import bot.core.permissions

    doc = bot.core.permissions.__doc__
    block = textwrap.dedent(doc[doc.index("    permissions:"):])
    policy = PermissionPolicy.from_server_config(yaml.safe_load(block)["permissions"], environments=ENVS)
    assert policy.requirement("abort", "production", True).role == "write"
    assert policy.requirement("deploy", "staging", False).role == "triage"
    assert policy.requirement("deploy", "production", True).teams == ("acme/ml-release",)
    assert policy.default_owners == ["@acme/ml-platform"]
    assert policy.break_glass_teams() == ("acme/ml-oncall",)
    assert policy.override_requirement().role == "admin"


# --- break glass: /deploy <env> --override "<reason>" ------------------------------------------

BREAK_GLASS = PermissionPolicy.from_server_config(
    {"break_glass": {"teams": ["@acme/ML-Oncall", "acme/sre"], "role": "maintain"}}, source="conf/bot.yaml")
ANY_TEAM = PermissionPolicy.from_server_config({"break_glass": {}})
OVERRIDING = [
    # policy, actor, role, teams, allowed, reason contains
    (DEFAULT, "alice", "admin", ["acme/sre"], False,
     "nobody may deploy with `--override`: permissions.break_glass is not set in config/modelbot.yaml"),
    (PermissionPolicy.from_server_config({"break_glass": None}), "alice", "admin", [], False,
     "permissions.break_glass is not set"),
    (BREAK_GLASS, "alice", "maintain", ["acme/sre"], True,
     "alice has maintain; `--override` needs maintain (permissions.break_glass.role in conf/bot.yaml) "
     "and membership in `@acme/ml-oncall` or `@acme/sre` (permissions.break_glass.teams)"),
    (BREAK_GLASS, "alice", "admin", ["ACME/ml-oncall"], True, "alice has admin"),
    (BREAK_GLASS, "alice", "write", ["acme/sre"], False,
     "`--override` needs the maintain role or higher (permissions.break_glass.role in conf/bot.yaml); "
     "alice has write"),
    (BREAK_GLASS, "alice", None, ["acme/sre"], False, "alice has no role in this repository"),
    (BREAK_GLASS, "alice", "admin", ["acme/data"], False,
     "`--override` also needs membership in `@acme/ml-oncall` or `@acme/sre` "
     "(permissions.break_glass.teams in conf/bot.yaml); alice is in none of them"),
    (BREAK_GLASS, "alice", "admin", [], False, "is in none of them"),
    (ANY_TEAM, "alice", "admin", [], True, "`--override` needs admin (the default; set "
     "permissions.break_glass.role in config/modelbot.yaml to change it)"),
    (ANY_TEAM, "alice", "maintain", [], False,
     "needs the admin role or higher (the default; set permissions.break_glass.role"),
    (BREAK_GLASS, "modelbot[bot]", "admin", ["acme/sre"], False, "modelbot[bot] is a bot"),
    (BREAK_GLASS, Actor("renovate", "Bot"), "admin", ["acme/sre"], False, "renovate is a bot"),
    (DEFAULT, "dependabot[bot]", "admin", [], False, "never override"),
]


@pytest.mark.parametrize("policy, actor, role, teams, allowed, reason", OVERRIDING,
                         ids=[f"{i}-{c[4]}" for i, c in enumerate(OVERRIDING)])
def test_who_may_override(policy, actor, role, teams, allowed, reason):
    d = authorize_override(actor, role=role, teams=teams, policy=policy)
    assert (d.allowed, d.override) == (allowed, True), d.reason
    assert reason in d.reason


def test_override_teams_to_look_up():
    assert DEFAULT.break_glass_teams() == ()
    assert ANY_TEAM.break_glass_teams() == ()
    assert BREAK_GLASS.break_glass_teams() == ("acme/ml-oncall", "acme/sre")


def test_custom_roles_count_for_override():
    policy = PermissionPolicy(custom_roles={"release-captain": "admin", "helper": "write"},
                              break_glass={"role": "admin"})
    assert authorize_override("alice", role="release-captain", teams=[], policy=policy).allowed
    d = authorize_override("alice", role="helper", teams=[], policy=policy)
    assert not d.allowed and "alice has helper (counts as write)" in d.reason


def test_an_override_does_not_replace_the_deploy_permission():
    cmd = Command("deploy", "production", override="SEV1: fraud model scoring everything 0")
    assert authorize_override("alice", role="write", teams=["acme/sre"],
                              policy=PermissionPolicy(break_glass={"role": "write"})).allowed
    d = decide(cmd, "write", policy=PermissionPolicy(break_glass={"role": "write"}))
    assert not d.allowed and not d.override
    assert d.reason.startswith('`/deploy production --override "SEV1: fraud model scoring everything 0"` '
                               "needs the maintain role or higher")


def test_override_refusal_reply():
    cmd = Command("deploy", "production", override="SEV1: fraud model scoring everything 0")
    d = authorize_override("alice", role="admin", teams=["acme/data"], policy=BREAK_GLASS)
    text = render_refusal(cmd, "alice", d)
    assert text.startswith('@alice, `/deploy production --override "SEV1: fraud model scoring everything 0"` '
                           "was not run: you may not deploy with `--override`.")
    assert "> `--override` also needs membership in `@acme/ml-oncall` or `@acme/sre`" in text
    assert "Without `--override`, `/deploy production` goes through every deploy gate" in text
    assert "you may not run it" in render_refusal(cmd, "alice", decide(cmd, "write"))


def test_help_says_who_may_override():
    assert "`/deploy <environment> --override \"<reason>\"` deploys past a freeze" in \
        render_help(BREAK_GLASS, ENVS)
    assert "It needs what `/deploy` needs and also: maintain and a member of `@acme/ml-oncall` or `@acme/sre`." \
        in render_help(BREAK_GLASS, ENVS)
    assert "Nobody may deploy with `--override`: `permissions.break_glass` is not set" in render_help(DEFAULT, ENVS)
