"""The sandbox's pure half: layers -> properties, the report line, the refusal, the seccomp program.

The properties each layer is credited with here are the ones test_sandbox_native.py shows it
giving against native code (each layer alone, in a fresh interpreter).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.adapters.scoring import sandbox as S

FULL = S.Layers(network_namespace=True, user_namespace=True, separate_uid=True, no_new_privs=True,
                not_dumpable=True, landlock_abi=7, seccomp=True, rlimits=True, nproc_enforced=True, audit_hook=True)
# Docker's default profile, root in the container: no namespaces (unshare needs CAP_SYS_ADMIN),
# but setuid, prctl, seccomp and landlock_* are allowed.
DOCKER = S.Layers(separate_uid=True, no_new_privs=True, not_dumpable=True, landlock_abi=3, seccomp=True, rlimits=True,
                  nproc_enforced=True, audit_hook=True,
                  problems={"network namespace": "unshare(CLONE_NEWNET): Operation not permitted",
                            "user namespace": "unshare(CLONE_NEWUSER): Operation not permitted"})
# What the sandbox was before issue #11: an audit hook and rlimits (and a namespace where it could).
OLD = S.Layers(network_namespace=True, user_namespace=True, rlimits=True, nproc_enforced=True, audit_hook=True)


def held(layers) -> dict[str, tuple[str, ...]]:
    return {p.key: p.by for p in S.properties(layers) if p.held}


def test_every_property_holds_with_every_layer():
    assert held(FULL) == {
        "network": ("network namespace", "seccomp"), "parent": ("separate uid", "Landlock ABI 7"),
        "filesystem": ("Landlock ABI 7",), "programs": ("seccomp", "Landlock ABI 7"), "limits": ("rlimits",)}
    assert S.missing(FULL) == ()
    assert S.summary(FULL).startswith("user+network namespace, uid 65534, Landlock ABI 7, seccomp filter, no new "
                                      "privileges, not dumpable, rlimits, Python audit hook; all five properties hold")


def test_under_dockers_default_profile_seccomp_and_landlock_carry_every_property():
    assert set(held(DOCKER)) == {"network", "parent", "filesystem", "programs", "limits"}
    assert held(DOCKER)["network"] == ("seccomp",)


def test_a_namespace_and_an_audit_hook_leave_the_issues_holes_open():
    """The issue's findings: native code read and wrote files outside the work directory, ran
    system(), and (with no namespace) reached the network and the parent's environ."""
    assert [p.key for p in S.missing(OLD)] == ["parent", "filesystem", "programs"]
    hook_only = S.Layers(rlimits=True, audit_hook=True,
                         problems={"network namespace": "unshare(CLONE_NEWUSER|CLONE_NEWNET): Operation not permitted",
                                   "seccomp": "prctl(PR_SET_SECCOMP): Invalid argument"})
    assert [p.key for p in S.missing(hook_only)] == ["network", "parent", "filesystem", "programs", "limits"]
    text = S.summary(hook_only)
    assert text.startswith("rlimits, Python audit hook; MISSING: no network, even from native code (needs a network "
                           "namespace or the seccomp filter; network namespace: unshare(CLONE_NEWUSER|CLONE_NEWNET): "
                           "Operation not permitted; seccomp: prctl(PR_SET_SECCOMP): Invalid argument)")
    assert text.endswith("(trusted pickles are refused unless the server config sets "
                         "`compare.accept_weaker_isolation: true`)")


def test_each_layer_is_credited_only_with_what_it_gives():
    assert held(S.Layers(seccomp=True)) == {"network": ("seccomp",), "programs": ("seccomp",)}
    assert held(S.Layers(landlock_abi=1)) == {"parent": ("Landlock ABI 1",), "filesystem": ("Landlock ABI 1",),
                                              "programs": ("Landlock ABI 1",)}
    assert held(S.Layers(separate_uid=True)) == {"parent": ("separate uid",)}
    assert held(S.Layers(network_namespace=True)) == {"network": ("network namespace",)}
    # a user namespace keeps the bot's uid: it hides nothing of the bot by itself
    assert held(S.Layers(user_namespace=True, not_dumpable=True, no_new_privs=True)) == {}


