"""Lineage from the ledger: for an endpoint, the chain behind the model serving now and every earlier one.

The ledger (`bot.adapters.store.LedgerRow`, append-only) holds one entry per thing that happened
to a deployment: `recorded` (trigger, who asked, the PR's head and base), `gate` (the deploy
gate's decision at the point of action: the approvals that counted with their rule and the
review that gave each — when, on which commit —, any override, the comparison's verdict, cache
key and numbers), `prepared` (manifest digest, build id, data version, strategy, models with
image and artifact, configs), `phase` (every rollout phase with its time, progress, traffic
and the endpoint's ARN), `smoke` (the contract's smoke test), `request` (/abort, /rollback,
/promote and who asked) and `finished` (the outcome). A `correction` entry names the entry it
corrects (`data.corrects`) and what is right; it is shown beside it, nothing is rewritten.

`chains(entries)` folds them into one `Chain` per deployment, newest first; the newest one that
put its model on the endpoint (`Chain.put_model`: succeeded, or ended with the endpoint on its
config) is the one `serving`; a newer succeeded teardown means nothing is, and a deploy with
no changes decides nothing.
`parse_subject(text)` reads what a person asks about: an endpoint name, a SageMaker ARN (endpoint,
endpoint config or model), or a provenance tag `key=value` (modelbot:commit, modelbot:pr,
modelbot:build-id, modelbot:data-version). Pure: entries in, values out.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping

ARN_RE = re.compile(r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
                    r"(?P<kind>endpoint|endpoint-config|model)/(?P<name>[A-Za-z0-9-]{1,63})$")
TAG_KEYS = {"modelbot:commit": "commit", "commit": "commit", "modelbot:pr": "pr", "pr": "pr",
            "modelbot:build-id": "build_id", "build-id": "build_id", "modelbot:data-version": "data_version",
            "data-version": "data_version"}


@dataclass(frozen=True)
class Subject:
    """What a trace is asked about. `kind`: endpoint (by name), endpoint-config, model (by name,
    from an ARN), or tag (`key` one of commit, pr, build_id, data_version)."""

    kind: Literal["endpoint", "endpoint-config", "model", "tag"]
    value: str
    key: str | None = None
    region: str | None = None
    account: str | None = None


def parse_subject(text: str) -> Subject:
    """An endpoint name, an ARN or `key=value`; ValueError saying what is accepted."""
    text = text.strip()
    m = ARN_RE.match(text)
    if m:
        return Subject(m["kind"], m["name"], region=m["region"], account=m["account"])  # type: ignore[arg-type]
    if text.startswith("arn:"):
        raise ValueError(f"{text[:120]!r} is not a SageMaker endpoint, endpoint-config or model ARN")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("the subject holds control characters")
    if "=" in text:
        key, _, value = text.partition("=")
        key, value = key.strip(), value.strip()
        if key not in TAG_KEYS or not value:
            raise ValueError(f"{key!r}: a tag to trace by is one of " + ", ".join(
                k for k in TAG_KEYS if k.startswith("modelbot:")) + ", as key=value")
        name = TAG_KEYS[key]
        if name == "pr" and not re.fullmatch(r"#?\d{1,9}", value):
            raise ValueError(f"modelbot:pr={value[:40]!r}: a pull request number")
        if name == "commit" and not re.fullmatch(r"[0-9a-fA-F]{7,40}", value):
            raise ValueError(f"modelbot:commit={value[:60]!r}: 7 to 40 hex digits of a commit")
        if name in ("build_id", "data_version") and not 3 <= len(value) <= 256:
            raise ValueError(f"{key}: 3 to 256 characters, as tagged")
        return Subject("tag", value, key=name)
    if not re.fullmatch(r"[A-Za-z0-9](-*[A-Za-z0-9]){0,62}", text):
        raise ValueError(f"{text[:120]!r} is neither an endpoint name, a SageMaker ARN nor a key=value tag")
    return Subject("endpoint", text)


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    kind: str
    text: str
    actor: str | None = None


@dataclass
class Chain:
    """Everything the ledger knows of one deployment, from the request to the outcome."""

    deployment_id: int
    repository: str
    environment: str
    endpoint: str | None
    manifest_path: str | None
    commit: str | None
    pr_number: int | None
    trigger: str | None = None
    requested_by: str | None = None
    kind: str = "deploy"               # deploy | teardown
    head_sha: str | None = None
    model: str | None = None
    data_version: str | None = None
    build_id: str | None = None
    manifest_digest: str | None = None
    model_digest: str | None = None
    strategy: str | None = None
    mode: str | None = None
    models: list[dict] = field(default_factory=list)
    endpoint_configs: list[str] = field(default_factory=list)
    arns: list[str] = field(default_factory=list)
    gate: dict | None = None           # the last deploy decision: verdict, reasons, approvals, override
    validation: dict | None = None     # the manifest's errors and warnings when the gate judged it
    approvals: list[dict] = field(default_factory=list)   # user, rule, paths, submitted_at, commit
    comparison: dict | None = None     # verdict, key, numbers
    smoke: dict | None = None
    experiment: dict | None = None     # the live experiment's last verdict (shadow judge or A/B test)
    status: str = "pending"
    reason: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    events: list[Event] = field(default_factory=list)
    corrections: list[dict] = field(default_factory=list)
    plan_kind: str | None = None       # create | update | no_changes | run_batch | teardown (from `prepared`)
    target_config: str | None = None
    promoted_config: str | None = None
    last_config: str | None = None     # the endpoint config the last `phase` entry saw
    serving: bool = False

    @property
    def put_model(self) -> bool:
        """Whether this deployment left its model on the endpoint: it succeeded, or it ended
        otherwise with the endpoint on its config (a first deploy left for inspection, a
        finishing step that failed after the switch). A no-change deploy puts nothing there."""
        if self.kind == "teardown" or self.plan_kind not in ("create", "update"):
            return False
        if self.status == "succeeded":
            return True
        return self.status in ("failed", "aborted") and self.last_config is not None \
            and self.last_config in (self.target_config, self.promoted_config)

    @property
    def resource_arns(self) -> list[str]:
        """The endpoint's ARN as AWS reported it, and those of the models and configs this
        deployment created, in the same region and account (SageMaker ARNs name resources in
        lower case)."""
        m = next((ARN_RE.match(a) for a in self.arns if ARN_RE.match(a)), None)
        if m is None:
            return list(self.arns)
        base = f"arn:aws:sagemaker:{m['region']}:{m['account']}"
        return (list(self.arns) + [f"{base}:endpoint-config/{n.lower()}" for n in self.endpoint_configs]
                + [f"{base}:model/{x['name'].lower()}" for x in self.models if x.get("name")])

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in vars(self).items() if k != "events"}
        out["resource_arns"] = self.resource_arns
        out["events"] = [{"at": e.at.isoformat(), "kind": e.kind, "text": e.text, "actor": e.actor}
                         for e in self.events]
        for key in ("started_at", "finished_at"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


def _event_text(kind: str, data: Mapping[str, Any]) -> str:
    if kind == "recorded":
        return f"recorded ({data.get('trigger')})"
    if kind == "gate":
        reasons = "; ".join(data.get("reasons") or ())
        return f"deploy gate ({data.get('action', 'deploy')}): {data.get('verdict')}" + (f": {reasons}" if reasons else "")
    if kind == "prepared":
        return f"planned: {data.get('headline')}"
    if kind == "phase":
        return data.get("progress") or f"phase {data.get('phase')}"
    if kind == "smoke":
        result = data.get("result")
        return "smoke test: " + ("passed" if result == "passed" else "trying again" if result is None
                                 else f"broke the contract: {result}")
    if kind == "request":
        return f"/{data.get('what')} requested"
    if kind == "finished":
        return f"{data.get('status')}" + (f": {data['reason']}" if data.get("reason") else "")
    if kind == "correction":
        return f"correction of entry {data.get('corrects')}: {data.get('text')}"
    if kind == "experiment":
        what = "A/B test" if data.get("kind") == "ab" else "shadow judge"
        reasons = "; ".join(data.get("reasons") or ())
        return f"{what}: {data.get('status')}" + (f": {reasons}" if reasons else "")
    return kind


def chains(entries: Iterable[Mapping[str, Any]]) -> list[Chain]:
    """One Chain per deployment in `entries` (ledger entries as `LedgerRow.as_entry` gives them,
    in the order written), newest first; see the module docstring."""
    by_id: dict[int, Chain] = {}
    by_entry: dict[int, Chain] = {}
    for e in entries:
        pk, data, kind = e.get("deployment_id"), e.get("data") or {}, e["kind"]
        if kind == "correction" and pk is None:
            target = by_entry.get(data.get("corrects"))
            if target is not None:
                target.corrections.append({"at": e["at"], "by": e.get("actor"), **data})
                target.events.append(Event(e["at"], kind, _event_text(kind, data), e.get("actor")))
            continue
        if pk is None:
            continue
        c = by_id.get(pk)
        if c is None:
            c = by_id[pk] = Chain(pk, e["repository"], e["environment"], e.get("endpoint"), e.get("manifest_path"),
                                  e.get("commit_sha"), e.get("pr_number"))
        by_entry[e["id"]] = c
        c.events.append(Event(e["at"], kind, _event_text(kind, data), e.get("actor")))
        if kind == "recorded":
            c.trigger, c.requested_by = data.get("trigger"), e.get("actor")
            c.kind = data.get("kind") or "deploy"
            c.head_sha, c.model = data.get("head_sha"), data.get("model")
            c.data_version = c.data_version or data.get("data_version")
            c.started_at = e["at"]
        elif kind == "gate" and data.get("action", "deploy") == "deploy":
            c.gate = {k: data.get(k) for k in ("verdict", "reasons", "lifted", "override")}
            reviews = {r["user"]: r for r in data.get("approval_reviews") or ()}
            c.approvals = [{**a, **{k: reviews.get(a["user"], {}).get(k) for k in ("submitted_at", "commit")}}
                           for a in data.get("approvals") or ()]
            comparison = data.get("comparison")
            c.validation = data.get("validation")
            c.comparison = None if comparison is None else {
                "verdict": None, "key": None, "baseline_model": None, "n_rows": None, "rows": [], **comparison}
        elif kind == "prepared":
            for key in ("build_id", "data_version", "manifest_digest", "model_digest", "strategy", "mode", "model"):
                if data.get(key) is not None:
                    setattr(c, key, data[key])
            c.models = list(data.get("models") or ())
            c.endpoint_configs = [x for x in data.get("endpoint_configs") or () if x]
            c.plan_kind = data.get("kind")
            c.target_config, c.promoted_config = data.get("target_config"), data.get("promoted_config")
        elif kind == "phase":
            c.last_config = data.get("config") or c.last_config
            arn = data.get("endpoint_arn")
            if arn and arn not in c.arns:
                c.arns.append(arn)
            if c.status == "pending":
                c.status = "running"
        elif kind == "smoke":
            c.smoke = {k: data.get(k) for k in ("config", "result", "problems")}
        elif kind == "experiment":
            c.experiment = {"at": e["at"].isoformat(), **{k: v for k, v in data.items() if k != "problems"}}
        elif kind == "finished":
            c.status, c.reason, c.finished_at = data.get("status") or c.status, data.get("reason"), e["at"]
        elif kind == "correction":
            c.corrections.append({"at": e["at"], "by": e.get("actor"), **data})
        if c.started_at is None:
            c.started_at = e["at"]
    out = sorted(by_id.values(), key=lambda c: c.deployment_id, reverse=True)
    seen: set[tuple[str, str | None]] = set()
    for c in out:  # newest first: the newest that put a model there, or tore the endpoint down, decides
        where = (c.environment, c.endpoint)
        teardown = c.kind == "teardown" and c.status == "succeeded"
        if where in seen or not (c.put_model or teardown):
            continue
        seen.add(where)
        c.serving = not teardown
    return out


def matches(c: Chain, subject: Subject) -> bool:
    """Whether chain `c` is one `subject` asks about."""
    if subject.kind == "endpoint":
        return (c.endpoint or "").lower() == subject.value.lower()
    if subject.kind == "endpoint-config":
        return subject.value.lower() in {x.lower() for x in c.endpoint_configs}
    if subject.kind == "model":
        return subject.value.lower() in {(m.get("name") or "").lower() for m in c.models}
    value = subject.value
    if subject.key == "commit":
        return bool(c.commit) and len(value) >= 7 and c.commit.lower().startswith(value.lower())
    if subject.key == "pr":
        return str(c.pr_number) == value.lstrip("#")
    return str(getattr(c, subject.key or "", None)) == value
