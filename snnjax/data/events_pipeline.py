"""Event-camera datasets in the input pipeline: ``config.data.name`` in :data:`EVENT_DATASETS`.

Each recording (or DVS128 Gesture segment) is integrated once into ``T`` frames by
:func:`snnjax.data.events.cached_frames` (one compressed ``.npz`` per sample in the cache folder), so
later runs read frames, not events. Batches hold ``image`` float32 ``[T, b, H, W, 2]`` (time-major event
counts per polarity, no normalisation), ``label`` int32 ``[b]`` and ``mask`` bool ``[b]``; the batch order,
evaluation padding and exact-resume state are those of the image pipeline (:mod:`snnjax.data.sampling`).

Datasets and the layout of ``config.data.dir``:

* ``cifar10_dvs``: ``<dir>/<class>/*.aedat`` (AEDAT 2.0, classes ``airplane .. truck``); the seeds' split:
  the first 90% (``config.data.train_ratio``) of each class's files, sorted by name, train, the rest test.
  Frames resized to 48x48 by default.
* ``nmnist``: ``<dir>/Train|Test/<digit>/*.bin``; 34x34 frames by default.
* ``dvs128_gesture``: ``<dir>`` (or ``<dir>/DvsGesture``) with ``trials_to_train.txt``,
  ``trials_to_test.txt``, the ``*.aedat`` recordings (AEDAT 3.1) and their ``*_labels.csv``; every labelled
  segment is one sample (11 classes); 128x128 frames by default.

Training augmentations are the same for every frame of a sample (:func:`events.augment_frames`):
``flip`` (horizontal, p = 0.5), ``roll`` (circular shift by up to +-roll px in y and x; NSNN: 5) and
``crop_padding`` (zero-pad then crop back; SPIDE: 4), applied in that order.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np
from tqdm import tqdm

from snnjax.data import events, events_datasets, events_frames, sampling
from snnjax.data.builders import DataInfo, _is_writable_dir
from snnjax.data.raw import DataError


@dataclasses.dataclass(frozen=True)
class EventDataset:
    """Static facts of an event dataset: classes, sensor ``(W, H)`` and default frame side."""

    num_classes: int
    sensor_size: tuple[int, int]
    default_frame_size: int


EVENT_DATASETS: dict[str, EventDataset] = {
    "cifar10_dvs": EventDataset(10, events.DVS128_SENSOR_SIZE, 48),
    "nmnist": EventDataset(10, events.NMNIST_SENSOR_SIZE, 34),
    "dvs128_gesture": EventDataset(11, events.DVS128_SENSOR_SIZE, 128),
}
"""The event datasets ``config.data.name`` may name."""

SPLIT_BY = ("number", "time")
RESIZE_MODES = ("area", "bilinear")
DEFAULT_CACHE_DIR = Path("~/.cache/snnjax/event_frames")


# ----------------------------------------------------------------------------------------------------
# Settings


def validate(settings: ml_collections.ConfigDict) -> None:
    """Raises :class:`DataError` for event-data settings that cannot work (before any file is read)."""
    if settings.autoaugment or settings.randaugment:
        raise DataError(
            f"AutoAugment/RandAugment are image augmentations, not for event dataset {settings.name}: "
            "set config.data.autoaugment='' and config.data.randaugment='' (use flip, roll, crop_padding)"
        )
    if settings.split_by not in SPLIT_BY:
        raise DataError(f"config.data.split_by={settings.split_by!r}: choose one of {SPLIT_BY}")
    if settings.resize not in RESIZE_MODES:
        raise DataError(f"config.data.resize={settings.resize!r}: choose one of {RESIZE_MODES}")
    for key in ("num_frames", "frame_size", "roll", "crop_padding"):
        if int(settings[key]) < 0:
            raise DataError(f"config.data.{key}={settings[key]} is negative: use 0 (default/off) or more")
    if float(settings.denoise_us) < 0:
        raise DataError(f"config.data.denoise_us={settings.denoise_us} is negative: use 0 (off) or more")
    if not 0.0 < float(settings.train_ratio) < 1.0:
        raise DataError(f"config.data.train_ratio={settings.train_ratio} must lie strictly between 0 and 1")
    if not settings.dir:
        raise DataError(
            f"event dataset {settings.name} is read from its original files: "
            "set config.data.dir to their folder"
        )


def resolve_num_frames(settings: ml_collections.ConfigDict, model_num_steps: int | None) -> int:
    """``T``: ``config.data.num_frames`` if > 0, else the model's number of time steps.

    Both given and different raises :class:`DataError` (one frame per time step)."""
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


def frame_shape(settings: Any) -> tuple[int, int, int]:
    """``(H, W, 2)`` of one frame for ``settings`` (no data read)."""
    spec = EVENT_DATASETS[settings.name]
    side = int(settings.frame_size) or spec.default_frame_size
    return (side, side, 2)


def frame_options(settings: ml_collections.ConfigDict, num_frames: int) -> dict[str, Any]:
    """Keyword arguments of :func:`events.events_to_frames` (all of them enter the cache key)."""
    spec = EVENT_DATASETS[settings.name]
    h, w, _ = frame_shape(settings)
    resized = (w, h) != tuple(spec.sensor_size)
    denoise = float(settings.denoise_us)
    return {
        "num_frames": int(num_frames),
        "split_by": str(settings.split_by),
        "sensor_size": tuple(spec.sensor_size),
        "size": (w, h) if resized else None,
        "resize_mode": str(settings.resize),
        "filter_time": denoise if denoise > 0 else None,
    }


def resolve_cache_dir(settings: ml_collections.ConfigDict) -> Path:
    """Where frames are cached: ``config.data.cache_dir`` if set; else ``<dir>/frames_cache`` if that is
    writable; else ``~/.cache/snnjax/event_frames/<name>``. Cache file names hash the source file and
    every frame option, so one folder serves any number of settings."""
    if settings.cache_dir:
        return Path(settings.cache_dir).expanduser().absolute()
    local = Path(settings.dir).expanduser().absolute() / "frames_cache"
    if local.is_dir() or _is_writable_dir(local):
        return local
    return DEFAULT_CACHE_DIR.expanduser() / settings.name


# ----------------------------------------------------------------------------------------------------
# Samples of a split


@dataclasses.dataclass(frozen=True)
class Sample:
    """One example: its event file, label and, for DVS128 Gesture, the segment ``[t0, t1)`` in us."""

    path: Path
    label: int
    time_range: tuple[int, int] | None = None


def list_samples(settings: Any, split: str) -> list[Sample]:
    """The samples of ``split`` in dataset order (reads directory listings and label CSVs only)."""
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r}: use one of ('train', 'test')")
    root = Path(settings.dir).expanduser()
    if settings.name == "cifar10_dvs":
        train, test = events.split_per_class(events.list_cifar10_dvs(root), float(settings.train_ratio))
        return [Sample(p, c) for p, c in (train if split == "train" else test)]
    if settings.name == "nmnist":
        return [Sample(p, c) for p, c in events.list_nmnist(root, split)]
    if settings.name == "dvs128_gesture":
        samples = []
        for aedat, csv in events.list_dvs_gesture(root, split):
            for label, t0, t1 in events.read_dvs_gesture_labels(csv).tolist():
                samples.append(Sample(aedat, int(label), (int(t0), int(t1))))
        return samples
    raise DataError(f"unknown event dataset {settings.name!r}: choose one of {tuple(EVENT_DATASETS)}")


class EventSource:
    """Frames of the samples of one split, integrated once and cached on disk.

    ``in_memory=True`` integrates (or loads from the cache) every sample at construction and keeps
    ``frames`` float32 ``[N, T, H, W, 2]`` in memory; otherwise each :meth:`get` reads the sample's cache
    file (integrating it on first use).
    """

    def __init__(
        self,
        samples: list[Sample],
        options: dict[str, Any],
        cache_dir: Path,
        *,
        in_memory: bool,
    ) -> None:
        if not samples:
            raise DataError("no samples found in the event dataset folder")
        self.samples = samples
        self.options = options
        self.cache_dir = cache_dir
        self.labels = np.asarray([s.label for s in samples], np.int32)
        self.frames: np.ndarray | None = None
        if in_memory:
            self.frames = self._load_all()

    def __len__(self) -> int:
        return len(self.samples)

    def _one(self, sample: Sample) -> np.ndarray:
        frames = events.cached_frames(
            sample.path, self.cache_dir, time_range=sample.time_range, **self.options
        )
        return np.asarray(frames, np.float32)

    def _load_all(self) -> np.ndarray:
        """Every sample's frames; a recording with several segments is read at most once."""
        recording: dict[str, Any] = {}
        out = None
        progress = tqdm(self.samples, desc="event frames", leave=False, disable=None, mininterval=2.0)
        for i, sample in enumerate(progress):
            frames = self._one(sample) if sample.time_range is None else self._segment(sample, recording)
            if out is None:
                out = np.empty((len(self.samples), *frames.shape), np.float32)
            out[i] = frames
        return out

    def _segment(self, sample: Sample, recording: dict[str, Any]) -> np.ndarray:
        """A DVS128 Gesture segment (same cache entry as :meth:`_one`), reading its recording only if the
        segment is not cached yet, and only once for consecutive segments of one recording."""
        file = events_datasets._cache_file(sample.path, self.cache_dir, sample.time_range, {}, self.options)

        def compute() -> np.ndarray:
            if recording.get("path") != sample.path:
                recording.update(path=sample.path, events=events.read_events(sample.path))
            ev = recording["events"]
            t0, t1 = sample.time_range
            return events_datasets._integrate(ev[(ev["t"] >= t0) & (ev["t"] < t1)], sample.path, self.options)

        return np.asarray(events_datasets._cached(file, compute), np.float32)

    def get(self, indices: np.ndarray) -> np.ndarray:
        """Frames float32 ``[n, T, H, W, 2]`` of ``indices``."""
        if self.frames is not None:
            return self.frames[indices]
        if not len(indices):
            return np.zeros((0, *self._one(self.samples[0]).shape), np.float32)
        return np.stack([self._one(self.samples[int(i)]) for i in indices])


