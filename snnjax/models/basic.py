"""SNN basic task models (docs/basics.md): snnTorch-style MLP, a direct-coded conv SNN, and the
"Nat. Commun. 2022" hybrid-plasticity neuron in its as-coded and intended forms.

Every model maps static images ``[B, H, W, C]`` (or event frames ``[B, T, H, W, C]``) to time-major
outputs ``[T, B, classes]``: output spikes (for the count loss) or per-step logits.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax import Array

from snnjax import conv as conv_lib
from snnjax import dynamics, layers, precision
from snnjax import surrogate as sg
from snnjax.errors import ConfigError
from snnjax.models import register
from snnjax.models.blocks import (
    broadcast_over_time,
    max_pool_2x2,
    stem_over_time,
    torch_bias_init,
    torch_default_init,
)
from snnjax.models.common import Encoder, chosen_neuron, set_fields, spiking_neuron
from snnjax.models.common import model_config as shared_model_config

# every key of each model with its default (beside the shared name, num_steps, encoding, neuron, remat)
MODEL_KEYS = {
    "mlp": dict(
        hidden=(256,),  # hidden layer widths
        readout="logits",  # logits | spikes (the last layer spikes; for the count loss)
        per_neuron_output_decay=False,  # spikes readout: one learnable decay per class, U[0, 1) init
    ),
    "convnet": dict(
        channels=(32, 64),  # conv block widths
        hidden=(),  # dense hidden widths after the conv blocks
        readout="logits",
        dropout=0.0,  # time-shared dropout before each dense layer
        conv_impl="auto",  # auto | xla | matmul (snnjax.conv.conv_fn)
        remat_chunk=0,  # with remat: time steps per checkpointed chunk (0 = ~sqrt(T))
    ),
    "snntorch_convnet": dict(
        channels=(12, 32),  # conv widths (snnTorch's N-MNIST tutorial net)
        kernel_size=5,  # unpadded ("valid") convolutions with bias
        pool_first=True,  # Conv -> MaxPool -> LIF (spike_counter.py); False: Conv -> LIF -> MaxPool
        readout="spikes",  # spikes (output LIF, for the count loss) | logits
    ),
    "hybrid_plasticity": dict(
        variant="as_coded",  # as_coded | intended
        tau_u=5.0,
        tau_w=1.0,
    ),
}


def model_config(name: str = "mlp", **overrides) -> ml_collections.ConfigDict:
    """A complete ``config.model`` section for the basic model ``name`` (mlp | convnet | snntorch_convnet |
    hybrid_plasticity), with ``overrides`` of its keys."""
    if name not in MODEL_KEYS:
        raise ConfigError(f"unknown basic model {name!r}; choose one of {sorted(MODEL_KEYS)}")
    cfg = shared_model_config(name, **MODEL_KEYS[name])
    set_fields(cfg, overrides, "model")
    return cfg


def _uniform_decay(key: Array, shape: tuple[int, ...]) -> Array:
    """snnTorch's per-neuron learnable beta, initialised ``U[0, 1)``."""
    return jax.random.uniform(key, shape, jnp.float32)


@register("mlp")
class SpikingMLP(nnx.Module):
    """``in -> [Linear -> LIF] * len(hidden) -> Linear -> LIF`` (snnTorch ``spiking/neuron.py``).

    With ``readout='spikes'`` the last layer is spiking and the model returns output spikes
    ``[T, B, classes]``; with ``'logits'`` it returns the last Linear's per-step currents.
    ``per_neuron_output_decay`` gives the output layer one learnable decay per class initialised
    ``U[0, 1)`` (snnTorch's ``beta2``).
    """

    def __init__(self, cfg: ml_collections.ConfigDict, num_classes: int, input_shape, *, rngs: nnx.Rngs):
        self.encoder = Encoder(cfg.encoding, cfg.num_steps, rngs=rngs)
        self.readout = cfg.readout
        sizes = [math.prod(input_shape), *cfg.hidden]
        self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])
        self.hidden_neurons = nnx.List(
            [spiking_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat, features=w) for w in cfg.hidden]
        )
        self.out = nnx.Linear(sizes[-1], num_classes, rngs=rngs)
        if self.readout == "spikes":
            per_neuron = cfg.per_neuron_output_decay
            self.out_neuron = spiking_neuron(
                cfg.neuron,
                rngs=rngs,
                remat=cfg.remat,
                decay_shape=(num_classes,) if per_neuron else (),
                decay_init=_uniform_decay if per_neuron else None,
                features=num_classes,
            )

    def __call__(self, x: Array) -> Array:
        s = self.encoder(x)  # [T, B, H, W, C]
        s = s.reshape((*s.shape[:2], -1))
        # Linear layers see time folded into the batch: one 2-D matmul (a [T, B, F] dot runs
        # slower forward + backward on XLA CPU)
        for linear, neuron in zip(self.hidden, self.hidden_neurons, strict=True):
            s = neuron(layers.time_folded(linear, s))
        out = layers.time_folded(self.out, s)
        return self.out_neuron(out) if self.readout == "spikes" else out


