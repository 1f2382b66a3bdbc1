"""Process set-up for CPU training: a malloc that keeps freed memory for the next step.

XLA's CPU runtime allocates each step's temporaries (hundreds of MB for a conv SNN) from its worker
threads. glibc serves such blocks from per-thread arenas whose heaps hold at most 64 MB, so larger ones
are ``mmap``-ed and unmapped again on free, and every step page-faults its whole working set anew (W2 of
``benchmarks/``: 82,000 minor faults and a third of the CPU time in the kernel per step). One arena, no
``mmap`` and no trimming keep the pages mapped after the first step; PyTorch gains from the same
setting, and ``benchmarks/README.md`` measures both libraries with and without it. The price: the
process does not give freed memory back to the OS (its resident size stays at the peak).

The setting must be made before JAX creates its CPU client (its threads choose their arena on their
first allocation); ``snnjax.main`` calls :func:`retain_freed_memory` first thing on CPU-only machines.
For a program of one's own, call it before the first JAX computation, or start the process with the
environment of :data:`RETAIN_ENV`. ``SNNJAX_MALLOC=system`` leaves malloc alone.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
_SETTINGS = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))

# the same setting as environment variables, read by glibc when a process starts
RETAIN_ENV = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)}

_ACCELERATOR_DISTS = ("jax-cuda", "jax_cuda", "jax-rocm", "jax_rocm", "libtpu")


def retain_freed_memory() -> bool:
    """Sets glibc malloc to one arena, no ``mmap`` and no trimming; returns whether it was applied
    (``False`` without glibc, or when ``SNNJAX_MALLOC=system``)."""
    if os.environ.get("SNNJAX_MALLOC", "retain") == "system":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return all(libc.mallopt(option, value) == 1 for option, value in _SETTINGS)


def cpu_only() -> bool:
    """Whether JAX will compute on the CPU, decided without initialising JAX: ``JAX_PLATFORMS=cpu``, or no
    GPU/TPU plugin (``jax-cuda*``, ``jax-rocm*``, ``libtpu``) is installed."""
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    names = (dist.metadata["Name"] or "" for dist in importlib.metadata.distributions())
    return not any(name.lower().startswith(_ACCELERATOR_DISTS) for name in names)
