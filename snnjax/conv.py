"""Convolutions written as pad + shifted slices + one matmul (im2col by slicing), fast on CPU.

XLA:CPU of jaxlib 0.10 hands ``lax.conv_general_dilated`` and its gradients (the transposed convolutions
for the input and the kernel) to YNNPACK, whose kernels run the narrow convolutions of SNNs far slower
than a matrix product of the same size; the im2col form sends the forward pass and both gradients
through the matmul path instead (with XLA's own convolutions, ``snnjax.runtime.use_xla_convolutions``,
``lax`` is the faster one again: ``conv_fn('auto')`` picks by that):

    y[n, i, j, :] = sum_{a, b} x_pad[n, s*i + a, s*j + b, :] @ w[a, b]          (x: NHWC, w: HWIO)
                  = concat_{a, b}(shifted slices of x_pad)[n, i, j, :] @ w.reshape(kh * kw * C_in, C_out)

Its gradients are matmuls too (w.r.t. the kernel: ``patches^T @ dy``; w.r.t. the input: ``dy @ w^T``
followed by the adjoint of the slices, i.e. pads and adds). It computes the same values and gradients
as ``lax.conv_general_dilated`` up to float rounding (``tests/test_conv.py``). ``conv_general_dilated``
here is a drop-in replacement for the lax function (the ``conv_general_dilated=`` argument of
``nnx.Conv``): it takes the matmul path for 2-D NHWC/HWIO convolutions without dilation or feature
groups and falls back to lax for anything else, so a parameter layout never changes.

On CPU a large batch is convolved in chunks of samples whose patches fit in the cache
(:func:`batch_chunk`), with a custom VJP that rebuilds each chunk's patches in the backward pass instead
of storing them (same values and gradients, less memory traffic; ``benchmarks/w2_ablation.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array, lax

from snnjax import runtime

CONV_IMPLS = ("auto", "xla", "matmul")

CHUNK_BYTES = 4 * 2**20  # im2col patches per batch chunk on CPU: a chunk's work stays in the L3 cache
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


def _conv(x: Array, kernel: Array, strides, pads, precision, preferred_element_type) -> Array:
    """im2col + one matmul (autodiff gives the matmul gradients); ``pads``: ``((lo, hi), (lo, hi))``."""
    kh, kw, _, cout = kernel.shape
    patches = im2col(x, (kh, kw), strides, pads)
    n, ho, wo, k = patches.shape
    y = jnp.dot(
        patches.reshape(n * ho * wo, k),
        kernel.reshape(k, cout),
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    return y.reshape(n, ho, wo, cout)


def _split(x: Array, chunk: int) -> tuple[Array, Array]:
    """``x [N, ...]`` -> full chunks ``[N // chunk, chunk, ...]`` and the rest ``[N % chunk, ...]``."""
    m = x.shape[0] // chunk
    return x[: m * chunk].reshape(m, chunk, *x.shape[1:]), x[m * chunk :]


def _join(chunks: Array, rest: Array | None) -> Array:
    out = chunks.reshape(-1, *chunks.shape[2:])
    return out if rest is None else jnp.concatenate([out, rest])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def _conv_chunked(x: Array, kernel: Array, strides, pads, precision, preferred_element_type, chunk: int):
    """:func:`_conv` over batch chunks of ``chunk`` samples, one after the other: a chunk's patches are
    built, multiplied and dropped while they are in cache. The backward pass rebuilds them chunk by chunk
    from ``x``, so the full patch tensor (``kh * kw`` times the input) is never stored."""
    conv = lambda xc: _conv(xc, kernel, strides, pads, precision, preferred_element_type)
    full, rest = _split(x, chunk)
    return _join(lax.map(conv, full), conv(rest) if rest.shape[0] else None)


def _conv_chunked_fwd(x, kernel, strides, pads, precision, preferred_element_type, chunk):
    y = _conv_chunked(x, kernel, strides, pads, precision, preferred_element_type, chunk)
    return y, (x, kernel)


def _conv_chunked_bwd(strides, pads, precision, preferred_element_type, chunk, res, dy):
    x, kernel = res
    conv = lambda a, k: _conv(a, k, strides, pads, precision, preferred_element_type)

    def grads(xc: Array, dyc: Array) -> tuple[Array, Array]:
        return jax.vjp(conv, xc, kernel)[1](dyc)  # the unused forward matmul is dead code

    def body(dk: Array, xs: tuple[Array, Array]) -> tuple[Array, Array]:
        dxc, dkc = grads(*xs)
        return dk + dkc, dxc

    (x_full, x_rest), (dy_full, dy_rest) = _split(x, chunk), _split(dy, chunk)
    dk, dx = lax.scan(body, jnp.zeros_like(kernel), (x_full, dy_full))
    if x_rest.shape[0]:
        dx_rest, dk_rest = grads(x_rest, dy_rest)
        return _join(dx, dx_rest), dk + dk_rest
    return _join(dx, None), dk


_conv_chunked.defvjp(_conv_chunked_fwd, _conv_chunked_bwd)


def batch_chunk(
    x_shape: Sequence[int], kernel_shape: Sequence[int], out_hw: Sequence[int], itemsize: int = 4
) -> int:
    """Samples per chunk for :func:`conv2d` on CPU, ``N`` (no chunking) when chunking does not pay.

    Chunking pays when the im2col patches (``[N, H_out, W_out, kh * kw * C_in]``) are larger than a cache
    and larger than the output (``kh * kw * C_in >= C_out``; a 1-channel input's convolution is bound by
    writing its output instead). The chunk holds at most ``CHUNK_BYTES`` of patches; a divisor of ``N``
    of more than half that size is preferred, so that there is no remainder.
    """
    n = x_shape[0]
    kh, kw, cin, cout = kernel_shape
    k = kh * kw * cin
    per_sample = out_hw[0] * out_hw[1] * k * itemsize
    if jax.default_backend() != "cpu" or k < cout or n * per_sample <= 2 * CHUNK_BYTES:
        return n
    target = max(1, CHUNK_BYTES // per_sample)
    divisors = [c for c in range(target // 2 + 1, target + 1) if n % c == 0]
    return max(divisors) if divisors else target


def conv2d(
    x: Array,
    kernel: Array,
    strides: int | tuple[int, int] = 1,
    padding: str | Sequence[tuple[int, int]] = "SAME",
    *,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """2-D convolution of ``x [N, H, W, C_in]`` with ``kernel [kh, kw, C_in, C_out]`` as matmuls.

    Same result as ``lax.conv_general_dilated(x, kernel, strides, padding,
    dimension_numbers=('NHWC', 'HWIO', 'NHWC'))``. Returns ``[N, H_out, W_out, C_out]``. On CPU, large
    batches run in chunks of :func:`batch_chunk` samples (same values and gradients, less memory traffic).
    """
    if isinstance(strides, int):
        strides = (strides, strides)
    strides = tuple(int(s) for s in strides)
    kh, kw, cin, _ = kernel.shape
    if x.shape[-1] != cin:
        raise ValueError(f"input has {x.shape[-1]} channels, kernel expects {cin}")
    pads = tuple(_pairs(padding, x.shape[1:3], (kh, kw), strides))
    out_hw = [(x.shape[1 + i] + sum(pads[i]) - kernel.shape[i]) // strides[i] + 1 for i in range(2)]
    chunk = batch_chunk(x.shape, kernel.shape, out_hw, x.dtype.itemsize)
    if chunk >= x.shape[0]:
        return _conv(x, kernel, strides, pads, precision, preferred_element_type)
    return _conv_chunked(x, kernel, strides, pads, precision, preferred_element_type, chunk)


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
    """The ``conv_general_dilated`` to give ``nnx.Conv`` for ``impl`` in ``CONV_IMPLS``; ``'auto'`` is
    ``'matmul'`` where XLA:CPU runs convolutions through YNNPACK (``snnjax.runtime``), else ``'xla'``."""
    if impl == "auto":
        impl = "matmul" if jax.default_backend() == "cpu" and runtime.ynnpack_convolutions() else "xla"
    if impl == "xla":
        return lax.conv_general_dilated
    if impl == "matmul":
        return conv_general_dilated
    raise ValueError(f"unknown conv_impl {impl!r}; use one of {CONV_IMPLS}")
