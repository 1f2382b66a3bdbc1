"""Feedback SNNs built from the shipped configs, with overrides of their model section."""

import pathlib

from flax import nnx

from snnjax.config import load_config
from snnjax.models import create

CONFIGS = pathlib.Path(__file__).parents[3] / "configs"


def model_config(name: str, **model):
    """``config.model`` of ``configs/<name>.py`` (``name`` may carry ``:variant``) with overrides."""
    stem, sep, arg = name.partition(":")
    cfg = load_config(f"{CONFIGS / stem}.py{sep}{arg}")
    cfg.model.update(**model)
    return cfg.model


def abstract_model(name: str, classes: int, shape, **model):
    return nnx.eval_shape(lambda: create(model_config(name, **model), classes, shape, rngs=nnx.Rngs(0)))


def tiny_fc(**model):
    """IDE's F400 shrunk to 6 neurons on 2x2 inputs, 3 classes."""
    cfg = model_config("ide_fmnist_fc400", widths=(6,), forward="spiking", **model)
    return create(cfg, 3, (2, 2, 1), rngs=nnx.Rngs(0))
