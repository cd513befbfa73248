"""AWS's own limits on SageMaker names, tags and settings, checked before any call.

Neither botocore nor moto checks most of these, and AWS answers late (at deploy time) and
tersely. Values come from the SageMaker API model (botocore service-2.json) and the developer
guide; see /work/shared/sagemaker/README.md.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable
import difflib

# Endpoint, endpoint config, variant, transform job names: 1-63, letters/digits/hyphens.
NAME_MAX = 63
NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
NAME_EXPECTED = "1-63 letters, digits and hyphens, starting and ending with a letter or digit"

TAGS_MAX = 50
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
TAG_PUNCTUATION = set("_.:/=+-@")
TAG_EXPECTED = "letters, digits, spaces and _ . : / = + - @"
TAG_RESERVED_PREFIX = "aws:"

SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_CONCURRENCY = (1, 200)
WAIT_INTERVAL_SECONDS = (0, 3600)
TERMINATION_WAIT_SECONDS = (0, 3600)
MAX_EXECUTION_TIMEOUT_SECONDS = (600, 28800)
ALARMS = (1, 10)
ALARM_NAME_MAX = 255
CANARY_MAX_PERCENT = 50
LINEAR_STEP_PERCENT = (10, 50)
ROLLING_BATCH_PERCENT = (5, 50)
ENVIRONMENT_VARIABLES_MAX = 100
ENV_KEY_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
ENV_VALUE_MAX = 1024
ASYNC_MAX_CONCURRENT_INVOCATIONS = (1, 1000)
SAMPLING_PERCENT = (0, 100)
JSON_PATH_MAX = 63
IMAGE_MAX = 255
URL_MAX = 1024

S3_URI_RE = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")
S3_URI_EXPECTED = "an S3 URI like s3://bucket/key (bucket: 3-63 lowercase letters, digits, . and -)"
IMAGE_RE = re.compile(
    r"^(?P<registry>[a-zA-Z0-9.-]+(?::[0-9]+)?)/(?P<repository>[a-z0-9][a-z0-9._/-]*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))$"
)
IMAGE_EXPECTED = ("a container image `registry/repository:tag` or `registry/repository@sha256:...`"
                  ", e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/fraud:1.4.2")
MODEL_PACKAGE_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]{9,16}:[0-9]{12}:model-package/"
    r"(?P<group>[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})/(?P<version>[0-9]+)$"
)
MODEL_PACKAGE_ARN_EXPECTED = ("a model package version ARN, "
                              "arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>")
SNS_TOPIC_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]*:[0-9]{12}:[a-zA-Z0-9_.-]{1,256}$")
INSTANCE_TYPE_RE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9-]+$")
INSTANCE_TYPE_EXPECTED = "a SageMaker instance type like ml.m5.large"


def name_problem(value: str) -> str | None:
    """Why `value` is not a valid SageMaker resource name, or None if it is."""
    if not value:
        return "is empty"
    if len(value) > NAME_MAX:
        return f"is {len(value)} characters long (AWS allows {NAME_MAX})"
    if not NAME_RE.match(value):
        return "may only contain letters, digits and hyphens, and must start and end with a letter or digit"
    return None


def _tag_char_ok(ch: str) -> bool:
    return ch in TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LZN"


def tag_text_problem(text: str, *, what: str) -> str | None:
    """Why `text` breaks the tag character pattern `[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`."""
    bad = sorted({ch for ch in text if not _tag_char_ok(ch)})
    if bad:
        shown = " ".join(repr(c) for c in bad[:5])
        return f"tag {what} contains characters AWS does not allow in tags: {shown}"
    return None


def capacity_percent(size_type: str, value: int, fleet: int) -> float:
    """A canary/linear/rolling size as a percentage of a fleet of `fleet` instances."""
    if size_type == "capacity_percent":
        return float(value)
    return 100.0 * value / fleet if fleet else 100.0


def guardrail_variant_problem(live: Iterable[str], new: Iterable[str]) -> str | None:
    """Blue/green and rolling updates need the new config to keep the live variant names."""
    live_set, new_set = sorted(set(live)), sorted(set(new))
    if live_set == new_set:
        return None
    return (f"a guarded update must keep the live endpoint's variant names: live has "
            f"{', '.join(live_set) or 'none'}, the new config has {', '.join(new_set) or 'none'}")


def rolling_problem(*, serverless: bool, variants: int) -> str | None:
    """Rolling updates support neither serverless nor multi-variant endpoints."""
    if serverless:
        return "rolling updates do not support serverless endpoints"
    if variants > 1:
        return "rolling updates do not support endpoints with more than one variant"
    return None


def parse_image(uri: str) -> tuple[str, str, str] | None:
    """`registry/repo:tag` -> (registry, repository, tag-or-digest), or None if malformed."""
    m = IMAGE_RE.match(uri)
    if not m:
        return None
    return m["registry"], m["repository"], m["tag"] or m["digest"]



# --- instance types (botocore's enums, read from the installed SageMaker service model) ---------

_BOTOCORE_MODEL = "botocore/data/sagemaker/2017-07-24/service-2.json"


@functools.lru_cache(maxsize=None)
def botocore_enum(shape: str) -> frozenset[str]:
    """The values of enum `shape` in the installed botocore's SageMaker model (e.g.
    `ProductionVariantInstanceType`, `TransformInstanceType`); empty if botocore lacks it."""
    from botocore.loaders import Loader

    model = Loader().load_service_model("sagemaker", "service-2")
    return frozenset(model.get("shapes", {}).get(shape, {}).get("enum", ()))


ENDPOINT_INSTANCE_SHAPE = "ProductionVariantInstanceType"
TRANSFORM_INSTANCE_SHAPE = "TransformInstanceType"

# "Supported algorithms, frameworks, and instances for multi-model endpoints" (SageMaker
# Developer Guide, multi-model-support.html): MMEs support all CPU instance types and, through
# the Triton server, only these single-GPU types.
MME_PAGE = "SageMaker Developer Guide: Supported algorithms, frameworks, and instances for multi-model endpoints"
MME_GPU_INSTANCE_TYPES = (
    "ml.p2.xlarge", "ml.p3.2xlarge",
    "ml.g5.xlarge", "ml.g5.2xlarge", "ml.g5.4xlarge", "ml.g5.8xlarge", "ml.g5.16xlarge",
    "ml.g4dn.xlarge", "ml.g4dn.2xlarge", "ml.g4dn.4xlarge", "ml.g4dn.8xlarge", "ml.g4dn.16xlarge",
)
# Families with GPUs or other accelerators (not "CPU instance types" in the MME page's sense).
_ACCELERATED_FAMILY_RE = re.compile(r"^ml\.(p\d|g\d|inf\d|trn\d|dl\d)")


def accelerated(instance_type: str) -> bool:
    return bool(_ACCELERATED_FAMILY_RE.match(instance_type))


def instance_type_problem(instance_type: str, shape: str) -> str | None:
    """Why botocore's enum `shape` refuses `instance_type`, or None."""
    allowed = botocore_enum(shape)
    if not allowed or instance_type in allowed:
        return None
    what = "batch transform" if shape == TRANSFORM_INSTANCE_SHAPE else "endpoint"
    return f"{instance_type} is not a SageMaker {what} instance type (botocore {shape})"


