"""AWS's own limits on SageMaker names, tags and settings, checked before any call.

Neither botocore nor moto checks most of these, and AWS answers late (at deploy time) and
tersely. Values come from the SageMaker API model (botocore service-2.json) and the developer
guide; see /work/shared/sagemaker/README.md.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

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

