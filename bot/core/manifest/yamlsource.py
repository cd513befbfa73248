"""Bounded, position-recording YAML reading for manifests.

A manifest comes from a pull request, so its text is hostile until proven otherwise. This
module turns text into plain data (dict / list / str / int / float / bool / None) and a
`SourceMap` from key paths to line and column, answering every refusal with a `Problem`:

- at most `MAX_BYTES` (256 KiB), UTF-8 only (a UTF-8 byte-order mark is ignored);
- one YAML document; collections nested at most `MAX_DEPTH` deep; at most `MAX_NODES` nodes;
- no anchors and no aliases at all: manifests are short, an alias hides what a reviewer sees,
  and refusing them removes alias bombs ("billion laughs") outright;
- no tags beyond YAML's standard scalar/collection tags (`!!str`, `!!int`, `!!float`,
  `!!bool`, `!!null`, `!!map`, `!!seq`); `!!python/object`, `!!binary`, `!!timestamp`,
  `!!set`, local tags and the like are refused, nothing is ever constructed from a tag;
- no duplicate keys, no merge keys (`<<`), only scalar keys (read as strings);
- plain scalars resolve with the YAML 1.2 core schema: `yes`/`no`/`on`/`off` stay strings,
  `2024-05-01` stays a string (no timestamps), `1:30` stays a string.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from bot.core.manifest.problems import Problem

MAX_BYTES = 256 * 1024
MAX_DEPTH = 24
MAX_NODES = 20_000
MAX_PROBLEMS = 100

Path = tuple[Any, ...]

_STD = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_STD + t for t in ("str", "int", "float", "bool", "null")}
_MAP_TAGS = {_STD + "map"}
_SEQ_TAGS = {_STD + "seq"}

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_MAX_NUMBER_CHARS = 64

try:  # libyaml is much faster; both parsers produce the same events and marks.
    from yaml import CSafeLoader as _Parser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Parser  # type: ignore[assignment]


@dataclass(frozen=True)
class Pos:
    """Where a node starts (1-based) and, for a mapping value, where its key starts."""

    line: int
    column: int
    key_line: int | None = None
    key_column: int | None = None
    raw: str | None = None  # the scalar's source text, for hints like "quote it"


@dataclass
class SourceMap:
    """Key path -> position, for one file. Paths use the YAML key names."""

    path: str
    positions: dict[Path, Pos] = field(default_factory=dict)

    def find(self, loc: Path) -> tuple[Path, Pos]:
        """The longest recorded prefix of `loc` and its position."""
        loc = tuple(loc)
        for n in range(len(loc), -1, -1):
            pos = self.positions.get(loc[:n])
            if pos is not None:
                return loc[:n], pos
        return (), Pos(1, 1)

    def position(self, loc: Path, *, at_key: bool = False) -> tuple[int, int]:
        """Line and column for `loc`: the value's start, or its key's with `at_key`.

        A path that is absent from the file (a missing field) points at the key of the nearest
        mapping that is present, which is where the field would have to be added.
        """
        found, pos = self.find(loc)
        if (at_key or len(found) < len(tuple(loc))) and pos.key_line is not None:
            return pos.key_line, pos.key_column or 1
        return pos.line, pos.column


@dataclass
class Composed:
    """The outcome of reading one file: data (None if unreadable), positions, problems."""

    data: Any
    source: SourceMap
    problems: list[Problem]
    poisoned: set[Path] = field(default_factory=set)  # paths whose value was refused


class _Abort(Exception):
    """Stop reading: the rest of the input cannot be trusted or would cost too much."""


def format_path(loc: Path) -> str:
    """`('a', 'b', 0, 'c')` -> `a.b[0].c`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _resolve_plain(text: str) -> tuple[Any, str]:
    """Value and tag of a plain scalar under the YAML 1.2 core schema."""
    if _NULL.match(text):
        return None, "null"
    if _TRUE.match(text):
        return True, "bool"
    if _FALSE.match(text):
        return False, "bool"
    if len(text) <= _MAX_NUMBER_CHARS:
        if _INT10.match(text):
            return int(text, 10), "int"
        if _INT8.match(text):
            return int(text[2:], 8), "int"
        if _INT16.match(text):
            return int(text[2:], 16), "int"
        if _FLOAT.match(text):
            return float(text), "float"
        if _INF.match(text):
            return (-math.inf if text.startswith("-") else math.inf), "float"
        if _NAN.match(text):
            return math.nan, "float"
    return text, "str"


def _construct_tagged(tag: str, text: str) -> Any:
    """Value of an explicitly tagged scalar (`!!int 5`); ValueError if it does not fit."""
    kind = tag[len(_STD):]
    if kind == "str":
        return text
    value, resolved = _resolve_plain(text)
    if kind == resolved or (kind == "float" and resolved == "int"):
        return float(value) if kind == "float" else value
    raise ValueError(f"{text!r} is not a valid !!{kind}")