def close_instance_types(instance_type: str, shape: str, n: int = 3) -> list[str]:
    family = instance_type.rsplit(".", 1)[0] + "."
    same_family = sorted(t for t in botocore_enum(shape) if t.startswith(family))
    return same_family[:6] or difflib.get_close_matches(instance_type, sorted(botocore_enum(shape)), n=n)


def multi_model_instance_problem(instance_type: str) -> str | None:
    if not accelerated(instance_type) or instance_type in MME_GPU_INSTANCE_TYPES:
        return None
    return (f"multi-model endpoints support CPU instance types and only the single-GPU types "
            f"{', '.join(MME_GPU_INSTANCE_TYPES)} (with a Triton container); {instance_type} is not one")


# --- deployment guardrails and where they do not apply -----------------------------------------

GUARDRAILS_PAGE = "SageMaker Developer Guide: Deployment guardrails"
EXCLUSIONS_PAGE = "SageMaker Developer Guide: Deployment guardrails > Exclusions"
SERVERLESS_PAGE = "SageMaker Developer Guide: Serverless Inference > Feature exclusions"
SERVERLESS_UPDATE_PAGE = "SageMaker Developer Guide: Update a serverless endpoint"
TRANSFORM_API = "SageMaker API: CreateTransformJob"
GUARDED_STRATEGIES = ("blue_green", "canary", "linear", "rolling")
BOT_DRIVEN_STRATEGIES = ("ab", "shadow")
ACKNOWLEDGED_ALL_AT_ONCE = "strategy: {type: all_at_once, acknowledge_no_guardrails: true}"
SERVERLESS_EXCLUDED = ("deployment guardrails", "data capture", "Model Monitor",
                       "multiple production variants", "multi-model endpoints", "GPUs",
                       "Marketplace model packages", "VPC configuration", "network isolation",
                       "inference pipelines")


