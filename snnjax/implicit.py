"""Feedback SNNs trained by implicit differentiation at equilibrium (IDE-FSNN / SPIDE; docs/spide.md).

A feedback SNN (FSNN) is a chain of ``N`` spiking layers driven by a constant input ``x``:
``I_0 = W_x x + F(s_{N-1})``, ``I_{l+1} = W_l(s_l)``. It is described here by linear layer *ops*
(functions ``op(params, input) -> current``; biases allowed, the ops must be linear up to the bias):

- ``ops.inp(p_x, x)``: the input op ``W_x`` (current of layer 0);
- ``ops.layers[l](p_l, a_l)``: ``W_l``, current of layer ``l + 1`` (``l = 0 .. N-2``);
- ``ops.feedback(p_F, a_{N-1})``: ``F`` (no bias), current of layer 0; ``None`` = no feedback.

Multiplicative ``masks`` (variational dropout, docs/spide.md), ``N + 1`` of them: ``masks[0]`` scales the
input current ``W_x x``, ``masks[l]`` the current ``W_{l-1}(s_{l-1})`` of layer ``l >= 1`` and ``masks[N]``
the feedback current ``F(s_{N-1})`` (layer 0's two currents are dropped independently, as in the authors'
networks). They act at every forward step and are re-applied in the backward pass (they are part of the
ops' Jacobians). The weight gradients either leave them out (``dropout_grad='unmasked'``, SPIDE's
``set_grad``: the local product of the unmasked op) or keep them (``'masked'``: the exact implicit gradient
of the masked network, as IDE's autograd computes it); the two differ by the factor ``1/(1-p)`` on kept
currents, and for layer 0's input and feedback weights also where only one of its two currents is dropped.

Forward phase (:func:`forward_spiking`, no autodiff through time): a ``lax.scan`` over ``T`` steps of IF/LIF
neurons with ``u_rest = -V_th``, soft reset by ``D = 2 V_th``, initial ``u = 0``, firing on ``>=``, the layers
updated in order within a step and the feedback taken from the previous step. It returns the average firing
rates ``a_l`` (exponentially weighted for LIF) approximating the equilibrium
``a_0 = clamp((F a_{N-1} + W_x x) / D, 0, 1)``, ``a_{l+1} = clamp(W_l a_l / D, 0, 1)``.

Backward phase (:func:`fsnn_rates`, a ``jax.custom_vjp``): with ``M_l = diag(1[0 < a_l < 1])`` the gradient
``beta`` solves ``beta_{N-1} = g + (1/D) F^T M_0 beta_0``, ``beta_l = (1/D) W_l^T M_{l+1} beta_{l+1}``,
solved by

- ``solver='fixed_point'``: damped iteration ``beta <- (1-d) beta + d (g + J^T beta)`` (IDE, d = 1/2);
- ``solver='broyden'``: Broyden's method on ``G(beta) = g + J^T beta - beta`` per example (IDE);
- ``solver='spide'``: SPIDE's ternary spiking solver (IF/LIF neuron couples, ``T_b`` steps, threshold
  ``V_th_b``, reset ``D_b = 2 V_th_b``), ``beta`` = average of the ``±D_b`` spikes.

``J^T`` products are ``jax.vjp`` of the ops at the stored rates (or the ops' explicit transposes,
``FSNNOps.layers_t`` / ``feedback_t``). Parameter gradients are the local products
of docs/spide.md, "Backward phase" (vjp of each op w.r.t. its parameters at input ``a_l`` with cotangent
``M_{l+1} beta_{l+1}/D``).
Memory is independent of ``T`` and ``T_b``: only the rates and masks are stored.

Diagnostics. The relative residual ``||g + J^T beta - beta|| / ||g||``, the backward firing rate (mean
``|sb| / D_b``) and a divergence flag are only known in the backward pass; they are returned as the
cotangent of a dummy ``probe`` input (see :data:`PROBE_FIELDS`), which a model turns into metrics. When the
residual exceeds ``diverge_residual`` (or is not finite, e.g. a non-contracting feedback), all parameter
gradients are zeroed (the step is not trained on) and a one-line message is printed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

Op = Callable[[Any, Array], Array]
OpT = Callable[[Any, Array], Array]
PROBE_FIELDS = ("solver_residual", "backward_firing_rate", "solver_diverged")
SOLVERS = ("spide", "fixed_point", "broyden")
DROPOUT_GRADS = ("unmasked", "masked")


class FSNNOps(NamedTuple):
    """The linear ops of a feedback SNN (see the module docstring).

    ``layers_t[l]`` / ``feedback_t`` optionally give the transposed linear maps explicitly,
    ``op_t(p, cotangent) -> W^T cotangent`` (bias excluded); where absent (``None``) ``jax.vjp`` of the op
    is used. (XLA:CPU runs jax's transpose rule of a convolution much slower
    than the equivalent plain convolution, and the spiking solver applies it ``T_b`` times.)
    """

    inp: Op
    layers: tuple[Op, ...]
    feedback: Op | None
    layers_t: tuple[OpT | None, ...] | None = None
    feedback_t: OpT | None = None


@dataclasses.dataclass(frozen=True)
class FSNNConfig:
    """Static settings of the forward and backward phases.

    ``forward='equilibrium'`` replaces the spiking forward by ``forward_iters`` iterations of the
    equilibrium map (an exact reference for tests); ``spiking_input`` means ``x`` is ``[T, ...]`` (DVS frames,
    one per step; the weight update uses their time mean). ``solver_tol`` is relative to ``||g||``.
    ``dropout_grad``: whether the weight gradients include the dropout masks (see the module docstring).
    ``reset``: what a spike subtracts, ``D`` (0: ``2 v_th``, SPIDE's neuron; see :func:`reset_of`).
    """

    num_steps: int = 30
    leak: float = 1.0
    v_th: float = 1.0
    reset: float = 0.0
    solver: str = "spide"
    backward_steps: int = 100
    v_th_back: float = 0.5
    max_iter: int = 30
    solver_tol: float = 1e-6
    damping: float = 0.5
    fixed_point_start: str = "zero"
    diverge_residual: float = 1.0
    forward: str = "spiking"
    forward_iters: int = 100
    spiking_input: bool = False
    dropout_grad: str = "unmasked"


def reset_of(cfg: FSNNConfig) -> float:
    """``D``, what a spike subtracts from the membrane (and the equilibrium map's ``clamp(./D, 0, 1)``
    scale): ``cfg.reset``, or ``2 V_th`` when it is 0 (SPIDE; IDE-FSNN's neuron: ``V_th = D = 2``)."""
    return cfg.reset if cfg.reset > 0 else 2.0 * cfg.v_th


def _rate_norm(leak: float, steps: int) -> float:
    """Normaliser of the (exponentially weighted) spike count: ``T`` (IF) or ``(1-l^T)/(1-l)`` (LIF)."""
    return float(steps) if leak == 1.0 else (1.0 - leak**steps) / (1.0 - leak)


def _mean_input(x: Array, cfg: FSNNConfig) -> Array:
    return jnp.mean(x, axis=0) if cfg.spiking_input else x


def forward_spiking(ops: FSNNOps, params, x: Array, masks, cfg: FSNNConfig) -> list[Array]:
    """Runs the IF/LIF network for ``T`` steps; returns the firing rates ``[a_0, .., a_{N-1}]``."""
    p_in, p_layers, p_fb = params
    n = len(ops.layers) + 1
    d, vth, leak = reset_of(cfg), cfg.v_th, cfg.leak
    _check_masks(ops, masks)
    drive = None if cfg.spiking_input else ops.inp(p_in, x) * masks[0]

    def currents(s_prev_last, xt):
        """The current of layer 0: the (masked) input drive plus the masked feedback of the last layer."""
        i0 = drive if xt is None else ops.inp(p_in, xt) * masks[0]
        if ops.feedback is not None:
            i0 = i0 + ops.feedback(p_fb, s_prev_last) * masks[-1]
        return i0

    def step(carry, xt):
        us, s_last, acc = carry
        new_us, new_acc, s = [], [], None
        for li in range(n):
            cur = currents(s_last, xt) if li == 0 else ops.layers[li - 1](p_layers[li - 1], s) * masks[li]
            u = us[li] + cur
            s = (u >= vth).astype(u.dtype)
            u = u - d * s
            if leak != 1.0:
                u = leak * u
            new_us.append(u)
            new_acc.append(acc[li] * leak + s)
        return (new_us, s, new_acc), None

    shapes = _layer_shapes(ops, params, _mean_input(x, cfg) if cfg.spiking_input else x, masks)
    zeros = [jnp.zeros(sh.shape, sh.dtype) for sh in shapes]
    xs = x if cfg.spiking_input else None
    init = (zeros, zeros[-1], zeros)
    (_, _, acc), _ = jax.lax.scan(step, init, xs, length=None if cfg.spiking_input else cfg.num_steps)
    norm = _rate_norm(leak, cfg.num_steps)
    return [a / norm for a in acc]


def _check_masks(ops: FSNNOps, masks) -> None:
    if len(masks) != len(ops.layers) + 2:
        raise ValueError(
            f"masks: expected {len(ops.layers) + 2} (input, one per layer after the first, feedback), "
            f"got {len(masks)}"
        )


def _layer_shapes(ops: FSNNOps, params, x: Array, masks) -> list[jax.ShapeDtypeStruct]:
    """Shapes of the layers' currents (abstract evaluation of the chain)."""

    def chain(params, x):
        p_in, p_layers, _ = params
        out = [ops.inp(p_in, x) * masks[0]]
        for li, op in enumerate(ops.layers):
            out.append(op(p_layers[li], out[-1]) * masks[li + 1])
        return out

    return jax.eval_shape(chain, params, x)


def equilibrium_map(ops: FSNNOps, params, x: Array, masks, a_last: Array, cfg: FSNNConfig) -> list[Array]:
    """One application of the equilibrium map: all layer rates given the last layer's rate ``a_last``."""
    p_in, p_layers, p_fb = params
    d = reset_of(cfg)
    cur = ops.inp(p_in, x) * masks[0]
    if ops.feedback is not None:
        cur = cur + ops.feedback(p_fb, a_last) * masks[-1]
    rates = [jnp.clip(cur / d, 0.0, 1.0)]
    for li, op in enumerate(ops.layers):
        rates.append(jnp.clip(op(p_layers[li], rates[-1]) * masks[li + 1] / d, 0.0, 1.0))
    return rates


def forward_equilibrium(ops: FSNNOps, params, x: Array, masks, cfg: FSNNConfig) -> list[Array]:
    """``forward_iters`` plain iterations of :func:`equilibrium_map` from zero rates (the input current is
    computed once, outside the loop: an input op with BatchNorm in training mode must not run inside it)."""
    _check_masks(ops, masks)
    x = _mean_input(x, cfg)
    drive = ops.inp(params[0], x)
    ops = ops._replace(inp=lambda p, v: drive)
    shapes = _layer_shapes(ops, params, x, masks)
    a0 = jnp.zeros(shapes[-1].shape, shapes[-1].dtype)

    def body(a, _):
        return equilibrium_map(ops, params, x, masks, a, cfg)[-1], None

    a_last, _ = jax.lax.scan(body, a0, None, length=cfg.forward_iters)
    return equilibrium_map(ops, params, x, masks, a_last, cfg)


class _Linearised(NamedTuple):
    """Transposed ops at the stored rates: ``fb_t`` maps a layer-0 current-gradient to the last layer,
    ``layer_t[l]`` a layer-(l+1) current-gradient to layer l; ``clamp[l]`` = ``m_l``."""

    fb_t: Callable[[Array], Array] | None
    layer_t: list[Callable[[Array], Array]]
    clamp: list[Array]


def _linearise(ops: FSNNOps, params, masks, rates: list[Array]) -> _Linearised:
    _, p_layers, p_fb = params
    fb_t = None
    if ops.feedback_t is not None:
        fb_t = lambda c: ops.feedback_t(p_fb, c * masks[-1])
    elif ops.feedback is not None:
        _, fb_vjp = jax.vjp(lambda a: ops.feedback(p_fb, a) * masks[-1], rates[-1])
        fb_t = lambda c: fb_vjp(c)[0]
    layer_t = []
    explicit = ops.layers_t or (None,) * len(ops.layers)
    for li, op in enumerate(ops.layers):
        if explicit[li] is not None:
            layer_t.append(lambda c, li=li: explicit[li](p_layers[li], c * masks[li + 1]))
            continue
        _, vjp = jax.vjp(lambda a, op=op, li=li: op(p_layers[li], a) * masks[li + 1], rates[li])
        layer_t.append(lambda c, vjp=vjp: vjp(c)[0])
    clamp = [((a > 0) & (a < 1)).astype(a.dtype) for a in rates]
    return _Linearised(fb_t, layer_t, clamp)


def _chain_down(lin: _Linearised, beta_last: Array, d: float) -> list[Array]:
    """``beta_l = (1/D) W_l^T M_{l+1} beta_{l+1}`` from the last layer down; returns
    ``[beta_0..beta_{N-1}]``."""
    betas = [beta_last]
    for li in range(len(lin.layer_t) - 1, -1, -1):
        betas.insert(0, lin.layer_t[li](lin.clamp[li + 1] * betas[0]) / d)
    return betas


def _jt(lin: _Linearised, v: Array, d: float) -> Array:
    """``J^T v`` of the composite map ``a_{N-1} -> a_{N-1}``."""
    if lin.fb_t is None:
        return jnp.zeros_like(v)
    beta_0 = _chain_down(lin, v, d)[0]
    return lin.fb_t(lin.clamp[0] * beta_0) / d


def relative_residual(jt: Callable[[Array], Array], beta: Array, g: Array) -> Array:
    """``||g + J^T beta - beta|| / ||g||`` over the whole batch (0 for ``g = 0``)."""
    r = g + jt(beta) - beta
    gn = jnp.sqrt(jnp.sum(jnp.square(g)))
    return jnp.where(gn > 0, jnp.sqrt(jnp.sum(jnp.square(r))) / jnp.maximum(gn, 1e-30), 0.0)


FIXED_POINT_STARTS = ("zero", "g")


def solve_fixed_point(jt, g: Array, cfg: FSNNConfig) -> Array:
    """Damped fixed-point iteration for ``beta = g + J^T beta``, stopped at ``solver_tol`` or ``max_iter``,
    from ``beta = 0`` or (``cfg.fixed_point_start='g'``, IDE's ``'iter'`` solver) from ``beta = g``."""
    if cfg.fixed_point_start not in FIXED_POINT_STARTS:
        raise ValueError(
            f"unknown fixed_point_start {cfg.fixed_point_start!r}; use one of {FIXED_POINT_STARTS}"
        )
    gn = jnp.sqrt(jnp.sum(jnp.square(g)))

    def cond(c):
        i, _, res = c
        return (i < cfg.max_iter) & (res > cfg.solver_tol * gn)

    def body(c):
        i, beta, _ = c
        new = g + jt(beta)
        res = jnp.sqrt(jnp.sum(jnp.square(new - beta)))
        beta = (1.0 - cfg.damping) * beta + cfg.damping * new
        return i + 1, beta, res

    start = g if cfg.fixed_point_start == "g" else jnp.zeros_like(g)
    _, beta, _ = jax.lax.while_loop(cond, body, (0, start, jnp.inf * jnp.ones((), g.dtype)))
    return beta


def solve_broyden(jt, g: Array, cfg: FSNNConfig) -> Array:
    """Broyden's ("good") method on ``G(beta) = g + J^T beta - beta = 0``, one inverse-Jacobian estimate per
    example (``[B, n]``, low-rank memory of ``max_iter`` updates); returns the lowest-residual iterate."""
    b = g.shape[0]
    shape = g.shape
    flat = lambda v: v.reshape(b, -1)
    fun = lambda v: flat(g + jt(v.reshape(shape)) - v.reshape(shape))
    m = cfg.max_iter
    n = math.prod(shape[1:])
    dt = g.dtype
    us = jnp.zeros((m, b, n), dt)
    vts = jnp.zeros((m, b, n), dt)
    x0 = jnp.zeros((b, n), dt)
    gx0 = fun(x0)
    gn = jnp.linalg.norm(gx0)

    def matvec(us, vts, v):  # B v = -v + U (V^T v), per example
        return -v + jnp.einsum("mbn,mb->bn", us, jnp.einsum("mbn,bn->mb", vts, v))

    def rmatvec(us, vts, v):  # v^T B = -v + (v^T U) V^T
        return -v + jnp.einsum("mb,mbn->bn", jnp.einsum("bn,mbn->mb", v, us), vts)

    def cond(c):
        i, *_, best_res = c
        return (i < m) & (best_res > cfg.solver_tol * gn)

    def body(c):
        i, x, gx, us, vts, best_x, best_res = c
        dx = -matvec(us, vts, gx)
        x_new = x + dx
        gx_new = fun(x_new)
        dg = gx_new - gx
        vt = rmatvec(us, vts, dx)
        bdg = matvec(us, vts, dg)
        denom = jnp.sum(vt * dg, axis=1, keepdims=True)
        denom = jnp.where(jnp.abs(denom) < 1e-30, 1e-30, denom)
        u = (dx - bdg) / denom
        us = us.at[i].set(u)
        vts = vts.at[i].set(vt)
        res = jnp.linalg.norm(gx_new)
        better = res < best_res
        best_x = jnp.where(better, x_new, best_x)
        best_res = jnp.where(better, res, best_res)
        return i + 1, x_new, gx_new, us, vts, best_x, best_res

    init = (0, x0, gx0, us, vts, x0, gn)
    *_, best_x, _ = jax.lax.while_loop(cond, body, init)
    return best_x.reshape(shape)


def solve_spiking(lin: _Linearised, g: Array, cfg: FSNNConfig) -> tuple[list[Array], Array]:
    """SPIDE's ternary spiking solver: returns ``([beta_0..beta_{N-1}], backward firing rate)``.

    Backward layers run from ``N-1`` down to 0 within a step; the last layer gets ``g`` plus the transposed
    feedback of layer 0's spikes from the previous step.
    """
    d = reset_of(cfg)
    db = 2.0 * cfg.v_th_back
    leak, n = cfg.leak, len(lin.clamp)
    shapes = [c.shape for c in lin.clamp]

    def fire(ub):
        sb = db * ((ub >= cfg.v_th_back).astype(ub.dtype) - (ub <= -cfg.v_th_back).astype(ub.dtype))
        ub = ub - sb
        return (leak * ub if leak != 1.0 else ub), sb

    def step(carry, _):
        ubs, sb0_prev, acc, count = carry
        ubs, acc = list(ubs), list(acc)
        sbs = [None] * n
        for li in range(n - 1, -1, -1):
            if li == n - 1:
                cur = g if lin.fb_t is None else g + lin.fb_t(lin.clamp[0] * sb0_prev) / d
            else:
                cur = lin.layer_t[li](lin.clamp[li + 1] * sbs[li + 1]) / d
            ubs[li], sbs[li] = fire(ubs[li] + cur)
            acc[li] = acc[li] * leak + sbs[li]
            count = count + jnp.sum(jnp.abs(sbs[li])) / db
        return (ubs, sbs[0], acc, count), None

    zeros = [jnp.zeros(s, g.dtype) for s in shapes]
    init = (zeros, zeros[0], zeros, jnp.zeros((), g.dtype))
    (_, _, acc, count), _ = jax.lax.scan(step, init, None, length=cfg.backward_steps)
    norm = _rate_norm(leak, cfg.backward_steps)
    total = float(sum(math.prod(s) for s in shapes) * cfg.backward_steps)  # may exceed int32 (CIFAR nets)
    return [a / norm for a in acc], count / total


def _report_divergence(residual, limit) -> None:
    print(
        f"implicit solver diverged: relative residual {float(residual):.3g} > "
        f"model.diverge_residual={limit:g}; gradients of this step skipped (non-contracting feedback: "
        "lower model.feedback_norm)"
    )


def check_divergence(residual: Array, cfg: FSNNConfig) -> Array:
    """Whether the backward solve diverged (relative ``residual`` above ``cfg.diverge_residual``, or not
    finite), saying so on stdout when it did; a boolean scalar."""
    diverged = ~(residual <= cfg.diverge_residual)
    jax.lax.cond(
        diverged,
        lambda r: jax.debug.callback(_report_divergence, r, cfg.diverge_residual),
        lambda r: None,
        residual,
    )
    return diverged


def backward_betas(ops: FSNNOps, params, masks, rates: list[Array], g: Array, cfg: FSNNConfig):
    """Solves the implicit system; returns ``(betas [beta_0..beta_{N-1}], relative residual, backward
    firing rate)``."""
    d = reset_of(cfg)
    lin = _linearise(ops, params, masks, rates)
    jt = lambda v: _jt(lin, v, d)
    if cfg.solver == "spide":
        betas, brate = solve_spiking(lin, g, cfg)
    elif cfg.solver in ("fixed_point", "broyden"):
        solve = solve_fixed_point if cfg.solver == "fixed_point" else solve_broyden
        beta = g if lin.fb_t is None else solve(jt, g, cfg)
        betas, brate = _chain_down(lin, beta, d), jnp.zeros((), g.dtype)
    else:
        raise ValueError(f"unknown solver {cfg.solver!r}; choose one of {SOLVERS}")
    return betas, relative_residual(jt, betas[-1], g), brate


def param_grads(ops: FSNNOps, params, x: Array, masks, rates: list[Array], betas: list[Array], cfg):
    """Local weight gradients (docs/spide.md) and the input cotangent: ``(param cotangents, x cotangent)``.

    With ``cfg.dropout_grad='unmasked'`` the weight gradients are the vjps of the ops without their dropout
    masks (SPIDE's ``set_grad``); the input cotangent always includes the mask (the exact derivative)."""
    if cfg.dropout_grad not in DROPOUT_GRADS:
        raise ValueError(f"unknown dropout_grad {cfg.dropout_grad!r}; choose one of {DROPOUT_GRADS}")
    p_in, p_layers, p_fb = params
    d = reset_of(cfg)
    wmasks = masks if cfg.dropout_grad == "masked" else (1.0,) * len(masks)
    clamps = [(a > 0) & (a < 1) for a in rates]
    cts = [(m * b / d).astype(a.dtype) for m, b, a in zip(clamps, betas, rates, strict=True)]
    x_eff = _mean_input(x, cfg)
    _, vjp_in = jax.vjp(ops.inp, p_in, x_eff)  # the masks multiply the op's output, hence its cotangent
    g_in = vjp_in(cts[0] * wmasks[0])[0]
    g_x = vjp_in(cts[0] * masks[0])[1]
    if cfg.spiking_input:
        g_x = jnp.broadcast_to(g_x / x.shape[0], x.shape)
    g_layers = []
    for li, op in enumerate(ops.layers):
        _, vjp = jax.vjp(lambda p, op=op, li=li: op(p, rates[li]) * wmasks[li + 1], p_layers[li])
        g_layers.append(vjp(cts[li + 1])[0])
    if ops.feedback is not None:
        _, vjp = jax.vjp(lambda p: ops.feedback(p, rates[-1]) * wmasks[-1], p_fb)
        g_fb = vjp(cts[0])[0]
    else:
        g_fb = jax.tree.map(jnp.zeros_like, p_fb)
    return (g_in, type(p_layers)(g_layers) if isinstance(p_layers, tuple) else g_layers, g_fb), g_x


def forward_rates(ops: FSNNOps, params, x: Array, masks, cfg: FSNNConfig) -> list[Array]:
    """The rates ``[a_0..a_{N-1}]`` of the forward phase (``cfg.forward``: spiking or the exact
    equilibrium), not differentiated."""
    params, x, masks = jax.lax.stop_gradient((params, x, masks))
    if cfg.forward == "equilibrium":
        return forward_equilibrium(ops, params, x, masks, cfg)
    return forward_spiking(ops, params, x, masks, cfg)


def make_implicit_identity(ops: FSNNOps, cfg: FSNNConfig) -> Callable:
    """IDE's backward hook: ``identity(z, params, x, masks, probe, at=None) -> z`` whose VJP maps the
    cotangent ``g`` of ``z`` (the last layer's rate ``[B, ...]``) to ``beta = (I - J^T)^{-1} g``, ``J`` the
    Jacobian of the equilibrium map of ``ops`` (with ``params``, e.g. BatchNorm with running statistics) at
    ``a_{N-1} = at`` (default ``z``).

    A model applies it to one differentiable evaluation ``z = f(a*, x)`` of its map at the forward rate
    ``a*`` and back-propagates ``beta`` through that evaluation (IDE-FSNN's ``Backward`` function), so the
    parameter gradients are ``(df/dtheta)^T beta`` by autodiff of ``f`` (BatchNorm batch statistics and
    dropout masks included). IDE's multi-layer module takes ``J`` at ``z``, its one-layer module at ``a*``
    (``at``). ``x`` is the static input (the time mean of event frames). ``params``, ``x``, ``masks`` and
    ``at`` get zero cotangents; ``probe`` gets :data:`PROBE_FIELDS`. A diverged solve returns ``beta = 0``
    (the step trains only the readout) and prints a one-line message.
    """
    if cfg.solver not in SOLVERS:
        raise ValueError(f"unknown solver {cfg.solver!r}; choose one of {SOLVERS}")

    @jax.custom_vjp
    def hook(z, at, params, x, masks, probe):
        del at, params, x, masks, probe
        return z

    def fwd(z, at, params, x, masks, probe):
        return z, (at, params, x, masks, probe)

    def bwd(res, g):
        at, params, x, masks, probe = res
        rates = equilibrium_map(ops, params, x, masks, at, cfg)
        betas, residual, brate = backward_betas(ops, params, masks, rates, g, cfg)
        diverged = check_divergence(residual, cfg)
        beta = jnp.where(diverged, jnp.zeros_like(betas[-1]), betas[-1])
        stats = jnp.stack([residual, brate, diverged.astype(residual.dtype)]).astype(probe.dtype)
        zeros = lambda t: jax.tree.map(jnp.zeros_like, t)
        return beta, zeros(at), zeros(params), zeros(x), zeros(masks), stats

    hook.defvjp(fwd, bwd)

    def identity(z, params, x, masks, probe, at=None):
        return hook(z, z if at is None else at, params, x, masks, probe)

    return identity


def make_fsnn(ops: FSNNOps, cfg: FSNNConfig) -> Callable:
    """``rates(params, x, masks, probe) -> (a_{N-1}, [a_0..a_{N-1}])`` with the implicit backward.

    ``params = (p_x, (p_0..p_{N-2}), p_F)``; ``masks`` a length-``N + 1`` tuple of arrays/scalars
    multiplying the input current, the currents of layers ``1 .. N-1`` and the feedback current (module
    docstring); ``probe`` a ``[3]`` dummy array whose cotangent returns ``PROBE_FIELDS``. Only the first
    output is differentiable (the full list is returned for statistics).
    """
    if cfg.solver not in SOLVERS:
        raise ValueError(f"unknown solver {cfg.solver!r}; choose one of {SOLVERS}")
    if cfg.dropout_grad not in DROPOUT_GRADS:
        raise ValueError(f"unknown dropout_grad {cfg.dropout_grad!r}; choose one of {DROPOUT_GRADS}")

    forward = lambda params, x, masks: forward_rates(ops, params, x, masks, cfg)

    @jax.custom_vjp
    def rates(params, x, masks, probe):
        del probe
        all_rates = forward(params, x, masks)
        return all_rates[-1], all_rates

    def fwd(params, x, masks, probe):
        all_rates = forward(params, x, masks)
        return (all_rates[-1], all_rates), (params, x, masks, all_rates, probe)

    def bwd(res, cts):
        params, x, masks, all_rates, probe = res
        g = cts[0]
        betas, residual, brate = backward_betas(ops, params, masks, all_rates, g, cfg)
        g_params, g_x = param_grads(ops, params, x, masks, all_rates, betas, cfg)
        diverged = check_divergence(residual, cfg)
        keep = lambda t: jax.tree.map(lambda v: jnp.where(diverged, jnp.zeros_like(v), v), t)
        stats = jnp.stack([residual, brate, diverged.astype(residual.dtype)]).astype(probe.dtype)
        zero_masks = jax.tree.map(jnp.zeros_like, masks)
        return keep(g_params), keep(g_x), zero_masks, stats

    rates.defvjp(fwd, bwd)
    return rates
