"""Baseline comparison: is the candidate model significantly worse than the one in production?

Pure core, values in and values out: `data.prepare` validates and aligns the evaluation set,
`stats.compare` computes every metric with paired bootstrap intervals (and DeLong's test for
binary ROC AUC), `gates.evaluate_gates` turns that into pass / fail / inconclusive verdicts.

The package imports none of its modules, so that reading the server config's `compare:` block
(`settings`, `limits`) does not load numpy: import the module you use.
"""