@dataclass(frozen=True)
class ModeRules:
    """What SageMaker allows for one inference mode: the validator checks against this table,
    and docs/manifest-reference.md shows it (`mode_table`)."""

    mode: str
    strategies: tuple[str, ...]
    guardrails: bool
    instance_types: str | None
    data_capture: bool
    autoscaling: str
    alarms: str
    limits: tuple[str, ...]


MODE_RULES: dict[str, ModeRules] = {r.mode: r for r in (
    ModeRules("realtime", ("blue_green", "canary", "linear", "rolling", "all_at_once", "ab", "shadow"),
              True, ENDPOINT_INSTANCE_SHAPE, True, "yes (min 1)", "AutoRollbackConfiguration; ab/shadow: watched by modelbot",
              ("canary <= 50% of the fleet, linear steps 10-50%, rolling batches 5-50% "
               "(in whole instances, rounded up)",
               "MaximumExecutionTimeoutInSeconds 600-28800, above the sum of the bakes",
               "Inf1 instances and Marketplace containers: no guardrails "
               "(all_at_once with acknowledge_no_guardrails, or ab)")),
    ModeRules("serverless", ("all_at_once",), False, None, False, "no", "no",
              ("memory 1024-6144 MB in 1024 MB steps, max concurrency 1-200",
               "no guardrails: plain UpdateEndpoint (all_at_once with acknowledge_no_guardrails)",
               "excluded: " + ", ".join(SERVERLESS_EXCLUDED[1:]),
               "a live instance-based endpoint cannot become serverless")),
    ModeRules("async", ("blue_green", "canary", "linear", "rolling", "all_at_once"),
              True, ENDPOINT_INSTANCE_SHAPE, True, "yes (min 0 with a backlog target)",
              "AutoRollbackConfiguration",
              ("guardrail sizes and timeouts as realtime",
               "AsyncInferenceConfig cannot be added to or removed from a live endpoint")),
    ModeRules("batch", (), False, TRANSFORM_INSTANCE_SHAPE, False, "no", "no",
              ("joining input needs ContentType and Accept in CSV/JSON/JSON Lines; CSV also "
               "SplitType and AssembleWith Line",
               "MaxConcurrentTransforms x MaxPayloadInMB <= 100 MB (payload default 6 MB)",
               "BatchStrategy needs a SplitType (not none)")),
    ModeRules("multi_model", ("blue_green", "canary", "linear", "rolling", "all_at_once"),
              True, ENDPOINT_INSTANCE_SHAPE, True, "yes (min 1)", "AutoRollbackConfiguration",
              ("CPU instance types, or the single-GPU types " + ", ".join(MME_GPU_INSTANCE_TYPES),
               "guardrail sizes and timeouts as realtime")),
    ModeRules("inference_component", ("rolling", "all_at_once"), True, ENDPOINT_INSTANCE_SHAPE, False,
              "copies (sagemaker:inference-component:DesiredCopyCount, min 1); instances by "
              "managed_instance_scaling", "AutoRollbackConfiguration of UpdateInferenceComponent",
              ("a copy's accelerators, CPU cores and memory must fit one instance (the capacity "
               "table: INSTANCE_CAPACITY in bot/core/manifest/aws_limits.py)",
               "rolling batches in copies (copy_count) or 5-50% of the copies",
               "one component per manifest environment, on an endpoint of its own")),
)}


