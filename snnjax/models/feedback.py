"""Feedback SNNs of SPIDE / IDE-FSNN (docs/spide.md), trained by implicit differentiation.

Every model is a :class:`FeedbackSNN`: an input op ``W_x`` driving layer 0, a chain of linear ops (conv, 2x2
average pool, FC) between spiking layers, an optional feedback op from the last layer to layer 0 (no bias,
Frobenius- or spectral-norm restricted), and an ANN readout ``Linear`` on the last layer's average firing
rate. The spiking dynamics and the implicit backward live in :mod:`snnjax.implicit`. Convolutions give the
implicit backward explicit transposes (:func:`conv_t`), much faster on XLA:CPU than ``jax.vjp`` of a
convolution. Inputs are NHWC images ``[B, H, W, C]`` (constant current each step) or event frames
``[T, B, H, W, C]`` (one frame per step); the output is the readout's logits ``[1, B, classes]`` (one "time
step": the rate is already a time average).

Loss scale factor ``s`` (``model.scale_factor``): the logits are returned as ``sg(z) + s (z - sg(z))``, equal
to ``z`` in value but with every gradient multiplied by ``s`` -- the same as SPIDE's
``(s * loss).backward()``,
so the spiking solver sees ``g`` ``s`` times larger. The configs divide the learning rate by the same ``s``
(``optim.lr_scale``); the coupled SGD weight decay is then effectively ``wd / s``, as in the seed.

Statistics (metrics): ``firing_rate`` (forward, mean of the layers' rates, sown in the forward pass) and,
from the backward pass via
the ``solver_probe`` parameter's gradient (:meth:`FeedbackSNN.gradient_metrics`), ``solver_residual``,
``backward_firing_rate`` and ``solver_diverged``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax import Array

from snnjax import implicit
from snnjax.errors import ConfigError
from snnjax.models import register

_DN = ("NHWC", "HWIO", "NHWC")


def fsnn_model_config(**overrides) -> ml_collections.ConfigDict:
    """The FSNN keys added to ``config.model`` (defaults: SPIDE MNIST)."""
    cfg = ml_collections.ConfigDict(
        dict(
            leak=1.0,  # 1 = IF, (0, 1) = LIF (--leaky)
            v_th=1.0,  # forward threshold; u_rest = -v_th, reset D = 2 v_th
            solver="spide",  # spide | fixed_point | broyden
            backward_steps=100,  # T_b (spide)
            v_th_back=0.5,  # V_th_b (spide)
            solver_max_iter=30,  # fixed_point / broyden iterations (IDE "threshold")
            solver_tol=1e-6,  # relative residual to stop at
            damping=0.5,  # fixed_point: beta <- (1-d) beta + d (g + J^T beta)
            diverge_residual=1.0,  # relative residual above which the step's gradients are skipped
            forward="spiking",  # spiking | equilibrium (exact fixed-point iteration, for tests)
            forward_iters=100,
            scale_factor=1.0,  # loss scale s; set optim.lr_scale to the same value
            dropout=0.0,  # variational dropout rate on the layers' currents
            feedback_norm=2.0,  # feedback norm bound r (Frobenius; ide_fc_f400: spectral; 0 = off)
            norm_samples=64,  # samples of the stochastic Frobenius-norm estimate
            widths=(),  # CIFAR models: the six channel widths
        )
    )
    cfg.update(overrides)
    return cfg


def solver_config(cfg: ml_collections.ConfigDict, spiking_input: bool) -> implicit.FSNNConfig:
    """The static :class:`implicit.FSNNConfig` of a model config."""
    if cfg.solver not in implicit.SOLVERS:
        raise ConfigError(f"unknown model.solver {cfg.solver!r}; choose one of {implicit.SOLVERS}")
    if cfg.forward not in ("spiking", "equilibrium"):
        raise ConfigError(f"unknown model.forward {cfg.forward!r}; choose spiking or equilibrium")
    return implicit.FSNNConfig(
        num_steps=int(cfg.num_steps),
        leak=float(cfg.leak),
        v_th=float(cfg.v_th),
        solver=cfg.solver,
        backward_steps=int(cfg.backward_steps),
        v_th_back=float(cfg.v_th_back),
        max_iter=int(cfg.solver_max_iter),
        solver_tol=float(cfg.solver_tol),
        damping=float(cfg.damping),
        diverge_residual=float(cfg.diverge_residual),
        forward=cfg.forward,
        forward_iters=int(cfg.forward_iters),
        spiking_input=spiking_input,
    )


# ----------------------------------------------------------------------------------------------- inits
def kaiming_normal(key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
    """PyTorch ``kaiming_normal_`` (fan_in, gain sqrt 2) for HWIO / [in, out] kernels."""
    fan_in = math.prod(shape[:-1])
    return jax.random.normal(key, shape, dtype) * math.sqrt(2.0 / fan_in)


def unit_filter_uniform(key: Array, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
    """SPIDE CIFAR "default" init: uniform(-1, 1), then every output filter rescaled to unit L2 norm."""
    w = jax.random.uniform(key, shape, dtype, -1.0, 1.0)
    return w / jnp.sqrt(jnp.sum(jnp.square(w), axis=tuple(range(len(shape) - 1)), keepdims=True))


def torch_bias(fan_in: int) -> Callable:
    """PyTorch's default bias init ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


