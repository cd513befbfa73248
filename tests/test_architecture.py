"""The shape of the code, checked: no import circle among bot's modules, a web process without
the AWS, GitHub and numeric libraries, and a short, explained list of function-local imports.

The import graph is read from the source (`ast`), not from a running interpreter, so an import
inside a function (or under `if TYPE_CHECKING:`) counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"

# Libraries a web worker must not load: the intake records and enqueues, the worker does the rest.
WEB_MUST_NOT_LOAD = ("boto3", "botocore", "github", "numpy")

# Why a module of bot/ imports inside a function: (importing module, imported module) -> reason.
# Each is a process or subcommand that must not pay for what only another path uses, or an
# optional package. A new function-local import fails test_function_local_imports_are_listed
# until it is listed here with its reason (or made a module-level import); an entry nobody needs
# any more fails too. Features, services and adapters import at module level: only the worker
# loads them (the web reads the routing keys, bot.app.features.BUILTIN_KEYS).
CLI = "CLI: each subcommand loads only what it runs (`serve`, the gunicorn master, stays light)"
CHECK = "`modelbot check`: AWS only with --live, the comparison (numpy) only when a manifest has validation:"
GUNICORN = "gunicorn config: loaded by the master before the app; each hook imports what it uses"
OPTIONAL = "an optional package, imported only for the artifact or source that needs it"
SANDBOX = "the scoring child imports numpy only after it has isolated itself (bot.adapters.scoring.sandbox)"
DEMO = "`modelbot demo` only: trains a model and reuses the test fakes"
LOCAL_IMPORTS: dict[tuple[str, str], str] = {
    ("bot.app.check", "bot.adapters.aws.live"): CHECK,
    ("bot.app.check", "bot.app.services.comparison"): CHECK,
    ("bot.app.cli", "argparse"): CLI,
    ("bot.app.cli", "bot.app.check"): CLI,
    ("bot.app.cli", "bot.app.samples"): CLI,
    ("bot.app.cli", "bot.app.trace_cli"): CLI,
    ("bot.app.cli", "bot.core.config"): CLI,
    ("bot.app.cli", "bot.app.demo"): CLI,
    ("bot.app.cli", "bot.app.features"): CLI,
    ("bot.app.cli", "bot.adapters.github"): CLI,
    ("bot.app.cli", "bot.app.install"): CLI,
    ("bot.app.cli", "bot.core.logs"): CLI,
    ("bot.app.cli", "bot.adapters.migrate"): CLI,
    ("bot.app.cli", "bot.adapters.queue"): CLI,
    ("bot.app.cli", "bot.core.render"): CLI,
    ("bot.app.cli", "bot.adapters.store"): CLI,
    ("bot.app.cli", "bot.app.worker"): CLI,
    ("bot.app.cli", "pathlib"): CLI,
    ("bot.app.cli", "webbrowser"): CLI,
    ("bot.core.commands", "markdown_it"): "the Markdown parser, built on first use (functools.cache)",
    ("bot.adapters.scoring.score_worker", "numpy"): SANDBOX,
    ("bot.adapters.scoring.score_worker", "onnxruntime"): OPTIONAL,
    ("bot.adapters.scoring.score_worker", "pickle"): OPTIONAL,
    ("bot.adapters.scoring.score_worker", "xgboost"): OPTIONAL,
    ("bot.adapters.sources", "pyarrow"): OPTIONAL,
    ("bot.app.demo", "numpy"): DEMO,
    ("bot.app.demo", "sklearn"): DEMO,
    ("bot.app.demo", "tests"): DEMO,
    ("bot.app.demo", "xgboost"): DEMO,
    ("bot.adapters.aws.images", "sagemaker"): OPTIONAL,
    ("bot.app.gunicorn_conf", "bot.core.config"): GUNICORN,
    ("bot.app.gunicorn_conf", "bot.app.web"): GUNICORN,
    ("bot.app.gunicorn_conf", "prometheus_client"): GUNICORN,
    ("bot.core.manifest.aws_limits", "botocore"): ("botocore.loaders: SageMaker's service model, read when a "
                                                   "manifest names an instance type (never in the web process)"),
    ("bot.app.metrics", "prometheus_client"): "prometheus_client.multiprocess: only with PROMETHEUS_MULTIPROC_DIR",
    ("bot.adapters.queue", "huey"): "huey is imported with the optional Redis/SQL clients blocked (without_optional_clients)",
    ("bot.app.web", "bot.app.features"): "create_app loads the feature router only when no routing keys are given",
}


@dataclass(frozen=True)
class Import:
    module: str      # the importing module
    target: str      # the imported module of bot/, or the top-level name of another package
    line: int
    local: bool      # inside a function body


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(BOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _targets(modules: dict[str, Path], module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import statement loads: bot's modules resolved (relative imports, a
    `from package import module`), other packages by their top-level name."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".")
            if modules[module].name != "__init__.py":
                base = base[:-1]
            base = base[:len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
    out = []
    for name in names:
        if name.split(".")[0] != "bot":
            out.append(name.split(".")[0])
            continue
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            out.append(name)
    return list(dict.fromkeys(out))


def imports() -> list[Import]:
    modules = _modules()
    out = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))

        def visit(node: ast.AST, local: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in _targets(modules, module, child):
                        if target != module:
                            out.append(Import(module, target, child.lineno, local))
                visit(child, local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

        visit(tree, False)
    return out


def find_cycle(edges: dict[str, dict[str, int]]) -> list[str] | None:
    """One import circle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}   # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = dfs(start)
            if found:
                return found
    return None