@register("convnet")
class SpikingConvNet(nnx.Module):
    """Direct-coded conv SNN:
    ``[Conv3x3 -> BN -> LIF -> MaxPool2] * len(channels) -> [Linear -> LIF] * len(hidden) -> Linear``.

    Convs, BN and pooling run on the time-folded batch ``[T * B, H, W, C]``; only the neurons scan over
    time. With direct coding of a static image the first conv and BN run once on ``[B, H, W, C]``
    (:func:`~snnjax.models.blocks.stem_over_time`). Returns per-step logits ``[T, B, classes]`` (or output
    spikes with ``readout='spikes'``).
    ``cfg.conv_impl`` picks the convolution: ``'matmul'`` (``snnjax.conv``, im2col by slicing +
    matmuls, the faster one on CPU with YNNPACK's convolutions), ``'xla'`` (``lax.conv_general_dilated``)
    or ``'auto'`` (default: ``'xla'`` unless XLA:CPU uses YNNPACK's convolutions, see
    ``snnjax.runtime``); all compute the same values and gradients and have the same parameters.
    ``cfg.remat``: each ``Conv -> BN -> LIF -> MaxPool`` block is rematerialised in chunks of
    ``cfg.remat_chunk`` time steps (0: the largest divisor of T up to sqrt(T)); only the block input, the
    neuron state between chunks and the output are stored for the backward pass
    (:func:`_conv_block_chunked`); values, gradients and BN statistics are unchanged. Memory saved:
    ``benchmarks/README.md``, "Memory".
    """

    def __init__(self, cfg: ml_collections.ConfigDict, num_classes: int, input_shape, *, rngs: nnx.Rngs):
        self.encoder = Encoder(cfg.encoding, cfg.num_steps, rngs=rngs)
        self.readout = cfg.readout
        self.remat = bool(cfg.remat)
        self.remat_chunk = int(cfg.remat_chunk)
        h, w, c = input_shape
        conv_fn = conv_lib.conv_fn(cfg.conv_impl)
        convs, norms, neurons_ = [], [], []
        for width in cfg.channels:
            convs.append(
                nnx.Conv(
                    c, width, (3, 3), padding="SAME", use_bias=False, conv_general_dilated=conv_fn, rngs=rngs
                )
            )
            norms.append(layers.batch_norm(width, rngs=rngs))
            neurons_.append(spiking_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat, features=width))
            c, h, w = width, h // 2, w // 2
        self.convs, self.norms, self.neurons = nnx.List(convs), nnx.List(norms), nnx.List(neurons_)
        self.dropout = layers.VariationalDropout(cfg.dropout, rngs=rngs)
        features, hidden, hidden_neurons = h * w * c, [], []
        for width in cfg.hidden:
            hidden.append(nnx.Linear(features, width, rngs=rngs))
            hidden_neurons.append(spiking_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat, features=width))
            features = width
        self.hidden, self.hidden_neurons = nnx.List(hidden), nnx.List(hidden_neurons)
        self.out = nnx.Linear(features, num_classes, rngs=rngs)
        if self.readout == "spikes":
            self.out_neuron = spiking_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat, features=num_classes)

    def __call__(self, x: Array) -> Array:
        blocks = list(zip(self.convs, self.norms, self.neurons, strict=True))
        if not blocks:
            s = self.encoder(x)  # [T, B, H, W, C]
        elif self.remat and not layers.observed():  # analyses run the plain path: same values
            s = self._chunked_blocks(blocks, x)
        else:
            (conv, norm, neuron), *rest = blocks
            z, _ = stem_over_time(lambda v: norm(conv(v)), x, self.encoder)  # static image: conv + BN once
            s = layers.time_folded(max_pool_2x2, neuron(z))
            for conv, norm, neuron in rest:
                s = _conv_block(conv, norm, neuron, s)
        s = self.dropout(s.reshape((*s.shape[:2], -1)))
        for linear, neuron in zip(self.hidden, self.hidden_neurons, strict=True):
            s = self.dropout(neuron(layers.time_folded(linear, s)))
        out = layers.time_folded(self.out, s)
        return self.out_neuron(out) if self.readout == "spikes" else out

    def _chunked_blocks(self, blocks: list, x: Array) -> Array:
        """The conv blocks rematerialised in time chunks (``cfg.remat``): ``x -> [T, B, H', W', C']``."""
        t = self.encoder.num_steps
        chunk = time_chunk(t, self.remat_chunk)
        (conv, norm, neuron), *rest = blocks
        if self.encoder.repeats:
            s = _static_input_block_chunked(conv, norm, neuron, x, t, chunk)
        else:
            s = _conv_block_chunked(conv, norm, neuron, self.encoder(x), chunk)
        for conv, norm, neuron in rest:
            s = _conv_block_chunked(conv, norm, neuron, s, chunk)
        return s


