"""The command line: modes, exact resume after SIGKILL, graceful stops, one-line errors, one writer.

User errors and environment faults are checked in-process through ``snnjax.main.main`` (fast); what
needs a real process (signals, resource limits, two concurrent runs) runs the CLI in subprocesses.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.train.conftest import REPO, cli, quick_args
from tests.train.test_checkpoint import flip_data_bytes


def _one_error_line(code: int, err: str) -> str:
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    return errors[0]


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    return _one_error_line(proc.returncode, proc.stderr)


def main_error(run_main, *argv) -> str:
    code, _, err = run_main(*argv)
    return _one_error_line(code, err)


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "my_config.py"
    path.write_text(
        "from snnjax.config import base_config\n\n\ndef get_config():\n    config = base_config()\n"
        "    config.data.name = 'digits'\n" + body + "    return config\n"
    )
    return path


# ------------------------------------------------------------------------------------- modes


def test_train_then_eval_reproduces_results(tmp_path, run_main):
    workdir = tmp_path / "run"
    code, out, err = run_main(*quick_args(workdir))
    assert code == 0, err[-3000:]
    results = json.loads((workdir / "results.json").read_text())
    assert json.loads(out[out.index("{") :]) == results
    code, out, err = run_main(*quick_args(workdir, "--mode=eval"))
    assert code == 0, err
    evaluation = json.loads(out[out.index("{") :])
    assert evaluation["test_accuracy"] == results["test_accuracy"] and evaluation["step"] == 44
    assert not (workdir / ".lock").exists()


def test_relative_workdir(run_main, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = quick_args(Path("workdirs") / "run", "--config.train.num_epochs=1")
    args[1] = str(REPO / args[1])  # the config file, from another directory
    code, _, err = run_main(*args)
    assert code == 0, err
    assert (tmp_path / "workdirs" / "run" / "checkpoints" / "22").is_dir()


def test_summary_prints_parameter_table(run_main):
    code, out, _ = run_main("--config", REPO / "configs" / "quickstart.py", "--mode=summary")
    assert code == 0
    assert "19,210" in out.splitlines()[-1]  # 64 -> 256 -> 10 MLP: 64*256 + 256 + 256*10 + 10


# ------------------------------------------------------------------------------ nothing lost


def final_params(workdir: Path) -> dict:
    """The latest checkpoint's state as host arrays (whatever topology saved it)."""
    import jax
    import orbax.checkpoint as ocp

    root = workdir / "checkpoints"
    step = max(int(p.name) for p in root.iterdir() if p.name.isdigit())
    here = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    with ocp.StandardCheckpointer() as checkpointer:
        tree = checkpointer.metadata(root / str(step) / "state").item_metadata
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=here), tree)
        restored = {"state": checkpointer.restore(root / str(step) / "state", target)}
    leaves = jax.tree_util.tree_flatten_with_path(restored["state"])[0]
    return {jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}


def assert_same_params(a: Path, b: Path):
    want, got = final_params(a), final_params(b)
    assert want.keys() == got.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def start(workdir: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "snnjax.main", *quick_args(workdir, *overrides)],
        cwd=REPO,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_step(proc: subprocess.Popen, workdir: Path, step: int, timeout: float = 120):
    """Waits until ``workdir`` holds a checkpoint at ``step`` or later (the run is training)."""
    root = workdir / "checkpoints"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if root.exists() and any(p.name.isdigit() and int(p.name) >= step for p in root.iterdir()):
            return
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the run ended or stalled before it could be interrupted: " + proc.communicate()[1])


