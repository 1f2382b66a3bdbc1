"""On-device mix regularisers: Mixup, CutMix (timm-style switching) and Spiking-Mix.

All transforms are pure JAX functions of ``(batch, key, step)`` and run inside the jitted train step.
They follow timm's ``FastCollateMixup(mode='batch')``: one mixing ratio and one box per batch, every
example mixed with its partner in the reversed batch (``x[::-1]``), labels mixed linearly
``y = lam * y_a + (1 - lam) * y_b`` with ``lam`` recomputed from the clipped box area for box mixes.

* **Mixup**: ``x = lam x_a + (1 - lam) x_b``, ``lam ~ Beta(mixup_alpha, mixup_alpha)``.
* **CutMix**: ``lam ~ Beta(cutmix_alpha, cutmix_alpha)``; a box of side ``sqrt(1 - lam)`` times the image
  side (timm's ``rand_bbox``: integer centre uniform over the pixels, half-sides ``cut // 2``, clipped to
  the image) is copied from the partner at the same place.
* **Spiking-Mix** (docs/spikingmix.md; our reading of ``Center_Point_Distance_Distribution.md``):
  a CutMix whose pasted content comes from a *different* place of the partner. The destination centre
  ``c1`` is uniform as in CutMix; the source centre is ``c2' = gamma * c2 + delta`` per axis with ``c2``
  uniform, in coordinates normalised to ``[-1/2, 1/2]`` about the image centre, and
  ``gamma = eps + (1 - theta lam^2 + theta delta) / (eps + theta (1 - lam)^2 + theta exp(-delta))``
  (the seed's formula). The normalised centre distance of the note is
  ``d = sqrt(((c2'_x - c1_x)^2 + (c2'_y - c1_y)^2) / (H^2 + W^2))`` in pixels (we read the note's minus as a
  plus). Pixels whose source falls outside the partner are not replaced, so the label weight is the
  area actually pasted.

Batches: ``{"image": [B, H, W, C] float or [B, T, H, W, C] event frames, "label": [B] int or [B, K]}``;
the result has soft labels ``[B, num_classes]`` (float32). For event frames all time steps share the box.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
from jax import Array

from snnjax.errors import ConfigError
from snnjax.registry import MIXES

COIN_SEED = 0x5EED  # fixed key of the per-epoch coin (one coin per epoch, independent of the step key)

MixFn = Callable[[dict, Array, Array], dict]


class Box(NamedTuple):
    """A box ``[y0, y1) x [x0, x1)`` (int32 scalars) in the mixed image and the source offset
    ``(dy, dx)``: pixel ``(i, j)`` of the box is taken from the partner's ``(i - dy, j - dx)``."""

    y0: Array
    y1: Array
    x0: Array
    x1: Array
    dy: Array
    dx: Array


class CentreParams(NamedTuple):
    """Spiking-Mix centre-distance hyper-parameters (the seed's ``theta``, ``delta``, ``epsilon``)."""

    theta: float = 1.0
    delta: float = 0.0
    eps: float = 0.01


def gamma(lam: Array, p: CentreParams) -> Array:
    """The seed's scale of the source centre: ``eps + (1 - theta lam^2 + theta delta) /
    (eps + theta (1 - lam)^2 + theta exp(-delta))``."""
    num = 1.0 - p.theta * lam**2 + p.theta * p.delta
    den = p.eps + p.theta * (1.0 - lam) ** 2 + p.theta * jnp.exp(-p.delta)
    return p.eps + num / den


def soft_labels(labels: Array, num_classes: int) -> Array:
    """``[B]`` classes or ``[B, K]`` targets as float32 ``[B, num_classes]``."""
    if labels.ndim == 1:
        return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    return labels.astype(jnp.float32)


def _half_sides(lam: Array, h: int, w: int) -> tuple[Array, Array]:
    """timm: ``cut = int(side * sqrt(1 - lam))``, the box spans ``centre -/+ cut // 2``."""
    ratio = jnp.sqrt(jnp.clip(1.0 - lam, 0.0, 1.0))
    cut_h = jnp.floor(h * ratio).astype(jnp.int32)
    cut_w = jnp.floor(w * ratio).astype(jnp.int32)
    return cut_h // 2, cut_w // 2


def cutmix_box(key: Array, lam: Array, h: int, w: int) -> Box:
    """timm ``rand_bbox``: integer centre uniform over the pixels, box clipped to the image, no shift."""
    ky, kx = jax.random.split(key)
    hh, hw = _half_sides(lam, h, w)
    cy = jax.random.randint(ky, (), 0, h, jnp.int32)
    cx = jax.random.randint(kx, (), 0, w, jnp.int32)
    zero = jnp.zeros((), jnp.int32)
    return Box(
        jnp.clip(cy - hh, 0, h), jnp.clip(cy + hh, 0, h), jnp.clip(cx - hw, 0, w), jnp.clip(cx + hw, 0, w),
        zero, zero,
    )  # fmt: skip


