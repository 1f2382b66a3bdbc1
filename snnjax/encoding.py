"""Input encoders: a batch to the time-major sequence ``[T, B, ...]`` every model runs on, registered in
``snnjax.registry.ENCODERS`` under the names ``config.model.encoding`` takes. Static inputs ``[B, ...]`` are
coded (``direct``, ``rate``, ``latency``); event frames arrive batch-major ``[B, T, ...]`` from the host and
are only transposed (``events``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

from snnjax.registry import ENCODERS


def direct(x: Array, num_steps: int) -> Array:
    """Direct coding: the analog input repeated at every step, ``[B, ...] -> [T, B, ...]``."""
    return jnp.broadcast_to(x[None], (num_steps, *x.shape))


def events(x: Array, num_steps: int) -> Array:
    """Event frames, already a sequence: ``[B, T, ...] -> [T, B, ...]`` (``T`` is the data's; ``num_steps``
    is not used)."""
    del num_steps
    return jnp.swapaxes(x, 0, 1)


def rate(key: Array, x: Array, num_steps: int, gain: float = 1.0) -> Array:
    """Poisson / Bernoulli rate coding: ``s_t ~ Bernoulli(clip(gain * x, 0, 1))`` independently per step.

    Args:
      key: PRNG key.
      x: intensities in [0, 1], ``[B, ...]``, float.
      num_steps: ``T``.
      gain: scales the firing probability.
    Returns:
      spikes ``[T, B, ...]`` in ``x.dtype``.
    """
    p = jnp.clip(gain * x, 0.0, 1.0)
    u = jax.random.uniform(key, (num_steps, *x.shape), dtype=jnp.float32)
    return (u < p.astype(jnp.float32)).astype(x.dtype)


def latency(
    x: Array, num_steps: int, *, tau: float = 5.0, threshold: float = 0.01, linear: bool = False
) -> Array:
    """Latency coding: at most one spike per input, brighter inputs fire earlier.

    Log form: the step at which an RC membrane charged by a constant ``x`` (time constant ``tau``
    steps) reaches ``threshold``, ``t = tau * log(x / (x - threshold))``; inputs whose time falls
    beyond the window never fire. Linear form: ``t = (T - 1) * (1 - x)``. Inputs at or below
    ``threshold`` never fire. Times are rounded to the nearest step.

    Args:
      x: intensities in [0, 1], ``[B, ...]``.
      num_steps: ``T``.
    Returns:
      spikes ``[T, B, ...]`` in ``x.dtype``.
    """
    xf = jnp.clip(x.astype(jnp.float32), 0.0, 1.0)
    fires = xf > threshold
    if linear:
        t = (num_steps - 1) * (1.0 - xf)
    else:
        safe = jnp.where(fires, xf, 1.0)
        t = tau * jnp.log(safe / jnp.maximum(safe - threshold, 1e-12))
    t = jnp.round(t)
    fires = fires & (t <= num_steps - 1)
    grid = jnp.arange(num_steps).reshape((num_steps,) + (1,) * x.ndim)
    return ((grid == t.astype(jnp.int32)[None]) & fires[None]).astype(x.dtype)


class Encoding(NamedTuple):
    """A registered encoder: ``fn(x, num_steps, **kw)``, or ``fn(key, x, num_steps, **kw)`` when
    ``stochastic``."""

    fn: Callable[..., Array]
    stochastic: bool = False


ENCODERS.register("direct", Encoding(direct))
ENCODERS.register("rate", Encoding(rate, stochastic=True))
ENCODERS.register("latency", Encoding(latency))
ENCODERS.register("events", Encoding(events))


def encode(name: str, x: Array, num_steps: int, *, key: Array | None = None, **kwargs) -> Array:
    """Encodes ``x [B, ...]`` by the encoder registered as ``name`` (``direct``, ``rate``, ``latency``,
    ``events``) into ``[T, B, ...]``."""
    encoder = ENCODERS.get(name)
    if not encoder.stochastic:
        return encoder.fn(x, num_steps, **kwargs)
    if key is None:
        raise ValueError(f"{name} coding is stochastic: pass key=")
    return encoder.fn(key, x, num_steps, **kwargs)
