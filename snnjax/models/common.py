"""Pieces shared by the model families: the shared model keys, neurons from configs, encoders,
firing-rate recording.

The neuron section of a model config (:func:`neuron_config`) is ``type`` (a name registered in
``snnjax.registry.NEURONS``), the options of the neuron layer (``learnable_decay``: PLIF,
``learnable_threshold``, ``per_channel``, ``unroll``) and
one sub-section per registered neuron type whose keys are that neuron's dataclass fields with their
defaults, e.g. ``model.neuron.lif.decay`` or ``model.neuron.noisy_lif.noise = 'logistic(scale=0.3)'``.
Every type's sub-section is present, so ``--config.model.neuron.type=lif`` switches neurons from the
command line and a config can prepare the settings of the type it does not select; the section is
locked, so a key the neuron lacks (``model.neuron.noisy_lif.reset``) is an error. Surrogates and noise
families are written as spec strings (``'atan(alpha=2.0)'``, see ``snnjax.registry``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax import Array

from snnjax import encoding, layers, neurons, precision
from snnjax import surrogate as sg
from snnjax.errors import ConfigError
from snnjax.registry import ENCODERS, NEURONS, NOISES, SURROGATES


def _config_value(default: Any) -> Any:
    """A neuron field's default as config data: components (surrogate, noise) as their spec string."""
    if isinstance(default, sg.Surrogate):
        return SURROGATES.spec(default)
    if isinstance(default, neurons.Noise):
        return NOISES.spec(default)
    return default


