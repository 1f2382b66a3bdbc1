"""Neuromorphic event data: readers, frame integration, caching, dataset splits, augmentations.

Public facade over :mod:`snnjax.data.events_io` (file formats, :class:`EventDataError`),
:mod:`snnjax.data.events_frames` (frames, denoising, resizing, augmentations) and
:mod:`snnjax.data.events_datasets` (``.npz`` caching, dataset listing/splitting/loading).

Conventions: events are ``[N]`` structured arrays of :data:`EVENT_DTYPE` (``t`` int64 us,
``x``/``y`` int16, ``p`` int8 0/1); sizes are ``(W, H)``; frames are ``[T, H, W, 2]``
(polarity channel last).

Example (CIFAR10-DVS as in the NSNN seed)::

    frames, labels = load_cifar10_dvs(root, "train", num_frames=10, size=(48, 48),
                                      cache_dir="~/.cache/snnjax/c10dvs")
    rng = np.random.default_rng(0)
    x = augment_batch(frames[:32], rng, flip=True, max_roll=5)
"""

from snnjax.data.events_datasets import (
    CIFAR10_DVS_CLASSES,
    cached_frames,
    list_cifar10_dvs,
    list_dvs_gesture,
    list_nmnist,
    load_cifar10_dvs,
    load_dvs_gesture,
    load_nmnist,
    split_per_class,
)
from snnjax.data.events_frames import (
    augment_batch,
    augment_frames,
    denoise_events,
    events_to_frames,
    random_flip,
    random_pad_crop,
    random_roll,
    resize_frames,
    transform_batch,
)
from snnjax.data.events_io import (
    DVS128_SENSOR_SIZE,
    EVENT_DTYPE,
    NMNIST_SENSOR_SIZE,
    EventDataError,
    dvs_gesture_samples,
    make_events,
    read_cifar10_dvs,
    read_dvs_gesture,
    read_dvs_gesture_labels,
    read_events,
    read_nmnist,
    write_aedat2,
    write_aedat31,
    write_nmnist,
)

__all__ = [
    "CIFAR10_DVS_CLASSES",
    "DVS128_SENSOR_SIZE",
    "EVENT_DTYPE",
    "NMNIST_SENSOR_SIZE",
    "EventDataError",
    "augment_batch",
    "augment_frames",
    "cached_frames",
    "denoise_events",
    "dvs_gesture_samples",
    "events_to_frames",
    "list_cifar10_dvs",
    "list_dvs_gesture",
    "list_nmnist",
    "load_cifar10_dvs",
    "load_dvs_gesture",
    "load_nmnist",
    "make_events",
    "random_flip",
    "random_pad_crop",
    "random_roll",
    "read_cifar10_dvs",
    "read_dvs_gesture",
    "read_dvs_gesture_labels",
    "read_events",
    "read_nmnist",
    "resize_frames",
    "split_per_class",
    "transform_batch",
    "write_aedat2",
    "write_aedat31",
    "write_nmnist",
]
