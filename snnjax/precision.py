"""Numerical precision: the compute-dtype policy of ``config.model.dtype`` and float32-or-wider helpers.

Policy ``'bfloat16'`` (mixed precision, as the GAC and SpikingResformer seeds train with PyTorch's automatic
mixed precision): convolutions and dense matmuls (``nnx.Conv``, ``nnx.ConvTranspose``, ``nnx.Linear``,
``nnx.LinearGeneral``, ``nnx.Einsum``) and the attention products of modules with a ``compute_dtype``
attribute (DSSA) cast their operands to bfloat16 and return bfloat16. Everything else stays float32:
parameters and optimiser state (the casts happen inside the ops, so gradients arrive in float32), BatchNorm
(statistics and normalisation; its float32 parameters promote a bfloat16 input), neuron state (a neuron
layer integrates its membrane in at least float32, :class:`snnjax.layers.SpikingNeuron`) and the loss
(:mod:`snnjax.losses` evaluates logits in at least float32). Spikes leave a neuron in the dtype of its
input current. ``'float32'`` (default) leaves the model untouched.

float64: with ``jax_enable_x64``, :func:`snnjax.models.cast_floats` and float64 inputs run every model in
float64; the helpers here keep float32 floors from rounding such a run down.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from flax import nnx
from jax import Array

from snnjax.errors import ConfigError

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
MATMUL_MODULES = (nnx.Conv, nnx.ConvTranspose, nnx.Linear, nnx.LinearGeneral, nnx.Einsum)


def at_least_float32(x: Array) -> Array:
    """``x`` in float32, or in its own dtype if that is wider (float64)."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def compute_dtype(name: str) -> Any:
    """The jnp dtype of ``config.model.dtype``."""
    if name not in DTYPES:
        raise ConfigError(f"unknown model.dtype {name!r}; choose one of {sorted(DTYPES)}")
    return DTYPES[name]


def apply_policy(model: nnx.Module, name: str) -> nnx.Module:
    """Sets the compute dtype ``name`` (``config.model.dtype``) on the matmul layers of ``model`` in place
    (see the module docstring) and returns it; ``'float32'`` changes nothing."""
    dtype = compute_dtype(name)
    if dtype == jnp.float32:
        return model
    for _, module in nnx.iter_graph(model):
        if isinstance(module, MATMUL_MODULES):
            module.dtype = dtype
        elif isinstance(module, nnx.Module) and hasattr(module, "compute_dtype"):
            module.compute_dtype = dtype
    return model
