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

import jax.numpy as jnp
from flax import struct
from jax import Array

from snnjax import surrogate as sg
from snnjax.errors import ConfigError
from snnjax.neurons.lif import Reset, fire
from snnjax.registry import NEURONS


class CubaState(NamedTuple):
    """Membrane ``v`` (after the step's reset, except for ``'soft_delayed'``) and synaptic current ``i``."""

    v: Array
    i: Array


@NEURONS.register("cuba_lif")
@struct.dataclass
class CubaLIF:
    """Current-based LIF; equations in the module docstring.

    Attributes:
      decay: membrane decay per step (snnTorch ``beta``).
      syn_decay: synaptic-current decay per step (snnTorch ``alpha``).
      v_th: threshold.
      v_reset: membrane after a spike for ``reset='hard'``.
      reset: ``'hard'``, ``'soft'``, ``'soft_delayed'`` or ``'none'`` (as :class:`~snnjax.neurons.LIF`).
      detach_reset: stop the gradient through ``s`` in the reset term.
      surrogate: gradient of the Heaviside step.
      inclusive: fire on ``h >= v_th`` instead of ``h > v_th``.
    """

    decay: float | Array = 0.9
    syn_decay: float | Array = 0.8
    v_th: float | Array = 1.0
    v_reset: float | Array = 0.0
    reset: Reset = struct.field(pytree_node=False, default="hard")
    detach_reset: bool = struct.field(pytree_node=False, default=False)
    surrogate: sg.Surrogate = struct.field(pytree_node=False, default=sg.Triangle())
    inclusive: bool = struct.field(pytree_node=False, default=False)

    stochastic = False
    charge = "decay"  # SpikingNeuron(learnable_decay=True) learns the decays below
    leaks = ("decay", "syn_decay")

    def __post_init__(self):
        if self.reset not in ("hard", "soft", "soft_delayed", "none"):
            raise ConfigError(
                f"cuba_lif: unknown reset {self.reset!r}; use 'hard', 'soft', 'soft_delayed' or 'none'"
            )

    def init_state(self, shape: tuple[int, ...], dtype=jnp.float32) -> CubaState:
        """Zero membrane and zero current of the given shape."""
        return CubaState(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype))

    def step(self, state: CubaState, x: Array, key: Array | None = None) -> tuple[CubaState, Array]:
        """One time step; ``key`` is ignored (deterministic neuron)."""
        return cuba_lif_step(state, x, self)


def cuba_lif_step(state: CubaState, x: Array, p: CubaLIF) -> tuple[CubaState, Array]:
    """One CubaLIF step on arrays of any (equal) shape: returns ``(new_state, spike)``."""
    v, i = state
    i_new = (p.syn_decay * i + x).astype(i.dtype)
    v_new, s = fire(v, (p.decay * v + i_new).astype(v.dtype), p)
    return CubaState(v_new, i_new), s
