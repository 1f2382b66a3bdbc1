"""Shared model pieces: initialisers, 2x2 pooling, conv output sizes, the static stem."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax.models import blocks
from snnjax.models.common import Encoder


def test_pooling_reduces_each_2x2_window_and_drops_odd_edges():
    x = jnp.arange(2 * 5 * 4 * 3, dtype=jnp.float32).reshape(2, 5, 4, 3)
    mx, avg = blocks.max_pool_2x2(x), blocks.avg_pool_2x2(x)
    assert mx.shape == avg.shape == (2, 2, 2, 3)
    window = x[1, 2:4, 0:2, 1]
    assert float(mx[1, 1, 0, 1]) == float(window.max())
    assert float(avg[1, 1, 0, 1]) == float(window.mean())


@pytest.mark.parametrize(("n", "k", "stride"), [(28, 5, 1), (28, 5, 2), (7, 3, 2), (48, 9, 2), (15, 1, 2)])
def test_conv_out_size_matches_a_padded_convolution(n, k, stride):
    conv = nnx.Conv(1, 1, (k, k), stride, padding=(k - 1) // 2, rngs=nnx.Rngs(0))
    out = conv(jnp.ones((1, n, n, 1)))
    assert out.shape[1] == blocks.conv_out_size(n, stride)


def test_torch_initialisers_bounds():
    key = jax.random.PRNGKey(0)
    w = blocks.torch_default_init()(key, (3, 3, 16, 8))
    bound = 1.0 / np.sqrt(3 * 3 * 16)
    assert float(jnp.max(jnp.abs(w))) <= bound and float(jnp.max(jnp.abs(w))) > 0.9 * bound
    b = blocks.torch_bias_init(144)(key, (1000,))
    assert float(jnp.max(jnp.abs(b))) <= 1.0 / 12.0 and float(jnp.max(jnp.abs(b))) > 0.9 / 12.0
    k = blocks.kaiming_normal(key, (100, 400))
    np.testing.assert_allclose(float(jnp.std(k)), np.sqrt(2.0 / 100), rtol=0.02)
    f = blocks.kaiming_fan_out_init()(key, (3, 3, 8, 200))
    np.testing.assert_allclose(float(jnp.std(f)), np.sqrt(2.0 / (9 * 200)), rtol=0.05)


def test_unit_filter_uniform_normalises_each_filter():
    w = blocks.unit_filter_uniform(jax.random.PRNGKey(0), (3, 3, 4, 5))
    np.testing.assert_allclose(jnp.sqrt(jnp.sum(w**2, axis=(0, 1, 2))), 1.0, rtol=1e-5)
    w = blocks.unit_filter_uniform(jax.random.PRNGKey(0), (3, 3, 4, 5), filter_axes=(0, 1, 3))
    np.testing.assert_allclose(jnp.sqrt(jnp.sum(w**2, axis=(0, 1, 3))), 1.0, rtol=1e-5)


def test_stem_over_time_runs_a_static_image_once():
    calls = []

    def stem(v):
        calls.append(v.shape)
        return v * 2.0

    x = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 4, 1))
    z, static = blocks.stem_over_time(stem, x, Encoder("direct", 3))
    assert calls == [(2, 4, 4, 1)] and z.shape == (3, 2, 4, 4, 1)
    np.testing.assert_array_equal(static, 2.0 * x)
    np.testing.assert_array_equal(z[2], 2.0 * x)
    frames = jnp.stack(
        [x, x + 1.0, x - 1.0], axis=1
    )  # event frames [B, T, ...]: one call on the folded steps
    z, static = blocks.stem_over_time(stem, frames, Encoder("events", 3))
    assert static is None and calls[-1] == (6, 4, 4, 1)
    np.testing.assert_array_equal(z, 2.0 * frames.swapaxes(0, 1))


def test_static_stem_batch_norm_statistics_equal_those_of_t_copies():
    """The once-run stem's BN keeps the running statistics of BN on T repeated copies, the unbiased
    variance included (n = T * B * H * W, as PyTorch on the repeated input)."""
    from snnjax import layers

    x = jax.random.normal(jax.random.PRNGKey(1), (2, 3, 3, 2)) * 2.0 + 1.0  # n = 18 per copy
    once = layers.batch_norm(2, rngs=nnx.Rngs(0))
    copies = layers.batch_norm(2, rngs=nnx.Rngs(0))
    z, _ = blocks.stem_over_time(once, x, Encoder("direct", 4))
    ref = layers.time_folded(copies, jnp.broadcast_to(x, (4, *x.shape)))
    np.testing.assert_allclose(np.asarray(z), np.asarray(ref), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(once.mean[...]), np.asarray(copies.mean[...]), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(once.var[...]), np.asarray(copies.var[...]), rtol=1e-6)
    var = np.asarray(x, np.float64).reshape(-1, 2).var(0)
    np.testing.assert_allclose(np.asarray(once.var[...]), 0.9 + 0.1 * var * 72 / 71, rtol=1e-6)
    assert layers.STATIC_REPEATS.get() == 1  # reset after the stem
