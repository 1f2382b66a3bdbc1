"""Losses on time-major outputs [T, B, C] against manual computations and hand numbers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import losses
from snnjax.errors import ConfigError
from snnjax.registry import LOSSES


def _ce(logits, targets):
    """Manual float64 cross-entropy, mean over the batch: -sum_c q_c log softmax(z)_c."""
    z = np.asarray(logits, np.float64)
    logp = z - z.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    return float(-(np.asarray(targets, np.float64) * logp).sum(-1).mean())


T, B, C = 4, 3, 5
OUT = jax.random.normal(jax.random.key(0), (T, B, C)) * 2.0
LABELS = jnp.asarray([0, 3, 4])
ONEHOT = np.eye(C)[np.asarray(LABELS)]


def test_mean_time_ce_is_ce_of_mean_logits():
    got = float(losses.mean_time_ce(OUT, LABELS))
    assert got == pytest.approx(_ce(np.asarray(OUT).mean(0), ONEHOT), rel=1e-5)
    # and not the per-step mean
    assert abs(got - np.mean([_ce(np.asarray(OUT)[t], ONEHOT) for t in range(T)])) > 1e-3


def test_cross_entropy_hand_number():
    # logits [0, ln 3] (softmax [1/4, 3/4]), class 1: CE = -ln(3/4) = 0.28768...
    z = jnp.asarray([[0.0, math.log(3.0)]])
    assert float(losses.cross_entropy(z, jnp.asarray([1]))) == pytest.approx(-math.log(0.75), rel=1e-6)
    # label smoothing .2 over C=2: targets [.1, .9]: CE = -(.1 ln .25 + .9 ln .75)
    assert float(losses.cross_entropy(z, jnp.asarray([1]), 0.2)) == pytest.approx(
        -(0.1 * math.log(0.25) + 0.9 * math.log(0.75)), rel=1e-6
    )


def test_label_smoothing_formula():
    t = np.asarray(losses.soft_targets(LABELS, C, 0.1))
    np.testing.assert_allclose(t, 0.9 * ONEHOT + 0.1 / C, rtol=1e-6)
    np.testing.assert_allclose(t.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(losses.soft_targets(LABELS, C)), ONEHOT)
    got = float(losses.mean_time_ce(OUT, LABELS, label_smoothing=0.1))
    assert got == pytest.approx(_ce(np.asarray(OUT).mean(0), 0.9 * ONEHOT + 0.02), rel=1e-5)


def test_soft_labels():
    q = jax.nn.softmax(jax.random.normal(jax.random.key(1), (B, C)))  # e.g. Mixup targets
    np.testing.assert_array_equal(np.asarray(losses.soft_targets(q, C)), np.asarray(q))
    got = float(losses.mean_time_ce(OUT, q))
    assert got == pytest.approx(_ce(np.asarray(OUT).mean(0), np.asarray(q)), rel=1e-5)
    mix = 0.7 * ONEHOT + 0.3 * np.eye(C)[[1, 1, 2]]
    assert float(losses.mean_time_ce(OUT, jnp.asarray(mix))) == pytest.approx(
        0.7 * float(losses.mean_time_ce(OUT, LABELS))
        + 0.3 * float(losses.mean_time_ce(OUT, jnp.asarray([1, 1, 2]))),
        rel=1e-5,
    )
    # smoothing applies to soft targets too
    sm = np.asarray(losses.soft_targets(jnp.asarray(mix), C, 0.1))
    np.testing.assert_allclose(sm, 0.9 * mix + 0.02, rtol=1e-6)


def test_tet_loss():
    per_step = np.mean([_ce(np.asarray(OUT)[t], ONEHOT) for t in range(T)])
    assert float(losses.tet_loss(OUT, LABELS)) == pytest.approx(per_step, rel=1e-5)
    assert float(losses.tet_loss(OUT, LABELS, lam=0.0)) == pytest.approx(per_step, rel=1e-5)
    mse = np.mean((np.asarray(OUT, np.float64) - 1.0) ** 2)
    assert float(losses.tet_loss(OUT, LABELS, lam=0.05)) == pytest.approx(per_step + 0.05 * mse, rel=1e-5)
    mse2 = np.mean((np.asarray(OUT, np.float64) - 0.5) ** 2)
    got = float(losses.tet_loss(OUT, LABELS, lam=0.3, phi=0.5))
    assert got == pytest.approx(per_step + 0.3 * mse2, rel=1e-5)
    sm = np.mean([_ce(np.asarray(OUT)[t], 0.9 * ONEHOT + 0.02) for t in range(T)])
    assert float(losses.tet_loss(OUT, LABELS, label_smoothing=0.1)) == pytest.approx(sm, rel=1e-5)


def test_spike_count_mse_hand_numbers():
    # T = 10: targets int(.8*10) = 8 for the true class, int(.2*10) = 2 otherwise.
    # one sample, C = 3, label 1, counts [3, 5, 0]:
    #   errors (3-2, 5-8, 0-2) = (1, -3, -2) -> MSE = (1 + 9 + 4)/3 = 14/3 ; / T -> 14/30
    counts = [3, 5, 0]
    spikes = np.zeros((10, 1, 3), np.float32)
    for c, n in enumerate(counts):
        spikes[:n, 0, c] = 1
    got = float(losses.spike_count_mse(jnp.asarray(spikes), jnp.asarray([1])))
    assert got == pytest.approx(14 / 30, rel=1e-6)
    # two samples (second label 0, counts [8, 2, 2] = its targets exactly): (14 + 0)/6/10
    spikes2 = np.zeros((10, 2, 3), np.float32)
    spikes2[:, 0] = spikes[:, 0]
    spikes2[:8, 1, 0] = 1
    spikes2[:2, 1, 1:] = 1
    got = float(losses.spike_count_mse(jnp.asarray(spikes2), jnp.asarray([1, 0])))
    assert got == pytest.approx(14 / 60, rel=1e-6)
    # T = 7 with rates .8 / .2: targets int(5.6) = 5 and int(1.4) = 1; counts [0, 0] label 0:
    #   (25 + 1)/2 / 7
    got = float(losses.spike_count_mse(jnp.zeros((7, 1, 2)), jnp.asarray([0])))
    assert got == pytest.approx(13 / 7, rel=1e-6)


def test_spike_count_mse_gradient_reaches_spikes():
    s = jnp.zeros((10, 1, 3))
    g = jax.grad(lambda s: losses.spike_count_mse(s, jnp.asarray([1])))(s)
    # d/dc_k [mean (c - target)^2 / T] = 2 (c_k - target_k) / (C T) = 2 * (-2, -8, -2) / 30
    np.testing.assert_allclose(np.asarray(g[0, 0]), np.asarray([-4, -16, -4]) / 30, rtol=1e-6)


def test_accuracy():
    out = jnp.zeros((2, 3, 4)).at[:, 0, 2].set(1.0).at[:, 1, 1].set(1.0).at[0, 2, 3].set(1.0)
    assert float(losses.accuracy(out, jnp.asarray([2, 1, 0]))) == pytest.approx(2 / 3)
    soft = jax.nn.one_hot(jnp.asarray([2, 1, 3]), 4)
    assert float(losses.accuracy(out, soft)) == pytest.approx(1.0)


def test_bfloat16_logits_computed_in_float32():
    got = float(losses.mean_time_ce(OUT.astype(jnp.bfloat16), LABELS))
    ref = _ce(np.asarray(OUT.astype(jnp.bfloat16).astype(jnp.float32)).mean(0), ONEHOT)
    assert got == pytest.approx(ref, rel=2e-2)
    assert LOSSES.names() == ["count_mse", "mean_ce", "tet"]


def test_loss_config_holds_every_registered_loss_key_with_its_default():
    cfg = losses.loss_config()
    assert dict(cfg) == dict(
        name="mean_ce", label_smoothing=0.0, tet_lambda=0.0, tet_phi=1.0, correct_rate=0.8, incorrect_rate=0.2
    )


@pytest.mark.parametrize("name", ["mean_ce", "tet", "count_mse"])
def test_make_loss_passes_the_config_keys(name):
    own = {
        "mean_ce": dict(label_smoothing=0.1),
        "tet": dict(label_smoothing=0.1, tet_lambda=0.5, tet_phi=0.8),
        "count_mse": dict(correct_rate=1.0),
    }[name]
    cfg = losses.loss_config(name=name, **own)
    expected = {
        "mean_ce": lambda: losses.mean_time_ce(OUT, LABELS, 0.1),
        "tet": lambda: losses.tet_loss(OUT, LABELS, 0.5, 0.8, 0.1),
        "count_mse": lambda: losses.spike_count_mse(OUT, LABELS, 1.0, 0.2),
    }[name]()
    assert float(losses.make_loss(cfg)(OUT, LABELS)) == pytest.approx(float(expected))


def test_unknown_loss_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown loss 'mse'; choose one of"):
        losses.make_loss(losses.loss_config(name="mse"))


def test_a_key_of_another_loss_is_an_error():
    with pytest.raises(ConfigError, match=r"config.loss.tet_lambda is not used by loss 'mean_ce'"):
        losses.make_loss(losses.loss_config(name="mean_ce", tet_lambda=0.5))
