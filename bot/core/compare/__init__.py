"""Baseline comparison: is the candidate model significantly worse than the one in production?

Pure core, values in and values out: `data.prepare` validates and aligns the evaluation set,
`stats.compare` computes every metric with paired bootstrap intervals (and DeLong's test for
binary ROC AUC), `gates.evaluate_gates` turns that into pass / fail / inconclusive verdicts.
"""

from bot.core.compare.data import (
    ComparisonDataError,
    EvaluationSet,
    check_predictions,
    load_table,
    prepare,
)
from bot.core.compare.gates import (
    Gate,
    GateConfigError,
    GateReport,
    GateResult,
    evaluate_gates,
)
from bot.core.compare.metrics import METRICS, MetricKernel, compute_metrics, metric_names
from bot.core.compare.stats import (
    Comparison,
    DeLongResult,
    MetricComparison,
    bootstrap,
    compare,
    default_resamples,
    delong,
)

__all__ = [
    "METRICS",
    "Comparison",
    "ComparisonDataError",
    "DeLongResult",
    "EvaluationSet",
    "Gate",
    "GateConfigError",
    "GateReport",
    "GateResult",
    "MetricComparison",
    "MetricKernel",
    "bootstrap",
    "check_predictions",
    "compare",
    "compute_metrics",
    "default_resamples",
    "delong",
    "evaluate_gates",
    "load_table",
    "metric_names",
    "prepare",
]
