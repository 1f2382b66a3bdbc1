"""Convolutions written as pad + shifted slices + one matmul (im2col by slicing), fast on CPU.

XLA's CPU backend runs ``lax.conv_general_dilated`` and, above all, its gradients (the transposed
convolutions for the input and the kernel) far slower than a matrix product of the same size; the
im2col form sends the forward pass and both gradients through the matmul path instead:

    y[n, i, j, :] = sum_{a, b} x_pad[n, s*i + a, s*j + b, :] @ w[a, b]          (x: NHWC, w: HWIO)
                  = concat_{a, b}(shifted slices of x_pad)[n, i, j, :] @ w.reshape(kh * kw * C_in, C_out)

Its gradients are matmuls too (w.r.t. the kernel: ``patches^T @ dy``; w.r.t. the input: ``dy @ w^T``
followed by the adjoint of the slices, i.e. pads and adds). It computes the same values and gradients
as ``lax.conv_general_dilated`` up to float rounding (``tests/test_conv.py``). ``conv_general_dilated``
here is a drop-in replacement for the lax function (the ``conv_general_dilated=`` argument of
``nnx.Conv``): it takes the matmul path for 2-D NHWC/HWIO convolutions without dilation or feature
groups and falls back to lax for anything else, so a parameter layout never changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
from jax import Array, lax

CONV_IMPLS = ("xla", "matmul")

_NHWC = (0, 3, 1, 2)  # lhs/out spec of ConvDimensionNumbers for NHWC
_HWIO = (3, 2, 0, 1)  # rhs spec for HWIO


def _pairs(padding: str | Sequence[tuple[int, int]], in_hw, k_hw, strides) -> list[tuple[int, int]]:
    if isinstance(padding, str):
        return list(lax.padtype_to_pads(in_hw, k_hw, strides, padding))
    return [(int(lo), int(hi)) for lo, hi in padding]


def im2col(x: Array, kernel_hw: tuple[int, int], strides: tuple[int, int], padding) -> Array:
    """Patches ``[N, H_out, W_out, kh * kw * C]`` of ``x [N, H, W, C]`` (order: row, column, channel,
    matching an HWIO kernel reshaped to ``[kh * kw * C, O]``), built from padded shifted slices."""
    h, w = x.shape[1:3]
    kh, kw = kernel_hw
    sh, sw = strides
    (pt, pb), (pl, pr) = _pairs(padding, (h, w), (kh, kw), (sh, sw))
    xp = jnp.pad(x, ((0, 0), (max(pt, 0), max(pb, 0)), (max(pl, 0), max(pr, 0)), (0, 0)))
    # negative padding crops
    xp = xp[:, max(-pt, 0) : xp.shape[1] - max(-pb, 0), max(-pl, 0) : xp.shape[2] - max(-pr, 0)]
    ho = (xp.shape[1] - kh) // sh + 1
    wo = (xp.shape[2] - kw) // sw + 1
    cols = [
        xp[:, a : a + sh * (ho - 1) + 1 : sh, b : b + sw * (wo - 1) + 1 : sw, :]
        for a in range(kh)
        for b in range(kw)
    ]
    return cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)


def conv2d(
    x: Array,
    kernel: Array,
    strides: int | tuple[int, int] = 1,
    padding: str | Sequence[tuple[int, int]] = "SAME",
    *,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """2-D convolution of ``x [N, H, W, C_in]`` with ``kernel [kh, kw, C_in, C_out]`` as one matmul.

    Same result as ``lax.conv_general_dilated(x, kernel, strides, padding,
    dimension_numbers=('NHWC', 'HWIO', 'NHWC'))``. Returns ``[N, H_out, W_out, C_out]``.
    """
    if isinstance(strides, int):
        strides = (strides, strides)
    kh, kw, cin, cout = kernel.shape
    if x.shape[-1] != cin:
        raise ValueError(f"input has {x.shape[-1]} channels, kernel expects {cin}")
    patches = im2col(x, (kh, kw), tuple(strides), padding)
    n, ho, wo, k = patches.shape
    y = jnp.dot(
        patches.reshape(n * ho * wo, k),
        kernel.reshape(k, cout),
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    return y.reshape(n, ho, wo, cout)


def _is_nhwc_hwio(dimension_numbers: Any, ndim: int) -> bool:
    if ndim != 4 or dimension_numbers is None:
        return False
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        dn = dimension_numbers
        return tuple(dn.lhs_spec) == _NHWC and tuple(dn.rhs_spec) == _HWIO and tuple(dn.out_spec) == _NHWC
    return tuple(dimension_numbers) == ("NHWC", "HWIO", "NHWC")


def _all_ones(v: Any) -> bool:
    return v is None or all(int(d) == 1 for d in v)


def conv_general_dilated(
    lhs: Array,
    rhs: Array,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
    **kwargs: Any,
) -> Array:
    """Drop-in for ``lax.conv_general_dilated``: the im2col matmul for 2-D NHWC/HWIO convolutions
    without dilation or groups, ``lax.conv_general_dilated`` otherwise (same arguments)."""
    if (
        _is_nhwc_hwio(dimension_numbers, lhs.ndim)
        and _all_ones(lhs_dilation)
        and _all_ones(rhs_dilation)
        and feature_group_count == 1
        and batch_group_count == 1
        and kwargs.get("out_sharding") is None
    ):
        return conv2d(
            lhs,
            rhs,
            tuple(window_strides),
            padding,
            precision=precision,
            preferred_element_type=preferred_element_type,
        )
    return lax.conv_general_dilated(
        lhs,
        rhs,
        window_strides,
        padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        batch_group_count=batch_group_count,
        precision=precision,
        preferred_element_type=preferred_element_type,
        **kwargs,
    )


def conv_fn(impl: str) -> Callable[..., Array]:
    """The ``conv_general_dilated`` to give ``nnx.Conv`` for ``impl`` in ``CONV_IMPLS``."""
    if impl == "xla":
        return lax.conv_general_dilated
    if impl == "matmul":
        return conv_general_dilated
    raise ValueError(f"unknown conv_impl {impl!r}; use one of {CONV_IMPLS}")
