"""The named feedback SNNs of SPIDE and IDE-FSNN (``config.model.name``) and their config keys.

Inputs are NHWC images ``(H, W, C)`` per example; the comments give the layer sizes of the papers' inputs.
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections
from flax import nnx

from snnjax.models import register
from snnjax.models.blocks import unit_filter_uniform
from snnjax.models.feedback.network import FeedbackSNN
from snnjax.models.feedback.ops import AvgPool, Conv, ConvTranspose, Dense


def fsnn_model_config(**overrides) -> ml_collections.ConfigDict:
    """The FSNN keys added to ``config.model`` (defaults: SPIDE MNIST)."""
    cfg = ml_collections.ConfigDict(
        dict(
            leak=1.0,  # 1 = IF, (0, 1) = LIF (--leaky)
            v_th=1.0,  # forward threshold
            reset=0.0,  # D subtracted at a spike: 0 = 2 v_th (SPIDE); IDE's neuron: v_th = reset = 2
            solver="spide",  # spide | fixed_point | broyden
            backward_steps=100,  # T_b (spide)
            v_th_back=0.5,  # V_th_b (spide)
            solver_max_iter=30,  # fixed_point / broyden iterations (IDE "threshold")
            solver_tol=1e-6,  # relative residual to stop at
            damping=0.5,  # fixed_point: beta <- (1-d) beta + d (g + J^T beta)
            fixed_point_start="zero",  # fixed_point: from beta = 0 | g (IDE's 'iter')
            diverge_residual=1.0,  # relative residual above which the step's gradients are skipped
            forward="spiking",  # spiking | equilibrium (exact fixed-point iteration, for tests)
            forward_iters=100,
            scale_factor=1.0,  # loss scale s; set optim.lr_scale to the same value
            dropout=0.0,  # variational dropout rate on the layers' currents
            dropout_grad="unmasked",  # weight gradients without the dropout masks (SPIDE) | masked (exact)
            readout_init="torch",  # nn.Linear default U(+-1/sqrt(fan_in)) (authors) | flax (lecun, zero bias)
            gradient_at="rates",  # linearised at the forward rates (SPIDE) | reevaluation of f(a*, x) (IDE)
            input_bn_updates=2,  # moves per training step of W_x's BatchNorm statistics: 2 (IDE's code) | 1
            event_bn_average="code",  # LIF on events: IDE's in-place average (code) | weighted
            feedback_norm=2.0,  # feedback norm bound r (Frobenius; ide_fc_f400: spectral; 0 = off)
            norm_samples=64,  # samples of the stochastic Frobenius-norm estimate
            widths=(),  # CIFAR models: the six channel widths
        )
    )
    cfg.update(overrides)
    return cfg


@register("spide_mnist_lenet")
def mnist_lenet(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """Feed-forward LeNet (feedback = zero): Conv5 1->15, AvgPool, Conv5 15->40, AvgPool, FC 1960->300
    (dropout 0.5 on the FC current), readout 300 -> classes; kaiming-normal init."""
    inp = Conv(input_shape, 15, 5, rngs=rngs)
    pool1 = AvgPool(inp.out_shape)
    conv2 = Conv(pool1.out_shape, 40, 5, rngs=rngs)
    pool2 = AvgPool(conv2.out_shape)
    fc = Dense(pool2.out_shape, 300, rngs=rngs)
    return FeedbackSNN(cfg, num_classes, inp, [pool1, conv2, pool2, fc], None, (4,), rngs=rngs)


@register("spide_mnist_convnetf")
def mnist_convnetf(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """IDE's 64C5s (F64C5): Conv5 s2 1->64 (14), Conv5 s2 64->64 (7), Conv5 64->64 (7); feedback
    ConvT3 s2 64->64 (7 -> 14, x0.1 init, norm <= r); dropout on the currents of layers 1 and 2 and on
    layer 0's input and feedback currents (independent masks)."""
    inp = Conv(input_shape, 64, 5, 2, rngs=rngs)
    conv1 = Conv(inp.out_shape, 64, 5, 2, rngs=rngs)
    conv2 = Conv(conv1.out_shape, 64, 5, 1, rngs=rngs)
    fb = ConvTranspose(conv2.out_shape, 64, 3, 2, inp.out_shape[:2], rngs=rngs)
    return FeedbackSNN(cfg, num_classes, inp, [conv1, conv2], fb, (0, 1, 2), rngs=rngs)


