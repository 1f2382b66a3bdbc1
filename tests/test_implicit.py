"""snnjax.implicit: forward trace, IDE/SPIDE gradients vs the exact equilibrium gradient, divergence."""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from snnjax import implicit as im

ONE = (jnp.ones(()), jnp.ones(()))  # the masks of a one-layer net: input and feedback currents


def _scalar_net() -> im.FSNNOps:
    """Two single-neuron layers: layer 0 <- p_x x + p_F s_1[t-1], layer 1 <- p_0 s_0[t]."""
    return im.FSNNOps(
        inp=lambda p, x: x * p,
        layers=(lambda p, a: a * p,),
        feedback=lambda p, a: a * p,
    )


def test_forward_if_trace_matches_hand_computation():
    # I_0 = 0.6 + 0.5 s_1[t-1], I_1 = 1.5 s_0[t]; V_th 1, D 2, u(0) = 0, fire on >=:
    # layer 0: u 0.6 | 1.2 fire -> -0.8 | +1.1 = 0.3 | 0.9 | 1.5 fire -> -0.5   spikes at t = 1, 4
    # layer 1: u 0 | 1.5 fire -> -0.5 | -0.5 | -0.5 | 1.0 fire (>=) -> -1.0    spikes at t = 1, 4 (same step)
    ops = _scalar_net()
    params = (jnp.ones(()), (jnp.full((1, 1), 1.5),), jnp.full((1, 1), 0.5))
    cfg = im.FSNNConfig(num_steps=5)
    rates = im.forward_spiking(ops, params, jnp.full((1, 1), 0.6), (1.0, 1.0, 1.0), cfg)
    np.testing.assert_allclose([float(r[0, 0]) for r in rates], [0.4, 0.4], atol=1e-6)
    # one more step: layer 0 gets 0.6 + 0.5 (layer 1 fired at t = 4): u = -0.5 + 1.1 = 0.6, no spike
    rates6 = im.forward_spiking(ops, params, jnp.full((1, 1), 0.6), (1.0,) * 3, im.FSNNConfig(num_steps=6))
    np.testing.assert_allclose([float(r[0, 0]) for r in rates6], [2 / 6, 2 / 6], atol=1e-6)


def test_forward_lif_trace_matches_reference_loop():
    # LIF, single layer with self-feedback, checked against a Python loop of the forward phase (docs/spide.md)
    leak, T, x, w_fb = 0.8, 7, 0.7, -0.3
    ops = im.FSNNOps(inp=lambda p, x: x * p, layers=(), feedback=lambda p, a: a * p)
    params = (jnp.ones(()), (), jnp.full((1, 1), w_fb))
    rates = im.forward_spiking(ops, params, jnp.full((1, 1), x), ONE, im.FSNNConfig(num_steps=T, leak=leak))
    u, s, acc = 0.0, 0.0, 0.0
    for _ in range(T):
        u += x + w_fb * s
        s = float(u >= 1.0)
        u = leak * (u - 2.0 * s)
        acc = leak * acc + s
    expected = acc / ((1 - leak**T) / (1 - leak))
    assert 0 < expected < 1
    np.testing.assert_allclose(float(rates[0][0, 0]), expected, rtol=1e-6)


@pytest.mark.parametrize("leak", [1.0, 0.9])
def test_ide_neuron_threshold_and_reset_are_v_th(leak):
    """``reset=2, v_th=2`` is IDE-FSNN's neuron (fire at ``u >= 2``, subtract 2, ``u(0) = 0``), whose rates
    differ from SPIDE's ``v_th=1`` (subtract ``2 v_th``) at finite T; both have ``clamp(./2, 0, 1)``."""
    x, w_fb, steps = 0.9, 0.35, 9
    ops = im.FSNNOps(inp=lambda p, x: x * p, layers=(), feedback=lambda p, a: a * p)
    params = (jnp.ones(()), (), jnp.full((1, 1), w_fb))

    def loop(v_th, d):
        u, s, acc = 0.0, 0.0, 0.0
        for _ in range(steps):
            u += x + w_fb * s
            s = float(u >= v_th)
            u = leak * (u - d * s)
            acc = leak * acc + s
        return acc / (steps if leak == 1.0 else (1 - leak**steps) / (1 - leak))

    ide = im.FSNNConfig(num_steps=steps, leak=leak, v_th=2.0, reset=2.0)
    spide = im.FSNNConfig(num_steps=steps, leak=leak)
    assert im.reset_of(ide) == im.reset_of(spide) == 2.0
    got = [float(im.forward_spiking(ops, params, jnp.full((1, 1), x), ONE, c)[0][0, 0]) for c in (ide, spide)]
    np.testing.assert_allclose(got, [loop(2.0, 2.0), loop(1.0, 2.0)], rtol=1e-6)
    assert got[0] != got[1]


