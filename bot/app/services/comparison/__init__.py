"""Baseline comparison of one manifest: `validation:` spec + sources in, a verdict out, once per identity.

`compare_manifest(request, deps)` drives one comparison:

1. Identities, cheaply: the candidate (the model digest modelbot tags deployments with, plus
   the artifact's S3 version/ETag, or the pipeline's prediction file), the baseline (the live
   production variant's model name and `modelbot:digest`), the dataset (its pinned digest, S3
   version, or git blob) and the spec (the `validation:` section, the algorithm version, the
   trust decision). Their digest is the cache key: a push that changes none of them computes
   nothing (`cache.ComparisonCache`), and `force` (the `/validate` command) recomputes.
2. Data: the validation set (S3 or repository path; csv, jsonl, parquet; digest checked).
3. Predictions from the source the manifest chooses: `pipeline` (the pipeline's prediction
   file joined to the labels by row id; the live model's predictions from its
   `baseline_<column>` column, or scored locally), `local` (both models in a sandboxed
   subprocess, `scoring`), or `batch_transform` (SageMaker jobs started here and finished by
   later polls: the outcome is `pending` until then, `batch`).
4. Contracts: the features each model expects against the set's columns and against each other,
   output shape/type/range (`data.check_predictions`), and, when a staging endpoint serves the
   candidate, a few real invocations with their latency.
5. Statistics: `data.prepare` -> `stats.compare` -> `gates.evaluate_gates`.

Verdicts: `pass`, `fail` (a gate fails, or a contract is broken), `inconclusive` (too little
evidence, a baseline that cannot be judged, or inputs that differ from the live model's),
`error` (the comparison could not run: bad data, unreachable objects, refused pickles; never a
pass), `pending` (batch transform running), `skipped`. Manifest metrics map to the core's
names (`auc` -> `roc_auc`, `macro_f1` -> `f1`); every manifest metric is computed. A metric the
set does not define (MAPE with a label of 0) is listed with the reason and a gate on it is
inconclusive, never passed.

The pieces: `model` (the values), `identity` (the cache key), `inputs` (data, artifacts, local
scoring), `contracts`, `verdict` (statistics and gates), `transform` (batch transform),
`run` (`compare_manifest`); here what callers use to plan and run comparisons.
"""

from __future__ import annotations

from typing import Any

from bot.adapters.aws.session import aws_session, client
from bot.adapters.sources import Fetchers, LocalFetcher, S3Fetcher, dataset_location
from bot.adapters.worktree import repository_root
from bot.app.services.comparison.model import (
    ALGORITHM,
    ERROR,
    METRIC_NAMES,
    PENDING,
    SEVERITY,
    SKIPPED,
    Baseline,
    CompareDeps,
    CompareOutcome,
    CompareRequest,
    Staging,
    baseline_from_live,
    choose_environment,
    skipped,
    worst,
)
from bot.app.services.comparison.run import compare_manifest
from bot.core.compare.gates import FAIL
from bot.core.compare.settings import CompareConfig, compare_config
from bot.core.errors import LiveUnavailable

__all__ = [
    "ALGORITHM", "ERROR", "METRIC_NAMES", "PENDING", "SEVERITY", "SKIPPED", "Baseline", "CompareConfig",
    "CompareDeps", "CompareOutcome", "CompareRequest", "Sessions", "Staging", "baseline_from_live",
    "choose_environment", "compare_checkout", "compare_manifest", "compared_manifests", "exit_code",
    "make_deps", "plan_comparison", "skipped", "worst",
]


class Sessions:
    """One boto3 session per server environment (its role assumed), made on first use."""

    def __init__(self, settings):
        self._envs = settings.server.environments
        self._made: dict[str, Any] = {}

    def __call__(self, env: str):
        if env not in self._made:
            self._made[env] = aws_session(self._envs[env], env_name=env)
        return self._made[env]


def compared_manifests(review) -> list:
    """The reviewed manifests that have a `validation:` section and are not being removed."""
    return [m for m in review.manifests
            if m.manifest is not None and m.status != "removed" and m.manifest.validation is not None]


