"""Running step functions over time with ``lax.scan``.

Spiking tensors are time-major, ``[T, B, ...]``: ``lax.scan`` walks the leading axis with the neuron
state as its carry, so the compiled program holds one step whatever ``T`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

StepFn = Callable[..., tuple[Any, Any]]


def scan(
    step: StepFn,
    state: Any,
    xs: Any,
    *,
    keys: Array | None = None,
    remat: bool = False,
    unroll: int | bool = 1,
) -> tuple[Any, Any]:
    """Runs ``step(state, x_t) -> (state, y_t)`` (or ``step(state, x_t, key_t)``) over time.

    Args:
      step: pure step function.
      state: initial carry (pytree).
      xs: pytree of inputs with a leading time axis ``T``.
      keys: optional ``[T]`` PRNG keys, one per step, passed as the step's third argument.
      remat: rematerialise the step (``jax.checkpoint``): the backward pass recomputes each step's
        intermediates instead of storing them, trading compute for memory.
      unroll: ``lax.scan`` unroll factor (``True``: unroll all ``T`` steps).
    Returns:
      ``(final_state, ys)`` where ``ys`` stacks the per-step outputs along a leading ``T`` axis.
    """
    if keys is None:
        body = lambda carry, x: step(carry, x)
        seq = xs
    else:
        body = lambda carry, xk: step(carry, xk[0], xk[1])
        seq = (xs, keys)
    if remat:
        body = jax.checkpoint(body)
    return jax.lax.scan(body, state, seq, unroll=unroll)


def run_neuron(
    neuron: Any,
    xs: Array,
    *,
    key: Array | None = None,
    remat: bool = False,
    unroll: int | bool = 1,
    return_states: bool = False,
) -> Array | tuple[Array, Any]:
    """Runs a neuron over an input current ``xs`` of shape ``[T, B, ...]`` from its initial state.

    Args:
      neuron: a neuron record (``init_state``, ``step``, ``stochastic``), see ``snnjax.neurons``.
      xs: input currents ``[T, ...]``.
      key: PRNG key, required for stochastic neurons; split into one key per step.
      remat: rematerialise each step in the backward pass.
      unroll: ``lax.scan`` unroll factor (``True``: unroll all ``T`` steps).
      return_states: also return the per-step states (pytree of ``[T, ...]`` arrays).
    Returns:
      spikes ``[T, ...]`` in ``xs.dtype``, and the state trace if ``return_states``.
    """
    state = neuron.init_state(xs.shape[1:], xs.dtype)
    keys = None
    if neuron.stochastic:
        if key is None:
            raise ValueError(f"{type(neuron).__name__} is stochastic: pass key=")
        keys = jax.random.split(key, xs.shape[0])

    def step(carry, x, k=None):
        carry, s = neuron.step(carry, x, k)
        return carry, (s, carry) if return_states else s

    _, ys = scan(step, state, xs, keys=keys, remat=remat, unroll=unroll)
    return ys


def python_loop(neuron: Any, xs: Array, *, key: Array | None = None) -> Array:
    """Reference implementation of :func:`run_neuron` with a Python loop over time (slow under jit:
    the program grows with ``T``). Used by tests and benchmarks only."""
    state = neuron.init_state(xs.shape[1:], xs.dtype)
    keys = jax.random.split(key, xs.shape[0]) if neuron.stochastic else [None] * xs.shape[0]
    out = []
    for t in range(xs.shape[0]):
        state, s = neuron.step(state, xs[t], keys[t])
        out.append(s)
    return jnp.stack(out)
