"""Memory of a W2 training step (snnjax SpikingConvNet) against T, with and without remat.

XLA's ``compiled.memory_analysis()`` of the jitted step (forward + backward + Adam) gives the
temporary buffer size (activations kept for the backward pass and scratch); no step is run.
Modes: ``plain`` (BPTT through ``lax.scan``, everything the backward needs is stored); ``remat``
(``model.remat=True``: the Conv-BN-LIF-pool blocks are checkpointed every ``model.remat_chunk`` time
steps, ``--chunk``, 0 = the largest divisor of T up to sqrt(T)); ``step`` (the whole forward wrapped in
one ``jax.checkpoint``). The XLA CPU scheduler matters: run once more with
``XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false`` for the memory-minimising one.

    python benchmarks/memory_remat.py [--T 8 16 32] [--conv matmul xla] [--modes plain remat step] [--chunk K]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import impl_jax
import workloads as wl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--conv", nargs="+", default=["matmul"])
    ap.add_argument("--modes", nargs="+", default=["plain", "remat"], choices=["plain", "remat", "step"])
    ap.add_argument("--chunk", type=int, default=0, help="model.remat_chunk (0 = ~sqrt(T))")
    args = ap.parse_args()
    modes = ["plain", *[m for m in args.modes if m != "plain"]]
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}", flush=True)
    rows = []
    for conv in args.conv:
        for t in args.T:
            temps = {}
            for mode in modes:
                bench = impl_jax.snnjax_bench(
                    wl.spec("w2", T=t),
                    conv,
                    remat=mode == "remat",
                    checkpoint_all=mode == "step",
                    remat_chunk=args.chunk,
                )
                mem = common.memory_analysis(bench.compiled())
                temps[mode] = mem and mem["temp"]
            ratios = [f"{temps[m] / temps['plain']:.2f}" if temps["plain"] else "n/a" for m in modes[1:]]
            rows.append([conv, str(t), *(common.fmt_bytes(temps[m]) for m in modes), *ratios])
            print(rows[-1], flush=True)
    header = ["conv", "T", *(f"temp {m}" for m in modes), *(f"{m}/plain" for m in modes[1:])]
    print(common.table(rows, header))


if __name__ == "__main__":
    main()
