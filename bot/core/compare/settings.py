"""The server's `compare:` settings: the model of that block of config/modelbot.yaml, and its parser.

Apart from the comparison itself (bot.app.services.comparison) so that bot.core.config can check the block at
start-up without importing the comparison's orchestration and its AWS adapter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.core.errors import DEFAULT_CONFIG_PATH, ConfigError
from bot.core.compare.limits import TableLimits


# What one local scoring in the sandbox (bot.adapters.scoring) may use: the config sets it, the runner applies it.
@dataclass(frozen=True)
class ScoringLimits:
    """What one local scoring may use. Larger sets belong to batch transform."""

    max_rows: int = 100_000
    max_model_bytes: int = 512 * 1024 * 1024
    wall_seconds: float = 120.0
    cpu_seconds: int = 120
    memory_mb: int = 2048
    max_output_mb: int = 512
    max_open_files: int = 256
    max_processes: int = 64  # threads included (RLIMIT_NPROC); processes are refused by seccomp anyway
    # Refuse to score when neither a network namespace nor the seccomp filter keeps the worker
    # off the network (only the Python audit hook would stand between native code and it).
    require_network_isolation: bool = False
    # Unpickle a trusted artifact even when a sandbox property is missing (the report names it).
    accept_weaker_isolation: bool = False



class CompareConfig(BaseModel):
    """The `compare:` block of the server config. Only the server config carries authority.

        compare:
          trusted_pickle_prefixes: [s3://acme-models/vetted/]  # S3 only; empty: pickles always refused
          local_max_rows: 100000             # larger sets: predictions.source batch_transform
          max_dataset_mb: 256                # largest validation set / prediction file read
          max_rows: 1000000                  # rows / columns / decoded size of a validation set or
          max_columns: 1000                  #   prediction file, checked before it is loaded
          max_decompressed_mb: 256
          max_model_mb: 512
          scoring_timeout_seconds: 120       # wall clock; also CPU seconds and memory below
          scoring_cpu_seconds: 120
          scoring_memory_mb: 2048
          require_network_isolation: false   # true: refuse local scoring when nothing keeps it off the network
          accept_weaker_isolation: false     # true: unpickle trusted artifacts even if a sandbox property is missing
          work_prefix: s3://acme-ml-work/modelbot/   # batch transform inputs and outputs
          execution_role_arn: arn:aws:iam::123456789012:role/sagemaker-batch  # if the environment has none
          batch_poll_seconds: 60             # first poll delay, doubling to 15 minutes
          batch_timeout_seconds: 21600
          sample_invocations: 3              # of a staging endpoint already serving the candidate
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    trusted_pickle_prefixes: list[str] = Field(default_factory=list, description=(
        "S3 prefixes (s3://bucket/path/) whose artifacts may be unpickled for local scoring. "
        "Empty: pickles are always refused."))
    max_dataset_mb: int = Field(default=256, ge=1, le=4096)
    local_max_rows: int = Field(default=100_000, ge=1, description="Larger sets need batch_transform.")
    # Checked from the Parquet footer and page headers, or by counting a csv/jsonl file, before a
    # table is materialised (bot.core.compare.limits.TableLimits).
    max_rows: int = Field(default=1_000_000, ge=1, le=100_000_000, description=(
        "Most rows read from a validation set or prediction file, whatever the predictions' source."))
    max_columns: int = Field(default=1_000, ge=1, le=100_000)
    max_decompressed_mb: int = Field(default=256, ge=1, le=16_384, description=(
        "Largest table once decompressed and decoded into columns (8 bytes a number, the characters of a text)."))
    max_model_mb: int = Field(default=512, ge=1, le=8192)
    # Local scoring runs inside a worker's handler: keep it well within MODELBOT_LEASE_SECONDS (300).
    scoring_timeout_seconds: float = Field(default=120, gt=0, le=3600)
    scoring_cpu_seconds: int = Field(default=120, ge=1, le=3600)
    scoring_memory_mb: int = Field(default=2048, ge=256, le=65536)
    require_network_isolation: bool = Field(default=False, description=(
        "Refuse local scoring when neither a network namespace nor the seccomp filter keeps the scoring process "
        "off the network (false: score anyway, with only the Python audit hook refusing sockets)."))
    accept_weaker_isolation: bool = Field(default=False, description=(
        "Unpickle a trusted artifact (compare.trusted_pickle_prefixes) even when the scoring sandbox lacks one of "
        "its properties (no network, bot's environment unreadable, no writes outside its directory, no programs, "
        "limits); false: such pickles are refused, naming what is missing."))
    work_prefix: str | None = Field(default=None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(.*/)?$",
                                    description="S3 prefix for batch transform inputs and outputs.")
    execution_role_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$",
        description="Role the candidate's batch transform model runs as, if the environment sets none.")
    batch_poll_seconds: int = Field(default=60, ge=5, le=3600)
    batch_timeout_seconds: int = Field(default=6 * 3600, ge=60, le=5 * 24 * 3600)
    sample_invocations: int = Field(default=3, ge=0, le=20, description=(
        "Invocations of a staging endpoint that serves the candidate (0: none)."))

    @field_validator("trusted_pickle_prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for p in value:
            if not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(.*/)?$", p):
                raise ValueError(f"{p!r}: expected an S3 prefix ending in /, like s3://bucket/models/ "
                                 "(repository paths are never trusted)")
        return value

    @property
    def max_dataset_bytes(self) -> int:
        return self.max_dataset_mb * 1024 * 1024

    def table_limits(self, *, local: bool = False):
        """The limits of one table (bot.core.compare.limits.TableLimits); `local`: the set is scored
        locally, so it may have at most `local_max_rows` rows."""
        where = {"max_rows": "compare.max_rows in the server config",
                 "max_columns": "compare.max_columns in the server config",
                 "max_decompressed_bytes": "compare.max_decompressed_mb in the server config",
                 "max_bytes": "compare.max_dataset_mb in the server config"}
        limits = TableLimits(max_rows=self.max_rows, max_columns=self.max_columns,
                             max_decompressed_bytes=self.max_decompressed_mb * 1024 * 1024, where=where)
        if local and self.local_max_rows < self.max_rows:
            limits = replace(limits, max_rows=self.local_max_rows, count_rows_to=self.max_rows,
                             rows_what="rows modelbot scores locally", rows_problem="too_large_for_local",
                             rows_hint="use `validation.predictions.source: batch_transform` to score a set this "
                                       "large with SageMaker batch transform",
                             where={**where, "max_rows": "compare.local_max_rows in the server config"})
        return limits

    def scoring_limits(self):
        return ScoringLimits(max_rows=self.local_max_rows, max_model_bytes=self.max_model_mb * 1024 * 1024,
                             wall_seconds=self.scoring_timeout_seconds, cpu_seconds=self.scoring_cpu_seconds,
                             memory_mb=self.scoring_memory_mb,
                             require_network_isolation=self.require_network_isolation,
                             accept_weaker_isolation=self.accept_weaker_isolation)


def compare_config(settings) -> CompareConfig:
    """The server's `compare:` settings (defaults when absent); ConfigError naming a bad one."""
    raw = getattr(settings.server, "compare", None) or {}
    if isinstance(raw, CompareConfig):
        return raw
    if isinstance(raw, BaseModel):
        raw = raw.model_dump()
    try:
        return CompareConfig.model_validate(raw)
    except ValidationError as exc:
        where = getattr(settings, "config_path", DEFAULT_CONFIG_PATH)
        raise ConfigError("\n".join(f"{where}: compare.{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                    for e in exc.errors())) from None