def _cifar_fsnn(cfg, num_classes, input_shape, widths, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """SPIDE CIFAR model: Conv3 s2 c->w0 (16), w0->w1 (16), w1->w2 s2 (8), w2->w3, w3->w4 (8); feedback
    ConvT3 s2 w4->w0 (8 -> 16); unit-filter uniform init, ConvT x0.1; dropout on layers 1..4 and on layer
    0's input and feedback currents (independent masks)."""
    init = unit_filter_uniform
    inp = Conv(input_shape, widths[0], 3, 2, init=init, rngs=rngs)
    layers, last = [], inp
    for width, stride in zip(widths[1:5], (1, 2, 1, 1), strict=True):
        last = Conv(last.out_shape, width, 3, stride, init=init, rngs=rngs)
        layers.append(last)
    fb = ConvTranspose(last.out_shape, widths[0], 3, 2, inp.out_shape[:2], init=init, rngs=rngs)
    return FeedbackSNN(cfg, num_classes, inp, layers, fb, (0, 1, 2, 3, 4), rngs=rngs)


@register("spide_cifar_alexnetf")
def cifar_alexnetf(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """AlexNet-F: widths 96, 256, 384, 384, 256 (``model.widths`` overrides)."""
    widths = tuple(cfg.widths) or (96, 256, 384, 384, 256)
    return _cifar_fsnn(cfg, num_classes, input_shape, widths, rngs=rngs)


@register("spide_cifar_cifarnetf")
def cifar_cifarnetf(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """CIFARNet-F: widths 128, 256, 512, 1024, 512 (``model.widths`` overrides)."""
    widths = tuple(cfg.widths) or (128, 256, 512, 1024, 512)
    return _cifar_fsnn(cfg, num_classes, input_shape, widths, rngs=rngs)


def _ide_cifar_fsnn(cfg, num_classes, input_shape, widths, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """IDE-FSNN's CIFAR model (``SNNIDEConvMultiLayerNet``): SPIDE's layer geometry with a BatchNorm after
    ``W_x`` and after every forward conv (scale 1, bias 0), zero conv biases, the ConvT feedback w4 -> w0
    without BN, unit-norm filters without the x0.1 factor and IDE's spectral restriction (norm <= ``r``,
    learned gain); dropout on layers 1..4 and on layer 0's input and feedback currents."""
    init = unit_filter_uniform
    inp = Conv(input_shape, widths[0], 3, 2, init=init, batch_norm=True, rngs=rngs)
    layers, last = [], inp
    for width, stride in zip(widths[1:5], (1, 2, 1, 1), strict=True):
        last = Conv(last.out_shape, width, 3, stride, init=init, batch_norm=True, rngs=rngs)
        layers.append(last)
    for op in (inp, *layers):
        op.bias[...] = jnp.zeros_like(op.bias[...])
    fb = ConvTranspose(last.out_shape, widths[0], 3, 2, inp.out_shape[:2], init=init, gain=1.0, rngs=rngs)
    return FeedbackSNN(cfg, num_classes, inp, layers, fb, (0, 1, 2, 3, 4), restriction="spectral", rngs=rngs)


@register("ide_cifar_alexnetf")
def ide_cifar_alexnetf(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """IDE's AlexNet-F with BatchNorm (``cifar_alexnetf.py``): widths 96, 256, 384, 384, 256
    (``model.widths`` overrides)."""
    widths = tuple(cfg.widths) or (96, 256, 384, 384, 256)
    return _ide_cifar_fsnn(cfg, num_classes, input_shape, widths, rngs=rngs)


@register("ide_cifar_cifarnetf")
def ide_cifar_cifarnetf(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """IDE's CIFARNet-F with BatchNorm (``cifar_cifarnetf.py``): widths 128, 256, 512, 1024, 512
    (``model.widths`` overrides)."""
    widths = tuple(cfg.widths) or (128, 256, 512, 1024, 512)
    return _ide_cifar_fsnn(cfg, num_classes, input_shape, widths, rngs=rngs)


@register("spide_dvs_convnetf")
def dvs_convnetf(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """CIFAR10-DVS ConvNet-F: Conv9 s2 2->512 (48 -> 24) drives one layer with a Conv5 512->512 feedback
    onto itself (no bias, norm <= 10); readout on 24*24*512 rates; ``model.dropout`` (0 in the authors'
    script) drops the input and feedback currents independently. ``model.widths=(c,)`` overrides 512."""
    width = int(next(iter(cfg.widths), 512))
    inp = Conv(input_shape, width, 9, 2, rngs=rngs)
    fb = Conv(inp.out_shape, width, 5, 1, bias=False, rngs=rngs)
    return FeedbackSNN(cfg, num_classes, inp, [], fb, (0,), rngs=rngs)


def _ide_conv_f64(cfg, num_classes, input_shape, padding: int, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """IDE's ``64C5s (F64C5)`` (``snn_ide_conv.py``): Conv5 s2 (``padding``) c -> 64 + BatchNorm drives one
    layer with a Conv5 64 -> 64 feedback onto itself (no bias, spectral norm restricted to ``r``); readout on
    the rates. Both convs start uniform(-1, 1) with unit-norm filters, zero bias; dropout on the input and
    feedback currents. ``model.widths=(c,)`` overrides 64."""
    width = int(next(iter(cfg.widths), 64))
    inp = Conv(
        input_shape, width, 5, 2, init=unit_filter_uniform, batch_norm=True, padding=padding, rngs=rngs
    )
    inp.bias[...] = jnp.zeros_like(inp.bias[...])
    fb = Conv(inp.out_shape, width, 5, 1, bias=False, init=unit_filter_uniform, rngs=rngs)
    return FeedbackSNN(cfg, num_classes, inp, [], fb, (0,), restriction="spectral", rngs=rngs)


@register("ide_mnist_convf64")
def mnist_conv_f64(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """IDE's MNIST F64C5 (``mnist_conv.py``): padding 2, 28 -> 14 px."""
    return _ide_conv_f64(cfg, num_classes, input_shape, 2, rngs=rngs)


@register("ide_nmnist_convf64")
def nmnist_conv_f64(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """IDE's N-MNIST F64C5 (``nmnist_conv.py``): padding 1, 34 -> 16 px, on event frames (the input
    BatchNorm with IDE's statistics of event input: :func:`.network.ide_event_inputs`)."""
    return _ide_conv_f64(cfg, num_classes, input_shape, 1, rngs=rngs)


@register("ide_fc_f400")
def fc_f400(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """IDE's Fashion-MNIST 400 (F400, ``fashionmnist_fc.py``): FC 784 -> 400 + BatchNorm drives one layer
    with a 400 -> 400 FC feedback onto itself (no bias, spectral norm restricted to ``r``); readout
    400 -> classes. Both FCs start uniform(-1, 1) with unit-norm rows, zero bias; dropout on the input and
    feedback currents (independent masks). ``model.widths=(h,)`` overrides 400."""
    width = int(next(iter(cfg.widths), 400))
    inp = Dense(input_shape, width, init=unit_filter_uniform, batch_norm=True, rngs=rngs)
    inp.bias[...] = jnp.zeros_like(inp.bias[...])
    fb = Dense(inp.out_shape, width, bias=False, init=unit_filter_uniform, rngs=rngs)
    return FeedbackSNN(cfg, num_classes, inp, [], fb, (0,), restriction="spectral", rngs=rngs)
