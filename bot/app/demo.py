"""`modelbot demo`: the whole lifecycle on this machine, with no GitHub or AWS account.

What runs (all on 127.0.0.1):

- **GitHub**: the fake the tests use (tests/support/fake_github.py), a REST API held to GitHub's
  OpenAPI description, serving the `acme/models` repository and the App's installation.
- **SageMaker, S3, CloudWatch**: moto's server with the project's emulator
  (tests/support/sagemaker_emulator/), which refuses what AWS documents refusing, in its
  clock mode: SageMaker's rollouts take their nominal time multiplied by `time_scale`.
- **The bot**: `modelbot serve` (gunicorn) and `modelbot worker` as separate processes, on the
  embedded store and queue (SQLite files in the data directory) unless `backend_env` names
  PostgreSQL and Redis.

The story (`Story.play`): four XGBoost models are trained on scikit-learn's breast-cancer data
(shipped inside the installed package: no download); PR #1 adds the manifest and its merge
creates the endpoints; PR #2 ships a better model: its report (validation, plan with cost,
comparison with intervals and a verdict) and check runs, a `/deploy production` refused to
someone without permission, the owner's approval, the merge and a canary rollout with bakes;
PR #3 ships a worse model, fails its comparison and, merged anyway by an admin, is refused at
deploy; PR #4's canary is rolled back by an alarm. Every step checks what it expects and the
demo fails (exit 1) naming the step when something else happens; `steps.json` in the data
directory records each step for tests/test_demo.py.

The fakes live in the source checkout's tests/support: the demo runs from a checkout.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bot.core.render import render
from bot.core.textmd import to_text
import socket
from bot.adapters.migrate import migrate
from bot.adapters.store import Store
from bot.app.services.lineage import trace
from bot.core.config import load_settings
from bot.core.report import part_of

ROOT = Path(__file__).resolve().parents[2]
REPO = "acme/models"
PATH = "models/tumor-classifier/modelbot.yaml"
ALARM = "tumor-classifier-5xx"
ENDPOINTS = {"staging": "tumor-classifier-staging", "production": "tumor-classifier"}
DATASET_URI = "s3://acme-datasets/tumor-classifier/validation-2024-06.csv"
DEFAULT_TIME_SCALE = 0.02  # SageMaker's clock 50x faster: a 600 s bake takes 12 s
MARKER = ".modelbot-demo"
ACCOUNT_ID = "123456789012"


class DemoFailed(Exception):
    """A step saw something other than what the lifecycle should show."""


# --- models and data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Models:
    """The validation set (CSV bytes) and four model artifacts (model.tar.gz bytes)."""

    validation_csv: bytes
    artifacts: dict[str, bytes]
    train_rows: int
    validation_rows: int
    features: int

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.validation_csv).hexdigest()


def _tar_gz(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def train_models(seed: int = 7) -> Models:
    """v1 (production's), v2 (better), v3 (worse: three weak features), v4 (good, for the alarm).

    Data: scikit-learn's bundled Wisconsin breast-cancer set (569 rows, 30 features), split
    into 369 training and 200 validation rows, stratified and seeded.
    """
    import numpy as np
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    x, y = data.data, 1 - data.target  # label 1 = malignant
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=200, stratify=y, random_state=seed)

    def booster(columns: list[str], rounds: int, depth: int, eta: float, model_seed: int) -> bytes:
        idx = [names.index(c) for c in columns]
        d = xgb.DMatrix(x_train[:, idx], label=y_train, feature_names=columns)
        params = {"objective": "binary:logistic", "max_depth": depth, "eta": eta, "nthread": 1,
                  "seed": model_seed, "subsample": 0.9}
        return bytes(xgb.train(params, d, rounds).save_raw("json"))

    weak = ["mean_texture", "mean_symmetry", "mean_fractal_dimension"]
    artifacts = {
        "v1": booster(names, 6, 2, 0.3, 1),
        "v2": booster(names, 80, 3, 0.1, 2),
        "v3": booster(weak, 40, 3, 0.1, 3),
        "v4": booster(names, 60, 3, 0.12, 4),
    }
    lines = ["id,malignant," + ",".join(names)]
    for i in range(len(y_val)):
        lines.append(f"p{i:04d},{int(y_val[i])}," + ",".join(repr(float(v)) for v in x_val[i]))
    csv = ("\n".join(lines) + "\n").encode()
    del np  # imported for xgboost's sake
    return Models(csv, {k: _tar_gz("xgboost-model", v) for k, v in artifacts.items()},
                  len(y_train), len(y_val), len(names))


def manifest(version: str, models: Models, build_id: str) -> str:
    return render("demo/manifest.yaml.j2", version=version, data_version="breast-cancer-2024-06",
                  build_id=build_id, dataset_uri=DATASET_URI, dataset_digest=models.digest, alarm=ALARM)


# --- the world: local GitHub, local AWS, the bot's processes ------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _import_fakes():
    """The fakes of the source checkout (tests/support)."""
    if not (ROOT / "tests" / "support" / "fake_github.py").is_file():
        raise DemoFailed(f"modelbot demo runs from a source checkout: {ROOT / 'tests' / 'support'} holds the "
                         "local GitHub and SageMaker it uses, and is not there")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support import fake_github, sagemaker_emulator, webhooks

    return fake_github, sagemaker_emulator, webhooks


def prepare_data_dir(data_dir: Path) -> None:
    """A fresh data directory for this run: one the demo made before is emptied; anything else
    that is not empty is left alone and refused."""
    if data_dir.exists() and any(data_dir.iterdir()):
        if not (data_dir / MARKER).exists():
            raise DemoFailed(f"{data_dir} is not empty and was not made by modelbot demo; pass another --data-dir")
        for child in data_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("made by modelbot demo; emptied by the next run\n")


@dataclass
class World:
    """Everything the story talks to, started by `start` and stopped by `close`."""

    data_dir: Path
    config: Path
    time_scale: float = DEFAULT_TIME_SCALE
    backend_env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    gh: Any = None
    moto_url: str = ""
    url: str = ""
    secret: str = ""
    env: dict[str, str] = field(default_factory=dict)
    web: Any = None
    worker_procs: list = field(default_factory=list)
    store: Any = None
    installation_id: int = 0
    _stops: list = field(default_factory=list)

    def start(self) -> "World":
        fake_github, emulator, self.webhooks = _import_fakes()
        self.emulator = emulator
        self.gh = fake_github.FakeGitHub().start()
        self._stops.append(self.gh.stop)
        self.moto_url, stop_moto = emulator.start_moto_server()
        self._stops.append(stop_moto)
        # moto keeps its accounts in the process: a world started before in this process (the
        # tests start one per backend) must leave nothing behind in this one.
        emulator.reset(self.moto_url)
        emulator.configure_remote(self.moto_url, mode="clock", time_scale=self.time_scale)
        self.secret = secrets.token_hex(20)
        (self.data_dir / "webhook-secret").write_text(self.secret)
        (self.data_dir / "webhook-secret").chmod(0o600)
        key = self.data_dir / "app-key.pem"
        key.write_text(self.gh.private_key_pem)
        key.chmod(0o600)
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("MODELBOT_", "AWS_", "GITHUB_")) and k not in ("DATABASE_URL", "REDIS_URL")}
        self.env = {
            **base, **self.backend_env,
            "PYTHONPATH": str(ROOT) + os.pathsep + base.get("PYTHONPATH", ""),
            "MODELBOT_DATA_DIR": str(self.data_dir), "MODELBOT_CONFIG": str(self.config),
            "MODELBOT_WEBHOOK_SECRETS": self.secret, "MODELBOT_REAP_EVERY": "2",
            "MODELBOT_GITHUB_WRITE_INTERVAL": "0",
            "GITHUB_APP_ID": str(self.gh.app_id), "GITHUB_PRIVATE_KEY_PATH": str(key),
            "GITHUB_API_URL": self.gh.url,
            "AWS_ENDPOINT_URL": self.moto_url, "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "AWS_CONFIG_FILE": str(self.data_dir / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.data_dir / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true", **self.extra_env,
        }
        settings = load_settings(self.env)
        self.settings = settings
        self.store = Store(settings.database_url)
        migrate(self.store.engine)
        self._stops.append(self.store.dispose)
        self._start_web()
        for n in range(self.workers):
            self.start_worker(f"worker-{n + 1}")
        return self

    # -- processes -------------------------------------------------------------------------------

    def _log(self, name: str):
        return open(self.data_dir / f"{name}.log", "ab")

    def _start_web(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = self._log("web")
        self.web = subprocess.Popen([sys.executable, "-m", "bot.app.cli", "serve", "--bind", f"127.0.0.1:{port}",
                                     "--workers", "2"], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def healthy():
            if self.web.poll() is not None:
                raise DemoFailed(f"the web process exited ({self.web.returncode}); see {self.data_dir / 'web.log'}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return True
            except OSError:
                return False
        wait(healthy, 60, "the web process to answer /healthz")

    def start_worker(self, name: str) -> subprocess.Popen:
        log = self._log(name)
        proc = subprocess.Popen([sys.executable, "-m", "bot.app.cli", "worker", "--threads", "2"], env=self.env,
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        proc.demo_name = name  # type: ignore[attr-defined]
        self.worker_procs.append(proc)
        return proc

    def kill_worker(self, proc) -> None:
        """SIGKILL: the worker dies mid-work, as on an OOM kill or a lost node."""
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.worker_procs.remove(proc)

    def alive(self) -> None:
        if self.web.poll() is not None:
            raise DemoFailed(f"the web process exited ({self.web.returncode}); see {self.data_dir / 'web.log'}")
        for proc in self.worker_procs:
            if proc.poll() is not None:
                raise DemoFailed(f"{proc.demo_name} exited ({proc.returncode}); see "
                                 f"{self.data_dir / (proc.demo_name + '.log')}")

    def close(self) -> None:
        procs = [*self.worker_procs, self.web] if self.web else list(self.worker_procs)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception:  # noqa: BLE001 - shutting down: nothing is left to report to
                pass
        self._stops.clear()

    def log_tails(self, lines: int = 30) -> str:
        out = []
        for f in sorted(self.data_dir.glob("*.log")):
            tail = f.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {f.name}\n" + "\n".join(tail))
        return "\n".join(out)

    # -- the local GitHub and AWS ------------------------------------------------------------------

    def seed(self, models: Models) -> None:
        """acme/models installed; alice (author) and bob (owner) may write, mallory may read,
        the maintainer administers; main requires the bot's checks; S3 holds the data set and
        the artifacts; CloudWatch the rollback alarm."""
        gh = self.gh
        self.installation_id = gh.add_installation("acme").id
        gh.add_repo(REPO, {"README.md": "# models\nModel manifests, deployed by modelbot.\n"},
                    installation_id=self.installation_id)
        for login, role in (("alice", "write"), ("bob", "write"), ("mallory", "read"), ("maintainer", "admin")):
            gh.set_permission(REPO, login, role)
        gh.set_branch_protection(REPO, "main", checks=[(c, gh.app_id) for c in
                                                       ("modelbot/validate", "modelbot/approval", "modelbot/compare")])
        s3 = self.aws("s3")
        for bucket in ("acme-models", "acme-datasets"):
            s3.create_bucket(Bucket=bucket)
        bucket, key = DATASET_URI[5:].split("/", 1)
        s3.put_object(Bucket=bucket, Key=key, Body=models.validation_csv)
        for version, data in models.artifacts.items():
            s3.put_object(Bucket="acme-models", Key=f"tumor-classifier/{version}/model.tar.gz", Body=data)
        cw = self.aws("cloudwatch")
        cw.put_metric_alarm(AlarmName=ALARM, MetricName="Invocation5XXErrors", Namespace="AWS/SageMaker",
                            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                            ComparisonOperator="GreaterThanOrEqualToThreshold",
                            Dimensions=[{"Name": "EndpointName", "Value": ENDPOINTS["production"]},
                                        {"Name": "VariantName", "Value": "AllTraffic"}])
        cw.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="created with the account")

    def aws(self, service: str):
        return self.emulator.client(service, self.moto_url)

    def phase(self, endpoint: str) -> str | None:
        """The emulator's rollout phase of an endpoint, without moving it on."""
        return self.emulator.current_phase(endpoint)

    # -- deliveries --------------------------------------------------------------------------------

    def post(self, event: str, payload: dict, delivery_id: str | None = None) -> tuple[int, str]:
        body, headers = self.webhooks.delivery(payload, event, self.secret, delivery_id or str(uuid.uuid4()))
        req = urllib.request.Request(self.url + "/webhook", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())["outcome"]
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()).get("outcome", "")

    def send(self, event: str, payload: dict) -> None:
        status, outcome = self.post(event, payload)
        if (status, outcome) != (202, "queued"):
            raise DemoFailed(f"the webhook answered {event} with HTTP {status} {outcome}")

    def busy(self) -> list[str]:
        """What the worker still has to do: unfinished deliveries and active deployments."""
        left = [f"{event} {status} x{n}" for event, status, n in self.store.delivery_counts()
                if status in ("queued", "running", "retrying")]
        left += [f"deployment {d.id} {d.environment} {d.status}" for d in self.store.deployments(repository=REPO)
                 if d.status in ("pending", "running")]
        return left

    def failed(self) -> list[str]:
        return [f"{event} x{n}" for event, status, n in self.store.delivery_counts() if status == "failed"]

    def settle(self, what: str, timeout: float, also: Callable[[], bool] | None = None) -> None:
        def done():
            self.alive()
            if self.failed():
                raise DemoFailed(f"deliveries failed for good while waiting for {what}: {self.failed()}")
            return not self.busy() and (also is None or also())
        try:
            wait(done, timeout, what)
        except TimeoutError:
            raise DemoFailed(f"timed out after {timeout:.0f}s waiting for {what}; still busy: {self.busy()}") from None

    # -- what a person sees on GitHub -----------------------------------------------------------

    def checks(self, number: int) -> dict[str, Any]:
        pr = self.gh.pull(REPO, number)
        latest: dict[str, Any] = {}
        for run in self.gh.check_runs_for(REPO, head_sha=self.gh.head_sha(REPO, pr)):
            if run.name not in latest or run.id > latest[run.name].id:
                latest[run.name] = run
        return latest

    def report(self, number: int) -> str:
        parts = sorted((part_of(c.body), c.body) for c in self.gh.comments_on(REPO, number) if part_of(c.body))
        return "\n".join(body for _, body in parts)

    def replies(self, number: int) -> list[str]:
        return [c.body for c in self.gh.comments_on(REPO, number)
                if c.user.login == self.gh.bot.login and not part_of(c.body)]

    def deployments(self, number: int) -> list[Any]:
        """The GitHub Deployments of one PR's deployments, oldest first."""
        ids = {r.id for r in self.store.deployments(repository=REPO) if r.pr_number == number}
        return sorted((d for d in self.gh.repo(REPO).deployments
                       if isinstance(d.payload, dict) and d.payload.get("modelbot_deployment") in ids),
                      key=lambda d: d.id)

    def rows(self, number: int) -> dict[str, Any]:
        return {d.environment: d for d in self.store.deployments(repository=REPO) if d.pr_number == number}


