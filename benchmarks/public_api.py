"""W1-W3 (``benchmarks/workloads.py``) written only with snnjax's public API, the way a user writes a model:
``import snnjax``, ``snnjax.runtime.setup()`` first, ``nnx.Linear`` / ``snnjax.layers.conv`` on the
time-folded batch, ``snnjax.layers.SpikingNeuron``, ``snnjax.layers.batch_norm``, ``snnjax.encoding``,
optax Adam and a jitted step. No model internals (no ``snnjax.models``, no static first block).

Run beside the references by the runner (implementation ``snnjax-public``; the runner gives this worker
neither the malloc environment nor the XLA flag, ``setup()`` applies them)::

    python benchmarks/run_all.py --impls snnjax-public snnjax spikingjelly snntorch norse spyx \
        --readme benchmarks/README.md --marker public
"""

from __future__ import annotations

import snnjax

snnjax.runtime.setup()  # before JAX starts: the CPU process set-up of the CLI (malloc, XLA convolutions)

import jax  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from snnjax import encoding, layers, neurons  # noqa: E402

IMPLS = ("snnjax-public",)
LR, DECAY, V_TH = 1e-3, 0.5, 1.0


def lif_layer() -> layers.SpikingNeuron:
    return layers.SpikingNeuron(neurons.LIF(decay=DECAY, v_th=V_TH, reset="hard"))


class MLP(nnx.Module):  # W1
    def __init__(self, s: dict, rngs: nnx.Rngs):
        self.t = s["T"]
        self.l1 = nnx.Linear(s["n_in"], s["hidden"], rngs=rngs)
        self.l2 = nnx.Linear(s["hidden"], s["classes"], rngs=rngs)
        self.n1, self.n2 = lif_layer(), lif_layer()

    def __call__(self, x, key):  # x [B, 28, 28, 1] -> spikes [T, B, 10]
        spikes_in = encoding.encode("rate", x.reshape(x.shape[0], -1), self.t, key=key)
        h = self.n1(layers.time_folded(self.l1, spikes_in))
        return self.n2(layers.time_folded(self.l2, h))


class ConvNet(nnx.Module):  # W2
    def __init__(self, s: dict, rngs: nnx.Rngs):
        self.t = s["T"]
        c, hw, blocks = 1, s["hw"], []
        for width in s["channels"]:
            blocks.append(
                (layers.conv(c, width, 3, use_bias=False, rngs=rngs), layers.batch_norm(width, rngs=rngs))
            )
            c, hw = width, hw // 2
        self.convs = nnx.List([b[0] for b in blocks])
        self.norms = nnx.List([b[1] for b in blocks])
        self.neurons = nnx.List([lif_layer() for _ in blocks])
        self.out = nnx.Linear(hw * hw * c, s["classes"], rngs=rngs)

    def __call__(self, x, key):  # x [B, 28, 28, 1] -> logits [T, B, 10]
        h = encoding.encode("direct", x, self.t)  # [T, B, H, W, C]
        for conv, norm, neuron in zip(self.convs, self.norms, self.neurons, strict=True):
            h = neuron(layers.time_folded(lambda z, conv=conv, norm=norm: norm(conv(z)), h))
            t, b, hh, ww, cc = h.shape
            h = h.reshape(t, b, hh // 2, 2, ww // 2, 2, cc).max(axis=(3, 5))  # 2x2 max-pool
        return layers.time_folded(self.out, h.reshape(*h.shape[:2], -1))


class LIFLayer(nnx.Module):  # W3
    def __init__(self, s: dict, rngs: nnx.Rngs):
        self.linear = nnx.Linear(s["n"], s["n"], rngs=rngs)
        self.neuron = lif_layer()

    def __call__(self, x, key):  # x [T, B, n]
        return self.neuron(layers.time_folded(self.linear, x))


class Bench:
    """A jitted training step of the workload ``s`` (random data); ``step()`` runs one and blocks."""

    def __init__(self, s: dict):
        self.traces, self.i = 0, 0
        kind = s["kind"]
        model = {"mlp": MLP, "conv": ConvNet, "lif": LIFLayer}[kind](s, nnx.Rngs(0))
        k1, k2 = jax.random.split(jax.random.key(1))
        if kind == "lif":
            x = jax.random.uniform(k1, (s["T"], s["B"], s["n"]))
        else:
            x = jax.random.uniform(k1, (s["B"], 28, 28, 1))
        self.batch = {"x": x, "y": jax.random.randint(k2, (s["B"],), 0, s.get("classes", 10))}
        tx = optax.adam(LR)
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param) if s["optimizer"] else None

        def loss_fn(model, batch, key):
            out = model(batch["x"], key)
            if kind == "lif":
                return out.mean()
            return optax.softmax_cross_entropy_with_integer_labels(out.mean(0), batch["y"]).mean()

        @nnx.jit
        def train(model, optimizer, batch, key):
            self.traces += 1
            loss, grads = nnx.value_and_grad(loss_fn)(model, batch, key)
            optimizer.update(model, grads)
            return loss

        @nnx.jit
        def grad_only(model, batch, key):
            self.traces += 1
            return nnx.value_and_grad(loss_fn)(model, batch, key)

        self.model, self.optimizer = model, optimizer
        self._step = train if optimizer is not None else grad_only
        self.key = jax.random.key(0)

    def step(self) -> None:
        self.i += 1
        key = jax.random.fold_in(self.key, self.i)
        if self.optimizer is not None:
            out = self._step(self.model, self.optimizer, self.batch, key)
        else:
            out = self._step(self.model, self.batch, key)
        jax.block_until_ready(out)


def build(impl: str, s: dict) -> Bench:
    if impl != "snnjax-public" or s["kind"] not in ("mlp", "conv", "lif"):
        raise NotImplementedError(f"{impl}: W1-W3 only")
    return Bench(s)


def versions() -> dict:
    import flax

    return {"jax": jax.__version__, "flax": flax.__version__}
