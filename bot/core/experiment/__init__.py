"""Live-traffic experiments: shadow comparison, A/B tests and the operational canary judge.

Pure core, values in and values out (numpy, no I/O): `capture` parses SageMaker data capture
(JSON Lines) and pairs production with shadow answers, `stats` judges them (shadow comparison,
always-valid A/B test with a sample-ratio check, canary judge), `special` holds the
distribution functions they need (normal, chi-square, Kolmogorov–Smirnov, Mann–Whitney).

The package imports none of its modules: import the module you use.
"""
