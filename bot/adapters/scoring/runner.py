"""Local scoring: XGBoost (JSON/UBJ) and ONNX models on a small validation set, in a subprocess.

A model artifact (model.tar.gz, or a bare model file) is unpacked with limits (regular files
only, no paths outside the directory, bounded size and count) and its format is decided from
the bytes as well as the names. Pickle-based formats (.pkl, .pickle, .joblib, or any file that
is a pickle or a compressed pickle, also inside model.tar.gz) are refused: unpickling runs code
the pull request chose. Only a location the server config lists in
`compare.trusted_pickle_prefixes` may be unpickled, and even then only in the subprocess.

`score_locally` runs `score_worker.py` once for both models, with an environment without
credentials (`_child_env`), a wall-clock timeout and a process-group kill. The worker sandboxes
itself before it reads a model (`bot.adapters.scoring.sandbox`: namespaces, a separate uid when the bot
is root, no new privileges, not dumpable, Landlock, a seccomp filter, the rlimits of
`ScoringLimits`) and reports the layers it got; `sandbox.summary` turns them into the report's
line, naming every property that is missing. `ScoringLimits.require_network_isolation` (the
server config's `compare.require_network_isolation`) makes scoring refuse when nothing keeps
native code off the network; a trusted pickle is refused when any property is missing unless
`ScoringLimits.accept_weaker_isolation` (`compare.accept_weaker_isolation`). It returns each
model's predictions, what the model says about its inputs and outputs (feature names or count,
objective, ONNX signature), for the contract checks, and the sandbox that was in effect.
`sample_endpoint` makes a few real invocations of an endpoint and records their latency.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from bot.adapters.scoring import sandbox
from bot.core.compare.data import ComparisonDataError
from bot.core.compare.settings import ScoringLimits
import stat
from botocore.exceptions import BotoCoreError, ClientError

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pck", ".sav", ".dill", ".cloudpickle"})
MAX_MEMBERS = 1000
WORKER = Path(__file__).with_name("score_worker.py")

# Subprocess runs in this process (tests count them to see the cache work).
CALLS: Counter = Counter()
_calls_lock = threading.Lock()


@dataclass(frozen=True)
class ModelFile:
    kind: str  # xgboost | onnx | pickle
    path: Path
    name: str  # inside the artifact


@dataclass(frozen=True)
class Artifact:
    """An unpacked model artifact: the model file to score, or why it cannot be scored."""

    location: str
    files: tuple[str, ...]
    model: ModelFile | None
    pickles: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Scored:
    label: str
    predictions: np.ndarray
    contract: dict  # also carries "isolation" (sandbox.summary of the layers)
    seconds: float
    isolation: str | None = None  # sandbox.summary(layers)
    layers: sandbox.Layers | None = None


def isolation_note(summary: str) -> str:
    """The report's line about the scoring sandbox (`summary`: sandbox.summary of its layers,
    which names every missing property)."""
    return f"local scoring isolation: {summary}"


@dataclass(frozen=True)
class ScoringJob:
    label: str  # "candidate" | "baseline"
    location: str  # where the artifact came from (for messages and the trust decision)
    data: bytes
    trusted: bool = False  # the server config trusts this location with pickles


# --- formats -----------------------------------------------------------------------------------------


def is_trusted(location: str, prefixes) -> bool:
    """Whether `location` lies under one of the server config's trusted pickle prefixes."""
    return any(p and location.startswith(p) for p in prefixes or ())


def _sniff(name: str, head: bytes) -> str:
    """xgboost-json | xgboost-ubj | xgboost-legacy | onnx | pickle | other, from name and first bytes."""
    p = PurePosixPath(name)
    suffix = p.suffix.lower()
    if suffix in PICKLE_SUFFIXES or _looks_pickled(head):
        return "pickle"
    if suffix == ".onnx":
        return "onnx"
    if head.lstrip()[:2] == b'{"' and b'"learner"' in head:
        return "xgboost-json"
    if head[:1] == b"{" and head[1:2] in b"LliUI$#" and b"learner" in head:  # UBJSON: keys length-prefixed
        return "xgboost-ubj"
    if suffix in (".model", ".bst", ".xgb") or p.name == "xgboost-model":
        return "xgboost-legacy"
    return "other"


