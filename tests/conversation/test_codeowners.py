"""CODEOWNERS as GitHub reads it: its documented examples, pattern rules and precedence, and
lines GitHub rejects reported with their line numbers instead of crashing."""

from __future__ import annotations

import time

import pytest

from bot.core.codeowners import CODEOWNERS_PATHS, MAX_BYTES, parse_codeowners

# The example file of GitHub's "About code owners" page, reworded; each rule is checked below.
GITHUB_EXAMPLE = """\
# A comment.
*       @global-owner1 @global-owner2

# Last match wins: a pull request changing only JS files needs only @js-owner.
*.js    @js-owner #An inline comment.

*.go docs@example.com

*.txt @octo-org/octocats

/build/logs/ @doctocat

docs/*  docs@example.com

apps/ @octocat

/scripts/ @doctocat @octocat

**/logs @octocat

/assets/ @octocat
/assets/github
"""

EXAMPLE_CASES = [
    ("README.md", ("@global-owner1", "@global-owner2")),
    ("src/app.js", ("@js-owner",)),
    ("main.go", ("docs@example.com",)),
    ("notes/todo.txt", ("@octo-org/octocats",)),
    ("build/logs/today.log", ("@octocat",)),        # /build/logs/ matches, **/logs comes later
    ("build/other/x.log", ("@global-owner1", "@global-owner2")),
    ("docs/getting-started.md", ("docs@example.com",)),
    ("docs/build-app/troubleshooting.md", ("@global-owner1", "@global-owner2")),  # docs/* is one level
    ("apps/main.py", ("@octocat",)),
    ("services/apps/main.py", ("@octocat",)),      # apps/ anywhere
    ("scripts/deploy.sh", ("@doctocat", "@octocat")),
    ("src/scripts/deploy.sh", ("@global-owner1", "@global-owner2")),  # /scripts/ only at the root
    ("scripts/logs/x.txt", ("@octocat",)),          # **/logs comes later and wins
    ("deeply/nested/logs/y", ("@octocat",)),
    ("assets/logo.png", ("@octocat",)),
    ("assets/github/logo.png", ()),                 # a rule without owners un-owns
]


@pytest.mark.parametrize("path, owners", EXAMPLE_CASES, ids=[p for p, _ in EXAMPLE_CASES])
def test_githubs_documented_example(path, owners):
    co = parse_codeowners(GITHUB_EXAMPLE)
    assert co.problems == ()
    assert co.owners_for(path) == owners


def test_anchored_directory_owns_everything_under_it():
    co = parse_codeowners("* @all\n/build/logs/ @doctocat\n")
    assert co.owners_for("build/logs/deep/nested.log") == ("@doctocat",)
    assert co.owners_for("src/build/logs/x") == ("@all",)


def test_later_rule_with_owners_takes_a_subdirectory_back():
    co = parse_codeowners("/apps/ @octocat\n/apps/github @doctocat\n")
    assert co.owners_for("apps/x") == ("@octocat",)
    assert co.owners_for("apps/github/x") == ("@doctocat",)
    assert co.rule_for("apps/github/x").line == 2


PATTERNS = [
    # pattern, path, matches
    ("*", "a", True), ("*", "a/b/c", True),
    ("foo", "foo", True), ("foo", "foo/bar", True), ("foo", "x/foo", True), ("foo", "x/foo/y", True),
    ("foo", "foo.txt", False), ("foo", "x/food", False),
    ("/foo", "foo/bar", True), ("/foo", "x/foo", False),
    ("foo/", "foo", False), ("foo/", "foo/bar", True), ("foo/", "x/foo/bar/baz", True),
    ("/foo/", "x/foo/bar", False),
    ("foo/bar", "foo/bar/baz", True), ("foo/bar", "x/foo/bar", False),  # a middle / anchors
    ("foo/bar/", "foo/bar", False), ("foo/bar/", "foo/bar/baz", True),
    ("/*", "a", True), ("/*", "a/b", False),
    ("f*", "foo/bar", True), ("f*", "x/foo", True), ("f*", "bar", False),
    ("/f*/", "foo/bar", True), ("/f*/", "foo", False),
    ("foo/*", "foo/bar", True), ("foo/*", "foo/bar/baz", False), ("foo/*", "foo", False),
    ("foo/*.txt", "foo/a.txt", True), ("foo/*.txt", "foo/a/b.txt", False),
    ("foo/*/baz", "foo/bar/baz", True), ("foo/*/baz", "foo/baz", False), ("foo/*/baz", "foo/bar/baz/q", True),
    ("f?o", "foo", True), ("f?o", "fo", False), ("f?o", "fooo", False),
    ("f\\*o", "f*o", True), ("f\\*o", "foo", False),
    ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "a/b/foo/bar/c", True), ("**/foo/bar", "foo/x/bar", False),
    ("foo/**", "foo", False), ("foo/**", "foo/a", True), ("foo/**", "foo/a/b", True), ("foo/**", "x/foo/a", False),
    ("foo/**/bar", "foo/bar", True), ("foo/**/bar", "foo/a/b/bar", True), ("foo/**/bar", "foo/a/bar/c", True),
    ("foo/**/bar", "x/foo/bar", False),
    ("**", "anything/at/all", True),
    ("/**", "anything/at/all", True),
    ("*.js", "a/b/c.js", True), ("*.js", "c.jsx", False),
    ("/models/**/modelbot.yaml", "models/fraud/modelbot.yaml", True),
    ("/models/**/modelbot.yaml", "models/modelbot.yaml", True),
    ("Docs/", "docs/a", False),  # case-sensitive
    ("a/**/b/**/c/**/d", "/".join(["a"] + ["x"] * 200 + ["b", "c"]), False),
]


