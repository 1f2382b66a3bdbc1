"""Writers of the raw image formats the readers of snnjax.data.raw accept (IDX, CIFAR binary records) and a
fake MNIST folder, for the data tests."""

from __future__ import annotations

import gzip
import lzma
import os

import numpy as np
from etils import epath

PathLike = str | os.PathLike
Split = dict[str, list]  # {"examples": [...], "labels": [int, ...]}


def _write_bytes(path: PathLike, payload: bytes) -> epath.Path:
    """Writes ``payload`` to ``path``, gzip/xz-compressed if the name ends in ``.gz``/``.xz``."""
    path = epath.Path(path)
    compress = {".gz": gzip.compress, ".xz": lzma.compress}.get(path.suffix, lambda b: b)
    path.write_bytes(compress(payload))
    return path


def write_idx(path: PathLike, array: np.ndarray) -> epath.Path:
    """Writes uint8 ``[N]`` (labels, magic 2049) or ``[N, rows, cols]`` (images, magic 2051) as IDX."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return _write_bytes(path, header + array.tobytes())


def write_cifar_records(
    path: PathLike, images: np.ndarray, labels: np.ndarray, coarse_labels: np.ndarray | None = None
) -> epath.Path:
    """Writes uint8 ``[N, 32, 32, 3]`` images as CIFAR binary records (CIFAR-100 layout if
    ``coarse_labels`` is given: coarse byte, fine byte, pixels)."""
    planes = np.ascontiguousarray(images, dtype=np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    cols = [np.asarray(labels, np.uint8)[:, None], planes]
    if coarse_labels is not None:
        cols.insert(0, np.asarray(coarse_labels, np.uint8)[:, None])
    return _write_bytes(path, np.concatenate(cols, axis=1).tobytes())


def write_fake_mnist(
    root: PathLike, num_train: int = 30, num_test: int = 12, seed: int = 0
) -> dict[str, Split]:
    """The four MNIST IDX ``.gz`` files of random images ``[N, 28, 28, 1]`` and labels in ``root``."""
    rng = np.random.default_rng(seed)
    epath.Path(root).mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", num_train), ("test", "t10k", num_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(epath.Path(root) / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(epath.Path(root) / f"{prefix}-labels-idx1-ubyte.gz", labels)
        out[split] = {"examples": list(images[..., None]), "labels": labels.tolist()}
    return out
