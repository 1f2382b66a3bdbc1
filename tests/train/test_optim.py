"""Learning-rate schedules and optimizers from ``config.optim`` (snnjax.train.optim)."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from snnjax.errors import ConfigError
from snnjax.registry import OPTIMIZERS, SCHEDULES
from snnjax.train.optim import make_optimizer, make_schedule, optim_config


def _lrs(schedule, steps):
    return np.asarray([float(schedule(s)) for s in steps])


def test_registered_names():
    assert OPTIMIZERS.names() == ["adam", "adamw", "radam", "sgd"]
    assert SCHEDULES.names() == ["constant", "cosine", "cyclic", "step"]


def test_constant_with_warmup_and_lr_scale():
    cfg = optim_config(learning_rate=0.4, lr_scale=4.0, warmup_steps=4, warmup_init=0.5)
    np.testing.assert_allclose(_lrs(make_schedule(cfg, 100, 10), [0, 2, 4, 50]), [0.05, 0.075, 0.1, 0.1])


def test_cosine_ends_at_min_lr_after_warmup():
    cfg = optim_config(learning_rate=1.0, schedule="cosine", min_lr=0.1, warmup_steps=10)
    lrs = _lrs(make_schedule(cfg, 110, 10), [10, 60, 110])
    np.testing.assert_allclose(lrs, [1.0, 0.55, 0.1], rtol=1e-6)


def test_step_schedule_decays_at_epochs():
    cfg = optim_config(learning_rate=1.0, schedule="step", decay_epochs=(2, 4), decay_factor=0.1)
    lrs = _lrs(make_schedule(cfg, 100, 10), [19, 20, 39, 40])
    np.testing.assert_allclose(lrs, [1.0, 0.1, 0.1, 0.01], rtol=1e-6)


def test_cyclic_schedule_is_pytorchs_triangle_stepped_per_epoch():
    # CyclicLR(base_lr=0.5, max_lr=1.0, step_size_up=2), stepped once per epoch of 3 steps: per epoch
    # 0.5, 0.75, 1.0, 0.75, 0.5, 0.75, ... (hand computed)
    cfg = optim_config(learning_rate=1.0, schedule="cyclic", cyclic_base_lr=0.5, cyclic_step_size=2)
    lrs = _lrs(make_schedule(cfg, 100, 3), range(18))
    np.testing.assert_allclose(lrs, np.repeat([0.5, 0.75, 1.0, 0.75, 0.5, 0.75], 3), rtol=1e-6)


def test_cyclic_schedule_per_step_may_point_down_and_follows_lr_scale():
    # the NSNN CIFAR-10 case: max_lr (3e-3) below base_lr (5e-3); per step, lr_scale divides both
    cfg = optim_config(
        learning_rate=0.03, lr_scale=10.0, schedule="cyclic", cyclic_base_lr=0.05, cyclic_step_size=4,
        cyclic_per_epoch=False,
    )  # fmt: skip
    lrs = _lrs(make_schedule(cfg, 100, 3), [0, 1, 4, 6, 8, 12])
    np.testing.assert_allclose(lrs, [5e-3, 4.5e-3, 3e-3, 4e-3, 5e-3, 3e-3], rtol=1e-5)


def test_cyclic_step_size_must_be_positive():
    with pytest.raises(ConfigError, match="cyclic_step_size must be > 0"):
        make_schedule(optim_config(schedule="cyclic", cyclic_step_size=0), 10, 5)


def _torch_radam(params, grads, lr, b1, b2, wd, eps=1e-8):
    """PyTorch's RAdam (its documented algorithm, coupled weight decay), written out in NumPy."""
    p, m, v, out = params.copy(), np.zeros_like(params), np.zeros_like(params), []
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    for t, g in enumerate(grads, start=1):
        g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho > 5:
            adaptive = np.sqrt(1 - b2**t) / (np.sqrt(v) + eps)
            rect = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            p = p - lr * m_hat * adaptive * rect
        else:
            p = p - lr * m_hat
        out.append(p)
    return np.stack(out)


def test_radam_follows_pytorchs_algorithm_through_the_rectification_switch():
    # rho_t exceeds 5 from step 6 on (b2 = 0.999): the first steps are plain momentum, later ones adaptive
    cfg = optim_config(name="radam", learning_rate=0.01, weight_decay=0.1)
    tx, _ = make_optimizer(cfg, 20, 5)
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(10, 4)).astype(np.float32)
    params = {"w": jnp.asarray(rng.normal(size=4), jnp.float32)}
    start = np.asarray(params["w"], np.float64)
    expected = _torch_radam(start, grads.astype(np.float64), 0.01, 0.9, 0.999, 0.1)
    state = tx.init(params)
    for t in range(10):
        updates, state = tx.update({"w": jnp.asarray(grads[t])}, state, params)
        params = optax.apply_updates(params, updates)
        np.testing.assert_allclose(params["w"], expected[t], rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "radam"])
def test_optimizers_take_a_step_against_the_gradient(name):
    cfg = optim_config(name=name, learning_rate=0.1, weight_decay=0.01, grad_clip=1.0)
    tx, _ = make_optimizer(cfg, 10, 5)
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.asarray([1.0, -1.0, 0.0])}
    updates, _ = tx.update(grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)["w"]
    assert float(new[0]) < 1.0 < float(new[1])


def test_sgd_coupled_weight_decay_is_added_to_the_gradient():
    cfg = optim_config(name="sgd", learning_rate=0.5, momentum=0.0, weight_decay=0.1)
    tx, _ = make_optimizer(cfg, 10, 5)
    params = {"w": jnp.full(2, 2.0)}
    updates, _ = tx.update({"w": jnp.zeros(2)}, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], [-0.1, -0.1], rtol=1e-6)  # -lr * wd * w


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [("name", "rmsprop", "unknown optimizer 'rmsprop'"), ("schedule", "linear", "unknown schedule 'linear'")],
)
def test_unknown_names_are_config_errors(key, value, message):
    with pytest.raises(ConfigError, match=message):
        make_optimizer(optim_config(**{key: value}), 10, 5)
