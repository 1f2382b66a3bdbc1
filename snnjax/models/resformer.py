"""SpikingResformer (Shi, Hao, Yu, CVPR 2024), the backbone of Spiking-Mix (docs/spikingmix.md).

Time-major NHWC: every block maps ``[T, B, H, W, C] -> [T, B, H, W, C]``; convs and BN see time folded
into the batch (BN statistics pooled over T, B, H, W like BatchNorm2d on ``[T*B, C, H, W]``); only the
neurons scan over time. Blocks are pre-activation: the neuron comes first and residuals add real values.

* ``GWFFN``: ``u = BN(Conv1x1_{C->rC}(LIF(x)))``; ``z = BN(GroupConv3x3(LIF(u))) + u`` (groups of
  ``group_size`` channels); ``out = BN(Conv1x1_{rC->C}(LIF(z))) + x``.
* ``DSSA`` (Dual Spike Self-Attention, no softmax): ``s = LIF(x)``; ``y = BN(Conv_{C->2C, p x p, stride p}
  (s))`` split per head into ``y1, y2`` (``C/h`` channels, ``N' = HW/p^2`` tokens);
  ``A = LIF(y1^T s / sqrt(r_x C/h))`` (``[h, N', HW]``), ``O = LIF(y2 A / sqrt(r_A N'))``;
  ``out = BN(Conv1x1(O)) + x``. ``r_x``, ``r_A`` are per-head running means of the firing rates of ``s`` and
  ``A`` (EMA momentum 0.999, set to the first training batch's value, updated only in training mode,
  stored as ``nnx.BatchStat`` so they are checkpointed but not trained).
* ``DownsampleLayer``: ``BN(Conv3x3 stride 2 (LIF(x)))``.
* Stems: ImageNet ``Conv7x7 s2 p3 -> BN -> MaxPool3x3 s2 p1``; CIFAR ``Conv3x3 -> BN``; DVS
  ``Conv3x3 -> BN`` with 32 planes, group size 32 and PLIF neurons (variant ``dvsg``).
* Head: per-step global average pool -> Linear (no bias) -> logits ``[T, B, classes]``.
* ``sum_channel``: the input gets one more channel, the sum of its channels, before the stem (the reference's
  DVS transform feeds ``[OFF, ON, OFF + ON]`` event frames to its 3-channel stems).

Neurons come from ``config.model.neuron``: the default is spikingjelly's ``LIFNode`` (tau 2,
decay input, v_th 1, hard reset to 0, detached reset, ATan alpha 2, fires on ``>=``); ``learnable_decay``
learns one ``tau`` per neuron layer (PLIF); ``shared_threshold`` / ``dual_threshold`` drop in the Spiking-Mix
quantised multi-threshold LIFs (docs/spikingmix.md) everywhere, the attention neurons included.

Deviations (ours): convs/linears are initialised ``normal(0.02)`` (PyTorch's ``trunc_normal_(std=0.02)``
truncates at +-2 in absolute value, i.e. at 100 sigma, so it is a plain normal); the running rates are
floored at ``1e-12`` inside the square root so an all-silent batch gives 0 instead of NaN. With direct
coding a static image is not copied T times before the stem: the stem (conv + BN) runs once and its
output is broadcast over time, which gives identical values and BN statistics at 1/T of the cost.
DSSA scales by the actual token count ``N'``; the reference derives it from the input size with floor
divisions (``img // 4 // 2**i // p``), which agrees for 224/32/64 px inputs but not for odd feature maps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax import Array

from snnjax import layers
from snnjax.errors import ConfigError
from snnjax.models import register
from snnjax.models.blocks import stem_over_time
from snnjax.models.common import Encoder, neuron_config, set_fields, spiking_neuron
from snnjax.models.common import model_config as shared_model_config

# variant -> (planes, heads, patch sizes, stem, group size, learnable decay (PLIF) for a plain LIF); all
# have depths (1, 2, 3)
VARIANTS = {
    "ti": ((64, 192, 384), (1, 3, 6), (4, 2, 1), "imagenet", 64, False),
    "s": ((64, 256, 512), (1, 4, 8), (4, 2, 1), "imagenet", 64, False),
    "m": ((64, 384, 768), (1, 6, 12), (4, 2, 1), "imagenet", 64, False),
    "l": ((128, 512, 1024), (2, 8, 16), (4, 2, 1), "imagenet", 64, False),
    "cifar": ((64, 192, 384), (1, 3, 6), (4, 2, 1), "cifar", 64, False),
    "dvsg": ((32, 96, 192), (1, 3, 6), (4, 2, 1), "dvs", 32, True),
}
DEPTHS = (1, 2, 3)
STEMS = ("imagenet", "cifar", "dvs")
RATE_FLOOR = 1e-12


def _w_init():
    return nnx.initializers.normal(0.02)


def conv(
    cin: int, cout: int, k: int, stride: int = 1, pad: int | str = 0, groups: int = 1, *, rngs
) -> nnx.Conv:
    """Bias-free conv with PyTorch-style explicit symmetric padding."""
    padding = pad if isinstance(pad, str) else ((pad, pad), (pad, pad))
    return nnx.Conv(
        cin, cout, (k, k), (stride, stride), padding=padding, feature_group_count=groups,
        use_bias=False, kernel_init=_w_init(), rngs=rngs,
    )  # fmt: skip


class ConvBN(nnx.Module):
    """``BN(Conv(x))`` on ``[T, B, H, W, C]`` with time folded into the batch."""

    def __init__(self, cin, cout, k, stride=1, pad=0, groups=1, *, rngs: nnx.Rngs):
        self.conv = conv(cin, cout, k, stride, pad, groups, rngs=rngs)
        self.bn = layers.batch_norm(cout, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        return layers.time_folded(lambda z: self.bn(self.conv(z)), x)


class GWFFN(nnx.Module):
    """Group-wise spiking feed-forward network: ``[T, B, H, W, C] -> [T, B, H, W, C]``."""

    def __init__(self, dim: int, neuron_cfg, *, ratio: int = 4, group_size: int = 64, remat=False, rngs):
        inner = dim * ratio
        if inner % group_size:
            raise ConfigError(f"GWFFN: {inner} hidden channels are not a multiple of group_size {group_size}")
        self.act_up = spiking_neuron(neuron_cfg, rngs=rngs, remat=remat)
        self.up = ConvBN(dim, inner, 1, rngs=rngs)
        self.act_conv = spiking_neuron(neuron_cfg, rngs=rngs, remat=remat)
        self.conv = ConvBN(inner, inner, 3, 1, 1, groups=inner // group_size, rngs=rngs)
        self.act_down = spiking_neuron(neuron_cfg, rngs=rngs, remat=remat)
        self.down = ConvBN(inner, dim, 1, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        u = self.up(self.act_up(x))
        z = self.conv(self.act_conv(u)) + u
        return self.down(self.act_down(z)) + x


class DSSA(nnx.Module):
    """Dual Spike Self-Attention with running firing-rate scales: ``[T, B, H, W, C] -> same``.

    Attributes:
      rate_x, rate_attn: ``[heads]`` running firing rates (``nnx.BatchStat``) of the input spikes and of
        the attention map; ``rate_initialised`` is 1 once the first training batch has set them.
      use_running_average: ``True`` in eval mode (``model.eval()``), where the rates stay fixed.
    """

    def __init__(
        self, dim: int, heads: int, patch: int, neuron_cfg, *, momentum: float = 0.999, remat=False, rngs
    ):
        if dim % heads:
            raise ConfigError(f"DSSA: dim {dim} is not divisible by num_heads {heads}")
        self.dim, self.heads, self.patch, self.momentum = dim, heads, patch, momentum
        self.use_running_average = False
        self.compute_dtype = None  # dtype of the attention products (snnjax.precision); None: the inputs'
        self.rate_x = nnx.BatchStat(jnp.zeros((heads,), jnp.float32))
        self.rate_attn = nnx.BatchStat(jnp.zeros((heads,), jnp.float32))
        self.rate_x_initialised = nnx.BatchStat(jnp.zeros((), jnp.float32))
        self.rate_attn_initialised = nnx.BatchStat(jnp.zeros((), jnp.float32))
        self.act_in = spiking_neuron(neuron_cfg, rngs=rngs, remat=remat)
        self.qk = ConvBN(dim, 2 * dim, patch, patch, "VALID", rngs=rngs)
        self.act_attn = spiking_neuron(neuron_cfg, rngs=rngs, remat=remat)
        self.act_out = spiking_neuron(neuron_cfg, rngs=rngs, remat=remat)
        self.proj = ConvBN(dim, dim, 1, rngs=rngs)

    def _running(self, rate: nnx.BatchStat, flag: nnx.BatchStat, current: Array) -> Array:
        """Updates (training) and returns the running rate ``[heads]``; ``current`` is this batch's."""
        if not self.use_running_average:
            current = jax.lax.stop_gradient(current).astype(rate.dtype)
            first = (flag[...] == 0) & jnp.all(rate[...] == 0)
            start = jnp.where(first, current, rate[...])
            rate[...] = start * self.momentum + current * (1.0 - self.momentum)
            flag[...] = jnp.ones((), flag.dtype)
        return rate[...]

    def __call__(self, x: Array) -> Array:
        t, b, h, w, c = x.shape
        nh, d = self.heads, c // self.heads
        s = self.act_in(x)
        y = self.qk(s)  # [T, B, H/p, W/p, 2C]
        n = y.shape[2] * y.shape[3]
        y = y.reshape(t, b, n, nh, 2 * d)
        y1, y2 = y[..., :d], y[..., d:]
        s_heads = s.reshape(t, b, h * w, nh, d)
        cd = self.compute_dtype or jnp.result_type(y, s)
        rate = lambda v, axes: jnp.mean(v, axis=axes, dtype=self.rate_x.dtype)
        r_x = self._running(self.rate_x, self.rate_x_initialised, rate(s_heads, (0, 1, 2, 4)))
        scale1 = jax.lax.rsqrt(jnp.maximum(r_x, RATE_FLOOR) * d)
        attn = jnp.einsum("tbnhd,tbmhd->tbhnm", y1.astype(cd), s_heads.astype(cd))
        attn = self.act_attn(attn * scale1[:, None, None].astype(attn.dtype))  # [T, B, heads, N', HW]
        r_a = self._running(self.rate_attn, self.rate_attn_initialised, rate(attn, (0, 1, 3, 4)))
        scale2 = jax.lax.rsqrt(jnp.maximum(r_a, RATE_FLOOR) * n)
        out = jnp.einsum("tbnhd,tbhnm->tbmhd", y2.astype(cd), attn.astype(cd)) * scale2[:, None].astype(cd)
        out = self.act_out(out.reshape(t, b, h, w, c))
        return self.proj(out) + x


