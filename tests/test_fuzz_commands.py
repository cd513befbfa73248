"""Fuzzing the command grammar (issue #11, deliverable 8): any text parses to commands or
located errors and never raises; a command inside a code block, a quote or an HTML comment
never parses; a command in visible text always does."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings, strategies as st

from bot.core.commands import MAX_COMMANDS, Command, CommandError, parse_comment

ENVS = ["staging", "production"]
PIECES = st.sampled_from([
    "/plan", "/deploy staging", "/deploy production --override \"a good reason here\"", "/rollback staging to 42",
    "/x", "/", "/Plan", "```", "~~~", "    ", "\t", "> ", "- ", "1. ", "<!--", "-->", "`", "``", "<div>", "</div>",
    "<span a=\"", "\"", "\\", "\n", "\n\n", "text", "#", "---", "\u202e", "\x00", "\r\n", "|", "*", "_",
])
bodies = st.one_of(st.text(max_size=300), st.lists(PIECES, max_size=60).map("".join))
COMMAND_LINES = st.sampled_from(["/plan", "/deploy staging", "/hold", "/status", "/rollback production to 42"])
HIDERS = [
    lambda b, c: f"{b}\n\n    {c}\n",
    lambda b, c: f"{b}\n\n> {c}\n",
    lambda b, c: f"{b}\n\n```\n{c}\n```\n",
    lambda b, c: f"{b}\n\n<!--\n{c}\n-->\n",
    lambda b, c: f"{b}\n\n~~~\n{b}\n{c}\n~~~\n",
]
safe_text = st.text(st.characters(categories=["L", "N", "Zs"]), max_size=40)


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_any_text_parses_to_commands_or_located_errors(body):
    started = time.perf_counter()
    parsed = parse_comment(body, known_envs=ENVS)
    assert time.perf_counter() - started < 1.0
    assert len(parsed) <= MAX_COMMANDS + 1
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for item in parsed:
        assert isinstance(item, (Command, CommandError))
        assert 1 <= item.line <= len(lines)
        if isinstance(item, Command):
            assert lines[item.line - 1].lstrip(" \t").startswith("/" + item.name)
            assert item.env is None or item.env in ENVS


@settings(max_examples=150, deadline=1000)
@given(before=safe_text, command=COMMAND_LINES, hide=st.sampled_from(range(len(HIDERS))))
def test_a_command_in_code_quotes_or_comments_never_parses(before, command, hide):
    body = HIDERS[hide](before or "intro", command)
    assert [p for p in parse_comment(body, known_envs=ENVS) if isinstance(p, Command)] == []


@settings(max_examples=150, deadline=1000)
@given(before=safe_text, command=COMMAND_LINES, after=safe_text)
def test_a_command_on_its_own_line_of_visible_text_parses(before, command, after):
    body = f"{before}\n\n{command}\n\n{after}"
    parsed = parse_comment(body, known_envs=ENVS)
    assert [p.text for p in parsed if isinstance(p, Command)] == [command.replace("to 42", "to deployment 42")]