def test_process_limits_need_an_enforced_rlimit_or_the_filter():
    # real root in the host's user namespace: RLIMIT_NPROC is not applied (kernel/fork.c)
    assert "limits" not in held(S.Layers(rlimits=True, nproc_enforced=False))
    assert held(S.Layers(rlimits=True, nproc_enforced=False, seccomp=True))["limits"] == \
        ("rlimits (processes: seccomp)",)
    assert held(S.Layers(rlimits=True, nproc_enforced=True))["limits"] == ("rlimits",)
    assert "limits" not in held(S.Layers(rlimits=False, nproc_enforced=True, seccomp=True))


def test_the_refusal_names_each_missing_property_its_reason_and_the_setting():
    layers = S.Layers(network_namespace=True, user_namespace=True, seccomp=True, rlimits=True, nproc_enforced=True,
                      problems={"landlock": "the kernel has no Landlock (before Linux 5.13, or not in the lsm= list)",
                                "separate uid": "the bot does not run as root, so the scoring process keeps the "
                                                "bot's uid"})
    text = S.refusal(layers)
    assert text.startswith("refusing to unpickle a trusted artifact: the scoring sandbox here lacks 'cannot read the "
                           "bot's environment or memory' (needs Landlock, or a separate uid")
    assert "separate uid: the bot does not run as root" in text
    assert "'cannot write outside its work directory' (needs Landlock; landlock: the kernel has no Landlock" in text
    assert "no network" not in text and "cannot start programs" not in text  # those hold
    assert "`compare.accept_weaker_isolation: true`" in text


def test_layers_travel_as_json_and_ignore_what_they_do_not_know():
    assert S.Layers.from_dict(FULL.to_dict()) == FULL
    assert S.Layers.from_dict({"seccomp": True, "from_a_newer_worker": 1}) == S.Layers(seccomp=True)
    assert S.Layers.from_dict(None) == S.Layers()  # an old or broken worker: nothing assumed


# --- the seccomp program ---------------------------------------------------------------------------------


def run_bpf(program, nr: int, arch: int, args=(0,) * 6) -> int:
    """Evaluate a classic-BPF seccomp program (the instructions seccomp_program emits) on seccomp_data."""
    data = {0: nr, 4: arch}
    for i, a in enumerate(args):
        data[16 + 8 * i] = a & 0xFFFFFFFF
        data[20 + 8 * i] = a >> 32
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:
            acc = data[k]
        elif code == 0x06:
            return k
        else:
            cond = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if cond else jf
        pc += 1


ALLOW, EPERM, ENOSYS = S.SECCOMP_RET_ALLOW, S.SECCOMP_RET_ERRNO | 1, S.SECCOMP_RET_ERRNO | 38