# ------------------------------------------------------------------------------------------------- ops
def conv(x: Array, kernel: Array, stride: int, pad: int) -> Array:
    """NHWC x HWIO convolution with symmetric padding ``pad`` (PyTorch geometry), no bias."""
    return jax.lax.conv_general_dilated(
        x, kernel, (stride,) * 2, ((pad, pad), (pad, pad)), dimension_numbers=_DN
    )


def conv_t(c: Array, kernel: Array, stride: int, pad: int, in_hw: tuple[int, int]) -> Array:
    """``W^T c`` for ``W = conv(., kernel, stride, pad)`` on an ``in_hw`` input grid, written as a plain
    (input-dilated) NHWC x HWIO convolution with the flipped, in/out-swapped kernel: ``[B, h, w, O] ->
    [B, *in_hw, I]``. Equal to ``jax.vjp`` of the conv, which XLA:CPU runs much slower."""
    k = kernel.shape[0]
    w = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)
    pads = []
    for n_in, n_out in zip(in_hw, c.shape[1:3], strict=True):
        lo = k - 1 - pad
        pads.append((lo, n_in + k - 1 - ((n_out - 1) * stride + 1) - lo))
    return jax.lax.conv_general_dilated(c, w, (1, 1), pads, lhs_dilation=(stride,) * 2, dimension_numbers=_DN)


class Conv(nnx.Module):
    """Conv ``k x k`` with stride ``s`` and padding ``(k-1)//2`` (PyTorch geometry), optional bias."""

    def __init__(self, cin, cout, k, stride=1, *, bias=True, init=kaiming_normal, rngs: nnx.Rngs):
        self.stride, self.pad = stride, (k - 1) // 2
        self.kernel = nnx.Param(init(rngs.params(), (k, k, cin, cout)))
        self.bias = nnx.Param(torch_bias(k * k * cin)(rngs.params(), (cout,))) if bias else None

    def __call__(self, x: Array) -> Array:
        y = conv(x, self.kernel[...], self.stride, self.pad)
        return y if self.bias is None else y + self.bias[...]

    def transpose(self, c: Array, like: Array) -> Array:
        """``W^T c`` (no bias) onto the grid of the input ``like``."""
        return conv_t(c, self.kernel[...], self.stride, self.pad, like.shape[1:3])


