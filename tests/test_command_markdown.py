"""Commands are found the way GitHub renders Markdown (issue #11, deliverable 7).

CommonMark block structure decides: a command in an indented code block, a fenced block, a
block quote (lazy continuation lines too), an HTML block or comment, or starting inside a code
span does not run. Repeated commands run once; a failed reaction does not abort the command.
"""

from __future__ import annotations

import pytest

from bot.core.commands import Command, CommandError, coalesce, parse_comment, visible_text_lines
from tests.test_conversation_flow import REPO, bot, comment, open_pr, reactions, reply_to  # noqa: F401

ENVS = ["staging", "production"]


def commands(body: str) -> list:
    return parse_comment(body, known_envs=ENVS)


@pytest.mark.parametrize("body", [
    "Example:\n\n    /deploy production\n",            # indented code block
    "\t/deploy production",                             # a tab is 4 columns: code
    "    /deploy production",
    "> /deploy production",
    "> quoted text\n/deploy production",                # lazy continuation: still in the quote
    ">> nested\n> > /deploy production",
    "- item\n\n  > /deploy production",
    "```\n/deploy production\n```",
    "~~~~md\n/deploy production\n~~~~",
    "```\nnever closed\n\n/deploy production",
    "<!--\n/deploy production\n-->",
    "text <!-- hidden\n/deploy production\n-->",
    "<div>\n/deploy production\n</div>",                # HTML block until a blank line
    "see `x\n/deploy production` for the syntax",      # inside a code span across lines
    "a <span title=\"\n/deploy production\">x</span>",  # inside a raw HTML attribute
    "> " * 12 + "/deploy production",                  # deeper than MAX_NESTING
])
def test_a_command_the_rendered_comment_does_not_show_as_text_never_parses(body):
    assert commands(body) == []


@pytest.mark.parametrize("body,line", [
    ("/deploy staging", 1),
    ("   /deploy staging", 1),                          # up to 3 spaces: still a paragraph
    ("Please\n/deploy staging", 2),
    ("```\ncode\n```\n/deploy staging", 4),
    ("> quote\n\n/deploy staging", 3),
    ("<!-- note -->\n/deploy staging", 2),
    ("text <!-- a --> more\n/deploy staging", 2),
    ("`code` then\n/deploy staging", 2),
    ("<details>\n<summary>x</summary>\n\n/deploy staging\n\n</details>", 4),
    ("- item\n  /deploy staging", 2),                   # a list item's continuation line
    ("/deploy staging\n---", 1),
])
def test_a_command_in_visible_text_parses(body, line):
    assert commands(body) == [Command("deploy", "staging", line=line)]


def test_visible_lines_are_zero_based_source_lines():
    assert visible_text_lines("a\n\n    b\n> c\nd\n\ne") == [0, 6]


def test_repeated_commands_are_coalesced_keeping_the_first():
    parsed = commands("\n".join(["/plan"] * 10))
    assert len(parsed) == 10
    assert coalesce(parsed) == [Command("plan", line=1)]
    mixed = coalesce(commands("/plan\n/deploy staging\n/plan\n/deploy  staging\n/deploy production\n/x\n/x"))
    assert [p.text if isinstance(p, Command) else p.kind for p in mixed] == [
        "/plan", "/deploy staging", "/deploy production", "unknown_command"]
    assert isinstance(mixed[-1], CommandError) and mixed[-1].line == 6


def test_ten_plan_lines_cost_what_one_does(bot):
    open_pr(bot)
    before = len(bot.github.calls)
    comment(bot, "/plan")
    one = len(bot.github.calls) - before
    before = len(bot.github.calls)
    c, status = comment(bot, "\n".join(["/plan"] * 10))
    assert status == "done"
    assert len(bot.github.calls) - before <= one + 2  # the comment's own extra lookups at most
    assert reply_to(bot, c).count("/plan") >= 1


def test_a_failed_reaction_does_not_abort_the_command(bot):
    open_pr(bot)
    bot.github.fail_next("POST", r"/issues/comments/\d+/reactions", 502, times=10)
    c, status = comment(bot, "/hold")
    assert status == "done"
    assert bot.store.hold(REPO, 5) is not None  # the command ran
    assert reply_to(bot, c) is not None          # and was answered
    assert reactions(bot, c) == []