def _tiny_net():
    k = jax.random.split(jax.random.PRNGKey(0), 5)
    b, nin, h1, h2 = 3, 5, 6, 4
    ops = im.FSNNOps(
        inp=lambda p, x: x @ p["w"] + p["b"],
        layers=(lambda p, a: a @ p["w"] + p["b"],),
        feedback=lambda p, a: a @ p,
    )
    params = (
        {"w": jax.random.normal(k[0], (nin, h1)) * 0.8, "b": jnp.full((h1,), 0.5)},
        ({"w": jax.random.normal(k[1], (h1, h2)) * 0.8, "b": jnp.full((h2,), 0.5)},),
        jax.random.normal(k[2], (h2, h1)) * 0.5,
    )
    x = jax.random.normal(k[3], (b, nin))
    head = jax.random.normal(k[4], (h2,))
    masks = (jnp.ones(()),) * 3

    def readout(a):  # small gradients so that |beta| < D_b (the spiking solver's range)
        return 0.2 * (jnp.sum(jnp.sin(a @ jnp.ones((h2, 2)))) + jnp.sum(a * head))

    return ops, params, x, masks, readout


def _flat(tree) -> jnp.ndarray:
    return jnp.concatenate([jnp.ravel(v) for v in jax.tree.leaves(tree)])


def _implicit_grad(solver: str, **kw):
    ops, params, x, masks, readout = _tiny_net()
    cfg = im.FSNNConfig(forward="equilibrium", forward_iters=300, solver=solver, **kw)
    fsnn = im.make_fsnn(ops, cfg)
    return jax.grad(lambda p: readout(fsnn(p, x, masks, jnp.zeros(3))[0]))(params)


@functools.cache
def _exact_grad():
    """Autodiff through 300 iterations of the (contracting) equilibrium map: the exact gradient."""
    ops, params, x, masks, readout = _tiny_net()
    cfg = im.FSNNConfig(forward_iters=300)
    return jax.grad(lambda p: readout(im.forward_equilibrium(ops, p, x, masks, cfg)[-1]))(params)


@pytest.mark.parametrize("solver", ["fixed_point", "broyden"])
def test_ide_gradient_equals_exact_equilibrium_gradient(solver):
    with jax.enable_x64(True):
        ops, params, x, masks, _ = _tiny_net()
        rates = im.forward_equilibrium(ops, params, x, masks, im.FSNNConfig(forward_iters=300))
        assert all(float(jnp.mean((a > 0) & (a < 1))) > 0.2 for a in rates)  # the clamps are active
        exact = _flat(_exact_grad())
        got = _flat(_implicit_grad(solver, max_iter=200, solver_tol=1e-12))
        assert float(jnp.linalg.norm(got - exact) / jnp.linalg.norm(exact)) < 1e-4


