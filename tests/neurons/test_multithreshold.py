"""Spiking-Mix quantised multi-threshold LIF neurons (docs/spikingmix.md): levels, hand traces, backward."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import dynamics
from snnjax import surrogate as sg
from snnjax.neurons import (
    DualThresholdLIF,
    MultiState,
    SharedThresholdLIF,
    dual_threshold_step,
    shared_threshold_step,
)


def trace(neuron, xs):
    x = jnp.asarray(xs, jnp.float32)[:, None]
    out, states = dynamics.run_neuron(neuron, x, return_states=True)
    return np.asarray(out[:, 0], np.float64), [np.asarray(v[:, 0], np.float64) for v in states.v]


def grad_sum(neuron, xs):
    x = jnp.asarray(xs, jnp.float32)[:, None]
    return np.asarray(jax.grad(lambda x: dynamics.run_neuron(neuron, x).sum())(x)[:, 0], np.float64)


def _sig(z):
    return 1.0 / (1.0 + math.exp(-z))


# ---------------------------------------------------------------------------------------------------
# Variant B: DualThresholdLIF (neuron_multi.py)
# ---------------------------------------------------------------------------------------------------
def test_dual_levels_are_zero_quarter_three_quarters():
    neuron = DualThresholdLIF(tau0=2.0, tau1=4.0, v_th=0.5)
    # thresholds v_th/tau0 = .25 and v_th = .5 ; amplitudes 1/tau1 = .25 and 1/tau0 = .5
    assert neuron.resolved() == ((0.25, 0.5), (0.25, 0.5))
    assert neuron.levels == (0.0, 0.25, 0.75)
    x = jax.random.uniform(jax.random.key(0), (16, 8, 128), minval=-0.5, maxval=2.0)
    out = np.asarray(jax.jit(lambda x: dynamics.run_neuron(neuron, x))(x))
    assert set(np.unique(out)) == {0.0, 0.25, 0.75}  # all three, and nothing else (as the authors' module)


def test_dual_hand_trace():
    # h = v + (x - v)/2 ; out = .25 H(h - .25) + .5 H(h - .5) (strict) ; v <- (1 - out) h
    # t1 x=.25: h=.125 -> out 0, v=.125
    # t2 x=.75: h=.125+(.75-.125)/2=.4375 -> out .25, v=.75*.4375=.328125
    # t3 x=1.5: h=.328125+(1.5-.328125)/2=.9140625 -> out .75, v=.25*.9140625=.228515625
    # t4 x=.5 : h=.228515625+(.5-.228515625)/2=.3642578125 -> out .25, v=.75*.3642578125=.273193359375
    out, (v,) = trace(DualThresholdLIF(tau0=2.0, tau1=4.0, v_th=0.5), [0.25, 0.75, 1.5, 0.5])
    np.testing.assert_array_equal(out, [0.0, 0.25, 0.75, 0.25])
    np.testing.assert_array_equal(v, [0.125, 0.328125, 0.228515625, 0.273193359375])


def test_dual_strict_at_thresholds():
    # x=.5 -> h=.25 (== lower threshold): 0 ; x=1 -> h=.5 (== upper threshold): only the lower, .25
    out, _ = trace(DualThresholdLIF(), [0.5])
    assert out.tolist() == [0.0]
    out, (v,) = trace(DualThresholdLIF(), [1.0])
    assert out.tolist() == [0.25] and v.tolist() == [0.375]


def test_dual_sigmoid_backward_and_reset_gradient():
    # sigmoid(alpha=4) surrogate at h - v_th: g(h) = 4 sig(4(h - .5)) (1 - sig(4(h - .5))) ; dh/dx = 1/2
    # x = [.25, .75]: h1 = .125 (out1 0), g1 = g(.125) ; h2 = .4375 (out2 .25), g2 = g(.4375)
    # d(out1 + out2)/dx2 = g2/2
    # default (the seed's module): the reset uses the raw output, dv1/dh1 = 1 - out1 = 1 ; dh2/dv1 = 1/2
    # d(out1 + out2)/dx1 = g1/2 + g2 (1/2) dv1/dh1 (1/2) = .5 g1 + .25 g2
    g = lambda h: 4 * _sig(4 * (h - 0.5)) * (1 - _sig(4 * (h - 0.5)))
    g1, g2 = g(0.125), g(0.4375)
    assert DualThresholdLIF().detach_reset
    np.testing.assert_allclose(
        grad_sum(DualThresholdLIF(), [0.25, 0.75]), [0.5 * g1 + 0.25 * g2, 0.5 * g2], rtol=1e-5
    )
    # gradient through the reset: dv1/dh1 = (1 - out1) - h1 g1 = 1 - .125 g1
    np.testing.assert_allclose(
        grad_sum(DualThresholdLIF(detach_reset=False), [0.25, 0.75]),
        [0.5 * g1 + 0.25 * g2 * (1 - 0.125 * g1), 0.5 * g2],
        rtol=1e-5,
    )


def _dual_reference_grad(
    x: np.ndarray, w: np.ndarray, detach_reset: bool, tau0=2.0, tau1=4.0, v_th=0.5, alpha=4.0
):
    """float64 forward and hand-derived backward (BPTT) of sum_t w_t out_t for the dual-threshold LIF.

    Forward: h_t = v + (x_t - v) / tau0 ; out_t = H(h_t - v_th/tau0)/tau1 + H(h_t - v_th)/tau0 ;
    v_t = (1 - out_t) h_t. Backward: d out_t/d h_t = s'(h_t - v_th) (sigmoid surrogate);
    d v_t/d h_t = (1 - out_t) - [h_t s'(h_t - v_th) unless the reset is detached];
    d h_{t+1}/d v_t = 1 - 1/tau0 ; d h_t/d x_t = 1/tau0.
    """
    T = x.shape[0]
    v = np.zeros(x.shape[1:])
    hs, outs = [], []
    for t in range(T):
        h = v + (x[t] - v) / tau0
        out = (h > v_th / tau0) / tau1 + (h > v_th) / tau0
        hs.append(h), outs.append(out)
        v = (1 - out) * h
    sig = lambda z: 1 / (1 + np.exp(-z))
    gv = np.zeros(x.shape[1:])  # dL/dv_t, flowing back from step t+1
    gx = np.zeros_like(x)
    for t in reversed(range(T)):
        s = alpha * sig(alpha * (hs[t] - v_th)) * (1 - sig(alpha * (hs[t] - v_th)))
        dv_dh = (1 - outs[t]) - (0.0 if detach_reset else hs[t] * s)
        gh = w[t] * s + gv * dv_dh
        gx[t] = gh / tau0
        gv = gh * (1 - 1 / tau0)
    return np.stack(outs), gx


@pytest.mark.parametrize("detach_reset", [True, False], ids=["detached", "through_reset"])
def test_dual_input_gradients_match_hand_derived_bptt(detach_reset):
    """Input gradients over 8 steps of random currents against the float64 reference above."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 2.0, (8, 256))
    w = rng.normal(size=(8, 256))
    ref_out, ref_gx = _dual_reference_grad(x, w, detach_reset)
    neuron = DualThresholdLIF(detach_reset=detach_reset)
    loss = lambda x: jnp.sum(jnp.asarray(w, jnp.float32) * dynamics.run_neuron(neuron, x))
    xj = jnp.asarray(x, jnp.float32)
    out = np.asarray(dynamics.run_neuron(neuron, xj))
    # rounding x to float32 may move a membrane across a threshold: compare where the spikes agree
    agree = np.all(out == ref_out, axis=0)
    assert agree.mean() > 0.95
    gx = np.asarray(jax.grad(loss)(xj), np.float64)
    np.testing.assert_allclose(gx[:, agree], ref_gx[:, agree], rtol=1e-4, atol=1e-6)
    # the two variants really differ on this input (most elements)
    other = _dual_reference_grad(x, w, not detach_reset)[1]
    assert np.mean(np.abs(other - ref_gx) > 1e-4) > 0.5


def test_dual_custom_thresholds_levels():
    n = DualThresholdLIF(thresholds=(1.0, 0.2, 0.6), amplitudes=(0.5, 0.125, 0.25))
    assert n.levels == (0.0, 0.125, 0.375, 0.875)
    # single step from 0, tau0 = 2 -> h = x/2: x=.6 (h=.3): .125 ; x=1.4 (h=.7): .375 ; x=2.2 (h=1.1): .875
    out = dynamics.run_neuron(n, jnp.asarray([[0.6, 1.4, 2.2]]))
    np.testing.assert_array_equal(np.asarray(out[0]), [0.125, 0.375, 0.875])


def test_dual_neuron_as_jit_argument():
    """The neuron record is a pytree (tau0 may be a learnable array): it must trace."""
    x = jnp.asarray([[0.25], [0.75], [1.5], [0.5]])
    neuron = DualThresholdLIF()
    out = jax.jit(lambda n, x: dynamics.run_neuron(n, x))(neuron, x)
    np.testing.assert_array_equal(np.asarray(out[:, 0]), [0.0, 0.25, 0.75, 0.25])
    state = MultiState((jnp.zeros(1),))
    _, out = dual_threshold_step(state, jnp.ones(1), DualThresholdLIF(tau0=jnp.float32(2)))
    assert float(out[0]) == 0.25


# ---------------------------------------------------------------------------------------------------
# Variant A: SharedThresholdLIF (neruon_shared.py)
# ---------------------------------------------------------------------------------------------------
def test_shared_levels():
    assert SharedThresholdLIF().levels == (0.0, 0.25, 0.5, 0.75)
    assert SharedThresholdLIF(thresholds=(0.1, 0.2, 0.3), amplitudes=(1.0, 2.0, 4.0)).levels == tuple(
        float(k) for k in range(8)
    )
    x = jax.random.uniform(jax.random.key(1), (16, 8, 128), minval=-0.5, maxval=2.0)
    out = np.asarray(jax.jit(lambda x: dynamics.run_neuron(SharedThresholdLIF(), x))(x))
    # From the zero state the lone upper level .5 is unreachable with these defaults (the two membranes
    # never differ by more than .5, and b alone needs h_b > .5 >= h_a + .25), so ``levels`` is the set of
    # values a step can emit from an arbitrary state, a superset of what a zero-started trace shows.
    assert set(np.unique(out)) == {0.0, 0.25, 0.75}
    assert set(np.unique(out)) <= set(SharedThresholdLIF().levels)
    # .5 alone from a state with v_a = -1, v_b = .5 and x = .75: h_a = -1 + 1.75/2 = -.125 -> 0 ;
    # h_b = .5 + .25/2 = .625 -> .5
    _, out = shared_threshold_step(
        MultiState((jnp.full(1, -1.0), jnp.full(1, 0.5))), jnp.full(1, 0.75), SharedThresholdLIF()
    )
    assert out.tolist() == [0.5]
    with pytest.raises(ValueError, match="differ in length"):
        SharedThresholdLIF(thresholds=(0.25,), amplitudes=(0.25, 0.5))


def test_shared_hand_trace():
    # defaults: theta (.25, .5), r (.25, .5), tau 2: each sub-neuron h_k = v_k + (x - v_k)/2,
    # emits r_k H(h_k - th_k) H(sigmoid(relu(h_k - th_k)) - th_k), resets v_k = (1 - H(h_k - th_k)) h_k.
    # (sigmoid(relu(z)) >= .5 > .25, and > .5 iff z > 0: both gates equal the fire mask here.)
    # t1 x=.75: a h=.375 > .25 -> .25, va=0   | b h=.375 < .5 -> 0, vb=.375     | out .25
    # t2 x=.5 : a h=.25 (not >) -> 0, va=.25  | b h=.375+.0625=.4375 -> 0        | out 0
    # t3 x=1.5: a h=.25+.625=.875 -> .25, va=0 | b h=.4375+.53125=.96875 -> .5, vb=0 | out .75
    # t4 x=.25: a h=.125 -> 0, va=.125        | b h=.125 -> 0, vb=.125           | out 0
    out, (va, vb) = trace(SharedThresholdLIF(), [0.75, 0.5, 1.5, 0.25])
    np.testing.assert_array_equal(out, [0.25, 0.0, 0.75, 0.0])
    np.testing.assert_array_equal(va, [0.0, 0.25, 0.0, 0.125])
    np.testing.assert_array_equal(vb, [0.375, 0.4375, 0.0, 0.125])


def test_shared_clipped_ste_backward():
    # one step, x = .75: z_a = .375 - .25 = .125 in (0, 1) -> 1 ; z_b = .375 - .5 < 0 -> 0
    # d out/dx = (1 + 0) * dh/dx = .5   (the STE gradient is 1, not r_k)
    assert grad_sum(SharedThresholdLIF(), [0.75]).tolist() == [0.5]
    # x = 2.5: h = 1.25: z_a = 1.0 (not < 1) -> 0 ; z_b = .75 -> 1 ; d out/dx = .5
    assert grad_sum(SharedThresholdLIF(), [2.5]).tolist() == [0.5]
    # x = 3.5: h = 1.75: z_a = 1.5, z_b = 1.25 -> 0
    assert grad_sum(SharedThresholdLIF(), [3.5]).tolist() == [0.0]
    # two steps: the reset mask carries no gradient, the membrane does.
    # x = [.25, .75]: t1 h_a = h_b = .125, nobody fires, z_a = -.125, z_b = -.375 -> no gradient at t1;
    # v_k = h_k (mask 1, no gradient). t2: h_k = .0625 + .375 = .4375: z_a = .1875 -> 1, z_b < 0 -> 0.
    # d out2/dx2 = .5 ; d out2/dx1 = 1 * dh_a2/dv_a1 * dv_a1/dx1 = .5 * .5 = .25
    np.testing.assert_allclose(grad_sum(SharedThresholdLIF(), [0.25, 0.75]), [0.25, 0.5])
    # once sub-neuron a fires at t1 (x1 = .75, v_a1 = 0 with a gradient-free mask), dv_a1/dx1 = 0:
    # t2 x=.75: h_a = .375, z_a = .125 -> 1 ; h_b = .1875 + .375 = .5625, z_b = .0625 -> 1 (it fires .5)
    # d out2/dx2 = (1 + 1) * .5 = 1 ; d out2/dx1 via b: .5 * .5 = .25 ; plus d out1/dx1 = .5 -> .75
    np.testing.assert_allclose(grad_sum(SharedThresholdLIF(), [0.75, 0.75]), [0.75, 1.0])


def test_shared_threshold_at_least_one_never_emits_but_resets_and_has_gradient():
    # thresholds (.25, 1.0): sub-neuron b's gate sigmoid(relu(z)) never exceeds 1 -> never emits
    n = SharedThresholdLIF(thresholds=(0.25, 1.0), amplitudes=(0.25, 0.5))
    # x = [2.5, 0]: t1 h = 1.25: a emits .25 ; b: z_b = .25 > 0 but gate closed -> 0 ; both reset to 0
    # t2 x=0: h = 0 -> 0
    out, (_, vb) = trace(n, [2.5, 0.0])
    np.testing.assert_array_equal(out, [0.25, 0.0])
    np.testing.assert_array_equal(vb, [0.0, 0.0])
    # large input (sigmoid(relu(z)) rounds to 1.0 in float32): still nothing from b
    out, _ = trace(n, [100.0])
    assert out.tolist() == [0.25]
    # gradient: z_a = 1.0 -> 0 (outside (0, 1)) ; z_b = .25 -> 1 => d out/dx = .5 from b alone
    assert grad_sum(n, [2.5]).tolist() == [0.5]


@pytest.mark.parametrize("neuron", [SharedThresholdLIF(), DualThresholdLIF()], ids=["shared", "dual"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_dtype(neuron, dtype):
    out = dynamics.run_neuron(neuron, jnp.asarray([[0.25], [0.75], [1.5], [0.5]], dtype))
    assert out.dtype == dtype
    assert not neuron.stochastic
    assert neuron.surrogate in (sg.ClippedSTE(0.0, 1.0), sg.Sigmoid(4.0))
