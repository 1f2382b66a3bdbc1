"""IDE-FSNN's CIFAR nets with BatchNorm after every forward conv (``ide_cifar_alexnetf`` / ``_cifarnetf``):
parameter counts, which statistics each phase uses, the running-statistics update and the gradient (IDE's
formula by dense autodiff in training mode, finite differences in evaluation mode), in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.flatten_util import ravel_pytree

from snnjax import layers
from snnjax.errors import ConfigError
from snnjax.models import cast_floats, create, num_params
from snnjax.models.feedback.ops import conv, conv_t
from tests.models.feedback.helpers import abstract_model, model_config

WIDTHS = (4, 5, 6, 5, 4)
STRIDES = (2, 1, 2, 1, 1)
B = 6
FB = 5  # key of the feedback kernel in the parameter dicts below


def _conv_bn(c: int, cout: int) -> int:
    return 9 * c * cout + cout + 2 * cout  # kernel, bias, BatchNorm scale and bias


def test_parameter_counts_by_hand_and_ide_readme():
    for name, widths, millions in (
        ("ide_cifar", (96, 256, 384, 384, 256), (3.7, 5.2)),
        ("ide_cifar:cifarnetf", (128, 256, 512, 1024, 512), (11.8, 14.8)),
    ):
        for classes, readme in zip((10, 100), millions, strict=True):
            m = abstract_model(name, classes, (32, 32, 3))
            chans = (3, *widths)
            expected = sum(_conv_bn(chans[i], chans[i + 1]) for i in range(5))
            expected += 9 * widths[4] * widths[0] + 1  # feedback ConvT (no bias, no BN), spectral gain
            expected += widths[4] * 64 * classes + classes  # readout on the 8x8 rates
            assert num_params(m) == expected
            assert round(expected / 1e6, 1) == readme
    m = abstract_model("ide_cifar", 10, (32, 32, 3))
    assert num_params(m) == 3_709_515
    assert all(op.norm is not None for op in (m.inp, *m.layers)) and not hasattr(m.feedback, "norm")
    assert m.restriction == "spectral" and m.feedback_norm == 1.0 and m.rate == 0.2
    assert m.dropout_layers == (0, 1, 2, 3, 4) and m.fsnn_cfg.dropout_grad == "masked"
    assert m.fsnn_cfg.solver == "broyden" and m.fsnn_cfg.leak == 0.99 and m.fsnn_cfg.num_steps == 100


def test_init_unit_filters_zero_biases_and_unscaled_feedback():
    m = create(model_config("ide_cifar", widths=WIDTHS), 10, (8, 8, 3), rngs=nnx.Rngs(0))
    for op in (m.inp, *m.layers):
        norms = jnp.sqrt(jnp.sum(jnp.square(op.kernel[...]), axis=(0, 1, 2)))
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
        assert not np.any(op.bias[...]) and np.all(op.norm.scale[...] == 1) and not np.any(op.norm.bias[...])
    fb_norms = jnp.sqrt(jnp.sum(jnp.square(m.feedback.kernel[...]), axis=(0, 1, 3)))
    np.testing.assert_allclose(fb_norms, 1.0, rtol=1e-5)  # IDE: no x0.1 (SPIDE's init)


def test_batch_norm_needs_the_masked_gradient():
    with pytest.raises(ConfigError, match="dropout_grad='masked'"):
        create(
            model_config("ide_cifar", widths=WIDTHS, dropout_grad="unmasked"), 10, (8, 8, 3), rngs=nnx.Rngs(0)
        )


@pytest.mark.slow
@pytest.mark.parametrize("updates", [1, 2])
def test_input_batch_norm_statistics_move_input_bn_updates_times(updates):
    """``model.input_bn_updates``: the input op's running statistics move twice per training step as in
    IDE's code (forward and re-evaluation, the same batch statistics), or once; the layers' once."""
    with jax.enable_x64(True):
        m, x, y = _tiny(input_bn_updates=updates)
        P = _params(m)
        nnx.grad(_loss)(m, x, y)
        c0 = conv(x, P[0]["kernel"], 2, 1) + P[0]["bias"]
        n0 = c0.size // c0.shape[-1]
        mu0, v0 = jnp.mean(c0, axis=(0, 1, 2)), jnp.var(c0, axis=(0, 1, 2)) * n0 / (n0 - 1)
        keep = 0.9**updates  # PyTorch's momentum 0.1, applied `updates` times with the same batch
        np.testing.assert_allclose(m.inp.norm.mean[...], keep * P[0]["mean"] + (1 - keep) * mu0, atol=1e-14)
        np.testing.assert_allclose(m.inp.norm.var[...], keep * P[0]["var"] + (1 - keep) * v0, rtol=1e-10)
        assert not np.allclose(m.layers[0].norm.mean[...], P[1]["mean"])  # the layers' moved too


# ---- a hand-written reference of IDE's network (NHWC), float64 ----


def _bn(c, p, batch: bool):
    if batch:
        mu, var = jnp.mean(c, axis=(0, 1, 2)), jnp.var(c, axis=(0, 1, 2))
    else:
        mu, var = p["mean"], p["var"]
    return (c - mu) / jnp.sqrt(var + 1e-5) * p["scale"] + p["beta"]


def _chain(P, x, a_last, *, layers_batch: bool):
    """All rates of IDE's equilibrium map given the last rate (input op always with batch statistics)."""
    c0 = _bn(conv(x, P[0]["kernel"], 2, 1) + P[0]["bias"], P[0], True)
    rates = [jnp.clip((c0 + conv_t(a_last, P[FB], 2, 1, (4, 4))) / 2, 0, 1)]
    for i in range(1, 5):
        c = conv(rates[-1], P[i]["kernel"], STRIDES[i], 1) + P[i]["bias"]
        rates.append(jnp.clip(_bn(c, P[i], layers_batch) / 2, 0, 1))
    return rates


