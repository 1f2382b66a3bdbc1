"""MS-ResNet (membrane-shortcut ResNet) with optional Gated Attention Coding (docs/gac.md).

Time-major NHWC, ``[T, B, H, W, C]``; convs and BN see time folded into the batch, so BN statistics are
pooled over T, B, H and W (the seed's BatchNorm2d on ``[B*T, C, H, W]`` and BatchNorm3d over
``(B, T, H, W)`` are both this); only the neurons scan over time.

* Membrane-shortcut basic block (pre-spike): ``out = BN2(Conv3x3(LIF2(BN1(Conv3x3_s(LIF1(x)))))) +
  shortcut(x)``; the shortcut is the identity or ``BN(Conv1x1_s(x))`` (``'avgpool_conv'``:
  ``BN(Conv1x1(AvgPool2x2(x)))``, MS-ResNet-104) and acts on the real-valued input ``x`` (the
  membrane drive), never on spikes; no activation after the add.
* Stem -> ``X``; with GAC: ``LIF(X)`` gated by :class:`~snnjax.models.gac.GAC`; without: ``X`` goes
  straight into the first block (which starts with a LIF).
* Head: ``LIF -> global average pool (per step) -> [dropout] -> Linear (bias)`` -> logits ``[T, B, K]``;
  the loss averages them over time (the bias is included T times in the mean, as in the seed).

Variants (``config.model.variant`` / ``depth``):
  * ``cifar`` / 18: stem Conv3x3(64)+BN, stages [3, 3, 2] at 128/256/512 (first block of stages 2, 3
    strided), PyTorch default init, plain BN (scale 1), GAC-CIFAR LIF.
  * ``imagenet`` / 18, 34: stem Conv7x7/2(64)+tdBN (the seed's MaxPool is defined but unused, so none
    here), stages [2,2,2,2] / [3,4,6,3] at 64..512 with the first block of *every* stage strided, tdBN
    weight ``v_th = 0.5`` (``layers.td_batch_norm``) and the block's second BN zero-initialised, convs
    kaiming-normal (fan_out, relu), GAC-ImageNet neuron.
  * ``imagenet`` / 104: stages [3, 8, 32, 8] at 64..512, stem of three Conv3x3 (first stride 2) + tdBN
    with a LIF between them (our choice), AvgPool-Conv1x1-tdBN downsampling shortcuts, dropout 0.2
    before the head. Not in the GAC repository; taken from the public code of the
    MS-ResNet family (unverified against the MS-ResNet paper).
``widths`` / ``blocks`` / ``stem_width`` override a preset (reduced-width models).

Deviations: with direct coding a static image is not copied T times before the stem: the stem conv + BN
runs once and is broadcast over time (identical values and BN statistics). ImageNet's ``mem_update``
runs a fixed 4 steps whatever the input length (zeros after them); here the neurons run all
``config.model.num_steps`` steps unless ``config.model.time_window = 4`` reproduces the fixed window.
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax import Array

from snnjax import conv as conv_lib
from snnjax import layers, remat
from snnjax.errors import ConfigError
from snnjax.models import register
from snnjax.models.blocks import (
    conv_out_size,
    kaiming_fan_out_init,
    stem_over_time,
    torch_bias_init,
    torch_default_init,
)
from snnjax.models.common import Encoder, chosen_neuron, neuron_config, set_fields, spiking_neuron
from snnjax.models.common import model_config as shared_model_config
from snnjax.models.gac import GAC

# (variant, depth) -> stem, stage widths, blocks per stage, stride of stage 1's first block, shortcut, dropout
PRESETS = {
    ("cifar", 18): ("cifar", (128, 256, 512), (3, 3, 2), 1, "conv", 0.0),
    ("imagenet", 18): ("imagenet", (64, 128, 256, 512), (2, 2, 2, 2), 2, "conv", 0.0),
    ("imagenet", 34): ("imagenet", (64, 128, 256, 512), (3, 4, 6, 3), 2, "conv", 0.0),
    ("imagenet", 104): ("imagenet104", (64, 128, 256, 512), (3, 8, 32, 8), 2, "avgpool_conv", 0.2),
}

# GAC-CIFAR LIFSpike and GAC-ImageNet mem_update (docs/gac.md, "Neurons")
CIFAR_NEURON = dict(decay=0.5, v_th=1.0, reset="hard", detach_reset=False, surrogate="triangle(gamma=1.0)")
IMAGENET_NEURON = dict(
    decay=0.25, v_th=0.5, reset="hard", detach_reset=True, surrogate="rectangle(width=1.0)"
)


def model_config(variant: str = "cifar", depth: int = 18, **overrides) -> ml_collections.ConfigDict:
    """A complete ``config.model`` section for MS-ResNet; the neuron, BN and init follow the variant."""
    imagenet = variant == "imagenet"
    cfg = shared_model_config(
        "msresnet",
        num_steps=6 if not imagenet else 4,
        neuron=neuron_config("lif", lif=IMAGENET_NEURON if imagenet else CIFAR_NEURON),
        variant=variant,  # cifar | imagenet
        depth=depth,  # cifar: 18; imagenet: 18 | 34 | 104
        gac=True,  # gated attention coding after the stem
        gac_kernel=4,  # SCA kernel size
        widths=(),  # () = the preset's; else stage widths (reduced models)
        blocks=(),  # () = the preset's; else blocks per stage
        stem_width=64,
        bn_init="threshold" if imagenet else "plain",  # threshold: tdBN weight = v_th
        zero_init_residual=imagenet,  # second BN of every block starts at weight 0
        conv_init="kaiming_fan_out" if imagenet else "torch",  # torch: PyTorch's default init
        block_remat="auto",  # auto | none | elementwise | full: what blocks keep for backward (snnjax.remat)
        conv_impl="xla",  # xla (lax.conv_general_dilated) | matmul (snnjax.conv, same values)
        dropout=-1.0,  # < 0 = the preset's (0.2 for depth 104, else 0)
        time_window=0,  # 0 = neurons run all T steps; w > 0: the first w only, zeros after (ImageNet seed: 4)
    )
    set_fields(cfg, overrides, "model")
    return cfg


def resolve(cfg: ml_collections.ConfigDict):
    """``(stem, widths, blocks, first_stride, shortcut, dropout)`` of ``cfg`` (preset + overrides)."""
    key = (cfg.variant, int(cfg.depth))
    if key not in PRESETS:
        raise ConfigError(
            f"unknown MS-ResNet variant/depth {key}; choose one of {sorted(PRESETS)} (config.model.variant, "
            "config.model.depth)"
        )
    stem, widths, blocks, first_stride, shortcut, dropout = PRESETS[key]
    widths = tuple(cfg.widths) or widths
    blocks = tuple(cfg.blocks) or blocks
    if len(widths) != len(blocks):
        raise ConfigError(f"config.model.widths {widths} and blocks {blocks} need equal lengths")
    dropout = dropout if cfg.dropout < 0 else float(cfg.dropout)
    return stem, widths, blocks, first_stride, shortcut, dropout


def conv_init(name: str):
    """Conv weight initialiser: ``'torch'`` (PyTorch default, GAC-CIFAR) or ``'kaiming_fan_out'``
    (``kaiming_normal_(mode='fan_out', nonlinearity='relu')``, GAC-ImageNet)."""
    if name == "torch":
        return torch_default_init()
    if name == "kaiming_fan_out":
        return kaiming_fan_out_init()
    raise ConfigError(f"unknown config.model.conv_init {name!r}; choose 'torch' or 'kaiming_fan_out'")


class _Builder:
    """Shared constructor settings: conv init, BN init, neuron config, and the MAC bookkeeping."""

    def __init__(self, cfg: ml_collections.ConfigDict, rngs: nnx.Rngs):
        if cfg.bn_init not in ("plain", "threshold"):
            raise ConfigError(f"unknown config.model.bn_init {cfg.bn_init!r}; choose 'plain' or 'threshold'")
        window = int(cfg.get("time_window", 0))  # a config.json written before time_window: 0
        if not 0 <= window <= int(cfg.num_steps):
            raise ConfigError(
                f"config.model.time_window={window} must lie in [0, config.model.num_steps="
                f"{cfg.num_steps}] (0 = all steps)"
            )
        self.cfg, self.rngs = cfg, rngs
        self.init = conv_init(cfg.conv_init)
        self.conv_fn = conv_lib.conv_fn(cfg.conv_impl)
        self.bn_scale = float(chosen_neuron(cfg.neuron).v_th) if cfg.bn_init == "threshold" else 1.0

    def conv(self, cin: int, cout: int, k: int, stride: int = 1) -> nnx.Conv:
        pad = (k - 1) // 2
        return nnx.Conv(
            cin, cout, (k, k), (stride, stride), padding=((pad, pad), (pad, pad)), use_bias=False,
            kernel_init=self.init, conv_general_dilated=self.conv_fn, rngs=self.rngs,
        )  # fmt: skip

    def bn(self, c: int, zero: bool = False) -> nnx.BatchNorm:
        if zero:
            return layers.batch_norm(c, scale_init=0.0, rngs=self.rngs)
        if self.cfg.bn_init == "threshold":
            return layers.td_batch_norm(c, v_th=self.bn_scale, rngs=self.rngs)
        return layers.batch_norm(c, rngs=self.rngs)

    def neuron(self):
        return spiking_neuron(
            self.cfg.neuron,
            rngs=self.rngs,
            remat=bool(self.cfg.remat),
            window=int(self.cfg.get("time_window", 0)),
        )


class MSBlock(nnx.Module):
    """Membrane-shortcut basic block on ``[T, B, H, W, Cin] -> [T, B, H', W', Cout]`` (real values)."""

    def __init__(self, b: _Builder, cin: int, cout: int, stride: int, shortcut: str):
        self.lif1 = b.neuron()
        self.conv1 = b.conv(cin, cout, 3, stride)
        self.bn1 = b.bn(cout)
        self.lif2 = b.neuron()
        self.conv2 = b.conv(cout, cout, 3, 1)
        self.bn2 = b.bn(cout, zero=bool(b.cfg.zero_init_residual))
        self.stride = stride
        self.remat_level = remat.check_level(str(b.cfg.get("block_remat", "none")))  # older config.json: none
        self.pool_shortcut = shortcut == "avgpool_conv" and stride > 1
        self.has_shortcut = stride != 1 or cin != cout
        if self.has_shortcut:
            self.sc_conv = b.conv(cin, cout, 1, 1 if self.pool_shortcut else stride)
            self.sc_bn = b.bn(cout)

    def shortcut(self, x: Array) -> Array:
        """Shortcut on the real-valued block input ``[T*B, H, W, C]`` (the membrane path)."""
        if not self.has_shortcut:
            return x
        if self.pool_shortcut:
            s = self.stride
            x = nnx.avg_pool(x, (s, s), (s, s), padding="SAME")
        return self.sc_bn(remat.saved(self.sc_conv(x)))

    def __call__(self, x: Array) -> Array:
        return remat.call(MSBlock.forward, self, x, level=self.remat_level)

    def forward(self, x: Array) -> Array:
        """The block without rematerialisation; convolution outputs are marked :func:`remat.saved`."""
        t = x.shape[0]
        y = self.bn1(remat.saved(self.conv1(layers.fold(self.lif1(x)))))
        y = self.bn2(remat.saved(self.conv2(layers.fold(self.lif2(layers.unfold(y, t))))))
        return layers.unfold(y + self.shortcut(layers.fold(x)), t)


class Stem(nnx.Module):
    """``[N, H, W, Cin] -> X [N, H', W', C]`` for the analog-input stems ``cifar`` (Conv3x3 + BN) and
    ``imagenet`` (Conv7x7/2 + BN); ``imagenet104`` adds ``LIF -> Conv3x3 -> BN`` twice, which needs the
    time axis (see :meth:`spiking_tail`)."""

    def __init__(self, b: _Builder, kind: str, cin: int, c: int):
        self.kind = kind
        if kind == "cifar":
            self.conv = b.conv(cin, c, 3, 1)
        elif kind == "imagenet":
            self.conv = b.conv(cin, c, 7, 2)
        elif kind == "imagenet104":
            self.conv = b.conv(cin, c, 3, 2)
            self.tail_lifs = nnx.List([b.neuron(), b.neuron()])
            self.tail_convs = nnx.List([b.conv(c, c, 3, 1), b.conv(c, c, 3, 1)])
            self.tail_bns = nnx.List([b.bn(c), b.bn(c)])
        else:
            raise ConfigError(f"unknown MS-ResNet stem {kind!r}")
        self.bn = b.bn(c)

    @property
    def stride(self) -> int:
        return 1 if self.kind == "cifar" else 2

    def __call__(self, x: Array) -> Array:
        return self.bn(self.conv(x))

    def spiking_tail(self, x: Array) -> Array:
        """The 104-stem's ``[LIF -> Conv3x3 -> BN] x 2`` on ``[T, B, H, W, C]`` (identity otherwise)."""
        if self.kind != "imagenet104":
            return x
        for lif, conv, bn in zip(self.tail_lifs, self.tail_convs, self.tail_bns, strict=True):
            x = layers.unfold(bn(conv(layers.fold(lif(x)))), x.shape[0])
        return x


