"""The feedback SNN: forward pass, solver statistics, loss scale, batch norm of the input op."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from snnjax import layers
from snnjax.errors import ConfigError
from snnjax.models import cast_floats, create, num_params
from snnjax.models.feedback.network import ide_event_inputs
from snnjax.models.feedback.ops import conv
from tests.models.feedback.helpers import model_config, tiny_fc


def _loss(x):
    return lambda m: jnp.mean(jax.nn.log_softmax(nnx.capture(m)(x)[0])[:, 0])


def test_forward_outputs_metrics_and_gradients():
    model = tiny_fc(dropout=0.5)
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 2, 2, 1)) * 3
    grads = nnx.grad(_loss(x), argnums=nnx.DiffState(0, layers.GRADIENT_TARGETS))(model)
    out, sown = nnx.capture(model, nnx.Intermediate)(x)
    assert out.shape == (1, 4, 3)
    rates = sown["firing_rate"]
    assert 0.0 < float(jax.tree.leaves(rates)[0]) < 1.0
    stats = model.gradient_metrics(grads)
    assert set(stats) == {"solver_residual", "backward_firing_rate", "solver_diverged"}
    assert float(stats["solver_diverged"]) == 0.0 and 0.0 < float(stats["solver_residual"]) < 1.0
    assert float(jnp.max(jnp.abs(grads["inp"]["kernel"][...]))) > 0
    masks = model._masks(4)
    assert len(masks) == 2 and masks[0].shape == masks[1].shape == (4, 6)  # input and feedback currents
    assert set(np.unique(np.asarray(masks[0]))) <= {0.0, 2.0}
    assert np.any(np.asarray(masks[0]) != np.asarray(masks[1]))  # independent masks
    model.eval()
    assert all(float(jnp.min(m)) == 1.0 for m in model._masks(4))  # no dropout in evaluation


def test_dropout_weight_gradient_is_unmasked_by_default():
    # LeNet's FC (dropout 0.5): SPIDE's set_grad leaves the 1/(1-p) = 2 of the mask out of its weight gradient
    # (dropped neurons never fire, so only that factor differs); the layers below are unaffected
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 8, 8, 1), minval=0.0, maxval=3.0)

    def grads(rule):
        cfg = model_config("spide_mnist_lenet", dropout_grad=rule, backward_steps=20, num_steps=10)
        model = create(cfg, 3, (8, 8, 1), rngs=nnx.Rngs(0))
        return nnx.grad(_loss(x))(model)

    unmasked, masked = grads("unmasked"), grads("masked")
    fc_u, fc_m = unmasked["layers"][3]["kernel"][...], masked["layers"][3]["kernel"][...]
    assert float(jnp.max(jnp.abs(fc_u))) > 0
    np.testing.assert_allclose(fc_m, 2.0 * fc_u, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(unmasked["inp"]["kernel"][...], masked["inp"]["kernel"][...], rtol=1e-6)


def test_solver_statistics_are_not_trained_nor_counted():
    model = tiny_fc()
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 2, 2, 1)) * 3
    assert all("solver_stats" not in path for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param)))
    params = sum(v.size for v in jax.tree.leaves(nnx.state(model, nnx.Param)))
    assert num_params(model) == params
    grads = nnx.grad(_loss(x), argnums=nnx.DiffState(0, layers.GRADIENT_TARGETS))(model)
    assert float(jnp.max(jnp.abs(grads["solver_stats"][...]))) > 0  # the statistics arrived
    optimizer = nnx.Optimizer(model, optax.sgd(1.0, momentum=0.9), wrt=nnx.Param)
    before = np.asarray(model.readout.kernel[...])
    optimizer.update(model, grads)
    assert np.array_equal(model.solver_stats[...], np.zeros(3))
    assert not np.array_equal(model.readout.kernel[...], before)
    # gradients of the parameters alone carry no statistics
    assert model.gradient_metrics(nnx.grad(_loss(x))(model)) == {}


def test_scale_factor_multiplies_every_gradient_not_the_output():
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 2, 2, 1)) * 3

    def grads(scale):
        model = tiny_fc(solver="fixed_point", scale_factor=scale, feedback_norm=0.0)
        model.eval()  # no dropout: identical forward passes
        out = nnx.capture(model)(x)
        g = nnx.grad(lambda m: jnp.mean(jax.nn.log_softmax(nnx.capture(m)(x)[0])[:, 1]))(model)
        return out, g

    out1, g1 = grads(1.0)
    out10, g10 = grads(10.0)
    np.testing.assert_allclose(out1, out10, rtol=1e-6)
    for key in ("inp", "feedback", "readout"):
        a = jax.tree.leaves(nnx.state(g1[key]))
        b = jax.tree.leaves(nnx.state(g10[key]))
        for u, v in zip(a, b, strict=True):
            np.testing.assert_allclose(10.0 * u, v, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("updates", [2, 1])
def test_f400_batch_norm_statistics_move_input_bn_updates_times_in_training_only(updates):
    """IDE's F400 moves W_x's running statistics twice per training step (its "restore" after the spiking
    forward restores the already-updated tensor, then the re-evaluation of ``f(a*, x)`` moves them again with
    the same batch): ``m <- 0.9^k m + (1 - 0.9^k) mu`` with the unbiased batch variance for ``var``;
    ``model.input_bn_updates=1`` moves them once. Evaluation leaves them alone."""
    cfg = model_config("ide_fmnist_fc400", widths=(6,), input_bn_updates=updates)
    model = create(cfg, 3, (2, 2, 1), rngs=nnx.Rngs(0))
    np.testing.assert_allclose(
        model.fb_gain[...], jnp.linalg.svd(model.feedback.kernel[...], compute_uv=False)[0], rtol=1e-3
    )
    model.inp.norm.mean[...] = jnp.full((6,), 0.5)
    model.inp.norm.var[...] = jnp.full((6,), 2.0)
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 2, 2, 1)) + 1.0
    nnx.grad(_loss(x))(model)  # a training step's forward and backward
    dense = x.reshape(16, -1) @ model.inp.kernel[...] + model.inp.bias[...]
    keep = 0.9**updates
    mean = keep * 0.5 + (1 - keep) * jnp.mean(dense, axis=0)
    var = keep * 2.0 + (1 - keep) * jnp.var(dense, axis=0, ddof=1)
    np.testing.assert_allclose(model.inp.norm.mean[...], mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.inp.norm.var[...], var, rtol=1e-5)
    trained = np.asarray(model.inp.norm.mean[...])
    model.eval()
    nnx.capture(model)(x)
    np.testing.assert_array_equal(model.inp.norm.mean[...], trained)


def _f400_gradients(gradient_at: str):
    """Gradients of a tiny F400 training step (float64, dropout 0.3, T = 5) and what IDE's module computes:
    ``(df(a*, x)/dtheta)^T (I - J^T)^{-1} g`` with ``J = df/da`` at ``a*`` and ``f`` the masked map with the
    batch statistics of ``W_x`` (dense solve, ``jax.vjp``)."""
    with jax.enable_x64(True):
        cfg = model_config(
            "ide_fmnist_fc400", widths=(6,), dropout=0.3, solver_max_iter=200, solver_tol=1e-13
        )
        cfg.gradient_at = gradient_at
        m = cast_floats(create(cfg, 3, (2, 2, 1), rngs=nnx.Rngs(0)), jnp.float64)
        x = jax.random.normal(jax.random.PRNGKey(0), (8, 2, 2, 1), jnp.float64) + 0.5
        labels = jnp.array([0, 1, 2, 0, 1, 2, 0, 1])

        def loss(model):
            logits = nnx.capture(model)(x)[0]
            return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(8), labels])

        masks = nnx.clone(m)._masks(8, jnp.float64)
        twin = nnx.clone(m)
        fb = twin._restricted(nnx.state(twin.feedback))["kernel"][...]
        a_star = nnx.clone(m)._solve(x)[1][-1]
        readout = m.readout.kernel[...], m.readout.bias[...]
        p = dict(k=m.inp.kernel[...], b=m.inp.bias[...], g=m.inp.norm.scale[...], beta=m.inp.norm.bias[...])
        grads = nnx.grad(loss)(m)

        def f(p, a):
            c = x.reshape(8, -1) @ p["k"] + p["b"]
            drive = (c - jnp.mean(c, 0)) / jnp.sqrt(jnp.var(c, 0) + 1e-5) * p["g"] + p["beta"]
            return jnp.clip((drive * masks[0] + (a @ fb) * masks[1]) / 2, 0, 1)

        g = jax.grad(
            lambda a: -jnp.mean(jax.nn.log_softmax(a @ readout[0] + readout[1])[jnp.arange(8), labels])
        )(a_star)
        jac = jax.jacobian(lambda a: f(p, a))(a_star).reshape(g.size, g.size)
        beta = jnp.linalg.solve(jnp.eye(g.size) - jac.T, g.reshape(-1)).reshape(g.shape)
        want = jax.vjp(lambda p: f(p, a_star), p)[1](beta)[0]
        clamps_differ = bool(
            jnp.any(((a_star > 0) & (a_star < 1)) != ((f(p, a_star) > 0) & (f(p, a_star) < 1)))
        )
        got = dict(k=grads["inp"]["kernel"][...], g=grads["inp"]["norm"]["scale"][...])
        return jax.tree.map(np.asarray, got), jax.tree.map(np.asarray, want), clamps_differ


@pytest.mark.slow
def test_f400_reevaluation_gradient_is_ides():
    """``model.gradient_at='reevaluation'`` (the IDE configs): the gradient of IDE's one-layer module, whose
    clamps are those of ``f(a*)``; ``'rates'`` (SPIDE's rule, clamps of the spiking rate ``a*``) differs
    where the two clamps differ, as here."""
    got, want, clamps_differ = _f400_gradients("reevaluation")
    assert clamps_differ  # quantised rates (T = 5): a real test
    for key in ("k", "g"):
        assert float(np.max(np.abs(want[key]))) > 1e-6
        np.testing.assert_allclose(got[key], want[key], rtol=1e-7, atol=1e-12, err_msg=key)
    local, _, _ = _f400_gradients("rates")
    assert not np.allclose(local["k"], want["k"], rtol=1e-3)


def test_gradient_at_is_checked():
    assert (
        tiny_fc().reevaluated
        and not create(model_config("spide_mnist_lenet"), 3, (8, 8, 1), rngs=nnx.Rngs(0)).reevaluated
    )
    with pytest.raises(ConfigError, match=r"model\.gradient_at"):
        tiny_fc(gradient_at="zero")
    with pytest.raises(ConfigError, match=r"gradient_at='reevaluation' differentiates the masked network"):
        tiny_fc(dropout_grad="unmasked")
    with pytest.raises(ConfigError, match=r"batch norm between its layers .*gradient_at='reevaluation'"):
        create(
            model_config("ide_cifar", widths=(4,) * 5, gradient_at="rates"), 3, (8, 8, 3), rngs=nnx.Rngs(0)
        )


def test_readout_init_is_pytorchs_by_default():
    """The authors' classifier keeps ``nn.Linear``'s default, U(+-1/sqrt(fan_in)) for weight and bias;
    ``readout_init='flax'``: lecun-normal weight, zero bias."""
    cfg = model_config("spide_mnist_convnetf")
    model = create(cfg, 10, (28, 28, 1), rngs=nnx.Rngs(0))
    bound = 1 / np.sqrt(7 * 7 * 64)
    kernel, bias = np.asarray(model.readout.kernel[...]), np.asarray(model.readout.bias[...])
    assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound and np.any(bias != 0)
    np.testing.assert_allclose(kernel.std(), bound / np.sqrt(3), rtol=0.02)  # uniform, not normal
    cfg.readout_init = "flax"
    flax_model = create(cfg, 10, (28, 28, 1), rngs=nnx.Rngs(0))
    assert not np.any(flax_model.readout.bias[...]) and np.abs(flax_model.readout.kernel[...]).max() > bound
    with pytest.raises(ConfigError, match=r"model\.readout_init"):
        tiny_fc(readout_init="zeros")


def test_input_bn_updates_is_checked_and_defaults_to_ide():
    assert tiny_fc().input_bn_updates == 2
    assert model_config("ide_mnist_conv").input_bn_updates == 2
    with pytest.raises(ConfigError, match=r"model\.input_bn_updates=3"):
        tiny_fc(input_bn_updates=3)


def test_conv_input_batch_norm_uses_batch_statistics_in_training_and_updates_running_ones():
    """IDE's MNIST conv net: ``W_x`` = Conv5 s2 + BatchNorm2d; training calls normalise with the batch's
    statistics (per channel over batch and space) and move the running averages (momentum 0.9); evaluation
    uses the running averages and leaves them alone."""
    cfg = model_config("ide_mnist_conv", widths=(4,), num_steps=4)
    model = create(cfg, 3, (8, 8, 1), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 8, 8, 1)) + 1.0
    conv = model.inp.kernel[...], model.inp.bias[...]
    y = jax.lax.conv_general_dilated(
        x, conv[0], (2, 2), ((2, 2), (2, 2)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    y = y + conv[1]
    mu, var = jnp.mean(y, axis=(0, 1, 2)), jnp.var(y, axis=(0, 1, 2))
    np.testing.assert_allclose(model.inp(x), (y - mu) / jnp.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)
    model.inp.norm.mean[...] = jnp.zeros_like(mu)  # the direct call above moved them; start again
    nnx.capture(model)(x)
    np.testing.assert_allclose(model.inp.norm.mean[...], 0.19 * mu, rtol=1e-5, atol=1e-7)  # twice, as IDE
    mean = np.asarray(model.inp.norm.mean[...])
    model.eval()
    var_run = model.inp.norm.var[...]
    np.testing.assert_allclose(model.inp(x), (y - mean) / jnp.sqrt(var_run + 1e-5), rtol=1e-4, atol=1e-5)
    nnx.capture(model)(x)
    np.testing.assert_array_equal(model.inp.norm.mean[...], mean)
    model.train()
    with pytest.raises(ValueError, match="only in evaluation mode"):
        model.inp.transpose(jnp.zeros((1, 4, 4, 4)))


def test_input_batch_norm_trains_with_the_exact_equilibrium_forward():
    """``model.forward='equilibrium'`` with a BatchNorm input op in training mode: the rate is the fixed point
    of the map with the batch's statistics, and the gradients flow."""
    cfg = model_config("ide_mnist_conv", widths=(4,), forward="equilibrium", forward_iters=200, dropout=0.0)
    model = create(cfg, 3, (8, 8, 1), rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 8, 8, 1)) + 1.0
    grads = nnx.grad(_loss(x))(model)
    assert float(jnp.max(jnp.abs(grads["inp"]["kernel"][...]))) > 0
    twin = nnx.clone(model)  # the restriction's power iteration moves with every call: take the same one
    fb_kernel = twin._restricted(nnx.state(twin.feedback))["kernel"][...]
    a = model._solve(x)[0]
    drive = model.inp(x)  # batch statistics (training mode)
    fb = jax.lax.conv_general_dilated(
        a, fb_kernel, (1, 1), ((2, 2), (2, 2)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    assert float(jnp.mean((a > 0) & (a < 1))) > 0.05
    np.testing.assert_allclose(a, jnp.clip((drive + fb) / 2, 0, 1), atol=1e-5)


def _ide_lif_average_in_place(x: np.ndarray, leak: float):
    """IDE's LIF event statistics step by step on a numpy array, in place as its code runs: the forward's
    accumulation into the last frame, then the re-evaluation's loop over the modified frames."""
    x, steps = x.copy(), x.shape[0]
    acc, factor = x[steps - 1], 1.0  # a view: accumulating into it changes x
    for t in range(steps - 1):
        factor *= leak
        acc += x[steps - 2 - t] * factor
    acc /= (1 - factor * leak) / (1 - leak)
    stats = acc.copy()
    frames = x.copy()
    again, factor = x[steps - 1], 1.0
    for i in range(steps):  # one term more than frames before the last: index -1 is the last frame itself
        factor *= leak
        again += x[steps - 2 - i] * factor
    again /= (1 - factor * leak) / (1 - leak)
    return frames, stats, again.copy()


def test_ide_event_inputs_match_ides_steps():
    x = np.random.default_rng(0).integers(0, 2, (5, 3, 4)).astype(np.float64)
    with jax.enable_x64(True):
        frames, stats, reeval = ide_event_inputs(jnp.asarray(x), 1.0)
        np.testing.assert_array_equal(frames, x)
        np.testing.assert_allclose(stats, x.mean(0), rtol=1e-12)
        np.testing.assert_allclose(reeval, x.mean(0), rtol=1e-12)
        want = _ide_lif_average_in_place(x, 0.95)
        got = ide_event_inputs(jnp.asarray(x), 0.95)
        assert not np.allclose(want[0][-1], x[-1])  # the forward's last frame is replaced
        for w, g in zip(want, got, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-12)
        frames, stats, reeval = ide_event_inputs(jnp.asarray(x), 0.95, "weighted")
        np.testing.assert_array_equal(frames, x)
        np.testing.assert_allclose(stats, want[1], rtol=1e-12)
        np.testing.assert_array_equal(reeval, stats)


def _event_net(**model):
    """IDE's N-MNIST F64C5 shrunk: 2 channels on 6x6x2 frames (Conv5 s2 padding 1: 2x2), IF, float64, no
    dropout or restriction, a contracting feedback, an exact Broyden solve."""
    cfg = model_config(
        "ide_nmnist_conv:if",
        widths=(2,),
        num_steps=6,
        dropout=0.0,
        feedback_norm=0.0,
        solver="broyden",
        solver_max_iter=200,
        solver_tol=1e-13,
        **model,
    )
    m = cast_floats(create(cfg, 3, (6, 6, 2), rngs=nnx.Rngs(0)), jnp.float64)
    m.feedback.kernel[...] = 0.3 * m.feedback.kernel[...]
    m.inp.norm.scale[...] = jnp.array([1.5, 0.8])
    m.inp.norm.bias[...] = jnp.array([0.6, 0.9])
    m.inp.norm.mean[...] = jnp.array([0.2, -0.1])
    m.inp.norm.var[...] = jnp.array([0.5, 2.0])
    x = jax.random.bernoulli(jax.random.PRNGKey(2), 0.4, (5, 6, 6, 6, 2)).astype(jnp.float64)  # [B, T, ...]
    return m, x


@pytest.mark.slow
@pytest.mark.parametrize("updates", [2, 1])
def test_event_input_batch_norm_trains_as_ide(updates):
    """IDE's BatchNorm of event input in a training step: the forward normalises every frame with the
    statistics of ``W_x`` on the time-averaged frames, ``sqrt(unbiased var + 1e-8)``; the running statistics
    move once (momentum 0.1, unbiased variance: the re-evaluation of ``f(a*, mean x)`` with batch statistics;
    the forward leaves them, whatever ``input_bn_updates``); the gradient is ``(df/dtheta)^T (I - J^T)^{-1}
    g`` with ``J`` at ``a*`` (IDE's one-layer module), against a dense solve and ``jax.vjp``."""
    with jax.enable_x64(True):
        m, x = _event_net(input_bn_updates=updates)
        frames = jnp.moveaxis(x, 1, 0)
        xbar = jnp.mean(frames, axis=0)
        k, b = m.inp.kernel[...], m.inp.bias[...]
        gamma, beta_bn = m.inp.norm.scale[...], m.inp.norm.bias[...]
        lin = lambda k, b, v: conv(v, k, 2, 1) + b
        fbk = m.feedback.kernel[...]
        # the forward by hand: IDE's IF neurons (V_th 2, a spike subtracts 2), rate = spike count / T
        y = lin(k, b, xbar)
        mu, sd = jnp.mean(y, axis=(0, 1, 2)), jnp.sqrt(jnp.var(y, axis=(0, 1, 2), ddof=1) + 1e-8)
        u = jnp.zeros_like(y)
        s, count = jnp.zeros_like(y), jnp.zeros_like(y)
        for t in range(frames.shape[0]):
            u = u + (lin(k, b, frames[t]) - mu) / sd * gamma + beta_bn + conv(s, fbk, 1, 2)
            s = (u >= 2.0).astype(u.dtype)
            u, count = u - 2.0 * s, count + s
        a_star = count / frames.shape[0]
        assert float(jnp.mean((a_star > 0) & (a_star < 1))) > 0.1  # open clamps: a real test
        labels = jnp.array([0, 1, 2, 0, 1])
        readout = m.readout.kernel[...], m.readout.bias[...]

        def loss_of_rates(a):
            logits = a.reshape(a.shape[0], -1) @ readout[0] + readout[1]
            return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(5), labels])

        def loss(model):
            logits = nnx.capture(model)(x)[0]
            return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(5), labels])

        mean0, var0 = m.inp.norm.mean[...], m.inp.norm.var[...]
        rates = nnx.clone(m)._solve(x)[1]
        np.testing.assert_allclose(rates[0], a_star, atol=1e-12)
        grads = nnx.grad(loss)(m)

        # running statistics: once, from W_x applied to the time average
        n = y.size // y.shape[-1]
        np.testing.assert_allclose(m.inp.norm.mean[...], 0.9 * mean0 + 0.1 * jnp.mean(y, axis=(0, 1, 2)))
        var_u = jnp.var(y, axis=(0, 1, 2)) * n / (n - 1)
        np.testing.assert_allclose(m.inp.norm.var[...], 0.9 * var0 + 0.1 * var_u, rtol=1e-12)

        # IDE's gradient: f with standard batch norm (biased variance, eps 1e-5) of W_x mean(x)
        def f(p, a):
            c = lin(p["k"], p["b"], xbar)
            c_mu, c_var = jnp.mean(c, axis=(0, 1, 2)), jnp.var(c, axis=(0, 1, 2))
            drive = (c - c_mu) / jnp.sqrt(c_var + 1e-5) * p["g"] + p["beta"]
            return jnp.clip((drive + conv(a, p["fb"], 1, 2)) / 2, 0, 1)

        p = dict(k=k, b=b, g=gamma, beta=beta_bn, fb=fbk)
        g = jax.grad(loss_of_rates)(a_star)
        jac = jax.jacobian(lambda a: f(p, a))(a_star).reshape(g.size, g.size)
        beta = jnp.linalg.solve(jnp.eye(g.size) - jac.T, g.reshape(-1)).reshape(g.shape)
        want = jax.vjp(lambda p: f(p, a_star), p)[1](beta)[0]
        got = dict(
            k=grads["inp"]["kernel"][...],
            b=grads["inp"]["bias"][...],
            g=grads["inp"]["norm"]["scale"][...],
            beta=grads["inp"]["norm"]["bias"][...],
            fb=grads["feedback"]["kernel"][...],
        )
        for key in want:  # the conv bias has none: the batch mean removes it
            assert key == "b" or float(jnp.max(jnp.abs(want[key]))) > 1e-6, key
            np.testing.assert_allclose(got[key], want[key], rtol=1e-7, atol=1e-12, err_msg=key)


