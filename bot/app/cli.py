"""The `modelbot` command: serve, worker, migrate (and more as features land)."""

from __future__ import annotations

import argparse
import os
import sys

from bot.core.config import ConfigError, load_settings


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
    argv = ["gunicorn", "-c", "python:bot.app.gunicorn_conf"]
    if args.bind:
        argv += ["--bind", args.bind]
    if args.workers:
        argv += ["--workers", str(args.workers)]
    argv.append("bot.app.wsgi:app")
    os.execvp(sys.executable, [sys.executable, "-m", *argv])
    return 0  # pragma: no cover


def cmd_worker(args) -> int:
    from bot.app.features import load_router
    from bot.core.logs import add_redactions, configure
    from bot.adapters.migrate import migrate
    from bot.adapters.queue import Queue
    from bot.adapters.store import Store
    from bot.app.worker import Runtime, run_worker

    settings = _settings(require_secrets=False)
    configure(os.environ.get("MODELBOT_LOG_LEVEL", "INFO"))
    # The worker writes every comment and check run: the webhook secrets are masked there too.
    add_redactions(s.get() for s in settings.webhook_secrets)
    github_app = None
    store = Store(settings.database_url)
    migrate(store.engine)
    if settings.github_app_id and settings.github_private_key:
        from bot.adapters.github import GitHubApp

        # The pacer's book is the store: every worker process and thread shares one budget.
        github_app = GitHubApp(settings.github_app_id, settings.github_private_key, settings.github_api_url,
                               limits=settings.github_limits(), book=store)
        add_redactions([settings.github_private_key.get()])
    runtime = Runtime(settings, store, Queue(settings), load_router(), github_app)
    run_worker(runtime, workers=args.threads, reap_every=args.reap_every)
    return 0


def cmd_migrate(args) -> int:
    from bot.adapters.migrate import migrate
    from bot.adapters.store import make_engine

    settings = _settings(require_secrets=False)
    engine = make_engine(settings.database_url)
    migrate(engine)
    print(f"modelbot: schema up to date ({settings.store_backend})")
    return 0


def cmd_demo(args) -> int:
    from pathlib import Path

    from bot.app.demo import run

    return run(Path(args.data_dir), once=args.once, config=args.config, time_scale=args.time_scale)


def _time_scale(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.001 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0.001 and 1")
    return value


def cmd_check(args) -> int:
    from bot.app.check import check_command

    return check_command(args.path, envs=args.env, fmt=args.format, live=not args.no_live,
                         config=args.config, commit=args.commit, compare=not args.no_compare)


def cmd_samples(args) -> int:
    from bot.app.samples import samples_command

    return samples_command(args.manifest, rows=args.rows, write=args.write)


def cmd_trace(args) -> int:
    from bot.app.trace_cli import trace_command

    return trace_command(args.subject, environment=args.env, repository=args.repository, fmt=args.format,
                         config=args.config)


def cmd_register(args) -> int:
    from bot.app.install import InstallError, register

    opener = None
    if not args.no_browser:
        import webbrowser

        opener = webbrowser.open
    try:
        return register(url=args.url, github_url=args.github, api_url=args.api, org=args.org, name=args.name,
                        port=args.port, out_dir=args.out, timeout=args.timeout, open_browser=opener)
    except InstallError as exc:
        print(f"modelbot register: {exc}", file=sys.stderr)
        return 2


def cmd_init(args) -> int:
    from bot.app.install import InstallError, init_config

    repositories = list(args.repository or []) + [f"{org}/*" for org in args.org or []]
    try:
        path = init_config(out=args.out, repositories=repositories, region=args.region,
                           environment=args.environment, execution_role_arn=args.execution_role_arn,
                           force=args.force)
    except InstallError as exc:
        print(f"modelbot init: {exc}", file=sys.stderr)
        return 2
    from bot.core.config import DEFAULT_CONFIG_PATH
    from bot.core.render import render

    print(render("install/init_done.txt.j2", path=str(path), default=DEFAULT_CONFIG_PATH), end="")
    return 0


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

    p = sub.add_parser("demo", help="the whole lifecycle against a local GitHub and a local SageMaker")
    p.add_argument("--data-dir", default="var/demo", help="emptied and reused by each run (default var/demo)")
    p.add_argument("--config", default=None, help="server config (default config/modelbot.demo.yaml)")
    p.add_argument("--once", action="store_true", help="stop after the demonstration instead of serving")
    p.add_argument("--time-scale", type=_time_scale, default=0.02,
                   help="real seconds per SageMaker second (default 0.02: 50x faster; 1 is AWS's pace)")
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

    p = sub.add_parser("samples", help="sample payloads for a manifest's contract, from its validation set")
    p.add_argument("manifest", help="the manifest file (with `contract:` and `validation:`)")
    p.add_argument("--rows", type=int, default=5, help="how many rows, spread over the set (1-20, default 5)")
    p.add_argument("--write", action="store_true", help="write them to `contract.samples.path` instead of stdout")
    p.set_defaults(func=cmd_samples)

    p = sub.add_parser("trace", help="the ledger's chain behind an endpoint's model, now and before")
    p.add_argument("subject", help="an endpoint name, a SageMaker ARN (endpoint, endpoint-config, model) "
                                   "or a tag: modelbot:commit=SHA, modelbot:pr=N, modelbot:build-id=ID, "
                                   "modelbot:data-version=V")
    p.add_argument("--env", help="only this environment")
    p.add_argument("--repository", metavar="OWNER/NAME", help="only this repository (PR numbers are per repository)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--config", help="server config file (default MODELBOT_CONFIG or config/modelbot.yaml)")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("register", help="register the GitHub App through GitHub's manifest flow")
    p.add_argument("--url", required=True,
                   help="the bot's public base URL; GitHub sends webhooks to URL/webhook")
    p.add_argument("--org", help="register the App under this organization (default: your personal account)")
    p.add_argument("--name", help="the App's name (default from config/github-app-manifest.yaml)")
    p.add_argument("--github", default="https://github.com", help="GitHub's web URL (GitHub Enterprise: its host)")
    p.add_argument("--api", help="GitHub's API URL (default api.github.com, or GITHUB/api/v3 for Enterprise)")
    p.add_argument("--port", type=int, default=3000, help="local port of the registration page (default 3000)")
    p.add_argument("--out", default="var/github-app", help="directory for the App id, webhook secret and key")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for GitHub's redirect")
    p.add_argument("--no-browser", action="store_true", help="print the local URL without opening a browser")
    p.set_defaults(func=cmd_register)

    p = sub.add_parser("init", help="write the minimal server config")
    p.add_argument("--out", default="config/modelbot.yaml", help="where to write it (default config/modelbot.yaml)")
    p.add_argument("--repository", action="append", metavar="OWNER/NAME", help="a repository to serve (repeatable)")
    p.add_argument("--org", action="append", metavar="ORG", help="serve every repository of ORG (repeatable)")
    p.add_argument("--region", default="us-east-1", help="AWS region of the first environment (default us-east-1)")
    p.add_argument("--environment", default="staging", help="name of the first environment (default staging)")
    p.add_argument("--execution-role-arn", help="the IAM role SageMaker runs models as (needed to deploy)")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_init)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
