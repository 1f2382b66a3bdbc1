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


def _irwin_hall4(a):
    """CDF and density of the sum of two symmetric triangular noises on [-a, a]: each is the sum of two
    U(-a/2, a/2), so the sum is a (S - 2) with S ~ Irwin-Hall(4) (the sum of four U(0, 1)):
    F_S(y) = sum_{k <= y} (-1)^k C(4, k) (y - k)^4 / 4!,
    f_S(y) = sum_{k <= y} (-1)^k C(4, k) (y - k)^3 / 3!."""

    def terms(v, power):
        y = np.clip(np.asarray(v, np.float64) / a + 2.0, 0.0, 4.0)
        return sum(
            (-1) ** k * math.comb(4, k) * np.where(y > k, y - k, 0.0) ** power for k in range(5)
        ) / math.factorial(power)

    return (lambda v: terms(v, 4), lambda v: np.where(np.abs(v) < 2 * a, terms(v, 3) / a, 0.0))


def _logistic_doubled(s):
    """The sum of two logistic(s) noises: density in closed form (z = v / s, symmetric in z)
    f(z) = e^z ((z - 2) e^z + z + 2) / (e^z - 1)^3 / s, with f(0) = 1 / (6 s); its CDF has no simple
    closed form and is integrated numerically (quadrature of the convolution)."""
    cdf, pdf, _ = _logistic(s)

    def density(v):
        z = -np.abs(np.asarray(v, np.float64)) / s
        safe = np.where(np.abs(z) < 1e-3, -1.0, z)
        f = np.exp(safe) * ((safe - 2) * np.exp(safe) + safe + 2) / (np.exp(safe) - 1) ** 3
        return np.where(np.abs(z) < 1e-3, 1 / 6, f) / s

    return (lambda v: _sum_cdf(cdf, pdf, v), density)


# CDF and density of the sum of two independent noises of each family (the 'code' mode's firing law)
DOUBLED = {
    "gaussian": _gauss(0.3 * math.sqrt(2))[:2],  # N(0, 2 sigma^2)
    "logistic": _logistic_doubled(0.3),
    "triangular": _irwin_hall4(0.6),
    "uniform": _triangular(0.6)[:2],  # U(-a, a) + U(-a, a) is triangular on [-2a, 2a]
}


@pytest.mark.parametrize(
    "name, noise_ref", list(zip(IDS, [ref for _, ref in FAMILIES], strict=True)), ids=IDS
)
def test_closed_forms_of_the_doubled_noise_match_quadrature(name, noise_ref):
    """The closed forms above against a numerical convolution of each family with itself."""
    cdf, pdf, _ = noise_ref
    v = np.linspace(-1.3, 1.3, 27)
    dcdf, dpdf = DOUBLED[name]
    np.testing.assert_allclose(dcdf(v), _sum_cdf(cdf, pdf, v), atol=2e-6)
    np.testing.assert_allclose(dpdf(v), _sum_pdf(pdf, v), atol=2e-5)
    # and they are a CDF / density: monotone from 0 to 1, the density integrates to one
    assert dcdf(np.asarray([-5.0]))[0] < 1e-5 and dcdf(np.asarray([5.0]))[0] > 1 - 1e-5
    assert np.all(np.diff(dcdf(v)) >= 0)
    grid = np.linspace(-5, 5, 2001)
    assert abs(np.sum(dpdf(grid)) * (grid[1] - grid[0]) - 1.0) < 1e-4


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


@pytest.mark.parametrize("mode", ["code", "paper"])
@pytest.mark.parametrize(("noise", "ref"), FAMILIES, ids=IDS)
def test_neuron_rate_and_gradient_follow_the_noise_mode(noise, ref, mode):
    """Monte-Carlo firing rate and mean gradient of one step from rest against the mode's law:
    'code' (noise twice) -> the doubled noise's CDF and density (closed forms, logistic by quadrature);
    'paper' (noise once) -> the family's own CDF and density."""
    name = IDS[[n for n, _ in FAMILIES].index(noise)]
    v_th = 1.0
    xs = np.asarray([0.3, 0.6, 0.8, 0.95, 1.0, 1.1, 1.3, 1.7], np.float32)
    neuron = NoisyLIF(decay=0.5, v_th=v_th, noise=noise, noise_mode=mode)
    x = jnp.broadcast_to(jnp.asarray(xs)[:, None], (xs.size, N))
    s, g = jax.jit(_one_step, static_argnums=0)(neuron, x, jax.random.key(2))
    rate = np.asarray(s.mean(1), np.float64)
    v = xs.astype(np.float64) - v_th
    law_cdf, law_pdf = DOUBLED[name] if mode == "code" else ref[:2]
    other_cdf = ref[0] if mode == "code" else DOUBLED[name][0]
    p = np.clip(law_cdf(v), 0.0, 1.0)
    tol = 5 * np.sqrt(p * (1 - p) / N) + 1e-6
    assert np.all(np.abs(rate - p) <= tol), (rate, p, tol)
    # the other mode's CDF is measurably different (the modes really differ)
    assert np.max(np.abs(rate - other_cdf(v))) > 0.02
    # noise-driven learning: the mean gradient is the law's density
    gnp = np.asarray(g, np.float64)
    d = law_pdf(v)
    gtol = 5 * gnp.std(1) / math.sqrt(N) + 1e-4
    assert np.all(np.abs(gnp.mean(1) - d) <= gtol), (gnp.mean(1), d, gtol)
    if mode == "paper":  # no noise in the membrane: every element's gradient is the density itself
        np.testing.assert_allclose(gnp, np.broadcast_to(d[:, None], gnp.shape), rtol=1e-5, atol=1e-6)


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


def test_paper_mode_trace_has_no_membrane_noise():
    """noise_mode='paper': u = lam u + x; s = 1[U < cdf(u - v_th)] with the same per-step uniform draw as
    the code mode; u <- u (1 - s). The state carries no noise."""
    noise = GaussianNoise(0.3)
    neuron = NoisyLIF(decay=0.5, v_th=1.0, noise=noise, noise_mode="paper")
    x = jnp.asarray([[0.9, 1.2, 0.4, 1.0]] * 3)
    key = jax.random.key(7)
    spikes, states = dynamics.run_neuron(neuron, x, key=key, return_states=True)
    u = np.zeros(4)
    for t, k in enumerate(jax.random.split(key, 3)):
        _, k_fire = jax.random.split(k)
        unif = np.asarray(jax.random.uniform(k_fire, (4,)), np.float64)
        u = 0.5 * u + np.asarray(x[t], np.float64)
        s = (unif < 0.5 * (1 + _erf((u - 1.0) / (0.3 * math.sqrt(2))))).astype(np.float64)
        u = u * (1 - s)
        np.testing.assert_array_equal(np.asarray(spikes[t]), s)
        np.testing.assert_allclose(np.asarray(states.v[t]), u, rtol=1e-6, atol=1e-7)


def test_noise_mode_default_config_key_and_error():
    from snnjax.models.common import make_neuron, neuron_config

    assert NoisyLIF().noise_mode == "code"
    cfg = neuron_config("noisy_lif")
    assert cfg.noisy_lif.noise_mode == "code"
    cfg.noisy_lif.noise_mode = "paper"
    assert make_neuron(cfg).noise_mode == "paper"
    cfg.noisy_lif.noise_mode = "twice"
    with pytest.raises(ConfigError, match="unknown noise_mode 'twice'"):
        make_neuron(cfg)


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
