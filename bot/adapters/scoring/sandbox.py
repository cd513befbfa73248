"""The scoring process's sandbox: kernel layers it applies to itself, and what they amount to.

Two halves in one module, because both the bot and the scoring process need it:

* `properties`, `missing`, `summary`, `refusal`: pure functions from the layers a scoring
  process got (`Layers`) to the properties that hold or are missing, the report's line and the
  message refusing a trusted pickle. The bot imports them (`bot.adapters.scoring.sandbox`).
* `apply` and the layer functions: system calls through ctypes (Python 3.11 has no
  os.unshare, seccomp or Landlock), run by `score_worker.py` on itself, single-threaded,
  before it imports numpy or reads a model. The worker loads this file by path (it runs as
  `python -I -B score_worker.py`, never importing the bot), so this module imports only the
  standard library.

The layers, in the order `apply` takes them:

1. network namespace (`unshare(CLONE_NEWNET)`, root or CAP_SYS_ADMIN): an empty network, a
   loopback that is down; connect(2) fails with ENETUNREACH whoever calls it.
2. separate uid (when the bot runs as root and the Python installation is readable by
   `SANDBOX_UID`): setgroups([]), setresgid, setresuid to 65534: no capabilities, another
   owner than the bot, so the kernel's ptrace access check refuses /proc/<bot>/environ, mem
   and process_vm_readv, and RLIMIT_NPROC counts.
3. user namespace (`unshare(CLONE_NEWUSER)`, with a network namespace if 1. did not make
   one): the process keeps its uid (mapped onto itself) and drops every capability (capset),
   so nothing it does counts as privileged in the host's namespaces.
4. PR_SET_NO_NEW_PRIVS and PR_SET_DUMPABLE 0: no privilege through exec, and other processes
   of the same uid (another scoring process) cannot ptrace it or read its /proc files.
5. Landlock (ABI >= 1): read-only access to the Python installation, its site-packages and the
   system's shared libraries, read-write to the work directory, nothing else (no execute right
   anywhere); from ABI 4 no TCP bind/connect, from ABI 6 no signals or abstract unix sockets
   outside the sandbox. Landlock also refuses ptrace-mode access from inside the domain to any
   process outside it: /proc/<bot>/environ and mem, process_vm_readv, even for the same uid.
6. rlimits: address space, CPU seconds, file size, open files, processes, no core dumps, set
   before the filter, which then refuses every change of a limit (a native setrlimit or
   prlimit64 cannot raise them, nor lower the bot's).
7. seccomp filter (`prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`, built here): EPERM (not a
   kill, so the failure is reported) for every socket(2), socketpair, connect, bind, listen,
   accept; execve/execveat; fork, vfork and clone without CLONE_THREAD (threads stay allowed;
   clone3 answers ENOSYS so libc falls back to clone, whose flags the filter can read);
   ptrace, process_vm_readv/writev, kcmp, pidfd_getfd, process_madvise; signals to any other
   process (kill, tgkill, rt_sigqueueinfo to another pid; tkill, pidfd_send_signal); mount and the new
   mount API, pivot_root, chroot, unshare, setns; keyctl, add_key, request_key; bpf,
   perf_event_open, userfaultfd, personality, io_uring (whose requests would bypass the
   filter), open_by_handle_at, syslog, module and kexec loading; setrlimit, and prlimit64 with
   a new limit (reading one stays allowed); and every system call of
   another architecture (x32, i386) than the one the filter is built for (x86_64, aarch64).

The bot adds a clean environment, a wall-clock timeout and a process-group kill.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct
import sys
from dataclasses import asdict, dataclass, field, fields
import stat

SANDBOX_UID = 65534  # nobody
ACCEPT_SETTING = "compare.accept_weaker_isolation"

# --- what the layers give (pure) ----------------------------------------------------------------


@dataclass(frozen=True)
class Layers:
    """Which layers the scoring process got, and why the others are missing."""

    network_namespace: bool = False
    user_namespace: bool = False
    separate_uid: bool = False  # runs as another uid than the bot, without capabilities
    no_new_privs: bool = False
    not_dumpable: bool = False
    landlock_abi: int = 0  # 0: no Landlock
    seccomp: bool = False
    rlimits: bool = False
    nproc_enforced: bool = False  # RLIMIT_NPROC counts (not real root in the host's user namespace)
    audit_hook: bool = False
    problems: dict = field(default_factory=dict)  # layer -> why it is missing

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw) -> "Layers":
        raw = raw if isinstance(raw, dict) else {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


@dataclass(frozen=True)
class Property:
    key: str
    what: str
    held: bool
    by: tuple[str, ...]  # the layers that give it here
    needs: str  # what would give it, for a missing one


NETWORK, PARENT, FILESYSTEM, PROGRAMS, LIMITS = "network", "parent", "filesystem", "programs", "limits"


def properties(layers: Layers) -> tuple[Property, ...]:
    """The sandbox's five properties and whether `layers` give them."""
    ll = layers.landlock_abi >= 1
    net = [n for n, on in (("network namespace", layers.network_namespace), ("seccomp", layers.seccomp)) if on]
    parent = [n for n, on in (("separate uid", layers.separate_uid), (f"Landlock ABI {layers.landlock_abi}", ll))
              if on]
    fs = [f"Landlock ABI {layers.landlock_abi}"] if ll else []
    programs = [n for n, on in (("seccomp", layers.seccomp), (f"Landlock ABI {layers.landlock_abi}", ll)) if on]
    procs = layers.nproc_enforced or layers.seccomp
    limits = ["rlimits" + ("" if layers.nproc_enforced else " (processes: seccomp)")] \
        if layers.rlimits and procs else []
    return (
        Property(NETWORK, "no network, even from native code", bool(net), tuple(net),
                 "a network namespace or the seccomp filter"),
        Property(PARENT, "cannot read the bot's environment or memory", bool(parent), tuple(parent),
                 "Landlock, or a separate uid (the bot running as root with a Python installation readable by "
                 f"uid {SANDBOX_UID})"),
        Property(FILESYSTEM, "cannot write outside its work directory", bool(fs), tuple(fs), "Landlock"),
        Property(PROGRAMS, "cannot start programs", bool(programs), tuple(programs), "the seccomp filter or Landlock"),
        Property(LIMITS, "limited in CPU, memory, file size, open files and processes", bool(limits),
                 tuple(limits), "rlimits, and a separate uid or user namespace or seccomp for the process count"),
    )


