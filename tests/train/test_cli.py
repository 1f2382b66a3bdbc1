"""End-to-end CLI behaviour: train/eval/summary, resume after SIGKILL, clear one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.train.conftest import REPO, cli, quick_args


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_train_then_eval_reproduces_results(tmp_path):
    workdir = tmp_path / "run"
    proc = cli(*quick_args(workdir))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((workdir / "results.json").read_text())
    assert set(results) >= {"test_accuracy", "steps", "wall_time_s", "params", "firing_rate"}
    assert 0.0 < results["test_accuracy"] <= 1.0 and 0.0 < results["firing_rate"] < 1.0
    assert (workdir / "metrics.png").exists() and (workdir / "config.json").exists()
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert any("train_loss" in r for r in records) and any("test_accuracy" in r for r in records)

    proc = cli(*quick_args(workdir, "--mode=eval"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    evaluation = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert evaluation["test_accuracy"] == results["test_accuracy"]


def test_summary_prints_parameter_table():
    proc = cli("--config", "configs/quickstart.py", "--mode=summary")
    assert proc.returncode == 0, proc.stderr
    # 64 -> 256 -> 10 MLP: 64*256 + 256 + 256*10 + 10
    assert "19,210" in proc.stdout.splitlines()[-1]


def _final_params(workdir) -> dict:
    import orbax.checkpoint as ocp

    root = workdir / "checkpoints" / "latest"
    step = max(int(p.name) for p in root.iterdir() if p.name.isdigit())
    with ocp.CheckpointManager(str(root)) as mngr:
        restored = mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
    import jax

    return {
        jax.tree_util.keystr(k): np.asarray(v)
        for k, v in jax.tree_util.tree_flatten_with_path(restored["state"])[0]
    }


def test_sigkill_then_restart_matches_uninterrupted_run(tmp_path):
    overrides = ("--config.train.num_epochs=4", "--config.train.checkpoint_every_steps=7")
    reference = tmp_path / "reference"
    assert cli(*quick_args(reference, *overrides)).returncode == 0

    killed = tmp_path / "killed"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "snnjax.main", *quick_args(killed, *overrides)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latest = killed / "checkpoints" / "latest"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if latest.exists() and any(p.name.isdigit() and int(p.name) >= 14 for p in latest.iterdir()):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "results.json").exists()

    resumed = cli(*quick_args(killed, *overrides))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from step" in resumed.stdout
    want, got = _final_params(reference), _final_params(killed)
    assert want.keys() == got.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_unknown_config_key_lists_valid_keys(tmp_path):
    line = _one_error_line(cli(*quick_args(tmp_path, "--config.optim.learning_rat=0.1")))
    assert "learning_rat" in line and "optim.learning_rate" in line


def test_missing_data_files_say_where_they_should_be(tmp_path):
    missing = tmp_path / "nowhere"
    args = [
        "--config",
        "configs/basic_mnist_mlp.py",
        "--workdir",
        str(tmp_path / "w"),
        f"--config.data.dir={missing}",
    ]
    line = _one_error_line(cli(*args))
    assert str(missing) in line


def test_batch_not_divisible_by_devices(tmp_path):
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    line = _one_error_line(cli(*quick_args(tmp_path, "--config.train.batch_size=60"), env=env))
    assert "60" in line and "8" in line


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    workdir = tmp_path / "run"
    good = cli(*quick_args(workdir, "--config.train.num_epochs=1"))
    assert good.returncode == 0
    steps_before = sorted(p.name for p in (workdir / "checkpoints" / "latest").iterdir())
    line = _one_error_line(
        cli(*quick_args(workdir, "--config.train.num_epochs=3", "--config.optim.learning_rate=inf"))
    )
    assert "nan" in line.lower() and "last good checkpoint" in line
    assert sorted(p.name for p in (workdir / "checkpoints" / "latest").iterdir()) == steps_before


def test_incompatible_checkpoint(tmp_path):
    workdir = tmp_path / "run"
    assert cli(*quick_args(workdir, "--config.train.num_epochs=1")).returncode == 0
    line = _one_error_line(cli(*quick_args(workdir, "--mode=eval", "--config.model.hidden=(128,)")))
    assert "different model" in line


@pytest.mark.parametrize("mode", ["eval"])
def test_eval_without_checkpoint(tmp_path, mode):
    line = _one_error_line(cli(*quick_args(tmp_path / "empty", f"--mode={mode}")))
    assert "no latest checkpoint" in line