@register("snntorch_convnet")
class SnnTorchConvNet(nnx.Module):
    """The basic task's N-MNIST conv SNN (snnTorch tutorial style), on event frames ``[T, B, H, W, 2]``
    (or encoded images): ``[Conv(k x k, valid, bias) -> MaxPool2 -> LIF] * len(channels) -> Flatten ->
    Linear -> LIF``, returning output spikes ``[T, B, classes]`` (``readout='spikes'``) or the Linear's
    per-step currents (``'logits'``). ``pool_first=False`` puts each LIF before its pool. No BN; PyTorch's
    default init for every weight and bias. 34x34 N-MNIST with ``channels=(12, 32)``, ``k=5``: 30 -> 15 ->
    11 -> 5, so the Linear is ``32 * 5 * 5 = 800 -> 10``.
    """

    def __init__(self, cfg: ml_collections.ConfigDict, num_classes: int, input_shape, *, rngs: nnx.Rngs):
        self.encoder = Encoder(cfg.encoding, cfg.num_steps, rngs=rngs)
        self.readout = cfg.readout
        self.pool_first = bool(cfg.pool_first)
        if self.readout not in ("spikes", "logits"):
            raise ConfigError(f"unknown config.model.readout {self.readout!r}; use 'spikes' or 'logits'")
        k = int(cfg.kernel_size)
        h, w, c = input_shape
        convs, neurons_ = [], []
        for width in cfg.channels:
            fan_in = c * k * k
            convs.append(
                nnx.Conv(c, width, (k, k), padding="VALID", kernel_init=torch_default_init(),
                         bias_init=torch_bias_init(fan_in), rngs=rngs)
            )  # fmt: skip
            neurons_.append(spiking_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat))
            c, h, w = width, (h - k + 1) // 2, (w - k + 1) // 2
            if h < 1 or w < 1:
                raise ConfigError(f"snntorch_convnet: input {input_shape[:2]} too small for {cfg.channels}")
        self.convs, self.neurons = nnx.List(convs), nnx.List(neurons_)
        features = h * w * c
        self.out = nnx.Linear(features, num_classes, kernel_init=torch_default_init(),
                              bias_init=torch_bias_init(features), rngs=rngs)  # fmt: skip
        if self.readout == "spikes":
            self.out_neuron = spiking_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat)

    def __call__(self, x: Array) -> Array:
        s = self.encoder(x)  # [T, B, H, W, C]
        t = s.shape[0]
        for conv, neuron in zip(self.convs, self.neurons, strict=True):
            y = conv(layers.fold(s))
            if self.pool_first:
                s = neuron(layers.unfold(max_pool_2x2(y), t))
            else:
                s = layers.time_folded(max_pool_2x2, neuron(layers.unfold(y, t)))
        out = layers.time_folded(self.out, s.reshape((*s.shape[:2], -1)))
        return self.out_neuron(out) if self.readout == "spikes" else out


def _conv_block(conv: nnx.Conv, norm: nnx.Module, neuron: nnx.Module, s: Array) -> Array:
    """``Conv -> BN -> LIF -> MaxPool2`` on spikes ``[T, B, H, W, C]`` -> ``[T, B, H/2, W/2, C']``."""
    t = s.shape[0]
    s = neuron(layers.unfold(norm(conv(layers.fold(s))), t))
    return layers.time_folded(max_pool_2x2, s)


def time_chunk(num_steps: int, chunk: int = 0) -> int:
    """``chunk`` if it divides ``num_steps``; ``0`` picks the largest divisor ``<= sqrt(num_steps)`` (memory
    ~ ``T / chunk`` neuron states + one chunk's activations, both ~ ``sqrt(T)``)."""
    if chunk == 0:
        return max(k for k in range(1, math.isqrt(num_steps) + 1) if num_steps % k == 0)
    if chunk < 0 or num_steps % chunk:
        raise ConfigError(f"model.remat_chunk={chunk} must divide the number of time steps {num_steps}")
    return chunk


