"""Readers of raw local dataset files (no tfds, no TensorFlow).

Every loader returns ``(images, labels)``: ``images`` uint8 ``[N, H, W, C]`` (NHWC) and ``labels`` int64
``[N]``. Problems with the files (missing, truncated, corrupt, wrong format) raise :class:`DataError`
with a one-line message naming the file, what is wrong, where the files should be and how to get them.

Supported layouts (``directory`` is searched first, then ``directory/<name>`` and the official
sub-folder names such as ``cifar-10-batches-bin``):

* ``mnist`` / ``fashion_mnist``: the four official IDX files, ``.gz`` or uncompressed
  (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``).
* ``cifar10``: binary records ``data_batch_{1..5}.bin`` + ``test_batch.bin`` (each optionally ``.xz``),
  class-sorted records ``train_unordered_{1..5}.bin.xz`` + ``test_unordered.bin.xz``, or
  the python batches ``data_batch_{1..5}`` + ``test_batch``.
* ``cifar100``: binary ``train.bin`` / ``test.bin`` (optionally ``.xz``, fine labels) or the python
  ``train`` / ``test`` pickles (``fine_labels``).
* ``digits``: scikit-learn's 8x8 digits (shipped inside scikit-learn, no files needed).
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import pickle
import zlib
from collections.abc import Sequence

import numpy as np
from etils import epath

from snnjax.errors import DataError

SPLITS = ("train", "test")
PathLike = str | os.PathLike

# Number of test examples of the fixed digits split (the rest, 1437, are training examples).
DIGITS_NUM_TEST = 360
DIGITS_SPLIT_SEED = 0

_IDX_LABELS_MAGIC = 2049
_IDX_IMAGES_MAGIC = 2051
_CIFAR_PIXELS = 32 * 32 * 3

_FILES = {
    "mnist": "the four official MNIST IDX .gz files (train-images-idx3-ubyte.gz, ...)",
    "fashion_mnist": "the four official Fashion-MNIST IDX .gz files (from "
    "github.com/zalandoresearch/fashion-mnist)",
    "cifar10": "the CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin from "
    "cifar-10-binary.tar.gz), the python batches (cifar-10-batches-py) or class-sorted "
    "train_unordered_1..5.bin.xz/test_unordered.bin.xz",
    "cifar100": "the CIFAR-100 binary files (train.bin, test.bin from cifar-100-binary.tar.gz) or the python "
    "files (cifar-100-python/train, test)",
}


def _fail(name: str, path: PathLike, problem: str) -> DataError:
    """Builds a one-line :class:`DataError` naming the file, the problem, its folder and a remedy."""
    path = epath.Path(path)
    hint = "check the data configuration"
    if name in _FILES:
        hint = f"put {_FILES[name]} there, or set config.data.dir='' to let tensorflow-datasets download it"
    return DataError(f"{name} file {path.name} {problem} in {path.parent}: {hint}")


# ----------------------------------------------------------------------------------------------------
# File access helpers


def _read_bytes(path: epath.Path, name: str) -> bytes:
    """Reads ``path`` whole, transparently decompressing ``.gz`` and ``.xz``."""
    if not path.is_file():
        raise _fail(name, path, "not found")
    decompress = {".gz": gzip.decompress, ".xz": lzma.decompress}.get(path.suffix, lambda data: data)
    try:
        return decompress(path.read_bytes())
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise _fail(name, path, f"is corrupt or truncated ({type(e).__name__}: {e})") from None


def _first_existing(
    directory: epath.Path, stems: Sequence[str], suffixes: Sequence[str]
) -> epath.Path | None:
    """Returns the first ``directory/stem+suffix`` that exists (stems outer loop), else None."""
    files = (directory / (stem + suffix) for stem in stems for suffix in suffixes)
    return next((p for p in files if p.is_file()), None)


def _candidate_dirs(directory: PathLike, name: str, extra: Sequence[str] = ()) -> list[epath.Path]:
    """``directory`` itself, ``directory/name`` and the official sub-folder names, existing ones only."""
    base = epath.Path(directory).expanduser()
    dirs = [base, base / name, *(base / e for e in extra), *(base / name / e for e in extra)]
    return [d for d in dirs if d.is_dir()]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {SPLITS}")


# ----------------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)


def read_idx(path: PathLike, *, expected_magic: int, name: str = "mnist") -> np.ndarray:
    """Reads an IDX file of unsigned bytes (``.gz`` or uncompressed; magic 2049 labels, 2051 images) as uint8
    of the header's shape (``[N]`` or ``[N, rows, cols]``), checking the magic number and the length."""
    path = epath.Path(path)
    data = _read_bytes(path, name)
    if len(data) < 8:
        raise _fail(name, path, f"is truncated: {len(data)} bytes, shorter than an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise _fail(name, path, f"has IDX magic {magic}, expected {expected_magic}: not the right file")
    header = 4 + 4 * (magic & 0xFF)
    if len(data) < header:
        raise _fail(name, path, f"is truncated: {len(data)} bytes, header needs {header}")
    shape = tuple(int.from_bytes(data[i : i + 4], "big") for i in range(4, header, 4))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        problem = "is truncated" if len(data) < expected else "has trailing bytes"
        raise _fail(name, path, f"{problem}: {len(data)} bytes, expected {expected} for shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_idx_split(directory: PathLike, split: str, *, name: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """Loads an MNIST-format split from ``directory`` (or ``directory/<name>``).

    Returns ``images`` uint8 ``[N, 28, 28, 1]`` and ``labels`` int64 ``[N]``.
    """
    _check_split(split)
    prefix = "train" if split == "train" else "t10k"
    stems = {k: f"{prefix}-{k}-idx{1 if k == 'labels' else 3}-ubyte" for k in ("images", "labels")}
    candidates = _candidate_dirs(directory, name, ("raw",))
    found_dir = next((d for d in candidates if _first_existing(d, [stems["images"]], (".gz", ""))), None)
    found_dir = found_dir or epath.Path(directory).expanduser()
    paths = {
        k: _first_existing(found_dir, [s], (".gz", "")) or found_dir / (s + ".gz") for k, s in stems.items()
    }
    images = read_idx(paths["images"], expected_magic=_IDX_IMAGES_MAGIC, name=name)
    labels = read_idx(paths["labels"], expected_magic=_IDX_LABELS_MAGIC, name=name)
    if images.shape[0] != labels.shape[0]:
        problem = f"holds {labels.shape[0]} labels but {paths['images'].name} holds {images.shape[0]} images"
        raise _fail(name, paths["labels"], problem)
    if labels.size and labels.max() > 9:
        raise _fail(name, paths["labels"], f"has label {labels.max()} outside 0..9")
    return images[..., None], labels.astype(np.int64)


# ----------------------------------------------------------------------------------------------------
# CIFAR


def read_cifar_binary(
    path: PathLike, *, label_bytes: int = 1, label_index: int = 0, name: str = "cifar10"
) -> tuple[np.ndarray, np.ndarray]:
    """Reads CIFAR binary records (``.bin``, ``.bin.xz`` or ``.bin.gz``): ``label_bytes`` label bytes, then
    1024 R, 1024 G, 1024 B bytes. CIFAR-10 has one label byte; CIFAR-100 two (coarse, fine;
    ``label_index=1`` selects fine). Returns ``images`` uint8 ``[N, 32, 32, 3]``, ``labels`` int64 ``[N]``."""
    path = epath.Path(path)
    data = _read_bytes(path, name)
    record = label_bytes + _CIFAR_PIXELS
    if not data or len(data) % record:
        problem = f"{len(data)} bytes is not a multiple of {record}"
        raise _fail(name, path, f"is truncated or not CIFAR records: {problem}")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
    images = rows[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), rows[:, label_index].astype(np.int64)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only reconstructs numpy arrays and builtin containers (the CIFAR python batches)."""

    _ALLOWED = frozenset(
        [(f"numpy{core}.multiarray", f) for core in (".core", "._core") for f in ("_reconstruct", "scalar")]
        + [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("copyreg", "_reconstructor")]
    )

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_pickle(path: PathLike, *, label_key: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads a CIFAR python batch (a pickled dict with ``data`` ``[N, 3072]`` and ``label_key``).

    ``label_key`` is ``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100). Only numpy arrays and builtin
    containers are unpickled. Returns ``images`` uint8 ``[N, 32, 32, 3]`` and ``labels`` int64 ``[N]``.
    """
    path = epath.Path(path)
    raw = _read_bytes(path, name)
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # any unpickling failure means a corrupt or foreign file
        raise _fail(name, path, f"is not a readable CIFAR python batch ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise _fail(name, path, "is not a CIFAR python batch (no dict inside)")
    obj = {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}
    if "data" not in obj or label_key not in obj:
        raise _fail(name, path, f"lacks the keys 'data' and {label_key!r} (has {sorted(obj)})")
    data = np.asarray(obj["data"], dtype=np.uint8)
    labels = np.asarray(obj[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != _CIFAR_PIXELS or data.shape[0] != labels.shape[0]:
        raise _fail(name, path, f"has data of shape {data.shape} and {labels.shape[0]} labels")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


_CIFAR_DIRS = {"cifar10": ("cifar-10-batches-bin", "cifar-10-batches-py"),
               "cifar100": ("cifar-100-binary", "cifar-100-python")}  # fmt: skip
_BINARY = (".bin", ".bin.xz", ".bin.gz")


def _cifar_layouts(name: str, split: str) -> list[tuple[list[str], tuple[str, ...], bool]]:
    """``(file stems, suffixes, pickled)`` of each known layout of a CIFAR split, the preferred first."""
    if name == "cifar100":
        return [([split], _BINARY, False), ([split], ("",), True)]
    train = split == "train"
    batches = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    unordered = [f"train_unordered_{i}" for i in range(1, 6)] if train else ["test_unordered"]
    return [(unordered, (".bin.xz", ".bin"), False), (batches, _BINARY, False), (batches, ("",), True)]


def _read_cifar_file(path: epath.Path, name: str, pickled: bool) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR file of ``name``'s layout (CIFAR-100: fine labels), its labels checked."""
    fine = name == "cifar100"
    if pickled:
        images, labels = read_cifar_pickle(path, label_key="fine_labels" if fine else "labels", name=name)
    else:
        images, labels = read_cifar_binary(path, label_bytes=1 + fine, label_index=int(fine), name=name)
    num_classes = 100 if fine else 10
    if labels.size and (labels.max() >= num_classes or labels.min() < 0):
        bad = labels.max() if labels.max() >= num_classes else labels.min()
        raise _fail(name, path, f"has label {bad} outside 0..{num_classes - 1}")
    return images, labels


def _load_cifar(directory: PathLike, split: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    _check_split(split)
    for d in _candidate_dirs(directory, name, _CIFAR_DIRS[name]):
        for stems, suffixes, pickled in _cifar_layouts(name, split):
            first = _first_existing(d, stems[:1], suffixes)
            if first is not None:
                suffix = first.name[len(stems[0]) :]
                parts = [_read_cifar_file(d / (stem + suffix), name, pickled) for stem in stems]
                return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    first = {"cifar10": {"train": "data_batch_1.bin", "test": "test_batch.bin"}}.get(name, {})
    missing = epath.Path(directory).expanduser() / first.get(split, f"{split}.bin")
    raise _fail(name, missing, "(nor any other known CIFAR layout) not found")


def load_cifar10(directory: PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Loads a CIFAR-10 split: ``images`` uint8 ``[N, 32, 32, 3]``, ``labels`` int64 ``[N]`` (file order)."""
    return _load_cifar(directory, split, "cifar10")


def load_cifar100(directory: PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Loads a CIFAR-100 split with fine labels: uint8 ``[N, 32, 32, 3]``, int64 ``[N]`` in 0..99."""
    return _load_cifar(directory, split, "cifar100")


# ----------------------------------------------------------------------------------------------------
# scikit-learn digits


def load_digits(directory: PathLike | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (1797 images; ``directory`` is ignored) with a fixed split: 1437 train /
    360 test.

    The split is ``np.random.default_rng(0).permutation(1797)``: its first 1437 indices (kept in that
    permuted order) are ``train``, the last 360 ``test``. Pixels 0..16 are scaled to uint8 0..255
    (``round(v * 255 / 16)``). Returns ``images`` uint8 ``[N, 8, 8, 1]``, ``labels`` int64 ``[N]``.
    """
    _check_split(split)
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels))
    idx = perm[: len(perm) - DIGITS_NUM_TEST] if split == "train" else perm[len(perm) - DIGITS_NUM_TEST :]
    return images[idx], labels[idx]