def mode_table() -> str:
    """The per-mode table of docs/manifest-reference.md, from MODE_RULES."""
    rows = ["| mode | strategies | SageMaker guardrails | instance types | data capture | "
            "autoscaling | rollback alarms | AWS limits |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in MODE_RULES.values():
        rows.append("| " + " | ".join((
            f"`{r.mode}`",
            ", ".join(r.strategies) or "none (a transform job per deploy)",
            "yes" if r.guardrails else "no",
            f"botocore `{r.instance_types}`" if r.instance_types else "none (memory and concurrency)",
            "yes" if r.data_capture else "no",
            r.autoscaling, r.alarms, "; ".join(r.limits))) + " |")
    return "\n".join(rows) + "\n"


def guardrails_excluded(*, mode: str, instance_type: str | None, marketplace: bool) -> str | None:
    """What keeps SageMaker's deployment guardrails off this endpoint, or None."""
    if mode == "serverless":
        return "serverless endpoints"
    if instance_type and instance_type.startswith("ml.inf1."):
        return "endpoints on Inf1 (Inferentia) instances"
    if marketplace:
        return "Marketplace containers"
    return None


def effective_instances(value: int, size_type: str, fleet: int) -> int:
    """How many instances a CapacitySize turns on: a percentage rounds up to whole instances
    (at least one), as SageMaker provisions whole instances."""
    if size_type == "instance_count":
        return min(value, fleet)
    return min(fleet, max(1, math.ceil(value * fleet / 100 - 1e-9)))


def effective_percent(value: int, size_type: str, fleet: int) -> float:
    return 100.0 * effective_instances(value, size_type, fleet) / fleet if fleet else 100.0


def guardrail_wait_seconds(strategy_type: str, *, wait: int, termination: int, steps: int) -> int:
    """The bakes of a guarded update (`steps`: traffic steps of linear, batches of rolling)."""
    if strategy_type == "canary":
        return wait + termination
    if strategy_type == "linear":
        return wait * max(0, steps - 1) + termination
    if strategy_type == "rolling":
        return wait * steps
    return termination


BATCH_PAYLOAD_DEFAULT_MB = 6
BATCH_CONCURRENT_PAYLOAD_MAX_MB = 100


# --- inference components: what one instance offers, and the API's own limits ------------------

CAPACITY_TABLE_SOURCE = (
    "Amazon EC2 User Guide, instance type specifications (vCPUs, memory in GiB, GPUs / "
    "accelerators per instance; the SageMaker AI pricing page lists the same figures for the "
    "ml. types). Kept in bot/core/manifest/aws_limits.py, INSTANCE_CAPACITY")
IC_PAGE = "SageMaker Developer Guide: Inference components (multiple models on one endpoint)"
IC_API = "SageMaker API: CreateInferenceComponent / InferenceComponentComputeResourceRequirements"
IC_CPU_CORES_MIN = 0.25        # botocore NumberOfCpuCores min
IC_ACCELERATORS_MIN = 1        # botocore NumberOfAcceleratorDevices min
IC_MEMORY_MB_MIN = 128         # botocore MemoryInMb min
IC_STARTUP_TIMEOUT_SECONDS = (60, 3600)  # botocore ProductionVariant*TimeoutInSeconds
IC_ROLLING_BATCH_PERCENT = (5, 50)  # botocore InferenceComponentRollingUpdatePolicy.MaximumBatchSize
IC_SCALABLE_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
IC_INVOCATIONS_METRIC = "SageMakerInferenceComponentInvocationsPerCopy"


@dataclass(frozen=True)
class InstanceCapacity:
    """What one instance of a type offers the inference components placed on it. CPU cores are
    counted as vCPUs (assumption: AWS's NumberOfCpuCoresRequired docs do not say physical or
    virtual; vCPUs are what the instance-type tables list)."""

    vcpus: int
    memory_mb: int
    accelerators: int = 0


def _family(prefix: str, rows: dict[str, tuple[int, int, int]]) -> dict[str, InstanceCapacity]:
    return {f"ml.{prefix}.{size}": InstanceCapacity(v, gib * 1024, acc) for size, (v, gib, acc) in rows.items()}


INSTANCE_CAPACITY: dict[str, InstanceCapacity] = {
    **_family("g4dn", {"xlarge": (4, 16, 1), "2xlarge": (8, 32, 1), "4xlarge": (16, 64, 1),
                       "8xlarge": (32, 128, 1), "12xlarge": (48, 192, 4), "16xlarge": (64, 256, 1)}),
    **_family("g5", {"xlarge": (4, 16, 1), "2xlarge": (8, 32, 1), "4xlarge": (16, 64, 1),
                     "8xlarge": (32, 128, 1), "12xlarge": (48, 192, 4), "16xlarge": (64, 256, 1),
                     "24xlarge": (96, 384, 4), "48xlarge": (192, 768, 8)}),
    **_family("g6", {"xlarge": (4, 16, 1), "2xlarge": (8, 32, 1), "4xlarge": (16, 64, 1),
                     "8xlarge": (32, 128, 1), "12xlarge": (48, 192, 4), "16xlarge": (64, 256, 1),
                     "24xlarge": (96, 384, 4), "48xlarge": (192, 768, 8)}),
    **_family("g6e", {"xlarge": (4, 32, 1), "2xlarge": (8, 64, 1), "4xlarge": (16, 128, 1),
                      "8xlarge": (32, 256, 1), "12xlarge": (48, 384, 4), "16xlarge": (64, 512, 1),
                      "24xlarge": (96, 768, 4), "48xlarge": (192, 1536, 8)}),
    **_family("p3", {"2xlarge": (8, 61, 1), "8xlarge": (32, 244, 4), "16xlarge": (64, 488, 8)}),
    **_family("p4d", {"24xlarge": (96, 1152, 8)}),
    **_family("p4de", {"24xlarge": (96, 1152, 8)}),
    **_family("p5", {"48xlarge": (192, 2048, 8)}),
    **_family("m5", {"large": (2, 8, 0), "xlarge": (4, 16, 0), "2xlarge": (8, 32, 0),
                     "4xlarge": (16, 64, 0), "12xlarge": (48, 192, 0), "24xlarge": (96, 384, 0)}),
    **_family("c5", {"large": (2, 4, 0), "xlarge": (4, 8, 0), "2xlarge": (8, 16, 0),
                     "4xlarge": (16, 32, 0), "9xlarge": (36, 72, 0), "18xlarge": (72, 144, 0)}),
    **_family("r5", {"large": (2, 16, 0), "xlarge": (4, 32, 0), "2xlarge": (8, 64, 0),
                     "4xlarge": (16, 128, 0), "12xlarge": (48, 384, 0), "24xlarge": (96, 768, 0)}),
    **_family("m6i", {"large": (2, 8, 0), "xlarge": (4, 16, 0), "2xlarge": (8, 32, 0),
                      "4xlarge": (16, 64, 0), "8xlarge": (32, 128, 0), "12xlarge": (48, 192, 0),
                      "16xlarge": (64, 256, 0), "24xlarge": (96, 384, 0), "32xlarge": (128, 512, 0)}),
    **_family("c6i", {"large": (2, 4, 0), "xlarge": (4, 8, 0), "2xlarge": (8, 16, 0),
                      "4xlarge": (16, 32, 0), "8xlarge": (32, 64, 0), "12xlarge": (48, 96, 0),
                      "16xlarge": (64, 128, 0), "24xlarge": (96, 192, 0), "32xlarge": (128, 256, 0)}),
}


def copies_per_instance(capacity: InstanceCapacity, *, cpu_cores: float | None, accelerators: float | None,
                        memory_mb: int) -> int:
    """How many copies with these requirements fit on one instance (0: not even one)."""
    limits = [capacity.memory_mb // memory_mb]
    if cpu_cores:
        limits.append(int(capacity.vcpus // cpu_cores))
    if accelerators:
        limits.append(int(capacity.accelerators // accelerators))
    return max(0, min(limits))


def component_fit_problem(instance_type: str, *, cpu_cores: float | None, accelerators: float | None,
                          memory_mb: int) -> str | None:
    """Why one copy does not fit on one `instance_type` (capacity table above), or None."""
    cap = INSTANCE_CAPACITY.get(instance_type)
    if cap is None:
        return None
    over = []
    if accelerators and accelerators > cap.accelerators:
        over.append(f"{accelerators:g} accelerator devices (it has {cap.accelerators})")
    if cpu_cores and cpu_cores > cap.vcpus:
        over.append(f"{cpu_cores:g} CPU cores (it has {cap.vcpus} vCPUs)")
    if memory_mb > cap.memory_mb:
        over.append(f"{memory_mb} MB of memory (it has {cap.memory_mb} MB)")
    if not over:
        return None
    return "one copy needs " + ", ".join(over) + f", more than one {instance_type} offers"
