"""Heaviside spikes with surrogate gradients.

The forward pass of :func:`spike` is an exact step function; its backward pass replaces the Dirac delta by
the derivative of a smooth (or piecewise-linear) surrogate. A surrogate is a small frozen dataclass that
carries its hyper-parameters and its derivative formula, so it is hashable: it is passed to
``jax.custom_vjp`` as a non-differentiable argument, jit caches on it and configs can name it.

All formulas take ``x = u - v_th`` (membrane minus threshold).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from jax import Array


class Surrogate:
    """Base class: subclasses are frozen dataclasses implementing ``grad(x)``."""

    def grad(self, x: Array) -> Array:
        """Surrogate derivative dS/dx evaluated elementwise at ``x``."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Triangle(Surrogate):
    """Triangle / ZIF: ``max(0, gamma - |x|) / gamma**2`` (GAC-CIFAR, gamma = 1)."""

    gamma: float = 1.0

    def grad(self, x: Array) -> Array:
        return jnp.maximum(self.gamma - jnp.abs(x), 0.0) / self.gamma**2


@dataclasses.dataclass(frozen=True)
class Rectangle(Surrogate):
    """Rectangle: ``1[|x| < width / 2] / width`` (GAC-ImageNet, width = 1)."""

    width: float = 1.0

    def grad(self, x: Array) -> Array:
        return jnp.where(jnp.abs(x) < self.width / 2, 1.0 / self.width, 0.0).astype(x.dtype)


@dataclasses.dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Sigmoid: ``alpha * sigmoid(alpha x) * (1 - sigmoid(alpha x))``."""

    alpha: float = 4.0

    def grad(self, x: Array) -> Array:
        s = jax.nn.sigmoid(self.alpha * x)
        return self.alpha * s * (1.0 - s)


@dataclasses.dataclass(frozen=True)
class ATan(Surrogate):
    """Arc-tangent (spikingjelly, alpha = 2): ``alpha / (2 (1 + (pi alpha x / 2)**2))``."""

    alpha: float = 2.0

    def grad(self, x: Array) -> Array:
        return self.alpha / (2.0 * (1.0 + (math.pi / 2 * self.alpha * x) ** 2))


@dataclasses.dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """Fast sigmoid (snnTorch, slope = 25): ``1 / (slope |x| + 1)**2``."""

    slope: float = 25.0

    def grad(self, x: Array) -> Array:
        return 1.0 / (self.slope * jnp.abs(x) + 1.0) ** 2


@dataclasses.dataclass(frozen=True)
class Erf(Surrogate):
    """Erf / Gaussian in NSNN's form: ``alpha / sqrt(pi) * exp(-(alpha x)**2)``."""

    alpha: float = 1.0

    def grad(self, x: Array) -> Array:
        return self.alpha / math.sqrt(math.pi) * jnp.exp(-((self.alpha * x) ** 2))


@dataclasses.dataclass(frozen=True)
class Gaussian(Surrogate):
    """Gaussian density of width sigma: ``exp(-x**2 / (2 sigma**2)) / (sqrt(2 pi) sigma)``.

    ``Erf(alpha)`` equals ``Gaussian(1 / (alpha * sqrt(2)))``.
    """

    sigma: float = 0.5

    def grad(self, x: Array) -> Array:
        z = x / self.sigma
        return jnp.exp(-0.5 * z * z) / (math.sqrt(2 * math.pi) * self.sigma)


@dataclasses.dataclass(frozen=True)
class ClippedSTE(Surrogate):
    """Clipped straight-through estimator: ``1[low < x < high]``.

    The default (0, 1) is the derivative of ``clamp(x, 0, 1)`` used by the Spiking-Mix neuron.
    """

    low: float = 0.0
    high: float = 1.0

    def grad(self, x: Array) -> Array:
        return ((x > self.low) & (x < self.high)).astype(x.dtype)


SURROGATES: dict[str, type[Surrogate]] = {
    "triangle": Triangle,
    "zif": Triangle,
    "rectangle": Rectangle,
    "sigmoid": Sigmoid,
    "atan": ATan,
    "fast_sigmoid": FastSigmoid,
    "erf": Erf,
    "gaussian": Gaussian,
    "clipped_ste": ClippedSTE,
}


def get(name: str, **hyper: float) -> Surrogate:
    """Builds a surrogate from its config name, e.g. ``get('triangle', gamma=1.0)``."""
    try:
        cls = SURROGATES[name]
    except KeyError:
        raise ValueError(f"unknown surrogate {name!r}; choose one of {sorted(SURROGATES)}") from None
    return cls(**hyper)


def heaviside(x: Array, inclusive: bool = False) -> Array:
    """Exact step in ``x.dtype``: ``x > 0`` (or ``x >= 0`` when ``inclusive``), no gradient."""
    return (x >= 0 if inclusive else x > 0).astype(x.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def straight_through(value: Array, x: Array, surrogate: Surrogate) -> Array:
    """Returns ``value`` in the forward pass; the backward pass sends ``g * surrogate.grad(x)`` to ``x``.

    ``value`` (e.g. a spike or a quantised level computed from ``x``) receives no gradient. This is the
    one custom VJP every spike function of the project is built on.
    """
    return value


def _straight_through_fwd(value, x, surrogate):
    return value, x


def _straight_through_bwd(surrogate, x, g):
    return jnp.zeros_like(g), (g * surrogate.grad(x)).astype(x.dtype)


straight_through.defvjp(_straight_through_fwd, _straight_through_bwd)


def spike(x: Array, surrogate: Surrogate = Triangle(), inclusive: bool = False) -> Array:
    """Heaviside spike ``H(x)`` whose gradient is ``surrogate.grad(x)``.

    Args:
      x: membrane minus threshold, any shape, float dtype.
      surrogate: hashable surrogate dataclass, static under ``jit``.
      inclusive: ``True`` fires on ``x >= 0`` (spikingjelly, SPIDE), ``False`` on ``x > 0``
        (GAC, NSNN, snnTorch).
    Returns:
      spikes of the shape and dtype of ``x`` with values in {0, 1}.
    """
    return straight_through(heaviside(x, inclusive), x, surrogate)
