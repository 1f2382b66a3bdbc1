"""Norm restrictions of the feedback weight."""

import jax
import jax.numpy as jnp
import numpy as np

from snnjax.models.feedback import restrict


def test_frobenius_norm_restriction():
    w = jax.random.normal(jax.random.PRNGKey(0), (20, 30))
    true = float(jnp.linalg.norm(w))  # ~24.5
    factor = restrict.frobenius_restrict(w, 2.0, jax.random.PRNGKey(1), 4096)
    assert abs(float(factor) * true - 2.0) < 0.1  # restricted to ~r
    assert float(restrict.frobenius_restrict(w * 0.01, 2.0, jax.random.PRNGKey(1), 4096)) == 1.0  # untouched


def test_frobenius_factor_is_a_constant_for_the_gradient():
    # the authors estimate the norm without autograd: d/dW_raw sum(c * W_raw * factor) = c * factor
    w = jax.random.normal(jax.random.PRNGKey(0), (20, 30))
    c = jax.random.normal(jax.random.PRNGKey(2), (20, 30))
    key = jax.random.PRNGKey(1)
    factor = restrict.frobenius_restrict(w, 2.0, key, 64)
    assert float(factor) < 0.2  # the bound is active
    grad = jax.grad(lambda w: jnp.sum(c * w * restrict.frobenius_restrict(w, 2.0, key, 64)))(w)
    np.testing.assert_allclose(grad, c * factor, rtol=1e-6)


def test_spectral_restriction_bounds_the_feedback_spectral_norm():
    w = jax.random.normal(jax.random.PRNGKey(0), (30, 20))
    sigma = float(jnp.linalg.svd(w, compute_uv=False)[0])
    np.testing.assert_allclose(restrict.spectral_norm(w, jax.random.PRNGKey(1), iters=100), sigma, rtol=1e-4)
    u = restrict.unit(jnp.ones((30,)))
    for _ in range(100):  # one power iteration per call, u carried over as in training
        factor, u = restrict.spectral_restrict(w, u, jnp.asarray(3.0), 0.5)
    np.testing.assert_allclose(jnp.linalg.svd(w * factor, compute_uv=False)[0], 0.5, rtol=1e-4)  # |g| > r
    gain_grad = jax.grad(lambda g: restrict.spectral_restrict(w, u, g, 0.5)[0])
    assert float(gain_grad(jnp.asarray(3.0))) == 0.0 and float(gain_grad(jnp.asarray(0.3))) > 0.0