class ConvTranspose(nnx.Module):
    """PyTorch ``ConvTranspose2d(k, stride, padding=(k-1)//2, output_padding=stride-1)``, no bias: the exact
    transpose of a ``Conv(cout -> cin)`` on the ``out_hw`` grid. Kernel stored HWIO of that conv
    ``[k, k, cout, cin]`` (so ``kernel[..., i]`` is the transposed conv's input-channel filter)."""

    def __init__(self, cin, cout, k, stride, out_hw, *, init=kaiming_normal, gain=0.1, rngs: nnx.Rngs):
        self.stride, self.pad, self.out_hw, self.cout = stride, (k - 1) // 2, tuple(out_hw), cout
        # PyTorch fan_in of a ConvTranspose weight [cin, cout, k, k] is cout * k * k
        if init is kaiming_normal:
            w = jax.random.normal(rngs.params(), (k, k, cout, cin)) * math.sqrt(2.0 / (cout * k * k))
        else:  # unit_filter_uniform: normalise per ConvT output channel (axis cout)
            w = jax.random.uniform(rngs.params(), (k, k, cout, cin), jnp.float32, -1.0, 1.0)
            w = w / jnp.sqrt(jnp.sum(jnp.square(w), axis=(0, 1, 3), keepdims=True))
        self.kernel = nnx.Param(w * gain)

    def apply(self, kernel: Array, x: Array) -> Array:
        """``[B, h, w, cin] -> [B, *out_hw, cout]``."""
        return conv_t(x, kernel, self.stride, self.pad, self.out_hw)

    def apply_t(self, kernel: Array, c: Array) -> Array:
        """The transpose of :meth:`apply`: the strided conv ``[B, *out_hw, cout] -> [B, h, w, cin]``."""
        return conv(c, kernel, self.stride, self.pad)

    def matrix_rows(self, kernel: Array) -> Array:
        """Kernel as PyTorch's ``W.reshape(dim0, -1)`` with dim0 = ConvT input channels."""
        return jnp.moveaxis(kernel, 3, 0).reshape(kernel.shape[3], -1)


class AvgPool(nnx.Module):
    """2x2 average pool, stride 2 (linear op without parameters)."""

    def __call__(self, x: Array) -> Array:
        n, h, w, c = x.shape
        return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class Dense(nnx.Module):
    """Fully connected op on the flattened input, ``[B, ...] -> [B, out]``; ``batch_norm`` appends a
    ``BatchNorm1d`` (batch statistics in training, running averages in evaluation; IDE's ``SNNFC(BN=True)``,
    only meaningful as the input op ``W_x``)."""

    def __init__(self, cin, cout, *, bias=True, init=kaiming_normal, batch_norm=False, rngs: nnx.Rngs):
        self.kernel = nnx.Param(init(rngs.params(), (cin, cout)))
        self.bias = nnx.Param(torch_bias(cin)(rngs.params(), (cout,))) if bias else None
        self.norm = nnx.BatchNorm(cout, momentum=0.9, epsilon=1e-5, rngs=rngs) if batch_norm else None

    def __call__(self, x: Array) -> Array:
        y = x.reshape(x.shape[0], -1) @ self.kernel[...]
        y = y if self.bias is None else y + self.bias[...]
        return y if self.norm is None else self.norm(y)


class SolverProbe(nnx.Param):
    """A dummy ``[3]`` parameter whose gradient carries the backward solver's statistics."""


def frobenius_restrict(w_rows: Array, r: float, key: Array, samples: int) -> Array:
    """Factor ``min(n, r) / n`` with ``n = sqrt(mean_v ||v W||^2)``, ``v ~ N(0, I)`` (docs/spide.md)."""
    v = jax.random.normal(key, (samples, w_rows.shape[0]), w_rows.dtype)
    n = jnp.sqrt(jnp.mean(jnp.sum(jnp.square(v @ w_rows), axis=1)))
    return jnp.minimum(n, r) / n


def _unit(v: Array) -> Array:
    return v / jnp.maximum(jnp.linalg.norm(v), 1e-12)


def spectral_restrict(w_rows: Array, u: Array, gain: Array, r: float) -> tuple[Array, Array]:
    """IDE-FSNN's spectral reparametrisation ``W = clip(g, -r, r) W_raw / sigma(W_raw)``: returns the factor
    ``clip(g, -r, r) / sigma`` and the updated left singular vector ``u``.

    ``sigma = u^T W v`` after one power iteration from the persistent ``u [rows]`` (the vectors are constants,
    so gradients flow through ``W`` in ``u^T W v`` and through ``g``)."""
    w = jax.lax.stop_gradient(w_rows)
    v = _unit(w.T @ u)
    u = _unit(w @ v)
    sigma = u @ (w_rows @ v)
    return jnp.clip(gain, -r, r) / sigma, u


