"""Gated Attention Coding (GAC; Qiu et al., AAAI 2024; docs/gac.md).

GAC sits between the stem (conv + BN, real-valued ``X``) and the first spiking block. With
``S = LIF(X)`` it outputs gated spikes

    ``Y = sigmoid(TA(X) * SCA(X)) * S``        (values in [0, 1), not binary)

* ``TA`` (temporal attention): ``a_t = mean_{H,W,C} X_t`` and ``m_t = max_{H,W,C} X_t`` (``[T, B]``);
  a shared two-layer MLP over the time axis, ``T -> T // 2 -> T`` (no biases, ReLU between; the seed's
  1x1x1 Conv3d pair with T as the channel axis); ``TA = MLP(a) + MLP(m)``. There is **no sigmoid inside
  TA**: the only sigmoid is the gate's. Its parameters depend on ``T`` (hidden width ``T // 2``).
* ``SCA`` (spatial-channel attention), per time step: ``Conv_kxk(C->C, 'SAME', no bias) -> ReLU ->
  Conv_kxk(C->C, 'SAME', no bias)`` with ``k = 4`` as the seed ships (XLA's 'SAME' for an even kernel
  pads 1 before and 2 after, the same as PyTorch's ``padding='same'``).

Layout is time-major NHWC, ``[T, B, H, W, C]``. A static (direct-coded) input may be passed as
``X`` of shape ``[B, H, W, C]``, identical for every step: SCA then runs once and is broadcast over
time, which gives the same values at ``1 / T`` of the cost.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from snnjax import layers
from snnjax.models.blocks import Initializer, torch_default_init


class TemporalAttention(nnx.Module):
    """``TA(X)``: ``[T, B, ...] -> [T, B]`` (no sigmoid). Weights ``w1 [T, T//2]``, ``w2 [T//2, T]``."""

    def __init__(self, num_steps: int, *, rngs: nnx.Rngs):
        if num_steps < 2:
            raise ValueError(f"GAC temporal attention needs T >= 2 (hidden width T // 2), got T={num_steps}")
        hidden = num_steps // 2
        init = torch_default_init()
        self.num_steps = num_steps
        self.w1 = nnx.Param(init(rngs.params(), (num_steps, hidden), jnp.float32))
        self.w2 = nnx.Param(init(rngs.params(), (hidden, num_steps), jnp.float32))

    def mlp(self, v: Array) -> Array:
        """Shared MLP over time: ``[B, T] -> [B, T]``."""
        return jax.nn.relu(v @ self.w1[...]) @ self.w2[...]

    def __call__(self, x: Array) -> Array:
        if x.shape[0] != self.num_steps:
            raise ValueError(f"GAC was built for T={self.num_steps} but got {x.shape[0]} time steps")
        flat = x.reshape(x.shape[0], x.shape[1], -1)  # [T, B, HWC]
        avg = jnp.mean(flat, axis=-1).T  # [B, T]
        mx = jnp.max(flat, axis=-1).T
        return (self.mlp(avg) + self.mlp(mx)).T  # [T, B]

    def static(self, x: Array) -> Array:
        """TA of a static input ``[B, H, W, C]`` repeated over T: ``[T, B]`` (pooling done once)."""
        flat = x.reshape(x.shape[0], -1)
        avg = jnp.broadcast_to(jnp.mean(flat, axis=-1)[:, None], (x.shape[0], self.num_steps))
        mx = jnp.broadcast_to(jnp.max(flat, axis=-1)[:, None], (x.shape[0], self.num_steps))
        return (self.mlp(avg) + self.mlp(mx)).T


class SpatialChannelAttention(nnx.Module):
    """``SCA(X)``: two ``k x k`` 'SAME' convs C->C without bias, ReLU between, on ``[N, H, W, C]``."""

    def __init__(self, channels: int, kernel: int = 4, *, kernel_init: Initializer | None = None, rngs):
        init = kernel_init or torch_default_init()
        conv = dict(padding="SAME", use_bias=False, kernel_init=init, rngs=rngs)
        self.conv1 = nnx.Conv(channels, channels, (kernel, kernel), **conv)
        self.conv2 = nnx.Conv(channels, channels, (kernel, kernel), **conv)

    def __call__(self, x: Array) -> Array:
        return self.conv2(jax.nn.relu(self.conv1(x)))


class GAC(nnx.Module):
    """Gated Attention Coding: ``(X, S) -> sigmoid(TA(X) * SCA(X)) * S``.

    Args:
      channels: ``C`` of the stem output.
      num_steps: ``T`` (the TA MLP's width; the seed builds GAC for one fixed T).
      kernel: SCA kernel size (4 as shipped; the seed's comment "34 K=8" is not what its code does).
      kernel_init: SCA conv initialiser (default PyTorch's).
    Call:
      ``x``: stem output ``[T, B, H, W, C]``, or ``[B, H, W, C]`` with ``static=True`` when it is the same
      for every step;
      ``s``: spikes of the encoding neuron ``[T, B, H, W, C]``.
    Returns:
      gated spikes ``[T, B, H, W, C]``; the gate itself is available from :meth:`gate`.
    """

    def __init__(
        self, channels: int, num_steps: int, kernel: int = 4, *, kernel_init: Initializer | None = None, rngs
    ):
        self.num_steps = num_steps
        self.ta = TemporalAttention(num_steps, rngs=rngs)
        self.sca = SpatialChannelAttention(channels, kernel, kernel_init=kernel_init, rngs=rngs)

    def gate(self, x: Array, *, static: bool = False) -> Array:
        """The gate ``sigmoid(TA * SCA)``, ``[T, B, H, W, C]``; ``static``: ``x`` is ``[B, H, W, C]``, the
        same at every step."""
        if static:  # SCA once, broadcast over time
            ta = self.ta.static(x)
            sca = self.sca(x)[None]
        else:
            ta = self.ta(x)
            sca = layers.time_folded(self.sca, x)
        return jax.nn.sigmoid(ta[:, :, None, None, None] * sca)

    def __call__(self, x: Array, s: Array, *, static: bool = False) -> Array:
        return self.gate(x, static=static) * s
