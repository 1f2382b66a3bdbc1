"""ALIF against hand-computed traces and gradients, and against finite differences in float64.

Inputs are dyadic fractions, so the traces below are exact in float32. Notation: h = membrane after
charging, theta = adaptive threshold, v = membrane after the reset, a = adaptation, s = spike.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import dynamics
from snnjax import surrogate as sg
from snnjax.errors import ConfigError
from snnjax.neurons import ALIF, LIF
from snnjax.registry import NEURONS
from tests.neurons.gradcheck import check_against_finite_differences

XL = [0.5, 0.75, 1.0, 0.5, 1.0]


def trace(neuron, xs):
    x = jnp.asarray(xs, jnp.float32)[:, None]
    spikes, states = dynamics.run_neuron(neuron, x, return_states=True)
    return (np.asarray(a[:, 0], np.float64) for a in (spikes, states.v, states.a))


def test_registered():
    assert NEURONS.get("alif") is ALIF


def test_soft_reset_subtracts_the_adaptive_threshold():
    # decay .5, rho .5, strength 1, v_th 1, soft reset
    # t1 h=.5 theta=1 s0 v=.5 a=0 | t2 h=.25+.75=1.0 (== theta, `>` -> s0) v=1 a=0
    # t3 h=.5+1=1.5 s1 v=1.5-1=.5 a=.5 | t4 h=.25+.5=.75 theta=1.5 s0 v=.75 a=.25
    # t5 h=.375+1=1.375 theta=1.25 s1 v=1.375-1.25=.125 a=.125+.5=.625
    s, v, a = trace(ALIF(decay=0.5, adapt_decay=0.5, adapt_strength=1.0), XL)
    np.testing.assert_array_equal(s, [0, 0, 1, 0, 1])
    np.testing.assert_array_equal(v, [0.5, 1.0, 0.5, 0.75, 0.125])
    np.testing.assert_array_equal(a, [0, 0, 0.5, 0.25, 0.625])


def test_hard_reset_and_a_stronger_adaptation_silence_the_second_spike():
    # strength 2, hard reset to 0: t3 h=1.5 s1 v=0 a=.5 | t4 h=.5 theta=2 s0 v=.5 a=.25
    # t5 h=.25+1=1.25 theta=1.5 s0 v=1.25 a=.125  (a LIF would fire at t5: 1.25 > 1)
    s, v, a = trace(ALIF(decay=0.5, adapt_decay=0.5, adapt_strength=2.0, reset="hard"), XL)
    np.testing.assert_array_equal(s, [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(v, [0.5, 1.0, 0.0, 0.5, 1.25])
    np.testing.assert_array_equal(a, [0, 0, 0.5, 0.25, 0.125])
    s_lif, _, _ = trace(ALIF(decay=0.5, adapt_strength=0.0, reset="hard"), XL)
    np.testing.assert_array_equal(s_lif, [0, 0, 1, 0, 1])


def test_adaptation_decays_geometrically_after_one_spike():
    # one spike at t1 (x=2), then silence: a_t = (1 - rho) rho^(t-1), rho = .75
    s, _, a = trace(ALIF(adapt_decay=0.75), [2.0, 0, 0, 0, 0])
    np.testing.assert_array_equal(s, [1, 0, 0, 0, 0])
    np.testing.assert_allclose(a, 0.25 * 0.75 ** np.arange(5), rtol=1e-7)


@pytest.mark.parametrize("reset", ["soft", "hard", "none"])
def test_without_adaptation_it_is_a_lif(reset):
    x = jax.random.uniform(jax.random.key(0), (12, 3, 5), minval=0.0, maxval=1.5)
    alif = ALIF(decay=0.75, v_th=1.0, adapt_strength=0.0, reset=reset)
    lif = LIF(decay=0.75, v_th=1.0, reset=reset)
    np.testing.assert_array_equal(dynamics.run_neuron(alif, x), dynamics.run_neuron(lif, x))


def test_surrogate_gradient_hand_derived():
    # decay .5, rho .5, strength 2, soft reset, triangle(1); x = [1.5, 1.0]
    # t1 h1=1.5 theta1=1 s1=1 g1=tri(.5)=.5 v1=.5 a1=.5
    # t2 h2=.25+1=1.25 theta2=1+2*.5=2 s2=0 g2=tri(-.75)=.25
    # ds1/dx1 = .5; dv1/dx1 = 1 - theta1 ds1/dx1 = .5; dh2/dx1 = .5 * .5 = .25
    # dtheta2/dx1 = 2 * (1 - .5) * ds1/dx1 = .5; ds2/dx1 = g2 (dh2/dx1 - dtheta2/dx1) = -.0625
    # d(s1 + s2)/dx = [.5 - .0625, g2] = [.4375, .25]; detached reset: dv1/dx1 = 1 -> ds2/dx1 = 0
    x = jnp.asarray([1.5, 1.0])[:, None]
    for detach, expected in ((False, [0.4375, 0.25]), (True, [0.5, 0.25])):
        neuron = ALIF(decay=0.5, adapt_decay=0.5, adapt_strength=2.0, detach_reset=detach)
        g = jax.grad(lambda x, n=neuron: dynamics.run_neuron(n, x).sum())(x)
        np.testing.assert_array_equal(np.asarray(g[:, 0]), expected)


@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_gradients_match_finite_differences_float64(reset):
    # A surrogate whose support (|h - theta| < 5e-4) holds none of the membranes makes the autodiff
    # gradient the exact derivative of the (locally smooth) trace, which central differences measure.
    with jax.enable_x64(True):
        x = 0.8 * jax.random.normal(jax.random.key(1), (10, 3), jnp.float64) + 0.5
        neuron = ALIF(
            decay=0.8, v_th=0.9, adapt_decay=0.7, adapt_strength=1.5, v_reset=0.1, reset=reset,
            surrogate=sg.Rectangle(1e-3),
        )  # fmt: skip
        assert float(dynamics.run_neuron(neuron, x).sum()) >= 3  # the resets and adaptation are active
        fields = ["decay", "v_th", "adapt_decay", "adapt_strength"] + (["v_reset"] if reset == "hard" else [])
        g, _ = check_against_finite_differences(neuron, fields, x)
        # a hard reset forgets the threshold: only the soft reset carries v_th and the adaptation into v
        live = fields if reset == "soft" else ["decay", "v_reset"]
        assert all(abs(float(g[f])) > 1e-3 for f in live)


def test_unknown_reset_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown reset 'soft_delayed'"):
        ALIF(reset="soft_delayed")