# ----------------------------------------------------------------------------------------------------
# Batches


class EventBatchMaker(sampling.StepSampler):
    """Maps a step number to this host's batch of event frames ``[T, b, H, W, 2]``. Picklable."""

    def __init__(
        self,
        settings: ml_collections.ConfigDict,
        source: EventSource,
        info: DataInfo,
        *,
        train: bool,
        seed: int,
        global_batch_size: int,
        process_index: int,
        process_count: int,
    ) -> None:
        super().__init__(
            len(source),
            train=train,
            seed=seed,
            global_batch_size=global_batch_size,
            process_index=process_index,
            process_count=process_count,
        )
        self.name = settings.name
        self.source = source
        self.frame_shape = (info.num_frames, *info.image_shape)
        self.flip = bool(settings.flip) and train
        self.roll = int(settings.roll) if train else 0
        self.crop_padding = int(settings.crop_padding) if train else 0
        self.augment = self.flip or self.roll > 0 or self.crop_padding > 0

    def __call__(self, step: int) -> dict[str, np.ndarray]:
        """Host-local batch of step ``step``: image float32 ``[T, b, H, W, 2]``, label int32, mask bool."""
        step = int(step)
        indices = self.local_indices(step)
        valid = indices >= 0
        frames = np.zeros((len(indices), *self.frame_shape), np.float32)
        labels = np.zeros(len(indices), np.int32)
        frames[valid] = self.source.get(indices[valid])
        labels[valid] = self.source.labels[indices[valid]]
        if not self.augment:
            return {"image": np.ascontiguousarray(frames.swapaxes(0, 1)), "label": labels, "mask": valid}
        rng = self.augment_rng(step)  # drawn for the global batch, then sliced: host-count independent
        b, lo, hi = self.global_batch_size, self.lo, self.hi
        flips = rng.random(b) < 0.5
        shifts = rng.integers(-self.roll, self.roll + 1, size=(b, 2))
        offsets = rng.integers(0, 2 * self.crop_padding + 1, size=(b, 2))
        image = events_frames.transform_batch(
            frames,
            flips=flips[lo:hi] if self.flip else None,
            shifts=shifts[lo:hi] if self.roll else None,
            offsets=offsets[lo:hi] if self.crop_padding else None,
            pad=self.crop_padding,
            time_major_out=True,
        )
        return {"image": image, "label": labels, "mask": valid}


