"""Learning-rate schedules and optimizers from ``config.optim`` (snnjax.train.optim)."""

import re

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
    assert OPTIMIZERS.names() == ["adam", "adamw", "sgd"]
    assert SCHEDULES.names() == ["constant", "cosine", "step"]


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


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
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


def test_same_schedule_compares_the_rates_still_to_come():
    from snnjax.train.optim import same_schedule, schedule_record

    def record(total, **optim):
        return schedule_record(optim_config(**{"learning_rate": 0.1, **optim}), total, 10)

    cosine = dict(schedule="cosine", min_lr=1e-3)
    assert same_schedule(record(100, **cosine), record(100, **cosine), 40)
    assert not same_schedule(record(100, **cosine), record(200, **cosine), 40)  # re-stretched
    assert not same_schedule(record(100, **cosine), record(200, **cosine), 100)  # extended after the end
    assert same_schedule(record(100, schedule="constant"), record(300, schedule="constant"), 50)
    assert not same_schedule(record(100, **cosine), record(100, **cosine, learning_rate=0.2), 0)
    step = dict(schedule="step", decay_epochs=(5,))
    assert same_schedule(record(100, **step), record(200, **step), 20)  # the same boundary at step 50
    assert not same_schedule(record(100, **step), record(100, schedule="step", decay_epochs=(6,)), 20)
    assert same_schedule(
        record(100, **step), record(100, schedule="step", decay_epochs=(6,)), 60
    )  # past both
    warm = dict(schedule="constant", warmup_steps=20, warmup_init=0.1)
    assert not same_schedule(record(100, **warm), record(100, schedule="constant", warmup_steps=30), 0)
    assert same_schedule(record(100, **warm), record(100, schedule="constant", warmup_steps=10), 30)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            dict(name="adam", momentum=0.5),
            "config.optim.momentum is used by optimizer 'sgd', not by optimizer 'adam'",
        ),
        (dict(name="sgd", b2=0.99), "config.optim.b2 is used by optimizer 'adam'"),
        (
            dict(schedule="step", min_lr=0.1),
            "config.optim.min_lr is used by schedule 'cosine', not by schedule 'step'",
        ),
        (dict(schedule="cosine", decay_epochs=(3,)), "config.optim.decay_epochs is used by schedule 'step'"),
    ],
)
def test_a_key_of_another_optimizer_or_schedule_is_an_error(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_optimizer(optim_config(**overrides), 100, 10)


def test_keys_at_their_defaults_and_shared_keys_are_accepted():
    make_optimizer(optim_config(name="adamw", schedule="step", decay_epochs=(2,), weight_decay=0.1), 100, 10)
    make_optimizer(
        optim_config(name="sgd", momentum=0.0, nesterov=True, warmup_steps=5, grad_clip=1.0), 100, 10
    )
