"""Start real modelbot processes (gunicorn web, worker) for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELBOT_", "DATABASE_URL", "REDIS_URL"))}
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _log_path(env: dict[str, str], name: str) -> Path:
    d = Path(env.get("MODELBOT_DATA_DIR", "/tmp"))
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{name}.log"


@contextmanager
def web_process(env: dict[str, str], workers: int = 1):
    """gunicorn serving bot.app.wsgi:app on a free loopback port; yields the base URL."""
    port = free_port()
    log = open(_log_path(env, f"web-{port}"), "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.app.cli", "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        env=_env(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    proc.log_file = log  # type: ignore[attr-defined] - closed by stop()
    url = f"http://127.0.0.1:{port}"

    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"web process exited with {proc.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, timeout=30, what="gunicorn /healthz")
        yield url
    finally:
        stop(proc)


def start_worker(env: dict[str, str], name: str = "worker") -> subprocess.Popen:
    log = open(_log_path(env, name), "ab")
    proc = subprocess.Popen([sys.executable, "-m", "bot.app.cli", "worker", "--threads", "2"],
                            env=_env(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    proc.log_file = log  # type: ignore[attr-defined]
    return proc


def post_delivery(url: str, event: str, payload: dict, secret: str, delivery_id: str) -> tuple[int, dict]:
    """POST a delivery to a running web process, signed as GitHub signs it: (status, JSON answer)."""
    import json
    import urllib.error

    from tests.support import webhooks

    body, headers = webhooks.delivery(payload, event, secret, delivery_id)
    req = urllib.request.Request(url + "/webhook", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log = getattr(proc, "log_file", None)
    if log:
        log.close()