class _Builder:
    def __init__(self, path: str):
        self.path = path
        self.source = SourceMap(path)
        self.problems: list[Problem] = []
        self.poisoned: set[Path] = set()
        self.nodes = 0

    def problem(self, mark, loc: Path, value: Any, message: str, expected: str | None,
                rule: str) -> None:
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(self.path, line, column, format_path(loc), value,
                                         message, expected, rule))

    def count(self, event) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.problem(event.start_mark, (), None,
                         f"the document has more than {MAX_NODES} values", "a short manifest",
                         "yaml.too-many-nodes")
            raise _Abort

    def check_anchor(self, event, loc: Path) -> None:
        if getattr(event, "anchor", None):
            self.problem(event.start_mark, loc, f"&{event.anchor}",
                         "YAML anchors are not allowed in manifests",
                         "the value written out in full", "yaml.anchor")

    def check_tag(self, event, loc: Path, allowed: set[str]) -> bool:
        tag = event.tag
        if tag is None or tag == "!" or tag in allowed:
            return True
        shown = "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag
        self.problem(event.start_mark, loc, shown, f"YAML tag {shown} is not allowed",
                     "no tag, or one of " + ", ".join(sorted("!!" + t[len(_STD):] for t in allowed)),
                     "yaml.tag")
        self.poisoned.add(loc)
        return False


def compose(path: str, text: str | bytes) -> Composed:
    """Read one manifest's text into data and positions; never raises on bad input."""
    b = _Builder(path)
    source = b.source
    if isinstance(text, str):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates cannot be UTF-8
            before = text[: exc.start]
            b.problems.append(Problem(path, before.count("\n") + 1,
                                      len(before.rsplit("\n", 1)[-1]) + 1, "",
                                      f"U+{ord(text[exc.start]):04X}", "the text is not valid Unicode",
                                      "UTF-8 text", "file.encoding"))
            return Composed(None, source, b.problems)
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8"))
    if size > MAX_BYTES:
        b.problem(None, (), f"{size} bytes", f"the file is larger than {MAX_BYTES // 1024} KiB",
                  f"at most {MAX_BYTES} bytes", "file.too-large")
        return Composed(None, source, b.problems)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = text[: exc.start]
            line = before.count(b"\n") + 1
            column = len(before.rsplit(b"\n", 1)[-1].decode("utf-8", "replace")) + 1
            b.problems.append(Problem(path, line, column, "", f"byte 0x{text[exc.start]:02x}",
                                      "the file is not valid UTF-8", "UTF-8 text",
                                      "file.encoding"))
            return Composed(None, source, b.problems)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        b.problem(None, (), None, "the file is empty",
                  "a mapping with apiVersion, kind, metadata, model, provenance and environments",
                  "manifest.empty")
        return Composed(None, source, b.problems)

    parser = _Parser(text)
    data: Any = None
    try:
        data = _build(parser, b)
    except _Abort:
        data = None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        b.problem(mark, (), None, f"not valid YAML: {exc.problem or exc.context}",
                  "well-formed YAML", "yaml.syntax")
        data = None
    except yaml.reader.ReaderError as exc:  # control characters and the like
        before = text[: exc.position]
        line, col = before.count("\n") + 1, len(before.rsplit("\n", 1)[-1]) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        b.problems.append(Problem(path, line, col, "", char,
                                  f"character U+{ord(char):04X} is not allowed in YAML",
                                  "printable text", "yaml.character"))
        data = None
    except yaml.YAMLError as exc:
        b.problems.append(Problem(path, 1, 1, "", None, f"not valid YAML: {exc}",
                                  "well-formed YAML", "yaml.syntax"))
        data = None
    finally:
        parser.dispose()
    return Composed(data, source, b.problems, b.poisoned)