def wait(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


# --- the story ------------------------------------------------------------------------------------


@dataclass
class Step:
    number: int
    title: str
    seconds: float = 0.0
    ok: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    shown: str = ""


class Story:
    """The lifecycle, step by step; each step checks what it expects and says what it saw."""

    TOTAL = 12

    def __init__(self, world: World, out: Callable[[str], None] = print,
                 on_rollout: Callable[["Story", int], None] | None = None):
        self.w, self.out = world, out
        self.steps: list[Step] = []
        self.on_rollout = on_rollout  # tests: called while a PR's production rollout runs
        self.started = time.monotonic()

    @contextmanager
    def step(self, title: str):
        step = Step(len(self.steps) + 1, title)
        self.steps.append(step)
        t0 = time.monotonic()
        try:
            yield step
            step.ok = True
        finally:
            step.seconds = round(time.monotonic() - t0, 1)
            self.out(render("demo/progress.txt.j2", step=step, total=self.TOTAL))
            if step.shown:
                self.out(step.shown)

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise DemoFailed(message)

    # -- pieces ------------------------------------------------------------------------------------

    def open_pr(self, number: int, version: str, build_id: str, title: str, models: Models) -> None:
        w = self.w
        w.gh.open_pull_request(REPO, f"model-{version}", files={PATH: manifest(version, models, build_id)},
                               number=number, user="alice", title=title)
        w.send("pull_request", w.webhooks.pull_request("opened", **w.webhooks.pr_args(w.gh, REPO, number)))
        wanted = ("modelbot/validate", "modelbot/approval", "modelbot/compare")

        def checks_done():
            runs = w.checks(number)
            return all(n in runs and runs[n].status == "completed" for n in wanted) and w.report(number)
        w.settle(f"PR #{number}'s report and checks", 90, checks_done)

    def approve(self, number: int, reviewer: str = "bob") -> None:
        w = self.w
        review = w.gh.add_review(REPO, number, reviewer, "APPROVED")
        args = w.webhooks.pr_args(w.gh, REPO, number)
        w.send("pull_request_review", w.webhooks.pull_request_review(
            "submitted", state="approved", reviewer=reviewer, review_id=review.id,
            **{k: v for k, v in args.items() if k != "draft"}))
        w.settle(f"PR #{number}'s approval check", 60,
                 lambda: w.checks(number)["modelbot/approval"].conclusion == "success")

    def comment(self, number: int, login: str, body: str) -> str:
        w = self.w
        before = len(w.replies(number))
        c = w.gh.add_comment(REPO, number, body, user=login)
        w.send("issue_comment", w.webhooks.issue_comment(
            body=body, commenter=login, comment_id=c.id, repo=REPO, number=number,
            installation_id=w.installation_id, issue_title=w.gh.pull(REPO, number).title))
        w.settle(f"the reply to {body!r}", 60, lambda: len(w.replies(number)) > before)
        return w.replies(number)[-1]

    def merge(self, number: int, expected: dict[str, str], timeout: float = 150,
              during: Callable[[], None] | None = None) -> dict[str, Any]:
        w = self.w
        sha = w.gh.merge_pull_request(REPO, number, merged_by="maintainer")
        args = w.webhooks.pr_args(w.gh, REPO, number)
        w.send("pull_request", w.webhooks.merged_pull_request(merge_commit_sha=sha, merged_by="maintainer", **args))

        def recorded():
            w.alive()
            return set(w.rows(number)) == set(expected)
        try:
            wait(recorded, 60, f"PR #{number}'s deployments to be recorded")
        except TimeoutError as exc:
            raise DemoFailed(f"{exc}; recorded: {sorted(w.rows(number))}") from None
        if self.on_rollout is not None:  # tests: kill workers mid-rollout, and so on
            self.on_rollout(self, number)
        if during is not None:
            during()
        w.settle(f"PR #{number}'s deployments", timeout)
        rows = w.rows(number)
        got = {env: r.status for env, r in rows.items()}
        self.expect(got == expected, f"PR #{number} deployed {got}, expected {expected}: "
                    + "; ".join(f"{e}: {r.reason}" for e, r in rows.items() if r.reason))
        return rows

    def statuses(self, number: int) -> list[dict[str, Any]]:
        """Per GitHub Deployment of the PR: its statuses as (state, description), repeats merged."""
        out = []
        for d in self.w.deployments(number):
            seen: list[tuple[str, str]] = []
            for st in d.statuses:
                if not seen or seen[-1] != (st.state, st.description):
                    seen.append((st.state, st.description))
            states: list[str] = []
            for st in d.statuses:
                if not states or states[-1] != st.state:
                    states.append(st.state)
            out.append({"environment": d.environment, "states": states, "history": seen,
                        "last": d.statuses[-1].description if d.statuses else ""})
        return out

    def show_checks(self, number: int) -> list[dict[str, str]]:
        return [{"name": name, "status": run.status, "conclusion": run.conclusion or "", "title": run.title or ""}
                for name, run in sorted(self.w.checks(number).items())]

    # -- the lifecycle -----------------------------------------------------------------------------

    def play(self) -> list[Step]:
        w = self.w
        with self.step("trained four XGBoost models on scikit-learn's breast-cancer data") as s:
            models = train_models()
            w.seed(models)
            s.facts = {"train_rows": models.train_rows, "validation_rows": models.validation_rows,
                       "features": models.features, "digest": models.digest}
            s.shown = render("demo/models.txt.j2", models=models, dataset=DATASET_URI, repo=REPO,
                             bucket="s3://acme-models/tumor-classifier/")

        with self.step("PR #1 adds models/tumor-classifier/modelbot.yaml (model v1): report and checks") as s:
            self.open_pr(1, "v1", "build-101", "Add the tumor classifier (v1)", models)
            checks = w.checks(1)
            s.facts = {"checks": {n: r.conclusion for n, r in checks.items()}}
            self.expect(checks["modelbot/validate"].conclusion == "success",
                        "PR #1 did not validate: " + to_text(checks["modelbot/validate"].text or
                                                             checks["modelbot/validate"].summary or "")[:3000])
            self.expect(checks["modelbot/compare"].conclusion == "success",
                        f"PR #1's comparison: {checks['modelbot/compare'].conclusion}: {checks['modelbot/compare'].title}")
            s.shown = render("demo/checks.txt.j2", number=1, checks=self.show_checks(1))

        with self.step("PR #1: bob (owner) approves, the maintainer merges: the endpoints are created") as s:
            self.approve(1)
            rows = self.merge(1, {"staging": "succeeded", "production": "succeeded"})
            s.facts = {"deployments": {e: r.status for e, r in rows.items()}}
            s.shown = render("demo/deployments.txt.j2", statuses=self.statuses(1))

        with self.step("PR #2 ships model v2: the report as GitHub shows it, and the check runs") as s:
            self.open_pr(2, "v2", "build-102", "Tumor classifier v2: deeper trees", models)
            checks = w.checks(2)
            report = w.report(2)
            s.facts = {"checks": {n: r.conclusion for n, r in checks.items()}, "report_chars": len(report)}
            self.expect(checks["modelbot/compare"].conclusion == "success",
                        f"PR #2's comparison: {checks['modelbot/compare'].conclusion}: {checks['modelbot/compare'].title}")
            self.expect(checks["modelbot/approval"].conclusion != "success", "PR #2 was approved before any review")
            self.expect(checks["modelbot/validate"].conclusion == "success", "PR #2 did not validate")
            shown = to_text(report, unfold=lambda summary: True)
            self.expect("vs the live model in production" in shown and "cost:" in shown and "canary" in shown,
                        "PR #2's report lacks the comparison with production, the cost or the canary steps")
            s.shown = render("demo/report.txt.j2", number=2,
                             text=to_text(report, indent="    │ ", unfold=lambda summary: summary.endswith(": valid")),
                             checks=self.show_checks(2))

        with self.step("PR #2: mallory (read access) comments /deploy production: refused") as s:
            reply = self.comment(2, "mallory", "/deploy production")
            s.facts = {"reply": reply}
            self.expect("@mallory" in reply and "was not run" in reply and "mallory has read" in reply,
                        f"the reply to mallory's /deploy does not refuse it with the reason: {reply}")
            self.expect(not w.rows(2), "mallory's /deploy recorded a deployment")
            s.shown = render("demo/comment.txt.j2", who="mallory", body="/deploy production",
                             text=to_text(reply, indent="    │ "))

        with self.step("PR #2: bob approves; the approval check passes") as s:
            self.approve(2)
            s.facts = {"approval": w.checks(2)["modelbot/approval"].conclusion}
            s.shown = render("demo/checks.txt.j2", number=2, checks=self.show_checks(2))

        with self.step("PR #2 merged: staging blue/green, then a production canary with bakes") as s:
            phases: list[str] = []

            def watch():  # the phases SageMaker shows while the bot rolls out, as a console would
                def production_done():
                    p = w.phase(ENDPOINTS["production"])
                    if p and (not phases or phases[-1] != p):
                        phases.append(p)
                    row = w.rows(2).get("production")
                    return row is not None and row.status not in ("pending", "running")
                wait(production_done, 200, "PR #2's production rollout", interval=0.05)
            rows = self.merge(2, {"staging": "succeeded", "production": "succeeded"}, timeout=200, during=watch)
            ep = w.aws("sagemaker").describe_endpoint(EndpointName=ENDPOINTS["production"])
            s.facts = {"deployments": {e: r.status for e, r in rows.items()}, "phases": phases,
                       "endpoint_config": ep["EndpointConfigName"],
                       "last_deployment": ep.get("LastDeploymentConfig", {})}
            routing = (ep.get("LastDeploymentConfig") or {}).get("BlueGreenUpdatePolicy", {}).get(
                "TrafficRoutingConfiguration", {})
            # SageMaker's own record says canary; the bake is seen as it happens unless a test's hook
            # stopped the workers meanwhile (the phases then move on while nobody looks).
            self.expect(routing.get("Type") == "CANARY" and ("canary-bake" in phases or self.on_rollout is not None),
                        f"no canary was seen: phases {phases}, traffic routing {routing}")
            report = w.report(2)
            section = report[report.find("#### Deployment"):] if "#### Deployment" in report else ""
            s.shown = render("demo/rollout.txt.j2", statuses=self.statuses(2), phases=phases,
                             text=to_text(section, indent="    │ ") if section else "")

        with self.step("PR #3 ships model v3 (three weak features): its comparison fails") as s:
            self.open_pr(3, "v3", "build-103", "Tumor classifier v3: fewer features", models)
            compare = w.checks(3)["modelbot/compare"]
            s.facts = {"compare": compare.conclusion, "title": compare.title}
            self.expect(compare.conclusion == "failure", f"PR #3's comparison: {compare.conclusion}: {compare.title}")
            s.shown = render("demo/check.txt.j2", run=compare, text=to_text(compare.summary or "", indent="    │ "))

        with self.step("PR #3 merged anyway by an admin: staging takes it, production refuses it") as s:
            self.approve(3)
            rows = self.merge(3, {"staging": "succeeded", "production": "refused"})
            def refusals():
                return [b for b in w.replies(3) if "<!-- modelbot:refused:" in b]
            try:
                wait(refusals, 30, "the refusal on PR #3")
            except TimeoutError:
                raise DemoFailed("no refusal was posted on PR #3") from None
            refusals = refusals()
            s.facts = {"deployments": {e: r.status for e, r in rows.items()},
                       "reasons": {e: r.reason for e, r in rows.items()}, "refusals": len(refusals)}
            sm = w.aws("sagemaker")
            live = sm.describe_endpoint(EndpointName=ENDPOINTS["production"])
            self.expect(live["EndpointConfigName"] == self.steps[6].facts["endpoint_config"],
                        "production changed although the deploy was refused")
            written = [x["ModelName"] for x in sm.list_models(MaxResults=100)["Models"]
                       if x["ModelName"] == f"tumor-classifier-production-{rows['production'].commit_sha[:7]}"]
            self.expect(not written, f"the refused deploy created {written} in production")
            s.shown = render("demo/refused.txt.j2", text=to_text(refusals[-1], indent="    │ "),
                             statuses=self.statuses(3))

        with self.step("PR #4 ships model v4: report and checks pass, bob approves") as s:
            self.open_pr(4, "v4", "build-104", "Tumor classifier v4: retrained", models)
            self.approve(4)
            s.facts = {"checks": {n: r.conclusion for n, r in w.checks(4).items()}}
            self.expect(w.checks(4)["modelbot/compare"].conclusion == "success",
                        f"PR #4's comparison: {w.checks(4)['modelbot/compare'].title}")
            s.shown = render("demo/checks.txt.j2", number=4, checks=self.show_checks(4))

        with self.step(f"PR #4 merged: the canary bakes, {ALARM} goes off, SageMaker rolls back") as s:
            fired: dict[str, Any] = {}

            def fire():
                wait(lambda: "bake" in (w.phase(ENDPOINTS["production"]) or ""), 150,
                     "PR #4's production canary to bake", interval=0.05)
                fired["phase"] = w.phase(ENDPOINTS["production"])
                w.aws("cloudwatch").set_alarm_state(AlarmName=ALARM, StateValue="ALARM",
                                                    StateReason="demo: 5xx errors on the canary fleet")
            try:
                rows = self.merge(4, {"staging": "succeeded", "production": "rolled_back"}, timeout=200, during=fire)
            finally:
                w.aws("cloudwatch").set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="demo: recovered")
            live = w.aws("sagemaker").describe_endpoint(EndpointName=ENDPOINTS["production"])
            s.facts = {"deployments": {e: r.status for e, r in rows.items()}, "alarm_at": fired.get("phase"),
                       "reason": rows["production"].reason, "endpoint_config": live["EndpointConfigName"]}
            self.expect(live["EndpointConfigName"] == self.steps[6].facts["endpoint_config"],
                        "production does not serve v2 again after the rollback")
            report = w.report(4)
            section = report[report.find("#### Deployment"):] if "#### Deployment" in report else ""
            s.shown = render("demo/rollback.txt.j2", alarm=ALARM, phase=fired.get("phase"),
                             statuses=self.statuses(4), reason=rows["production"].reason,
                             serving=live["EndpointConfigName"],
                             text=to_text(section, indent="    │ ") if section else "")

        with self.step("the ledger: what put the model on the production endpoint") as s:
            current = w.store.current_deployment("production", ENDPOINTS["production"])
            self.expect(current is not None and current.pr_number == 2,
                        f"the ledger names {current and current.pr_number} as production's, expected PR #2")
            prov = json.loads(current.provenance or "{}")
            tags = w.aws("sagemaker").list_tags(ResourceArn=w.aws("sagemaker").describe_endpoint(
                EndpointName=ENDPOINTS["production"])["EndpointArn"])["Tags"]
            s.facts = {"pr": current.pr_number, "commit": current.commit_sha,
                       "approvers": prov.get("approvers"), "tags": {t["Key"]: t["Value"] for t in tags}}
            t = s.facts["tags"]
            self.expect(t.get("modelbot:commit") == current.commit_sha and t.get("modelbot:pr") == "2"
                        and t.get("modelbot:build-id") == "build-102"
                        and t.get("modelbot:data-version") == "breast-cancer-2024-06",
                        f"the endpoint's tags do not name PR #2's commit, build and data: {t}")
            chain = trace(w.store, ENDPOINTS["production"], environment="production")
            serving = next((c for c in chain.chains if c.serving), None)
            self.expect(serving is not None and serving.deployment_id == current.id and serving.approvals,
                        "the ledger's trace does not name PR #2's deployment, with its approvals, as serving")
            s.shown = render("demo/ledger.txt.j2", row=current, prov=prov, tags=s.facts["tags"], serving=serving,
                             history=len(chain.chains), endpoint=ENDPOINTS["production"])
        self.expect(not w.gh.violations, f"the bot broke GitHub's contract: {w.gh.violations[:3]}")
        return self.steps


