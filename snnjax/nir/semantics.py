"""How snnjax's discrete neurons map onto NIR's continuous-time ones (docs/nir.md, "Semantics").

NIR states each neuron as an ODE, e.g. LIF ``tau dv/dt = (v_leak - v) + r I``. snnjax reads and writes
it as one forward-Euler step of length ``dt`` per time step, the membrane updated with the input of the
same step (no delay) and a spike ``v > v_threshold`` resetting ``v`` to ``v_reset`` at once::

    v[t] = (1 - dt / tau) v[t-1] + (dt / tau) v_leak + (dt r / tau) I[t]

so snnjax's ``h = decay * v + x`` is ``tau = dt / (1 - decay)``, ``r = tau / dt``, ``v_leak = 0``.
Neuron parameters are converted and stored in float64 arrays of the neuron's full shape.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from snnjax import neurons
from snnjax import surrogate as sg
from snnjax.errors import ConfigError

DT = 1.0
"""Default step length: one snnjax time step is one unit of NIR time (``tau`` counted in steps)."""

NEURON_TYPES = ("IF", "LIF", "LI", "I", "CubaLIF")  # the NIR neurons snnjax runs


def _full(value, shape: tuple[int, ...]) -> np.ndarray:
    """float64, so that ``1 - dt / tau`` gives back snnjax's float32 decay exactly."""
    return np.array(np.broadcast_to(np.asarray(value, np.float64), shape))


def _f64(value) -> np.ndarray:
    return np.asarray(value, np.float64)


# ---------------------------------------------------------------------------------------------------
# snnjax -> NIR


def _leak(decay, shape: tuple[int, ...], dt: float, where: str, what: str = "decay") -> np.ndarray:
    """``tau = dt / (1 - decay)`` of a decay in [0, 1)."""
    decay = _full(decay, shape)
    if np.any(decay >= 1.0) or np.any(decay < 0.0):
        raise ConfigError(f"layer {where}: a {what} outside [0, 1) beside leaky neurons has no NIR tau")
    return dt / (1.0 - decay)


def _check_fire(neuron, where: str) -> None:
    """NIR neurons fire on ``v > v_threshold`` and reset to ``v_reset``."""
    if neuron.reset in ("soft", "soft_delayed"):
        raise ConfigError(
            f"layer {where}: reset={neuron.reset!r} (subtract the threshold) has no NIR counterpart; NIR "
            "neurons reset to v_reset (use reset='hard')"
        )
    if neuron.inclusive:
        raise ConfigError(f"layer {where}: inclusive=True fires on v >= v_th; NIR fires on v > v_threshold")


def _lif(neuron: neurons.LIF, shape: tuple[int, ...], dt: float, where: str) -> list:
    import nir

    _check_fire(neuron, where)
    v_th, v_reset = _full(neuron.v_th, shape), _full(neuron.v_reset, shape)
    if neuron.charge == "decay":
        if np.all(_full(neuron.decay, shape) == 1.0):
            if neuron.reset == "none":
                return [nir.I(r=_full(1.0 / dt, shape)), nir.Threshold(threshold=v_th)]
            return [nir.IF(r=_full(1.0 / dt, shape), v_threshold=v_th, v_reset=v_reset)]
        tau = _leak(neuron.decay, shape, dt, where)
        r, v_leak = tau / dt, np.zeros(shape)
    elif neuron.charge == "tau":
        tau = _full(neuron.tau, shape) * dt
        r = np.ones(shape) if neuron.decay_input else tau / dt
        v_leak = v_reset
    else:
        raise ConfigError(f"layer {where}: unknown charge form {neuron.charge!r}")
    if neuron.reset == "none":
        return [nir.LI(tau=tau, r=r, v_leak=v_leak), nir.Threshold(threshold=v_th)]
    return [nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=v_th, v_reset=v_reset)]


def _cuba_lif(neuron: neurons.CubaLIF, shape: tuple[int, ...], dt: float, where: str) -> list:
    """``i = syn_decay i + x``, ``h = decay v + i``: unit gains, so ``w_in = tau_syn / dt`` and
    ``r = tau_mem / dt``."""
    import nir

    _check_fire(neuron, where)
    if neuron.reset == "none":
        raise ConfigError(f"layer {where}: a cuba_lif without reset has no NIR primitive")
    tau_syn = _leak(neuron.syn_decay, shape, dt, where, "syn_decay")
    tau_mem = _leak(neuron.decay, shape, dt, where)
    return [
        nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            r=tau_mem / dt,
            v_leak=np.zeros(shape),
            v_threshold=_full(neuron.v_th, shape),
            v_reset=_full(neuron.v_reset, shape),
            w_in=tau_syn / dt,
        )
    ]


