"""The memory guard: XLA's estimate of the compiled train step against the memory available."""

from __future__ import annotations

import pytest

from snnjax.config import load_config
from snnjax.errors import ResourceError
from snnjax.train import loop, memory
from tests.train.conftest import REPO


def _run(batch_size: int) -> loop.Run:
    overrides = [f"train.batch_size={batch_size}", "train.num_steps=2", "train.eval_every_epochs=100.0"]
    return loop.Run(load_config(str(REPO / "configs" / "quickstart.py"), overrides))


def _compiled(run: loop.Run):
    batch = next(iter(run.train_data))
    return run.steps.compile_train(run.steps.shard_batch(batch), run.base_key)


def test_estimate_grows_with_the_batch():
    small, large = (memory.step_bytes(_compiled(_run(b))) for b in (16, 256))
    assert 0 < small < large


def test_check_fits_suggests_a_batch_that_fits():
    compiled = _compiled(_run(64))
    need = memory.step_bytes(compiled)
    memory.check_fits(compiled, 64, available=10 * need)  # fits: no error
    with pytest.raises(ResourceError, match=r"needs about .*iB .*at batch 64\).*batch_size=\d+") as e:
        memory.check_fits(compiled, 64, available=need // 2)
    suggested = int(e.value.args[0].split("batch_size=")[1].split(",")[0])
    assert 0 < suggested < 64 and "\n" not in str(e.value)
    with pytest.raises(ResourceError, match="a smaller model"):
        memory.check_fits(compiled, 64, available=need // 1000)


def test_available_memory_is_known_on_this_machine():
    assert memory.available_bytes() > 0


def test_a_run_that_cannot_fit_stops_before_its_first_step(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1024)
    config = load_config(str(REPO / "configs" / "quickstart.py"), ["train.num_steps=2"])
    with pytest.raises(ResourceError, match=r"only 0.0 MiB are available"):
        loop.train_and_evaluate(config, tmp_path)
    assert not list((tmp_path / "checkpoints").glob("[0-9]*"))
    assert not (tmp_path / "results.json").exists()


def test_retained_malloc_is_released_when_two_steps_would_not_fit(monkeypatch):
    """With the retained malloc a process may hold two steps' temporaries: where one fits but two do not,
    the guard lets malloc map large blocks again (and says so) instead of stopping."""
    compiled = _compiled(_run(64))
    need = int(memory.step_bytes(compiled) * memory.CPU_FACTOR)
    released = []
    monkeypatch.setattr(memory.runtime, "retaining", lambda: True)
    monkeypatch.setattr(memory.runtime, "release_large_blocks", lambda: released.append(True) or True)
    assert memory.check_fits(compiled, 64, available=int(4 * need / memory.HEADROOM)) is None
    assert not released
    note = memory.check_fits(compiled, 64, available=int(1.5 * need / memory.HEADROOM))
    assert released and note.startswith("note: ") and "\n" not in note
    monkeypatch.setattr(memory.runtime, "retaining", lambda: False)
    assert memory.check_fits(compiled, 64, available=int(1.5 * need / memory.HEADROOM)) is None
