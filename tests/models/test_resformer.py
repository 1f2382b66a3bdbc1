"""SpikingResformer: DSSA against a hand computation, running-rate scales, quantised neurons, counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import models
from snnjax.errors import ConfigError
from snnjax.models import resformer as R
from snnjax.train.steps import call_recorded


def reference_parameter_count(
    planes, heads, patches, depths, stem, group_size, in_channels, num_classes, ratio=4, plif=False
) -> int:
    """Trainable parameters of the PyTorch reference, counted from its layer list (BN scale and bias
    included; one PLIF ``w`` per neuron layer when ``plif``)."""
    total = (49 if stem == "imagenet" else 9) * in_channels * planes[0] + 2 * planes[0]
    neurons = 0
    for i, (c, p, depth) in enumerate(zip(planes, patches, depths, strict=True)):
        if i:
            total += 9 * planes[i - 1] * c + 2 * c
            neurons += 1
        inner = ratio * c
        dssa = p * p * c * 2 * c + 4 * c + c * c + 2 * c
        ffn = c * inner + 2 * inner + 9 * inner * group_size + 2 * inner + inner * c + 2 * c
        total += depth * (dssa + ffn)
        neurons += depth * (3 + 3)
    total += planes[-1] * num_classes
    return total + (neurons if plif else 0)


def _lif_t1(x):
    """spikingjelly LIF (tau 2, v_th 1, >=) for a single step from rest: H(x / 2 - 1)."""
    return (x / 2.0 >= 1.0).astype(np.float32)


@pytest.mark.parametrize("patch,h,w", [(1, 2, 3), (2, 2, 4)])  # patch 2: N' = 2 keys, HW = 8 queries
def test_dssa_matches_hand_computation(patch, h, w):
    dim, heads = 4, 2
    block = R.DSSA(dim, heads, patch, R.spikingjelly_neuron(), rngs=nnx.Rngs(0))
    block.eval()  # BN uses running stats (mean 0, var 1): y = conv / sqrt(1 + eps)
    r_x, r_a = np.array([0.3, 0.6], np.float32), np.array([0.2, 0.5], np.float32)
    block.rate_x[...] = jnp.asarray(r_x)
    block.rate_attn[...] = jnp.asarray(r_a)
    # weights large enough that the attention neurons both fire and stay silent
    block.qk.conv.kernel[...] = 2.0 * jax.random.normal(jax.random.key(7), block.qk.conv.kernel.shape)
    block.proj.conv.kernel[...] = jax.random.normal(jax.random.key(8), block.proj.conv.kernel.shape)
    x = 3.0 * jax.random.normal(jax.random.key(1), (1, 1, h, w, dim), jnp.float32)
    got = np.asarray(nnx.capture(block)(x))[0, 0]

    xs = np.asarray(x)[0, 0]
    bn = 1.0 / np.sqrt(1.0 + 1e-5)
    wq = np.asarray(block.qk.conv.kernel[...])  # [p, p, C, 2C]
    wp = np.asarray(block.proj.conv.kernel[...])[0, 0]  # [C, C]
    s_img = _lif_t1(xs)  # [H, W, C]
    s = s_img.reshape(h * w, dim)  # pixels x channels
    # patch projection: a p x p, stride-p conv, tokens in row-major patch order
    y = (
        np.stack(
            [
                sum(s_img[i + a, j + b] @ wq[a, b] for a in range(patch) for b in range(patch))
                for i in range(0, h, patch)
                for j in range(0, w, patch)
            ]
        )
        * bn
    )  # [N', 2C]
    d, n, hw = dim // heads, len(y), h * w
    out = np.zeros((hw, dim), np.float32)
    for k in range(heads):
        y1 = y[:, 2 * d * k : 2 * d * k + d]  # [N', d]
        y2 = y[:, 2 * d * k + d : 2 * d * (k + 1)]
        sk = s[:, d * k : d * (k + 1)]  # [HW, d]
        attn = np.zeros((n, hw), np.float32)
        for i in range(n):  # A[i, j] = LIF(sum_c y1[i, c] s[j, c] / sqrt(r_x d))
            for j in range(hw):
                attn[i, j] = _lif_t1(np.dot(y1[i], sk[j]) / np.sqrt(r_x[k] * d))
        for j in range(hw):  # O[j, c] = LIF(sum_i y2[i, c] A[i, j] / sqrt(r_A N'))
            for c in range(d):
                out[j, d * k + c] = _lif_t1(np.dot(y2[:, c], attn[:, j]) / np.sqrt(r_a[k] * n))
    expected = (out @ wp * bn + xs.reshape(hw, dim)).reshape(h, w, dim)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert 0 < out.mean() < 1 and 0 < s.mean() < 1  # both spike values occur


def test_running_rates_update_only_in_training():
    block = R.DSSA(4, 2, 1, R.spikingjelly_neuron(), rngs=nnx.Rngs(0))
    x1 = 3.0 * jax.random.normal(jax.random.key(1), (2, 3, 4, 4, 4))
    x2 = 3.0 * jax.random.normal(jax.random.key(2), (2, 3, 4, 4, 4)) + 1.0
    block.train()
    nnx.capture(block)(x1)
    s1 = np.asarray(nnx.capture(block.act_in)(x1)).reshape(2, 3, 16, 2, 2)
    cur1 = s1.mean(axis=(0, 1, 2, 4))
    np.testing.assert_allclose(block.rate_x[...], cur1, rtol=1e-6)  # first batch sets the rate
    assert np.all(np.asarray(block.rate_attn[...]) > 0)
    nnx.capture(block)(x2)
    cur2 = np.asarray(nnx.capture(block.act_in)(x2)).reshape(2, 3, 16, 2, 2).mean(axis=(0, 1, 2, 4))
    np.testing.assert_allclose(block.rate_x[...], 0.999 * cur1 + 0.001 * cur2, rtol=1e-6)
    before = (np.asarray(block.rate_x[...]), np.asarray(block.rate_attn[...]))
    block.eval()
    nnx.capture(block)(x1 + 2.0)
    np.testing.assert_array_equal(block.rate_x[...], before[0])
    np.testing.assert_array_equal(block.rate_attn[...], before[1])


def _tiny(neuron=None, **kw):
    cfg = R.model_config("custom", num_steps=2, planes=(8, 16), num_heads=(1, 2), patch_sizes=(2, 1),
                         depths=(1, 1), stem="cifar", group_size=8, **kw)  # fmt: skip
    if neuron:
        cfg.neuron.update(neuron)
    return cfg


@pytest.mark.parametrize("variant", ["shared", "dual"])
def test_quantised_neuron_levels_inside_the_model(variant):
    cfg = R.model_config("custom", planes=(8,), num_heads=(1,), patch_sizes=(1,), depths=(1,), group_size=8)
    cfg.neuron = R.spikingmix_neuron(variant)  # what the Spiking-Mix configs use
    model = models.create(cfg, 10, (4, 4, 1), rngs=nnx.Rngs(0))  # one stage: the drop-in is what matters
    layer = model.blocks[0].act_in
    levels = np.asarray(layer.neuron.levels)
    x = jax.random.normal(jax.random.key(0), (1, 4096), jnp.float32) * 2.0
    out = np.asarray(nnx.capture(layer)(x))[0]
    h = np.asarray(x)[0] / 2.0  # one step from rest, tau 2
    if variant == "shared":
        np.testing.assert_allclose(levels, [0, 0.25, 0.5, 0.75])
        sig = lambda z: 1 / (1 + np.exp(-np.maximum(z, 0)))
        formula = sum(
            r * (h > th) * (sig(h - th) > th) for th, r in zip((0.25, 0.5), (0.25, 0.5), strict=True)
        )
    else:
        np.testing.assert_allclose(levels, [0, 0.25, 0.75])  # {0, 1/tau1, 1/tau1 + 1/tau0}
        formula = 0.25 * (h > 0.25) + 0.5 * (h > 0.5)
    np.testing.assert_allclose(out, formula, atol=1e-6)
    seen = set(np.round(np.unique(out), 6).tolist())
    assert seen <= set(np.round(levels, 6).tolist()) and len(seen) == 3  # multi-level, not binary
    # (variant A from rest: both sub-neurons see the same input, so r_2 alone (0.5) cannot occur)


def test_spikingmix_dual_neuron_detaches_its_reset_by_default_and_the_config_key_switches_it():
    from snnjax.config import load_config
    from snnjax.models.common import make_neuron

    for spec in ("spikingmix_cifar:dual", "spikingmix_fmnist_small:dual,mix"):
        assert make_neuron(load_config(spec).model.neuron).detach_reset is True  # the seed's module
    config = load_config("spikingmix_cifar:dual", ["model.neuron.dual_threshold.detach_reset=False"])
    assert make_neuron(config.model.neuron).detach_reset is False


def test_unknown_spikingmix_neuron_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown Spiking-Mix neuron 'triple'"):
        R.spikingmix_neuron("triple")


SHARED = dict(
    type="shared_threshold", shared_threshold=dict(tau=2.0, thresholds=(0.25, 0.5), amplitudes=(0.25, 0.5))
)


@pytest.mark.slow
def test_forward_images_and_event_frames_quantised_and_plif():
    model = models.create(_tiny(SHARED), 10, (8, 8, 2), rngs=nnx.Rngs(0))
    model.train()
    forward = nnx.jit(lambda m, x: nnx.capture(m)(x))  # one compilation per input shape
    logits = forward(model, jax.random.normal(jax.random.key(1), (3, 8, 8, 2)))
    assert logits.shape == (2, 3, 10) and bool(jnp.all(jnp.isfinite(logits)))
    # the whole model runs on graded outputs: the running input rate is a mean of levels in (0, 0.75]
    assert 0 < float(model.blocks[0].rate_x[...][0]) <= 0.75
    events = models.create(_tiny(SHARED, encoding="events"), 10, (8, 8, 2), rngs=nnx.Rngs(0))
    assert forward(events, jnp.ones((3, 2, 8, 8, 2))).shape == (2, 3, 10)  # event frames [B, T, H, W, C]
    plif = nnx.eval_shape(
        lambda: models.create(_tiny({"learnable_decay": True}), 10, (8, 8, 2), rngs=nnx.Rngs(0))
    )
    assert models.num_params(plif) == models.num_params(model) + 1 + 6 * 2  # a learnable tau per neuron layer


# all trainable parameters (BN scale and bias included) of the PyTorch reference
REFERENCE = {
    "ti": (11_180_992, 1000, (224, 224, 3)),
    "s": (17_813_824, 1000, (224, 224, 3)),
    "m": (35_601_472, 1000, (224, 224, 3)),
    "l": (60_375_680, 1000, (224, 224, 3)),
    "cifar": (10_793_152, 10, (32, 32, 3)),
    "dvsg": (2_709_830, 11, (64, 64, 3)),
}
PAPER_M = {"ti": (11.14, False), "s": (17.76, False), "m": (35.52, False), "l": (60.38, True)}


@pytest.mark.parametrize("variant", sorted(REFERENCE))
def test_parameter_counts_match_reference(variant):
    total, classes, shape = REFERENCE[variant]
    model = nnx.eval_shape(lambda: models.create(R.model_config(variant), classes, shape, rngs=nnx.Rngs(0)))
    assert models.num_params(model) == total
    planes, heads, patches, depths, stem, group, _ = R.resolve(R.model_config(variant))
    assert (
        reference_parameter_count(
            planes, heads, patches, depths, stem, group, 3, classes, plif=variant == "dvsg"
        )
        == total
    )
    if variant in PAPER_M:  # the paper counts BN for L only
        paper, with_bn = PAPER_M[variant]
        bn = sum(v.size for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param)) if "bn" in map(str, p))
        assert round((total if with_bn else total - bn) / 1e6, 2) == paper


def test_sum_channel_feeds_the_stem_the_channel_sum():
    """With ``sum_channel`` the stem sees ``[OFF, ON, OFF + ON]``: the same function as a 2-channel model
    whose stem kernel is ``W[:, :, :2] + W[:, :, 2:]`` (everything else shared)."""
    x = jax.random.uniform(jax.random.key(1), (2, 3, 8, 8, 2)) * 3  # [T, B, H, W, 2] event counts
    summed = models.create(_tiny(sum_channel=True, encoding="events"), 10, (8, 8, 2), rngs=nnx.Rngs(0))
    plain = models.create(_tiny(encoding="events"), 10, (8, 8, 2), rngs=nnx.Rngs(0))
    kernel = summed.stem.conv.kernel[...]
    assert kernel.shape[2] == 3 and plain.stem.conv.kernel.shape[2] == 2
    _, rest = nnx.split(summed)
    nnx.update(plain, nnx.filter_state(rest, lambda path, _: "stem" not in map(str, path)))
    plain.stem.conv.kernel[...] = kernel[:, :, :2] + kernel[:, :, 2:]
    plain.stem.bn.scale[...] = summed.stem.bn.scale[...]
    host = x.swapaxes(0, 1)  # event batches arrive batch-major
    out, _ = call_recorded(summed, host)  # training mode: BN of identical stem outputs, identical rates
    np.testing.assert_allclose(out, call_recorded(plain, host)[0], rtol=1e-5, atol=1e-5)
    expected = jnp.concatenate([x, x.sum(-1, keepdims=True)], -1)
    y = jax.lax.conv_general_dilated(
        expected[0], kernel, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(summed.stem.conv(expected[0]), y, rtol=1e-5, atol=1e-5)
