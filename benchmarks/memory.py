"""Peak memory of one training step of the shipped configs, by config, T, batch and block remat level.

    python benchmarks/memory.py --configs msresnet_cifar --T 6 --batch 8 64 --levels none elementwise full
    python benchmarks/memory.py --configs msresnet_cifar --T 6 --batch 64 --levels elementwise --rss 8 \
        --torch 2 8 --readme benchmarks/README.md

For every (config, T, batch, level) it compiles the train step the CLI runs (``snnjax.train.steps.Steps``:
model, the config's optimiser, loss and on-device mix; no data is read) and reports XLA's
``memory_analysis()``: arguments (parameters, optimiser state, batch), temporaries (activations kept for
the backward pass and the backward pass's own buffers) and the memory guard's estimate
(``snnjax.train.memory``). ``--breakdown`` adds where the saved bytes go: per MS-ResNet block, the
residuals its backward pass keeps at each level (``jax.ad_checkpoint``'s saved-residual listing of the
block alone), and the parameter and optimiser-state bytes.

``--rss B ...`` runs ``--steps`` real steps at those batches, each in a fresh process with glibc's default
malloc and with the retained malloc of ``snnjax.runtime`` (after the train loop's memory guard, which
releases large blocks for large steps), and reports the process's peak resident memory
(``VmHWM``) after compilation and after the steps; a run whose estimate exceeds ``--max-run-gib`` is
skipped (an out-of-memory kill would hit everything else on the machine). ``--torch B ...`` runs the same
network in spikingjelly (``references/msresnet_spikingjelly.py``, reference environment) at those batches.
No step is run for the compiled-analysis rows.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

GIB = 2**30


def _gib(n: float | None) -> str:
    return "-" if n is None else f"{n / GIB:.2f}"


def build_steps(config_name: str, T: int, batch: int, level: str | None, dtype: str = "float32"):
    """``(steps, sharded batch)`` of the config's train step at ``T``, ``batch`` (random images), block
    remat ``level`` and compute ``dtype``."""
    import jax
    import numpy as np
    from common import load_config
    from flax import nnx

    from snnjax import augment, models
    from snnjax.data.specs import input_info
    from snnjax.losses import make_loss
    from snnjax.train import loop
    from snnjax.train.optim import make_optimizer
    from snnjax.train.steps import Steps

    cfg = load_config(config_name)
    cfg.model.num_steps = T
    if level is not None and "block_remat" in cfg.model:
        cfg.model.block_remat = level
    cfg.model.dtype = dtype
    classes, shape = input_info(cfg.data)
    rngs = nnx.Rngs(params=0, noise=1, dropout=2, encoding=3)
    model = models.create(cfg.model, classes, shape, rngs=rngs)
    tx, _ = make_optimizer(cfg.optim, 1000, 100)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    mix = augment.make_mix(cfg.mix, classes, 100) if cfg.mix.name != "none" else None
    steps = Steps(model, optimizer, make_loss(cfg.loss), loop.make_mesh(), mix)
    rng = np.random.default_rng(0)
    host = {
        "image": rng.normal(size=(batch, *shape)).astype(np.float32),
        "label": rng.integers(0, classes, batch).astype(np.int32),
        "mask": np.ones(batch, bool),
    }
    del jax
    return steps, steps.shard_batch(host)


def analyse(config_name: str, T: int, batch: int, level: str | None, dtype: str = "float32") -> dict:
    import jax
    from common import memory_analysis

    from snnjax.train import memory

    steps, batch_arrays = build_steps(config_name, T, batch, level, dtype)
    t0 = time.perf_counter()
    compiled = steps.compile_train(batch_arrays, jax.random.key(0))
    compile_s = time.perf_counter() - t0
    m = memory_analysis(compiled) or {}
    need = memory.step_bytes(compiled)
    return {
        "config": config_name,
        "T": T,
        "batch": batch,
        "level": level or "-",
        "compile_s": compile_s,
        **m,
        "guard_estimate": None if need is None else need * memory.CPU_FACTOR,
    }


def breakdown(config_name: str, T: int, batch: int) -> list[list[str]]:
    """Per MS-ResNet block: bytes its backward pass keeps at each level; then parameters + optimiser."""
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from jax._src.ad_checkpoint import saved_residuals

    steps, batch_arrays = build_steps(config_name, T, batch, None)
    model, optimizer = nnx.merge(steps.train_def, steps.rng_state, steps.state)
    rows = []
    if hasattr(model, "blocks"):
        z = jax.eval_shape(lambda m, x: m.features(x), model, batch_arrays["image"])
        for i, block in enumerate(model.blocks):
            saved = {}
            for level in ("none", "elementwise", "full"):
                block.remat_level = level
                gd, params, rest = nnx.split(block, nnx.Param, ...)

                def f(params, x, gd=gd, rest=rest):
                    return jnp.sum(nnx.merge(gd, params, rest, copy=True)(x))

                res = saved_residuals(f, params, jnp.zeros(z.shape, z.dtype))
                saved[level] = sum(math.prod(a.shape) * a.dtype.itemsize for a, _ in res)
            block.remat_level = "elementwise"
            per_float = math.prod(z.shape) * 4
            rows.append(
                [f"blocks.{i} in {list(z.shape)}"]
                + [f"{saved[lv] / 2**20:.0f} MiB ({saved[lv] / per_float:.1f})" for lv in saved]
            )
            z = jax.eval_shape(lambda b, x: b(x), block, z)
    size = lambda tree: sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))
    rows.append(["parameters", f"{size(nnx.state(model, nnx.Param)) / 2**20:.0f} MiB", "", ""])
    rows.append(["optimiser state", f"{size(nnx.state(optimizer, nnx.OptState)) / 2**20:.0f} MiB", "", ""])
    return rows


def peak_rss() -> int:
    """This process's peak resident bytes (``VmHWM``: unlike ``ru_maxrss``, not inherited from the
    parent across ``exec``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(args) -> None:
    """One real run in this process: peak RSS after compilation and after ``--steps`` steps."""
    import jax

    from snnjax import runtime
    from snnjax.train import memory

    if args.malloc == "retain":
        runtime.retain_freed_memory()
    runtime.use_xla_convolutions()
    steps, batch = build_steps(args.configs[0], args.T[0], args.batch[0], args.levels[0], args.dtypes[0])
    compiled = steps.compile_train(batch, jax.random.key(0))
    memory.check_fits(compiled, args.batch[0])  # as the train loop: large steps release malloc's blocks
    after_compile = peak_rss()
    state, times = steps.state, []
    for i in range(args.steps):
        t0 = time.perf_counter()
        state, metrics = steps.train_step(state, batch, jax.random.key(i))
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t0)
    peak = peak_rss()
    temp = compiled.memory_analysis().temp_size_in_bytes
    print(json.dumps({"after_compile": after_compile, "peak": peak, "temp": temp, "step_s": times}))