@register("msresnet")
class MSResNet(nnx.Module):
    """MS-ResNet (+ GAC): images ``[B, H, W, C]`` (or frames ``[B, T, H, W, C]``) -> logits ``[T, B, K]``.

    ``config.model`` keys (see :func:`model_config`): ``variant``, ``depth``, ``gac``, ``gac_kernel``,
    ``widths``, ``blocks``, ``stem_width``, ``bn_init``, ``zero_init_residual``, ``conv_init``,
    ``dropout``, ``time_window``, ``neuron``, ``num_steps``, ``encoding``, ``remat``.

    ``synapses`` lists, per weight layer, ``(name, MACs per example and step, source)`` where source is
    the path of the neuron whose spikes feed it, or ``'analog'`` for layers on real values computed once
    per static input (stem, GAC); :mod:`snnjax.analysis.energy` turns it into an energy estimate.
    """

    def __init__(self, cfg: ml_collections.ConfigDict, num_classes: int, input_shape, *, rngs: nnx.Rngs):
        stem_kind, widths, blocks, first_stride, shortcut, dropout = resolve(cfg)
        b = _Builder(cfg, rngs)
        h, w, cin = input_shape
        c = int(cfg.stem_width)
        self.num_steps = int(cfg.num_steps)
        self.encoder = Encoder(cfg.encoding, cfg.num_steps, rngs=rngs)
        self.stem = Stem(b, stem_kind, cin, c)
        syn = []
        k0 = self.stem.conv.kernel_size[0]
        h, w = conv_out_size(h, self.stem.stride), conv_out_size(w, self.stem.stride)
        syn.append(("stem.conv", h * w * k0 * k0 * cin * c, "analog"))
        if stem_kind == "imagenet104":
            syn += [(f"stem.tail_convs.{i}", h * w * 9 * c * c, f"stem.tail_lifs.{i}") for i in range(2)]
        self.use_gac = bool(cfg.gac)
        if self.use_gac:
            self.encode_lif = b.neuron()
            k = int(cfg.gac_kernel)
            self.gac = GAC(c, self.num_steps, k, kernel_init=b.init, rngs=rngs)
            t = self.num_steps
            syn.append(("gac.sca", 2 * h * w * k * k * c * c, "analog"))
            syn.append(("gac.ta", 2 * 2 * t * (t // 2), "analog"))
        stages = []
        for i, (width, n) in enumerate(zip(widths, blocks, strict=True)):
            for j in range(n):
                stride = (first_stride if i == 0 else 2) if j == 0 else 1
                idx = len(stages)
                stages.append(MSBlock(b, c, width, stride, shortcut))
                ho, wo = conv_out_size(h, stride), conv_out_size(w, stride)
                syn.append((f"blocks.{idx}.conv1", ho * wo * 9 * c * width, f"blocks.{idx}.lif1"))
                syn.append((f"blocks.{idx}.conv2", ho * wo * 9 * width * width, f"blocks.{idx}.lif2"))
                if stages[-1].has_shortcut:  # fed by real values; counted at the rate of lif1 (see energy)
                    syn.append((f"blocks.{idx}.sc_conv", ho * wo * c * width, f"blocks.{idx}.lif1"))
                c, h, w = width, ho, wo
        self.blocks = nnx.List(stages)
        self.head_lif = b.neuron()
        self.dropout = layers.VariationalDropout(dropout, rngs=rngs)
        self.head = nnx.Linear(
            c, num_classes, kernel_init=torch_default_init(), bias_init=torch_bias_init(c), rngs=rngs
        )
        syn.append(("head", c * num_classes, "head_lif"))
        self.synapses = tuple(syn)

    def features(self, x: Array) -> Array:
        """Stem and GAC: ``[B, H, W, C]`` (or frames ``[B, T, H, W, C]``) -> block input
        ``[T, B, H', W', C']``."""
        z, z_static = stem_over_time(self.stem, x, self.encoder)  # a static image: the stem runs once
        z = self.stem.spiking_tail(z)
        if not self.use_gac:
            return z
        s = self.encode_lif(z)
        if z_static is not None and self.stem.kind != "imagenet104":
            return self.gac(z_static, s, static=True)
        return self.gac(z, s)

    def __call__(self, x: Array) -> Array:
        z = self.features(x)
        for block in self.blocks:
            z = block(z)
        s = self.head_lif(z)
        pooled = self.dropout(jnp.mean(s, axis=(2, 3)))  # [T, B, C]
        return self.head(pooled)