def _looks_pickled(head: bytes) -> bool:
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return True
    if head[:2] in (b"x\x01", b"x\x5e", b"x\x9c", b"x\xda"):  # zlib (joblib compress=True)
        try:
            inner = zlib.decompressobj().decompress(head, 16)
        except zlib.error:
            return False
        return _looks_pickled(inner)
    return head[:2] == b"ZF"  # joblib's legacy zlib container


def unpack(location: str, data: bytes, dest: Path, *, max_bytes: int) -> list[tuple[str, Path]]:
    """The artifact's files as (name inside it, path on disk): a tar(.gz) is extracted with
    limits, anything else is one file named after the location."""
    name = PurePosixPath(location.split("?", 1)[0]).name or "model"
    is_tar = name.endswith((".tar.gz", ".tgz", ".tar")) or data[:2] == b"\x1f\x8b"
    if not is_tar:
        path = dest / ("model" + PurePosixPath(name).suffix)
        path.write_bytes(data)
        return [(name, path)]
    out: list[tuple[str, Path]] = []
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for i, member in enumerate(tar):
                if i >= MAX_MEMBERS:
                    raise ComparisonDataError("bad_artifact", f"{location}: more than {MAX_MEMBERS} files in the archive")
                if not member.isfile():
                    continue  # directories, links, devices: nothing to read
                parts = PurePosixPath(member.name).parts
                if member.name.startswith("/") or ".." in parts or not parts:
                    raise ComparisonDataError("bad_artifact", f"{location}: archive member {member.name!r} "
                                                              "points outside the archive")
                total += member.size
                if total > max_bytes:
                    raise ComparisonDataError("too_large", f"{location}: unpacks to more than {max_bytes:,} bytes")
                rel = "/".join(p for p in parts if p not in ("", "."))
                target = dest / f"f{len(out)}{PurePosixPath(rel).suffix}"
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                out.append((rel, target))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ComparisonDataError("bad_artifact", f"{location}: not a readable model.tar.gz ({exc})") from None
    return out


def identify(location: str, files: list[tuple[str, Path]], *, trusted: bool) -> Artifact:
    """Choose the model file; refuse pickles from an untrusted location and unknown formats."""
    kinds: dict[str, list[tuple[str, Path]]] = {}
    for rel, path in files:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        kinds.setdefault(_sniff(rel, head), []).append((rel, path))
    names = tuple(rel for rel, _ in files)
    pickles = tuple(rel for rel, _ in kinds.get("pickle", []))
    if pickles and not trusted:
        raise ComparisonDataError(
            "pickle_refused",
            f"{location}: refusing to load {', '.join(pickles[:5])}: pickle-based formats (.pkl, .pickle, "
            ".joblib) run arbitrary code when loaded, and modelbot never unpickles an artifact a pull "
            "request points to. Save the model as XGBoost JSON/UBJ (`save_model('model.json')`) or ONNX, "
            "or ask the bot's administrators to list this location under `compare.trusted_pickle_prefixes`")
    safe = [("xgboost", ".json", f) for f in kinds.get("xgboost-json", [])]
    safe += [("xgboost", ".ubj", f) for f in kinds.get("xgboost-ubj", [])]
    safe += [("onnx", ".onnx", f) for f in kinds.get("onnx", [])]
    if len(safe) > 1:
        raise ComparisonDataError("ambiguous_artifact", f"{location}: several model files "
                                                        f"({', '.join(f[0] for _, _, f in safe)}); modelbot cannot "
                                                        "tell which one serves")
    if safe:
        kind, suffix, (rel, path) = safe[0]
        named = path.with_name(path.stem + "-model" + suffix)  # frameworks pick the format by suffix
        path.rename(named)
        return Artifact(location, names, ModelFile(kind, named, rel), pickles)
    if pickles:
        if len(pickles) > 1:
            raise ComparisonDataError("ambiguous_artifact", f"{location}: several pickled files "
                                                            f"({', '.join(pickles)}); modelbot cannot tell which serves")
        rel, path = kinds["pickle"][0]
        return Artifact(location, names, ModelFile("pickle", path, rel), pickles)
    legacy = [r for r, _ in kinds.get("xgboost-legacy", [])]
    if legacy:
        raise ComparisonDataError(
            "unsupported_model", f"{location}: {legacy[0]} is in XGBoost's legacy binary format, which modelbot "
                                 "does not load; save the model as JSON or UBJ (`save_model('model.json')`)")
    raise ComparisonDataError(
        "unsupported_model",
        f"{location}: no model modelbot can score locally (XGBoost .json/.ubj or ONNX .onnx) among "
        f"{', '.join(names[:10]) or 'no files'}; use `validation.predictions.source: batch_transform` or `pipeline`")


