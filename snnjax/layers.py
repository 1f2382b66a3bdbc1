"""Flax NNX building blocks for spiking networks on time-major tensors ``[T, B, ...]``.

A module owns only weights and normalisation statistics; the membrane is the scan carry and starts
from the neuron's initial state at every call (as in every seed). Stateless layers (conv, dense, BN)
see time folded into the batch, ``[T * B, ...]``, so the scan only runs the elementwise neuron.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array

from snnjax import dynamics
from snnjax.errors import ConfigError

AUTO_UNROLL_MAX_STEPS = 32  # SpikingNeuron(unroll=0) unrolls the time loop fully up to this T
LONG_T_UNROLL = 1  # ... and by this factor beyond it (benchmarks/long_t.py)


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
SpikeHook = Callable[[nnx.Module, Array], Array]

SPIKE_HOOK: contextvars.ContextVar[SpikeHook | None] = contextvars.ContextVar("spike_hook", default=None)
"""An opt-in hook every :class:`SpikingNeuron` applies to its output while set (analyses: spike-level
perturbation, synapse tracing); unset in training, so a normal call compiles to the same program."""


def leak_fields(neuron: Any) -> tuple[str, ...]:
    """The neuron fields a learnable-decay layer learns: ``('tau',)`` for a ``'tau'`` charge, else the
    neuron's ``leaks`` (``('decay', 'syn_decay')`` for CubaLIF), by default ``('decay',)``."""
    if getattr(neuron, "charge", "decay") == "tau":
        return ("tau",)
    return tuple(getattr(neuron, "leaks", ("decay",)))


