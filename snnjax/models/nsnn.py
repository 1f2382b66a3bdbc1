"""NSNN architectures (Ma, Yan, Tang, Patterns 2023; docs/nsnn.md) with any core neuron.

Every model maps static images ``[B, H, W, C]`` (direct coding: repeated ``T`` times) or event frames
``[T, B, H, W, C]`` to per-step logits ``[T, B, classes]``. Convolutions, BN and pooling run on the
time-folded batch ``[T * B, ...]`` (BN statistics pooled over time and batch, as the seed's BatchNorm2d
on ``[B*T, C, H, W]``); only the neurons scan over time.

Model config keys (besides the shared ``name``, ``num_steps``, ``encoding``, ``neuron``, ``remat``):
  * ``init``: ``'default'`` (PyTorch's default for the ResNets / ToyNet, kaiming-normal fan-out for VGG and
    CIFARNet, as the seed) or ``'orthogonal'`` (every conv and linear kernel, the seed's ``--init orthog``);
  * ``bn``: BatchNorm after the convolutions (the seed's ``--nobn`` is ``bn=False`` for its ResNets; its
    VGGs and CIFARNet always have BN);
  * ``hidden``: ToyNet's hidden width (64 in the seed);
  * ``width``: the ResNets' and VGGs' base width (64 in the seed; every channel count scales by
    ``width / 64``);
  * ``reg`` / ``reg_lambda``: ``'none' | 'gram' | 'srip'`` orthogonality penalty added to the training
    loss through :meth:`regularization_loss` (:mod:`snnjax.regularizers`).

Every neuron layer is a :class:`PerturbableNeuron`: robustness analysis may set its ``perturb`` hook to
alter the emitted spikes (spike-level perturbation); it is ``None`` in training.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax import Array

from snnjax import layers, regularizers
from snnjax.errors import ConfigError
from snnjax.models import register
from snnjax.models.blocks import avg_pool_2x2, kaiming_fan_out_init, torch_default_init
from snnjax.models.common import (
    Encoder,
    RecordedNeuron,
    layer_options,
    make_neuron,
    neuron_config,
    set_fields,
)
from snnjax.models.common import model_config as shared_model_config

# (spikes [T, B, ...], key) -> perturbed spikes
SpikePerturbation = Callable[[Array, Array], Array]


class PerturbableNeuron(RecordedNeuron):
    """A recorded neuron layer whose emitted spikes pass through an optional ``perturb`` hook.

    The firing rate is recorded before the perturbation. The hook draws its randomness from the layer's
    own ``perturb_rngs`` stream (forked from the ``noise`` stream, so ``reseed`` controls it).
    """

    def __init__(self, neuron, *, rngs: nnx.Rngs | None = None, **kwargs):
        super().__init__(neuron, rngs=rngs, **kwargs)
        self.perturb: SpikePerturbation | None = None
        self.perturb_rngs = rngs["noise"].fork() if rngs is not None else nnx.data(None)

    def __call__(self, x: Array, *, key: Array | None = None) -> Array:
        s = super().__call__(x, key=key)
        if self.perturb is None:
            return s
        if self.perturb_rngs is None:
            raise ValueError("a spike perturbation needs a layer built with rngs=nnx.Rngs(noise=...)")
        return self.perturb(s, self.perturb_rngs())


def nsnn_neuron(cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs, remat: bool = False) -> PerturbableNeuron:
    """A perturbable recorded neuron layer from a neuron config section."""
    return PerturbableNeuron(make_neuron(cfg), remat=remat, rngs=rngs, **layer_options(cfg))


def _kernel_init(cfg: ml_collections.ConfigDict, default: str):
    """Kernel initialiser: orthogonal, PyTorch default (``torch``) or kaiming-normal fan-out (``kaiming``)."""
    init = cfg.init
    if init == "orthogonal":
        return nnx.initializers.orthogonal()
    if init != "default":
        raise ConfigError(f"unknown config.model.init {init!r}; use 'default' or 'orthogonal'")
    return kaiming_fan_out_init() if default == "kaiming" else torch_default_init()


def _conv(cfg, c_in, c_out, k=3, stride=1, *, bias, default="torch", rngs) -> nnx.Conv:
    pad = "SAME" if stride == 1 else ((k // 2, k // 2), (k // 2, k // 2))
    return nnx.Conv(
        c_in,
        c_out,
        (k, k),
        strides=stride,
        padding=pad,
        use_bias=bias,
        kernel_init=_kernel_init(cfg, default),
        rngs=rngs,
    )


def _linear(cfg, d_in, d_out, *, bias=True, default="torch", rngs) -> nnx.Linear:
    return nnx.Linear(d_in, d_out, use_bias=bias, kernel_init=_kernel_init(cfg, default), rngs=rngs)


def _norm(cfg, c, *, rngs):
    return layers.batch_norm(c, rngs=rngs) if cfg.bn else None


class _NSNNBase(nnx.Module):
    """Shared pieces: the encoder and the orthogonality penalty."""

    def _setup(self, cfg: ml_collections.ConfigDict, rngs: nnx.Rngs):
        self.encoder = Encoder(cfg.encoding, cfg.num_steps, rngs=rngs)
        self.reg = cfg.reg
        self.reg_lambda = float(cfg.reg_lambda)
        if self.reg not in regularizers.REGULARIZERS and self.reg != "none":
            raise ConfigError(f"unknown config.model.reg {self.reg!r}; use none, gram or srip")

    def regularization_loss(self) -> Array:
        """``reg_lambda * R(W)`` summed over every conv/linear kernel (0 for ``reg='none'``)."""
        if self.reg == "none":
            return jnp.zeros((), jnp.float32)
        return self.reg_lambda * regularizers.orthogonality_loss(self, self.reg)


def _conv_bn_sn(conv, norm, neuron, s: Array) -> Array:
    """``sn(BN(conv(s)))`` on ``[T, B, H, W, C]`` (BN optional)."""
    t = s.shape[0]
    y = conv(layers.fold(s))
    if norm is not None:
        y = norm(y)
    return neuron(layers.unfold(y, t))


class BasicBlock(nnx.Module):
    """Spike-residual post-activation block:
    ``sn2(BN(Conv3x3(sn1(BN(Conv3x3_s(x))))) + shortcut(x))``, shortcut ``BN(Conv1x1_s)`` on shape change.

    The seed reuses one (stateless) neuron module for both activations; two layers are equivalent.
    """

    def __init__(self, cfg, c_in: int, c_out: int, stride: int, *, rngs: nnx.Rngs):
        self.conv1 = _conv(cfg, c_in, c_out, 3, stride, bias=False, rngs=rngs)
        self.bn1 = _norm(cfg, c_out, rngs=rngs)
        self.sn1 = nsnn_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat)
        self.conv2 = _conv(cfg, c_out, c_out, 3, 1, bias=False, rngs=rngs)
        self.bn2 = _norm(cfg, c_out, rngs=rngs)
        self.sn2 = nsnn_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat)
        if stride != 1 or c_in != c_out:
            self.down = _conv(cfg, c_in, c_out, 1, stride, bias=False, rngs=rngs)
            self.down_bn = _norm(cfg, c_out, rngs=rngs)
        else:
            self.down = self.down_bn = None

    def __call__(self, s: Array) -> Array:
        t = s.shape[0]
        h = _conv_bn_sn(self.conv1, self.bn1, self.sn1, s)
        y = self.conv2(layers.fold(h))
        if self.bn2 is not None:
            y = self.bn2(y)
        skip = layers.fold(s)
        if self.down is not None:
            skip = self.down(skip)
            if self.down_bn is not None:
                skip = self.down_bn(skip)
        return self.sn2(layers.unfold(y + skip, t))


class SpikingResNet(_NSNNBase):
    """Spiking ResNet: stem ``Conv -> BN -> sn``, stages of :class:`BasicBlock`, global average pool per
    step, then a head (``Linear -> sn -> Linear`` for ResNet-19, one ``Linear`` otherwise)."""

    def __init__(
        self,
        cfg: ml_collections.ConfigDict,
        num_classes: int,
        input_shape,
        *,
        stem_width: int,
        widths: Sequence[int],
        blocks: Sequence[int],
        strides: Sequence[int],
        head_hidden: int = 0,
        rngs: nnx.Rngs,
    ):
        self._setup(cfg, rngs)
        scale = int(cfg.width)
        stem_width, widths = stem_width * scale // 64, [w * scale // 64 for w in widths]
        head_hidden = head_hidden * scale // 64
        h, _, c = input_shape
        small = h <= 32
        # ResNet-19 always uses the 3x3 stem; ResNet-18/34 use 7x7 stride 2 for inputs larger than 32 px
        k, stride = (3, 1) if (small or head_hidden) else (7, 2)
        self.stem = _conv(cfg, c, stem_width, k, stride, bias=False, rngs=rngs)
        self.stem_bn = _norm(cfg, stem_width, rngs=rngs)
        self.stem_sn = nsnn_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat)
        blocks_, c_in = [], stem_width
        for width, n, st in zip(widths, blocks, strides, strict=True):
            for i in range(n):
                blocks_.append(BasicBlock(cfg, c_in, width, st if i == 0 else 1, rngs=rngs))
                c_in = width
        self.blocks = nnx.List(blocks_)
        if head_hidden:
            self.fc1 = _linear(cfg, c_in, head_hidden, rngs=rngs)
            self.fc_sn = nsnn_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat)
            c_in = head_hidden
        else:
            self.fc1 = self.fc_sn = None
        self.fc = _linear(cfg, c_in, num_classes, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        s = _conv_bn_sn(self.stem, self.stem_bn, self.stem_sn, self.encoder(x))
        for block in self.blocks:
            s = block(s)
        s = s.mean(axis=(2, 3))  # [T, B, C]
        if self.fc1 is not None:
            s = self.fc_sn(self.fc1(s))
        return self.fc(s)


# model name -> stage widths, blocks per stage, stage strides, hidden width of the head (0: one Linear);
# every ResNet has a 64-channel stem (at width 64)
RESNETS = {
    # the seed's default ``sresnet19``: stages 128x3, 256x3 (s2), 512x2 (s2), head FC 256 -> sn -> FC
    "nsnn_resnet19": ((128, 256, 512), (3, 3, 2), (1, 2, 2), 256),
    # 64-width ResNet-18; the seed's unused MaxPool is omitted
    "nsnn_resnet18": ((64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2), 0),
    # 64-width ResNet-34
    "nsnn_resnet34": ((64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2), 0),
}


def _resnet_builder(widths, blocks, strides, head_hidden):
    def build(cfg, num_classes, input_shape, *, rngs):
        return SpikingResNet(
            cfg, num_classes, input_shape, stem_width=64, widths=widths, blocks=blocks, strides=strides,
            head_hidden=head_hidden, rngs=rngs,
        )  # fmt: skip

    return build


for _name, _preset in RESNETS.items():
    register(_name)(_resnet_builder(*_preset))


VGG_LAYERS = (64, 128, "P", 256, 256, "P", 512, 512, "P", 512, 512, "P")


class VGGSNN(_NSNNBase):
    """TET's VGGSNN: ``[Conv3x3(bias) -> BN -> sn]`` 64,128,P,256,256,P,512,512,P,512,512,P -> Linear.

    ``P`` is a 2x2 average pool; with ``pool=False`` (VGGSNNwoAP) the conv before each ``P`` has stride 2
    instead. The classifier's input size is computed from the input (``512 * 3 * 3`` for the seed's 48x48
    DVS frames, for which the seed hard-codes it).
    """

    def __init__(self, cfg, num_classes, input_shape, *, pool: bool = True, rngs: nnx.Rngs):
        self._setup(cfg, rngs)
        h, w, c = input_shape
        self.pool = pool
        convs, norms, neurons_, pools = [], [], [], []
        spec = list(VGG_LAYERS)
        scale = int(cfg.width)  # the first conv's width; the others scale with it
        for i, item in enumerate(spec):
            if item == "P":
                continue
            down = i + 1 < len(spec) and spec[i + 1] == "P"
            stride = 2 if (down and not pool) else 1
            width = item * scale // 64
            convs.append(_conv(cfg, c, width, 3, stride, bias=True, default="kaiming", rngs=rngs))
            norms.append(_norm(cfg, width, rngs=rngs))
            neurons_.append(nsnn_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat))
            pools.append(down)
            c = width
            if down:
                h, w = (h // 2, w // 2) if pool else ((h + 1) // 2, (w + 1) // 2)
        self.convs, self.norms, self.neurons = nnx.List(convs), nnx.List(norms), nnx.List(neurons_)
        self.pools = tuple(pools)
        self.fc = _linear(cfg, h * w * c, num_classes, default="kaiming", rngs=rngs)

    def __call__(self, x: Array) -> Array:
        s = self.encoder(x)
        for conv, norm, neuron, down in zip(self.convs, self.norms, self.neurons, self.pools, strict=True):
            s = _conv_bn_sn(conv, norm, neuron, s)
            if down and self.pool:
                s = layers.time_folded(avg_pool_2x2, s)
        return self.fc(s.reshape((*s.shape[:2], -1)))


@register("nsnn_vgg")
def vggsnn(cfg, num_classes, input_shape, *, rngs):
    """VGGSNN with average pooling (DVS-CIFAR10, 48x48x2 frames)."""
    return VGGSNN(cfg, num_classes, input_shape, pool=True, rngs=rngs)


@register("nsnn_vgg_noap")
def vggsnn_noap(cfg, num_classes, input_shape, *, rngs):
    """VGGSNNwoAP: stride-2 convs instead of the average pools."""
    return VGGSNN(cfg, num_classes, input_shape, pool=False, rngs=rngs)


@register("nsnn_cifarnet")
class CIFARNet(_NSNNBase):
    """CIFARNet: ``[Conv3x3(bias) -> BN -> sn]`` 128, 256, P, 512, P, 1024, 512, flatten, then
    ``Linear(1024) -> Linear(512) -> Linear(classes)`` with no neurons between the Linears (as coded). The
    seed's conv layers (``BasicConvLayer``) include BatchNorm; ``bn=False`` drops it."""

    def __init__(self, cfg, num_classes, input_shape, *, rngs: nnx.Rngs):
        self._setup(cfg, rngs)
        h, w, c = input_shape
        spec = (128, 256, "P", 512, "P", 1024, 512)
        convs, norms, neurons_, pools = [], [], [], []
        for i, item in enumerate(spec):
            if item == "P":
                continue
            convs.append(_conv(cfg, c, item, 3, 1, bias=True, default="kaiming", rngs=rngs))
            norms.append(_norm(cfg, item, rngs=rngs))
            neurons_.append(nsnn_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat))
            down = i + 1 < len(spec) and spec[i + 1] == "P"
            pools.append(down)
            c = item
            if down:
                h, w = h // 2, w // 2
        self.convs, self.norms, self.neurons = nnx.List(convs), nnx.List(norms), nnx.List(neurons_)
        self.pools = tuple(pools)
        dims = [h * w * c, 1024, 512, num_classes]
        self.fcs = nnx.List(
            [_linear(cfg, a, b, default="kaiming", rngs=rngs) for a, b in itertools.pairwise(dims)]
        )

    def __call__(self, x: Array) -> Array:
        s = self.encoder(x)
        for conv, norm, neuron, down in zip(self.convs, self.norms, self.neurons, self.pools, strict=True):
            s = _conv_bn_sn(conv, norm, neuron, s)
            if down:
                s = layers.time_folded(avg_pool_2x2, s)
        s = s.reshape((*s.shape[:2], -1))
        for fc in self.fcs:
            s = fc(s)
        return s


