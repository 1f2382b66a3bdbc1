"""Timing and memory helpers shared by the benchmarks.

All timings block on the result (``jax.block_until_ready``) and report the median over repeated runs
after warm-up; compile time is measured separately with the AOT API (``lower(...).compile()``).
"""

from __future__ import annotations

import pathlib
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

from snnjax import config as config_lib


def load_config(name: str):
    """``configs/<name>.py[:arg]`` loaded by ``snnjax.config.load_config`` (a locked ``ConfigDict``)."""
    stem, sep, arg = name.partition(":")
    path = pathlib.Path(__file__).resolve().parents[1] / "configs" / f"{stem}.py"
    return config_lib.load_config(f"{path}{sep}{arg}")


def compile_fn(fn: Callable, *args: Any) -> tuple[Any, float]:
    """AOT-compiles ``jax.jit(fn)`` for ``args``; returns ``(compiled, seconds spent tracing+compiling)``."""
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - t0


def median_ms(fn: Callable, *args: Any, warmup: int = 3, runs: int = 20) -> tuple[float, list[float]]:
    """Median wall time of ``fn(*args)`` in milliseconds (result blocked on), and all run times."""
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), times


def memory_analysis(compiled: Any) -> dict[str, int] | None:
    """Byte sizes XLA reports for a compiled program (argument, output, temp; alias subtracted), or None."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # not implemented on every backend
        return None
    if m is None:
        return None
    out = {
        "argument": int(m.argument_size_in_bytes),
        "output": int(m.output_size_in_bytes),
        "temp": int(m.temp_size_in_bytes),
        "alias": int(getattr(m, "alias_size_in_bytes", 0)),
    }
    out["peak_estimate"] = out["argument"] + out["output"] + out["temp"] - out["alias"]
    return out


def device_memory_stats() -> dict[str, int] | None:
    """``jax.devices()[0].memory_stats()`` (GPU/TPU allocators: bytes_in_use, peak_bytes_in_use...),
    or None where the backend does not report it (CPU)."""
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:
        return None
    return dict(stats) if stats else None


class CompileCounter:
    """Counts how often a function is traced (a trace precedes every compilation of a jitted function).

    Usage::

        counter = CompileCounter()
        f = jax.jit(counter.wrap(step))
        f(x); f(x2)
        assert counter.count == 1
    """

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, fn: Callable) -> Callable:
        def traced(*args, **kwargs):
            self.count += 1  # Python side effect: runs at trace time only
            return fn(*args, **kwargs)

        return traced


def assert_no_recompile(fn: Callable, *arg_sets: tuple) -> int:
    """Calls ``jax.jit(fn)`` on each argument tuple (same shapes, new data) and checks that it traced once.

    Returns the number of traces (1)."""
    counter = CompileCounter()
    jitted = jax.jit(counter.wrap(fn))
    for args in arg_sets:
        jax.block_until_ready(jitted(*args))
    if counter.count != 1:
        raise AssertionError(f"{counter.count} traces for {len(arg_sets)} calls with equal shapes")
    return counter.count


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n:.1f} GiB"


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain fixed-width text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def write_marked(path: str, marker: str, md: str) -> None:
    """Replaces the text between ``<!-- marker -->`` and ``<!-- /marker -->`` in the file at ``path``."""
    with open(path) as f:
        text = f.read()
    a, b = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    i, j = text.index(a) + len(a), text.index(b)
    with open(path, "w") as f:
        f.write(text[:i] + "\n" + md + "\n" + text[j:])
