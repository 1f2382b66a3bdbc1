"""The row-by-row recurrent SNN: shapes, the row sequence it sees, its options and its errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import dynamics, layers, models
from snnjax.errors import ConfigError
from snnjax.models import recurrent, resformer
from snnjax.models.common import make_neuron
from snnjax.neurons import LI


def _model(**overrides):
    cfg = recurrent.model_config(hidden=16, **overrides)
    return cfg, models.create(cfg, 10, (8, 8, 1), rngs=nnx.Rngs(0))


def _run(model, x):
    """The model's output; its layers' firing rates are captured and dropped."""
    return nnx.capture(model, nnx.Intermediate)(x)[0]


def test_reads_rows_and_returns_readout_membranes():
    cfg, model = _model()
    x = jax.random.uniform(jax.random.key(0), (3, 8, 8, 1))
    out = _run(model, x)
    assert out.shape == (8, 3, 10)
    # by hand: rows -> Linear -> recurrent ALIF -> Linear -> LI
    rows = jnp.transpose(x[..., 0], (1, 0, 2))  # [T, B, W]: step t sees row t
    neuron = make_neuron(cfg.neuron)
    s = layers.RecurrentSpikingNeuron.run(
        model.neuron, neuron, layers.time_folded(model.fc_in, rows), key=None, unroll=1
    )
    expected = dynamics.run_neuron(LI(decay=cfg.readout_decay), layers.time_folded(model.fc_out, s))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    # the output at step t depends only on rows <= t
    x2 = x.at[:, 5:].set(0.0)
    np.testing.assert_allclose(_run(model, x2)[:5], out[:5], rtol=1e-6, atol=1e-6)


def test_parameter_counts_and_learnable_neuron_options():
    _, model = _model()
    assert models.num_params(model) == 8 * 16 + 16 + 16 * 16 + 16 * 10 + 10
    _, plain = _model(recurrent=False)
    assert models.num_params(plain) == 8 * 16 + 16 + 16 * 10 + 10
    cfg = recurrent.model_config(hidden=16)
    cfg.neuron.update(learnable_decay=True, learnable_threshold=True, per_channel=True)
    model = models.create(cfg, 10, (8, 8, 1), rngs=nnx.Rngs(0))
    assert model.neuron.decay_param.shape == model.neuron.threshold_param.shape == (16,)
    x = jax.random.uniform(jax.random.key(1), (4, 8, 8, 1))
    grads = nnx.grad(lambda m: _run(m, x).sum())(model)
    assert float(jnp.abs(grads["neuron"]["threshold_param"][...]).sum()) > 0


def test_errors():
    with pytest.raises(ConfigError, match="must equal the image height 8"):
        _model(num_steps=4)
    with pytest.raises(ConfigError, match="use 'direct'"):
        _model(encoding="rate")
    rcfg = resformer.model_config()  # a family whose neurons do not state their channel count
    rcfg.neuron.per_channel = True
    with pytest.raises(ConfigError, match="per_channel is not supported"):
        nnx.eval_shape(lambda: models.create(rcfg, 10, (32, 32, 3), rngs=nnx.Rngs(0)))


def test_lists_its_synapses_for_the_energy_estimate():
    _, model = _model()
    assert model.synapses == (
        ("fc_in", 8 * 8 * 16, "analog"),  # one row per step: T * W * hidden MACs
        ("neuron.recurrent", 16 * 16, "neuron"),
        ("fc_out", 16 * 10, "neuron"),
    )
    _, plain = _model(recurrent=False)
    assert [name for name, _, _ in plain.synapses] == ["fc_in", "fc_out"]
