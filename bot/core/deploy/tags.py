"""The tags on every resource a deploy creates, checked against AWS's tag rules before any call.

Every model, endpoint config, endpoint and transform job carries the deploy's provenance
(`modelbot:build-id`, `:commit`, `:data-version`, `:pr`, `:manifest`, `:approvers`,
`:bot-version`, plus `:model` and `:environment`), the manifest's own tags and, on models and
endpoint configs, `modelbot:digest` (how the planner recognises its own resources).

AWS allows at most 50 tags per resource, keys of 1-128 and values of 0-256 characters, only
`[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]`, and no `aws:` prefix; neither botocore nor moto checks this, and
AWS answers late. Provenance values that break the pattern (a build id with `#`, approvers that
would be joined with commas) are encoded into allowed characters instead of refused: approvers
are joined with spaces, and any other disallowed character becomes `=XX` per UTF-8 byte (`=`
itself then becomes `=3D`, so an encoded value decodes back with `decode_tag_value`). A tag set
that still breaks a rule raises `TagError` naming the tag.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Iterable, Mapping

from bot.core.manifest import aws_limits as aws
from bot.core.manifest.model import BOT_TAG_PREFIX
from bot.core.plan import DeploySpec, deploy_tags

try:  # the `regex` module knows \p{..}; the fallback checks the same Unicode categories
    import regex as _regex

    _TAG_RE = _regex.compile(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*")

    def _pattern_ok(text: str) -> bool:
        return _TAG_RE.fullmatch(text) is not None
except ImportError:  # pragma: no cover - regex is installed with the test extras
    def _pattern_ok(text: str) -> bool:
        return all(_char_ok(ch) for ch in text)

DIGEST = BOT_TAG_PREFIX + "digest"
MODEL = BOT_TAG_PREFIX + "model"
ENVIRONMENT = BOT_TAG_PREFIX + "environment"
COMMIT = BOT_TAG_PREFIX + "commit"
BUILD_ID = BOT_TAG_PREFIX + "build-id"
DATA_VERSION = BOT_TAG_PREFIX + "data-version"
PR = BOT_TAG_PREFIX + "pr"
MANIFEST = BOT_TAG_PREFIX + "manifest"
APPROVERS = BOT_TAG_PREFIX + "approvers"
BOT_VERSION = BOT_TAG_PREFIX + "bot-version"
OVERRIDE = BOT_TAG_PREFIX + "override"  # a break-glass deploy: who, when and why
# Every key modelbot may set (11). bot.core.manifest.model.BOT_TAG_KEYS should list the same keys so
# that a manifest's own tags stay within 50 - 11.
KEYS = (MODEL, ENVIRONMENT, COMMIT, BUILD_ID, DATA_VERSION, PR, MANIFEST, APPROVERS, BOT_VERSION,
        DIGEST, OVERRIDE)
APPROVERS_SEPARATOR = " "


class TagError(ValueError):
    """A tag set AWS would reject; the message names the tag and the rule."""


@dataclass(frozen=True)
class DeployContext:
    """Provenance of one deploy, resolved (pipeline values read) before any AWS call.

    `approvers`: GitHub logins or teams whose approvals let the deploy run. `pr_number` is None
    for a deploy that no pull request started.
    """

    build_id: str
    commit: str
    data_version: str
    manifest_path: str
    bot_version: str
    pr_number: int | None = None
    approvers: tuple[str, ...] = ()
    override: str | None = None   # a break-glass override: "<login> <when>: <reason>"


def _char_ok(ch: str) -> bool:
    return ch in aws.TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LZN"


def encode_tag_value(text: str) -> str:
    """`text` unchanged if AWS allows it as a tag value, else with each disallowed character
    (and `=`) written as `=XX` per UTF-8 byte."""
    if _pattern_ok(text):
        return text
    out = []
    for ch in text:
        if ch != "=" and _char_ok(ch):
            out.append(ch)
        else:
            out.extend(f"={b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def decode_tag_value(text: str) -> str:
    """The inverse of `encode_tag_value` for a value it encoded (`=XX` bytes back to text)."""
    if "=" not in text:
        return text
    data = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        hexpair = text[i + 1:i + 3]
        if ch == "=" and len(hexpair) == 2 and all(c in "0123456789ABCDEF" for c in hexpair):
            data.append(int(hexpair, 16))
            i += 3
        else:
            data.extend(ch.encode("utf-8"))
            i += 1
    return data.decode("utf-8", errors="replace")


def approvers_value(approvers: Iterable[str]) -> str:
    """Approvers joined with spaces (commas are not allowed in tags), within 256 characters:
    those that do not fit are counted in a `+N more` suffix."""
    names = sorted({encode_tag_value(a.strip()) for a in approvers if a.strip()},
                   key=str.lower)
    shown: list[str] = []
    for i, name in enumerate(names):
        rest = len(names) - i - 1
        candidate = APPROVERS_SEPARATOR.join(shown + [name])
        suffix = f" +{rest} more" if rest else ""
        if len(candidate + suffix) > aws.TAG_VALUE_MAX:
            more = len(names) - len(shown)
            return APPROVERS_SEPARATOR.join(shown) + f" +{more} more"
        shown.append(name)
    return APPROVERS_SEPARATOR.join(shown)


def tag_problems(tags: Mapping[str, str]) -> list[str]:
    """Every way `tags` breaks AWS's tag rules, each naming the tag; empty if AWS accepts it."""
    out = []
    if len(tags) > aws.TAGS_MAX:
        mine = sum(1 for k in tags if k.startswith(BOT_TAG_PREFIX))
        out.append(f"{len(tags)} tags ({mine} set by modelbot, {len(tags) - mine} from the "
                   f"manifest); AWS allows at most {aws.TAGS_MAX} per resource")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= aws.TAG_KEY_MAX:
            out.append(f"tag key {key!r}: must be 1-{aws.TAG_KEY_MAX} characters")
            continue
        if key.lower().startswith(aws.TAG_RESERVED_PREFIX):
            out.append(f"tag key {key!r}: the prefix `aws:` is reserved by AWS")
        if not _pattern_ok(key):
            bad = " ".join(repr(c) for c in sorted({c for c in key if not _char_ok(c)})[:5])
            out.append(f"tag key {key!r}: contains characters AWS does not allow in tags: {bad}")
        if not isinstance(value, str):
            out.append(f"tag {key!r}: the value must be a string, not {type(value).__name__}")
            continue
        if len(value) > aws.TAG_VALUE_MAX:
            out.append(f"tag {key!r}: the value is {len(value)} characters long (AWS allows "
                       f"{aws.TAG_VALUE_MAX})")
        if not _pattern_ok(value):
            bad = " ".join(repr(c) for c in sorted({c for c in value if not _char_ok(c)})[:5])
            out.append(f"tag {key!r}: the value contains characters AWS does not allow in "
                       f"tags: {bad}")
    return out