# --- the subprocess ------------------------------------------------------------------------------------


def _child_env(workdir: Path) -> dict[str, str]:
    """No credentials, no proxies, one thread per numeric library."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "TMPDIR": str(workdir),
            "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}


def score_locally(jobs: list, validation, task: str, limits: ScoringLimits = ScoringLimits()) -> list[Scored]:
    """Predictions of each job's model on the validation set's feature columns, in one subprocess.

    A job may be a function returning the ScoringJob: it is called (the artifact fetched) only
    after the jobs before it were unpacked and accepted, so a refused candidate costs nothing more.
    """
    if validation.n_rows > limits.max_rows:
        raise ComparisonDataError(
            "too_large_for_local",
            f"{validation.location}: {validation.n_rows:,} rows, more than the {limits.max_rows:,} rows modelbot "
            "scores locally; use `validation.predictions.source: batch_transform` to score a set this large "
            "with SageMaker batch transform")
    names, matrix, text = validation.numeric_features()
    with tempfile.TemporaryDirectory(prefix="modelbot-score-") as tmp:
        workdir = Path(tmp)
        models, ready = [], []
        for i, job in enumerate(jobs):
            job = job() if callable(job) else job
            ready.append(job)
            if len(job.data) > limits.max_model_bytes:
                raise ComparisonDataError("too_large", f"{job.location}: {len(job.data):,} bytes, more than the "
                                                       f"{limits.max_model_bytes:,} bytes modelbot loads locally")
            dest = workdir / f"model{i}"
            dest.mkdir()
            artifact = identify(job.location, unpack(job.location, job.data, dest, max_bytes=limits.max_model_bytes),
                                trusted=job.trusted)
            models.append({"label": job.label, "kind": artifact.model.kind, "path": str(artifact.model.path),
                           "allow_pickle": artifact.model.kind == "pickle" and job.trusted,
                           "file": artifact.model.name})
        request = {"task": task, "feature_names": names, "text_columns": text, "models": models,
                   "limits": {"memory_mb": limits.memory_mb, "cpu_seconds": limits.cpu_seconds,
                              "max_output_mb": limits.max_output_mb, "max_open_files": limits.max_open_files,
                              "max_processes": limits.max_processes},
                   "sandbox": {"require_network_isolation": limits.require_network_isolation,
                               "accept_weaker_isolation": limits.accept_weaker_isolation}}
        (workdir / "request.json").write_text(json.dumps(request))
        np.save(workdir / "features.npy", np.ascontiguousarray(matrix, dtype=np.float64), allow_pickle=False)
        started = time.perf_counter()
        jobs = ready
        layers = _first_line_layers(_run_worker(workdir, limits, [j.label for j in jobs]))
        seconds = time.perf_counter() - started
        try:
            answer = json.loads(read_output(workdir / "result.json", RESULT_MAX_BYTES))
        except (OSError, ValueError):
            raise ComparisonDataError("scoring_failed", "the scoring process wrote no result") from None
        if isinstance(answer, dict) and isinstance(answer.get("refused"), dict):
            raise _refused(answer["refused"])
        if not isinstance(answer, dict) or not isinstance(answer.get("models"), list):
            raise ComparisonDataError("scoring_failed", "the scoring process wrote an unreadable result")
        isolation, results = sandbox.summary(layers), answer["models"]
        out = []
        for i, (job, model, result) in enumerate(zip(jobs, models, results)):
            if not result.get("ok"):
                problem = result.get("problem") or "scoring_failed"
                raise ComparisonDataError(problem, f"{job.label} model ({job.location}, {model['file']}): "
                                                   f"{result.get('error')}")
            try:
                raw = read_output(workdir / f"pred_{i}.npy", limits.max_output_mb * 1024 * 1024)
                preds = np.load(io.BytesIO(raw), allow_pickle=False)
            except (OSError, ValueError):
                raise ComparisonDataError("scoring_failed", f"the scoring process wrote no readable predictions for "
                                                            f"the {job.label} model") from None
            contract = {**result.get("contract", {}), "file": model["file"], "isolation": isolation}
            out.append(Scored(job.label, preds, contract, seconds, isolation, layers))
        return out


RESULT_MAX_BYTES = 16 * 1024 * 1024


def read_output(path: Path, max_bytes: int) -> bytes:
    """What the scoring process wrote at `path`: a regular file with one link, at most
    `max_bytes`, opened without following a symlink (the bot may be root; the sandbox's code
    must not make it read a file of the host). OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size > max_bytes:
            raise OSError(f"{path.name}: not a regular file of at most {max_bytes} bytes with one link")
        return fh.read(max_bytes + 1)[:max_bytes]


