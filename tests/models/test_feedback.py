"""SPIDE / IDE-FSNN models (snnjax.models.feedback): shapes, inits, norm restriction, gradients."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax.config import load_config
from snnjax.models import create, feedback, num_params

CONFIGS = pathlib.Path(__file__).parents[2] / "configs"


def _config(name: str, **model):
    stem, sep, arg = name.partition(":")
    cfg = load_config(f"{CONFIGS / stem}.py{sep}{arg}")
    cfg.model.update(**model)
    return cfg.model


def _abstract(name: str, classes: int, shape, **model):
    return nnx.eval_shape(lambda: create(_config(name, **model), classes, shape, rngs=nnx.Rngs(0)))


def _n_params(model) -> int:
    return num_params(model) - 3  # minus the solver probe


@pytest.mark.parametrize(
    ("name", "classes", "millions"),
    [
        ("spide_cifar", 10, 3.7),
        ("spide_cifar", 100, 5.2),
        ("spide_cifar:cifarnetf", 10, 11.8),
        ("spide_cifar:cifarnetf", 100, 14.8),
    ],
)
def test_cifar_parameter_counts_match_ide_readme(name, classes, millions):
    assert round(_n_params(_abstract(name, classes, (32, 32, 3))) / 1e6, 1) == millions


def test_layer_shapes_of_every_model():
    m = _abstract("spide_mnist_lenet", 10, (28, 28, 1))
    assert m.inp.kernel.shape == (5, 5, 1, 15) and m.feedback is None
    assert m.layers[1].kernel.shape == (5, 5, 15, 40) and m.layers[3].kernel.shape == (1960, 300)
    assert m.shapes[-1] == (300,) and m.dropout_layers == (4,) and m.rate == 0.5
    m = _abstract("spide_mnist_convnetf", 10, (28, 28, 1))
    assert m.inp.kernel.shape == (5, 5, 1, 64) and m.inp.stride == 2
    assert [op.stride for op in m.layers] == [2, 1]
    assert m.feedback.kernel.shape == (3, 3, 64, 64) and m.feedback.out_hw == (14, 14)
    assert m.shapes == ((14, 14, 64), (7, 7, 64), (7, 7, 64)) and m.readout.in_features == 64 * 7 * 7
    m = _abstract("spide_cifar", 10, (32, 32, 3))
    assert m.shapes[0] == (16, 16, 96) and m.shapes[-1] == (8, 8, 256) and m.feedback.out_hw == (16, 16)
    assert m.rate == 0.2 and m.feedback_norm == 2.0
    m = _abstract("spide_dvs_cifar_convnetf", 10, (48, 48, 2))
    assert m.inp.kernel.shape == (9, 9, 2, 512) and m.shapes == ((24, 24, 512),)
    assert m.feedback.kernel.shape == (5, 5, 512, 512) and m.feedback.bias is None and m.feedback_norm == 10.0
    m = _abstract("ide_fmnist_fc400", 10, (28, 28, 1))
    assert m.inp.kernel.shape == (784, 400) and m.feedback.kernel.shape == (400, 400)
    assert m.feedback.bias is None and m.fsnn_cfg.num_steps == 5 and m.fsnn_cfg.solver == "broyden"
    assert m.inp.norm is not None and m.restriction == "spectral" and m.feedback_norm == 1.0 and m.rate == 0.2
    # W_x 784x400 + bias, BatchNorm scale/bias, F 400x400, gain, readout 400x10 + bias (IDE README: 478K)
    assert _n_params(m) == 784 * 400 + 400 + 800 + 400 * 400 + 1 + 4010


def test_cifar_init_unit_filters_and_scaled_transpose():
    m = create(_config("spide_cifar", widths=(8, 8, 8, 8, 8)), 10, (8, 8, 3), rngs=nnx.Rngs(0))
    for conv in [m.inp, *m.layers]:
        norms = jnp.sqrt(jnp.sum(jnp.square(conv.kernel[...]), axis=(0, 1, 2)))
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    fb_norms = jnp.sqrt(jnp.sum(jnp.square(m.feedback.kernel[...]), axis=(0, 1, 3)))
    np.testing.assert_allclose(fb_norms, 0.1, rtol=1e-5)


def test_conv_transpose_is_adjoint_of_strided_conv():
    ct = feedback.ConvTranspose(3, 2, 3, 2, (6, 6), rngs=nnx.Rngs(0))  # 3x3x3 -> 6x6x2
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    y = jax.random.normal(k1, (1, 3, 3, 3))
    z = jax.random.normal(k2, (1, 6, 6, 2))
    conv = jax.lax.conv_general_dilated(
        z, ct.kernel[...], (2, 2), ((1, 1), (1, 1)), dimension_numbers=feedback._DN
    )
    out = ct.apply(ct.kernel[...], y)
    assert out.shape == (1, 6, 6, 2)
    np.testing.assert_allclose(jnp.vdot(conv, y), jnp.vdot(z, out), rtol=1e-4)


@pytest.mark.parametrize(("k", "stride", "hw"), [(5, 1, 14), (5, 2, 28), (3, 2, 7), (9, 2, 48), (3, 2, 8)])
def test_explicit_conv_transpose_equals_vjp(k, stride, hw):
    kernel = jax.random.normal(jax.random.PRNGKey(0), (k, k, 3, 4))
    x = jax.random.normal(jax.random.PRNGKey(1), (2, hw, hw, 3))
    y, vjp = jax.vjp(lambda a: feedback.conv(a, kernel, stride, (k - 1) // 2), x)
    c = jax.random.normal(jax.random.PRNGKey(2), y.shape)
    np.testing.assert_allclose(
        feedback.conv_t(c, kernel, stride, (k - 1) // 2, (hw, hw)), vjp(c)[0], rtol=1e-4, atol=1e-4
    )


def test_frobenius_norm_restriction():
    w = jax.random.normal(jax.random.PRNGKey(0), (20, 30))
    true = float(jnp.linalg.norm(w))  # ~24.5
    factor = feedback.frobenius_restrict(w, 2.0, jax.random.PRNGKey(1), 4096)
    assert abs(float(factor) * true - 2.0) < 0.1  # restricted to ~r
    assert float(feedback.frobenius_restrict(w * 0.01, 2.0, jax.random.PRNGKey(1), 4096)) == 1.0  # untouched


def test_spectral_restriction_bounds_the_feedback_spectral_norm():
    w = jax.random.normal(jax.random.PRNGKey(0), (30, 20))
    sigma = float(jnp.linalg.svd(w, compute_uv=False)[0])
    np.testing.assert_allclose(feedback.spectral_norm(w, jax.random.PRNGKey(1), iters=100), sigma, rtol=1e-4)
    u = feedback._unit(jnp.ones((30,)))
    for _ in range(100):  # one power iteration per call, u carried over as in training
        factor, u = feedback.spectral_restrict(w, u, jnp.asarray(3.0), 0.5)
    np.testing.assert_allclose(jnp.linalg.svd(w * factor, compute_uv=False)[0], 0.5, rtol=1e-4)  # |g| > r
    gain_grad = jax.grad(lambda g: feedback.spectral_restrict(w, u, g, 0.5)[0])
    assert float(gain_grad(jnp.asarray(3.0))) == 0.0 and float(gain_grad(jnp.asarray(0.3))) > 0.0


def test_f400_batch_norm_statistics_update_in_training_only():
    model = create(_config("ide_fmnist_fc400", widths=(6,)), 3, (2, 2, 1), rngs=nnx.Rngs(0))
    np.testing.assert_allclose(
        model.fb_gain[...], jnp.linalg.svd(model.feedback.kernel[...], compute_uv=False)[0], rtol=1e-3
    )
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 2, 2, 1)) + 1.0
    nnx.capture(model)(x)
    mean = np.asarray(model.inp.norm.mean[...])
    dense = x.reshape(16, -1) @ model.inp.kernel[...] + model.inp.bias[...]
    np.testing.assert_allclose(mean, 0.1 * jnp.mean(dense, axis=0), rtol=1e-5, atol=1e-7)  # momentum 0.9
    model.eval()
    nnx.capture(model)(x)
    np.testing.assert_array_equal(model.inp.norm.mean[...], mean)


def _tiny_fc(**model):
    cfg = _config("ide_fmnist_fc400", widths=(6,), forward="spiking", **model)
    return create(cfg, 3, (2, 2, 1), rngs=nnx.Rngs(0))


def test_forward_outputs_metrics_and_gradients():
    model = _tiny_fc(dropout=0.5)
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 2, 2, 1)) * 3

    def loss(m):
        logits = nnx.capture(m)(x)
        return jnp.mean(jax.nn.log_softmax(logits[0])[:, 0])

    grads = nnx.grad(loss)(model)
    out, sown = nnx.capture(model, nnx.Intermediate)(x)
    assert out.shape == (1, 4, 3)
    rates = sown["firing_rate"]
    assert 0.0 < float(jax.tree.leaves(rates)[0]) < 1.0
    stats = model.gradient_metrics(grads)
    assert set(stats) == {"solver_residual", "backward_firing_rate", "solver_diverged"}
    assert float(stats["solver_diverged"]) == 0.0
    assert float(jnp.max(jnp.abs(grads["inp"]["kernel"][...]))) > 0
    masks = model._masks(4)
    assert set(np.unique(np.asarray(masks[0]))) <= {0.0, 2.0}
    model.eval()
    assert float(jnp.min(model._masks(4)[0])) == 1.0  # no dropout in evaluation


def test_scale_factor_multiplies_every_gradient_not_the_output():
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 2, 2, 1)) * 3

    def grads(scale):
        model = _tiny_fc(solver="fixed_point", scale_factor=scale, feedback_norm=0.0)
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


def test_unknown_solver_is_a_config_error():
    from snnjax.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.solver"):
        _tiny_fc(solver="newton")
