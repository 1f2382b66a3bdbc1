"""How snnjax's discrete neurons map onto NIR's continuous-time ones (docs/nir.md, "Semantics").

NIR states each neuron as an ODE, e.g. LIF ``tau dv/dt = (v_leak - v) + r I``. snnjax reads and writes
it as one forward-Euler step of length ``dt`` per time step, the membrane updated with the input of the
same step (no delay) and a spike ``v > v_threshold`` resetting ``v`` to ``v_reset`` at once::

    v[t] = (1 - dt / tau) v[t-1] + (dt / tau) v_leak + (dt r / tau) I[t]

so snnjax's ``h = decay * v + x`` is ``tau = dt / (1 - decay)``, ``r = tau / dt``, ``v_leak = 0``.
Neuron parameters are converted and stored in float64 arrays of the neuron's full shape.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import Array

from snnjax import neurons
from snnjax import surrogate as sg
from snnjax.errors import ConfigError

DT = 1.0
"""Default step length: one snnjax time step is one unit of NIR time (``tau`` counted in steps)."""


def _full(value, shape: tuple[int, ...]) -> np.ndarray:
    """float64, so that ``1 - dt / tau`` gives back snnjax's float32 decay exactly."""
    return np.array(np.broadcast_to(np.asarray(value, np.float64), shape))


def _f64(value) -> np.ndarray:
    return np.asarray(value, np.float64)


# ---------------------------------------------------------------------------------------------------
# snnjax -> NIR


def lif_nodes(neuron, shape: tuple[int, ...], dt: float, where: str) -> list:
    """NIR node(s) of the snnjax neuron record ``neuron`` for a layer of neurons ``shape`` (NIR layout).

    Hard reset: one ``LIF`` (``IF`` when the decay is exactly 1); no reset: ``LI -> Threshold``.
    Raises ConfigError naming ``where`` for what NIR cannot express.
    """
    import nir

    if type(neuron) is not neurons.LIF:
        kind = type(neuron).__name__
        if getattr(neuron, "stochastic", False):
            raise ConfigError(f"layer {where}: the stochastic neuron {kind} has no NIR primitive")
        if "Threshold" in kind:
            raise ConfigError(f"layer {where}: the multi-threshold neuron {kind} has no NIR primitive")
        raise ConfigError(f"layer {where}: neuron {kind} has no NIR primitive")
    if neuron.reset in ("soft", "soft_delayed"):
        raise ConfigError(
            f"layer {where}: reset={neuron.reset!r} (subtract the threshold) has no NIR counterpart; NIR "
            "neurons reset to v_reset (use reset='hard')"
        )
    if neuron.inclusive:
        raise ConfigError(f"layer {where}: inclusive=True fires on v >= v_th; NIR fires on v > v_threshold")
    v_th, v_reset = _full(neuron.v_th, shape), _full(neuron.v_reset, shape)
    if neuron.charge == "decay":
        decay = _f64(np.broadcast_to(_f64(neuron.decay), shape))
        if np.all(decay == 1.0):
            if neuron.reset == "none":
                return [nir.I(r=_full(1.0 / dt, shape)), nir.Threshold(threshold=v_th)]
            return [nir.IF(r=_full(1.0 / dt, shape), v_threshold=v_th, v_reset=v_reset)]
        if np.any(decay >= 1.0) or np.any(decay < 0.0):
            raise ConfigError(f"layer {where}: a decay outside [0, 1) beside leaky neurons has no NIR tau")
        tau = dt / (1.0 - decay)
        r, v_leak = tau / dt, np.zeros(shape)
    elif neuron.charge == "tau":
        tau = _f64(np.broadcast_to(_f64(neuron.tau), shape)) * dt
        r = np.ones(shape) if neuron.decay_input else tau / dt
        v_leak = _f64(v_reset)
    else:
        raise ConfigError(f"layer {where}: unknown charge form {neuron.charge!r}")
    tau, r, v_leak = _full(tau, shape), _full(r, shape), _full(v_leak, shape)
    if neuron.reset == "none":
        return [nir.LI(tau=tau, r=r, v_leak=v_leak), nir.Threshold(threshold=v_th)]
    return [nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=v_th, v_reset=v_reset)]


# ---------------------------------------------------------------------------------------------------
# NIR -> snnjax: neuron records whose step is the Euler step above


class Drive(NamedTuple):
    """Elementwise input map ``gain * I + bias`` in front of a neuron (``None``: the identity)."""

    gain: np.ndarray | None
    bias: np.ndarray | None


