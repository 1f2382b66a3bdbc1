"""Training throughput (images/s) of the full CIFAR GAC-MS-ResNet-18 (12.6M parameters) at T=4.

Times the library's own jitted train step (``snnjax.train.steps.Steps``: forward, mean-over-time CE,
backward, SGD-momentum update, BN statistics, firing-rate metrics) on random 32x32x3 images, median over
``--runs`` steps after ``--warmup`` steps; compile time is reported separately. CutMix is off (it is a
cheap on-device transform). ``--no-gac`` times the same net without GAC.

    python benchmarks/msresnet_throughput.py [--batch 8] [--steps 4] [--runs 20] [--warmup 2] [--no-gac]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from snnjax import models
from snnjax.losses import loss_config, make_loss
from snnjax.models.msresnet import model_config
from snnjax.train.loop import make_mesh
from snnjax.train.optim import make_optimizer, optim_config
from snnjax.train.steps import Steps


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4, help="time steps T")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--no-gac", action="store_true")
    ap.add_argument("--widths", type=int, nargs="*", default=None, help="override stage widths (smoke tests)")
    args = ap.parse_args(argv)

    cfg = model_config("cifar", 18, num_steps=args.steps, gac=not args.no_gac)
    if args.widths:
        cfg.update(widths=tuple(args.widths), stem_width=args.widths[0], blocks=(1,) * len(args.widths))
    model = models.create(cfg, 10, (32, 32, 3), rngs=nnx.Rngs(0))
    ocfg = optim_config(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-5, schedule="cosine")
    tx, _ = make_optimizer(ocfg, 1000, 100)
    steps = Steps(model, nnx.Optimizer(model, tx, wrt=nnx.Param), make_loss(loss_config()), make_mesh())
    key = jax.random.key(0)
    batch = steps.shard_batch(
        {
            "image": jax.random.normal(key, (args.batch, 32, 32, 3), jnp.float32),
            "label": jax.random.randint(key, (args.batch,), 0, 10),
            "mask": jnp.ones((args.batch,), bool),
        }
    )
    state = steps.state
    t0 = time.perf_counter()
    state, metrics = steps.train_step(state, batch, key)
    jax.block_until_ready(metrics)
    first = time.perf_counter() - t0
    for i in range(args.warmup):
        state, metrics = steps.train_step(state, batch, jax.random.fold_in(key, i))
    jax.block_until_ready(metrics)
    times = []
    for i in range(args.runs):
        t0 = time.perf_counter()
        state, metrics = steps.train_step(state, batch, jax.random.fold_in(key, 100 + i))
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    result = {
        "model": f"{'GAC-' if cfg.gac else ''}MS-ResNet-18 (CIFAR){' reduced' if args.widths else ''}",
        "params": models.num_params(model),
        "T": args.steps,
        "batch": args.batch,
        "median_step_s": med,
        "images_per_s": args.batch / med,
        "min_step_s": min(times),
        "max_step_s": max(times),
        "first_step_incl_compile_s": first,
        "runs": args.runs,
        "device": f"{jax.devices()[0].device_kind} x{jax.device_count()}",
        "cpu": platform.processor() or platform.machine(),
        "final_loss": float(metrics["loss"]),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