def _field_value(default: Any, value: Any) -> Any:
    """A config value converted to the type of the neuron field whose default is ``default``."""
    if isinstance(default, sg.Surrogate):
        return sg.parse(value)
    if isinstance(default, neurons.Noise):
        return NOISES.create(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def neuron_fields(neuron_cls) -> dict[str, Any]:
    """The config keys of a registered neuron class (its dataclass fields) with their defaults."""
    return {f.name: _config_value(f.default) for f in dataclasses.fields(neuron_cls)}


def neuron_config(type: str = "lif", **sections: dict) -> ml_collections.ConfigDict:
    """The neuron section of a model config (locked: a key no neuron has is an error).

    ``type`` names a registered neuron (``snnjax.registry.NEURONS``); ``sections`` overrides the fields
    of any type's sub-section, e.g. ``neuron_config('lif', lif=dict(decay=0.9))``.
    """
    cfg = ml_collections.ConfigDict(
        dict(
            type=type,
            learnable_decay=False,  # layer option: learn the decay / tau (PLIF; CubaLIF: both decays)
            learnable_threshold=False,  # layer option: learn the threshold v_th
            per_channel=False,  # layer option: the learnt leaks / threshold per channel, not per layer
            unroll=0,  # layer option: time-loop unroll factor; 0 = all T steps up to AUTO_UNROLL_MAX_STEPS
            **{name: neuron_fields(NEURONS.get(name)) for name in NEURONS.names()},
        )
    )
    cfg.lock()
    for name, values in sections.items():
        if name not in NEURONS:
            raise ConfigError(f"unknown neuron section {name!r}; choose one of {NEURONS.names()}")
        set_fields(cfg[name], values, f"model.neuron.{name}")
    return cfg


def set_fields(section: ml_collections.ConfigDict, values: dict, where: str) -> None:
    """``section.update(values)``, with a key the section lacks as a one-line ConfigError."""
    for key, value in values.items():
        if key not in section:
            raise ConfigError(f"{where} has no key {key!r}; valid keys: {sorted(section)}")
        section[key] = value


def chosen_neuron(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The sub-section of the neuron type ``cfg.type`` selects (e.g. to read its ``v_th``)."""
    NEURONS.get(cfg.type)
    return cfg[cfg.type]


def make_neuron(cfg: ml_collections.ConfigDict):
    """A neuron record (``snnjax.neurons``) from a :func:`neuron_config` section."""
    cls = NEURONS.get(cfg.type)
    fields = dataclasses.fields(cls)
    values = chosen_neuron(cfg)
    stray = sorted(set(values) - {f.name for f in fields})
    if stray:
        raise ConfigError(
            f"neuron {cfg.type!r} has no key {stray[0]!r}; its keys: {sorted(f.name for f in fields)}"
        )
    return cls(**{f.name: _field_value(f.default, values[f.name]) for f in fields})


def model_config(name: str, **keys) -> ml_collections.ConfigDict:
    """The keys every model shares (name, T, encoding, neuron, remat) plus a family's own ``keys``; the
    families' ``model_config()`` functions build on it."""
    cfg = ml_collections.ConfigDict(
        dict(
            name=name,
            num_steps=4,  # T
            encoding="direct",  # a name in snnjax.registry.ENCODERS
            neuron=neuron_config(),
            remat=False,  # rematerialise each time step in the backward pass
            dtype="float32",  # compute dtype of convs/matmuls: float32 | bfloat16 (snnjax.precision)
        )
    )
    cfg.update(keys)
    return cfg


class RecordedNeuron(layers.SpikingNeuron):
    """A :class:`~snnjax.layers.SpikingNeuron` that records its mean firing rate as an
    ``nnx.Intermediate`` named ``firing_rate`` (collected by ``nnx.capture`` in the train/eval steps)."""

    def __call__(self, x: Array, *, key: Array | None = None) -> Array:
        s = super().__call__(x, key=key)
        self.sow(nnx.Intermediate, "firing_rate", jnp.mean(precision.at_least_float32(s)))
        return s


def layer_options(
    cfg: ml_collections.ConfigDict, *, features: int | None = None, decay_shape: tuple[int, ...] = ()
) -> dict[str, Any]:
    """The :class:`~snnjax.layers.SpikingNeuron` options of a neuron config section: learnable leaks and
    threshold, one per layer, or one per channel (``cfg.per_channel``) of a layer of ``features``
    channels. An explicit ``decay_shape`` wins over both."""
    if cfg.per_channel and not decay_shape:
        if features is None:
            raise ConfigError("model.neuron.per_channel is not supported by this model; set it to False")
        decay_shape = (features,)
    return dict(
        learnable_decay=bool(cfg.learnable_decay),
        learnable_threshold=bool(cfg.learnable_threshold),
        decay_shape=decay_shape,
        unroll=int(cfg.unroll),
    )


def spiking_neuron(
    cfg: ml_collections.ConfigDict,
    *,
    rngs: nnx.Rngs,
    remat: bool = False,
    decay_shape: tuple[int, ...] = (),
    decay_init=None,
    features: int | None = None,
    window: int = 0,
) -> RecordedNeuron:
    """A recorded neuron layer built from a neuron config section; ``features`` is the layer's channel
    count (the last axis), needed for ``cfg.per_channel``; ``window``: see
    :class:`~snnjax.layers.SpikingNeuron`."""
    return RecordedNeuron(
        make_neuron(cfg),
        decay_init=decay_init,
        remat=remat,
        window=window,
        rngs=rngs,
        **layer_options(cfg, features=features, decay_shape=decay_shape),
    )


class RecordedRecurrentNeuron(RecordedNeuron, layers.RecurrentSpikingNeuron):
    """A :class:`~snnjax.layers.RecurrentSpikingNeuron` that records its mean firing rate."""


def recurrent_spiking_neuron(
    cfg: ml_collections.ConfigDict, features: int, *, rngs: nnx.Rngs, remat: bool = False
) -> RecordedRecurrentNeuron:
    """A recorded recurrent neuron layer of ``features`` neurons built from a neuron config section."""
    return RecordedRecurrentNeuron(
        make_neuron(cfg), features, remat=remat, rngs=rngs, **layer_options(cfg, features=features)
    )


class Encoder(nnx.Module):
    """The model's input path: a host batch to the time-major ``[T, B, ...]`` the layers run on, by the
    encoder ``name`` (:mod:`snnjax.encoding`): static inputs ``[B, ...]`` coded over ``num_steps`` steps
    (direct / rate / latency), event frames ``[B, T, ...]`` transposed (``events``)."""

    def __init__(self, name: str, num_steps: int, *, rngs: nnx.Rngs | None = None):
        stochastic = ENCODERS.get(name).stochastic
        self.name = name
        self.num_steps = num_steps
        self.rngs = rngs["encoding"].fork() if (rngs is not None and stochastic) else nnx.data(None)

    @property
    def repeats(self) -> bool:
        """Whether every step of the encoded input is the same value (direct coding of a static input)."""
        return self.name == "direct"

    def __call__(self, x: Array) -> Array:
        key = self.rngs() if self.rngs is not None else None
        return encoding.encode(self.name, x, self.num_steps, key=key)
