"""Load a manifest from (path, text): every problem at once, each at its line and column."""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError, WithJsonSchema
from pydantic.fields import FieldInfo

from bot.core.manifest import rules
from bot.core.manifest.model import (
    API_VERSION,
    KIND,
    EnvironmentSpec,
    Manifest,
    Contract,
    Metadata,
    ModelSpec,
    Provenance,
    ValidationSpec,
)
from bot.core.manifest.problems import Problem, has_errors, sort_problems
from bot.core.manifest.yamlsource import MAX_PROBLEMS, SourceMap, compose, format_path

_SECTIONS: dict[str, type[BaseModel]] = {"metadata": Metadata, "model": ModelSpec,
                                         "provenance": Provenance, "validation": ValidationSpec,
                                         "contract": Contract}


@dataclass(frozen=True)
class LoadResult:
    """A manifest file's outcome. `manifest` is None whenever there is any error."""

    path: str
    manifest: Manifest | None
    problems: tuple[Problem, ...]
    source: SourceMap = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.manifest is not None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.is_error)


def load_manifest(path: str, text: str | bytes) -> LoadResult:
    """Read, validate and check one manifest; never raises on bad input.

    `path` is the file's path in the repository (used in every Problem); `text` its content as
    str or raw bytes (bytes are checked to be UTF-8).
    """
    composed = compose(path, text)
    problems = list(composed.problems)
    data = composed.data
    source = composed.source
    manifest = None
    if data is None:
        if not problems:
            problems.append(Problem(path, 1, 1, "", None, "the file holds no manifest",
                                    "a mapping with apiVersion, kind, metadata, ...", "manifest.empty"))
        return _result(path, None, problems, source)
    if not isinstance(data, dict):
        line, col = source.position(())
        problems.append(Problem(path, line, col, "", _type_name(data),
                                "the manifest must be a mapping", "a mapping with apiVersion, kind, "
                                "metadata, model, provenance and environments", "manifest.shape"))
        return _result(path, None, problems, source)
    header = [h for h in _header_problems(path, data, source)
              if (h.field,) not in composed.poisoned]
    if header:
        return _result(path, None, problems + header, source)

    errors: list[dict[str, Any]] = []
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    error_paths = []
    for err in errors:
        loc, _ = _error_loc(data, err["loc"])
        error_paths.append(loc)
        if any(loc[: len(p)] == p for p in composed.poisoned):
            continue
        problems.append(_schema_problem(path, err, data, source))

    findings = (rules.check_manifest(manifest) if manifest is not None
                else _partial_findings(data, error_paths))
    problems += [finding_problem(path, source, f) for f in findings]
    if has_errors(problems):
        manifest = None
    if manifest is not None:
        manifest._source = source
    return _result(path, manifest, problems, source)


def check_manifest(manifest: Manifest) -> list[Problem]:
    """The cross-field rules for a Manifest built in code (or to re-check a loaded one)."""
    source = manifest.source or SourceMap("")
    return sort_problems(finding_problem(source.path, source, f) for f in rules.check_manifest(manifest))


def _result(path: str, manifest: Manifest | None, problems: list[Problem],
            source: SourceMap) -> LoadResult:
    problems = sort_problems(problems)
    if len(problems) > MAX_PROBLEMS:
        extra = len(problems) - MAX_PROBLEMS
        problems = problems[:MAX_PROBLEMS] + [Problem(path, problems[MAX_PROBLEMS].line, 1, "", None,
                                                      f"{extra} more problems not shown", None,
                                                      "manifest.too-many-problems")]
    return LoadResult(path, manifest, tuple(problems), source)


def _header_problems(path: str, data: dict, source: SourceMap) -> list[Problem]:
    """An unknown apiVersion/kind makes the rest meaningless: report only that."""
    out = []
    for key, want in (("apiVersion", API_VERSION), ("kind", KIND)):
        if key in data and data[key] != want:
            line, col = source.position((key,))
            out.append(Problem(path, line, col, key, data[key], f"unsupported {key}",
                               repr(want), "manifest.header"))
    return out


def finding_problem(path: str, source: SourceMap, f: rules.Finding) -> Problem:
    line, col = source.position(f.loc, at_key=f.at_key)
    return Problem(path, line, col, format_path(f.loc), f.value, f.message, f.expected, f.rule,
                   f.severity)


