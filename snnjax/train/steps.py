"""The jitted, data-parallel train and eval steps.

The model and optimizer are split into a static graph definition and a state pytree once; the steps are
pure ``jax.jit`` functions of ``(state, batch, key)``. Under a ``Mesh`` with a ``data`` axis the batch
is sharded across devices and the state replicated: XLA inserts the gradient all-reduce, and BatchNorm
statistics are computed over the global batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from snnjax import layers, losses
from snnjax.errors import ConfigError

LossFn = Callable[[Array, Array], Array]
# (batch, key, step) -> batch, applied on device inside the jitted train step (e.g. CutMix)
BatchTransform = Callable[[dict, Array, Array], dict]
RNG_STREAMS = ("noise", "dropout", "encoding")


def reseed(model: nnx.Module, key: Array) -> None:
    """Gives every random stream of the model (neuron noise, dropout, rate coding) a key derived from
    ``key``, so randomness is a function of (seed, step) and a resumed run repeats it exactly."""
    keys = jax.random.split(key, len(RNG_STREAMS))
    nnx.reseed(model, **dict(zip(RNG_STREAMS, keys, strict=True)))


def sown_means(sown: nnx.State, group: Callable[[tuple], str | None]) -> dict[str, Array]:
    """Means of the arrays in captured ``sown`` state, pooled over the paths ``group(path)`` maps to the
    same name (paths it maps to None are left out); each array counts once whatever its size."""
    pooled: dict[str, list[Array]] = {}
    for path, value in nnx.to_flat_state(sown):
        name = group(path)
        if name is not None:
            pooled.setdefault(name, []).extend(
                jnp.mean(v.astype(jnp.float32)) for v in jax.tree.leaves(value)
            )
    return {name: jnp.mean(jnp.stack(v)) for name, v in pooled.items()}


def layer_rate_key(path: tuple) -> str | None:
    """``firing_rate/<dotted layer path>`` for a sown ``firing_rate`` below the model root, else None."""
    if str(path[-1]) != "firing_rate" or len(path) < 2:
        return None
    return "firing_rate/" + ".".join(map(str, path[:-1]))


def call_recorded(
    model: nnx.Module, images: Array, *, per_layer: bool = False
) -> tuple[Array, dict[str, Array]]:
    """``model(images)`` and the means of the scalars it sowed as ``nnx.Intermediate`` during the call,
    by name (captured with ``nnx.capture``, so nothing is left on the model).

    Every neuron sows ``firing_rate`` (0 if none did); models may sow further statistics, which become
    metrics under their own names. With ``per_layer`` each layer's rate is also returned under
    ``firing_rate/<dotted layer path>`` (a layer called several times: the mean over its calls).
    """
    out, sown = nnx.capture(model, nnx.Intermediate)(images)
    recorded = sown_means(sown, lambda path: str(path[-1]))
    recorded.setdefault("firing_rate", jnp.zeros((), jnp.float32))
    if per_layer:
        recorded.update(sown_means(sown, layer_rate_key))
    return out, recorded


def regularization(model: nnx.Module) -> Array:
    """The model's own penalty term (``model.regularization_loss()``, e.g. an orthogonality
    regulariser), or 0 for models without one."""
    fn = getattr(model, "regularization_loss", None)
    return fn() if fn is not None else jnp.zeros((), jnp.float32)


class Steps:
    """Compiled train/eval steps for one model + optimizer.

    ``ensemble`` (``config.eval.ensemble``): the eval step averages the outputs (logits, or output spikes)
    of this many stochastic passes, each with its own noise keys (pass ``i`` of ``N > 1`` reseeds with
    ``split(key, N)[i]``; ``N = 1`` is the single pass reseeded with ``key``), as NSNN's test scripts
    (``--n_ensembles``) do for noisy neurons; accuracy and loss are those of the averaged output, the firing
    rates the mean over the passes.

    Attributes:
      state: the current training state (a pytree, replicated over the mesh).
    """

    def __init__(
        self,
        model: nnx.Module,
        optimizer: nnx.Optimizer,
        loss_fn: LossFn,
        mesh: Mesh,
        batch_transform: BatchTransform | None = None,
        ensemble: int = 1,
    ):
        if int(ensemble) < 1:
            raise ConfigError(f"config.eval.ensemble must be >= 1, got {ensemble}")
        self.ensemble = int(ensemble)
        self.mesh = mesh
        self.batch_transform = batch_transform
        self.replicated = NamedSharding(mesh, PartitionSpec())
        self.batch_sharding = NamedSharding(mesh, PartitionSpec("data"))
        model.train()
        self.train_def, self.rng_state, state = nnx.split((model, optimizer), nnx.RngState, ...)
        model.eval()
        self.eval_def = nnx.split((model, optimizer), nnx.RngState, ...)[0]
        self.state = jax.device_put(state, self.replicated)
        self.loss_fn = loss_fn
        self.rng_state = jax.device_put(self.rng_state, self.replicated)
        self._train = jax.jit(self._train_step, donate_argnums=0, out_shardings=(self.replicated, None))
        self._eval = jax.jit(self._eval_step)
        self._compiled: tuple[Any, Any] | None = None  # (batch shapes, executable) of compile_train
        self._compiled_eval: tuple[Any, Any] | None = None  # the same of compile_eval

    def rebuild(self, change: Callable[[nnx.Module], None]) -> None:
        """Applies ``change`` to the model's static structure (e.g. ``remat.set_level``) and starts the
        steps afresh on it, keeping the current state."""
        model, optimizer = nnx.merge(self.train_def, self.rng_state, self.state)
        change(model)
        self.__init__(model, optimizer, self.loss_fn, self.mesh, self.batch_transform, self.ensemble)

    def compile_train(self, batch: dict, key: Array) -> Any:
        """Compiles the train step ahead of time for ``batch``'s shapes and returns the executable (its
        ``memory_analysis()`` says what a step allocates); later steps of these shapes run it."""
        compiled = self._train.lower(self.state, self.rng_state, batch, key).compile()
        self._compiled = (_shapes(batch), compiled)
        return compiled

    def train_step(self, state: Any, batch: dict, key: Array) -> tuple[Any, dict]:
        """One optimiser step on a global batch: ``(new_state, metrics)``; ``state`` is donated."""
        if self._compiled is not None and self._compiled[0] == _shapes(batch):
            return self._compiled[1](state, self.rng_state, batch, key)
        return self._train(state, self.rng_state, batch, key)

    def compile_eval(self, batch: dict, key: Array) -> Any:
        """Compiles the eval step ahead of time for ``batch``'s shapes (see :meth:`compile_train`)."""
        compiled = self._eval.lower(self.state, self.rng_state, batch, key).compile()
        self._compiled_eval = (_shapes(batch), compiled)
        return compiled

    def eval_compiled_for(self, batch: dict) -> bool:
        """Whether :meth:`compile_eval` compiled the eval step for ``batch``'s shapes."""
        return self._compiled_eval is not None and self._compiled_eval[0] == _shapes(batch)

    def eval_step(self, state: Any, batch: dict, key: Array) -> dict:
        """Sums over the unmasked examples of correct predictions, loss, count and the firing rates
        (``firing_rate`` pooled, ``firing_rate/<layer>`` per layer), all scalars."""
        if self.eval_compiled_for(batch):
            return self._compiled_eval[1](state, self.rng_state, batch, key)
        return self._eval(state, self.rng_state, batch, key)

    def _train_step(self, state: Any, rng_state: Any, batch: dict, key: Array) -> tuple[Any, dict]:
        model, optimizer = nnx.merge(self.train_def, rng_state, state)
        key, mix_key = jax.random.split(key)
        reseed(model, key)
        if self.batch_transform is not None:
            batch = self.batch_transform(batch, mix_key, optimizer.step[...])

        def loss_of(model):
            out, recorded = call_recorded(model, batch["image"], per_layer=True)
            return self.loss_fn(out, batch["label"]) + regularization(model), (out, recorded)

        # the gradient also reaches the backward-pass statistics (layers.BackwardStats), which the
        # optimizer (wrt=nnx.Param) leaves alone
        wrt = nnx.DiffState(0, layers.GRADIENT_TARGETS)
        (loss, (out, recorded)), grads = nnx.value_and_grad(loss_of, argnums=wrt, has_aux=True)(model)
        if hasattr(model, "gradient_metrics"):  # statistics only known in the backward pass (SPIDE solver)
            recorded.update(model.gradient_metrics(grads))
        optimizer.update(model, grads)
        metrics = {"loss": loss, "accuracy": losses.accuracy(out, batch["label"]), **recorded}
        return nnx.state((model, optimizer), nnx.Not(nnx.RngState)), metrics

    def _eval_pass(self, state: Any, rng_state: Any, images: Array, key: Array) -> tuple[Array, dict]:
        model, _ = nnx.merge(self.eval_def, rng_state, state)
        reseed(model, key)
        return call_recorded(model, images, per_layer=True)

    def _eval_step(self, state: Any, rng_state: Any, batch: dict, key: Array) -> dict:
        if self.ensemble == 1:
            out, recorded = self._eval_pass(state, rng_state, batch["image"], key)
        else:  # one pass at a time (lax.map): memory of one pass, one compiled body

            def passes(k):  # the body rebuilds the state's Variables in its own trace, so reseed may set them
                inner_state, inner_rngs = jax.tree.map(lambda v: v, (state, rng_state))
                return self._eval_pass(inner_state, inner_rngs, batch["image"], k)

            outs, recorded = jax.lax.map(passes, jax.random.split(key, self.ensemble))
            out, recorded = outs.mean(0), jax.tree.map(lambda v: v.mean(0), recorded)
        mask = batch["mask"].astype(jnp.float32)
        labels = batch["label"]
        correct = (out.sum(0).argmax(-1) == labels).astype(jnp.float32)
        per_example = jax.vmap(lambda o, y: self.loss_fn(o[:, None], y[None]), in_axes=(1, 0))(out, labels)
        return {
            "correct": jnp.sum(correct * mask),
            "loss": jnp.sum(per_example * mask),
            "count": jnp.sum(mask),
            # the pooled and per-layer (firing_rate/<layer>) rates, weighted by the valid examples
            **{k: v * jnp.sum(mask) for k, v in recorded.items() if k.startswith("firing_rate")},
        }

    def model(self, train: bool = False) -> nnx.Module:
        """The model with the current state merged in (for summaries and analysis)."""
        return nnx.merge(self.train_def if train else self.eval_def, self.rng_state, self.state)[0]

    def shard_batch(self, local_batch: dict) -> dict:
        """Assembles this host's slice of the global batch into arrays sharded on their leading (batch)
        axis."""
        return {
            k: jax.make_array_from_process_local_data(self.batch_sharding, v) for k, v in local_batch.items()
        }


def _shapes(batch: dict) -> tuple:
    return tuple((k, v.shape, v.dtype) for k, v in sorted(batch.items()))
