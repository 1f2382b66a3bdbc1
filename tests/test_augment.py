"""Mix regularisers: label mass, box-area/label consistency, Spiking-Mix centre distribution, coins."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import augment
from snnjax.config import mix_config
from snnjax.errors import ConfigError

K = 5


def _batch(b=6, h=12, w=10, t=None):
    """Image i is the constant i + 1, so every pixel tells which example it came from."""
    vals = jnp.arange(1, b + 1, dtype=jnp.float32)[:, None, None, None]
    img = jnp.broadcast_to(vals, (b, h, w, 2))
    if t is not None:  # event frames [B, T, H, W, C]
        img = jnp.broadcast_to(img[:, None], (b, t, h, w, 2))
    return {"image": img, "label": jnp.arange(b, dtype=jnp.int32) % K}


@functools.cache
def _mix(name, **kw):
    return jax.jit(augment.make_mix(mix_config(name=name, **kw), K, steps_per_epoch=10))


def _run(name, batch, seed=0, step=0, **kw):
    return _mix(name, **kw)(batch, jax.random.key(seed), jnp.asarray(step, jnp.int32))


@pytest.mark.parametrize("name", ["mixup", "cutmix", "mixup_cutmix", "spikingmix"])
@pytest.mark.parametrize("t", [None, 3])
def test_label_mass_preserved(name, t):
    for seed in range(4):
        out = _run(name, _batch(t=t), seed=seed, label_smoothing=0.1, prob=0.7)
        assert out["label"].shape == (6, K)
        np.testing.assert_allclose(out["label"].sum(-1), 1.0, atol=1e-6)
        assert out["image"].shape == _batch(t=t)["image"].shape


@pytest.mark.parametrize("name", ["cutmix", "spikingmix"])
@pytest.mark.parametrize("t", [None, 3])
def test_box_area_matches_label_weight(name, t):
    b = 6
    for seed in range(8):
        batch = _batch(b=b, t=t)
        out = _run(name, batch, seed=seed)
        img = out["image"]
        frames = img if t is not None else img[:, None]  # [B, T, H, W, C]
        # same box in every time step
        np.testing.assert_array_equal(frames, jnp.broadcast_to(frames[:, :1], frames.shape))
        for i in range(b):
            own, partner = i + 1, b - i
            pix = np.asarray(frames[i, 0, :, :, 0])
            assert set(np.unique(pix)) <= {own, partner}
            if own == partner:
                continue
            pasted = np.mean(pix == partner)
            y = np.asarray(out["label"][i])
            # labels i % K and (b-1-i) % K differ for b=6, K=5 except where they collide
            if i % K != (b - 1 - i) % K:
                np.testing.assert_allclose(y[(b - 1 - i) % K], pasted, atol=1e-6)
                np.testing.assert_allclose(y[i % K], 1.0 - pasted, atol=1e-6)


def test_mixup_images_and_labels_use_same_lambda():
    batch = _batch()
    out = _run("mixup", batch, seed=3)
    lam = out["label"][1, 1]  # example 1: class 1, partner example 4: class 4
    np.testing.assert_allclose(out["image"][1], lam * 2.0 + (1 - lam) * 5.0, rtol=1e-5)
    np.testing.assert_allclose(out["label"][1, 4], 1 - lam, atol=1e-6)


def test_cutmix_box_follows_timm_rand_bbox():
    h = w = 32
    for seed in range(20):
        lam = jnp.float32(0.6)
        box = augment.cutmix_box(jax.random.key(seed), lam, h, w)
        half = int(h * np.sqrt(0.4)) // 2
        cy = (int(box.y0) + int(box.y1)) // 2
        assert int(box.y1) - int(box.y0) <= 2 * half and int(box.x1) - int(box.x0) <= 2 * half
        if int(box.y0) > 0 and int(box.y1) < h:  # unclipped: exactly 2 * (cut // 2)
            assert int(box.y1) - int(box.y0) == 2 * half and 0 <= cy < h
        assert int(box.dy) == 0 and int(box.dx) == 0


def test_spikingmix_centre_distribution():
    p = augment.CentreParams(theta=1.0, delta=0.1, eps=0.01)
    lam = jnp.float32(0.7)
    keys = jax.random.split(jax.random.key(0), 20000)
    c1, c2 = jax.vmap(lambda k: augment.spikingmix_centres(k, lam, p))(keys)
    g = float(augment.gamma(lam, p))
    expected_g = 0.01 + (1 - 0.49 + 0.1) / (0.01 + 0.09 + np.exp(-0.1))
    np.testing.assert_allclose(g, expected_g, rtol=1e-6)
    c2 = np.asarray(c2)
    lo, hi = max(-0.5, p.delta - g / 2), min(0.5, p.delta + g / 2)
    assert c2.min() >= lo - 1e-6 and c2.max() <= hi + 1e-6
    assert abs(c2.mean() - (lo + hi) / 2) < 0.01  # uniform on [lo, hi]
    np.testing.assert_allclose(c2.std(), (hi - lo) / np.sqrt(12), rtol=0.03)
    np.testing.assert_allclose(np.asarray(c1).std(), 1 / np.sqrt(12), rtol=0.03)
    # the centre distance of the note against an independent numpy Monte Carlo of the same law
    d = np.asarray(augment.centre_distance(c1, c2, 32, 24))
    rng = np.random.default_rng(0)
    a = rng.uniform(-0.5, 0.5, (200000, 2))
    bb = np.clip(g * rng.uniform(-0.5, 0.5, (200000, 2)) + p.delta, -0.5, 0.5)
    ref = np.sqrt((((bb - a) * [32, 24]) ** 2).sum(-1) / (32**2 + 24**2))
    np.testing.assert_allclose(np.mean(d), np.mean(ref), rtol=0.02)
    np.testing.assert_allclose(np.quantile(d, [0.1, 0.5, 0.9]), np.quantile(ref, [0.1, 0.5, 0.9]), atol=0.01)
    # smaller boxes (lam -> 1) draw their content closer to the image centre
    assert float(augment.gamma(jnp.float32(0.95), p)) < g < float(augment.gamma(jnp.float32(0.2), p))


def test_coin_prob_zero_leaves_batch_and_one_hot_labels():
    batch = _batch()
    out = _run("mixup_cutmix", batch, prob=0.0, label_smoothing=0.1)
    np.testing.assert_array_equal(out["image"], batch["image"])
    expected = 0.9 * jax.nn.one_hot(batch["label"], K) + 0.1 / K
    np.testing.assert_allclose(out["label"], expected, atol=1e-6)


def test_per_epoch_coin_is_constant_within_an_epoch():
    batch = _batch()
    decisions = {}
    for step in range(0, 200, 7):
        out = _run("cutmix", batch, seed=step, step=step, prob=0.5, per_epoch_coin=True)
        mixed = bool(jnp.any(out["image"] != batch["image"]))
        decisions.setdefault(step // 10, set()).add(mixed)
    # cutmix with lam ~ Beta(1,1) may paste an empty box, so "mixed" can be False inside a mixed epoch,
    # but an unmixed epoch never mixes and over 20 epochs both kinds occur
    assert any(d == {False} for d in decisions.values())
    assert any(True in d for d in decisions.values())
    # direct check of the coin: identical keys per epoch
    fn = _mix("mixup", prob=0.5, per_epoch_coin=True)
    for epoch in range(6):
        outs = [fn(batch, jax.random.key(s), jnp.int32(epoch * 10 + s))["image"] for s in range(3)]
        changed = [bool(jnp.any(o != batch["image"])) for o in outs]
        assert len(set(changed)) == 1


def test_unknown_mix_is_a_config_error():
    with pytest.raises(ConfigError):
        augment.make_mix(mix_config(name="cutmixx"), K, 1)
    with pytest.raises(ConfigError):
        augment.make_mix(mix_config(name="cutmix", cutmix_alpha=0.0), K, 1)