@register("nsnn_toynet")
class ToyNet(_NSNNBase):
    """The seed's MNIST ToyNet: ``Flatten -> Linear(in -> hidden, no bias) -> sn -> Linear(hidden ->
    classes, no bias)``; ``hidden = cfg.hidden`` (64 in the seed)."""

    def __init__(self, cfg, num_classes, input_shape, *, rngs: nnx.Rngs):
        self._setup(cfg, rngs)
        hidden = int(cfg.hidden)
        self.fc1 = _linear(cfg, math.prod(input_shape), hidden, bias=False, rngs=rngs)
        self.sn = nsnn_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat)
        self.fc2 = _linear(cfg, hidden, num_classes, bias=False, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        s = self.encoder(x)
        s = s.reshape((*s.shape[:2], -1))
        return self.fc2(self.sn(self.fc1(s)))


def noisy_lif_neuron(noise_scale: float) -> ml_collections.ConfigDict:
    """The seed's neuron section: NILIF (decay 1/tau = 0.5, threshold 1, hard reset not detached, Gaussian
    noise of width ``noise_scale`` applied twice per step as the seed's code does, ``noise_mode='code'``;
    ``'paper'`` applies it once) selected, and the seed's deterministic LIF (same decay and threshold,
    no input decay, hard reset, erf surrogate alpha 1) prepared for ``--config.model.neuron.type=lif``."""
    return neuron_config(
        "noisy_lif",
        noisy_lif=dict(
            decay=0.5,
            v_th=1.0,
            detach_reset=False,
            noise=f"gaussian(sigma={float(noise_scale)!r})",
            noise_mode="code",
        ),
        lif=dict(
            decay=0.5,
            v_th=1.0,
            decay_input=False,
            reset="hard",
            detach_reset=False,
            surrogate="erf(alpha=1.0)",
        ),
    )


def model_config(name: str, **overrides) -> ml_collections.ConfigDict:
    """A complete ``config.model`` section for the NSNN model ``name`` (``nsnn_toynet``, ``nsnn_vgg``, ...):
    the shared keys with the seed's neuron (:func:`noisy_lif_neuron`, sigma 0.3) and the NSNN keys."""
    cfg = shared_model_config(
        name,
        neuron=noisy_lif_neuron(0.3),
        init="default",  # default | orthogonal
        bn=True,  # BatchNorm after the convs of the ResNets and VGGs
        hidden=64,  # ToyNet's hidden width
        width=64,  # base width of the ResNets and VGGs
        reg="none",  # none | gram | srip orthogonality penalty
        reg_lambda=1e-4,
    )
    set_fields(cfg, overrides, "model")
    return cfg


def perturbable_layers(model: nnx.Module) -> list[PerturbableNeuron]:
    """Every :class:`PerturbableNeuron` of ``model``."""
    return [m for _, m in nnx.iter_graph(model) if isinstance(m, PerturbableNeuron)]
