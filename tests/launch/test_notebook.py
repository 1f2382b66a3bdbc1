"""Executes launch/colab_tpu.ipynb top to bottom on CPU with a short training run."""

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
NOTEBOOK = REPO / "launch" / "colab_tpu.ipynb"


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "data" in out and "text/plain" in out["data"]:
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def test_notebook_is_valid_and_colab_ready():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["accelerator"] == "TPU" and nb.metadata["kernelspec"]["name"] == "python3"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit it without outputs"
    source = "\n".join(c.source for c in nb.cells)
    needed = ['"google.colab" in sys.modules', "jax.devices()", "train_and_evaluate", "evaluate_workdir"]
    assert all(n in source for n in needed)


@pytest.mark.slow
def test_notebook_runs_on_cpu(tmp_path, monkeypatch):
    # A kernelspec named python3 that starts *this* interpreter, first on JUPYTER_PATH.
    prefix = tmp_path / "kernel"
    kernelspec.install(kernel_name="python3", prefix=str(prefix))
    spec = json.loads((prefix / "share/jupyter/kernels/python3/kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    monkeypatch.setenv("SNNJAX_ROOT", str(REPO))
    monkeypatch.setenv("SNNJAX_NOTEBOOK_EPOCHS", "2")
    monkeypatch.setenv("SNNJAX_NOTEBOOK_WORKDIR", str(tmp_path / "workdir"))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    # 8 CPU devices, like the 8 TPU cores of a Colab TPU runtime: the batch is sharded the same way
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    monkeypatch.delenv("SNNJAX_REPO_URL", raising=False)

    nb = nbformat.read(NOTEBOOK, as_version=4)
    probe = "import sys, jax; print('KERNEL', sys.executable, jax.device_count())"
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    start = time.time()
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell (incl. a failed assert)
    elapsed = time.time() - start

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    text = [outputs_text(c) for c in code]
    assert "Not running on Colab: skipping the install" in text[0]
    assert f"KERNEL {sys.executable} 8" in text[-1]
    assert "CHECK PASSED" in "".join(text)
    results = json.loads((tmp_path / "workdir" / "results.json").read_text())
    assert results["epochs"] == 2.0 and 0.0 < results["test_accuracy"] <= 1.0
    assert f"{results['test_accuracy']:.4f}" in "".join(text)
    images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # metrics.png and the notebook's own plot
    assert elapsed < 90, f"notebook took {elapsed:.0f} s"
