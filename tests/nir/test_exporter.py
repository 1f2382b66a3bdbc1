"""snnjax -> NIR: the exported basic MLP and conv SNN, loaded back, spike exactly as the originals, layer by
layer; layers NIR cannot express are one-line errors naming the layer."""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import models
from snnjax.analysis import monitor
from snnjax.errors import ConfigError
from snnjax.models import basic

nir = pytest.importorskip("nir")
import snnjax.nir as snnjax_nir  # noqa: E402

T = 6


def _mlp(**neuron):
    cfg = basic.model_config(
        "mlp", num_steps=T, hidden=(32, 24), readout="spikes", per_neuron_output_decay=True
    )
    cfg.neuron.learnable_decay = True
    cfg.neuron.lif.update({"decay": 0.8, "v_th": 0.4, "reset": "hard", **neuron})
    model = basic.SpikingMLP(cfg, 10, (6, 5, 2), rngs=nnx.Rngs(0))
    model.eval()
    return model


def _convnet(readout: str = "spikes"):
    cfg = basic.model_config("convnet", num_steps=T, channels=(4, 6), hidden=(16,), readout=readout)
    cfg.neuron.lif.update(decay=0.7, v_th=0.3, reset="hard")
    model = basic.SpikingConvNet(cfg, 10, (12, 10, 3), rngs=nnx.Rngs(1))
    keys = iter(jax.random.split(jax.random.key(2), 16))
    for norm in model.norms:  # running statistics far from the (0, 1) init, so the fold matters
        c = norm.mean.shape[0]
        norm.mean[...] = jax.random.normal(next(keys), (c,)) * 0.3
        norm.var[...] = jax.random.uniform(next(keys), (c,), minval=0.5, maxval=2.0)
        norm.scale[...] = jax.random.uniform(next(keys), (c,), minval=0.5, maxval=1.5)
        norm.bias[...] = jax.random.normal(next(keys), (c,)) * 0.2
    model.eval()
    return model


def _nchw_over_time(images: jax.Array) -> jax.Array:
    """Direct coding in NIR's layout: ``[B, H, W, C] -> [T, B, C, H, W]``."""
    x = jnp.transpose(images, (0, 3, 1, 2))
    return jnp.broadcast_to(x, (T, *x.shape))


def _loaded_spikes(net, rec) -> dict[str, jax.Array]:
    return {
        name: rec.spikes[f"layers.{i}.neuron"] for i, name in enumerate(net.names) if net.kinds[i] == "LIF"
    }


def test_mlp_round_trip_spikes_identically_in_every_layer(tmp_path):
    model = _mlp()
    # learnable decays: a per-layer one and snnTorch's per-neuron U[0, 1) output decays
    model.hidden_neurons[0].decay_param[...] = jnp.asarray(0.9)
    images = jax.random.uniform(jax.random.key(3), (8, 6, 5, 2), maxval=1.5)
    graph = snnjax_nir.export(model, images)
    snnjax_nir.write(tmp_path / "mlp.nir", graph)
    net = snnjax_nir.load(tmp_path / "mlp.nir")
    out, rec = monitor.record(model, images)
    out2, rec2 = monitor.record(net, _nchw_over_time(images))
    theirs = _loaded_spikes(net, rec2)
    assert list(theirs) == ["hidden_0_lif", "hidden_1_lif", "out_lif"]
    for ours, name in zip(("hidden_neurons.0", "hidden_neurons.1", "out_neuron"), theirs, strict=True):
        np.testing.assert_array_equal(rec.spikes[ours], theirs[name], err_msg=name)
        assert 0.02 < float(rec.spikes[ours].mean()) < 0.9, ours  # spiking, not silent or saturated
    np.testing.assert_array_equal(out, out2)
    decay = 1.0 - 1.0 / np.asarray(graph.nodes["out_lif"].tau)
    np.testing.assert_allclose(decay, np.clip(model.out_neuron.decay_param[...], 0, 1), rtol=1e-6)


def test_current_based_mlp_round_trip():
    cfg = basic.model_config("mlp", num_steps=T, hidden=(32,), readout="spikes")
    cfg.neuron.type = "cuba_lif"
    cfg.neuron.cuba_lif.update(decay=0.85, syn_decay=0.6, v_th=0.5)
    model = basic.SpikingMLP(cfg, 10, (6, 5, 2), rngs=nnx.Rngs(3))
    images = jax.random.uniform(jax.random.key(6), (8, 6, 5, 2), maxval=1.5)
    graph = snnjax_nir.export(model, images)
    assert [type(graph.nodes[n]).__name__ for n in ("hidden_0_lif", "out_lif")] == ["CubaLIF", "CubaLIF"]
    net = snnjax_nir.load(graph)
    out, rec = monitor.record(model, images)
    out2, rec2 = monitor.record(net, _nchw_over_time(images))
    np.testing.assert_array_equal(rec.spikes["hidden_neurons.0"], rec2.spikes["layers.3.neuron"])
    np.testing.assert_array_equal(out, out2)
    assert 0.02 < float(rec.spikes["hidden_neurons.0"].mean()) < 0.9 and float(out.mean()) > 0.02


