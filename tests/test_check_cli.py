"""`modelbot check`: the PR report's validation, policy and plan from the command line.

Run as `bot.app.cli.main([...])`, once as a real process, and once against moto (as a server with
the SageMaker emulator) where the endpoint already exists. No GitHub credentials and no
webhook secret anywhere: the command must not need them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.adapters.aws.session import AwsUnavailable, clear_credential_cache
from bot.app.check import check_files, find_manifests, run_check
from bot.app.cli import main
from bot.core.config import load_settings
from bot.core.manifest import load_manifest
from bot.core.plan import DeploySpec, LiveState, LiveVariant, plan
from bot.core.render import render
from tests.aws.conftest import isolate_from_real_aws, use_moto
from tests.aws.deployed import deploy
from tests.support import sagemaker_emulator as emulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = ROOT / "tests" / "fixtures" / "check"
CONFIG = FIXTURES / "modelbot.yaml"  # staging + production, globs *.yaml, no policy
POLICY = FIXTURES / "policy.yaml"  # staging allows only ml.c5.*
LIVE = FIXTURES / "live.yaml"  # staging assumes a role, production uses ambient credentials
COMMIT = "a" * 40
NOW = dt.datetime(2024, 6, 3, 12, 0, tzinfo=dt.timezone.utc)
MINIMAL = (EXAMPLES / "minimal.yaml").read_text()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No GitHub App, no webhook secret, no server config from outside, no AWS."""
    for name in ("MODELBOT_WEBHOOK_SECRETS", "GITHUB_APP_ID", "GITHUB_PRIVATE_KEY",
                 "GITHUB_PRIVATE_KEY_PATH", "MODELBOT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    isolate_from_real_aws(monkeypatch, tmp_path / "aws")
    clear_credential_cache()
    yield
    clear_credential_cache()


def check(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def repo(tmp_path: Path, text: str = MINIMAL, name: str = "churn") -> tuple[Path, str]:
    """A checkout with one manifest at models/<name>/modelbot.yaml; (root, manifest path shown)."""
    path = tmp_path / "repo" / "models" / name / "modelbot.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return tmp_path / "repo", path.as_posix()


def example_environments() -> int:
    return sum(len(load_manifest(p.name, p.read_bytes()).manifest.environments)
               for p in EXAMPLES.glob("*.yaml"))


# --- desired state only ---------------------------------------------------------------------------


def test_every_example_is_valid(capsys):
    code, out, err = check(capsys, "examples", "--no-live", "--config", str(CONFIG), "--commit", COMMIT)

    assert (code, err) == (0, "")
    names = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("== ")] == \
        [f"== examples/{n}" for n in names]
    assert out.count(": ok\n") == len(names)
    assert "  staging: create endpoint churn-staging (realtime; AllTraffic: 1 x ml.m5.large)\n" in out
    assert "      create model churn-staging-aaaaaaa: " in out
    assert "live state: not read (--no-live), planned against the desired state only" in out
    assert out.endswith(f"ok: {len(names)} files, 0 errors, 0 warnings, {example_environments()} plans\n")


def test_a_real_process_with_the_config_from_the_environment_prints_json(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "MODELBOT_CONFIG": str(CONFIG),
           "AWS_EC2_METADATA_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-m", "bot.app.cli", "check", "examples", "--no-live",
                           "--format", "json"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)

    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is True and data["config"] == str(CONFIG)
    assert sorted(f["path"] for f in data["files"]) == sorted(f"examples/{p.name}" for p in EXAMPLES.glob("*.yaml"))
    assert all(f["valid"] and f["problems"] == [] for f in data["files"])
    assert sum(len(f["plans"]) for f in data["files"]) == example_environments()


def test_a_broken_manifest_fails_with_file_line_and_column(capsys, tmp_path):
    root, path = repo(tmp_path, MINIMAL.replace("    instance_type: ml.m5.large\n",
                                                "    instance_type: ml.m5.large\n    instance_count: \"2\"\n"))
    code, out, _ = check(capsys, str(root), "--no-live", "--config", str(CONFIG), "--commit", COMMIT)

    assert code == 1
    assert (f"\n{path}:18:21: error: environments.staging.instance_count: expected an integer, got a "
            "string; remove the quotes (got '2'; expected an integer) [schema.int_type]\n") in out
    assert f"== {path}: FAILED, 1 error\n" in out
    assert out.endswith("FAILED: 1 file, 1 error, 0 warnings, 0 plans\n")

    code, out, _ = check(capsys, str(root), "--no-live", "--config", str(CONFIG), "--format", "json")
    (problem,) = json.loads(out)["files"][0]["problems"]
    assert code == 1
    assert (problem["path"], problem["line"], problem["column"], problem["field"], problem["severity"]) == (
        path, 18, 21, "environments.staging.instance_count", "error")


def test_a_policy_violation_names_the_rule_and_where_it_is_configured(capsys, tmp_path):
    root, path = repo(tmp_path)
    code, out, _ = check(capsys, str(root), "--no-live", "--config", str(POLICY), "--commit", COMMIT)

    rule = "policy.environments.staging.allowed_instance_types"
    assert code == 1
    assert (f"\n{path}:17:20: error: environments.staging.instance_type: instance type ml.m5.large is "
            f"not allowed in staging (got 'ml.m5.large'; expected one of ml.c5.*) [{POLICY}: {rule}]\n") in out
    assert "  staging: create endpoint churn-staging" in out  # the plan is still shown

    code, out, _ = check(capsys, str(root), "--no-live", "--config", str(POLICY), "--format", "json")
    (problem,) = json.loads(out)["files"][0]["problems"]
    assert (code, problem["rule"], problem["configured_at"], problem["line"]) == (1, rule, f"{POLICY}: {rule}", 17)


def test_an_environment_the_server_does_not_know_is_an_error(capsys, tmp_path):
    root, path = repo(tmp_path, MINIMAL.replace("  staging:\n", "  qa:\n"))
    code, out, _ = check(capsys, str(root), "--no-live", "--config", str(CONFIG))
    assert code == 1
    assert (f"{path}:15:3: error: environments.qa: no environment `qa` is configured on the server "
            f"(got 'qa'; expected one of production, staging) [{CONFIG}: environments]") in out


def test_json_structure(capsys):
    code, out, _ = check(capsys, "examples/realtime-canary.yaml", "--no-live", "--config", str(CONFIG),
                         "--format", "json", "--env", "production", "--commit", COMMIT)
    data = json.loads(out)

    assert code == 0
    assert list(data) == ["version", "ok", "exit_code", "root", "config", "commit", "environments",
                          "summary", "files", "comparisons"]  # comparisons: bot/app/services/comparison/
    assert (data["version"], data["ok"], data["exit_code"], data["commit"]) == (1, True, 0, COMMIT)
    assert (data["root"], data["environments"]) == ("examples/realtime-canary.yaml", ["production"])
    assert data["summary"] == {"files": 1, "errors": 0, "warnings": 0, "plans": 1, "blocked": 0}
    (f,) = data["files"]
    assert (f["path"], f["valid"], f["problems"], list(f["plans"])) == (
        "examples/realtime-canary.yaml", True, [], ["production"])
    p = f["plans"]["production"]
    assert set(p) == {"live", "kind", "headline", "blocked", "mode", "strategy", "names", "actions",
                      "variants", "traffic_steps", "total_wait_seconds", "rollback_alarms",
                      "instance_changes", "autoscaling_changes", "cost", "tags", "notes",
                      "requires_explicit_approval", "config_digest"}
    assert p["live"] == {"read": False, "reason": "planned against the desired state only (live state not read)"}
    assert (p["kind"], p["mode"], p["strategy"], p["blocked"]) == ("create", "realtime", "canary", False)
    assert p["names"] == {"model": "fraud-detector-production-aaaaaaa",
                          "endpoint_config": "fraud-detector-production-aaaaaaa",
                          "endpoint": "fraud-detector", "transform_job": None}
    assert [(a["verb"], a["resource"]) for a in p["actions"]] == [
        ("create", "model"), ("create", "endpoint_config"), ("create", "endpoint"), ("register", "autoscaling")]
    assert p["rollback_alarms"] == ["fraud-detector-5xx", "fraud-detector-latency-p99"]
    assert set(p["cost"]) == {"before_per_hour", "after_per_hour", "delta_per_hour", "peak_per_hour",
                              "max_per_hour", "usage_based", "notes"}
    assert p["variants"][0]["instance_count"] == 4 and p["tags"]["modelbot:commit"] == COMMIT


@pytest.mark.parametrize("args, message", [
    (["examples", "--env", "qa"], "modelbot check: usage error:\nunknown environment(s) qa; "),
    (["no/such/dir"], "modelbot check: usage error:\nno/such/dir: no such file or directory\n"),
    (["examples", "--commit", "HEAD"], "modelbot check: usage error:\n--commit: not a git commit id: 'HEAD'\n"),
    (["examples", "--config", "no/such.yaml"],
     "modelbot check: configuration error:\nMODELBOT_CONFIG: file no/such.yaml does not exist\n"),
])
def test_usage_and_configuration_errors_exit_2(capsys, args, message):
    code, out, err = check(capsys, *args, "--no-live", *([] if "--config" in args else ["--config", str(CONFIG)]))
    assert (code, out) == (2, "")
    assert err.startswith(message)


def test_without_aws_credentials_it_plans_the_desired_state_and_says_why(capsys):
    code, out, _ = check(capsys, "examples/minimal.yaml", "--config", str(CONFIG), "--commit", COMMIT)
    assert code == 0
    assert ("    live state: live state unavailable (environment staging: "
            "resolving ambient AWS credentials failed, no valid credentials: no usable AWS credentials "
            "were found); planned against the desired state only\n") in out


# --- the shared logic, with a reader passed in --------------------------------------------------


def _settings(config: Path = CONFIG, **server_changes):
    settings = load_settings({"MODELBOT_CONFIG": str(config)}, require_secrets=False)
    if server_changes:
        settings = dataclasses.replace(settings, server=settings.server.model_copy(update=server_changes))
    return settings


def test_prices_give_the_cost_change_and_a_live_endpoint_makes_an_update():
    manifest_path = "models/churn/modelbot.yaml"
    spec = DeploySpec(load_manifest(manifest_path, MINIMAL).manifest, "staging", COMMIT)
    running = LiveState(True, "churn-staging", "InService", "churn-staging-1111111", "other-digest",
                        (LiveVariant("AllTraffic", "churn-staging-1111111", "ml.m5.large", 2),))
    seen = []

    def reader(env, endpoint):
        seen.append((env, endpoint))
        return running

    settings = _settings(prices={"ml.m5.large": 0.115})
    result = check_files([(manifest_path, MINIMAL)], settings, live_reader=reader, now=NOW, commit=COMMIT)
    (e,) = result.files[0].environments

    assert seen == [("staging", "churn-staging")]
    assert (e.live, e.plan.kind) == ("read", "update")
    assert e.plan == plan(spec, running, {"ml.m5.large": 0.115})
    text = render("cli/check.txt.j2", result=result, live=True, commit_known=True)
    assert "    live state: read from AWS\n" in text
    assert "  staging: update endpoint churn-staging by blue_green: 100%\n" in text
    assert "      AllTraffic.instance_count: 2 -> 1\n" in text
    assert "    cost per hour: $0.230 -> $0.115 (-$0.115); $0.345 during the update\n" in text


def test_when_aws_is_unavailable_the_plan_is_made_against_the_desired_state():
    def reader(env, endpoint):
        raise AwsUnavailable(f"environment {env}: sts:AssumeRole failed, access denied: AccessDenied",
                             kind="denied")

    result = check_files([("m.yaml", MINIMAL)], _settings(), live_reader=reader, now=NOW, commit=COMMIT)
    (e,) = result.files[0].environments
    assert (e.live, e.plan.kind) == ("unavailable", "create")
    assert "environment staging: sts:AssumeRole failed, access denied: AccessDenied" in e.live_note
    assert result.exit_code == 0


def test_manifests_are_found_with_the_globs_relative_to_the_directory(tmp_path):
    for rel in ("models/a/modelbot.yaml", "models/a/b/modelbot.yaml", "models/a/other.yaml",
                "top.yaml", "deep/down/x.yaml", ".git/models/modelbot.yaml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(MINIMAL)
    assert find_manifests(tmp_path, ["models/**/modelbot.yaml", "*.yaml"]) == [
        "models/a/b/modelbot.yaml", "models/a/modelbot.yaml", "top.yaml"]
    result = run_check(tmp_path, _settings(), now=NOW, commit=COMMIT)  # CONFIG has the same globs
    assert [f.path for f in result.files] == [f"{tmp_path.as_posix()}/{rel}" for rel in (
        "models/a/b/modelbot.yaml", "models/a/modelbot.yaml", "top.yaml")]


# --- against moto -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url():
    url, stop = emulator.start_moto_server()
    yield url
    stop()


def test_against_live_aws_an_existing_endpoint_plans_an_update(capsys, tmp_path, moto_url, monkeypatch):
    emulator.reset(moto_url)
    use_moto(monkeypatch, moto_url)
    root, path = repo(tmp_path)
    deployed = "b" * 40
    spec = DeploySpec(load_manifest(path, MINIMAL).manifest, "staging", deployed)
    deploy(emulator.client("sagemaker", moto_url), emulator.client("application-autoscaling", moto_url),
           spec, plan(spec, LiveState(), {}))

    code, out, _ = check(capsys, str(root), "--config", str(LIVE), "--commit", COMMIT)
    assert code == 0
    assert "  staging: no changes to churn-staging\n    live state: read from AWS\n" in out

    Path(path).write_text(MINIMAL.replace("instance_type: ml.m5.large", "instance_type: ml.m5.xlarge"))
    code, out, _ = check(capsys, str(root), "--config", str(LIVE), "--commit", COMMIT)
    assert code == 0
    assert "  staging: update endpoint churn-staging by blue_green: 100%\n    live state: read from AWS\n" in out
    assert "      update endpoint churn-staging: update_endpoint with BlueGreenUpdatePolicy (ALL_AT_ONCE)\n" in out
    assert "      AllTraffic.instance_type: ml.m5.large -> ml.m5.xlarge\n" in out
    assert "keep the previous endpoint config churn-staging-bbbbbbb until the update has finished" in out

    code, out, _ = check(capsys, str(root), "--config", str(LIVE), "--commit", COMMIT, "--format", "json")
    p = json.loads(out)["files"][0]["plans"]["staging"]
    assert (p["live"], p["kind"]) == ({"read": True, "reason": None}, "update")


def test_a_models_repository_without_a_server_config_is_checked_and_says_what_was_not(
        tmp_path, monkeypatch, capsys):
    """A model author has no server config: the manifests' own rules still run (issue #13), and
    the output names what only the server config could decide."""
    repo = tmp_path / "models-repo"
    (repo / "models" / "churn").mkdir(parents=True)
    (repo / "models" / "churn" / "modelbot.yaml").write_text(MINIMAL)
    monkeypatch.chdir(repo)
    assert main(["check", "."]) == 0
    out = capsys.readouterr().out
    assert "server config (none)" in out and "not checked:" in out
    assert "plans and costs" in out and "== models/churn/modelbot.yaml: ok" in out
    assert "no environment" not in out  # environment names are the server's to judge

    assert main(["check", ".", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert any("policy" in x for x in data["not_checked"])

    (repo / "models" / "churn" / "modelbot.yaml").write_text(MINIMAL.replace("instance_type: ml.m5.large",
                                                                             "instance_type: ml.nope.large"))
    assert main(["check", "."]) == 1  # the manifest's own rules still fail it
    assert "ml.nope.large" in capsys.readouterr().out
