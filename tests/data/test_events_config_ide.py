"""IDE's N-MNIST F64C5 config (configs/ide_nmnist_conv.py) trains a few steps on a tiny synthetic N-MNIST set
through the event pipeline, with its input BatchNorm on event frames."""

from __future__ import annotations

import numpy as np
import pytest

from snnjax import config as config_lib
from snnjax.data import testing
from snnjax.train import loop
from tests.data.dvs_configs import REPO


@pytest.mark.slow
@pytest.mark.parametrize("neuron", ["", ":if"])
def test_ide_nmnist_conv_config_trains(neuron, tmp_path):
    testing.write_fake_nmnist(tmp_path / "nmnist", train=2, test=1)
    config = config_lib.load_config(str(REPO / "configs" / "ide_nmnist_conv.py") + neuron)
    assert (config.model.name, config.model.encoding, config.model.num_steps) == (
        "ide_nmnist_convf64",
        "events",
        30,
    )
    assert config.model.leak == (1.0 if neuron else 0.95) and config.model.solver == "fixed_point"
    config.data.update(dir=str(tmp_path / "nmnist"), cache_dir=str(tmp_path / "cache"), prefetch=0)
    config.model.update(num_steps=4, widths=(4,))
    config.train.update(batch_size=4, eval_batch_size=10, num_steps=2, log_every=1)
    results = loop.train_and_evaluate(config, str(tmp_path / "run"))
    assert results["dataset"] == "nmnist" and results["steps"] == 2
    assert np.isfinite(results["test_loss"]) and 0.0 <= results["test_accuracy"] <= 1.0
