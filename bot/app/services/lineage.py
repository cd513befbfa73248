"""Working backward from a live model: the ledger read for one subject (`bot.core.lineage`).

`trace(store, text, environment=None)` finds the endpoints the subject concerns — by name (in
any case: ARNs show names in lower case), by an endpoint-config or model ARN or name (the
deployment that created it), or by a provenance tag (commit, PR, build id, data version) — and
returns every deployment of each, newest first, the one serving now marked. The CLI
(`modelbot trace`) and the JSON API (`GET /api/v1/trace/<subject>`) both call it. Reads only
the store, a few queries whatever the history's length (`bench/bench_trace.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.lineage import Chain, Subject, chains, matches, parse_subject


@dataclass(frozen=True)
class Trace:
    subject: Subject
    endpoints: tuple[tuple[str, str], ...]   # (environment, endpoint)
    chains: tuple[Chain, ...]                # newest first, across those endpoints
    matched: tuple[int, ...] = ()            # deployments the subject names (a model, a commit, ...)

    def as_dict(self) -> dict:
        return {"version": 1, "subject": {"kind": self.subject.kind, "value": self.subject.value,
                                          "key": self.subject.key},
                "endpoints": [{"environment": e, "endpoint": n,
                               "serving": next((c.deployment_id for c in self.chains
                                                if c.serving and (c.environment, c.endpoint) == (e, n)), None)}
                              for e, n in self.endpoints],
                "matched": list(self.matched), "deployments": [c.as_dict() for c in self.chains]}


def trace(store, text: str, *, environment: str | None = None, repository: str | None = None) -> Trace:
    """See the module docstring; `environment`, `repository`: only those (a PR number or an
    endpoint name may exist in several). ValueError for a subject that cannot be read."""
    subject = parse_subject(text)
    matched: list[int] = []
    if subject.kind == "endpoint":
        where = store.ledger_endpoints(subject.value)
    else:
        if subject.kind == "tag" and subject.key == "commit":
            candidates = sorted({e["deployment_id"] for e in store.ledger_entries(commit_sha=subject.value, repository=repository)
                                 if e["deployment_id"] is not None}) if len(subject.value) >= 7 else []
        elif subject.kind == "tag" and subject.key == "pr":
            candidates = sorted({e["deployment_id"] for e in store.ledger_entries(pr_number=int(subject.value.lstrip("#")), repository=repository)
                                 if e["deployment_id"] is not None}) if subject.value.lstrip("#").isdigit() else []
        else:
            candidates = store.ledger_deployments_mentioning(subject.value)
        found = [c for c in chains(store.ledger_entries(deployment_ids=candidates, repository=repository))
                 if matches(c, subject)] if candidates else []
        matched = sorted(c.deployment_id for c in found)
        where = sorted({(c.environment, c.endpoint) for c in found if c.endpoint})
    if environment is not None:
        where = [w for w in where if w[0] == environment]
    entries = []
    for env, name in where:
        entries.extend(store.ledger_entries(endpoint=name, environment=env, repository=repository))
    entries.sort(key=lambda e: e["id"])
    return Trace(subject, tuple(where), tuple(chains(entries)), tuple(matched))
