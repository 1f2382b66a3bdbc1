"""JAX implementations of the workloads (``benchmarks/workloads.py``): snnjax, the equivalent ANN,
and a naive per-step Python loop (spyx: ``references/impl_spyx.py``).

``build(impl, spec) -> Bench``; ``Bench.step()`` runs one blocked step; ``Bench.traces`` counts traces
of the jitted step (1 = no recompilation); ``Bench.lowered_memory()`` gives XLA's memory analysis.
"""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads as wl
from bench_step import Bench
from bench_step import ce as _ce
from bench_step import nnx_train_step as _nnx_train_step
from common import load_config

from snnjax import conv as conv_lib
from snnjax import layers, models
from snnjax import surrogate as sg
from snnjax.models import basic
from snnjax.neurons import LIF

IMPLS = ("snnjax", "snnjax-xla", "ann-jax", "ann-jax-xla", "naive-jax")


def _lif() -> LIF:
    return LIF(decay=wl.DECAY, v_th=wl.V_TH, reset="hard", surrogate=sg.Triangle(1.0))


# ---------------------------------------------------------------- snnjax
def _snnjax_model(s: dict, conv_impl: str, remat: bool = False, remat_chunk: int = 0) -> nnx.Module:
    rngs = nnx.Rngs(params=0, encoding=1, dropout=2)
    if s["kind"] == "mlp":
        cfg = basic.model_config("mlp", encoding="rate", hidden=(s["hidden"],), readout="spikes")
    else:
        cfg = basic.model_config(
            "convnet", channels=tuple(s["channels"]), hidden=(), dropout=0.0, conv_impl=conv_impl,
            remat_chunk=remat_chunk,
        )  # fmt: skip
    cfg.neuron.lif.update(decay=wl.DECAY, v_th=wl.V_TH, reset="hard", surrogate="triangle(gamma=1.0)")
    cfg.update(num_steps=s["T"], remat=remat)
    shape = (28, 28, 1) if s["kind"] == "mlp" else (s["hw"], s["hw"], 1)
    return models.create(cfg, s["classes"], shape, rngs=rngs)


class _LIFLayer(nnx.Module):
    def __init__(self, n: int, neuron, *, rngs: nnx.Rngs):
        self.linear = nnx.Linear(n, n, rngs=rngs)
        self.neuron = neuron

    def __call__(self, x):  # x [T, B, n]; the Linear sees time folded into the batch (snnjax idiom)
        return self.neuron(layers.time_folded(self.linear, x))


class _ReLU(nnx.Module):
    """The equivalent ANN's activation in place of a neuron layer (elementwise on ``[T, B, ...]``)."""

    def __call__(self, x, *, key=None):
        return jax.nn.relu(x)


def _msresnet(s: dict, conv_impl: str, relu: bool = False) -> nnx.Module:
    """The CIFAR (GAC-)MS-ResNet-18 of ``snnjax.models.msresnet``; ``relu``: every LIF replaced by ReLU
    (the equivalent ANN: same convs/BN on the same ``T * B`` folded batch)."""
    from snnjax.models import msresnet

    cfg = msresnet.model_config("cifar", 18, num_steps=s["T"], gac=s["gac"], conv_impl=conv_impl)
    orig = msresnet._Builder.neuron
    if relu:
        msresnet._Builder.neuron = lambda self: _ReLU()
    try:
        return models.create(cfg, s["classes"], (s["hw"], s["hw"], 3), rngs=nnx.Rngs(0))
    finally:
        msresnet._Builder.neuron = orig


def _mean_logits_loss(m: nnx.Module, b: dict, k) -> jax.Array:
    """Cross-entropy of the model's logits ``[T, B, classes]`` averaged over time."""
    return _ce(m(b["x"]).mean(0), b["y"])


def _spide(s: dict) -> nnx.Module:
    """The feedback SNN of ``configs/<s['config']>.py`` (``snnjax.models.feedback``, its own solver)."""
    cfg = load_config(s["config"]).model
    cfg.num_steps = s["T"]
    return models.create(cfg, s["classes"], (s["hw"], s["hw"], s["c"]), rngs=nnx.Rngs(0))


def snnjax_bench(
    s: dict,
    conv_impl: str = "matmul",
    remat: bool = False,
    checkpoint_all: bool = False,
    remat_chunk: int = 0,
) -> Bench:
    if s["kind"] == "msresnet":
        return _nnx_train_step(_msresnet(s, conv_impl), _mean_logits_loss, s)
    if s["kind"] == "spide":
        return _nnx_train_step(_spide(s), _mean_logits_loss, s)
    if s["kind"] == "lif":
        model = _LIFLayer(s["n"], layers.SpikingNeuron(_lif(), remat=remat), rngs=nnx.Rngs(0))
        return _nnx_train_step(model, lambda m, b, k: m(b["x"]).mean(), s)
    model = _snnjax_model(s, conv_impl, remat, remat_chunk)
    return _nnx_train_step(model, _mean_logits_loss, s, checkpoint_all)


# ---------------------------------------------------------------- equivalent ANN
class _AnnMLP(nnx.Module):
    def __init__(self, s, *, rngs):
        self.l1 = nnx.Linear(s["n_in"], s["hidden"], rngs=rngs)
        self.l2 = nnx.Linear(s["hidden"], s["classes"], rngs=rngs)
        self.t = s["T"]

    def __call__(self, x, key):  # x [B, 28, 28, 1]
        x = x.reshape(x.shape[0], -1)
        s = jax.random.bernoulli(key, x, (self.t, *x.shape)).astype(jnp.float32)
        h = jax.nn.relu(self.l2(jax.nn.relu(self.l1(layers.fold(s)))))
        return layers.unfold(h, self.t)


