"""Helpers for engine tests that drive the CLI in subprocesses (a fresh JAX per run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


def cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs ``python -m snnjax.main ARGS`` from the repo root and returns the finished process."""
    full_env = {**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "snnjax.main", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def quick_args(workdir: Path, *overrides: str) -> list[str]:
    """The quick-start config shortened to a few seconds of training."""
    return [
        "--config",
        "configs/quickstart.py",
        "--workdir",
        str(workdir),
        "--config.train.num_epochs=2",
        "--config.train.eval_every_epochs=1",
        "--config.train.log_every=5",
        *overrides,
    ]


@pytest.fixture
def mnist_dir() -> Path:
    path = SHARED_DATA / "mnist"
    if not path.exists():
        pytest.skip("shared MNIST files not present")
    return path
