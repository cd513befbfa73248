"""The production recipe agrees with the code: Dockerfile, compose.yaml, Procfile, config/nginx.conf.

No docker needed: each file is parsed and held against what the code reads or the Procfile runs.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"


# --- readers (values in, values out) -----------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    return instructions[starts[-1]:]


def exec_form(args: str) -> list[str]:
    import json

    value = json.loads(args) if args.startswith("[") else shlex.split(args)
    return [str(v) for v in value]


def arg_defaults(instructions: list[tuple[str, str]]) -> dict[str, str]:
    defaults = {}
    for word, args in instructions:
        if word == "ARG" and "=" in args:
            name, _, value = args.partition("=")
            defaults[name.strip()] = value.strip()
    return defaults


def pip_install_extras(instructions: list[tuple[str, str]]) -> set[str]:
    """Extras of the project (`.`) that the Dockerfile's pip install lines install, ARGs expanded."""
    defaults = arg_defaults(instructions)
    extras: set[str] = set()
    for word, args in instructions:
        if word != "RUN" or "pip install" not in args:
            continue
        expanded = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults.get(m.group(1) or m.group(2), ""), args)
        for token in shlex.split(expanded):
            m = re.fullmatch(r"\.\[([^\]]*)\]", token)
            if m:
                extras |= {e.strip() for e in m.group(1).split(",") if e.strip()}
    return extras


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = shlex.split(command)
    return entries


def env_names_read_by_bot() -> set[str]:
    """Every environment variable name the bot package reads: env.get("X"), os.environ["X"], ..."""
    pattern = re.compile(r"""\b(?:env|environ)(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]*)["']""")
    names = set()
    for path in BOT.rglob("*.py"):
        names |= set(pattern.findall(path.read_text()))
    return names


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def services_of_image(doc: dict) -> dict[str, dict]:
    """The compose services that run the image built from this repository's Dockerfile."""
    return {name: svc for name, svc in doc["services"].items() if svc.get("build") in (".", {"context": "."})}


def mount_target(volume: str) -> str:
    """The container path of a short-syntax volume (`SRC:TARGET[:MODE]`, SRC may hold `${X:-y}`)."""
    rest = re.sub(r":(ro|rw)$", "", volume)
    return rest.rsplit(":", 1)[-1]


def nginx_directives(text: str) -> list[tuple[str, list[str]]]:
    """(directive, arguments) of every simple directive, wherever it is (comments dropped)."""
    text = re.sub(r"#[^\n]*", "", text)
    return [(m.group(1), m.group(2).split()) for m in re.finditer(r"(?m)^\s*([a-z_]+)\s+([^;{}]*);", text)]


