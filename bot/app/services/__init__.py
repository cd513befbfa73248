"""What several features use: each service calls the core and the adapters; none imports a feature.

- `approvals`: the approval check's inputs (CODEOWNERS and owners at the base) and its evaluation.
- `gate`: what the deploy gate gathers (pull request, checks, live state) for the core's rule.
- `comparison`: the pre-merge comparison run (data, scoring, statistics, cache, batch transform).
- `rollouts`: the rollout engine that drives each recorded deployment with the core's `decide`.
"""