def _deterministic(neuron: nnx.Module):
    lif = neuron.current_neuron()
    if lif.stochastic:
        raise ConfigError(
            "model.remat=True (chunked) needs a deterministic neuron; set model.remat=False for noisy ones"
        )
    return lif


def _neuron_pool_chunks(
    neuron, lif, currents: Callable, xs, num_chunks: int, chunk: int, state_shape, dtype
) -> Array:
    """Neuron + 2x2 max-pool over ``num_chunks`` checkpointed chunks of ``chunk`` steps; ``currents(x)``
    gives a chunk's input currents ``[chunk, *state_shape]`` from its slice ``x`` of ``xs`` (scanned; may
    be ``None``). Only the neuron state between chunks and the pooled spikes are stored for the backward
    pass. Sows the firing rate; returns ``[num_chunks * chunk, B, H/2, W/2, C]``."""

    @jax.checkpoint
    def run(carry, x):
        state, spikes = carry
        state, sp = dynamics.scan(lambda st, zt: lif.step(st, zt), state, currents(x), unroll=True)
        return (state, spikes + jnp.sum(sp)), layers.time_folded(max_pool_2x2, sp)

    state0 = lif.init_state(state_shape, dtype)
    (_, spikes), out = jax.lax.scan(run, (state0, jnp.zeros((), dtype)), xs, length=num_chunks)
    neuron.sow(nnx.Intermediate, "firing_rate", spikes / (num_chunks * chunk * math.prod(state_shape)))
    return out.reshape(num_chunks * chunk, *out.shape[2:])