@pytest.mark.parametrize("arch", sorted(S.SYSCALLS))
def test_the_filter_refuses_its_calls_and_allows_the_rest(arch):
    program = S.seccomp_program(arch, self_pid=4321)
    table, audit = S.SYSCALLS[arch], S.AUDIT_ARCH[arch]
    assert len(program) < 4096 and all(0 <= jt < 256 and 0 <= jf < 256 for _, jt, jf, _ in program)
    for name, nr in table.items():
        if name not in ("clone", "clone3", *S.SIGNAL_CALLS, *S.LIMIT_CALLS):
            assert run_bpf(program, nr, audit) == EPERM, name
    for name in S.SIGNAL_CALLS:  # to itself only: not to the bot, not to -1 (everyone), not to its group (0)
        assert run_bpf(program, table[name], audit, (4321, 9, 0, 0, 0, 0)) == ALLOW, name
        for target in (1, 4320, -1, 0):
            assert run_bpf(program, table[name], audit, (target, 9, 0, 0, 0, 0)) == EPERM, (name, target)
    assert run_bpf(S.seccomp_program(arch), table["kill"], audit, (1, 9, 0, 0, 0, 0)) == EPERM  # no pid: none
    assert run_bpf(program, table["clone3"], audit) == ENOSYS  # libc falls back to clone(2)
    read, openat, mmap = (0, 257, 9) if arch == "x86_64" else (63, 56, 222)
    for nr in (read, openat, mmap, S.LANDLOCK_RESTRICT_SELF):
        assert run_bpf(program, nr, audit) == ALLOW
    pthread = 0x3D0F00  # CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
    assert run_bpf(program, table["clone"], audit, (pthread, 0, 0, 0, 0, 0)) == ALLOW
    assert run_bpf(program, table["clone"], audit, (17, 0, 0, 0, 0, 0)) == EPERM  # fork(): SIGCHLD
    assert run_bpf(program, table["clone"], audit, (0x4111, 0, 0, 0, 0, 0)) == EPERM  # vfork-style posix_spawn
    assert run_bpf(program, table["clone"], audit, (pthread | S.CLONE_NEWUSER, 0, 0, 0, 0, 0)) == EPERM
    assert run_bpf(program, read, 0x40000003) == EPERM  # i386 (int 0x80): another table, refused
    if arch == "x86_64":
        assert run_bpf(program, read | S.X32_SYSCALL_BIT, audit) == EPERM  # x32 ABI


def test_the_docker_emulation_filter_allows_fork_but_not_namespaces():
    program = S.seccomp_program("x86_64", ["unshare"], allow_fork=True)
    assert run_bpf(program, 272, S.AUDIT_ARCH["x86_64"]) == EPERM
    assert run_bpf(program, 56, S.AUDIT_ARCH["x86_64"], (17, 0, 0, 0, 0, 0)) == ALLOW
    assert run_bpf(program, 56, S.AUDIT_ARCH["x86_64"], (17 | S.CLONE_NEWNET, 0, 0, 0, 0, 0)) == EPERM
    assert run_bpf(program, 41, S.AUDIT_ARCH["x86_64"]) == ALLOW  # socket: not in this list


HEADERS = {"x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
           "aarch64": Path("/usr/include/asm-generic/unistd.h")}


@pytest.mark.parametrize("arch", sorted(S.SYSCALLS))
def test_the_syscall_numbers_match_the_kernel_headers(arch):
    header = HEADERS[arch]
    if not header.exists():
        pytest.skip(f"{header} is not installed (linux-libc-dev)")
    numbers = {m[1]: int(m[2]) for m in re.finditer(r"#define __NR(?:3264)?_(\w+)\s+(\d+)", header.read_text())}
    checked = 0
    for name, nr in S.SYSCALLS[arch].items():
        if name in numbers:  # a header older than the call (mount_setattr: 5.12) does not list it
            assert numbers[name] == nr, name
            checked += 1
    assert checked >= len(S.SYSCALLS[arch]) - 5


def test_landlock_masks_follow_the_abi():
    assert S.landlock_masks(1) == ((1 << 13) - 1, 0, 0)
    assert S.landlock_masks(3)[0] == (1 << 15) - 1
    assert S.landlock_masks(4)[1] == S.NET_BIND_TCP | S.NET_CONNECT_TCP
    assert S.landlock_masks(6) == ((1 << 16) - 1, 3, S.SCOPE_ABSTRACT_UNIX_SOCKET | S.SCOPE_SIGNAL)


def test_readable_by_finds_the_directory_that_keeps_a_uid_out():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # pytest's tmp_path lies under a 0700 directory
        top = Path(tmp)
        top.chmod(0o755)
        inner = top / "closed" / "python"
        inner.mkdir(parents=True)
        (top / "closed").chmod(0o700)
        other = 65534 if top.stat().st_uid != 65534 else 65533
        assert S.readable_by(other, other, [str(inner)]) == str(top / "closed")
        (top / "closed").chmod(0o750)  # group, not others
        assert S.readable_by(other, other, [str(inner)]) == str(top / "closed")
        (top / "closed").chmod(0o755)
        assert S.readable_by(other, other, [str(inner)]) is None
