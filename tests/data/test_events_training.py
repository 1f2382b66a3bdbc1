"""End to end: a small conv SNN trains on a tiny synthetic CIFAR10-DVS set through the trainer, resumes
exactly, and ``--mode=summary`` knows the event datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from flax import nnx

from snnjax.config import base_config
from snnjax.data import testing
from snnjax.errors import ConfigError
from snnjax.models import basic
from snnjax.train import loop
from snnjax.train.checkpoint import Checkpointer


@pytest.fixture(scope="module")
def c10dvs(tmp_path_factory):
    root = tmp_path_factory.mktemp("c10dvs") / "CIFAR10DVS"
    testing.write_fake_cifar10_dvs(root, per_class=10, n=300)
    return root


def dvs_config(root, num_steps: int):
    config = base_config()
    config.data.update(
        name="cifar10_dvs", dir=str(root), cache_dir=str(root.parent / "cache"), frame_size=16,
        flip=True, roll=2, crop_padding=2, normalize=False, prefetch=0,
    )  # fmt: skip
    config.model = basic.model_config(
        "convnet", num_steps=3, encoding="events", channels=(4, 8), hidden=(), dropout=0.0
    )
    config.optim.update(name="adam", learning_rate=3e-3, schedule="constant")
    config.train.update(
        batch_size=10, eval_batch_size=8, num_steps=num_steps, log_every=1, checkpoint_every_steps=2
    )
    return config


@pytest.mark.slow
def test_convnet_trains_on_events_and_resumes(c10dvs, tmp_path, capsys):
    first = loop.train_and_evaluate(dvs_config(c10dvs, 2), str(tmp_path))
    assert first["dataset"] == "cifar10_dvs" and first["steps"] == 2
    results = loop.train_and_evaluate(dvs_config(c10dvs, 4), str(tmp_path))  # continues at step 2
    assert "resuming from step 2" in capsys.readouterr().out
    assert results["steps"] == 4 and results["params"] > 0
    assert np.isfinite(results["test_loss"]) and 0.0 <= results["test_accuracy"] <= 1.0
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if "train_loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    assert all(np.isfinite(r["train_loss"]) and 0 < r["firing_rate"] < 1 for r in train_rows)
    assert [r["test_examples"] for r in rows if "test_examples" in r] == [10, 10]  # after 2 and 4 steps
    run = loop.Run(dvs_config(c10dvs, 4))
    with Checkpointer(tmp_path, read_only=True) as ckpt:
        _, data_state, meta = ckpt.restore_which(run.state)
    assert meta["step"] == 4 and data_state["step"] == 4 and data_state["dataset"] == "cifar10_dvs"
    run.train_data.set_state(data_state)  # the event pipeline accepts its own saved position
    assert run.train_data.step == 4


def test_summary_shapes_of_event_datasets():
    config = base_config()
    config.model = basic.model_config("convnet", encoding="events", channels=(4, 8), hidden=(), dropout=0.0)
    for name, (classes, shape) in {
        "cifar10_dvs": (10, (48, 48, 2)),
        "dvs128_gesture": (11, (128, 128, 2)),
    }.items():
        config.data.name = name
        model = loop.model_for_summary(config)
        x = np.zeros((2, config.model.num_steps, *shape), np.float32)  # [B, T, H, W, 2] event frames
        assert nnx.capture(model)(x).shape == (config.model.num_steps, 2, classes)


def test_event_data_and_encoding_must_agree():
    config = base_config()
    config.data.name = "cifar10_dvs"
    config.model = basic.model_config("convnet", channels=(4, 8), hidden=(), dropout=0.0)
    with pytest.raises(ConfigError, match=r"set config\.model\.encoding to 'events'"):
        loop.model_for_summary(config)
    config.data.name, config.model.encoding = "mnist", "events"
    with pytest.raises(ConfigError, match="gives images"):
        loop.model_for_summary(config)
