"""Feedback SNNs built from the shipped configs, with overrides of their model section."""

from flax import nnx

from snnjax.models import create
from tests.data.dvs_configs import load_config


def model_config(name: str, **model):
    cfg = load_config(name)
    cfg.model.update(**model)
    return cfg.model


def abstract_model(name: str, classes: int, shape, **model):
    return nnx.eval_shape(lambda: create(model_config(name, **model), classes, shape, rngs=nnx.Rngs(0)))


def tiny_fc(**model):
    """IDE's F400 shrunk to 6 neurons on 2x2 inputs, 3 classes."""
    cfg = model_config("ide_fmnist_fc400", widths=(6,), forward="spiking", **model)
    return create(cfg, 3, (2, 2, 1), rngs=nnx.Rngs(0))