class _AnnConv(nnx.Module):
    def __init__(self, s, conv_impl, *, rngs):
        fn = conv_lib.conv_fn(conv_impl)
        c, hw, convs, norms = 1, s["hw"], [], []
        for w in s["channels"]:
            convs.append(
                nnx.Conv(c, w, (3, 3), padding="SAME", use_bias=False, conv_general_dilated=fn, rngs=rngs)
            )
            norms.append(layers.batch_norm(w, rngs=rngs))
            c, hw = w, hw // 2
        self.convs, self.norms = nnx.List(convs), nnx.List(norms)
        self.out = nnx.Linear(hw * hw * c, s["classes"], rngs=rngs)
        self.t = s["T"]

    def __call__(self, x, key):
        from snnjax.models.basic import max_pool_2x2

        h = layers.fold(jnp.broadcast_to(x, (self.t, *x.shape)))
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = max_pool_2x2(jax.nn.relu(norm(conv(h))))
        return layers.unfold(self.out(h.reshape(h.shape[0], -1)), self.t)


class _AnnLayer(nnx.Module):
    def __init__(self, n, *, rngs):
        self.linear = nnx.Linear(n, n, rngs=rngs)

    def __call__(self, x, key):
        return jax.nn.relu(self.linear(layers.fold(x)))


def ann_bench(s: dict, conv_impl: str = "matmul") -> Bench:
    if s["kind"] == "spide":
        raise NotImplementedError("ann: the SPIDE workload has no equivalent ANN")
    rngs = nnx.Rngs(0)
    if s["kind"] == "msresnet":
        model = _msresnet(s, conv_impl, relu=True)
        return _nnx_train_step(model, _mean_logits_loss, s)
    if s["kind"] == "lif":
        return _nnx_train_step(_AnnLayer(s["n"], rngs=rngs), lambda m, b, k: m(b["x"], k).mean(), s)
    model = _AnnMLP(s, rngs=rngs) if s["kind"] == "mlp" else _AnnConv(s, conv_impl, rngs=rngs)
    return _nnx_train_step(model, lambda m, b, k: _ce(m(b["x"], k).mean(0), b["y"]), s)


# ---------------------------------------------------------------- naive: Python loop over time
class _NaiveMLP(nnx.Module):
    """The SNN written step by step (every layer called at each step, Python loop unrolled in jit)."""

    def __init__(self, s, *, rngs):
        self.l1 = nnx.Linear(s["n_in"], s["hidden"], rngs=rngs)
        self.l2 = nnx.Linear(s["hidden"], s["classes"], rngs=rngs)
        self.t, self.neuron = s["T"], _lif()

    def __call__(self, x, key):
        x = x.reshape(x.shape[0], -1)
        v1 = jnp.zeros((x.shape[0], self.l1.out_features), jnp.float32)
        v2 = jnp.zeros((x.shape[0], self.l2.out_features), jnp.float32)
        st1, st2 = self.neuron.init_state(v1.shape), self.neuron.init_state(v2.shape)
        out = []
        for t in range(self.t):
            s_in = jax.random.bernoulli(jax.random.fold_in(key, t), x).astype(jnp.float32)
            st1, s1 = self.neuron.step(st1, self.l1(s_in))
            st2, s2 = self.neuron.step(st2, self.l2(s1))
            out.append(s2)
        return jnp.stack(out)


class _NaiveLayer(nnx.Module):
    def __init__(self, n, *, rngs):
        self.linear = nnx.Linear(n, n, rngs=rngs)
        self.neuron = _lif()

    def __call__(self, x, key):
        st = self.neuron.init_state((x.shape[1], self.linear.out_features))
        out = []
        for t in range(x.shape[0]):
            st, sp = self.neuron.step(st, self.linear(x[t]))
            out.append(sp)
        return jnp.stack(out)


def naive_bench(s: dict) -> Bench:
    rngs = nnx.Rngs(0)
    if s["kind"] == "lif":
        return _nnx_train_step(_NaiveLayer(s["n"], rngs=rngs), lambda m, b, k: m(b["x"], k).mean(), s)
    if s["kind"] == "mlp":
        return _nnx_train_step(_NaiveMLP(s, rngs=rngs), lambda m, b, k: _ce(m(b["x"], k).mean(0), b["y"]), s)
    raise NotImplementedError(
        "naive-jax: w1 and w3 only (for w2, snnjax-xla is the straightforward JAX port)"
    )


def build(impl: str, s: dict, remat: bool = False) -> Bench:
    if impl == "snnjax":
        return snnjax_bench(s, "matmul", remat)
    if impl == "snnjax-xla":
        return snnjax_bench(s, "xla", remat)
    if impl == "ann-jax":
        return ann_bench(s, "matmul")
    if impl == "ann-jax-xla":
        return ann_bench(s, "xla")
    if impl == "naive-jax":
        return naive_bench(s)
    raise SystemExit(f"unknown JAX impl {impl!r}; choose one of {IMPLS}")


def versions() -> dict:
    import flax

    out = {"jax": jax.__version__, "flax": flax.__version__}
    return out
