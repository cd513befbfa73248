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
# A new function-local import fails test_function_local_imports_are_listed until it is listed
# here with its reason (or made a module-level import); an entry nobody needs any more fails too.
PYGITHUB = "PyGithub: the web process imports the feature modules for their routes"
BOTO3 = "boto3: the web process imports the feature modules for their routes"
NUMPY = "numpy (bot.compare): the web process imports the feature modules for their routes"
CLI = "CLI: each subcommand loads only what it runs (`serve`, the gunicorn master, stays light)"
GUNICORN = "gunicorn config: loaded by the master before the app; each hook imports what it uses"
OPTIONAL = "an optional package, imported only for the artifact or source that needs it"
DEMO = "`modelbot demo` only: trains a model and reuses the test fakes"
ORDINARY = "an ordinary dependency in a module outside the first step of issue 18: to move to module level"
LOCAL_IMPORTS: dict[tuple[str, str], str] = {
    ("bot.approvals", "bot.codeowners"): ORDINARY,
    ("bot.aws.session", "time"): ORDINARY,
    ("bot.check", "bot.aws.live"): BOTO3,
    ("bot.check", "bot.compare.run"): NUMPY,
    ("bot.cli", "argparse"): CLI,
    ("bot.cli", "bot.check"): CLI,
    ("bot.cli", "bot.config"): CLI,
    ("bot.cli", "bot.demo"): CLI,
    ("bot.cli", "bot.features"): CLI,
    ("bot.cli", "bot.github"): CLI,
    ("bot.cli", "bot.install"): CLI,
    ("bot.cli", "bot.logs"): CLI,
    ("bot.cli", "bot.migrate"): CLI,
    ("bot.cli", "bot.queue"): CLI,
    ("bot.cli", "bot.render"): CLI,
    ("bot.cli", "bot.store"): CLI,
    ("bot.cli", "bot.worker"): CLI,
    ("bot.cli", "pathlib"): CLI,
    ("bot.cli", "webbrowser"): CLI,
    ("bot.commands", "markdown_it"): "the Markdown parser, built on first use (functools.cache)",
    ("bot.compare.batch", "bot.aws.session"): BOTO3,
    ("bot.compare.batch", "botocore"): BOTO3,
    ("bot.compare.run", "bot.aws.session"): BOTO3,
    ("bot.compare.run", "bot.compare.batch"): NUMPY,
    ("bot.compare.run", "bot.compare.cache"): NUMPY,
    ("bot.compare.run", "bot.compare.scoring"): NUMPY,
    ("bot.compare.run", "bot.compare.sources"): NUMPY,
    ("bot.compare.run", "bot.deploy.images"): ORDINARY,
    ("bot.compare.run", "bot.plan"): ORDINARY,
    ("bot.compare.run", "bot.worktree"): ORDINARY,
    ("bot.compare.sandbox", "stat"): ORDINARY,
    ("bot.compare.score_worker", "numpy"): NUMPY,
    ("bot.compare.score_worker", "onnxruntime"): OPTIONAL,
    ("bot.compare.score_worker", "pickle"): OPTIONAL,
    ("bot.compare.score_worker", "xgboost"): OPTIONAL,
    ("bot.compare.scoring", "botocore"): BOTO3,
    ("bot.compare.scoring", "stat"): ORDINARY,
    ("bot.compare.sources", "bot.aws.session"): BOTO3,
    ("bot.compare.sources", "botocore"): BOTO3,
    ("bot.compare.sources", "dataclasses"): ORDINARY,
    ("bot.compare.sources", "github"): PYGITHUB,
    ("bot.compare.sources", "pyarrow"): OPTIONAL,
    ("bot.compare.sources", "urllib"): ORDINARY,
    ("bot.config", "bot.compare.settings"): NUMPY,
    ("bot.demo", "bot.config"): ORDINARY,
    ("bot.demo", "bot.migrate"): ORDINARY,
    ("bot.demo", "bot.report"): ORDINARY,
    ("bot.demo", "bot.store"): ORDINARY,
    ("bot.demo", "numpy"): DEMO,
    ("bot.demo", "sklearn"): DEMO,
    ("bot.demo", "socket"): ORDINARY,
    ("bot.demo", "tests"): DEMO,
    ("bot.demo", "xgboost"): DEMO,
    ("bot.deploy.executor", "bot.deploy.requests"): ORDINARY,
    ("bot.deploy.images", "sagemaker"): OPTIONAL,
    ("bot.features.commands", "bot.github.comments"): PYGITHUB,
    ("bot.features.commands", "bot.github.pulls"): PYGITHUB,
    ("bot.features.compare", "bot.aws.session"): BOTO3,
    ("bot.features.compare", "bot.compare.batch"): NUMPY,
    ("bot.features.compare", "bot.compare.cache"): NUMPY,
    ("bot.features.compare", "bot.compare.run"): NUMPY,
    ("bot.features.compare", "bot.compare.sources"): NUMPY,
    ("bot.features.compare", "bot.github.checks"): PYGITHUB,
    ("bot.features.deploys", "bot.aws.session"): BOTO3,
    ("bot.features.deploys", "bot.deploy.executor"): BOTO3,
    ("bot.features.deploys", "bot.deploy.teardown"): BOTO3,
    ("bot.features.deploys", "bot.github.checks"): PYGITHUB,
    ("bot.features.deploys", "bot.github.comments"): PYGITHUB,
    ("bot.features.deploys", "bot.github.reader"): PYGITHUB,
    ("bot.features.gate", "bot.compare.cache"): NUMPY,
    ("bot.features.gate", "bot.compare.run"): NUMPY,
    ("bot.features.gate", "bot.compare.sources"): NUMPY,
    ("bot.features.gate", "bot.github.pulls"): PYGITHUB,
    ("bot.features.gate", "bot.github.reader"): PYGITHUB,
    ("bot.features.pull_requests", "bot.compare.cache"): NUMPY,
    ("bot.features.pull_requests", "bot.github.checks"): PYGITHUB,
    ("bot.features.pull_requests", "bot.github.comments"): PYGITHUB,
    ("bot.features.pull_requests", "bot.github.protection"): PYGITHUB,
    ("bot.github.reader", "urllib"): ORDINARY,
    ("bot.gunicorn_conf", "bot.config"): GUNICORN,
    ("bot.gunicorn_conf", "bot.web"): GUNICORN,
    ("bot.gunicorn_conf", "prometheus_client"): GUNICORN,
    ("bot.manifest.aws_limits", "botocore"): BOTO3,
    ("bot.manifest.aws_limits", "difflib"): ORDINARY,
    ("bot.metrics", "prometheus_client"): "prometheus_client.multiprocess: only with PROMETHEUS_MULTIPROC_DIR",
    ("bot.queue", "huey"): "huey is imported with the optional Redis/SQL clients blocked (without_optional_clients)",
    ("bot.render", "bot.redact"): ORDINARY,
    ("bot.render", "json"): ORDINARY,
    ("bot.rollouts", "bot.aws.session"): BOTO3,
    ("bot.rollouts", "bot.deploy"): ORDINARY,
    ("bot.rollouts", "bot.deploy.executor"): BOTO3,
    ("bot.rollouts", "bot.deploy.teardown"): BOTO3,
    ("bot.rollouts", "bot.gate"): ORDINARY,
    ("bot.rollouts", "bot.logs"): ORDINARY,
    ("bot.store", "sqlalchemy"): ORDINARY,
    ("bot.web", "bot.features"): "create_app loads the feature router only when no routing keys are given",
    ("bot.worker", "bot.aws"): BOTO3,
    ("bot.worker", "bot.github.reader"): PYGITHUB,
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
    assert Import("bot.worker", "bot.queue", next(i.line for i in found if (i.module, i.target) ==
                                                   ("bot.worker", "bot.queue")), False) in found
    local = {(i.module, i.target) for i in found if i.local}
    assert ("bot.features.deploys", "bot.github.checks") in local  # `from ..github.checks import ...` in a function


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
    """bot.wsgi imported as gunicorn does, in a fresh interpreter: the intake needs the routing
    keys (bot.features.handled_keys), not the handlers, nor what they import."""
    script = (
        "import json, sys\n"
        "import bot.wsgi\n"
        f"heavy = [m for m in {WEB_MUST_NOT_LOAD!r} if m in sys.modules]\n"
        "handlers = sorted(m for m in sys.modules if m.startswith('bot.features.'))\n"
        "print(json.dumps(heavy + handlers))\n"
    )
    assert _fresh(script, tmp_path) == []


def test_loading_every_feature_router_loads_no_aws_github_or_numpy(tmp_path):
    """The worker's router (every handler module) still leaves boto3, PyGithub and numpy to the
    first delivery that needs them."""
    script = (
        "import json, sys\n"
        "from bot.features import load_router\n"
        "load_router()\n"
        f"print(json.dumps(sorted(m for m in {WEB_MUST_NOT_LOAD!r} if m in sys.modules)))\n"
    )
    assert _fresh(script, tmp_path) == []


def test_the_web_knows_every_builtin_routing_key():
    """BUILTIN_KEYS (what the web answers "queued" for) is exactly what the handlers register."""
    from bot.features import BUILTIN_KEYS, handled_keys, load_router

    assert BUILTIN_KEYS == load_router("").keys()
    assert handled_keys("") == BUILTIN_KEYS