def spikingmix_centres(key: Array, lam: Array, p: CentreParams) -> tuple[Array, Array]:
    """Destination and source centres ``c1, c2' [2] (y, x)`` in normalised coordinates ``[-1/2, 1/2]``:
    ``c1`` uniform, ``c2' = clip(gamma(lam) * c2 + delta)`` with ``c2`` uniform."""
    k1, k2 = jax.random.split(key)
    c1 = jax.random.uniform(k1, (2,), jnp.float32, -0.5, 0.5)
    c2 = jax.random.uniform(k2, (2,), jnp.float32, -0.5, 0.5)
    return c1, jnp.clip(gamma(lam, p) * c2 + p.delta, -0.5, 0.5)


def centre_distance(c1: Array, c2: Array, h: int, w: int) -> Array:
    """The note's normalised distance ``sqrt((dx^2 + dy^2) / (H^2 + W^2))`` of normalised centres
    ``(y, x)`` (the note's minus read as a plus), in ``[0, 1]``."""
    dy = (c2[..., 0] - c1[..., 0]) * h
    dx = (c2[..., 1] - c1[..., 1]) * w
    return jnp.sqrt((dx**2 + dy**2) / (h**2 + w**2))


def _to_pixel(c: Array, size: int) -> Array:
    """Normalised coordinate in ``[-1/2, 1/2]`` to an integer pixel index in ``[0, size)``."""
    return jnp.clip(jnp.floor((c + 0.5) * size), 0, size - 1).astype(jnp.int32)


def spikingmix_box(key: Array, lam: Array, h: int, w: int, p: CentreParams) -> Box:
    """A CutMix box of timm's size at ``c1`` filled from the partner around ``c2'``."""
    c1, c2 = spikingmix_centres(key, lam, p)
    hh, hw = _half_sides(lam, h, w)
    y1, x1 = _to_pixel(c1[0], h), _to_pixel(c1[1], w)
    y2, x2 = _to_pixel(c2[0], h), _to_pixel(c2[1], w)
    return Box(
        jnp.clip(y1 - hh, 0, h), jnp.clip(y1 + hh, 0, h), jnp.clip(x1 - hw, 0, w), jnp.clip(x1 + hw, 0, w),
        y1 - y2, x1 - x2,
    )  # fmt: skip


def paste_mask(box: Box, h: int, w: int) -> Array:
    """``[H, W]`` float32 mask of the pixels replaced by the partner: inside the box and with the
    source pixel ``(i - dy, j - dx)`` inside the image."""
    i = jnp.arange(h, dtype=jnp.int32)[:, None]
    j = jnp.arange(w, dtype=jnp.int32)[None, :]
    inside = (i >= box.y0) & (i < box.y1) & (j >= box.x0) & (j < box.x1)
    si, sj = i - box.dy, j - box.dx
    valid = (si >= 0) & (si < h) & (sj >= 0) & (sj < w)
    return (inside & valid).astype(jnp.float32)


def apply_box(images: Array, box: Box) -> tuple[Array, Array]:
    """Pastes the reversed batch's shifted box into ``images`` ``[B, ..., H, W, C]`` (batch axis 0);
    returns ``(mixed images, lam)`` with ``lam = 1 - pasted area / (H W)``."""
    h, w = images.shape[-3], images.shape[-2]
    partner = jnp.flip(images, axis=0)
    rows = jnp.clip(jnp.arange(h, dtype=jnp.int32) - box.dy, 0, h - 1)
    cols = jnp.clip(jnp.arange(w, dtype=jnp.int32) - box.dx, 0, w - 1)
    source = jnp.take(jnp.take(partner, rows, axis=-3), cols, axis=-2)
    mask = paste_mask(box, h, w)
    mixed = jnp.where(mask[:, :, None] > 0, source, images)
    return mixed.astype(images.dtype), 1.0 - jnp.sum(mask) / (h * w)


def mix_labels(labels: Array, lam: Array, num_classes: int, label_smoothing: float = 0.0) -> Array:
    """``lam * y + (1 - lam) * y[::-1]`` with label smoothing ``(1 - eps) y + eps / K``: ``[B, K]``."""
    y = soft_labels(labels, num_classes)
    y = lam * y + (1.0 - lam) * jnp.flip(y, axis=0)
    if label_smoothing:
        y = (1.0 - label_smoothing) * y + label_smoothing / num_classes
    return y


