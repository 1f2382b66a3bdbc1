"""The feedback SNN: linear ops between spiking layers, run and differentiated by :mod:`snnjax.implicit`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx
from jax import Array

from snnjax import encoding, implicit
from snnjax.errors import ConfigError
from snnjax.layers import BackwardStats
from snnjax.models.blocks import torch_bias_init, torch_default_init
from snnjax.models.feedback.restrict import frobenius_restrict, spectral_norm, spectral_restrict, unit

RESTRICTIONS = ("frobenius", "spectral")
EVENT_BN_AVERAGES = ("code", "weighted")
GRADIENTS_AT = ("rates", "reevaluation")
READOUT_INITS = ("torch", "flax")
IDE_EVENT_EPS = 1e-8  # IDE's sqrt(unbiased var + 1e-8) for the statistics of event input


def ide_event_inputs(x: Array, leak: float, average: str = "code") -> tuple[Array, Array, Array]:
    """IDE's inputs of a net whose input op has BatchNorm, for event frames ``x [T, B, ...]`` in training:
    ``(frames of the spiking forward, input of the norm's statistics, input of the re-evaluation)``.

    IF (``leak = 1``): the frames, their time mean, their time mean. LIF: the statistics come from the
    leak-weighted average ``w = sum_t l^(T-1-t) x_t / n_T`` (``n_k = (1 - l^k) / (1 - l)``). IDE's code
    (``average='code'``) computes it in place in the last frame, so the forward's last step sees ``w``
    instead of ``x_{T-1}``, and its re-evaluation averages again over that modified tensor, one term past the
    first frame (it wraps to the last): ``(1 + l^T) (w + sum_{t<T-1} l^(T-1-t) x_t) / n_(T+1)``.
    ``average='weighted'``: the unmodified frames, and ``w`` for both the statistics and the re-evaluation.
    """
    if leak == 1.0:
        mean = jnp.mean(x, axis=0)
        return x, mean, mean
    steps = x.shape[0]
    weights = (leak ** jnp.arange(steps - 1, -1, -1)).astype(x.dtype)  # l^(T-1-t)
    norm = lambda k: (1.0 - leak**k) / (1.0 - leak)
    w = jnp.tensordot(weights, x, axes=1) / norm(steps)
    if average == "weighted":
        return x, w, w
    head = jnp.tensordot(weights[:-1], x[:-1], axes=1)
    return x.at[-1].set(w), w, (1.0 + leak**steps) * (w + head) / norm(steps + 1)


def _choice(cfg: ml_collections.ConfigDict, key: str, choices: tuple[str, ...], default: str) -> str:
    """``cfg[key]`` (``default`` for a config.json written before the key existed), one of ``choices``."""
    value = cfg.get(key, default)
    if value not in choices:
        raise ConfigError(f"unknown model.{key} {value!r}; choose one of {choices}")
    return value


def solver_config(cfg: ml_collections.ConfigDict, spiking_input: bool) -> implicit.FSNNConfig:
    """The static :class:`implicit.FSNNConfig` of a model config."""
    solver = _choice(cfg, "solver", implicit.SOLVERS, implicit.SOLVERS[0])
    if cfg.forward not in ("spiking", "equilibrium"):
        raise ConfigError(f"unknown model.forward {cfg.forward!r}; choose spiking or equilibrium")
    dropout_grad = _choice(cfg, "dropout_grad", implicit.DROPOUT_GRADS, "unmasked")
    fixed_point_start = _choice(cfg, "fixed_point_start", implicit.FIXED_POINT_STARTS, "zero")
    reset = float(cfg.get("reset", 0.0))  # a config.json written before it: SPIDE's 2 v_th
    if reset < 0 or float(cfg.v_th) <= 0:
        raise ConfigError(
            f"model.v_th={cfg.v_th}, model.reset={reset}: the threshold must be positive and the reset "
            "positive (or 0 for 2 v_th)"
        )
    return implicit.FSNNConfig(
        num_steps=int(cfg.num_steps),
        leak=float(cfg.leak),
        v_th=float(cfg.v_th),
        reset=reset,
        solver=solver,
        backward_steps=int(cfg.backward_steps),
        v_th_back=float(cfg.v_th_back),
        max_iter=int(cfg.solver_max_iter),
        solver_tol=float(cfg.solver_tol),
        damping=float(cfg.damping),
        fixed_point_start=fixed_point_start,
        diverge_residual=float(cfg.diverge_residual),
        forward=cfg.forward,
        forward_iters=int(cfg.forward_iters),
        spiking_input=spiking_input,
        dropout_grad=dropout_grad,
    )


def _functional(op: nnx.Module, frozen: bool = False):
    """``(apply(p, x), transpose(p, y), p)``: an op of :mod:`~snnjax.models.feedback.ops` as pure functions of
    its state ``p``, the form :class:`implicit.FSNNOps` takes; ``frozen``: in evaluation mode (BatchNorm
    with its running statistics) whatever the op's mode."""
    graphdef, state = nnx.split(op)

    def merged(p):
        module = nnx.merge(graphdef, p)
        if frozen:
            module.eval()
        return module

    apply = lambda p, x: merged(p)(x)
    transpose = lambda p, y: merged(p).transpose(y)
    return apply, transpose, state


def _fsnn_ops(inp_op, layer_ops: list, feedback) -> tuple[implicit.FSNNOps, tuple]:
    """:class:`implicit.FSNNOps` and their ``params`` from the :func:`_functional` triples of the input op
    and of the layer ops, and the feedback's ``(apply, transpose, state)``."""
    inp, _, inp_state = inp_op
    fb, fb_t, fb_state = feedback
    ops = implicit.FSNNOps(
        inp=inp,
        layers=tuple(apply for apply, _, _ in layer_ops),
        feedback=fb,
        layers_t=tuple(transpose for _, transpose, _ in layer_ops),
        feedback_t=fb_t,
    )
    return ops, (inp_state, tuple(state for _, _, state in layer_ops), fb_state)


class FeedbackSNN(nnx.Module):
    """``W_x`` -> spiking layer 0 -> op -> layer 1 -> ... -> layer N-1 (-> feedback to layer 0); readout
    ``Linear`` on the last layer's rate.

    Args:
      cfg: the model config section (keys of :func:`~snnjax.models.feedback.zoo.fsnn_model_config`).
      num_classes: readout width.
      inp: the input op ``W_x``; layers: the ``N-1`` ops between the spiking layers; feedback: an op from
        the last layer back to layer 0 without bias, or ``None`` (ops of
        :mod:`~snnjax.models.feedback.ops`; each op's ``out_shape`` is the shape of the layer it drives).
      dropout_layers: indices of the layers whose current gets variational dropout; for layer 0 the input
        current ``W_x x`` and the feedback current get independent masks (as in the authors' networks).
      restriction: how the feedback weight is kept contracting with bound ``r = model.feedback_norm``:
        ``'frobenius'`` (SPIDE, :func:`~snnjax.models.feedback.restrict.frobenius_restrict`) or
        ``'spectral'`` (IDE-FSNN's FC model, :func:`~snnjax.models.feedback.restrict.spectral_restrict`,
        with a learned gain ``fb_gain`` and a power-iteration vector ``fb_u``).
    ``model.gradient_at`` chooses where the gradient linearises the network: ``'rates'`` at the forward
    rates ``a*`` (SPIDE's local products, :func:`implicit.make_fsnn`), or ``'reevaluation'`` by autodiff of
    one evaluation of the equilibrium map at ``a*`` (IDE-FSNN's modules, :meth:`_solve_reevaluated`; its
    clamps are those of ``f(a*)``, not of ``a*``); it needs ``model.dropout_grad='masked'`` (autodiff of the
    masked map). Ops between the spiking layers may carry BatchNorm (IDE's CIFAR nets); such a network (and
    one with BatchNorm on event input) needs ``'reevaluation'``: the spiking forward uses the layers' running
    statistics, the re-evaluation uses (and updates) batch statistics, and ``beta`` is solved with the
    Jacobian of the running statistics. In evaluation mode every BatchNorm uses its running statistics.
    The running statistics of the input op's BatchNorm move ``model.input_bn_updates`` times per training
    step with the same batch statistics: 2 as IDE's code (its spiking forward and its re-evaluation of
    ``f(a*, x)``; the "restore" in between restores the already-updated tensor), or 1.

    Call:
      images ``[B, H, W, C]`` (a constant current every step; ``model.encoding='direct'``) or event frames
      ``[B, T, H, W, C]`` (one frame per step; ``model.encoding='events'``) -> logits ``[1, B, classes]``
      (one "time step": the rate is already a time average).
    """

    def __init__(
        self,
        cfg: ml_collections.ConfigDict,
        num_classes: int,
        inp: nnx.Module,
        layers: Sequence[nnx.Module],
        feedback: nnx.Module | None,
        dropout_layers: Sequence[int],
        *,
        restriction: str = "frobenius",
        rngs: nnx.Rngs,
    ):
        if restriction not in RESTRICTIONS:
            raise ValueError(f"unknown feedback restriction {restriction!r}; use one of {RESTRICTIONS}")
        if cfg.get("dtype", "float32") != "float32":
            raise ConfigError(
                f"model.dtype={cfg.dtype!r}: feedback SNNs run in float32 only (the implicit solvers need "
                "its precision); cast a built model with snnjax.models.cast_floats for float64"
            )
        if cfg.encoding not in ("direct", "events"):
            raise ConfigError(
                f"feedback models take model.encoding 'direct' (images) or 'events' (frames), "
                f"not {cfg.encoding!r}"
            )
        self.spiking_input = cfg.encoding == "events"
        self.fsnn_cfg = solver_config(cfg, spiking_input=self.spiking_input)
        self.layer_norm = any(getattr(op, "norm", None) is not None for op in layers)
        event_norm = self.spiking_input and getattr(inp, "norm", None) is not None
        needed = self.layer_norm or event_norm
        gradient_at = _choice(cfg, "gradient_at", GRADIENTS_AT, "reevaluation" if needed else "rates")
        where = "between its layers" if self.layer_norm else "on event input"
        if needed and gradient_at != "reevaluation":
            raise ConfigError(
                f"a feedback net with batch norm {where} trains through a re-evaluation of its map as IDE "
                "does: set model.gradient_at='reevaluation'"
            )
        self.reevaluated = gradient_at == "reevaluation"  # trains by one re-evaluation of f(a*, x)
        if self.reevaluated and self.fsnn_cfg.dropout_grad != "masked":
            what = f"a feedback net with batch norm {where}" if needed else "model.gradient_at='reevaluation'"
            raise ConfigError(
                f"{what} differentiates the masked network as IDE does: set model.dropout_grad='masked'"
            )
        self.event_bn_average = _choice(cfg, "event_bn_average", EVENT_BN_AVERAGES, "code")
        self.input_bn_updates = int(cfg.get("input_bn_updates", 2))  # a config.json written before it
        if self.input_bn_updates not in (1, 2):
            raise ConfigError(
                f"model.input_bn_updates={self.input_bn_updates}: the running statistics of the input op's "
                "batch norm move 2 times per training step (IDE's code) or 1 time"
            )
        self.inp, self.layers, self.feedback = inp, nnx.List(layers), feedback
        self.shapes = tuple(tuple(op.out_shape) for op in (inp, *layers))
        self.dropout_layers = tuple(dropout_layers)
        self.rate = float(cfg.dropout)
        self.feedback_norm, self.norm_samples = float(cfg.feedback_norm), int(cfg.norm_samples)
        self.scale_factor = float(cfg.scale_factor)
        self.rngs = rngs.dropout.fork()
        self.norm_rngs = rngs.noise.fork()
        fan_in = math.prod(self.shapes[-1])
        inits = {}
        if _choice(cfg, "readout_init", READOUT_INITS, "torch") == "torch":  # the authors' nn.Linear default
            inits = dict(kernel_init=torch_default_init(), bias_init=torch_bias_init(fan_in))
        self.readout = nnx.Linear(fan_in, num_classes, rngs=rngs, **inits)
        self.solver_stats = BackwardStats(jnp.zeros((len(implicit.PROBE_FIELDS),), jnp.float32))
        self.deterministic = False
        self.restriction = restriction
        if restriction == "spectral":
            rows = feedback.weight_rows()
            self.fb_gain = nnx.Param(spectral_norm(rows, rngs.params()))
            self.fb_u = nnx.BatchStat(unit(jax.random.normal(rngs.params(), (rows.shape[0],))))

    def _masks(self, batch: int, dtype=jnp.float32) -> tuple[Array, ...]:
        """The ``N + 1`` current multipliers of :func:`implicit.make_fsnn` (input current, layers ``1 ..
        N-1``, feedback current): variational dropout masks in training, ones otherwise."""

        def mask(li: int) -> Array:
            if li in self.dropout_layers and self.rate > 0 and not self.deterministic:
                keep = jax.random.bernoulli(self.rngs(), 1.0 - self.rate, (batch, *self.shapes[li]))
                return keep.astype(dtype) / (1.0 - self.rate)
            return jnp.ones((), dtype)

        feedback = mask(0) if self.feedback is not None else jnp.ones((), dtype)  # layer 0's second current
        return (*(mask(li) for li in range(len(self.shapes))), feedback)

    def _restricted(self, state: nnx.State) -> nnx.State:
        """The feedback op's ``state`` with its kernel scaled by the norm restriction."""
        if self.feedback_norm > 0:
            rows = self.feedback.weight_rows()
            if self.restriction == "spectral":
                factor, u = spectral_restrict(rows, self.fb_u[...], self.fb_gain[...], self.feedback_norm)
                if not self.deterministic:
                    self.fb_u[...] = u
            else:
                factor = frobenius_restrict(rows, self.feedback_norm, self.norm_rngs(), self.norm_samples)
            kernel = state["kernel"]
            state["kernel"] = kernel.replace(kernel[...] * factor)
        return state

    @property
    def synapses(self) -> tuple[tuple[str, int, str], ...]:
        """``(name, MACs per example and step, source)`` per op (:mod:`snnjax.analysis.energy`): the input op
        and the readout (on the rates) are analog and run once per static input; every op between spiking
        layers and the feedback op run at every forward step, fed by spiking layer ``spikes.<i>``."""
        rows = [("inp", self.inp.macs(), "analog")]
        rows += [(f"layers.{j}", op.macs(), f"spikes.{j}") for j, op in enumerate(self.layers)]
        if self.feedback is not None:
            rows.append(("feedback", self.feedback.macs(), f"spikes.{len(self.layers)}"))
        rows.append(("readout", self.readout.kernel.size, "analog"))
        return tuple(rows)

    def synapse_rates(self, x: Array) -> dict[str, Array]:
        """Mean firing rate of every spiking layer, ``{'spikes.<i>': scalar}``, for a batch ``x``."""
        _, rates, _ = self._solve(x)
        return {f"spikes.{i}": jnp.mean(a) for i, a in enumerate(rates)}

    def __call__(self, x: Array) -> Array:
        a_last, rates, batch = self._solve(x)
        self.sow(nnx.Intermediate, "firing_rate", jnp.mean(jnp.stack([jnp.mean(a) for a in rates])))
        logits = self.readout(a_last.reshape(batch, -1))
        if self.scale_factor != 1.0:
            logits = jax.lax.stop_gradient(logits) + self.scale_factor * (
                logits - jax.lax.stop_gradient(logits)
            )
        return logits[None]

    def _solve(self, x: Array) -> tuple[Array, tuple[Array, ...], int]:
        """``(a_last, per-layer rates, batch size)`` of the spiking layers for input ``x``."""
        cfg, batch = self.fsnn_cfg, x.shape[0]
        if self.spiking_input:
            x = encoding.encode("events", x, cfg.num_steps)  # [T, B, ...]
            cfg = dataclasses.replace(cfg, num_steps=x.shape[0])
        fb, fb_t, fb_state = None, None, None
        if self.feedback is not None:
            fb, fb_t, fb_state = _functional(self.feedback)
            fb_state = self._restricted(fb_state)
        masks = self._masks(batch, self.readout.kernel.dtype)
        if self.reevaluated and not self.deterministic:
            a_last, rates = self._solve_reevaluated(x, cfg, (fb, fb_t, fb_state), masks)
            return a_last, rates, batch
        if getattr(self.inp, "norm", None) is not None and not self.deterministic:
            for _ in range(self.input_bn_updates):  # running statistics (the custom VJP only sees a copy)
                self.inp(jax.lax.stop_gradient(x))
        layer_ops = [_functional(op) for op in self.layers]
        ops, params = _fsnn_ops(_functional(self.inp), layer_ops, (fb, fb_t, fb_state))
        rates_fn = implicit.make_fsnn(ops, cfg)
        dtype = self.readout.kernel.dtype  # float32, or float64 for a model cast to it
        probe = self.solver_stats[...]
        a_last, rates = rates_fn(params, x.astype(dtype), masks, probe)
        return a_last, jax.lax.stop_gradient(rates), batch

    def _solve_reevaluated(self, x: Array, cfg: implicit.FSNNConfig, feedback, masks) -> tuple[Array, list]:
        """IDE-FSNN's training step of a net with BatchNorm between its layers (``cifar_alexnetf.py``) or on
        the input op of event frames (``nmnist_conv.py``):

        1. spiking forward with the running statistics of the layers' norms and the batch statistics of the
           input op's (whose running statistics it updates, as IDE's forward does); on event frames the
           input op normalises every frame with the statistics of ``W_x`` applied to the time average,
           ``sqrt(unbiased var + 1e-8)``, and leaves its running statistics (:func:`ide_event_inputs`);
        2. ``z = f(a*, x)``: one differentiable evaluation of the equilibrium map at the forward rate ``a*``
           of the last layer with batch statistics everywhere (updating all running statistics, the input
           op's a second time for images, with ``model.input_bn_updates=2``; ``x``: the time average of
           event frames);
        3. ``beta = (I - J^T)^{-1} g`` with ``J`` the Jacobian of the map whose layer norms use the
           just-updated running statistics (:func:`implicit.make_implicit_identity`), at ``z`` (IDE's
           multi-layer module) or at ``a*`` (its one-layer module), back-propagated through ``z``.

        Returns ``(a_last, rates)``: the value of ``a*`` carrying the gradient of ``z``; all forward rates.
        """
        fb, _, fb_state = feedback
        dtype = self.readout.kernel.dtype
        x = x.astype(dtype)
        sg = jax.lax.stop_gradient
        frames, x_static = x, (jnp.mean(x, axis=0) if self.spiking_input else x)

        if self.inp.norm is None:
            inp_op = _functional(self.inp)
        elif self.spiking_input:
            frames, stats_input, x_static = ide_event_inputs(sg(x), cfg.leak, self.event_bn_average)
            inp_op = self._event_norm_op(stats_input)
        else:  # a constant: its batch statistics depend on x only
            running = self.inp.norm.mean[...], self.inp.norm.var[...]
            drive = sg(self.inp(sg(x)))  # moves the running statistics, as IDE's forward does
            if self.input_bn_updates == 1:  # only the re-evaluation below moves them
                self.inp.norm.mean[...], self.inp.norm.var[...] = running
            inp_op = (lambda p, _: p), None, drive

        def frozen_ops(inp_op):
            layer_ops = [_functional(op, frozen=True) for op in self.layers]
            ops, params = _fsnn_ops(inp_op, layer_ops, feedback)
            return ops, sg(params)

        rates = implicit.forward_rates(*frozen_ops(inp_op), frames, masks, cfg)
        if self.inp.norm is not None:  # batch statistics of x_static; moves the running ones
            live_drive = self.inp(x_static)
            live_inp, inp_op = (lambda _, v: live_drive), ((lambda p, _: p), None, sg(live_drive))
        else:
            live_inp = lambda _, v: self.inp(v)
        live = implicit.FSNNOps(
            inp=live_inp,
            layers=tuple(lambda _, a, op=op: op(a) for op in self.layers),
            feedback=fb,
        )
        live_params = (None, (None,) * len(self.layers), fb_state)
        z = implicit.equilibrium_map(live, live_params, x_static, masks, sg(rates[-1]), cfg)[-1]
        jac_ops, jac_params = frozen_ops(inp_op)
        identity = implicit.make_implicit_identity(jac_ops, cfg)
        at = None if self.layers else sg(rates[-1])  # IDE's one-layer module: J at a*
        z = identity(z, jac_params, sg(x_static), sg(masks), self.solver_stats[...], at=at)
        return sg(rates[-1]) + (z - sg(z)), sg(rates)

    def _event_norm_op(self, stats_input: Array):
        """The input op of IDE's spiking forward on event frames: ``(W_x x_t - mu) / sqrt(var + 1e-8) gamma +
        beta`` with ``mu`` and the unbiased ``var`` of ``W_x stats_input`` per channel (over batch and
        space), as ``(apply(p, x_t), None, p)``."""
        sg = jax.lax.stop_gradient
        graphdef, state = nnx.split(self.inp)
        linear = lambda p, v: nnx.merge(graphdef, p).linear(v)
        y = sg(self.inp.linear(stats_input))
        axes = tuple(range(y.ndim - 1))
        mean, std = jnp.mean(y, axis=axes), jnp.sqrt(jnp.var(y, axis=axes, ddof=1) + IDE_EVENT_EPS)
        norm = self.inp.norm
        p = (state, mean, std, norm.scale[...], norm.bias[...])
        apply = lambda p, v: (linear(p[0], v) - p[1]) / p[2] * p[3] + p[4]
        return apply, None, sg(p)

    def gradient_metrics(self, grads: nnx.State) -> dict[str, Array]:
        """The backward solver's statistics (:data:`implicit.PROBE_FIELDS`), read from the gradient of
        ``solver_stats``; empty when ``grads`` was taken w.r.t. the parameters only (see
        :class:`~snnjax.layers.BackwardStats`)."""
        if "solver_stats" not in grads:
            return {}
        g = grads["solver_stats"][...]
        return {name: g[i] for i, name in enumerate(implicit.PROBE_FIELDS)}
