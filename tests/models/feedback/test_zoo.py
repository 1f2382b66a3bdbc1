"""The named feedback SNNs: parameter counts against the IDE README, layer shapes, initialisation."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax.models import create, num_params
from tests.models.feedback.helpers import abstract_model, model_config


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
    assert round(num_params(abstract_model(name, classes, (32, 32, 3))) / 1e6, 1) == millions


def test_layer_shapes_of_every_model():
    m = abstract_model("spide_mnist_lenet", 10, (28, 28, 1))
    assert m.inp.kernel.shape == (5, 5, 1, 15) and m.feedback is None
    assert m.layers[1].kernel.shape == (5, 5, 15, 40) and m.layers[3].kernel.shape == (1960, 300)
    assert m.shapes == ((28, 28, 15), (14, 14, 15), (14, 14, 40), (7, 7, 40), (300,))
    assert m.dropout_layers == (4,) and m.rate == 0.5
    m = abstract_model("spide_mnist_convnetf", 10, (28, 28, 1))
    assert m.inp.kernel.shape == (5, 5, 1, 64) and m.inp.stride == 2
    assert [op.stride for op in m.layers] == [2, 1] and m.dropout_layers == (0, 1, 2) and m.rate == 0.2
    assert m.feedback.kernel.shape == (3, 3, 64, 64) and m.feedback.out_hw == (14, 14)
    assert m.shapes == ((14, 14, 64), (7, 7, 64), (7, 7, 64)) and m.readout.in_features == 64 * 7 * 7
    m = abstract_model("spide_cifar", 10, (32, 32, 3))
    assert m.shapes[0] == (16, 16, 96) and m.shapes[-1] == (8, 8, 256) and m.feedback.out_hw == (16, 16)
    assert m.rate == 0.2 and m.feedback_norm == 2.0 and m.dropout_layers == (0, 1, 2, 3, 4)
    assert m.fsnn_cfg.dropout_grad == "unmasked"
    m = abstract_model("spide_dvs_cifar_convnetf", 10, (48, 48, 2))
    assert m.inp.kernel.shape == (9, 9, 2, 512) and m.shapes == ((24, 24, 512),)
    assert m.feedback.kernel.shape == (5, 5, 512, 512) and m.feedback.bias is None and m.feedback_norm == 10.0
    m = abstract_model("ide_fmnist_fc400", 10, (28, 28, 1))
    assert m.inp.kernel.shape == (784, 400) and m.feedback.kernel.shape == (400, 400)
    assert m.feedback.bias is None and m.fsnn_cfg.num_steps == 5 and m.fsnn_cfg.solver == "broyden"
    assert m.inp.norm is not None and m.restriction == "spectral" and m.feedback_norm == 1.0 and m.rate == 0.2
    assert m.dropout_layers == (0,) and m.fsnn_cfg.dropout_grad == "masked"  # IDE: autograd of the masked net
    # W_x 784x400 + bias, BatchNorm scale/bias, F 400x400, gain, readout 400x10 + bias (IDE README: 478K)
    assert num_params(m) == 784 * 400 + 400 + 800 + 400 * 400 + 1 + 4010
    for variant, leak in (("", 0.95), (":if", 1.0)):
        m = abstract_model("ide_mnist_conv" + variant, 10, (28, 28, 1))
        assert m.inp.kernel.shape == (5, 5, 1, 64) and m.inp.stride == 2 and m.inp.norm is not None
        assert (
            m.feedback.kernel.shape == (5, 5, 64, 64) and m.feedback.bias is None and m.feedback.stride == 1
        )
        assert m.shapes == ((14, 14, 64),) and m.readout.in_features == 14 * 14 * 64
        assert m.restriction == "spectral" and m.feedback_norm == 1.0 and m.rate == 0.2
        assert m.dropout_layers == (0,) and m.fsnn_cfg.leak == leak and m.fsnn_cfg.num_steps == 30
        # W_x 5x5x1x64 + bias, BatchNorm scale/bias, F 5x5x64x64, gain, readout 12544x10 + bias
        assert num_params(m) == 25 * 64 + 64 + 128 + 25 * 64 * 64 + 1 + 12544 * 10 + 10


def test_cifar_init_unit_filters_and_scaled_transpose():
    cfg = model_config("spide_cifar", widths=(8, 8, 8, 8, 8))
    m = create(cfg, 10, (8, 8, 3), rngs=nnx.Rngs(0))
    for conv in [m.inp, *m.layers]:
        norms = jnp.sqrt(jnp.sum(jnp.square(conv.kernel[...]), axis=(0, 1, 2)))
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    fb_norms = jnp.sqrt(jnp.sum(jnp.square(m.feedback.kernel[...]), axis=(0, 1, 3)))
    np.testing.assert_allclose(fb_norms, 0.1, rtol=1e-5)
