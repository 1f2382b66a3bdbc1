"""Cost of recording spikes during training: a train step with the monitor on against the same step off.

The step is the trainer's (forward with the per-layer firing rates it always logs, loss, backward, Adam).
"on" sets :data:`snnjax.layers.RECORDING`, as :func:`snnjax.analysis.monitor.record` does, and returns the
spike trains ``[T, samples, ...]`` of every neuron layer from the step (fetched to the host each step, as a
training-time monitor would); "off" is the unchanged step. Both are compiled once, then timed in
alternating rounds on the same random batch; the ratio is the median over rounds of on / off.

    python benchmarks/monitor_cost.py [--configs quickstart basic_mnist_conv] [--samples 8 0] [--rounds 7]

``--samples 0`` records every example of the batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from snnjax import data, layers, losses, models
from snnjax.train.steps import call_recorded


def make_step(graphdef, loss_fn, samples: int | None):
    """A jitted ``(state, x, y) -> (state, loss, spikes)``; ``samples=None``: monitor off (spikes ``{}``)."""

    def step(state, x, y):
        model, opt = nnx.merge(graphdef, state)

        def loss_of(m):
            if samples is None:
                out, _ = call_recorded(m, x, per_layer=True)
                return loss_fn(out, y), {}
            token = layers.RECORDING.set(layers.RecordOptions(samples=samples or None))
            try:
                forward = lambda mm, v: call_recorded(mm, v, per_layer=True)
                (out, _), sown = nnx.capture(forward, layers.Recorded)(m, x)
            finally:
                layers.RECORDING.reset(token)
            spikes = {".".join(map(str, p)): v for p, v in nnx.to_flat_state(sown)}
            return loss_fn(out, y), spikes

        (loss, spikes), grads = nnx.value_and_grad(loss_of, has_aux=True)(model)
        opt.update(model, grads)
        return nnx.state((model, opt)), loss, spikes

    return jax.jit(step, donate_argnums=0)


def measure(name: str, samples_list: list[int], rounds: int, runs: int) -> list[list[str]]:
    config = common.load_config(name)
    num_classes, shape = data.input_info(config.data)
    batch = int(config.train.batch_size)
    model = models.create(config.model, num_classes, shape, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    graphdef, state0 = nnx.split((model, opt))
    loss_fn = losses.make_loss(config.loss)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((batch, *shape), np.float32))
    y = jnp.asarray(rng.integers(0, num_classes, batch), jnp.int32)
    modes = {"off": None, **{f"on ({s or batch} samples)": s for s in samples_list}}
    states, steps = {}, {}
    for mode, samples in modes.items():
        steps[mode] = make_step(graphdef, loss_fn, samples)
        states[mode] = jax.tree.map(jnp.copy, state0)

    def run(mode):
        states[mode], loss, spikes = steps[mode](states[mode], x, y)
        jax.device_get((loss, spikes))  # the recorded spikes reach the host, as a monitor's would

    times = {m: [] for m in modes}
    for _ in range(rounds):  # alternate the modes so that load on the machine hits them alike
        for mode in modes:
            times[mode].append(common.median_ms(run, mode, warmup=1, runs=runs)[0])
    rows = []
    for mode in modes:
        ratios = [t / off for t, off in zip(times[mode], times["off"], strict=True)]
        rows.append([name, f"{batch}", mode, f"{statistics.median(times[mode]):.2f}",
                     f"{statistics.median(ratios):.3f}"])  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["quickstart", "basic_mnist_conv"])
    ap.add_argument("--samples", type=int, nargs="+", default=[8, 0], help="examples recorded (0: all)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=10, help="steps timed per round and mode (median)")
    args = ap.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, {os.cpu_count()} CPUs", flush=True)
    rows = [r for name in args.configs for r in measure(name, args.samples, args.rounds, args.runs)]
    print(common.table(rows, ["config", "batch", "monitor", "step (ms, median)", "on / off"]))


if __name__ == "__main__":
    main()
