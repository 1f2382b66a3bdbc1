"""Flax NNX building blocks on time-major tensors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import dynamics, layers
from snnjax.analysis import monitor
from snnjax.errors import ConfigError
from snnjax.neurons import ALIF, LI, LIF, CubaLIF, GaussianNoise, NoisyLIF, SharedThresholdLIF


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
    # running statistics: Flax momentum .9 -> 0.9 * init + 0.1 * batch stat, the variance unbiased
    # (n = T*B*H*W = 300 rows per channel) as PyTorch's running_var
    np.testing.assert_allclose(np.asarray(bn.mean[...]), 0.1 * mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.var[...]), 0.9 + 0.1 * var * 300 / 299, rtol=1e-4)
    # the folded input [T*B, H, W, C] gives the same result
    bn2 = layers.batch_norm(C, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(
        np.asarray(bn2(layers.fold(x))), np.asarray(y).reshape(T * B, H, W, C), rtol=1e-5, atol=1e-5
    )
    # eval: uses the running averages
    bn.eval()
    ye = bn(x)
    np.testing.assert_allclose(
        np.asarray(ye),
        (np.asarray(x) - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var * 300 / 299 + 1e-5),
        rtol=1e-4,
        atol=1e-4,
    )


def test_batch_norm_running_variance_is_unbiased_as_pytorch():
    """Three training steps against PyTorch's update written out by hand (float64):
    running_mean <- (1 - p) running_mean + p mean_b ; running_var <- (1 - p) running_var + p n/(n-1) var_b
    with p = 0.1 (Flax momentum 0.9) and var_b the biased batch variance, which normalises the batch."""
    T, B, C = 2, 3, 4  # n = 6 rows per channel: n / (n - 1) = 1.2
    rng = np.random.default_rng(0)
    bn = layers.batch_norm(C, rngs=nnx.Rngs(0))
    flax_bn = layers.batch_norm(C, unbiased_running_var=False, rngs=nnx.Rngs(0))
    run_mean, run_var, flax_var = np.zeros(C), np.ones(C), np.ones(C)
    for _ in range(3):
        x = rng.normal(2.0, 3.0, (T, B, C))
        rows = x.reshape(-1, C)
        mean, var = rows.mean(0), rows.var(0)
        y = np.asarray(bn(jnp.asarray(x, jnp.float32)), np.float64)
        np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-5)
        run_mean = 0.9 * run_mean + 0.1 * mean
        run_var = 0.9 * run_var + 0.1 * var * 6 / 5
        flax_var = 0.9 * flax_var + 0.1 * var
        np.testing.assert_allclose(np.asarray(bn.mean[...]), run_mean, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.asarray(bn.var[...]), run_var, rtol=1e-6)
        flax_bn(jnp.asarray(x, jnp.float32))
        np.testing.assert_allclose(np.asarray(flax_bn.var[...]), flax_var, rtol=1e-6)
    assert np.all(np.abs(run_var / flax_var - 1) > 1e-2)  # the two updates really differ here
    # evaluation reads the running statistics and leaves them alone
    bn.eval()
    before = np.asarray(bn.var[...])
    x = rng.normal(size=(T, B, C))
    y = np.asarray(bn(jnp.asarray(x, jnp.float32)), np.float64)
    np.testing.assert_allclose(y, (x - run_mean) / np.sqrt(run_var + 1e-5), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(bn.var[...]), before)
    # inside jit (the train step) the update is the same
    bn2 = layers.batch_norm(C, rngs=nnx.Rngs(0))
    nnx.jit(lambda m, x: m(x))(bn2, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(np.asarray(bn2.var[...]), 0.9 + 0.1 * x.reshape(-1, C).var(0) * 1.2, rtol=1e-6)


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


def test_spiking_neuron_fixed_time_window_runs_the_first_steps_and_emits_zeros_after():
    """window=4 (GAC-ImageNet's mem_update): for T=7 the first 4 steps equal the normal run's, the rest
    are zeros and pass no gradient; T=4 is the normal run; T<4 is a one-line ConfigError."""
    from snnjax.errors import ConfigError

    neuron = LIF(decay=0.25, v_th=0.5, detach_reset=True)
    x = jax.random.uniform(jax.random.key(3), (7, 2, 16), maxval=1.5)
    windowed = layers.SpikingNeuron(neuron, window=4)
    full = np.asarray(layers.SpikingNeuron(neuron)(x))
    out = np.asarray(windowed(x))
    assert out.shape == full.shape and full[4:].any()
    np.testing.assert_array_equal(out[:4], full[:4])
    np.testing.assert_array_equal(out[4:], 0.0)
    g = jax.grad(lambda x: windowed(x).sum())(x)
    assert np.all(np.asarray(g[4:]) == 0) and np.any(np.asarray(g[:4]) != 0)
    np.testing.assert_array_equal(windowed(x[:4]), full[:4])
    with pytest.raises(ConfigError, match="time window of 4 steps"):
        windowed(x[:3])
    # a recording covers all T steps: the window's spikes and membranes, zeros after
    from snnjax.analysis import monitor

    _, rec = monitor.record(windowed, x, membrane=True)
    (spikes,), (membrane,) = rec.spikes.values(), rec.membrane.values()
    np.testing.assert_array_equal(spikes, out)
    _, ref = monitor.record(layers.SpikingNeuron(neuron), x[:4], membrane=True)
    np.testing.assert_array_equal(membrane[:4], next(iter(ref.membrane.values())))
    np.testing.assert_array_equal(membrane[4:], 0.0)
    # a stochastic neuron: the window's steps draw the keys of a 4-step run
    noisy = NoisyLIF(noise=GaussianNoise(0.3))
    k = jax.random.key(4)
    out = np.asarray(layers.SpikingNeuron(noisy, window=4)(x, key=k))
    np.testing.assert_array_equal(out[:4], dynamics.run_neuron(noisy, x[:4], key=k))
    np.testing.assert_array_equal(out[4:], 0.0)


# ---------------------------------------------------------------------------------------------------
# Learnable leaks and thresholds of every LIF-like neuron
# ---------------------------------------------------------------------------------------------------
def _field_grads(neuron, fields, x):
    """d(sum of outputs)/d(field) with the fields substituted directly into the neuron record."""

    def loss(values):
        return dynamics.run_neuron(dataclasses.replace(neuron, **values), x).sum()

    return jax.grad(loss)({f: jnp.float32(getattr(neuron, f)) for f in fields})


@pytest.mark.parametrize(
    "neuron, params",
    [
        (LIF(decay=0.5), {"decay_param": "decay", "threshold_param": "v_th"}),
        (ALIF(decay=0.75, adapt_strength=1.0), {"decay_param": "decay", "threshold_param": "v_th"}),
        (
            CubaLIF(decay=0.75, syn_decay=0.5),
            {"decay_param": "decay", "syn_decay_param": "syn_decay", "threshold_param": "v_th"},
        ),
        (NoisyLIF(decay=0.5), {"decay_param": "decay", "threshold_param": "v_th"}),
    ],
)
def test_learnable_leaks_and_threshold_receive_the_neurons_gradient(neuron, params):
    rngs = nnx.Rngs(0, noise=1) if neuron.stochastic else None
    layer = layers.SpikingNeuron(neuron, learnable_decay=True, learnable_threshold=True, rngs=rngs)
    assert sorted(p[0] for p, _ in nnx.to_flat_state(nnx.state(layer, nnx.Param))) == sorted(params)
    x = jax.random.uniform(jax.random.key(0), (8, 4, 6), maxval=1.2)
    key = jax.random.key(5)
    grads = nnx.grad(lambda m: m(x, key=key).sum())(layer)
    expected = _field_grads_keyed(neuron, list(params.values()), x, key)
    for param, field in params.items():
        got = float(grads[param][...])
        assert got != 0.0, param
        np.testing.assert_allclose(got, float(expected[field]), rtol=1e-5, err_msg=param)


def _field_grads_keyed(neuron, fields, x, key):
    def loss(values):
        n = dataclasses.replace(neuron, **values)
        return dynamics.run_neuron(n, x, key=key if n.stochastic else None).sum()

    return jax.grad(loss)({f: jnp.float32(getattr(neuron, f)) for f in fields})


def test_learnable_li_leak():
    layer = layers.SpikingNeuron(LI(decay=0.5), learnable_decay=True)
    x = jax.random.normal(jax.random.key(1), (6, 2, 3))
    got = float(nnx.grad(lambda m: m(x).sum())(layer)["decay_param"][...])
    np.testing.assert_allclose(got, float(_field_grads(LI(decay=0.5), ["decay"], x)["decay"]), rtol=1e-5)
    with pytest.raises(ConfigError, match="LI has no threshold"):
        layers.SpikingNeuron(LI(), learnable_threshold=True)


def test_per_channel_threshold_and_synaptic_decay():
    layer = layers.SpikingNeuron(
        CubaLIF(decay=0.5, syn_decay=0.5), learnable_decay=True, learnable_threshold=True, decay_shape=(3,)
    )
    assert layer.threshold_param.shape == layer.syn_decay_param.shape == (3,)
    layer.threshold_param[...] = jnp.asarray([0.5, 1.0, 2.0])
    layer.syn_decay_param[...] = jnp.asarray([0.0, 0.5, 1.5])  # 1.5 is used as 1 (clipped)
    # x = .75 twice, hard reset: i1 = .75, h1 = .75 -> fires only where v_th = .5; v1 = [0, .75, .75]
    # i2 = syn_decay * .75 + .75 = [.75, 1.125, 1.5], h2 = .5 v1 + i2 = [.75, 1.5, 1.875] vs [.5, 1, 2]
    s = layer(jnp.full((2, 1, 3), 0.75))
    np.testing.assert_array_equal(np.asarray(s[:, 0]), [[1, 0, 0], [1, 1, 0]])
    grads = nnx.grad(lambda m: m(jnp.full((2, 1, 3), 0.75)).sum())(layer)
    assert grads["threshold_param"][...].shape == (3,)
    assert float(grads["syn_decay_param"][...][2]) == 0.0  # outside [0, 1]: the clip's zero derivative


def test_no_leak_to_learn_is_a_config_error():
    with pytest.raises(ConfigError, match="SharedThresholdLIF has no leak 'decay'"):
        layers.SpikingNeuron(SharedThresholdLIF(), learnable_decay=True)


# ---------------------------------------------------------------------------------------------------
# Recurrent layer
# ---------------------------------------------------------------------------------------------------
def _recurrent_reference(neuron, w, x, key=None):
    """Python loop over time: s_t = step(state, x_t + s_{t-1} @ w)."""
    state = neuron.init_state(x.shape[1:], x.dtype)
    keys = jax.random.split(key, x.shape[0]) if neuron.stochastic else [None] * x.shape[0]
    s, out = jnp.zeros_like(x[0]), []
    for t in range(x.shape[0]):
        state, s = neuron.step(state, x[t] + jnp.einsum("bi,ij->bj", s, w), keys[t])
        out.append(s)
    return jnp.stack(out)


@pytest.mark.parametrize(
    "neuron", [LIF(decay=0.5), ALIF(decay=0.8, adapt_strength=1.0), CubaLIF(), LI(decay=0.8), NoisyLIF()]
)
def test_recurrent_layer_equals_a_python_loop(neuron):
    layer = layers.RecurrentSpikingNeuron(neuron, 6, rngs=nnx.Rngs(0, noise=1))
    x = jax.random.uniform(jax.random.key(2), (10, 3, 6), maxval=1.2)
    key = jax.random.key(3)
    w = layer.recurrent.kernel[...]
    assert w.shape == (6, 6) and float(jnp.abs(w).sum()) > 0
    got = nnx.jit(lambda m, x: m(x, key=key))(layer, x)
    ref = jax.jit(lambda w, x: _recurrent_reference(neuron, w, x, key))(w, x)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    assert np.any(np.asarray(got) != np.asarray(layers.SpikingNeuron(neuron)(x, key=key)))
    # gradients w.r.t. the recurrent weights and the input agree with the loop's
    g_layer = nnx.grad(lambda m: (m(x, key=key) * jnp.arange(6.0)).sum())(layer)["recurrent"]["kernel"][...]
    g_ref = jax.grad(lambda w: (_recurrent_reference(neuron, w, x, key) * jnp.arange(6.0)).sum())(w)
    assert float(jnp.abs(g_ref).sum()) > 0
    np.testing.assert_allclose(g_layer, g_ref, rtol=1e-4, atol=1e-5)


def test_recurrent_layer_learnable_threshold_remat_and_recording():
    layer = layers.RecurrentSpikingNeuron(
        ALIF(decay=0.8), 4, learnable_threshold=True, remat=True, unroll=1, rngs=nnx.Rngs(0)
    )
    x = jax.random.uniform(jax.random.key(4), (7, 2, 4), maxval=1.5)
    neuron = dataclasses.replace(ALIF(decay=0.8), v_th=jnp.float32(1.0))
    np.testing.assert_allclose(
        layer(x), _recurrent_reference(neuron, layer.recurrent.kernel[...], x), atol=1e-6
    )
    assert float(nnx.grad(lambda m: m(x).sum())(layer)["threshold_param"][...]) != 0.0
    out, rec = monitor.record(layer, x, samples=1, membrane=True)
    (spikes,), (membrane,) = rec.spikes.values(), rec.membrane.values()
    np.testing.assert_array_equal(spikes, out[:, :1])
    assert membrane.shape == (7, 1, 4) and np.any(np.asarray(membrane) != 0)


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
        state["kernel"].set_value(kernel)
        state["bias"].set_value(bias)
        return nnx.merge(graphdef, state)(x)

    k, b = layer.kernel[...], layer.bias[...]
    np.testing.assert_allclose(mine(k, b, x), ref(k, b, x), rtol=1e-5, atol=1e-5)
    loss = lambda f: lambda *a: jnp.sum(jnp.sin(f(*a)))
    for g, h in zip(
        jax.grad(loss(mine), (0, 1, 2))(k, b, x), jax.grad(loss(ref), (0, 1, 2))(k, b, x), strict=True
    ):
        np.testing.assert_allclose(g, h, rtol=1e-4, atol=1e-4)