def run_rss(config_name, T, batch, level, dtype, malloc, steps) -> dict | None:
    cmd = [sys.executable, __file__, "--child", "--malloc", malloc, "--configs", config_name, "--T", str(T)]
    cmd += ["--batch", str(batch), "--levels", level, "--dtypes", dtype, "--steps", str(steps)]
    env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE), "SNNJAX_MALLOC": malloc}
    env.pop("MALLOC_MMAP_MAX_", None)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def run_torch(T: int, batch: int, steps: int, python: str) -> dict | None:
    script = os.path.join(HERE, "references", "msresnet_spikingjelly.py")
    cmd = [python, script, "--T", str(T), "--batch", str(batch), "--steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def markdown(rows: list[list[str]], header: list[str]) -> str:
    return "\n".join(
        [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows),
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["msresnet_cifar"])
    ap.add_argument("--T", type=int, nargs="+", default=[6])
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 64])
    ap.add_argument("--levels", nargs="+", default=["none", "elementwise", "full"])
    ap.add_argument("--dtypes", nargs="+", default=["float32"], help="config.model.dtype (float32, bfloat16)")
    ap.add_argument("--mallocs", nargs="+", default=["system", "retain"], help="malloc of the --rss runs")
    ap.add_argument("--breakdown", action="store_true", help="saved bytes per block, parameters, optimiser")
    ap.add_argument("--rss", type=int, nargs="*", default=[], help="batches to run for real (peak RSS)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--max-run-gib", type=float, default=6.0)
    ap.add_argument("--torch", type=int, nargs="*", default=[], help="spikingjelly batches (peak RSS)")
    ap.add_argument("--bench-python", default=os.path.expanduser("~/.cache/snnjax/bench-venv/bin/python"))
    ap.add_argument("--readme", default=None)
    ap.add_argument("--marker", default="memory")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--malloc", default="system", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    from snnjax import runtime

    runtime.use_xla_convolutions()  # as the CLI (the analysis does not depend on malloc)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = [
        f"Command: `python benchmarks/memory.py {' '.join(sys.argv[1:])}` ({when}; load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}).",
        "",
    ]
    rows, estimates = [], {}
    for name in args.configs:
        for T in args.T:
            for batch in args.batch:
                for level, dtype in itertools.product(args.levels, args.dtypes):
                    r = analyse(name, T, batch, level, dtype)
                    estimates[(name, T, batch, level, dtype)] = r["guard_estimate"]
                    rows.append(
                        [
                            name,
                            str(T),
                            str(batch),
                            r["level"],
                            dtype,
                            _gib(r.get("argument")),
                            _gib(r.get("temp")),
                            _gib(r["guard_estimate"]),
                            f"{r['compile_s']:.0f}",
                        ]
                    )
                    print(rows[-1], flush=True)
    out.append(
        markdown(
            rows,
            [
                "config",
                "T",
                "batch",
                "block_remat",
                "dtype",
                "arguments GiB",
                "XLA temp GiB",
                "guard estimate GiB",
                "compile s",
            ],
        )
    )
    if args.breakdown:
        brk = breakdown(args.configs[0], args.T[0], args.batch[-1])
        out += [
            "",
            f"Saved for the backward pass ({args.configs[0]}, T={args.T[0]}, batch {args.batch[-1]}; "
            "in brackets: floats per element of the block input):",
            "",
            markdown(brk, ["what", "none", "elementwise", "full"]),
        ]
    rss_rows = []
    for batch, name, level, dtype in itertools.product(args.rss, args.configs, args.levels, args.dtypes):
        est = (
            estimates.get((name, args.T[0], batch, level, dtype))
            or analyse(name, args.T[0], batch, level, dtype)["guard_estimate"]
        )
        if est is not None and est > args.max_run_gib * GIB:
            print(f"skip rss at batch {batch}: estimate {_gib(est)} GiB > {args.max_run_gib}", flush=True)
            continue
        for malloc in args.mallocs:
            r = run_rss(name, args.T[0], batch, level, dtype, malloc, args.steps)
            if r:
                rss_rows.append(
                    [
                        f"snnjax {name} ({level}, {dtype})",
                        malloc,
                        str(batch),
                        _gib(r["temp"]),
                        _gib(r["after_compile"]),
                        _gib(r["peak"]),
                        " / ".join(f"{s:.1f}" for s in r["step_s"]),
                    ]
                )
                print(rss_rows[-1], flush=True)
    for batch in args.torch:
        r = run_torch(args.T[0], batch, args.steps, args.bench_python)
        if r:
            rss_rows.append(
                [
                    "spikingjelly (torch " + r["torch"] + ")",
                    "system",
                    str(batch),
                    "-",
                    f"{r['rss_before_gib']:.2f}",
                    f"{r['peak_rss_gib']:.2f}",
                    " / ".join(f"{s:.1f}" for s in r["step_s"]),
                ]
            )
            print(rss_rows[-1], flush=True)
    if rss_rows:
        out += [
            "",
            f"Real runs, T={args.T[0]}, {args.steps} steps each in a fresh process:",
            "",
            markdown(
                rss_rows,
                [
                    "implementation",
                    "malloc",
                    "batch",
                    "XLA temp GiB",
                    "peak RSS before steps GiB",
                    "peak RSS GiB",
                    "step s",
                ],
            ),
        ]
    md = "\n".join(out)
    print("\n" + md)
    if args.readme:
        from common import write_marked

        write_marked(args.readme, args.marker, md)


if __name__ == "__main__":
    main()
