"""Leaky integrator (LI): a non-spiking neuron whose output is its membrane, the usual SNN readout.

With membrane ``v`` (``v_0 = 0``) and input current ``x_t``, one step is::

    v_t = decay * v_{t-1} + (1 - decay) * v_leak + x_t

and the neuron emits ``v_t`` itself (no threshold, no reset): run through
:class:`~snnjax.layers.SpikingNeuron`, a layer of LIs returns membranes ``[T, B, ...]``. The membrane
relaxes towards ``v_leak`` (0 by default, when the step is snnTorch's ``Leaky`` without reset or spyx's
``LI``). NIR's ``LI`` (``tau dv/dt = v_leak - v + r x``) under forward Euler with step ``dt`` is
``decay = 1 - dt / tau`` with the input scaled by ``dt * r / tau``.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import struct
from jax import Array

from snnjax.neurons.lif import LIFState
from snnjax.registry import NEURONS


@NEURONS.register("li")
@struct.dataclass
class LI:
    """Leaky integrator; equation in the module docstring. ``step`` returns the membrane as its output.

    Attributes:
      decay: membrane decay per step (snnTorch ``beta``, spyx ``beta``).
      v_leak: resting potential the membrane relaxes to.
    """

    decay: float | Array = 0.9
    v_leak: float | Array = 0.0

    stochastic = False
    spiking = False  # the output is the membrane, not spikes
    charge = "decay"  # SpikingNeuron(learnable_decay=True) learns `decay`
    leaks = ("decay",)

    def init_state(self, shape: tuple[int, ...], dtype=jnp.float32) -> LIFState:
        """Zero membrane of the given shape."""
        return LIFState(jnp.zeros(shape, dtype))

    def step(self, state: LIFState, x: Array, key: Array | None = None) -> tuple[LIFState, Array]:
        """One time step: ``(new_state, membrane)``; ``key`` is ignored."""
        return li_step(state, x, self)


def li_step(state: LIFState, x: Array, p: LI) -> tuple[LIFState, Array]:
    """One LI step on arrays of any (equal) shape: returns ``(new_state, v_t)``."""
    v = (p.decay * state.v + (1.0 - p.decay) * p.v_leak + x).astype(state.v.dtype)
    return LIFState(v), v
