"""tensorflow-datasets as the data interface: project builders for local raw files, official datasets.

Dataset names are tfds names (``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``, ``imagenet2012``)
plus ``digits`` (scikit-learn's 8x8 digits). :func:`open_split` returns a random-access tfds data source
whose records are ``{'image': uint8 [H, W, C], 'label': int}``:

* ``config.dir`` set (or ``name == 'digits'``): a project-owned :class:`tfds.core.GeneratorBasedBuilder`
  (``snnjax_<name>``, ArrayRecord files, ``Tensor(uint8)`` + ``ClassLabel`` features, no TensorFlow)
  reads the raw files once (see :mod:`snnjax.data.raw`) and writes a tfds dataset into the tfds data dir
  (:func:`resolve_tfds_dir`); later runs only read it with ``as_data_source``. Records keep the raw file
  order (``disable_shuffling=True``).
* ``config.dir == ''``: tfds's official dataset via ``tfds.data_source(name, data_dir=config.tfds_dir)``
  (it must be prepared already or be downloadable; preparing tfds's image datasets needs TensorFlow).

Building is safe against concurrent and interrupted builds: an exclusive file lock serialises builders of
the same dataset on a machine, and tfds writes into an ``incomplete.*`` folder that is renamed to the final
``<name>/<version>`` folder only after every split and ``dataset_info.json`` are written; an interrupted
build leaves only the ignored ``incomplete.*`` folder, removed by the next build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds

from snnjax.data import raw
from snnjax.data.raw import DataError

OFFICIAL_NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imagenet2012")
DATASET_NAMES = (*OFFICIAL_NAMES, "digits")
FALLBACK_TFDS_SUBDIR = Path("tensorflow_datasets") / "snnjax_local"

# tfds split names per dataset for our 'train' / 'test'.
_TFDS_SPLITS = {"imagenet2012": {"train": "train", "test": "validation"}}


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """Static facts about a dataset as the pipeline delivers it.

    ``image_shape`` is ``(H, W, C)`` of the images in a batch (for imagenet2012 the crop size).
    ``steps_per_epoch`` is filled in by a pipeline (batches per epoch or per evaluation pass; 0 here).
    ``num_frames`` is ``T`` of event datasets, whose batches are ``[T, B, H, W, C]`` (0 for images).
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    num_train: int
    num_test: int
    steps_per_epoch: int = 0
    num_frames: int = 0


# ----------------------------------------------------------------------------------------------------
# Builders of local raw files


