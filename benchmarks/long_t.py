"""Compile time and step time against T for W1 and W3, with the time loop fully unrolled (the default of
``layers.SpikingNeuron(unroll=0)`` up to ``layers.AUTO_UNROLL_MAX_STEPS``) and as a rolled ``lax.scan``.

    python benchmarks/long_t.py --workloads w1 w3 --T 4 8 16 32 64 128 --runs 10

For every (workload, T, mode) the snnjax step of ``impl_jax`` is compiled ahead of time (trace + XLA
compile, seconds) and timed (median of ``--runs`` steps after 2 warm-up steps, ms). ``unrolled``: the
default; ``scan``: ``AUTO_UNROLL_MAX_STEPS = 0`` (unroll factor 1).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from snnjax import runtime

runtime.setup()

import common  # noqa: E402
import impl_jax  # noqa: E402
import jax  # noqa: E402
import workloads as wl  # noqa: E402

from snnjax import layers  # noqa: E402


def measure(workload: str, T: int, mode: str, runs: int) -> tuple[float, float]:
    layers.AUTO_UNROLL_MAX_STEPS = 128 if mode == "unrolled" else 0
    bench = impl_jax.snnjax_bench(wl.spec(workload, T=T))
    t0 = time.perf_counter()
    bench.jitted.lower(bench.carry, bench.batch, jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t0
    for _ in range(2):
        bench.step()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        bench.step()
        times.append((time.perf_counter() - t) * 1e3)
    return compile_s, sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["w1", "w3"])
    ap.add_argument("--T", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    rows = []
    for name in args.workloads:
        for T in args.T:
            res = {mode: measure(name, T, mode, args.runs) for mode in ("unrolled", "scan")}
            (cu, su), (cs, ss) = res["unrolled"], res["scan"]
            rows.append([name, str(T), f"{cu:.1f}", f"{cs:.1f}", f"{su:.1f}", f"{ss:.1f}", f"{su / ss:.2f}"])
            print(rows[-1], flush=True)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average {load}")
    header = [
        "workload",
        "T",
        "compile s unrolled",
        "compile s scan",
        "ms unrolled",
        "ms scan",
        "unrolled/scan",
    ]
    print(common.table(rows, header))


if __name__ == "__main__":
    main()