@pytest.mark.parametrize("pattern, path, matches", PATTERNS, ids=[f"{p} {q[:30]}" for p, q, _ in PATTERNS])
def test_patterns(pattern, path, matches):
    co = parse_codeowners(f"{pattern} @owner\n")
    assert co.problems == ()
    assert (co.owners_for(path) == ("@owner",)) is matches


def test_paths_are_normalised():
    co = parse_codeowners("/models/ @ml\n")
    assert co.owners_for("./models/a") == co.owners_for("/models/a") == ("@ml",)
    assert co.owners_for("") == ()


PROBLEMS = [
    # line, message contains
    ("!models/ @ml", "negation with `!`"),
    ("models/[ab]/ @ml", "character ranges"),
    ("\\#models @ml", "`\\#` escapes"),
    ("a/***/b @ml", "three asterisks"),
    ("a//b @ml", "empty path segment"),
    ("/ @ml", "matches nothing"),
    ("models/ @not@valid@owner", "is not an owner"),
    ("models/ ml-team", "is not an owner"),
    ("models/ @acme/", "is not an owner"),
    ("x" * 5000 + " @ml", "longer than 4096"),
]


@pytest.mark.parametrize("line, message", PROBLEMS, ids=[m for _, m in PROBLEMS])
def test_unreadable_lines_are_problems_with_line_numbers_and_are_skipped(line, message):
    co = parse_codeowners(f"# header\n* @default\n{line}\nREADME.md @docs\n", path=".github/CODEOWNERS")
    (problem,) = co.problems
    assert (problem.path, problem.line, problem.rule) == (".github/CODEOWNERS", 3, "codeowners")
    assert message in problem.message
    assert co.owners_for("models/x") == ("@default",)
    assert co.owners_for("README.md") == ("@docs",)
    assert ".github/CODEOWNERS:3:1: error:" in problem.format()


def test_owner_forms_and_escaped_spaces():
    co = parse_codeowners("docs/my\\ file.md @Octo-Cat @octo-org/team.name_x first.last@example.co.uk\n")
    assert co.problems == ()
    assert co.owners_for("docs/my file.md") == ("@Octo-Cat", "@octo-org/team.name_x", "first.last@example.co.uk")


def test_bytes_bom_crlf_and_bad_utf8():
    co = parse_codeowners(b"\xef\xbb\xbf* @a\r\nb/ @b\xff\r\n")
    assert co.owners_for("x") == ("@a",)
    (problem,) = [p for p in co.problems if "UTF-8" in p.message]
    assert problem.line == 2


def test_too_large_file_is_not_loaded():
    co = parse_codeowners(b"* @a\n" * (MAX_BYTES // 5 + 1))
    assert co.rules == () and "larger than" in co.problems[0].message


def test_empty_and_missing():
    assert parse_codeowners(None).owners_for("a") == ()
    assert parse_codeowners("").rules == ()
    assert parse_codeowners("# only comments\n\n   \n").problems == ()


def test_many_rules_and_paths_stay_fast():
    text = "".join(f"/models/team{i}/**/ @org/team{i}\n" for i in range(5000))
    start = time.perf_counter()
    co = parse_codeowners(text)
    owners = [co.owners_for(f"models/team{i}/x/modelbot.yaml") for i in range(0, 5000, 50)]
    assert time.perf_counter() - start < 3
    assert owners[1] == ("@org/team50",)


def test_candidate_files_in_githubs_order():
    assert CODEOWNERS_PATHS == (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
