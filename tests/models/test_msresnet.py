"""MS-ResNet: paper parameter counts (built abstractly), membrane-shortcut wiring, neuron/BN settings per
variant, and the static-image shortcut of the stem."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import models
from snnjax import surrogate as sg
from snnjax.models.msresnet import MSBlock, _Builder, model_config


def _count(cfg, num_classes, shape) -> int:
    abstract = nnx.eval_shape(lambda: models.create(cfg, num_classes, shape, rngs=nnx.Rngs(0)))
    return models.num_params(abstract)


@pytest.mark.parametrize(
    "variant,depth,t,classes,shape,millions",
    [
        ("cifar", 18, 6, 10, (32, 32, 3), "12.63"),
        ("imagenet", 18, 4, 1000, (224, 224, 3), "11.82"),
        ("imagenet", 34, 4, 1000, (224, 224, 3), "21.93"),
    ],
)
def test_paper_parameter_counts(variant, depth, t, classes, shape, millions):
    n = _count(model_config(variant, depth, num_steps=t), classes, shape)
    assert f"{n / 1e6:.2f}" == millions
    off = _count(model_config(variant, depth, num_steps=t, gac=False), classes, shape)
    assert n - off == 2 * 16 * 64 * 64 + 2 * t * (t // 2)  # GAC: two 4x4 convs + the TA MLP


def _tiny(variant="cifar", **kw):
    cfg = model_config(variant, 18, num_steps=3, stem_width=4, widths=(4, 8), blocks=(1, 1), **kw)
    return models.create(cfg, 5, (8, 8, 3), rngs=nnx.Rngs(0))


@pytest.mark.slow
def test_neuron_and_bn_settings_per_variant():
    cifar, imnet = _tiny("cifar"), _tiny("imagenet")
    n = cifar.blocks[0].lif1.neuron
    assert (n.decay, n.v_th, n.reset, n.detach_reset, n.inclusive) == (0.5, 1.0, "hard", False, False)
    assert n.surrogate == sg.Triangle(1.0)
    n = imnet.blocks[1].lif2.neuron
    assert (n.decay, n.v_th, n.reset, n.detach_reset, n.inclusive) == (0.25, 0.5, "hard", True, False)
    assert n.surrogate == sg.Rectangle(1.0)
    assert (
        float(n.surrogate.grad(jnp.float32(0.49))) == 1.0 and float(n.surrogate.grad(jnp.float32(0.51))) == 0
    )
    for model, first, second in ((cifar, 1.0, 1.0), (imnet, 0.5, 0.0)):
        blk = model.blocks[1]
        assert np.all(blk.bn1.scale[...] == first) and np.all(blk.bn2.scale[...] == second)
        assert np.all(blk.sc_bn.scale[...] == first) and np.all(model.stem.bn.scale[...] == first)
    assert imnet.stem.conv.kernel.shape == (7, 7, 3, 4) and imnet.blocks[0].stride == 2
    assert cifar.stem.conv.kernel.shape == (3, 3, 3, 4) and cifar.blocks[0].stride == 1


def _block(cin, cout, stride, zero):
    cfg = model_config("cifar", 18, zero_init_residual=zero)
    return MSBlock(_Builder(cfg, nnx.Rngs(0)), cin, cout, stride, "conv")


def test_identity_shortcut_carries_membrane_values():
    blk = _block(4, 4, 1, zero=True)  # residual branch is 0 at init -> block = shortcut
    blk.eval()
    x = 3.0 * jax.random.normal(jax.random.key(0), (3, 2, 6, 6, 4))  # real values, many cross V_th
    out = nnx.capture(blk)(x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(x), rtol=1e-6)  # not the spikes of x


def test_downsampling_shortcut_sees_real_input():
    blk = _block(4, 8, 2, zero=True)
    blk.eval()
    x = 3.0 * jax.random.normal(jax.random.key(1), (3, 2, 6, 6, 4))
    folded = x.reshape(6, 6, 6, 4)
    expect = blk.sc_bn(blk.sc_conv(folded)).reshape(3, 2, 3, 3, 8)
    np.testing.assert_allclose(np.asarray(nnx.capture(blk)(x)), np.asarray(expect), rtol=1e-5, atol=1e-6)


def test_residual_branch_is_spike_driven():
    blk = _block(4, 4, 1, zero=False)
    blk.eval()
    x = 0.5 * jnp.ones((3, 2, 6, 6, 4))  # below V_th = 1 at every step (decay 0.5 -> u <= 1): no spikes
    out = nnx.capture(blk)(x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(x), atol=1e-6)  # BN(conv(0)) = 0 in eval


def test_static_stem_equals_repeated_input_and_output_shape():
    model = _tiny("cifar")
    model.eval()
    x = jax.random.normal(jax.random.key(2), (2, 8, 8, 3))
    out = nnx.capture(model)(x)
    assert out.shape == (3, 2, 5)
    frames = _tiny("cifar", encoding="events")  # the same parameters; the stem runs per time step
    frames.eval()
    repeated = nnx.capture(frames)(jnp.broadcast_to(x[:, None], (2, 3, *x.shape[1:])))
    np.testing.assert_allclose(np.asarray(out), np.asarray(repeated), rtol=1e-5, atol=1e-5)
    sources = {s for _, _, s in model.synapses}
    assert {"analog", "blocks.0.lif1", "blocks.1.lif2", "head_lif"} <= sources


@pytest.mark.slow
def test_gradients_reach_gac_and_stem():
    model = _tiny("cifar")
    x = jax.random.normal(jax.random.key(3), (2, 8, 8, 3))

    def loss(m):
        return jnp.mean(nnx.capture(m)(x) ** 2)

    grads = nnx.grad(loss)(model)
    g = {".".join(map(str, p)): float(jnp.abs(v.get_value()).sum()) for p, v in nnx.to_flat_state(grads)}
    assert g["gac.ta.w1"] > 0 and g["gac.sca.conv1.kernel"] > 0 and g["stem.conv.kernel"] > 0


@pytest.mark.parametrize("gac", [False, True])
def test_fixed_time_window_of_the_imagenet_seed(gac):
    """config.model.time_window=4 at T=6: every neuron runs 4 steps and emits zeros after, so the
    logits of steps 5 and 6 are the head's bias; without GAC (which mixes time steps) and with BN in
    eval mode the network is causal per step, so steps 1-4 equal those of the normal run."""
    from snnjax.errors import ConfigError

    kw = dict(num_steps=6, stem_width=4, widths=(4, 8), blocks=(1, 1), gac=gac)
    windowed = models.create(
        model_config("imagenet", 18, time_window=4, **kw), 5, (16, 16, 3), rngs=nnx.Rngs(0)
    )
    full = models.create(model_config("imagenet", 18, **kw), 5, (16, 16, 3), rngs=nnx.Rngs(0))
    assert all(m.window == 4 for _, m in nnx.iter_graph(windowed) if hasattr(m, "window"))
    x = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3), maxval=3.0)
    out = np.asarray(nnx.capture(windowed)(x))
    np.testing.assert_array_equal(
        out[4:], np.broadcast_to(np.asarray(windowed.head.bias[...]), out[4:].shape)
    )
    if not gac:
        windowed.eval(), full.eval()
        ref = np.asarray(nnx.capture(full)(x))
        np.testing.assert_array_equal(np.asarray(nnx.capture(windowed)(x))[:4], ref[:4])
        assert np.any(ref[4:] != out[4:])
    with pytest.raises(ConfigError, match="time_window=7"):
        models.create(model_config("imagenet", 18, time_window=7, **kw), 5, (16, 16, 3), rngs=nnx.Rngs(0))


@pytest.mark.slow
def test_block_remat_levels_compute_the_same_values_gradients_and_statistics():
    """'elementwise' and 'full' rematerialisation change what the backward pass stores, not what it
    computes: loss, every gradient, the BN running statistics and the sown firing rates equal plain
    autodiff's ('none'); and they store less for the backward pass."""
    x = 2.0 * jax.random.normal(jax.random.key(5), (4, 8, 8, 3))
    results = {}
    for level in ("none", "elementwise", "full"):
        model = _tiny("cifar", block_remat=level)
        model.train()

        def loss(m):
            out, sown = nnx.capture(m, nnx.Intermediate)(x)
            rates = jax.tree.leaves(sown)
            return jnp.mean(out**2) + 0.0 * sum(rates), jnp.stack(rates)

        (value, rates), grads = nnx.value_and_grad(loss, has_aux=True)(model)
        stats = nnx.state(model, nnx.BatchStat)
        results[level] = (value, rates, grads, stats)
        assert model.blocks[0].remat_level == level
    ref = results["none"]
    for level in ("elementwise", "full"):
        value, rates, grads, stats = results[level]
        np.testing.assert_allclose(value, ref[0], rtol=1e-6)
        np.testing.assert_array_equal(rates, ref[1])
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), grads, ref[2])
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), stats, ref[3])
    assert any(float(jnp.abs(g).sum()) > 0 for g in jax.tree.leaves(ref[2]))


def test_unknown_block_remat_level_is_refused():
    with pytest.raises(ValueError, match="remat level"):
        _tiny("cifar", block_remat="some")