def _refused(refused: dict) -> ComparisonDataError:
    """The worker loaded nothing: the server config requires network isolation and neither a
    network namespace nor the seccomp filter could be had. Reported as "internal" (a property of
    the host, not of the models), so the error is not cached against these models: the next
    run scores them again."""
    return ComparisonDataError(
        "internal",
        "local scoring refused: the server config sets `compare.require_network_isolation: true`, and the scoring "
        "process got neither a network namespace nor its seccomp filter (sandbox: "
        f"{refused.get('error') or 'no reason given'}). Run modelbot where it may create namespaces (as root or "
        "with CAP_SYS_ADMIN, or with unprivileged user namespaces enabled: sysctl user.max_user_namespaces > 0, "
        "kernel.unprivileged_userns_clone=1, no AppArmor/seccomp rule denying unshare) or install seccomp filters "
        "(a kernel with CONFIG_SECCOMP_FILTER), or set `compare.require_network_isolation: false` to score with "
        "only the Python audit hook")


def _first_line_layers(out: bytes) -> sandbox.Layers:
    """The layers the worker printed before it read a model (a model's code, running later in
    that process, could rewrite result.json but not this line); none assumed when absent."""
    try:
        return sandbox.Layers.from_dict(json.loads(out.split(b"\n", 1)[0]).get("sandbox"))
    except (ValueError, AttributeError, TypeError):
        return sandbox.Layers()


OUTPUT_HEAD, OUTPUT_TAIL = 64 * 1024, 4096


def _drain(fd: int, into: dict) -> None:
    """Read a pipe to its end, keeping its first OUTPUT_HEAD and last OUTPUT_TAIL bytes: a
    model printing without end costs the bot no memory."""
    head, tail = bytearray(), b""
    try:
        while chunk := os.read(fd, 65536):
            if len(head) < OUTPUT_HEAD:
                head += chunk[:OUTPUT_HEAD - len(head)]
            tail = (tail + chunk)[-OUTPUT_TAIL:]
    finally:
        os.close(fd)
        into["head"], into["tail"] = bytes(head), tail


