"""The manifest format (`apiVersion: modelbot/v1`, `kind: ModelDeployment`) as pydantic models.

These models check the shape of each field (types, ranges, patterns). Rules that relate
fields to each other or to AWS limits across fields (mode needs its section, canary at most
half the fleet, ...) live in `bot.core.manifest.rules`, so that every one of them is reported at
once. A `Manifest` is only valid once both have passed: obtain one from `load_manifest`.
See docs/manifest-reference.md for the reference and examples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from pydantic import (AfterValidator, BaseModel, ConfigDict, Discriminator, Field, PrivateAttr,
                      Tag, WithJsonSchema)
from pydantic_core import PydanticCustomError

from bot.core.manifest import aws_limits as aws

API_VERSION = "modelbot/v1"
KIND = "ModelDeployment"

# Tags modelbot sets on every resource it creates; manifests may not use the prefix, and the
# count is reserved out of AWS's 50 tags per resource.
BOT_TAG_PREFIX = "modelbot:"
BOT_TAG_KEYS = ("modelbot:model", "modelbot:environment", "modelbot:commit", "modelbot:build-id",
                "modelbot:data-version", "modelbot:pr", "modelbot:manifest", "modelbot:approvers",
                "modelbot:bot-version", "modelbot:digest", "modelbot:override")

Mode = Literal["realtime", "serverless", "async", "batch", "multi_model", "inference_component"]
StrategyType = Literal["blue_green", "canary", "linear", "rolling", "shadow", "ab", "all_at_once"]
Task = Literal["binary", "multiclass", "regression"]
MODES: tuple[str, ...] = Mode.__args__  # type: ignore[attr-defined]
STRATEGIES: tuple[str, ...] = StrategyType.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Metric:
    """A validation metric: the tasks it applies to and which direction is better."""

    name: str
    tasks: tuple[str, ...]
    higher_is_better: bool


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("auc", ("binary",), True),
    Metric("accuracy", ("binary", "multiclass"), True),
    Metric("f1", ("binary",), True),
    Metric("precision", ("binary",), True),
    Metric("recall", ("binary",), True),
    Metric("log_loss", ("binary", "multiclass"), False),
    Metric("brier", ("binary",), False),
    Metric("macro_f1", ("multiclass",), True),
    Metric("weighted_f1", ("multiclass",), True),
    Metric("rmse", ("regression",), False),
    Metric("mae", ("regression",), False),
    Metric("mape", ("regression",), False),
    Metric("r2", ("regression",), True),
]}


def _checked_str(code: str, expected: str, *, pattern: str | None = None, min_length: int = 1,
                 max_length: int | None = None, why=None) -> Any:
    """A str type whose error names what was expected (`ctx['expected']`) in plain words."""
    rx = re.compile(pattern) if pattern else None

    def validate(value: str) -> str:
        reason = None
        if len(value) < min_length:
            reason = "is empty" if min_length == 1 else f"is shorter than {min_length} characters"
        elif max_length is not None and len(value) > max_length:
            reason = f"is {len(value)} characters long (at most {max_length} allowed)"
        elif why is not None:
            reason = why(value)
        elif rx is not None and not rx.match(value):
            reason = "is not in the expected form"
        if reason:
            raise PydanticCustomError(code, "{reason}", {"reason": reason, "expected": expected})
        return value

    schema: dict[str, Any] = {"type": "string", "description": expected}
    if pattern:  # JSON Schema (ECMA 262) has no Python-style named groups
        schema["pattern"] = re.sub(r"\(\?P<\w+>", "(", pattern)
    if min_length:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    return Annotated[str, AfterValidator(validate), WithJsonSchema(schema)]


ResourceName = _checked_str("aws_name", aws.NAME_EXPECTED, pattern=aws.NAME_RE.pattern,
                            max_length=aws.NAME_MAX, why=aws.name_problem)
ModelName = _checked_str("model_name", "1-63 lowercase letters, digits and hyphens, starting and "
                         "ending with a letter or digit", pattern=r"^[a-z0-9](-*[a-z0-9]){0,62}$",
                         max_length=63)
EnvironmentName = _checked_str("environment_name", "1-20 lowercase letters, digits and hyphens, "
                               "starting with a letter", pattern=r"^[a-z](-?[a-z0-9])*$",
                               max_length=20)
S3Uri = _checked_str("s3_uri", aws.S3_URI_EXPECTED, pattern=aws.S3_URI_RE.pattern,
                     max_length=aws.URL_MAX)
S3Prefix = _checked_str("s3_prefix", "an S3 prefix ending in /, like s3://bucket/models/",
                        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/(?:.*/)?$",
                        max_length=aws.URL_MAX)
ImageUri = _checked_str("image_uri", aws.IMAGE_EXPECTED, pattern=aws.IMAGE_RE.pattern,
                        max_length=aws.IMAGE_MAX)
ModelPackageArn = _checked_str("model_package_arn", aws.MODEL_PACKAGE_ARN_EXPECTED,
                               pattern=aws.MODEL_PACKAGE_ARN_RE.pattern, max_length=2048)
SnsTopicArn = _checked_str("sns_topic_arn", "an SNS topic ARN, arn:aws:sns:<region>:<account>:<topic>",
                           pattern=aws.SNS_TOPIC_ARN_RE.pattern, max_length=2048)
InstanceType = _checked_str("instance_type", aws.INSTANCE_TYPE_EXPECTED,
                            pattern=aws.INSTANCE_TYPE_RE.pattern, max_length=64)
AlarmName = _checked_str("alarm_name", "a CloudWatch alarm name (1-255 characters, not blank)",
                         pattern=r"^(?!\s*$).+$", max_length=aws.ALARM_NAME_MAX)
Owner = _checked_str("owner", "a GitHub user (`alice` or `@alice`) or team (`@org/team`)",
                     pattern=r"^@?[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"
                             r"(?:/[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?$", max_length=140)
RepoPath = _checked_str("repo_path", "a relative path inside the repository (no leading /, no ..)",
                        pattern=r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$))[^\x00\\]+$", max_length=1024)
EnvVarName = _checked_str("env_var_name", "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                          pattern=aws.ENV_KEY_RE.pattern, max_length=1024)
Version = _checked_str("version", "a version string in quotes, e.g. \"1.7-1\"",
                       pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$", max_length=64)
Column = _checked_str("column", "a column name", max_length=256)
Digest = _checked_str("digest", "sha256:<64 lowercase hex digits>", pattern=r"^sha256:[0-9a-f]{64}$")
ContentType = _checked_str("content_type", "a MIME type like text/csv",
                           pattern=r"^[a-z]+/[A-Za-z0-9.+_-]+$", max_length=256)
JsonPath = _checked_str("json_path", "a JSONPath expression like $[1:] (at most 63 characters)",
                        pattern=r"^\$.*$", max_length=aws.JSON_PATH_MAX)
Text = _checked_str("text", "non-empty text", max_length=1024)



def _tag_key_problem(key: str) -> str | None:
    lowered = key.lower()
    if lowered.startswith(aws.TAG_RESERVED_PREFIX):
        return "starts with `aws:`, which AWS reserves"
    if lowered.startswith(BOT_TAG_PREFIX):
        return f"starts with `{BOT_TAG_PREFIX}`, which modelbot sets itself"
    why = aws.tag_text_problem(key, what="key")
    return why.replace("tag key contains", "contains") if why else None


def _tag_value_problem(value: str) -> str | None:
    why = aws.tag_text_problem(value, what="value")
    return why.replace("tag value contains", "contains") if why else None


TagKey = _checked_str("tag_key", f"1-{aws.TAG_KEY_MAX} of: {aws.TAG_EXPECTED}; not starting with "
                      f"aws: or {BOT_TAG_PREFIX}", max_length=aws.TAG_KEY_MAX, why=_tag_key_problem)
TagValue = _checked_str("tag_value", f"0-{aws.TAG_VALUE_MAX} of: {aws.TAG_EXPECTED}", min_length=0,
                        max_length=aws.TAG_VALUE_MAX, why=_tag_value_problem)
Tags = Annotated[dict[TagKey, TagValue], Field(
    max_length=aws.TAGS_MAX - len(BOT_TAG_KEYS),
    description=f"Tags for every resource (AWS allows {aws.TAGS_MAX}; modelbot sets "
                f"{len(BOT_TAG_KEYS)}). Values are strings: quote numbers.")]


class Spec(BaseModel):
    """Base of all manifest models: unknown keys are errors, types are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False,
                              validate_by_name=True, validate_by_alias=True)


