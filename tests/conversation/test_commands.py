"""The comment grammar: which lines are commands, what each command accepts, and what a person
is told when a line is not a command modelbot can run."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.commands import (
    COMMANDS,
    MAX_BODY_CHARS,
    MAX_COMMANDS,
    MAX_LINE_CHARS,
    MAX_REASON_CHARS,
    OVERRIDE_USAGE,
    Command,
    CommandError,
    RollbackTarget,
    check_reason,
    code_span,
    parse_comment,
    render_errors,
)

ENVS = ("staging", "production")


def parse(body: str):
    return parse_comment(body, known_envs=ENVS)


def one(body: str):
    result = parse(body)
    assert len(result) == 1, result
    return result[0]


OK = [
    # comment line, command
    ("/plan", Command("plan")),
    ("/validate", Command("validate")),
    ("/deploy staging", Command("deploy", "staging")),
    ("/deploy production", Command("deploy", "production")),
    ("/promote", Command("promote")),
    ("/promote production", Command("promote", "production")),
    ("/rollback production", Command("rollback", "production")),
    ("/rollback production to 1a2b3c4", Command("rollback", "production", RollbackTarget("commit", "1a2b3c4"))),
    ("/rollback production to " + "A" * 40, Command("rollback", "production", RollbackTarget("commit", "a" * 40))),
    ("/rollback staging to 42", Command("rollback", "staging", RollbackTarget("deployment", "42"))),
    ("/rollback staging to 1234567", Command("rollback", "staging", RollbackTarget("deployment", "1234567"))),
    ("/rollback staging to commit 1234567", Command("rollback", "staging", RollbackTarget("commit", "1234567"))),
    ("/rollback staging to deployment 42", Command("rollback", "staging", RollbackTarget("deployment", "42"))),
    ("/abort", Command("abort")),
    ("/abort staging", Command("abort", "staging")),
    ("/hold", Command("hold")),
    ("/unhold", Command("unhold")),
    ("/unlock production", Command("unlock", "production")),
    ("/status", Command("status")),
    ("/help", Command("help")),
    ("   /plan", Command("plan")),
    ("   /deploy  staging  ", Command("deploy", "staging")),
    ("/plan\r", Command("plan")),
]


@pytest.mark.parametrize("line, expected", OK, ids=[c[0] for c in OK])
def test_every_command_and_its_arguments(line, expected):
    assert one(line) == expected


def test_every_command_of_the_grammar_is_covered():
    assert {c.name for _, c in OK} == set(COMMANDS)


BAD = [
    # comment line, kind, message contains, suggestion
    ("/Deploy staging", "unknown_command", "`/Deploy` is not a modelbot command", "/deploy staging"),
    ("/PLAN", "unknown_command", "not a modelbot command", "/plan"),
    ("/deplyo staging", "unknown_command", "not a modelbot command", "/deploy staging"),
    ("/rolback production", "unknown_command", "not a modelbot command", "/rollback production"),
    ("/stat", "unknown_command", "not a modelbot command", "/status"),
    ("/d\u0435ploy staging", "unknown_command", "not a modelbot command", "/deploy staging"),  # Cyrillic е
    ("/frobnicate", "unknown_command", "not a modelbot command", None),
    ("/deploy", "missing_argument", "needs an environment (one of staging, production)", None),
    ("/unlock", "missing_argument", "needs an environment", None),
    ("/deploy prod", "bad_argument", "`prod` is not a configured environment", "/deploy production"),
    ("/deploy Staging", "bad_argument", "`Staging` is not a configured environment", "/deploy staging"),
    ("/deploy stagign", "bad_argument", "not a configured environment", "/deploy staging"),
    ("/deploy qa", "bad_argument", "not a configured environment", None),
    ("/promote prod", "bad_argument", "not a configured environment", "/promote production"),
    ("/deploy staging production", "too_many_arguments", "/deploy takes one argument", "/deploy staging"),
    ("/abort staging now", "too_many_arguments", "at most one argument", "/abort staging"),
    ("/plan staging", "too_many_arguments", "/plan takes no arguments", "/plan"),
    ("/help deploy", "too_many_arguments", "/help takes no arguments", "/help"),
    ("/rollback production to xyz1234", "bad_argument", "is neither a commit SHA (7-40 hex digits) nor a deployment id", None),
    ("/rollback production to abc12", "bad_argument", "neither a commit SHA", None),
    ("/rollback production to " + "a" * 41, "bad_argument", "neither a commit SHA", None),
    ("/rollback production to commit 12ab", "bad_argument", "is not a commit SHA (7-40 hex digits)", None),
    ("/rollback production to deployment abc1234", "bad_argument", "is not a deployment id (digits)", None),
    ("/rollback production to", "bad_argument", "write `to <commit-sha>`", None),
    ("/rollback production 1a2b3c4", "bad_argument", "write `to <commit-sha>`", None),
    ("/rollback production to branch main", "bad_argument", "write `to commit <sha>`", None),
    ("/rollback", "missing_argument", "needs an environment", None),
    ("/deploy sta\u200bging", "control_characters", "control or invisible", None),
    ("/plan\x00", "control_characters", "control or invisible", None),
    ("/deploy \x1b[31mstaging", "control_characters", "control or invisible", None),
    ("/deploy " + "x" * MAX_LINE_CHARS, "line_too_long", f"at most {MAX_LINE_CHARS} characters", None),
]


@pytest.mark.parametrize("line, kind, message, suggestion", BAD, ids=[c[0][:40] for c in BAD])
def test_malformed_commands_are_errors_with_a_suggestion_and_the_usage(line, kind, message, suggestion):
    err = one(line)
    assert isinstance(err, CommandError)
    assert (err.kind, err.suggestion) == (kind, suggestion)
    assert message in err.message
    assert err.line == 1
    if err.command:
        assert err.usage == COMMANDS[err.command].usage
    if err.suggestion:  # a suggestion is itself a command that parses
        assert isinstance(one(err.suggestion), Command)


NOT_COMMANDS = [
    "please /plan",
    "> /deploy production",
    "   > /deploy production",
    ">> /deploy production",
    "/models/fraud/modelbot.yaml looks wrong",
    "/",
    "/ plan",
    "/) sorry",
    "/123",
    "```\n/deploy production\n```",
    "~~~\n/deploy production\n~~~",
    "````md\n```\n/deploy production\n```\n````",
    "  ```python\n/deploy production\n  ```",
    "```\n/deploy production",          # an unclosed fence runs to the end
    "~~~\n/deploy production\n```\n/hold",  # a ``` does not close a ~~~ fence
    "```\n/deploy production\n``` not a closing fence\n/hold",
    "<!--\n/deploy production\n-->",
    "text <!-- a note\n/deploy production\nend -->",
    "<!-- /deploy production -->",
    "\u200b/deploy production",
    "",
    "LGTM 👍",
]


@pytest.mark.parametrize("body", NOT_COMMANDS, ids=[repr(b[:30]) for b in NOT_COMMANDS])
def test_quotes_code_and_other_text_are_not_commands(body):
    assert parse(body) == []


def test_none_body():
    assert parse_comment(None, known_envs=ENVS) == []


def test_several_commands_in_one_comment_in_order_with_line_numbers():
    body = ("Looks good.\n\n/plan\n> /deploy production\n```\n/unlock production\n```\n"
            "/deploy staging\n/Hold\n")
    assert parse(body) == [
        Command("plan", line=3),
        Command("deploy", "staging", line=8),
        CommandError(9, "unknown_command", "/Hold", "`/Hold` is not a modelbot command",
                     suggestion="/hold", usage="/hold"),
    ]


def test_a_fence_closes_and_commands_after_it_count():
    assert parse("```\n/deploy production\n```\n/hold") == [Command("hold", line=4)]
    assert parse("``` inline ``` code\n/hold") == [Command("hold", line=2)]  # not a fence


def test_commands_after_an_html_comment_count():
    assert parse("<!-- hidden -->\n/hold") == [Command("hold", line=2)]
    assert parse("<!--\n/deploy production\n-->\n/hold") == [Command("hold", line=4)]


def test_a_quoted_fence_does_not_open_a_fence():
    assert parse("> ```\n/hold") == [Command("hold", line=2)]


def test_windows_line_endings():
    assert parse("/plan\r\n/hold\r\n") == [Command("plan", line=1), Command("hold", line=2)]


def test_too_many_command_lines_one_error_for_the_rest():
    body = "\n".join(["/plan"] * (MAX_COMMANDS + 5))
    result = parse(body)
    assert result[:MAX_COMMANDS] == [Command("plan", line=i) for i in range(1, MAX_COMMANDS + 1)]
    (err,) = result[MAX_COMMANDS:]
    assert err.kind == "too_many_commands" and err.line == MAX_COMMANDS + 1
    assert "the 5 after the first 10" in err.message


def test_no_environment_configured():
    (err,) = parse_comment("/deploy staging", known_envs=[])
    assert err.kind == "bad_argument" and "none is configured" in err.message


def test_single_environment_is_suggested_when_missing():
    (err,) = parse_comment("/deploy", known_envs=["staging"])
    assert err.suggestion == "/deploy staging"


HOSTILE = [
    "/plan\n" + "x" * 10_000_000,
    "/" + "a" * 5_000_000,
    "/deploy " + "s" * 5_000_000,
    ("/plan\n" * 200_000),
    "```\n" * 300_000,
    ("a\n" * 3_000_000) + "/plan",
    "/\x00" * 1_000_000,
    "\u202e/plan\u202c",
]


@pytest.mark.parametrize("body", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_is_bounded(body):
    start = time.perf_counter()
    result = parse(body)
    assert time.perf_counter() - start < 0.5
    assert len(result) <= MAX_COMMANDS + 1
    for item in result:
        if isinstance(item, CommandError):
            assert len(item.excerpt) <= 60
            assert "\x00" not in item.excerpt and "\u202e" not in item.excerpt


def test_only_the_first_comment_limit_is_read():
    assert parse("x" * MAX_BODY_CHARS + "\n/plan") == []


def test_canonical_text_and_with_env():
    assert Command("rollback", "production", RollbackTarget("commit", "1a2b3c4")).text == \
        "/rollback production to commit 1a2b3c4"
    assert Command("promote").with_env("production") == Command("promote", "production")
    with pytest.raises(ValueError):
        Command("plan").with_env("production")


CODE_SPANS = [
    ("plain", "`plain`"),
    ("a`b", "``a`b``"),
    ("`x`", "`` `x` ``"),
    ("@acme/everyone", "`@acme/everyone`"),
    ("line\nbreak", "`line break`"),
    ("bell\x07", "`bell\ufffd`"),
]


@pytest.mark.parametrize("text, span", CODE_SPANS)
def test_code_span(text, span):
    assert code_span(text) == span


def test_code_span_in_a_table_escapes_pipes_and_is_bounded():
    assert code_span("a | b", in_table=True) == "`a \\| b`"
    assert len(code_span("x" * 10_000)) <= 202


def test_error_reply_lists_each_error_with_suggestion_and_usage():
    errors = [e for e in parse("/Deploy staging\n/rollback production to zzz\n/x`y") if isinstance(e, CommandError)]
    text = render_errors(errors)
    assert "line 1, `/Deploy staging`: `/Deploy` is not a modelbot command. Did you mean " \
           "`/deploy staging`? Usage: `/deploy <environment> [--override \"<reason>\"]`." in text
    assert "line 2, `/rollback production to zzz`" in text
    assert "Usage: `/rollback <environment> [to <commit-sha> | to <deployment-id>]`" in text
    assert "``/x`y``" in text


def test_what_the_person_wrote_cannot_mention_or_format_in_the_reply():
    # One paragraph each: within one, the backticks of two lines would pair into a code span.
    errors = parse("/x`@bob\n\n/deploy `@acme/all\n\n/rollback staging to `@acme/x")
    text = render_errors(errors)
    for err in errors:
        assert err.message.count("``") >= 2, err.message
    assert "``/x`@bob``" in text
    assert len(errors) == 3
    assert "`` `@acme/all ``" in text
    assert "`/help`" in text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("/ \t\n\r`~>!<-abdeloprstuvyzAD0123456789\x00\u200b")) | st.characters(),
               max_size=400))
def test_any_comment_parses_without_raising_and_commands_round_trip(body):
    result = parse(body)
    assert len(result) <= MAX_COMMANDS + 1
    for item in result:
        if isinstance(item, Command):
            again = one(item.text)
            assert (again.name, again.env, again.target, again.override) == \
                (item.name, item.env, item.target, item.override)
        else:
            assert len(item.excerpt) <= 60


# --- /deploy <environment> --override "<reason>" ------------------------------------------------

REASON = "SEV1: fraud model scoring everything 0"

OVERRIDES = [
    # comment line, the reason recorded
    (f'/deploy production --override "{REASON}"', REASON),
    (f"/deploy production --override \u201c{REASON}\u201d", REASON),          # curly quotes
    (f"/deploy production --override \u201d{REASON}\u201d", REASON),          # both closing
    (f'/deploy staging --override "{REASON}\u201d', REASON),                   # mixed
    (f'/deploy production   --override    "  {REASON}  "  ', REASON),         # spaces trimmed
    ('/deploy production --override "hotfix\tfor   the model"', "hotfix for the model"),
    ('/deploy production --override "Cafe\u0301 model hotfix"', "Caf\u00e9 model hotfix"),  # NFC
    ('/deploy production --override "@acme/all -- page me"', "@acme/all -- page me"),
    ('/deploy production --override "undo the --override of yesterday"', "undo the --override of yesterday"),
    ('/deploy production --override "' + "x" * 10 + '"', "x" * 10),
]


@pytest.mark.parametrize("line, reason", OVERRIDES, ids=[c[0][:50] for c in OVERRIDES])
def test_deploy_with_an_override_keeps_the_normalised_reason(line, reason):
    cmd = one(line)
    assert cmd == Command("deploy", line.split()[1], override=reason)
    assert cmd.text == f'/deploy {cmd.env} --override "{reason}"'
    assert one(cmd.text) == cmd


BAD_OVERRIDES = [
    # comment line, kind, message contains
    ("/deploy production --override", "missing_argument", "`--override` needs a reason"),
    ("/deploy production --override   ", "missing_argument", "`--override` needs a reason"),
    ('/deploy production --override ""', "bad_argument", "the reason is empty"),
    ('/deploy production --override "   "', "bad_argument", "the reason is empty"),
    ('/deploy production --override "hotfix"', "bad_argument", "the reason is 6 characters long: write at least 10"),
    ('/deploy production --override "  a  b  c  "', "bad_argument", "the reason is 5 characters long"),
    ("/deploy production --override hotfix for the fraud model", "bad_argument", "the reason is not quoted"),
    ("/deploy production --override 'hotfix for the fraud model'", "bad_argument", "the reason is not quoted"),
    ('/deploy production --override="hotfix for the fraud model"', "bad_argument", "the reason is not quoted"),
    ('/deploy production --override"hotfix for the fraud model"', "bad_argument", "the reason is not quoted"),
    ('/deploy production --override "hotfix for the fraud model', "bad_argument", "no closing quote"),
    (f'/deploy production --override "{REASON}" --override "{REASON}"', "too_many_arguments", "may be given only once"),
    (f'/deploy production --override "{REASON}" now', "too_many_arguments", "nothing may follow the closing quote"),
    (f'/deploy --override "{REASON}" production', "too_many_arguments", "nothing may follow the closing quote"),
    ('/deploy production --override "the `model` is broken"', "bad_argument", "may not contain double quotes or backticks"),
    ('/deploy production --override "fraud \u201cmodel\u201d broken"', "too_many_arguments",
     "nothing may follow the closing quote of the reason (which may not contain quotes)"),
    ('/deploy production --override "fraud model --> broken"', "bad_argument", "HTML comment marker"),
    ('/deploy production --override "fraud model --!> broken"', "bad_argument", "HTML comment marker"),
]


@pytest.mark.parametrize("line, kind, message", BAD_OVERRIDES, ids=[c[0][:50] for c in BAD_OVERRIDES])
def test_a_bad_override_reason_is_an_error_with_the_override_usage(line, kind, message):
    err = one(line)
    assert isinstance(err, CommandError)
    assert (err.kind, err.command, err.suggestion) == (kind, "deploy", None)
    assert message in err.message
    assert err.usage == OVERRIDE_USAGE == '/deploy <environment> --override "<reason>"'


@pytest.mark.parametrize("line, kind", [
    (f'/plan --override "{REASON}"', "too_many_arguments"),
    (f'/hold --override "{REASON}"', "too_many_arguments"),
    (f'/promote production --override "{REASON}"', "bad_argument"),
    (f'/rollback production to 42 --override "{REASON}"', "bad_argument"),
    (f'/unlock production --override "{REASON}"', "bad_argument"),
    ("/abort --override", "bad_argument"),
])
def test_override_is_only_accepted_by_deploy(line, kind):
    err = one(line)
    assert isinstance(err, CommandError) and err.kind == kind
    assert f"`--override` is only accepted by /deploy, not by /{err.command}" == err.message
    assert err.usage == COMMANDS[err.command].usage


def test_an_override_on_a_bad_deploy_keeps_the_reason_in_the_suggestion():
    err = one(f'/deploy prod --override \u201c{REASON}\u201d')
    assert err.kind == "bad_argument" and "`prod` is not a configured environment" in err.message
    assert err.suggestion == f'/deploy production --override "{REASON}"'
    assert one(err.suggestion) == Command("deploy", "production", override=REASON)
    (err,) = parse_comment(f'/deploy --override "{REASON}"', known_envs=["staging"])
    assert err.kind == "missing_argument" and err.suggestion == f'/deploy staging --override "{REASON}"'


def test_an_override_line_is_still_bounded_and_an_html_comment_hides_it():
    head = '/deploy production --override "'
    longest = "x" * (MAX_LINE_CHARS - len(head) - 1)
    assert one(head + longest + '"').override == longest
    assert one(head + longest + 'x"').kind == "line_too_long"
    assert one(head + "hotfix\u200b for the model" + '"').kind == "control_characters"
    # An unclosed `<!--` inside a line is text in CommonMark (GitHub shows it): refused as a reason.
    assert one(head + 'fraud model <!-- hidden"').kind == "bad_argument"
    assert parse('text <!-- hidden\n' + head + 'fraud model in a comment"\n-->') == []


@pytest.mark.parametrize("text, problem", [
    ("x" * MAX_REASON_CHARS, None),
    ("x" * (MAX_REASON_CHARS + 1), f"is {MAX_REASON_CHARS + 1} characters long: at most {MAX_REASON_CHARS}"),
    ("fraud\nmodel hotfix", None),                    # a newline is whitespace: one space
    ("fraud model\x07 hotfix", "control or invisible formatting"),
    ("fraud <!-- model hotfix", "HTML comment marker"),
    ("fraud model \u1fef hotfix", "backticks"),         # NFC makes GREEK VARIA a backtick
])
def test_check_reason(text, problem):
    if problem is None:
        assert check_reason(text) == " ".join(text.split())
    else:
        with pytest.raises(ValueError, match=problem):
            check_reason(text)


def test_other_commands_carry_no_override():
    assert all(c.override is None for _, c in OK)
    assert one("/deploy production") == Command("deploy", "production")