class Downsample(nnx.Module):
    """``BN(Conv3x3 stride 2 (LIF(x)))``: ``[T, B, H, W, Cin] -> [T, B, H/2, W/2, Cout]``."""

    def __init__(self, cin: int, cout: int, neuron_cfg, *, remat=False, rngs):
        self.act = spiking_neuron(neuron_cfg, rngs=rngs, remat=remat)
        self.conv = ConvBN(cin, cout, 3, 2, 1, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        return self.conv(self.act(x))


class Stem(nnx.Module):
    """The prologue on ``[N, H, W, C]`` (analog input): ImageNet (7x7/2 conv, BN, 3x3/2 max-pool) or
    CIFAR/DVS (3x3 conv, BN)."""

    def __init__(self, kind: str, cin: int, cout: int, *, rngs: nnx.Rngs):
        if kind not in STEMS:
            raise ConfigError(f"unknown SpikingResformer stem {kind!r}; choose one of {STEMS}")
        self.kind = kind
        self.conv = (
            conv(cin, cout, 7, 2, 3, rngs=rngs) if kind == "imagenet" else conv(cin, cout, 3, 1, 1, rngs=rngs)
        )
        self.bn = layers.batch_norm(cout, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        x = self.bn(self.conv(x))
        if self.kind == "imagenet":
            x = nnx.max_pool(x, (3, 3), (2, 2), ((1, 1), (1, 1)))
        return x

    @property
    def reduction(self) -> int:
        return 4 if self.kind == "imagenet" else 1


def resolve(cfg: ml_collections.ConfigDict):
    """``(planes, heads, patches, depths, stem, group_size, neuron_cfg)`` of ``cfg.variant`` (a preset of
    docs/spikingmix.md, or ``'custom'`` for the config's own ``planes``/``num_heads``/... keys)."""
    variant = cfg.variant.lower()
    neuron_cfg = cfg.neuron
    if variant == "custom":
        planes, heads, patches = tuple(cfg.planes), tuple(cfg.num_heads), tuple(cfg.patch_sizes)
        depths, stem, group = tuple(cfg.depths), cfg.stem, int(cfg.group_size)
    elif variant in VARIANTS:
        planes, heads, patches, stem, group, plif = VARIANTS[variant]
        depths = DEPTHS
        if plif and neuron_cfg.type == "lif":
            neuron_cfg = ml_collections.ConfigDict(neuron_cfg.to_dict())
            neuron_cfg.learnable_decay = True
    else:
        raise ConfigError(
            f"unknown SpikingResformer variant {cfg.variant!r}; choose one of {[*VARIANTS, 'custom']}"
        )
    if not len(planes) == len(heads) == len(patches) == len(depths):
        raise ConfigError("SpikingResformer: planes, num_heads, patch_sizes and depths need equal lengths")
    return planes, heads, patches, depths, stem, group, neuron_cfg


@register("spikingresformer")
class SpikingResformer(nnx.Module):
    """SpikingResformer: ``[B, H, W, C]`` images (or ``[B, T, H, W, C]`` frames) -> logits ``[T, B, K]``.

    ``config.model`` keys: ``variant`` (ti | s | m | l | cifar | dvsg | custom), for ``custom``:
    ``planes``, ``num_heads``, ``patch_sizes``, ``depths`` (DSSA+GWFFN pairs per stage), ``stem``,
    ``group_size``; always: ``ffn_ratio`` (4), ``rate_momentum`` (0.999), ``sum_channel`` (False),
    ``neuron``, ``encoding``, ``num_steps``, ``remat``.
    """

    def __init__(self, cfg: ml_collections.ConfigDict, num_classes: int, input_shape, *, rngs: nnx.Rngs):
        planes, heads, patches, depths, stem, group, ncfg = resolve(cfg)
        h, w, cin = input_shape
        self.sum_channel = bool(cfg.get("sum_channel", False))  # a config.json written before it: off
        cin += self.sum_channel
        remat = bool(cfg.remat)
        self.encoder = Encoder(cfg.encoding, cfg.num_steps, rngs=rngs)
        self.stem = Stem(stem, cin, planes[0], rngs=rngs)
        h, w = h // self.stem.reduction, w // self.stem.reduction
        blocks = []
        for i, (dim, nh, p, depth) in enumerate(zip(planes, heads, patches, depths, strict=True)):
            if i:
                blocks.append(Downsample(planes[i - 1], dim, ncfg, remat=remat, rngs=rngs))
                h, w = (h + 1) // 2, (w + 1) // 2
            if h % p or w % p:
                raise ConfigError(f"stage {i}: feature map {h}x{w} is not divisible by patch size {p}")
            for _ in range(depth):
                blocks.append(
                    DSSA(dim, nh, p, ncfg, momentum=float(cfg.rate_momentum), remat=remat, rngs=rngs)
                )
                blocks.append(
                    GWFFN(dim, ncfg, ratio=int(cfg.ffn_ratio), group_size=group, remat=remat, rngs=rngs)
                )
        self.blocks = nnx.List(blocks)
        self.head = nnx.Linear(planes[-1], num_classes, use_bias=False, kernel_init=_w_init(), rngs=rngs)

    def __call__(self, x: Array) -> Array:
        if self.sum_channel:
            x = jnp.concatenate([x, x.sum(axis=-1, keepdims=True)], axis=-1)
        z, _ = stem_over_time(self.stem, x, self.encoder)  # a static image: the stem runs once
        for block in self.blocks:
            z = block(z)
        return self.head(jnp.mean(z, axis=(2, 3)))


SPIKINGJELLY_LIF = dict(
    charge="tau", tau=2.0, decay_input=True, v_th=1.0, v_reset=0.0, reset="hard", detach_reset=True,
    inclusive=True, surrogate="atan(alpha=2.0)",
)  # fmt: skip


def spikingjelly_neuron(type: str = "lif", **sections: dict) -> ml_collections.ConfigDict:
    """SpikingResformer's neuron section: spikingjelly ``LIFNode(tau=2, decay_input=True, v_threshold=1,
    v_reset=0, surrogate=ATan(alpha=2), detach_reset=True)``, firing on ``>=`` as spikingjelly does;
    ``type`` and ``sections`` select and set other neurons (:func:`snnjax.models.common.neuron_config`)."""
    return neuron_config(type, **{**sections, "lif": {**SPIKINGJELLY_LIF, **sections.get("lif", {})}})


# Spiking-Mix's neurons (docs/spikingmix.md): ``shared`` = neuron_shared.py's quantised two-sub-neuron LIF
# (levels {0, 0.25, 0.5, 0.75}), ``dual`` = neuron_multi.py's dual-threshold LIF (reset by the raw output,
# no gradient through it, as the module does; ``detach_reset=False`` lets it flow), ``lif`` = plain
# spikingjelly LIF.
SPIKINGMIX_NEURONS = {
    "shared": dict(
        type="shared_threshold",
        shared_threshold=dict(tau=2.0, thresholds=(0.25, 0.5), amplitudes=(0.25, 0.5)),
    ),
    "dual": dict(
        type="dual_threshold",
        dual_threshold=dict(tau0=2.0, tau1=4.0, v_th=0.5, surrogate="sigmoid(alpha=4.0)", detach_reset=True),
    ),
    "lif": {},
}


def spikingmix_neuron(variant: str = "shared") -> ml_collections.ConfigDict:
    """The neuron section of Spiking-Mix's ``variant`` (a key of ``SPIKINGMIX_NEURONS``)."""
    if variant not in SPIKINGMIX_NEURONS:
        raise ConfigError(
            f"unknown Spiking-Mix neuron {variant!r}; choose one of {sorted(SPIKINGMIX_NEURONS)}"
        )
    return spikingjelly_neuron(**SPIKINGMIX_NEURONS[variant])


def model_config(variant: str = "ti", **overrides) -> ml_collections.ConfigDict:
    """A complete ``config.model`` section for SpikingResformer (custom keys default to a tiny net)."""
    cfg = shared_model_config(
        "spikingresformer",
        variant=variant,
        neuron=spikingjelly_neuron(),
        planes=(16, 32, 64),  # variant='custom' only
        num_heads=(1, 2, 4),
        patch_sizes=(4, 2, 1),
        depths=(1, 1, 1),
        stem="cifar",
        group_size=16,
        ffn_ratio=4,
        rate_momentum=0.999,
        sum_channel=False,  # append the sum of the input channels (the reference's DVS input)
    )
    set_fields(cfg, overrides, "model")
    return cfg
