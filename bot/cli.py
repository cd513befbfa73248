"""The `modelbot` command: serve, worker, migrate (and more as features land)."""

from __future__ import annotations

import argparse
import os
import sys

from .config import ConfigError, load_settings


def _settings(require_secrets: bool):
    try:
        settings = load_settings(require_secrets=require_secrets)
        settings.validate_deep()
        return settings
    except ConfigError as exc:
        print(f"modelbot: configuration error:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args) -> int:
    _settings(require_secrets=True)  # fail fast with a readable message
    argv = ["gunicorn", "-c", "python:bot.gunicorn_conf"]
    if args.bind:
        argv += ["--bind", args.bind]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    argv.append("bot.wsgi:app")
    os.execvp(sys.executable, [sys.executable, "-m", *argv])
    return 0  # pragma: no cover


def cmd_worker(args) -> int:
    from .features import load_router
    from .logs import add_redactions, configure
    from .migrate import migrate
    from .queue import Queue
    from .store import Store
    from .worker import Runtime, run_worker

    settings = _settings(require_secrets=False)
    configure(os.environ.get("MODELBOT_LOG_LEVEL", "INFO"))
    github_app = None
    if settings.github_app_id and settings.github_private_key:
        from .github import GitHubApp

        github_app = GitHubApp(settings.github_app_id, settings.github_private_key, settings.github_api_url,
                               write_interval=settings.github_write_interval)
        add_redactions([settings.github_private_key.get()])
    store = Store(settings.database_url)
    migrate(store.engine)
    runtime = Runtime(settings, store, Queue(settings), load_router(), github_app)
    run_worker(runtime, workers=args.threads, reap_every=args.reap_every)
    return 0


def cmd_migrate(args) -> int:
    from .migrate import migrate
    from .store import make_engine

    settings = _settings(require_secrets=False)
    engine = make_engine(settings.database_url)
    migrate(engine)
    print(f"modelbot: schema up to date ({settings.store_backend})")
    return 0


def cmd_demo(args) -> int:
    from pathlib import Path

    from .demo import run

    return run(Path(args.data_dir), once=args.once, config=args.config)


def cmd_check(args) -> int:
    from .check import check_command

    return check_command(args.path, envs=args.env, fmt=args.format, live=not args.no_live,
                         config=args.config, commit=args.commit, compare=not args.no_compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the web process (gunicorn)")
    p.add_argument("--bind", help="host:port (default from HOST/PORT, 0.0.0.0:8000)")
    p.add_argument("--workers", type=int, help="gunicorn workers (default WEB_CONCURRENCY or 2)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run the queue worker")
    p.add_argument("--threads", type=int, default=int(os.environ.get("MODELBOT_WORKER_THREADS", "4")))
    p.add_argument("--reap-every", type=float, default=float(os.environ.get("MODELBOT_REAP_EVERY", "15")),
                   help="seconds between checks for deliveries the queue lost")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="bring the database schema up to date")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("demo", help="run web + worker on embedded defaults and send signed deliveries")
    p.add_argument("--data-dir", default="var/demo")
    p.add_argument("--config", default=os.environ.get("MODELBOT_CONFIG", "config/modelbot.yaml"))
    p.add_argument("--once", action="store_true", help="stop after the demonstration instead of serving")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("check", help="validate, policy-check and plan manifests in a local checkout")
    p.add_argument("path", nargs="?", default=".",
                   help="a manifest file, or a directory searched with the manifest globs (default .)")
    p.add_argument("--env", action="append", metavar="ENV",
                   help="check and plan only this environment (repeatable)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--no-live", action="store_true", help="do not read live state from AWS")
    p.add_argument("--no-compare", action="store_true",
                   help="skip the baseline comparison of manifests with a validation section")
    p.add_argument("--config", help="server config file (default MODELBOT_CONFIG or config/modelbot.yaml)")
    p.add_argument("--commit", help="commit id for resource names (default: git HEAD of PATH)")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
