"""Flax NNX building blocks on time-major tensors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import dynamics, layers
from snnjax.neurons import LIF, GaussianNoise, NoisyLIF


def test_fold_unfold_round_trip():
    x = jnp.arange(2 * 3 * 4 * 5, dtype=jnp.float32).reshape(2, 3, 4, 5)
    f = layers.fold(x)
    assert f.shape == (6, 4, 5)
    np.testing.assert_array_equal(f[3], x[1, 0])  # time-major: row t * B + b
    np.testing.assert_array_equal(layers.unfold(f, 2), x)
    np.testing.assert_array_equal(layers.time_folded(lambda y: y * 2, x), x * 2)


def test_batch_norm_pools_over_time_batch_and_space():
    T, B, H, W, C = 3, 4, 5, 5, 6
    bn = layers.batch_norm(C, momentum=0.9, rngs=nnx.Rngs(0))
    # per-time offsets make per-step statistics differ from the pooled ones
    x = jax.random.normal(jax.random.key(2), (T, B, H, W, C)) * 2.0 + jnp.arange(T)[:, None, None, None, None]
    y = bn(x)
    xf = np.asarray(x, np.float64).reshape(-1, C)  # all T*B*H*W rows
    mean, var = xf.mean(0), xf.var(0)
    expected = (np.asarray(x, np.float64) - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-4, atol=1e-4)
    # running statistics: Flax momentum .9 -> 0.9 * init + 0.1 * batch stat
    np.testing.assert_allclose(np.asarray(bn.mean[...]), 0.1 * mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.var[...]), 0.9 + 0.1 * var, rtol=1e-4)
    # the folded input [T*B, H, W, C] gives the same result
    bn2 = layers.batch_norm(C, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(
        np.asarray(bn2(layers.fold(x))), np.asarray(y).reshape(T * B, H, W, C), rtol=1e-5, atol=1e-5
    )
    # eval: uses the running averages
    bn.eval()
    ye = bn(x)
    np.testing.assert_allclose(
        np.asarray(ye), (np.asarray(x) - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var + 1e-5), rtol=1e-4, atol=1e-4
    )


def test_td_batch_norm_scale_init():
    bn = layers.td_batch_norm(8, v_th=0.5, rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.asarray(bn.scale[...]), np.full(8, 0.5))
    bn = layers.td_batch_norm(8, v_th=0.5, alpha=0.0, rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.asarray(bn.scale[...]), np.zeros(8))
    bn = layers.td_batch_norm(4, v_th=1.0, alpha=2.0, rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.asarray(bn.scale[...]), np.full(4, 2.0))
    np.testing.assert_array_equal(np.asarray(bn.bias[...]), np.zeros(4))
    # the scale multiplies the normalised output
    x = jax.random.normal(jax.random.key(0), (2, 3, 4))
    bn1 = layers.td_batch_norm(4, v_th=1.0, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(np.asarray(bn(x)), 2.0 * np.asarray(bn1(x)), rtol=1e-6)


def test_variational_dropout_mask_shared_over_time():
    T, B, F = 6, 8, 32
    p = 0.25
    drop = layers.VariationalDropout(p, rngs=nnx.Rngs(dropout=0))
    y = np.asarray(drop(jnp.ones((T, B, F))))
    assert set(np.unique(y)) == {0.0, np.float32(1.0 / (1.0 - p))}  # scaled by 1 / (1 - p)
    for t in range(1, T):
        np.testing.assert_array_equal(y[t], y[0])  # identical over T
    assert len({y[0, b].tobytes() for b in range(B)}) == B  # different over B
    assert 0.5 < (y[0] > 0).mean() < 0.95
    y2 = np.asarray(drop(jnp.ones((T, B, F))))
    assert np.any(y2 != y)  # a fresh mask per call
    drop.eval()
    x = jax.random.normal(jax.random.key(1), (T, B, F))
    np.testing.assert_array_equal(drop(x), x)
    drop.train()
    assert np.any(np.asarray(drop(x)) != np.asarray(x))
    d2 = layers.VariationalDropout(p, rngs=nnx.Rngs(dropout=0))
    np.testing.assert_array_equal(d2(x, deterministic=True), x)


def test_spiking_neuron_layer_equals_run_neuron():
    neuron = LIF(decay=0.5)
    layer = layers.SpikingNeuron(neuron)
    x = jax.random.uniform(jax.random.key(0), (6, 2, 5), maxval=1.5)
    np.testing.assert_array_equal(layer(x), dynamics.run_neuron(neuron, x))
    np.testing.assert_array_equal(layers.SpikingNeuron(neuron, remat=True)(x), layer(x))
    assert layer.decay_param is None
    assert len(nnx.state(layer, nnx.Param)) == 0  # no learnable state


def test_spiking_neuron_stochastic_fresh_noise_per_call():
    neuron = NoisyLIF(noise=GaussianNoise(0.3))
    x = jnp.full((5, 4, 64), 1.0)
    f = nnx.jit(lambda m, x: m(x))  # the noise stream advances between jitted calls too
    layer = layers.SpikingNeuron(neuron, rngs=nnx.Rngs(0, noise=1))
    a, b = f(layer, x), f(layer, x)
    assert np.any(np.asarray(a) != np.asarray(b))  # fresh noise per call
    same = layers.SpikingNeuron(neuron, rngs=nnx.Rngs(0, noise=1))
    np.testing.assert_array_equal(f(same, x), a)  # reproducible from the seed
    np.testing.assert_array_equal(same(x), b)  # eager call continues the same stream
    other = layers.SpikingNeuron(neuron, rngs=nnx.Rngs(0, noise=2))
    assert np.any(np.asarray(f(other, x)) != np.asarray(a))
    # an explicit key wins and is deterministic
    k = jax.random.key(9)
    g = nnx.jit(lambda m, x, k: m(x, key=k))
    np.testing.assert_array_equal(g(layer, x, k), jax.jit(lambda x: dynamics.run_neuron(neuron, x, key=k))(x))
    np.testing.assert_array_equal(g(layer, x, k), g(other, x, k))
    with pytest.raises(ValueError, match="rngs"):
        layers.SpikingNeuron(neuron)(x)


def test_spiking_neuron_per_feature_decay():
    layer = layers.SpikingNeuron(LIF(decay=0.5), learnable_decay=True, decay_shape=(3,))
    np.testing.assert_array_equal(np.asarray(layer.decay_param[...]), [0.5, 0.5, 0.5])
    layer.decay_param[...] = jnp.asarray([0.0, 0.5, 1.0])
    # constant input .6 for 2 steps: h2 = decay * .6 + .6 -> .6 (no spike), .9 (no spike), 1.2 (spike)
    s = layer(jnp.full((2, 1, 3), 0.6))
    np.testing.assert_array_equal(np.asarray(s[1, 0]), [0, 0, 1])
    init = layers.SpikingNeuron(
        LIF(),
        learnable_decay=True,
        decay_shape=(16,),
        decay_init=lambda k, s: jax.random.uniform(k, s),
        rngs=nnx.Rngs(0),
    )
    d = np.asarray(init.decay_param[...])
    assert d.shape == (16,) and np.all((d >= 0) & (d < 1)) and len(set(d.tolist())) == 16
    with pytest.raises(ValueError, match="rngs"):
        layers.SpikingNeuron(LIF(), learnable_decay=True, decay_init=lambda k, s: jnp.zeros(s))


@pytest.mark.parametrize("steps", [8, layers.AUTO_UNROLL_MAX_STEPS + 2])
def test_spiking_neuron_unroll_keeps_values_and_gradients(steps):
    x = jax.random.normal(jax.random.PRNGKey(0), (steps, 3, 5)) * 2

    def loss(layer, x):
        return jnp.sum(layer(x) * jnp.arange(5.0))

    auto, plain = layers.SpikingNeuron(LIF(decay=0.5)), layers.SpikingNeuron(LIF(decay=0.5), unroll=1)
    np.testing.assert_array_equal(auto(x), plain(x))
    np.testing.assert_allclose(
        jax.grad(lambda x: loss(auto, x))(x), jax.grad(lambda x: loss(plain, x))(x), rtol=1e-6
    )
    # auto: no loop in the program up to AUTO_UNROLL_MAX_STEPS steps, a while loop beyond
    hlo = jax.jit(lambda x: loss(auto, x)).lower(x).as_text()
    assert ("while" in hlo) == (steps > layers.AUTO_UNROLL_MAX_STEPS)
    assert "while" in jax.jit(lambda x: loss(plain, x)).lower(x).as_text()


@pytest.mark.parametrize("impl", ["auto", "xla", "matmul"])
def test_public_conv_equals_lax_in_values_and_gradients(impl):
    """layers.conv (any impl) has nnx.Conv's parameters and lax.conv_general_dilated's values/gradients."""
    from jax import lax

    rngs = nnx.Rngs(0)
    layer = layers.conv(5, 7, 3, strides=2, impl=impl, rngs=rngs)
    assert layer.kernel.shape == (3, 3, 5, 7) and layer.bias.shape == (7,)
    x = jax.random.normal(jax.random.key(1), (6, 9, 9, 5))

    def ref(kernel, bias, x):
        y = lax.conv_general_dilated(x, kernel, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + bias

    graphdef, params = nnx.split(layer)

    def mine(kernel, bias, x):
        state = jax.tree.map(lambda v: v, params)
        state["kernel"].value, state["bias"].value = kernel, bias
        return nnx.merge(graphdef, state)(x)

    k, b = layer.kernel[...], layer.bias[...]
    np.testing.assert_allclose(mine(k, b, x), ref(k, b, x), rtol=1e-5, atol=1e-5)
    loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a)))
    for g, h in zip(
        jax.grad(loss(mine), (0, 1, 2))(k, b, x), jax.grad(loss(ref), (0, 1, 2))(k, b, x), strict=True
    ):
        np.testing.assert_allclose(g, h, rtol=1e-4, atol=1e-4)