@pytest.mark.parametrize("readout", ["spikes", "logits"])
def test_convnet_round_trip_spikes_identically_in_every_layer(readout):
    model = _convnet(readout)
    images = jax.random.uniform(jax.random.key(4), (5, 12, 10, 3), maxval=2.0)
    graph = snnjax_nir.export(model, images)
    net = snnjax_nir.load(graph)
    out, rec = monitor.record(model, images)
    out2, rec2 = monitor.record(net, _nchw_over_time(images))
    theirs = _loaded_spikes(net, rec2)
    pairs = [("neurons.0", "conv_0_lif"), ("neurons.1", "conv_1_lif"), ("hidden_neurons.0", "hidden_0_lif")]
    for ours, name in pairs:
        spikes = rec.spikes[ours]
        if spikes.ndim == 5:
            spikes = jnp.transpose(spikes, (0, 1, 4, 2, 3))
        np.testing.assert_array_equal(spikes, theirs[name], err_msg=name)
        assert 0.02 < float(spikes.mean()) < 0.9, ours
    if readout == "spikes":
        np.testing.assert_array_equal(out, out2)
    else:  # per-step logits: the same up to the float rounding of the folded BatchNorm
        np.testing.assert_allclose(out, out2, rtol=1e-5, atol=1e-5)


def test_graph_types_are_set_and_checked():
    graph = snnjax_nir.export(_convnet(), jnp.zeros((1, 12, 10, 3)))
    kinds = [type(graph.nodes[n]).__name__ for n in graph.nodes]
    assert kinds[:5] == ["Input", "Conv2d", "LIF", "SumPool2d", "Threshold"]
    assert kinds[-3:] == ["Affine", "LIF", "Output"]
    for name, node in graph.nodes.items():
        for types in (node.input_type, node.output_type):
            assert all(v is not None for v in types.values()), name
    assert list(graph.nodes["input"].input_type["input"]) == [3, 12, 10]
    assert list(graph.nodes["pool_1_any"].output_type["output"]) == [6, 3, 2]
    assert graph.check_types()
    assert graph.metadata["num_steps"] == T and graph.metadata["encoding"] == "direct"


def test_dt_sets_the_time_constants():
    model = _convnet()
    model.neurons[0].neuron = model.neurons[0].neuron.replace(decay=0.75)
    node = snnjax_nir.export(model, jnp.zeros((1, 12, 10, 3)), dt=1e-4).nodes["conv_0_lif"]
    np.testing.assert_allclose(node.tau, 4e-4, rtol=1e-6)  # dt / (1 - decay)
    np.testing.assert_allclose(node.r, 4.0, rtol=1e-6)  # tau / dt: unit input gain
    np.testing.assert_array_equal(node.v_leak, 0.0)
    np.testing.assert_array_equal(node.v_threshold, np.full((4, 12, 10), 0.3))  # the full layer shape


def _model(name: str, *overrides: str):
    from snnjax import config as config_lib
    from tests.train.conftest import REPO

    config = config_lib.load_config(str(REPO / "configs" / f"{name}.py"), list(overrides))
    return models.create(config.model, 10, (32, 32, 3), rngs=nnx.Rngs(0))


@pytest.mark.parametrize(
    ("config", "overrides", "message"),
    [
        ("msresnet_cifar", ("model.num_steps=2",), r"^layer gac: GAC attention has no NIR primitive$"),
        ("spide_cifar", (), r"^layer \S+: feedback network solved for its fixed point"),
        ("nsnn_cifar10_small", (), r"^layer \S+: the stochastic neuron NoisyLIF has no NIR primitive$"),
    ],
)
def test_inexpressible_layers_are_named(config, overrides, message):
    with pytest.raises(ConfigError, match=message):
        snnjax_nir.export(_model(config, *overrides), jnp.zeros((1, 32, 32, 3)))


def test_neurons_nir_cannot_express_are_named():
    with pytest.raises(ConfigError, match=r"^layer hidden_neurons.0: reset='soft_delayed' \(subtract"):
        snnjax_nir.export(_mlp(reset="soft_delayed"), jnp.zeros((1, 6, 5, 2)))
    with pytest.raises(ConfigError, match=r"^layer hidden_neurons.0: inclusive=True fires on v >= v_th"):
        snnjax_nir.export(_mlp(inclusive=True), jnp.zeros((1, 6, 5, 2)))
    cfg = basic.model_config("mlp", hidden=(8,))
    cfg.neuron.type = "shared_threshold"
    model = basic.SpikingMLP(cfg, 10, (4, 4, 1), rngs=nnx.Rngs(0))
    with pytest.raises(
        ConfigError, match=r"^layer hidden_neurons.0: the multi-threshold neuron \w+ has no NIR"
    ):
        snnjax_nir.export(model, jnp.zeros((1, 4, 4, 1)))


def test_no_reset_exports_as_leaky_integrator_and_threshold():
    model = _mlp(reset="none")
    images = jax.random.uniform(jax.random.key(5), (4, 6, 5, 2), maxval=1.5)
    graph = snnjax_nir.export(model, images)
    assert type(graph.nodes["hidden_0_lif"]).__name__ == "LI"
    assert type(graph.nodes["hidden_0_lif_threshold"]).__name__ == "Threshold"
    out = monitor.record(model, images)[0]  # (a bare call would sow its firing rates outside nnx.capture)
    np.testing.assert_array_equal(out, snnjax_nir.load(graph)(_nchw_over_time(images)))


def test_missing_nir_package_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(
        ConfigError, match=r"^NIR export/import needs the nir package: pip install 'snnjax\[nir\]'$"
    ):
        snnjax_nir.export(_mlp(), jnp.zeros((1, 6, 5, 2)))