def test_event_input_batch_norm_evaluates_with_running_statistics():
    with jax.enable_x64(True):
        m, x = _event_net()
        m.eval()
        frames = jnp.moveaxis(x, 1, 0)
        norm = m.inp.norm
        drive = (m.inp.linear(frames[0]) - norm.mean[...]) / jnp.sqrt(norm.var[...] + 1e-5)
        np.testing.assert_allclose(m.inp(frames[0]), drive * norm.scale[...] + norm.bias[...], atol=1e-12)
        before = np.asarray(norm.mean[...])
        nnx.capture(m)(x)
        np.testing.assert_array_equal(norm.mean[...], before)


def test_unknown_solver_is_a_config_error():
    with pytest.raises(ConfigError, match=r"model\.solver"):
        tiny_fc(solver="newton")
    with pytest.raises(ConfigError, match=r"model\.dropout_grad"):
        tiny_fc(dropout_grad="both")
    with pytest.raises(ConfigError, match=r"model\.fixed_point_start"):
        tiny_fc(fixed_point_start="one")
    with pytest.raises(ConfigError, match=r"model\.event_bn_average"):
        tiny_fc(event_bn_average="mean")
    with pytest.raises(ConfigError, match=r"batch norm on event input .*model\.dropout_grad='masked'"):
        create(model_config("ide_nmnist_conv", dropout_grad="unmasked"), 10, (34, 34, 2), rngs=nnx.Rngs(0))
