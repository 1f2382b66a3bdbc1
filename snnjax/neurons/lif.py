"""Integrate-and-fire neurons: LIF (two charge forms) and IF (an LIF without leak).

A neuron is a frozen ``flax.struct`` dataclass: its numeric fields (decay, tau, thresholds) are pytree
leaves, so a learnable decay can be swapped in with ``dataclasses.replace``, while the choices that
shape the computation (charge form, reset mode, surrogate) are static. With plain-float fields it is
hashable and can be closed over by ``jit``. A learnable decay (PLIF) is an option of the layer
(``snnjax.layers.SpikingNeuron(learnable_decay=True)``), not of the neuron. The step function is pure:
``lif_step(state, x, params) -> (state, spike)`` on arrays of any shape.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct
from jax import Array

from snnjax import surrogate as sg
from snnjax.errors import ConfigError
from snnjax.registry import NEURONS

Charge = Literal["decay", "tau"]
Reset = Literal["hard", "soft", "soft_delayed", "none"]


class LIFState(NamedTuple):
    """Membrane potential ``v`` after the step (after the reset, except for ``soft_delayed``)."""

    v: Array


@NEURONS.register("lif")
@struct.dataclass
class LIF:
    """Leaky integrate-and-fire neuron.

    Charge (``charge``):
      * ``'decay'``: ``h = decay * v + x`` (GAC, NSNN, snnTorch; ``decay = 1`` is IF).
      * ``'tau'``: spikingjelly, ``h = v + (x - (v - v_reset)) / tau`` (``decay_input``) or
        ``h = v - (v - v_reset) / tau + x``.
    Fire: ``s = H(h - v_th)`` with ``>`` (``inclusive=False``) or ``>=``; gradient by ``surrogate``.
    Reset (``reset``):
      * ``'hard'``: ``v = h (1 - s) + v_reset s``;
      * ``'soft'``: ``v = h - v_th s``;
      * ``'soft_delayed'``: snnTorch ``Leaky(reset_mechanism='subtract')``: the state keeps the
        pre-reset membrane and the next step subtracts ``v_th * H(v_prev - v_th)`` (always detached)
        after the decay;
      * ``'none'``: no reset.
    ``detach_reset`` stops the gradient through ``s`` in the reset term.
    """

    decay: float | Array = 0.5
    tau: float | Array = 2.0
    v_th: float | Array = 1.0
    v_reset: float | Array = 0.0
    charge: Charge = struct.field(pytree_node=False, default="decay")
    decay_input: bool = struct.field(pytree_node=False, default=True)
    reset: Reset = struct.field(pytree_node=False, default="hard")
    detach_reset: bool = struct.field(pytree_node=False, default=False)
    surrogate: sg.Surrogate = struct.field(pytree_node=False, default=sg.Triangle())
    inclusive: bool = struct.field(pytree_node=False, default=False)

    stochastic = False

    def init_state(self, shape: tuple[int, ...], dtype=jnp.float32) -> LIFState:
        """Zero membrane of the given shape (every seed starts at ``u_0 = 0``)."""
        return LIFState(jnp.zeros(shape, dtype))

    def step(self, state: LIFState, x: Array, key: Array | None = None) -> tuple[LIFState, Array]:
        """One time step; ``key`` is ignored (deterministic neuron)."""
        return lif_step(state, x, self)


def integrate(v: Array, x: Array, p: LIF) -> Array:
    """Membrane after integrating input ``x`` into ``v`` (before firing)."""
    if p.charge == "decay":
        return p.decay * v + x
    if p.charge == "tau":
        if p.decay_input:
            return v + (x - (v - p.v_reset)) / p.tau
        return v - (v - p.v_reset) / p.tau + x
    raise ValueError(f"unknown charge form {p.charge!r}; use 'decay' or 'tau'")


def apply_reset(h: Array, s: Array, p: LIF) -> Array:
    """Membrane after the reset caused by spikes ``s`` at pre-reset membrane ``h``."""
    s = jax.lax.stop_gradient(s) if p.detach_reset else s
    if p.reset == "hard":
        return h * (1.0 - s) + p.v_reset * s
    if p.reset == "soft":
        return h - p.v_th * s
    if p.reset in ("soft_delayed", "none"):
        return h
    raise ValueError(f"unknown reset {p.reset!r}; use 'hard', 'soft', 'soft_delayed' or 'none'")


@struct.dataclass
class Firing:
    """The firing and reset parameters of the LIF-like neurons with more state than a membrane (ALIF,
    CubaLIF); a subclass adds its leaks, names its ``resets`` and may change the ``reset`` default.

    Attributes:
      v_th: threshold (ALIF: its baseline).
      v_reset: membrane after a spike for ``reset='hard'``.
      reset: one of the subclass's ``resets`` (as :class:`LIF`'s).
      detach_reset: stop the gradient through ``s`` in the reset term.
      surrogate: gradient of the Heaviside step.
      inclusive: fire on ``h >= v_th`` instead of ``h > v_th``.
    """

    v_th: float | Array = 1.0
    v_reset: float | Array = 0.0
    reset: str = struct.field(pytree_node=False, default="hard")
    detach_reset: bool = struct.field(pytree_node=False, default=False)
    surrogate: sg.Surrogate = struct.field(pytree_node=False, default=sg.Triangle())
    inclusive: bool = struct.field(pytree_node=False, default=False)

    name = "neuron"  # its config name, for errors
    resets = ("hard", "soft", "soft_delayed", "none")
    stochastic = False
    charge = "decay"  # SpikingNeuron(learnable_decay=True) learns the `leaks`

    state_type = NamedTuple  # the subclass's state record: a NamedTuple of arrays, all zero at the start

    def __post_init__(self):
        if self.reset not in self.resets:
            raise ConfigError(f"{self.name}: unknown reset {self.reset!r}; use one of {list(self.resets)}")

    def init_state(self, shape: tuple[int, ...], dtype=jnp.float32):
        """Every state variable zero, of the given shape."""
        return self.state_type(*(jnp.zeros(shape, dtype) for _ in self.state_type._fields))


def fire(v: Array, h: Array, p) -> tuple[Array, Array]:
    """``(v_new, s)``: spike and reset of a charged membrane ``h`` whose previous state was ``v``.

    ``p`` is any record with the LIF fields ``v_th``, ``v_reset``, ``reset``, ``detach_reset``,
    ``surrogate`` and ``inclusive`` (LIF, CubaLIF).
    """
    if p.reset == "soft_delayed":
        h = h - p.v_th * jax.lax.stop_gradient(sg.heaviside(v - p.v_th, p.inclusive))
    s = sg.spike(h - p.v_th, p.surrogate, p.inclusive)
    return apply_reset(h, s, p).astype(v.dtype), s


def lif_step(state: LIFState, x: Array, p: LIF) -> tuple[LIFState, Array]:
    """One LIF step on arrays of any (equal) shape: returns ``(new_state, spike)``."""
    v = state.v
    v_new, s = fire(v, integrate(v, x, p).astype(v.dtype), p)
    return LIFState(v_new), s


def IF(**kwargs) -> LIF:
    """Integrate-and-fire: an :class:`LIF` with ``decay = 1`` (no leak)."""
    return LIF(decay=1.0, charge="decay", **kwargs)
