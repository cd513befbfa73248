"""Slash commands in pull-request comments: a strict grammar, parsed without I/O.

A command is a line of a comment that starts with `/` (after up to three spaces) in visible
text as GitHub renders the Markdown (CommonMark, `visible_text_lines`): never in an indented or
fenced code block, a block quote (lazy continuation lines included), an HTML block or comment,
or starting inside a code span. One command per line,
at most `MAX_COMMANDS` per comment. Command words are lowercase; arguments are checked here
(the environment must be configured, a commit is 7-40 hex digits, a deployment id is digits),
so a handler only ever sees well-formed commands. Everything else becomes a `CommandError`
carrying a did-you-mean suggestion and the usage line, for the reply.

`/deploy <environment> --override "<reason>"` is the audited break-glass deploy: the reason is
required, in straight or curly double quotes, and must be fit for the ledger (see
`check_reason`). Who may override is `bot.core.permissions.authorize_override`.

Who may run a command is `bot.core.permissions`; what the reply says is `bot/templates/commands/`.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Literal, Sequence

from bot.core.render import render

MAX_COMMANDS = 10          # command lines read from one comment; the rest get one error
MAX_BODY_CHARS = 65_536    # GitHub's limit on a comment body; anything beyond is not read
MAX_LINE_CHARS = 200       # a command line longer than this is refused unread
MAX_LINES = 1000           # lines of a comment read for commands (Markdown parsing is bounded)
MAX_NESTING = 10           # quotes and lists nested deeper than this are not read
EXCERPT_CHARS = 60         # how much of an offending line a reply quotes
MIN_REASON_CHARS = 10      # an --override reason, after normalising (a command line's own
MAX_REASON_CHARS = 200     #   limit makes the longest that parses about 165)
OVERRIDE = "--override"
OVERRIDE_USAGE = '/deploy <environment> --override "<reason>"'

Arity = Literal["none", "env", "optional_env", "rollback"]


@dataclass(frozen=True)
class CommandSpec:
    """One command of the grammar: its arguments, usage line and one-line summary."""

    name: str
    arity: Arity
    usage: str
    summary: str

    @property
    def takes_env(self) -> bool:
        return self.arity != "none"


COMMANDS: dict[str, CommandSpec] = {s.name: s for s in [
    CommandSpec("plan", "none", "/plan", "Show what a deploy would change on each environment."),
    CommandSpec("validate", "none", "/validate",
                "Validate the changed manifests and compare the candidate with production again."),
    CommandSpec("deploy", "env", '/deploy <environment> [--override "<reason>"]',
                "Deploy this pull request's head to an environment; with `--override` and a "
                "reason (recorded), past a freeze or an inconclusive comparison."),
    CommandSpec("promote", "optional_env", "/promote [<environment>]",
                "Promote the deployed candidate to the next environment in order (or the one named)."),
    CommandSpec("rollback", "rollback", "/rollback <environment> [to <commit-sha> | to <deployment-id>]",
                "Return an environment to its previous model, or to the one a commit or deployment "
                "put there (a number is read as a deployment id; write `to commit <sha>` for a "
                "short SHA of digits only)."),
    CommandSpec("abort", "optional_env", "/abort [<environment>]",
                "Stop a running rollout and return traffic to the stable model (every environment "
                "this pull request is rolling out to, or the one named)."),
    CommandSpec("hold", "none", "/hold", "Block deploys and merge-deploys of this pull request."),
    CommandSpec("unhold", "none", "/unhold", "Lift a /hold."),
    CommandSpec("unlock", "env", "/unlock <environment>",
                "Release an environment's deploy lock held by this or another pull request."),
    CommandSpec("status", "none", "/status", "Show deployments, locks, holds and approvals."),
    CommandSpec("help", "none", "/help", "Show this help."),
]}

# `/` then a word that starts with a letter and holds no further `/`: `/models/x.yaml` and `/)`
# are not commands.
_COMMAND_WORD = re.compile(r"/([^\W\d_][^\s/]*)(?=\s|$)")
_COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")
_DEPLOYMENT = re.compile(r"[0-9]{1,20}")
_OVERRIDE = re.compile(r"(?<!\S)--override(?![^\s=\"“”])")
_QUOTES = '"“”'  # straight, and the curly quotes an editor or a paste puts in
_HTML_COMMENT = ("<!--", "-->", "--!>")


@dataclass(frozen=True)
class RollbackTarget:
    """What `/rollback <env> to X` returns to: a commit (lowercase hex) or a deployment id."""

    kind: Literal["commit", "deployment"]
    value: str


@dataclass(frozen=True)
class Command:
    """A well-formed command. `env` is None only for `/promote` and `/abort` without one, and
    for commands that take no environment. `line` is 1-based within the comment. `override` is
    the reason of a `/deploy ... --override "<reason>"` (checked by `check_reason`)."""

    name: str
    env: str | None = None
    target: RollbackTarget | None = None
    line: int = 1
    override: str | None = None

    @property
    def spec(self) -> CommandSpec:
        return COMMANDS[self.name]

    @property
    def text(self) -> str:
        """The canonical form, e.g. `/rollback production to commit 1a2b3c4` or
        `/deploy production --override "reason"`."""
        parts = ["/" + self.name]
        if self.env:
            parts.append(self.env)
        if self.target:
            parts += ["to", self.target.kind, self.target.value]
        if self.override is not None:
            parts += [OVERRIDE, f'"{self.override}"']
        return " ".join(parts)

    def with_env(self, env: str) -> Command:
        """This command aimed at `env` (for `/promote` and `/abort` once the handler knows
        which environments they act on, before it asks `authorize`)."""
        if not self.spec.takes_env:
            raise ValueError(f"/{self.name} takes no environment")
        return replace(self, env=env)


ErrorKind = Literal["unknown_command", "missing_argument", "too_many_arguments", "bad_argument",
                    "line_too_long", "control_characters", "too_many_commands"]


@dataclass(frozen=True)
class CommandError:
    """A command line that was not run: what is wrong, a suggestion, and the usage line.

    `excerpt` is the offending line shortened and stripped of control characters; `message`
    says what is wrong in a few words (Markdown: what the person wrote is in code spans, so it
    can neither mention nor format); `suggestion` is a whole command line to try instead.
    """

    line: int
    kind: ErrorKind
    excerpt: str
    message: str
    command: str | None = None
    suggestion: str | None = None
    usage: str | None = None


Parsed = Command | CommandError


def parse_comment(body: str | None, *, known_envs: Iterable[str]) -> list[Parsed]:
    """The command lines of a comment, in order: a `Command` for each well-formed one, a
    `CommandError` for each other. Lines in fenced code blocks, quotes or HTML comments are
    not commands.

    Bounded on hostile input: only the first `MAX_BODY_CHARS` characters and `MAX_LINES` lines
    are read, containers nested deeper than `MAX_NESTING` are not, a command
    line longer than `MAX_LINE_CHARS` is refused unread, and at most `MAX_COMMANDS` command
    lines are parsed (one error stands for the rest).
    """
    if not body:
        return []
    envs = tuple(dict.fromkeys(known_envs))
    text = body[:MAX_BODY_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n", MAX_LINES)[:MAX_LINES]
    text = "\n".join(lines)
    out: list[Parsed] = []
    seen = 0
    first_excess: int | None = None
    for index in visible_text_lines(text):
        stripped = lines[index].lstrip(" \t")
        if not _COMMAND_WORD.match(stripped[:MAX_LINE_CHARS + 1]):
            continue
        number = index + 1
        seen += 1
        if seen > MAX_COMMANDS:
            first_excess = first_excess or number
            continue
        out.append(_parse_line(stripped.rstrip(), number, envs))
    if first_excess is not None:
        out.append(CommandError(
            first_excess, "too_many_commands", "",
            f"a comment may hold at most {MAX_COMMANDS} commands; the {seen - MAX_COMMANDS} "
            f"after the first {MAX_COMMANDS} were not read"))
    return out


# --- where commands may be: the visible text of a comment, as GitHub renders it ----------------

# Raw inline HTML (CommonMark 0.31 section 6.6). Comments, processing instructions, declarations
# and CDATA end at a fixed string (found with a cached search, so the scan stays linear); tags
# are matched with atomic groups and possessive quantifiers, within a bounded window, so a
# hostile comment cannot make the matcher backtrack.
_ATTR = r"""(?>\s++[A-Za-z_:][A-Za-z0-9_.:-]*+(?>\s*+=\s*+(?>[^\s"'=<>`]++|'[^']*+'|"[^"]*+"))?+)"""
_HTML_TAG = re.compile(r"</[A-Za-z][A-Za-z0-9-]*+\s*+>|<[A-Za-z][A-Za-z0-9-]*+" + _ATTR + r"*+\s*+/?>")
_HTML_TAG_WINDOW = 1024  # a tag longer than this is read as text (a bound on the matcher)
_HTML_ENDS = (("<!--", "-->"), ("<?", "?>"), ("<![CDATA[", "]]>"), ("<!", ">"))
_BACKTICKS = re.compile(r"`+")
_SPECIAL = re.compile(r"[\\`<]")
_ESCAPABLE = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


@functools.cache
def _markdown():
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING})
    # Block structure only (inline content is scanned below, linearly). Without setext headings
    # a `---`/`===` underline reads as a rule or text: the line above is visible text either way,
    # and a long paragraph is scanned once instead of twice.
    md.disable(["inline", "lheading"])
    return md


def visible_text_lines(text: str) -> list[int]:
    """The 0-based lines of `text` that begin visible text once GitHub renders it (CommonMark
    block structure): lines of paragraphs and headings, outside block quotes (a lazy
    continuation line of a quote is inside it), fenced and indented code blocks and HTML
    blocks, whose first character is not inside an inline code span or raw inline HTML (an
    HTML comment spanning lines hides them). Blocks nested deeper than `MAX_NESTING`
    containers are not read."""
    tokens = _markdown().parse(text)
    lines = text.split("\n")
    out: list[int] = []
    quotes = 0
    for i, tok in enumerate(tokens):
        if tok.type == "blockquote_open":
            quotes += 1
        elif tok.type == "blockquote_close":
            quotes -= 1
        elif tok.type == "inline" and tok.map and not quotes and i and tokens[i - 1].type in (
                "paragraph_open", "heading_open"):
            start, end = tok.map
            hidden = _hidden_line_starts(tok.content.split("\n"))
            out += [start + k for k in range(end - start)
                    if k not in hidden and start + k < len(lines)]
    return out


def _hidden_line_starts(lines: list[str]) -> set[int]:
    """Indexes of the lines of one paragraph whose first character is inside a code span or raw
    inline HTML. Linear in the paragraph's length whatever it holds."""
    text = "\n".join(line.lstrip(" \t") for line in lines)
    starts, pos = [], 0
    for line in lines:
        starts.append(pos)
        pos += len(line.lstrip(" \t")) + 1
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(text)]
    next_same: dict[int, int] = {}  # index of a backtick run -> the next run of the same length
    last: dict[int, int] = {}
    for j in range(len(runs) - 1, -1, -1):
        length = runs[j][1] - runs[j][0]
        if length in last:
            next_same[j] = last[length]
        last[length] = j
    run_at = {start: j for j, (start, _) in enumerate(runs)}
    hidden: list[tuple[int, int]] = []
    found: dict[str, int] = {}  # end string -> its next position (-1: none left)

    def next_end(end: str, at: int) -> int:
        pos = found.get(end, -2)
        if pos != -1 and pos < at:
            pos = found[end] = text.find(end, at)
        return pos

    i, n = 0, len(text)
    while i < n:
        special = _SPECIAL.search(text, i)
        if special is None:
            break
        i = special.start()
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in _ESCAPABLE:
            i += 2
            continue
        if c == "`":
            j = run_at.get(i)
            if j is None:  # inside a run already passed
                i += 1
            elif j in next_same:
                hidden.append((i, runs[next_same[j]][1]))
                i = runs[next_same[j]][1]
            else:
                i = runs[j][1]
            continue
        if c == "<":
            end = None
            if text.startswith(("<!-->", "<!--->"), i):
                end = i + (5 if text.startswith("<!-->", i) else 6)
            elif text.startswith("<!--", i) or text.startswith("<?", i) or text.startswith("<![CDATA[", i) or (
                    text.startswith("<!", i) and i + 2 < n and text[i + 2].isascii() and text[i + 2].isalpha()):
                opener, closer = next((o, e) for o, e in _HTML_ENDS if text.startswith(o, i))
                pos = next_end(closer, i + len(opener))
                end = pos + len(closer) if pos != -1 else None
            else:
                m = _HTML_TAG.match(text, i, min(n, i + _HTML_TAG_WINDOW))
                end = i + len(m.group()) if m else None
            if end is not None:
                hidden.append((i, end))
                i = end
                continue
        i += 1
    out, h = set(), 0
    for k, start in enumerate(starts):
        while h < len(hidden) and hidden[h][1] <= start:
            h += 1
        if h < len(hidden) and hidden[h][0] < start < hidden[h][1]:
            out.add(k)
    return out


def coalesce(parsed: Sequence[Parsed]) -> list[Parsed]:
    """`parsed` without repeats: a command that says the same as an earlier one of the comment
    (the same canonical text: ten `/plan` lines) runs once, at its first line; repeated errors
    on identical lines are answered once."""
    out: list[Parsed] = []
    seen: set = set()
    for item in parsed:
        key = ("command", item.text) if isinstance(item, Command) else ("error", item.kind, item.excerpt)
        if key in seen:
            continue
        seen.add(key)
        out.append(item)
    return out


def _parse_line(line: str, number: int, envs: tuple[str, ...]) -> Parsed:
    excerpt = excerpt_of(line)
    if len(line) > MAX_LINE_CHARS:
        return CommandError(number, "line_too_long", excerpt,
                            f"a command line may be at most {MAX_LINE_CHARS} characters long")
    if any(_is_control(c) for c in line):
        return CommandError(number, "control_characters", excerpt,
                            "the line contains control or invisible formatting characters")
    word, *args = line.split()
    name = word[1:]
    spec = COMMANDS.get(name)
    if spec is None:
        match = _suggest(name, list(COMMANDS), min_prefix=2)
        suggestion = " ".join(["/" + match, *args]) if match else None
        return CommandError(number, "unknown_command", excerpt, f"{code_span('/' + name, 31)} is not a "
                            "modelbot command", suggestion=suggestion,
                            usage=COMMANDS[match].usage if match else None)

    def error(kind: ErrorKind, message: str, suggestion: str | None = None,
              usage: str = spec.usage) -> CommandError:
        return CommandError(number, kind, excerpt, message, name, suggestion, usage)

    flag = _OVERRIDE.search(line)
    if flag is None:
        return _parse_args(name, spec, args, number, envs, error)
    if name != "deploy":
        kind: ErrorKind = "too_many_arguments" if spec.arity == "none" else "bad_argument"
        return error(kind, f"`{OVERRIDE}` is only accepted by /deploy, not by /{name}")
    reason = _quoted_reason(line[flag.end():])
    if isinstance(reason, tuple):
        return error(*reason, usage=OVERRIDE_USAGE)
    parsed = _parse_args(name, spec, line[:flag.start()].split()[1:], number, envs, error)
    if isinstance(parsed, Command):
        return replace(parsed, override=reason)
    return replace(parsed, suggestion=parsed.suggestion and f'{parsed.suggestion} {OVERRIDE} "{reason}"')


def _quoted_reason(rest: str) -> str | tuple[ErrorKind, str]:
    """The reason after `--override`, or (error kind, message) when it is not acceptable."""
    how = f'write `{OVERRIDE} "<reason>"`: a space, then the reason in double quotes'
    if not rest.strip():
        return "missing_argument", f"`{OVERRIDE}` needs a reason: {how}"
    if not rest[:1].isspace() or rest.lstrip()[0] not in _QUOTES:
        return "bad_argument", f"the reason is not quoted: {how}"
    body = rest.lstrip()[1:]
    end = next((i for i, c in enumerate(body) if c in _QUOTES), None)
    if end is None:
        return "bad_argument", f"the reason has no closing quote: {how}"
    after = body[end + 1:].strip()
    if _OVERRIDE.search(after):
        return "too_many_arguments", f"`{OVERRIDE}` may be given only once"
    if after:
        return "too_many_arguments", ("nothing may follow the closing quote of the reason (which "
                                      "may not contain quotes)")
    try:
        return check_reason(body[:end])
    except ValueError as exc:
        return "bad_argument", str(exc)


def check_reason(text: str) -> str:
    """An override reason as the ledger records it: NFC, whitespace runs made one space,
    `MIN_REASON_CHARS`-`MAX_REASON_CHARS` characters, printable, without quotes, backticks or
    HTML comment markers (so it stays inside a code span and hides nothing). ValueError says
    what is wrong."""
    reason = " ".join(unicodedata.normalize("NFC", text).split())
    if any(_is_control(c) for c in reason):
        raise ValueError("the reason contains control or invisible formatting characters")
    if not reason:
        raise ValueError("the reason is empty")
    if len(reason) < MIN_REASON_CHARS:
        raise ValueError(f"the reason is {len(reason)} characters long: write at least {MIN_REASON_CHARS}")
    if len(reason) > MAX_REASON_CHARS:
        raise ValueError(f"the reason is {len(reason)} characters long: at most {MAX_REASON_CHARS}")
    if any(c in reason for c in _QUOTES + "`"):
        raise ValueError("the reason may not contain double quotes or backticks")
    if any(m in reason for m in _HTML_COMMENT):
        raise ValueError("the reason may not contain an HTML comment marker")
    return reason


def _parse_args(name: str, spec: CommandSpec, args: list[str], number: int, envs: tuple[str, ...],
                error: Callable[..., CommandError]) -> Parsed:
    if spec.arity == "none":
        if args:
            return error("too_many_arguments", f"/{name} takes no arguments", "/" + name)
        return Command(name, line=number)
    if not args:
        if spec.arity == "optional_env":
            return Command(name, line=number)
        return error("missing_argument", f"/{name} needs an environment (one of "
                     f"{_names(envs)})", f"/{name} {envs[0]}" if len(envs) == 1 else None)
    env, rest = args[0], args[1:]
    if env not in envs:
        match = _suggest(env, list(envs))
        return error("bad_argument", f"{code_span(env, 30)} is not a configured environment "
                     f"(one of {_names(envs)})", " ".join([f"/{name}", match, *rest]) if match else None)
    if spec.arity != "rollback":
        if rest:
            return error("too_many_arguments", f"/{name} takes {'one' if spec.arity == 'env' else 'at most one'} "
                         "argument, an environment", f"/{name} {env}")
        return Command(name, env, line=number)
    if not rest:
        return Command(name, env, line=number)
    if rest[0] != "to" or len(rest) not in (2, 3):
        return error("bad_argument", "after the environment, write `to <commit-sha>` or "
                     "`to <deployment-id>`")
    kind = rest[1] if len(rest) == 3 else None
    value = rest[-1]
    if kind not in (None, "commit", "deployment"):
        return error("bad_argument", "write `to commit <sha>` or `to deployment <id>`")
    if kind != "commit" and _DEPLOYMENT.fullmatch(value):
        return Command(name, env, RollbackTarget("deployment", value.lstrip("0") or "0"), number)
    if kind != "deployment" and _COMMIT.fullmatch(value):
        return Command(name, env, RollbackTarget("commit", value.lower()), number)
    what = {None: "a commit SHA (7-40 hex digits) nor a deployment id (digits)",
            "commit": "a commit SHA (7-40 hex digits)",
            "deployment": "a deployment id (digits)"}[kind]
    return error("bad_argument", f"{code_span(value, 45)} is {'neither ' if kind is None else 'not '}{what}")


def _suggest(word: str, choices: Sequence[str], min_prefix: int = 1) -> str | None:
    """The choice the person most likely meant: same letters in another case, the only choice
    the word starts, or the closest by difflib."""
    lowered = word.lower()
    for choice in choices:
        if choice.lower() == lowered:
            return choice
    prefixed = [c for c in choices if len(lowered) >= min_prefix and c.lower().startswith(lowered)]
    if len(prefixed) == 1:
        return prefixed[0]
    close = difflib.get_close_matches(lowered[:40], [c.lower() for c in choices], n=1, cutoff=0.6)
    return next((c for c in choices if c.lower() == close[0]), None) if close else None


def _names(envs: Sequence[str]) -> str:
    return ", ".join(envs) if envs else "none is configured"


def _is_control(char: str) -> bool:
    return char != "\t" and unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp")


def _clean(text: str) -> str:
    return "".join("\ufffd" if _is_control(c) else " " if c == "\t" else c for c in text)


def excerpt_of(line: str, limit: int = EXCERPT_CHARS) -> str:
    """A line as a reply may quote it: control characters replaced, at most `limit` chars."""
    short = line[: limit + 1]
    cleaned = _clean(short)
    return cleaned if len(short) <= limit else cleaned[: limit - 1] + "…"


def code_span(text: object, limit: int = 200, *, in_table: bool = False) -> str:
    """`text` as a Markdown code span, whatever backticks it holds (mentions in a code span do
    not notify anyone). Control characters are replaced and long text is shortened; `in_table`
    escapes `|`, which would end a table cell even inside a code span."""
    value = _clean(str(text).replace("\n", " "))
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    runs = [len(r) for r in re.findall(r"`+", value)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") or not value.strip() else ""
    span = f"{fence}{pad}{value}{pad}{fence}"
    return span.replace("|", "\\|") if in_table else span


# --- replies ----------------------------------------------------------------------------------


def render_errors(errors: Sequence[CommandError]) -> str:
    """The reply to a comment whose command lines could not be read."""
    return render("commands/errors.md.j2", errors=list(errors), code=code_span)