def _build(parser, b: _Builder) -> Any:
    """Build data from the event stream with an explicit stack (no recursion)."""
    ev = parser.get_event()  # StreamStart
    if not parser.check_event(yaml.DocumentStartEvent):
        return None
    parser.get_event()
    # Stack frames: [container, loc, kind, pending_key, pending_key_pos]
    stack: list[list[Any]] = []
    root: Any = None
    root_done = False

    def attach(value: Any, loc: Path, event, raw: str | None) -> None:
        nonlocal root, root_done
        mark = event.start_mark
        if not stack:
            root, root_done = value, True
            b.source.positions[()] = Pos(mark.line + 1, mark.column + 1, raw=raw)
            return
        frame = stack[-1]
        container, _, kind = frame[0], frame[1], frame[2]
        if kind == "seq":
            container.append(value)
            b.source.positions[loc] = Pos(mark.line + 1, mark.column + 1, raw=raw)
        else:
            key, key_mark = frame[3], frame[4]
            frame[3] = None
            if key is not _SKIP:
                container[key] = value
                b.source.positions[loc] = Pos(mark.line + 1, mark.column + 1,
                                              key_mark.line + 1, key_mark.column + 1, raw)

    while True:
        ev = parser.get_event()
        if isinstance(ev, (yaml.DocumentEndEvent, yaml.StreamEndEvent)):
            break
        # Where does this node go?
        expecting_key = bool(stack) and stack[-1][2] == "map" and stack[-1][3] is None
        if expecting_key and not isinstance(ev, yaml.MappingEndEvent):
            _take_key(ev, parser, b, stack)
            continue
        if stack:
            frame = stack[-1]
            if frame[2] == "seq":
                loc = frame[1] + (len(frame[0]),)
            else:
                loc = frame[1] + (frame[3],)
        else:
            loc = ()
        if isinstance(ev, yaml.AliasEvent):
            b.count(ev)
            b.problem(ev.start_mark, loc, f"*{ev.anchor}", "YAML aliases are not allowed in manifests",
                      "the value written out in full", "yaml.alias")
            b.poisoned.add(loc)
            attach(None, loc, ev, None)
        elif isinstance(ev, yaml.ScalarEvent):
            b.count(ev)
            b.check_anchor(ev, loc)
            value: Any = ev.value
            if b.check_tag(ev, loc, _SCALAR_TAGS):
                if ev.tag in _SCALAR_TAGS:
                    try:
                        value = _construct_tagged(ev.tag, ev.value)
                    except ValueError as exc:
                        b.problem(ev.start_mark, loc, ev.value, str(exc), "a value of that type",
                                  "yaml.tag")
                        b.poisoned.add(loc)
                elif ev.implicit[0]:
                    value, _ = _resolve_plain(ev.value)
            attach(value, loc, ev, ev.value)
        elif isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            b.count(ev)
            b.check_anchor(ev, loc)
            is_map = isinstance(ev, yaml.MappingStartEvent)
            b.check_tag(ev, loc, _MAP_TAGS if is_map else _SEQ_TAGS)
            if len(stack) >= MAX_DEPTH:
                b.problem(ev.start_mark, loc, None,
                          f"values are nested more than {MAX_DEPTH} levels deep",
                          f"at most {MAX_DEPTH} levels", "yaml.too-deep")
                raise _Abort
            container: Any = {} if is_map else []
            attach(container, loc, ev, None)
            stack.append([container, loc, "map" if is_map else "seq", None, None])
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            stack.pop()
    if parser.check_event(yaml.DocumentStartEvent):
        ev = parser.peek_event()
        b.problem(ev.start_mark, (), None, "the file holds more than one YAML document",
                  "one manifest per file (no second `---`)", "yaml.multiple-documents")
    return root if root_done else None


class _SkipKey:
    def __repr__(self) -> str:
        return "<skipped key>"


_SKIP = _SkipKey()


def _take_key(ev, parser, b: _Builder, stack: list[list[Any]]) -> None:
    """Read a mapping key; only plain/quoted scalars are keys, read as strings."""
    frame = stack[-1]
    container, loc = frame[0], frame[1]
    if isinstance(ev, yaml.ScalarEvent):
        b.count(ev)
        b.check_anchor(ev, loc + (ev.value,))
        key = ev.value
        if ev.tag not in (None, "!", _STD + "str"):
            b.check_tag(ev, loc + (key,), {_STD + "str"})
        if key == "<<" and ev.implicit[0]:
            b.problem(ev.start_mark, loc + (key,), key, "YAML merge keys (<<) are not allowed",
                      "the keys written out in full", "yaml.merge-key")
            frame[3], frame[4] = _SKIP, ev.start_mark
            return
        if key in container:
            first = b.source.positions.get(loc + (key,))
            where = f" (first at line {first.key_line})" if first and first.key_line else ""
            b.problem(ev.start_mark, loc + (key,), key, f"duplicate key `{key}`{where}",
                      "each key once per mapping", "yaml.duplicate-key")
            frame[3], frame[4] = _SKIP, ev.start_mark
            return
        frame[3], frame[4] = key, ev.start_mark
        return
    # A collection or alias used as a key: refuse, and skip over it entirely.
    b.problem(ev.start_mark, loc, None, "mapping keys must be plain strings",
              "a string key", "yaml.complex-key")
    if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
        depth = 1
        while depth:
            b.count(ev)
            ev = parser.get_event()
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
            elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    frame[3], frame[4] = _SKIP, ev.start_mark
