"""The local scoring process is cut off the network and cannot start programs.

Layers (bot/adapters/scoring/sandbox.py, applied by score_worker.py `isolate`): a new, empty network
namespace when the kernel allows it (connections fail with ENETUNREACH, from Python or native
code alike), a seccomp filter refusing socket(2) and connect(2) (EPERM), Landlock, a separate
uid, rlimits, and a Python audit hook refusing sockets, name lookups and subprocesses. The
layers in effect are recorded with the scores and the report names every missing property;
`compare.require_network_isolation` makes scoring refuse when neither the namespace nor the
filter can be had, and a trusted pickle is refused when any property is missing unless
`compare.accept_weaker_isolation`. (Native attacks on each property: test_sandbox_native.py.)

Each test listens on 127.0.0.1 itself and checks afterwards, without waiting, that nothing
connected: a connection the kernel completed would be waiting in the listener's queue.
Code runs either in a fresh interpreter that loads the worker's isolation functions, or
through the real scoring entry point with a trusted pickle, the one format whose loading runs
code the artifact chooses (`exec` of a source string).
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import socket
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest

from bot.adapters.scoring import sandbox, runner as scoring
from bot.core.compare.data import ComparisonDataError
from bot.app.services.comparison import CompareConfig, CompareDeps, CompareRequest, compare_manifest
from bot.adapters.scoring.runner import ScoringJob, ScoringLimits, isolation_note, score_locally
from bot.adapters.sources import TRANSIENT, Blob, Fetchers, sha256_digest
from bot.core.manifest import load_manifest
from bot.core.render import render
from tests.compare_e2e import helpers as h

TRUSTED = "s3://acme-models/vetted/model.pkl"
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000

# Loads score_worker.py as the scoring process does (a script, not the bot's package).
PRELUDE = f"""
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("score_worker", {str(scoring.WORKER)!r})
W = importlib.util.module_from_spec(spec)
spec.loader.exec_module(W)
S = W.load_sandbox()


def outcomes(attempts):  # name -> "allowed", or the class of the OSError it raised
    out = {{}}
    for name, attempt in attempts:
        try:
            attempt()
            out[name] = "allowed"
        except OSError as exc:
            out[name] = type(exc).__name__
    return out
"""

# connect(2) through libc, as a framework's native code would: the audit hook never sees it.
NATIVE_CONNECT = """
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
addr = struct.pack("=H", 2) + struct.pack("!H", PORT) + bytes([127, 0, 0, 1]) + bytes(8)
native = 0 if libc.connect(fd, ctypes.c_char_p(addr), len(addr)) == 0 else ctypes.get_errno()
libc.close(fd)
"""


def run_child(code: str, *args: str) -> dict:
    """Run PRELUDE + code in a fresh isolated interpreter (one thread, like the worker at its
    start); its last stdout line is JSON."""
    proc = subprocess.run([sys.executable, "-I", "-c", PRELUDE + textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=120, env={"PATH": os.environ.get("PATH", "")})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def kernel_layers() -> sandbox.Layers:
    """The layers this machine gives a fresh scoring process."""
    return sandbox.Layers.from_dict(run_child("import tempfile\n"
                                              "print(json.dumps(S.apply(tempfile.mkdtemp(), {}, "
                                              "audit_hook=W.install_audit_hook).to_dict()))"))


@pytest.fixture(scope="module")
def kernel_level(kernel_layers) -> str | None:
    """Whether this machine lets a fresh process create a network namespace (None: it does not)."""
    return "network namespace" if kernel_layers.network_namespace else None


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def connected(listener: socket.socket) -> bool:
    """Whether a connection reached the listener (it stays queued even after the peer left)."""
    listener.setblocking(False)
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def python_connect(port: int) -> str:
    return f"""
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=30).close()
    python = "connected"
except OSError as exc:
    python = f"{{type(exc).__name__}}: {{exc}}"
