"""Optimisers and learning-rate schedules from ``config.optim`` (``snnjax.registry.OPTIMIZERS``,
``SCHEDULES``). The section is flat: shared keys (``learning_rate``, ``weight_decay``, warm-up, ...) and the
keys of each entry (``momentum`` for sgd, ``min_lr`` for cosine, ...); setting a key of an entry that is not
chosen is a one-line :class:`~snnjax.errors.ConfigError`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from snnjax.errors import ConfigError
from snnjax.registry import OPTIMIZERS, SCHEDULES


def optim_config(**overrides) -> ml_collections.ConfigDict:
    """The ``optim`` config section with its defaults."""
    cfg = ml_collections.ConfigDict(
        dict(
            name="adam",  # a name in snnjax.registry.OPTIMIZERS: sgd | adam | adamw
            learning_rate=1e-3,
            momentum=0.9,  # sgd
            nesterov=False,
            b1=0.9,
            b2=0.999,
            weight_decay=0.0,  # coupled (added to the gradient) for sgd/adam, decoupled for adamw
            schedule="constant",  # a name in snnjax.registry.SCHEDULES: constant | cosine | step
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


class Entry(NamedTuple):
    """A registered schedule or optimizer: its function and the ``config.optim`` keys that only it reads
    (a key of another entry set away from its default is an error, see :func:`check_keys`)."""

    fn: Callable
    keys: tuple[str, ...] = ()


# Schedules: (config.optim, peak lr, total steps after warm-up, steps per epoch) -> optax schedule.
def _constant(cfg: ml_collections.ConfigDict, lr: float, steps: int, steps_per_epoch: int) -> optax.Schedule:
    return optax.constant_schedule(lr)


def _cosine(cfg: ml_collections.ConfigDict, lr: float, steps: int, steps_per_epoch: int) -> optax.Schedule:
    return optax.cosine_decay_schedule(lr, max(steps, 1), alpha=cfg.min_lr / lr if lr else 0.0)


def _step(cfg: ml_collections.ConfigDict, lr: float, steps: int, steps_per_epoch: int) -> optax.Schedule:
    warmup = int(cfg.warmup_steps)
    boundaries = {int(e * steps_per_epoch) - warmup: cfg.decay_factor for e in cfg.decay_epochs}
    return optax.piecewise_constant_schedule(lr, {b: f for b, f in boundaries.items() if b > 0})


SCHEDULES.register("constant", Entry(_constant))
SCHEDULES.register("cosine", Entry(_cosine, ("min_lr",)))
SCHEDULES.register("step", Entry(_step, ("decay_epochs", "decay_factor")))


def make_schedule(cfg: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int) -> optax.Schedule:
    """The learning-rate schedule over ``total_steps`` optimiser steps: ``cfg.schedule`` after a linear
    warm-up of ``cfg.warmup_steps`` steps."""
    lr = cfg.learning_rate / cfg.lr_scale
    warmup = int(cfg.warmup_steps)
    main = SCHEDULES.get(cfg.schedule).fn(cfg, lr, total_steps - warmup, steps_per_epoch)
    if not warmup:
        return main
    ramp = optax.linear_schedule(cfg.warmup_init * lr, lr, warmup)
    return optax.join_schedules([ramp, main], [warmup])


# Optimizers: (config.optim, schedule) -> optax transformation. sgd and adam take PyTorch's coupled
# weight decay (added to the gradient, in make_optimizer); adamw its own decoupled one.
def _sgd(cfg: ml_collections.ConfigDict, lr: optax.Schedule) -> optax.GradientTransformation:
    return optax.sgd(lr, momentum=cfg.momentum or None, nesterov=cfg.nesterov)


OPTIMIZERS.register("sgd", Entry(_sgd, ("momentum", "nesterov")))
OPTIMIZERS.register("adam", Entry(lambda cfg, lr: optax.adam(lr, b1=cfg.b1, b2=cfg.b2), ("b1", "b2")))
OPTIMIZERS.register(
    "adamw",
    Entry(lambda cfg, lr: optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay), ("b1", "b2")),
)
COUPLED_WEIGHT_DECAY = ("sgd", "adam")


def check_keys(cfg: ml_collections.ConfigDict) -> None:
    """Raises :class:`ConfigError` for a key of another optimizer or schedule set away from its default
    (``momentum`` with ``adam``, ``min_lr`` with the ``step`` schedule): it would be silently ignored."""
    used = (*OPTIMIZERS.get(cfg.name).keys, *SCHEDULES.get(cfg.schedule).keys)
    defaults = optim_config()
    for registry, chosen in ((OPTIMIZERS, cfg.name), (SCHEDULES, cfg.schedule)):
        for name in registry.names():
            for key in registry.get(name).keys:
                if key not in used and key in cfg and cfg[key] != defaults[key]:
                    raise ConfigError(
                        f"config.optim.{key} is used by {registry.kind} {name!r}, not by {registry.kind} "
                        f"{chosen!r} (its keys: {', '.join(registry.get(chosen).keys) or 'none'})"
                    )


def make_optimizer(
    cfg: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """``(optimizer, schedule)`` for ``config.optim``."""
    check_keys(cfg)
    optimizer = OPTIMIZERS.get(cfg.name).fn
    schedule = make_schedule(cfg, total_steps, steps_per_epoch)
    chain = []
    if cfg.grad_clip:
        chain.append(optax.clip_by_global_norm(cfg.grad_clip))
    if cfg.name in COUPLED_WEIGHT_DECAY and cfg.weight_decay:
        chain.append(optax.add_decayed_weights(cfg.weight_decay))
    chain.append(optimizer(cfg, schedule))
    return optax.chain(*chain), schedule


def schedule_record(cfg: ml_collections.ConfigDict, total_steps: int, steps_per_epoch: int) -> dict[str, Any]:
    """What defines the learning-rate schedule of a run, as JSON data (stored with every checkpoint)."""
    return {"total_steps": total_steps, "steps_per_epoch": steps_per_epoch, "optim": cfg.to_dict()}


def same_schedule(old: dict[str, Any], new: dict[str, Any], start: int, samples: int = 100_001) -> bool:
    """Whether two :func:`schedule_record` records give the same learning rate at every optimiser step
    from ``start`` to the end of the longer one (a schedule keeps its final value past its end), checked
    on up to ``samples`` evenly spaced steps."""
    schedules = [
        make_schedule(ml_collections.ConfigDict(r["optim"]), int(r["total_steps"]), int(r["steps_per_epoch"]))
        for r in (old, new)
    ]
    end = max(int(old["total_steps"]), int(new["total_steps"]), start + 1)
    steps = jnp.asarray(np.unique(np.linspace(start, end - 1, min(samples, end - start)).astype(np.int64)))
    a, b = (np.asarray(s(steps), np.float64) for s in schedules)
    return bool(np.allclose(a, b, rtol=1e-6, atol=0.0))
