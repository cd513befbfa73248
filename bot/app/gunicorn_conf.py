"""gunicorn settings for the web process (the root gunicorn.conf.py points here).

The master validates the configuration and migrates the schema before forking, so a bad
setting stops start-up with one clear line instead of a crash loop in every worker. The
migration runs in a child process: alembic and mako stay out of the master, and so out of
every forked worker's memory.
"""

import os
import shutil
import subprocess
import sys
import tempfile

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads, not sync workers: a client that sends its body slowly holds one thread until the web
# adapter's body deadline (bot.app.web.BODY_DEADLINE_SECONDS) cuts it off with a 408, instead of a
# whole worker until gunicorn's timeout kills it. 64 threads per worker keep GitHub's deliveries
# answered while dozens of connections trickle; a buffering proxy in front (README, "Running in
# production") takes the rest. Idle threads cost no CPU; gunicorn starts them only when needed.
worker_class = "gthread"
threads = 64
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = os.environ.get("MODELBOT_LOG_LEVEL", "info").lower()
limit_request_field_size = 16384
limit_request_fields = 100
# No control socket: gunicorn's default is one path per user ($XDG_RUNTIME_DIR or ~/.gunicorn),
# shared by every `modelbot serve` of that user, and modelbot never uses gunicornc.
control_socket_disable = True
# /dev/shm keeps worker heartbeats off slow disks in containers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Prometheus counters of all workers meet in one directory, emptied at every start.
_OWN_PROM_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_PROM_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="modelbot-prom-")


def on_starting(server):
    from bot.core.config import ConfigError, load_settings

    try:
        settings = load_settings()
        settings.validate_deep(compare=False)  # a malformed block stops start-up here
    except ConfigError as exc:
        print(f"modelbot: configuration error:\n{exc}", file=sys.stderr)
        sys.exit(2)
    prom = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(prom, exist_ok=True)
    for name in os.listdir(prom):
        if name.endswith(".db"):
            os.remove(os.path.join(prom, name))
    done = subprocess.run([sys.executable, "-m", "bot.app.cli", "migrate"], check=False)
    if done.returncode != 0:
        print("modelbot: the schema migration failed (see above)", file=sys.stderr)
        sys.exit(2)


def on_exit(server):
    if _OWN_PROM_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    # Slow headers are cut off too (bot.app.web.guard_header_reads), not only slow bodies.
    from bot.app.web import guard_header_reads

    guard_header_reads(worker)


def pre_request(worker, req):
    from bot.app.web import headers_read

    headers_read()