class SpikingNeuron(nnx.Module):
    """A neuron layer: runs a neuron record (``snnjax.neurons``) over ``[T, B, ...]`` by ``lax.scan``.

    Args:
      neuron: neuron record, e.g. ``LIF(decay=0.5)`` or ``NoisyLIF(...)``.
      learnable_decay: learn the leaks (PLIF). For a ``'decay'`` charge the parameter is the decay
        factor, clipped to [0, 1] in use (NSNN PLIF, snnTorch learnable beta); for a ``'tau'`` charge
        it is ``w`` with ``1 / tau = sigmoid(w)`` (spikingjelly ParametricLIF). The membrane leak is
        ``decay_param``; a neuron with more leaks (:func:`leak_fields`; CubaLIF's synaptic
        ``syn_decay``) gets one more parameter each, named ``<field>_param``.
      learnable_threshold: learn the threshold ``v_th`` (snnTorch ``learn_threshold``), stored as
        ``threshold_param`` and used as is (no constraint). For neurons with a ``v_th`` field (LIF, IF,
        ALIF's baseline threshold, CubaLIF, NoisyLIF).
      decay_shape: shape of every learnable parameter: ``()`` (one per layer) or e.g. ``(features,)``
        (one per channel, broadcast over the trailing axes).
      decay_init: optional initialiser ``(key, shape) -> Array`` of the membrane decay factor (e.g.
        ``jax.random.uniform`` for snnTorch's per-neuron beta); default: the neuron's own value.
      remat: rematerialise each time step in the backward pass (less memory, more compute).
      unroll: ``lax.scan`` unroll factor of the time loop; ``0`` (default) unrolls all ``T`` steps when
        ``T <= AUTO_UNROLL_MAX_STEPS`` and by ``LONG_T_UNROLL`` otherwise. Only the neuron step is in
        the loop body (the layers run on the time-folded batch); full unrolling makes short loops
        faster, while beyond ``AUTO_UNROLL_MAX_STEPS`` its compile time grows with ``T`` for little gain,
        and a partial factor was slower than either on CPU (``benchmarks/README.md``, "Long T").
      window: ``0`` (default) runs all ``T`` steps; ``w > 0`` runs the neuron on the first ``w`` steps
        only and emits zeros after them (GAC-ImageNet's ``mem_update`` with its fixed ``time_window``);
        an input with fewer than ``w`` steps is a :class:`~snnjax.errors.ConfigError`.
      rngs: ``nnx.Rngs`` with a ``noise`` stream for stochastic neurons (and ``params`` for a random
        ``decay_init``).
    """

    def __init__(
        self,
        neuron: Any,
        *,
        learnable_decay: bool = False,
        learnable_threshold: bool = False,
        decay_shape: tuple[int, ...] = (),
        decay_init: Callable[[Array, tuple[int, ...]], Array] | None = None,
        remat: bool = False,
        unroll: int = 0,
        window: int = 0,
        rngs: nnx.Rngs | None = None,
    ):
        self.neuron = neuron
        self.remat = remat
        self.unroll = unroll
        self.window = window
        self.decay_param = nnx.data(None)
        self.threshold_param = nnx.data(None)
        self.extra_leaks = leak_fields(neuron)[1:] if learnable_decay else ()
        if learnable_decay:
            name = leak_fields(neuron)[0]
            if not hasattr(neuron, name):
                raise ConfigError(f"{type(neuron).__name__} has no leak {name!r} to learn (learnable_decay)")
            if decay_init is not None:
                if rngs is None:
                    raise ValueError("a random decay_init needs rngs=nnx.Rngs(...)")
                decay = decay_init(rngs.params(), decay_shape)
            elif name == "tau":
                decay = jnp.full(decay_shape, 1.0 / neuron.tau, jnp.float32)
            else:
                decay = jnp.full(decay_shape, getattr(neuron, name), jnp.float32)
            if name == "tau":  # store w = logit(1 / tau)
                decay = jnp.log(decay) - jnp.log1p(-decay)
            self.decay_param = nnx.Param(jnp.asarray(decay, jnp.float32))
            for name in self.extra_leaks:
                setattr(
                    self,
                    f"{name}_param",
                    nnx.Param(jnp.full(decay_shape, getattr(neuron, name), jnp.float32)),
                )
        if learnable_threshold:
            if not hasattr(neuron, "v_th"):
                raise ConfigError(
                    f"{type(neuron).__name__} has no threshold v_th to learn (learnable_threshold)"
                )
            self.threshold_param = nnx.Param(jnp.full(decay_shape, neuron.v_th, jnp.float32))
        stochastic = rngs is not None and neuron.stochastic
        self.rngs = rngs["noise"].fork() if stochastic else nnx.data(None)

    def current_neuron(self) -> Any:
        """The neuron record with the learnable leaks and threshold substituted in."""
        changes = {}
        if self.decay_param is not None:
            w, leak = self.decay_param[...], leak_fields(self.neuron)[0]
            changes[leak] = 1.0 / jax.nn.sigmoid(w) if leak == "tau" else jnp.clip(w, 0.0, 1.0)
            for name in self.extra_leaks:
                changes[name] = jnp.clip(getattr(self, f"{name}_param")[...], 0.0, 1.0)
        if self.threshold_param is not None:
            changes["v_th"] = self.threshold_param[...]
        return dataclasses.replace(self.neuron, **changes) if changes else self.neuron

    def run(
        self, neuron: Any, x: Array, *, key: Array | None, unroll: int | bool, return_states: bool = False
    ):
        """Runs ``neuron`` over ``x [T, B, ...]``: spikes (and the state trace if ``return_states``)."""
        return dynamics.run_neuron(
            neuron, x, key=key, remat=self.remat, unroll=unroll, return_states=return_states
        )

    def __call__(self, x: Array, *, key: Array | None = None) -> Array:
        """Spikes ``[T, B, ...]`` for input currents ``x [T, B, ...]``, in ``x``'s dtype; the state is
        integrated in at least float32 (a bfloat16 current is widened first, :mod:`snnjax.precision`)."""
        wide = jnp.promote_types(x.dtype, jnp.float32)
        if x.dtype != wide:
            return self(x.astype(wide), key=key).astype(x.dtype)
        neuron = self.current_neuron()
        if neuron.stochastic and key is None:
            if self.rngs is None:
                raise ValueError("stochastic neuron: construct with rngs=nnx.Rngs(noise=...)")
            key = self.rngs()
        x, pad = self._windowed(x)
        unroll = self.unroll or (True if x.shape[0] <= AUTO_UNROLL_MAX_STEPS else LONG_T_UNROLL)
        if not observed():  # the common case: the program is unchanged
            return pad(self.run(neuron, x, key=key, unroll=unroll))
        spikes, states = self.run(neuron, x, key=key, unroll=unroll, return_states=True)
        return observe(self, pad(spikes), pad(jax.tree.leaves(states)[0]))

    def _windowed(self, x: Array) -> tuple[Array, Callable[[Array], Array]]:
        """``x`` cut to the fixed time window (if any) and the function that pads a ``[window, ...]``
        result with zeros back to ``x``'s length (the identity without a window)."""
        t, w = x.shape[0], self.window
        if not w or w == t:
            return x, lambda a: a
        if t < w:
            raise ConfigError(
                f"the neuron's fixed time window of {w} steps (config.model.time_window) exceeds the "
                f"input's {t} steps: set config.model.time_window <= config.model.num_steps, or 0"
            )
        return x[:w], lambda a: jnp.concatenate([a, jnp.zeros((t - w, *a.shape[1:]), a.dtype)])


