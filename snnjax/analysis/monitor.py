"""Spike monitors: record what every neuron layer of a model does on a batch.

``record(model, x)`` runs the model once with recording switched on: every
:class:`snnjax.layers.SpikingNeuron` inside it sows its spike train ``[T, b, ...]`` (and, if asked, its
membrane trace) as a :class:`snnjax.layers.Recorded` variable, collected with ``nnx.capture``. Nothing
is left on the model, and outside ``record`` the layers sow nothing, so training programs are unchanged.
``record`` traces under ``jax.jit`` / ``nnx.jit`` like any model call::

    logits, rec = monitor.record(model, images, samples=4, membrane=True)
    monitor.layer_rates(rec)        # {'lif1': 0.12, ...}
    monitor.rate_over_time(rec)     # {'lif1': [T], ...}

Layer names are the dotted attribute paths of the neuron layers inside the model.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from snnjax import layers


class Recording(NamedTuple):
    """Per neuron layer (dotted path -> array): ``spikes [T, b, ...]`` and ``membrane [T, b, ...]``
    (empty unless recorded). A pytree, so it can be returned from a jitted function."""

    spikes: dict[str, Array]
    membrane: dict[str, Array]


def record(
    model: nnx.Module, x: Any, *, samples: int | None = None, membrane: bool = False, **kwargs: Any
) -> tuple[Any, Recording]:
    """``model(x, **kwargs)`` and a :class:`Recording` of its neuron layers.

    Args:
      model: any NNX model whose neurons are :class:`snnjax.layers.SpikingNeuron` layers.
      x: the model input (e.g. images ``[B, H, W, C]`` or frames ``[T, B, H, W, C]``).
      samples: keep only the first ``samples`` examples of the batch (bounds memory); all if None.
      membrane: also record each layer's membrane potential after the step (its first state array).
    Returns:
      ``(output, recording)``; a layer called several times keeps its first call.
    """
    token = layers.RECORDING.set(layers.RecordOptions(samples=samples, membrane=membrane))
    try:
        out, sown = nnx.capture(model, layers.Recorded)(x, **kwargs)
    finally:
        layers.RECORDING.reset(token)
    found: dict[str, dict[str, Array]] = {"spikes": {}, "membrane": {}}
    for path, value in nnx.to_flat_state(sown):
        kind, name = str(path[-1]), ".".join(str(p) for p in path[:-1])
        found[kind].setdefault(name, jax.tree.leaves(value)[0])  # sown values are tuples, one per call
    return out, Recording(found["spikes"], found["membrane"])


def layer_rates(rec: Recording) -> dict[str, Array]:
    """Mean firing rate of each layer (spikes per neuron per time step), a scalar each."""
    return {name: jnp.mean(s.astype(jnp.float32)) for name, s in rec.spikes.items()}


def rate_over_time(rec: Recording) -> dict[str, Array]:
    """Firing rate of each layer at each time step: ``[T]`` each."""
    return {k: jnp.mean(s.reshape(s.shape[0], -1).astype(jnp.float32), 1) for k, s in rec.spikes.items()}


def neuron_rates(spikes: Array) -> Array:
    """Per-neuron firing rate over time and the recorded samples: ``[T, b, *F] -> [prod(F)]``."""
    s = spikes.astype(jnp.float32)
    return jnp.mean(s.reshape(s.shape[0] * s.shape[1], -1), axis=0)


def silent_fraction(rec: Recording) -> dict[str, Array]:
    """Fraction of each layer's neurons that never fired (over all steps and recorded samples)."""
    return {name: jnp.mean(neuron_rates(s) == 0) for name, s in rec.spikes.items()}


def saturated_fraction(rec: Recording) -> dict[str, Array]:
    """Fraction of each layer's neurons that fired at every step of every recorded sample."""
    return {name: jnp.mean(neuron_rates(s) >= 1) for name, s in rec.spikes.items()}


def summary(rec: Recording) -> dict[str, dict[str, Any]]:
    """JSON-ready statistics per layer: shape, rate, rate per step, silent and saturated fractions."""
    rates, over_time = layer_rates(rec), rate_over_time(rec)
    silent, saturated = silent_fraction(rec), saturated_fraction(rec)
    return {
        name: {
            "shape": list(s.shape),
            "firing_rate": float(rates[name]),
            "rate_per_step": [float(r) for r in over_time[name]],
            "silent_fraction": float(silent[name]),
            "saturated_fraction": float(saturated[name]),
        }
        for name, s in rec.spikes.items()
    }
