"""Shared by the status UI's tests: a server config with `ui:`, the environment that turns sign-in
on against FakeGitHub, the store as the engine leaves it, and moving a rollout as the worker does."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import yaml

from bot.app.services.rollouts import _dumps
from bot.core.deploy.rollout import RolloutState

ROOT = Path(__file__).resolve().parents[2]
TEST_CONFIG = ROOT / "tests" / "fixtures" / "modelbot.yaml"
ORG = "acme"
SESSION_SECRET = "session-secret-for-tests-" + "x" * 16
MEMBER, OUTSIDER, PENDING = "alice", "mallory", "pat"
READABLE, HIDDEN = "acme/models", "acme/secret-models"


def ui_config(tmp_path: Path, teams: list[str] | None = None) -> Path:
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["ui"] = {"organization": ORG, "teams": teams or [], "recheck_seconds": 60}
    path = tmp_path / "modelbot-ui.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def ui_env(bot_env: dict, gh, tmp_path: Path, public_url: str, *, secure: bool = True,
           teams: list[str] | None = None) -> dict:
    gh.set_callback_url(f"{public_url}/oauth/callback")
    return {**bot_env, "MODELBOT_CONFIG": str(ui_config(tmp_path, teams)), "GITHUB_API_URL": gh.url,
            "GITHUB_URL": gh.url, "GITHUB_CLIENT_ID": gh.client_id, "GITHUB_CLIENT_SECRET": gh.client_secret,
            "MODELBOT_SESSION_SECRET": SESSION_SECRET, "MODELBOT_PUBLIC_URL": public_url,
            "MODELBOT_COOKIE_SECURE": "true" if secure else "false"}


def people(gh) -> None:
    """alice: an active member who can read acme/models only; mallory: no member; pat: invited."""
    gh.add_repo(READABLE, {"README.md": "models"})
    gh.add_repo(HIDDEN, {"README.md": "secret"})
    gh.add_org_member(ORG, MEMBER)
    gh.add_org_member(ORG, PENDING, state="pending")
    gh.account(OUTSIDER)
    gh.set_permission(READABLE, MEMBER, "write")
    gh.set_permission(HIDDEN, MEMBER, "none")


T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)


def _state(pk: int, endpoint: str, phase: str, *, flow: str = "ab", progress: str | None = None) -> RolloutState:
    return RolloutState(deployment_id=str(pk), endpoint=endpoint, flow=flow, strategy="canary",
                        target_config=f"{endpoint}-cfg-{pk}", previous_config=f"{endpoint}-cfg-{pk - 1}",
                        started_at=T0, phase=phase, current_variant="current", candidate_variant="candidate",
                        ab_steps=(0.1, 0.5, 1.0), progress=progress, promoted_config=f"{endpoint}-cfg-{pk}-p"
                        if phase == "succeeded" else None, smoke_result="passed" if phase == "succeeded" else None)


def deployment(store, *, repository: str, environment: str, endpoint: str, sha: str, pr: int,
               status: str, phase: str, at: dt.datetime, approver: str = "bob") -> int:
    pk, _ = store.create_deployment(
        key=f"{repository}:{environment}:{endpoint}:{sha}", repository=repository, pr_number=pr, commit_sha=sha,
        manifest_path=f"models/{endpoint}/modelbot.yaml", environment=environment, endpoint=endpoint,
        trigger="merge", requested_by="carol", provenance=json.dumps({"kind": "deploy"}))
    state = _state(pk, endpoint, phase)
    store.save_deployment(pk, status=status, state=_dumps({"rollout": state.as_record(), "requests": {}}))
    common = dict(repository=repository, environment=environment, deployment_id=pk, endpoint=endpoint,
                  commit_sha=sha, pr_number=pr, manifest_path=f"models/{endpoint}/modelbot.yaml")
    store.append_ledger("recorded", data={"trigger": "merge", "kind": "deploy", "model": endpoint}, actor="carol",
                        at=at, **common)
    store.append_ledger("gate", data={"action": "deploy", "verdict": "allow", "reasons": [], "lifted": [],
                                      "approvals": [{"user": approver, "paths": [], "rule": "owner"}],
                                      "approval_reviews": [{"user": approver, "submitted_at": "x", "commit": sha}],
                                      "override": None,
                                      "comparison": {"verdict": "pass", "key": "k" * 64,
                                                     "numbers": {"auc_delta": 0.012}}}, at=at, **common)
    store.append_ledger("prepared", data={"kind": "update", "headline": "h", "build_id": f"build-{pk}",
                                          "models": [{"name": f"{endpoint}-{environment}-{sha[:7]}"}]}, at=at, **common)
    if status in ("succeeded", "failed", "rolled_back"):
        store.append_ledger("finished", data={"status": status, "reason": "ok"}, at=at, **common)
    return pk


def seed(store) -> dict:
    """churn (acme/models, production): deployment 1 serving, deployment 2 rolling out;
    fraud (acme/secret-models, production): serving; a hold in each repository."""
    ids = {}
    ids["old"] = deployment(store, repository=READABLE, environment="production", endpoint="churn", sha="a" * 40, pr=11,
                            status="succeeded", phase="succeeded", at=T0)
    store.claim_endpoint("production", "churn", repository=READABLE, manifest_path="models/churn/modelbot.yaml",
                         how="deployed", deployment_id=ids["old"])
    ids["new"] = deployment(store, repository=READABLE, environment="production", endpoint="churn", sha="b" * 40, pr=12,
                            status="running", phase="updating", at=T0 + dt.timedelta(hours=1))
    store.acquire_lock("production:churn", f"deployment:{ids['new']}", 600)
    ids["secret"] = deployment(store, repository=HIDDEN, environment="production", endpoint="fraud", sha="c" * 40,
                               pr=5, status="succeeded", phase="succeeded", at=T0, approver="eve")
    store.claim_endpoint("production", "fraud", repository=HIDDEN, manifest_path="models/fraud/modelbot.yaml",
                         how="deployed", deployment_id=ids["secret"])
    store.set_hold(READABLE, 12, "dave")
    store.set_hold(HIDDEN, 7, "eve")
    return ids


def advance(store, pk: int, phase: str, traffic: float | None, progress: str) -> None:
    """What the worker writes as a rollout moves: its state, and the ledger's `phase` entry."""
    row = store.deployment(pk)
    state = _state(pk, row.endpoint, phase, progress=progress)
    status = "succeeded" if phase == "succeeded" else "running"
    store.save_deployment(pk, status=status, state=_dumps({"rollout": state.as_record(), "requests": {}}))
    store.append_ledger_for(store.deployment(pk), "phase", {"phase": phase, "action": "report", "progress": progress,
                                                            "traffic_percent": traffic, "config": state.target_config})
    if status == "succeeded":
        store.append_ledger_for(store.deployment(pk), "finished", {"status": "succeeded", "reason": "done"})