def _run_worker(workdir: Path, limits: ScoringLimits, labels: list[str]) -> bytes:
    """The start of the worker's stdout, once it exited 0; ComparisonDataError otherwise."""
    with _calls_lock:
        CALLS["score"] += 1
    # -I: no PYTHON* variables, no user site, no script directory on sys.path; -B: no .pyc writes
    argv = [sys.executable, "-I", "-B", str(WORKER), str(workdir)]
    proc = subprocess.Popen(argv, cwd=workdir, env=_child_env(workdir), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    outputs: dict[str, dict] = {"out": {}, "err": {}}
    readers = [threading.Thread(target=_drain, args=(os.dup(stream.fileno()), outputs[key]), daemon=True)
               for key, stream in (("out", proc.stdout), ("err", proc.stderr))]
    proc.stdout.close()
    proc.stderr.close()
    for r in readers:
        r.start()
    try:
        proc.wait(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait()
        raise ComparisonDataError(
            "scoring_timeout", f"scoring the {' and '.join(labels)} model(s) took longer than "
                               f"{limits.wall_seconds:g} s and was stopped") from None
    finally:
        if proc.poll() is None:  # pragma: no cover - only when wait itself failed
            _kill_group(proc)
        for r in readers:  # a process the model left holding the pipe is not waited for long
            r.join(timeout=5)
    out, err = outputs["out"].get("head", b""), outputs["err"].get("tail", b"")
    if proc.returncode == 0:
        return out
    tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
    detail = f" ({' / '.join(tail)[-400:]})" if tail else ""
    rc = proc.returncode
    if rc in (-signal.SIGXCPU, -signal.SIGKILL):
        raise ComparisonDataError("scoring_timeout", f"the scoring process hit the CPU time limit of "
                                                     f"{limits.cpu_seconds} s")
    if "MemoryError" in detail or "bad_alloc" in detail or rc in (-signal.SIGABRT, -signal.SIGSEGV):
        raise ComparisonDataError("scoring_memory", f"the scoring process died (exit {rc}), most likely over its "
                                                    f"memory limit of {limits.memory_mb} MB{detail}")
    raise ComparisonDataError("scoring_failed", f"the scoring process failed (exit {rc}){detail}")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


# --- sample invocations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Samples:
    """A few real invocations of an endpoint: latency and what came back."""

    endpoint: str
    latencies_ms: tuple[float, ...] = ()
    outputs: tuple = ()
    errors: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        lat = sorted(self.latencies_ms)
        return {"endpoint": self.endpoint, "invocations": len(self.latencies_ms) + len(self.errors),
                "latencies_ms": list(self.latencies_ms),
                "p50_ms": lat[len(lat) // 2] if lat else None, "max_ms": lat[-1] if lat else None,
                "errors": list(self.errors)}


def _csv_row(values) -> str:
    return ",".join(repr(float(v)) if np.isfinite(v) else "" for v in values)


def parse_response(body: str) -> list[float]:
    """Numbers in an endpoint's answer: csv (one line per record), JSON number/list, or
    {"predictions": [...]} / {"probabilities": [...]}"""
    text = body.strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        value = next((value[k] for k in ("predictions", "probabilities", "scores", "score") if k in value), None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, list):
        flat = []
        for v in value:
            flat += v if isinstance(v, list) else [v]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            return [float(v) for v in flat]
    try:
        return [float(v) for v in text.replace("\n", ",").split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"not numbers: {text[:80]!r}") from None


def sample_endpoint(runtime_client, endpoint: str, rows: np.ndarray, *, n: int = 3) -> Samples:
    """Invoke `endpoint` with the first `n` rows (text/csv, one record each), timing each call."""
    latencies, outputs, errors = [], [], []
    for row in rows[:n]:
        body = _csv_row(row)
        started = time.perf_counter()
        try:
            answer = runtime_client.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv",
                                                    Accept="text/csv", Body=body.encode())
            raw = answer["Body"].read().decode("utf-8", "replace")
        except (ClientError, BotoCoreError) as exc:
            errors.append(f"sagemaker-runtime:InvokeEndpoint failed: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        latencies.append(round((time.perf_counter() - started) * 1000, 2))
        try:
            outputs.append(parse_response(raw))
        except ValueError as exc:
            errors.append(f"unreadable answer: {exc}")
    return Samples(endpoint, tuple(latencies), tuple(outputs), tuple(errors))