def _partial_findings(data: dict, error_paths: list[tuple]) -> list[rules.Finding]:
    """Run the cross-field rules on every section that passed its own schema."""

    def clean(prefix: tuple) -> bool:
        return not any(p[: len(prefix)] == prefix or prefix[: len(p)] == p for p in error_paths)

    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        if isinstance(data.get(name), dict) and clean((name,)):
            sections[name] = cls.model_validate(data[name])
    envs = {}
    if isinstance(data.get("environments"), dict):
        for name, value in data["environments"].items():
            if isinstance(value, dict) and clean(("environments", name)):
                envs[name] = EnvironmentSpec.model_validate(value)
    return rules.check_sections(sections.get("metadata"), sections.get("model"),
                                sections.get("provenance"), sections.get("validation"), envs,
                                sections.get("contract"))


# --- pydantic errors -> problems -----------------------------------------------------------------


def _walk(data: Any, loc: Iterable[Any]) -> tuple[tuple, list]:
    """Split an error location into the part present in the data and the rest."""
    walked: list[Any] = []
    node = data
    loc = list(loc)
    for i, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and part.startswith("<") and part.endswith(">"):
            continue  # a union tag of ours, not a key
        else:
            return tuple(walked), loc[i:]
        walked.append(part)
    return tuple(walked), []


_CUSTOM_RULES = {"aws_name": "aws.name", "tag_key": "aws.tags", "tag_value": "aws.tags"}

_TYPE_WORDS = {
    "string_type": "a string", "int_type": "an integer", "int_from_float": "a whole number",
    "float_type": "a number", "bool_type": "true or false", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping", "list_type": "a list",
    "int_parsing": "an integer", "float_parsing": "a number", "finite_number": "a finite number",
}


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            dict: "a mapping", list: "a list"}.get(type(value), type(value).__name__)


def _error_loc(data: Any, loc: Iterable[Any]) -> tuple[tuple, bool]:
    """A pydantic location as a YAML key path, and whether it names a mapping key."""
    walked, rest = _walk(data, loc)
    rest = [r for r in rest if not (isinstance(r, str) and r.startswith("<"))]
    if rest and rest[-1] == "[key]":
        return walked + tuple(rest[:-1]), True
    return walked + tuple(rest), False


def _schema_problem(path: str, err: dict[str, Any], data: Any, source: SourceMap) -> Problem:
    typ: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    loc, at_key = _error_loc(data, err["loc"])
    at_key = at_key or typ == "extra_forbidden"
    line, col = source.position(loc, at_key=at_key)
    name = str(loc[-1]) if loc else "manifest"
    value = err.get("input")
    expected = ctx.get("expected")
    rule = _CUSTOM_RULES.get(typ, f"schema.{typ}")

    if typ == "missing":
        value = None
        message = f"`{name}` is required"
        expected = _describe_field(loc)
    elif typ == "extra_forbidden":
        value = name
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(name, allowed, n=1)
        message = f"unknown field `{name}`" + (f"; did you mean `{close[0]}`?" if close else "")
        expected = "one of " + ", ".join(allowed) if allowed else None
    elif at_key and typ not in ("missing", "extra_forbidden"):
        value = loc[-1] if loc else value
        message = f"the key {value!r} {ctx.get('reason', 'is not valid')}"
    elif "reason" in ctx:  # our own checked strings
        message = f"{name} {ctx['reason']}"
    elif typ in _TYPE_WORDS:
        expected = _TYPE_WORDS[typ]
        message = f"expected {expected}, got {_type_name(value)}"
        raw = source.positions.get(loc)
        if typ == "string_type" and isinstance(value, (int, float, bool)) and raw and raw.raw:
            message += f"; write it in quotes: \"{raw.raw}\""
        elif typ in ("int_type", "float_type", "bool_type") and isinstance(value, str):
            message += "; remove the quotes"
        desc = _describe_field(loc)
        if desc and desc != expected:
            expected = f"{expected} ({desc})"
    elif typ == "literal_error":
        message = f"{value!r} is not one of the allowed values"
    elif typ in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
                "less_than": "<"}[typ]
        bound = next(iter(ctx.values()), None)
        message = f"{value!r} is out of range"
        expected = f"{sign} {bound}"
        lo_hi = _range_of(loc)
        if lo_hi:
            expected = lo_hi
    elif typ == "multiple_of":
        message = f"{value!r} is not a multiple of {ctx.get('multiple_of')}"
        expected = _range_of(loc) or f"a multiple of {ctx.get('multiple_of')}"
    elif typ in ("too_short", "too_long"):
        n = ctx.get("min_length") if typ == "too_short" else ctx.get("max_length")
        kind = "character" if isinstance(value, str) else "entry"
        plural = {"character": "characters", "entry": "entries"}
        actual = ctx.get("actual_length")
        if actual is None:
            actual = len(value) if hasattr(value, "__len__") else "?"
        message = "is empty" if actual == 0 else f"has {actual} {plural[kind]}"
        expected = (f"at least {n} " if typ == "too_short" else f"at most {n} ") + (
            kind if n == 1 else plural[kind])
        if isinstance(value, (list, dict)):
            value = None
    elif typ == "string_pattern_mismatch":
        message = f"{name} is not in the expected form"
        expected = _describe_field(loc) or f"text matching {ctx.get('pattern')}"
    elif typ == "value_or_ref":
        message = f"expected {expected}, got {_type_name(value)}"
    else:
        message = err.get("msg", typ)
    if isinstance(value, (dict, list)) and typ not in ("too_short", "too_long"):
        value = _type_name(value)
    return Problem(path, line, col, format_path(loc), value, message, expected, rule)