# --- metadata, source, provenance ---------------------------------------------------------------


class Metadata(Spec):
    name: ModelName = Field(description="The model's name; part of every resource name.")
    description: Text | None = None
    owners: list[Owner] = Field(min_length=1, max_length=50,
                                description="GitHub users or @org/team that own this model.")
    tags: Tags = Field(default_factory=dict)


class ArtifactSource(Spec):
    """A model artifact in S3 served by a container image of your own."""

    uri: S3Uri = Field(description="model.tar.gz in S3 (for multi_model, copied under the prefix by each deploy).")
    image: ImageUri


class FrameworkSource(Spec):
    """A model artifact served by SageMaker's own image for a framework and version."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64,
                               description="Framework as SageMaker names it: xgboost, sklearn, "
                               "pytorch, tensorflow, huggingface, ...")]
    version: Version
    py_version: Annotated[str | None, Field(pattern=r"^py[0-9]{1,3}$")] = None
    uri: S3Uri = Field(description="model.tar.gz in S3.")


class RegistrySource(Spec):
    """A SageMaker Model Registry package version; it must be Approved when deployed."""

    model_package_arn: ModelPackageArn
    marketplace: bool = Field(default=False, description=(
        "The package's containers come from AWS Marketplace: SageMaker's deployment guardrails "
        "do not apply (updates go all at once), and serverless cannot serve it."))


class ModelSpec(Spec):
    """Exactly one of `artifact`, `framework` or `registry`, plus container environment."""

    artifact: ArtifactSource | None = None
    framework: FrameworkSource | None = None
    registry: RegistrySource | None = None
    environment: Annotated[dict[EnvVarName, Annotated[str, Field(max_length=aws.ENV_VALUE_MAX)]],
                           Field(max_length=aws.ENVIRONMENT_VARIABLES_MAX)] = Field(
        default_factory=dict, description="Container environment variables (strings).")

    @property
    def source_kind(self) -> str:
        return "artifact" if self.artifact else "framework" if self.framework else "registry"


class PipelineRef(Spec):
    """A value the build pipeline wrote: `key` inside the JSON/YAML file `from_pipeline`."""

    from_pipeline: RepoPath = Field(description="Path of a file among the pipeline's outputs.")
    key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$", max_length=256,
                              description="Dotted key inside that file.")]


def _value_or_ref(value: Any) -> str | None:
    if isinstance(value, str):
        return "<value>"
    if isinstance(value, dict):
        return "<from_pipeline>"
    return None


ProvenanceValue = Annotated[
    Union[Annotated[Text, Tag("<value>")], Annotated[PipelineRef, Tag("<from_pipeline>")]],
    Discriminator(_value_or_ref, custom_error_type="value_or_ref",
                  custom_error_message="expected a string or {from_pipeline: <file>, key: <key>}",
                  custom_error_context={"expected": "a string, or {from_pipeline: <file>, key: <key>}"}),
]


class Provenance(Spec):
    data_version: ProvenanceValue = Field(description="Version of the training data.")
    build_id: ProvenanceValue = Field(description="Identifier of the build that made the model.")


# --- validation -----------------------------------------------------------------------------------


class Dataset(Spec):
    """The fixed validation set: one of `uri`/`path`, pinned by one of `digest`/`version`."""

    uri: S3Uri | None = None
    path: RepoPath | None = None
    format: Literal["csv", "parquet", "jsonl"]
    digest: Digest | None = None
    version: Annotated[str | None, Field(min_length=1, max_length=1024,
                                         description="S3 object version id or a dataset tag.")] = None
    label_column: Column
    id_column: Column | None = None


class MaxRegression(Spec):
    """How much worse than production the candidate may be: one of absolute/relative."""

    absolute: Annotated[float | None, Field(ge=0)] = None
    relative: Annotated[float | None, Field(ge=0, le=1, description="Fraction, 0.02 = 2%.")] = None


class Gate(Spec):
    metric: Annotated[str, Field(max_length=64)]
    min: float | None = None
    max: float | None = None
    max_regression: MaxRegression | None = None
    per_slice: bool = Field(default=False, description=(
        "Apply the gate to every slice of `validation.slices` with at least `min_rows` rows "
        "(Bonferroni-corrected across those slices), besides the whole set."))


class Slices(Spec):
    """Segments judged on their own: each distinct value of each column is one slice."""

    columns: Annotated[list[Column], Field(min_length=1, max_length=5)]
    min_rows: Annotated[int, Field(ge=30, le=1_000_000, description=(
        "Slices with fewer rows are listed as not enough data, and no gate judges them."))] = 100
    max_levels: Annotated[int, Field(ge=2, le=200, description=(
        "A column with more distinct values is refused (slice by a coarser column)."))] = 50


class Predictions(Spec):
    """Where candidate predictions on the validation set come from."""

    source: Literal["pipeline", "batch_transform", "local"]
    path: RepoPath | None = Field(default=None, description="pipeline: file among its outputs.")
    column: Column = Field(default="prediction", description="Prediction/score column.")
    instance_type: InstanceType | None = Field(default=None, description="batch_transform only.")
    instance_count: Annotated[int, Field(ge=1, le=20)] = 1


class ValidationSpec(Spec):
    dataset: Dataset
    task: Task
    metrics: Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=20)]
    gates: list[Gate] = Field(default_factory=list, max_length=20)
    confidence_level: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    predictions: Predictions
    slices: Slices | None = None



# --- contract -----------------------------------------------------------------------------------

FieldType = Literal["number", "integer", "string", "boolean"]
Scalar = Union[bool, int, float, str, None]
MAX_SAMPLES = 20  # payloads sent after each deploy: a smoke test stays seconds


class ContractField(Spec):
    """One input field (a column of the validation set, a field of a JSON payload)."""

    name: Column
    type: FieldType
    required: bool = Field(default=True, description=(
        "A required field is present and not null in every row and payload."))
    min: float | None = Field(default=None, description="number/integer: smallest allowed value.")
    max: float | None = Field(default=None, description="number/integer: largest allowed value.")
    categories: Annotated[list[Annotated[str, Field(max_length=256)]] | None, Field(
        min_length=1, max_length=1000, description="string: the allowed values.")] = None


class InputContract(Spec):
    """What the model reads: its fields, in the order a CSV payload lists them."""

    fields: Annotated[list[ContractField], Field(min_length=1, max_length=500)]
    content_type: Literal["text/csv", "application/json"] = Field(default="text/csv", description=(
        "How sample payloads are sent: text/csv (one line, the fields in order, a missing "
        "optional field empty) or application/json (one object)."))


class OutputContract(Spec):
    """What the model answers for one record."""

    type: Literal["number", "integer", "string"] = "number"
    shape: Annotated[list[Annotated[int, Field(ge=1, le=1000)]], Field(max_length=1, description=(
        "Values per record: [] for one value, [k] for k values (e.g. class probabilities)."))] = Field(
        default_factory=list)
    min: float | None = Field(default=None, description="number/integer: smallest allowed value.")
    max: float | None = Field(default=None, description="number/integer: largest allowed value.")
    classes: Annotated[list[Union[str, int]] | None, Field(min_length=2, max_length=1000, description=(
        "string/integer labels: the allowed answers; with shape [k]: the class of each value."))] = None
    accept: Literal["text/csv", "application/json"] = Field(default="text/csv", description=(
        "The Accept header sent with sample payloads."))


class ContractSamples(Spec):
    """Sample payloads: in the manifest, or a JSON Lines file in the repository (one object each)."""

    inline: Annotated[list[dict[Annotated[str, Field(max_length=256)], Scalar]] | None, Field(
        min_length=1, max_length=MAX_SAMPLES)] = None
    path: RepoPath | None = Field(default=None, description=(
        f"A JSON Lines file, one payload object per line (at most {MAX_SAMPLES} are used)."))


class Contract(Spec):
    """The model's input/output contract, checked before merge and after each deploy."""

    input: InputContract
    output: OutputContract
    samples: ContractSamples | None = Field(default=None, description=(
        "Payloads sent to the new endpoint or variant after each deploy, before traffic shifts to it."))


