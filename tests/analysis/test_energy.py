"""Energy estimate: the arithmetic of the 45 nm convention, firing-rate measurement per neuron layer,
and ``--mode=energy`` on a tiny trained MS-ResNet workdir."""

import json

import jax
import numpy as np
import pytest
from flax import nnx

from snnjax import models
from snnjax.analysis import energy
from snnjax.config import base_config
from snnjax.models.msresnet import model_config


def test_energy_table_arithmetic():
    synapses = [("stem", 1000, "analog"), ("conv", 2000, "a"), ("fc", 50, "b")]
    table = energy.energy_table(synapses, {"a": 0.1, "b": 0.5}, num_steps=4)
    assert table["macs"] == 1000 and table["sops"] == pytest.approx(4 * 0.1 * 2000 + 4 * 0.5 * 50)
    assert table["energy_mj"] == pytest.approx((4.6 * 1000 + 0.9 * 900) * 1e-9)
    assert table["ann_equivalent_mj"] == pytest.approx(4.6 * 3050 * 1e-9)
    assert [r["rate"] for r in table["layers"]] == [None, 0.1, 0.5]
    assert sum(r["energy_mj"] for r in table["layers"]) == pytest.approx(table["energy_mj"])
    with pytest.raises(KeyError, match="'c'"):
        energy.energy_table([("x", 1, "c")], {}, 2)


def _tiny_cfg():
    return model_config("cifar", 18, num_steps=2, stem_width=4, widths=(4, 8), blocks=(1, 1))


def test_measure_rates_covers_every_synapse_source():
    model = models.create(_tiny_cfg(), 3, (8, 8, 1), rngs=nnx.Rngs(0))
    model.eval()
    x = 4.0 * jax.random.normal(jax.random.key(0), (6, 8, 8, 1))
    batch = {"image": np.asarray(x), "mask": np.ones(6, bool)}
    once = energy.measure_rates(model, [batch])
    twice = energy.measure_rates(model, [batch, batch])
    sources = {s for _, _, s in model.synapses if s != "analog"}
    assert sources <= set(once) and "encode_lif" in once
    assert all(0.0 <= v <= 1.0 for v in once.values()) and max(once.values()) > 0
    assert once == pytest.approx(twice)
    # the encoding layer's rate is the mean spike of LIF(stem(x)) over T, B, H, W, C
    z = model.stem(x.astype(np.float32))
    s = nnx.capture(model.encode_lif)(np.broadcast_to(z[None], (2, *z.shape)))
    assert once["encode_lif"] == pytest.approx(float(s.mean()), rel=1e-5)


def test_energy_mode_on_trained_workdir(tmp_path):
    from snnjax.train import loop

    config = base_config()
    config.data.name = "digits"
    config.model = _tiny_cfg()
    config.train.update(batch_size=32, eval_batch_size=360, num_steps=2, log_every=1)
    loop.train_and_evaluate(config, str(tmp_path))
    out = energy.run_mode(config, str(tmp_path), "latest")
    assert out["step"] == 2 and out["energy_mj"] > 0 and out["num_steps"] == 2
    saved = json.loads((tmp_path / "energy.json").read_text())
    assert saved["energy_mj"] == pytest.approx(out["energy_mj"])
    rows = [ln for ln in (tmp_path / "energy.md").read_text().splitlines() if ln.startswith("| blocks.")]
    assert len(rows) == 5  # conv1 and conv2 of two blocks + one shortcut conv


def test_traced_synapses_of_a_small_conv_net_by_hand():
    from snnjax.analysis import synapses
    from snnjax.models import basic

    cfg = basic.model_config("convnet", num_steps=2, channels=(4, 8), hidden=(16,))
    model = models.create(cfg, 10, (8, 8, 1), rngs=nnx.Rngs(0))
    model.eval()
    rows = synapses.trace_synapses(model, np.zeros((2, 8, 8, 1), np.float32), 2)
    assert rows == [
        ("convs.0", 8 * 8 * 3 * 3 * 1 * 4, "analog"),  # stem on the static image: 8x8 out, 3x3x1 -> 4, once
        ("convs.1", 4 * 4 * 3 * 3 * 4 * 8, "neurons.0"),  # after the 2x2 pool: 4x4 out, 3x3x4 -> 8, per step
        ("hidden.0", 2 * 2 * 8 * 16, "neurons.1"),  # flattened 2x2x8 -> 16
        ("out", 16 * 10, "hidden_neurons.0"),
    ]


