"""tensorflow-datasets as the data interface: :func:`open_split` gives a random-access tfds data source of
records ``{'image': uint8 [H, W, C], 'label': int}``.

With ``config.dir`` set (or a dataset that needs no files), the dataset's reader reads the raw files once
and a tfds builder ``snnjax_<name>`` (ArrayRecord, no TensorFlow) writes them, in file order, into the tfds
data dir (:func:`resolve_tfds_dir`); later runs only read that. An exclusive file lock serialises builds of
a dataset, and tfds renames its ``incomplete.*`` folder only when the build is complete. With
``config.dir == ''``, tfds's official dataset (prepared already, or downloadable).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import socket
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from snnjax.data import paths, raw
from snnjax.data.specs import DataInfo, DatasetSpec, dataset_spec
from snnjax.errors import DataError

FALLBACK_TFDS_DIR = "~/tensorflow_datasets/snnjax_local"
"""Where local builds go when ``<config.data.dir>/tfds`` is read-only."""

Arrays = dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (images uint8 [N, H, W, C], labels int64 [N])


class LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """tfds builder of ``snnjax_<name>`` writing arrays read beforehand (:attr:`arrays`) in file order."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Built by snnjax from local raw files."}
    SPEC: ClassVar[DatasetSpec]
    arrays: Arrays

    def _info(self) -> tfds.core.DatasetInfo:
        image = tfds.features.Tensor(shape=self.SPEC.shape({}), dtype=np.uint8)
        label = tfds.features.ClassLabel(num_classes=self.SPEC.num_classes)
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"{self.SPEC.name} read by snnjax from local raw files (file order).",
            features=tfds.features.FeaturesDict({"image": image, "label": label}),
            supervised_keys=("image", "label"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        return {split: self._generate_examples(*self.arrays[split]) for split in raw.SPLITS}

    def _generate_examples(self, images: np.ndarray, labels: np.ndarray) -> Iterator[tuple[int, dict]]:
        for i in range(len(labels)):
            yield i, {"image": images[i], "label": int(labels[i])}


@functools.cache
def local_builder(spec: DatasetSpec) -> type[LocalBuilder]:
    """The tfds builder class ``snnjax_<name>`` of a dataset with a fixed-shape local reader."""
    if spec.read is None or spec.kind != "image" or spec.variable_size:
        raise DataError(f"dataset {spec.name} has no local reader of fixed-shape images")
    return type(f"Snnjax_{spec.name}", (LocalBuilder,), {"name": f"snnjax_{spec.name}", "SPEC": spec})


def read_arrays(spec: DatasetSpec, raw_dir: epath.Path) -> Arrays:
    """Both splits of ``spec`` read from ``raw_dir`` and checked against its shape and class count."""
    arrays = {split: spec.read(raw_dir, split) for split in raw.SPLITS}
    for split, (images, labels) in arrays.items():
        if images.shape[1:] != spec.shape({}) or images.dtype != np.uint8 or len(images) != len(labels):
            raise DataError(
                f"{spec.name} reader gave {split} images {images.dtype} {images.shape} and {len(labels)} "
                f"labels from {raw_dir}, expected uint8 [N, {', '.join(map(str, spec.shape({})))}]"
            )
        if labels.size and not 0 <= labels.min() <= labels.max() < spec.num_classes:
            raise DataError(
                f"{spec.name} {split} labels in {raw_dir} span {labels.min()}..{labels.max()}, "
                f"outside 0..{spec.num_classes - 1}"
            )
    return arrays


# ----------------------------------------------------------------------------------------------------
# Where built datasets live


def resolve_tfds_dir(data_config: Any) -> epath.Path:
    """The tfds data dir of a project-built dataset: ``config.tfds_dir`` if set; else ``<config.dir>/tfds``
    if writable or already holding the built dataset; else :data:`FALLBACK_TFDS_DIR`."""
    if data_config.tfds_dir:
        return paths.user_path(data_config.tfds_dir)
    spec = dataset_spec(data_config.name)
    if spec.needs_dir and data_config.dir:
        candidate = paths.user_path(data_config.dir) / "tfds"
        if is_prepared_at(spec, candidate) or paths.is_writable_dir(candidate):
            return candidate
    return paths.user_path(FALLBACK_TFDS_DIR)


def is_prepared_at(spec: DatasetSpec, data_dir: epath.Path) -> bool:
    """True if ``data_dir`` holds a complete build of ``snnjax_<name>``."""
    version_dir = data_dir / f"snnjax_{spec.name}" / str(LocalBuilder.VERSION)
    return (version_dir / "dataset_info.json").is_file() and (version_dir / "features.json").is_file()


@contextlib.contextmanager
def _build_lock(data_dir: epath.Path, name: str) -> Iterator[None]:
    """Exclusive inter-process lock on ``<data_dir>/.<name>.lock`` (blocks until free; local dirs only)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if paths.is_remote(data_dir):
        yield
        return
    with open(data_dir / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield


def prepare_local(name: str, raw_dir: str | os.PathLike, tfds_dir: str | os.PathLike) -> LocalBuilder:
    """Builds (once) the tfds dataset ``snnjax_<name>`` from raw files; returns its builder.

    A no-op when ``<tfds_dir>/snnjax_<name>/<version>`` is complete. Missing or corrupt raw files raise
    :class:`DataError` before any folder is created; so does a folder that cannot be written.
    """
    spec = dataset_spec(name)
    builder_cls = local_builder(spec)
    tfds_dir = paths.user_path(tfds_dir)
    if not is_prepared_at(spec, tfds_dir):
        arrays = read_arrays(spec, paths.user_path(raw_dir or "."))
        try:
            with paths.removed_on_failure(tfds_dir), _build_lock(tfds_dir, builder_cls.name):
                if not is_prepared_at(spec, tfds_dir):  # another process may have finished it
                    _remove_incomplete(tfds_dir / builder_cls.name)
                    builder = builder_cls(data_dir=os.fspath(tfds_dir), file_format="array_record")
                    builder.arrays = arrays
                    builder.download_and_prepare(
                        download_dir=os.fspath(tfds_dir / "downloads"),
                        download_config=tfds.download.DownloadConfig(try_download_gcs=False),
                    )
        except OSError as e:
            raise DataError(
                f"cannot build {name} into tfds dir {tfds_dir} ({type(e).__name__}: {e}): "
                "set config.data.tfds_dir to a writable folder"
            ) from None
    return builder_cls(data_dir=os.fspath(tfds_dir))


def _remove_incomplete(dataset_dir: epath.Path) -> None:
    """Deletes leftovers of interrupted builds (``incomplete.*`` folders); we hold the build lock."""
    if dataset_dir.is_dir():
        for p in dataset_dir.iterdir():
            if p.name.startswith("incomplete"):
                p.rmtree(missing_ok=True)


# ----------------------------------------------------------------------------------------------------
# Opening a split


def tfds_split_name(spec: DatasetSpec, split: str) -> str:
    """tfds's split name for our ``train``/``test``."""
    if split not in raw.SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {raw.SPLITS}")
    return spec.tfds_test_split if split == "test" else split


def open_split(data_config: Any, split: str) -> Any:
    """A random-access tfds data source of ``split`` (``'train'``/``'test'``) of ``data_config.name``.

    Records are dicts with ``image`` uint8 ``[H, W, C]`` and ``label`` (int). Builds local datasets on first
    use. Raises :class:`DataError` for bad raw files or an unavailable tfds dataset.
    """
    spec = dataset_spec(data_config.name)
    tfds_split = tfds_split_name(spec, split)
    if data_config.dir or not spec.needs_dir:
        if spec.read is None:
            raise DataError(
                f"dataset {spec.name} cannot be read from raw files in {data_config.dir}: set "
                "config.data.dir='' to use the tfds-prepared dataset (config.data.tfds_dir)"
            )
        builder = prepare_local(spec.name, data_config.dir, resolve_tfds_dir(data_config))
        return builder.as_data_source(split=tfds_split)
    if not spec.tfds_name:
        raise DataError(f"dataset {spec.name} has no tfds dataset: set config.data.dir to its raw files")
    data_dir = data_config.tfds_dir or None
    check_obtainable(spec.tfds_name, data_dir)
    try:
        return tfds.data_source(spec.tfds_name, split=tfds_split, data_dir=data_dir)
    except Exception as e:  # tfds raises many types (not found, needs TensorFlow, no internet, ...)
        where = data_dir or "the default tfds data dir (~/tensorflow_datasets)"
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise DataError(
            f"tfds dataset {spec.tfds_name} (split {split}) could not be opened from {where} "
            f"({type(e).__name__}: {first_line}): prepare it once with tfds (needs internet, and TensorFlow "
            "for image datasets: pip install tensorflow-cpu), or set config.data.dir to a folder of raw files"
        ) from e


DOWNLOAD_HOST = ("storage.googleapis.com", 443)
"""Where tfds downloads from; probed before a download so that an offline machine fails in seconds."""


def check_obtainable(tfds_name: str, data_dir: str | None, timeout_s: float = 5.0) -> None:
    """Raises :class:`DataError` at once when the official dataset ``tfds_name`` is neither prepared in
    ``data_dir`` nor downloadable (no network), instead of tfds retrying its downloads for minutes."""
    try:
        if tfds.builder(tfds_name, data_dir=data_dir).is_prepared():
            return
    except Exception:  # an unknown name or a broken install: tfds.data_source reports it
        return
    try:
        socket.create_connection(DOWNLOAD_HOST, timeout=timeout_s).close()
    except OSError:
        where = data_dir or "the default tfds data dir (~/tensorflow_datasets)"
        raise DataError(
            f"tfds dataset {tfds_name} is not prepared in {where} and cannot be downloaded (no network): "
            "set config.data.dir to a folder of its raw files, or prepare it with tfds on a machine with "
            "internet and set config.data.tfds_dir"
        ) from None


def dataset_info(data_config: Any, train_source: Any, test_source: Any) -> DataInfo:
    """The :class:`DataInfo` of opened ``train``/``test`` sources (counts are the sources' lengths)."""
    spec = dataset_spec(data_config.name)
    num_classes = int(train_source.dataset_info.features["label"].num_classes)
    shape = spec.shape(data_config)
    if not spec.variable_size:
        shape = tuple(train_source.dataset_info.features["image"].shape)
        if len(shape) != 3 or None in shape:
            raise DataError(f"dataset {spec.name} has image shape {shape}, expected fixed (H, W, C)")
        shape = tuple(int(d) for d in shape)
    return DataInfo(spec.name, num_classes, shape, len(train_source), len(test_source))