# --- environments ---------------------------------------------------------------------------------


class CapacitySize(Spec):
    type: Literal["capacity_percent", "instance_count", "copy_count"] = Field(description=(
        "copy_count: inference_component only (copies of the model, not instances)."))
    value: Annotated[int, Field(ge=1)]


class AbWeights(Spec):
    """Traffic weights of the live model and the candidate (relative; 90/10 = 10% candidate)."""

    current: Annotated[float, Field(ge=0)]
    candidate: Annotated[float, Field(ge=0)]


_WAIT, _TERM = aws.WAIT_INTERVAL_SECONDS, aws.TERMINATION_WAIT_SECONDS
_EXEC, _CONC = aws.MAX_EXECUTION_TIMEOUT_SECONDS, aws.SERVERLESS_CONCURRENCY


class ShadowJudge(Spec):
    """shadow: the live comparison that decides whether the candidate may be promoted
    (`bot.core.experiment.judge`). Needs `data_capture` capturing input and output."""

    task: Literal["classification", "regression"] = Field(description=(
        "classification: answers are labels (or scores cut at `threshold`); regression: numbers."))
    output_index: Annotated[int, Field(ge=0, le=1023, description=(
        "Which number of each captured answer is judged."))] = 0
    threshold: float | None = Field(default=None, description=(
        "classification: a score at or above it is the positive label."))
    min_pairs: Annotated[int, Field(ge=30, le=200_000, description=(
        "Paired answers (and candidate invocations) needed before any gate decides."))] = 500
    confidence: Annotated[float, Field(ge=0.8, le=0.999, description="Level of the intervals.")] = 0.95
    max_disagreement: Annotated[float | None, Field(gt=0, lt=1, description=(
        "classification: share of requests whose labels differ."))] = None
    max_abs_error_p99: Annotated[float | None, Field(ge=0, description=(
        "regression: 99th percentile of |shadow - production|."))] = None
    max_psi: Annotated[float | None, Field(gt=0, description=(
        "Population stability index of the candidate's scores against production's."))] = 0.25
    max_latency_ratio: Annotated[float | None, Field(ge=1, description=(
        "Candidate ModelLatency p99 / production's, from CloudWatch."))] = 1.2
    max_error_rate: Annotated[float | None, Field(ge=0, lt=1, description=(
        "Candidate Invocation5XXErrors / Invocations."))] = 0.01
    promote_after_minutes: Annotated[int | None, Field(ge=5, le=20160, description=(
        "Promote by itself once every gate passes after this long; absent: only on /promote."))] = None
    evaluate_every_minutes: Annotated[int, Field(ge=1, le=1440, description=(
        "How often the evidence is read again while the experiment runs."))] = 5
    read_budget_mb: Annotated[int, Field(ge=1, le=256, description=(
        "Capture bytes read per evaluation, both variants together (newest first)."))] = 16


