"""Native code for the sandbox tests: C compiled at test time into a shared library."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def compile_shared(tmp_path_factory, name: str, source: str) -> bytes:
    """`source` compiled with gcc into lib `name`.so; the test is skipped when gcc is missing."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: the native attacks are compiled at test time")
    d = tmp_path_factory.mktemp(name)
    (d / f"{name}.c").write_text(source)
    subprocess.run([gcc, "-shared", "-fPIC", "-O0", "-o", str(d / f"{name}.so"), str(d / f"{name}.c")],
                   check=True, capture_output=True, timeout=120)
    return (d / f"{name}.so").read_bytes()