@pytest.mark.parametrize("solver", ["fixed_point", "spide"])
def test_explicit_transposes_give_the_vjp_gradient(solver):
    ops, params, x, masks, readout = _tiny_net()
    explicit = ops._replace(layers_t=(lambda p, c: c @ p["w"].T,), feedback_t=lambda p, c: c @ p.T)
    cfg = im.FSNNConfig(num_steps=20, backward_steps=20, solver=solver)

    def grads(o):
        fsnn = im.make_fsnn(o, cfg)
        return _flat(jax.grad(lambda p: readout(fsnn(p, x, masks, jnp.zeros(3))[0]))(params))

    got, ref = grads(explicit), grads(ops)
    assert float(jnp.max(jnp.abs(ref))) > 0
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_ide_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        ops, params, x, masks, readout = _tiny_net()
        cfg = im.FSNNConfig(forward_iters=300)
        flat, unravel = ravel_pytree(params)
        grad = ravel_pytree(_implicit_grad("broyden", max_iter=100, solver_tol=1e-12))[0]
        f = jax.jit(lambda v: readout(im.forward_equilibrium(ops, unravel(v), x, masks, cfg)[-1]))
        eps = 1e-6
        for i in np.random.default_rng(0).choice(flat.size, 12, replace=False):
            e = jnp.zeros_like(flat).at[i].set(eps)
            fd = (f(flat + e) - f(flat - e)) / (2 * eps)
            assert abs(float(grad[i]) - float(fd)) <= 1e-4 * max(abs(float(fd)), 1e-3), (i, grad[i], fd)


def test_spide_gradient_converges_to_ide_gradient_as_tb_grows():
    with jax.enable_x64(True):
        exact = _flat(_exact_grad())
        cosines = []
        for tb in (30, 100, 300, 1000):
            got = _flat(_implicit_grad("spide", backward_steps=tb, v_th_back=0.5))
            cosines.append(float(got @ exact / (jnp.linalg.norm(got) * jnp.linalg.norm(exact))))
    assert all(b > a for a, b in itertools.pairwise(cosines)), cosines
    assert cosines[-1] >= 0.999 and cosines[1] >= 0.99, cosines


def test_spiking_solver_beta_is_clipped_input_average():
    # without feedback the ternary neuron's average output = its constant input clipped to [-D_b, D_b]
    g = jnp.array([[0.3, -0.55, 2.5, -4.0, 0.0]])
    lin = im._Linearised(None, [], [jnp.ones_like(g)])
    betas, brate = im.solve_spiking(lin, g, im.FSNNConfig(backward_steps=1000, v_th_back=0.5))
    np.testing.assert_allclose(np.asarray(betas[0][0]), [0.3, -0.55, 1.0, -1.0, 0.0], atol=2e-3)
    assert 0 < float(brate) < 1


def test_spiking_solver_rate_over_more_than_2_31_neuron_steps():
    # AlexNet-F at batch 128 and T_b = 250 has ~5e9 neuron-steps: the rate's denominator must not overflow
    cfg = im.FSNNConfig(backward_steps=1100, v_th_back=0.5)
    rate = lambda n: float(
        im.solve_spiking(im._Linearised(None, [], [jnp.ones((1, n))]), jnp.full((1, n), 0.3), cfg)[1]
    )
    assert 2**21 * 1100 > 2**31 and rate(2**21) == pytest.approx(rate(4), rel=1e-6) and 0 < rate(4) < 1


def _non_contracting():
    n = 6
    ops = im.FSNNOps(inp=lambda p, x: x @ p, layers=(), feedback=lambda p, a: a @ p)
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, n), minval=-0.5, maxval=1.0)
    # J = F^T M / D has the eigenvalue 9 / 2 > 1 where the clamps are open
    params = (jnp.eye(n), (), 9.0 * jnp.ones((n, n)) / n)
    return ops, params, x


@pytest.mark.parametrize("solver", ["fixed_point", "spide"])
def test_non_contracting_feedback_is_detected_and_not_trained_on(solver, capfd):
    ops, params, x = _non_contracting()
    cfg = im.FSNNConfig(num_steps=30, solver=solver)
    rates = im.forward_spiking(ops, params, x, ONE, cfg)
    assert float(jnp.mean((rates[0] > 0) & (rates[0] < 1))) == 1.0
    fsnn = im.make_fsnn(ops, cfg)
    grads, stats = jax.grad(
        lambda p, probe: jnp.sum(fsnn(p, x, ONE, probe)[0] * jnp.arange(6.0)), argnums=(0, 1)
    )(params, jnp.zeros(3))
    residual, _, diverged = (float(v) for v in stats)
    assert residual > cfg.diverge_residual and diverged == 1.0
    assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree.leaves(grads))
    jax.effects_barrier()
    out = capfd.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "diverged" in out[0] and "feedback_norm" in out[0]


