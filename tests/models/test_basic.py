"""SpikingConvNet rematerialisation (model.remat, time-chunked): same values, gradients and state updates,
less memory."""

import contextlib
import io
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.ad_checkpoint import print_saved_residuals

from snnjax import models
from snnjax.models import basic
from snnjax.train import steps as steps_lib


def _convnet(
    remat: bool, conv_impl: str = "matmul", t: int = 3, chunk: int = 0, noisy: bool = False, encoding="direct"
):
    cfg = basic.model_config(
        "convnet",
        num_steps=t,
        encoding=encoding,
        remat=remat,
        remat_chunk=chunk,
        channels=(4, 8),
        hidden=(),
        conv_impl=conv_impl,
    )
    cfg.neuron.type = "noisy_lif" if noisy else "lif"
    cfg.neuron.lif.update(decay=0.5, v_th=1.0, reset="hard", surrogate="triangle(gamma=1.0)")
    return models.create(cfg, 5, (8, 8, 1), rngs=nnx.Rngs(params=0, encoding=1, dropout=2, noise=3))


def _loss_and_grads(model, x, y):
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss_fn(params):
        m = nnx.merge(graphdef, params, rest, copy=True)
        out, rates = nnx.capture(m, nnx.Intermediate)(x)
        logits = out.mean(0)
        loss = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))
        return loss, (nnx.state(m, nnx.BatchStat), rates)

    (loss, (stats, rates)), g = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(params)
    return loss, g, stats, rates