def make_maker(
    settings: ml_collections.ConfigDict,
    split: str,
    *,
    model_num_steps: int | None,
    train: bool,
    seed: int,
    global_batch_size: int,
    process_index: int,
    process_count: int,
) -> tuple[EventBatchMaker, DataInfo]:
    """The batch maker and :class:`DataInfo` of ``split`` of an event dataset (``settings`` validated
    by the caller's merge with the defaults). Integrates and caches frames not cached yet."""
    validate(settings)
    num_frames = resolve_num_frames(settings, model_num_steps)
    options = frame_options(settings, num_frames)
    cache_dir = resolve_cache_dir(settings)
    samples = list_samples(settings, split)
    if not samples:
        raise DataError(
            f"{settings.name} {split} split has no samples in {settings.dir}: check config.data.dir "
            "(and config.data.train_ratio for cifar10_dvs)"
        )
    other = list_samples(settings, "test" if split == "train" else "train")
    counts = (len(samples), len(other)) if split == "train" else (len(other), len(samples))
    spec = EVENT_DATASETS[settings.name]
    info = DataInfo(settings.name, spec.num_classes, frame_shape(settings), *counts, num_frames=num_frames)
    if train and len(samples) < global_batch_size:
        raise DataError(
            f"{settings.name} {split} has {len(samples)} samples, fewer than the global batch size "
            f"{global_batch_size}: no full training batch"
        )
    try:
        source = EventSource(samples, options, cache_dir, in_memory=bool(settings.cache))
    except OSError as e:
        raise DataError(
            f"cannot write event-frame cache in {cache_dir} ({type(e).__name__}: {e}): "
            "set config.data.cache_dir to a writable folder"
        ) from None
    maker = EventBatchMaker(
        settings,
        source,
        info,
        train=train,
        seed=seed,
        global_batch_size=global_batch_size,
        process_index=process_index,
        process_count=process_count,
    )
    return maker, info


__all__ = [
    "EVENT_DATASETS",
    "EventBatchMaker",
    "EventDataset",
    "EventSource",
    "Sample",
    "frame_options",
    "frame_shape",
    "list_samples",
    "make_maker",
    "resolve_cache_dir",
    "resolve_num_frames",
    "validate",
]