def nginx_seconds(value: str) -> float:
    """nginx time syntax (`5s`, `500ms`, `1m`, bare seconds) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "": 1}
    total = 0.0
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|)", value):
        total += int(number) * units[unit]
    return total


# --- the rules -----------------------------------------------------------------------------------


DOCKERFILE = dockerfile_instructions((ROOT / "Dockerfile").read_text())


def test_the_image_installs_the_compare_extra():
    extras = pip_install_extras(DOCKERFILE)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "compare" in declared, "pyproject.toml lost its compare extra"
    assert "compare" in extras, f"the Dockerfile installs extras {sorted(extras)}, not compare (local scoring)"
    assert extras <= set(declared), f"the Dockerfile names extras pyproject.toml lacks: {sorted(extras - set(declared))}"


def test_the_base_image_is_pinned_and_pip_keeps_no_cache():
    defaults = arg_defaults(DOCKERFILE)
    for word, args in DOCKERFILE:
        if word == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), ""), args.split()[0])
            if image in {"build", "runtime"}:
                continue
            name, _, tag = image.partition(":")
            assert re.match(r"\d+\.\d+\.\d+", tag), f"FROM {image}: pin a full version tag, not a moving one"
        if word == "RUN" and "pip install" in args:
            assert "--no-cache-dir" in args, f"RUN {args}: pip install without --no-cache-dir"


def test_the_image_runs_as_a_non_root_user():
    users = [args for word, args in final_stage(DOCKERFILE) if word == "USER"]
    assert users, "the final stage has no USER: the bot would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_the_image_command_is_the_procfile_web_command_with_the_gunicorn_conf():
    stage = final_stage(DOCKERFILE)
    assert not [a for w, a in stage if w == "ENTRYPOINT"], "an ENTRYPOINT would stop `docker run IMAGE modelbot worker`"
    cmd = exec_form([a for w, a in stage if w == "CMD"][-1])
    web = procfile()["web"]
    assert cmd == web, f"Dockerfile CMD {cmd} is not the Procfile's web command {web}"
    conf = cmd[cmd.index("-c") + 1]
    copied = [a.split() for w, a in stage if w == "COPY" and "--from" not in a]
    assert any(conf in parts[:-1] for parts in copied), f"{conf} is not copied into the image"
    assert "bot.app.gunicorn_conf" in (ROOT / conf).read_text(), f"{conf} does not load bot/app/gunicorn_conf.py"


def test_the_healthcheck_probes_a_route_the_web_serves():
    checks = [a for w, a in final_stage(DOCKERFILE) if w == "HEALTHCHECK"]
    assert checks, "no HEALTHCHECK"
    paths = re.findall(r"https?://[^/'\"]+(/[\w/]+)", checks[-1])
    routes = set(re.findall(r'@app\.get\("([^"]+)"\)', (BOT / "app" / "web.py").read_text()))
    assert paths and set(paths) <= routes, f"HEALTHCHECK probes {paths}; the web serves {sorted(routes)}"


def test_compose_commands_are_the_procfile_commands():
    doc, entries = compose(), procfile()
    ours = services_of_image(doc)
    assert {"web", "worker"} <= set(ours)
    for name in ("web", "worker"):
        command = ours[name]["command"]
        command = command if isinstance(command, list) else shlex.split(command)
        assert command == entries[name], f"compose {name}: {command}, Procfile {name}: {entries[name]}"


def test_every_variable_compose_sets_is_one_the_bot_reads():
    known = env_names_read_by_bot()
    assert {"DATABASE_URL", "REDIS_URL", "MODELBOT_WEBHOOK_SECRETS", "GITHUB_APP_ID"} <= known
    for name, svc in services_of_image(compose()).items():
        env = svc.get("environment") or {}
        names = set(env) if isinstance(env, dict) else {item.split("=", 1)[0] for item in env}
        assert not svc.get("env_file"), f"{name}: env_file passes unnamed variables; name each in environment"
        assert names, f"{name}: sets no environment"
        unknown = names - known
        assert not unknown, f"compose service {name} sets {sorted(unknown)}, which no code in bot/ reads"


def test_compose_runs_several_processes_on_postgres_and_redis():
    doc = compose()
    web, worker = doc["services"]["web"], doc["services"]["worker"]
    concurrency = re.search(r"(\d+)\}?$", str(web["environment"]["WEB_CONCURRENCY"]))
    assert concurrency and int(concurrency.group(1)) >= 2, "web: fewer than 2 gunicorn workers"
    assert worker["deploy"]["replicas"] >= 2
    for name in ("web", "worker"):
        svc = doc["services"][name]
        env = svc["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        for dep in ("postgres", "redis"):
            assert svc["depends_on"][dep]["condition"] == "service_healthy", f"{name} -> {dep}"
            assert "healthcheck" in doc["services"][dep], f"{dep} has no healthcheck to wait for"
        assert svc["restart"] in {"always", "unless-stopped", "on-failure"}
        mounts = [v for v in svc["volumes"] if mount_target(v) == env["MODELBOT_CONFIG"]]
        assert mounts and mounts[0].endswith(":ro"), f"{name}: the server config is not mounted read-only"
    key_path = worker["environment"]["GITHUB_PRIVATE_KEY_PATH"]
    assert key_path == f"/run/secrets/{worker['secrets'][0]}", "the private key path is not the mounted secret"


def test_the_proxy_buffers_requests_and_cuts_slow_clients_within_ten_seconds():
    directives = nginx_directives((ROOT / "config" / "nginx.conf").read_text())
    values: dict[str, list[list[str]]] = {}
    for name, args in directives:
        values.setdefault(name, []).append(args)
    assert values.get("proxy_request_buffering") and all(a == ["on"] for a in values["proxy_request_buffering"])
    for name in ("client_header_timeout", "client_body_timeout"):
        assert name in values, f"config/nginx.conf does not set {name} (nginx's default is 60 s)"
        for args in values[name]:
            assert nginx_seconds(args[0]) <= 10, f"{name} {args[0]}: more than 10 s"


def test_the_proxy_forwards_to_the_web_service_port():
    directives = nginx_directives((ROOT / "config" / "nginx.conf").read_text())
    upstreams = [args[0] for name, args in directives if name == "server"]
    port = arg_defaults(DOCKERFILE).get("PORT") or re.search(r"PORT=(\d+)", (ROOT / "Dockerfile").read_text()).group(1)
    assert upstreams and all(u == f"web:{port}" for u in upstreams), f"upstreams {upstreams}, web listens on {port}"
    doc = compose()
    proxy = doc["services"]["proxy"]
    assert any(v.startswith("./config/nginx.conf:") and v.endswith(":ro") for v in proxy["volumes"])


@pytest.mark.parametrize(("value", "seconds"), [("5s", 5), ("500ms", 0.5), ("1m", 60), ("12", 12), ("1m30s", 90)])
def test_nginx_time_syntax(value, seconds):
    assert nginx_seconds(value) == seconds