# --- what a field expects, from the model classes ------------------------------------------------


def _unwrap(ann: Any) -> tuple[Any, list[Any]]:
    """Strip Annotated and Optional; return the core annotation and collected metadata."""
    meta: list[Any] = []
    while True:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            args = typing.get_args(ann)
            ann, meta = args[0], meta + list(args[1:])
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(args) > 1:  # a tagged union: follow its one model, if it has one
                models = [a for a in args if isinstance(_unwrap(a)[0], type)
                          and issubclass(_unwrap(a)[0], BaseModel)]
                args = models if len(models) == 1 else args
            if len(args) == 1:
                ann = args[0]
                continue
        return ann, meta


def _field_at(loc: tuple) -> tuple[Any, list[Any]] | None:
    """The annotation (and metadata) that the manifest model gives the value at `loc`."""
    ann: Any = Manifest
    meta: list[Any] = []
    for part in loc:
        ann, extra = _unwrap(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            info = _model_field(ann, part)
            if info is None:
                return None
            ann, meta = info.annotation, list(info.metadata)
            continue
        origin = typing.get_origin(ann)
        if origin is dict:
            ann, meta = typing.get_args(ann)[1], []
        elif origin is list:
            ann, meta = typing.get_args(ann)[0], []
        else:
            return None
    core, extra = _unwrap(ann)
    return core, meta + extra


def _model_field(model: type[BaseModel], key: Any) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return info
    return None


def _allowed_keys(loc: tuple) -> list[str]:
    found = _field_at(loc)
    if found and isinstance(found[0], type) and issubclass(found[0], BaseModel):
        return [info.alias or name for name, info in found[0].model_fields.items()]
    return []


def _describe_field(loc: tuple) -> str | None:
    found = _field_at(loc)
    if not found:
        return None
    ann, meta = found
    for m in meta:
        if isinstance(m, WithJsonSchema) and isinstance(m.json_schema, dict):
            return m.json_schema.get("description")
    if typing.get_origin(ann) is typing.Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(ann))
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        required = [i.alias or n for n, i in ann.model_fields.items() if i.is_required()]
        return "a mapping" + (f" with {', '.join(required)}" if required else "")
    if typing.get_origin(ann) is dict or ann is dict:
        return "a mapping"
    if typing.get_origin(ann) is list:
        return "a list"
    if typing.get_origin(ann) is typing.Union:
        return None
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(ann)


def _range_of(loc: tuple) -> str | None:
    """`1024-6144 (multiple of 1024)` from a field's numeric constraints, if it has both ends."""
    found = _field_at(loc)
    if not found:
        return None
    lo = hi = step = None
    for m in found[1]:
        lo = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else lo
        hi = getattr(m, "le", None) if getattr(m, "le", None) is not None else hi
        step = getattr(m, "multiple_of", None) or step
    if lo is None or hi is None:
        return None
    return f"{lo}-{hi}" + (f" in steps of {step}" if step else "")