class ABMetric(Spec):
    """The business metric of an A/B test: a custom CloudWatch metric the serving side publishes
    once per request (or per outcome) with the value 1 (success: a click, a conversion) or 0,
    with the dimensions EndpointName and VariantName (the variant that answered) plus
    `dimensions`. Per variant, its Sum is the successes and its SampleCount the requests."""

    namespace: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^:].*$", description=(
        "CloudWatch namespace (not AWS/...: a custom metric)."))]
    metric_name: Annotated[str, Field(min_length=1, max_length=255)]
    dimensions: Annotated[dict[Annotated[str, Field(min_length=1, max_length=255)],
                               Annotated[str, Field(min_length=1, max_length=1024)]],
                          Field(max_length=28, description=(
                              "Further dimensions of the metric (EndpointName and VariantName are set)."))] = \
        Field(default_factory=dict)
    higher_is_better: bool = True


class ABTest(Spec):
    """ab: the business metric judged with an always-valid sequential test (mSPRT) before the
    candidate may take all traffic (`bot.core.experiment.judge.judge_ab`)."""

    metric: ABMetric
    mde: Annotated[float, Field(gt=0, lt=1, description=(
        "Minimum detectable effect, in rate points (0.01: one percentage point)."))]
    alpha: Annotated[float, Field(ge=0.001, le=0.2, description="Significance level (always valid).")] = 0.05
    power: Annotated[float, Field(ge=0.5, le=0.99, description="Power of the planned sample size.")] = 0.8
    min_per_arm: Annotated[int, Field(ge=30, le=10_000_000, description=(
        "Observations per arm before the test says anything."))] = 1000
    roll_back_on_loss: bool = Field(default=True, description=(
        "Roll back by itself once the candidate is significantly worse."))
    promote_after_minutes: Annotated[int | None, Field(ge=5, le=20160, description=(
        "Promote by itself once the candidate is significantly better, after this long."))] = None
    evaluate_every_minutes: Annotated[int, Field(ge=1, le=1440)] = 5


