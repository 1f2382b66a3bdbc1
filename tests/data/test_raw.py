"""Tests of snnjax.data.raw (through the dataset table's readers): IDX/CIFAR readers on hand-made files,
one-line errors naming the file, digits, the real files where available."""

import gzip
import lzma
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from etils import epath

from snnjax.data import raw
from snnjax.data.specs import dataset_spec
from snnjax.errors import DataError
from tests.data import fakes


def load(name: str, directory, split: str):
    """``(images, labels)`` of ``split`` read by dataset ``name``'s registered reader."""
    return dataset_spec(name).read(epath.Path(directory), split)


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(">i", magic) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()


def _write_mnist(directory: Path, n_train=6, n_test=4, compress=True) -> dict:
    rng = np.random.default_rng(0)
    data = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for kind, arr, magic in (("images", images, 2051), ("labels", labels, 2049)):
            name = f"{prefix}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"
            payload = _idx_bytes(arr, magic)
            if compress:
                (directory / (name + ".gz")).write_bytes(gzip.compress(payload))
            else:
                (directory / name).write_bytes(payload)
        data[prefix] = (images, labels)
    return data


def _cifar_record_bytes(images: np.ndarray, *label_columns: np.ndarray) -> bytes:
    out = bytearray()
    for i, image in enumerate(images):
        out += bytes(int(col[i]) for col in label_columns)
        for c in range(3):  # 1024 R, then 1024 G, then 1024 B bytes, rows top to bottom
            out += image[:, :, c].tobytes()
    return bytes(out)


@pytest.mark.parametrize("compress", [True, False])
def test_idx_reader_exact(tmp_path, compress):
    data = _write_mnist(tmp_path, compress=compress)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = load("mnist", tmp_path, split)
        assert images.shape == (len(data[prefix][1]), 28, 28, 1) and images.dtype == np.uint8
        np.testing.assert_array_equal(images[..., 0], data[prefix][0])
        np.testing.assert_array_equal(labels, data[prefix][1])


def test_idx_found_in_named_subfolder(tmp_path):
    (tmp_path / "fashion_mnist").mkdir()
    data = _write_mnist(tmp_path / "fashion_mnist")
    _, labels = load("fashion_mnist", tmp_path, "test")
    np.testing.assert_array_equal(labels, data["t10k"][1])


def test_idx_missing_file_message(tmp_path):
    with pytest.raises(DataError) as e:
        load("mnist", tmp_path, "train")
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path) in msg and "config.data.dir=''" in msg
    assert "\n" not in msg


def test_idx_truncated_wrong_magic_and_corrupt(tmp_path):
    data = _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    full = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(full[:-10]))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is truncated"):
        load("mnist", tmp_path, "train")
    path.write_bytes(gzip.compress(_idx_bytes(data["train"][0], 2049)))
    with pytest.raises(DataError, match=r"magic 2049, expected 2051"):
        load("mnist", tmp_path, "train")
    path.write_bytes(gzip.compress(full)[:-20])  # truncated gzip stream
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is corrupt or truncated"):
        load("mnist", tmp_path, "train")
    path.write_bytes(b"not a gzip file at all")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz"):
        load("mnist", tmp_path, "train")


def test_idx_count_mismatch(tmp_path):
    data = _write_mnist(tmp_path)
    labels = np.concatenate([data["t10k"][1], [1]]).astype(np.uint8)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(labels, 2049)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz holds 5 labels"):
        load("mnist", tmp_path, "test")


