"""Flax NNX building blocks for spiking networks on time-major tensors ``[T, B, ...]``.

A module owns only weights and normalisation statistics; the membrane is the scan carry and starts
from the neuron's initial state at every call (as in every seed). Stateless layers (conv, dense, BN)
see time folded into the batch, ``[T * B, ...]``, so the scan only runs the elementwise neuron.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from snnjax import dynamics

AUTO_UNROLL_MAX_STEPS = 128  # SpikingNeuron(unroll=0) unrolls the time loop fully up to this T


def fold(x: Array) -> Array:
    """``[T, B, ...] -> [T * B, ...]``."""
    return x.reshape((x.shape[0] * x.shape[1], *x.shape[2:]))


def unfold(x: Array, num_steps: int) -> Array:
    """``[T * B, ...] -> [T, B, ...]``."""
    return x.reshape((num_steps, x.shape[0] // num_steps, *x.shape[1:]))


def time_folded(fn: Callable[[Array], Array], x: Array) -> Array:
    """Applies a stateless ``fn`` on ``[T * B, ...]`` and restores ``[T, B, ...]``."""
    return unfold(fn(fold(x)), x.shape[0])


class BackwardStats(nnx.Variable):
    """Statistics known only in the backward pass (e.g. an implicit solver's residual), not trained.

    The value is a placeholder passed into a ``jax.custom_vjp`` whose backward returns the statistics as
    its cotangent, so they arrive as the *gradient* of this variable. No optimizer updates it (it is not an
    ``nnx.Param``) and no parameter count includes it. A train step differentiates with respect to
    :data:`GRADIENT_TARGETS` and reads the statistics with the model's ``gradient_metrics(grads)``.
    """


GRADIENT_TARGETS = nnx.Any(nnx.Param, BackwardStats)  # nnx.DiffState filter of a train step's gradient


class Recorded(nnx.Variable):
    """Spike trains and membrane traces sown by :class:`SpikingNeuron` while :data:`RECORDING` is set
    (``snnjax.analysis.monitor``); never sown otherwise, so a normal call compiles to the same program."""


@dataclasses.dataclass(frozen=True)
class RecordOptions:
    """What a recording keeps: the first ``samples`` examples (all if None), and membrane traces."""

    samples: int | None = None
    membrane: bool = False


RECORDING: contextvars.ContextVar[RecordOptions | None] = contextvars.ContextVar("recording", default=None)

# (layer, spikes [T, B, ...]) -> spikes the next layer sees
SpikeHook = Callable[["SpikingNeuron", Array], Array]

SPIKE_HOOK: contextvars.ContextVar[SpikeHook | None] = contextvars.ContextVar("spike_hook", default=None)
"""An opt-in hook every :class:`SpikingNeuron` applies to its output while set (analyses: spike-level
perturbation, synapse tracing); unset in training, so a normal call compiles to the same program."""


class SpikingNeuron(nnx.Module):
    """A neuron layer: runs a neuron record (``snnjax.neurons``) over ``[T, B, ...]`` by ``lax.scan``.

    Args:
      neuron: neuron record, e.g. ``LIF(decay=0.5)`` or ``NoisyLIF(...)``.
      learnable_decay: learn the leak (PLIF). For a ``'decay'`` charge the parameter is the decay
        factor, clipped to [0, 1] in use (NSNN PLIF, snnTorch learnable beta); for a ``'tau'`` charge
        it is ``w`` with ``1 / tau = sigmoid(w)`` (spikingjelly ParametricLIF).
      decay_shape: shape of the learnable parameter: ``()`` (one per layer) or e.g. ``(features,)``
        (one per neuron, broadcast over the trailing axes).
      decay_init: optional initialiser ``(key, shape) -> Array`` of the decay factor (e.g.
        ``jax.random.uniform`` for snnTorch's per-neuron beta); default: the neuron's own value.
      remat: rematerialise each time step in the backward pass (less memory, more compute).
      unroll: ``lax.scan`` unroll factor of the time loop; ``0`` (default) unrolls all ``T`` steps when
        ``T <= AUTO_UNROLL_MAX_STEPS`` and none otherwise. Only the neuron step is in the loop body (the
        layers run on the time-folded batch), so full unrolling costs little compile time; on CPU it
        made training steps faster, a partial factor slower (``benchmarks/README.md``).
      rngs: ``nnx.Rngs`` with a ``noise`` stream for stochastic neurons (and ``params`` for a random
        ``decay_init``).
    """

    def __init__(
        self,
        neuron: Any,
        *,
        learnable_decay: bool = False,
        decay_shape: tuple[int, ...] = (),
        decay_init: Callable[[Array, tuple[int, ...]], Array] | None = None,
        remat: bool = False,
        unroll: int = 0,
        rngs: nnx.Rngs | None = None,
    ):
        self.neuron = neuron
        self.remat = remat
        self.unroll = unroll
        self.decay_param = nnx.data(None)
        if learnable_decay:
            if decay_init is not None:
                if rngs is None:
                    raise ValueError("a random decay_init needs rngs=nnx.Rngs(...)")
                decay = decay_init(rngs.params(), decay_shape)
            elif neuron.charge == "tau":
                decay = jnp.full(decay_shape, 1.0 / neuron.tau, jnp.float32)
            else:
                decay = jnp.full(decay_shape, neuron.decay, jnp.float32)
            if neuron.charge == "tau":  # store w = logit(1 / tau)
                decay = jnp.log(decay) - jnp.log1p(-decay)
            self.decay_param = nnx.Param(jnp.asarray(decay, jnp.float32))
        stochastic = rngs is not None and neuron.stochastic
        self.rngs = rngs["noise"].fork() if stochastic else nnx.data(None)

    def current_neuron(self) -> Any:
        """The neuron record with the learnable leak substituted in."""
        if self.decay_param is None:
            return self.neuron
        w = self.decay_param[...]
        if self.neuron.charge == "tau":
            return dataclasses.replace(self.neuron, tau=1.0 / jax.nn.sigmoid(w))
        return dataclasses.replace(self.neuron, decay=jnp.clip(w, 0.0, 1.0))

    def __call__(self, x: Array, *, key: Array | None = None) -> Array:
        """Spikes ``[T, B, ...]`` for input currents ``x [T, B, ...]``."""
        neuron = self.current_neuron()
        if neuron.stochastic and key is None:
            if self.rngs is None:
                raise ValueError("stochastic neuron: construct with rngs=nnx.Rngs(noise=...)")
            key = self.rngs()
        unroll = self.unroll or x.shape[0] <= AUTO_UNROLL_MAX_STEPS
        options, hook = RECORDING.get(), SPIKE_HOOK.get()
        if options is None and hook is None:  # the common case: the program is unchanged
            return dynamics.run_neuron(neuron, x, key=key, remat=self.remat, unroll=unroll)
        if options is None:
            spikes = dynamics.run_neuron(neuron, x, key=key, remat=self.remat, unroll=unroll)
        else:
            spikes, states = dynamics.run_neuron(
                neuron, x, key=key, remat=self.remat, unroll=unroll, return_states=True
            )
            n = options.samples
            self.sow(Recorded, "spikes", spikes[:, :n])
            if options.membrane:
                self.sow(Recorded, "membrane", jax.tree.leaves(states)[0][:, :n])
        return spikes if hook is None else hook(self, spikes)


def conv(
    in_features: int,
    out_features: int,
    kernel_size: int | tuple[int, int],
    *,
    strides: int | tuple[int, int] = 1,
    padding: Any = "SAME",
    use_bias: bool = True,
    impl: str = "auto",
    rngs: nnx.Rngs,
    **kwargs: Any,
) -> nnx.Conv:
    """A 2-D ``nnx.Conv`` (NHWC) with the fastest correct convolution for the backend (``snnjax.conv``):
    ``impl='auto'`` takes XLA's ``lax.conv_general_dilated`` unless XLA:CPU runs convolutions through
    YNNPACK, whose kernels are slow for the narrow convolutions of SNNs, and the im2col matmul form
    (batch-chunked on CPU) otherwise; ``'xla'`` / ``'matmul'`` force one. Both give the values and
    gradients of ``lax.conv_general_dilated`` and the same parameters (``kernel`` HWIO, ``bias``), so
    checkpoints load either way. Apply it to time-folded spikes ``[T * B, H, W, C]`` (:func:`fold`,
    :func:`time_folded`). ``kwargs`` go to ``nnx.Conv`` (e.g. ``kernel_init``)."""
    from snnjax import conv as conv_lib

    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    s = (strides, strides) if isinstance(strides, int) else tuple(strides)
    return nnx.Conv(
        in_features, out_features, k, s, padding=padding, use_bias=use_bias,
        conv_general_dilated=conv_lib.conv_fn(impl), rngs=rngs, **kwargs,
    )  # fmt: skip


def batch_norm(
    num_features: int,
    *,
    scale_init: float = 1.0,
    momentum: float = 0.9,
    epsilon: float = 1e-5,
    rngs: nnx.Rngs,
    **kwargs: Any,
) -> nnx.BatchNorm:
    """BatchNorm with statistics pooled over time and batch, for ``[T, B, ..., C]`` or ``[T*B, ..., C]``.

    ``nnx.BatchNorm`` reduces over every axis but the last, so applied to a time-major tensor it pools
    over T, B and space: the BN of GAC-CIFAR, NSNN and SpikingResformer (BatchNorm2d on the folded
    ``[T * B, C, H, W]``). ``scale_init = alpha * v_th`` gives GAC-ImageNet's threshold-scaled tdBN
    (weight 0.5 for ``v_th = 0.5``, or 0 for the zero-initialised last BN of a residual block).
    ``momentum`` follows Flax (PyTorch's 0.1 is 0.9 here).
    """
    return nnx.BatchNorm(
        num_features,
        momentum=momentum,
        epsilon=epsilon,
        scale_init=nnx.initializers.constant(scale_init),
        rngs=rngs,
        **kwargs,
    )


def td_batch_norm(
    num_features: int, *, v_th: float, alpha: float = 1.0, rngs: nnx.Rngs, **kwargs: Any
) -> nnx.BatchNorm:
    """Threshold-scaled tdBN (Zheng et al. 2021): pooled BN whose scale starts at ``alpha * v_th``."""
    return batch_norm(num_features, scale_init=alpha * v_th, rngs=rngs, **kwargs)


class VariationalDropout(nnx.Dropout):
    """Dropout whose mask is drawn once per call and shared by all time steps of ``[T, B, ...]``.

    Scaled by ``1 / (1 - rate)`` (SPIDE's ``VariationalHidDropout``; snnTorch-style time-shared mask).
    """

    def __init__(self, rate: float, *, rngs: nnx.Rngs | None = None, **kwargs):
        super().__init__(rate, broadcast_dims=(0,), rngs=rngs, **kwargs)