def spectral_norm(w_rows: Array, key: Array, iters: int = 20) -> Array:
    """Largest singular value of ``w_rows`` by ``iters`` power iterations from a random start."""
    u = _unit(jax.random.normal(key, (w_rows.shape[0],), w_rows.dtype))
    for _ in range(iters):
        u = _unit(w_rows @ _unit(w_rows.T @ u))
    return jnp.linalg.norm(w_rows.T @ u)


# ----------------------------------------------------------------------------------------------- model
class FeedbackSNN(nnx.Module):
    """``W_x`` -> spiking layer 0 -> op -> layer 1 -> ... -> layer N-1 (-> feedback to layer 0); readout
    ``Linear`` on the last layer's rate.

    Args:
      inp: the input op module; layers: the ``N-1`` op modules; feedback: ``ConvTranspose``/``Conv``/``Dense``
        without bias, or ``None``; shapes: per-layer output shapes (without batch); dropout_layers: indices
        of the layers whose current gets variational dropout; restriction: how the feedback weight is kept
        contracting with bound ``r = model.feedback_norm``: ``'frobenius'`` (SPIDE,
        :func:`frobenius_restrict`) or ``'spectral'`` (IDE-FSNN's FC model, :func:`spectral_restrict`, with a
        learned gain ``fb_gain`` and a power-iteration vector ``fb_u``).
    """

    def __init__(
        self,
        cfg,
        num_classes,
        inp,
        layers,
        feedback,
        shapes,
        dropout_layers,
        *,
        restriction="frobenius",
        rngs: nnx.Rngs,
    ):
        self.fsnn_cfg = solver_config(cfg, spiking_input=False)
        self.inp, self.layers, self.feedback = inp, nnx.List(layers), feedback
        self.shapes = tuple(tuple(s) for s in shapes)
        self.dropout_layers = tuple(dropout_layers)
        self.rate = float(cfg.dropout)
        self.feedback_norm, self.norm_samples = float(cfg.feedback_norm), int(cfg.norm_samples)
        self.scale_factor = float(cfg.scale_factor)
        self.rngs = rngs.dropout.fork()
        self.norm_rngs = rngs.noise.fork()
        features = math.prod(self.shapes[-1])
        self.readout = nnx.Linear(features, num_classes, rngs=rngs)
        self.solver_probe = SolverProbe(jnp.zeros((3,), jnp.float32))
        self.deterministic = False
        self.restriction = restriction
        if restriction == "spectral":
            rows = _rows(feedback.kernel[...])  # a Dense feedback
            self.fb_gain = nnx.Param(spectral_norm(rows, rngs.params()))
            self.fb_u = nnx.BatchStat(_unit(jax.random.normal(rngs.params(), (rows.shape[0],))))
        elif restriction != "frobenius":
            raise ValueError(f"unknown feedback restriction {restriction!r}; use 'frobenius' or 'spectral'")

    def _masks(self, batch: int) -> tuple[Array, ...]:
        masks = []
        for li, shape in enumerate(self.shapes):
            if li in self.dropout_layers and self.rate > 0 and not self.deterministic:
                keep = jax.random.bernoulli(self.rngs(), 1.0 - self.rate, (batch, *shape))
                masks.append(keep.astype(jnp.float32) / (1.0 - self.rate))
            else:
                masks.append(jnp.ones((), jnp.float32))
        return tuple(masks)

    def _feedback_op(self):
        """``(op(k, a), op_t(k, c, like) or None, effective kernel)`` of the feedback."""
        fb = self.feedback
        if fb is None:
            return None, None, {}
        kernel = fb.kernel[...]
        if self.feedback_norm > 0:
            rows = fb.matrix_rows(kernel) if isinstance(fb, ConvTranspose) else _rows(kernel)
            if self.restriction == "spectral":
                factor, u = spectral_restrict(rows, self.fb_u[...], self.fb_gain[...], self.feedback_norm)
                if not self.deterministic:
                    self.fb_u[...] = u
            else:
                factor = frobenius_restrict(rows, self.feedback_norm, self.norm_rngs(), self.norm_samples)
            kernel = kernel * factor
        if isinstance(fb, ConvTranspose):
            return fb.apply, (lambda k, c, like: fb.apply_t(k, c)), kernel
        if isinstance(fb, Conv):
            return (
                (lambda k, a: conv(a, k, fb.stride, fb.pad)),
                (lambda k, c, like: conv_t(c, k, fb.stride, fb.pad, like.shape[1:3])),
                kernel,
            )
        return (lambda k, a: a.reshape(a.shape[0], -1) @ k), None, kernel

    def __call__(self, x: Array) -> Array:
        spiking_input = x.ndim == 5
        cfg = self.fsnn_cfg
        if spiking_input:
            cfg = implicit.FSNNConfig(**{**cfg.__dict__, "spiking_input": True, "num_steps": x.shape[0]})
        batch = x.shape[1] if spiking_input else x.shape[0]
        fb_fn, fb_t, fb_kernel = self._feedback_op()
        if getattr(self.inp, "norm", None) is not None and not self.deterministic:
            self.inp(jax.lax.stop_gradient(x))  # running statistics (the custom VJP only sees a copy)
        inp_def, inp_state = nnx.split(self.inp)
        layer_defs = [nnx.split(op) for op in self.layers]
        ops = implicit.FSNNOps(
            inp=lambda p, z: nnx.merge(inp_def, p)(z),
            layers=tuple((lambda p, a, d=d: nnx.merge(d, p)(a)) for d, _ in layer_defs),
            feedback=fb_fn,
            layers_t=tuple(
                (lambda p, c, like, d=d: nnx.merge(d, p).transpose(c, like)) if isinstance(op, Conv) else None
                for op, (d, _) in zip(self.layers, layer_defs, strict=True)
            ),
            feedback_t=fb_t,
        )
        params = (inp_state, tuple(s for _, s in layer_defs), fb_kernel)
        rates_fn = implicit.make_fsnn(ops, cfg)
        a_last, rates = rates_fn(params, x.astype(jnp.float32), self._masks(batch), self.solver_probe[...])
        rates = jax.lax.stop_gradient(rates)
        self.sow(nnx.Intermediate, "firing_rate", jnp.mean(jnp.stack([jnp.mean(a) for a in rates])))
        logits = self.readout(a_last.reshape(batch, -1))
        if self.scale_factor != 1.0:
            logits = jax.lax.stop_gradient(logits) + self.scale_factor * (
                logits - jax.lax.stop_gradient(logits)
            )
        return logits[None]

    def gradient_metrics(self, grads) -> dict[str, Array]:
        """Backward-pass statistics read from the ``solver_probe`` gradient (see :mod:`snnjax.implicit`)."""
        g = grads["solver_probe"][...]
        return {name: g[i] for i, name in enumerate(implicit.PROBE_FIELDS)}


