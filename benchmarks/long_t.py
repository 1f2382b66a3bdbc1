"""Compile time and step time against T for W1 and W3, with the time loop fully unrolled (the default of
``layers.SpikingNeuron(unroll=0)`` up to ``layers.AUTO_UNROLL_MAX_STEPS``) and as a rolled ``lax.scan``.

    python benchmarks/long_t.py --workloads w1 w3 --T 4 8 16 32 64 128 --runs 10

For every (workload, T, mode) the snnjax step of ``impl_jax`` is compiled ahead of time (trace + XLA
compile, seconds) and timed (median of ``--runs`` steps after 2 warm-up steps, ms). ``unrolled``: the
default up to ``AUTO_UNROLL_MAX_STEPS``; ``scan``: unroll factor 1; ``unroll 8``: ``lax.scan`` unrolled by 8
(``LONG_T_UNROLL``, the factor used beyond ``AUTO_UNROLL_MAX_STEPS``).
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

MODES = {"unrolled": (10**6, 1), "scan": (0, 1), "unroll 8": (0, 8)}  # (AUTO_UNROLL_MAX_STEPS, LONG_T_UNROLL)


def measure(workload: str, T: int, mode: str, runs: int) -> tuple[float, float]:
    layers.AUTO_UNROLL_MAX_STEPS, layers.LONG_T_UNROLL = MODES[mode]
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
            res = {mode: measure(name, T, mode, args.runs) for mode in MODES}
            compile_s = [f"{res[m][0]:.1f}" for m in MODES]
            ms = [f"{res[m][1]:.1f}" for m in MODES]
            ratios = [f"{res[m][1] / res['unrolled'][1]:.2f}" for m in ("scan", "unroll 8")]
            rows.append([name, str(T), *compile_s, *ms, *ratios])
            print(rows[-1], flush=True)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average {load}")
    header = ["workload", "T", *(f"compile s {m}" for m in MODES), *(f"ms {m}" for m in MODES)]
    header += ["scan / unrolled", "unroll 8 / unrolled"]
    print(common.table(rows, header))


if __name__ == "__main__":
    main()
