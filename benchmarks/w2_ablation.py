"""W2 (snnjax) with and without each of its two CPU speed-ups, interleaved in one process.

- ``chunks``: convolutions over cache-sized batch chunks (``snnjax.conv.batch_chunk``); off = one im2col
  over the whole batch (``snnjax.conv.CHUNK_BYTES`` set beyond any patch size while tracing).
- ``static``: the first conv + BN run once on the direct-coded image (``blocks.stem_over_time``); off = the
  image is repeated ``T`` times before the model, which then takes the time-folded path.

Values and gradients are the same in all four (``tests/test_conv.py``, ``tests/models/test_basic.py``).
The process's malloc is whatever it was started with (``snnjax.runtime``; compare under
``env MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``).

    python benchmarks/w2_ablation.py [--rounds 5] [--per-round 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import impl_jax
import jax.numpy as jnp
import workloads as wl
from bench_step import ce, nnx_train_step

from snnjax import conv


def build(chunks: bool, static: bool):
    s = wl.spec("w2")
    model = impl_jax._snnjax_model(s, "matmul")
    t = s["T"]
    if static:
        loss = lambda m, b, k: ce(m(b["x"]).mean(0), b["y"])
    else:
        loss = lambda m, b, k: ce(m(jnp.broadcast_to(b["x"], (t, *b["x"].shape))).mean(0), b["y"])
    bench = nnx_train_step(model, loss, s)
    saved = conv.CHUNK_BYTES
    conv.CHUNK_BYTES = saved if chunks else 1 << 62
    try:
        for _ in range(3):  # traced and compiled on the first step
            bench.step()
    finally:
        conv.CHUNK_BYTES = saved
    return bench


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per-round", type=int, default=4)
    args = ap.parse_args()
    variants = {(c, s): build(c, s) for c in (False, True) for s in (False, True)}
    times = {k: [] for k in variants}
    for _ in range(args.rounds):
        for k, bench in variants.items():
            for _ in range(args.per_round):
                t0 = time.perf_counter()
                bench.step()
                times[k].append((time.perf_counter() - t0) * 1e3)
    base = statistics.median(times[(False, False)])
    print("| batch chunks | static first block | median ms/step | x neither | jit traces |")
    print("|---|---|---|---|---|")
    for (c, s), ts in times.items():
        m = statistics.median(ts)
        yes = lambda b: "yes" if b else "no"
        print(f"| {yes(c)} | {yes(s)} | {m:.1f} | {m / base:.2f} | {variants[(c, s)].traces} |")


if __name__ == "__main__":
    main()
