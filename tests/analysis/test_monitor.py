"""Spike monitors: recorded trains equal the layers' outputs, statistics by hand, no cost when off."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import layers, neurons
from snnjax.analysis import monitor, spikeplot

T, B, F = 5, 3, 4


class TwoLayer(nnx.Module):
    def __init__(self):
        self.lin = nnx.Linear(F, F, rngs=nnx.Rngs(0))
        self.lif1 = layers.SpikingNeuron(neurons.LIF(decay=0.5))
        self.lif2 = layers.SpikingNeuron(neurons.LIF(decay=0.9, v_th=0.5))

    def __call__(self, x):  # x [T, B, F]
        s1 = self.lif1(x)
        return self.lif2(layers.time_folded(self.lin, s1)).sum(0)


@pytest.fixture
def data():
    return jax.random.uniform(jax.random.key(1), (T, B, F), maxval=1.5)


def test_recorded_spikes_and_membrane_are_the_layers_own(data):
    model = TwoLayer()
    out, rec = monitor.record(model, data, membrane=True)
    np.testing.assert_array_equal(out, model(data))
    assert set(rec.spikes) == {"lif1", "lif2"} and set(rec.membrane) == {"lif1", "lif2"}
    np.testing.assert_array_equal(rec.spikes["lif1"], model.lif1(data))
    # membrane after a hard reset, computed by hand for layer 1
    v, trace = np.zeros((B, F)), []
    for t in range(T):
        h = 0.5 * v + np.asarray(data[t])
        s = h > 1.0
        v = np.where(s, 0.0, h)
        trace.append(v)
    np.testing.assert_allclose(rec.membrane["lif1"], np.stack(trace), rtol=1e-6)
    assert not nnx.state(model, layers.Recorded)  # nothing left on the model


def test_samples_bound_the_recording_and_jit_works(data):
    model = TwoLayer()
    _, rec = nnx.jit(lambda m, x: monitor.record(m, x, samples=2))(model, data)
    assert rec.spikes["lif1"].shape == (T, 2, F) and rec.membrane == {}


def test_statistics_by_hand():
    s = np.zeros((4, 2, 3), np.float32)  # [T, b, neurons]
    s[:, :, 0] = 1  # neuron 0 always fires: saturated
    s[1, 0, 1] = 1  # neuron 1 fires once; neuron 2 never: silent
    rec = monitor.Recording({"l": jnp.asarray(s)}, {})
    assert float(monitor.layer_rates(rec)["l"]) == pytest.approx(9 / 24)
    np.testing.assert_allclose(monitor.rate_over_time(rec)["l"], [2 / 6, 3 / 6, 2 / 6, 2 / 6])
    assert float(monitor.silent_fraction(rec)["l"]) == pytest.approx(1 / 3)
    assert float(monitor.saturated_fraction(rec)["l"]) == pytest.approx(1 / 3)
    table = monitor.summary(rec)["l"]
    assert table["shape"] == [4, 2, 3] and table["firing_rate"] == pytest.approx(0.375)


def test_off_the_program_is_unchanged(data):
    model = TwoLayer()
    graph, state = nnx.split(model)

    def forward(state, x):
        return nnx.merge(graph, state)(x)

    before = jax.jit(forward).lower(state, data).as_text()
    monitor.record(model, data, membrane=True)
    after = jax.jit(forward).lower(state, data).as_text()
    assert before == after
    recording = jax.jit(lambda st, x: monitor.record(nnx.merge(graph, st), x)[1]).lower(state, data).as_text()
    assert recording != before  # recording does change what is computed


def test_plots_draw(data):
    model = TwoLayer()
    _, rec = monitor.record(model, data, membrane=True)
    figures = [
        spikeplot.raster(rec, "lif1"),
        spikeplot.rate_bars(rec),
        spikeplot.rate_heatmap(rec),
        spikeplot.membrane_trace(rec, "lif1", v_th=1.0),
        spikeplot.rate_histogram(rec, "lif2"),
    ]
    for fig in figures:
        assert fig.axes and fig.axes[0].has_data()


# One reduced config per model family whose neurons are SpikingNeuron layers.
FAMILIES = {
    "configs/quickstart.py": [],  # basic MLP
    "configs/basic_mnist_conv.py": [],  # basic conv net
    "configs/msresnet_cifar_small.py": [],  # GAC + MS-ResNet
    "configs/nsnn_fmnist_small.py": [],  # NSNN noisy LIF (toy net: one hidden layer)
    "configs/nsnn_cifar10_small.py": [],  # NSNN conv net
    "configs/spikingmix_fmnist_small.py": [],  # SpikingResformer with the Spiking-Mix neuron
    "configs/basic_mnist_hybrid.py": [],  # the hybrid-plasticity net: its own dynamics, a SpikeProbe
    "configs/basic_mnist_hybrid.py:intended": [],
}


@pytest.mark.parametrize("spec", list(FAMILIES))
def test_every_family_records(spec):
    from snnjax import config as config_lib
    from snnjax import data, models

    cfg = config_lib.load_config(spec, FAMILIES[spec])
    num_classes, shape = data.input_info(cfg.data)
    rngs = nnx.Rngs(params=0, noise=1, dropout=2, encoding=3)
    model = models.create(cfg.model, num_classes, shape, rngs=rngs)
    model.eval()
    x = jax.random.uniform(jax.random.key(0), (2, *shape))
    _, rec = monitor.record(model, x, membrane=True)
    assert rec.spikes and rec.membrane.keys() == rec.spikes.keys()
    steps = int(cfg.model.num_steps)
    for name, s in rec.spikes.items():
        assert s.shape[:2] == (steps, 2), name
        assert rec.membrane[name].shape == s.shape
    table = monitor.summary(rec)
    assert all(0.0 <= v["firing_rate"] <= 1.0 for v in table.values()) or "spikingmix" in spec


def test_monitor_mode_writes_the_report(tmp_path):
    import json

    from snnjax import main
    from snnjax.train import loop
    from tests.train.test_loop import quick_config

    config = quick_config()
    loop.train_and_evaluate(config, tmp_path)
    result = main.run(config, str(tmp_path), "monitor")
    report = tmp_path / "monitor"
    names = {"monitor.json", "rates.csv", "rates.png", "rate_over_time.png", "raster.png", "membrane.png",
             "rate_histogram.png"}  # fmt: skip
    assert names <= {p.name for p in report.iterdir()}
    table = json.loads((report / "monitor.json").read_text())
    assert list(table) == ["hidden_neurons.0"] and table["hidden_neurons.0"]["shape"][1] == 8
    layer = table["hidden_neurons.0"]
    assert result["firing_rates"]["hidden_neurons.0"] == pytest.approx(layer["firing_rate"])
    lines = (report / "rates.csv").read_text().splitlines()
    assert lines[0] == "layer,step,firing_rate" and len(lines) == 1 + layer["shape"][0]
