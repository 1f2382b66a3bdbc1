"""Test-session set-up: one persistent XLA compilation cache for the tests and the CLI runs they start.

Many tests compile the same programs (the quick-start train step, above all) in this process and in
subprocesses; the cache under ``.pytest_cache`` lets each compile once per machine. JAX keys entries by
its version and the program, so results are the same with or without it.
"""

import os
import pathlib

_CACHE = pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax-compilation"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
