"""NSNN architectures: shapes, layer structure, neurons by config, init, BN switch, penalties, hooks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import models
from snnjax.models import nsnn
from snnjax.regularizers import gram, kernels


def model_cfg(name: str, num_steps: int = 2, neuron: str = "lif", **extra):
    """``neuron``: a registered type, or ``plif`` for the LIF with a learnable decay."""
    cfg = nsnn.model_config(name, num_steps=num_steps, **extra)
    cfg.neuron.update(type="lif" if neuron == "plif" else neuron, learnable_decay=neuron == "plif")
    cfg.neuron.lif.update(decay=0.5, surrogate="erf(alpha=1.0)")
    return cfg


def rngs(seed: int = 0) -> nnx.Rngs:
    return nnx.Rngs(params=seed, noise=seed + 1, dropout=seed + 2, encoding=seed + 3)


def abstract_output_shape(cfg, num_classes, input_shape, x_shape):
    """Output shape of the model's forward pass, built and traced abstractly (no real parameters)."""
    model = nnx.eval_shape(lambda: models.create(cfg, num_classes, input_shape, rngs=rngs()))
    graphdef, state = nnx.split(model)
    out = jax.eval_shape(
        lambda s, x: nnx.capture(nnx.merge(graphdef, s))(x), state, jax.ShapeDtypeStruct(x_shape, jnp.float32)
    )
    return out.shape, model


@pytest.mark.parametrize(
    "name, input_shape, x_shape",
    [
        ("nsnn_resnet19", (32, 32, 3), (2, 32, 32, 3)),
        ("nsnn_resnet18", (32, 32, 3), (2, 32, 32, 3)),
        ("nsnn_resnet34", (64, 64, 3), (2, 64, 64, 3)),
        ("nsnn_vgg", (48, 48, 2), (2, 3, 48, 48, 2)),  # event frames [B, T, H, W, 2]
        ("nsnn_vgg_noap", (48, 48, 2), (2, 3, 48, 48, 2)),
        ("nsnn_cifarnet", (32, 32, 3), (2, 32, 32, 3)),
    ],
)
def test_architectures_output_per_step_logits(name, input_shape, x_shape):
    events = len(x_shape) == 5
    t = x_shape[1] if events else 2
    cfg = model_cfg(name, num_steps=t, encoding="events" if events else "direct")
    shape, model = abstract_output_shape(cfg, 10, input_shape, x_shape)
    assert shape == (t, x_shape[0], 10)
    assert len(nsnn.perturbable_layers(model)) > 0


def test_layer_structure_matches_the_seed():
    cfg = model_cfg("nsnn_resnet19")
    m19 = nnx.eval_shape(lambda: models.create(cfg, 10, (32, 32, 3), rngs=rngs()))
    # stem + 8 blocks * 2 neurons + head neuron
    assert len(nsnn.perturbable_layers(m19)) == 1 + 16 + 1
    assert m19.fc1.kernel.shape == (512, 256) and m19.fc.kernel.shape == (256, 10)
    m34 = nnx.eval_shape(lambda: models.create(model_cfg("nsnn_resnet34"), 10, (64, 64, 3), rngs=rngs()))
    assert len(m34.blocks) == 16 and m34.stem.kernel.shape == (7, 7, 3, 64)  # 7x7 stem above 32 px
    vgg = nnx.eval_shape(lambda: models.create(model_cfg("nsnn_vgg"), 10, (48, 48, 2), rngs=rngs()))
    assert vgg.fc.kernel.shape == (512 * 3 * 3, 10)
    noap = nnx.eval_shape(lambda: models.create(model_cfg("nsnn_vgg_noap"), 10, (48, 48, 2), rngs=rngs()))
    assert noap.fc.kernel.shape == (512 * 3 * 3, 10)
    assert [c.strides for c in noap.convs][:2] == [1, 2]
    net = nnx.eval_shape(lambda: models.create(model_cfg("nsnn_cifarnet"), 10, (32, 32, 3), rngs=rngs()))
    assert [fc.kernel.shape for fc in net.fcs] == [(512 * 8 * 8, 1024), (1024, 512), (512, 10)]
    # the seed's BasicConvLayer is conv + BatchNorm2d + neuron, in CIFARNet too
    assert sum(isinstance(m, nnx.BatchNorm) for _, m in nnx.iter_graph(net)) == len(net.convs) == 5


def test_bn_switch_removes_batch_norm():
    def count_bn(**extra):
        m = nnx.eval_shape(
            lambda: models.create(model_cfg("nsnn_resnet18", **extra), 10, (32, 32, 3), rngs=rngs())
        )
        return sum(isinstance(x, nnx.BatchNorm) for _, x in nnx.iter_graph(m))

    assert count_bn(bn=True) == 1 + 8 * 2 + 3  # stem, two per block, three shortcuts
    assert count_bn(bn=False) == 0


