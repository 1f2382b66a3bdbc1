"""The mapping between NIR's continuous-time neurons and snnjax's steps: traces against forward-Euler
steps written out by hand, and snnjax neurons through NIR and back."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import dynamics, neurons
from snnjax.errors import ConfigError

nir = pytest.importorskip("nir")
import snnjax.nir as snnjax_nir  # noqa: E402
from snnjax.nir import semantics  # noqa: E402

T, N = 20, 3


def _run_node(node, x: np.ndarray, dt: float) -> np.ndarray:
    """One neuron node as a graph ``Input -> node -> Output`` run on ``x [T, 1, N]``."""
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([N])), node, nir.Output(output_type=np.array([N]))
    )
    return np.asarray(snnjax_nir.load(graph, dt=dt)(jnp.asarray(x, jnp.float32)))[:, 0]


def _drive(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.2, 1.5, (T, 1, N))


P = dict(tau=np.array([2e-3, 5e-3, 1e-2]), r=np.array([1.0, 2.0, 0.5]), v_leak=np.array([0.0, 0.1, -0.2]))


def test_lif_is_one_euler_step_per_time_step_with_immediate_reset():
    dt, v_th, v_reset = 1e-3, np.array([0.3, 0.5, 0.2]), np.array([0.0, -0.1, 0.05])
    node = nir.LIF(**P, v_threshold=v_th, v_reset=v_reset)
    x = _drive()
    v, want = np.zeros(N), []
    for t in range(T):  # tau dv/dt = (v_leak - v) + r I, then v > v_th fires and resets to v_reset
        v = v + dt / P["tau"] * (P["v_leak"] - v + P["r"] * x[t, 0])
        s = (v > v_th).astype(float)
        v = np.where(s > 0, v_reset, v)
        want.append(s)
    out = _run_node(node, x, dt)
    np.testing.assert_array_equal(out, np.array(want))
    assert 0.1 < out.mean() < 0.9


def test_cuba_lif_updates_the_current_before_the_membrane():
    dt = 1e-3
    tau_syn, tau_mem = np.array([2e-3, 4e-3, 3e-3]), np.array([5e-3, 2e-3, 1e-2])
    r, w_in, v_th = np.array([1.0, 1.5, 3.0]), np.array([2.0, 1.0, 3.0]), np.array([0.2, 0.3, 0.25])
    node = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=np.zeros(N), v_threshold=v_th, w_in=w_in)
    x = _drive(1)
    i, v, want = np.zeros(N), np.zeros(N), []
    for t in range(T):
        i = i + dt / tau_syn * (-i + w_in * x[t, 0])
        v = v + dt / tau_mem * (-v + r * i)  # the current of this step: no delay
        s = (v > v_th).astype(float)
        v = np.where(s > 0, 0.0, v)
        want.append(s)
    out = _run_node(node, x, dt)
    np.testing.assert_array_equal(out, np.array(want))
    assert 0.05 < out.mean() < 0.9


def test_leaky_integrator_and_integrate_and_fire():
    dt = 1e-3
    x = _drive(2)
    v, want = np.zeros(N), []
    for t in range(T):
        v = v + dt / P["tau"] * (P["v_leak"] - v + P["r"] * x[t, 0])
        want.append(v.copy())
    np.testing.assert_allclose(_run_node(nir.LI(**P), x, dt), np.array(want), rtol=1e-5, atol=1e-6)
    r, v_th = np.array([100.0, 300.0, 50.0]), np.array([0.5, 1.0, 0.2])
    v, want = np.zeros(N), []
    for t in range(T):  # dv/dt = r I
        v = v + dt * r * x[t, 0]
        s = (v > v_th).astype(float)
        v = np.where(s > 0, 0.0, v)
        want.append(s)
    np.testing.assert_array_equal(_run_node(nir.IF(r=r, v_threshold=v_th), x, dt), np.array(want))


@pytest.mark.parametrize(
    "neuron",
    [
        neurons.LIF(decay=0.9, v_th=0.6),
        neurons.LIF(decay=0.25, v_th=0.3, v_reset=-0.2),
        neurons.LIF(decay=jnp.array([0.1, 0.5, 0.95]), v_th=jnp.array([0.2, 0.4, 0.8])),
        neurons.IF(v_th=0.7),
        neurons.LIF(charge="tau", tau=2.0, v_th=0.5),
        neurons.LIF(charge="tau", tau=3.0, v_th=0.4, v_reset=0.1, decay_input=False),
        neurons.CubaLIF(decay=0.8, syn_decay=0.6, v_th=1.2, v_reset=-0.1),
        neurons.CubaLIF(decay=jnp.array([0.3, 0.9, 0.0]), syn_decay=jnp.array([0.5, 0.0, 0.95]), v_th=0.8),
        neurons.LI(decay=0.7, v_leak=0.2),
    ],
    ids=[
        "decay",
        "v_reset",
        "per-neuron",
        "IF",
        "tau",
        "tau-no-decay-input",
        "cuba",
        "cuba-per-neuron",
        "LI",
    ],
)
@pytest.mark.parametrize("dt", [1.0, 1e-4])
def test_snnjax_neuron_through_nir_and_back(neuron, dt):
    (node,) = semantics.neuron_nodes(neuron, (N,), dt, "layer")
    x = jnp.asarray(_drive(3) * 1.2, jnp.float32)
    want = np.asarray(dynamics.run_neuron(neuron, x))[:, 0]
    out = _run_node(node, np.asarray(x), dt)
    if isinstance(neuron, neurons.LI):  # a membrane readout; (1 - decay) v_leak rounds in float32 here
        np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)
        assert np.abs(want).max() > 0.5
    else:
        np.testing.assert_array_equal(out, want)
        assert 0.05 < float(want.mean()) < 0.95
    if neuron.charge == "decay" and not isinstance(node, nir.IF):  # the decays themselves come back exactly
        drive, record = semantics.neuron_record(node, dt, getattr(neuron, "surrogate", None), "node")
        assert type(record) is type(neuron)
        f32 = lambda a: np.broadcast_to(np.asarray(a, np.float32), (N,))  # as snnjax computes with it
        for leak in getattr(neuron, "leaks", ("decay",)):
            np.testing.assert_array_equal(
                f32(getattr(record, leak)), f32(getattr(neuron, leak)), err_msg=leak
            )
        assert drive.gain is None and drive.bias is None


def test_what_nir_cannot_express():
    with pytest.raises(ConfigError, match=r"^layer L: reset='soft' \(subtract the threshold\) has no NIR"):
        semantics.neuron_nodes(neurons.LIF(reset="soft"), (N,), 1.0, "L")
    with pytest.raises(ConfigError, match=r"^layer L: a decay outside \[0, 1\) beside leaky neurons"):
        semantics.neuron_nodes(neurons.LIF(decay=jnp.array([0.5, 1.0, 0.2])), (N,), 1.0, "L")
    with pytest.raises(ConfigError, match=r"^layer L: the stochastic neuron NoisyLIF has no NIR primitive$"):
        semantics.neuron_nodes(neurons.NoisyLIF(), (N,), 1.0, "L")
    with pytest.raises(
        ConfigError, match=r"^layer L: the adaptive-threshold neuron ALIF has no NIR primitive$"
    ):
        semantics.neuron_nodes(neurons.ALIF(), (N,), 1.0, "L")
    with pytest.raises(ConfigError, match=r"^layer L: reset='soft_delayed' \(subtract the threshold\)"):
        semantics.neuron_nodes(neurons.CubaLIF(reset="soft_delayed"), (N,), 1.0, "L")
    cuba = dict(tau_syn=np.ones(N), tau_mem=np.ones(N), r=np.ones(N), v_threshold=np.ones(N))
    with pytest.raises(ConfigError, match=r"^node c: CubaLIF with v_leak != 0 is not supported$"):
        semantics.neuron_record(nir.CubaLIF(**cuba, v_leak=np.full(N, 0.1)), 1.0, None, "c")


def test_loaded_neurons_have_surrogate_gradients():
    node = nir.LIF(tau=np.full(N, 4.0), r=np.full(N, 4.0), v_leak=np.zeros(N), v_threshold=np.full(N, 0.5))
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([2])),
        nir.Affine(weight=np.ones((N, 2), np.float32), bias=np.zeros(N, np.float32)),
        node,
        nir.Output(output_type=np.array([N])),
    )
    net = snnjax_nir.load(graph)
    x = jnp.asarray(np.random.default_rng(4).uniform(0, 1, (T, 2, 2)), jnp.float32)
    grads = nnx.grad(lambda m: jnp.sum(m(x)))(net)
    assert float(jnp.abs(grads["layers"][1]["kernel"][...]).sum()) > 0
