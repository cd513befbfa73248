"""The scoring sandbox against native code: each attack a hostile trusted pickle could make.

The attacker is a small C library compiled here with gcc (skipped, saying so, without gcc).
A trusted pickle carries its bytes, writes them into its work directory (the one place it may
write), loads it with ctypes and calls it: none of it goes through Python's audit hook, so
only the kernel layers (bot/adapters/scoring/sandbox.py) stand in its way. Each attack is first run
from an ordinary child process of this test, to show it works there (the control), then
through the real scoring entry point, where it must be refused:

(a) socket(AF_INET) + connect to a listener of this test on 127.0.0.1;
(b) open /proc/<bot>/environ, process_vm_readv and ptrace on the bot (this test process);
(c) creating a file outside the work directory;
(d) system("touch ...") and execve;
(e) a memory hog and a CPU spin, held by RLIMIT_AS and RLIMIT_CPU (and a sleep, by the wall clock);
(f) a fork bomb.

Then each layer on its own, in a fresh interpreter, to show what it gives by itself (what the
report's properties rest on), and the whole scoring under an emulation of Docker's default
seccomp profile (a real seccomp filter refusing unshare, setns and mount with EPERM, installed
before the worker's own layers).
"""

from __future__ import annotations

import base64
import ctypes
import errno
import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

from tests.support.native import compile_shared

from bot.adapters.scoring import sandbox, runner as scoring
from bot.core.compare.data import ComparisonDataError
from bot.adapters.scoring.runner import ScoringJob, ScoringLimits, score_locally
from tests.compare_e2e import helpers as h

TRUSTED = "s3://acme-models/vetted/model.pkl"

ATTACKS_C = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

/* out[0]: errno of socket(2) (0: it worked), out[1]: errno of connect(2) (0: connected) */
void tcp_connect(int port, int *out) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    out[0] = fd < 0 ? errno : 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    out[1] = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    if (fd >= 0) close(fd);
}

/* bytes read into buf, or -errno */
long read_file(const char *path, char *buf, long n) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -errno;
    long got = read(fd, buf, n);
    long e = errno;
    close(fd);
    return got < 0 ? -e : got;
}

long vm_read(int pid, unsigned long addr, char *buf, long n) {
    struct iovec local = {buf, (size_t)n}, remote = {(void *)addr, (size_t)n};
    long got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    return got < 0 ? -errno : got;
}

int trace(int pid) {
    if (ptrace(PTRACE_ATTACH, pid, 0, 0) != 0) return errno;
    waitpid(pid, 0, 0);
    ptrace(PTRACE_DETACH, pid, 0, 0);
    return 0;
}

int signal_pid(int pid, int sig) { return kill(pid, sig) == 0 ? 0 : errno; }

int write_file(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return errno;
    int e = write(fd, "x", 1) == 1 ? 0 : errno;
    close(fd);
    return e;
}

int run_system(const char *cmd) { return system(cmd); }

int run_execve(const char *path, const char *arg) {
    char *argv[] = {(char *)path, (char *)arg, 0};
    char *envp[] = {0};
    execve(path, argv, envp);
    return errno;
}

int io_uring(void) {
    char params[120];
    memset(params, 0, sizeof params);
    long fd = syscall(425, 4, params);  /* io_uring_setup, same number on x86_64 and aarch64 */
    if (fd < 0) return errno;
    close(fd);
    return 0;
}

/* MB allocated and touched before malloc failed (or `most` reached) */
long hog(long most) {
    long mb = 0;
    for (; mb < most; mb++) {
        char *p = malloc(1 << 20);
        if (!p) break;
        memset(p, 1, 1 << 20);
    }
    return mb;
}

void spin(void) { for (volatile unsigned long i = 0;; i++) {} }

void nap(int seconds) { sleep(seconds); }

/* children forked (each waits in pause() until killed), out[0]: errno of the fork that failed */
int fork_bomb(int most, int *out) {
    pid_t kids[4096];
    int n = 0;
    out[0] = 0;
    while (n < most && n < 4096) {
        pid_t p = fork();
        if (p == 0) { pause(); _exit(0); }
        if (p < 0) { out[0] = errno; break; }
        kids[n++] = p;
    }
    for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < n; i++) waitpid(kids[i], 0, 0);
    return n;
}