def _staging(m, env: str, configs) -> Staging | None:
    """An earlier, non-production environment whose endpoint already serves this candidate
    (its plan is "no changes": the live model has the candidate's digest)."""
    for e in m.environments:
        spec = m.manifest.environments.get(e.environment)
        if (e.environment != env and spec is not None and spec.mode in ("realtime", "serverless")
                and not getattr(configs.get(e.environment), "production", False)
                and e.live == "read" and e.plan is not None and e.plan.kind == "no_changes"):
            return Staging(e.environment, m.manifest.endpoint_name(e.environment))
    return None


def plan_comparison(m, *, settings, live_reader, repository: str, commit: str, pr_number: int | None = None,
                    force: bool = False, live_skipped: str = "the live state was not read"):
    """The CompareRequest for a reviewed manifest, or an outcome when there is nothing to run."""
    manifest = m.manifest
    configs = settings.server.environments
    env = choose_environment(manifest, settings.server.ordered_environments(), configs)
    name, spec = manifest.metadata.name, manifest.validation
    if env is None:
        return skipped(m.path, name, "the manifest deploys to no environment the server config defines")
    baseline, unknown = None, None
    if manifest.environments[env].mode == "batch":
        unknown = f"{env} runs batch transform jobs, not an endpoint: there is no live model to compare with"
    elif live_reader is None:
        unknown = live_skipped
    else:
        endpoint = manifest.endpoint_name(env)
        try:
            live = live_reader(env, endpoint)
        except (LiveUnavailable, KeyError) as exc:
            return CompareOutcome(m.path, name, env, spec.predictions.source, ERROR, ERROR, task=spec.task,
                                  problem="aws_unavailable", commit=commit,
                                  error=f"cannot read the model live in {env} (endpoint {endpoint}), so there is "
                                        f"no baseline to compare with: {getattr(exc, 'reason', exc)}",
                                  dataset={"location": dataset_location(spec.dataset), "digest": spec.dataset.digest})
        baseline = baseline_from_live(env, live, component=manifest.component_name(env))
    return CompareRequest(m.path, manifest, env, repository, commit, baseline, pr_number=pr_number,
                          baseline_unknown=unknown, staging=_staging(m, env, configs), force=force)


def make_deps(settings, env: str, *, repo, cache=None, progress=None, sessions: Sessions | None = None) -> CompareDeps:
    """Adapters for comparing in `env`: S3 and SageMaker as that environment, files from `repo`."""
    sessions = sessions or Sessions(settings)
    return CompareDeps(
        config=compare_config(settings),
        fetchers=Fetchers(s3=S3Fetcher(lambda: sessions(env)), repo=repo),
        sagemaker=lambda: client(sessions(env), "sagemaker"),
        runtime=lambda e: client(sessions(e), "sagemaker-runtime"),
        cache=cache, progress=progress,
        execution_role_arn=getattr(settings.server.environments[env], "execution_role_arn", None),
        region=getattr(settings.server.environments[env], "region", None))


def compare_checkout(result, settings, *, live_reader, root: str, live: bool = True) -> list[CompareOutcome]:
    """`modelbot check`: the same comparisons on a local checkout (files read under its root)."""
    repo = LocalFetcher(str(repository_root(root)))
    sessions = Sessions(settings)
    outcomes = []
    for m in compared_manifests(result.review):
        req = plan_comparison(m, settings=settings, live_reader=live_reader, repository="(local checkout)",
                              commit=result.commit, live_skipped="live state not read (--no-live)" if not live
                              else "the live state was not read")
        if isinstance(req, CompareOutcome):
            outcomes.append(req)
        elif req.manifest.validation.predictions.source == "batch_transform":
            outcomes.append(skipped(m.path, req.manifest.metadata.name, "batch transform comparisons run in the "
                                    "bot, which polls the jobs; `modelbot check` does not start them", req.environment))
        else:
            out = compare_manifest(req, make_deps(settings, req.environment, repo=repo, sessions=sessions))
            if out.problem in ("unreachable", "aws_unavailable"):  # runs "when the data is reachable"
                out = skipped(out.path, out.model, f"not run here: {out.error}", out.environment)
            outcomes.append(out)
    return outcomes


def exit_code(outcomes: list[CompareOutcome]) -> int:
    """1 when a comparison failed or could not run, else 0 (inconclusive does not fail a check)."""
    return 1 if any(o.verdict in (FAIL, ERROR) for o in outcomes) else 0
