"""Model families and the registry that builds a model from ``config.model``.

``create(cfg, num_classes, input_shape, rngs)`` looks up ``cfg.name``; each constructor takes the
model config section, the number of classes and the per-example input shape ``(H, W, C)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import ml_collections
from flax import nnx

from snnjax.errors import ConfigError
from snnjax.models import basic

REGISTRY: dict[str, Callable[..., nnx.Module]] = {
    "mlp": basic.SpikingMLP,
    "convnet": basic.SpikingConvNet,
    "hybrid_plasticity": basic.HybridPlasticityNet,
}


def register(name: str):
    """Decorator adding a model constructor to the registry under ``name``."""

    def wrap(fn):
        REGISTRY[name] = fn
        return fn

    return wrap


def create(cfg: ml_collections.ConfigDict, num_classes: int, input_shape: tuple[int, ...], *, rngs: nnx.Rngs):
    """Builds the model named ``cfg.name``."""
    if cfg.name not in REGISTRY:
        raise ConfigError(f"unknown model {cfg.name!r}; choose one of {sorted(REGISTRY)}")
    return REGISTRY[cfg.name](cfg, num_classes, tuple(input_shape), rngs=rngs)


def parameter_table(model: nnx.Module) -> tuple[list[tuple[str, tuple[int, ...], int]], int]:
    """Rows ``(path, shape, count)`` of every trainable parameter (``nnx.Param``), and the total.

    Works on abstract models from ``nnx.eval_shape`` too.
    """
    rows = []
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        shape = tuple(var.shape)
        rows.append((".".join(str(p) for p in path), shape, math.prod(shape)))
    return rows, sum(r[2] for r in rows)


def num_params(model: nnx.Module) -> int:
    """Number of trainable parameters (``nnx.Param``) of a model."""
    return parameter_table(model)[1]


from snnjax.models import feedback as _feedback  # noqa: E402,F401  (registers the SPIDE/IDE FSNNs)
from snnjax.models import msresnet as _msresnet  # noqa: E402,F401  (registers msresnet)
from snnjax.models import nsnn as _nsnn  # noqa: E402,F401  (registers the NSNN models)
from snnjax.models import resformer as _resformer  # noqa: E402,F401  (registers spikingresformer)
