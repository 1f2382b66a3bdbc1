"""NSNN noisy LIF: Monte-Carlo checks of the firing law, noise-driven learning and the noise samples.

Monte-Carlo tolerances are 5 binomial / sample standard errors (false-failure odds ~1e-6 per check).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import dynamics
from snnjax.errors import ConfigError
from snnjax.neurons import (
    GaussianNoise,
    LIFState,
    LogisticNoise,
    NoisyLIF,
    TriangularNoise,
    UniformNoise,
    bernoulli_spike,
    noisy_lif_step,
)
from snnjax.registry import NOISES

_erf = np.vectorize(math.erf)


# Independent float64 references: (cdf, pdf, mean, variance) of each family at NSNN's default scales.
def _gauss(s):
    return (
        lambda v: 0.5 * (1 + _erf(v / (s * math.sqrt(2)))),
        lambda v: np.exp(-(v**2) / (2 * s * s)) / (s * math.sqrt(2 * math.pi)),
        s * s,
    )


def _logistic(s):
    return (
        lambda v: 1 / (1 + np.exp(-v / s)),
        lambda v: np.exp(-v / s) / (s * (1 + np.exp(-v / s)) ** 2),
        s * s * math.pi**2 / 3,
    )


def _triangular(a):
    def cdf(v):
        return np.where(
            v < -a,
            0.0,
            np.where(v < 0, (v + a) ** 2 / (2 * a * a), np.where(v < a, 1 - (v - a) ** 2 / (2 * a * a), 1.0)),
        )

    return cdf, lambda v: np.maximum(0.0, a - np.abs(v)) / a**2, a * a / 6


def _uniform(a):
    return (
        lambda v: np.clip((v + a) / (2 * a), 0.0, 1.0),
        lambda v: np.where(np.abs(v) <= a, 1 / (2 * a), 0.0),
        a * a / 3,
    )


FAMILIES = [
    (GaussianNoise(0.3), _gauss(0.3)),
    (LogisticNoise(0.3), _logistic(0.3)),
    (TriangularNoise(0.6), _triangular(0.6)),
    (UniformNoise(0.3), _uniform(0.3)),
]
IDS = ["gaussian", "logistic", "triangular", "uniform"]
N = 200_000


# Midpoint rule on [-6, 6] with step 5e-4: the density jumps of the uniform (+-a) and the kinks of the
# triangular lie on cell edges (a / step is an integer), so the rule stays second-order accurate.
_STEP = 5e-4
_E = -6.0 + _STEP * (np.arange(24000) + 0.5)


def _sum_cdf(cdf, pdf, v):
    """CDF of the sum of two independent noises at v: int pdf(e) cdf(v - e) de."""
    return np.array([np.sum(pdf(_E) * cdf(vi - _E)) * _STEP for vi in np.atleast_1d(v)])


def _sum_pdf(pdf, v):
    return np.array([np.sum(pdf(_E) * pdf(vi - _E)) * _STEP for vi in np.atleast_1d(v)])


def test_sum_cdf_quadrature_matches_gaussian_closed_form():
    cdf, pdf, _ = _gauss(0.3)
    v = np.linspace(-1, 1, 9)
    np.testing.assert_allclose(_sum_cdf(cdf, pdf, v), _gauss(0.3 * math.sqrt(2))[0](v), atol=1e-6)
    # the sum of two U(-a, a) is triangular on [-2a, 2a]
    cdf, pdf, _ = _uniform(0.3)
    np.testing.assert_allclose(_sum_cdf(cdf, pdf, v), _triangular(0.6)[0](v), atol=1e-6)


@pytest.mark.parametrize(("noise", "ref"), FAMILIES, ids=IDS)
def test_bernoulli_spike_mean_is_noise_cdf(noise, ref):
    cdf, _, _ = ref
    v = np.asarray([-0.7, -0.35, -0.1, 0.0, 0.05, 0.2, 0.45], np.float32)

    @jax.jit
    def mean_rate(key):
        u = jax.random.uniform(key, (v.size, N))
        return bernoulli_spike(jnp.broadcast_to(jnp.asarray(v)[:, None], (v.size, N)), u, noise).mean(1)

    got = np.asarray(mean_rate(jax.random.key(0)), np.float64)
    p = cdf(v.astype(np.float64))
    tol = 5 * np.sqrt(p * (1 - p) / N) + 1e-6
    assert np.all(np.abs(got - p) <= tol), (got, p, tol)


@pytest.mark.parametrize(("noise", "ref"), FAMILIES, ids=IDS)
def test_bernoulli_spike_backward_is_noise_density(noise, ref):
    _, pdf, _ = ref
    # avoid the uniform density's jump points +-a
    v = jnp.asarray(np.linspace(-1.0, 1.0, 101) + 0.003, jnp.float32)
    u = jax.random.uniform(jax.random.key(1), v.shape)
    gv, gu = jax.jit(jax.grad(lambda v, u: bernoulli_spike(v, u, noise).sum(), argnums=(0, 1)))(v, u)
    np.testing.assert_allclose(np.asarray(gv), pdf(np.asarray(v, np.float64)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(gu), 0.0)
    # the noise object's own cdf/pdf agree with the references too
    np.testing.assert_allclose(np.asarray(noise.cdf(v)), ref[0](np.asarray(v, np.float64)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(noise.pdf(v)), pdf(np.asarray(v, np.float64)), rtol=1e-5, atol=1e-6)


def _one_step(neuron, x, key):
    """Spikes and d(spikes)/dx of one step from the zero state, elementwise over x [n, N]."""

    def f(x):
        _, s = noisy_lif_step(neuron.init_state(x.shape), x, neuron, key)
        return s.sum(), s

    g, s = jax.grad(f, has_aux=True)(x)
    return s, g


@pytest.mark.parametrize(("noise", "ref"), FAMILIES, ids=IDS)
def test_neuron_rate_is_cdf_of_doubled_noise(noise, ref):
    cdf, pdf, _ = ref
    v_th = 1.0
    xs = np.asarray([0.3, 0.6, 0.8, 0.95, 1.0, 1.1, 1.3, 1.7], np.float32)
    neuron = NoisyLIF(decay=0.5, v_th=v_th, noise=noise)
    x = jnp.broadcast_to(jnp.asarray(xs)[:, None], (xs.size, N))
    s, g = jax.jit(_one_step, static_argnums=0)(neuron, x, jax.random.key(2))
    rate = np.asarray(s.mean(1), np.float64)
    p = np.clip(_sum_cdf(cdf, pdf, xs.astype(np.float64) - v_th), 0.0, 1.0)
    if isinstance(noise, GaussianNoise):  # closed form Phi((x - v_th) / (sigma sqrt 2))
        np.testing.assert_allclose(
            p, 0.5 * (1 + _erf((xs - v_th) / (0.3 * math.sqrt(2) * math.sqrt(2)))), atol=1e-6
        )
    tol = 5 * np.sqrt(p * (1 - p) / N) + 1e-6
    assert np.all(np.abs(rate - p) <= tol), (rate, p, tol)
    # the single-noise CDF is measurably different (the noise really enters twice)
    assert np.max(np.abs(rate - cdf(xs.astype(np.float64) - v_th))) > 0.02
    # noise-driven learning: the mean gradient is the density of the doubled noise
    gnp = np.asarray(g, np.float64)
    d = _sum_pdf(pdf, xs.astype(np.float64) - v_th)
    gtol = 5 * gnp.std(1) / math.sqrt(N) + 1e-4
    assert np.all(np.abs(gnp.mean(1) - d) <= gtol), (gnp.mean(1), d, gtol)


@pytest.mark.parametrize(("noise", "ref"), FAMILIES, ids=IDS)
def test_noise_samples_mean_and_variance(noise, ref):
    cdf, _, var = ref
    n = 1_000_000
    e = np.asarray(jax.jit(lambda k: noise.sample(k, (n,), jnp.float32))(jax.random.key(4)), np.float64)
    assert abs(e.mean()) <= 5 * math.sqrt(var / n)
    # the sample variance's standard error is sqrt((m4 - var^2) / n); 5 sigma with the empirical m4
    m4 = np.mean((e - e.mean()) ** 4)
    assert abs(e.var() - var) <= 5 * math.sqrt((m4 - var**2) / n), (e.var(), var)
    # and the empirical CDF follows the family's CDF (a few quantile points)
    for q in (-0.4, -0.1, 0.0, 0.2, 0.5):
        p = float(cdf(np.float64(q)))
        assert abs(np.mean(e <= q) - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-6


@pytest.mark.parametrize(("noise", "ref"), FAMILIES, ids=IDS)
def test_stochastic_but_deterministic_given_key(noise, ref):
    neuron = NoisyLIF(decay=0.5, v_th=1.0, noise=noise)
    x = jnp.full((6, 4, 64), 1.0)
    run = jax.jit(lambda x, k: dynamics.run_neuron(neuron, x, key=k))
    a = run(x, jax.random.key(5))
    b = run(x, jax.random.key(5))
    c = run(x, jax.random.key(6))
    np.testing.assert_array_equal(a, b)
    assert np.any(np.asarray(a) != np.asarray(c))
    assert set(np.unique(np.asarray(a))) <= {0.0, 1.0}
    assert 0 < float(a.mean()) < 1


def test_step_composition_with_mirrored_keys():
    """A 3-step trace recomputed by hand from the same per-step noise draws: u = lam u + x - eps;
    s = 1[U < cdf(u - v_th)]; u <- u (1 - s) (the state keeps the realised noise)."""
    noise = GaussianNoise(0.3)
    neuron = NoisyLIF(decay=0.5, v_th=1.0, noise=noise)
    x = jnp.asarray([[0.9, 1.2, 0.4, 1.0]] * 3)
    key = jax.random.key(7)
    spikes, states = dynamics.run_neuron(neuron, x, key=key, return_states=True)
    u = np.zeros(4)
    for t, k in enumerate(jax.random.split(key, 3)):
        k_noise, k_fire = jax.random.split(k)
        eps = np.asarray(noise.sample(k_noise, (4,), jnp.float32), np.float64)
        unif = np.asarray(jax.random.uniform(k_fire, (4,)), np.float64)
        u = 0.5 * u + np.asarray(x[t], np.float64) - eps
        s = (unif < 0.5 * (1 + _erf((u - 1.0) / (0.3 * math.sqrt(2))))).astype(np.float64)
        u = u * (1 - s)
        np.testing.assert_array_equal(np.asarray(spikes[t]), s)
        np.testing.assert_allclose(np.asarray(states.v[t]), u, rtol=1e-5, atol=1e-6)


def test_reset_gradient_not_detached_by_default():
    # one step: u = x - eps, v = u (1 - s), ds/du = pdf(u - v_th)
    #   not detached: dv/dx = (1 - s) - u pdf(u - v_th) ; detached: dv/dx = 1 - s
    noise = GaussianNoise(0.3)
    key = jax.random.key(8)
    x = jnp.asarray([0.7, 0.9, 1.0, 1.1, 1.3])
    k_noise, _ = jax.random.split(key)
    u = np.asarray(x, np.float64) - np.asarray(noise.sample(k_noise, (5,), jnp.float32), np.float64)
    pdf = _gauss(0.3)[1](u - 1.0)
    for detach in (False, True):
        p = NoisyLIF(decay=0.5, v_th=1.0, noise=noise, detach_reset=detach)
        v_of = lambda x, p=p: noisy_lif_step(LIFState(jnp.zeros(5)), x, p, key)[0].v.sum()
        g = np.asarray(jax.grad(v_of)(x), np.float64)
        _, s = noisy_lif_step(LIFState(jnp.zeros(5)), x, p, key)
        expected = (1 - np.asarray(s)) - (0.0 if detach else u * pdf)
        np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-6)


def test_needs_key_and_noises_from_specs():
    neuron = NoisyLIF()
    assert NoisyLIF.stochastic
    with pytest.raises(ValueError, match="key"):
        neuron.step(neuron.init_state((2,)), jnp.ones(2))
    with pytest.raises(ValueError, match="stochastic"):
        dynamics.run_neuron(neuron, jnp.ones((3, 2)))
    assert NOISES.create("gaussian(sigma=0.4)") == GaussianNoise(0.4)
    assert NOISES.create({"name": "logistic", "scale": 0.2}) == LogisticNoise(0.2)
    assert NOISES.create("triangular(a=0.6)") == TriangularNoise(0.6)
    assert NOISES.create("uniform") == UniformNoise(0.3)
    assert NOISES.spec(GaussianNoise(0.4)) == "gaussian(sigma=0.4, mu=0.0)"
    with pytest.raises(ConfigError, match="unknown noise 'cauchy'"):
        NOISES.create("cauchy(scale=1.0)")
    with pytest.raises(ConfigError, match="has no parameter 'sigma'"):
        NOISES.create("uniform(sigma=1.0)")


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_dtype(dtype):
    s = dynamics.run_neuron(NoisyLIF(), jnp.ones((4, 8), dtype), key=jax.random.key(0))
    assert s.dtype == dtype