def _rows(kernel: Array) -> Array:
    """PyTorch ``W.reshape(dim0, -1)`` with dim0 = output channels, for HWIO conv or [in, out] FC kernels."""
    return jnp.moveaxis(kernel, -1, 0).reshape(kernel.shape[-1], -1)


# -------------------------------------------------------------------------------------------- builders
def _hw(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


@register("spide_mnist_lenet")
def mnist_lenet(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """Feed-forward LeNet (feedback = zero): Conv5 1->15, AvgPool, Conv5 15->40, AvgPool, FC 1960->300
    (dropout 0.5 on the FC current), readout 300 -> classes; kaiming-normal init."""
    h, w, c = input_shape
    inp = Conv(c, 15, 5, rngs=rngs)
    layers = [
        AvgPool(),
        Conv(15, 40, 5, rngs=rngs),
        AvgPool(),
        Dense(40 * (h // 4) * (w // 4), 300, rngs=rngs),
    ]
    shapes = [(h, w, 15), (h // 2, w // 2, 15), (h // 2, w // 2, 40), (h // 4, w // 4, 40), (300,)]
    return FeedbackSNN(cfg, num_classes, inp, layers, None, shapes, (4,), rngs=rngs)


@register("spide_mnist_convnetf")
def mnist_convnetf(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """IDE's 64C5s (F64C5): Conv5 s2 1->64 (14), Conv5 s2 64->64 (7), Conv5 64->64 (7); feedback
    ConvT3 s2 64->64 (7 -> 14, x0.1 init, norm <= r); dropout on the currents of layers 1 and 2."""
    h, w, c = input_shape
    h1, w1 = _hw(h, 2), _hw(w, 2)
    h2, w2 = _hw(h1, 2), _hw(w1, 2)
    inp = Conv(c, 64, 5, 2, rngs=rngs)
    layers = [Conv(64, 64, 5, 2, rngs=rngs), Conv(64, 64, 5, 1, rngs=rngs)]
    fb = ConvTranspose(64, 64, 3, 2, (h1, w1), rngs=rngs)
    shapes = [(h1, w1, 64), (h2, w2, 64), (h2, w2, 64)]
    return FeedbackSNN(cfg, num_classes, inp, layers, fb, shapes, (1, 2), rngs=rngs)


def _cifar_fsnn(cfg, num_classes, input_shape, widths, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """SPIDE CIFAR model: Conv3 s2 c->w0 (16), w0->w1 (16), w1->w2 s2 (8), w2->w3, w3->w4 (8); feedback
    ConvT3 s2 w4->w0 (8 -> 16); unit-filter uniform init, ConvT x0.1; dropout on layers 1..4."""
    h, w, c = input_shape
    w0, w1, w2, w3, w4 = widths[:5]
    h1, wd1 = _hw(h, 2), _hw(w, 2)
    h2, wd2 = _hw(h1, 2), _hw(wd1, 2)
    init = unit_filter_uniform
    inp = Conv(c, w0, 3, 2, init=init, rngs=rngs)
    layers = [
        Conv(w0, w1, 3, 1, init=init, rngs=rngs),
        Conv(w1, w2, 3, 2, init=init, rngs=rngs),
        Conv(w2, w3, 3, 1, init=init, rngs=rngs),
        Conv(w3, w4, 3, 1, init=init, rngs=rngs),
    ]
    fb = ConvTranspose(w4, w0, 3, 2, (h1, wd1), init=init, rngs=rngs)
    shapes = [(h1, wd1, w0), (h1, wd1, w1), (h2, wd2, w2), (h2, wd2, w3), (h2, wd2, w4)]
    return FeedbackSNN(cfg, num_classes, inp, layers, fb, shapes, (1, 2, 3, 4), rngs=rngs)


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


@register("spide_dvs_convnetf")
def dvs_convnetf(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """CIFAR10-DVS ConvNet-F: Conv9 s2 2->512 (48 -> 24) drives one layer with a Conv5 512->512 feedback
    onto itself (no bias, norm <= 10); readout on 24*24*512 rates. ``model.widths=(c,)`` overrides 512."""
    h, w, c = input_shape
    width = int(next(iter(cfg.widths), 512))
    h1, w1 = _hw(h, 2), _hw(w, 2)
    inp = Conv(c, width, 9, 2, rngs=rngs)
    fb = Conv(width, width, 5, 1, bias=False, rngs=rngs)
    return FeedbackSNN(cfg, num_classes, inp, [], fb, [(h1, w1, width)], (), rngs=rngs)


@register("ide_fc_f400")
def fc_f400(cfg, num_classes, input_shape, *, rngs: nnx.Rngs) -> FeedbackSNN:
    """IDE's Fashion-MNIST 400 (F400, ``fashionmnist_fc.py``): FC 784 -> 400 + BatchNorm drives one layer
    with a 400 -> 400 FC feedback onto itself (no bias, spectral norm restricted to ``r``); readout
    400 -> classes. Both FCs start uniform(-1, 1) with unit-norm rows, zero bias. ``model.widths=(h,)``
    overrides 400."""
    width = int(next(iter(cfg.widths), 400))
    inp = Dense(math.prod(input_shape), width, init=unit_filter_uniform, batch_norm=True, rngs=rngs)
    inp.bias[...] = jnp.zeros_like(inp.bias[...])
    fb = Dense(width, width, bias=False, init=unit_filter_uniform, rngs=rngs)
    return FeedbackSNN(cfg, num_classes, inp, [], fb, [(width,)], (0,), restriction="spectral", rngs=rngs)