def _params(m):
    P = {FB: m.feedback.kernel[...]}
    for i, op in enumerate((m.inp, *m.layers)):
        P[i] = dict(
            kernel=op.kernel[...],
            bias=op.bias[...],
            scale=op.norm.scale[...],
            beta=op.norm.bias[...],
            mean=op.norm.mean[...],
            var=op.norm.var[...],
        )
    return P


def _tiny(**model):
    cfg = model_config(
        "ide_cifar",
        widths=WIDTHS,
        forward="equilibrium",
        forward_iters=400,
        solver="broyden",
        solver_max_iter=200,
        solver_tol=1e-13,
        dropout=0.0,
        feedback_norm=0.0,
        **model,
    )
    m = cast_floats(create(cfg, 3, (8, 8, 3), rngs=nnx.Rngs(0)), jnp.float64)
    m.feedback.kernel[...] = 0.5 * m.feedback.kernel[...]
    key = jax.random.PRNGKey(3)
    for i, op in enumerate(m.layers):  # non-trivial running statistics and affine parameters
        k1, k2, k3, k4, key = jax.random.split(key, 5)
        n = op.norm.mean.shape
        op.norm.mean[...] = 0.2 * jax.random.normal(k1, n, jnp.float64)
        op.norm.var[...] = jax.random.uniform(k2, n, jnp.float64, 0.05, 0.3)
        op.norm.scale[...] = jax.random.uniform(k3, n, jnp.float64, 0.5, 1.5)
        op.norm.bias[...] = jax.random.uniform(k4, n, jnp.float64, 0.2, 1.0) + 0.2 * i
        op.bias[...] = 0.1 * jax.random.normal(key, op.bias.shape, jnp.float64)
    x = jax.random.normal(jax.random.PRNGKey(1), (B, 8, 8, 3), jnp.float64) + 0.3
    y = jnp.array([0, 1, 2, 0, 1, 2])
    return m, x, y


