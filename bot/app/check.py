"""`modelbot check`: the pull-request report's validation, policy and plan, on a local checkout.

`check_files(files, settings, ...)` runs `bot.core.review.review` (the logic the pull-request report
uses) over manifest texts: each manifest is loaded, its environments checked against the server
config, the policy checked (at `now`) and every environment planned, reading what is live
through `live_reader(env, endpoint_name) -> LiveState` (the AWS adapter). When there is no
reader, or it raises `AwsUnavailable`, the plan is made against the desired state only (an
empty `LiveState`: everything is created) and the result says why.
`run_check(root, settings, ...)` finds and reads the manifest files under a directory (the
server's manifest globs, relative to it) or a single file first. `check_command` is the CLI.

Exit codes: 0 every manifest valid and within policy (warnings allowed), 1 any error-severity
problem or blocked plan, 2 usage or configuration error.

JSON output (`--format json`), `"version": 1`; keys are only ever added:

    {"version": 1, "ok": bool, "exit_code": 0 | 1,
     "root": str, "config": str, "commit": str, "environments": [str] | null,
     "summary": {"files": int, "errors": int, "warnings": int, "plans": int, "blocked": int},
     "files": [
       {"path": str, "valid": bool,                 # valid: the manifest loaded without errors
        "problems": [Problem.to_dict(), ...],       # manifest, environment, policy, plan problems
        "plans": {"<env>": {
            "live": {"read": bool, "reason": str | null},   # reason: why desired state only
            "kind": "create" | "update" | "no_changes" | "teardown" | "run_batch",
            "headline": str, "blocked": bool, "mode": str, "strategy": str,
            "names": {"model", "endpoint_config", "endpoint", "transform_job"},
            "actions": [{"verb", "resource", "name", "detail"}],
            "variants": [{"name", "model_name", "role", "instance_type", "instance_count",
                          "weight", "serverless_memory_mb", "serverless_max_concurrency",
                          "model_digest", "new_model"}],
            "traffic_steps": [{"candidate_percent", "wait_seconds", "description"}],
            "total_wait_seconds": int, "rollback_alarms": [str],
            "instance_changes": [{"what", "before", "after"}], "autoscaling_changes": [...],
            "cost": {"before_per_hour", "after_per_hour", "delta_per_hour", "peak_per_hour",
                     "max_per_hour", "usage_based", "notes"},   # USD/hour; null if unknown
            "tags": {str: str}, "notes": [str], "requires_explicit_approval": bool,
            "config_digest": str | null}}}],
     "comparisons": [bot.app.services.comparison.CompareOutcome.to_dict(), ...]}   # unless --no-compare
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from bot.core import clock
from bot.core.config import DEFAULT_CONFIG_PATH, ConfigError, ServerConfig, Settings, load_settings
from bot.core.manifest import MAX_BYTES, Problem, select_manifests, sort_problems
from bot.core.plan import short_commit
from bot.core.render import render
from bot.core.review import LiveReader, ManifestChange, ManifestReview, EnvironmentReview, Review, review
from bot.adapters.worktree import repository_root

JSON_VERSION = 1
UNKNOWN_COMMIT = "0000000"
_SKIP_DIRS = {".git", ".hg", ".svn"}

class UsageError(Exception):
    """The command was asked for something impossible (no such path, unknown environment)."""


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """A `Review` of the manifests found, and what the command was asked."""

    root: str
    config_path: str
    globs: tuple[str, ...]
    commit: str
    environments: tuple[str, ...] | None
    review: Review

    @property
    def files(self) -> tuple[ManifestReview, ...]:
        return self.review.manifests

    @property
    def errors(self) -> int:
        return len(self.review.errors)

    @property
    def warnings(self) -> int:
        return len(self.review.warnings)

    @property
    def plans(self) -> int:
        return sum(len(f.environments) for f in self.files)

    @property
    def blocked(self) -> int:
        return sum(1 for f in self.files for e in f.environments if e.plan.blocked)

    @property
    def ok(self) -> bool:
        return self.review.ok

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON structure (see the module docstring)."""
        return {
            "version": JSON_VERSION, "ok": self.ok, "exit_code": self.exit_code,
            "root": self.root, "config": self.config_path, "commit": self.commit,
            "environments": list(self.environments) if self.environments is not None else None,
            "summary": {"files": len(self.files), "errors": self.errors, "warnings": self.warnings,
                        "plans": self.plans, "blocked": self.blocked},
            "files": [{"path": f.path, "valid": f.manifest is not None,
                       "problems": [p.to_dict() for p in f.all_problems],
                       "plans": {e.environment: _plan_dict(e) for e in f.environments}}
                      for f in self.files],
        }


