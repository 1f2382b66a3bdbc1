"""grain input pipelines over tfds data sources: per-host slices of global batches, exact evaluation,
checkpointable position.

A pipeline is a ``grain.MapDataset`` over *step numbers*; step ``s`` maps to one host-local batch:

* training: epoch ``e = s // steps_per_epoch`` uses the permutation ``default_rng([seed, 0, e])`` of the
  split; global batch ``s`` is the next ``global_batch_size`` indices of it (the remainder of an epoch is
  dropped), and this host takes the slice ``[process_index * b, (process_index + 1) * b)`` with
  ``b = global_batch_size // process_count``. Augmentation parameters are drawn for the whole global batch
  from ``default_rng([seed, 1, s])`` and sliced, so the data do not depend on the number of hosts. The
  stream is infinite (the trainer counts steps; ``steps_per_epoch`` tells it where epochs end).
* evaluation: global batch ``s`` holds examples ``s * B .. (s + 1) * B - 1`` in order; past the end the
  batch is padded (zeros, label 0) and ``mask`` is False, so every example is seen exactly once. One pass
  is ``steps_per_epoch = ceil(N / B)`` batches; after it ends the pipeline rewinds, so every ``for`` loop
  over it is a full pass.

Batches (:func:`make_pipeline`) are dicts of numpy arrays; ``get_state()``/``set_state()`` save and restore
the position (the next step) as a JSON-able dict.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from typing import Any

import grain
import ml_collections
import numpy as np

from snnjax.data import builders, paths, raw, sampling, transforms
from snnjax.data.events import source as event_source
from snnjax.data.specs import DataInfo, DatasetSpec, dataset_spec
from snnjax.errors import DataError

STATE_FORMAT = "snnjax.data.pipeline/1"
_CACHE_CHUNK = 4096


def default_data_config() -> ml_collections.ConfigDict:
    """Every key :func:`make_pipeline` reads, with its default.

    - ``name``: a key of :data:`snnjax.data.DATASETS` (mnist, cifar10, ..., the event datasets).
    - ``dir``: folder of raw files (see :mod:`snnjax.data.raw`); '' = tfds's official dataset.
    - ``tfds_dir``: tfds data dir; '' = ``<dir>/tfds`` for raw files (``~/tensorflow_datasets/snnjax_local``
      if that is read-only) or tfds's default dir for official datasets.
    - ``normalize``: per-channel mean/std normalisation after scaling to [0, 1] (False: raw [0, 1] pixels).
    - ``crop_padding``: training random crop after zero padding by this many pixels (0 = off).
    - ``flip``: training random horizontal flip.
    - ``autoaugment``: '' or 'cifar10' (AutoAugment policy, training only).
    - ``randaugment``: '' or a timm-style spec such as 'rand-m7-n1-mstd0.5' (training only).
    - ``image_size``: crop size for imagenet2012 (train RandomResizedCrop, test resize + centre crop).
    - ``cache``: read a fixed-shape split into host memory once (fast batches; MNIST 47 MB, CIFAR 150 MB).
    - ``prefetch``: batches prepared ahead by background threads (0 = synchronous).
    - ``num_workers``: grain worker processes (0 = in-process; >0 needs a picklable data source).

    The event datasets' keys (``num_frames`` .. ``cache_dir``) are in docs/events.md, "Config keys".
    """
    return ml_collections.ConfigDict(
        dict(name="mnist", dir="", tfds_dir="", normalize=True, crop_padding=0, flip=False, autoaugment="",
             randaugment="", image_size=224, cache=True, prefetch=2, num_workers=0, num_frames=0,
             split_by="number", frame_size=0, resize="area", denoise_us=0.0, roll=0, nda=False,
             train_ratio=0.9, cache_dir="")
    )  # fmt: skip


def _settings(data_config: Any) -> ml_collections.ConfigDict:
    """``data_config`` merged over the defaults and checked (unknown keys and bad values raise)."""
    settings = default_data_config()
    given = data_config.to_dict() if hasattr(data_config, "to_dict") else dict(data_config)
    unknown = sorted(set(given) - set(settings))
    if unknown:
        raise DataError(f"unknown data config keys {unknown}: valid keys are {sorted(settings)}")
    settings.update(given)
    if dataset_spec(settings.name).kind == "event":
        event_source.validate(settings)
    elif settings.nda:
        raise DataError(f"config.data.nda augments event frames, not {settings.name} images: set it to False")
    if settings.autoaugment and settings.randaugment:
        raise DataError("config.data.autoaugment and config.data.randaugment are exclusive: set one to ''")
    _per_image_augment(settings)  # validates the augmentation strings before any data is read
    return settings


def _padded(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``values`` ``[n_valid, ...]`` placed at the True entries of ``valid`` ``[n]``, zeros elsewhere."""
    if valid.all():
        return values
    out = np.zeros((len(valid), *values.shape[1:]), values.dtype)
    out[valid] = values
    return out


