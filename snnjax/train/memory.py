"""Will a step fit? XLA's memory estimate of the compiled train (or eval) step against the memory
available, and the budget that picks a model's rematerialisation level.

A step that cannot fit is stopped before it runs, with one line naming the estimate, the memory available
and a batch size that would fit, instead of the kernel's out-of-memory killer ending the process without a
message minutes later.

On a CPU with the retained malloc of ``snnjax.runtime`` a process can hold two steps' temporaries (a freed
block is not always reused, see that module); for a large step, or one whose temporaries would not fit
twice, the guard lets malloc map large blocks again (``runtime.release_large_blocks``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from snnjax import runtime
from snnjax.errors import ResourceError

GIB = 1 << 30
HEADROOM = 0.9  # of the available memory the step may use (the data pipeline and Python need the rest)
CPU_FACTOR = 1.1
"""Resident memory a CPU step adds per byte of XLA's estimate. Measured on the GAC-MS-ResNet-18 CIFAR step
(T=6, batch 8, glibc's default malloc): the process grew by 1.39 GiB over its size after compilation for
an estimate of 1.34 GiB (1.04). An earlier factor of 2.5 came from runs with the retained malloc, which
can hold two steps' temporaries (:data:`RETAINED_FACTOR`)."""
RETAINED_FACTOR = 2.0  # steps' temporaries a process with runtime.retaining() may hold at once
LARGE_STEP_BYTES = GIB
"""A CPU step needing more than this releases large blocks (``runtime.release_large_blocks``) whether or
not two steps would fit: faulting such a step's temporaries in afresh costs little of its time, holding
them twice can double the process."""


def step_bytes(compiled: Any) -> int | None:
    """Bytes a compiled step allocates beyond its (already resident) arguments: temporaries and the
    outputs that do not reuse a donated argument buffer. None if the backend does not say."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # not every backend implements it
        return None
    if m is None:
        return None
    return int(m.temp_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes)


def available_bytes() -> int | None:
    """Free memory of the first local device (accelerators: its allocator's limit minus what is in use;
    CPU: the kernel's ``MemAvailable``), or None if unknown."""
    return _memory("MemAvailable:", lambda stats: stats["bytes_limit"] - stats.get("bytes_in_use", 0))


def total_bytes() -> int | None:
    """All memory of the first local device (accelerators: its allocator's limit; CPU: ``MemTotal``)."""
    return _memory("MemTotal:", lambda stats: stats["bytes_limit"])


def _memory(meminfo_key: str, of_stats: Callable[[dict], int]) -> int | None:
    device = jax.local_devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        return int(of_stats(stats)) if "bytes_limit" in stats else None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(meminfo_key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def estimate_bytes(compiled: Any) -> int | None:
    """What running ``compiled`` adds to the process (devices: to the device's memory): XLA's
    :func:`step_bytes`, on a CPU scaled by :data:`CPU_FACTOR`. None if the backend does not say."""
    need = step_bytes(compiled)
    if need is None or jax.local_devices()[0].platform != "cpu":
        return need
    return int(need * CPU_FACTOR)


def budget_bytes(budget_gib: float) -> int | None:
    """The train step's memory budget (``config.train.memory_budget_gb``): ``budget_gib`` GiB, or for 0
    half the device's memory (the rest stays for evaluation, the data pipeline and other processes; the
    total, not the free memory, so that a machine always picks the same program); None if unknown. In a
    multi-process run every process gets process 0's budget, so all of them choose the same program."""
    if budget_gib > 0:
        return int(budget_gib * GIB)
    total = total_bytes()
    budget = -1 if total is None else total // 2
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        budget = int(multihost_utils.broadcast_one_to_all(np.int64(budget)))
    return None if budget < 0 else budget


def check_fits(
    compiled: Any,
    batch_size: int,
    *,
    available: int | None = None,
    step: str = "train step",
    batch_key: str = "config.train.batch_size",
    also: str = "",
) -> str | None:
    """Raises :class:`ResourceError` when the ``step`` of global batch ``batch_size`` cannot fit (on a
    CPU with the estimate scaled by :data:`CPU_FACTOR`). On a CPU with the retained malloc, where two
    steps' temporaries would not fit but one does, it releases large blocks
    (``runtime.release_large_blocks``) and returns a one-line note saying so; otherwise None.

    The batch suggested for ``batch_key`` assumes memory proportional to the batch (activations
    dominate), rounded down to a multiple of the device count; ``also`` names a further remedy.
    """
    need = estimate_bytes(compiled)
    available = available_bytes() if available is None else available
    if need is None or available is None:
        return None
    cpu = jax.local_devices()[0].platform == "cpu"
    if need <= HEADROOM * available:
        twice_fits = RETAINED_FACTOR * need <= HEADROOM * available
        if cpu and runtime.retaining() and not (twice_fits and need <= LARGE_STEP_BYTES):
            runtime.release_large_blocks()
            why = f"twice that would not fit in {size(available)}" if not twice_fits else "a large step"
            return (
                f"note: the {step} needs about {size(need)}, {why}: malloc maps large blocks again (each "
                "step faults them in afresh)"
            )
        return None
    n = jax.device_count()
    fits = int(batch_size * HEADROOM * available / need) // n * n
    hint = f"{batch_key}={fits}" if fits > 0 else "a smaller model or a machine with more memory"
    where = "on this machine" if cpu else "per device"
    hint += f", or {also}" if also else ""
    raise ResourceError(
        f"the {step} needs about {size(need)} (estimated from XLA's analysis at batch {batch_size}) but "
        f"only {size(available)} are available {where}: use {hint}"
    )


def size(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / (1 << 20):.1f} MiB"
