"""The leaky integrator (LI) against closed forms and finite differences in float64."""

import jax
import jax.numpy as jnp
import numpy as np

from snnjax import dynamics, layers
from snnjax.neurons import LI
from snnjax.registry import NEURONS
from tests.neurons.gradcheck import check_against_finite_differences


def test_registered_and_non_spiking():
    assert NEURONS.get("li") is LI and LI.spiking is False


def test_output_is_the_membrane():
    # decay .5: v = .5 v + x: [1, .5, .75, .375+.25=.625]
    x = jnp.asarray([1.0, 0.0, 0.5, 0.25])[:, None]
    out, states = dynamics.run_neuron(LI(decay=0.5), x, return_states=True)
    np.testing.assert_array_equal(np.asarray(out[:, 0]), [1.0, 0.5, 0.75, 0.625])
    np.testing.assert_array_equal(out, states.v)


def test_relaxes_to_v_leak():
    # decay .5, v_leak 1, x = [1, 0, 0]: v = .5 v + .5 + x: 1.5, 1.25, 1.125 -> 1
    x = jnp.asarray([1.0, 0.0, 0.0])[:, None]
    np.testing.assert_array_equal(
        np.asarray(dynamics.run_neuron(LI(decay=0.5, v_leak=1.0), x)[:, 0]), [1.5, 1.25, 1.125]
    )


def test_impulse_response_closed_form():
    # a unit impulse at t=0 decays as decay^t
    x = jnp.zeros((20, 1)).at[0].set(1.0)
    np.testing.assert_allclose(
        np.asarray(dynamics.run_neuron(LI(decay=0.9), x)[:, 0]), 0.9 ** np.arange(20), rtol=1e-6
    )


def test_gradients_match_finite_differences_float64():
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(3), (12, 2), jnp.float64)
        g, _ = check_against_finite_differences(LI(decay=0.85, v_leak=0.3), ["decay", "v_leak"], x)
        assert abs(float(g["decay"])) > 1e-3 and abs(float(g["v_leak"])) > 1e-3


def test_runs_in_a_neuron_layer():
    x = jax.random.normal(jax.random.key(4), (6, 2, 3))
    got = layers.SpikingNeuron(LI(decay=0.7))(x)
    np.testing.assert_allclose(got, dynamics.python_loop(LI(decay=0.7), x), rtol=1e-6, atol=1e-7)
