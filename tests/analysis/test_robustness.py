"""Robustness analysis: perturbation sizes, attacks that raise the loss, stochastic ensembles, reports."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import losses, models
from snnjax.analysis import robustness as rb
from snnjax.config import base_config
from snnjax.models import nsnn


def toynet(neuron: str = "noisy_lif", seed: int = 0):
    cfg = nsnn.model_config("nsnn_toynet", num_steps=3, hidden=32)
    cfg.neuron.type = neuron
    model = models.create(cfg, 4, (5, 5, 1), rngs=nnx.Rngs(params=seed, noise=seed + 1))
    model.eval()
    return model


def loss_fn(out, y):
    return losses.tet_loss(out, y)


@pytest.fixture
def batch():
    x = jax.random.uniform(jax.random.key(3), (16, 5, 5, 1), minval=0.0, maxval=3.0)
    y = jax.random.randint(jax.random.key(4), (16,), 0, 4)
    return x, y


def test_additive_and_multiplicative_noise_have_the_requested_std():
    x = jax.random.uniform(jax.random.key(0), (64, 32, 32, 1), minval=0.5, maxval=1.0)
    d = rb.additive_gaussian(x, jax.random.key(1), 0.2) - x
    assert abs(float(d.std()) - 0.2) < 0.005 and abs(float(d.mean())) < 0.005
    r = rb.multiplicative_gaussian(x, jax.random.key(2), 0.3) / x - 1.0
    assert abs(float(r.std()) - 0.3) < 0.005
    np.testing.assert_array_equal(rb.additive_gaussian(x, jax.random.key(1), 0.0), x)


def test_salt_and_pepper_hits_the_requested_fraction_of_pixels():
    x = jax.random.uniform(jax.random.key(0), (32, 32, 32, 3), minval=0.1, maxval=0.9)
    x = x.at[0, 0, 0].set(0.0).at[0, 0, 1].set(1.0)  # per-channel minimum 0 and maximum 1
    y = rb.salt_and_pepper(x, jax.random.key(1), 0.1)
    changed = np.asarray(jnp.any(y != x, axis=-1))
    assert abs(changed.mean() - 0.1) < 0.005
    np.testing.assert_array_equal(np.asarray(jnp.all(y != x, axis=-1)), changed)  # whole pixels
    values = np.asarray(y)[changed]
    assert set(np.unique(values)) <= {0.0, 1.0}
    salt = (values == 1.0).all(-1).mean()
    assert 0.45 < salt < 0.55


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25])
def test_flip_spikes_changes_exactly_the_requested_fraction(fraction):
    s = (jax.random.uniform(jax.random.key(0), (4, 6, 50)) < 0.3).astype(jnp.float32)  # [T, B, N]
    out = rb.flip_spikes(s, jax.random.key(1), fraction)
    assert out.shape == s.shape
    assert set(np.unique(np.asarray(out))) <= {0.0, 1.0}
    for b in range(6):
        before, after = np.asarray(s[:, b]), np.asarray(out[:, b])
        n_on = before.sum()
        n_off = before.size - n_on
        assert ((before == 1) & (after == 0)).sum() == round(fraction * n_on)
        assert ((before == 0) & (after == 1)).sum() == round(fraction * n_off)


def test_fgsm_and_iterative_fgsm_stay_in_budget_and_increase_the_loss(batch):
    x, y = batch
    for neuron in ("lif", "noisy_lif"):
        ev = rb.Evaluator(toynet(neuron), loss_fn)
        key = jax.random.key(7)  # the same noise draw for clean and attacked loss

        def grad_fn(z, ev=ev, key=key):
            return ev.grad(z, y, key, 1)

        adv = rb.fgsm(grad_fn, x, 0.3)
        np.testing.assert_allclose(float(jnp.abs(adv - x).max()), 0.3, rtol=1e-6)
        clean_loss = float(ev.loss(x, y, key))
        assert float(ev.loss(adv, y, key)) > clean_loss + 0.05, neuron
        it = rb.iterative_fgsm(grad_fn, x, 0.3, 4)
        assert float(jnp.abs(it - x).max()) <= 0.3 + 1e-6
        assert float(ev.loss(it, y, key)) > clean_loss + 0.05, neuron


def test_evaluation_is_stochastic_and_ensembles_reduce_variance(batch):
    x, _ = batch
    ev = rb.Evaluator(toynet("noisy_lif"), loss_fn)
    a, b = ev.forward(x, jax.random.key(0)), ev.forward(x, jax.random.key(1))
    assert not np.allclose(a, b)  # eval-mode model still samples noise
    np.testing.assert_array_equal(a, ev.forward(x, jax.random.key(0)))  # reproducible per key
    single = np.stack([ev.forward(x, jax.random.key(100 + i)) for i in range(12)])
    means = np.stack([ev.ensemble(x, jax.random.key(200 + i), 8)[0] for i in range(12)])
    ratio = means.var(axis=0).mean() / single.var(axis=0).mean()
    assert ratio < 0.3  # ~1/8 expected
    det = rb.Evaluator(toynet("lif"), loss_fn)
    np.testing.assert_array_equal(det.forward(x, jax.random.key(0)), det.forward(x, jax.random.key(1)))


def test_sweep_and_reports(tmp_path, batch):
    x, y = batch
    model = toynet("noisy_lif")
    cfg = rb.robustness_config(
        gaussian=(0.0, 5.0),
        multiplicative=(0.5,),
        salt_pepper=(0.2,),
        fgsm=(0.5,),
        ifgsm=(0.5,),
        spike_flip=(0.0, 0.5),
        ifgsm_steps=2,
        repeats=2,
    )
    batches = [{"image": x, "label": y, "mask": jnp.ones(16)}]
    rows = rb.sweep(model, loss_fn, batches, cfg, jax.random.key(0))
    assert [r["perturbation"] for r in rows] == [
        "gaussian",
        "gaussian",
        "multiplicative",
        "salt_pepper",
        "fgsm",
        "ifgsm",
        "spike_flip",
        "spike_flip",
    ]
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["examples"] == 16 for r in rows)
    assert all(layer.perturb is None for layer in nsnn.perturbable_layers(model))  # hook removed again
    paths = rb.write_reports(rows, str(tmp_path), {"model": "toy", "neuron": "noisy", "repeats": 2})
    for path in paths.values():
        assert os.path.getsize(path) > 0
    with open(paths["md"]) as f:
        assert "| spike_flip | 0.5 |" in f.read()


def test_spike_flip_hook_changes_the_output(batch):
    x, _ = batch
    model = toynet("lif")
    clean = rb.Evaluator(model, loss_fn).forward(x, jax.random.key(0))
    assert rb.set_spike_perturbation(model, rb.SpikeFlip(0.5)) == 1
    flipped = rb.Evaluator(model, loss_fn).forward(x, jax.random.key(0))
    rb.set_spike_perturbation(model, None)
    assert not np.allclose(clean, flipped)
    np.testing.assert_array_equal(clean, rb.Evaluator(model, loss_fn).forward(x, jax.random.key(0)))


def test_run_mode_on_a_trained_workdir(tmp_path):
    from snnjax.train import loop

    config = base_config()
    config.data.name = "digits"
    config.model = nsnn.model_config("nsnn_toynet", num_steps=2, hidden=16)
    config.model.neuron.noisy_lif.update(decay=0.5, noise="uniform(a=0.3)")
    config.loss.update(name="tet")
    config.train.update(batch_size=64, eval_batch_size=180, num_steps=20, log_every=10, eval_every_epochs=100)
    config.robustness = rb.robustness_config(
        perturbations=("fgsm", "spike_flip"),
        fgsm=(0.0, 0.5),
        spike_flip=(0.3,),
        repeats=2,
        num_examples=180,
    )
    loop.train_and_evaluate(config, str(tmp_path))
    out = rb.run_mode(config, str(tmp_path), "latest")
    assert out["neuron"] == "noisy_lif/uniform/0.3" and out["step"] == 20
    assert set(out["accuracy"]) == {"fgsm", "spike_flip"}
    acc = out["accuracy"]["fgsm"]
    assert acc["0.5"] < acc["0"]  # a large FGSM budget hurts
    for path in out["files"].values():
        assert os.path.exists(path)


def test_spike_hook_off_leaves_the_program_unchanged(batch):
    x, _ = batch
    model = toynet("lif")
    graph, state = nnx.split(model)
    forward = lambda st, x: nnx.capture(nnx.merge(graph, st))(x)
    before = jax.jit(forward).lower(state, x).as_text()
    rb.Evaluator(model, loss_fn, spike_flip=True).forward(x, jax.random.key(0), 0.3)
    assert jax.jit(forward).lower(state, x).as_text() == before


def test_flip_hook_reaches_every_spiking_neuron_layer(batch):
    from snnjax.models import basic

    x, y = batch
    cfg = basic.model_config("mlp", num_steps=3, hidden=(8, 8))
    model = models.create(cfg, 4, (5, 5, 1), rngs=nnx.Rngs(0))
    model.eval()
    assert rb.unsupported(model, loss_fn, x, y, list(rb.PERTURBATIONS)) == {}
    ev = rb.Evaluator(model, loss_fn, spike_flip=True)
    clean, flipped = ev.forward(x, jax.random.key(0), 0.0), ev.forward(x, jax.random.key(0), 0.5)
    np.testing.assert_array_equal(clean, rb.Evaluator(model, loss_fn).forward(x, jax.random.key(0)))
    assert not np.allclose(clean, flipped)


def test_compare_draws_one_axis_per_family(tmp_path):
    from snnjax.analysis import robustness_compare, robustness_plot

    rows = [{"perturbation": k, "strength": s, "accuracy": 0.5, "single_pass_accuracy": 0.5}
            for k in ("gaussian", "fgsm", "ifgsm") for s in (0.0, 0.1)]  # fmt: skip
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "robustness.json").write_text(
            __import__("json").dumps({"model": name, "neuron": "lif", "rows": rows})
        )
    out = tmp_path / "fig.png"
    assert robustness_compare.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    fig = robustness_plot.plot_curves({"a": rows, "b": rows})
    assert [ax.get_title() for ax in fig.axes] == ["noise", "gradient"]
    assert len(fig.axes[1].get_lines()) == 4  # two workdirs x (fgsm, ifgsm)
    assert robustness_compare.main([str(tmp_path / "missing"), "--out", str(out)]) == 1


# family -> sweeps skipped (SPIDE's spiking layers run inside the implicit solver, not SpikingNeuron layers)
MODE_FAMILIES = {
    "quickstart": set(),
    "basic_mnist_conv": set(),
    "msresnet_cifar_small": set(),
    "nsnn_fmnist_small": set(),
    "spikingmix_fmnist_small": set(),
    "spide_mnist_lenet": {"spike_flip"},
}
SLOW_FAMILIES = {"msresnet_cifar_small", "spikingmix_fmnist_small", "spide_mnist_lenet"}


@pytest.mark.parametrize(
    "family",
    [pytest.param(f, marks=pytest.mark.slow) if f in SLOW_FAMILIES else f for f in MODE_FAMILIES],
)
def test_robustness_mode_on_every_family(family, trained_workdirs, monkeypatch, capsys):
    import json

    from etils import epath

    from snnjax import main
    from tests.analysis.conftest import family_config

    workdir = trained_workdirs(family)
    config = family_config(family)
    with config.unlocked():
        config.robustness = rb.robustness_config(
            gaussian=(0.0, 0.5), multiplicative=(0.5,), salt_pepper=(0.2,), fgsm=(0.1,), ifgsm=(0.1,),
            spike_flip=(0.2,), ifgsm_steps=2, repeats=1, num_examples=16,
        )  # fmt: skip
    seen = []  # the families in robustness.json after each sweep
    write = rb.write_reports

    def spy(rows, wd, meta, skipped=None):
        paths = write(rows, wd, meta, skipped)
        rows_so_far = json.loads(epath.Path(paths["json"]).read_text())["rows"]
        seen.append(sorted({r["perturbation"] for r in rows_so_far}))
        return paths

    monkeypatch.setattr(rb, "write_reports", spy)
    out = main.run(config, workdir, "robustness")
    expected_skip = MODE_FAMILIES[family]
    assert set(out["skipped"]) == expected_skip
    for kind in expected_skip:
        assert f"skipping {kind}" in capsys.readouterr().err
    ran = [k for k in rb.PERTURBATIONS if k not in expected_skip]
    assert set(out["accuracy"]) == set(ran)
    assert seen[0] == [] and seen[1:-1] == [sorted(ran[: i + 1]) for i in range(len(ran))]
    report = json.loads(epath.Path(out["files"]["json"]).read_text())
    assert report["complete"] and set(report["skipped"]) == expected_skip
    from snnjax.analysis import robustness_plot

    assert len(robustness_plot.families_in(report["rows"])) == (3 if "spike_flip" in expected_skip else 4)
