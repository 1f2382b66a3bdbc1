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

What a level stores is what autodiff keeps (``benchmarks/memory.py --breakdown``). On XLA:CPU the peak of
a step is set by its schedule as much: the CPU scheduler may run every block's recomputation right after
the forward pass and postpone kernel gradients to the end of the backward pass (optimisation barriers do
not survive its pipeline), so the peak falls far less than the stored bytes (``benchmarks/README.md``,
"Memory of the main job").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
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


def call(fn: Callable[..., Any], module: nnx.Module, *args: Any, level: str = "none") -> Any:
    """``fn(module, *args)`` rematerialised at ``level`` (``nnx.remat`` with the level's policy; the
    module's state updates, BN statistics and sown values, are kept as without remat)."""
    if check_level(level) == "none":
        return fn(module, *args)
    return nnx.remat(fn, policy=_POLICIES[level])(module, *args)