LONG = ("--config.train.checkpoint_every_steps=7",)  # 44 steps, checkpoints every 7


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run, trained in this process (the interrupted ones need a real process)."""
    from snnjax import config as config_lib
    from snnjax.train import loop

    workdir = tmp_path_factory.mktemp("reference") / "run"
    args = quick_args(workdir, *LONG)
    config = config_lib.load_config(str(REPO / args[1]), [a.removeprefix("--config.") for a in args[4:]])
    loop.train_and_evaluate(config, str(workdir))
    return workdir


@pytest.mark.slow
def test_sigkill_then_restart_matches_uninterrupted_run(reference, tmp_path, run_main):
    killed = tmp_path / "killed"
    proc = start(killed, *LONG)
    wait_for_step(proc, killed, 14)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (killed / "results.json").exists()
    code, out, err = run_main(*quick_args(killed, *LONG))
    assert code == 0, err[-3000:]
    assert "resuming from step" in out
    assert "taking over the lock" in err  # the killed run's lock was stale
    assert_same_params(reference, killed)


@pytest.mark.slow
def test_sigterm_saves_and_exits_143_then_resumes_exactly(reference, tmp_path, run_main):
    """(Ctrl-C and exact resume after either signal: tests/train/test_loop.py, test_stop.py.)"""
    workdir = tmp_path / "run"
    proc = start(workdir, *LONG)
    wait_for_step(proc, workdir, 7)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    line = _one_error_line(proc.returncode, err)
    assert proc.returncode == 143 and line.startswith("error: SIGTERM") and "resume" in line
    saved = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert f"saved step {saved}" in line
    code, out, _ = run_main(*quick_args(workdir, *LONG))
    assert code == 0 and f"resuming from step {saved}" in out
    assert_same_params(reference, workdir)


@pytest.mark.slow
def test_failed_save_stops_at_once_and_keeps_the_last_good_step(tmp_path, run_main):
    """A save that cannot be written (here: a file-size limit, as on a full disk) ends the run with one
    line; the earlier step stays intact and evaluates."""
    workdir = tmp_path / "run"
    assert run_main(*quick_args(workdir, "--config.train.num_epochs=1"))[0] == 0
    longer = ("--config.train.num_epochs=3", "--config.train.allow_schedule_change=True")
    argv = [sys.executable, "-m", "snnjax.main", *quick_args(workdir, *longer)]
    proc = subprocess.run(
        ["bash", "-c", f"ulimit -f 20 && exec {shlex.join(argv)}"],  # files <= 20 KiB; Python ignores SIGXFSZ
        cwd=REPO,
        # the limit would also truncate entries of the shared compilation cache
        env={**os.environ, "JAX_PLATFORMS": "cpu", "JAX_ENABLE_COMPILATION_CACHE": "false"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = one_error_line(proc)
    assert "checkpoint" in line and "File too large" in line
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir() if p.name.isdigit()) == ["22"]
    code, out, _ = run_main(*quick_args(workdir, "--mode=eval"))
    assert code == 0 and json.loads(out[out.index("{") :])["step"] == 22


@pytest.mark.slow
def test_damaged_checkpoint_is_one_clear_line(tmp_path, run_main):
    """(Training's fallback to the newest intact step: tests/train/test_loop.py.)"""
    workdir = tmp_path / "run"
    assert run_main(*quick_args(workdir))[0] == 0
    flip_data_bytes(workdir / "checkpoints" / "44")
    line = main_error(run_main, *quick_args(workdir, "--mode=eval"))
    assert "step 44" in line and "damaged" in line


# ---------------------------------------------------------------------------- one writer


@pytest.mark.slow
def test_second_run_on_a_workdir_stops_at_once(tmp_path, run_main):
    workdir = tmp_path / "run"
    first = start(workdir, "--config.train.num_epochs=400")
    try:
        wait_for_step(first, workdir, 1)
        line = main_error(run_main, *quick_args(workdir))
        assert f"process {first.pid}" in line and "in use" in line
    finally:
        first.kill()
        first.communicate()


def test_stale_lock_is_taken_over(run_main, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / ".lock").write_text("999999999 somehost\n")
    code, _, err = run_main(*quick_args(workdir, "--config.train.num_epochs=1"))
    assert code == 0, err
    assert "taking over the lock of process 999999999" in err and not (workdir / ".lock").exists()


# ---------------------------------------------------------------------- one line per error


def test_unknown_config_key_lists_valid_keys(run_main, tmp_path):
    line = main_error(run_main, *quick_args(tmp_path, "--config.optim.learning_rat=0.1"))
    assert "learning_rat" in line and "learning_rate" in line


def test_config_file_with_a_syntax_error(run_main, tmp_path):
    path = write_config(tmp_path, "    config.seed = (\n")
    line = main_error(run_main, "--config", path, "--workdir", tmp_path / "w")
    assert "my_config.py" in line and "syntax" in line.lower()


def test_config_file_with_a_wrong_value_type(run_main, tmp_path):
    path = write_config(tmp_path, "    config.train.batch_size = 'big'\n")
    line = main_error(run_main, "--config", path, "--workdir", tmp_path / "w")
    assert "my_config.py" in line and "batch_size" in line


def test_unknown_config_variant(run_main, tmp_path):
    config = f"{REPO / 'configs' / 'basic_mnist_mlp.py'}:nosuchvariant"
    line = main_error(run_main, "--config", config, "--mode=summary")
    assert "nosuchvariant" in line


def test_missing_config_file(run_main, tmp_path):
    line = main_error(run_main, "--config", tmp_path / "nope.py", "--mode=summary")
    assert "nope.py" in line and "not found" in line


def test_workdir_that_is_a_file(run_main, tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    assert "is a file" in main_error(run_main, *quick_args(path))
    assert path.read_text() == "x"


def test_workdir_that_cannot_be_written(run_main, tmp_path):
    if os.geteuid() == 0:  # root writes everywhere a permission allows: use a read-only filesystem
        path = Path("/proc/snnjax-test/run")
    else:
        (tmp_path / "ro").mkdir(mode=0o555)
        path = tmp_path / "ro" / "run"
    line = main_error(run_main, *quick_args(path))
    assert str(path) in line and not path.exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (("--config.data.dir={tmp}/nowhere",), ["nowhere"]),
        (("--config.train.batch_size=0",), ["batch_size", "positive"]),
        (("--mode=eval",), ["no latest checkpoint"]),
    ],
    ids=["missing-data", "bad-batch-size", "eval-without-checkpoint"],
)
def test_failed_command_leaves_no_directory(run_main, tmp_path, args, words):
    workdir = tmp_path / "new" / "run"
    config = "configs/basic_mnist_mlp.py" if "nowhere" in args[0] else "configs/quickstart.py"
    argv = ["--config", REPO / config, "--workdir", workdir, *(a.format(tmp=tmp_path) for a in args)]
    line = main_error(run_main, *argv)
    assert all(w in line for w in words), line
    assert not workdir.parent.exists()


@pytest.mark.slow
def test_batch_not_divisible_by_devices(tmp_path):
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    line = one_error_line(cli(*quick_args(tmp_path / "w", "--config.train.batch_size=60"), env=env))
    assert "60" in line and "8" in line


def test_nan_loss_stops_and_keeps_last_good_checkpoint(run_main, tmp_path):
    workdir = tmp_path / "run"
    assert run_main(*quick_args(workdir, "--config.train.num_epochs=1"))[0] == 0
    steps_before = sorted(p.name for p in (workdir / "checkpoints").iterdir())
    argv = quick_args(
        workdir,
        "--config.train.num_epochs=3",
        "--config.optim.learning_rate=inf",
        "--config.train.allow_schedule_change=True",
    )
    line = main_error(run_main, *argv)
    assert "nan" in line.lower() and "last good checkpoint" in line
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == steps_before


def test_incompatible_checkpoint(run_main, tmp_path):
    workdir = tmp_path / "run"
    assert run_main(*quick_args(workdir, "--config.train.num_epochs=1"))[0] == 0
    line = main_error(run_main, *quick_args(workdir, "--mode=eval", "--config.model.hidden=(128,)"))
    assert "different model" in line
