"""Orbax checkpoints of a run: the newest N steps plus the best one, verified on restore.

Layout: ``<workdir>/checkpoints/<step>/{state,data,meta}``. One orbax ``CheckpointManager`` keeps the
newest ``keep`` steps and the step with the best test accuracy (one save per step, so every process of a
multi-process run passes the same save barriers once). A step holds the training state (parameters,
batch statistics, optimiser state), the data iterator's position and a JSON record: step, wall time,
the model's signature and a CRC32 digest of every array and of the iterator state.

Orbax writes each step into a temporary folder and renames it when complete, so a crash, kill or full
disk during a save never touches an earlier step. On restore the digests are recomputed and every
float is checked to be finite: a damaged step raises :class:`DamagedCheckpointError` instead of being
used, and :meth:`Checkpointer.restore_newest_intact` falls back to the newest intact step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import zlib
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from snnjax.errors import CheckpointError

_METRIC = "test_accuracy"


class DamagedCheckpointError(CheckpointError):
    """A checkpoint step that cannot be read back as it was written."""

    def __init__(self, step: int, directory: epath.Path, reason: str):
        self.step = step
        super().__init__(f"checkpoint step {step} in {directory} is damaged ({reason})")


def _leaves(state: Any) -> list[tuple[str, Any]]:
    return [(jax.tree_util.keystr(p), x) for p, x in jax.tree_util.tree_flatten_with_path(state)[0]]


def signature(state: Any) -> str:
    """A short hash of the state's tree structure, shapes and dtypes (not values)."""
    text = ";".join(f"{p}:{np.shape(x)}:{np.result_type(getattr(x, 'dtype', x))}" for p, x in _leaves(state))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _host_value(x: Any) -> np.ndarray:
    """This process's copy of a (replicated) array."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        x = x.addressable_shards[0].data
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    return np.asarray(jax.device_get(x))


def _crc(data: bytes) -> str:
    return f"{zlib.crc32(data):08x}"


def _digest(value: np.ndarray) -> str:
    return _crc(np.ascontiguousarray(value).tobytes())


def digests(state: Any) -> dict[str, str]:
    """CRC32 of every array of ``state`` (on this process's copy), keyed by tree path."""
    return {path: _digest(_host_value(x)) for path, x in _leaves(state)}


def _json_digest(data: Any) -> str:
    return _crc(json.dumps(data, sort_keys=True).encode())


def verify(state: Any, data_state: Any, meta: dict) -> str | None:
    """Why ``state``/``data_state`` differ from what ``meta`` recorded at save (None if they do not).

    Checkpoints written before digests were recorded are checked for finite values only.
    """
    now = {}
    for path, x in _leaves(state):  # one host copy per array serves both checks
        value = _host_value(x)
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            return f"non-finite values in {path}"
        now[path] = _digest(value)
    saved = meta.get("digests")
    if saved is None:
        return None
    bad = [p for p in saved if now.get(p) != saved[p]]
    if bad or set(now) != set(saved):
        return f"{len(bad)} array(s) differ from their saved digest, first {bad[0] if bad else 'structure'}"
    if meta.get("data_digest") not in (None, _json_digest(data_state)):
        return "the data iterator state differs from its saved digest"
    return None


class Checkpointer:
    """The checkpoints of a workdir: save, list, restore with verification."""

    def __init__(self, workdir: epath.PathLike, keep: int = 3, *, read_only: bool = False):
        root = epath.Path(workdir) / "checkpoints"
        if "://" not in str(root):
            root = root.absolute()  # orbax needs an absolute local path
        legacy = root / "latest"  # the earlier two-manager layout (checkpoints/latest + checkpoints/best)
        self.directory = legacy if legacy.exists() else root
        policy = ocp.checkpoint_managers
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                preservation_policy=policy.AnyPreservationPolicy(
                    [
                        policy.LatestN(keep),
                        policy.BestN(
                            get_metric_fn=lambda m: m[_METRIC], n=1, keep_checkpoints_without_metrics=False
                        ),
                    ]
                ),
                best_fn=lambda m: m[_METRIC],
                best_mode="max",
                create=not read_only,
                read_only=read_only,
                cleanup_tmp_directories=not read_only,
            ),
        )

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc):
        self.close()

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def latest_step(self, which: str = "latest") -> int | None:
        return self.manager.best_step() if which == "best" else self.manager.latest_step()

    def save(self, step: int, state: Any, data_state: dict, meta: dict, *, metric: float | None = None):
        """Saves ``state`` at ``step`` asynchronously; ``metric`` (test accuracy) makes it a candidate for
        the best step."""
        meta = {
            **meta,
            "signature": signature(state),
            "digests": digests(state),
            "data_digest": _json_digest(data_state),
        }
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(data_state),
            meta=ocp.args.JsonSave(meta),
        )
        metrics = None if metric is None else {_METRIC: float(metric)}
        try:  # orbax first waits for the previous save, and raises if that one failed
            self.manager.save(step, args=args, metrics=metrics)
        except Exception as e:
            raise self._save_failed(e) from None

    def restore(self, target: Any, step: int) -> tuple[Any, dict, dict]:
        """Restores and verifies ``(state, data_state, meta)`` of ``step`` into the structure of ``target``.

        Raises :class:`DamagedCheckpointError` if the step is unreadable or fails verification, and
        :class:`CheckpointError` if it was written by a different model.
        """
        try:
            meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as e:
            raise DamagedCheckpointError(
                step, self.directory, f"unreadable record: {type(e).__name__}"
            ) from None
        if meta.get("signature") != signature(target):
            raise CheckpointError(
                f"checkpoint in {self.directory} was written by a different model or optimizer "
                f"(signature {meta.get('signature')} != {signature(target)}): use the config it was trained "
                "with, or a fresh --workdir"
            )
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            restored = self.manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()
                ),
            )
        except Exception as e:
            first = (str(e).splitlines() or [""])[0][:100]
            raise DamagedCheckpointError(step, self.directory, f"{type(e).__name__}: {first}") from None
        reason = verify(restored["state"], restored["data"], meta)
        if reason:
            raise DamagedCheckpointError(step, self.directory, reason)
        return restored["state"], restored["data"], meta

    def restore_which(self, target: Any, which: str = "latest") -> tuple[Any, dict, dict]:
        """Restores the latest (or best) step; raises if there is none or it is damaged."""
        step = self.latest_step(which)
        if step is None:
            raise CheckpointError(f"no {which} checkpoint in {self.directory}: train first (--mode=train)")
        try:
            return self.restore(target, step)
        except DamagedCheckpointError as e:
            other = "best" if which == "latest" else "latest"
            raise CheckpointError(f"{e}: restore --checkpoint={other}, or train again to fall back") from None

    def restore_newest_intact(
        self, target: Any, note: Callable[[str], None]
    ) -> tuple[int, Any, dict, dict] | None:
        """Restores the newest step that passes verification, or returns None if there is no step.

        Damaged steps are reported through ``note``, moved aside to ``<step>.damaged`` (so the run can
        save that step number again) and skipped. Raises :class:`CheckpointError` if every step is damaged.
        """
        steps = self.steps()
        for step in reversed(steps):
            try:
                state, data_state, meta = self.restore(target, step)
            except DamagedCheckpointError as e:
                older = [s for s in steps if s < step]
                note(f"warning: {e}; " + (f"falling back to step {older[-1]}" if older else "no older step"))
                self._set_aside(step)
                continue
            return step, state, data_state, meta
        if steps:
            raise CheckpointError(
                f"every checkpoint in {self.directory} is damaged (kept as <step>.damaged): "
                "use a fresh --workdir to start again"
            )
        return None

    def _set_aside(self, step: int):
        if jax.process_index() == 0:
            target = self.directory / f"{step}.damaged"
            if target.exists():
                target.rmtree()
            (self.directory / str(step)).rename(target)
        ocp.multihost.sync_global_processes(f"snnjax_set_aside_{step}")
        self.manager.reload()

    def check_for_errors(self):
        """Raises :class:`CheckpointError` (one line) if a finished asynchronous save failed."""
        try:
            self.manager.check_for_errors()
        except Exception as e:
            raise self._save_failed(e) from None

    def wait(self):
        """Blocks until pending asynchronous saves are committed; raises if one failed."""
        try:
            self.manager.wait_until_finished()
        except Exception as e:
            raise self._save_failed(e) from None
        self.check_for_errors()

    def _save_failed(self, e: Exception) -> CheckpointError:
        return CheckpointError(f"saving a checkpoint in {self.directory} failed: {_reason(e)}")

    def close(self):
        """Releases the manager; a failed save was already reported by :meth:`save` or :meth:`wait`."""
        with contextlib.suppress(Exception):
            self.manager.close()


def _reason(e: BaseException) -> str:
    """The OS error behind an exception chain (e.g. 'No space left on device'), else its first line."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        code = re.search(r"os_error_code='?(\d+)", str(seen))  # tensorstore's I/O errors
        if code:
            return os.strerror(int(code.group(1)))
        seen = seen.__cause__ or seen.__context__
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}"