def observed() -> bool:
    """Whether an analysis watches the neuron layers (:data:`RECORDING` or :data:`SPIKE_HOOK` set)."""
    return RECORDING.get() is not None or SPIKE_HOOK.get() is not None


def observe(layer: nnx.Module, spikes: Array, membrane: Array | None = None) -> Array:
    """What a neuron layer does with its spikes ``[T, B, ...]`` while :func:`observed`: sows them (and its
    membrane ``[T, B, ...]``) under :data:`RECORDING` and returns them through :data:`SPIKE_HOOK`."""
    options, hook = RECORDING.get(), SPIKE_HOOK.get()
    if options is not None:
        layer.sow(Recorded, "spikes", spikes[:, : options.samples])
        if options.membrane and membrane is not None:
            layer.sow(Recorded, "membrane", membrane[:, : options.samples])
    return spikes if hook is None else hook(layer, spikes)


class SpikeProbe(nnx.Module):
    """The neuron layer of a model whose spikes come from its own dynamics rather than a
    :class:`SpikingNeuron` (e.g. :class:`~snnjax.models.basic.HybridPlasticityNet`): call it on the spikes
    ``[T, B, ...]`` (and membrane) so that monitors, synapse tracing and spike perturbations see them like
    any neuron layer's. The identity (and no parameter) while nothing is :func:`observed`."""

    def __init__(self, v_th: float):
        self.v_th = v_th

    def __call__(self, spikes: Array, membrane: Array | None = None) -> Array:
        return observe(self, spikes, membrane) if observed() else spikes


STATIC_REPEATS: contextvars.ContextVar[int] = contextvars.ContextVar("static_repeats", default=1)
"""How many identical time steps one call of a stateless layer stands for: set by :func:`repeated_input`
while a static image's stem runs once for all ``T`` steps, so a :class:`BatchNorm` counts ``T`` copies of
its batch, as PyTorch does on the repeated input."""


@contextlib.contextmanager
def repeated_input(num_steps: int):
    """Within the block, stateless layers see one step that stands for ``num_steps`` identical ones."""
    token = STATIC_REPEATS.set(num_steps)
    try:
        yield
    finally:
        STATIC_REPEATS.reset(token)


class BatchNorm(nnx.BatchNorm):
    """``nnx.BatchNorm`` whose running variance, like PyTorch's ``running_var``, is updated with the
    unbiased batch variance ``n / (n - 1) * var`` (``n`` = elements per feature in the batch, times
    :data:`STATIC_REPEATS`); the batch itself is normalised with the biased one, as in both libraries.
    ``unbiased_running_var=False`` keeps Flax's biased update."""

    def __init__(self, num_features: int, *, unbiased_running_var: bool = True, **kwargs: Any):
        super().__init__(num_features, **kwargs)
        self.unbiased_running_var = unbiased_running_var

    def __call__(self, x: Array, use_running_average: bool | None = None, *, mask: Array | None = None):
        old = self.var[...]
        y = super().__call__(x, use_running_average, mask=mask)
        frozen = self.use_running_average if use_running_average is None else use_running_average
        if frozen or not self.unbiased_running_var:
            return y
        if mask is not None:
            raise ValueError("BatchNorm(unbiased_running_var=True) does not take a mask")
        n = x.size // self.num_features * STATIC_REPEATS.get()
        c = n / max(n - 1, 1)
        # Flax stored m * old + (1 - m) * var; m * old + (1 - m) * c * var = c * stored - (c - 1) * m * old
        self.var[...] = c * self.var[...] - (c - 1) * self.momentum * old
        return y