/* files opened before open(2) failed; out[0]: its errno */
int open_many(int most, int *out) {
    int n = 0;
    out[0] = 0;
    int fds[100000];
    while (n < most && n < 100000) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) { out[0] = errno; break; }
        fds[n++] = fd;
    }
    for (int i = 0; i < n; i++) close(fds[i]);
    return n;
}
"""

# Python run where the library is loaded: defines L (the library) and the helpers; `report`
# raises RuntimeError("RESULT <json>") so the answer comes back in the scoring error.
LOAD = """
import ctypes, json, os
path = os.path.join(os.getcwd(), "attacks.so")
with open(path, "wb") as fh:
    fh.write(SO)
L = ctypes.CDLL(path, use_errno=True)
L.read_file.restype = L.vm_read.restype = L.hog.restype = ctypes.c_long
L.vm_read.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_long]

def pair(fn, *args):
    out = (ctypes.c_int * 2)()
    rc = fn(*args, out)
    return rc, list(out)

def report(value):
    raise RuntimeError("RESULT " + json.dumps(value))
"""


MARK = "RuntimeError: RESULT "


@pytest.fixture(scope="module")
def attacks_so(tmp_path_factory) -> bytes:
    return compile_shared(tmp_path_factory, "attacks", ATTACKS_C)


def program(so: bytes, body: str) -> str:
    return f"import base64\nSO = base64.b64decode({base64.b64encode(so).decode()!r})\n" + LOAD + textwrap.dedent(body)


class Exec:
    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return exec, (self.source, {})


@pytest.fixture(scope="module")
def matrix():
    return h.binary_set(50, 5)[2]


class Validation:
    def __init__(self, matrix):
        self.matrix, self.location = matrix, "s3://acme-data/churn/validation.csv"

    @property
    def n_rows(self):
        return len(self.matrix)

    def numeric_features(self):
        return list(h.FEATURES), self.matrix, []


def sandboxed(so: bytes, body: str, matrix, limits: ScoringLimits = ScoringLimits()) -> ComparisonDataError:
    """Score a trusted pickle running `body` with the library loaded; the error it ends in."""
    job = ScoringJob("candidate", TRUSTED, pickle.dumps(Exec(program(so, body))), trusted=True)
    with pytest.raises(ComparisonDataError) as err:
        score_locally([job], Validation(matrix), "binary", limits)
    return err.value


def result(err: ComparisonDataError):
    text = str(err)
    assert MARK in text, text
    return json.loads(text.split(MARK, 1)[1].split("\n")[0])


def unsandboxed(so: bytes, body: str, tmp_path):
    """The same program in an ordinary child process of this test (the control)."""
    script = tmp_path / "control.py"
    script.write_text(program(so, body))
    proc = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert MARK in proc.stderr, proc.stderr
    return json.loads(proc.stderr.split(MARK, 1)[1].splitlines()[0])


@pytest.fixture
def listener():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock
    sock.close()


def connected(listener) -> bool:
    listener.setblocking(False)
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.fixture(scope="module")
def layers() -> sandbox.Layers:
    """What this machine gives a scoring process (every test below needs to know)."""
    code = textwrap.dedent(f"""
        import importlib.util, json, sys, tempfile
        spec = importlib.util.spec_from_file_location("modelbot_sandbox", {str(sandbox.__file__)!r})
        S = importlib.util.module_from_spec(spec); sys.modules["modelbot_sandbox"] = S; spec.loader.exec_module(S)
        print(json.dumps(S.apply(tempfile.mkdtemp(), {{}}).to_dict()))
        """)
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return sandbox.Layers.from_dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def need(layers: sandbox.Layers, *keys: str) -> None:
    gone = [p.key for p in sandbox.missing(layers) if p.key in keys]
    if gone:
        pytest.skip(f"this machine's kernel does not give the sandbox {', '.join(gone)}: {layers.problems}")


# --- (a) network ------------------------------------------------------------------------------------------


NET = "report(pair(L.tcp_connect, PORT)[1])"


def test_a_native_connect_reaches_the_listener_from_an_ordinary_process(attacks_so, listener, tmp_path):
    port = listener.getsockname()[1]
    assert unsandboxed(attacks_so, f"PORT = {port}\n" + NET, tmp_path) == [0, 0]
    assert connected(listener)


def test_a_native_socket_and_connect_are_refused_in_the_sandbox(attacks_so, listener, matrix, layers):
    need(layers, sandbox.NETWORK)
    port = listener.getsockname()[1]
    sock_errno, connect_errno = result(sandboxed(attacks_so, f"PORT = {port}\n" + NET, matrix))
    if layers.seccomp:
        assert sock_errno == errno.EPERM  # socket(2) itself refused
    else:  # the namespace alone: a socket, but no route
        assert (sock_errno, connect_errno) == (0, errno.ENETUNREACH)
    assert connect_errno != 0
    assert not connected(listener)


# --- (b) the bot's environment and memory -----------------------------------------------------------------

SECRET = b"modelbot-parent-secret-0123456789"


@pytest.fixture
def parent_secret():
    buf = ctypes.create_string_buffer(SECRET)
    return os.getpid(), ctypes.addressof(buf), buf


def parent_body(pid: int, addr: int) -> str:
    return f"""
    buf = ctypes.create_string_buffer(4096)
    environ = L.read_file(f"/proc/{pid}/environ".encode(), buf, 4096)
    mem = ctypes.create_string_buffer(64)
    got = L.vm_read({pid}, {addr}, mem, {len(SECRET)})
    report({{"environ": environ, "environ_has_path": b"PATH=" in buf.raw[:max(environ, 0)],
            "vm_read": got, "secret": mem.raw[:{len(SECRET)}].decode("latin-1"), "ptrace": L.trace({pid}),
            "signal": L.signal_pid({pid}, 0)}})
    """


def test_an_ordinary_child_reads_the_parents_environment_and_memory(attacks_so, parent_secret, tmp_path):
    pid, addr, _keep = parent_secret
    answer = unsandboxed(attacks_so, parent_body(pid, addr), tmp_path)
    assert answer["environ"] > 0 and answer["environ_has_path"]
    assert answer["vm_read"] == len(SECRET) and answer["secret"] == SECRET.decode()
    assert answer["signal"] == 0  # it could kill the bot, too


def test_the_sandbox_cannot_read_the_bots_environment_or_memory(attacks_so, parent_secret, matrix, layers):
    need(layers, sandbox.PARENT)
    pid, addr, _keep = parent_secret
    answer = result(sandboxed(attacks_so, parent_body(pid, addr), matrix))
    assert answer["environ"] in (-errno.EACCES, -errno.EPERM) and not answer["environ_has_path"]
    assert answer["vm_read"] in (-errno.EPERM, -errno.ESRCH) and SECRET.decode() not in answer["secret"]
    assert answer["ptrace"] in (errno.EPERM, errno.ESRCH)
    assert answer["signal"] == errno.EPERM  # no signal to the bot (seccomp; Landlock ABI 6; another uid)


def test_the_scoring_process_gets_no_credentials(attacks_so, matrix, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_examplexampleexampleexample")
    answer = result(sandboxed(attacks_so, "report(sorted(os.environ))", matrix))
    assert "AWS_SECRET_ACCESS_KEY" not in answer and "GITHUB_TOKEN" not in answer
    assert set(answer) <= set(scoring._child_env(scoring.Path("/w"))) | {"LC_CTYPE"}


# --- (c) files outside the work directory ---------------------------------------------------------------


def test_the_sandbox_cannot_write_outside_its_work_directory(attacks_so, matrix, layers, tmp_path):
    outside = tmp_path / "outside.txt"
    body = f"report([L.write_file({str(outside).encode()!r}), L.write_file(b'/tmp/modelbot-sandbox-x'), " \
           "L.write_file(os.path.join(os.getcwd(), 'inside.txt').encode())])"
    assert unsandboxed(attacks_so, body.replace("outside.txt", "control.txt"), tmp_path) == [0, 0, 0]
    assert (tmp_path / "control.txt").exists()
    os.unlink("/tmp/modelbot-sandbox-x")
    need(layers, sandbox.FILESYSTEM)
    outside_errno, tmp_errno, inside_errno = result(sandboxed(attacks_so, body, matrix))
    assert outside_errno == tmp_errno == errno.EACCES  # Landlock
    assert inside_errno == 0  # its own work directory stays writable
    assert not outside.exists() and not os.path.exists("/tmp/modelbot-sandbox-x")


# --- (d) programs ------------------------------------------------------------------------------------------


def test_the_sandbox_cannot_start_programs(attacks_so, matrix, layers, tmp_path):
    need(layers, sandbox.PROGRAMS)
    marker = tmp_path / "ran"
    touch = shutil.which("touch") or "/usr/bin/touch"
    body = f"report([L.run_system(b'touch {marker}'), L.run_execve({touch.encode()!r}, {str(marker).encode()!r}), " \
           "L.io_uring()])"
    system_rc, execve_errno, uring_errno = result(sandboxed(attacks_so, body, matrix))
    assert system_rc != 0
    assert execve_errno in (errno.EPERM, errno.EACCES)  # seccomp; Landlock gives no execute right
    if layers.seccomp:
        assert execve_errno == errno.EPERM and uring_errno == errno.EPERM
    assert not marker.exists()


# --- (e) memory, CPU, wall clock, files ---------------------------------------------------------------------------


def test_a_memory_hog_stops_at_the_address_space_limit(attacks_so, matrix):
    limits = ScoringLimits(memory_mb=768)
    got = result(sandboxed(attacks_so, "report(L.hog(8192))", matrix, limits))
    assert 0 <= got < 768


def test_a_cpu_spin_is_killed_at_the_cpu_limit(attacks_so, matrix):
    err = sandboxed(attacks_so, "L.spin()", matrix, ScoringLimits(cpu_seconds=2, wall_seconds=60))
    assert err.problem == "scoring_timeout" and "CPU time limit of 2 s" in str(err)


def test_a_sleeping_model_is_stopped_by_the_wall_clock(attacks_so, matrix):
    err = sandboxed(attacks_so, "L.nap(600)", matrix, ScoringLimits(wall_seconds=4))
    assert err.problem == "scoring_timeout" and "longer than 4 s" in str(err)


def test_open_files_are_limited(attacks_so, matrix):
    n, (err_no, _) = result(sandboxed(attacks_so, "report(pair(L.open_many, 5000))", matrix,
                                      ScoringLimits(max_open_files=64)))
    assert n < 64 and err_no == errno.EMFILE


# --- (f) processes -----------------------------------------------------------------------------------------


def test_a_fork_bomb_forks_nothing(attacks_so, matrix, layers):
    need(layers, sandbox.LIMITS)
    n, (err_no, _) = result(sandboxed(attacks_so, "report(pair(L.fork_bomb, 2000))", matrix,
                                      ScoringLimits(max_processes=32)))
    if layers.seccomp:
        assert (n, err_no) == (0, errno.EPERM)  # clone without CLONE_THREAD refused
    else:
        assert n < 32 and err_no == errno.EAGAIN  # RLIMIT_NPROC


# --- each layer alone, in a fresh interpreter -----------------------------------------------------------------

LAYER = """
import base64, ctypes, importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("modelbot_sandbox", {path!r})
S = importlib.util.module_from_spec(spec); sys.modules["modelbot_sandbox"] = S; spec.loader.exec_module(S)
"""


def layer_alone(so: bytes, setup: str, body: str, tmp_path, cwd=None):
    """Run `setup` (one layer, from bot/adapters/scoring/sandbox.py) then the attack `body`, in `cwd`
    (default tmp_path), where the library is written."""
    script = tmp_path / "layer.py"
    script.write_text(LAYER.format(path=str(sandbox.__file__)) + textwrap.dedent(setup) + "\n"
                      + program(so, body))
    proc = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, timeout=60,
                          cwd=cwd or tmp_path)
    assert MARK in proc.stderr, proc.stderr
    return json.loads(proc.stderr.split(MARK, 1)[1].splitlines()[0])


def test_seccomp_alone_refuses_sockets_programs_ptrace_and_forks(attacks_so, listener, parent_secret, tmp_path):
    if sandbox.machine() not in sandbox.SYSCALLS:
        pytest.skip(f"no seccomp filter for {sandbox.machine()}")
    pid, addr, _keep = parent_secret
    port = listener.getsockname()[1]
    answer = layer_alone(attacks_so, "S.no_new_privs(); S.seccomp()", f"""
        mem = ctypes.create_string_buffer(64)
        report({{"net": pair(L.tcp_connect, {port})[1], "vm_read": L.vm_read({pid}, {addr}, mem, 8),
                "ptrace": L.trace({pid}), "execve": L.run_execve(b"/bin/true", b"x"),
                "fork": pair(L.fork_bomb, 5), "io_uring": L.io_uring(),
                "kill_bot": L.signal_pid({pid}, 0), "kill_self": L.signal_pid(os.getpid(), 0),
                "threads": __import__("threading").Thread(target=lambda: None).start() is None}})
        """, tmp_path)
    assert answer["net"] == [errno.EPERM, errno.EPERM]
    assert answer["vm_read"] == -errno.EPERM and answer["ptrace"] == errno.EPERM
    assert answer["execve"] == errno.EPERM and answer["fork"] == [0, [errno.EPERM, 0]]
    assert answer["io_uring"] == errno.EPERM
    assert answer["kill_bot"] == errno.EPERM and answer["kill_self"] == 0
    assert answer["threads"]  # threads are still allowed (clone with CLONE_THREAD)
    assert not connected(listener)


def test_landlock_alone_confines_files_and_hides_the_parent_even_for_root(attacks_so, parent_secret, tmp_path):
    if sandbox.landlock_abi() < 1:
        pytest.skip("this kernel has no Landlock")
    pid, addr, _keep = parent_secret
    work = tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "outside.txt"
    # root with every capability: only Landlock stands in the way
    answer = layer_alone(attacks_so, f"S.no_new_privs(); S.landlock(S.python_paths() + list(S.SYSTEM_READ), "
                                     f"[{str(work)!r}])", f"""
        buf = ctypes.create_string_buffer(4096)
        mem = ctypes.create_string_buffer(64)
        report({{"environ": L.read_file(b"/proc/{pid}/environ", buf, 4096), "vm_read": L.vm_read({pid}, {addr}, mem, 8),
                "ptrace": L.trace({pid}), "outside": L.write_file({str(outside).encode()!r}),
                "inside": L.write_file({str(work / "in.txt").encode()!r}),
                "execve": L.run_execve(b"/bin/true", b"x")}})
        """, tmp_path, cwd=work)
    assert answer["environ"] == -errno.EACCES
    assert answer["vm_read"] == -errno.EPERM and answer["ptrace"] == errno.EPERM
    assert answer["outside"] == errno.EACCES and not outside.exists()
    assert answer["inside"] == 0 and (work / "in.txt").exists()
    assert answer["execve"] == errno.EACCES  # no execute right anywhere


def test_a_separate_uid_alone_hides_the_parent_and_counts_processes(attacks_so, parent_secret, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("changing uid needs root")
    pid, addr, _keep = parent_secret
    os.chmod(tmp_path, 0o777)
    # imports done before the uid changes (the interpreter may live where uid 65534 cannot read)
    answer = layer_alone(attacks_so, "import threading, resource", f"""
        S.drop_uid(S.SANDBOX_UID)
        resource.setrlimit(resource.RLIMIT_NPROC, (16, 16))
        buf = ctypes.create_string_buffer(4096)
        mem = ctypes.create_string_buffer(64)
        first = {{"uid": os.getuid(), "environ": L.read_file(b"/proc/{pid}/environ", buf, 4096),
                 "vm_read": L.vm_read({pid}, {addr}, mem, 8), "fork": pair(L.fork_bomb, 2000)}}
        try:  # what sandbox.apply does next: a user (and network) namespace as uid 65534
            S.enter_user_namespace(S.CLONE_NEWNET)
            first["userns"] = [os.getuid(), L.read_file(b"/proc/{pid}/environ", buf, 4096)]
        except OSError as exc:
            first["userns"] = str(exc)
        report(first)
        """, tmp_path)
    assert answer["uid"] == sandbox.SANDBOX_UID
    assert answer["environ"] == -errno.EACCES and answer["vm_read"] == -errno.EPERM
    n, (err_no, _) = answer["fork"]
    assert n < 16 and err_no == errno.EAGAIN  # RLIMIT_NPROC
    if isinstance(answer["userns"], list):  # unprivileged user namespaces allowed here
        assert answer["userns"] == [sandbox.SANDBOX_UID, -errno.EACCES]  # mapped onto itself


# --- under Docker's default seccomp profile (emulated) --------------------------------------------------------

DOCKER_DEFAULT = ("unshare", "setns", "mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen",
                  "fsconfig", "fsmount", "fspick", "mount_setattr", "keyctl", "add_key", "request_key", "bpf",
                  "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register", "syslog")


@pytest.fixture
def docker_default(tmp_path, monkeypatch):
    """The worker behind a real seccomp filter with what Docker's default profile refuses a
    container without CAP_SYS_ADMIN (moby/profiles seccomp/default_linux.go: unshare, setns,
    mount and the mount API, clone with namespace flags, keyctl, bpf, perf_event_open, io_uring
    are not in its allow list; landlock_*, seccomp and prctl are)."""
    if sandbox.machine() not in sandbox.SYSCALLS:
        pytest.skip(f"no seccomp filter for {sandbox.machine()}")
    wrapper = tmp_path / "docker_worker.py"
    wrapper.write_text(textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("score_worker", {str(scoring.WORKER)!r})
        W = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(W)
        S = W.load_sandbox()
        S.no_new_privs()
        S.seccomp(deny={DOCKER_DEFAULT!r}, allow_fork=True)
        sys.exit(W.main(sys.argv))
        """))
    monkeypatch.setattr(scoring, "WORKER", wrapper)


