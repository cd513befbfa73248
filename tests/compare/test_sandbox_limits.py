"""The scoring sandbox's rlimits against native code: set before the seccomp filter, which then
refuses every change of a limit, so a hostile trusted pickle can neither raise its own limits
(open files, file size, CPU, address space, processes) nor lower the bot's.

The attacker is a small C library compiled here with gcc (skipped, saying so, without gcc),
loaded with ctypes by a trusted pickle run through the real scoring entry point (see
test_sandbox_native.py for the harness). Each attack is first run from an ordinary child
process (the control), where it works.
"""

from __future__ import annotations

import base64
import errno
import json
import pickle
import resource
import subprocess
import sys
import textwrap

import pytest

from tests.support.native import compile_shared

from bot.adapters.scoring import sandbox
from bot.core.compare.data import ComparisonDataError
from bot.adapters.scoring.runner import ScoringJob, ScoringLimits, score_locally
from tests.compare.test_sandbox_native import TRUSTED, Exec, Validation, MARK
from tests.compare.test_sandbox_properties import ALLOW, EPERM, run_bpf
from tests.compare_e2e import helpers as h

LIMITS_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* 0, or the errno of setrlimit(2) */
int set_limit(int res, long soft, long hard) {
    struct rlimit r = {(rlim_t)soft, (rlim_t)hard};
    return setrlimit(res, &r) == 0 ? 0 : errno;
}

/* 0, or the errno of the raw prlimit64(2) system call setting a limit of `pid` (0: itself) */
int prlimit_set(int pid, int res, long soft, long hard) {
    struct rlimit r = {(rlim_t)soft, (rlim_t)hard};
    return syscall(SYS_prlimit64, pid, res, &r, 0) == 0 ? 0 : errno;
}

/* the soft (which 0) or hard (which 1) limit through getrlimit(3) (glibc: prlimit64 without a
   new limit), or -errno */
long get_limit(int res, int which) {
    struct rlimit r;
    if (getrlimit(res, &r) != 0) return -errno;
    return (long)(which ? r.rlim_max : r.rlim_cur);
}

/* files opened before open(2) failed; out[0]: its errno */
int open_many(int most, int *out) {
    int n = 0;
    out[0] = 0;
    static int fds[100000];
    while (n < most && n < 100000) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) { out[0] = errno; break; }
        fds[n++] = fd;
    }
    for (int i = 0; i < n; i++) close(fds[i]);
    return n;
}

/* 0 when `mb` MiB were written to `path`, else the errno of the write that failed */
int write_mb(const char *path, int mb) {
    static char block[1 << 20];
    memset(block, 'x', sizeof block);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return errno;
    int e = 0;
    for (int i = 0; i < mb && !e; i++)
        if (write(fd, block, sizeof block) != (ssize_t)sizeof block) e = errno ? errno : EIO;
    close(fd);
    unlink(path);
    return e;
}
"""

LOAD = """
import ctypes, errno, json, os, resource
errno_EPERM = errno.EPERM
path = os.path.join(os.getcwd(), "limits.so")
with open(path, "wb") as fh:
    fh.write(SO)
L = ctypes.CDLL(path, use_errno=True)
L.get_limit.restype = ctypes.c_long
L.set_limit.argtypes = [ctypes.c_int, ctypes.c_long, ctypes.c_long]
L.prlimit_set.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]

def pair(fn, *args):
    out = (ctypes.c_int * 2)()
    rc = fn(*args, out)
    return rc, list(out)

def report(value):
    raise RuntimeError("RESULT " + json.dumps(value))
