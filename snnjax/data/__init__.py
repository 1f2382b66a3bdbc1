"""Datasets for snnjax: the dataset table, raw-file readers, tfds builders, grain pipelines, augmentations.

Typical use (the trainer passes ``config.data``)::

    from snnjax import data
    cfg = data.default_data_config()
    cfg.name, cfg.dir = "mnist", "/path/to/raw/mnist"
    train = data.make_pipeline(cfg, split="train", global_batch_size=128, seed=0, train=True)
    batch = next(train)  # {'image': float32 [b, 28, 28, 1], 'label': int32 [b], 'mask': bool [b]}

Every dataset is one :class:`DatasetSpec` in :data:`DATASETS`; :func:`input_info` gives its classes and input
shape without any data. Event datasets (docs/events.md) give ``image`` float32 ``[b, T, H, W, 2]``.
:mod:`snnjax.data.testing` writes fake event datasets in their original formats.
"""

from snnjax.data.pipeline import Pipeline, default_data_config, make_pipeline
from snnjax.data.specs import DATASETS, DataInfo, DatasetSpec, SquareShape, dataset_spec, input_info, register

__all__ = [
    "DATASETS",
    "DataInfo",
    "DatasetSpec",
    "Pipeline",
    "SquareShape",
    "dataset_spec",
    "default_data_config",
    "input_info",
    "make_pipeline",
    "register",
]
