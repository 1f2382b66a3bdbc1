"""IF / LIF / learnable-decay LIF (PLIF) against traces and gradients derived by hand.

Inputs are dyadic fractions, so every membrane below is exact in float32 and can be compared exactly.
Notation: h = membrane after charging (pre-reset), v = state after the reset, s = spike.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import dynamics, layers
from snnjax import surrogate as sg
from snnjax.neurons import IF, LIF, LIFState, apply_reset, integrate, lif_step


def trace(neuron, xs, dtype=jnp.float32):
    """(spikes, post-step membranes) of a neuron driven by the 1-D input sequence ``xs``."""
    x = jnp.asarray(xs, dtype)[:, None]
    spikes, states = dynamics.run_neuron(neuron, x, return_states=True)
    return np.asarray(spikes[:, 0], np.float64), np.asarray(states.v[:, 0], np.float64)


def spike_sum_grad(neuron, xs):
    x = jnp.asarray(xs, jnp.float32)[:, None]
    return np.asarray(jax.grad(lambda x: dynamics.run_neuron(neuron, x).sum())(x)[:, 0], np.float64)


def final_v_grad(neuron, xs):
    def f(x):
        _, states = dynamics.run_neuron(neuron, x, return_states=True)
        return states.v[-1].sum()

    x = jnp.asarray(xs, jnp.float32)[:, None]
    return np.asarray(jax.grad(f)(x)[:, 0], np.float64)


X5 = [0.5, 0.75, 0.25, 1.0, 0.5]


# ---------------------------------------------------------------------------------------------------
# Forward traces
# ---------------------------------------------------------------------------------------------------
def test_if_hard_reset():
    # IF, v_th 1, `>`: h = v + x
    # t1 h=.5  s0 v=.5 | t2 h=.5+.75=1.25 s1 v=0 | t3 h=.25 s0 v=.25
    # t4 h=.25+1=1.25 s1 v=0 | t5 h=.5 s0 v=.5
    s, v = trace(IF(v_th=1.0, reset="hard"), X5)
    np.testing.assert_array_equal(s, [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(v, [0.5, 0.0, 0.25, 0.0, 0.5])


def test_if_soft_reset_and_threshold_equality():
    # IF soft reset (v = h - v_th s):
    # t1 h=.5 v=.5 | t2 h=1.25 s1 v=.25 | t3 h=.5 v=.5 | t4 h=1.5 s1 v=.5 | t5 h=.5+.5=1.0 -> exactly v_th
    #   `>` : s5=0, v5=1.0          `>=`: s5=1, v5=0.0
    s, v = trace(IF(reset="soft"), X5)
    np.testing.assert_array_equal(s, [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(v, [0.5, 0.25, 0.5, 0.5, 1.0])
    s, v = trace(IF(reset="soft", inclusive=True), X5)
    np.testing.assert_array_equal(s, [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(v, [0.5, 0.25, 0.5, 0.5, 0.0])


XL = [0.5, 0.75, 1.0, 0.5, 1.0]


def test_gac_cifar_lif_strict_threshold():
    # GAC-CIFAR: u = 0.5 u + x, v_th 1, `>`, hard reset to 0
    # t1 h=.5 s0 v=.5 | t2 h=.25+.75=1.0 (== v_th, `>` -> s0) v=1.0 | t3 h=.5+1=1.5 s1 v=0
    # t4 h=.5 s0 v=.5 | t5 h=.25+1=1.25 s1 v=0
    neuron = LIF(decay=0.5, v_th=1.0, reset="hard", surrogate=sg.Triangle(1.0))
    s, v = trace(neuron, XL)
    np.testing.assert_array_equal(s, [0, 0, 1, 0, 1])
    np.testing.assert_array_equal(v, [0.5, 1.0, 0.0, 0.5, 0.0])


def test_lif_inclusive_threshold():
    # same with `>=`: t2 h=1.0 -> s1 v=0 | t3 h=0+1=1.0 -> s1 v=0 | t4 h=.5 v=.5 | t5 h=1.25 s1 v=0
    s, v = trace(LIF(decay=0.5, inclusive=True), XL)
    np.testing.assert_array_equal(s, [0, 1, 1, 0, 1])
    np.testing.assert_array_equal(v, [0.5, 0.0, 0.0, 0.5, 0.0])


def test_lif_soft_reset():
    # soft: t1 v=.5 | t2 h=1.0 s0 v=1.0 | t3 h=1.5 s1 v=.5 | t4 h=.25+.5=.75 s0 v=.75
    # t5 h=.375+1=1.375 s1 v=.375
    s, v = trace(LIF(decay=0.5, reset="soft"), XL)
    np.testing.assert_array_equal(s, [0, 0, 1, 0, 1])
    np.testing.assert_array_equal(v, [0.5, 1.0, 0.5, 0.75, 0.375])


def test_lif_hard_reset_to_v_reset():
    # hard reset to v_reset = .25 (decay charge: v_reset only enters the reset)
    # t1 v=.5 | t2 h=1.0 s0 v=1.0 | t3 h=1.5 s1 v=.25 | t4 h=.125+.5=.625 v=.625
    # t5 h=.3125+1=1.3125 s1 v=.25
    s, v = trace(LIF(decay=0.5, v_reset=0.25, reset="hard"), XL)
    np.testing.assert_array_equal(s, [0, 0, 1, 0, 1])
    np.testing.assert_array_equal(v, [0.5, 1.0, 0.25, 0.625, 0.25])


def test_lif_no_reset():
    # none: v = h: .5 | 1.0 | 1.5 (s1) | 1.25 (s1) | 1.625 (s1)
    s, v = trace(LIF(decay=0.5, reset="none"), XL)
    np.testing.assert_array_equal(s, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(v, [0.5, 1.0, 1.5, 1.25, 1.625])


def test_gac_imagenet_lif():
    # GAC-ImageNet: decay .25, v_th .5, hard reset (detached), rectangle(1)
    # t1 h=.25 s0 v=.25 | t2 h=.0625+.5=.5625 s1 v=0 | t3 h=.75 s1 v=0 | t4 h=.125 s0 v=.125
    neuron = LIF(decay=0.25, v_th=0.5, reset="hard", detach_reset=True, surrogate=sg.Rectangle(1.0))
    s, v = trace(neuron, [0.25, 0.5, 0.75, 0.125])
    np.testing.assert_array_equal(s, [0, 1, 1, 0])
    np.testing.assert_array_equal(v, [0.25, 0.0, 0.0, 0.125])


def test_spikingjelly_tau_form_decay_input():
    # spikingjelly LIFNode(tau=2, decay_input=True, v_reset=0, >=): h = v + (x - v)/2
    # t1 h=(0+1)/2=.5 s0 v=.5 | t2 h=.5+(1.5-.5)/2=1.0 (>= -> s1) v=0 | t3 h=2/2=1.0 s1 v=0 | t4 h=.25 v=.25
    neuron = LIF(charge="tau", tau=2.0, inclusive=True, detach_reset=True, surrogate=sg.ATan(2.0))
    s, v = trace(neuron, [1.0, 1.5, 2.0, 0.5])
    np.testing.assert_array_equal(s, [0, 1, 1, 0])
    np.testing.assert_array_equal(v, [0.5, 0.0, 0.0, 0.25])
    # the same with `>`: t2 h=1.0 -> s0 v=1.0 | t3 h=1+(2-1)/2=1.5 s1 v=0 | t4 h=.25 v=.25
    s, v = trace(LIF(charge="tau", tau=2.0, inclusive=False), [1.0, 1.5, 2.0, 0.5])
    np.testing.assert_array_equal(s, [0, 0, 1, 0])
    np.testing.assert_array_equal(v, [0.5, 1.0, 0.0, 0.25])


def test_spikingjelly_tau_form_no_decay_input():
    # decay_input=False: h = v - (v - 0)/2 + x = v/2 + x
    # t1 h=.5 v=.5 | t2 h=.25+.75=1.0 s1 (>=) v=0 | t3 h=1.0 s1 v=0 | t4 h=.25 v=.25
    neuron = LIF(charge="tau", tau=2.0, decay_input=False, inclusive=True)
    s, v = trace(neuron, [0.5, 0.75, 1.0, 0.25])
    np.testing.assert_array_equal(s, [0, 1, 1, 0])
    np.testing.assert_array_equal(v, [0.5, 0.0, 0.0, 0.25])
    # tau = 4, no input decay: h = v - v/4 + x = .75 v + x, x=[.5,.5,.5,.5], `>`, soft reset
    # t1 .5 | t2 .375+.5=.875 | t3 .65625+.5=1.15625 s1 v=.15625 | t4 .1171875+.5=.6171875
    s, v = trace(LIF(charge="tau", tau=4.0, decay_input=False, reset="soft"), [0.5] * 4)
    np.testing.assert_array_equal(s, [0, 0, 1, 0])
    np.testing.assert_array_equal(v, [0.5, 0.875, 0.15625, 0.6171875])


def test_spikingjelly_tau_form_with_v_reset():
    # decay_input=True, v_reset=.25, hard: h = v + (x - (v - .25))/2
    # t1 h=0+(1-(0-.25))/2=.625 s0 v=.625 | t2 h=.625+(1.5-.375)/2=1.1875 s1 v=.25
    # t3 h=.25+(2-0)/2=1.25 s1 v=.25 | t4 h=.25+(.5-0)/2=.5 s0 v=.5
    s, v = trace(LIF(charge="tau", tau=2.0, v_reset=0.25), [1.0, 1.5, 2.0, 0.5])
    np.testing.assert_array_equal(s, [0, 1, 1, 0])
    np.testing.assert_array_equal(v, [0.625, 0.25, 0.25, 0.5])


XS = [0.75, 0.75, 0.5, 1.0, 0.25]


def test_snntorch_leaky_soft_delayed():
    # snnTorch Leaky(beta=.5, threshold=1, reset_mechanism='subtract'):
    #   U_t = beta U_{t-1} + x_t - 1 * H(U_{t-1} - 1);  S_t = H(U_t - 1); the returned membrane is U_t.
    # U1=.75 S0 | U2=.375+.75-0=1.125 S1 | U3=.5625+.5-1=.0625 S0 | U4=.03125+1-0=1.03125 S1
    # U5=.515625+.25-1=-.234375 S0
    neuron = LIF(decay=0.5, reset="soft_delayed", detach_reset=True, surrogate=sg.FastSigmoid(25.0))
    s, v = trace(neuron, XS)
    np.testing.assert_array_equal(s, [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(v, [0.75, 1.125, 0.0625, 1.03125, -0.234375])
    # immediate soft reset gives the same spikes here but post-reset membranes:
    # .75 | 1.125-1=.125 | .0625+.5=.5625 | .28125+1-1=.28125 | .140625+.25=.390625
    s2, v2 = trace(LIF(decay=0.5, reset="soft"), XS)
    np.testing.assert_array_equal(s2, [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(v2, [0.75, 0.125, 0.5625, 0.28125, 0.390625])


def test_soft_delayed_threshold_equality():
    # x=[1, .5]: U1 = 1.0 == thr.  `>`: S1=0, U2 = .5+.5-H(1-1>0)=1.0, S2=0 (again equal)
    #                              `>=`: S1=1, U2 = .5+.5-1 = 0, S2=0
    s, v = trace(LIF(decay=0.5, reset="soft_delayed"), [1.0, 0.5])
    np.testing.assert_array_equal(s, [0, 0])
    np.testing.assert_array_equal(v, [1.0, 1.0])
    s, v = trace(LIF(decay=0.5, reset="soft_delayed", inclusive=True), [1.0, 0.5])
    np.testing.assert_array_equal(s, [1, 0])
    np.testing.assert_array_equal(v, [1.0, 0.0])


def test_ide_if_soft_reset_inclusive():
    # IDE-FSNN / SPIDE-style IF: u = u + I, s = 1[u >= V_th], u -= V_th s, with V_th = 2 (IDE's setting)
    # u1=1 s0 | u2=2 (>=) s1 u=0 | u3=3 s1 u=1 | u4=1.5 s0
    s, v = trace(IF(v_th=2.0, reset="soft", inclusive=True), [1.0, 1.0, 3.0, 0.5])
    np.testing.assert_array_equal(s, [0, 1, 1, 0])
    np.testing.assert_array_equal(v, [1.0, 0.0, 1.0, 1.5])


def test_spide_reset_by_two_vth_not_expressible():
    pytest.skip(
        "SPIDE subtracts D = 2 V_th (u_rest = -V_th) while firing at V_th: LIF's soft reset subtracts v_th; "
        "SPIDE's forward phase lives in its own solver (no LIF record expresses it)"
    )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_dtype_preserved(dtype):
    s, _ = trace(LIF(decay=0.5), XL, dtype)
    np.testing.assert_array_equal(s, [0, 0, 1, 0, 1])
    x = jnp.asarray(XL, dtype)[:, None]
    spikes, states = dynamics.run_neuron(LIF(decay=0.5), x, return_states=True)
    assert spikes.dtype == dtype and states.v.dtype == dtype


def test_step_pieces_and_errors():
    p = LIF(decay=0.5, v_th=1.0)
    assert float(integrate(jnp.float32(0.5), jnp.float32(1.0), p)) == 1.25
    assert float(apply_reset(jnp.float32(1.5), jnp.float32(1.0), LIF(reset="soft", v_th=1.0))) == 0.5
    st, s = lif_step(p.init_state((2,)), jnp.asarray([0.5, 2.0]), p)
    np.testing.assert_array_equal(np.asarray(s), [0, 1])
    np.testing.assert_array_equal(np.asarray(st.v), [0.5, 0.0])
    assert isinstance(st, LIFState)
    with pytest.raises(ValueError, match="charge"):
        integrate(jnp.float32(0), jnp.float32(0), LIF(charge="bogus"))
    with pytest.raises(ValueError, match="reset"):
        apply_reset(jnp.float32(0), jnp.float32(0), LIF(reset="bogus"))
    assert IF().decay == 1.0 and not LIF.stochastic


# ---------------------------------------------------------------------------------------------------
# Gradients (hand-derived); g(.) is the surrogate at h - v_th
# ---------------------------------------------------------------------------------------------------
GAC_CIFAR = dict(decay=0.5, v_th=1.0, reset="hard", surrogate=sg.Triangle(1.0))


def test_gac_cifar_gradient_not_detached_vs_detached():
    # x = [.5, 1, .5], decay .5, tri(z) = max(0, 1 - |z|)
    # t1 h1=.5  s0 g1=tri(-.5)=.5  ; v1 = h1(1-s1): dv1/dh1 = (1-s1) - h1 g1 = 1 - .25 = .75
    # t2 h2=.25+1=1.25 s1 g2=tri(.25)=.75 ; dv2/dh2 = (1-1) - 1.25*.75 = -.9375
    # t3 h3=0+.5=.5 s0 g3=.5
    # L = s1+s2+s3: dL/dh3 = .5
    #   dL/dh2 = g2 + dv2/dh2 * .5 * dL/dh3 = .75 - .9375*.25 = .515625
    #   dL/dh1 = g1 + dv1/dh1 * .5 * dL/dh2 = .5 + .75*.5*.515625 = .693359375
    xs = [0.5, 1.0, 0.5]
    np.testing.assert_allclose(spike_sum_grad(LIF(**GAC_CIFAR), xs), [0.693359375, 0.515625, 0.5], rtol=1e-6)
    # detached: dv1/dh1 = 1, dv2/dh2 = 0 -> dL/dh2 = .75, dL/dh1 = .5 + .5*.75 = .875
    np.testing.assert_allclose(
        spike_sum_grad(LIF(**GAC_CIFAR, detach_reset=True), xs), [0.875, 0.75, 0.5], rtol=1e-6
    )


def test_gac_cifar_final_membrane_gradient():
    # v3 = h3 (1 - s3): dv3/dh3 = 1 - h3 g3 = 1 - .5*.5 = .75 (not detached)
    # dv3/dx2 = .75 * .5 * dv2/dh2 = .375 * -.9375 = -.3515625 ; dv3/dx1 = -.3515625 * .5 * .75 = -.1318359375
    xs = [0.5, 1.0, 0.5]
    np.testing.assert_allclose(
        final_v_grad(LIF(**GAC_CIFAR), xs), [-0.1318359375, -0.3515625, 0.75], rtol=1e-6
    )
    # detached: dv3/dh3 = 1, dv2/dh2 = 0 -> [0, 0, 1]
    np.testing.assert_allclose(final_v_grad(LIF(**GAC_CIFAR, detach_reset=True), xs), [0, 0, 1], atol=1e-7)


def test_gac_imagenet_gradient_detached_vs_not():
    # decay .25, v_th .5, rect(z) = 1[|z| < .5] (=1 for h in (0, 1)); x = [.25, .5, .75]
    # h1=.25 s0 | h2=.0625+.5=.5625 s1 | h3=0+.75=.75 s1 ; every r(h_t) = 1
    # detached (seed): dh2/dh1 = .25 (1-s1) = .25, dh3/dh2 = .25 (1-s2) = 0
    #   dL/dx3 = 1, dL/dx2 = 1 + 0 = 1, dL/dx1 = 1 + .25*1 = 1.25
    base = dict(decay=0.25, v_th=0.5, reset="hard", surrogate=sg.Rectangle(1.0))
    xs = [0.25, 0.5, 0.75]
    got = spike_sum_grad(LIF(**base, detach_reset=True), xs)
    np.testing.assert_allclose(got, [1.25, 1.0, 1.0], rtol=1e-6)
    # not detached: dv1/dh1 = 1 - .25*1 = .75, dv2/dh2 = 0 - .5625*1 = -.5625
    #   dL/dh3 = 1 ; dL/dh2 = 1 + .25*(-.5625)*1 = .859375 ; dL/dh1 = 1 + .25*.75*.859375 = 1.1611328125
    np.testing.assert_allclose(spike_sum_grad(LIF(**base), xs), [1.1611328125, 0.859375, 1.0], rtol=1e-6)


@jax.jit
def _seed_gac_imagenet(x):
    """GAC-ImageNet ``mem_update`` written as the seed does: u = decay u (1 - s.detach()) + x."""
    rect = jax.custom_jvp(lambda z: (z > 0).astype(z.dtype))
    rect.defjvps(lambda t, _, z: t * (jnp.abs(z) < 0.5).astype(z.dtype))
    u, s, out = jnp.zeros_like(x[0]), jnp.zeros_like(x[0]), []
    for t in range(x.shape[0]):
        u = 0.25 * u * (1.0 - jax.lax.stop_gradient(s)) + x[t] if t else x[t]
        s = rect(u - 0.5)
        out.append(s)
    return jnp.stack(out)


def test_gac_imagenet_matches_unrolled_seed_formula():
    x = jax.random.uniform(jax.random.key(0), (6, 64), minval=-0.2, maxval=1.0)
    neuron = LIF(decay=0.25, v_th=0.5, reset="hard", detach_reset=True, surrogate=sg.Rectangle(1.0))
    np.testing.assert_array_equal(dynamics.run_neuron(neuron, x), _seed_gac_imagenet(x))
    w = jax.random.normal(jax.random.key(1), (6, 64))
    g1 = jax.jit(jax.grad(lambda x: (dynamics.run_neuron(neuron, x) * w).sum()))(x)
    g2 = jax.jit(jax.grad(lambda x: (_seed_gac_imagenet(x) * w).sum()))(x)
    np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-6)


def test_spikingjelly_gradient_atan():
    # tau 2 (h = (v + x)/2), `>=`, atan(2): g(z) = 1 / (1 + (pi z)^2); x = [1, 1.5]
    # h1 = .5 s0 g1 = 1/(1 + pi^2/4) ; h2 = (.5 + 1.5)/2 = 1.0 s1 g2 = 1
    # detached: dv1/dh1 = 1 ; dh2/dv1 = 1/2 ; dh_t/dx_t = 1/2
    #   dL/dx2 = g2/2 = .5 ; dL/dx1 = g1/2 + g2 * (1/2)(1)(1/2) = g1/2 + .25
    # not detached: dv1/dh1 = 1 - h1 g1 = 1 - g1/2 -> dL/dx1 = g1/2 + .25 (1 - g1/2) = .375 g1 + .25
    g1 = 1.0 / (1.0 + math.pi**2 / 4)  # = 0.288400...
    base = dict(charge="tau", tau=2.0, inclusive=True, surrogate=sg.ATan(2.0))
    np.testing.assert_allclose(
        spike_sum_grad(LIF(**base, detach_reset=True), [1.0, 1.5]), [g1 / 2 + 0.25, 0.5], rtol=1e-6
    )
    np.testing.assert_allclose(spike_sum_grad(LIF(**base), [1.0, 1.5]), [0.375 * g1 + 0.25, 0.5], rtol=1e-6)


def test_snntorch_leaky_gradient():
    # beta .5, fast sigmoid 25: g(z) = 1/(25|z| + 1)^2 ; x = [.75, .75]
    # U1 = .75 g1 = 1/(6.25+1)^2 = 1/52.5625 ; U2 = .375+.75 = 1.125, g2 = 1/(3.125+1)^2 = 1/17.015625
    # the reset at t2 is H(U1 - 1), detached: dU2/dU1 = beta = .5
    # dL/dx2 = g2 ; dL/dx1 = g1 + .5 g2
    g1, g2 = 1 / 52.5625, 1 / 17.015625
    neuron = LIF(decay=0.5, reset="soft_delayed", surrogate=sg.FastSigmoid(25.0))
    np.testing.assert_allclose(spike_sum_grad(neuron, [0.75, 0.75]), [g1 + 0.5 * g2, g2], rtol=1e-6)
    # with a spike at t1 (x = [1.25, .25]): U1 = 1.25 S1, g1 = 1/(6.25+1)^2 ; U2 = .625+.25-1 = -.125,
    # g2 = 1/(25*1.125+1)^2 = 1/29.125^2; the reset term is detached, so dU2/dU1 = .5 still
    g1, g2 = 1 / 7.25**2, 1 / 29.125**2
    np.testing.assert_allclose(spike_sum_grad(neuron, [1.25, 0.25]), [g1 + 0.5 * g2, g2], rtol=1e-6)


def test_soft_reset_gradient_detached_vs_not():
    # IF soft reset, triangle(1), x = [1.5, .25]: h1 = 1.5 s1 g1 = tri(.5) = .5, v1 = .5 ;
    # h2 = .75 s0 g2 = tri(-.25) = .75
    # not detached: dv1/dh1 = 1 - v_th g1 = .5 -> dL/dx1 = g1 + .5 g2 = .5 + .375 = .875, dL/dx2 = .75
    # detached: dv1/dh1 = 1 -> dL/dx1 = .5 + .75 = 1.25
    np.testing.assert_allclose(spike_sum_grad(IF(reset="soft"), [1.5, 0.25]), [0.875, 0.75], rtol=1e-6)
    np.testing.assert_allclose(
        spike_sum_grad(IF(reset="soft", detach_reset=True), [1.5, 0.25]), [1.25, 0.75], rtol=1e-6
    )


# ---------------------------------------------------------------------------------------------------
# PLIF: learnable decay through snnjax.layers.SpikingNeuron
# ---------------------------------------------------------------------------------------------------
def _decay_grad(layer, xs):
    from flax import nnx

    x = jnp.asarray(xs, jnp.float32)[:, None]
    grads = nnx.grad(lambda m: m(x).sum())(layer)
    return float(grads["decay_param"][...])


def test_plif_decay_gradient_hand_derived():
    # NSNN PLIF: lam learnable (init .5), v_th 1, hard reset, triangle(1); x = [.8, .9, .5] -- h values
    # below are float32 round-offs of the decimals, hence rtol 1e-5.
    # t1 h1 = .8 (no lam: v0 = 0) s0 g1 = .8 ; dv1/dlam = 0
    # t2 h2 = lam v1 + x2 = .4 + .9 = 1.3 s1 g2 = tri(.3) = .7 ; dh2/dlam = v1 = .8 ; ds2/dlam = .7*.8 = .56
    #    not detached: dv2/dlam = [(1 - s2) - h2 g2] dh2/dlam = -.91*.8 = -.728
    # t3 h3 = lam v2 + x3 = 0 + .5 s0 g3 = tri(-.5) = .5 ; dh3/dlam = v2 + lam dv2/dlam = -.364
    #    ds3/dlam = .5 * -.364 = -.182
    # d(sum s)/dlam = .56 - .182 = .378 ; detached: dv2/dlam = 0 -> .56
    xs = [0.8, 0.9, 0.5]
    layer = layers.SpikingNeuron(
        LIF(decay=0.5, **{k: v for k, v in GAC_CIFAR.items() if k != "decay"}), learnable_decay=True
    )
    assert float(layer.decay_param[...]) == 0.5
    assert _decay_grad(layer, xs) == pytest.approx(0.378, rel=1e-5)
    layer = layers.SpikingNeuron(LIF(decay=0.5, detach_reset=True), learnable_decay=True)
    assert _decay_grad(layer, xs) == pytest.approx(0.56, rel=1e-5)


def test_plif_decay_is_clipped_to_unit_interval():
    # decay parameter 1.5 is used as 1 (IF): x=[.5,.75]: h2 = .5+.75 = 1.25 -> spike; gradient zero
    # outside [0, 1] (the clip's derivative).
    from flax import nnx

    layer = layers.SpikingNeuron(LIF(decay=0.5), learnable_decay=True)
    layer.decay_param[...] = jnp.float32(1.5)
    x = jnp.asarray([0.5, 0.75])[:, None]
    np.testing.assert_array_equal(np.asarray(layer(x)[:, 0]), [0, 1])
    assert float(nnx.grad(lambda m: m(x).sum())(layer)["decay_param"][...]) == 0.0


@jax.jit
def _spikingjelly_plif_reference(w, x):
    """spikingjelly ParametricLIFNode(init_tau=2, detach_reset=True, >=, ATan(2)), unrolled:
    h = v + (x - v) * sigmoid(w), hard reset to 0."""

    @jax.custom_vjp
    def heav(z):
        return (z >= 0).astype(z.dtype)

    heav.defvjp(lambda z: (heav(z), z), lambda z, g: (g / (1 + (math.pi * z) ** 2),))
    v, out = jnp.zeros_like(x[0]), []
    for t in range(x.shape[0]):
        h = v + (x[t] - v) * jax.nn.sigmoid(w)
        s = heav(h - 1.0)
        v = h * (1 - jax.lax.stop_gradient(s))
        out.append(s)
    return jnp.stack(out)


def test_plif_tau_form_against_unrolled_reference():
    from flax import nnx

    neuron = LIF(charge="tau", tau=2.0, inclusive=True, detach_reset=True, surrogate=sg.ATan(2.0))
    layer = layers.SpikingNeuron(neuron, learnable_decay=True, decay_shape=(8,))
    # spikingjelly: w = -log(init_tau - 1) = 0 for tau 2
    np.testing.assert_allclose(np.asarray(layer.decay_param[...]), np.zeros(8), atol=1e-7)
    layer.decay_param[...] = jnp.linspace(-1.0, 1.0, 8)
    x = jax.random.uniform(jax.random.key(3), (6, 4, 8), minval=0.0, maxval=2.5)
    np.testing.assert_array_equal(layer(x), _spikingjelly_plif_reference(layer.decay_param[...], x))
    got = nnx.jit(nnx.grad(lambda m: m(x).sum()))(layer)["decay_param"][...]
    ref = jax.jit(jax.grad(lambda w: _spikingjelly_plif_reference(w, x).sum()))(layer.decay_param[...])
    assert np.abs(np.asarray(ref)).max() > 0
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-6)
