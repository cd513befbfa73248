"""GitHub's REST contract (tests/contract/github-rest.subset.json) as a router and validator.

`RestContract.match` finds the operation for a method and path; `check_request` checks a request
against the operation's parameters and request body, `check_response` checks an answer against
the response schema for its status. Schemas are OpenAPI 3.0 (`nullable`), so they are checked
with openapi_schema_validator's OAS30Validator, with formats (date-time...) asserted.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from jsonschema import _keywords
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

CONTRACT_DIR = Path(__file__).resolve().parent.parent / "contract"
REST_SUBSET = CONTRACT_DIR / "github-rest.subset.json"
_DOC_URI = "urn:github-rest"
# Path parameters that may contain slashes (file paths, refs, branch names, base...head).
_MULTI_SEGMENT = frozenset({"path", "ref", "branch", "basehead"})


def _nullable_enum(validator, enums, instance, schema):
    # OAS 3.0.3: "nullable: true adds null to the allowed values"; GitHub relies on it for enums
    # (a queued check run's `conclusion` is null, its enum lists no null).
    if instance is None and schema.get("nullable"):
        return
    yield from _keywords.enum(validator, enums, instance, schema)


# The OpenAPI 3.0 validator with two readings of GitHub's description made explicit:
# - `nullable` admits null in an `enum` too (above);
# - `discriminator` is a hint, as OpenAPI 3.1 makes it, and oneOf/anyOf/allOf decide alone: the
#   contents operation maps "array" (a directory listing) through a discriminator, which can only
#   look into objects, so a strict discriminator would refuse every directory GitHub returns.
GitHubOAS30Validator = extend(OAS30Validator, {
    "enum": _nullable_enum, "oneOf": _keywords.oneOf, "anyOf": _keywords.anyOf, "allOf": _keywords.allOf,
})


@functools.cache
def load_contract_json(name: str) -> Any:
    """One of the committed subset files, parsed once per process."""
    return json.loads((CONTRACT_DIR / name).read_text())


@dataclass(frozen=True)
class Problem:
    """Why a request does not conform: a readable reason, and the status GitHub answers it with
    (None: GitHub ignores the mistake, e.g. an unknown query parameter, but it is still recorded)."""

    status: int | None
    message: str


@dataclass
class Operation:
    method: str
    template: str
    operation_id: str
    spec: dict
    parameters: list[tuple[dict, str]]  # (resolved parameter, JSON pointer to it in the document)
    regex: re.Pattern = field(repr=False)

    @property
    def name(self) -> str:
        return f"{self.method} {self.template} ({self.operation_id})"

    def response_spec(self, status: int) -> dict | None:
        responses = self.spec.get("responses", {})
        return responses[str(status)] if str(status) in responses else responses.get("default")


def describe(error: ValidationError, limit: int = 300) -> str:
    """A one-line account of a schema failure: where, and what."""
    where = error.json_path
    message = error.message
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = sorted(error.context, key=lambda e: (-len(e.absolute_path), e.message))[:3]
        message = f"matches none of the {error.validator} alternatives: " + "; ".join(
            f"{e.json_path}: {e.message[:120]}" for e in best)
    elif error.validator in ("maxItems", "minItems", "maxLength", "minLength"):
        unit = "items" if error.validator.endswith("Items") else "characters"
        bound = "at most" if error.validator.startswith("max") else "at least"
        message = f"has {len(error.instance)} {unit}, {bound} {error.validator_value} allowed"
    if len(message) > limit:
        message = message[: limit - 3] + "..."
    return f"{where}: {message}"


class RestContract:
    """The REST operations of the subset, with their schemas ready to validate against."""

    def __init__(self, doc: dict | None = None):
        self.doc = doc if doc is not None else load_contract_json(REST_SUBSET.name)
        self._registry = Registry().with_resource(
            _DOC_URI, Resource.from_contents(self.doc, default_specification=DRAFT4))
        self.operations: list[Operation] = []
        for template, item in self.doc["paths"].items():
            base = "/paths/" + _escape(template)
            shared = [(p, f"{base}/parameters/{i}") for i, p in enumerate(item.get("parameters", []))]
            for method, spec in item.items():
                if method == "parameters":
                    continue
                own = [(p, f"{base}/{method}/parameters/{i}") for i, p in enumerate(spec.get("parameters", []))]
                params = [(self.resolve(p), p["$ref"].lstrip("#") if "$ref" in p else ptr)
                          for p, ptr in shared + own]
                self.operations.append(Operation(
                    method.upper(), template, spec["operationId"], spec, params, _template_regex(template)))
        # Most literal text first, so /commits/{ref}/check-runs wins over /commits/{ref}.
        self.operations.sort(key=lambda op: -len(re.sub(r"\{[^}]+\}", "", op.template)))

    # -- schema plumbing -------------------------------------------------------------------------

    def resolve(self, node: dict) -> dict:
        """Follow a local `$ref` (components/parameters, responses...) to its target."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    @functools.lru_cache(maxsize=None)
    def _validator(self, pointer: str) -> OAS30Validator:
        return GitHubOAS30Validator({"$ref": f"{_DOC_URI}#{pointer}"}, registry=self._registry,
                              format_checker=oas30_format_checker)

    def schema_errors(self, pointer: str, instance: Any) -> list[str]:
        """Readable failures of `instance` against the schema at JSON pointer `pointer`."""
        errors = sorted(self._validator(pointer).iter_errors(instance), key=lambda e: e.json_path)
        return [describe(e) for e in errors]

    def schema_pointer(self, op: Operation, *parts: str) -> str:
        return "/".join(["/paths", _escape(op.template), op.method.lower(), *map(_escape, parts)])

    # -- routing ---------------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str]]:
        """The operation for `method path` and its raw path parameters, or (None, {})."""
        for op in self.operations:
            m = op.regex.fullmatch(path)
            if m and op.method == method.upper():
                return op, m.groupdict()
        return None, {}

    def methods_for(self, path: str) -> list[str]:
        return sorted({op.method for op in self.operations if op.regex.fullmatch(path)})

    # -- requests --------------------------------------------------------------------------------

    def check_request(self, op: Operation, raw_path: Mapping[str, str], query: Mapping[str, list[str]],
                      body: bytes, content_type: str | None) -> tuple[dict[str, Any], Any, list[Problem]]:
        """Typed parameters, the parsed JSON body and the problems found (empty: it conforms)."""
        params: dict[str, Any] = {}
        problems: list[Problem] = []
        known = set()
        for param, pointer in op.parameters:
            name, where, schema = param["name"], param["in"], param.get("schema", {})
            if where == "header":
                continue
            known.add((where, name))
            if where == "path":
                value, error = _coerce(raw_path.get(name, ""), schema)
                if error is None:
                    error = self._param_error(pointer, value)
                if error:
                    problems.append(Problem(404, f"path parameter {name}={raw_path.get(name)!r}: {error}"))
                params[name] = value
            elif where == "query":
                values = query.get(name)
                if not values:
                    if param.get("required"):
                        problems.append(Problem(422, f"query parameter {name} is required"))
                    elif "default" in schema:
                        params[name] = schema["default"]
                    continue
                value, error = _coerce(values[-1], schema)
                if error is None:
                    error = self._param_error(pointer, value)
                if error:
                    problems.append(Problem(422, f"query parameter {name}={values[-1]!r}: {error}"))
                params[name] = value
        for name in query:
            if ("query", name) not in known:
                problems.append(Problem(None, f"query parameter {name!r} is not defined for {op.name}"))

        payload: Any = None
        spec = op.spec.get("requestBody")
        if body.strip():
            media = (content_type or "").split(";")[0].strip().lower()
            if spec is None:
                problems.append(Problem(400, f"{op.name} takes no request body"))
            elif media not in ("application/json", ""):
                problems.append(Problem(415, f"request body must be application/json, not {media}"))
            try:
                payload = json.loads(body)
            except ValueError as exc:
                problems.append(Problem(400, f"Problems parsing JSON: {exc}"))
                return params, None, problems
        if spec is not None:
            if payload is None and not body.strip():
                if spec.get("required"):
                    problems.append(Problem(422, "a request body is required"))
            else:
                pointer = self.schema_pointer(op, "requestBody", "content", "application/json", "schema")
                problems.extend(Problem(422, f"body {e}") for e in self.schema_errors(pointer, payload))
        return params, payload, problems

    def _param_error(self, pointer: str, value: Any) -> str | None:
        errors = self.schema_errors(pointer + "/schema", value)
        return "; ".join(e.split(": ", 1)[1] for e in errors) or None

    # -- responses -------------------------------------------------------------------------------

    def check_response(self, op: Operation, status: int, body: Any) -> list[str]:
        """Failures of a response body against the schema documented for its status.

        Statuses the operation does not document are held against GitHub's generic error bodies
        (validation-error for 422, basic-error otherwise)."""
        spec = op.response_spec(status)
        if spec is None:
            if status < 400:
                return [f"status {status} is not documented for {op.name}"]
            schema = "validation-error" if status == 422 else "basic-error"
            return self.schema_errors(f"/components/schemas/{schema}", body)
        spec = self.resolve(spec)
        content = spec.get("content") or {}
        if not content:
            return [] if body is None or status >= 400 else [f"{op.name} answers {status} with no body"]
        if "application/json" not in content:
            return [f"{op.name} {status} has no application/json response"]
        if op.spec["responses"].get(str(status), {}).get("$ref"):
            pointer = op.spec["responses"][str(status)]["$ref"].lstrip("#")
        else:
            key = str(status) if str(status) in op.spec["responses"] else "default"
            pointer = self.schema_pointer(op, "responses", key)
        return self.schema_errors(pointer + "/content/application~1json/schema", body)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _template_regex(template: str) -> re.Pattern:
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        pattern += re.escape(literal)
        if name:
            pattern += f"(?P<{name}>.+?)" if name in _MULTI_SEGMENT else f"(?P<{name}>[^/]+)"
    return re.compile(pattern)


def _coerce(raw: str, schema: dict) -> tuple[Any, str | None]:
    """A query or path string converted to the parameter's declared type."""
    kind = schema.get("type")
    if kind == "integer":
        if re.fullmatch(r"-?\d+", raw):
            return int(raw), None
        return raw, "is not an integer"
    if kind == "number":
        try:
            return float(raw), None
        except ValueError:
            return raw, "is not a number"
    if kind == "boolean":
        if raw in ("true", "false"):
            return raw == "true", None
        return raw, "is not true or false"
    return raw, None