# --- entry point ----------------------------------------------------------------------------------


def run(data_dir: Path, once: bool, config: str | None = None, time_scale: float = DEFAULT_TIME_SCALE,
        backend_env: dict[str, str] | None = None, workers: int = 1) -> int:
    config_path = Path(config).resolve() if config else ROOT / "config" / "modelbot.demo.yaml"
    if config_path.is_relative_to(ROOT):  # the processes run in the checkout: name it as people do
        config_path = config_path.relative_to(ROOT)
    try:
        prepare_data_dir(data_dir)
    except DemoFailed as exc:
        print(f"modelbot demo: {exc}", file=sys.stderr)
        return 2
    world = World(data_dir.resolve(), config_path, time_scale, backend_env or {}, workers)
    started = time.monotonic()
    story: Story | None = None
    try:
        world.start()
        print(render("demo/header.txt.j2", w=world, scale=time_scale, speedup=round(1 / time_scale),
                     repo=REPO), flush=True)
        story = Story(world, out=lambda text: print(text, flush=True))
        steps = story.play()
        _record(data_dir, story, ok=True)
        print(render("demo/footer.txt.j2", w=world, seconds=round(time.monotonic() - started),
                     steps=steps, serving=not once, repo=REPO, token=_token(world)), flush=True)
        if not once:
            try:
                while True:
                    world.alive()
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 0
    except DemoFailed as exc:
        if story is not None:
            _record(data_dir, story, ok=False, error=str(exc))
        print(render("demo/failed.txt.j2", error=str(exc), logs=world.log_tails(), data_dir=data_dir),
              file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        world.close()


def _token(world: World) -> str:
    try:
        return world.gh.mint_token(world.installation_id)
    except Exception:  # noqa: BLE001 - only for the "look around" hint
        return ""


def _record(data_dir: Path, story: Story, ok: bool, error: str | None = None) -> None:
    steps = [{"number": s.number, "title": s.title, "ok": s.ok, "seconds": s.seconds, "facts": s.facts}
             for s in story.steps]
    (data_dir / "steps.json").write_text(json.dumps({"ok": ok, "error": error, "steps": steps}, indent=2,
                                                     default=str))