def _li(neuron: neurons.LI, shape: tuple[int, ...], dt: float, where: str) -> list:
    """``v = decay v + (1 - decay) v_leak + x``."""
    import nir

    if np.all(_full(neuron.decay, shape) == 1.0):
        return [nir.I(r=_full(1.0 / dt, shape))]
    tau = _leak(neuron.decay, shape, dt, where)
    return [nir.LI(tau=tau, r=tau / dt, v_leak=_full(neuron.v_leak, shape))]


EXPORTED = {neurons.LIF: _lif, neurons.CubaLIF: _cuba_lif, neurons.LI: _li}


def neuron_nodes(neuron, shape: tuple[int, ...], dt: float, where: str) -> list:
    """NIR node(s) of the snnjax neuron record ``neuron`` for a layer of neurons ``shape`` (NIR layout).

    LIF: ``LIF`` (``IF`` when the decay is exactly 1), without reset ``LI -> Threshold``; CubaLIF:
    ``CubaLIF``; LI: ``LI`` (``I``). Raises a ConfigError naming ``where`` for what NIR cannot express.
    """
    kind = type(neuron).__name__
    to_nir = EXPORTED.get(type(neuron))
    if to_nir is not None:
        return to_nir(neuron, shape, dt, where)
    if getattr(neuron, "stochastic", False):
        raise ConfigError(f"layer {where}: the stochastic neuron {kind} has no NIR primitive")
    if "Threshold" in kind:
        raise ConfigError(f"layer {where}: the multi-threshold neuron {kind} has no NIR primitive")
    if kind == "ALIF":
        raise ConfigError(f"layer {where}: the adaptive-threshold neuron ALIF has no NIR primitive")
    raise ConfigError(f"layer {where}: neuron {kind} has no NIR primitive")


def relayout(neuron, layout):
    """The neuron record with its numeric fields passed through ``layout`` (e.g. to channels first)."""
    fields = {
        f.name: layout(getattr(neuron, f.name))
        for f in dataclasses.fields(neuron)
        if f.metadata.get("pytree_node", True)
    }
    return dataclasses.replace(neuron, **fields)


# ---------------------------------------------------------------------------------------------------
# NIR -> snnjax: a drive in front of an snnjax neuron whose step is the Euler step above


class Drive(NamedTuple):
    """Elementwise input map ``gain * I + bias`` in front of a neuron (``None``: the identity)."""

    gain: np.ndarray | None
    bias: np.ndarray | None


def _drive(gain: np.ndarray, bias: np.ndarray | None = None) -> Drive:
    gain = np.asarray(gain, np.float32)
    bias = np.zeros((), np.float32) if bias is None else np.asarray(bias, np.float32)
    return Drive(None if np.all(gain == 1.0) else gain, None if np.all(bias == 0.0) else bias)


def neuron_record(node, dt: float, surrogate: sg.Surrogate, where: str) -> tuple[Drive, object]:
    """The input drive and snnjax neuron record (``snnjax.neurons``) of a NIR neuron node, step ``dt``."""
    import nir

    f32 = lambda a: jnp.asarray(_f64(a).astype(np.float32))
    if isinstance(node, nir.IF):
        record = neurons.LIF(
            decay=1.0, v_th=f32(node.v_threshold), v_reset=f32(node.v_reset), surrogate=surrogate
        )
        return _drive(dt * _f64(node.r)), record
    if isinstance(node, nir.LIF):
        k = dt / _f64(node.tau)
        record = neurons.LIF(
            decay=f32(1.0 - k), v_th=f32(node.v_threshold), v_reset=f32(node.v_reset), surrogate=surrogate
        )
        return _drive(k * _f64(node.r), k * _f64(node.v_leak)), record
    if isinstance(node, nir.LI):
        k = dt / _f64(node.tau)
        return _drive(k * _f64(node.r)), neurons.LI(decay=f32(1.0 - k), v_leak=f32(node.v_leak))
    if isinstance(node, nir.I):
        return _drive(dt * _f64(node.r)), neurons.LI(decay=1.0)
    if isinstance(node, nir.CubaLIF):
        if np.any(_f64(node.v_leak) != 0.0):
            raise ConfigError(f"node {where}: CubaLIF with v_leak != 0 is not supported")
        k_syn, k_mem = dt / _f64(node.tau_syn), dt / _f64(node.tau_mem)
        record = neurons.CubaLIF(
            decay=f32(1.0 - k_mem),
            syn_decay=f32(1.0 - k_syn),
            v_th=f32(node.v_threshold),
            v_reset=f32(node.v_reset),
            surrogate=surrogate,
        )
        # snnjax's current is NIR's times k_mem r, so that the membrane adds it with unit gain
        return _drive(k_mem * _f64(node.r) * k_syn * _f64(node.w_in)), record
    raise ConfigError(f"node {where}: NIR node {type(node).__name__} is not a neuron snnjax runs")