def test_chunked_remat_conv_net_traces_like_the_plain_one():
    """Analyses run a remat conv net on its plain path (same values), so its layers keep their sources."""
    from snnjax.analysis import monitor, synapses
    from snnjax.models import basic

    x = jax.random.uniform(jax.random.key(0), (2, 8, 8, 1))
    rows, rates = [], []
    for remat in (False, True):
        cfg = basic.model_config("convnet", num_steps=4, remat=remat, channels=(4, 8), hidden=(16,))
        model = models.create(cfg, 10, (8, 8, 1), rngs=nnx.Rngs(0))
        model.eval()
        rows.append(synapses.trace_synapses(model, x, 4))
        rates.append(monitor.layer_rates(monitor.record(model, x)[1]))
    assert rows[1] == rows[0] and [s for _, _, s in rows[1]] == [
        "analog",
        "neurons.0",
        "neurons.1",
        "hidden_neurons.0",
    ]
    assert rates[1].keys() == rates[0].keys() and all(
        float(rates[1][k]) == float(rates[0][k]) for k in rates[0]
    )


def test_energy_mode_on_the_hybrid_plasticity_net(trained_workdirs):
    """Its only synapse layer sees the analog image (MACs); its spikes feed nothing, but are measured."""
    from snnjax import main
    from tests.analysis.conftest import family_config

    workdir = trained_workdirs("basic_mnist_hybrid")
    out = main.run(family_config("basic_mnist_hybrid"), workdir, "energy")
    saved = json.loads(open(f"{workdir}/energy.json").read())  # noqa: SIM115
    assert [(r["name"], r["source"], r["macs"]) for r in saved["layers"]] == [("linear", "analog", 64 * 10)]
    assert out["energy_mj"] == pytest.approx(64 * 10 * energy.E_MAC_PJ * 1e-9) and out["sops"] == 0
    assert list(saved["firing_rates"]) == ["neuron"] and 0.0 <= saved["firing_rates"]["neuron"] <= 1.0


def test_attention_products_count_at_the_rate_of_their_spiking_operand():
    from snnjax.analysis import synapses
    from snnjax.models import resformer

    cfg = resformer.model_config("custom", num_steps=2, planes=(8,), num_heads=(1,), patch_sizes=(1,),
                                 depths=(1,), stem="cifar", group_size=8)  # fmt: skip
    model = models.create(cfg, 3, (4, 4, 1), rngs=nnx.Rngs(0))
    model.eval()
    rows = {(n, s): m for n, m, s in synapses.trace_synapses(model, np.zeros((2, 4, 4, 1), np.float32), 2)}
    # y1^T s: [16 tokens, 8] x [8, 16 positions]: 16 * 16 * 8 MACs per step, fed by the input spikes
    assert rows[("matmul(analog, blocks.0.act_in)", "blocks.0.act_in")] == 16 * 16 * 8
    # y2 A: [16, 8] values x [16, 16] attention spikes: 16 * 8 * 16
    assert rows[("matmul(blocks.0.act_attn, analog)", "blocks.0.act_attn")] == 16 * 8 * 16
    assert rows[("head", "analog")] == 2 * 8 * 3  # the head sees the real-valued residual stream, T steps
    assert rows[("blocks.1.conv.conv", "blocks.1.act_conv")] == 4 * 4 * 3 * 3 * (32 // 4) * 32  # 4 groups


ENERGY_SLOW = ("msresnet_cifar_small", "spikingmix_fmnist_small", "spide_mnist_lenet")
ENERGY_FAMILIES = ("quickstart", "basic_mnist_conv", "msresnet_cifar_small", "nsnn_fmnist_small",
                   "spikingmix_fmnist_small", "spide_mnist_lenet")  # fmt: skip


@pytest.mark.parametrize(
    "family",
    [pytest.param(f, marks=pytest.mark.slow) if f in ENERGY_SLOW
     else f for f in ENERGY_FAMILIES],
)  # fmt: skip
def test_energy_mode_on_every_family(family, trained_workdirs):
    from snnjax import main
    from tests.analysis.conftest import family_config

    workdir = trained_workdirs(family)
    out = main.run(family_config(family), workdir, "energy")
    assert out["energy_mj"] > 0
    saved = json.loads(open(f"{workdir}/energy.json").read())  # noqa: SIM115
    spiking = [r for r in saved["layers"] if r["source"] != "analog"]
    assert spiking and all(r["rate"] >= 0.0 for r in spiking)
    assert saved["macs"] > 0  # the first, real-valued layer


def test_feedback_synapses_by_hand():
    from tests.analysis.conftest import family_config

    cfg = family_config("spide_mnist_lenet")
    net = models.create(cfg.model, 10, (8, 8, 1), rngs=nnx.Rngs(params=0, noise=1, dropout=2))
    assert net.synapses == (
        ("inp", 8 * 8 * 5 * 5 * 1 * 15, "analog"),  # Conv5 1 -> 15 on the 8x8 image, once
        ("layers.0", 4 * 4 * 4 * 15, "spikes.0"),  # 2x2 average pool: 4 accumulates per output
        ("layers.1", 4 * 4 * 5 * 5 * 15 * 40, "spikes.1"),  # Conv5 15 -> 40 on 4x4
        ("layers.2", 4 * 2 * 2 * 40, "spikes.2"),
        ("layers.3", 2 * 2 * 40 * 300, "spikes.3"),  # FC 160 -> 300
        ("readout", 300 * 10, "analog"),
    )
