"""Orthogonality regularisers of NSNN (docs/nsnn.md): Gram and SRIP.

A kernel is viewed as the matrix ``W [fan_in, out]`` (a conv kernel ``[kh, kw, in, out]`` reshaped to
``[kh * kw * in, out]``, the transpose of the seed's ``[out, in * k * k]``), and both penalties measure
how far ``W^T W [out, out]`` is from the identity:

  * Gram: ``||W^T W - I||_F`` (Frobenius norm, not squared, as the seed);
  * SRIP (Bansal et al. 2018): the squared spectral norm of ``W^T W - I`` estimated by one power
    iteration from a fixed start vector.

The seed adds ``lambda1 * sum_layers R(W)`` (``lambda1 = 1e-4``) to ``CE(mean_t out_t, y)``; a model
exposes that sum through ``regularization_loss()`` (see :mod:`snnjax.models.nsnn`).
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx
from jax import Array


def as_matrix(kernel: Array) -> Array:
    """A dense ``[in, out]`` or conv ``[..., in, out]`` kernel as ``[fan_in, out]`` in float32."""
    return kernel.reshape(-1, kernel.shape[-1]).astype(jnp.float32)


def _gram_minus_identity(kernel: Array) -> Array:
    w = as_matrix(kernel)
    return w.T @ w - jnp.eye(w.shape[1], dtype=w.dtype)


def gram(kernel: Array) -> Array:
    """``||W^T W - I||_F`` of one kernel (a scalar)."""
    return jnp.sqrt(jnp.sum(_gram_minus_identity(kernel) ** 2))


def srip(kernel: Array) -> Array:
    """Squared spectral norm of ``W^T W - I`` after one power iteration (a scalar).

    ``v`` is a fixed unit vector (all ones, normalised): ``u = M v / ||M v||``, ``sigma = ||M u||``.
    """
    m = _gram_minus_identity(kernel)
    v = jnp.ones((m.shape[0],), m.dtype) / jnp.sqrt(m.shape[0])
    u = m @ v
    u = u / (jnp.linalg.norm(u) + 1e-12)
    return jnp.sum((m @ u) ** 2)


REGULARIZERS = {"gram": gram, "srip": srip}


def kernels(model: nnx.Module) -> list[Array]:
    """The kernels of every ``nnx.Conv`` and ``nnx.Linear`` of ``model``."""
    return [m.kernel[...] for _, m in nnx.iter_graph(model) if isinstance(m, nnx.Conv | nnx.Linear)]


def orthogonality_loss(model: nnx.Module, kind: str) -> Array:
    """``sum_layers R(W)`` over every conv/linear kernel of ``model`` for ``kind`` in gram | srip."""
    if kind not in REGULARIZERS:
        raise ValueError(f"unknown regulariser {kind!r}; choose one of {sorted(REGULARIZERS)}")
    fn = REGULARIZERS[kind]
    terms = [fn(k) for k in kernels(model)]
    return jnp.sum(jnp.stack(terms)) if terms else jnp.zeros((), jnp.float32)


__all__ = ["REGULARIZERS", "as_matrix", "gram", "kernels", "orthogonality_loss", "srip"]