def missing(layers: Layers) -> tuple[Property, ...]:
    return tuple(p for p in properties(layers) if not p.held)


def layer_names(layers: Layers) -> list[str]:
    names = []
    if layers.user_namespace and layers.network_namespace:
        names.append("user+network namespace")
    elif layers.network_namespace:
        names.append("network namespace")
    elif layers.user_namespace:
        names.append("user namespace")
    if layers.separate_uid:
        names.append(f"uid {SANDBOX_UID}")
    if layers.landlock_abi:
        names.append(f"Landlock ABI {layers.landlock_abi}")
    if layers.seccomp:
        names.append("seccomp filter")
    if layers.no_new_privs:
        names.append("no new privileges")
    if layers.not_dumpable:
        names.append("not dumpable")
    if layers.rlimits:
        names.append("rlimits")
    if layers.audit_hook:
        names.append("Python audit hook")
    return names


def _why(layers: Layers, prop: Property) -> str:
    keys = {NETWORK: ("network namespace", "seccomp"), PARENT: ("separate uid", "landlock"),
            FILESYSTEM: ("landlock",), PROGRAMS: ("seccomp", "landlock"), LIMITS: ("rlimits", "seccomp")}[prop.key]
    reasons = [f"{k}: {layers.problems[k]}" for k in keys if layers.problems.get(k)]
    return f"needs {prop.needs}" + (f"; {'; '.join(reasons)}" if reasons else "")


def summary(layers: Layers) -> str:
    """One line for the report: the layers in effect, and each missing property with why."""
    text = ", ".join(layer_names(layers)) or "none"
    gone = missing(layers)
    if not gone:
        return f"{text}; all five properties hold (no network, bot's environment and memory unreadable, no writes " \
               "outside the work directory, no programs, CPU/memory/process limits)"
    return (f"{text}; MISSING: " + "; ".join(f"{p.what} ({_why(layers, p)})" for p in gone)
            + f" (trusted pickles are refused unless the server config sets `{ACCEPT_SETTING}: true`)")


def refusal(layers: Layers) -> str:
    """Why a trusted pickle is not loaded under these layers."""
    gone = missing(layers)
    return ("refusing to unpickle a trusted artifact: the scoring sandbox here lacks "
            + "; ".join(f"'{p.what}' ({_why(layers, p)})" for p in gone)
            + f". Unpickling runs code of the artifact's choosing; run modelbot where the kernel gives these layers "
              f"(see the README's sandbox section: Docker's default seccomp profile allows Landlock and seccomp "
              f"filters but not namespaces), or set `{ACCEPT_SETTING}: true` in the server config to accept the "
              "weaker isolation")


