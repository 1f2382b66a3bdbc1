"""Datasets for snnjax: raw-file readers, tfds builders, grain pipelines, augmentations.

Typical use (the trainer passes ``config.data``)::

    from snnjax import data
    cfg = data.default_data_config()
    cfg.name, cfg.dir = "mnist", "/path/to/raw/mnist"
    train = data.make_pipeline(cfg, split="train", global_batch_size=128, seed=0, train=True)
    batch = next(train)  # {'image': float32 [b, 28, 28, 1], 'label': int32 [b], 'mask': bool [b]}

Event datasets (``cifar10_dvs``, ``nmnist``, ``dvs128_gesture``) give ``image`` float32 ``[T, b, H, W, 2]``;
see :mod:`snnjax.data.events_pipeline` and :mod:`snnjax.data.events`.
"""

from snnjax.data.builders import DATASET_NAMES, DataInfo, open_split, prepare_local, resolve_tfds_dir
from snnjax.data.events_pipeline import EVENT_DATASETS
from snnjax.data.pipeline import Pipeline, default_data_config, make_pipeline
from snnjax.data.raw import DataError, load_raw
from snnjax.data.transforms import NORMALIZATION, AutoAugment, RandAugment

__all__ = [
    "DATASET_NAMES",
    "EVENT_DATASETS",
    "NORMALIZATION",
    "AutoAugment",
    "DataError",
    "DataInfo",
    "Pipeline",
    "RandAugment",
    "default_data_config",
    "load_raw",
    "make_pipeline",
    "open_split",
    "prepare_local",
    "resolve_tfds_dir",
]
