"""Executes every tutorial notebook in docs/tutorials top to bottom on CPU."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

REPO = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((REPO / "docs" / "tutorials").glob("*.ipynb"))


EXPECTED = ["01_neurons_and_surrogates", "02_conv_snn_optax", "03_cli_load_monitor"]


def test_tutorials_are_committed_without_outputs():
    assert [p.stem for p in TUTORIALS] == EXPECTED
    for path in TUTORIALS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path, monkeypatch):
    prefix = tmp_path / "kernel"  # a python3 kernelspec that starts this interpreter
    kernelspec.install(kernel_name="python3", prefix=str(prefix))
    assert json.loads((prefix / "share/jupyter/kernels/python3/kernel.json").read_text())["argv"][0] == (
        sys.executable
    )
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("MPLBACKEND", "agg")
    monkeypatch.setenv("SNNJAX_ROOT", str(REPO))
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell, including a failed assert
    elapsed = time.time() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert elapsed < 60, f"{path.name} took {elapsed:.0f} s"
