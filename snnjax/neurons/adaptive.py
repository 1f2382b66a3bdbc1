"""Adaptive-threshold LIF (ALIF), the neuron of long short-term memory SNNs (LSNN, Bellec et al. 2018).

Every spike raises the neuron's own threshold, which relaxes back to its baseline with a second, usually
much slower, time constant: a memory of recent activity that outlasts the membrane's. With membrane
``v``, adaptation ``a`` (``v_0 = a_0 = 0``) and input current ``x_t``, one step is::

    h_t     = decay * v_{t-1} + x_t                        (charge)
    theta_t = v_th + adapt_strength * a_{t-1}              (adaptive threshold)
    s_t     = H(h_t - theta_t)                             (fire)
    v_t     = h_t - theta_t * s_t                          (reset 'soft', LSNN)
            | h_t (1 - s_t) + v_reset s_t                  (reset 'hard')
            | h_t                                          (reset 'none')
    a_t     = adapt_decay * a_{t-1} + (1 - adapt_decay) s_t

``H`` is the Heaviside step (``>``, or ``>=`` with ``inclusive``) whose gradient is the surrogate's; the
gradient flows through ``s`` into the reset (unless ``detach_reset``) and into the adaptation. With
``adapt_strength = 0`` the neuron is an :class:`~snnjax.neurons.LIF` with the same reset.

Time constants: ``decay = exp(-dt / tau_mem)`` and ``adapt_decay = exp(-dt / tau_adapt)`` (or their
forward-Euler forms ``1 - dt / tau``). A spike raises the threshold by ``adapt_strength * (1 -
adapt_decay)``; a model whose threshold jumps by ``j`` per spike has ``adapt_strength = j / (1 -
adapt_decay)``. docs/neurons.md maps the parameters onto spyx ``ALIF`` and Norse ``LSNNCell``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
from flax import struct
from jax import Array

from snnjax import surrogate as sg
from snnjax.neurons.lif import Firing
from snnjax.registry import NEURONS

AdaptiveReset = Literal["soft", "hard", "none"]


class ALIFState(NamedTuple):
    """Membrane ``v`` after the reset and threshold adaptation ``a`` (threshold ``v_th + adapt_strength
    * a``), each of the neuron's shape."""

    v: Array
    a: Array


@NEURONS.register("alif")
@struct.dataclass
class ALIF(Firing):
    """Adaptive-threshold LIF (LSNN); equations in the module docstring. The firing and reset fields are
    :class:`~snnjax.neurons.lif.Firing`'s, with ``v_th`` the baseline threshold ``theta`` and
    ``reset='soft'`` (the default) subtracting the adaptive threshold ``theta_t``.

    Attributes:
      decay: membrane decay per step (snnTorch ``beta``, spyx ``beta``).
      adapt_decay: decay of the adaptation per step (spyx ``gamma``, LSNN ``rho``).
      adapt_strength: threshold increase per unit of adaptation (LSNN ``beta``).
    """

    reset: AdaptiveReset = struct.field(pytree_node=False, default="soft")
    decay: float | Array = 0.9
    adapt_decay: float | Array = 0.9
    adapt_strength: float | Array = 1.8

    name = "alif"
    resets = ("soft", "hard", "none")
    state_type = ALIFState
    leaks = ("decay",)  # the leaks a learnable-decay layer learns

    def step(self, state: ALIFState, x: Array, key: Array | None = None) -> tuple[ALIFState, Array]:
        """One time step; ``key`` is ignored (deterministic neuron)."""
        return alif_step(state, x, self)


def alif_step(state: ALIFState, x: Array, p: ALIF) -> tuple[ALIFState, Array]:
    """One ALIF step on arrays of any (equal) shape: returns ``(new_state, spike)``."""
    v, a = state
    h = (p.decay * v + x).astype(v.dtype)
    theta = p.v_th + p.adapt_strength * a
    s = sg.spike(h - theta, p.surrogate, p.inclusive)
    r = jax.lax.stop_gradient(s) if p.detach_reset else s
    if p.reset == "soft":
        v_new = h - theta * r
    elif p.reset == "hard":
        v_new = h * (1.0 - r) + p.v_reset * r
    else:
        v_new = h
    a_new = p.adapt_decay * a + (1.0 - p.adapt_decay) * s
    return ALIFState(v_new.astype(v.dtype), a_new.astype(a.dtype)), s
