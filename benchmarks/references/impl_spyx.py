"""spyx (JAX + Flax NNX) implementations of the workloads, run in the reference environment.

spyx's idiom: a ``spyx.nn.Sequential`` of ``nnx.Linear`` and ``spyx.nn.LIF`` (beta 0.5, threshold 1,
subtractive reset, its default SuperSpike surrogate) scanned over time by ``spyx.nn.run`` (every layer
inside the scan). Uses the same jitted training step as snnjax's benchmark (``impl_jax.Bench``).
"""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import optax
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import workloads as wl
from bench_step import Bench
from bench_step import nnx_train_step as _nnx_train_step


def _ce(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def spyx_bench(s: dict) -> Bench:
    import spyx.nn as snn  # available in the reference environment only

    rngs = nnx.Rngs(0)
    if s["kind"] == "conv":
        raise NotImplementedError("spyx: w2 not implemented (no time-folded BatchNorm idiom in spyx)")
    if s["kind"] == "mlp":
        net = snn.Sequential(
            nnx.Linear(s["n_in"], s["hidden"], rngs=rngs),
            snn.LIF((s["hidden"],), beta=wl.DECAY, threshold=wl.V_TH, rngs=rngs),
            nnx.Linear(s["hidden"], s["classes"], rngs=rngs),
            snn.LIF((s["classes"],), beta=wl.DECAY, threshold=wl.V_TH, rngs=rngs),
        )

        def loss_of(m, b, k):
            x = b["x"].reshape(b["x"].shape[0], -1)
            spikes_in = jax.random.bernoulli(k, x, (s["T"], *x.shape)).astype(jnp.float32)
            out, _ = snn.run(m, spikes_in)
            return _ce(out.mean(0), b["y"])

        return _nnx_train_step(net, loss_of, s)
    net = snn.Sequential(
        nnx.Linear(s["n"], s["n"], rngs=rngs), snn.LIF((s["n"],), beta=wl.DECAY, threshold=wl.V_TH, rngs=rngs)
    )
    return _nnx_train_step(net, lambda m, b, k: snn.run(m, b["x"])[0].mean(), s)


def build(impl: str, s: dict) -> Bench:
    return spyx_bench(s)


def versions() -> dict:
    import flax
    import spyx

    return {
        "spyx": getattr(spyx, "__version__", "?"),
        "jax(spyx env)": jax.__version__,
        "flax(spyx env)": flax.__version__,
    }
