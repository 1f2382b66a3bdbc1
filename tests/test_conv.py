"""The im2col matmul convolution computes what ``lax.conv_general_dilated`` computes, values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from snnjax import conv

DN = ("NHWC", "HWIO", "NHWC")


def _ref(x, w, strides, padding):
    return lax.conv_general_dilated(
        x, w, strides, padding, dimension_numbers=DN, precision=lax.Precision.HIGHEST
    )


def _fast(x, w, strides, padding):
    return conv.conv2d(x, w, strides, padding, precision=lax.Precision.HIGHEST)


@pytest.mark.parametrize(
    ("shape", "kernel", "strides", "padding"),
    [
        ((2, 7, 6, 3), (3, 3, 3, 5), (1, 1), "SAME"),
        ((2, 7, 6, 1), (3, 3, 1, 4), (1, 1), "VALID"),
        ((2, 8, 9, 3), (3, 3, 3, 4), (2, 2), "SAME"),
        ((1, 6, 6, 2), (1, 1, 2, 3), (1, 1), "SAME"),
        ((1, 9, 7, 2), (5, 3, 2, 3), (2, 1), ((2, 1), (0, 2))),
    ],
)
def test_values_and_gradients_match_lax(shape, kernel, strides, padding):
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, shape, jnp.float32)
    w = jax.random.normal(kw, kernel, jnp.float32)
    y_ref = _ref(x, w, strides, padding)
    y = _fast(x, w, strides, padding)
    assert y.shape == y_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)

    # gradients w.r.t. input and kernel for a random cotangent
    g = jax.random.normal(kg, y_ref.shape, jnp.float32)
    loss = lambda f: lambda x, w: jnp.sum(f(x, w, strides, padding) * g)
    gx_ref, gw_ref = jax.grad(loss(_ref), argnums=(0, 1))(x, w)
    gx, gw = jax.grad(loss(_fast), argnums=(0, 1))(x, w)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    ("shape", "kernel", "strides", "padding"),
    [
        ((5, 7, 6, 3), (3, 3, 3, 5), (1, 1), "SAME"),
        ((6, 8, 9, 3), (3, 3, 3, 4), (2, 2), "SAME"),
        ((5, 9, 7, 2), (5, 3, 2, 3), (2, 1), ((2, 1), (0, 2))),
    ],
)
def test_batch_chunks_compute_the_same_values_and_gradients(monkeypatch, shape, kernel, strides, padding):
    # a tiny chunk budget makes these small batches run in chunks of 2 (5 = 2 + 2 + 1: with a remainder)
    y_shape = _ref(jnp.zeros(shape), jnp.zeros(kernel), strides, padding).shape
    per_sample = y_shape[1] * y_shape[2] * kernel[0] * kernel[1] * kernel[2] * 4
    monkeypatch.setattr(conv, "CHUNK_BYTES", 2 * per_sample)
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert conv.batch_chunk(shape, kernel, y_shape[1:3]) == 2
    kx, kw, kg = jax.random.split(jax.random.key(4), 3)
    x = jax.random.normal(kx, shape, jnp.float32)
    w = jax.random.normal(kw, kernel, jnp.float32)
    g = jax.random.normal(kg, y_shape, jnp.float32)
    loss = lambda f: lambda x, w: jnp.sum(f(x, w, strides, padding) * g)
    np.testing.assert_allclose(
        _fast(x, w, strides, padding), _ref(x, w, strides, padding), rtol=1e-5, atol=1e-5
    )
    gx_ref, gw_ref = jax.grad(loss(_ref), argnums=(0, 1))(x, w)
    gx, gw = jax.jit(jax.grad(loss(_fast), argnums=(0, 1)))(x, w)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gw, gw_ref, rtol=1e-5, atol=1e-4)
    # the chunks run in a loop and the backward pass stores no patch tensor: its residuals are x and w
    jaxpr = str(jax.make_jaxpr(jax.grad(loss(_fast), argnums=(0, 1)))(x, w))
    assert "scan" in jaxpr and "custom_vjp_call" in jaxpr


def test_batch_chunk_sizes():
    big = 4 * conv.CHUNK_BYTES
    on_cpu = jax.default_backend() == "cpu"
    # W2's second convolution: 512 x 14 x 14 x 288 patches (115 MB) -> a divisor of 512 near 4 MiB of patches
    chunk = conv.batch_chunk((512, 14, 14, 32), (3, 3, 32, 64), (14, 14))
    if on_cpu:
        assert 512 % chunk == 0 and conv.CHUNK_BYTES / 2 <= chunk * 14 * 14 * 288 * 4 <= conv.CHUNK_BYTES
    # a one-channel input (patches smaller than the output) and a small batch are not chunked
    assert conv.batch_chunk((big, 28, 28, 1), (3, 3, 1, 32), (28, 28)) == big
    assert conv.batch_chunk((2, 14, 14, 32), (3, 3, 32, 64), (14, 14)) == 2


def test_nnx_conv_drop_in_keeps_params_and_values():
    x = jax.random.normal(jax.random.key(1), (3, 8, 8, 2), jnp.float32)
    a = nnx.Conv(2, 4, (3, 3), padding="SAME", use_bias=True, rngs=nnx.Rngs(0))
    b = nnx.Conv(
        2,
        4,
        (3, 3),
        padding="SAME",
        use_bias=True,
        conv_general_dilated=conv.conv_fn("matmul"),
        rngs=nnx.Rngs(0),
    )
    shapes = lambda m: jax.tree.map(jnp.shape, nnx.state(m, nnx.Param))
    assert shapes(a) == shapes(b)
    np.testing.assert_allclose(b(x), a(x), rtol=1e-4, atol=1e-4)


def test_fallback_to_lax_for_unsupported_cases():
    # dilation and feature groups are not on the matmul path: results must still equal lax's
    x = jax.random.normal(jax.random.key(2), (1, 9, 9, 4), jnp.float32)
    w = jax.random.normal(jax.random.key(3), (3, 3, 2, 4), jnp.float32)
    kw = dict(dimension_numbers=lax.conv_dimension_numbers(x.shape, w.shape, DN), feature_group_count=2)
    y = conv.conv_general_dilated(x, w, (1, 1), "SAME", rhs_dilation=(2, 2), **kw)
    y_ref = lax.conv_general_dilated(x, w, (1, 1), "SAME", rhs_dilation=(2, 2), **kw)
    np.testing.assert_array_equal(y, y_ref)


def test_the_matmul_path_contains_no_convolution():
    x = jnp.ones((2, 6, 6, 3), jnp.float32)
    w = jnp.ones((3, 3, 3, 4), jnp.float32)
    dn = lax.conv_dimension_numbers(x.shape, w.shape, DN)
    f = lambda x, w: jnp.sum(conv.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dn) ** 2)
    hlo = jax.jit(jax.grad(f, argnums=(0, 1))).lower(x, w).as_text()
    assert "convolution" not in hlo
    assert "dot_general" in hlo or "dot(" in hlo


def test_unknown_impl_is_rejected():
    with pytest.raises(ValueError, match="conv_impl"):
        conv.conv_fn("winograd")


def test_auto_impl_follows_the_xla_convolution_flag(monkeypatch):
    assert jax.default_backend() == "cpu"
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution")
    assert conv.conv_fn("auto") is lax.conv_general_dilated
    monkeypatch.setenv("XLA_FLAGS", "")  # jaxlib's default: YNNPACK convolutions, slow for narrow ones
    assert conv.conv_fn("auto") is conv.conv_general_dilated
