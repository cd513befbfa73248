"""The comparison's values: who is compared (`Baseline`, `Staging`), what is asked (`CompareRequest`),
with which adapters (`CompareDeps`), and what comes out (`CompareOutcome`, verdict severities)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from bot.core.compare.gates import FAIL, INCONCLUSIVE, PASS
from bot.core.compare.settings import CompareConfig
from bot.adapters.sources import Fetchers


ALGORITHM = "4"  # bump when a change in modelbot changes what a stored result means


ERROR, PENDING, SKIPPED = "error", "pending", "skipped"


SEVERITY = {SKIPPED: -1, PASS: 0, INCONCLUSIVE: 1, PENDING: 2, FAIL: 3, ERROR: 4}


# The manifest's metric names (bot.core.manifest.model.METRICS) -> the statistics core's.
METRIC_NAMES = {"auc": "roc_auc", "accuracy": "accuracy", "f1": "f1", "precision": "precision",
                "recall": "recall", "log_loss": "log_loss", "macro_f1": "f1", "rmse": "rmse", "mae": "mae",
                "r2": "r2", "brier": "brier", "weighted_f1": "weighted_f1", "mape": "mape"}


@dataclass(frozen=True)
class Baseline:
    """The model live in the compared environment: its production variant with the most traffic."""

    environment: str
    endpoint: str
    variant: str
    model_name: str
    model_digest: str | None

    @property
    def identity(self) -> str:
        return f"{self.environment}/{self.endpoint}/{self.variant}:{self.model_name}@{self.model_digest or '-'}"


def baseline_from_live(environment: str, live, *, component: str | None = None) -> Baseline | None:
    """The baseline from a `bot.core.plan.LiveState`; None when nothing is live (first deployment).
    With `component` (mode inference_component): the model of that live inference component,
    the variant being the one that hosts it."""
    if live is None or not live.endpoint_exists:
        return None
    if component is not None:
        c = live.component(component)
        if c is None or not c.model_name:
            return None
        host = live.production_variants[0].name if live.production_variants else ""
        return Baseline(environment, live.endpoint_name or "", host, c.model_name, c.model_digest)
    variants = [v for v in live.production_variants if v.model_name]
    if not variants:
        return None
    top = max(variants, key=lambda v: v.weight)  # stable: the first of equals
    return Baseline(environment, live.endpoint_name or "", top.name, top.model_name, top.model_digest)


def choose_environment(manifest, ordered: list[str], configs) -> str | None:
    """The environment to compare against: the first production environment (server config
    `production: true`) in deploy order that the manifest deploys to, else its first one."""
    mine = [e for e in ordered if e in manifest.environments]
    for env in mine:
        if getattr(configs.get(env), "production", False):
            return env
    return mine[0] if mine else None


@dataclass(frozen=True)
class Staging:
    """An endpoint (not the compared one) that already serves the candidate: sampled for latency."""

    environment: str
    endpoint: str


@dataclass(frozen=True)
class CompareRequest:
    path: str
    manifest: Any  # bot.core.manifest.Manifest with a `validation` section
    environment: str
    repository: str
    commit: str
    baseline: Baseline | None
    pr_number: int | None = None
    baseline_unknown: str | None = None  # why the live model is unknown (not: known to be absent)
    staging: Staging | None = None
    force: bool = False


@dataclass
class CompareDeps:
    """Adapters a comparison may use; each is optional and failing ones become clear errors."""

    config: CompareConfig = field(default_factory=CompareConfig)
    fetchers: Fetchers = field(default_factory=Fetchers)  # dataset and prediction files
    sagemaker: Callable[[], Any] | None = None  # -> sagemaker client of the compared environment
    runtime: Callable[[str], Any] | None = None  # environment -> sagemaker-runtime client
    cache: Any = None  # ComparisonCache
    progress: Callable[[str], None] | None = None
    execution_role_arn: str | None = None  # the environment's (server config), for batch transform
    region: str | None = None  # the environment's, for a framework source's image
    now: Callable[[], dt.datetime] | None = None

    @property
    def s3(self):
        return self.fetchers.s3

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


@dataclass
class CompareOutcome:
    """What the report, the check run, the CLI and the ledger show for one manifest."""

    path: str
    model: str
    environment: str | None
    source: str | None
    status: str  # done | error | pending | skipped
    verdict: str  # pass | fail | inconclusive | error | pending | skipped
    task: str | None = None
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    contract: list[dict] = field(default_factory=list)  # {"level": error|warning|info, "message"}
    samples: dict | None = None
    slices: dict | None = None  # per-slice comparison (bot.core.compare.slices), when the manifest names slices
    error: str | None = None
    problem: str | None = None
    progress: str | None = None
    dataset: dict = field(default_factory=dict)  # location, digest, version, rows
    candidate: str | None = None
    baseline: str | None = None
    baseline_model: str | None = None
    has_baseline: bool = False
    n_rows: int | None = None
    confidence: float | None = None
    commit: str | None = None
    cached: bool = False
    key: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CompareOutcome":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def worst(verdicts) -> str:
    return max(verdicts, key=SEVERITY.__getitem__, default=SKIPPED)


def skipped(path: str, model: str, reason: str, environment: str | None = None) -> CompareOutcome:
    return CompareOutcome(path, model, environment, None, SKIPPED, SKIPPED, notes=[reason])