def test_contracting_feedback_is_not_flagged():
    ops, params, x = _non_contracting()
    params = (params[0], (), params[2] / 10.0)
    cfg = im.FSNNConfig(num_steps=30, solver="fixed_point")
    fsnn = im.make_fsnn(ops, cfg)
    grads, stats = jax.grad(
        lambda p, probe: jnp.sum(fsnn(p, x, ONE, probe)[0] * jnp.arange(6.0)), argnums=(0, 1)
    )(params, jnp.zeros(3))
    assert float(stats[0]) < 1e-3 and float(stats[2]) == 0.0
    assert float(jnp.max(jnp.abs(grads[2]))) > 0


def test_memory_does_not_depend_on_num_steps():
    ops, params, x, masks, readout = _tiny_net()

    def temp_bytes(t: int) -> int:
        fsnn = im.make_fsnn(ops, im.FSNNConfig(num_steps=t, backward_steps=t))
        grad = jax.jit(jax.grad(lambda p: readout(fsnn(p, x, masks, jnp.zeros(3))[0])))
        return grad.lower(params).compile().memory_analysis().temp_size_in_bytes

    small, large = temp_bytes(10), temp_bytes(1000)
    assert large <= 1.2 * max(small, 1) + 1024, (small, large)
    assert math.isfinite(small)


def _dropout_masks(p: float = 0.2):
    """Independent variational dropout masks of ``_tiny_net``: input current, layer 1, feedback current."""
    k = jax.random.split(jax.random.PRNGKey(7), 3)
    keep = lambda key, n: jax.random.bernoulli(key, 1.0 - p, (3, n)).astype(jnp.float64) / (1.0 - p)
    return (keep(k[0], 6), keep(k[1], 4), keep(k[2], 6))


def _authors_gradients(ops, params, x, masks, readout, masked: bool):
    """SPIDE's ``set_grad`` on the tiny FC net, by hand: beta from a dense per-example solve of
    ``beta_1 = g + F^T (m_F M_0 beta_0) / D``, ``beta_0 = W_0^T (m_1 M_1 beta_1) / D``; weight gradients
    ``(1/D) a^T (M beta)`` (with the dropout mask of the op's current when ``masked``)."""
    d = 2.0
    a0, a1 = im.forward_equilibrium(ops, params, x, masks, im.FSNNConfig(forward_iters=400))
    m0, m1 = [np.asarray((a > 0) & (a < 1), np.float64) for a in (a0, a1)]
    w0, f = np.asarray(params[1][0]["w"]), np.asarray(params[2])
    mx, ml, mf = (np.asarray(m) for m in masks)
    g = np.asarray(jax.grad(readout)(a1))
    beta0, beta1 = np.zeros_like(m0), np.zeros_like(m1)
    for b in range(x.shape[0]):
        to0 = (
            w0 @ np.diag(ml[b] * m1[b]) / d
        )  # beta_0 = to0 @ beta_1 (row vectors: beta_0 = beta_1 diag W_0^T)
        to1 = f @ np.diag(mf[b] * m0[b]) / d  # beta_1 = g + to1 @ beta_0
        beta1[b] = np.linalg.solve(np.eye(4) - to1 @ to0, g[b])
        beta0[b] = to0 @ beta1[b]
    c0, c1 = m0 * beta0 / d, m1 * beta1 / d
    cx, cl, cf = (c0 * mx, c1 * ml, c0 * mf) if masked else (c0, c1, c0)
    a0, a1, xn = np.asarray(a0), np.asarray(a1), np.asarray(x)
    return (
        {"w": xn.T @ cx, "b": cx.sum(0)},
        ({"w": a0.T @ cl, "b": cl.sum(0)},),
        a1.T @ cf,
    )