def _drive(gain: np.ndarray, bias: np.ndarray) -> Drive:
    gain, bias = gain.astype(np.float32), bias.astype(np.float32)
    return Drive(None if np.all(gain == 1.0) else gain, None if np.all(bias == 0.0) else bias)


class IntegratorState(NamedTuple):
    v: Array


@struct.dataclass
class LeakyIntegrator:
    """NIR ``LI`` (and ``I`` with ``decay = 1``): ``v[t] = decay * v[t-1] + x[t]``; outputs ``v``."""

    decay: float | Array = 1.0

    stochastic = False

    def init_state(self, shape: tuple[int, ...], dtype=jnp.float32) -> IntegratorState:
        return IntegratorState(jnp.zeros(shape, dtype))

    def step(self, state: IntegratorState, x: Array, key: Array | None = None):
        v = (self.decay * state.v + x).astype(state.v.dtype)
        return IntegratorState(v), v


class CurrentState(NamedTuple):
    i: Array
    v: Array


@struct.dataclass
class CurrentLIF:
    """NIR ``CubaLIF``: synaptic current then membrane, both Euler steps of the same time step:
    ``i[t] = syn_decay * i[t-1] + x[t]``, ``h = mem_decay * v[t-1] + mem_gain * i[t] + mem_bias``,
    ``s[t] = H(h - v_th)``, ``v[t] = h (1 - s[t]) + v_reset s[t]``."""

    syn_decay: float | Array = 0.5
    mem_decay: float | Array = 0.5
    mem_gain: float | Array = 1.0
    mem_bias: float | Array = 0.0
    v_th: float | Array = 1.0
    v_reset: float | Array = 0.0
    surrogate: sg.Surrogate = struct.field(pytree_node=False, default=sg.Triangle())

    stochastic = False

    def init_state(self, shape: tuple[int, ...], dtype=jnp.float32) -> CurrentState:
        return CurrentState(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype))

    def step(self, state: CurrentState, x: Array, key: Array | None = None):
        i = (self.syn_decay * state.i + x).astype(state.i.dtype)
        h = (self.mem_decay * state.v + self.mem_gain * i + self.mem_bias).astype(state.v.dtype)
        s = sg.spike(h - self.v_th, self.surrogate)
        return CurrentState(i, (h * (1.0 - s) + self.v_reset * s).astype(h.dtype)), s


def neuron_record(node, dt: float, surrogate: sg.Surrogate) -> tuple[Drive, object]:
    """The input drive and snnjax neuron record of a NIR neuron node, stepped with ``dt``."""
    import nir

    f32 = lambda a: jnp.asarray(_f64(a).astype(np.float32))
    if isinstance(node, nir.IF):
        record = neurons.LIF(
            decay=1.0, v_th=f32(node.v_threshold), v_reset=f32(node.v_reset), surrogate=surrogate
        )
        return _drive(dt * _f64(node.r), np.zeros(())), record
    if isinstance(node, nir.LIF):
        k = dt / _f64(node.tau)
        record = neurons.LIF(
            decay=f32(1.0 - k), v_th=f32(node.v_threshold), v_reset=f32(node.v_reset), surrogate=surrogate
        )
        return _drive(k * _f64(node.r), k * _f64(node.v_leak)), record
    if isinstance(node, nir.LI):
        k = dt / _f64(node.tau)
        return _drive(k * _f64(node.r), k * _f64(node.v_leak)), LeakyIntegrator(decay=f32(1.0 - k))
    if isinstance(node, nir.I):
        return _drive(dt * _f64(node.r), np.zeros(())), LeakyIntegrator(decay=1.0)
    if isinstance(node, nir.CubaLIF):
        k_syn, k_mem = dt / _f64(node.tau_syn), dt / _f64(node.tau_mem)
        record = CurrentLIF(
            syn_decay=f32(1.0 - k_syn),
            mem_decay=f32(1.0 - k_mem),
            mem_gain=f32(k_mem * _f64(node.r)),
            mem_bias=f32(k_mem * _f64(node.v_leak)),
            v_th=f32(node.v_threshold),
            v_reset=f32(node.v_reset),
            surrogate=surrogate,
        )
        return _drive(k_syn * _f64(node.w_in), np.zeros(())), record
    raise ConfigError(f"NIR node {type(node).__name__} is not a neuron snnjax can run")


NEURON_TYPES = ("IF", "LIF", "LI", "I", "CubaLIF")