# --- applying the layers (system calls) ----------------------------------------------------------

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_THREAD = 0x10000000, 0x20000000, 0x40000000, 0x00010000
CLONE_NAMESPACES = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID \
    | CLONE_NEWNET

PR_SET_DUMPABLE, PR_GET_DUMPABLE, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 4, 3, 22, 38, 39
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
EPERM, ENOSYS = 1, 38

# Syscall numbers: arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h
# (aarch64), checked against the installed headers by tests/compare/test_sandbox_seccomp.py.
SYSCALLS = {
    "x86_64": {
        "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "socketpair": 53, "accept4": 288,
        "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "clone3": 435,
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
        "process_madvise": 440,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
        "unshare": 272, "setns": 308,
        "keyctl": 250, "add_key": 248, "request_key": 249,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "personality": 135,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "name_to_handle_at": 303, "open_by_handle_at": 304, "syslog": 103,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
        "tkill": 200, "pidfd_send_signal": 424,
        "kill": 62, "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
        "setrlimit": 160, "prlimit64": 302,
    },
    "aarch64": {
        "socket": 198, "connect": 203, "accept": 202, "bind": 200, "listen": 201, "socketpair": 199, "accept4": 242,
        "clone": 220, "execve": 221, "execveat": 281, "clone3": 435,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
        "process_madvise": 440,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442,
        "unshare": 97, "setns": 268,
        "keyctl": 219, "add_key": 217, "request_key": 218,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "personality": 92,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "name_to_handle_at": 264, "open_by_handle_at": 265, "syslog": 116,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294,
        "tkill": 130, "pidfd_send_signal": 424,
        "kill": 129, "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
        "setrlimit": 164, "prlimit64": 261,
    },
}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
# Answered ENOSYS rather than EPERM: libc then falls back to clone(2), whose flags the filter reads.
ENOSYS_CALLS = ("clone3",)
# Signals only to the scoring process itself (its first argument, the target pid, is checked),
# so it cannot kill the bot or its other workers even where it keeps the bot's uid.
SIGNAL_CALLS = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
# clone(2) is allowed only with CLONE_THREAD (threads) and without namespace flags.
# The rlimits are set before the filter: after it, setrlimit(2) is refused and prlimit64(2) only
# reads (its third argument, the new limit, must be NULL; glibc's getrlimit is prlimit64 with
# NULL), so no limit can be changed again, raised or lowered, for this process or another one.
LIMIT_CALLS = ("prlimit64",)

LANDLOCK_CREATE_RULESET, LANDLOCK_ADD_RULE, LANDLOCK_RESTRICT_SELF = 444, 445, 446  # every architecture
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK, FS_MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

# Read-only beyond the Python installation: shared libraries and what numeric libraries read
# about the machine. Nothing under /etc but the loader's cache, no /home, /root, /tmp, /proc/<other>.
SYSTEM_READ = ("/usr/lib", "/usr/lib64", "/usr/local/lib", "/lib", "/lib64", "/etc/ld.so.cache",
               "/sys/devices/system/cpu", "/proc/cpuinfo", "/proc/self", "/dev/urandom")
SYSTEM_WRITE = ("/dev/null",)


class LayerError(OSError):
    """A layer the kernel refused: errno, and a message naming the call."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    return libc


def _check(rc, what: str):
    if rc < 0:
        err = ctypes.get_errno()
        raise LayerError(err, f"{what}: {os.strerror(err)}")
    return rc


def machine() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


def unshare(flags: int) -> None:
    _check(_libc().unshare(ctypes.c_int(flags)), "unshare")


def readable_by(uid: int, gid: int, paths) -> str | None:
    """None when every directory on the way to each path lets `uid` in (read and search), else
    the first that does not; from the mode bits, without changing uid."""
    for path in paths:
        parts = os.path.abspath(path).split(os.sep)
        for i in range(1, len(parts) + 1):
            p = os.sep + os.path.join(*parts[1:i]) if i > 1 else os.sep
            try:
                st = os.stat(p)
            except OSError:
                break
            if not stat.S_ISDIR(st.st_mode):
                need = 4
            else:
                need = 5
            mode = st.st_mode
            bits = (mode >> 6) & 7 if st.st_uid == uid else (mode >> 3) & 7 if st.st_gid == gid else mode & 7
            if bits & need != need:
                return p
    return None


def chown_tree(top: str, uid: int) -> None:
    for root, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)
    os.chown(top, uid, uid)


def drop_uid(uid: int = SANDBOX_UID) -> None:
    """setgroups([]), setresgid, setresuid: the process gives up root and its capabilities."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # A uid change makes the process non-dumpable, and /proc/self/uid_map root's: dumpable again
    # until enter_user_namespace has written its maps (`not_dumpable` ends it before any model).
    _libc().prctl(PR_SET_DUMPABLE, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter_user_namespace(flags: int = 0) -> None:
    """unshare(CLONE_NEWUSER | flags), map the uid and gid onto themselves, drop all capabilities."""
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER | flags)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    drop_capabilities()


