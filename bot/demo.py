"""`modelbot demo`: the bot on embedded defaults, end to end on this machine.

Starts gunicorn and a worker on SQLite (store and queue), then sends signed deliveries the way
GitHub would: a ping and an installation that handlers process, a redelivery, a forged
signature, an unhandled event and a repository outside the allowlist, and shows what happened.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from .config import load_settings
from .intake import sign
from .render import render
from .store import Store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, event: str, payload: dict, secret: str, delivery_id: str | None = None) -> tuple[int, str, str]:
    body = json.dumps(payload).encode()
    did = delivery_id or str(uuid.uuid4())
    req = urllib.request.Request(url + "/webhook", data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/demo", "X-GitHub-Event": event,
        "X-GitHub-Delivery": did, "X-Hub-Signature-256": sign(secret, body)})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())["outcome"], did
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())["outcome"], did


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def run(data_dir: Path, once: bool, config: str) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    secret_file = data_dir / "webhook-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(20))
        secret_file.chmod(0o600)
    secret = secret_file.read_text().strip()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"MODELBOT_DATA_DIR": str(data_dir), "MODELBOT_CONFIG": config,
                "MODELBOT_WEBHOOK_SECRETS": secret, "MODELBOT_REAP_EVERY": "2"})
    settings = load_settings(env)
    repo = settings.server.repositories[0].replace("*", "demo") if settings.server.repositories else "acme/models"
    logs = open(data_dir / "demo.log", "ab")
    web = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--bind", f"127.0.0.1:{port}",
                            "--workers", "2"], env=env, stdout=logs, stderr=subprocess.STDOUT)
    worker = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env, stdout=logs,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def healthy():
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    return True
            except OSError:
                return web.poll() is not None
        _wait(healthy, 30)
        if web.poll() is not None:
            print(f"modelbot demo: the web process exited; see {data_dir / 'demo.log'}", file=sys.stderr)
            return 1
        store = Store(settings.database_url)
        installation = {"id": 4242, "account": {"login": repo.split("/")[0]}}
        results = []

        def send(label, event, payload, key=secret, delivery_id=None):
            status, outcome, did = _post(url, event, payload, key, delivery_id)
            results.append({"label": label, "status": status, "outcome": outcome, "did": did, "after": ""})
            return did

        ping = send("ping", "ping", {"zen": "Design for failure.", "hook_id": 1,
                                     "repository": {"full_name": repo}, "installation": installation})
        send("installation.created", "installation", {"action": "created", "installation": installation})
        send("ping again (redelivery)", "ping", {"zen": "again", "repository": {"full_name": repo}},
             delivery_id=ping)
        send("ping with a forged signature", "ping", {"zen": "forged"}, key="not-the-secret")
        send("issues.opened (not handled)", "issues", {"action": "opened", "repository": {"full_name": repo}})
        send("ping from a foreign repository", "ping", {"zen": "x", "repository": {"full_name": "evil/repo"}})

        def all_done():
            rows = [store.get_delivery(r["did"]) for r in results if r["outcome"] == "queued"]
            return all(row is not None and row.status in ("done", "failed") for row in rows)
        _wait(all_done, 30)
        for r in results:
            row = store.get_delivery(r["did"]) if r["outcome"] in ("queued", "duplicate") else None
            r["after"] = f"handled: {row.status} after {row.attempts} attempt(s)" if row else "not recorded"
        with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
            metrics = [ln for ln in resp.read().decode().splitlines()
                       if ln.startswith("modelbot_") and "_bucket" not in ln]
        print(render("cli/demo.txt.j2", web_url=url, store=settings.store_backend, queue=settings.queue_backend,
                     data_dir=data_dir, results=results, metrics=metrics, serving=not once,
                     secret_file=secret_file), end="")
        store.dispose()
        if not once:
            try:
                while web.poll() is None and worker.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        ok = all(r["after"].startswith("handled: done") for r in results if r["outcome"] == "queued")
        return 0 if ok else 1
    finally:
        for proc in (worker, web):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (worker, web):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()
