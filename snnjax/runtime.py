"""Process set-up for CPU training: a malloc that keeps freed memory for the next step, and XLA's own
convolution kernels.

XLA's CPU runtime allocates each step's temporaries (large ones for a conv SNN) from its worker
threads. glibc serves such blocks from per-thread arenas whose heaps hold at most 64 MB, so larger ones
are ``mmap``-ed and unmapped again on free, and every step page-faults its whole working set anew
(``benchmarks/README.md``, "Memory allocator", measures the cost). One arena, no
``mmap`` and no trimming keep the pages mapped after the first step; PyTorch gains from the same
setting, and ``benchmarks/README.md`` measures both libraries with and without it. The price: the
process does not give freed memory back to the OS (its resident size stays at the peak).

The setting must be made before JAX creates its CPU client (its threads choose their arena on their
first allocation); ``snnjax.main`` calls :func:`retain_freed_memory` first thing on CPU-only machines.
For a program of one's own, call it before the first JAX computation, or start the process with the
environment of :data:`RETAIN_ENV`. ``SNNJAX_MALLOC=system`` leaves malloc alone.

XLA:CPU of jaxlib 0.10 hands convolutions to YNNPACK ("individual_convolution" library fusions). For
the narrow convolutions of SNNs (15-64 channels) and the transposed ones of SPIDE's backward solver its
kernels run slower than XLA's built-in (Eigen) convolutions (``benchmarks/README.md``, "XLA:CPU
convolutions").
:func:`use_xla_convolutions` removes that fusion type through ``XLA_FLAGS`` (which XLA reads when JAX
creates its first backend); ``snnjax.main`` applies it on CPU-only machines, unless
``XLA_FLAGS`` already sets ``--xla_cpu_experimental_ynn_fusion_type`` (e.g. ``=+individual_convolution``
to keep YNNPACK's convolutions).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import re

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
_SETTINGS = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))

# the same setting as environment variables, read by glibc when a process starts
RETAIN_ENV = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1)}

# jaxlib releases whose XLA:CPU knows the YNN fusion flag (an unknown XLA flag aborts the process)
_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
_YNN_JAXLIB = ("0.10.",)

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


def _jaxlib_has_ynn() -> bool:
    try:
        return importlib.metadata.version("jaxlib").startswith(_YNN_JAXLIB)
    except importlib.metadata.PackageNotFoundError:
        return False


def with_xla_convolutions(xla_flags: str) -> str:
    """``xla_flags`` plus ``--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`` (XLA's own
    convolutions instead of YNNPACK's); unchanged where it sets that flag already or jaxlib is not one of
    :data:`_YNN_JAXLIB`."""
    if _YNN_FLAG in xla_flags or not _jaxlib_has_ynn():
        return xla_flags
    return f"{xla_flags} {_YNN_FLAG}=-individual_convolution".strip()


def ynnpack_convolutions(xla_flags: str | None = None) -> bool:
    """Whether XLA:CPU hands convolutions to YNNPACK under ``xla_flags`` (default: ``$XLA_FLAGS``): jaxlib
    0.10's default, unless the flag removes (``-individual_convolution``) or omits (an explicit list)
    that fusion type."""
    flags = os.environ.get("XLA_FLAGS", "") if xla_flags is None else xla_flags
    if not _jaxlib_has_ynn():
        return False
    match = re.search(re.escape(_YNN_FLAG) + r"=(\S*)", flags)
    if match is None:
        return True
    items = [item for item in match.group(1).split(",") if item]
    if items and all(item[0] in "+-" for item in items):  # edits of the default list
        return "-individual_convolution" not in items
    return "individual_convolution" in items


def use_xla_convolutions() -> bool:
    """Applies :func:`with_xla_convolutions` to ``$XLA_FLAGS``; returns whether it changed. Call it before
    the first JAX computation."""
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = with_xla_convolutions(flags)
    return os.environ["XLA_FLAGS"] != flags


def cpu_only() -> bool:
    """Whether JAX will compute on the CPU, decided without initialising JAX: ``JAX_PLATFORMS=cpu``, or no
    GPU/TPU plugin (``jax-cuda*``, ``jax-rocm*``, ``libtpu``) is installed."""
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    names = (dist.metadata["Name"] or "" for dist in importlib.metadata.distributions())
    return not any(name.lower().startswith(_ACCELERATOR_DISTS) for name in names)