def _conv_block_chunked(conv: nnx.Conv, norm: nnx.BatchNorm, neuron, s: Array, chunk: int) -> Array:
    """:func:`_conv_block` rematerialised in time chunks: only the block input, the neuron state every
    ``chunk`` steps and the output are kept for the backward pass, which recomputes one chunk at a time.

    BN pools its statistics over all ``T * B`` samples, so it takes two checkpointed scans over the chunks:
    the first sums ``y`` and ``y^2`` of the convolution output (``var = E[y^2] - E[y]^2``, as flax), the
    second normalises, runs the neuron from the carried state and pools. Autodiff through both scans gives
    the exact BN gradient (its batch-statistics terms flow back through the first scan).
    ``[T, B, H, W, C] -> [T, B, H/2, W/2, C']``; deterministic neurons only.
    """
    lif = _deterministic(neuron)
    t, b = s.shape[:2]
    xs = s.reshape(t // chunk, chunk, *s.shape[1:])
    conv_chunk = lambda x: conv(layers.fold(x))  # [chunk, B, H, W, C] -> [chunk * B, H, W, C']

    @jax.checkpoint
    def moments(acc: tuple[Array, Array], x: Array):
        y = conv_chunk(x)
        return (acc[0] + jnp.sum(y, axis=(0, 1, 2)), acc[1] + jnp.sum(y * y, axis=(0, 1, 2))), None

    width = conv.out_features
    zeros = jnp.zeros((width,), s.dtype)
    (s1, s2), _ = jax.lax.scan(moments, (zeros, zeros), xs)
    n = t * b * s.shape[2] * s.shape[3]
    if norm.use_running_average:
        mean, var = norm.mean[...], norm.var[...]
    else:
        mean = s1 / n
        var = jnp.maximum(0.0, s2 / n - mean * mean)
        m = norm.momentum
        unbiased = n / (n - 1) if getattr(norm, "unbiased_running_var", False) and n > 1 else 1.0
        norm.mean[...] = m * norm.mean[...] + (1 - m) * jax.lax.stop_gradient(mean)
        norm.var[...] = m * norm.var[...] + (1 - m) * jax.lax.stop_gradient(var) * unbiased
    mul = jax.lax.rsqrt(var + norm.epsilon) * norm.scale[...]
    bias = norm.bias[...]
    currents = lambda x: layers.unfold((conv_chunk(x) - mean) * mul + bias, chunk)
    return _neuron_pool_chunks(
        neuron, lif, currents, xs, t // chunk, chunk, (b, *s.shape[2:4], width), s.dtype
    )


def _static_input_block_chunked(conv: nnx.Conv, norm: nnx.Module, neuron, x: Array, t: int, chunk: int):
    """The first block on a static image ``x [B, H, W, C]`` repeated over ``t`` steps: conv and BN run once,
    the neuron and pool in rematerialised time chunks (as :func:`_conv_block_chunked`); returns
    ``[t, B, H/2, W/2, C']``."""
    lif = _deterministic(neuron)
    with layers.repeated_input(t):  # BN's running variance counts t copies
        z = norm(conv(x))
    currents = lambda _: broadcast_over_time(z, chunk)
    return _neuron_pool_chunks(neuron, lif, currents, None, t // chunk, chunk, z.shape, z.dtype)


@register("hybrid_plasticity")
class HybridPlasticityNet(nnx.Module):
    """The single-layer "Nat. Commun. 2022" hybrid global/local-plasticity network (docs/basics.md).

    Per step ``m`` with direct-coded input ``x`` (flattened image), ``k = dt / tau_u``:
      ``u <- (1 - s)(1 - k) u + k (ReLU(W x + b) exp(-m / tau_w) + alpha * P x)``
      ``P <- P exp(-dt / tau_w) + eta (H(u) + beta) x^T``
      ``s <- H(u - v_th)``, both Heavisides with a fast-sigmoid surrogate.
    ``variant='as_coded'`` reproduces the repository's behaviour: membrane and spike are zeroed after
    every step (``reset()`` inside the time loop) and ``alpha, eta, beta`` are not registered
    parameters, so they stay 0 and the plasticity path is inert; only ``W, b`` train.
    ``variant='intended'`` carries ``u, s`` over time and learns ``alpha, eta, beta`` (scalars); the
    Hebbian trace ``P`` is per sample and starts at 0 for each input (the original kept one trace
    shared by the batch across batches). Returns output spikes ``[T, B, classes]``.
    """

    def __init__(self, cfg: ml_collections.ConfigDict, num_classes: int, input_shape, *, rngs: nnx.Rngs):
        if cfg.variant not in ("as_coded", "intended"):
            raise ValueError(f"unknown variant {cfg.variant!r}; use 'as_coded' or 'intended'")
        self.variant = cfg.variant
        self.num_steps = cfg.num_steps
        neuron = chosen_neuron(cfg.neuron)  # its threshold and surrogate (the configs: fast sigmoid)
        self.tau_u, self.tau_w, self.dt, self.v_th = cfg.tau_u, cfg.tau_w, 1.0, neuron.v_th
        self.surrogate = sg.parse(neuron.surrogate)
        self.linear = nnx.Linear(math.prod(input_shape), num_classes, rngs=rngs)
        self.neuron = layers.SpikeProbe(self.v_th)  # shows the spikes to monitors and analyses
        if self.variant == "intended":
            self.alpha = nnx.Param(jnp.zeros((), jnp.float32))
            self.eta = nnx.Param(jnp.zeros((), jnp.float32))
            self.beta = nnx.Param(jnp.zeros((), jnp.float32))

    def __call__(self, x: Array) -> Array:
        x = x.reshape(x.shape[0], -1)
        drive = jax.nn.relu(self.linear(x))  # [B, classes]
        k = self.dt / self.tau_u
        m = jnp.arange(self.num_steps, dtype=x.dtype)
        decay_in = jnp.exp(-m / self.tau_w)
        if self.variant == "as_coded":
            u = k * drive[None] * decay_in[:, None, None]  # memoryless: state zeroed every step
            spikes = sg.spike(u - self.v_th, self.surrogate)
            us = u
        else:
            alpha, eta, beta = self.alpha[...], self.eta[...], self.beta[...]
            p_decay = math.exp(-self.dt / self.tau_w)

            def step(carry, d):
                u, s, trace = carry  # [B, C], [B, C], [B, C, D]
                u = (1 - s) * (1 - k) * u + k * (drive * d + alpha * jnp.einsum("bcd,bd->bc", trace, x))
                hebb = sg.spike(u, self.surrogate) + beta
                trace = trace * p_decay + eta * hebb[:, :, None] * x[:, None, :]
                s = sg.spike(u - self.v_th, self.surrogate)
                return (u, s, trace), (s, u)

            b, c = drive.shape
            init = (
                jnp.zeros((b, c), x.dtype),
                jnp.zeros((b, c), x.dtype),
                jnp.zeros((b, c, x.shape[1]), x.dtype),
            )
            _, (spikes, us) = jax.lax.scan(step, init, decay_in)
        spikes = self.neuron(spikes, us)
        self.sow(nnx.Intermediate, "firing_rate", jnp.mean(precision.at_least_float32(spikes)))
        return spikes
