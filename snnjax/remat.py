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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax import Array
from jax.ad_checkpoint import checkpoint_name

LEVELS = ("none", "elementwise", "full")
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
    if level not in LEVELS:
        raise ValueError(f"unknown remat level {level!r}; use one of {LEVELS}")
    return level


def ordered_checkpoint(f: Callable[..., Any], policy: Callable[..., bool]) -> Callable[..., Any]:
    """``jax.checkpoint(f, policy=policy)`` whose backward recomputation waits for the incoming cotangent.

    XLA:CPU's scheduler is free to run a rematerialised computation as soon as its inputs exist, i.e.
    right after the forward pass, which brings back the memory remat was meant to save (measured: every
    block's recomputed convolutions live at once). Here the saved values pass through an
    ``optimization_barrier`` together with the cotangent, so the recomputation of a block cannot start
    before the backward pass reaches it; and the gradients it returns leave together, so the
    parameters' gradients are computed while their inputs are live instead of at the end of the backward
    pass. Same values and gradients as ``jax.checkpoint``.
    """
    checkpointed = jax.checkpoint(f, policy=policy)

    @jax.custom_vjp
    def run(*args):
        return f(*args)

    def fwd(*args):
        return jax.vjp(checkpointed, *args)

    def bwd(vjp_fn, cotangent):
        leaves, tree = jax.tree.flatten(vjp_fn)

        def backward(leaves, cotangent):
            return jax.tree.unflatten(tree, leaves)(cotangent)

        # a conditional runs as one unit once its operands exist: XLA:CPU can neither start the
        # recomputation before the cotangent arrives nor postpone the parameters' gradients (optimisation
        # barriers do not survive its pipeline). The predicate is known only at run time, both branches
        # are the same computation.
        floats = [c for c in jax.tree.leaves(cotangent) if jnp.issubdtype(c.dtype, jnp.inexact) and c.size]
        known = jnp.isfinite(floats[0].ravel()[0]) if floats else jnp.bool_(True)
        return jax.lax.cond(known, backward, backward, leaves, cotangent)

    run.defvjp(fwd, bwd)
    return run


def call(fn: Callable[..., Any], module: nnx.Module, *args: Any, level: str = "elementwise") -> Any:
    """``fn(module, *args)`` rematerialised at ``level`` (:func:`ordered_checkpoint` with the level's
    policy); the module's state updates (BN statistics, sown values) are applied as without remat."""
    if check_level(level) == "none":
        return fn(module, *args)
    graphdef, state = nnx.split(module)

    def pure(state, *args):
        inner = nnx.merge(graphdef, state)
        out = fn(inner, *args)
        return out, nnx.state(inner)

    out, new_state = ordered_checkpoint(pure, _POLICIES[level])(state, *args)
    nnx.update(module, new_state)
    return out
