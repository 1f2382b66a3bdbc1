"""Event datasets as samples: listing and splitting the original files (layouts in docs/events.md), the
event-data settings, and the on-disk frame cache behind :class:`EventSource`: each sample is integrated
once into ``T`` frames, kept as an ``.npz`` whose name hashes the source file, the segment and every frame
option.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import uuid
import zipfile
from typing import Any, get_args

import numpy as np
from etils import epath
from tqdm import tqdm

from snnjax.data import paths
from snnjax.data.events import frames as frames_lib
from snnjax.data.events import io
from snnjax.errors import DataError

CIFAR10_DVS_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
"""Class folder names of CIFAR10-DVS; the label is the index in this tuple."""

DEFAULT_CACHE_DIR = "~/.cache/snnjax/event_frames"
_CACHE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Sample:
    """One example: its event file, label and, for DVS128 Gesture, the segment ``[t0, t1)`` in us."""

    path: epath.Path
    label: int
    time_range: tuple[int, int] | None = None


# ----------------------------------------------------------------------------------------------------
# Listing the samples of a split (the ``read`` entries of the dataset table)


def _require_dir(path: epath.Path, what: str) -> None:
    if not path.is_dir():
        raise DataError(f"{path}: {what} folder not found")


def list_cifar10_dvs(root: epath.Path, split: str, data_config: Any) -> list[Sample]:
    """``<root>/<class>/*.aedat``, classes in CIFAR-10 order, files sorted by name; the first
    ``ceil(train_ratio * n_c)`` files of each class are train, the rest test (as SpikingJelly's
    ``split_to_train_test_set(random_split=False)``)."""
    _require_dir(root, "CIFAR10-DVS root")
    samples: list[Sample] = []
    for label, name in enumerate(CIFAR10_DVS_CLASSES):
        _require_dir(root / name, "CIFAR10-DVS class")
        files = sorted((root / name).glob("*.aedat"))
        k = math.ceil(round(len(files) * float(data_config.train_ratio), 9))
        samples.extend(Sample(f, label) for f in (files[:k] if split == "train" else files[k:]))
    return samples


def list_nmnist(root: epath.Path, split: str, data_config: Any) -> list[Sample]:
    """``<root>/Train|Test/<digit>/*.bin``, sorted by digit then name."""
    folder = root / {"train": "Train", "test": "Test"}[split]
    _require_dir(folder, "N-MNIST split")
    samples: list[Sample] = []
    for digit in range(10):
        _require_dir(folder / str(digit), "N-MNIST digit")
        samples.extend(Sample(f, digit) for f in sorted((folder / str(digit)).glob("*.bin")))
    return samples


def list_dvs_gesture(root: epath.Path, split: str, data_config: Any) -> list[Sample]:
    """One sample per labelled segment of each recording named in ``trials_to_<split>.txt``."""
    if not (root / "trials_to_train.txt").exists() and (root / "DvsGesture").is_dir():
        root = root / "DvsGesture"
    listing = root / f"trials_to_{split}.txt"
    try:
        names = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
    except OSError:
        raise DataError(f"{listing}: trial list not found") from None
    samples = []
    for name in names:
        aedat = root / name
        labels = io.read_dvs_gesture_labels(aedat.with_name(aedat.stem + "_labels.csv"))
        samples.extend(Sample(aedat, int(c), (int(a), int(b))) for c, a, b in labels.tolist())
    return samples


# ----------------------------------------------------------------------------------------------------
# Settings (``config.data`` keys of event datasets)


def validate(settings: Any) -> None:
    """Raises :class:`DataError` for event-data settings that cannot work (before any file is read)."""
    if settings.autoaugment or settings.randaugment:
        raise DataError(
            f"AutoAugment/RandAugment are image augmentations, not for event dataset {settings.name}: "
            "set config.data.autoaugment='' and config.data.randaugment='' (use flip, roll, crop_padding)"
        )
    for key, literal in (("split_by", frames_lib.SplitBy), ("resize", frames_lib.ResizeMode)):
        allowed = get_args(literal)
        if settings[key] not in allowed:
            raise DataError(f"config.data.{key}={settings[key]!r}: choose one of {allowed}")
    for key in ("num_frames", "frame_size", "roll", "crop_padding", "denoise_us"):
        if float(settings[key]) < 0:
            raise DataError(f"config.data.{key}={settings[key]} is negative: use 0 (default/off) or more")
    if not 0.0 < float(settings.train_ratio) < 1.0:
        raise DataError(f"config.data.train_ratio={settings.train_ratio} must lie strictly between 0 and 1")
    if not settings.dir:
        raise DataError(f"event dataset {settings.name} is read from its original files: set config.data.dir")


def resolve_num_frames(settings: Any, model_num_steps: int | None) -> int:
    """``T``: ``config.data.num_frames`` if > 0, else the model's number of time steps (both given and
    different raises :class:`DataError`: one frame per time step)."""
    own = int(settings.num_frames)
    model = int(model_num_steps) if model_num_steps else 0
    if own and model and own != model:
        raise DataError(
            f"config.data.num_frames={own} differs from config.model.num_steps={model}: event frames feed "
            "one frame per time step, so set config.data.num_frames=0 (use the model's) or make them equal"
        )
    if not own and not model:
        raise DataError(
            f"event dataset {settings.name} needs a number of frames: set config.data.num_frames > 0"
        )
    return own or model


def frame_options(
    settings: Any, sensor_size: tuple[int, int], frame_shape: tuple[int, ...], num_frames: int
) -> dict[str, Any]:
    """Keyword arguments of :func:`frames.events_to_frames` (all of them enter the cache key)."""
    h, w = frame_shape[:2]
    denoise = float(settings.denoise_us)
    return dict(num_frames=int(num_frames), split_by=str(settings.split_by), sensor_size=tuple(sensor_size),
                size=(w, h) if (w, h) != tuple(sensor_size) else None, resize_mode=str(settings.resize),
                filter_time=denoise if denoise > 0 else None)  # fmt: skip


def resolve_cache_dir(settings: Any) -> epath.Path:
    """``config.data.cache_dir`` if set; else ``<dir>/frames_cache`` if writable; else
    ``~/.cache/snnjax/event_frames/<name>``."""
    if settings.cache_dir:
        return paths.user_path(settings.cache_dir)
    local = paths.user_path(settings.dir) / "frames_cache"
    if local.is_dir() or paths.is_writable_dir(local):
        return local
    return paths.user_path(DEFAULT_CACHE_DIR) / settings.name


# ----------------------------------------------------------------------------------------------------
# Frame cache


def _cache_file(sample: Sample, cache_dir: epath.Path, options: dict[str, Any]) -> epath.Path:
    """Source stem + hash of (source identity, segment, frame options)."""
    path = sample.path
    try:
        local = not paths.is_remote(path)
        st = os.stat(path) if local else None
        size, mtime = (st.st_size, st.st_mtime_ns) if local else (path.stat().length, path.stat().mtime)
    except OSError:
        raise DataError(f"{path}: file not found") from None
    segment = None if sample.time_range is None else [int(v) for v in sample.time_range]
    ident = dict(version=_CACHE_VERSION, file=os.fspath(path.resolve()) if local else os.fspath(path),
                 size=size, mtime_ns=mtime, time_range=segment, reader={}, frames=options)  # fmt: skip
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()
    return cache_dir / f"{path.stem}-{digest[:20]}.npz"


def _load_cached(file: epath.Path) -> np.ndarray | None:
    try:
        with file.open("rb") as f, np.load(f, allow_pickle=False) as z:
            return z["frames"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # absent, or unreadable (e.g. a foreign/corrupt file): recompute and overwrite


def _save_atomic(file: epath.Path, frames: np.ndarray) -> None:
    """Writes ``frames`` to a temp file in the same folder, then renames it to ``file``."""
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.stem}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("wb") as f:
            np.savez_compressed(f, frames=frames)
            f.flush()
            with contextlib.suppress(AttributeError, OSError):
                os.fsync(f.fileno())
        tmp.replace(file)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


class EventSource:
    """Frames float32 ``[T, H, W, 2]`` of the samples of one split, integrated once and cached on disk.

    ``in_memory=True`` integrates (or loads from the cache) every sample at construction and keeps
    ``frames`` ``[N, T, H, W, 2]`` in memory; otherwise each :meth:`get` reads the samples' cache files.
    A recording is read at most once for consecutive samples cut from it (DVS128 Gesture segments).
    """

    def __init__(
        self, samples: list[Sample], options: dict[str, Any], cache_dir: epath.Path, *, in_memory: bool
    ) -> None:
        self.samples = samples
        self.options = options
        self.cache_dir = cache_dir
        self.labels = np.asarray([s.label for s in samples], np.int32)
        self._recording: tuple[epath.Path | None, np.ndarray | None] = (None, None)
        self.frames: np.ndarray | None = None
        if in_memory:
            progress = tqdm(samples, desc="event frames", leave=False, disable=None, mininterval=2.0)
            for i, sample in enumerate(progress):
                frames = self.frames_of(sample)
                if self.frames is None:
                    self.frames = np.empty((len(samples), *frames.shape), np.float32)
                self.frames[i] = frames
            self._recording = (None, None)

    def __len__(self) -> int:
        return len(self.samples)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_recording": (None, None)}

    def _events(self, sample: Sample) -> np.ndarray:
        """The sample's events: its file, or the segment ``t0 <= t < t1`` of its recording."""
        path, events = self._recording
        if path != sample.path:
            events = io.read_events(sample.path)
            self._recording = (sample.path, events)
        if sample.time_range is not None:
            t0, t1 = sample.time_range
            events = events[(events["t"] >= t0) & (events["t"] < t1)]
        return events

    def frames_of(self, sample: Sample) -> np.ndarray:
        """Frames float32 ``[T, H, W, 2]`` of ``sample`` from the cache, integrating them on first use."""
        file = _cache_file(sample, self.cache_dir, self.options)
        frames = _load_cached(file)
        if frames is None:
            frames = frames_lib.events_to_frames(self._events(sample), **self.options)
            _save_atomic(file, frames)
        return np.asarray(frames, np.float32)

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Frames float32 ``[n, T, H, W, 2]`` of ``indices``."""
        if self.frames is not None:
            return self.frames[indices]
        if not len(indices):
            return np.zeros((0, *self.frames_of(self.samples[0]).shape), np.float32)
        return np.stack([self.frames_of(self.samples[int(i)]) for i in indices])
