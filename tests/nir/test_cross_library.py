"""Graphs written by snnTorch and Norse (tests/fixtures/nir/make_fixtures.py): snnjax loads them and
reproduces those libraries' outputs on the stored inputs. Needs neither torch nor those libraries."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

pytest.importorskip("nir")
import snnjax.nir as snnjax_nir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nir"

# graph -> (node types snnjax runs, whether the output is spikes)
GRAPHS = {
    "snntorch_mlp": (["Input", "Affine", "LIF", "Affine", "CubaLIF", "Affine", "LIF", "Output"], True),
    "snntorch_conv": (["Input", "Conv2d", "LIF", "AvgPool2d", "Flatten", "Affine", "LIF", "Output"], True),
    "norse_mlp": (["Input", "Affine", "LIF", "Affine", "IF", "Affine", "LIF", "Output"], True),
    "norse_conv": (["Input", "Conv2d", "LIF", "Conv2d", "LIF", "Output"], True),
    "norse_li": (["Input", "Affine", "LIF", "Affine", "LI", "Output"], False),
    "norse_cuba": (["Input", "Affine", "CubaLIF", "Affine", "Output"], False),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_reproduces_the_writing_library(name):
    kinds, spiking = GRAPHS[name]
    stored = np.load(FIXTURES / f"{name}.npz")
    net = snnjax_nir.load(FIXTURES / f"{name}.nir", dt=float(stored["dt"]))
    assert list(net.kinds) == kinds
    out = np.asarray(nnx.jit(lambda model, x: model(x))(net, jnp.asarray(stored["input"])))
    want = stored["output"]
    assert out.shape == want.shape
    if spiking:
        np.testing.assert_array_equal(out, want)
        assert 0.1 < want.mean() < 0.9  # the stored output spikes: neither silent nor saturated
    else:  # membrane potentials / currents, summed in another order than torch's
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
        assert np.abs(want).max() > 0.1


def test_the_step_length_matters():
    """snnTorch writes ``tau = 1e-4 / (1 - beta)``: read with snnjax's default ``dt = 1`` the neurons decay
    with ``1 - dt / tau < 0`` and the output differs."""
    stored = np.load(FIXTURES / "snntorch_mlp.npz")
    net = snnjax_nir.load(FIXTURES / "snntorch_mlp.nir")
    assert not np.array_equal(np.asarray(net(jnp.asarray(stored["input"]))), stored["output"])
