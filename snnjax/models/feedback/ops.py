"""The linear ops between the spiking layers of a feedback SNN.

Every op acts on a batch ``[B, *in_shape] -> [B, *out_shape]`` (NHWC for images) and has one interface:

- ``op(x)``: the op (bias included where it has one);
- ``op.transpose(y)``: ``W^T y`` without the bias, ``[B, *out_shape] -> [B, *in_shape]``, which the implicit
  backward applies ``T_b`` times. Convolutions write it as a plain convolution, which XLA:CPU runs much
  faster than ``jax.vjp`` of a convolution.

Ops with a weight also give ``weight_rows()``, the weight as PyTorch's ``W.reshape(W.shape[0], -1)``, on
which the feedback norm restrictions act.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from snnjax import layers
from snnjax.models.blocks import (
    Initializer,
    avg_pool_2x2,
    conv_out_size,
    kaiming_normal,
    torch_bias_init,
    unit_filter_uniform,
)

DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def conv(x: Array, kernel: Array, stride: int, pad: int) -> Array:
    """NHWC x HWIO convolution with symmetric padding ``pad`` (PyTorch geometry), no bias."""
    return jax.lax.conv_general_dilated(
        x, kernel, (stride,) * 2, ((pad, pad), (pad, pad)), dimension_numbers=DIMENSIONS
    )


def conv_t(c: Array, kernel: Array, stride: int, pad: int, in_hw: tuple[int, int]) -> Array:
    """``W^T c`` for ``W = conv(., kernel, stride, pad)`` on an ``in_hw`` input grid, written as a plain
    (input-dilated) NHWC x HWIO convolution with the flipped, in/out-swapped kernel: ``[B, h, w, O] ->
    [B, *in_hw, I]``. Equal to ``jax.vjp`` of the conv."""
    k = kernel.shape[0]
    w = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)
    pads = []
    for n_in, n_out in zip(in_hw, c.shape[1:3], strict=True):
        lo = k - 1 - pad
        pads.append((lo, n_in + k - 1 - ((n_out - 1) * stride + 1) - lo))
    return jax.lax.conv_general_dilated(
        c, w, (1, 1), pads, lhs_dilation=(stride,) * 2, dimension_numbers=DIMENSIONS
    )


def output_rows(kernel: Array) -> Array:
    """``[out, rest]``: an HWIO conv or ``[in, out]`` FC kernel as PyTorch's ``W.reshape(out, -1)``."""
    return jnp.moveaxis(kernel, -1, 0).reshape(kernel.shape[-1], -1)