class ImageBatchMaker(sampling.StepSampler):
    """Maps a step number to this host's image batch (see the module docstring). Thread-safe, picklable."""

    def __init__(
        self, settings: ml_collections.ConfigDict, spec: DatasetSpec, source: Any, info: DataInfo, **kw: Any
    ) -> None:
        super().__init__(len(source), **kw)
        self.source = source
        self.image_shape = info.image_shape
        self.variable_size = spec.variable_size
        self.crop_padding = int(settings.crop_padding) if self.train else 0
        self.flip = bool(settings.flip) and self.train
        self.per_image = _per_image_augment(settings) if self.train else None
        self.mean, self.std = (spec.mean, spec.std) if settings.normalize else (None, None)
        self.images = self.labels = None
        if settings.cache and not self.variable_size:
            self.images, self.labels = _read_all(source, self.image_shape)

    def fetch(self, indices: np.ndarray, seeds: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Images uint8 ``[n, H, W, C]`` and labels int32 ``[n]`` of ``indices``; records of any size
        (ImageNet) are cropped to ``image_shape``: random-resized + flip when training (``seeds``), else
        resize + centre crop."""
        if self.images is not None:
            return self.images[indices], self.labels[indices]
        records = _get_records(self.source, indices)
        images = np.zeros((len(records), *self.image_shape), np.uint8)
        for i, r in enumerate(records):
            images[i] = self._crop(r["image"], seeds, i) if self.variable_size else r["image"]
        return images, np.asarray([int(r["label"]) for r in records], np.int32)

    def _crop(self, image: np.ndarray, seeds: np.ndarray | None, i: int) -> np.ndarray:
        """uint8 ``[h, w]`` or ``[h, w, 1 | 3]`` of any size -> RGB ``image_shape``."""
        image = np.atleast_3d(np.asarray(image, np.uint8))
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)
        if not self.train:
            return transforms.resize_center_crop(image, self.image_shape[0])
        rng = np.random.default_rng(int(seeds[i]))
        return transforms.random_resized_crop(image, rng, self.image_shape[0], flip=self.flip)

    def __call__(self, step: int) -> dict[str, np.ndarray]:
        """Host-local batch of step ``step``: image float32 ``[b, H, W, C]``, label int32, mask bool."""
        step = int(step)
        indices = self.local_indices(step)
        valid = indices >= 0
        seeds = None
        if self.train:
            rng = self.augment_rng(step)  # drawn for the global batch, then sliced
            b, lo, hi = self.global_batch_size, self.lo, self.hi
            offsets = rng.integers(0, 2 * self.crop_padding + 1, size=(b, 2))[lo:hi]
            flips = (rng.random(b) < 0.5)[lo:hi] & self.flip
            seeds = rng.integers(0, 1 << 63, size=b)[lo:hi]
        images, labels = (_padded(x, valid) for x in self.fetch(indices[valid], seeds))
        if self.train and not self.variable_size and (self.crop_padding or self.flip):
            # crop then flip == flip then crop at the mirrored offset
            offsets[:, 1] = np.where(flips, 2 * self.crop_padding - offsets[:, 1], offsets[:, 1])
            images = transforms.flip_roll_crop(images, flips=flips, offsets=offsets, pad=self.crop_padding)
        if self.per_image is not None:
            images = transforms.apply_per_image(images, seeds, self.per_image)
        return {"image": transforms.normalize(images, self.mean, self.std), "label": labels, "mask": valid}


class EventBatchMaker(sampling.StepSampler):
    """Maps a step number to this host's batch of event frames ``[b, T, H, W, 2]``. Picklable."""

    def __init__(self, settings: Any, source: event_source.EventSource, **kw: Any) -> None:
        super().__init__(len(source), **kw)
        self.source = source
        self.flip = bool(settings.flip) and self.train
        self.roll = int(settings.roll) if self.train else 0
        self.crop_padding = int(settings.crop_padding) if self.train else 0
        self.nda = bool(settings.nda) and self.train

    def __call__(self, step: int) -> dict[str, np.ndarray]:
        """Host-local batch of step ``step``: image float32 ``[b, T, H, W, 2]``, label int32, mask bool."""
        step = int(step)
        indices = self.local_indices(step)
        valid = indices >= 0
        frames = _padded(self.source.get(indices[valid]), valid)
        labels = _padded(self.source.labels[indices[valid]], valid)
        if self.flip or self.roll or self.crop_padding:
            rng = self.augment_rng(step)  # drawn for the global batch, then sliced
            b, lo, hi = self.global_batch_size, self.lo, self.hi
            flips = (rng.random(b) < 0.5)[lo:hi] & self.flip
            shifts = rng.integers(-self.roll, self.roll + 1, size=(b, 2))[lo:hi]  # zeros if roll == 0
            offsets = rng.integers(0, 2 * self.crop_padding + 1, size=(b, 2))[lo:hi]
            frames = transforms.flip_roll_crop(
                frames, flips=flips, shifts=shifts, offsets=offsets, pad=self.crop_padding
            )
        if self.nda:  # after the flip (its draws follow the others, so they stay as they were)
            rng = np.random.default_rng([self.seed, 2, step])
            ops, params = transforms.draw_nda(rng, self.global_batch_size, *frames.shape[-3:-1])
            frames = transforms.nda(frames, ops[self.lo : self.hi], params[self.lo : self.hi])
        return {"image": np.ascontiguousarray(frames), "label": labels, "mask": valid}


def _per_image_augment(settings: Any) -> Any:
    """The configured AutoAugment/RandAugment (or None); a bad setting raises :class:`DataError`."""
    try:
        if settings.autoaugment:
            return transforms.AutoAugment(settings.autoaugment)
        if settings.randaugment:
            return transforms.RandAugment.from_string(settings.randaugment)
    except ValueError as e:
        raise DataError(f"bad augmentation in the data config: {e}") from None
    return None


def _get_records(source: Any, indices: Any) -> list[dict[str, Any]]:
    """Records ``indices`` of ``source`` in one batched read."""
    keys = [int(i) for i in indices]
    return list(source.__getitems__(keys)) if keys else []


def _read_all(source: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Every record of a source of images ``shape``: images uint8 ``[N, *shape]``, labels int32 ``[N]``."""
    n = len(source)
    if not n:
        raise DataError(f"data source {source!r} is empty")
    images, labels = np.empty((n, *shape), np.uint8), np.empty(n, np.int32)
    for start in range(0, n, _CACHE_CHUNK):
        records = _get_records(source, range(start, min(n, start + _CACHE_CHUNK)))
        images[start : start + len(records)] = [r["image"] for r in records]
        labels[start : start + len(records)] = [int(r["label"]) for r in records]
    return images, labels


class Pipeline:
    """Iterator of host-local batches with a checkpointable position.

    Attributes: ``info`` (:class:`DataInfo`, with ``steps_per_epoch``), ``steps_per_epoch``,
    ``global_batch_size``, ``local_batch_size``, ``train``, ``split``.
    """

    def __init__(self, maker: Any, info: DataInfo, *, split: str, settings: Any) -> None:
        self._maker = maker
        self.train = maker.train
        self.split = split
        self.steps_per_epoch = maker.steps_per_epoch
        self.global_batch_size = maker.global_batch_size
        self.local_batch_size = maker.local_batch_size
        self.info = dataclasses.replace(info, steps_per_epoch=self.steps_per_epoch)
        self._prefetch = int(settings.prefetch)
        self._num_workers = int(settings.num_workers)
        self._num_steps = sys.maxsize if self.train else self.steps_per_epoch
        self._iterator: Any = None  # created on first use, starting at self._step
        self._step = 0

    def _new_iterator(self, start: int) -> Any:
        """A grain iterator over the batches of steps ``start, start + 1, ...``."""
        threads = 1 if self._prefetch > 0 else 0
        options = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=self._prefetch)
        ds = grain.MapDataset.range(start, self._num_steps).map(self._maker).to_iter_dataset(options)
        if self._num_workers > 0:
            from absl import flags

            if not flags.FLAGS.is_parsed():  # grain's workers read absl flags: outside an absl app, defaults
                flags.FLAGS.mark_as_parsed()
            ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=self._num_workers))
        return iter(ds)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._iterator is None:
            self._iterator = self._new_iterator(self._step)
        try:
            batch = next(self._iterator)
        except StopIteration:
            self.reset()  # an evaluation pass ended: the next loop starts a new pass
            raise
        self._step += 1
        return batch

    def __len__(self) -> int:
        """Batches per epoch (one evaluation pass, or full training batches per epoch)."""
        return self.steps_per_epoch

    def batch_at(self, step: int) -> dict[str, np.ndarray]:
        """The batch of step ``step`` computed directly (no prefetch; does not move the position)."""
        return self._maker(step)

    @property
    def step(self) -> int:
        """Index of the next batch (counted from the start of the stream or evaluation pass)."""
        return self._step

    def reset(self) -> None:
        """Goes back to the first batch."""
        self.set_position(0)

    def set_position(self, step: int) -> None:
        """Makes ``step`` the next batch."""
        self.close()
        self._step = int(step)

    def _fingerprint(self) -> dict[str, Any]:
        m = self._maker
        return dict(dataset=self.info.name, split=self.split, train=self.train, seed=m.seed,
                    global_batch_size=self.global_batch_size, num_examples=m.num_examples)  # fmt: skip

    def get_state(self) -> dict[str, Any]:
        """JSON-serialisable position: ``{'format', 'step', ...fingerprint}``."""
        return {"format": STATE_FORMAT, "step": self._step, **self._fingerprint()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores a position saved by :meth:`get_state` of an identically configured pipeline (the
        number of hosts may differ). Raises :class:`DataError` if the state belongs to another pipeline."""
        if state.get("format") != STATE_FORMAT:
            raise DataError(f"pipeline state has format {state.get('format')!r}, expected {STATE_FORMAT!r}")
        mismatched = {k: (state.get(k), v) for k, v in self._fingerprint().items() if state.get(k) != v}
        if mismatched:
            raise DataError(f"pipeline state does not match this pipeline: (saved, current) {mismatched}")
        self.set_position(int(state["step"]))

    def close(self) -> None:
        """Stops background prefetching (worker processes, threads)."""
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()
        self._iterator = None


def make_pipeline(
    data_config: Any,
    *,
    split: str,
    global_batch_size: int,
    seed: int,
    train: bool,
    process_index: int | None = None,
    process_count: int | None = None,
    model_num_steps: int | None = None,
) -> Pipeline:
    """Input pipeline of ``split`` ('train'/'test') of ``data_config.name`` for this host.

    Args:
      data_config: ConfigDict (or mapping) with keys of :func:`default_data_config` (missing ones default).
      split: 'train' or 'test'.
      global_batch_size: examples per step over all hosts; must be divisible by ``process_count``.
      seed: seeds the shuffling and augmentation (same seed -> same batches).
      train: shuffled infinite stream with augmentation and dropped remainder; else one ordered, padded,
        masked pass per loop.
      process_index: this host (default: from JAX).
      process_count: the number of hosts (default: from JAX).
      model_num_steps: the model's ``T``; event datasets make that many frames unless
        ``data_config.num_frames`` > 0 (both set and different is an error). Ignored for images.

    Returns a :class:`Pipeline` yielding ``{'image': float32 [b, H, W, C], 'label': int32 [b],
    'mask': bool [b]}`` with ``b = global_batch_size // process_count``; for event datasets ``image`` is
    float32 ``[b, T, H, W, 2]`` (event counts; the model makes them time-major).
    """
    settings = _settings(data_config)
    if process_index is None or process_count is None:
        import jax

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if global_batch_size <= 0 or global_batch_size % process_count:
        raise DataError(
            f"global batch size {global_batch_size} is not a positive multiple of the process count "
            f"{process_count}: choose a batch size divisible by the number of hosts"
        )
    if not 0 <= process_index < process_count:
        raise DataError(f"process_index {process_index} is outside 0..{process_count - 1}")
    if split not in raw.SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {raw.SPLITS}")
    spec = dataset_spec(settings.name)
    other_split = "test" if split == "train" else "train"
    if spec.kind == "event":
        num_frames = event_source.resolve_num_frames(settings, model_num_steps)
        root = paths.user_path(settings.dir)
        source, other = spec.read(root, split, settings), spec.read(root, other_split, settings)
        if not source:
            raise DataError(
                f"{settings.name} {split} split has no samples in {settings.dir}: check config.data.dir "
                "(and config.data.train_ratio for cifar10_dvs)"
            )
    else:
        source, other = builders.open_split(settings, split), builders.open_split(settings, other_split)
    if train and len(source) < global_batch_size:
        raise DataError(
            f"{settings.name} {split} has {len(source)} examples, fewer than the global batch size "
            f"{global_batch_size}: no full training batch"
        )
    train_source, test_source = (source, other) if split == "train" else (other, source)
    sampler = dict(train=train, seed=seed, global_batch_size=global_batch_size, process_index=process_index,
                   process_count=process_count)  # fmt: skip
    if spec.kind == "event":
        info = DataInfo(settings.name, spec.num_classes, spec.shape(settings), len(train_source),
                        len(test_source), num_frames=num_frames)  # fmt: skip
        maker = EventBatchMaker(settings, _frame_source(settings, spec, source, num_frames), **sampler)
    else:
        info = builders.dataset_info(settings, train_source, test_source)
        maker = ImageBatchMaker(settings, spec, source, info, **sampler)
    return Pipeline(maker, info, split=split, settings=settings)


def _frame_source(
    settings: Any, spec: DatasetSpec, samples: list[event_source.Sample], num_frames: int
) -> event_source.EventSource:
    """The frames of event ``samples``, integrated and cached where they are not cached yet."""
    options = event_source.frame_options(settings, spec.sensor_size, spec.shape(settings), num_frames)
    cache_dir = event_source.resolve_cache_dir(settings)
    try:
        with paths.removed_on_failure(cache_dir):
            return event_source.EventSource(samples, options, cache_dir, in_memory=bool(settings.cache))
    except OSError as e:
        raise DataError(
            f"cannot write event-frame cache in {cache_dir} ({type(e).__name__}: {e}): "
            "set config.data.cache_dir to a writable folder"
        ) from None