def test_under_dockers_default_profile_landlock_and_seccomp_still_hold(docker_default, attacks_so, listener,
                                                                       parent_secret, matrix, tmp_path):
    if sandbox.landlock_abi() < 1:
        pytest.skip("this kernel has no Landlock")
    y = h.binary_set(50, 5)[1]
    job = ScoringJob("candidate", "s3://acme-models/churn/v2/model.json", h.xgboost_model(matrix, y))
    [scored] = score_locally([job], Validation(matrix), "binary")
    layers = scored.layers
    assert not layers.network_namespace and not layers.user_namespace
    assert "unshare(CLONE_NEW" in layers.problems["network namespace"] and "Operation not permitted" in \
        layers.problems["network namespace"]
    assert layers.seccomp and layers.landlock_abi >= 1 and not sandbox.missing(layers)
    pid, addr, _keep = parent_secret
    port = listener.getsockname()[1]
    outside = tmp_path / "outside.txt"
    answer = result(sandboxed(attacks_so, f"""
        buf = ctypes.create_string_buffer(4096)
        mem = ctypes.create_string_buffer(64)
        report({{"net": pair(L.tcp_connect, {port})[1], "environ": L.read_file(b"/proc/{pid}/environ", buf, 4096),
                "vm_read": L.vm_read({pid}, {addr}, mem, 8), "outside": L.write_file({str(outside).encode()!r}),
                "execve": L.run_execve(b"/bin/true", b"x")}})
        """, matrix))
    assert answer == {"net": [errno.EPERM, errno.EPERM], "environ": -errno.EACCES, "vm_read": -errno.EPERM,
                      "outside": errno.EACCES, "execve": errno.EPERM}
    assert not connected(listener) and not outside.exists()
