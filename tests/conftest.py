"""Test-session set-up: one persistent XLA compilation cache for the tests and the CLI runs they start.

Many tests compile the same programs (the quick-start train step, above all) in this process and in
subprocesses; the cache under ``.pytest_cache`` lets each compile once per machine. JAX keys entries by
its version and the program, so results are the same with or without it.
"""

import os
import pathlib
import signal
import sys
import threading

import pytest

_CACHE = pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax-compilation"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


@pytest.fixture
def run_main(capsys):
    """Runs the CLI, ``snnjax.main.main(argv)``, in this process; returns ``(exit code, stdout, stderr)``.
    Restores the signal handlers and hooks it installs."""
    from snnjax import main as cli_main

    saved = (
        signal.getsignal(signal.SIGTERM),
        signal.getsignal(signal.SIGINT),
        threading.excepthook,
        sys.unraisablehook,
    )

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli_main.main(["snnjax.main", *map(str, argv)])
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    signal.signal(signal.SIGTERM, saved[0])
    signal.signal(signal.SIGINT, saved[1])
    threading.excepthook, sys.unraisablehook = saved[2:]
