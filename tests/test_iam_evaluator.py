"""A small IAM policy evaluator for the tests of config/iam/, and tests of the evaluator itself.

It implements the part of IAM's identity-policy evaluation the policy files use, the way the
IAM User Guide describes it ("Policy evaluation logic", "IAM JSON policy elements: Condition
operators"), and refuses (AssertionError) anything it does not understand, so a policy that
starts using a new operator fails the tests until the evaluator learns it:

- a request is allowed only if some Allow statement matches and no Deny statement does
  (explicit deny wins; no match is the implicit deny);
- `Action`/`NotAction` match case-insensitively with `*`/`?`; `Resource`/`NotResource` match
  an ARN segment by segment (the six colon-separated parts; a wildcard does not cross them),
  the resource part (after the fifth colon) as one segment;
- an action that names several resources (UpdateEndpoint: the endpoint and the endpoint
  config) is allowed only if it is allowed on each of them, each with its own
  `aws:ResourceTag/...` keys (`Request.resources`);
- operators: String(Not)Equals, String(Not)Like, StringEqualsIgnoreCase, Arn(Not)Like,
  Arn(Not)Equals, Bool, Null, their `...IfExists` forms and the `ForAllValues:` /
  `ForAnyValue:` set forms. Condition key names are case-insensitive, values are not. A key
  missing from the request: positive operators are false, negated ones true, `IfExists` true,
  `ForAllValues` true (vacuously), `ForAnyValue` false. Several values of one key are ORed,
  several keys and several operators are ANDed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

# --- the evaluator --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One resource a request names. `tags` None: it does not exist yet (a create)."""

    arn: str
    tags: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes: an action on its resources, with the request's keys."""

    action: str
    resources: tuple[Resource, ...]
    context: Mapping[str, object] = field(default_factory=dict)
    why: str = ""  # where the bot makes it (for messages)


