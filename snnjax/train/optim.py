"""Optimisers and learning-rate schedules from ``config.optim``."""

from __future__ import annotations

import ml_collections
import optax

from snnjax.errors import ConfigError


def optim_config(**overrides) -> ml_collections.ConfigDict:
    """The ``optim`` config section with its defaults."""
    cfg = ml_collections.ConfigDict(
        dict(
            name="adam",  # sgd | adam | adamw
            learning_rate=1e-3,
            momentum=0.9,  # sgd
            nesterov=False,
            b1=0.9,
            b2=0.999,
            weight_decay=0.0,  # coupled (added to the gradient) for sgd/adam, decoupled for adamw
            schedule="constant",  # constant | cosine | step
            warmup_steps=0,  # linear warm-up from warmup_init * lr
            warmup_init=0.0,
            min_lr=0.0,  # cosine floor
            decay_epochs=(),  # step schedule: multiply by decay_factor at these epochs
            decay_factor=0.1,
            lr_scale=1.0,  # divides the learning rate (SPIDE's loss scale factor)
            grad_clip=0.0,  # global-norm clipping, 0 = off
        )
    )
    cfg.update(overrides)
    return cfg


def make_schedule(cfg: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int) -> optax.Schedule:
    """The learning-rate schedule over ``total_steps`` optimiser steps."""
    lr = cfg.learning_rate / cfg.lr_scale
    warmup = int(cfg.warmup_steps)
    if cfg.schedule == "constant":
        main = optax.constant_schedule(lr)
    elif cfg.schedule == "cosine":
        main = optax.cosine_decay_schedule(
            lr, max(total_steps - warmup, 1), alpha=cfg.min_lr / lr if lr else 0.0
        )
    elif cfg.schedule == "step":
        boundaries = {int(e * steps_per_epoch) - warmup: cfg.decay_factor for e in cfg.decay_epochs}
        main = optax.piecewise_constant_schedule(lr, {b: f for b, f in boundaries.items() if b > 0})
    else:
        raise ConfigError(f"unknown schedule {cfg.schedule!r}; choose constant, cosine or step")
    if not warmup:
        return main
    ramp = optax.linear_schedule(cfg.warmup_init * lr, lr, warmup)
    return optax.join_schedules([ramp, main], [warmup])


def make_optimizer(
    cfg: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """``(optimizer, schedule)`` for ``config.optim``."""
    schedule = make_schedule(cfg, total_steps, steps_per_epoch)
    chain = []
    if cfg.grad_clip:
        chain.append(optax.clip_by_global_norm(cfg.grad_clip))
    if cfg.name in ("sgd", "adam") and cfg.weight_decay:
        chain.append(optax.add_decayed_weights(cfg.weight_decay))  # PyTorch's coupled weight decay
    if cfg.name == "sgd":
        chain.append(optax.sgd(schedule, momentum=cfg.momentum or None, nesterov=cfg.nesterov))
    elif cfg.name == "adam":
        chain.append(optax.adam(schedule, b1=cfg.b1, b2=cfg.b2))
    elif cfg.name == "adamw":
        chain.append(optax.adamw(schedule, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay))
    else:
        raise ConfigError(f"unknown optimizer {cfg.name!r}; choose sgd, adam or adamw")
    return optax.chain(*chain), schedule
