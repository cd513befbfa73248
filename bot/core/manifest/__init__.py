"""Model manifests: format, bounded YAML reading, line-precise validation. Pure, no I/O.

A caller holding a file's path and text does:

    result = load_manifest("models/fraud/modelbot.yaml", text)
    for problem in result.problems: ...        # every problem, each with line and column
    if result.ok: use(result.manifest)          # a validated Manifest
"""

from bot.core.manifest.globs import DEFAULT_GLOBS, matches_globs, select_manifests
from bot.core.manifest.model import API_VERSION, KIND, METRICS, EnvironmentSpec, Manifest, Metric
from bot.core.manifest.parse import LoadResult, check_manifest, load_manifest
from bot.core.manifest.problems import Problem, Severity, has_errors, sort_problems
from bot.core.manifest.yamlsource import MAX_BYTES, MAX_DEPTH, MAX_NODES, SourceMap

__all__ = [
    "API_VERSION", "KIND", "METRICS", "DEFAULT_GLOBS", "MAX_BYTES", "MAX_DEPTH", "MAX_NODES",
    "EnvironmentSpec", "LoadResult", "Manifest", "Metric", "Problem", "Severity",
    "SourceMap", "check_manifest", "has_errors", "load_manifest", "matches_globs",
    "select_manifests", "sort_problems",
]
