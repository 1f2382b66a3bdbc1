"""The memory guard: XLA's estimate of the compiled train step against the memory available."""

from __future__ import annotations

import jax
import numpy as np
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
    assert memory.total_bytes() >= memory.available_bytes() > 0


def test_the_default_budget_is_half_the_machine_and_does_not_follow_free_memory(monkeypatch):
    assert memory.budget_bytes(2.5) == int(2.5 * memory.GIB)
    half = memory.budget_bytes(0.0)
    assert half == memory.total_bytes() // 2
    monkeypatch.setattr(memory, "available_bytes", lambda: 1024)
    assert memory.budget_bytes(0.0) == half


def test_a_run_that_cannot_fit_stops_before_its_first_step(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1024)
    config = load_config(str(REPO / "configs" / "quickstart.py"), ["train.num_steps=2"])
    with pytest.raises(ResourceError, match=r"only 0.0 MiB are available.*or config.model.remat=True"):
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
    monkeypatch.setattr(memory, "LARGE_STEP_BYTES", need - 1)  # a large step: released although two fit
    note = memory.check_fits(compiled, 64, available=int(4 * need / memory.HEADROOM))
    assert len(released) == 2 and "a large step" in note
    monkeypatch.setattr(memory.runtime, "retaining", lambda: False)
    assert memory.check_fits(compiled, 64, available=int(1.5 * need / memory.HEADROOM)) is None


def _msresnet_run(*overrides: str) -> loop.Run:
    small = ("data.name=digits", "train.batch_size=16", "train.eval_batch_size=120", "train.num_steps=1",
             "model.num_steps=2", "model.stem_width=4", "model.widths=(4,8)", "model.blocks=(1,1)",
             "data.crop_padding=0", "data.flip=False", "mix.name=none")  # fmt: skip
    return loop.Run(load_config(str(REPO / "configs" / "msresnet_cifar_small.py"), [*small, *overrides]))


def _levels(run: loop.Run) -> set[str]:
    return {block.remat_level for block in run.steps.model(train=True).blocks}


@pytest.mark.slow
@pytest.mark.parametrize("budget, expected", [(1000.0, "none"), (1e-9, "full")])
def test_auto_remat_takes_the_first_level_within_the_budget(budget, expected, capsys):
    """block_remat='auto': the least recomputation whose step fits train.memory_budget_gb (the leanest
    when none fits); the estimates fall from level to level; the state is kept and training runs."""
    run = _msresnet_run(f"train.memory_budget_gb={budget}")
    assert run.config.model.block_remat == "auto" and _levels(run) == {"auto"}
    batch = next(iter(run.train_data))
    estimates = []
    for level in ("none", "elementwise", "full"):
        run.steps.rebuild(lambda m, level=level: loop.remat.set_level(m, level))
        compiled = run.steps.compile_train(run.steps.shard_batch(batch), run.base_key)
        estimates.append(memory.estimate_bytes(compiled))
    assert estimates[0] > estimates[1] > estimates[2]
    before = jax.tree.leaves(run.state)
    run.compile_train_step(batch)
    assert _levels(run) == {expected} and {b.remat_level for b in run.model.blocks} == {expected}
    assert f"block rematerialisation {expected}: the step needs about" in capsys.readouterr().err
    assert loop.remat.remedy(run.model) == ("" if expected == "full" else "config.model.block_remat='full'")
    for a, b in zip(before, jax.tree.leaves(run.state), strict=True):
        np.testing.assert_array_equal(a, b)
    metrics = run.train_step(0, batch)
    assert np.isfinite(float(metrics["loss"]))


def test_an_eval_step_that_cannot_fit_is_one_line_before_evaluating(monkeypatch):
    run = _msresnet_run("model.block_remat=none")
    monkeypatch.setattr(memory, "available_bytes", lambda: 400_000)
    with pytest.raises(ResourceError, match=r"the eval step needs about .*train.eval_batch_size=\d+$") as e:
        run.evaluate()
    assert "\n" not in str(e.value)
