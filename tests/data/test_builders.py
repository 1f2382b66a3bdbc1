"""Tests of snnjax.data.builders: local tfds builds (round trip, robustness), official names via mock_data."""

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from snnjax.data import builders, raw
from snnjax.data.specs import dataset_spec
from snnjax.errors import ConfigError, DataError
from tests.data import fakes

REPO = Path(__file__).resolve().parents[2]


def _config(**kwargs) -> ml_collections.ConfigDict:
    base = {"name": "mnist", "dir": "", "tfds_dir": "", "image_size": 224}
    base.update(kwargs)
    return ml_collections.ConfigDict(base)


def _write_tiny_mnist(d: Path, n_train=30, n_test=12, seed=0) -> dict:
    truth = fakes.write_fake_mnist(d, n_train, n_test, seed)
    return {split: (np.stack(t["examples"]), np.asarray(t["labels"])) for split, t in truth.items()}


def _version_dir(tfds_dir: Path, name: str = "mnist") -> Path:
    return tfds_dir / f"snnjax_{name}" / "1.0.0"


def test_local_build_round_trip(tmp_path):
    data = _write_tiny_mnist(tmp_path / "raw")
    tfds_dir = tmp_path / "tfds"
    cfg = _config(dir=str(tmp_path / "raw"), tfds_dir=str(tfds_dir))
    for split in ("train", "test"):
        source = builders.open_split(cfg, split)
        assert len(source) == len(data[split][1])
        images = np.stack([source[i]["image"] for i in range(len(source))])
        labels = [int(source[i]["label"]) for i in range(len(source))]
        np.testing.assert_array_equal(images, data[split][0])  # file order is kept
        assert labels == data[split][1].tolist()
    info_file = _version_dir(tfds_dir) / "dataset_info.json"
    mtime = info_file.stat().st_mtime_ns
    train, test = builders.open_split(cfg, "train"), builders.open_split(cfg, "test")  # reuses the build
    assert info_file.stat().st_mtime_ns == mtime
    info = builders.dataset_info(cfg, train, test)
    assert info == builders.DataInfo("mnist", 10, (28, 28, 1), 30, 12)
    # a later process needs only tfds.data_source and the registered builder name
    again = tfds.data_source("snnjax_mnist", split="test", data_dir=str(tfds_dir))
    assert int(again[0]["label"]) == int(data["test"][1][0])


def test_default_tfds_dir_and_read_only_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    writable = tmp_path / "raw"
    writable.mkdir()
    assert builders.resolve_tfds_dir(_config(dir=str(writable))) == writable / "tfds"
    assert (
        builders.resolve_tfds_dir(_config(dir=str(writable), tfds_dir=str(tmp_path / "x"))) == tmp_path / "x"
    )
    read_only = tmp_path / "ro"
    _write_tiny_mnist(read_only)
    read_only.chmod(0o555)
    try:
        cfg = _config(dir=str(read_only))
        expected = tmp_path / "home" / "tensorflow_datasets" / "snnjax_local"
        assert builders.resolve_tfds_dir(cfg) == expected
        assert len(builders.open_split(cfg, "test")) == 12
        assert _version_dir(expected).is_dir() and not (read_only / "tfds").exists()
    finally:
        read_only.chmod(0o755)
    # a read-only folder that already holds the built dataset is used as is
    _write_tiny_mnist(read_only)
    builders.prepare_local("mnist", read_only, read_only / "tfds")
    read_only.chmod(0o555)
    try:
        assert builders.resolve_tfds_dir(_config(dir=str(read_only))) == read_only / "tfds"
    finally:
        read_only.chmod(0o755)
    assert builders.resolve_tfds_dir(_config(name="digits")) == expected


def test_corrupt_raw_file_gives_data_error_and_no_dataset(tmp_path):
    _write_tiny_mnist(tmp_path / "raw")
    bad = tmp_path / "raw" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-8])
    tfds_dir = tmp_path / "tfds"
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is corrupt or truncated"):
        builders.open_split(_config(dir=str(tmp_path / "raw"), tfds_dir=str(tfds_dir)), "train")
    dataset_dir = tfds_dir / "snnjax_mnist"
    assert not _version_dir(tfds_dir).exists()
    assert not dataset_dir.exists() or not any(dataset_dir.iterdir())


def test_interrupted_build_leaves_nothing_valid(tmp_path, monkeypatch):
    data = _write_tiny_mnist(tmp_path / "raw")
    tfds_dir = tmp_path / "tfds"

    def failing(self, images, labels):
        for i in range(10):
            yield i, {"image": images[i], "label": int(labels[i])}
        raise KeyboardInterrupt  # as if the process were stopped half-way through writing

    monkeypatch.setattr(builders.local_builder(dataset_spec("mnist")), "_generate_examples", failing)
    with pytest.raises(KeyboardInterrupt):
        builders.prepare_local("mnist", tmp_path / "raw", tfds_dir)
    assert not _version_dir(tfds_dir).exists()
    assert not builders.is_prepared_at(dataset_spec("mnist"), tfds_dir)
    monkeypatch.undo()
    # leftovers of a killed build (tfds's incomplete.* folder) are ignored and cleaned
    leftover = tfds_dir / "snnjax_mnist" / "incomplete.ABC123_1.0.0"
    leftover.mkdir(parents=True)
    (leftover / "dataset_info.json").write_text("{}")
    builder = builders.prepare_local("mnist", tmp_path / "raw", tfds_dir)
    assert not leftover.exists()
    assert len(builder.as_data_source("train")) == len(data["train"][1])


