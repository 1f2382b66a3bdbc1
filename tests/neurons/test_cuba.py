"""Current-based LIF against hand-computed traces, the LIF it reduces to, and finite differences.

Inputs are dyadic fractions, so the traces are exact in float32. Notation: i = synaptic current,
h = membrane after charging, v = membrane after the reset, s = spike.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import dynamics
from snnjax import surrogate as sg
from snnjax.errors import ConfigError
from snnjax.neurons import LIF, CubaLIF
from snnjax.registry import NEURONS
from tests.neurons.gradcheck import check_against_finite_differences

# one strong pulse, then a weak one: the current keeps charging the membrane after the pulse
XP = [0.75, 0.5, 0.0, 0.0, 0.25]
I_XP = [0.75, 0.875, 0.4375, 0.21875, 0.359375]  # i_t = .5 i + x_t


def trace(neuron, xs):
    x = jnp.asarray(xs, jnp.float32)[:, None]
    spikes, states = dynamics.run_neuron(neuron, x, return_states=True)
    return (np.asarray(a[:, 0], np.float64) for a in (spikes, states.v, states.i))


def test_registered():
    assert NEURONS.get("cuba_lif") is CubaLIF


def test_hard_reset_trace():
    # decay .5, syn_decay .5, v_th 1: t1 h=.75 v=.75 | t2 h=.375+.875=1.25 s1 v=0
    # t3 h=0+.4375 | t4 h=.21875+.21875=.4375 | t5 h=.21875+.359375=.578125
    s, v, i = trace(CubaLIF(decay=0.5, syn_decay=0.5, reset="hard"), XP)
    np.testing.assert_array_equal(i, I_XP)
    np.testing.assert_array_equal(s, [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(v, [0.75, 0.0, 0.4375, 0.4375, 0.578125])


def test_soft_reset_trace():
    # t2 h=1.25 s1 v=.25 | t3 h=.125+.4375=.5625 | t4 h=.28125+.21875=.5 | t5 h=.25+.359375=.609375
    s, v, _ = trace(CubaLIF(decay=0.5, syn_decay=0.5, reset="soft"), XP)
    np.testing.assert_array_equal(s, [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(v, [0.75, 0.25, 0.5625, 0.5, 0.609375])


def test_snntorch_synaptic_delayed_subtraction():
    # snnTorch Synaptic(reset_mechanism='subtract'): the state keeps the pre-reset membrane and the next
    # step subtracts v_th: t2 h=1.25 s1 v=1.25 | t3 h=.625+.4375-1=.0625 | t4 h=.03125+.21875=.25
    # t5 h=.125+.359375=.484375
    s, v, _ = trace(CubaLIF(decay=0.5, syn_decay=0.5, reset="soft_delayed"), XP)
    np.testing.assert_array_equal(s, [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(v, [0.75, 1.25, 0.0625, 0.25, 0.484375])


@pytest.mark.parametrize("reset", ["hard", "soft", "soft_delayed", "none"])
def test_without_synaptic_memory_it_is_a_lif(reset):
    x = jax.random.uniform(jax.random.key(0), (12, 3, 5), minval=0.0, maxval=1.5)
    cuba = CubaLIF(decay=0.75, syn_decay=0.0, reset=reset, v_reset=0.125)
    lif = LIF(decay=0.75, reset=reset, v_reset=0.125)
    np.testing.assert_array_equal(dynamics.run_neuron(cuba, x), dynamics.run_neuron(lif, x))


def test_surrogate_gradient_hand_derived():
    # decay .5, syn_decay .5, hard reset, triangle(1); x = [.75, .5]
    # t1 i1=.75 h1=.75 s1=0 g1=tri(-.25)=.75 v1=.75 | t2 i2=.875 h2=1.25 s2=1 g2=tri(.25)=.75
    # dh1/dx1 = 1 -> ds1/dx1 = .75; dh2/dx1 = .5 * dv1/dx1 + di2/dx1 = .5 + .5 = 1 -> ds2/dx1 = .75
    # (v1 = h1 (1 - s1): dv1/dx1 = (1 - s1) - h1 ds1/dx1 = 1 - .5625 = .4375 -> dh2/dx1 = .21875 + .5)
    # d(s1+s2)/dx1 = .75 + .75 * .71875 = 1.2890625 ; d(s1+s2)/dx2 = g2 * 1 = .75
    x = jnp.asarray([0.75, 0.5])[:, None]
    neuron = CubaLIF(decay=0.5, syn_decay=0.5, reset="hard", surrogate=sg.Triangle(1.0))
    g = jax.grad(lambda x: dynamics.run_neuron(neuron, x).sum())(x)
    np.testing.assert_array_equal(np.asarray(g[:, 0]), [1.2890625, 0.75])


@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_gradients_match_finite_differences_float64(reset):
    # no membrane within the surrogate's support (5e-4 of v_th): autodiff is the exact derivative
    with jax.enable_x64(True):
        x = 0.25 * jax.random.normal(jax.random.key(2), (10, 3), jnp.float64) + 0.4
        neuron = CubaLIF(
            decay=0.8, syn_decay=0.6, v_th=0.9, v_reset=0.1, reset=reset, surrogate=sg.Rectangle(1e-3)
        )
        assert float(dynamics.run_neuron(neuron, x).sum()) >= 3
        fields = ["decay", "syn_decay", "v_th" if reset == "soft" else "v_reset"]
        g, _ = check_against_finite_differences(neuron, fields, x)
        assert all(abs(float(g[f])) > 1e-3 for f in fields)


def test_unknown_reset_is_a_config_error():
    with pytest.raises(ConfigError, match="cuba_lif: unknown reset 'sub'"):
        CubaLIF(reset="sub")