class CanaryJudge(Spec):
    """The operational judge (`bot.core.experiment.judge.judge_operational`): per metric,
    one-minute values of the candidate against the current model's, a one-sided Mann-Whitney
    test, a score, pass and marginal thresholds. ab / shadow: the candidate variant against the
    current one over the test. blue_green / canary / linear / rolling: the endpoint's variants
    since traffic reached the new fleet against the same variants before the update
    (`baseline_minutes`); a failure rolls back through SageMaker (`bot.core.experiment.bake`)."""

    metrics: Annotated[list[Literal["model_latency", "overhead_latency", "error_rate"]],
                       Field(min_length=1, max_length=3, description=(
                           "ModelLatency and OverheadLatency (Average per minute), Invocation5XXErrors / Invocations."))] = \
        Field(default_factory=lambda: ["model_latency", "error_rate"])
    critical: Annotated[list[Literal["model_latency", "overhead_latency", "error_rate"]], Field(
        max_length=3, description="Metrics whose failure fails the judge whatever the score.")] = \
        Field(default_factory=lambda: ["error_rate"])
    min_points: Annotated[int, Field(ge=5, le=1440, description=(
        "One-minute data points needed on each variant before a metric is judged."))] = 10
    alpha: Annotated[float, Field(ge=0.001, le=0.2)] = 0.05
    tolerance: Annotated[float, Field(ge=0, le=1, description=(
        "Relative worsening of a metric's mean accepted as marginal when significant."))] = 0.1
    pass_score: Annotated[float, Field(ge=0, le=100)] = 95
    marginal_score: Annotated[float, Field(ge=0, le=100)] = 75
    baseline_minutes: Annotated[int, Field(ge=10, le=1440, description=(
        "blue_green/canary/linear/rolling: minutes before the update whose values are the baseline."))] = 60


