"""Norm restrictions that keep a feedback weight contracting (so the implicit solvers converge).

Each returns a scalar factor that multiplies the raw weight; ``w_rows`` is the weight as ``[rows, rest]``
(an op's ``weight_rows()``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import Array


def frobenius_restrict(w_rows: Array, r: float, key: Array, samples: int) -> Array:
    """SPIDE's factor ``min(n, r) / n`` with ``n = sqrt(mean_v ||v W||^2)``, ``v ~ N(0, I)`` (``samples``
    draws): a stochastic estimate of the Frobenius norm, bounded by ``r``. Like the authors' estimate (taken
    without autograd) it is a constant for the gradient: ``dL/dW_raw = factor * dL/dW``."""
    v = jax.random.normal(key, (samples, w_rows.shape[0]), w_rows.dtype)
    n = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(v @ jax.lax.stop_gradient(w_rows)), axis=1)))
    return jnp.minimum(n, r) / n


def unit(v: Array) -> Array:
    """``v / ||v||`` (safe at 0)."""
    return v / jnp.maximum(jnp.linalg.norm(v), 1e-12)


def spectral_restrict(w_rows: Array, u: Array, gain: Array, r: float) -> tuple[Array, Array]:
    """IDE-FSNN's spectral reparametrisation ``W = clip(g, -r, r) W_raw / sigma(W_raw)``: returns the factor
    ``clip(g, -r, r) / sigma`` and the updated left singular vector ``u``.

    ``sigma = u^T W v`` after one power iteration from the persistent ``u [rows]`` (the vectors are constants,
    so gradients flow through ``W`` in ``u^T W v`` and through ``g``)."""
    w = jax.lax.stop_gradient(w_rows)
    v = unit(w.T @ u)
    u = unit(w @ v)
    sigma = u @ (w_rows @ v)
    return jnp.clip(gain, -r, r) / sigma, u


def spectral_norm(w_rows: Array, key: Array, iters: int = 20) -> Array:
    """Largest singular value of ``w_rows`` by ``iters`` power iterations from a random start."""
    u = unit(jax.random.normal(key, (w_rows.shape[0],), w_rows.dtype))
    for _ in range(iters):
        u = unit(w_rows @ unit(w_rows.T @ u))
    return jnp.linalg.norm(w_rows.T @ u)
