"""SpikingResformer's event-data config (configs/spikingresformer_dvs.py): both recipes' settings, and
the Gesture recipe trains a few steps on a tiny synthetic DVS128 Gesture set through the event pipeline,
its backbone shrunk to the ``custom`` preset (the real variants' parameter counts: tests/test_configs.py)."""

from __future__ import annotations

import numpy as np
import pytest

from snnjax import config as config_lib
from snnjax.data import testing
from snnjax.train import loop
from tests.data.dvs_configs import REPO


def _load(arg: str = ""):
    return config_lib.load_config(str(REPO / "configs" / "spikingresformer_dvs.py") + arg)


def _small_backbone(config) -> None:
    config.model.update(variant="custom", planes=(8, 16, 16), num_heads=(1, 2, 2), depths=(1, 1, 1),
                        group_size=8, stem="cifar")  # fmt: skip


def test_recipes():
    c10, gesture = _load(), _load(":gesture")
    for config in (c10, gesture):
        assert (config.data.num_frames, config.data.frame_size, config.data.split_by) == (16, 64, "number")
        assert config.model.sum_channel and config.model.num_steps == 16 and config.mix.name == "none"
        assert config.data.flip and config.data.nda and config.data.roll == 0 and not config.optim.decay_1d
        assert (config.optim.name, config.optim.weight_decay, config.train.batch_size) == ("adamw", 0.05, 8)
        assert config.optim.learning_rate * config.optim.warmup_init == pytest.approx(1e-5)
    assert (c10.data.name, c10.model.variant, c10.optim.learning_rate) == ("cifar10_dvs", "cifar", 5e-4)
    assert (gesture.data.name, gesture.model.variant, gesture.optim.learning_rate) == (
        "dvs128_gesture", "dvsg", 1e-4,
    )  # fmt: skip
    assert (c10.optim.warmup_steps, gesture.optim.warmup_steps) == (3 * 1125, 3 * 147)


@pytest.mark.slow
def test_gesture_recipe_trains(tmp_path):
    testing.write_fake_dvs_gesture(tmp_path / "data")
    config = _load(":gesture")
    config.data.update(
        dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), frame_size=16, prefetch=0
    )
    config.data.num_frames = 0  # follow the model's T
    config.model.num_steps = 2
    _small_backbone(config)
    config.train.update(batch_size=2, eval_batch_size=3, num_steps=2, log_every=1)
    results = loop.train_and_evaluate(config, str(tmp_path / "run"))
    assert results["dataset"] == "dvs128_gesture" and results["steps"] == 2
    assert np.isfinite(results["test_loss"]) and 0.0 <= results["test_accuracy"] <= 1.0
