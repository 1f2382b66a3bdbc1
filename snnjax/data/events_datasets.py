"""Frame caching and dataset assembly for N-MNIST, CIFAR10-DVS and DVS128 Gesture.

Loaders return ``(frames, labels)``: frames ``[N, T, h, w, 2]`` (``dtype``, float32 default),
labels ``[N]`` int64. Memory: CIFAR10-DVS train at 48x48, T=10, float32 is about 1.7 GB.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from snnjax.data import events_frames
from snnjax.data.events_io import (
    DVS128_SENSOR_SIZE,
    NMNIST_SENSOR_SIZE,
    EventDataError,
    PathLike,
    read_dvs_gesture_labels,
    read_events,
)

__all__ = [
    "CIFAR10_DVS_CLASSES",
    "cached_frames",
    "list_cifar10_dvs",
    "list_dvs_gesture",
    "list_nmnist",
    "load_cifar10_dvs",
    "load_dvs_gesture",
    "load_nmnist",
    "split_per_class",
]

CIFAR10_DVS_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
"""Class folder names of CIFAR10-DVS; the label is the index in this tuple."""

_CACHE_VERSION = 1
Split = Literal["train", "test"]


# ----------------------------------------------------------------------------- caching


def _default_sensor_size(path: Path) -> tuple[int, int]:
    return NMNIST_SENSOR_SIZE if path.suffix.lower() == ".bin" else DVS128_SENSOR_SIZE


def _cache_file(
    path: Path,
    cache_dir: PathLike,
    time_range: tuple[int, int] | None,
    reader_options: dict[str, Any],
    frame_options: dict[str, Any],
) -> Path:
    """Cache file name: source stem + hash of (source identity, time range, all options)."""
    try:
        st = path.stat()
    except OSError:
        raise EventDataError(f"{path}: file not found") from None
    opts = dict(frame_options)
    if "dtype" in opts:
        opts["dtype"] = np.dtype(opts["dtype"]).str
    ident = {
        "version": _CACHE_VERSION,
        "file": str(path.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "time_range": None if time_range is None else [int(v) for v in time_range],
        "reader": reader_options,
        "frames": opts,
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()
    return Path(cache_dir).expanduser() / f"{path.stem}-{digest[:20]}.npz"


def _load_cached(file: Path) -> np.ndarray | None:
    try:
        with np.load(file, allow_pickle=False) as z:
            return z["frames"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # unreadable (e.g. foreign/corrupt file): recompute and overwrite


def _save_atomic(file: Path, frames: np.ndarray) -> None:
    """Write ``frames`` to ``file`` via a temp file in the same folder + ``os.replace``."""
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, frames=frames)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cached(file: Path | None, compute: Callable[[], np.ndarray]) -> np.ndarray:
    if file is not None:
        frames = _load_cached(file)
        if frames is not None:
            return frames
    frames = compute()
    if file is not None:
        _save_atomic(file, frames)
    return frames


def _integrate(events: np.ndarray, path: Path, frame_options: dict[str, Any]) -> np.ndarray:
    opts = dict(frame_options)
    opts.setdefault("sensor_size", _default_sensor_size(path))
    return events_frames.events_to_frames(events, **opts)


def cached_frames(
    path: PathLike,
    cache_dir: PathLike | None,
    *,
    time_range: tuple[int, int] | None = None,
    reader_options: dict[str, Any] | None = None,
    **frame_options: Any,
) -> np.ndarray:
    """Frames of one event file, computed once and cached as compressed ``.npz``.

    ``frame_options`` go to :func:`events_frames.events_to_frames` (``num_frames`` required;
    ``sensor_size`` defaults from the format: 34x34 for ``.bin``, 128x128 for AEDAT).
    ``time_range=(t0, t1)`` keeps events with ``t0 <= t < t1`` (DVS128 Gesture samples);
    ``reader_options`` go to the reader (e.g. ``{"orientation": "spikingjelly"}``).
    The cache key hashes the source's absolute path, size and mtime with all options; the file
    is written atomically (temp file + rename), and an unreadable cache file is recomputed.
    ``cache_dir=None`` disables caching. Returns ``[T, H, W, 2]`` (or resized) frames.
    """
    path = Path(path)
    reader_options = dict(reader_options or {})
    file = (
        None if cache_dir is None else _cache_file(path, cache_dir, time_range, reader_options, frame_options)
    )

    def compute() -> np.ndarray:
        events = read_events(path, **reader_options)
        if time_range is not None:
            t = events["t"]
            events = events[(t >= time_range[0]) & (t < time_range[1])]
        return _integrate(events, path, frame_options)

    return _cached(file, compute)


# ----------------------------------------------------------------------------- listing


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise EventDataError(f"{path}: {what} folder not found")


def list_cifar10_dvs(root: PathLike) -> list[tuple[Path, int]]:
    """``(file, label)`` for every ``<root>/<class>/*.aedat``, classes in CIFAR-10 order and files
    sorted by name (lexicographic, as ``sorted(os.listdir)``) within each class."""
    root = Path(root)
    _require_dir(root, "CIFAR10-DVS root")
    items: list[tuple[Path, int]] = []
    for label, name in enumerate(CIFAR10_DVS_CLASSES):
        folder = root / name
        _require_dir(folder, "CIFAR10-DVS class")
        items.extend((f, label) for f in sorted(folder.glob("*.aedat")))
    return items


def split_per_class(
    items: Sequence[tuple[Path, int]], train_ratio: float = 0.9
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Deterministic per-class split: the first ``ceil(ratio * n_c)`` items of each class (in the
    given order) go to train, the rest to test (SpikingJelly ``split_to_train_test_set`` with
    ``random_split=False``; 900/100 per CIFAR10-DVS class)."""
    by_class: dict[int, list[tuple[Path, int]]] = {}
    for item in items:
        by_class.setdefault(item[1], []).append(item)
    train: list[tuple[Path, int]] = []
    test: list[tuple[Path, int]] = []
    for label in sorted(by_class):
        group = by_class[label]
        k = math.ceil(round(len(group) * train_ratio, 9))
        train.extend(group[:k])
        test.extend(group[k:])
    return train, test


def list_nmnist(root: PathLike, split: Split) -> list[tuple[Path, int]]:
    """``(file, digit)`` for ``<root>/Train|Test/<digit>/*.bin``, sorted by digit then name."""
    folder = Path(root) / {"train": "Train", "test": "Test"}[split]
    _require_dir(folder, "N-MNIST split")
    items: list[tuple[Path, int]] = []
    for digit in range(10):
        sub = folder / str(digit)
        _require_dir(sub, "N-MNIST digit")
        items.extend((f, digit) for f in sorted(sub.glob("*.bin")))
    return items


def list_dvs_gesture(root: PathLike, split: Split) -> list[tuple[Path, Path]]:
    """``(recording.aedat, recording_labels.csv)`` pairs named in ``trials_to_<split>.txt``.

    ``root`` is the folder holding ``trials_to_train.txt`` (or its parent ``DvsGesture/``).
    """
    root = Path(root)
    if not (root / "trials_to_train.txt").exists() and (root / "DvsGesture").is_dir():
        root = root / "DvsGesture"
    listing = root / f"trials_to_{split}.txt"
    try:
        names = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
    except OSError:
        raise EventDataError(f"{listing}: trial list not found") from None
    pairs = []
    for name in names:
        aedat = root / name
        pairs.append((aedat, aedat.with_name(aedat.stem + "_labels.csv")))
    return pairs


# ----------------------------------------------------------------------------- loading


def _stack(frames: list[np.ndarray], labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    if not frames:
        raise EventDataError("no samples found")
    return np.stack(frames), np.asarray(labels, dtype=np.int64)


def _load_files(
    items: Sequence[tuple[Path, int]],
    cache_dir: PathLike | None,
    reader_options: dict[str, Any] | None,
    frame_options: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    frames = [cached_frames(p, cache_dir, reader_options=reader_options, **frame_options) for p, _ in items]
    return _stack(frames, [label for _, label in items])


def load_cifar10_dvs(
    root: PathLike,
    split: Split,
    *,
    num_frames: int = 10,
    split_by: str = "number",
    size: tuple[int, int] | None = (48, 48),
    train_ratio: float = 0.9,
    cache_dir: PathLike | None = None,
    reader_options: dict[str, Any] | None = None,
    **frame_options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR10-DVS as in the seeds: ``split_by='number'`` frames resized to 48x48, 90/10
    per-class split (:func:`split_per_class`). Returns ``([N, T, 48, 48, 2], [N])``."""
    train, test = split_per_class(list_cifar10_dvs(root), train_ratio)
    opts = dict(num_frames=num_frames, split_by=split_by, size=size, **frame_options)
    return _load_files(train if split == "train" else test, cache_dir, reader_options, opts)


def load_nmnist(
    root: PathLike,
    split: Split,
    *,
    num_frames: int = 10,
    split_by: str = "number",
    cache_dir: PathLike | None = None,
    **frame_options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """N-MNIST frames ``([N, T, 34, 34, 2], [N])`` from ``Train``/``Test`` digit folders."""
    opts = dict(num_frames=num_frames, split_by=split_by, **frame_options)
    return _load_files(list_nmnist(root, split), cache_dir, None, opts)


def load_dvs_gesture(
    root: PathLike,
    split: Split,
    *,
    num_frames: int = 16,
    split_by: str = "number",
    cache_dir: PathLike | None = None,
    reader_options: dict[str, Any] | None = None,
    **frame_options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """DVS128 Gesture: every labelled segment of every listed recording becomes one sample
    (events with ``start <= t < end``), labels 0..10. Returns ``([N, T, H, W, 2], [N])``.

    A recording is read at most once, and only if one of its segments is not cached; cache
    entries are shared with ``cached_frames(aedat, cache_dir, time_range=(start, end), ...)``.
    """
    opts = dict(num_frames=num_frames, split_by=split_by, **frame_options)
    reader_options = dict(reader_options or {})
    frames: list[np.ndarray] = []
    labels: list[int] = []
    for aedat, csv in list_dvs_gesture(root, split):
        rows = read_dvs_gesture_labels(csv)
        recording: dict[str, np.ndarray] = {}

        def segment(t0: int, t1: int, aedat: Path = aedat, rec: dict = recording) -> np.ndarray:
            if not rec:
                rec["events"] = read_events(aedat, **reader_options)
            t = rec["events"]["t"]
            return rec["events"][(t >= t0) & (t < t1)]

        for label, t0, t1 in rows.tolist():
            file = (
                None if cache_dir is None else _cache_file(aedat, cache_dir, (t0, t1), reader_options, opts)
            )
            compute = lambda t0=t0, t1=t1, a=aedat: _integrate(segment(t0, t1), a, opts)
            frames.append(_cached(file, compute))
            labels.append(label)
    return _stack(frames, labels)