def toynet(neuron="noisy_lif", seed=0, **extra):
    cfg = model_cfg("nsnn_toynet", num_steps=3, neuron=neuron, hidden=16, **extra)
    return models.create(cfg, 10, (6, 6, 1), rngs=rngs(seed))


def test_toynet_noisy_is_stochastic_and_lif_is_not():
    x = jax.random.uniform(jax.random.key(0), (4, 6, 6, 1)) * 3
    noisy = toynet("noisy_lif")
    a, b = nnx.capture(noisy)(x), nnx.capture(noisy)(x)
    assert a.shape == (3, 4, 10)
    assert not np.allclose(a, b)  # fresh noise in every pass, also in eval mode
    noisy.eval()
    assert not np.allclose(nnx.capture(noisy)(x), nnx.capture(noisy)(x))
    lif = toynet("lif")
    np.testing.assert_array_equal(nnx.capture(lif)(x), nnx.capture(lif)(x))


@pytest.mark.parametrize("noise", ["gaussian", "logistic", "triangular", "uniform"])
def test_every_noise_family_builds_and_trains(noise):
    cfg = model_cfg("nsnn_toynet", num_steps=2, neuron="noisy_lif", hidden=8)
    cfg.neuron.noisy_lif.noise = noise  # the family with its default width
    model = models.create(cfg, 3, (4, 4, 1), rngs=rngs())
    assert model.sn.neuron.noise.__class__.__name__.lower().startswith(noise[:4])
    x = jax.random.uniform(jax.random.key(1), (5, 4, 4, 1)) * 4
    grads = nnx.grad(lambda m: jnp.sum(nnx.capture(m)(x) ** 2))(model)
    assert float(jnp.abs(grads.fc1.kernel[...]).sum()) > 0  # noise-driven gradient reaches the input layer


def test_plif_learns_its_decay():
    model = toynet("plif")
    assert model.sn.decay_param is not None
    x = jax.random.uniform(jax.random.key(1), (4, 6, 6, 1)) * 3
    grads = nnx.grad(lambda m: jnp.sum(nnx.capture(m)(x) ** 2))(model)
    assert float(jnp.abs(grads.sn.decay_param[...])) > 0


def test_orthogonal_init():
    model = toynet("lif", init="orthogonal")
    w = model.fc1.kernel[...]  # [36, 16]: orthonormal columns
    np.testing.assert_allclose(w.T @ w, np.eye(16), atol=1e-5)
    assert float(gram(w)) < 1e-4
    assert float(gram(toynet("lif").fc1.kernel[...])) > 0.5


def test_regularization_loss_is_lambda_times_penalty():
    assert float(toynet("lif").regularization_loss()) == 0.0
    model = toynet("lif", reg="gram", reg_lambda=0.01)
    expected = 0.01 * sum(float(gram(k)) for k in kernels(model))
    np.testing.assert_allclose(float(model.regularization_loss()), expected, rtol=1e-5)
    grads = nnx.grad(lambda m: m.regularization_loss())(model)
    assert float(jnp.abs(grads.fc2.kernel[...]).sum()) > 0


def test_perturb_hook_changes_spikes_but_not_the_recorded_rate():
    model = toynet("lif")
    x = jax.random.uniform(jax.random.key(0), (4, 6, 6, 1)) * 3
    clean, rate = nnx.capture(model, nnx.Intermediate)(x)
    model.sn.perturb = lambda s, key: 1.0 - s  # flip every spike
    flipped, rate_after = nnx.capture(model, nnx.Intermediate)(x)
    assert not np.allclose(clean, flipped)
    assert jax.tree.leaves(rate) and np.allclose(jax.tree.leaves(rate), jax.tree.leaves(rate_after))
    spikes = model.sn.perturb(jnp.ones(3), None)
    np.testing.assert_array_equal(spikes, 0.0)


def test_every_nsnn_config_uses_and_states_the_code_noise_mode():
    """The NSNN configs run the authors' code (noise applied twice) and say so in their docstring."""
    import ast
    from pathlib import Path

    from snnjax.config import load_config

    paths = sorted((Path(__file__).resolve().parents[2] / "configs").glob("nsnn_*.py"))
    assert len(paths) >= 4
    for path in paths:
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert "noise_mode=paper" in doc and "twice" in doc, path.name
        assert load_config(str(path)).model.neuron.noisy_lif.noise_mode == "code", path.name