def _converged_grads(ops, params, x, masks, readout, dropout_grad: str):
    """Parameter gradients of ``readout`` through the FSNN at its converged equilibrium (exact forward,
    Broyden to 1e-13) under the ``dropout_grad`` rule."""
    cfg = im.FSNNConfig(
        forward="equilibrium",
        forward_iters=400,
        solver="broyden",
        max_iter=100,
        solver_tol=1e-13,
        dropout_grad=dropout_grad,
    )
    fsnn = im.make_fsnn(ops, cfg)
    return jax.grad(lambda p: readout(fsnn(p, x, masks, jnp.zeros(3))[0]))(params)


@pytest.mark.parametrize("dropout_grad", ["unmasked", "masked"])
def test_dropout_weight_gradients_follow_the_hand_computed_rule(dropout_grad):
    # default 'unmasked' = SPIDE's set_grad (weight gradients without the masks); 'masked' keeps them
    with jax.enable_x64(True):
        ops, params, x, _, readout = _tiny_net()
        params, x = jax.tree.map(lambda v: v.astype(jnp.float64), (params, x))
        masks = _dropout_masks()
        assert float(jnp.mean(masks[0] != masks[2])) > 0.2  # layer 0's two currents dropped independently
        got = _converged_grads(ops, params, x, masks, readout, dropout_grad)
        want = _authors_gradients(ops, params, x, masks, readout, masked=dropout_grad == "masked")
        for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            assert np.abs(w).max() > 1e-4
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-7, atol=1e-12)


def test_masked_dropout_gradient_is_the_exact_gradient_of_the_masked_network():
    # 'masked' reproduces the implicit gradient of the network with its masks (the behaviour before SPIDE's
    # rule became the default): autodiff through the converged equilibrium iteration
    with jax.enable_x64(True):
        ops, params, x, _, readout = _tiny_net()
        params, x = jax.tree.map(lambda v: v.astype(jnp.float64), (params, x))
        masks = _dropout_masks()
        exact = jax.grad(
            lambda p: readout(im.forward_equilibrium(ops, p, x, masks, im.FSNNConfig(forward_iters=400))[-1])
        )(params)
        grads = {r: _flat(_converged_grads(ops, params, x, masks, readout, r)) for r in im.DROPOUT_GRADS}
        exact = _flat(exact)
        assert float(jnp.linalg.norm(grads["masked"] - exact) / jnp.linalg.norm(exact)) < 1e-6
        assert float(jnp.linalg.norm(grads["unmasked"] - exact) / jnp.linalg.norm(exact)) > 0.05


def test_masks_must_cover_input_layers_and_feedback():
    ops, params, x, _, _ = _tiny_net()
    with pytest.raises(ValueError, match="masks: expected 3"):
        im.forward_spiking(ops, params, x, (1.0, 1.0), im.FSNNConfig(num_steps=3))


@pytest.mark.parametrize("start", ["zero", "g"])
def test_fixed_point_solver_runs_its_iterations_from_its_start(start):
    """``beta <- (beta + g + J^T beta) / 2`` for ``max_iter`` steps (``solver_tol=0``) from 0 or, as IDE's
    'iter' solver, from ``g``: against the same loop written out."""
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 0.3, (5, 5))
    g = rng.normal(0.0, 1.0, (5,))
    cfg = im.FSNNConfig(solver="fixed_point", max_iter=7, solver_tol=0.0, fixed_point_start=start)
    with jax.enable_x64(True):
        got = im.solve_fixed_point(lambda v: jnp.asarray(a).T @ v, jnp.asarray(g), cfg)
    beta = g.copy() if start == "g" else np.zeros(5)
    for _ in range(7):
        beta = (beta + g + a.T @ beta) / 2
    np.testing.assert_allclose(got, beta, rtol=1e-12)
    other = np.zeros(5) if start == "g" else g.copy()
    for _ in range(7):
        other = (other + g + a.T @ other) / 2
    assert not np.allclose(got, other, rtol=1e-6)
