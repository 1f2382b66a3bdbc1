"""Tests of snnjax.data.specs: the dataset table, input shapes without data, and adding a dataset with one
registration (the walkthrough of docs/extending_data.md, run end to end through make_pipeline)."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest
from etils import epath

from snnjax import data
from snnjax.config import base_config
from snnjax.data import specs
from snnjax.errors import ConfigError, DataError


def test_table_facts():
    assert set(data.DATASETS) == {"mnist", "fashion_mnist", "cifar10", "cifar100", "imagenet2012", "digits",
                                  "cifar10_dvs", "nmnist", "dvs128_gesture"}  # fmt: skip
    cifar100 = data.dataset_spec("cifar100")
    assert (cifar100.mean, cifar100.std) == ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))
    assert data.dataset_spec("imagenet2012").tfds_test_split == "validation"
    assert data.dataset_spec("mnist").mean == (0.1307,) and data.dataset_spec("mnist").tfds_name == "mnist"
    assert data.dataset_spec("nmnist").kind == "event" and data.dataset_spec("nmnist").sensor_size == (34, 34)
    with pytest.raises(ConfigError, match=r"unknown dataset 'svhn': choose one of \[") as e:
        data.dataset_spec("svhn")
    assert "\n" not in str(e.value)


def test_input_info_needs_no_data():
    config = base_config().data  # the trainer's defaults: frame_size 0, image_size 224
    expected = {
        "digits": (10, (8, 8, 1)), "mnist": (10, (28, 28, 1)), "fashion_mnist": (10, (28, 28, 1)),
        "cifar10": (10, (32, 32, 3)), "cifar100": (100, (32, 32, 3)), "imagenet2012": (1000, (224, 224, 3)),
        "cifar10_dvs": (10, (48, 48, 2)), "nmnist": (10, (34, 34, 2)), "dvs128_gesture": (11, (128, 128, 2)),
    }  # fmt: skip
    for name, info in expected.items():
        config.name = name
        assert data.input_info(config) == info, name
    config.update(name="imagenet2012", image_size=160)
    assert data.input_info(config) == (1000, (160, 160, 3))
    config.update(name="cifar10_dvs", frame_size=64)
    assert data.input_info(config) == (10, (64, 64, 2))
    with pytest.raises(ConfigError, match="unknown dataset"):
        data.input_info(ml_collections.ConfigDict({"name": "nope"}))


def test_register_rejects_duplicates_and_bad_kinds():
    with pytest.raises(ConfigError, match="already registered"):
        data.register(data.dataset_spec("mnist"))
    with pytest.raises(ConfigError, match="kind 'video'"):
        data.register(data.DatasetSpec("clips", 3, (4, 4, 1), kind="video"))
    assert "clips" not in data.DATASETS


# -- The walkthrough: a new dataset in one file plus one registration line.


def read_stripes(directory: epath.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """A reader of a made-up format: ``<split>.npz`` holding ``x`` uint8 [N, 6, 6] and ``y`` [N] in 0..2."""
    path = directory / f"{split}.npz"
    if not path.is_file():
        raise DataError(f"stripes file {path.name} not found in {directory}")
    with path.open("rb") as f, np.load(f) as z:
        return z["x"][..., None], z["y"].astype(np.int64)


def write_stripes(directory, n: int, seed: int) -> None:
    """Images whose bright row (0, 2 or 4) is their label, so the classes are easy to tell apart."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 60, (n, 6, 6)).astype(np.uint8)
        x[np.arange(n), 2 * y] = 255
        np.savez(directory / f"{split}.npz", x=x, y=y)


@pytest.fixture
def stripes():
    spec = data.register(data.DatasetSpec("stripes", num_classes=3, input_shape=(6, 6, 1), read=read_stripes,
                                          mean=(0.3,), std=(0.4,)))  # fmt: skip
    yield spec
    data.DATASETS.pop("stripes")


def test_new_dataset_end_to_end(stripes, tmp_path):
    write_stripes(tmp_path, n=40, seed=0)
    config = data.default_data_config()
    config.update(name="stripes", dir=str(tmp_path), flip=True, crop_padding=1, prefetch=0)
    hosts = dict(process_index=0, process_count=1)
    train = data.make_pipeline(config, split="train", global_batch_size=8, seed=0, train=True, **hosts)
    batch = next(train)
    assert batch["image"].shape == (8, 6, 6, 1) and batch["label"].max() <= 2
    assert train.info == data.DataInfo("stripes", 3, (6, 6, 1), 40, 40, steps_per_epoch=5)
    assert (tmp_path / "tfds" / "snnjax_stripes" / "1.0.0" / "dataset_info.json").is_file()
    test = data.make_pipeline(config, split="test", global_batch_size=16, seed=0, train=False, **hosts)
    with (tmp_path / "test.npz").open("rb") as f, np.load(f) as z:
        want = (z["x"][..., None] / 255.0 - 0.3) / 0.4
    got = np.concatenate([b["image"][b["mask"]] for b in test])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # normalised with the spec's mean/std
    assert data.input_info(config) == (3, (6, 6, 1))  # --mode=summary knows it too


def test_new_dataset_errors(stripes, tmp_path):
    config = data.default_data_config()
    config.update(name="stripes", dir=str(tmp_path / "missing"), prefetch=0)
    kw = dict(split="train", global_batch_size=8, seed=0, train=True, process_index=0, process_count=1)
    with pytest.raises(DataError, match=r"stripes file train\.npz not found"):
        data.make_pipeline(config, **kw)
    assert not (tmp_path / "missing").exists()
    config.dir = ""
    with pytest.raises(DataError, match=r"has no tfds dataset: set config\.data\.dir"):
        data.make_pipeline(config, **kw)
    write_stripes(tmp_path, n=10, seed=1)
    np.savez(tmp_path / "test.npz", x=np.zeros((2, 6, 6), np.uint8), y=np.array([0, 3]))
    config.dir = str(tmp_path)
    with pytest.raises(DataError, match=r"stripes test labels in .* span 0..3, outside 0..2"):
        data.make_pipeline(config, **kw)
    assert not (tmp_path / "tfds").exists()


def test_square_shape():
    shape = specs.SquareShape("frame_size", 2, 48)
    assert shape({"frame_size": 0}) == (48, 48, 2) and shape({"frame_size": 16}) == (16, 16, 2)
    assert shape({}) == (48, 48, 2)
