"""Optimisers and learning-rate schedules from ``config.optim`` (``snnjax.registry.OPTIMIZERS``,
``SCHEDULES``). The section is flat: shared keys (``learning_rate``, ``weight_decay``, warm-up, ...) and the
keys of each entry (``momentum`` for sgd, ``min_lr`` for cosine, ...); setting a key of an entry that is not
chosen is a one-line :class:`~snnjax.errors.ConfigError`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
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
            cyclic_momentum=(0.8, 0.9),  # cyclic + sgd: momentum cycles inversely between these; () = off
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


def cyclic_height(cfg: ml_collections.ConfigDict, steps_per_epoch: int) -> optax.Schedule:
    """PyTorch ``CyclicLR``'s triangle in [0, 1] at an optimiser step: rising over ``cyclic_step_size``
    updates, falling over as many, repeated; an update is an epoch (``cyclic_per_epoch``) or a step."""
    half = float(cfg.cyclic_step_size)
    per = max(int(steps_per_epoch), 1) if cfg.cyclic_per_epoch else 1
    if half <= 0:
        raise ConfigError(f"config.optim.cyclic_step_size must be > 0, got {cfg.cyclic_step_size}")

    def height(step):
        n = jnp.floor_divide(jnp.asarray(step), per).astype(jnp.float32)
        cycle = jnp.floor(1.0 + n / (2.0 * half))
        return jnp.maximum(0.0, 1.0 - jnp.abs(n / half - 2.0 * cycle + 1.0))

    return height


def _cyclic(cfg: ml_collections.ConfigDict, lr: float, steps: int, steps_per_epoch: int) -> optax.Schedule:
    """PyTorch's ``CyclicLR(mode='triangular')``: from ``cyclic_base_lr`` linearly to ``lr`` and back
    (:func:`cyclic_height`). ``lr < cyclic_base_lr`` is allowed (the triangle then points down, as in
    PyTorch)."""
    base = cfg.cyclic_base_lr / cfg.lr_scale
    height = cyclic_height(cfg, steps_per_epoch)
    return lambda step: base + (lr - base) * height(step)


def cyclic_momentum(cfg: ml_collections.ConfigDict, steps_per_epoch: int) -> optax.Schedule | None:
    """SGD's momentum under the cyclic schedule, as PyTorch's ``CyclicLR(cycle_momentum=True)`` sets it:
    ``max - (max - min) * height`` with ``(min, max) = cyclic_momentum`` (0.8, 0.9), at ``max`` during the
    warm-up; None where it does not apply (another schedule or optimizer, no momentum, or ``()``)."""
    if cfg.schedule != "cyclic" or cfg.name != "sgd" or not cfg.momentum or not cfg.cyclic_momentum:
        return None
    low, high = (float(m) for m in cfg.cyclic_momentum)
    height, warmup = cyclic_height(cfg, steps_per_epoch), int(cfg.warmup_steps)
    return lambda step: high - (high - low) * height(jnp.maximum(jnp.asarray(step) - warmup, 0))


SCHEDULES.register(
    "cyclic", Entry(_cyclic, ("cyclic_base_lr", "cyclic_step_size", "cyclic_per_epoch", "cyclic_momentum"))
)


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


# Optimizers: (config.optim, schedule) -> optax transformation. sgd, adam and radam take PyTorch's coupled
# weight decay (added to the gradient, in make_optimizer); adamw its own decoupled one.
def _sgd(cfg: ml_collections.ConfigDict, lr: optax.Schedule) -> optax.GradientTransformation:
    return optax.sgd(lr, momentum=cfg.momentum or None, nesterov=cfg.nesterov)


OPTIMIZERS.register("sgd", Entry(_sgd, ("momentum", "nesterov")))
OPTIMIZERS.register("adam", Entry(lambda cfg, lr: optax.adam(lr, b1=cfg.b1, b2=cfg.b2), ("b1", "b2")))
OPTIMIZERS.register(
    "adamw",
    Entry(
        lambda cfg, lr: optax.adamw(
            lr, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay, mask=decay_mask(cfg)
        ),
        ("b1", "b2"),
    ),
)
# PyTorch's RAdam (rectified Adam; un-adapted momentum steps while the variance estimate's length rho_t <= 5)
OPTIMIZERS.register("radam", Entry(lambda cfg, lr: optax.radam(lr, b1=cfg.b1, b2=cfg.b2), ("b1", "b2")))
COUPLED_WEIGHT_DECAY = ("sgd", "adam", "radam")


def decay_mask(cfg: ml_collections.ConfigDict):
    """None (every parameter decays) or, with ``decay_1d=False``, a mask function that leaves parameters of
    fewer than two dimensions undecayed (timm's ``filter_bias_and_bn``)."""
    if cfg.decay_1d:
        return None
    return lambda params: jax.tree.map(lambda p: jnp.ndim(p) >= 2, params)


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
        chain.append(optax.add_decayed_weights(cfg.weight_decay, mask=decay_mask(cfg)))
    momentum = cyclic_momentum(cfg, steps_per_epoch)
    if momentum is None:
        chain.append(optimizer(cfg, schedule))
    else:  # PyTorch's CyclicLR also cycles SGD's momentum
        sgd = optax.inject_hyperparams(optax.sgd, static_args=("nesterov",))
        chain.append(sgd(learning_rate=schedule, momentum=momentum, nesterov=cfg.nesterov))
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
