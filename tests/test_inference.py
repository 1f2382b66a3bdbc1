"""snnjax.load + snnjax.predict: a trained workdir from Python reproduces the evaluation accuracy."""

from __future__ import annotations

import json

import chex
import numpy as np
import pytest
from flax import nnx

import snnjax
from snnjax.data import builders
from snnjax.errors import CheckpointError, ConfigError
from tests.analysis.conftest import family_config, trained_workdirs  # noqa: F401  (fixture)
from tests.train.conftest import REPO


def _test_split(config) -> tuple[np.ndarray, np.ndarray]:
    """The raw test split: uint8 images [N, H, W, C] and labels [N]."""
    source = builders.open_split(config.data, "test")
    records = [source[i] for i in range(len(source))]
    return np.stack([r["image"] for r in records]), np.asarray([int(r["label"]) for r in records])


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    from snnjax.train import loop

    config = snnjax.config.load_config(
        str(REPO / "configs" / "quickstart.py"), ["train.num_epochs=3", "train.eval_every_epochs=1.0"]
    )
    workdir = tmp_path_factory.mktemp("quickstart")
    loop.train_and_evaluate(config, str(workdir))
    return workdir


def test_load_and_predict_reproduce_the_eval_accuracy(quickstart):
    results = json.loads((quickstart / "results.json").read_text())
    model, config = snnjax.load(quickstart)
    assert config.model.hidden == (256,) and config.data.name == "digits"  # tuples survive config.json
    images, labels = _test_split(config)
    scores = snnjax.predict(model, images, config)
    assert scores.shape == (len(labels), 10)
    accuracy = float(np.mean(np.asarray(scores).argmax(-1) == labels))
    assert accuracy == pytest.approx(results["test_accuracy"], abs=1e-9)
    assert 0.5 < accuracy < 1.0  # trained, and not a constant


def test_best_checkpoint_and_explicit_config(quickstart):
    best = max(r["test_accuracy"] for r in map(json.loads, (quickstart / "metrics.jsonl").open())
               if "test_accuracy" in r)  # fmt: skip
    model, config = snnjax.load(quickstart, "best", config=snnjax.inference.read_config(quickstart))
    images, labels = _test_split(config)
    scores = np.asarray(snnjax.predict(model, images, config))
    assert float(np.mean(scores.argmax(-1) == labels)) == pytest.approx(best, abs=1e-9)


def test_load_restores_what_training_saved(quickstart):
    from snnjax.train import loop

    model, config = snnjax.load(quickstart)
    run, meta = loop.restore_trained(config, quickstart)  # the CLI's path, with the data pipeline
    chex.assert_trees_all_close(nnx.state(model, nnx.Param), nnx.state(run.steps.model(), nnx.Param))
    assert meta["step"] == json.loads((quickstart / "results.json").read_text())["steps"]


def test_load_errors(quickstart, tmp_path):
    with pytest.raises(CheckpointError, match="not a trained workdir"):
        snnjax.load(tmp_path)
    with pytest.raises(ConfigError, match="'latest' or 'best'"):
        snnjax.load(quickstart, "newest")
    other = snnjax.inference.read_config(quickstart).copy_and_resolve_references()
    other.unlock()
    other.model.hidden = (32,)
    with pytest.raises(CheckpointError, match="different model"):
        snnjax.load(quickstart, config=other)
    model, config = snnjax.load(quickstart)
    with pytest.raises(ConfigError, match="uint8"):
        snnjax.predict(model, np.zeros((2, 8, 8, 1), np.float32), config)
    with pytest.raises(ConfigError, match="the model takes"):
        snnjax.predict(model, np.zeros((2, 9, 9, 1), np.uint8), config)


@pytest.mark.parametrize("family", ["nsnn_fmnist_small", "msresnet_cifar_small", "spide_mnist_lenet"])
def test_every_family_loads_and_predicts(trained_workdirs, family):  # noqa: F811
    model, config = snnjax.load(trained_workdirs(family))
    images, _ = _test_split(config)
    scores = np.asarray(snnjax.predict(model, images[:8], config))
    assert scores.shape == (8, 10) and np.isfinite(scores).all()


def test_a_workdir_of_an_older_snnjax_loads(quickstart, tmp_path):
    """A config.json written before later keys existed (here: the neuron layer options, the compute dtype
    and the eval section) loads with those keys at their defaults and predicts as before."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(quickstart, old)
    stored = json.loads((old / "config.json").read_text())
    for key in ("learnable_threshold", "per_channel", "alif", "cuba_lif"):
        del stored["model"]["neuron"][key]
    del stored["model"]["dtype"], stored["eval"]
    (old / "config.json").write_text(json.dumps(stored))
    model, config = snnjax.load(old)
    assert config.model.neuron.per_channel is False and config.eval.ensemble == 1
    images, _ = _test_split(config)
    reference, _ = snnjax.load(quickstart)
    np.testing.assert_array_equal(
        snnjax.predict(model, images[:16], config), snnjax.predict(reference, images[:16], config)
    )
