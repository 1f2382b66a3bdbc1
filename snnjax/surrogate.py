"""Heaviside spikes with surrogate gradients.

The forward pass of :func:`spike` is an exact step function; its backward pass replaces the Dirac delta by
the derivative of a smooth (or piecewise-linear) surrogate. A surrogate is a small frozen dataclass that
carries its hyper-parameters and its derivative formula, so it is hashable: it is passed to
``jax.custom_vjp`` as a non-differentiable argument and jit caches on it. Configs write it as data,
``'atan(alpha=2.0)'`` or ``{'name': 'atan', 'alpha': 2.0}`` (:func:`parse`, ``snnjax.registry.SURROGATES``).

All formulas take ``x = u - v_th`` (membrane minus threshold).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from jax import Array

from snnjax.registry import SURROGATES


class Surrogate:
    """Base class: subclasses are frozen dataclasses implementing ``grad(x)``."""

    def grad(self, x: Array) -> Array:
        """Surrogate derivative dS/dx evaluated elementwise at ``x``."""
        raise NotImplementedError


@SURROGATES.register("triangle")
@dataclasses.dataclass(frozen=True)
class Triangle(Surrogate):
    """Triangle / ZIF: ``max(0, gamma - |x|) / gamma**2`` (GAC-CIFAR, gamma = 1)."""

    gamma: float = 1.0

    def grad(self, x: Array) -> Array:
        return jnp.maximum(self.gamma - jnp.abs(x), 0.0) / self.gamma**2


@SURROGATES.register("rectangle")
@dataclasses.dataclass(frozen=True)
class Rectangle(Surrogate):
    """Rectangle: ``1[|x| < width / 2] / width`` (GAC-ImageNet, width = 1)."""

    width: float = 1.0

    def grad(self, x: Array) -> Array:
        return jnp.where(jnp.abs(x) < self.width / 2, 1.0 / self.width, 0.0).astype(x.dtype)


@SURROGATES.register("sigmoid")
@dataclasses.dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Sigmoid: ``alpha * sigmoid(alpha x) * (1 - sigmoid(alpha x))``."""

    alpha: float = 4.0

    def grad(self, x: Array) -> Array:
        s = jax.nn.sigmoid(self.alpha * x)
        return self.alpha * s * (1.0 - s)


@SURROGATES.register("atan")
@dataclasses.dataclass(frozen=True)
class ATan(Surrogate):
    """Arc-tangent (spikingjelly, alpha = 2): ``alpha / (2 (1 + (pi alpha x / 2)**2))``."""

    alpha: float = 2.0

    def grad(self, x: Array) -> Array:
        return self.alpha / (2.0 * (1.0 + (math.pi / 2 * self.alpha * x) ** 2))


@SURROGATES.register("fast_sigmoid")
@dataclasses.dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """Fast sigmoid (snnTorch, slope = 25): ``1 / (slope |x| + 1)**2``."""

    slope: float = 25.0

    def grad(self, x: Array) -> Array:
        return 1.0 / (self.slope * jnp.abs(x) + 1.0) ** 2


@SURROGATES.register("erf")
@dataclasses.dataclass(frozen=True)
class Erf(Surrogate):
    """Erf / Gaussian in NSNN's form: ``alpha / sqrt(pi) * exp(-(alpha x)**2)``."""

    alpha: float = 1.0

    def grad(self, x: Array) -> Array:
        return self.alpha / math.sqrt(math.pi) * jnp.exp(-((self.alpha * x) ** 2))


@SURROGATES.register("gaussian")
@dataclasses.dataclass(frozen=True)
class Gaussian(Surrogate):
    """Gaussian density of width sigma: ``exp(-x**2 / (2 sigma**2)) / (sqrt(2 pi) sigma)``.

    ``Erf(alpha)`` equals ``Gaussian(1 / (alpha * sqrt(2)))``.
    """

    sigma: float = 0.5

    def grad(self, x: Array) -> Array:
        z = x / self.sigma
        return jnp.exp(-0.5 * z * z) / (math.sqrt(2 * math.pi) * self.sigma)


@SURROGATES.register("clipped_ste")
@dataclasses.dataclass(frozen=True)
class ClippedSTE(Surrogate):
    """Clipped straight-through estimator: ``1[low < x < high]``.

    The default (0, 1) is the derivative of ``clamp(x, 0, 1)`` used by the Spiking-Mix neuron.
    """

    low: float = 0.0
    high: float = 1.0

    def grad(self, x: Array) -> Array:
        return ((x > self.low) & (x < self.high)).astype(x.dtype)


SURROGATES.register("zif", Triangle)  # the same shape under GAC's name


def parse(spec) -> Surrogate:
    """A surrogate from its config form: ``'atan(alpha=2.0)'``, ``'atan'`` (defaults) or
    ``{'name': 'atan', 'alpha': 2.0}``; an instance passes through."""
    return spec if isinstance(spec, Surrogate) else SURROGATES.create(spec)


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
