"""A trained model from Python: ``snnjax.load(workdir)`` and ``snnjax.predict(model, images, config)``.

::

    model, config = snnjax.load("workdirs/quickstart", checkpoint="best")
    scores = snnjax.predict(model, images, config)   # uint8 [B, H, W, C] -> [B, num_classes]
    labels = scores.argmax(-1)

``load`` builds the model of the workdir's ``config.json`` without reading any data and restores (and
verifies) the checkpoint's parameters and statistics. ``predict`` applies the preprocessing of evaluation
(scaling to [0, 1], the dataset's normalisation when ``config.data.normalize``, resize + centre crop for
datasets of variable image size) and returns the time-summed outputs the accuracy is computed from.
"""

from __future__ import annotations

import json
from typing import Any

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from etils import epath
from flax import nnx
from jax import Array

from snnjax.config import base_config
from snnjax.errors import CheckpointError, ConfigError

PREDICT_KEY = 0
"""Seed of the random streams (neuron noise, rate coding) of :func:`predict` when no key is given."""


def read_config(workdir: epath.PathLike) -> ml_collections.ConfigDict:
    """The config a workdir was trained with (its ``config.json``; lists back to tuples), locked."""
    path = epath.Path(workdir) / "config.json"
    if not path.exists():
        raise CheckpointError(f"{path} not found: {workdir} is not a trained workdir (train first)")
    stored = _tuples(json.loads(path.read_text()))
    config = ml_collections.ConfigDict(_with_defaults(stored, base_config().to_dict()))
    config.lock()
    return config


def _with_defaults(stored: dict, defaults: dict) -> dict:
    """``stored`` plus the keys of ``defaults`` it lacks (sections and keys added to snnjax after the
    workdir was written), at every depth; what ``stored`` holds is kept."""
    out = dict(stored)
    for key, value in defaults.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = _with_defaults(out[key], value)
    return out


def _tuples(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def load(
    workdir: epath.PathLike,
    checkpoint: str = "latest",
    config: ml_collections.ConfigDict | None = None,
) -> tuple[nnx.Module, ml_collections.ConfigDict]:
    """The trained model of ``workdir`` (in eval mode) and its config.

    Args:
      workdir: a training run's directory (``config.json`` and ``checkpoints/``).
      checkpoint: ``'latest'`` or ``'best'`` (highest test accuracy).
      config: the config to build the model from; default: the workdir's ``config.json``.
    Raises:
      CheckpointError: no such checkpoint, a damaged one, or one of another model.
    """
    from snnjax.train import loop
    from snnjax.train.checkpoint import Checkpointer
    from snnjax.train.optim import make_optimizer

    if checkpoint not in ("latest", "best"):
        raise ConfigError(f"checkpoint={checkpoint!r}: use 'latest' or 'best'")
    config = config or read_config(workdir)
    if not (epath.Path(workdir) / "checkpoints").exists():
        raise CheckpointError(f"no checkpoints in {workdir}: train first (--mode=train)")
    model = loop.model_for_summary(config)
    # the optimiser state only gives the checkpoint's structure: any schedule length will do
    tx, _ = make_optimizer(config.optim, int(config.optim.warmup_steps) + 1000, 1)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    graph, rng_state, target = nnx.split((model, optimizer), nnx.RngState, ...)
    with Checkpointer(workdir, read_only=True) as ckpt:
        state, _, _ = ckpt.restore_which(target, checkpoint)
    model, _ = nnx.merge(graph, rng_state, state)
    model.eval()
    return model, config


def preprocess(images: np.ndarray, config: ml_collections.ConfigDict) -> np.ndarray:
    """Evaluation's preprocessing: uint8 ``[B, H, W, C]`` (or ``[B, H, W]``) -> float32 model input."""
    from snnjax.data import specs, transforms

    spec = specs.dataset_spec(config.data.name)
    if spec.kind != "image":
        raise ConfigError(f"predict takes images; {spec.name} is an event dataset (pass event frames)")
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    chex.assert_rank(images, 4)
    if images.dtype != np.uint8:
        raise ConfigError(f"predict takes uint8 images as stored in the dataset, got {images.dtype}")
    shape = spec.shape(config.data)
    if spec.variable_size:
        images = np.stack([transforms.resize_center_crop(np.asarray(x), shape[0]) for x in images])
    elif images.shape[1:] != tuple(shape):
        raise ConfigError(f"images of shape {images.shape[1:]}, the model takes {tuple(shape)}")
    mean, std = (spec.mean, spec.std) if config.data.normalize else (None, None)
    return transforms.normalize(images, mean, std)


def predict(
    model: nnx.Module, images: np.ndarray, config: ml_collections.ConfigDict, key: Array | None = None
) -> Array:
    """Class scores of ``images`` (uint8 ``[B, H, W, C]``): the outputs summed over time, ``[B, classes]``.

    ``argmax(-1)`` is the predicted class, as in evaluation. ``key`` seeds the model's random streams
    (noisy neurons, rate coding; default :data:`PREDICT_KEY`).
    """
    from snnjax.train.steps import reseed

    x = jnp.asarray(preprocess(images, config))
    reseed(model, jax.random.key(PREDICT_KEY) if key is None else key)
    out = _forward(model, x)
    chex.assert_shape(out, (x.shape[0], None))
    return out


@nnx.jit
def _forward(model: nnx.Module, x: Array) -> Array:
    from snnjax.train.steps import call_recorded

    return call_recorded(model, x)[0].sum(axis=0)