class Conv(nnx.Module):
    """Conv ``k x k`` (odd) with stride ``s`` and padding ``p`` (default ``(k-1)//2``; PyTorch geometry),
    optional bias: ``[B, H, W, Cin] -> [B, (H+2p-k)//s+1, (W+2p-k)//s+1, Cout]``.

    ``batch_norm`` appends a ``BatchNorm2d`` (batch statistics in training, running averages in evaluation,
    the running variance updated with the unbiased batch variance as PyTorch's; IDE's ``SNNConv(BN=True)``).
    Such an op has a ``transpose`` only in evaluation mode, where the norm is the per-channel affine map of
    the running statistics: ``W^T (gamma / sqrt(var + eps) * y)``.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        cout: int,
        k: int,
        stride: int = 1,
        *,
        bias: bool = True,
        init: Initializer = kaiming_normal,
        batch_norm: bool = False,
        padding: int | None = None,
        rngs: nnx.Rngs,
    ):
        h, w, cin = in_shape
        self.in_shape = tuple(in_shape)
        self.stride, self.pad = stride, (k - 1) // 2 if padding is None else int(padding)
        extra = 2 * self.pad - (k - 1)  # 0 for the default padding
        self.out_shape = (conv_out_size(h + extra, stride), conv_out_size(w + extra, stride), cout)
        self.kernel = nnx.Param(init(rngs.params(), (k, k, cin, cout)))
        self.bias = nnx.Param(torch_bias_init(k * k * cin)(rngs.params(), (cout,))) if bias else None
        self.norm = layers.batch_norm(cout, rngs=rngs) if batch_norm else None

    def __call__(self, x: Array) -> Array:
        y = self.linear(x)
        return y if self.norm is None else self.norm(y)

    def linear(self, x: Array) -> Array:
        """The conv and its bias, without the norm."""
        y = conv(x, self.kernel[...], self.stride, self.pad)
        return y if self.bias is None else y + self.bias[...]

    def transpose(self, y: Array) -> Array:
        if self.norm is not None:
            if not self.norm.use_running_average:
                raise ValueError("a Conv op with batch norm has a transpose only in evaluation mode")
            y = y * (self.norm.scale[...] / jnp.sqrt(self.norm.var[...] + self.norm.epsilon))
        return conv_t(y, self.kernel[...], self.stride, self.pad, self.in_shape[:2])

    def macs(self) -> int:
        """Multiply-accumulates per example: output positions x ``k * k * Cin * Cout``."""
        return math.prod(self.out_shape[:2]) * self.kernel.size

    def weight_rows(self) -> Array:
        return output_rows(self.kernel[...])


class ConvTranspose(nnx.Module):
    """PyTorch ``ConvTranspose2d(k, stride, padding=(k-1)//2, output_padding=stride-1)``, no bias:
    ``[B, h, w, Cin] -> [B, *out_hw, Cout]``, the exact transpose of a ``Conv`` ``Cout -> Cin`` on the
    ``out_hw`` grid.

    The kernel is stored as that conv's HWIO kernel ``[k, k, Cout, Cin]``. Initialisers see this shape:
    ``kaiming_normal`` then takes PyTorch's fan-in of a transposed-conv weight (``Cout * k * k``);
    ``unit_filter_uniform`` normalises one filter per output channel ``Cout``. ``gain`` scales the result.
    """

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        cout: int,
        k: int,
        stride: int,
        out_hw: tuple[int, int],
        *,
        init: Initializer = kaiming_normal,
        gain: float = 0.1,
        rngs: nnx.Rngs,
    ):
        cin = in_shape[-1]
        self.in_shape, self.out_shape = tuple(in_shape), (*out_hw, cout)
        self.stride, self.pad, self.out_hw = stride, (k - 1) // 2, tuple(out_hw)
        shape = (k, k, cout, cin)
        if init is unit_filter_uniform:
            w = unit_filter_uniform(rngs.params(), shape, filter_axes=(0, 1, 3))
        else:
            w = init(rngs.params(), shape)
        self.kernel = nnx.Param(w * gain)

    def __call__(self, x: Array) -> Array:
        return conv_t(x, self.kernel[...], self.stride, self.pad, self.out_hw)

    def transpose(self, y: Array) -> Array:
        return conv(y, self.kernel[...], self.stride, self.pad)

    def macs(self) -> int:
        """Multiply-accumulates per example, those of the conv it transposes: input positions x kernel size
        (inserted zeros not counted)."""
        return math.prod(self.in_shape[:2]) * self.kernel.size

    def weight_rows(self) -> Array:
        """Rows = the transposed conv's input channels (PyTorch's dim 0 of its weight)."""
        kernel = self.kernel[...]
        return jnp.moveaxis(kernel, 3, 0).reshape(kernel.shape[3], -1)


class AvgPool(nnx.Module):
    """2x2 average pool, stride 2, ``[B, H, W, C] -> [B, H//2, W//2, C]`` (no parameters)."""

    def __init__(self, in_shape: tuple[int, int, int]):
        h, w, c = in_shape
        self.in_shape, self.out_shape = tuple(in_shape), (h // 2, w // 2, c)

    def __call__(self, x: Array) -> Array:
        return avg_pool_2x2(x)

    def macs(self) -> int:
        """Accumulates per example: 4 inputs per output."""
        return 4 * math.prod(self.out_shape)

    def transpose(self, y: Array) -> Array:
        """Each pooled value spread as a quarter over its 2x2 window (zeros on a dropped odd edge)."""
        h, w, _ = self.in_shape
        up = jnp.repeat(jnp.repeat(y * 0.25, 2, axis=1), 2, axis=2)
        return jnp.pad(up, ((0, 0), (0, h - up.shape[1]), (0, w - up.shape[2]), (0, 0)))


class Dense(nnx.Module):
    """Fully connected op on the flattened input, ``[B, *in_shape] -> [B, out]``.

    ``batch_norm`` appends a ``BatchNorm1d`` (batch statistics in training, running averages in evaluation;
    IDE's ``SNNFC(BN=True)``), only meaningful for the input op ``W_x``, which is never transposed.
    """

    def __init__(
        self,
        in_shape: tuple[int, ...],
        cout: int,
        *,
        bias: bool = True,
        init: Initializer = kaiming_normal,
        batch_norm: bool = False,
        rngs: nnx.Rngs,
    ):
        cin = math.prod(in_shape)
        self.in_shape, self.out_shape = tuple(in_shape), (cout,)
        self.kernel = nnx.Param(init(rngs.params(), (cin, cout)))
        self.bias = nnx.Param(torch_bias_init(cin)(rngs.params(), (cout,))) if bias else None
        self.norm = layers.batch_norm(cout, rngs=rngs) if batch_norm else None

    def __call__(self, x: Array) -> Array:
        y = self.linear(x)
        return y if self.norm is None else self.norm(y)

    def linear(self, x: Array) -> Array:
        """The product and its bias, without the norm."""
        y = x.reshape(x.shape[0], -1) @ self.kernel[...]
        return y if self.bias is None else y + self.bias[...]

    def transpose(self, y: Array) -> Array:
        if self.norm is not None:
            raise ValueError("a Dense op with batch norm is an input op and has no transpose")
        return (y @ self.kernel[...].T).reshape(y.shape[0], *self.in_shape)

    def macs(self) -> int:
        """Multiply-accumulates per example: ``in * out``."""
        return self.kernel.size

    def weight_rows(self) -> Array:
        return output_rows(self.kernel[...])
