"""Metric writers: choice and missing-package errors, and a TensorBoard round trip against metrics.jsonl."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from snnjax.config import load_config
from snnjax.errors import ConfigError
from snnjax.train import loop, records, writers
from tests.train.conftest import REPO


def config_with(*overrides: str):
    return load_config(str(REPO / "configs" / "quickstart.py"), list(overrides))


def test_scalars_are_the_numeric_fields_but_the_step():
    record = {"step": 5, "train_loss": 0.5, "test_examples": 360, "firing_rate/a.0": 0.1, "test_loss": "nan",
              "checkpoint": "latest", "flag": True}  # fmt: skip
    out = writers.scalars(record)
    assert set(out) == {"train_loss", "test_examples", "firing_rate/a.0", "test_loss"}
    assert out["test_examples"] == 360.0 and out["test_loss"] != out["test_loss"]  # nan


def test_default_writer_is_none_and_other_processes_write_nothing(tmp_path):
    assert isinstance(writers.make_writer(config_with(), tmp_path), writers.NullWriter)
    off = writers.make_writer(config_with("train.writer=tensorboard"), tmp_path, enabled=False)
    assert isinstance(off, writers.NullWriter) and not (tmp_path / "tensorboard").exists()


def test_unknown_writer_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"config.train.writer='tb' is not one of \['none', 'tensorboard'"):
        writers.make_writer(config_with("train.writer=tb"), tmp_path, enabled=False)


@pytest.mark.parametrize("name, package", [("tensorboard", "tensorboardX"), ("wandb", "wandb")])
def test_missing_package_is_a_one_line_config_error(tmp_path, monkeypatch, name, package):
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` fail
    with pytest.raises(ConfigError, match=f"pip install {package}$") as error:
        writers.make_writer(config_with(f"train.writer={name}"), tmp_path)
    assert "\n" not in str(error.value)


def read_scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """``tag -> [(step, value)]`` of the TensorBoard event files in ``logdir``, parsed without TensorFlow
    (TFRecord framing: u64 length, u32 crc, data, u32 crc)."""
    from tensorboardX.proto import event_pb2

    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def test_tensorboard_scalars_equal_metrics_jsonl(tmp_path):
    pytest.importorskip("tensorboardX")
    overrides = (
        "train.num_steps=12",
        "train.eval_every_epochs=0.25",
        "train.log_every=4",
        "train.writer=tensorboard",
    )
    loop.train_and_evaluate(config_with(*overrides), tmp_path)
    rows = records.read_metrics(tmp_path / "metrics.jsonl")
    scalars = read_scalars(tmp_path / "tensorboard")
    for tag in ("train_loss", "test_accuracy", "images_per_s", "firing_rate/hidden_neurons.0"):
        want = [(r["step"], r[tag]) for r in rows if tag in r]
        assert want, tag
        assert [s for s, _ in scalars[tag]] == [s for s, _ in want], tag
        assert [v for _, v in scalars[tag]] == pytest.approx([v for _, v in want], rel=1e-6), tag
    assert [s for s, _ in scalars["test_accuracy"]] == [5, 10, 12]
