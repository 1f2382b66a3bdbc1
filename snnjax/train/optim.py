"""Optimisers and learning-rate schedules from ``config.optim`` (``snnjax.registry.OPTIMIZERS``,
``SCHEDULES``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from snnjax.errors import ConfigError
from snnjax.registry import OPTIMIZERS, SCHEDULES


def optim_config(**overrides) -> ml_collections.ConfigDict:
    """The ``optim`` config section with its defaults."""
    cfg = ml_collections.ConfigDict(
        dict(
            name="adam",  # a name in snnjax.registry.OPTIMIZERS: sgd | adam | adamw | radam
            learning_rate=1e-3,
            momentum=0.9,  # sgd
            nesterov=False,
            b1=0.9,
            b2=0.999,
            weight_decay=0.0,  # coupled (added to the gradient) for sgd/adam/radam, decoupled for adamw
            decay_1d=True,  # False: no weight decay for parameters of < 2 dims (biases, BN, taus), as timm
            schedule="constant",  # a name in snnjax.registry.SCHEDULES: constant | cosine | step | cyclic
            warmup_steps=0,  # linear warm-up from warmup_init * lr
            warmup_init=0.0,
            min_lr=0.0,  # cosine floor
            decay_epochs=(),  # step schedule: multiply by decay_factor at these epochs
            decay_factor=0.1,
            cyclic_base_lr=5e-3,  # cyclic: the lr at the start of every cycle (NSNN's CyclicLR base_lr)
            cyclic_step_size=2000,  # cyclic: updates from base_lr to learning_rate (half a cycle)
            cyclic_per_epoch=True,  # cyclic: one update per epoch (as NSNN steps it), else per step
            lr_scale=1.0,  # divides the learning rate (SPIDE's loss scale factor)
            grad_clip=0.0,  # global-norm clipping, 0 = off
        )
    )
    cfg.update(overrides)
    return cfg


# Schedules: (config.optim, peak lr, total steps after warm-up, steps per epoch) -> optax schedule.
@SCHEDULES.register("constant")
def _constant(cfg: ml_collections.ConfigDict, lr: float, steps: int, steps_per_epoch: int) -> optax.Schedule:
    return optax.constant_schedule(lr)


@SCHEDULES.register("cosine")
def _cosine(cfg: ml_collections.ConfigDict, lr: float, steps: int, steps_per_epoch: int) -> optax.Schedule:
    return optax.cosine_decay_schedule(lr, max(steps, 1), alpha=cfg.min_lr / lr if lr else 0.0)


@SCHEDULES.register("step")
def _step(cfg: ml_collections.ConfigDict, lr: float, steps: int, steps_per_epoch: int) -> optax.Schedule:
    warmup = int(cfg.warmup_steps)
    boundaries = {int(e * steps_per_epoch) - warmup: cfg.decay_factor for e in cfg.decay_epochs}
    return optax.piecewise_constant_schedule(lr, {b: f for b, f in boundaries.items() if b > 0})


@SCHEDULES.register("cyclic")
def _cyclic(cfg: ml_collections.ConfigDict, lr: float, steps: int, steps_per_epoch: int) -> optax.Schedule:
    """PyTorch's ``CyclicLR(mode='triangular')``: from ``cyclic_base_lr`` linearly to ``lr`` in
    ``cyclic_step_size`` updates and back, repeated; an update is an epoch (``cyclic_per_epoch``) or a step.
    ``lr < cyclic_base_lr`` is allowed (the triangle then points down, as in PyTorch)."""
    base = cfg.cyclic_base_lr / cfg.lr_scale
    half = float(cfg.cyclic_step_size)
    per = max(int(steps_per_epoch), 1) if cfg.cyclic_per_epoch else 1
    if half <= 0:
        raise ConfigError(f"config.optim.cyclic_step_size must be > 0, got {cfg.cyclic_step_size}")

    def schedule(step):
        n = jnp.floor_divide(jnp.asarray(step), per).astype(jnp.float32)
        cycle = jnp.floor(1.0 + n / (2.0 * half))
        height = jnp.maximum(0.0, 1.0 - jnp.abs(n / half - 2.0 * cycle + 1.0))
        return base + (lr - base) * height

    return schedule


def make_schedule(cfg: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int) -> optax.Schedule:
    """The learning-rate schedule over ``total_steps`` optimiser steps: ``cfg.schedule`` after a linear
    warm-up of ``cfg.warmup_steps`` steps."""
    lr = cfg.learning_rate / cfg.lr_scale
    warmup = int(cfg.warmup_steps)
    main = SCHEDULES.get(cfg.schedule)(cfg, lr, total_steps - warmup, steps_per_epoch)
    if not warmup:
        return main
    ramp = optax.linear_schedule(cfg.warmup_init * lr, lr, warmup)
    return optax.join_schedules([ramp, main], [warmup])


# Optimizers: (config.optim, schedule) -> optax transformation. sgd, adam and radam take PyTorch's coupled
# weight decay (added to the gradient, in make_optimizer); adamw its own decoupled one.
OPTIMIZERS.register(
    "sgd", lambda cfg, lr: optax.sgd(lr, momentum=cfg.momentum or None, nesterov=cfg.nesterov)
)
OPTIMIZERS.register("adam", lambda cfg, lr: optax.adam(lr, b1=cfg.b1, b2=cfg.b2))
OPTIMIZERS.register(
    "adamw",
    lambda cfg, lr: optax.adamw(
        lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay, mask=decay_mask(cfg)
    ),
)
# PyTorch's RAdam (rectified Adam; un-adapted momentum steps while the variance estimate's length rho_t <= 5)
OPTIMIZERS.register("radam", lambda cfg, lr: optax.radam(lr, b1=cfg.b1, b2=cfg.b2))
COUPLED_WEIGHT_DECAY = ("sgd", "adam", "radam")


def decay_mask(cfg: ml_collections.ConfigDict):
    """None (every parameter decays) or, with ``decay_1d=False``, a mask function that leaves parameters of
    fewer than two dimensions undecayed (timm's ``filter_bias_and_bn``)."""
    if cfg.decay_1d:
        return None
    return lambda params: jax.tree.map(lambda p: jnp.ndim(p) >= 2, params)


def make_optimizer(
    cfg: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """``(optimizer, schedule)`` for ``config.optim``."""
    optimizer = OPTIMIZERS.get(cfg.name)
    schedule = make_schedule(cfg, total_steps, steps_per_epoch)
    chain = []
    if cfg.grad_clip:
        chain.append(optax.clip_by_global_norm(cfg.grad_clip))
    if cfg.name in COUPLED_WEIGHT_DECAY and cfg.weight_decay:
        chain.append(optax.add_decayed_weights(cfg.weight_decay, mask=decay_mask(cfg)))
    chain.append(optimizer(cfg, schedule))
    return optax.chain(*chain), schedule