def _graph(found: list[Import]) -> dict[str, dict[str, int]]:
    modules = _modules()
    edges: dict[str, dict[str, int]] = {}
    for i in found:
        if i.target in modules:
            edges.setdefault(i.module, {}).setdefault(i.target, i.line)
    return edges


def test_the_cycle_finder_finds_a_circle_and_names_it():
    assert find_cycle({"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": 1}, "b": {"c": 2}, "d": {"c": 3}}) is None


def test_the_graph_sees_relative_function_local_and_type_checking_imports():
    found = imports()
    assert Import("bot.app.worker", "bot.adapters.queue", next(i.line for i in found if (i.module, i.target) ==
                                                   ("bot.app.worker", "bot.adapters.queue")), False) in found
    local = {(i.module, i.target) for i in found if i.local}
    assert ("bot.app.cli", "bot.app.worker") in local  # `from bot.app.worker import ...` in a function
    assert ("bot.app.features.deploys", "bot.adapters.github.checks") not in local  # a module-level one


def test_no_import_circle_among_bots_modules():
    edges = _graph(imports())
    cycle = find_cycle(edges)
    assert cycle is None, "import circle: " + " -> ".join(
        f"{a} (line {edges[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_function_local_imports_are_listed():
    found = {}
    for i in imports():
        if i.local:
            found.setdefault((i.module, i.target), i.line)
    new = sorted(f"{m} line {line}: imports {t}" for (m, t), line in found.items() if (m, t) not in LOCAL_IMPORTS)
    assert not new, ("function-local imports not in LOCAL_IMPORTS (import at module level, or list it "
                     "with its reason):\n" + "\n".join(new))
    stale = sorted(f"{m} -> {t}" for (m, t) in LOCAL_IMPORTS if (m, t) not in found)
    assert not stale, "LOCAL_IMPORTS entries with no such import any more:\n" + "\n".join(stale)
    assert all(reason.strip() for reason in LOCAL_IMPORTS.values())


def _fresh(script: str, tmp_path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBOT_", "DATABASE_URL", "REDIS_URL"))}
    env.update(MODELBOT_CONFIG=str(ROOT / "tests" / "fixtures" / "modelbot.yaml"),
               MODELBOT_WEBHOOK_SECRETS="architecture-test-secret",
               DATABASE_URL=f"sqlite:///{tmp_path / 'web.db'}", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_web_process_loads_no_aws_github_numpy_or_handler(tmp_path):
    """bot.app.wsgi imported as gunicorn does, in a fresh interpreter: the intake needs the routing
    keys (bot.app.features.handled_keys), not the handlers, nor what they import."""
    script = (
        "import json, sys\n"
        "import bot.app.wsgi\n"
        f"heavy = [m for m in {WEB_MUST_NOT_LOAD!r} if m in sys.modules]\n"
        "handlers = sorted(m for m in sys.modules if m.startswith('bot.app.features.'))\n"
        "print(json.dumps(heavy + handlers))\n"
    )
    assert _fresh(script, tmp_path) == []


def test_the_web_knows_every_builtin_routing_key():
    """BUILTIN_KEYS (what the web answers "queued" for) is exactly what the handlers register."""
    from bot.app.features import BUILTIN_KEYS, handled_keys, load_router

    assert BUILTIN_KEYS == load_router("").keys()
    assert handled_keys("") == BUILTIN_KEYS


# --- layers: core, adapters, app (README "Architecture") ------------------------------------------

# Libraries that do I/O (or are its clients): the core imports none of them.
CORE_MUST_NOT_IMPORT = frozenset({"boto3", "botocore", "github", "sqlalchemy", "alembic", "huey", "redis",
                                  "flask", "werkzeug", "gunicorn", "requests", "psycopg", "psycopg2",
                                  "prometheus_client", "urllib3"})
# (core module, library) -> why it may: reading data shipped with a library is not I/O with the outside.
CORE_EXCEPTIONS = {
    ("bot.core.manifest.aws_limits", "botocore"): "botocore.loaders: SageMaker's bundled service model, read as data",
}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "bot"


def test_every_module_is_in_a_layer():
    assert {_layer(m) for m in _modules()} <= {"bot", "core", "adapters", "app"}
    assert [m for m in _modules() if _layer(m) == "bot"] == ["bot"]


def core_violations(found: list[Import]) -> list[str]:
    return sorted(f"{i.module} line {i.line}: imports {i.target}" for i in found
                  if _layer(i.module) == "core"
                  and ((i.target.startswith("bot.") and _layer(i.target) in ("adapters", "app"))
                       or (i.target in CORE_MUST_NOT_IMPORT and (i.module, i.target) not in CORE_EXCEPTIONS)))


def adapter_violations(found: list[Import]) -> list[str]:
    return sorted(f"{i.module} line {i.line}: imports {i.target}" for i in found
                  if _layer(i.module) == "adapters" and i.target.startswith("bot.") and _layer(i.target) == "app")


def test_the_core_imports_no_adapter_no_app_module_and_no_io_library():
    bad = core_violations(imports())
    assert not bad, "the core must stay pure:\n" + "\n".join(bad)


def test_adapters_import_no_app_module():
    bad = adapter_violations(imports())
    assert not bad, "adapters are used by the app, never the other way round:\n" + "\n".join(bad)


def test_the_layer_checks_name_each_violation():
    found = [Import("bot.core.plan", "bot.adapters.store", 3, True), Import("bot.core.plan", "boto3", 4, False),
             Import("bot.core.manifest.aws_limits", "botocore", 5, True), Import("bot.core.plan", "bot.core.policy", 6, False),
             Import("bot.adapters.store", "bot.app.worker", 7, False), Import("bot.app.worker", "bot.adapters.store", 8, False)]
    assert core_violations(found) == ["bot.core.plan line 3: imports bot.adapters.store",
                                      "bot.core.plan line 4: imports boto3"]
    assert adapter_violations(found) == ["bot.adapters.store line 7: imports bot.app.worker"]


def test_every_bot_path_the_docs_name_exists():
    """README, docs/ and bench/README.md name files of the tree; each named `bot/...` path exists."""
    import re

    missing = []
    for doc in [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for path in sorted(set(re.findall(r"`(bot/[\w./-]+?)/?`", doc.read_text()))):
            if not (ROOT / path).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {path}")
    assert not missing, "\n".join(missing)


def test_services_import_no_feature_and_features_no_other_feature():
    found = imports()
    from_services = sorted(f"{i.module} line {i.line}: imports {i.target}" for i in found
                           if i.module.startswith("bot.app.services") and i.target.startswith("bot.app.features"))
    assert not from_services, "a service imports a feature:\n" + "\n".join(from_services)
    between = sorted(f"{i.module} line {i.line}: imports {i.target}" for i in found
                     if i.module.startswith("bot.app.features.") and i.target.startswith("bot.app.features."))
    assert not between, ("a feature imports another (move what they share to bot/app/services/):\n"
                         + "\n".join(between))