"""


# --- the layers, each on its own ---------------------------------------------------------------------


def test_the_listener_is_reachable_without_isolation(listener):
    """The control: the same connection attempts succeed from an ordinary process."""
    port = listener.getsockname()[1]
    answer = run_child("import socket\nPORT = " + str(port) + NATIVE_CONNECT + python_connect(port)
                       + "print(json.dumps({'python': python, 'native': native}))")
    assert answer == {"python": "connected", "native": 0}
    assert connected(listener) and connected(listener)  # two connections queued


def test_the_network_namespace_leaves_no_route_even_for_native_code(listener, kernel_level):
    if kernel_level is None:
        pytest.skip("this machine lets a process create no network namespace")
    port = listener.getsockname()[1]
    answer = run_child("import socket\nS.enter_user_namespace(S.CLONE_NEWNET)\nPORT = " + str(port)
                       + NATIVE_CONNECT + python_connect(port)
                       + "print(json.dumps({'python': python, 'native': native, "
                         "'interfaces': [n for _, n in socket.if_nameindex()]}))")
    assert answer["interfaces"] == ["lo"]  # no way out; and lo is down:
    assert answer["native"] == errno.ENETUNREACH
    assert answer["python"].startswith("OSError: [Errno 101]")  # ENETUNREACH (no audit hook here)
    assert not connected(listener)


def test_the_audit_hook_refuses_sockets_and_lookups_from_python(listener):
    port = listener.getsockname()[1]
    answer = run_child(f"""
        import socket, urllib.request
        W.install_audit_hook()
        print(json.dumps(outcomes([
            ("connect", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=30)),
            ("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
            ("getaddrinfo", lambda: socket.getaddrinfo("localhost", 80)),
            ("gethostbyname", lambda: socket.gethostbyname("localhost")),
            ("urlopen", lambda: urllib.request.urlopen("http://127.0.0.1:{port}/", timeout=30))])))
        """)
    assert answer == dict.fromkeys(("connect", "socket", "getaddrinfo", "gethostbyname", "urlopen"),
                                   "SandboxViolation")
    assert not connected(listener)


def test_the_audit_hook_refuses_starting_programs(tmp_path):
    marker = tmp_path / "ran"
    answer = run_child("""
        import subprocess
        marker = sys.argv[1]
        program = [sys.executable, "-c", f"open({marker!r}, 'w').close()"]
        W.install_audit_hook()

        def fork():
            if os.fork() == 0:  # only if the hook let it through
                open(marker, "w").close()
                os._exit(0)

        print(json.dumps(outcomes([
            ("subprocess.run", lambda: subprocess.run(program)),
            ("os.system", lambda: os.system(" ".join(program))),
            ("os.popen", lambda: os.popen(" ".join(program))),
            ("os.posix_spawn", lambda: os.posix_spawn(program[0], program, {})),
            ("os.spawnv", lambda: os.spawnv(os.P_WAIT, program[0], program)),
            ("os.fork", fork),
            ("os.kill", lambda: os.kill(os.getppid(), 0)),
            ("os.execv", lambda: os.execv(program[0], program))])))  # last: it would replace this process
        """, str(marker))
    assert set(answer.values()) == {"SandboxViolation"}, answer
    assert len(answer) == 8
    assert not marker.exists()


# --- through the real scoring entry point ----------------------------------------------------------------


@dataclass
class Validation:
    """What score_locally reads of a validation set."""

    matrix: np.ndarray
    location: str = "s3://acme-data/churn/validation.csv"

    @property
    def n_rows(self) -> int:
        return len(self.matrix)

    def numeric_features(self):
        return list(h.FEATURES), self.matrix, []


class Exec:
    """A pickle whose loading runs `source` (what a hostile trusted artifact could do)."""

    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return exec, (self.source,)


def trusted_pickle(source: str) -> ScoringJob:
    return ScoringJob("candidate", TRUSTED, pickle.dumps(Exec(textwrap.dedent(source))), trusted=True)


@pytest.fixture(scope="module")
def data():
    ids, y, x = h.binary_set(200, 3)
    return y, x


def test_a_model_that_connects_while_loading_reaches_nothing(listener, data, kernel_layers):
    y, x = data
    port = listener.getsockname()[1]
    with pytest.raises(ComparisonDataError) as err:
        score_locally([trusted_pickle(f"import socket\nsocket.create_connection(('127.0.0.1', {port}))")],
                      Validation(x), "binary")
    assert err.value.problem == "sandbox_violation"
    assert "was stopped: the scoring sandbox does not allow resolving a host name (socket.getaddrinfo)" \
        in str(err.value)
    # Native code is not seen by the audit hook: the seccomp filter (EPERM) or the namespace stops it.
    with pytest.raises(ComparisonDataError) as err:
        score_locally([trusted_pickle(f"PORT = {port}\n{NATIVE_CONNECT}\nraise RuntimeError(f'errno {{native}}')")],
                      Validation(x), "binary")
    if sandbox.NETWORK in {p.key for p in sandbox.missing(kernel_layers)}:
        assert "RuntimeError: errno 0" in str(err.value)  # only the audit hook: native code got through
        assert connected(listener)
        pytest.skip(f"this machine gives no network isolation: {kernel_layers.problems}")
    expected = errno.EPERM if kernel_layers.seccomp else errno.ENETUNREACH
    assert f"RuntimeError: errno {expected}" in str(err.value)
    assert not connected(listener)


def test_a_model_that_starts_a_program_while_loading_runs_nothing(data, tmp_path):
    y, x = data
    marker = tmp_path / "ran"
    with pytest.raises(ComparisonDataError) as err:
        score_locally([trusted_pickle(f"import os\nos.system('touch {marker}')")], Validation(x), "binary")
    assert err.value.problem == "sandbox_violation" and "(os.system)" in str(err.value)
    assert not marker.exists()


def test_xgboost_and_onnx_score_under_isolation_and_record_it(data, kernel_layers):
    import xgboost as xgb

    y, x = data
    model = h.xgboost_model(x, y)
    jobs = [ScoringJob("candidate", "s3://acme-models/churn/v2/model.tar.gz", h.tar_gz({"model.json": model})),
            ScoringJob("baseline", "s3://acme-models/churn/v1/model.onnx", h.onnx_model(x, y))]
    cand, base = score_locally(jobs, Validation(x), "binary", ScoringLimits(require_network_isolation=False))
    booster = xgb.Booster(model_file=bytearray(model))
    assert np.allclose(cand.predictions, booster.predict(xgb.DMatrix(x, feature_names=list(h.FEATURES))))
    assert base.predictions.shape == (len(y),) and 0 < base.predictions.min() < base.predictions.max() < 1
    assert np.corrcoef(base.predictions, y)[0, 1] > 0.5
    level = sandbox.summary(kernel_layers)
    assert cand.layers == base.layers == kernel_layers
    assert cand.isolation == base.isolation == level
    assert cand.contract["isolation"] == base.contract["isolation"] == level
    assert "Python audit hook" in level and "rlimits" in level
    assert cand.contract["framework"] == "xgboost" and base.contract["framework"] == "onnx"


def test_required_isolation_scores_where_the_kernel_provides_it(data, kernel_level):
    if kernel_level is None:
        pytest.skip("this machine lets a process create no network namespace")
    y, x = data
    job = ScoringJob("candidate", "s3://acme-models/churn/v2/model.json", h.xgboost_model(x, y))
    [scored] = score_locally([job], Validation(x), "binary", ScoringLimits(require_network_isolation=True))
    assert scored.layers.network_namespace and len(scored.predictions) == len(y)


def patched_worker(tmp_path, monkeypatch, patch: str) -> None:
    """Score with a worker whose sandbox module has `patch` applied (S: bot/adapters/scoring/sandbox.py
    as the worker loaded it): a layer the kernel refuses, without changing the kernel."""
    wrapper = tmp_path / "worker.py"
    wrapper.write_text(PRELUDE + "\nimport errno\n" + textwrap.dedent(patch) + "\nsys.exit(W.main(sys.argv))\n")
    monkeypatch.setattr(scoring, "WORKER", wrapper)


def refuse_unshare(tmp_path, monkeypatch, mask: int, *, seccomp: bool = True, landlock: bool = True) -> None:
    """unshare(2) fails with EPERM for flags that include `mask`; `seccomp=False`: so does the
    filter; `landlock=False`: so does Landlock (whose ABI 4 also refuses TCP connect, EACCES)."""
    patched_worker(tmp_path, monkeypatch, f"""
        real = S.unshare

        def unshare(flags):
            if flags & {mask}:
                raise OSError(errno.EPERM, os.strerror(errno.EPERM))
            real(flags)

        S.unshare = unshare
        """ + ("" if seccomp else """
        def seccomp(*args, **kwargs):
            raise S.LayerError(errno.EINVAL, "prctl(PR_SET_SECCOMP): Invalid argument")

        S.seccomp = seccomp
        """) + ("" if landlock else """
        def landlock(*args, **kwargs):
            raise S.LayerError(errno.ENOSYS, "the kernel has no Landlock")

        S.landlock = landlock
        """))


@pytest.fixture
def no_namespaces(tmp_path, monkeypatch):
    """Namespaces refused altogether (a container without the capability, user namespaces off)."""
    refuse_unshare(tmp_path, monkeypatch, CLONE_NEWNET)


def test_a_network_namespace_alone_when_user_namespaces_are_refused(data, listener, kernel_level, tmp_path,
                                                                    monkeypatch):
    if kernel_level is None or os.geteuid() != 0:
        pytest.skip("a network namespace alone needs root (or CAP_SYS_ADMIN)")
    refuse_unshare(tmp_path, monkeypatch, CLONE_NEWUSER, seccomp=False, landlock=False)
    y, x = data
    port = listener.getsockname()[1]
    with pytest.raises(ComparisonDataError) as err:
        score_locally([trusted_pickle(f"PORT = {port}\n{NATIVE_CONNECT}\nraise RuntimeError(f'errno {{native}}')")],
                      Validation(x), "binary", ScoringLimits(require_network_isolation=True,
                                                             accept_weaker_isolation=True))
    assert f"RuntimeError: errno {errno.ENETUNREACH}" in str(err.value)  # the namespace, no filter, no Landlock
    assert not connected(listener)
    job = ScoringJob("candidate", "s3://acme-models/churn/v2/model.json", h.xgboost_model(x, y))
    [scored] = score_locally([job], Validation(x), "binary", ScoringLimits(require_network_isolation=True))
    assert scored.layers.network_namespace and not scored.layers.user_namespace and not scored.layers.seccomp
    assert "network namespace," in scored.isolation and "user+network" not in scored.isolation
    assert "unshare(CLONE_NEWUSER): Operation not permitted" in scored.layers.problems["user namespace"]


def test_required_isolation_refuses_when_neither_namespace_nor_filter_is_available(data, tmp_path, monkeypatch):
    refuse_unshare(tmp_path, monkeypatch, CLONE_NEWNET, seccomp=False)
    y, x = data
    marker = tmp_path / "loaded"
    job = trusted_pickle(f"open({str(marker)!r}, 'w').close()")
    with pytest.raises(ComparisonDataError) as err:
        score_locally([job], Validation(x), "binary", ScoringLimits(require_network_isolation=True,
                                                                   accept_weaker_isolation=True))
    message = str(err.value)
    assert "`compare.require_network_isolation: true`" in message
    assert "neither a network namespace nor its seccomp filter" in message
    assert "MISSING: no network, even from native code" in message
    assert "unshare(CLONE_NEWNET): Operation not permitted" in message
    assert "prctl(PR_SET_SECCOMP): Invalid argument" in message
    assert err.value.problem in TRANSIENT  # a property of the host: not cached against these models
    assert not marker.exists()  # nothing was loaded
    assert CompareConfig(require_network_isolation=True).scoring_limits().require_network_isolation
    assert not CompareConfig().scoring_limits().require_network_isolation


def test_without_namespaces_the_seccomp_filter_keeps_native_code_off_the_network(data, listener, no_namespaces):
    y, x = data
    job = ScoringJob("candidate", "s3://acme-models/churn/v2/model.json", h.xgboost_model(x, y))
    [scored] = score_locally([job], Validation(x), "binary", ScoringLimits(require_network_isolation=True))
    assert not scored.layers.network_namespace and not scored.layers.user_namespace and scored.layers.seccomp
    assert len(scored.predictions) == len(y)
    port = listener.getsockname()[1]
    with pytest.raises(ComparisonDataError) as err:  # the hook still names a Python-level attempt
        score_locally([trusted_pickle(f"import socket\nsocket.create_connection(('127.0.0.1', {port}))")],
                      Validation(x), "binary")
    assert err.value.problem == "sandbox_violation"
    with pytest.raises(ComparisonDataError) as err:
        score_locally([trusted_pickle(f"PORT = {port}\n{NATIVE_CONNECT}\nraise RuntimeError(f'errno {{native}}')")],
                      Validation(x), "binary")
    assert f"RuntimeError: errno {errno.EPERM}" in str(err.value)
    assert not connected(listener)


# --- a missing property: trusted pickles refused, unless the server config accepts it ---------------------


@pytest.fixture
def no_landlock(tmp_path, monkeypatch):
    """A kernel without Landlock (before 5.13, or not in its lsm= list)."""
    patched_worker(tmp_path, monkeypatch, """
        def landlock(*args, **kwargs):
            raise S.LayerError(errno.ENOSYS, "the kernel has no Landlock (before Linux 5.13, or not in the lsm= list)")

        S.landlock = landlock
        """)


def sklearn_pickle(x, y) -> bytes:
    from sklearn.linear_model import LogisticRegression

    return pickle.dumps(LogisticRegression().fit(x, y))


def test_a_trusted_pickle_is_refused_when_a_property_is_missing(data, tmp_path, no_landlock, kernel_layers):
    y, x = data
    marker = tmp_path / "loaded"
    with pytest.raises(ComparisonDataError) as err:
        score_locally([trusted_pickle(f"open({str(marker)!r}, 'w').close()")], Validation(x), "binary")
    message = str(err.value)
    assert "refusing to unpickle a trusted artifact: the scoring sandbox here lacks " in message
    assert "'cannot write outside its work directory' (needs Landlock; landlock: the kernel has no Landlock" in message
    if not kernel_layers.separate_uid:  # Landlock was also what kept the bot's /proc files out of reach
        assert "'cannot read the bot's environment or memory' (needs Landlock, or a separate uid" in message
    assert "`compare.accept_weaker_isolation: true`" in message
    assert err.value.problem in TRANSIENT  # the host's fault, not the model's: not cached
    assert not marker.exists()  # never unpickled
    # XGBoost still scores; its report line names what is missing
    job = ScoringJob("candidate", "s3://acme-models/churn/v2/model.json", h.xgboost_model(x, y))
    [scored] = score_locally([job], Validation(x), "binary")
    note = isolation_note(scored.isolation)
    assert "; MISSING: " in note and "Landlock ABI" not in note.split("MISSING")[0]
    assert "cannot write outside its work directory (needs Landlock; landlock: the kernel has no Landlock" in note
    if kernel_layers.seccomp:  # "no programs" still held: by the filter
        assert "cannot start programs" not in scored.isolation


def test_accepting_weaker_isolation_unpickles_and_the_report_says_what_is_missing(data, no_landlock):
    y, x = data
    job = ScoringJob("candidate", TRUSTED, sklearn_pickle(x, y), trusted=True)
    [scored] = score_locally([job], Validation(x), "binary", ScoringLimits(accept_weaker_isolation=True))
    assert scored.contract["framework"] == "sklearn" and len(scored.predictions) == len(y)
    assert scored.layers.landlock_abi == 0
    assert "; MISSING: " in scored.isolation and "cannot write outside its work directory" in scored.isolation
    assert CompareConfig(accept_weaker_isolation=True).scoring_limits().accept_weaker_isolation
    assert not CompareConfig().scoring_limits().accept_weaker_isolation


class Planted:
    """A pickle that leaves symlinks to a file of the host where the worker writes its outputs,
    then yields a real model (with `model`: its pickle)."""

    def __init__(self, target: str, model: bytes):
        self.target, self.model = target, model

    def __reduce__(self):
        return eval, (f"([__import__('os').symlink({self.target!r}, n) for n in ('pred_0.npy', 'result.json')], "
                      f"__import__('pickle').loads({self.model!r}))[1]",)


def test_outputs_are_never_written_or_read_through_a_planted_symlink(data, tmp_path, no_landlock):
    y, x = data
    host_file = tmp_path / "host-file"
    host_file.write_bytes(b"precious")
    job = ScoringJob("candidate", TRUSTED, pickle.dumps(Planted(str(host_file), sklearn_pickle(x, y))), trusted=True)
    [scored] = score_locally([job], Validation(x), "binary", ScoringLimits(accept_weaker_isolation=True))
    assert host_file.read_bytes() == b"precious"  # the worker replaced the links, never wrote through them
    assert len(scored.predictions) == len(y) and 0 <= scored.predictions.min() <= scored.predictions.max() <= 1
    link = tmp_path / "pred.npy"
    link.symlink_to(host_file)
    with pytest.raises(OSError):  # and the bot does not read through one
        scoring.read_output(link, 1 << 20)
    with pytest.raises(OSError):
        scoring.read_output(host_file, 4)  # nor more than it expects


class Forger:
    """A pickle that, once loaded, makes the worker report every layer and floods its stdout,
    then yields a real model."""

    def __init__(self, model: bytes):
        self.model = model

    def __reduce__(self):
        forge = ("S = __import__('sys').modules['modelbot_sandbox']; "
                 "S.Layers.to_dict = lambda self: __import__('dataclasses').asdict("
                 "S.Layers(True, True, True, True, True, 7, True, True, True, True)); "
                 "[__import__('os').write(1, b'{\"sandbox\": {}}\\n' * 65536) for _ in range(40)]")
        return eval, (f"(exec({forge!r}, {{}}), __import__('pickle').loads({self.model!r}))[1]",)


def test_the_layers_are_what_the_worker_said_before_any_model_ran(data, no_landlock):
    y, x = data
    job = ScoringJob("candidate", TRUSTED, pickle.dumps(Forger(sklearn_pickle(x, y))), trusted=True)
    [scored] = score_locally([job], Validation(x), "binary", ScoringLimits(accept_weaker_isolation=True))
    assert len(scored.predictions) == len(y)
    assert scored.layers.landlock_abi == 0 and "MISSING" in scored.isolation  # not the forged "all layers"


def test_a_trusted_sklearn_pickle_scores_inside_the_full_sandbox(data, kernel_layers):
    if sandbox.missing(kernel_layers):
        pytest.skip(f"this machine's sandbox lacks {[p.key for p in sandbox.missing(kernel_layers)]}")
    y, x = data
    job = ScoringJob("candidate", TRUSTED, sklearn_pickle(x, y), trusted=True)
    [scored] = score_locally([job], Validation(x), "binary")
    assert scored.contract["framework"] == "sklearn" and len(scored.predictions) == len(y)
    assert "all five properties hold" in scored.isolation


# --- in the report -------------------------------------------------------------------------------------------


class MemoryS3:
    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def fetch(self, location, *, version=None, max_bytes, too_large_hint=""):
        return Blob(location, self.objects[location])

    def fingerprint(self, location, *, version=None):
        return f"{location}@{sha256_digest(self.objects[location])}"


def test_the_report_says_how_scoring_was_isolated(kernel_layers):
    ids, y, x = h.binary_set(300, 11)
    csv = h.csv_bytes(h.dataset_columns(ids, y, x))
    data_uri, model_uri = "s3://acme-data/churn/validation.csv", "s3://acme-models/churn/v2/model.tar.gz"
    text = h.manifest(dataset=h.s3_dataset(data_uri, h.digest(csv)), predictions=h.LOCAL, uri=model_uri)
    req = CompareRequest(h.PATH, load_manifest(h.PATH, text).manifest, "production", h.REPO, "b" * 40, None)
    objects = {data_uri: csv, model_uri: h.tar_gz({"m.json": h.xgboost_model(x, y)})}
    deps = CompareDeps(fetchers=Fetchers(s3=MemoryS3(objects)))
    out = compare_manifest(req, deps)
    assert out.status == "done", out.error
    note = isolation_note(sandbox.summary(kernel_layers))
    assert note in out.notes
    assert f"- {note}" in render("compare/outcome.md.j2", o=out)
    weak = isolation_note(sandbox.summary(sandbox.Layers(audit_hook=True, rlimits=True)))
    assert "MISSING: no network, even from native code" in weak
    assert "compare.accept_weaker_isolation" in weak
