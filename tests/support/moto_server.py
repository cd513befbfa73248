"""Run moto's server with the project's SageMaker emulator installed.

    python -m tests.support.moto_server --port 5000 [--host 127.0.0.1]

Takes moto_server's own arguments; run it from the repository root so `tests` imports.
"""

from __future__ import annotations

import sys

from tests.support import sagemaker_emulator


def main(argv: list[str] | None = None) -> None:
    """Install the emulator, then hand over to moto's server entry point."""
    sagemaker_emulator.install()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