def as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern:
    if "${" in pattern:
        raise AssertionError(f"policy variables ({pattern}) are not understood by this evaluator")
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def like(value: str, pattern: str, *, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def arn_like(arn: str, pattern: str) -> bool:
    """IAM's ARN matching: `*` alone matches anything; otherwise segment by segment."""
    if pattern == "*":
        return True
    got, want = arn.split(":", 5), pattern.split(":", 5)
    if len(got) != 6 or len(want) != 6:
        return False
    return all(like(g, w) for g, w in zip(got, want))


_SINGLE = {
    "StringEquals": lambda v, w: v == w,
    "StringNotEquals": lambda v, w: v == w,
    "StringEqualsIgnoreCase": lambda v, w: v.lower() == w.lower(),
    "StringNotEqualsIgnoreCase": lambda v, w: v.lower() == w.lower(),
    "StringLike": lambda v, w: like(v, w),
    "StringNotLike": lambda v, w: like(v, w),
    "ArnLike": arn_like,
    "ArnNotLike": arn_like,
    "ArnEquals": arn_like,
    "ArnNotEquals": arn_like,
    "Bool": lambda v, w: v.lower() == w.lower(),
}
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotLike", "ArnNotEquals"}


def _lookup(ctx: Mapping[str, object], key: str):
    wanted = key.lower()
    for k, v in ctx.items():
        if k.lower() == wanted:
            return True, as_list(v)
    return False, []


def _matches(op: str, values: list[str], wanted: list[str]) -> bool:
    """`op` (no set prefix, no IfExists) on a present key with `values`."""
    fn = _SINGLE[op]
    hit = any(fn(str(v), str(w)) for v in values for w in wanted)
    return not hit if op in _NEGATED else hit


def condition_holds(op: str, key: str, wanted, ctx: Mapping[str, object]) -> bool:
    wanted = [str(w).lower() if isinstance(w, bool) else str(w) for w in as_list(wanted)]
    present, values = _lookup(ctx, key)
    if op == "Null":
        if len(wanted) != 1 or wanted[0] not in ("true", "false"):
            raise AssertionError(f"Null takes true or false, not {wanted}")
        return (not present or values == []) == (wanted[0] == "true")
    prefix, _, base = op.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base[: -len("IfExists")] if if_exists else base
    if base not in _SINGLE or prefix not in ("", "ForAllValues", "ForAnyValue"):
        raise AssertionError(f"condition operator {op} is not understood by this evaluator")
    if prefix == "ForAllValues":
        return all(_matches(base, [v], wanted) for v in values)
    if prefix == "ForAnyValue":
        return any(_matches(base, [v], wanted) for v in values)
    if not present:
        return if_exists or base in _NEGATED
    return _matches(base, values, wanted)


def statement_applies(s: Mapping, action: str, resource: str, ctx: Mapping[str, object]) -> bool:
    if ("Action" in s) == ("NotAction" in s):
        raise AssertionError(f"{s.get('Sid')}: a statement has exactly one of Action and NotAction")
    if ("Resource" in s) == ("NotResource" in s):
        raise AssertionError(f"{s.get('Sid')}: a statement has exactly one of Resource and NotResource")
    if "Principal" in s or "NotPrincipal" in s:
        raise AssertionError(f"{s.get('Sid')}: identity policies have no Principal")
    named = any(like(action, a, ignore_case=True) for a in as_list(s.get("Action", s.get("NotAction"))))
    if named != ("Action" in s):
        return False
    listed = any(arn_like(resource, r) for r in as_list(s.get("Resource", s.get("NotResource"))))
    if listed != ("Resource" in s):
        return False
    return all(condition_holds(op, key, wanted, ctx)
               for op, block in (s.get("Condition") or {}).items() for key, wanted in block.items())


def decision(doc: Mapping, action: str, resource: str, ctx: Mapping[str, object] | None = None) -> str:
    """"ExplicitDeny", "Allow" or "ImplicitDeny" for one action on one resource."""
    ctx = ctx or {}
    statements = as_list(doc["Statement"])
    for s in statements:
        if s["Effect"] not in ("Allow", "Deny"):
            raise AssertionError(f"{s.get('Sid')}: Effect must be Allow or Deny")
    if any(s["Effect"] == "Deny" and statement_applies(s, action, resource, ctx) for s in statements):
        return "ExplicitDeny"
    if any(s["Effect"] == "Allow" and statement_applies(s, action, resource, ctx) for s in statements):
        return "Allow"
    return "ImplicitDeny"


def allowed(doc: Mapping, action: str, resource: str, ctx: Mapping[str, object] | None = None) -> bool:
    return decision(doc, action, resource, ctx) == "Allow"


def resource_context(request: Request, resource: Resource) -> dict[str, object]:
    """The request's keys plus the resource's tags as aws:ResourceTag/<key> and
    <service>:ResourceTag/<key> (SageMaker and IAM define both)."""
    ctx = dict(request.context)
    service = request.action.split(":", 1)[0]
    for k, v in (resource.tags or {}).items():
        ctx[f"aws:ResourceTag/{k}"] = v
        ctx[f"{service}:ResourceTag/{k}"] = v
    return ctx


def authorized(doc: Mapping, request: Request) -> bool:
    """Allowed on every resource the request names."""
    if not request.resources:
        raise AssertionError(f"{request.action}: a request names at least one resource (or '*')")
    return all(allowed(doc, request.action, r.arn, resource_context(request, r)) for r in request.resources)


def denied_resources(doc: Mapping, request: Request) -> list[str]:
    return [r.arn for r in request.resources
            if not allowed(doc, request.action, r.arn, resource_context(request, r))]


def tag_context(tags: Iterable[Mapping[str, str]] | Mapping[str, str]) -> dict[str, object]:
    """aws:RequestTag/<key> and aws:TagKeys of a request's tags (SageMaker's list form or the
    map form of Application Auto Scaling)."""
    pairs = list(tags.items()) if isinstance(tags, Mapping) else [(t["Key"], t["Value"]) for t in tags]
    ctx: dict[str, object] = {f"aws:RequestTag/{k}": v for k, v in pairs}
    ctx["aws:TagKeys"] = [k for k, _ in pairs]
    return ctx


# --- tests of the evaluator -----------------------------------------------------------------------

ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e"


def _doc(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_default_deny_and_explicit_deny_wins():
    allow = {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "sagemaker:DeleteEndpoint", "Resource": ARN}
    assert decision(_doc(), "sagemaker:DeleteEndpoint", ARN) == "ImplicitDeny"
    assert decision(_doc(allow), "sagemaker:DeleteEndpoint", ARN) == "Allow"
    assert decision(_doc(allow, deny), "sagemaker:DeleteEndpoint", ARN) == "ExplicitDeny"
    assert decision(_doc(deny, allow), "sagemaker:UpdateEndpoint", ARN) == "Allow"


def test_actions_match_case_insensitively_and_not_action_inverts():
    doc = _doc({"Effect": "Allow", "NotAction": "sagemaker:Delete*", "Resource": "*"})
    assert allowed(doc, "sagemaker:updateendpoint", ARN)
    assert not allowed(doc, "sagemaker:DeleteEndpoint", ARN)
    assert not allowed(doc, "SageMaker:deleteEndpoint", ARN)


def test_arn_wildcards_stay_inside_their_segment():
    assert arn_like(ARN, "arn:aws:sagemaker:*:123456789012:endpoint/*")
    assert not arn_like(ARN, "arn:aws:sagemaker:us-east-1:*")  # 5 segments: no match
    assert arn_like(ARN, "arn:aws:sagemaker:us-east-1:*:*")
    assert not arn_like("arn:aws:sagemaker:us-east-1:999999999999:endpoint/e",
                        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/*")
    assert not arn_like("arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/e",
                        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/*")
    alarm = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:TargetTracking-endpoint/e/variant/v-AlarmHigh-1"
    assert arn_like(alarm, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:TargetTracking-endpoint/*")
    assert not like("a[b]", "a?")  # only * and ? are special
    doc = _doc({"Effect": "Allow", "Action": "sagemaker:DescribeEndpoint", "NotResource": ARN})
    assert not allowed(doc, "sagemaker:DescribeEndpoint", ARN)
    assert allowed(doc, "sagemaker:DescribeEndpoint", ARN + "2")


def test_missing_keys_follow_the_documented_rules():
    ctx: dict = {}
    assert not condition_holds("StringEquals", "aws:RequestTag/a", "x", ctx)
    assert condition_holds("StringNotEquals", "aws:RequestTag/a", "x", ctx)
    assert condition_holds("StringEqualsIfExists", "aws:RequestTag/a", "x", ctx)
    assert condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["a"], ctx)
    assert not condition_holds("ForAnyValue:StringEquals", "aws:TagKeys", ["a"], ctx)
    assert condition_holds("Null", "aws:RequestTag/a", "true", ctx)
    assert not condition_holds("Null", "aws:RequestTag/a", "false", ctx)


def test_values_are_ored_keys_and_operators_anded_and_key_names_case_insensitive():
    ctx = {"aws:RequestTag/env": "prod", "aws:TagKeys": ["env", "team"]}
    assert condition_holds("StringEquals", "AWS:requesttag/env", ["dev", "prod"], ctx)
    assert not condition_holds("StringEquals", "aws:RequestTag/env", "Prod", ctx)  # values: case-sensitive
    assert condition_holds("StringEqualsIgnoreCase", "aws:RequestTag/env", "PROD", ctx)
    assert not condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["env"], ctx)
    assert condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["env", "team", "x"], ctx)
    assert condition_holds("ForAnyValue:StringLike", "aws:TagKeys", ["te*"], ctx)
    assert not condition_holds("ForAllValues:StringNotEquals", "aws:TagKeys", ["team"], ctx)
    s = {"Effect": "Allow", "Action": "sagemaker:AddTags", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/env": "prod"}, "Null": {"aws:RequestTag/team": "false"}}}
    assert allowed(_doc(s), "sagemaker:AddTags", ARN, {"aws:RequestTag/env": "prod", "aws:RequestTag/team": "t"})
    assert not allowed(_doc(s), "sagemaker:AddTags", ARN, {"aws:RequestTag/env": "prod"})


def test_unknown_operators_and_variables_are_refused_not_guessed():
    import pytest

    with pytest.raises(AssertionError, match="not understood"):
        condition_holds("NumericLessThan", "aws:MultiFactorAuthAge", "3600", {"aws:MultiFactorAuthAge": "1"})
    with pytest.raises(AssertionError, match="not understood"):
        arn_like(ARN, "arn:aws:sagemaker:us-east-1:123456789012:endpoint/${aws:username}")


def test_a_request_on_several_resources_needs_each_of_them():
    doc = _doc({"Effect": "Allow", "Action": "sagemaker:UpdateEndpoint", "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}}})
    ours, theirs = Resource(ARN, {"env": "prod"}), Resource(ARN.replace("endpoint/", "endpoint-config/"), {})
    assert authorized(doc, Request("sagemaker:UpdateEndpoint", (ours,)))
    request = Request("sagemaker:UpdateEndpoint", (ours, theirs))
    assert not authorized(doc, request) and denied_resources(doc, request) == [theirs.arn]
    assert resource_context(request, ours)["sagemaker:ResourceTag/env"] == "prod"
