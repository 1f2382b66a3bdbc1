"""The dataset table: every dataset ``config.data.name`` can name, declared once as a :class:`DatasetSpec`.

The tfds builders, the input pipelines and the model summary (:func:`input_info`, which needs no data) take
a dataset's classes, input shape, normalisation, reader and tfds name from here and nowhere else. A new
dataset is a reader plus one :func:`register` line (docs/extending.md, "Adding a dataset").
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from snnjax.data import raw
from snnjax.data.events import io as event_io
from snnjax.data.events import source as event_source
from snnjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class SquareShape:
    """``(s, s, channels)`` with ``s = config.data[key]``, or ``default`` where that is 0 or absent."""

    key: str
    channels: int
    default: int = 0

    def __call__(self, data_config: Any) -> tuple[int, int, int]:
        side = int(data_config.get(self.key, 0) or self.default)
        return (side, side, self.channels)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Everything the library knows about one dataset.

    Attributes:
      name: the ``config.data.name``.
      num_classes: labels are ``0 .. num_classes - 1``.
      input_shape: ``(H, W, C)`` of one example as a batch holds it, or a function of ``config.data``
        giving it (ImageNet crops follow ``image_size``, event frames ``frame_size``).
      read: the local reader: ``read(directory, split) -> (images uint8 [N, H, W, C], labels int64 [N])``
        (event datasets: ``read(directory, split, data_config) -> [Sample]``); None if only tfds has it.
      kind: ``'image'`` (uint8 records, batches ``[B, H, W, C]``) or ``'event'`` (event files integrated
        into frames, batches ``[B, T, H, W, 2]``; the model's ``events`` encoder makes them time-major).
      mean, std: per-channel normalisation of pixels in [0, 1] (None: none).
      tfds_name: tfds's official dataset, read when ``config.data.dir`` is '' ('' = none).
      tfds_test_split: the tfds split that serves as ``'test'`` (imagenet2012: ``'validation'``).
      needs_dir: False if the reader needs no files (scikit-learn's digits).
      variable_size: records differ in size; the pipeline crops them to ``input_shape`` (ImageNet).
      sensor_size: ``(W, H)`` of the event camera (event datasets).
    """

    name: str
    num_classes: int
    input_shape: tuple[int, int, int] | Callable[[Any], tuple[int, int, int]]
    read: Callable[..., Any] | None = None
    kind: str = "image"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    tfds_name: str = ""
    tfds_test_split: str = "test"
    needs_dir: bool = True
    variable_size: bool = False
    sensor_size: tuple[int, int] = (0, 0)

    def shape(self, data_config: Any) -> tuple[int, int, int]:
        """``(H, W, C)`` of one example under ``data_config`` (no data read)."""
        shape = self.input_shape(data_config) if callable(self.input_shape) else self.input_shape
        return tuple(int(d) for d in shape)


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """Static facts about a dataset as a pipeline delivers it.

    ``image_shape`` is ``(H, W, C)`` of one example; ``steps_per_epoch`` is batches per epoch or per
    evaluation pass (0 outside a pipeline); ``num_frames`` is ``T`` of event datasets (0 for images).
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    num_train: int
    num_test: int
    steps_per_epoch: int = 0
    num_frames: int = 0


DATASETS: dict[str, DatasetSpec] = {}
"""The table, by name; add entries with :func:`register`."""


def register(spec: DatasetSpec) -> DatasetSpec:
    """Adds ``spec`` to the table (a name registered twice raises :class:`ConfigError`)."""
    if spec.kind not in ("image", "event"):
        raise ConfigError(f"dataset {spec.name!r} has kind {spec.kind!r}: use 'image' or 'event'")
    if spec.name in DATASETS:
        raise ConfigError(f"dataset {spec.name!r} is already registered")
    DATASETS[spec.name] = spec
    return spec


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``; an unknown name raises :class:`ConfigError`."""
    spec = DATASETS.get(name)
    if spec is None:
        raise ConfigError(f"unknown dataset {name!r}: choose one of {sorted(DATASETS)}")
    return spec


def input_info(data_config: Any) -> tuple[int, tuple[int, int, int]]:
    """``(num_classes, (H, W, C))`` of ``config.data`` without reading any data (for model summaries)."""
    spec = dataset_spec(data_config.name)
    return spec.num_classes, spec.shape(data_config)


# ----------------------------------------------------------------------------------------------------
# The datasets. Normalisation: the datasets' customary per-channel statistics; Fashion-MNIST's and
# digits' were computed here over their training splits (pixels / 255).

for _spec in (
    DatasetSpec(
        "mnist", 10, (28, 28, 1), functools.partial(raw.load_idx_split, name="mnist"),
        mean=(0.1307,), std=(0.3081,), tfds_name="mnist",
    ),
    DatasetSpec(
        "fashion_mnist", 10, (28, 28, 1), functools.partial(raw.load_idx_split, name="fashion_mnist"),
        mean=(0.2860,), std=(0.3530,), tfds_name="fashion_mnist",
    ),
    DatasetSpec(
        "cifar10", 10, (32, 32, 3), raw.load_cifar10,
        mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010), tfds_name="cifar10",
    ),
    DatasetSpec(
        "cifar100", 100, (32, 32, 3), raw.load_cifar100,
        mean=(0.5071, 0.4867, 0.4408), std=(0.2675, 0.2565, 0.2761), tfds_name="cifar100",
    ),
    DatasetSpec(
        "imagenet2012", 1000, SquareShape("image_size", 3, 224), None,
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), tfds_name="imagenet2012",
        tfds_test_split="validation", variable_size=True,
    ),
    DatasetSpec(
        "digits", 10, (8, 8, 1), raw.load_digits, mean=(0.3055,), std=(0.3759,), needs_dir=False
    ),
    DatasetSpec(
        "cifar10_dvs", 10, SquareShape("frame_size", 2, 48), event_source.list_cifar10_dvs,
        kind="event", sensor_size=event_io.DVS128_SENSOR_SIZE,
    ),
    DatasetSpec(
        "nmnist", 10, SquareShape("frame_size", 2, 34), event_source.list_nmnist,
        kind="event", sensor_size=event_io.NMNIST_SENSOR_SIZE,
    ),
    DatasetSpec(
        "dvs128_gesture", 11, SquareShape("frame_size", 2, 128), event_source.list_dvs_gesture,
        kind="event", sensor_size=event_io.DVS128_SENSOR_SIZE,
    ),
):  # fmt: skip
    register(_spec)