def _plan_dict(e: EnvironmentReview) -> dict[str, Any]:
    p = e.plan
    return {
        "live": {"read": e.live == "read", "reason": e.live_note},
        "kind": p.kind, "headline": p.headline, "blocked": p.blocked, "mode": p.mode,
        "strategy": p.strategy, "names": asdict(p.names),
        "actions": [asdict(a) for a in p.actions],
        "variants": [asdict(v) for v in p.variants],
        "traffic_steps": [asdict(s) for s in p.traffic_steps],
        "total_wait_seconds": p.total_wait_seconds,
        "rollback_alarms": list(p.rollback_alarms),
        "instance_changes": [asdict(c) for c in p.instance_changes],
        "autoscaling_changes": [asdict(c) for c in p.autoscaling_changes],
        "cost": {**asdict(p.cost), "notes": list(p.cost.notes), "delta_per_hour": p.cost.delta_per_hour},
        "tags": dict(p.tags), "notes": list(p.notes),
        "requires_explicit_approval": p.requires_explicit_approval,
        "config_digest": p.config_digest,
    }


# --- the check --------------------------------------------------------------------------------


def _selected_envs(settings: Settings, envs: Iterable[str] | None) -> tuple[str, ...] | None:
    if envs is None:
        return None
    chosen = tuple(dict.fromkeys(envs))
    known = settings.server.environments
    unknown = [e for e in chosen if e not in known]
    if unknown:
        raise UsageError(f"unknown environment(s) {', '.join(unknown)}; {settings.config_path} "
                         f"defines: {', '.join(sorted(known)) or '(none)'}")
    return chosen


def check_files(files: Sequence[tuple[str, bytes | str]], settings: Settings, *,
                envs: Iterable[str] | None = None, live_reader: LiveReader | None = None,
                now: dt.datetime, commit: str = UNKNOWN_COMMIT, root: str = "",
                globs: Sequence[str] = ()) -> CheckResult:
    """Validate, policy-check and plan each `(path, text)` manifest, as the PR report does.

    `envs` limits policy checks and plans to those environments (each must be in the server
    config; UsageError otherwise); unknown environments in a manifest are reported either way.
    Raises ConfigError when the server config's policy is malformed.
    """
    selected = _selected_envs(settings, envs)
    changes = [ManifestChange(path, "modified", text.encode() if isinstance(text, str) else text)
               for path, text in files]
    result = review(changes, known_environments=settings.server.ordered_environments(),
                    policy=settings.policy, commit=commit, now=now, live_reader=live_reader,
                    prices=settings.server.prices, environments=selected, config_source=settings.config_path,
                    server_known=settings.config_path != NO_SERVER_CONFIG)
    return CheckResult(root, settings.config_path, tuple(globs), commit, selected, result)


def find_manifests(root: Path, globs: Sequence[str]) -> list[str]:
    """Paths (POSIX, relative to `root`) of the files under `root` that match `globs`.

    Walks only below each glob's literal leading directories, and no deeper than a glob
    without `**` can match; version-control directories are skipped.
    """
    found: set[str] = set()
    for glob in globs:
        parts = [p for p in glob.strip("/").split("/") if p]
        if not parts:
            continue
        literal = []
        for part in parts[:-1]:
            if any(c in part for c in "*?["):
                break
            literal.append(part)
        start = root.joinpath(*literal)
        if not start.is_dir():
            continue
        max_depth = None if "**" in parts else len(parts) - 1 - len(literal)
        for dirpath, dirnames, filenames in os.walk(start):
            depth = len(Path(dirpath).relative_to(start).parts)
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS
                                 and (max_depth is None or depth < max_depth))
            for name in filenames:
                found.add((Path(dirpath) / name).relative_to(root).as_posix())
    return select_manifests(found, globs)


