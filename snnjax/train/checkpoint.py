"""Orbax checkpoints of a run: the latest N steps and the best one, atomic and resumable.

A checkpoint holds the training state (model parameters, BN statistics, optimiser state), the data
iterator's position and a small JSON record (step, wall time, the model's parameter signature). Orbax
writes each step into a temporary folder and renames it when complete, so a crash or SIGKILL during a
save never damages the previous good checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from snnjax.errors import CheckpointError


def signature(state: Any) -> str:
    """A short hash of the state's tree structure, shapes and dtypes (not values)."""
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    text = ";".join(
        f"{jax.tree_util.keystr(p)}:{np.shape(x)}:{np.result_type(getattr(x, 'dtype', x))}" for p, x in leaves
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Checkpointer:
    """The ``checkpoints/latest`` and ``checkpoints/best`` managers of a workdir."""

    def __init__(self, workdir: str, keep: int = 3):
        root = os.path.join(os.path.abspath(workdir), "checkpoints")
        self.latest = ocp.CheckpointManager(
            os.path.join(root, "latest"),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )
        self.best = ocp.CheckpointManager(
            os.path.join(root, "best"),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1, create=True, best_fn=lambda m: m["test_accuracy"], best_mode="max"
            ),
        )

    def save(self, step: int, state: Any, data_state: dict, meta: dict, *, best_metric: float | None = None):
        """Saves ``state`` at ``step`` (asynchronously); also as the best if ``best_metric`` is given and
        beats the stored best."""
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(data_state),
            meta=ocp.args.JsonSave({**meta, "signature": signature(state)}),
        )
        if step not in self.latest.all_steps():
            self.latest.save(step, args=args)
        if best_metric is not None and step not in self.best.all_steps():
            self.best.save(step, args=args, metrics={"test_accuracy": float(best_metric)})

    def latest_step(self, which: str = "latest") -> int | None:
        manager = self.best if which == "best" else self.latest
        return manager.best_step() if which == "best" else manager.latest_step()

    def restore(self, target: Any, which: str = "latest") -> tuple[Any, dict, dict]:
        """Restores ``(state, data_state, meta)`` from the latest (or best) step into the structure of
        ``target`` (an abstract or concrete state). Raises :class:`CheckpointError` when there is none, it
        is corrupt, or it was written by a different model."""
        manager = self.best if which == "best" else self.latest
        step = self.latest_step(which)
        if step is None:
            raise CheckpointError(f"no {which} checkpoint in {manager.directory}: train first (--mode=train)")
        try:
            meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as e:
            raise CheckpointError(
                f"checkpoint step {step} in {manager.directory} is unreadable ({type(e).__name__}): "
                "delete that step folder to fall back to an earlier one"
            ) from None
        if meta.get("signature") != signature(target):
            raise CheckpointError(
                f"checkpoint in {manager.directory} was written by a different model or optimizer "
                f"(signature {meta.get('signature')} != {signature(target)}): use the config it was trained "
                "with, or a fresh --workdir"
            )
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            restored = manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()
                ),
            )
        except Exception as e:
            raise CheckpointError(
                f"checkpoint step {step} in {manager.directory} is corrupt ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:120]}): delete that step folder to fall back to an earlier one"
            ) from None
        return restored["state"], restored["data"], meta

    def wait(self):
        """Blocks until pending asynchronous saves are committed."""
        self.latest.wait_until_finished()
        self.best.wait_until_finished()

    def close(self):
        self.latest.close()
        self.best.close()


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)
