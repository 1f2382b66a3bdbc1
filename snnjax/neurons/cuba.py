"""Current-based LIF (CubaLIF): a synaptic current filters the input before the membrane integrates it.

Two leaky state variables, the synaptic current ``i`` and the membrane ``v`` (``i_0 = v_0 = 0``); one
step with input ``x_t`` is::

    i_t = syn_decay * i_{t-1} + x_t                  (synapse)
    h_t = decay * v_{t-1} + i_t                      (membrane, charged by the new current)
    s_t = H(h_t - v_th)
    v_t = reset(h_t, s_t)                            (as LIF: 'hard', 'soft', 'soft_delayed', 'none')

An input pulse thus reaches the membrane as a difference of two exponentials instead of a jump. The
firing and reset are those of :class:`~snnjax.neurons.LIF` (:func:`~snnjax.neurons.lif.fire`):
``'hard'`` sets ``v_t = v_reset`` after a spike, ``'soft'`` subtracts ``v_th``, ``'soft_delayed'``
subtracts ``v_th`` one step later (snnTorch ``Synaptic``'s default ``reset_mechanism='subtract'``).
With ``syn_decay = 0`` the neuron is an LIF.

Time constants: ``syn_decay = 1 - dt / tau_syn`` and ``decay = 1 - dt / tau_mem`` (forward Euler), or
``exp(-dt / tau)``. docs/neurons.md gives the snnTorch, Norse, spyx and NIR correspondence.
"""

from __future__ import annotations

from typing import NamedTuple

from flax import struct
from jax import Array

from snnjax.neurons.lif import Firing, Reset, fire
from snnjax.registry import NEURONS


class CubaState(NamedTuple):
    """Membrane ``v`` (after the step's reset, except for ``'soft_delayed'``) and synaptic current ``i``."""

    v: Array
    i: Array


@NEURONS.register("cuba_lif")
@struct.dataclass
class CubaLIF(Firing):
    """Current-based LIF; equations in the module docstring. The firing and reset fields are
    :class:`~snnjax.neurons.lif.Firing`'s (resets as :class:`~snnjax.neurons.LIF`'s, default ``'hard'``).

    Attributes:
      decay: membrane decay per step (snnTorch ``beta``).
      syn_decay: synaptic-current decay per step (snnTorch ``alpha``).
    """

    reset: Reset = struct.field(pytree_node=False, default="hard")
    decay: float | Array = 0.9
    syn_decay: float | Array = 0.8

    name = "cuba_lif"
    state_type = CubaState
    leaks = ("decay", "syn_decay")

    def step(self, state: CubaState, x: Array, key: Array | None = None) -> tuple[CubaState, Array]:
        """One time step; ``key`` is ignored (deterministic neuron)."""
        return cuba_lif_step(state, x, self)


def cuba_lif_step(state: CubaState, x: Array, p: CubaLIF) -> tuple[CubaState, Array]:
    """One CubaLIF step on arrays of any (equal) shape: returns ``(new_state, spike)``."""
    v, i = state
    i_new = (p.syn_decay * i + x).astype(i.dtype)
    v_new, s = fire(v, (p.decay * v + i_new).astype(v.dtype), p)
    return CubaState(v_new, i_new), s