def _saved_bytes(fn, *args) -> int:
    """Bytes of the float32 residuals ``jax.ad_checkpoint.print_saved_residuals`` lists for ``grad(fn)``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_saved_residuals(fn, *args)
    shapes = re.findall(r"^f32\[([\d,]*)\]", out.getvalue(), re.M)
    return sum(4 * math.prod(int(d) for d in s.split(",") if d) for s in shapes)


@pytest.mark.parametrize(("conv_impl", "t", "chunk"), [("matmul", 3, 0), ("xla", 3, 0), ("matmul", 6, 3)])
def test_remat_same_values_gradients_and_state(conv_impl, t, chunk):
    x = jax.random.uniform(jax.random.key(0), (2, 8, 8, 1), jnp.float32) * 3.0
    y = jnp.array([1, 3])
    out = {r: _loss_and_grads(_convnet(r, conv_impl, t, chunk), x, y) for r in (False, True)}
    (l0, g0, s0, r0), (l1, g1, s1, r1) = out[False], out[True]
    np.testing.assert_allclose(l0, l1, rtol=1e-6)
    assert jax.tree.structure(g0) == jax.tree.structure(g1)
    for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert any(float(jnp.abs(a).max()) > 0 for a in jax.tree.leaves(g0))  # gradients are not all zero
    for a, b in zip(jax.tree.leaves(s0), jax.tree.leaves(s1), strict=True):  # BN running stats
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jax.tree.leaves(r0), jax.tree.leaves(r1), rtol=1e-6)  # sown firing rates


def test_time_chunk_default_and_bad_chunk():
    from snnjax.errors import ConfigError
    from snnjax.models.basic import time_chunk

    assert [time_chunk(t) for t in (1, 2, 3, 8, 16, 32, 30)] == [1, 1, 1, 2, 4, 4, 5]
    assert time_chunk(8, 4) == 4
    with pytest.raises(ConfigError, match="remat_chunk=3 must divide"):
        _convnet(True, t=8, chunk=3)(jnp.ones((1, 8, 8, 1)))


def test_remat_refuses_stochastic_neuron():
    from snnjax.errors import ConfigError

    model = _convnet(True, noisy=True)
    with pytest.raises(ConfigError, match="deterministic neuron"):
        model(jnp.ones((1, 8, 8, 1)))


@pytest.mark.parametrize(("static", "fraction"), [(False, 0.15), (True, 0.2)])
def test_remat_stores_only_block_inputs(static, fraction):
    """With remat the forward keeps only each conv block's input, neuron states between time chunks and
    output (and the dense layer's input): what is saved for the backward pass shrinks from every
    conv/BN/neuron/pool activation to a small fraction. ``static``: the image ``[B, H, W, C]`` (the first
    block's conv and BN run once, on ``B`` samples, in both modes), else its ``T`` copies."""
    x = jnp.ones((4, 8, 8, 1), jnp.float32)
    x = x if static else jnp.broadcast_to(x[:, None], (4, 8, *x.shape[1:]))  # event frames [B, T, ...]
    saved = {}
    for r in (False, True):
        model = _convnet(r, t=8, encoding="direct" if static else "events")
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)

        def loss_fn(params, graphdef=graphdef, rest=rest):
            return nnx.capture(nnx.merge(graphdef, params, rest, copy=True))(x).sum()

        saved[r] = _saved_bytes(loss_fn, params)
        jaxpr = str(jax.make_jaxpr(jax.grad(loss_fn))(params))
        assert ("checkpoint" in jaxpr or "remat" in jaxpr) == r
    # plain: ~20 activation tensors of [T*B, H, W, C]; remat: the two block inputs + the flattened features
    assert saved[True] < fraction * saved[False], saved


def test_mlp_time_folded_linear_matches_per_step():
    """SpikingMLP applies its Linear layers on the folded [T*B, F] batch: same currents as per step."""
    cfg = basic.model_config("mlp", num_steps=4, hidden=(6,), readout="logits")
    cfg.neuron.lif.update(decay=0.5, v_th=1.0, reset="hard", surrogate="triangle(gamma=1.0)")
    model = models.create(cfg, 3, (2, 2, 1), rngs=nnx.Rngs(params=0, encoding=1))
    x = jax.random.uniform(jax.random.key(0), (5, 2, 2, 1), jnp.float32) * 2.0
    out = nnx.capture(model)(x)
    xs = jnp.broadcast_to(x.reshape(1, 5, -1), (4, 5, 4))
    spikes = nnx.capture(model.hidden_neurons[0])(jnp.stack([model.hidden[0](xt) for xt in xs]))
    ref = jnp.stack([model.out(st) for st in spikes])
    assert out.shape == (4, 5, 3)
    assert float(jnp.abs(spikes).sum()) > 0
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("remat", [False, True])
def test_static_input_block_equals_the_repeated_input(remat):
    """A direct-coded image runs the first conv and BN once (``blocks.stem_over_time``); fed as ``T``
    explicit copies (event frames ``[B, T, H, W, C]``) it takes the time-folded path: same loss, gradients,
    BN statistics and firing rates, fewer flops."""
    t = 4
    x = jax.random.uniform(jax.random.key(0), (2, 8, 8, 1), jnp.float32) * 3.0
    y = jnp.array([1, 3])
    repeated = jnp.broadcast_to(x[:, None], (2, t, *x.shape[1:]))  # as event frames [B, T, H, W, C]
    inputs = ((x, "direct"), (repeated, "events"))
    (l0, g0, s0, r0), (l1, g1, s1, r1) = (
        _loss_and_grads(_convnet(remat, t=t, encoding=e), v, y) for v, e in inputs
    )
    np.testing.assert_allclose(l0, l1, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert any(float(jnp.abs(a).max()) > 0 for a in jax.tree.leaves(g0))
    for a, b in zip(jax.tree.leaves(s0), jax.tree.leaves(s1), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(jax.tree.leaves(r0), jax.tree.leaves(r1), rtol=1e-6)

    def flops(v, encoding):
        graphdef, params, rest = nnx.split(_convnet(remat, t=t, encoding=encoding), nnx.Param, ...)
        run = jax.jit(lambda params, v: nnx.capture(nnx.merge(graphdef, params, rest, copy=True))(v))
        return run.lower(params, v).compile().cost_analysis()["flops"]

    assert flops(*inputs[0]) < flops(*inputs[1])


def test_mlp_learns_thresholds_and_leaks_per_channel_from_the_config():
    cfg = basic.model_config("mlp", num_steps=2, hidden=(6, 5), readout="spikes")
    cfg.neuron.update(learnable_decay=True, learnable_threshold=True, per_channel=True)
    model = models.create(cfg, 3, (2, 2, 1), rngs=nnx.Rngs(0))
    layers_ = [*model.hidden_neurons, model.out_neuron]
    shapes = {n.decay_param.shape + n.threshold_param.shape for n in layers_}
    assert shapes == {(6, 6), (5, 5), (3, 3)}
    cfg.neuron.per_channel = False
    model = models.create(cfg, 3, (2, 2, 1), rngs=nnx.Rngs(0))
    assert model.out_neuron.threshold_param.shape == ()


def _snntorch_leaky(currents: np.ndarray, beta: float) -> np.ndarray:
    """snnTorch ``Leaky`` (subtract reset, threshold 1) over ``[T, ...]`` currents, by hand:
    ``U_t = beta U_{t-1} + I_t - H(U_{t-1} - 1)``, ``S_t = H(U_t - 1)``."""
    u, out = np.zeros_like(currents[0]), []
    for i in currents:
        u = beta * u + i - (u > 1.0)
        out.append((u > 1.0).astype(np.float64))
    return np.stack(out)


def _pool(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


@pytest.mark.parametrize("pool_first", [True, False])
def test_snntorch_convnet_matches_a_hand_composed_forward(pool_first):
    """Conv5 (valid, bias) -> MaxPool2 -> Leaky (or Leaky -> MaxPool2), twice, then Linear -> Leaky, on
    event frames ``[B, T, 34, 34, 2]``; 800 features before the Linear as in the task's net."""
    cfg = basic.model_config("snntorch_convnet", num_steps=3, encoding="events", pool_first=pool_first)
    cfg.neuron.lif.update(decay=0.5, v_th=1.0, reset="soft_delayed", detach_reset=True, surrogate="atan")
    model = models.create(cfg, 10, (34, 34, 2), rngs=nnx.Rngs(0))
    assert model.out.kernel.shape == (800, 10)
    for layer in (*model.convs, model.out):  # stronger weights than at init, so that every layer fires
        layer.kernel[...] = 4.0 * layer.kernel[...]
    x = np.asarray(jax.random.poisson(jax.random.key(1), 1.0, (3, 2, 34, 34, 2)), np.float32)
    spikes = np.asarray(steps_lib.call_recorded(model, jnp.asarray(x.swapaxes(0, 1)))[0])  # host: [B, T, ...]

    s = x.astype(np.float64)
    for conv in model.convs:
        kernel, bias = np.asarray(conv.kernel[...], np.float64), np.asarray(conv.bias[...], np.float64)
        y = jax.lax.conv_general_dilated(
            s.reshape(-1, *s.shape[2:]), kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        y = np.asarray(y) + bias
        if pool_first:
            y = _pool(y)
            s = _snntorch_leaky(y.reshape(3, -1, *y.shape[1:]), 0.5)
        else:
            s = _snntorch_leaky(y.reshape(3, -1, *y.shape[1:]), 0.5)
            s = _pool(s.reshape(-1, *s.shape[2:])).reshape(3, -1, *_pool(s[0]).shape[1:])
    w, b = np.asarray(model.out.kernel[...], np.float64), np.asarray(model.out.bias[...], np.float64)
    expected = _snntorch_leaky(s.reshape(3, 2, -1) @ w + b, 0.5)
    assert 0 < expected.sum() < expected.size  # some but not all output neurons fire
    np.testing.assert_array_equal(spikes, expected)


def test_snntorch_convnet_uses_pytorchs_default_init():
    model = models.create(basic.model_config("snntorch_convnet"), 10, (34, 34, 2), rngs=nnx.Rngs(0))
    for layer, fan_in in ((model.convs[0], 2 * 25), (model.convs[1], 12 * 25), (model.out, 800)):
        bound = 1.0 / math.sqrt(fan_in)
        for p in (layer.kernel[...], layer.bias[...]):
            assert float(jnp.abs(p).max()) <= bound and float(jnp.abs(p).max()) > 0.8 * bound