"""

NOFILE, FSIZE, CPU, AS, NPROC = (resource.RLIMIT_NOFILE, resource.RLIMIT_FSIZE, resource.RLIMIT_CPU,
                                 resource.RLIMIT_AS, resource.RLIMIT_NPROC)
BIG = 1 << 20  # a limit far above any the sandbox sets

# Try every way of changing a limit, then use the resources the limits hold.
ATTACK = f"""
before = [L.get_limit({NOFILE}, 0), L.get_limit({NOFILE}, 1)]
hard_cpu = L.get_limit({CPU}, 1)
answer = {{
    "before": before,
    "raise_nofile": L.set_limit({NOFILE}, 4096, 4096),
    "raise_nofile_soft_to_hard": L.set_limit({NOFILE}, before[1], before[1]),
    "raise_cpu_soft_to_hard": L.set_limit({CPU}, hard_cpu, hard_cpu),
    "raise_fsize": L.set_limit({FSIZE}, {BIG} * {BIG}, {BIG} * {BIG}),
    "raise_as": L.set_limit({AS}, {BIG} * {BIG}, {BIG} * {BIG}),
    "raise_nproc": L.set_limit({NPROC}, {BIG}, {BIG}),
    "lower_nofile": L.set_limit({NOFILE}, 16, 16),
    "prlimit_raise": L.prlimit_set(0, {NOFILE}, 8192, 8192),
    "prlimit_lower_parent": L.prlimit_set(PARENT, {NOFILE}, 16, 16),
    "python_setrlimit": None,
}}
try:
    resource.setrlimit({NOFILE}, (8, 8))
    answer["python_setrlimit"] = 0
except ValueError as exc:  # how Python says EPERM: "not allowed to raise maximum limit"
    answer["python_setrlimit"] = errno_EPERM if "not allowed" in str(exc) else str(exc)
except OSError as exc:
    answer["python_setrlimit"] = exc.errno
answer["after"] = [L.get_limit({NOFILE}, 0), L.get_limit({NOFILE}, 1)]
answer["open"] = pair(L.open_many, 5000)
answer["write"] = L.write_mb(os.path.join(os.getcwd(), "big.bin").encode(), 3)
report(answer)
"""


@pytest.fixture(scope="module")
def limits_so(tmp_path_factory) -> bytes:
    return compile_shared(tmp_path_factory, "limits", LIMITS_C)


def program(so: bytes, body: str) -> str:
    return f"import base64\nSO = base64.b64decode({base64.b64encode(so).decode()!r})\n" + LOAD \
        + textwrap.dedent(body)


def answer_of(text: str):
    assert MARK in text, text
    return json.loads(text.split(MARK, 1)[1].splitlines()[0])


@pytest.fixture
def parent_process():
    """A process of the test's uid standing in for the bot, whose limits the attack tries to lower."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def has_sys_resource() -> bool:
    with open("/proc/self/status") as fh:
        cap = next(int(line.split()[1], 16) for line in fh if line.startswith("CapEff:"))
    return bool(cap & (1 << 24))


def nofile_of(pid: int) -> str:
    with open(f"/proc/{pid}/limits") as fh:
        return next(line for line in fh if line.startswith("Max open files")).split()[3:5]


def test_an_ordinary_process_changes_its_limits_and_another_processs(limits_so, parent_process, tmp_path):
    """The control: without the sandbox, native code lowers another process's limit and raises its own."""
    before = nofile_of(parent_process)
    script = tmp_path / "control.py"
    script.write_text(f"PARENT = {parent_process}\n" + program(limits_so, ATTACK))
    proc = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, preexec_fn=lambda: resource.setrlimit(NOFILE, (64, 256)))
    got = answer_of(proc.stderr)
    assert got["before"] == [64, 256]
    assert got["raise_nofile_soft_to_hard"] == 0 and got["raise_cpu_soft_to_hard"] == 0
    assert got["lower_nofile"] == 0 and got["prlimit_lower_parent"] == 0
    assert nofile_of(parent_process) == ["16", "16"] != before
    if has_sys_resource():  # even the hard limits go up
        assert got["raise_nofile"] == 0 and got["prlimit_raise"] == 0
    else:
        assert got["raise_nofile"] == errno.EPERM


def sandboxed(so: bytes, parent: int, limits: ScoringLimits):
    job = ScoringJob("candidate", TRUSTED, pickle.dumps(Exec(f"PARENT = {parent}\n" + program(so, ATTACK))),
                     trusted=True)
    with pytest.raises(ComparisonDataError) as err:
        score_locally([job], Validation(h.binary_set(50, 5)[2]), "binary", limits)
    return answer_of(str(err.value))


