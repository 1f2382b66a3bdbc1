"""The jitted JAX training step used by every JAX implementation (snnjax, ANN, naive, spyx).

``Bench.step()`` runs one step and blocks; ``Bench.traces`` counts traces of the step (1 = compiled once).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
import workloads as wl
from flax import nnx


class Bench:
    """A jitted step ``fn(carry, batch, key) -> (carry, loss)`` with its state; counts traces."""

    def __init__(self, fn: Callable, carry, batch, donate: bool = True):
        self.traces = 0

        def counted(*args):
            self.traces += 1
            return fn(*args)

        self._fn = counted
        self.jitted = jax.jit(counted, donate_argnums=(0,) if donate else ())
        self.carry, self.batch = carry, batch
        self.key = jax.random.key(0)
        self.i = 0

    def step(self) -> None:
        self.i += 1
        self.carry, loss = self.jitted(self.carry, self.batch, jax.random.fold_in(self.key, self.i))
        jax.block_until_ready(loss)

    def compiled(self):
        return jax.jit(self._fn).lower(self.carry, self.batch, jax.random.fold_in(self.key, 0)).compile()


def _data(s: dict):
    k1, k2 = jax.random.split(jax.random.key(1))
    if s["kind"] == "mlp":
        x = jax.random.uniform(k1, (s["B"], 28, 28, 1), jnp.float32)
    elif s["kind"] in ("conv", "spide"):
        x = jax.random.uniform(k1, (s["B"], s["hw"], s["hw"], s.get("c", 1)), jnp.float32)
    elif s["kind"] == "msresnet":
        x = jax.random.normal(k1, (s["B"], s["hw"], s["hw"], 3), jnp.float32)
    else:
        x = jax.random.uniform(k1, (s["T"], s["B"], s["n"]), jnp.float32)
    y = jax.random.randint(k2, (s["B"],), 0, s.get("classes", 10))
    return {"x": x, "y": y}


def nnx_train_step(model: nnx.Module, loss_of: Callable, s: dict, checkpoint_all: bool = False) -> Bench:
    """Full training step for an nnx model; ``loss_of(model, batch, key) -> scalar``."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adam(wl.LR)

    def loss_fn(params, rest, batch, key):
        m = nnx.merge(graphdef, params, rest, copy=True)
        loss = nnx.capture(loss_of)(m, batch, key)  # sown firing rates are dropped
        return loss, nnx.state(m, nnx.Not(nnx.Param))

    def grads_of(params, rest, batch, key):
        f = jax.checkpoint(loss_fn) if checkpoint_all else loss_fn  # whole-forward remat
        (loss, rest), g = jax.value_and_grad(f, has_aux=True)(params, rest, batch, key)
        return loss, g, rest

    if s["optimizer"]:

        def fn(carry, batch, key):
            params, rest, opt = carry
            loss, g, rest = grads_of(params, rest, batch, key)
            upd, opt = tx.update(g, opt, params)
            return (optax.apply_updates(params, upd), rest, opt), loss

        return Bench(fn, (params, rest, tx.init(params)), _data(s))

    def fn_grad(carry, batch, key):
        params, rest = carry
        loss, g, _ = grads_of(params, rest, batch, key)
        return (params, rest), (loss, g)  # all gradients are outputs: nothing is dead code

    return Bench(fn_grad, (params, rest), _data(s), donate=False)


def ce(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