class _RawImageBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the project builders: ``{'image': Tensor(uint8, IMAGE_SHAPE), 'label': ClassLabel}``."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Built by snnjax from local raw files."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Put the raw files in the manual dir (see snnjax.data.raw)."
    RAW_NAME: ClassVar[str] = ""
    IMAGE_SHAPE: ClassVar[tuple[int, int, int]] = (0, 0, 0)
    NUM_CLASSES: ClassVar[int] = 0

    def _info(self) -> tfds.core.DatasetInfo:
        features = tfds.features.FeaturesDict(
            {
                "image": tfds.features.Tensor(shape=self.IMAGE_SHAPE, dtype=np.uint8),
                "label": tfds.features.ClassLabel(num_classes=self.NUM_CLASSES),
            }
        )
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"{self.RAW_NAME} read by snnjax.data.raw from local raw files (file order).",
            features=features,
            supervised_keys=("image", "label"),
            disable_shuffling=True,
        )

    def _load(self, dl_manager: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
        return raw.load_raw(self.RAW_NAME, Path(os.fspath(dl_manager.manual_dir)), split)

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        # Read (and validate) every raw file before tfds writes anything, so a bad file fails fast.
        arrays = {split: self._load(dl_manager, split) for split in raw.SPLITS}
        for split, (images, _) in arrays.items():
            if images.shape[1:] != self.IMAGE_SHAPE:
                raise DataError(
                    f"{self.RAW_NAME} {split} images have shape {images.shape[1:]}, "
                    f"expected {self.IMAGE_SHAPE}"
                )
        return {split: self._generate_examples(*arrays[split]) for split in raw.SPLITS}

    def _generate_examples(self, images: np.ndarray, labels: np.ndarray) -> Iterator[tuple[int, dict]]:
        for i in range(len(labels)):
            yield i, {"image": images[i], "label": int(labels[i])}


class SnnjaxMnist(_RawImageBuilder):
    """MNIST from the four official IDX files."""

    name = "snnjax_mnist"
    RAW_NAME = "mnist"
    IMAGE_SHAPE = (28, 28, 1)
    NUM_CLASSES = 10


class SnnjaxFashionMnist(_RawImageBuilder):
    """Fashion-MNIST from the four official IDX files."""

    name = "snnjax_fashion_mnist"
    RAW_NAME = "fashion_mnist"
    IMAGE_SHAPE = (28, 28, 1)
    NUM_CLASSES = 10


class SnnjaxCifar10(_RawImageBuilder):
    """CIFAR-10 from binary records or python batches (any layout of :func:`raw.load_cifar10`)."""

    name = "snnjax_cifar10"
    RAW_NAME = "cifar10"
    IMAGE_SHAPE = (32, 32, 3)
    NUM_CLASSES = 10


class SnnjaxCifar100(_RawImageBuilder):
    """CIFAR-100 (fine labels) from binary records or python files."""

    name = "snnjax_cifar100"
    RAW_NAME = "cifar100"
    IMAGE_SHAPE = (32, 32, 3)
    NUM_CLASSES = 100


class SnnjaxDigits(_RawImageBuilder):
    """scikit-learn's 8x8 digits with the fixed 1437/360 split of :func:`raw.load_digits`."""

    name = "snnjax_digits"
    RAW_NAME = "digits"
    IMAGE_SHAPE = (8, 8, 1)
    NUM_CLASSES = 10

    def _load(self, dl_manager: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
        return raw.load_digits(split)


LOCAL_BUILDERS: dict[str, type[_RawImageBuilder]] = {
    b.RAW_NAME: b for b in (SnnjaxMnist, SnnjaxFashionMnist, SnnjaxCifar10, SnnjaxCifar100, SnnjaxDigits)
}


# ----------------------------------------------------------------------------------------------------
# Where built datasets live


def _is_writable_dir(path: Path) -> bool:
    """True if ``path`` (or its closest existing ancestor) is meant to be written.

    A folder whose permission bits grant no write access counts as read-only even for root (the shared
    data folder is ``r-x`` but root could write into it), and a write probe must succeed.
    """
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    if not probe.is_dir() or not (probe.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)):
        return False
    return os.access(probe, os.W_OK)


def fallback_tfds_dir() -> Path:
    """``~/tensorflow_datasets/snnjax_local``: where local builds go when the raw folder is read-only."""
    return Path.home() / FALLBACK_TFDS_SUBDIR


def resolve_tfds_dir(data_config: Any) -> Path:
    """The tfds data dir for a project-built dataset.

    ``config.tfds_dir`` if set; else ``<config.dir>/tfds`` if writable or already holding the built
    dataset; else :func:`fallback_tfds_dir`.
    """
    if data_config.tfds_dir:
        return Path(data_config.tfds_dir).expanduser().absolute()
    if data_config.name != "digits" and data_config.dir:
        candidate = Path(data_config.dir).expanduser().absolute() / "tfds"
        builder_cls = LOCAL_BUILDERS.get(data_config.name)
        built = builder_cls is not None and _is_prepared_at(builder_cls, candidate)
        if built or _is_writable_dir(candidate):
            return candidate
    return fallback_tfds_dir()


def _is_prepared_at(builder_cls: type[_RawImageBuilder], data_dir: Path) -> bool:
    version_dir = data_dir / builder_cls.name / str(builder_cls.VERSION)
    return (version_dir / "dataset_info.json").is_file() and (version_dir / "features.json").is_file()


@contextlib.contextmanager
def _build_lock(data_dir: Path, name: str) -> Iterator[None]:
    """Exclusive inter-process lock on ``<data_dir>/.<name>.lock`` (blocks until free)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _find_data_error(exc: BaseException) -> DataError | None:
    """The first :class:`DataError` in ``exc``'s cause/context chain."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, DataError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def prepare_local(name: str, raw_dir: str | Path, tfds_dir: str | Path) -> _RawImageBuilder:
    """Builds (once) the project tfds dataset ``snnjax_<name>`` from raw files; returns its builder.

    A no-op when ``<tfds_dir>/snnjax_<name>/<version>`` is complete. Raises :class:`DataError` for
    missing or corrupt raw files (after removing the partial build) or a folder that cannot be written.
    """
    if name not in LOCAL_BUILDERS:
        raise DataError(
            f"no local builder for dataset {name!r}: local raw datasets are {tuple(LOCAL_BUILDERS)}"
        )
    builder_cls = LOCAL_BUILDERS[name]
    tfds_dir = Path(tfds_dir).expanduser().absolute()
    if not _is_prepared_at(builder_cls, tfds_dir):
        try:
            with _build_lock(tfds_dir, builder_cls.name):
                if not _is_prepared_at(builder_cls, tfds_dir):  # another process may have finished it
                    _remove_incomplete(tfds_dir / builder_cls.name)
                    _build(builder_cls, raw_dir, tfds_dir)
        except OSError as e:
            raise DataError(
                f"cannot build {name} into tfds dir {tfds_dir} ({type(e).__name__}: {e}): "
                "set config.data.tfds_dir to a writable folder"
            ) from None
    return builder_cls(data_dir=os.fspath(tfds_dir))


def _remove_incomplete(dataset_dir: Path) -> None:
    """Deletes leftovers of interrupted builds (``incomplete.*`` folders); we hold the build lock."""
    if dataset_dir.is_dir():
        for p in dataset_dir.iterdir():
            if p.name.startswith("incomplete"):
                shutil.rmtree(p, ignore_errors=True)


def _build(builder_cls: type[_RawImageBuilder], raw_dir: str | Path, tfds_dir: Path) -> None:
    builder = builder_cls(data_dir=os.fspath(tfds_dir), file_format="array_record")
    config = tfds.download.DownloadConfig(manual_dir=os.fspath(raw_dir or "."), try_download_gcs=False)
    try:
        builder.download_and_prepare(download_config=config, download_dir=os.fspath(tfds_dir / "downloads"))
    except Exception as e:
        err = _find_data_error(e)
        if err is not None:
            raise err from None
        raise


# ----------------------------------------------------------------------------------------------------
# Opening a split


def tfds_split_name(name: str, split: str) -> str:
    """tfds's split name for our ``train``/``test`` (imagenet2012 calls its test split ``validation``)."""
    if split not in raw.SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {raw.SPLITS}")
    return _TFDS_SPLITS.get(name, {}).get(split, split)


def is_local(data_config: Any) -> bool:
    """True if ``data_config`` selects a project-built dataset (raw files, or digits)."""
    return data_config.name == "digits" or bool(data_config.dir)


def open_split(data_config: Any, split: str) -> Any:
    """A random-access tfds data source of ``split`` (``'train'``/``'test'``) of ``data_config.name``.

    Records are dicts with ``image`` uint8 ``[H, W, C]`` and ``label`` (int). Builds local datasets on
    first use. Raises :class:`DataError` for unknown names, bad raw files, or an unavailable tfds dataset.
    """
    name = data_config.name
    if name not in DATASET_NAMES:
        raise DataError(f"unknown dataset {name!r}: choose one of {DATASET_NAMES}")
    if is_local(data_config):
        if name not in LOCAL_BUILDERS:
            raise DataError(
                f"dataset {name} cannot be read from raw files in {data_config.dir}: set "
                "config.data.dir='' to use the tfds-prepared dataset (config.data.tfds_dir)"
            )
        builder = prepare_local(name, data_config.dir, resolve_tfds_dir(data_config))
        return builder.as_data_source(split=tfds_split_name(name, split))
    data_dir = data_config.tfds_dir or None
    try:
        return tfds.data_source(name, split=tfds_split_name(name, split), data_dir=data_dir)
    except Exception as e:  # tfds raises many types (not found, needs TensorFlow, no internet, ...)
        where = data_dir or "the default tfds data dir (~/tensorflow_datasets)"
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataError(
            f"tfds dataset {name} (split {split}) could not be opened from {where} ({type(e).__name__}: "
            f"{first_line}): prepare it once with tfds (needs internet, and TensorFlow for image datasets: "
            f"pip install tensorflow-cpu), or set config.data.dir to a folder of raw files"
        ) from e


def dataset_info(data_config: Any, train_source: Any, test_source: Any) -> DataInfo:
    """The :class:`DataInfo` of opened ``train``/``test`` sources (counts are the sources' lengths)."""
    features = train_source.dataset_info.features
    num_classes = int(features["label"].num_classes)
    if data_config.name == "imagenet2012":
        size = int(data_config.image_size)
        shape = (size, size, 3)
    else:
        shape = tuple(int(d) for d in features["image"].shape)
        if len(shape) != 3 or None in shape:
            raise DataError(f"dataset {data_config.name} has image shape {shape}, expected fixed (H, W, C)")
    return DataInfo(data_config.name, num_classes, shape, len(train_source), len(test_source))
