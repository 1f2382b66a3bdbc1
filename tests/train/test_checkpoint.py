"""Checkpointer: latest N + best in one manager, verified restores, damaged steps set aside."""

from __future__ import annotations

import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.errors import CheckpointError
from snnjax.train import checkpoint as ckpt_lib
from snnjax.train.checkpoint import Checkpointer, DamagedCheckpointError


def _state(value: float) -> dict:
    return {"w": jnp.full((4, 3), value, jnp.float32), "step": jnp.asarray(int(value), jnp.int32)}


def flip_data_bytes(step_dir: pathlib.Path) -> int:
    """Flips one byte in the middle of every array data file of a saved step; returns how many."""
    files = [p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d"]
    for p in files:
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0xFF
        p.write_bytes(bytes(data))
    return len(files)


def _save_steps(workdir, accuracies: dict[int, float | None], keep: int = 2) -> Checkpointer:
    ckpt = Checkpointer(workdir, keep=keep)
    for step, acc in accuracies.items():
        ckpt.save(step, _state(step), {"position": step}, {"step": step, "wall_time_s": 0.0}, metric=acc)
    ckpt.wait()
    return ckpt


def test_keeps_latest_n_and_the_best(tmp_path):
    with _save_steps(tmp_path, {1: None, 2: 0.5, 3: None, 4: 0.9, 5: None, 6: 0.3, 7: None}) as ckpt:
        assert ckpt.steps() == [4, 6, 7]
        assert ckpt.latest_step() == 7 and ckpt.latest_step("best") == 4
        state, data_state, meta = ckpt.restore_which(_state(0), "best")
        np.testing.assert_array_equal(state["w"], np.full((4, 3), 4.0))
        assert data_state == {"position": 4} and meta["step"] == 4


def test_restore_rejects_another_model(tmp_path):
    with _save_steps(tmp_path, {1: 0.5}) as ckpt, pytest.raises(CheckpointError, match="different model"):
        ckpt.restore(_state(0) | {"extra": jnp.zeros(2)}, 1)


def test_damaged_step_is_detected_and_skipped(tmp_path):
    _save_steps(tmp_path, {1: 0.5, 2: 0.6}).close()
    assert flip_data_bytes(tmp_path / "checkpoints" / "2") > 0
    with Checkpointer(tmp_path, read_only=True) as ckpt:
        with pytest.raises(DamagedCheckpointError, match="step 2"):
            ckpt.restore(_state(0), 2)
        with pytest.raises(CheckpointError, match=r"step 2 .* damaged.*--checkpoint=best") as error:
            ckpt.restore_which(_state(0), "latest")
        assert "\n" not in str(error.value)
    notes: list[str] = []
    with Checkpointer(tmp_path) as ckpt:
        step, state, data_state, _ = ckpt.restore_newest_intact(_state(0), notes.append)
        assert step == 1 and data_state == {"position": 1}
        np.testing.assert_array_equal(state["w"], np.ones((4, 3)))
        assert len(notes) == 1 and "step 2" in notes[0] and "falling back to step 1" in notes[0]
        assert ckpt.steps() == [1] and (tmp_path / "checkpoints" / "2.damaged").is_dir()
        # the step number can be saved again
        ckpt.save(2, _state(2), {"position": 2}, {"step": 2, "wall_time_s": 0.0})
        ckpt.wait()
        assert ckpt.restore(_state(0), 2)[1] == {"position": 2}


def test_every_step_damaged_is_an_error(tmp_path):
    _save_steps(tmp_path, {1: 0.5}).close()
    flip_data_bytes(tmp_path / "checkpoints" / "1")
    with Checkpointer(tmp_path) as ckpt, pytest.raises(CheckpointError, match="every checkpoint"):
        ckpt.restore_newest_intact(_state(0), lambda _: None)


def test_verify_catches_changed_values_and_non_finite_arrays():
    state, data_state = _state(3), {"position": 3}
    meta = {"digests": ckpt_lib.digests(state), "data_digest": ckpt_lib._json_digest(data_state)}
    assert ckpt_lib.verify(state, data_state, meta) is None
    changed = {**state, "w": state["w"].at[1, 2].add(1e-6)}
    assert "['w']" in ckpt_lib.verify(changed, data_state, meta)
    assert "iterator" in ckpt_lib.verify(state, {"position": 4}, meta)
    nan = {**state, "w": state["w"].at[0, 0].set(jnp.nan)}
    assert "non-finite" in ckpt_lib.verify(nan, data_state, {})


def test_no_checkpoint_is_a_clear_error(tmp_path):
    with Checkpointer(tmp_path) as ckpt, pytest.raises(CheckpointError, match="no latest checkpoint"):
        ckpt.restore_which(_state(0))