def test_native_code_in_the_sandbox_can_change_no_limit(limits_so, parent_process):
    if sandbox.machine() not in sandbox.SYSCALLS:
        pytest.skip(f"no seccomp filter for {sandbox.machine()}")
    before = nofile_of(parent_process)
    got = sandboxed(limits_so, parent_process, ScoringLimits(max_open_files=48, max_output_mb=1))
    assert got["before"] == [48, 48]  # set before the filter, and still readable (prlimit64 without a new limit)
    for key in ("raise_nofile", "raise_nofile_soft_to_hard", "raise_cpu_soft_to_hard", "raise_fsize", "raise_as",
                "raise_nproc", "lower_nofile", "prlimit_raise", "prlimit_lower_parent", "python_setrlimit"):
        assert got[key] == errno.EPERM, (key, got)
    assert got["after"] == [48, 48]
    n, (err_no, _) = got["open"]
    assert n < 48 and err_no == errno.EMFILE  # the file limit still holds
    assert got["write"] == errno.EFBIG  # RLIMIT_FSIZE: 1 MiB
    assert nofile_of(parent_process) == before  # the bot's stand-in keeps its limits


def test_apply_sets_the_limits_before_the_filter(tmp_path):
    """In a fresh interpreter: after `apply`, the rlimits layer is in effect with the requested
    values, and the filter refuses to change them (were they set after it, setting them would fail)."""
    if sandbox.machine() not in sandbox.SYSCALLS:
        pytest.skip(f"no seccomp filter for {sandbox.machine()}")
    work = tmp_path / "work"
    work.mkdir()
    code = textwrap.dedent(f"""
        import importlib.util, json, resource, sys
        spec = importlib.util.spec_from_file_location("modelbot_sandbox", {str(sandbox.__file__)!r})
        S = importlib.util.module_from_spec(spec); sys.modules["modelbot_sandbox"] = S; spec.loader.exec_module(S)
        layers = S.apply({str(work)!r}, {{"max_open_files": 40, "max_processes": 20, "max_output_mb": 3,
                                          "cpu_seconds": 30, "memory_mb": 1024}})
        out = {{"layers": layers.to_dict(), "limits": [resource.getrlimit(r) for r in
               (resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC, resource.RLIMIT_FSIZE, resource.RLIMIT_CPU,
                resource.RLIMIT_AS, resource.RLIMIT_CORE)]}}
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (10, 10))
            out["lower"] = 0
        except ValueError as exc:  # Python's word for EPERM
            out["lower"] = str(exc)
        print(json.dumps(out))
        """)
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=work)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    layers = sandbox.Layers.from_dict(out["layers"])
    assert layers.rlimits and "rlimits" not in layers.problems, layers.problems
    mb = 1024 * 1024
    assert out["limits"] == [[40, 40], [20, 20], [3 * mb, 3 * mb], [30, 35], [1024 * mb, 1024 * mb], [0, 0]]
    if layers.seccomp:
        assert out["lower"] == "not allowed to raise maximum limit"  # EPERM, though it lowers
    else:
        pytest.skip(f"no seccomp filter here: {layers.problems.get('seccomp')}")


@pytest.mark.parametrize("arch", sorted(sandbox.SYSCALLS))
def test_the_filter_lets_prlimit64_read_but_never_set(arch):
    table, audit = sandbox.SYSCALLS[arch], sandbox.AUDIT_ARCH[arch]
    program = sandbox.seccomp_program(arch, self_pid=4321)
    prlimit, setrlimit = table["prlimit64"], table["setrlimit"]
    assert run_bpf(program, prlimit, audit, (0, 7, 0, 0x7FFC0000, 0, 0)) == ALLOW  # getrlimit: no new limit
    assert run_bpf(program, prlimit, audit, (4321, 7, 0, 0x7FFC0000, 0, 0)) == ALLOW
    for new in (0x7FFC0000, 0x7FFC_0000_0000, 1 << 32, 1, 0xFFFF_FFFF_FFFF_FFFF):  # any non-NULL pointer
        for pid in (0, 1, 4321):
            assert run_bpf(program, prlimit, audit, (pid, 7, new, 0, 0, 0)) == EPERM, (hex(new), pid)
    assert run_bpf(program, setrlimit, audit, (7, 0x7FFC0000, 0, 0, 0, 0)) == EPERM
    getrlimit = 97 if arch == "x86_64" else 163
    assert run_bpf(program, getrlimit, audit, (7, 0x7FFC0000, 0, 0, 0, 0)) == ALLOW
    # A filter built from an explicit deny list (the Docker emulation) leaves prlimit64 alone.
    assert run_bpf(sandbox.seccomp_program(arch, ["unshare"], allow_fork=True), prlimit, audit,
                   (0, 7, 0x7FFC0000, 0, 0, 0)) == ALLOW
