"""The basic task's N-MNIST config (configs/basic_nmnist_conv.py) trains a few steps on a tiny synthetic
N-MNIST set through the event pipeline (time-window frames, denoised)."""

from __future__ import annotations

import numpy as np
import pytest

from snnjax import config as config_lib
from snnjax.data import testing
from snnjax.train import loop
from tests.data.dvs_configs import REPO


@pytest.mark.parametrize("order", ["", ":notebook"])
def test_basic_nmnist_conv_config_trains(order, tmp_path):
    testing.write_fake_nmnist(tmp_path / "nmnist", train=2, test=1)
    config = config_lib.load_config(str(REPO / "configs" / "basic_nmnist_conv.py") + order)
    assert (config.data.split_by, config.data.denoise_us, config.model.num_steps) == ("time", 10_000.0, 300)
    assert config.model.pool_first == (order == "")
    config.data.update(dir=str(tmp_path / "nmnist"), cache_dir=str(tmp_path / "cache"), prefetch=0)
    config.model.num_steps = 4  # frames follow the model's T
    config.train.update(batch_size=4, eval_batch_size=10, num_steps=2, log_every=1)
    results = loop.train_and_evaluate(config, str(tmp_path / "run"))
    assert results["dataset"] == "nmnist" and results["steps"] == 2 and results["params"] == 18254
    assert np.isfinite(results["test_loss"]) and 0.0 <= results["test_accuracy"] <= 1.0