def test_concurrent_builds(tmp_path):
    _write_tiny_mnist(tmp_path / "raw", n_train=300)
    tfds_dir = tmp_path / "tfds"
    code = (
        "import sys; from snnjax.data import builders; "
        "b = builders.prepare_local('mnist', sys.argv[1], sys.argv[2]); "
        "print(len(b.as_data_source('train')))"
    )
    env = {**os.environ, "TQDM_DISABLE": "1", "JAX_PLATFORMS": "cpu"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "raw"), str(tfds_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        assert out.strip().splitlines()[-1] == "300"
    entries = sorted(p.name for p in (tfds_dir / "snnjax_mnist").iterdir())
    assert entries == ["1.0.0"]


def test_digits_builder(tmp_path):
    cfg = _config(name="digits", tfds_dir=str(tmp_path))
    train, test = builders.open_split(cfg, "train"), builders.open_split(cfg, "test")
    assert (len(train), len(test)) == (1437, 360)
    images, labels = raw.load_digits(None, "test")
    np.testing.assert_array_equal(test[5]["image"], images[5])
    assert int(test[5]["label"]) == labels[5]
    assert builders.dataset_info(cfg, train, test).image_shape == (8, 8, 1)


@pytest.mark.parametrize(
    ("name", "shape", "classes"), [("mnist", (28, 28, 1), 10), ("cifar100", (32, 32, 3), 100)]
)
def test_official_name_through_mock_data(name, shape, classes, monkeypatch):
    monkeypatch.setattr(builders, "check_obtainable", lambda *args: None)  # mock_data stands in for online
    cfg = _config(name=name)
    with tfds.testing.mock_data(num_examples=7):
        train, test = builders.open_split(cfg, "train"), builders.open_split(cfg, "test")
        record = train[3]
        assert len(train) == 7 and np.asarray(record["image"]).shape == shape
        assert 0 <= int(record["label"]) < classes
        info = builders.dataset_info(cfg, train, test)
    assert (info.num_classes, info.image_shape, info.num_train) == (classes, shape, 7)


def test_official_failure_is_data_error(monkeypatch):
    def unavailable(*args, **kwargs):
        raise FileNotFoundError("no dataset here\nsecond line")

    monkeypatch.setattr(builders.tfds, "data_source", unavailable)
    monkeypatch.setattr(builders, "check_obtainable", lambda *args: None)  # as if online
    with pytest.raises(DataError, match=r"tfds dataset cifar10 .* could not be opened") as e:
        builders.open_split(_config(name="cifar10", tfds_dir="/nowhere"), "train")
    assert "/nowhere" in str(e.value) and "\n" not in str(e.value)


def test_offline_and_not_prepared_fails_fast(tmp_path, monkeypatch):
    """No network (an unresolvable download host): one line within seconds, before tfds tries to download."""
    monkeypatch.setattr(builders, "DOWNLOAD_HOST", ("download.invalid", 443))
    monkeypatch.setattr(builders.tfds, "data_source", lambda *a, **k: pytest.fail("tfds downloads"))
    start = time.monotonic()
    with pytest.raises(DataError, match=r"mnist is not prepared in .* cannot be downloaded") as e:
        builders.open_split(_config(name="mnist", tfds_dir=str(tmp_path)), "train")
    assert time.monotonic() - start < 10 and "\n" not in str(e.value)
    assert str(tmp_path) in str(e.value) and "config.data.dir" in str(e.value)


def test_prepared_dataset_needs_no_network(monkeypatch):
    class Prepared:
        def is_prepared(self):
            return True

    monkeypatch.setattr(builders.tfds, "builder", lambda name, data_dir: Prepared())
    monkeypatch.setattr(builders.socket, "create_connection", lambda *a, **k: pytest.fail("network probed"))
    builders.check_obtainable("mnist", "/prepared")  # no error, no probe


def test_bad_names():
    with pytest.raises(ConfigError, match=r"unknown dataset 'svhn'"):
        builders.open_split(_config(name="svhn"), "train")
    with pytest.raises(DataError, match=r"cannot be read from raw files"):
        builders.open_split(_config(name="imagenet2012", dir="/x"), "train")
    with pytest.raises(DataError, match=r"unknown split"):
        builders.tfds_split_name(dataset_spec("mnist"), "val")
    assert builders.tfds_split_name(dataset_spec("imagenet2012"), "test") == "validation"


def test_missing_raw_dir_creates_no_folder(tmp_path):
    cfg = _config(dir=str(tmp_path / "raw"))  # the tfds dir would be <dir>/tfds
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz not found") as e:
        builders.open_split(cfg, "train")
    assert "\n" not in str(e.value) and not (tmp_path / "raw").exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "test_batch.bin").write_bytes(b"\x00" * 100)  # not CIFAR records
    cfg = _config(name="cifar10", dir=str(tmp_path / "bad"), tfds_dir=str(tmp_path / "new" / "tfds"))
    with pytest.raises(DataError, match=r"cifar10 file"):
        builders.open_split(cfg, "test")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]
    assert [p.name for p in (tmp_path / "bad").iterdir()] == ["test_batch.bin"]


def test_reader_output_is_checked(tmp_path):
    spec = dataset_spec("digits")
    bad = dataclasses.replace(spec, name="digits_bad_labels", num_classes=5)
    with pytest.raises(DataError, match=r"labels .* span 0..9, outside 0..4"):
        builders.read_arrays(bad, tmp_path)
    bad = dataclasses.replace(spec, name="digits_bad_shape", input_shape=(8, 8, 3))
    with pytest.raises(DataError, match=r"expected uint8 \[N, 8, 8, 3\]"):
        builders.read_arrays(bad, tmp_path)