def drop_capabilities() -> None:
    """capset(2) to empty effective, permitted and inheritable sets (version 3: two data words)."""
    header = struct.pack("Ii", 0x20080522, 0)
    data = bytes(24)
    _check(_libc().syscall(ctypes.c_long(126 if machine() == "x86_64" else 91), ctypes.c_char_p(header),
                           ctypes.c_char_p(data)), "capset")


def no_new_privs() -> None:
    _check(_libc().prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                         ctypes.c_ulong(0)), "prctl(PR_SET_NO_NEW_PRIVS)")


def not_dumpable() -> None:
    _check(_libc().prctl(PR_SET_DUMPABLE, ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0),
                         ctypes.c_ulong(0)), "prctl(PR_SET_DUMPABLE, 0)")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when it has none (ENOSYS, EOPNOTSUPP: disabled at boot)."""
    rc = _libc().syscall(ctypes.c_long(LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0),
                         ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(int(rc), 0)


def landlock_masks(abi: int) -> tuple[int, int, int]:
    """(handled fs access, handled net access, scoped) that the ABI version knows."""
    fs = (1 << 13) - 1
    if abi >= 2:
        fs |= FS_REFER
    if abi >= 3:
        fs |= FS_TRUNCATE
    if abi >= 5:
        fs |= FS_IOCTL_DEV
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    return fs, net, scoped


def landlock(read: list[str], write: list[str], abi: int | None = None) -> int:
    """Restrict this process (and what it starts) to reading `read` and reading and writing
    `write`; the ABI version used. LayerError when the kernel has no Landlock."""
    abi = landlock_abi() if abi is None else abi
    if abi < 1:
        raise LayerError(ENOSYS, "the kernel has no Landlock (before Linux 5.13, or not in the lsm= list)")
    handled_fs, handled_net, scoped = landlock_masks(abi)
    attr = struct.pack("QQQ", handled_fs, handled_net, scoped)[:8 if abi < 4 else 16 if abi < 6 else 24]
    libc = _libc()
    ruleset = _check(libc.syscall(ctypes.c_long(LANDLOCK_CREATE_RULESET), ctypes.c_char_p(attr),
                                  ctypes.c_size_t(len(attr)), ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        ro_dir = FS_READ_FILE | FS_READ_DIR
        rw_dir = ro_dir | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG \
            | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
        for paths, rights in ((read, ro_dir), (write, rw_dir)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # absent here: nothing to allow
                try:
                    allowed = rights if os.path.isdir(path) else rights & FILE_RIGHTS & handled_fs
                    rule = struct.pack("=Qi", allowed & handled_fs, fd)
                    _check(libc.syscall(ctypes.c_long(LANDLOCK_ADD_RULE), ctypes.c_int(ruleset),
                                        ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH), ctypes.c_char_p(rule),
                                        ctypes.c_uint32(0)), f"landlock_add_rule({path})")
                finally:
                    os.close(fd)
        _check(libc.syscall(ctypes.c_long(LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def seccomp_program(arch: str, deny=None, *, allow_fork: bool = False,
                    self_pid: int | None = None) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) BPF instructions; every result not ALLOW is ERRNO.

    `deny`: the system calls answered EPERM (default: every one in SYSCALLS but clone, clone3,
    prlimit64 and, with `self_pid`, the SIGNAL_CALLS); clone(2) is allowed only for threads (CLONE_THREAD), or, with
    `allow_fork`, for anything without namespace flags; clone3 answers ENOSYS (its flags are
    behind a pointer); with `self_pid`, kill/tgkill/rt_(tg)sigqueueinfo only to that pid; by
    default (`deny` None) prlimit64 only without a new limit (LIMIT_CALLS).
    """
    table = SYSCALLS[arch]
    guard_limits = deny is None
    checked = ("clone", *(SIGNAL_CALLS if self_pid is not None else ()), *(LIMIT_CALLS if guard_limits else ()))
    names = [n for n in table if n not in ENOSYS_CALLS + checked] if deny is None else list(deny)
    LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
    prog: list = []  # [code, jump-if-true label, jump-if-false label, k]

    def emit(code, k, jt=None, jf=None):
        prog.append([code, jt, jf, k])

    emit(LD_W_ABS, 4)  # seccomp_data.arch
    emit(JEQ_K, AUDIT_ARCH[arch], None, "deny")
    emit(LD_W_ABS, 0)  # seccomp_data.nr
    if arch == "x86_64":
        emit(JGE_K, X32_SYSCALL_BIT, "deny", None)
    for name in names:
        if name in table:
            emit(JEQ_K, table[name], "deny", None)
    for name in ENOSYS_CALLS:
        emit(JEQ_K, table[name], "enosys", None)
    if self_pid is not None:
        for name in SIGNAL_CALLS:
            emit(JEQ_K, table[name], "signal", None)
    if guard_limits:
        emit(JEQ_K, table["prlimit64"], "limits", None)
    emit(JEQ_K, table["clone"], "clone", None)
    emit(RET_K, SECCOMP_RET_ALLOW)
    labels = {}
    if guard_limits:
        labels["limits"] = len(prog)
        emit(LD_W_ABS, 32)  # seccomp_data.args[2], low 32 bits: the new limit's address
        emit(JEQ_K, 0, None, "deny")
        emit(LD_W_ABS, 36)  # its high 32 bits
        emit(JEQ_K, 0, None, "deny")
        emit(RET_K, SECCOMP_RET_ALLOW)
    if self_pid is not None:
        labels["signal"] = len(prog)
        emit(LD_W_ABS, 16)  # args[0]: the target pid (thread group) of the signal
        emit(JEQ_K, self_pid & 0xFFFFFFFF, None, "deny")
        emit(RET_K, SECCOMP_RET_ALLOW)
    labels["clone"] = len(prog)
    emit(LD_W_ABS, 16)  # seccomp_data.args[0], low 32 bits (little-endian): the clone flags
    emit(JSET_K, CLONE_NAMESPACES, "deny", None)
    if not allow_fork:
        emit(JSET_K, CLONE_THREAD, None, "deny")
    emit(RET_K, SECCOMP_RET_ALLOW)
    labels["deny"] = len(prog)
    emit(RET_K, SECCOMP_RET_ERRNO | EPERM)
    labels["enosys"] = len(prog)
    emit(RET_K, SECCOMP_RET_ERRNO | ENOSYS)
    out = []
    for pc, (code, jt, jf, k) in enumerate(prog):
        def rel(target):
            if target is None:
                return 0
            off = labels[target] - pc - 1
            assert 0 <= off < 256
            return off
        out.append((code, rel(jt), rel(jf), k))
    return out


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp(arch: str | None = None, deny=None, *, allow_fork: bool = False) -> None:
    """Install the filter of `seccomp_program` (needs no_new_privs first, or CAP_SYS_ADMIN);
    ours (`deny` None) lets signals reach only this process."""
    arch = arch or machine()
    if arch not in SYSCALLS:
        raise LayerError(ENOSYS, f"no seccomp filter for the {arch} architecture (only x86_64 and aarch64)")
    program = seccomp_program(arch, deny, allow_fork=allow_fork, self_pid=os.getpid() if deny is None else None)
    raw = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    prog = _SockFprog(len(program), ctypes.cast(buf, ctypes.c_void_p))
    _check(_libc().prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog),
                         ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl(PR_SET_SECCOMP)")