def test_idx_writer_matches_format(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    fakes.write_idx(tmp_path / "x.gz", arr)
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == _idx_bytes(arr, 2051)
    fakes.write_idx(tmp_path / "y", arr[:, 0, 0])
    assert (tmp_path / "y").read_bytes() == _idx_bytes(arr[:, 0, 0], 2049)


def _cifar_arrays(n, num_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, num_classes, n)


@pytest.mark.parametrize("layout", ["shared", "official_bin", "official_bin_subfolder", "python"])
def test_cifar10_layouts(tmp_path, layout):
    parts = [_cifar_arrays(3, seed=i) for i in range(6)]
    d = tmp_path / "cifar-10-batches-bin" if layout == "official_bin_subfolder" else tmp_path
    d.mkdir(exist_ok=True)
    names = {
        "shared": [f"train_unordered_{i}.bin.xz" for i in range(1, 6)] + ["test_unordered.bin.xz"],
        "official_bin": [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"],
        "python": [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"],
    }
    names["official_bin_subfolder"] = names["official_bin"]
    for name, (images, labels) in zip(names[layout], parts, strict=True):
        if layout == "python":
            flat = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
            obj = {b"batch_label": b"x", b"labels": [int(v) for v in labels], b"data": flat}
            (d / name).write_bytes(pickle.dumps(obj, protocol=2))
        else:
            payload = _cifar_record_bytes(images, labels)
            (d / name).write_bytes(lzma.compress(payload) if name.endswith(".xz") else payload)
    images, labels = load("cifar10", tmp_path, "train")
    assert images.shape == (15, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, np.concatenate([p[0] for p in parts[:5]]))
    np.testing.assert_array_equal(labels, np.concatenate([p[1] for p in parts[:5]]))
    images, labels = load("cifar10", tmp_path, "test")
    np.testing.assert_array_equal(images, parts[5][0])
    np.testing.assert_array_equal(labels, parts[5][1])


def test_cifar_pixel_layout_exact(tmp_path):
    record = bytes([7]) + bytes([1] * 1024) + bytes([2] * 1024) + bytes(range(256)) * 4
    (tmp_path / "r.bin").write_bytes(record)
    images, labels = raw.read_cifar_binary(tmp_path / "r.bin")
    assert labels.tolist() == [7]
    assert (images[0, ..., 0] == 1).all() and (images[0, ..., 1] == 2).all()
    np.testing.assert_array_equal(images[0, 0, :, 2], np.arange(32))  # first row of blue
    np.testing.assert_array_equal(images[0, 1, :, 2], np.arange(32, 64))


def test_cifar100_binary_and_python(tmp_path):
    images, fine = _cifar_arrays(4, num_classes=100)
    coarse = fine // 5
    (tmp_path / "train.bin").write_bytes(_cifar_record_bytes(images, coarse, fine))
    got_images, got_labels = load("cifar100", tmp_path, "train")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, fine)
    py = tmp_path / "cifar-100-python"
    py.mkdir()
    flat = images.transpose(0, 3, 1, 2).reshape(4, -1)
    obj = {b"fine_labels": fine.tolist(), b"coarse_labels": coarse.tolist(), b"data": flat}
    (py / "test").write_bytes(pickle.dumps(obj, protocol=2))
    got_images, got_labels = load("cifar100", tmp_path, "test")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, fine)


def test_cifar_writer_matches_format(tmp_path):
    images, fine = _cifar_arrays(3, num_classes=100)
    fakes.write_cifar_records(tmp_path / "a.bin", images, fine, coarse_labels=fine // 5)
    assert (tmp_path / "a.bin").read_bytes() == _cifar_record_bytes(images, fine // 5, fine)


def test_cifar_errors(tmp_path):
    with pytest.raises(DataError, match=r"cifar10 file .* not found in") as e:
        load("cifar10", tmp_path, "train")
    assert "config.data.dir=''" in str(e.value)
    images, labels = _cifar_arrays(2)
    payload = _cifar_record_bytes(images, labels)
    (tmp_path / "test_batch.bin").write_bytes(payload[:-5])
    with pytest.raises(DataError, match=r"test_batch.bin is truncated"):
        load("cifar10", tmp_path, "test")
    (tmp_path / "test_batch.bin").unlink()
    (tmp_path / "test_unordered.bin.xz").write_bytes(lzma.compress(payload)[:-30])
    with pytest.raises(DataError, match=r"test_unordered.bin.xz is corrupt or truncated"):
        load("cifar10", tmp_path, "test")
    (tmp_path / "test_unordered.bin.xz").write_bytes(lzma.compress(payload))
    for i in range(1, 5):  # data file 5 is missing
        (tmp_path / f"train_unordered_{i}.bin.xz").write_bytes(lzma.compress(payload))
    with pytest.raises(DataError, match=r"train_unordered_5.bin.xz not found"):
        load("cifar10", tmp_path, "train")


def test_cifar_pickle_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match=r"test_batch is not a readable CIFAR python batch"):
        load("cifar10", tmp_path, "test")


def test_digits_split():
    train_x, train_y = raw.load_digits(None, "train")
    test_x, test_y = raw.load_digits(None, "test")
    assert train_x.shape == (1437, 8, 8, 1) and test_x.shape == (360, 8, 8, 1)
    assert train_x.dtype == np.uint8 and train_x.max() == 255 and train_x.min() == 0
    assert set(np.unique(train_x)) <= {round(v * 255 / 16) for v in range(17)}
    assert np.bincount(train_y).sum() == 1437 and len(np.unique(test_y)) == 10
    again_x, again_y = raw.load_digits(None, "train")
    np.testing.assert_array_equal(again_x, train_x)
    np.testing.assert_array_equal(again_y, train_y)
    with pytest.raises(DataError, match=r"unknown split"):
        raw.load_digits(None, "validation")


def test_cifar_labels_beyond_the_class_count(tmp_path):
    images, labels = _cifar_arrays(3)
    labels[1] = 12
    (tmp_path / "test_batch.bin").write_bytes(_cifar_record_bytes(images, labels))
    with pytest.raises(DataError, match=r"cifar10 file test_batch.bin has label 12 outside 0..9") as e:
        load("cifar10", tmp_path, "test")
    assert str(tmp_path) in str(e.value) and "\n" not in str(e.value)
    fine = np.array([3, 100, 4])
    (tmp_path / "test.bin").write_bytes(_cifar_record_bytes(images, fine // 5, fine))
    with pytest.raises(DataError, match=r"cifar100 file test.bin has label 100 outside 0..99"):
        load("cifar100", tmp_path, "test")


def test_corrupt_gzip_stream(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[20:30] = b"\xff" * 10  # a damaged deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz is corrupt or truncated"):
        load("mnist", tmp_path, "test")


# -- the real files (skipped unless SNNJAX_TEST_DATA is set)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_real_idx(real_data, name):
    train_x, train_y = load(name, real_data / name, "train")
    test_x, test_y = load(name, real_data, "test")  # also found via the <name> subfolder
    assert train_x.shape == (60000, 28, 28, 1) and test_x.shape == (10000, 28, 28, 1)
    assert train_y.shape == (60000,) and test_y.shape == (10000,)
    if name == "mnist":
        assert train_y[:5].tolist() == [5, 0, 4, 1, 9]
        assert test_y[:3].tolist() == [7, 2, 1]
    else:
        assert np.bincount(train_y).tolist() == [6000] * 10
        assert np.bincount(test_y).tolist() == [1000] * 10


def test_real_cifar10(real_data):
    images, labels = load("cifar10", real_data, "train")
    assert images.shape == (50000, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [5000] * 10
    images, labels = load("cifar10", real_data, "test")
    assert images.shape == (10000, 32, 32, 3) and np.bincount(labels).tolist() == [1000] * 10
