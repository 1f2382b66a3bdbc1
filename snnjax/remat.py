"""Rematerialisation levels for spiking blocks: what a block keeps for its backward pass.

Backpropagation through time keeps, for every layer and time step, what the backward pass needs. For a
``LIF -> Conv -> BN`` chain autodiff keeps the neuron's membrane, its surrogate argument and its reset
term, the spikes the convolution saw (as float) and two normalised copies in the BN: about a dozen
``[T, B, H, W, C]`` floats per block. The neuron and BN arithmetic is elementwise (plus two per-channel
reductions) and cheap to recompute; a convolution is not. A block run at a :data:`LEVELS` level:

* ``'none'``: plain autodiff, everything above is stored.
* ``'elementwise'``: ``jax.checkpoint`` of the block saving only its input and the outputs marked with
  :func:`saved` (the convolution outputs). The backward pass recomputes the neurons, BN and spikes from
  them, but no convolution (its forward output is saved and its input, the spikes, is recomputed).
  Same values and gradients; about 3 stored floats per element instead of 13 for an MS-ResNet block.
* ``'full'``: ``jax.checkpoint`` saving only the block input: the backward pass runs the whole block
  forward again (its convolutions included) before differentiating it; 1 stored float per element.

At both levels the block's backward pass runs as one unit (:func:`in_order`): XLA's scheduler would
otherwise run every block's recomputation early and postpone the kernel gradients to the end, which keeps
most of what remat saves alive at once.

What a level stores is what autodiff keeps (``benchmarks/memory.py --breakdown``); the step's peak is
measured there too (``benchmarks/README.md``, "Memory of the main job").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import Array
from jax.ad_checkpoint import checkpoint_name

LEVELS = ("none", "elementwise", "full")
AUTO = "auto"
"""A block built at ``'auto'`` runs at ``'none'`` until :func:`set_level` picks its level (the train loop
picks the first of :data:`LEVELS` whose step fits ``config.train.memory_budget_gb``)."""
SAVED_NAME = "snnjax_saved"

_POLICIES = {
    "elementwise": jax.checkpoint_policies.save_only_these_names(SAVED_NAME),
    "full": jax.checkpoint_policies.nothing_saveable,
}


def saved(x: Array) -> Array:
    """Marks ``x`` (e.g. a convolution output) as kept for the backward pass at level ``'elementwise'``;
    the identity otherwise."""
    return checkpoint_name(x, SAVED_NAME)


def check_level(level: str) -> str:
    if level not in (*LEVELS, AUTO):
        raise ValueError(f"unknown remat level {level!r}; use one of {(*LEVELS, AUTO)}")
    return level


def set_level(model: nnx.Module, level: str) -> None:
    """Sets the level of every block of ``model`` that has one (a ``remat_level`` attribute)."""
    check_level(level)
    for _, module in nnx.iter_graph(model):
        if isinstance(module, nnx.Module) and hasattr(module, "remat_level"):
            module.remat_level = level


def levels(model: nnx.Module) -> set[str]:
    """The levels of ``model``'s blocks (empty for a model without any)."""
    return {getattr(m, "remat_level", None) for _, m in nnx.iter_graph(model)} - {None}


def remedy(model: nnx.Module) -> str:
    """The rematerialisation setting that would lower ``model``'s memory ('' if it keeps the least)."""
    found = levels(model)
    if not found:
        return "config.model.remat=True where the model offers it"
    return "" if found == {"full"} else "config.model.block_remat='full'"


def is_auto(model: nnx.Module) -> bool:
    """Whether some block of ``model`` leaves its level to :func:`set_level` (built at ``'auto'``)."""
    return AUTO in levels(model)


def call(fn: Callable[..., Any], module: nnx.Module, *args: Any, level: str = "none") -> Any:
    """``fn(module, *args)`` rematerialised at ``level`` (``nnx.remat`` with the level's policy; the
    module's state updates, BN statistics and sown values, are kept as without remat)."""
    if check_level(level) in ("none", AUTO):
        return fn(module, *args)
    return in_order(nnx.remat(fn, policy=_POLICIES[level]), module, *args)


def in_order(fn: Callable[..., Any], module: nnx.Module, *args: Any) -> Any:
    """``fn(module, *args)`` (array arguments and output) whose backward pass runs as one unit: it starts
    when the cotangent of its output is complete, and the cotangent of its inputs is released only after
    its parameter gradients. Same values and gradients; state updates carry no gradient (like BN
    statistics)."""
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)

    def pure(params, rest, args):
        m = nnx.merge(graphdef, params, rest, copy=True)
        out = fn(m, *args)
        return out, nnx.split(m, nnx.Param, ...)[2]

    @jax.custom_vjp
    def run(params, rest, args):
        return pure(params, rest, args)

    def fwd(params, rest, args):
        out, pullback, new_rest = jax.vjp(lambda p, a: pure(p, rest, a), params, args, has_aux=True)
        return (out, new_rest), (pullback, rest)

    def bwd(res, cotangents):
        pullback, rest = res
        g_out = cotangents[0]
        g_params, g_args = _after(pullback, g_out)(g_out)
        return g_params, jax.tree.map(_zero_cotangent, rest), _after(g_args, g_params)

    run.defvjp(fwd, bwd)
    out, new_rest = run(params, rest, args)
    nnx.update(module, new_rest)
    return out


def _after(tree: Any, *deps: Any) -> Any:
    """``tree`` with a zero added to its float leaves that XLA cannot compute before all of ``deps``."""
    leaves = [x for x in jax.tree.leaves(deps) if _is_float(x)]
    if not leaves:
        return tree
    zero = jnp.minimum(jnp.abs(sum(jnp.sum(x, dtype=jnp.float32) for x in leaves)), 0.0)
    return jax.tree.map(lambda x: x + zero.astype(x.dtype) if _is_float(x) else x, tree)


def _is_float(x: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def _zero_cotangent(x: Any) -> Any:
    return jnp.zeros_like(x) if _is_float(x) else np.zeros(jnp.shape(x), jax.dtypes.float0)
