"""Linear ops of the feedback SNNs: output shapes, and every ``transpose`` is the adjoint of the op."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax.models.blocks import unit_filter_uniform
from snnjax.models.feedback import ops


def _ops():
    rngs = nnx.Rngs(0)
    return {
        "conv_s1": ops.Conv((7, 7, 3), 4, 5, rngs=rngs),
        "conv_s2_even": ops.Conv((8, 8, 3), 4, 3, 2, rngs=rngs),
        "conv_s2_odd": ops.Conv((7, 7, 3), 4, 3, 2, bias=False, rngs=rngs),
        "conv_t": ops.ConvTranspose((4, 4, 3), 2, 3, 2, (7, 7), rngs=rngs),
        "pool_even": ops.AvgPool((6, 6, 2)),
        "pool_odd": ops.AvgPool((7, 5, 2)),
        "dense": ops.Dense((3, 3, 2), 5, rngs=rngs),
    }


@pytest.mark.parametrize("name", list(_ops()))
def test_transpose_is_the_adjoint_of_the_linear_part(name):
    op = _ops()[name]
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    x = jax.random.normal(k1, (2, *op.in_shape))
    y = jax.random.normal(k2, (2, *op.out_shape))
    bias = getattr(op, "bias", None)
    linear = lambda v: op(v) - (0.0 if bias is None else bias[...])
    assert op(x).shape == y.shape
    assert op.transpose(y).shape == x.shape
    np.testing.assert_allclose(jnp.vdot(linear(x), y), jnp.vdot(x, op.transpose(y)), rtol=1e-4)


def test_conv_transpose_is_the_transpose_of_the_strided_conv():
    ct = ops.ConvTranspose((3, 3, 3), 2, 3, 2, (6, 6), rngs=nnx.Rngs(0))  # 3x3x3 -> 6x6x2
    z = jax.random.normal(jax.random.PRNGKey(2), (1, 6, 6, 2))
    strided = jax.lax.conv_general_dilated(
        z, ct.kernel[...], (2, 2), ((1, 1), (1, 1)), dimension_numbers=ops.DIMENSIONS
    )
    np.testing.assert_allclose(ct.transpose(z), strided, rtol=1e-6)


@pytest.mark.parametrize(("k", "stride", "hw"), [(5, 1, 14), (5, 2, 28), (3, 2, 7), (9, 2, 48), (3, 2, 8)])
def test_explicit_conv_transpose_equals_vjp(k, stride, hw):
    kernel = jax.random.normal(jax.random.PRNGKey(0), (k, k, 3, 4))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, hw, hw, 3))
    y, vjp = jax.vjp(lambda a: ops.conv(a, kernel, stride, (k - 1) // 2), x)
    c = jax.random.normal(jax.random.PRNGKey(2), y.shape)
    np.testing.assert_allclose(
        ops.conv_t(c, kernel, stride, (k - 1) // 2, (hw, hw)), vjp(c)[0], rtol=1e-4, atol=1e-4
    )


def test_conv_transpose_unit_filters_per_output_channel():
    ct = ops.ConvTranspose((4, 4, 5), 3, 3, 2, (8, 8), init=unit_filter_uniform, gain=0.1, rngs=nnx.Rngs(0))
    norms = jnp.sqrt(jnp.sum(jnp.square(ct.kernel[...]), axis=(0, 1, 3)))  # one filter per output channel
    assert norms.shape == (3,)
    np.testing.assert_allclose(norms, 0.1, rtol=1e-5)


def test_weight_rows_follow_pytorch_dim0():
    rngs = nnx.Rngs(0)
    assert ops.Conv((8, 8, 3), 4, 3, rngs=rngs).weight_rows().shape == (4, 27)
    assert ops.ConvTranspose((4, 4, 5), 3, 3, 2, (8, 8), rngs=rngs).weight_rows().shape == (5, 27)
    assert ops.Dense((6,), 2, rngs=rngs).weight_rows().shape == (2, 6)


def test_dense_with_batch_norm_has_no_transpose():
    op = ops.Dense((4,), 3, batch_norm=True, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="input op"):
        op.transpose(jnp.ones((1, 3)))