def validate_tags(tags: Mapping[str, str]) -> None:
    """Raise TagError (naming each offending tag) if AWS would reject `tags`."""
    problems = tag_problems(tags)
    if problems:
        raise TagError("; ".join(problems))


def provenance_tags(spec: DeploySpec, ctx: DeployContext) -> dict[str, str]:
    """The modelbot tags of a deploy (no digest), values encoded where AWS needs it."""
    tags = {
        MODEL: spec.manifest.metadata.name,
        ENVIRONMENT: spec.environment,
        COMMIT: ctx.commit.lower(),
        BUILD_ID: ctx.build_id,
        DATA_VERSION: ctx.data_version,
        MANIFEST: ctx.manifest_path,
        BOT_VERSION: ctx.bot_version,
    }
    if ctx.pr_number is not None:
        tags[PR] = str(ctx.pr_number)
    if ctx.approvers:
        tags[APPROVERS] = approvers_value(ctx.approvers)
    out = {k: encode_tag_value(v) for k, v in tags.items()}
    if ctx.override:
        out[OVERRIDE] = _cut(encode_tag_value(ctx.override), aws.TAG_VALUE_MAX)
    return out


def _cut(encoded: str, limit: int) -> str:
    """An encoded value cut to `limit` characters without splitting an `=XX` escape."""
    if len(encoded) <= limit:
        return encoded
    cut = encoded[:limit]
    tail = cut.rfind("=", max(0, limit - 2))
    return cut[:tail] if tail != -1 else cut


def resource_tags(spec: DeploySpec, ctx: DeployContext, digest: str | None = None) -> dict[str, str]:
    """All tags of one resource of this deploy: the manifest's tags (metadata, then the
    environment's), modelbot's provenance over them, and `modelbot:digest` if given.
    Validated: raises TagError naming the tag when AWS would reject the set."""
    manifest_tags = {k: v for k, v in deploy_tags(spec).items() if not k.startswith(BOT_TAG_PREFIX)}
    tags = {**manifest_tags, **provenance_tags(spec, ctx)}
    if digest is not None:
        tags[DIGEST] = digest
    validate_tags(tags)
    return tags


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags in the shape boto3 takes (`[{"Key": ..., "Value": ...}]`), sorted by key."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
