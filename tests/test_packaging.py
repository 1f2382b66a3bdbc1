"""The wheel: every subpackage and the experiment configs are in it, and it runs without the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import snnjax

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, REPO],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("snnjax-*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_every_package_and_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for init in (REPO / "snnjax").rglob("__init__.py"):
        assert init.relative_to(REPO).as_posix() in names, f"{init.parent} is missing from pyproject packages"
    for config in (REPO / "configs").glob("*.py"):
        assert f"snnjax/configs/{config.name}" in names
    assert not any(n.startswith(("tests/", "configs/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "snnjax = snnjax.main:cli" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert wheel.name.startswith(f"snnjax-{snnjax.__version__}-")


@pytest.mark.slow
def test_installed_wheel_runs_a_shipped_config_outside_the_repository(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site), "JAX_PLATFORMS": "cpu"}
    run = lambda *args: subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    where = run("-c", "import snnjax; print(snnjax.__file__)")
    assert where.stdout.strip() == str(site / "snnjax" / "__init__.py")
    summary = run("-m", "snnjax", "--config", "configs/quickstart.py", "--mode=summary")
    assert summary.returncode == 0, summary.stderr
    assert "19,210" in summary.stdout  # the quick-start MLP: 64*256+256 + 256*10+10
    missing = run("-m", "snnjax", "--config", "configs/nonexistent.py", "--mode=summary")
    assert missing.returncode == 2 or missing.returncode == 1
    assert missing.stderr.startswith("error: config file configs/nonexistent.py not found")