def _mixup(images: Array, lam: Array) -> Array:
    partner = jnp.flip(images, axis=0)
    return (lam * images + (1.0 - lam) * partner).astype(images.dtype)


class Mix(NamedTuple):
    """A registered mix: whether it may mix by Mixup, and the box of its box mix (None: Mixup only).
    With both, each batch picks CutMix with probability ``switch_prob`` (timm)."""

    mixup: bool
    box: Callable[[Array, Array, int, int, CentreParams], Box] | None


MIXES.register("mixup", Mix(mixup=True, box=None))
MIXES.register("cutmix", Mix(mixup=False, box=lambda key, lam, h, w, p: cutmix_box(key, lam, h, w)))
MIXES.register("mixup_cutmix", Mix(mixup=True, box=lambda key, lam, h, w, p: cutmix_box(key, lam, h, w)))
MIXES.register("spikingmix", Mix(mixup=False, box=spikingmix_box))


def make_mix(mix_cfg: ml_collections.ConfigDict, num_classes: int, steps_per_epoch: int) -> MixFn:
    """The batch transform ``fn(batch, key, step) -> batch`` of ``config.mix``.

    Per batch: a coin with probability ``prob`` decides whether to mix (``per_epoch_coin``: one coin per
    epoch ``step // steps_per_epoch``, drawn from a fixed key folded with the epoch); ``mixup_cutmix``
    picks CutMix with probability ``switch_prob`` (timm). An unmixed batch keeps its images and gets
    one-hot (smoothed) labels, so the label shape never depends on the coin.
    """
    name = mix_cfg.name
    mix = MIXES.get(name)
    prob = float(mix_cfg.prob)
    per_epoch = bool(mix_cfg.per_epoch_coin)
    mixup_alpha, cutmix_alpha = float(mix_cfg.mixup_alpha), float(mix_cfg.cutmix_alpha)
    switch_prob, smoothing = float(mix_cfg.switch_prob), float(mix_cfg.label_smoothing)
    centre = CentreParams(float(mix_cfg.centre_theta), float(mix_cfg.centre_delta), float(mix_cfg.centre_eps))
    if mix.box is not None and cutmix_alpha <= 0:
        raise ConfigError(f"mix {name!r} needs config.mix.cutmix_alpha > 0 (got {cutmix_alpha})")
    if mix.mixup and mixup_alpha <= 0:
        raise ConfigError(f"mix {name!r} needs config.mix.mixup_alpha > 0 (got {mixup_alpha})")
    steps_per_epoch = max(int(steps_per_epoch), 1)

    def box_mix(images: Array, key: Array, lam: Array) -> tuple[Array, Array]:
        h, w = images.shape[-3], images.shape[-2]
        return apply_box(images, mix.box(key, lam, h, w, centre))

    def fn(batch: dict, key: Array, step: Array) -> dict:
        images, labels = batch["image"], batch["label"]
        if images.ndim not in (4, 5):
            raise ValueError(f"mix expects images [B,H,W,C] or [B,T,H,W,C], got shape {images.shape}")
        k_coin, k_switch, k_lam, k_box = jax.random.split(key, 4)
        if per_epoch:
            epoch = jnp.asarray(step, jnp.int32) // steps_per_epoch
            k_coin = jax.random.fold_in(jax.random.key(COIN_SEED), epoch)
        apply = jax.random.uniform(k_coin, (), jnp.float32) < prob
        if mix.mixup and mix.box is not None:
            use_cut = jax.random.uniform(k_switch, (), jnp.float32) < switch_prob
        k_mixup, k_cut = jax.random.split(k_lam)
        lam_mixup = jax.random.beta(k_mixup, mixup_alpha, mixup_alpha) if mixup_alpha > 0 else 1.0
        lam_cut = jax.random.beta(k_cut, cutmix_alpha, cutmix_alpha) if cutmix_alpha > 0 else 1.0
        lam_mixup, lam_cut = jnp.asarray(lam_mixup, jnp.float32), jnp.asarray(lam_cut, jnp.float32)

        def do_cut(x):
            return box_mix(x, k_box, lam_cut)

        def do_mixup(x):
            return _mixup(x, lam_mixup), lam_mixup

        def do_mix(x):
            if mix.box is None:
                return do_mixup(x)
            if not mix.mixup:
                return do_cut(x)
            return jax.lax.cond(use_cut, do_cut, do_mixup, x)

        def keep(x):
            return x, jnp.ones((), jnp.float32)

        mixed, lam = jax.lax.cond(apply, do_mix, keep, images)
        out = dict(batch)
        out["image"] = mixed
        out["label"] = mix_labels(labels, lam, num_classes, smoothing)
        return out

    return fn
