"""Spiking-Mix quantised multi-threshold LIF neurons (docs/spikingmix.md).

Both variants charge like spikingjelly's LIF with ``decay_input`` and ``v_reset = 0``:
``h = v + (x - v) / tau``. One step emits a graded value from a small set of levels instead of a
binary spike, so fewer time steps carry the same information.

* :class:`SharedThresholdLIF` (``neruon_shared.py``): a sum of sub-neurons ``k`` with thresholds
  ``theta_k`` and amplitudes ``r_k``; each fires ``r_k * H(h_k - theta_k) * H(sigmoid(relu(h_k -
  theta_k)) - theta_k)``, hard-resets its own membrane with a gradient-free mask
  ``v_k = (1 - H(h_k - theta_k)) h_k`` and back-propagates a clipped straight-through gradient
  ``1[0 < h_k - theta_k < 1]``. Levels: sums of subsets of ``r``. The seed leaves the constants
  undefined; the defaults (thresholds 0.25, 0.5; amplitudes 0.25, 0.5; levels {0, v_th/2, v_th,
  1.5 v_th} for v_th = 0.5) are our choice (docs/spikingmix.md). A sub-neuron with ``theta >= 1`` never
  emits (a sigmoid never exceeds 1) but still resets, as in the seed.
* :class:`DualThresholdLIF` (``neuron_multi.py``): ``out = sum_k a_k H(h - theta_k)`` with
  ``theta = (v_th / tau0, v_th)`` and ``a = (1 / tau1, 1 / tau0)`` by default, a multiplicative reset
  ``v = (1 - out) h`` and a sigmoid surrogate ``alpha`` centred at the top threshold. The reset uses the
  raw output, so no gradient flows through it (``detach_reset=True``, the seed's module);
  ``detach_reset=False`` lets the surrogate gradient flow through ``out`` in the reset as well.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct
from jax import Array

from snnjax import surrogate as sg
from snnjax.registry import NEURONS


class MultiState(NamedTuple):
    """Membranes of the sub-neurons, one array per threshold (a 1-tuple for the dual variant)."""

    v: tuple[Array, ...]


def _charge(v: Array, x: Array, tau) -> Array:
    return v + (x - v) / tau


@NEURONS.register("shared_threshold")
@struct.dataclass
class SharedThresholdLIF:
    """Sum of LIF sub-neurons with their own thresholds and output amplitudes (variant A)."""

    thresholds: tuple[float, ...] = struct.field(pytree_node=False, default=(0.25, 0.5))
    amplitudes: tuple[float, ...] = struct.field(pytree_node=False, default=(0.25, 0.5))
    tau: float | Array = 2.0
    surrogate: sg.Surrogate = struct.field(pytree_node=False, default=sg.ClippedSTE(0.0, 1.0))

    stochastic = False

    def __post_init__(self):
        if len(self.thresholds) != len(self.amplitudes):
            raise ValueError(
                f"thresholds {self.thresholds} and amplitudes {self.amplitudes} differ in length"
            )

    def init_state(self, shape: tuple[int, ...], dtype=jnp.float32) -> MultiState:
        return MultiState(tuple(jnp.zeros(shape, dtype) for _ in self.thresholds))

    def step(self, state: MultiState, x: Array, key: Array | None = None):
        return shared_threshold_step(state, x, self)

    @property
    def levels(self) -> tuple[float, ...]:
        """Every value one step can emit, sorted."""
        sums = {0.0}
        for r in self.amplitudes:
            sums |= {s + r for s in sums}
        return tuple(sorted(sums))


def shared_threshold_step(state: MultiState, x: Array, p: SharedThresholdLIF) -> tuple[MultiState, Array]:
    """One step of variant A: returns the new membranes and the summed graded output."""
    out = jnp.zeros_like(x)
    new_v = []
    for v, theta, r in zip(state.v, p.thresholds, p.amplitudes, strict=True):
        h = _charge(v, x, p.tau).astype(v.dtype)
        z = h - theta
        fired = sg.heaviside(z)
        gate = sg.heaviside(jax.nn.sigmoid(jax.nn.relu(z)) - theta)
        out = out + sg.straight_through(r * fired * gate, z, p.surrogate)
        new_v.append((1.0 - fired) * h)
    return MultiState(tuple(new_v)), out


@NEURONS.register("dual_threshold")
@struct.dataclass
class DualThresholdLIF:
    """Graded-output LIF with several thresholds on one membrane (variant B)."""

    tau0: float | Array = 2.0
    tau1: float = 4.0
    v_th: float = 0.5
    thresholds: tuple[float, ...] | None = struct.field(pytree_node=False, default=None)
    amplitudes: tuple[float, ...] | None = struct.field(pytree_node=False, default=None)
    surrogate: sg.Surrogate = struct.field(pytree_node=False, default=sg.Sigmoid(4.0))
    detach_reset: bool = struct.field(pytree_node=False, default=True)

    stochastic = False

    def resolved(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(thresholds, amplitudes); defaults ``(v_th / tau0, v_th)`` and ``(1 / tau1, 1 / tau0)``."""
        thresholds = self.thresholds or (self.v_th / self.tau0, self.v_th)
        amplitudes = self.amplitudes or (1.0 / self.tau1, 1.0 / self.tau0)
        return tuple(thresholds), tuple(amplitudes)

    @property
    def levels(self) -> tuple[float, ...]:
        """Every value one step can emit (cumulative sums of the amplitudes by rising threshold)."""
        thresholds, amplitudes = self.resolved()
        order = sorted(range(len(thresholds)), key=lambda k: thresholds[k])
        levels, total = [0.0], 0.0
        for k in order:
            total += amplitudes[k]
            levels.append(total)
        return tuple(levels)

    def init_state(self, shape: tuple[int, ...], dtype=jnp.float32) -> MultiState:
        return MultiState((jnp.zeros(shape, dtype),))

    def step(self, state: MultiState, x: Array, key: Array | None = None):
        return dual_threshold_step(state, x, self)


def dual_threshold_step(state: MultiState, x: Array, p: DualThresholdLIF) -> tuple[MultiState, Array]:
    """One step of variant B: returns the new membrane and the graded output."""
    (v,) = state.v
    h = _charge(v, x, p.tau0).astype(v.dtype)
    thresholds, amplitudes = p.resolved()
    value = sum(a * sg.heaviside(h - th) for th, a in zip(thresholds, amplitudes, strict=True))
    top = jnp.max(jnp.asarray(thresholds, h.dtype))  # jnp: thresholds may be traced (learnable tau0)
    out = sg.straight_through(value.astype(h.dtype), h - top, p.surrogate)
    r = jax.lax.stop_gradient(out) if p.detach_reset else out
    return MultiState(((1.0 - r) * h,)), out