class RecurrentSpikingNeuron(SpikingNeuron):
    """A neuron layer with all-to-all recurrent weights inside the time loop (snnTorch ``RLeaky``, spyx
    ``RLIF``), for any neuron record on inputs ``[T, B, ..., features]``::

        s_t = neuron.step(state_{t-1}, x_t + s_{t-1} @ W_rec)      (s_0 = 0)

    ``W_rec`` is ``[features, features]`` (``recurrent.kernel``, no bias: the feed-forward layer's bias
    already adds a constant each step). Time folding cannot apply to the recurrent product, so the scan
    carries the previous spikes. A spike hook (``SPIKE_HOOK``) changes what the next layer sees, not the
    recurrent input. Other arguments as :class:`SpikingNeuron`.

    Args:
      neuron: neuron record.
      features: size of the last axis.
      recurrent_init: initialiser of ``W_rec`` (default: ``nnx.Linear``'s, LeCun normal).
      rngs: ``nnx.Rngs`` with a ``params`` stream (and ``noise`` for stochastic neurons).
    """

    def __init__(
        self,
        neuron: Any,
        features: int,
        *,
        recurrent_init: Callable | None = None,
        rngs: nnx.Rngs,
        **kwargs: Any,
    ):
        super().__init__(neuron, rngs=rngs, **kwargs)
        init = {} if recurrent_init is None else {"kernel_init": recurrent_init}
        self.recurrent = nnx.Linear(features, features, use_bias=False, rngs=rngs, **init)

    def run(
        self, neuron: Any, x: Array, *, key: Array | None, unroll: int | bool, return_states: bool = False
    ):
        w = self.recurrent.kernel[...].astype(x.dtype)
        state = (neuron.init_state(x.shape[1:], x.dtype), jnp.zeros_like(x[0]))
        keys = jax.random.split(key, x.shape[0]) if neuron.stochastic else None

        def step(carry, x_t, k=None):
            neuron_state, s_prev = carry
            neuron_state, s = neuron.step(neuron_state, x_t + s_prev @ w, k)
            carry = (neuron_state, s.astype(x.dtype))
            return carry, (s, neuron_state) if return_states else s

        _, ys = dynamics.scan(step, state, x, keys=keys, remat=self.remat, unroll=unroll)
        return ys


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
) -> BatchNorm:
    """BatchNorm with statistics pooled over time and batch, for ``[T, B, ..., C]`` or ``[T*B, ..., C]``.

    ``nnx.BatchNorm`` reduces over every axis but the last, so applied to a time-major tensor it pools
    over T, B and space: the BN of GAC-CIFAR, NSNN and SpikingResformer (BatchNorm2d on the folded
    ``[T * B, C, H, W]``). ``scale_init = alpha * v_th`` gives GAC-ImageNet's threshold-scaled tdBN
    (weight 0.5 for ``v_th = 0.5``, or 0 for the zero-initialised last BN of a residual block).
    ``momentum`` follows Flax (PyTorch's 0.1 is 0.9 here); the running variance takes the unbiased batch
    variance as PyTorch's does (:class:`BatchNorm`).
    """
    return BatchNorm(
        num_features,
        momentum=momentum,
        epsilon=epsilon,
        scale_init=nnx.initializers.constant(scale_init),
        rngs=rngs,
        **kwargs,
    )


def td_batch_norm(
    num_features: int, *, v_th: float, alpha: float = 1.0, rngs: nnx.Rngs, **kwargs: Any
) -> BatchNorm:
    """Threshold-scaled tdBN (Zheng et al. 2021): pooled BN whose scale starts at ``alpha * v_th``."""
    return batch_norm(num_features, scale_init=alpha * v_th, rngs=rngs, **kwargs)


class VariationalDropout(nnx.Dropout):
    """Dropout whose mask is drawn once per call and shared by all time steps of ``[T, B, ...]``.

    Scaled by ``1 / (1 - rate)`` (SPIDE's ``VariationalHidDropout``; snnTorch-style time-shared mask).
    """

    def __init__(self, rate: float, *, rngs: nnx.Rngs | None = None, **kwargs):
        super().__init__(rate, broadcast_dims=(0,), rngs=rngs, **kwargs)
