"""Pieces shared by the model families: PyTorch-default initialisers, 2x2 pooling, convolution output
sizes and the static stem (a time-invariant prologue run once and broadcast over time)."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from snnjax import layers

Initializer = Callable[..., Array]


# ----------------------------------------------------------------------------------------- initialisers
def torch_default_init() -> Initializer:
    """PyTorch's default conv/linear weight init: ``kaiming_uniform(a=sqrt(5))`` = U(+-1/sqrt(fan_in))."""
    return nnx.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_bias_init(fan_in: int) -> Initializer:
    """PyTorch's default conv/linear bias init ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def kaiming_fan_out_init() -> Initializer:
    """PyTorch ``kaiming_normal_(mode='fan_out', nonlinearity='relu')``."""
    return nnx.initializers.variance_scaling(2.0, "fan_out", "normal")


def kaiming_normal(key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
    """PyTorch ``kaiming_normal_`` (fan_in = all axes but the last, gain sqrt 2) for HWIO / [in, out]
    kernels."""
    fan_in = math.prod(shape[:-1])
    return jax.random.normal(key, shape, dtype) * math.sqrt(2.0 / fan_in)


def unit_filter_uniform(
    key: Array, shape: tuple[int, ...], dtype=jnp.float32, *, filter_axes: tuple[int, ...] | None = None
) -> Array:
    """Uniform(-1, 1), then every filter rescaled to unit L2 norm (SPIDE CIFAR's "default" init).

    ``filter_axes``: the axes one filter spans (default: all but the last, i.e. one filter per output
    channel of an HWIO / [in, out] kernel).
    """
    axes = tuple(range(len(shape) - 1)) if filter_axes is None else filter_axes
    w = jax.random.uniform(key, shape, dtype, -1.0, 1.0)
    return w / jnp.sqrt(jnp.sum(jnp.square(w), axis=axes, keepdims=True))


# -------------------------------------------------------------------------------------- shapes, pooling
def conv_out_size(size: int, stride: int) -> int:
    """Output length of a convolution with odd kernel ``k``, padding ``(k - 1) // 2`` and ``stride``."""
    return (size - 1) // stride + 1


def _pool_2x2(x: Array, reduce: Callable[..., Array]) -> Array:
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return reduce(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def max_pool_2x2(x: Array) -> Array:
    """2x2 max-pool, stride 2, ``[N, H, W, C] -> [N, H // 2, W // 2, C]`` as reshape + max (cheaper to
    differentiate on CPU than ``reduce_window``); odd trailing rows/columns are dropped, as in PyTorch."""
    return _pool_2x2(x, jnp.max)


def avg_pool_2x2(x: Array) -> Array:
    """2x2 average pool, stride 2, ``[N, H, W, C] -> [N, H // 2, W // 2, C]`` (odd trailing rows/columns
    dropped)."""
    return _pool_2x2(x, jnp.mean)


# ------------------------------------------------------------------------------------------ static stem
def broadcast_over_time(z: Array, num_steps: int) -> Array:
    """``[B, ...] -> [T, B, ...]``: the same value at every step."""
    return jnp.broadcast_to(z[None], (num_steps, *z.shape))


def stem_over_time(stem: Callable[[Array], Array], x: Array, encoder) -> tuple[Array, Array | None]:
    """A stateless ``stem`` applied to every step of the encoded input: ``([T, B, ...], static)``.

    When ``encoder`` repeats a static input over time (direct coding) the stem runs once on
    ``x [B, H, W, C]`` and its output is broadcast over time: the same values, gradients and BN statistics
    as on ``T`` identical copies at ``1 / T`` of the cost; ``static`` is that once-computed output
    ``[B, ...]``. Otherwise the stem runs on the time-folded encoded input and ``static`` is ``None``.
    """
    if encoder.repeats:
        with layers.repeated_input(encoder.num_steps):  # BN's running variance counts T copies
            z = stem(x)
        return broadcast_over_time(z, encoder.num_steps), z
    return layers.time_folded(stem, encoder(x)), None
