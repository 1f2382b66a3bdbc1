"""Helpers of the DVS-config tests: a tiny synthetic CIFAR10-DVS set and configs shrunk by overrides
(16x16 frames, T=2, batch 4, two training steps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnjax import config as config_lib
from snnjax.data import testing

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def c10dvs(tmp_path_factory):
    root = tmp_path_factory.mktemp("c10dvs_cfg") / "CIFAR10DVS"
    testing.write_fake_cifar10_dvs(root, per_class=10, n=200)  # the papers' 90/10 split: 90 train + 10 test
    return root


def load_config(name: str):
    """``configs/<name>.py`` loaded by the project's loader (locked: only existing keys can change)."""
    return config_lib.load_config(str(REPO / "configs" / f"{name}.py"))


def shrink(config, root: Path, steps: int = 2) -> None:
    assert config.data.name == "cifar10_dvs"
    config.data.update(dir=str(root), cache_dir=str(root.parent / "cache"), frame_size=16, prefetch=0)
    config.data.num_frames = 0  # follow the model's T
    config.model.num_steps = 2
    config.train.update(batch_size=4, eval_batch_size=10, num_steps=steps, log_every=1)


def check(results, workdir: Path) -> None:
    assert results["dataset"] == "cifar10_dvs" and results["steps"] == 2
    assert np.isfinite(results["test_loss"]) and 0.0 <= results["test_accuracy"] <= 1.0
    assert (workdir / "metrics.jsonl").exists()
