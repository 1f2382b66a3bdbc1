"""Which examples each step of a pipeline reads: epoch permutations, global batches, host slices (the same
for image and event batches; semantics in the module docstring of :mod:`snnjax.data.pipeline`)."""

from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=4)
def permutation(seed: int, epoch: int, num_examples: int) -> np.ndarray:
    """The training order of epoch ``epoch``: read-only int64 ``[num_examples]``, drawn once per epoch."""
    perm = np.random.default_rng([seed, 0, epoch]).permutation(num_examples)
    perm.flags.writeable = False
    return perm


class StepSampler:
    """Maps a step number to the example indices of its global batch and this host's slice of it (training:
    a permutation per epoch; evaluation: in order, ``-1`` past the end). Thread-safe and picklable."""

    def __init__(
        self,
        num_examples: int,
        *,
        train: bool,
        seed: int,
        global_batch_size: int,
        process_index: int,
        process_count: int,
    ) -> None:
        self.num_examples = int(num_examples)
        self.train = train
        self.seed = int(seed) % (1 << 63)  # numpy seed sequences need non-negative ints
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // process_count
        self.lo = process_index * self.local_batch_size
        self.hi = self.lo + self.local_batch_size
        n, b = self.num_examples, global_batch_size
        self.steps_per_epoch = n // b if train else math.ceil(n / b)

    def global_indices(self, step: int) -> np.ndarray:
        """Example indices of global batch ``step``: int64 ``[B]``, -1 for eval padding."""
        b = self.global_batch_size
        if self.train:
            epoch, within = divmod(step, self.steps_per_epoch)
            return permutation(self.seed, epoch, self.num_examples)[within * b : (within + 1) * b]
        pos = step * b + np.arange(b)
        return np.where(pos < self.num_examples, pos, -1)

    def local_indices(self, step: int) -> np.ndarray:
        """This host's slice of :meth:`global_indices`: int64 ``[b]``."""
        return self.global_indices(step)[self.lo : self.hi]

    def augment_rng(self, step: int) -> np.random.Generator:
        """The generator of step ``step``'s augmentation draws (drawn for the global batch, then sliced)."""
        return np.random.default_rng([self.seed, 1, step])