def _read(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(MAX_BYTES + 1)  # the loader reports a file over the limit


OUTSIDE_RULE = "check.outside-repository"


def outside(repo: Path, path: Path) -> Path | None:
    """Where `path` really is (every symlink followed) when that is outside `repo`, else None.
    Pure path logic over what the file system says; `repo` is resolved."""
    real = path.resolve()
    return None if real == repo or repo in real.parents else real


def _outside_problem(shown: str, real: Path, repo: Path, *, line: int = 1, column: int = 1,
                     field: str = "", value: str | None = None, what: str = "the manifest") -> Problem:
    return Problem(shown, line, column, field, value,
                   f"{what} resolves to {real}, outside the repository {repo} (through a symlink or "
                   f"`..`): not read", "a path inside the repository", OUTSIDE_RULE)


def _repository_paths(m: ManifestReview) -> list[tuple[tuple[str, ...], str]]:
    """(field path, value) of the repository files a manifest's comparison reads locally."""
    validation = m.manifest.validation if m.manifest is not None else None
    if validation is None:
        return []
    out = []
    if validation.dataset.path:
        out.append((("validation", "dataset", "path"), validation.dataset.path))
    if validation.predictions.path:
        out.append((("validation", "predictions", "path"), validation.predictions.path))
    return out


def confine(result: Review, repo: Path) -> Review:
    """`result` with a located error on each dataset or predictions path of a manifest that
    resolves outside `repo` (a symlink inside the repository pointing out of it)."""
    manifests = []
    for m in result.manifests:
        found = []
        for loc, value in _repository_paths(m):
            real = outside(repo, repo / value)
            if real is not None:
                line, column = m.manifest.source.position(loc) if m.manifest.source is not None else (1, 1)
                found.append(_outside_problem(m.path, real, repo, line=line, column=column, field=".".join(loc),
                                              value=value, what=f"{'.'.join(loc)} {value}"))
        manifests.append(replace(m, problems=tuple(sort_problems([*m.problems, *found]))) if found else m)
    return replace(result, manifests=tuple(manifests))


def run_check(root: str | os.PathLike[str], settings: Settings, *, envs: Iterable[str] | None = None,
              live_reader: LiveReader | None = None, now: dt.datetime,
              commit: str = UNKNOWN_COMMIT) -> CheckResult:
    """`check_files` over the manifests at `root`: a file, or the files under a directory that
    match the server's manifest globs (relative to it). Paths in the result start with `root`
    as given. UsageError if `root` does not exist.

    Nothing outside the repository holding `root` (`repository_root`) is read: a manifest
    that resolves outside it (a symlink, a symlinked directory) is an error of that file, and
    so is a dataset or predictions path that does; the outside file's content is never read."""
    base = Path(root)
    globs = tuple(settings.server.manifest_globs)
    if base.is_file():
        rels = [""]
    elif base.is_dir():
        rels = find_manifests(base, globs)
    else:
        raise UsageError(f"{root}: no such file or directory")
    repo = repository_root(base)
    files, refused = [], []
    for rel in rels:
        full = base / rel if rel else base
        real = outside(repo, full)
        if real is not None:
            refused.append(_outside_problem(full.as_posix(), real, repo))
            continue
        try:
            files.append((full.as_posix(), _read(full.resolve())))
        except OSError as exc:
            raise UsageError(f"{full}: cannot read: {exc.strerror}") from None
    result = check_files(files, settings, envs=envs, live_reader=live_reader, now=now, commit=commit,
                         root=base.as_posix(), globs=() if base.is_file() else globs)
    review_ = confine(result.review, repo)
    if refused:
        reviews = [ManifestReview(p.path, "modified", (p,), None) for p in refused]
        review_ = replace(review_, manifests=tuple(sorted([*review_.manifests, *reviews], key=lambda m: m.path)))
    return replace(result, review=review_)


# --- the command ------------------------------------------------------------------------------


def git_commit(root: str | os.PathLike[str]) -> str | None:
    """The checked-out commit of the git work tree holding `root` (read-only), or None."""
    where = Path(root)
    where = where if where.is_dir() else where.parent
    try:
        answer = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = answer.stdout.strip()
    return commit if answer.returncode == 0 and commit else None


NO_SERVER_CONFIG = "(none)"
NOT_CHECKED_WITHOUT_CONFIG = (
    "environment names and policy (the server config defines them)",
    "plans and costs (each environment's region, role and prices are in the server config)",
    "baseline comparisons (they compare against an environment's live model)",
    "approvals and ownership (decided on the base branch by the server)",
)


def defaults_settings(env: Mapping[str, str]) -> Settings:
    """Settings for `modelbot check` where no server config exists: the defaults (manifest
    globs, no environments, no policy), marked so that the output says what was not checked."""
    return Settings(server=ServerConfig(), config_path=NO_SERVER_CONFIG, webhook_secrets=(),
                    database_url="sqlite://", redis_url=None, data_dir=Path(env.get("MODELBOT_DATA_DIR") or "var"),
                    github_api_url="https://api.github.com")


def check_command(path: str, *, envs: Sequence[str] | None = None, fmt: str = "text", live: bool = True,
                  config: str | None = None, commit: str | None = None, compare: bool = True) -> int:
    """`modelbot check`: print the result (text or JSON) and return the exit code.

    Needs no GitHub credentials and no webhook secret. `config` overrides MODELBOT_CONFIG;
    `commit` (default: git HEAD of `path`) names the resources in the plans; `live` reads
    live state from AWS through each environment's role or the ambient credentials.
    """
    env = dict(os.environ)
    if config:
        env["MODELBOT_CONFIG"] = config
    try:
        if not env.get("MODELBOT_CONFIG") and not Path(DEFAULT_CONFIG_PATH).exists():
            # A models repository has no server config: check what the manifests alone say.
            settings, live, compare = defaults_settings(env), False, False
        else:
            settings = load_settings(env, require_secrets=False)
        reader = None
        if live:
            from bot.adapters.aws.live import AwsLiveReader

            reader = AwsLiveReader(settings.server.environments)
        if commit is not None:
            try:
                short_commit(commit)
            except ValueError as exc:
                raise UsageError(f"--commit: {exc}") from None
        resolved = commit or git_commit(path) or UNKNOWN_COMMIT
        result = run_check(path, settings, envs=envs or None, live_reader=reader, now=clock.utcnow(),
                           commit=resolved)
        # --- baseline comparison (bot/app/services/comparison/): `validation:` sections; --no-compare skips it
        comparisons = None
        if compare:
            from bot.app.services.comparison import compare_checkout

            comparisons = compare_checkout(result, settings, live_reader=reader, root=path, live=live)
        # --- end of baseline comparison
    except ConfigError as exc:
        sys.stderr.write(render("cli/check_error.txt.j2", kind="configuration error", message=str(exc)))
        return 2
    except UsageError as exc:
        sys.stderr.write(render("cli/check_error.txt.j2", kind="usage error", message=str(exc)))
        return 2
    if fmt == "json":
        data = result.to_dict()
        if settings.config_path == NO_SERVER_CONFIG:
            data["not_checked"] = list(NOT_CHECKED_WITHOUT_CONFIG)
        if comparisons is not None:  # baseline comparison: CompareOutcome.to_dict() per manifest
            from bot.app.services.comparison import exit_code

            data["comparisons"] = [o.to_dict() for o in comparisons]
            data["exit_code"] = max(result.exit_code, exit_code(comparisons))
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(render("cli/check.txt.j2", result=result, live=live,
                                not_checked=NOT_CHECKED_WITHOUT_CONFIG
                                if settings.config_path == NO_SERVER_CONFIG else (),
                                commit_known=resolved != UNKNOWN_COMMIT,
                                comparisons=render("compare/cli.txt.j2", outcomes=comparisons or [])))
    if comparisons:  # a failed or impossible comparison fails the check, as in the pull request
        from bot.app.services.comparison import exit_code

        return max(result.exit_code, exit_code(comparisons))
    return result.exit_code
