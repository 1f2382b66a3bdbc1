"""Multi-process training on localhost through jax.distributed: 2 processes x 1 and x 2 CPU devices
finish with the same result as one process, and a SIGTERM to one process stops both at the same step.

Every process has a hard timeout, so a deadlock fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_main import final_params, wait_for_step
from tests.train.conftest import REPO, quick_args

TIMEOUT = 240  # seconds per run; a deadlocked run is killed and fails


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(workdir: Path, processes: int, devices: int, *overrides: str) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
    }
    args = [sys.executable, "-m", "snnjax.main", *quick_args(workdir, *overrides)]
    if processes > 1:
        port = _free_port()
        args += ["--distributed", f"--coordinator_address=localhost:{port}", f"--num_processes={processes}"]
    return [
        subprocess.Popen(
            args + ([f"--process_id={i}"] if processes > 1 else []),
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]


def finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    """Waits for every process (killing all of them after TIMEOUT); returns (code, stdout, stderr)."""
    deadline = time.time() + TIMEOUT
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=max(deadline - time.time(), 1))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail(f"multi-process run did not finish within {TIMEOUT} s (deadlock?)")
        results.append((proc.returncode, out, err))
    return results


def train(workdir: Path, processes: int, devices: int) -> dict:
    for code, _, err in finish(launch(workdir, processes, devices)):
        assert code == 0, err[-3000:]
    return json.loads((workdir / "results.json").read_text())


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> tuple[Path, dict]:
    workdir = tmp_path_factory.mktemp("single") / "run"
    return workdir, train(workdir, 1, 1)


@pytest.mark.slow
@pytest.mark.parametrize("devices", [1, 2], ids=["2x1", "2x2"])
def test_two_processes_match_one(single, tmp_path, devices):
    workdir = tmp_path / "run"
    results = train(workdir, 2, devices)
    assert results["steps"] == single[1]["steps"] == 44
    assert results["test_accuracy"] == pytest.approx(single[1]["test_accuracy"], abs=1 / 360)
    want, got = final_params(single[0]), final_params(workdir)
    assert want.keys() == got.keys()
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5, err_msg=k)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert len([r for r in records if "test_accuracy" in r]) == 2  # written once, not per process


@pytest.mark.slow
def test_sigterm_to_one_process_stops_both_at_the_same_step(single, tmp_path):
    workdir = tmp_path / "run"
    procs = launch(workdir, 2, 1, "--config.train.checkpoint_every_steps=5")
    wait_for_step(procs[0], workdir, 5, timeout=TIMEOUT)
    procs[1].send_signal(signal.SIGTERM)
    results = finish(procs)
    assert [code for code, _, _ in results] == [143, 143], [err[-2000:] for _, _, err in results]
    lines = [[ln for ln in err.splitlines() if ln.startswith("error:")] for _, _, err in results]
    assert all(len(ln) == 1 and "saved step" in ln[0] for ln in lines), lines
    assert lines[0][0].split("saved step")[1].split()[0] == lines[1][0].split("saved step")[1].split()[0]
    train(workdir, 2, 1)
    want, got = final_params(single[0]), final_params(workdir)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5, err_msg=k)
