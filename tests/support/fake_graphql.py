"""The part of GitHub's GraphQL API (POST /graphql) that modelbot uses, held to GitHub's rules.

Served by `FakeGitHub` (tests/support/fake_github.py) at `/graphql`, as api.github.com serves it
(PyGithub derives the URL from the REST base URL: `<base>/graphql`, `/api/graphql` on Enterprise).
The schema subset is GitHub's own (https://docs.github.com/en/graphql/reference):

    Query.repository(owner: String!, name: String!, followRenames: Boolean): Repository
    Query.rateLimit(dryRun: Boolean): RateLimit          cost limit nodeCount remaining resetAt used
    Repository.object(expression: String, oid: GitObjectID): GitObject      nameWithOwner
    GitObject (interface: Blob, Commit, Tag, Tree)       oid abbreviatedOid
    Commit.file(path: String!): TreeEntry                tree
    TreeEntry                                            mode name path type oid size object
    Blob                                                 byteSize isBinary isTruncated text

What GitHub refuses, the fake refuses the way GitHub (graphql-ruby) answers: HTTP 200 with
`errors` and no `data` for a query that does not validate (unknown fields or types, missing or
unknown arguments, selections missing or on scalars, conflicting aliases, variables undeclared,
unused, of the wrong type or not provided), recorded in `.violations` like a refused REST call.
Limits, from "Rate limits and query limits for the GraphQL API"
(https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api):

- node limit: at most 500,000 nodes a call, counted over connections (`first`/`last` 1-100 on
  each). The subset has no connection, so every query here counts 0 nodes; the rule is kept.
- primary rate limit: points per hour per installation (5,000 for an App installation), a query
  scoring 1 point when it has no connection (the documented formula: requests a connection
  needs, divided by 100, at least 1); over it the answer is still HTTP 200 with a RATE_LIMITED
  error and x-ratelimit-remaining 0; every answer carries x-ratelimit-* with resource `graphql`.
- secondary rate limit: at most 2,000 points per minute to the GraphQL endpoint, a query without
  mutations counting 1 ("Rate limits for the REST API" / secondary limits): 403 with Retry-After.
- GitHub documents no alias or depth limit; the fake invents none.

Blob fields follow the Blob object's reference: `text` is "UTF8 text data or null if the Blob is
binary"; `isTruncated` "whether the contents is truncated". GitHub does not say at what size it
truncates nor how it decides binary; the fake calls a blob binary when a NUL is in its first
8,000 bytes (git's own test), truncates text past `TEXT_LIMIT` bytes, and gives a non-UTF-8 text
blob's text transcoded with U+FFFD (UTF-8 text, not the file's bytes). Symlinks are tree entries
of mode 0o120000 whose blob is the link's target; `file(path:)` does not follow them.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Any

TEXT_LIMIT = 512 * 1024
NODE_LIMIT = 500_000
POINTS_PER_HOUR = 5_000
SECONDARY_POINTS_PER_MINUTE = 2_000
DOCS = "https://docs.github.com/graphql"

# type -> field -> (type expression, {argument: type expression})
SCHEMA: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "Query": {"repository": ("Repository", {"owner": "String!", "name": "String!", "followRenames": "Boolean"}),
              "rateLimit": ("RateLimit", {"dryRun": "Boolean"})},
    "RateLimit": {"cost": ("Int!", {}), "limit": ("Int!", {}), "nodeCount": ("Int!", {}),
                  "remaining": ("Int!", {}), "resetAt": ("DateTime!", {}), "used": ("Int!", {})},
    "Repository": {"nameWithOwner": ("String!", {}),
                   "object": ("GitObject", {"expression": "String", "oid": "GitObjectID"})},
    "GitObject": {"oid": ("GitObjectID!", {}), "abbreviatedOid": ("String!", {})},
    "Commit": {"oid": ("GitObjectID!", {}), "abbreviatedOid": ("String!", {}),
               "file": ("TreeEntry", {"path": "String!"}), "tree": ("Tree!", {})},
    "Tree": {"oid": ("GitObjectID!", {}), "abbreviatedOid": ("String!", {})},
    "Tag": {"oid": ("GitObjectID!", {}), "abbreviatedOid": ("String!", {}), "name": ("String!", {})},
    "Blob": {"oid": ("GitObjectID!", {}), "abbreviatedOid": ("String!", {}), "byteSize": ("Int!", {}),
             "isBinary": ("Boolean", {}), "isTruncated": ("Boolean!", {}), "text": ("String", {})},
    "TreeEntry": {"mode": ("Int!", {}), "name": ("String!", {}), "path": ("String", {}), "type": ("String!", {}),
                  "oid": ("GitObjectID!", {}), "size": ("Int!", {}), "object": ("GitObject", {})},
}
SCALARS = {"String", "Int", "Boolean", "ID", "GitObjectID", "DateTime", "Float"}
POSSIBLE = {"GitObject": {"Blob", "Commit", "Tag", "Tree"}}


class GraphQLError(Exception):
    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.payload = {"message": message, **extra}


# --- parsing -------------------------------------------------------------------------------------

_TOKEN = re.compile(r'''
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*) |
    (?P<spread>\.\.\.) |
    (?P<punct>[!$():=@\[\]{}|]) |
    (?P<name>[_A-Za-z][_0-9A-Za-z]*) |
    (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?) |
    (?P<string>"(?:[^"\\\n\r]|\\["\\/bfnrt]|\\u[0-9A-Fa-f]{4})*")
''', re.VERBOSE)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise GraphQLError(f"Parse error on {text[pos:pos + 10]!r} (at offset {pos})")
        pos = m.end()
        if m.lastgroup != "skip":
            out.append((m.lastgroup, m.group()))
    return out


def _unquote(raw: str) -> str:
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if body[i + 1] == "u":
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


@dataclass
class Field:
    alias: str | None
    name: str
    args: dict[str, Any]  # literal values, or ("$", name) for a variable
    selections: list | None  # Field | Fragment, or None for a leaf

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class Fragment:
    on: str
    selections: list


@dataclass
class Operation:
    kind: str
    name: str | None
    variables: dict[str, str] = field(default_factory=dict)  # name -> type expression
    selections: list = field(default_factory=list)


class _Parser:
    def __init__(self, text: str):
        self.toks, self.i = _tokens(text), 0

    def peek(self, value: str | None = None) -> bool:
        return self.i < len(self.toks) and (value is None or self.toks[self.i][1] == value)

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        if self.i >= len(self.toks):
            raise GraphQLError("Parse error on end of document")
        k, v = self.toks[self.i]
        if (value is not None and v != value) or (kind is not None and k != kind):
            raise GraphQLError(f"Parse error on {v!r} ({k}), expected {value or kind}")
        self.i += 1
        return v

    def document(self) -> list[Operation]:
        ops = []
        while self.peek():
            if self.peek("{"):
                ops.append(Operation("query", None, {}, self.selection_set()))
                continue
            kind = self.take(kind="name")
            if kind == "fragment":
                raise GraphQLError("fragment definitions are not in the fake's subset (use inline fragments)")
            if kind not in ("query", "mutation", "subscription"):
                raise GraphQLError(f"Parse error on {kind!r}")
            name = self.take(kind="name") if self.peek() and self.toks[self.i][0] == "name" else None
            variables = {}
            if self.peek("("):
                self.take("(")
                while not self.peek(")"):
                    self.take("$")
                    var = self.take(kind="name")
                    self.take(":")
                    variables[var] = self.type_expr()
                    if self.peek("="):
                        raise GraphQLError("variable defaults are not in the fake's subset")
                self.take(")")
            ops.append(Operation(kind, name, variables, self.selection_set()))
        if not ops:
            raise GraphQLError("Parse error on end of document")
        return ops

    def type_expr(self) -> str:
        if self.peek("["):
            self.take("[")
            inner = self.type_expr()
            self.take("]")
            out = f"[{inner}]"
        else:
            out = self.take(kind="name")
        if self.peek("!"):
            self.take("!")
            out += "!"
        return out

    def selection_set(self) -> list:
        self.take("{")
        out = []
        while not self.peek("}"):
            if self.peek("..."):
                self.take("...")
                if not self.peek("on"):
                    raise GraphQLError("fragment spreads are not in the fake's subset (use inline fragments)")
                self.take("on")
                out.append(Fragment(self.take(kind="name"), self.selection_set()))
                continue
            name, alias = self.take(kind="name"), None
            if self.peek(":"):
                self.take(":")
                alias, name = name, self.take(kind="name")
            args = {}
            if self.peek("("):
                self.take("(")
                while not self.peek(")"):
                    arg = self.take(kind="name")
                    self.take(":")
                    if arg in args:
                        raise GraphQLError(f"There can be only one argument named \"{arg}\"")
                    args[arg] = self.value()
                self.take(")")
            if self.peek("@"):
                raise GraphQLError("directives are not in the fake's subset")
            out.append(Field(alias, name, args, self.selection_set() if self.peek("{") else None))
        self.take("}")
        if not out:
            raise GraphQLError("Parse error on \"}\" (RCURLY): a selection set cannot be empty")
        return out

    def value(self):
        kind, v = self.toks[self.i] if self.i < len(self.toks) else ("", "")
        if v == "$":
            self.take("$")
            return ("$", self.take(kind="name"))
        self.i += 1
        if kind == "string":
            return _unquote(v)
        if kind == "number":
            return float(v) if any(c in v for c in ".eE") else int(v)
        if kind == "name" and v in ("true", "false"):
            return v == "true"
        if kind == "name" and v == "null":
            return None
        raise GraphQLError(f"Parse error on {v!r}: the fake's subset takes strings, numbers, booleans, null, variables")


# --- validation ----------------------------------------------------------------------------------


def _named(type_expr: str) -> str:
    return type_expr.strip("[]!")


def _accepts(expected: str, value) -> bool:
    if value is None:
        return not expected.endswith("!")
    base = _named(expected)
    if base in ("String", "ID", "GitObjectID", "DateTime"):
        return isinstance(value, str)
    if base == "Int":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "Boolean":
        return isinstance(value, bool)
    return False


class _Validator:
    def __init__(self, op: Operation, variables: dict):
        self.op, self.values, self.used, self.errors = op, variables, set(), []
        self.label = f"query {op.name}" if op.name else "anonymous query"

    def run(self) -> None:
        for var, type_expr in self.op.variables.items():
            if _named(type_expr) not in SCALARS:
                self.errors.append(f"{type_expr} isn't a valid input type (on ${var})")
            elif not _accepts(type_expr, self.values.get(var)):
                self.errors.append(f"Variable ${var} of type {type_expr} was provided invalid value")
        self.selections("Query", self.op.selections)
        for var in self.op.variables:
            if var not in self.used:
                self.errors.append(f"Variable ${var} is declared by {self.label} but not used")

    def selections(self, type_name: str, items: list) -> None:
        seen: dict[str, tuple] = {}
        for item in self._flatten(type_name, items):
            if isinstance(item, Fragment):
                continue
            sig = (item.name, tuple(sorted((k, repr(v)) for k, v in item.args.items())))
            if seen.setdefault(item.key, sig) != sig:
                self.errors.append(f"Field '{item.key}' has a field conflict: {seen[item.key][0]} or {item.name}?")
            self.field(type_name, item)

    def _flatten(self, type_name: str, items: list):
        for item in items:
            if isinstance(item, Fragment):
                if item.on not in SCHEMA:
                    self.errors.append(f"No such type {item.on}, so it can't be a fragment condition")
                elif item.on != type_name and item.on not in POSSIBLE.get(type_name, ()) and \
                        type_name not in POSSIBLE.get(item.on, ()):
                    self.errors.append(f"Fragment on {item.on} can't be spread inside {type_name}")
                else:
                    self.selections(item.on, item.selections)
                continue
            yield item

    def field(self, type_name: str, f: Field) -> None:
        if f.name == "__typename":
            return
        spec = SCHEMA[type_name].get(f.name)
        if spec is None:
            self.errors.append(f"Field '{f.name}' doesn't exist on type '{type_name}'")
            return
        returns, params = spec
        for arg, value in f.args.items():
            if arg not in params:
                self.errors.append(f"Field '{f.name}' doesn't accept argument '{arg}'")
                continue
            if isinstance(value, tuple):
                var = value[1]
                self.used.add(var)
                declared = self.op.variables.get(var)
                if declared is None:
                    self.errors.append(f"Variable ${var} is used by {self.label} but not declared")
                elif _named(declared) != _named(params[arg]) or (params[arg].endswith("!") and not declared.endswith("!")):
                    self.errors.append(f"Type mismatch on variable ${var} and argument {arg} ({declared} / {params[arg]})")
            elif not _accepts(params[arg], value):
                self.errors.append(f"Argument '{arg}' on Field '{f.name}' has an invalid value ({value!r}). "
                                   f"Expected type '{params[arg]}'.")
        missing = [a for a, t in params.items() if t.endswith("!") and a not in f.args]
        if missing:
            self.errors.append(f"Field '{f.name}' is missing required arguments: {', '.join(missing)}")
        target = _named(returns)
        if target in SCALARS:
            if f.selections is not None:
                self.errors.append(f"Selections can't be made on scalars (field '{f.name}' returns {target} "
                                   "but has selections)")
        elif f.selections is None:
            self.errors.append(f"Field must have selections (field '{f.name}' returns {target} but has no "
                               f"selections. Did you mean '{f.name} {{ ... }}'?)")
        else:
            self.selections(target, f.selections)


# --- execution -----------------------------------------------------------------------------------


@dataclass
class Budget:
    """GraphQL points of one installation: the hour's primary budget, the minute's secondary one."""

    limit: int = POINTS_PER_HOUR
    used: int = 0
    reset: int = field(default_factory=lambda: int(time.time()) + 3600)
    minute: list = field(default_factory=list)  # timestamps of the last minute's points

    def headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(max(self.limit - self.used, 0)),
                "X-RateLimit-Used": str(self.used), "X-RateLimit-Reset": str(self.reset),
                "X-RateLimit-Resource": "graphql"}


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


class Executor:
    """Answers one validated query against a `GitHubState` for an installation token."""

    def __init__(self, state, installation, budget: Budget, variables: dict):
        self.state, self.installation, self.budget, self.values = state, installation, budget, variables
        self.errors: list[dict] = []

    def arg(self, f: Field, name: str):
        value = f.args.get(name)
        return self.values.get(value[1]) if isinstance(value, tuple) else value

    def select(self, type_name: str, obj, items: list, path: list) -> dict:
        out: dict[str, Any] = {}
        for item in items:
            if isinstance(item, Fragment):
                if item.on == type_name or type_name in POSSIBLE.get(item.on, ()):
                    out.update(self.select(type_name, obj, item.selections, path))
                continue
            out[item.key] = self.resolve(type_name, obj, item, path + [item.key])
        return out

    def value(self, returns: str, obj, f: Field, path: list):
        if obj is None or f.selections is None:
            return obj
        concrete = obj[0] if _named(returns) in POSSIBLE else _named(returns)
        return self.select(concrete, obj, f.selections, path)

    def resolve(self, type_name: str, obj, f: Field, path: list):
        if f.name == "__typename":
            return obj[0] if isinstance(obj, tuple) else type_name
        returns = SCHEMA[type_name][f.name][0]
        getter = getattr(self, f"_{type_name}_{f.name}", None)
        if getter is not None:
            return self.value(returns, getter(obj, f, path), f, path)
        kind, repo, sha, extra = obj
        if f.name == "oid":
            return sha
        if f.name == "abbreviatedOid":
            return sha[:7]
        raise AssertionError(f"fake GraphQL: {type_name}.{f.name} has no resolver")

    # Query ---------------------------------------------------------------------------------------

    def _Query_repository(self, obj, f, path):
        owner, name = self.arg(f, "owner"), self.arg(f, "name")
        repo = self.state.repos.get(f"{owner}/{name}".lower())
        if repo is None or repo.installation_id != self.installation.id:
            self.errors.append({"type": "NOT_FOUND", "path": path, "locations": [],
                                "message": f"Could not resolve to a Repository with the name '{owner}/{name}'."})
            return None
        return ("Repository", repo, None, None)

    def _Query_rateLimit(self, obj, f, path):
        return ("RateLimit", None, None, None)

    def _RateLimit_cost(self, obj, f, path):
        return 1

    def _RateLimit_limit(self, obj, f, path):
        return self.budget.limit

    def _RateLimit_nodeCount(self, obj, f, path):
        return 0

    def _RateLimit_remaining(self, obj, f, path):
        return max(self.budget.limit - self.budget.used, 0)

    def _RateLimit_used(self, obj, f, path):
        return self.budget.used

    def _RateLimit_resetAt(self, obj, f, path):
        return dt.datetime.fromtimestamp(self.budget.reset, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    # Repository and git objects --------------------------------------------------------------------

    def _Repository_nameWithOwner(self, obj, f, path):
        return obj[1].full_name

    def _Repository_object(self, obj, f, path):
        repo = obj[1]
        if self.installation.permissions.get("contents") not in ("read", "write"):
            self.errors.append({"type": "FORBIDDEN", "path": path, "locations": [],
                                "message": "Resource not accessible by integration"})
            return None
        expression, oid = self.arg(f, "expression"), self.arg(f, "oid")
        if oid is not None:
            return _object(repo, oid)
        if expression is None:
            return None
        rev, sep, file_path = expression.partition(":")
        sha = repo.resolve(rev)
        if sha is None:
            return None
        if not sep:
            return ("Commit", repo, sha, None)
        entry = _entry(repo, sha, file_path)
        return _object(repo, entry.sha) if entry is not None else None

    def _Commit_file(self, obj, f, path):
        repo, sha = obj[1], obj[2]
        file_path = self.arg(f, "path")
        entry = _entry(repo, sha, file_path)
        return ("TreeEntry", repo, entry.sha, (file_path, entry)) if entry is not None else None

    def _Commit_tree(self, obj, f, path):
        return ("Tree", obj[1], obj[1].commits[obj[2]].tree, None)

    def _TreeEntry_mode(self, obj, f, path):
        return int(obj[3][1].mode, 8)

    def _TreeEntry_name(self, obj, f, path):
        return obj[3][1].name

    def _TreeEntry_path(self, obj, f, path):
        return obj[3][0]

    def _TreeEntry_type(self, obj, f, path):
        return obj[3][1].type

    def _TreeEntry_size(self, obj, f, path):
        return len(obj[1].blobs.get(obj[2], b"")) if obj[3][1].type == "blob" else 0

    def _TreeEntry_object(self, obj, f, path):
        return _object(obj[1], obj[2])

    def _Tag_name(self, obj, f, path):
        return ""

    def _Blob_byteSize(self, obj, f, path):
        return len(obj[1].blobs[obj[2]])

    def _Blob_isBinary(self, obj, f, path):
        return is_binary(obj[1].blobs[obj[2]])

    def _Blob_isTruncated(self, obj, f, path):
        data = obj[1].blobs[obj[2]]
        return not is_binary(data) and len(data) > TEXT_LIMIT

    def _Blob_text(self, obj, f, path):
        data = obj[1].blobs[obj[2]]
        if is_binary(data):
            return None
        return data[:TEXT_LIMIT].decode("utf-8", "replace")


def _object(repo, sha: str):
    if sha in repo.commits:
        return ("Commit", repo, sha, None)
    if sha in repo.trees:
        return ("Tree", repo, sha, None)
    if sha in repo.blobs:
        return ("Blob", repo, sha, None)
    return None


def _entry(repo, commit_sha: str, path):
    """The tree entry at `path` (git's `<rev>:<path>`: no symlink is followed; an empty segment
    names nothing)."""
    if not isinstance(path, str) or not path:
        return None
    tree = repo.commits[commit_sha].tree
    entry = None
    for part in path.split("/"):
        if tree is None or not part:
            return None
        entry = next((e for e in repo.trees[tree] if e.name == part), None)
        if entry is None:
            return None
        tree = entry.sha if entry.type == "tree" else None
    return entry


def answer(state, installation, budget: Budget, body) -> tuple[int, dict, dict, list[str]]:
    """(status, JSON answer, headers, violations) for one POST /graphql from `installation`."""
    now = time.time()
    if now >= budget.reset:
        budget.used, budget.reset = 0, int(now) + 3600
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return 400, {"message": "Problems parsing JSON", "documentation_url": DOCS}, {}, ["POST /graphql: no query"]
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        return 200, {"errors": [{"message": "Variables are invalid JSON."}]}, budget.headers(), \
            ["POST /graphql: variables are not an object"]
    try:
        ops = _Parser(body["query"]).document()
    except GraphQLError as exc:
        return 200, {"errors": [exc.payload]}, budget.headers(), [f"POST /graphql: {exc}"]
    wanted = body.get("operationName")
    chosen = [o for o in ops if wanted is None or o.name == wanted]
    if len(chosen) != 1:
        message = ("An operation name is required" if wanted is None else f'No operation named "{wanted}"')
        return 200, {"errors": [{"message": message}]}, budget.headers(), [f"POST /graphql: {message}"]
    op = chosen[0]
    if op.kind != "query":
        message = f"{op.kind} operations are not in the fake's subset"
        return 200, {"errors": [{"message": message}]}, budget.headers(), [f"POST /graphql: {message}"]
    validator = _Validator(op, variables)
    validator.run()
    if validator.errors:
        return (200, {"errors": [{"message": m, "locations": []} for m in validator.errors]}, budget.headers(),
                [f"POST /graphql: {m}" for m in validator.errors])
    # Points: 1 for a query without connections (the documented score, at least 1).
    budget.minute = [t for t in budget.minute if t > now - 60]
    if len(budget.minute) >= SECONDARY_POINTS_PER_MINUTE:
        return 403, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                                "try again.", "documentation_url": DOCS}, {"Retry-After": "60"}, []
    if budget.used >= budget.limit:
        return 200, {"errors": [{"type": "RATE_LIMITED",
                                 "message": f"API rate limit exceeded for installation ID {installation.id}."}]}, \
            budget.headers(), []
    budget.used += 1
    budget.minute.append(now)
    run = Executor(state, installation, budget, variables)
    data = run.select("Query", None, op.selections, [])
    out = {"data": data}
    if run.errors:
        out["errors"] = run.errors
    return 200, out, budget.headers(), []
