"""Losses on time-major network outputs ``[T, B, C]``.

``labels`` are integer classes ``[B]`` or soft targets ``[B, C]`` (Mixup/CutMix); every loss is the
mean over the batch. The losses a config can name (``config.loss.name``) are registered in
``snnjax.registry.LOSSES``; :func:`make_loss` builds one from ``config.loss``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax import Array

from snnjax.errors import ConfigError
from snnjax.precision import at_least_float32
from snnjax.registry import LOSSES


def soft_targets(labels: Array, num_classes: int, label_smoothing: float = 0.0, dtype=jnp.float32) -> Array:
    """``[B]`` classes or ``[B, C]`` targets to ``[B, C]`` float targets with label smoothing
    ``(1 - eps) * onehot + eps / C``."""
    if labels.ndim == 1:
        labels = jax.nn.one_hot(labels, num_classes, dtype=dtype)
    if label_smoothing:
        labels = (1.0 - label_smoothing) * labels + label_smoothing / num_classes
    return labels


def cross_entropy(logits: Array, labels: Array, label_smoothing: float = 0.0) -> Array:
    """Mean cross-entropy of ``logits [B, C]`` against classes or soft targets, computed in float32 (or
    float64 for float64 logits)."""
    logits = at_least_float32(logits)
    targets = soft_targets(labels, logits.shape[-1], label_smoothing, logits.dtype)
    return optax.softmax_cross_entropy(logits, targets).mean()


def mean_time_ce(outputs: Array, labels: Array, label_smoothing: float = 0.0) -> Array:
    """Cross-entropy of the time-averaged logits ``mean_t outputs[t]`` (GAC, SpikingResformer)."""
    return cross_entropy(outputs.mean(axis=0), labels, label_smoothing)


def tet_loss(
    outputs: Array, labels: Array, lam: float = 0.0, phi: float = 1.0, label_smoothing: float = 0.0
) -> Array:
    """Per-step cross-entropy averaged over time, plus ``lam * MSE(outputs, phi)`` (TET, Deng et al. 2022).

    ``lam = 0`` is NSNN's default loss.
    """
    per_step = jax.vmap(lambda o: cross_entropy(o, labels, label_smoothing))(outputs).mean()
    if not lam:
        return per_step
    return per_step + lam * jnp.mean((at_least_float32(outputs) - phi) ** 2)


def spike_count_mse(
    spikes: Array, labels: Array, correct_rate: float = 0.8, incorrect_rate: float = 0.2
) -> Array:
    """snnTorch's ``mse_count_loss``: spike counts ``c = sum_t spikes[t]`` against ``int(rate * T)``
    targets (``correct_rate`` for the true class, ``incorrect_rate`` otherwise), ``MSE(c, target) / T``.

    Args:
      spikes: output spikes ``[T, B, C]``.
      labels: classes ``[B]``.
    """
    num_steps, _, num_classes = spikes.shape
    counts = at_least_float32(spikes).sum(axis=0)
    onehot = jax.nn.one_hot(labels, num_classes, dtype=counts.dtype)
    target = onehot * int(correct_rate * num_steps) + (1.0 - onehot) * int(incorrect_rate * num_steps)
    return jnp.mean((counts - target) ** 2) / num_steps


def accuracy(outputs: Array, labels: Array) -> Array:
    """Fraction of ``argmax_c sum_t outputs[t]`` equal to the class (spike counts or mean logits)."""
    if labels.ndim == 2:
        labels = labels.argmax(-1)
    return jnp.mean(outputs.sum(axis=0).argmax(-1) == labels)


class Loss(NamedTuple):
    """A registered loss: ``fn(outputs, labels, **kw)`` and the ``config.loss`` keys it reads, as
    ``{config key: keyword of fn}`` (the keys' defaults are ``fn``'s)."""

    fn: Callable[..., Array]
    keys: dict[str, str]


LOSSES.register("mean_ce", Loss(mean_time_ce, {"label_smoothing": "label_smoothing"}))
LOSSES.register(
    "tet", Loss(tet_loss, {"tet_lambda": "lam", "tet_phi": "phi", "label_smoothing": "label_smoothing"})
)
LOSSES.register(
    "count_mse", Loss(spike_count_mse, {"correct_rate": "correct_rate", "incorrect_rate": "incorrect_rate"})
)


def loss_config(**overrides) -> ml_collections.ConfigDict:
    """The ``loss`` config section: ``name`` and the keys of every registered loss, with defaults."""
    keys: dict[str, object] = {"name": "mean_ce"}
    for name in LOSSES.names():
        loss = LOSSES.get(name)
        params = inspect.signature(loss.fn).parameters
        for key, kw in loss.keys.items():
            default = params[kw].default
            if keys.setdefault(key, default) != default:
                raise ValueError(f"loss key {key!r} has two defaults ({keys[key]}, {default})")
    cfg = ml_collections.ConfigDict(keys)
    cfg.update(overrides)
    return cfg


def make_loss(cfg: ml_collections.ConfigDict) -> Callable[[Array, Array], Array]:
    """``loss(outputs [T, B, C], labels [B] or [B, C]) -> scalar`` for ``config.loss``.

    A key of another loss set away from its default is an error (it would be silently ignored)."""
    loss = LOSSES.get(cfg.name)
    defaults = loss_config()
    stray = [k for k in defaults if k != "name" and k not in loss.keys and cfg[k] != defaults[k]]
    if stray:
        used = ", ".join(loss.keys) or "none"
        raise ConfigError(f"config.loss.{stray[0]} is not used by loss {cfg.name!r} (its keys: {used})")
    kwargs = {kw: cfg[key] for key, kw in loss.keys.items()}
    return lambda outputs, labels: loss.fn(outputs, labels, **kwargs)