def set_limits(limits: dict) -> None:
    mb = 1024 * 1024
    mem = int(limits.get("memory_mb", 2048)) * mb
    cpu = int(limits.get("cpu_seconds", 300))
    fsize = int(limits.get("max_output_mb", 512)) * mb
    nofile = int(limits.get("max_open_files", 256))
    nproc = int(limits.get("max_processes", 64))
    for which, value in ((resource.RLIMIT_AS, (mem, mem)), (resource.RLIMIT_CPU, (cpu, cpu + 5)),
                         (resource.RLIMIT_FSIZE, (fsize, fsize)), (resource.RLIMIT_CORE, (0, 0)),
                         (resource.RLIMIT_NOFILE, (nofile, nofile)), (resource.RLIMIT_NPROC, (nproc, nproc))):
        resource.setrlimit(which, value)


def _nproc_enforced(user_namespace: bool) -> bool:
    """RLIMIT_NPROC is not applied to real root of the host's user namespace, nor to a process
    with CAP_SYS_ADMIN or CAP_SYS_RESOURCE there (kernel/fork.c)."""
    if user_namespace:
        return True
    try:
        with open("/proc/self/status") as fh:
            cap = next(int(line.split()[1], 16) for line in fh if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        cap = 0
    return os.getuid() != 0 and not cap & ((1 << 21) | (1 << 24))


def python_paths() -> list[str]:
    """What the interpreter reads: its installation and every directory on sys.path."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted(os.path.realpath(p) for p in paths)


def apply(workdir: str, limits: dict, *, extra_read=(), audit_hook=None) -> Layers:
    """Apply every layer the kernel allows to this process, in order; which ones it got.

    Run single-threaded (CLONE_NEWUSER needs it, and seccomp/Landlock bind only this thread)
    and before any model is read. A layer the kernel refuses is recorded in `problems`, never
    fatal: the caller decides from `properties` what to refuse.
    """
    problems: dict[str, str] = {}
    got: dict = {}
    if not sys.platform.startswith("linux"):
        problems["network namespace"] = f"Linux-only (this is {sys.platform})"
        set_limits(limits)
        return Layers(rlimits=True, problems=problems)
    read = python_paths() + [os.path.realpath(p) for p in extra_read]
    # 1. network namespace as root (CAP_SYS_ADMIN), before giving root up
    if os.geteuid() == 0:
        try:
            unshare(CLONE_NEWNET)
            got["network_namespace"] = True
        except OSError as exc:
            problems["network namespace"] = f"unshare(CLONE_NEWNET): {exc.strerror or exc}"
    # 2. a separate uid
    if os.geteuid() == 0:
        blocked = readable_by(SANDBOX_UID, SANDBOX_UID, [p for p in read if os.path.exists(p)])
        if blocked:
            problems["separate uid"] = f"{blocked} is not readable by uid {SANDBOX_UID}, which could then not " \
                                       "import Python's modules"
        else:
            try:
                chown_tree(workdir, SANDBOX_UID)  # the bot (root) reads the results whoever owns them
                drop_uid(SANDBOX_UID)
                got["separate_uid"] = True
            except OSError as exc:
                problems["separate uid"] = f"setresuid({SANDBOX_UID}): {exc.strerror or exc}"
    else:
        problems["separate uid"] = "the bot does not run as root, so the scoring process keeps the bot's uid"
    # 3. user namespace (and network namespace, if not made yet)
    try:
        enter_user_namespace(0 if got.get("network_namespace") else CLONE_NEWNET)
        got["user_namespace"] = True
        got["network_namespace"] = True
        problems.pop("network namespace", None)
    except OSError as exc:
        problems["user namespace"] = f"unshare(CLONE_NEWUSER): {exc.strerror or exc}"
        if not got.get("network_namespace") and "network namespace" not in problems:
            problems["network namespace"] = f"unshare(CLONE_NEWUSER|CLONE_NEWNET): {exc.strerror or exc}"
    # 4. no new privileges, not dumpable
    for key, fn in (("no_new_privs", no_new_privs), ("not_dumpable", not_dumpable)):
        try:
            fn()
            got[key] = True
        except OSError as exc:
            problems[key.replace("_", " ")] = str(exc)
    # 5. Landlock
    try:
        got["landlock_abi"] = landlock(read + list(SYSTEM_READ), [workdir, *SYSTEM_WRITE])
    except OSError as exc:
        problems["landlock"] = str(exc) if isinstance(exc, LayerError) else f"{exc.strerror or exc}"
    # 6. rlimits, before the filter: once it is installed no limit can be set again
    try:
        set_limits(limits)
        got["rlimits"] = True
    except (OSError, ValueError) as exc:
        problems["rlimits"] = str(exc)
    # 7. seccomp (refuses setrlimit, and prlimit64 with a new limit)
    try:
        seccomp()
        got["seccomp"] = True
    except OSError as exc:
        problems["seccomp"] = str(exc)
    got["nproc_enforced"] = _nproc_enforced(bool(got.get("user_namespace")))
    if audit_hook is not None:
        audit_hook()
        got["audit_hook"] = True
    return Layers(problems=problems, **got)