class Strategy(Spec):
    """How an update reaches the endpoint. Parameters apply only to the types named.

    `all_at_once` is a plain UpdateEndpoint without a DeploymentConfig: no bake, no alarm
    rollback (the only choice where SageMaker's guardrails do not apply)."""

    type: StrategyType = "blue_green"
    canary_size: CapacitySize | None = Field(default=None, description="canary: at most 50% of the fleet.")
    linear_step: CapacitySize | None = Field(default=None, description="linear: 10-50% of the fleet.")
    max_batch_size: CapacitySize | None = Field(default=None, description="rolling.")
    rollback_max_batch_size: CapacitySize | None = Field(default=None, description="rolling.")
    wait_interval_seconds: Annotated[int | None, Field(ge=_WAIT[0], le=_WAIT[1], description=(
        "canary/linear/rolling: bake time after each traffic step."))] = None
    termination_wait_seconds: Annotated[int | None, Field(ge=_TERM[0], le=_TERM[1], description=(
        "blue_green/canary/linear: bake time on the new fleet before the old one is removed."))] = None
    max_execution_timeout_seconds: Annotated[int | None, Field(ge=_EXEC[0], le=_EXEC[1])] = None
    sampling_percentage: Annotated[int | None, Field(ge=1, le=100, description=(
        "shadow: share of requests copied to the candidate."))] = None
    weights: AbWeights | None = Field(default=None, description="ab: traffic weights.")
    candidate_variant_name: ResourceName | None = Field(default=None, description=(
        "ab/shadow: variant name of the candidate (default `candidate` / `shadow`)."))
    experiment: ShadowJudge | None = Field(default=None, description=(
        "shadow: gates judged on live traffic before promotion (see ShadowJudge)."))
    ab_test: ABTest | None = Field(default=None, description=(
        "ab: the business metric's sequential test before the candidate takes all traffic (see ABTest)."))
    canary_judge: CanaryJudge | None = Field(default=None, description=(
        "the operational judge of latency and errors, candidate vs current (see CanaryJudge): "
        "ab/shadow, and blue_green/canary/linear/rolling (the bake, rolled back by SageMaker)."))
    acknowledge_no_guardrails: bool | None = Field(default=None, description=(
        "all_at_once: required where SageMaker's deployment guardrails do not apply (serverless, "
        "Inf1, Marketplace containers), to say that an update replaces the model in one step "
        "with no bake and no alarm rollback."))


class Autoscaling(Spec):
    min_capacity: Annotated[int, Field(ge=0)]
    max_capacity: Annotated[int, Field(ge=1)]
    target_invocations_per_instance: Annotated[int | None, Field(ge=1)] = None
    target_backlog_per_instance: Annotated[float | None, Field(gt=0, description=(
        "async: ApproximateBacklogSizePerInstance target."))] = None
    target_invocations_per_copy: Annotated[int | None, Field(ge=1, description=(
        "inference_component: SageMakerInferenceComponentInvocationsPerCopy target (copies scale)."))] = None
    scale_in_cooldown_seconds: Annotated[int, Field(ge=0, le=86400)] = 300
    scale_out_cooldown_seconds: Annotated[int, Field(ge=0, le=86400)] = 60


class ServerlessSpec(Spec):
    memory_mb: Annotated[int, Field(ge=aws.SERVERLESS_MEMORY_MB[0], le=aws.SERVERLESS_MEMORY_MB[-1],
                                    multiple_of=aws.SERVERLESS_MEMORY_MB[0])]
    max_concurrency: Annotated[int, Field(ge=_CONC[0], le=_CONC[1])]
    provisioned_concurrency: Annotated[int | None, Field(ge=_CONC[0], le=_CONC[1])] = None


class AsyncSpec(Spec):
    output_path: S3Uri
    failure_path: S3Uri | None = None
    success_topic: SnsTopicArn | None = None
    error_topic: SnsTopicArn | None = None
    max_concurrent_invocations_per_instance: Annotated[int | None, Field(
        ge=aws.ASYNC_MAX_CONCURRENT_INVOCATIONS[0], le=aws.ASYNC_MAX_CONCURRENT_INVOCATIONS[1])] = None


