"""NSNN's DVS-CIFAR10 VGG config (configs/nsnn_dvs_cifar10_vgg.py) trains a few steps on a tiny synthetic
CIFAR10-DVS set through the event pipeline (``[B, T, H, W, 2]`` frames)."""

from __future__ import annotations

import pytest

from snnjax.train import loop
from tests.data.dvs_configs import c10dvs, check, load_config, shrink

__all__ = ["c10dvs"]  # the module-scoped data fixture


@pytest.mark.slow
def test_nsnn_dvs_cifar10_vgg_config_trains(c10dvs, tmp_path):
    config = load_config("nsnn_dvs_cifar10_vgg")
    assert (config.data.flip, config.data.roll, config.model.num_steps) == (True, 5, 10)
    shrink(config, c10dvs)
    config.model.width = 8  # VGG channels / 8: a compile-time-sized test of the real config
    check(loop.train_and_evaluate(config, str(tmp_path)), tmp_path)
