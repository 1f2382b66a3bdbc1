"""Dense 1024 -> 1024 layer feeding a LIF layer over T time steps: forward + backward.

The current ``W x_t`` is computed for all steps at once (time folded into the batch) and the LIF
(decay 0.5, v_th 1, hard reset, triangle surrogate) runs over time either with ``lax.scan``
(``snnjax.dynamics.run_neuron``) or as an unrolled Python loop (``snnjax.dynamics.python_loop``), both
jitted. The loss is the mean spike rate; its gradient w.r.t. the dense weights is returned.

    python benchmarks/lif_layer.py [--steps 100] [--batch 16] [--features 1024] [--runs 20] [--remat]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common

from snnjax import dynamics
from snnjax import surrogate as sg
from snnjax.neurons import LIF


def make_loss(run, neuron):
    def loss(w, x):
        # x [T, B, n] -> current [T, B, m]
        current = jnp.einsum("tbn,nm->tbm", x, w)
        return run(neuron, current).mean()

    return loss


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--features", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--remat", action="store_true", help="also time the scan with remat=True")
    args = ap.parse_args(argv)

    T, B, n = args.steps, args.batch, args.features
    neuron = LIF(decay=0.5, v_th=1.0, reset="hard", surrogate=sg.Triangle(1.0))
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(kx, (T, B, n), jnp.float32)
    w = jax.random.normal(kw, (n, n), jnp.float32) * (2.0 / n) ** 0.5

    variants = {"lax.scan (run_neuron)": dynamics.run_neuron}
    if args.remat:
        variants["lax.scan + remat"] = lambda nr, c: dynamics.run_neuron(nr, c, remat=True)
    variants["python loop (unrolled)"] = dynamics.python_loop

    print(f"backend={jax.default_backend()} device={jax.devices()[0].device_kind} jax={jax.__version__}")
    print(f"dense {n}->{n} + LIF(decay 0.5, v_th 1), T={T}, batch={B}, forward+backward (grad wrt W)\n")

    results = {}
    for name, run in variants.items():
        fn = jax.value_and_grad(make_loss(run, neuron))
        compiled, compile_s = common.compile_fn(fn, w, x)
        # no recompilation for new data of the same shape
        common.assert_no_recompile(fn, (w, x), (w * 1.01, x * 0.99))
        med, _ = common.median_ms(compiled, w, x, warmup=3, runs=args.runs)
        mem = common.memory_analysis(compiled)
        results[name] = (med, compile_s, mem)
    grads = [jax.jit(jax.grad(make_loss(r, neuron)))(w, x) for r in variants.values()]
    max_diff = max(float(jnp.abs(g - grads[0]).max()) for g in grads[1:])

    ref = results["python loop (unrolled)"][0]
    rows = []
    for name, (med, compile_s, mem) in results.items():
        rows.append(
            [
                name,
                f"{med:.2f}",
                f"{med / T:.3f}",
                f"{ref / med:.2f}x",
                f"{compile_s:.2f}",
                common.fmt_bytes(mem and mem["temp"]),
                common.fmt_bytes(mem and mem["argument"]),
                common.fmt_bytes(mem and mem["output"]),
            ]
        )
    header = ["variant", "ms/iter", "ms/time-step", "speed vs loop", "compile s", "temp", "args", "out"]
    print(common.table(rows, header))
    print(f"\nmedian of {args.runs} runs after 3 warm-up runs; ms/iter = one forward+backward over T steps")
    print(f"max |grad difference| between variants: {max_diff:.3g}")
    stats = common.device_memory_stats()
    if stats:
        keys = ("peak_bytes_in_use", "bytes_in_use", "bytes_limit")
        shown = ", ".join(f"{k}={common.fmt_bytes(stats[k])}" for k in keys if k in stats)
        print(f"device memory_stats: {shown}")
    else:
        print("device memory_stats: not reported by this backend (memory columns: XLA memory_analysis)")


if __name__ == "__main__":
    main()
