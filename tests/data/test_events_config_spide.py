"""SPIDE's CIFAR10-DVS ConvNet-F config (configs/spide_dvs_cifar_convnetf.py) trains a few steps on a tiny
synthetic CIFAR10-DVS set through the event pipeline (one frame per SNN time step)."""

from __future__ import annotations

from snnjax.train import loop
from tests.data.dvs_configs import c10dvs, check, load_config, shrink

__all__ = ["c10dvs"]  # the module-scoped data fixture


def test_spide_dvs_cifar_convnetf_config_trains(c10dvs, tmp_path):
    config = load_config("spide_dvs_cifar_convnetf")
    assert config.data.crop_padding == 4
    shrink(config, c10dvs)
    assert config.model.name == "spide_dvs_convnetf" and config.model.num_steps == 2
    config.model.update(widths=(8,), backward_steps=4, norm_samples=4)  # 8 channels, T_b = 4
    check(loop.train_and_evaluate(config, str(tmp_path)), tmp_path)
