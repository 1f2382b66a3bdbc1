"""Process set-up for CPU training: a malloc that keeps freed memory for the next step, and XLA's own
convolution kernels.

XLA's CPU runtime allocates each step's temporaries (large ones for a conv SNN) from its worker
threads. glibc serves such blocks from per-thread arenas whose heaps hold at most 64 MB, so larger ones
are ``mmap``-ed and unmapped again on free, and every step page-faults its whole working set anew
(``benchmarks/README.md``, "Memory allocator", measures the cost). One arena, no
``mmap`` and no trimming keep the pages mapped after the first step; PyTorch gains from the same
setting, and ``benchmarks/README.md`` measures both libraries with and without it. The price: the
process does not give freed memory back to the OS (its resident size stays at the peak).

The price in memory: a block freed by one step is not always reused by the next. XLA allocates a step's
temporaries as one aligned block; when small allocations have taken the edges of the freed block, the
next step's block no longer fits in the hole and the heap grows by another block, so a process can hold
two steps' temporaries (measured for the CIFAR MS-ResNet step: resident memory grew by one temporary
block after a few steps, then stayed). The training loop checks that this fits (``snnjax.train.memory``)
and otherwise calls :func:`release_large_blocks`, which lets malloc map large blocks again (each step then
faults its temporaries in afresh, a few per cent of a large step's time, but holds them only once).

The setting must be made before JAX creates its CPU client (its threads choose their arena on their
first allocation); ``snnjax.main`` calls :func:`retain_freed_memory` first thing on CPU-only machines.
For a program of one's own, call :func:`setup` (both settings) before the first JAX computation, or
start the process with the environment of :data:`RETAIN_ENV`. ``SNNJAX_MALLOC=system`` leaves malloc
alone.

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

_MMAP_MAX_DEFAULT = 65536  # glibc's default M_MMAP_MAX

# jaxlib releases whose XLA:CPU knows the YNN fusion flag (an unknown XLA flag aborts the process)
_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
_YNN_JAXLIB = ("0.10.",)

_ACCELERATOR_DISTS = ("jax-cuda", "jax_cuda", "jax-rocm", "jax_rocm", "libtpu")


_state = {"retained": False}


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def retain_freed_memory() -> bool:
    """Sets glibc malloc to one arena, no ``mmap`` and no trimming; returns whether it was applied
    (``False`` without glibc, or when ``SNNJAX_MALLOC=system``)."""
    if os.environ.get("SNNJAX_MALLOC", "retain") == "system":
        return False
    libc = _libc()
    if libc is None:
        return False
    _state["retained"] = all(libc.mallopt(option, value) == 1 for option, value in _SETTINGS)
    return _state["retained"]


def retaining() -> bool:
    """Whether large freed blocks stay in the heap: :func:`retain_freed_memory` was applied in this
    process, or it started with ``MALLOC_MMAP_MAX_=0`` (:data:`RETAIN_ENV`)."""
    return _state["retained"] or os.environ.get("MALLOC_MMAP_MAX_") == "0"


def release_large_blocks() -> bool:
    """Undoes the ``mmap`` part of :func:`retain_freed_memory` (glibc's default again: blocks above its
    mmap threshold are mapped and returned to the OS when freed); may be called at any time. Returns
    whether it was applied."""
    libc = _libc()
    if libc is None or libc.mallopt(_M_MMAP_MAX, _MMAP_MAX_DEFAULT) != 1:
        return False
    _state["retained"] = False
    os.environ.pop("MALLOC_MMAP_MAX_", None)
    return True


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


def backend_started() -> bool:
    """Whether JAX has created a backend in this process already (then XLA flags and the malloc arena
    setting come too late)."""
    import sys

    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge._backends)
    except (ImportError, AttributeError):
        return True


def setup() -> dict[str, bool]:
    """The CPU process set-up of ``python -m snnjax.main`` for a program of one's own: call it before the
    first JAX computation. On a CPU-only machine it applies :func:`retain_freed_memory` (unless
    ``SNNJAX_MALLOC=system``) and :func:`use_xla_convolutions` (unless ``XLA_FLAGS`` chose); elsewhere,
    or once JAX has started a backend, it changes nothing. Returns what was applied."""
    applied = {"malloc": False, "xla_convolutions": False}
    if backend_started() or not cpu_only():
        return applied
    applied["malloc"] = retain_freed_memory()
    applied["xla_convolutions"] = use_xla_convolutions()
    return applied
