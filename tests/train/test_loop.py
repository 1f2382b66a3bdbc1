"""train_and_evaluate in-process: results, evaluation, resume after damage and after a graceful stop."""

from __future__ import annotations

import json
import os
import signal

import jax
import numpy as np
import pytest

from snnjax.config import load_config
from snnjax.errors import CheckpointError, ConfigError, Interrupted
from snnjax.train import loop
from snnjax.train.checkpoint import Checkpointer
from tests.train.conftest import REPO
from tests.train.test_checkpoint import flip_data_bytes

QUICK = ("train.num_epochs=2", "train.eval_every_epochs=1", "train.log_every=5")


def quick_config(*overrides: str):
    return load_config(str(REPO / "configs" / "quickstart.py"), [*QUICK, *overrides])


def final_state(workdir) -> dict[str, np.ndarray]:
    config = quick_config()
    run, _ = loop.restore_trained(config, workdir)
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in jax.tree_util.tree_leaves_with_path(run.state)}


def assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted quick-start run (2 epochs, checkpoints at steps 22 and 44)."""
    workdir = tmp_path_factory.mktemp("reference")
    results = loop.train_and_evaluate(quick_config(), workdir)
    return workdir, results, final_state(workdir)


def test_results_and_records(reference):
    workdir, results, _ = reference
    assert results["steps"] == 44 and results["params"] == 19_210
    assert 0.5 < results["test_accuracy"] <= 1.0 and 0.0 < results["firing_rate"] < 1.0
    assert json.loads((workdir / "results.json").read_text())["test_accuracy"] == results["test_accuracy"]
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "test_accuracy" in r] == [22, 44]
    assert (workdir / "metrics.png").stat().st_size > 0 and (workdir / "config.json").exists()
    with Checkpointer(workdir, read_only=True) as ckpt:
        assert ckpt.steps() == [22, 44] and ckpt.latest_step("best") in (22, 44)


def test_metrics_carry_wall_time_throughput_and_per_layer_rates(reference):
    workdir, _, _ = reference
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    train, test = [r for r in rows if "train_loss" in r], [r for r in rows if "test_accuracy" in r]
    walls = [r["wall_time_s"] for r in rows]
    assert walls == sorted(walls) and walls[0] > 0
    assert all(
        r["images_per_s"] == pytest.approx(64 * r["steps_per_s"]) and r["images_per_s"] > 0 for r in train
    )
    layer = "firing_rate/hidden_neurons.0"  # the quick start MLP's one neuron layer
    assert all(r[layer] == pytest.approx(r["firing_rate"]) and 0 < r[layer] < 1 for r in train)
    assert all(r["test_" + layer] == pytest.approx(r["test_firing_rate"]) for r in test)


def test_metrics_png_is_drawn_at_the_first_evaluation_of_a_stopped_run(tmp_path, monkeypatch):
    workdir = tmp_path / "run"
    train_step = loop.Run.train_step

    def stop_after_the_first_evaluation(self, step, batch):
        if step == 24:
            os.kill(os.getpid(), signal.SIGTERM)
        return train_step(self, step, batch)

    monkeypatch.setattr(loop.Run, "train_step", stop_after_the_first_evaluation)
    with pytest.raises(Interrupted):
        loop.train_and_evaluate(quick_config(), workdir)
    assert (workdir / "metrics.png").stat().st_size > 0 and not (workdir / "results.json").exists()


def test_evaluate_workdir_reproduces_the_final_accuracy(reference):
    workdir, results, _ = reference
    evaluation = loop.evaluate_workdir(quick_config(), workdir)
    assert evaluation["step"] == 44 and evaluation["test_accuracy"] == results["test_accuracy"]


def test_evaluate_workdir_with_an_ensemble(reference):
    """``eval.ensemble`` reaches the eval step: a deterministic model gives the single pass's numbers, a
    stochastic one (the same weights fed Bernoulli rate-coded input) another loss, the same on every call."""
    workdir, results, _ = reference
    same = loop.evaluate_workdir(quick_config("eval.ensemble=3"), workdir)
    assert same["test_accuracy"] == results["test_accuracy"]
    assert same["test_loss"] == pytest.approx(results["test_loss"], rel=1e-5)
    one = loop.evaluate_workdir(quick_config("model.encoding=rate"), workdir)
    many = loop.evaluate_workdir(quick_config("model.encoding=rate", "eval.ensemble=4"), workdir)
    assert many["test_loss"] != one["test_loss"]
    assert loop.evaluate_workdir(quick_config("model.encoding=rate", "eval.ensemble=4"), workdir) == many


@pytest.mark.slow
def test_resume_skips_a_damaged_latest_step(reference, tmp_path, capsys):
    workdir = tmp_path / "run"
    loop.train_and_evaluate(quick_config(), workdir)
    flip_data_bytes(workdir / "checkpoints" / "44")
    with pytest.raises(CheckpointError, match="step 44"):
        loop.evaluate_workdir(quick_config(), workdir)
    capsys.readouterr()
    loop.train_and_evaluate(quick_config(), workdir)
    err = capsys.readouterr().err
    assert "step 44" in err and "damaged" in err and "falling back to step 22" in err
    assert_same_state(final_state(workdir), reference[2])


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_and_stops_then_resume_matches(reference, tmp_path, monkeypatch, signum, code):
    workdir = tmp_path / "run"
    train_step = loop.Run.train_step

    def signal_at_step_10(self, step, batch):
        if step == 10:
            os.kill(os.getpid(), signum)
        return train_step(self, step, batch)

    monkeypatch.setattr(loop.Run, "train_step", signal_at_step_10)
    with pytest.raises(Interrupted) as stopped:
        loop.train_and_evaluate(quick_config(), workdir)
    assert stopped.value.exit_code == code and "resume" in str(stopped.value)
    with Checkpointer(workdir, read_only=True) as ckpt:
        saved = ckpt.latest_step()
    assert saved is not None and 11 <= saved < 22, saved  # the step after the signal, before any eval
    monkeypatch.setattr(loop.Run, "train_step", train_step)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler or signum == signal.SIGTERM
    before = [
        json.loads(line)["wall_time_s"] for line in (workdir / "metrics.jsonl").read_text().splitlines()
    ]
    results = loop.train_and_evaluate(quick_config(), workdir)
    assert results["test_accuracy"] == reference[1]["test_accuracy"]
    walls = [json.loads(line)["wall_time_s"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert walls[: len(before)] == before and walls == sorted(walls)  # cumulative across the resume
    assert_same_state(final_state(workdir), reference[2])


@pytest.mark.slow
def test_resume_refuses_a_changed_learning_rate_schedule(tmp_path, capsys):
    """The quick start's cosine schedule: a resume with another length or peak rate would re-stretch it
    mid-run, so it stops with one line naming the old and new values, unless explicitly allowed."""
    workdir = tmp_path / "run"
    loop.train_and_evaluate(quick_config("train.num_steps=4"), workdir)
    with pytest.raises(ConfigError) as refused:
        loop.train_and_evaluate(quick_config("train.num_steps=8"), workdir)
    message = str(refused.value)
    assert "\n" not in message and "step 4" in message
    assert "config.train.num_steps 4 -> 8" in message and "total steps 4 -> 8" in message
    assert "--config.train.allow_schedule_change=True" in message
    with pytest.raises(ConfigError, match=r"config\.optim\.learning_rate 0\.002 -> 0\.001"):
        loop.train_and_evaluate(quick_config("train.num_steps=8", "optim.learning_rate=1e-3"), workdir)
    with Checkpointer(workdir, read_only=True) as ckpt:
        assert ckpt.steps() == [4]  # nothing was trained or saved by the refused runs
    capsys.readouterr()
    results = loop.train_and_evaluate(
        quick_config("train.num_steps=8", "train.allow_schedule_change=True"), workdir
    )
    assert results["steps"] == 8 and "changed learning-rate schedule" in capsys.readouterr().err
    # the new schedule is now the checkpoint's: resuming with it needs no flag
    loop.train_and_evaluate(quick_config("train.num_steps=8"), workdir)


def test_resume_with_a_longer_constant_schedule_is_allowed(tmp_path):
    """A constant rate is the same at every step, however long the run: extending it changes nothing."""
    workdir = tmp_path / "run"
    loop.train_and_evaluate(quick_config("train.num_steps=3", "optim.schedule=constant"), workdir)
    results = loop.train_and_evaluate(quick_config("train.num_steps=6", "optim.schedule=constant"), workdir)
    assert results["steps"] == 6
