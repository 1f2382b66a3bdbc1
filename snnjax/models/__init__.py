"""Model families and the table that builds a model from ``config.model``.

``create(cfg, num_classes, input_shape, rngs)`` looks up ``cfg.name`` in ``snnjax.registry.MODELS``; each
constructor takes the model config section, the number of classes and the per-example input shape
``(H, W, C)``. A family registers its constructors with ``@register("name")`` and states its config keys
and their defaults once, in its ``model_config()``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from snnjax import precision
from snnjax.registry import MODELS

register = MODELS.register


def create(cfg: ml_collections.ConfigDict, num_classes: int, input_shape: tuple[int, ...], *, rngs: nnx.Rngs):
    """Builds the model named ``cfg.name`` with the compute dtype ``cfg.dtype`` (:mod:`snnjax.precision`)."""
    model = MODELS.get(cfg.name)(cfg, num_classes, tuple(input_shape), rngs=rngs)
    return precision.apply_policy(model, cfg.get("dtype", "float32"))


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


def cast_floats(model: nnx.Module, dtype) -> nnx.Module:
    """Casts every floating-point variable of ``model`` (parameters, batch statistics, ...) to ``dtype``, in
    place, and returns it. With ``jax_enable_x64`` and float64 inputs, ``cast_floats(model, jnp.float64)``
    runs a model end to end in float64 (gradient checks, comparisons with reference implementations)."""
    cast = lambda v: v.astype(dtype) if jnp.issubdtype(v.dtype, jnp.floating) else v
    nnx.update(model, jax.tree.map(cast, nnx.state(model)))
    return model


# the families register their models on import
from snnjax.models import basic as _basic  # noqa: E402,F401
from snnjax.models import feedback as _feedback  # noqa: E402,F401
from snnjax.models import msresnet as _msresnet  # noqa: E402,F401
from snnjax.models import nsnn as _nsnn  # noqa: E402,F401
from snnjax.models import recurrent as _recurrent  # noqa: E402,F401
from snnjax.models import resformer as _resformer  # noqa: E402,F401