class BatchSpec(Spec):
    input_uri: S3Uri
    output_uri: S3Uri
    content_type: ContentType | None = None
    accept: ContentType | None = None
    split_type: Literal["none", "line", "recordio", "tfrecord"] = "line"
    assemble_with: Literal["none", "line"] = "line"
    batch_strategy: Literal["multi_record", "single_record"] = "multi_record"
    max_payload_mb: Annotated[int | None, Field(ge=0, le=100)] = None
    max_concurrent_transforms: Annotated[int | None, Field(ge=0)] = None
    input_filter: JsonPath | None = None
    output_filter: JsonPath | None = None
    join_source: Literal["none", "input"] = Field(default="none", description=(
        "input: write each input record beside its inference (CSV/JSON only)."))


class MultiModelSpec(Spec):
    prefix: S3Prefix = Field(description="S3 prefix holding the models (ModelDataUrl).")


class ComponentCompute(Spec):
    """What one copy of the model needs (InferenceComponentComputeResourceRequirements)."""

    accelerators: Annotated[float | None, Field(ge=aws.IC_ACCELERATORS_MIN, description=(
        "NumberOfAcceleratorDevicesRequired: GPUs or Inferentia devices per copy."))] = None
    cpu_cores: Annotated[float | None, Field(ge=aws.IC_CPU_CORES_MIN, description=(
        "NumberOfCpuCoresRequired per copy (at least 0.25)."))] = None
    min_memory_mb: Annotated[int, Field(ge=aws.IC_MEMORY_MB_MIN, description="MinMemoryRequiredInMb per copy.")]
    max_memory_mb: Annotated[int | None, Field(ge=aws.IC_MEMORY_MB_MIN, description="MaxMemoryRequiredInMb.")] = None


_STARTUP = aws.IC_STARTUP_TIMEOUT_SECONDS


class ComponentStartup(Spec):
    model_data_download_timeout_seconds: Annotated[int | None, Field(ge=_STARTUP[0], le=_STARTUP[1])] = None
    container_startup_health_check_timeout_seconds: Annotated[int | None, Field(ge=_STARTUP[0], le=_STARTUP[1])] = None


class ManagedInstanceScaling(Spec):
    """SageMaker adds or removes instances so that the copies fit (ManagedInstanceScaling)."""

    min_instance_count: Annotated[int, Field(ge=0)]
    max_instance_count: Annotated[int, Field(ge=1)]


class InferenceComponentSpec(Spec):
    """The model as an inference component: its share of the endpoint's instances, by copy."""

    name: ResourceName | None = Field(default=None, description=(
        "Defaults to <metadata.name>-<environment> (the endpoint's name must differ)."))
    copies: Annotated[int, Field(ge=1, description="CopyCount: copies of the model to run.")]
    compute: ComponentCompute
    startup: ComponentStartup | None = None
    managed_instance_scaling: ManagedInstanceScaling | None = None
    shared_endpoint: bool = Field(default=False, description=(
        "Place the component on `endpoint_name`, an endpoint another manifest hosts (its fleet is "
        "that manifest's; `instance_type` names the type the copies are sized for). Allowed only "
        "where the server policy lists the endpoint in `shared_endpoints` for this manifest."))


class DataCapture(Spec):
    destination: S3Uri
    sampling_percentage: Annotated[int, Field(ge=aws.SAMPLING_PERCENT[0], le=aws.SAMPLING_PERCENT[1])] = 100
    capture: Annotated[list[Literal["input", "output"]], Field(min_length=1, max_length=2)] = Field(
        default_factory=lambda: ["input", "output"])
    csv_content_types: list[ContentType] = Field(default_factory=list, max_length=10)
    json_content_types: list[ContentType] = Field(default_factory=list, max_length=10)


class PerformanceMetric(Spec):
    """How well the live model does, as a CloudWatch metric the team publishes (an accuracy from
    labelled outcomes, a business rate) with the dimension EndpointName plus `dimensions`: the
    PR report draws it by model age (days since each model was deployed)."""

    namespace: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^:].*$")]
    metric_name: Annotated[str, Field(min_length=1, max_length=255)]
    dimensions: Annotated[dict[Annotated[str, Field(min_length=1, max_length=255)],
                               Annotated[str, Field(min_length=1, max_length=1024)]],
                          Field(max_length=29)] = Field(default_factory=dict)
    statistic: Annotated[str, Field(pattern=r"^(Average|Sum|Minimum|Maximum|SampleCount|p\d{1,2}(\.\d{1,2})?)$",
                                    description="Per day: Average (default), Sum, Minimum, Maximum or pNN.")] = "Average"
    label: Annotated[str | None, Field(max_length=60, description="The chart's axis name.")] = None
    higher_is_better: bool = True