def _loss(m, x, y):
    logits = nnx.capture(m)(x)[0]
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(B), y])


def _fixed_point(P, x):
    a = jnp.zeros((B, 2, 2, WIDTHS[-1]), jnp.float64)
    for _ in range(400):
        a = _chain(P, x, a, layers_batch=False)[-1]
    return a


def test_training_step_uses_ide_statistics_and_gradient():
    """Forward: running statistics of the layers' norms (the rate is the fixed point of that map); one
    re-evaluation at the forward rate with batch statistics updates them (momentum 0.1, unbiased variance;
    the input op's twice, as IDE's forward and re-evaluation both move them); the gradient is
    ``(df_batch/dtheta)^T (I - J^T)^{-1} g`` with ``J`` of the map with the updated running statistics at
    ``z = f_batch(a*)``, here against a dense solve and ``jax.vjp`` of the hand-written map."""
    with jax.enable_x64(True):
        m, x, y = _tiny()
        P = _params(m)
        a_star = _fixed_point(P, x)
        rates = _chain(P, x, a_star, layers_batch=False)
        assert float(jnp.mean((rates[-1] > 0) & (rates[-1] < 1))) > 0.1  # open clamps: a real test
        grads = nnx.grad(_loss, argnums=nnx.DiffState(0, layers.GRADIENT_TARGETS))(m, x, y)
        stats = m.gradient_metrics(grads)
        assert float(stats["solver_residual"]) < 1e-10 and float(stats["solver_diverged"]) == 0.0

        # running statistics after the step
        c0 = conv(x, P[0]["kernel"], 2, 1) + P[0]["bias"]
        n0 = c0.size // c0.shape[-1]
        mu0, v0 = jnp.mean(c0, axis=(0, 1, 2)), jnp.var(c0, axis=(0, 1, 2)) * n0 / (n0 - 1)
        np.testing.assert_allclose(m.inp.norm.mean[...], 0.19 * mu0, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(m.inp.norm.var[...], 0.81 * P[0]["var"] + 0.19 * v0, rtol=1e-10)
        z_rates = _chain(P, x, a_star, layers_batch=True)
        new = {k: (dict(v) if k != FB else v) for k, v in P.items()}
        for i in range(1, 5):
            c = conv(z_rates[i - 1], P[i]["kernel"], STRIDES[i], 1) + P[i]["bias"]
            n = c.size // c.shape[-1]
            mu, var = jnp.mean(c, axis=(0, 1, 2)), jnp.var(c, axis=(0, 1, 2)) * n / (n - 1)
            new[i]["mean"] = 0.9 * P[i]["mean"] + 0.1 * mu
            new[i]["var"] = 0.9 * P[i]["var"] + 0.1 * var
            np.testing.assert_allclose(m.layers[i - 1].norm.mean[...], new[i]["mean"], rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(m.layers[i - 1].norm.var[...], new[i]["var"], rtol=1e-10)

        # IDE's gradient
        z = z_rates[-1]
        logits_w, logits_b = m.readout.kernel[...], m.readout.bias[...]
        ce = lambda a: -jnp.mean(jax.nn.log_softmax(a.reshape(B, -1) @ logits_w + logits_b)[jnp.arange(B), y])
        g = jax.grad(ce)(a_star).reshape(-1)
        jac = jax.jacobian(lambda a: _chain(new, x, a.reshape(z.shape), layers_batch=False)[-1].reshape(-1))
        J = jac(z.reshape(-1))
        beta = jnp.linalg.solve(jnp.eye(g.size) - J.T, g).reshape(z.shape)
        trainable = lambda P: {
            k: (v if k == FB else {n: v[n] for n in ("kernel", "bias", "scale", "beta")})
            for k, v in P.items()
        }
        frozen = {k: v for k, v in P.items()}

        def f_batch(T):
            Q = {k: (T[k] if k == FB else {**frozen[k], **T[k]}) for k in P}
            return _chain(Q, x, a_star, layers_batch=True)[-1]

        _, vjp = jax.vjp(f_batch, trainable(P))
        ref = vjp(beta)[0]
        got = {FB: grads["feedback"]["kernel"][...]}
        for i in range(5):
            op = grads["inp"] if i == 0 else grads["layers"][i - 1]
            got[i] = dict(
                kernel=op["kernel"][...],
                bias=op["bias"][...],
                scale=op["norm"]["scale"][...],
                beta=op["norm"]["bias"][...],
            )
        got_flat, ref_flat = ravel_pytree(got)[0], ravel_pytree(ref)[0]
        assert float(jnp.max(jnp.abs(ref_flat))) > 1e-4
        np.testing.assert_allclose(got_flat, ref_flat, rtol=1e-7, atol=1e-11)


def test_evaluation_gradient_matches_finite_differences():
    """In evaluation mode every norm is the affine map of its running statistics: the implicit gradient
    (explicit transposes with the norm's scale) is the exact gradient of the loss at the equilibrium."""
    with jax.enable_x64(True):
        m, x, y = _tiny()
        m.eval()
        graphdef, params, rest = nnx.split(m, nnx.Param, ...)
        flat, unravel = ravel_pytree(params)
        loss = jax.jit(lambda v: _loss(nnx.merge(graphdef, unravel(v), rest), x, y))
        grad = jax.jit(jax.grad(lambda v: _loss(nnx.merge(graphdef, unravel(v), rest), x, y)))(flat)
        assert float(jnp.max(jnp.abs(grad))) > 1e-3
        eps = 1e-6
        picks = np.random.default_rng(0).choice(flat.size, 16, replace=False)
        for i in picks:
            e = jnp.zeros_like(flat).at[i].set(eps)
            fd = (loss(flat + e) - loss(flat - e)) / (2 * eps)
            assert abs(float(grad[i]) - float(fd)) <= 1e-5 * max(abs(float(fd)), 1e-3), (i, grad[i], fd)


def test_evaluation_uses_running_statistics_and_leaves_them():
    with jax.enable_x64(True):
        m, x, _ = _tiny()
        m.eval()
        P = _params(m)
        before = jax.tree.map(np.asarray, nnx.state(m, nnx.BatchStat))
        _, rates, _ = m._solve(x)
        c0 = conv(x, P[0]["kernel"], 2, 1) + P[0]["bias"]
        a0 = jnp.clip((_bn(c0, P[0], False) + conv_t(rates[-1], P[FB], 2, 1, (4, 4))) / 2, 0, 1)
        np.testing.assert_allclose(rates[0], a0, atol=1e-10)
        for i in range(1, 5):
            c = conv(rates[i - 1], P[i]["kernel"], STRIDES[i], 1) + P[i]["bias"]
            np.testing.assert_allclose(rates[i], jnp.clip(_bn(c, P[i], False) / 2, 0, 1), atol=1e-10)
        after = jax.tree.map(np.asarray, nnx.state(m, nnx.BatchStat))
        jax.tree.map(np.testing.assert_array_equal, before, after)


def test_conv_with_batch_norm_transposes_in_evaluation_mode_only():
    with jax.enable_x64(True):
        m, _, _ = _tiny()
        op = m.layers[0]
        with pytest.raises(ValueError, match="evaluation mode"):
            op.transpose(jnp.zeros((1, *op.out_shape)))
        op.eval()
        a = jax.random.uniform(jax.random.PRNGKey(0), (2, *op.in_shape), jnp.float64)
        c = jax.random.normal(jax.random.PRNGKey(1), (2, *op.out_shape), jnp.float64)
        _, vjp = jax.vjp(op, a)
        np.testing.assert_allclose(op.transpose(c), vjp(c)[0], rtol=1e-12, atol=1e-14)
