"""Pieces shared by the model families: neurons from configs, encoders, firing-rate recording."""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax import Array

from snnjax import encoding, layers, neurons
from snnjax import surrogate as sg
from snnjax.errors import ConfigError

_SURROGATE_PARAM = {
    "triangle": "gamma",
    "zif": "gamma",
    "rectangle": "width",
    "sigmoid": "alpha",
    "atan": "alpha",
    "fast_sigmoid": "slope",
    "erf": "alpha",
    "gaussian": "sigma",
}


def neuron_config(**overrides) -> ml_collections.ConfigDict:
    """The neuron section of a model config, with its defaults (a GAC-CIFAR LIF)."""
    cfg = ml_collections.ConfigDict(
        dict(
            type="lif",  # if | lif | noisy_lif | shared_threshold | dual_threshold
            decay=0.5,  # decay factor lambda ('decay' charge)
            tau=2.0,  # time constant ('tau' charge, spikingjelly) / tau0 of dual_threshold
            charge="decay",  # decay | tau
            decay_input=True,
            v_th=1.0,
            v_reset=0.0,
            reset="hard",  # hard | soft | soft_delayed | none
            detach_reset=False,
            inclusive=False,  # fire on >= instead of >
            surrogate="triangle",
            surrogate_param=1.0,  # gamma / width / alpha / slope / sigma of the surrogate
            noise="gaussian",  # noisy_lif: gaussian | logistic | triangular | uniform
            noise_scale=0.3,
            thresholds=(0.25, 0.5),  # multi-threshold neurons
            amplitudes=(0.25, 0.5),
            tau1=4.0,
            learnable_decay=False,  # PLIF
            unroll=0,  # time-loop unroll factor; 0 = all T steps up to layers.AUTO_UNROLL_MAX_STEPS
        )
    )
    cfg.update(overrides)
    return cfg


def make_surrogate(name: str, param: float) -> sg.Surrogate:
    """A surrogate from its config name and its single hyper-parameter."""
    if name == "clipped_ste":
        return sg.ClippedSTE()
    if name not in _SURROGATE_PARAM:
        raise ConfigError(
            f"unknown surrogate {name!r}; choose one of {sorted([*_SURROGATE_PARAM, 'clipped_ste'])}"
        )
    return sg.get(name, **{_SURROGATE_PARAM[name]: float(param)})


def make_neuron(cfg: ml_collections.ConfigDict):
    """A neuron record (``snnjax.neurons``) from a :func:`neuron_config` section."""
    surrogate = make_surrogate(cfg.surrogate, cfg.surrogate_param)
    kind = cfg.type
    if kind in ("lif", "if", "plif"):
        return neurons.LIF(
            decay=1.0 if kind == "if" else float(cfg.decay),
            tau=float(cfg.tau),
            v_th=float(cfg.v_th),
            v_reset=float(cfg.v_reset),
            charge="decay" if kind == "if" else cfg.charge,
            decay_input=cfg.decay_input,
            reset=cfg.reset,
            detach_reset=cfg.detach_reset,
            surrogate=surrogate,
            inclusive=cfg.inclusive,
        )
    if kind == "noisy_lif":
        return neurons.NoisyLIF(
            decay=float(cfg.decay),
            v_th=float(cfg.v_th),
            noise=neurons.make_noise(cfg.noise, cfg.noise_scale),
            detach_reset=cfg.detach_reset,
        )
    if kind == "shared_threshold":
        return neurons.SharedThresholdLIF(
            thresholds=tuple(cfg.thresholds), amplitudes=tuple(cfg.amplitudes), tau=float(cfg.tau)
        )
    if kind == "dual_threshold":
        return neurons.DualThresholdLIF(
            tau0=float(cfg.tau), tau1=float(cfg.tau1), v_th=float(cfg.v_th), surrogate=surrogate
        )
    raise ConfigError(
        f"unknown neuron type {kind!r}; choose one of if, lif, plif, noisy_lif, shared_threshold, "
        "dual_threshold"
    )


class RecordedNeuron(layers.SpikingNeuron):
    """A :class:`~snnjax.layers.SpikingNeuron` that records its mean firing rate as an
    ``nnx.Intermediate`` named ``firing_rate`` (collected by ``nnx.capture`` in the train/eval steps)."""

    def __call__(self, x: Array, *, key: Array | None = None) -> Array:
        s = super().__call__(x, key=key)
        self.sow(nnx.Intermediate, "firing_rate", jnp.mean(s.astype(jnp.float32)))
        return s


def spiking_neuron(
    cfg: ml_collections.ConfigDict,
    *,
    rngs: nnx.Rngs,
    remat: bool = False,
    decay_shape: tuple[int, ...] = (),
    decay_init=None,
) -> RecordedNeuron:
    """A recorded neuron layer built from a neuron config section."""
    neuron = make_neuron(cfg)
    learnable = bool(cfg.learnable_decay) or cfg.type == "plif"
    return RecordedNeuron(
        neuron,
        learnable_decay=learnable,
        decay_shape=decay_shape,
        decay_init=decay_init,
        remat=remat,
        unroll=int(cfg.unroll),
        rngs=rngs,
    )


class Encoder(nnx.Module):
    """Encodes static inputs ``[B, ...]`` into ``[T, B, ...]`` (direct / rate / latency); event data
    that is already time-major (``ndim == expected + 1``) passes through."""

    def __init__(self, name: str, num_steps: int, *, rngs: nnx.Rngs | None = None):
        if name not in encoding.ENCODERS:
            raise ConfigError(f"unknown encoding {name!r}; choose one of {encoding.ENCODERS}")
        self.name = name
        self.num_steps = num_steps
        self.rngs = rngs["encoding"].fork() if (rngs is not None and name == "rate") else nnx.data(None)

    def __call__(self, x: Array) -> Array:
        if x.ndim == 5:  # event frames [T, B, H, W, C] are already a sequence (images are [B, H, W, C])
            return x
        key = self.rngs() if self.name == "rate" else None
        return encoding.encode(self.name, x, self.num_steps, key=key)