class EnvironmentSpec(Spec):
    """One deployment of the model: where, how it serves, and how updates roll out."""

    mode: Mode
    endpoint_name: ResourceName | None = Field(default=None, description=(
        "Defaults to <metadata.name>-<environment>. Not used by batch."))
    variant_name: ResourceName = Field(default="AllTraffic", description=(
        "Production variant name; guarded updates need it to stay the same."))
    instance_type: InstanceType | None = None
    instance_count: Annotated[int | None, Field(ge=1)] = None
    autoscaling: Autoscaling | None = None
    serverless: ServerlessSpec | None = None
    async_: AsyncSpec | None = Field(default=None, alias="async")
    batch: BatchSpec | None = None
    multi_model: MultiModelSpec | None = None
    inference_component: InferenceComponentSpec | None = None
    strategy: Strategy | None = None
    alarms: Annotated[list[AlarmName] | None, Field(min_length=aws.ALARMS[0], max_length=aws.ALARMS[1], description=(
        "CloudWatch alarms that roll an update back (AutoRollbackConfiguration)."))] = None
    approvals: Annotated[int, Field(ge=0, le=10, description="Required approvals.")] = 1
    data_capture: DataCapture | None = None
    performance_metric: PerformanceMetric | None = Field(default=None, description=(
        "The model's quality over time, drawn by model age in the PR report (default: the 5XX error rate)."))
    tags: Tags = Field(default_factory=dict)
    move_endpoint_from: Annotated[str | None, Field(
        pattern=r"^[A-Za-z0-9_.-][A-Za-z0-9_./-]{0,499}$", description=(
            "Take this environment's endpoint over from the manifest at this repository path that owns "
            "it: a reviewed move, approved by that manifest's owners as they are on the base branch."))] = None
    adopt_endpoint: bool = Field(default=False, description=(
        "Take charge of an endpoint that exists in AWS but that modelbot did not create (no modelbot "
        "tags): an explicit adoption, recorded in the ledger. Without it such an endpoint is refused."))

    @property
    def effective_strategy(self) -> Strategy:
        return self.strategy or Strategy()

    @property
    def fleet(self) -> int:
        return self.instance_count or 1


class Manifest(Spec):
    """One model deployment: source, provenance, validation and its environments."""

    model_config = ConfigDict(title="modelbot ModelDeployment manifest")

    apiVersion: Literal["modelbot/v1"]
    kind: Literal["ModelDeployment"]
    metadata: Metadata
    model: ModelSpec
    provenance: Provenance
    validation: ValidationSpec | None = None
    contract: Contract | None = None
    environments: Annotated[dict[EnvironmentName, EnvironmentSpec], Field(min_length=1, max_length=10)]

    _source: Any = PrivateAttr(default=None)  # the SourceMap it was read from, if any

    @property
    def source(self) -> Any:
        """The `SourceMap` (file path and positions) this manifest was loaded from, or None."""
        return self._source

    def endpoint_name(self, env: str) -> str:
        """The endpoint's name in `env`: the manifest's, or `<name>-<env>` (cut to 63)."""
        spec = self.environments[env]
        if spec.endpoint_name:
            return spec.endpoint_name
        return f"{self.metadata.name}-{env}"[: aws.NAME_MAX].rstrip("-")

    def joins_shared_endpoint(self, env: str) -> bool:
        """Whether `env` places its component on an endpoint another manifest hosts."""
        ic = self.environments[env].inference_component
        return bool(ic is not None and ic.shared_endpoint)

    def ownership_key(self, env: str) -> str:
        """What this environment owns in the store (`bot.core.ownership`): its endpoint, or, for
        a component on a shared endpoint, `<endpoint>/<component>` (ownership per component)."""
        endpoint = self.endpoint_name(env)
        return f"{endpoint}/{self.component_name(env)}" if self.joins_shared_endpoint(env) else endpoint

    def component_name(self, env: str) -> str | None:
        """The inference component's name in `env` (None outside mode inference_component):
        the manifest's, or `<name>-<env>-ic` (cut to 63), distinct from the endpoint's."""
        ic = self.environments[env].inference_component
        if ic is None:
            return None
        if ic.name:
            return ic.name
        return f"{self.metadata.name}-{env}"[: aws.NAME_MAX - 3].rstrip("-") + "-ic"
