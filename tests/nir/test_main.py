"""``python -m snnjax.nir export``: a trained workdir as a NIR file that computes the workdir's model."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

nir = pytest.importorskip("nir")
import snnjax  # noqa: E402
import snnjax.nir as snnjax_nir  # noqa: E402
from snnjax.analysis import monitor  # noqa: E402
from snnjax.nir.__main__ import main  # noqa: E402
from tests.analysis.conftest import family_config  # noqa: E402


@pytest.fixture(scope="module")
def conv_workdir(tmp_path_factory):
    from snnjax.train import loop

    workdir = tmp_path_factory.mktemp("convnet")
    loop.train_and_evaluate(family_config("basic_mnist_conv"), str(workdir))
    return str(workdir)


def test_export_writes_the_workdirs_model(conv_workdir, tmp_path, capsys):
    out = tmp_path / "model.nir"
    assert main(["export", "--workdir", conv_workdir, "--out", str(out), "--checkpoint", "best"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: input (Input) -> conv_0 (Conv2d) -> ")
    graph = snnjax_nir.read(out)
    assert graph.metadata["dataset"] == "digits" and graph.metadata["num_steps"] == 2
    model, _ = snnjax.load(conv_workdir, checkpoint="best")
    images = jax.random.uniform(jax.random.key(0), (6, 8, 8, 1))
    logits, rec = monitor.record(model, images)
    x = jnp.broadcast_to(jnp.transpose(images, (0, 3, 1, 2)), (2, 6, 1, 8, 8))
    np.testing.assert_allclose(snnjax_nir.load(graph)(x), logits, rtol=1e-5, atol=1e-5)
    assert float(rec.spikes["neurons.0"].mean()) > 0.01


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["export", "--workdir", str(tmp_path), "--out", str(tmp_path / "m.nir")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "config.json not found" in err
