"""NSNN noisy LIF neurons with noise-driven learning (Ma et al., Patterns 2023; docs/nsnn.md).

Per step, with ``v = u - v_th``:
  1. ``u = decay * u + x``;
  2. (``noise_mode='code'`` only) a noise sample is subtracted from the membrane: ``u = u - eps``,
     ``eps ~ noise``; the state carries it forward;
  3. the neuron fires by a Bernoulli draw with the noise CDF: ``s ~ Bernoulli(noise.cdf(u - v_th))``;
     its backward pass is the noise density ``noise.pdf(u - v_th)`` (noise-driven learning);
  4. hard reset ``u = u (1 - s)``, not detached.
``noise_mode='code'`` (default) is the seed's code: noise enters twice (steps 2 and 3), so for a fixed
input the firing rate follows the CDF of the sum of two independent noises (for Gaussian noise: width
``sigma * sqrt(2)``). ``noise_mode='paper'`` is the paper's neuron, one noise per step: the firing rate
is ``noise.cdf(u - v_th)`` itself. The neuron stays stochastic at evaluation time.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from flax import struct
from jax import Array

from snnjax.errors import ConfigError
from snnjax.neurons.lif import LIFState
from snnjax.registry import NEURONS, NOISES

NOISE_MODES = ("code", "paper")  # noise applied twice (the seed's code) | once (the paper)


class Noise:
    """A zero-centred noise family: ``sample``, ``cdf`` and ``pdf`` (a frozen, hashable dataclass).

    Configs write one as data, e.g. ``'logistic(scale=0.3)'`` (``snnjax.registry.NOISES``)."""

    def sample(self, key: Array, shape: tuple[int, ...], dtype) -> Array:
        raise NotImplementedError

    def cdf(self, v: Array) -> Array:
        raise NotImplementedError

    def pdf(self, v: Array) -> Array:
        raise NotImplementedError


@NOISES.register("gaussian")
@dataclasses.dataclass(frozen=True)
class GaussianNoise(Noise):
    """``N(mu, sigma**2)``; CDF ``Phi((v - mu) / sigma)`` (NSNN ``NILIF``)."""

    sigma: float = 0.3
    mu: float = 0.0

    def sample(self, key, shape, dtype):
        return self.mu + self.sigma * jax.random.normal(key, shape, dtype)

    def cdf(self, v):
        # jax's ndtr accepts only float32/64: evaluate bf16/f16 membranes in float32
        vf = v.astype(jnp.promote_types(v.dtype, jnp.float32))
        return jax.scipy.stats.norm.cdf(vf, self.mu, self.sigma).astype(v.dtype)

    def pdf(self, v):
        z = (v - self.mu) / self.sigma
        return jnp.exp(-0.5 * z * z) / (math.sqrt(2 * math.pi) * self.sigma)


@NOISES.register("logistic")
@dataclasses.dataclass(frozen=True)
class LogisticNoise(Noise):
    """Logistic with scale ``s``: ``mu + s log(U / (1 - U))``; CDF ``sigmoid((v - mu) / s)``."""

    scale: float = 0.3
    mu: float = 0.0

    def sample(self, key, shape, dtype):
        u = jax.random.uniform(key, shape, dtype, minval=1e-7, maxval=1.0 - 1e-7)
        return self.mu + self.scale * (jnp.log(u) - jnp.log1p(-u))

    def cdf(self, v):
        return jax.nn.sigmoid((v - self.mu) / self.scale)

    def pdf(self, v):
        c = jax.nn.sigmoid((v - self.mu) / self.scale)
        return c * (1.0 - c) / self.scale


@NOISES.register("triangular")
@dataclasses.dataclass(frozen=True)
class TriangularNoise(Noise):
    """Symmetric triangular on ``[-a, a]``; density ``max(0, a - |v|) / a**2``."""

    a: float = 0.6

    def sample(self, key, shape, dtype):
        u = jax.random.uniform(key, shape, dtype)
        a2 = 2.0 * self.a**2
        return jnp.where(u < 0.5, -self.a + jnp.sqrt(a2 * u), self.a - jnp.sqrt(a2 * (1.0 - u)))

    def cdf(self, v):
        a = self.a
        left = (v + a) ** 2 / (2 * a * a)
        right = 1.0 - (v - a) ** 2 / (2 * a * a)
        return jnp.where(v < -a, 0.0, jnp.where(v < 0, left, jnp.where(v < a, right, 1.0))).astype(v.dtype)

    def pdf(self, v):
        return jnp.maximum(self.a - jnp.abs(v), 0.0) / self.a**2


@NOISES.register("uniform")
@dataclasses.dataclass(frozen=True)
class UniformNoise(Noise):
    """Uniform on ``[-a, a]``; CDF ``clip((v + a) / (2a), 0, 1)``."""

    a: float = 0.3

    def sample(self, key, shape, dtype):
        return jax.random.uniform(key, shape, dtype, minval=-self.a, maxval=self.a)

    def cdf(self, v):
        return jnp.clip((v + self.a) / (2 * self.a), 0.0, 1.0)

    def pdf(self, v):
        return jnp.where(jnp.abs(v) <= self.a, 1.0 / (2 * self.a), 0.0).astype(v.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def bernoulli_spike(v: Array, uniform: Array, noise: Noise) -> Array:
    """Stochastic spike ``1[uniform < noise.cdf(v)]`` whose gradient w.r.t. ``v`` is ``noise.pdf(v)``.

    Args:
      v: membrane minus threshold, any shape.
      uniform: samples of ``U(0, 1)`` of the same shape (no gradient).
      noise: the noise family (static).
    """
    return (uniform < noise.cdf(v)).astype(v.dtype)


def _bernoulli_fwd(v, uniform, noise):
    return bernoulli_spike(v, uniform, noise), (v, uniform)


def _bernoulli_bwd(noise, res, g):
    v, uniform = res
    return (g * noise.pdf(v)).astype(v.dtype), jnp.zeros_like(uniform)


bernoulli_spike.defvjp(_bernoulli_fwd, _bernoulli_bwd)


@NEURONS.register("noisy_lif")
@struct.dataclass
class NoisyLIF:
    """NSNN noisy LIF (``NILIF`` and its logistic / triangular / uniform siblings)."""

    decay: float | Array = 0.5
    v_th: float | Array = 1.0
    noise: Noise = struct.field(pytree_node=False, default=GaussianNoise())
    detach_reset: bool = struct.field(pytree_node=False, default=False)
    noise_mode: str = struct.field(pytree_node=False, default="code")  # code: noise twice | paper: once

    stochastic = True

    def __post_init__(self):
        if self.noise_mode not in NOISE_MODES:
            raise ConfigError(
                f"unknown noise_mode {self.noise_mode!r} (config.model.neuron.noisy_lif.noise_mode); "
                f"choose 'code' (noise twice, the seed's code) or 'paper' (once)"
            )

    def init_state(self, shape: tuple[int, ...], dtype=jnp.float32) -> LIFState:
        return LIFState(jnp.zeros(shape, dtype))

    def step(self, state: LIFState, x: Array, key: Array | None = None) -> tuple[LIFState, Array]:
        if key is None:
            raise ValueError("NoisyLIF is stochastic: pass a PRNG key for every time step")
        return noisy_lif_step(state, x, self, key)


def noisy_lif_step(state: LIFState, x: Array, p: NoisyLIF, key: Array) -> tuple[LIFState, Array]:
    """One noisy-LIF step (see module docstring); ``key`` is this step's PRNG key."""
    k_noise, k_fire = jax.random.split(key)
    u = p.decay * state.v + x
    if p.noise_mode == "code":
        u = u - jax.lax.stop_gradient(p.noise.sample(k_noise, u.shape, u.dtype))
    s = bernoulli_spike(u - p.v_th, jax.random.uniform(k_fire, u.shape, u.dtype), p.noise)
    r = jax.lax.stop_gradient(s) if p.detach_reset else s
    return LIFState((u * (1.0 - r)).astype(state.v.dtype)), s
