"""lax.scan time loop: equals the Python loop, remat, no recompilation, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import dynamics
from snnjax import surrogate as sg
from snnjax.neurons import IF, LIF, DualThresholdLIF, NoisyLIF, SharedThresholdLIF, UniformNoise

NEURONS = {
    "gac_cifar": LIF(decay=0.5, surrogate=sg.Triangle(1.0)),
    "gac_imagenet": LIF(decay=0.25, v_th=0.5, detach_reset=True, surrogate=sg.Rectangle(1.0)),
    "spikingjelly": LIF(charge="tau", tau=2.0, inclusive=True, detach_reset=True, surrogate=sg.ATan(2.0)),
    "snntorch": LIF(decay=0.9, reset="soft_delayed", surrogate=sg.FastSigmoid(25.0)),
    "if_soft": IF(reset="soft", inclusive=True),
    "noisy": NoisyLIF(noise=UniformNoise(0.3)),
    "dual": DualThresholdLIF(),
    "shared": SharedThresholdLIF(),
}


def _inputs(key=0, shape=(8, 3, 5), dtype=jnp.float32):
    return jax.random.uniform(jax.random.key(key), shape, minval=-0.5, maxval=1.5).astype(dtype)


@pytest.mark.parametrize("name", list(NEURONS))
def test_scan_equals_python_loop_values_and_grads(name):
    neuron = NEURONS[name]
    x = _inputs()
    key = jax.random.key(1) if neuron.stochastic else None
    w = jax.random.normal(jax.random.key(2), x.shape)

    def loss(run, x):
        return (run(neuron, x, key=key) * w).sum()

    @jax.jit
    def both(x):
        a = dynamics.run_neuron(neuron, x, key=key)
        b = dynamics.python_loop(neuron, x, key=key)
        ga = jax.grad(lambda x: loss(dynamics.run_neuron, x))(x)
        gb = jax.grad(lambda x: loss(dynamics.python_loop, x))(x)
        return a, b, ga, gb

    a, b, ga, gb = both(x)
    np.testing.assert_array_equal(a, b)
    assert 0 < float(jnp.mean(a > 0)) < 1  # the trace has spikes and silences
    np.testing.assert_allclose(ga, gb, rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(ga).max()) > 0


@pytest.mark.parametrize("name", ["gac_cifar", "noisy", "dual"])
def test_remat_identical_values_and_gradients(name):
    neuron = NEURONS[name]
    x = _inputs(3)
    key = jax.random.key(4) if neuron.stochastic else None
    w = jax.random.normal(jax.random.key(5), x.shape)

    @jax.jit
    def f(x):
        out = {}
        for remat in (False, True):
            run = lambda x, remat=remat: dynamics.run_neuron(neuron, x, key=key, remat=remat)
            out[remat] = (run(x), jax.grad(lambda x, run=run: (run(x) * w).sum())(x))
        return out

    out = f(x)
    np.testing.assert_array_equal(out[False][0], out[True][0])
    np.testing.assert_allclose(out[False][1], out[True][1], rtol=1e-6, atol=1e-7)


def test_remat_recomputes_in_backward():
    """remat=True puts a checkpoint (remat) primitive in the program; remat=False does not."""
    neuron, x = NEURONS["gac_cifar"], _inputs()
    jaxprs = {
        r: str(jax.make_jaxpr(jax.grad(lambda x, r=r: dynamics.run_neuron(neuron, x, remat=r).sum()))(x))
        for r in (False, True)
    }
    assert "remat" in jaxprs[True] or "checkpoint" in jaxprs[True]
    assert "remat" not in jaxprs[False] and "checkpoint" not in jaxprs[False]


def test_unroll_and_return_states():
    neuron, x = NEURONS["gac_cifar"], _inputs()
    a = dynamics.run_neuron(neuron, x)
    np.testing.assert_array_equal(a, dynamics.run_neuron(neuron, x, unroll=4))
    s, states = dynamics.run_neuron(neuron, x, return_states=True)
    np.testing.assert_array_equal(a, s)
    assert states.v.shape == x.shape
    # the state trace is the post-reset membrane: v_t = 0 wherever s_t = 1 (hard reset to 0)
    assert float(jnp.abs(jnp.where(s > 0, states.v, 0.0)).max()) == 0.0


def test_scan_with_keys_passes_one_key_per_step():

    def step(carry, x, k):
        return carry + x, jax.random.uniform(k, ())

    keys = jax.random.split(jax.random.key(0), 4)
    final, ys = dynamics.scan(step, jnp.float32(0), jnp.arange(4.0), keys=keys)
    assert float(final) == 6.0
    np.testing.assert_array_equal(ys, jnp.stack([jax.random.uniform(k, ()) for k in keys]))
    assert len(set(np.asarray(ys).tolist())) == 4


def test_jitted_scan_does_not_recompile_for_new_data():
    traces = []
    neuron = NEURONS["gac_cifar"]

    @jax.jit
    def f(x):
        traces.append(x.shape)  # runs only while tracing
        return jax.grad(lambda x: dynamics.run_neuron(neuron, x).sum())(x)

    T = 50
    for k in range(3):
        f(_inputs(k, (T, 4, 6))).block_until_ready()
    assert len(traces) == 1
    assert f._cache_size() == 1
    f(_inputs(0, (T + 1, 4, 6)))  # a new T is a new shape: exactly one more compilation
    assert len(traces) == 2 and f._cache_size() == 2


def test_scan_program_size_does_not_grow_with_T():
    """The scanned program holds one step whatever T is; the Python loop unrolls T steps."""
    neuron = NEURONS["gac_cifar"]
    size = lambda run, T: len(jax.make_jaxpr(lambda x: run(neuron, x))(jnp.zeros((T, 2))).jaxpr.eqns)
    assert size(dynamics.run_neuron, 40) == size(dynamics.run_neuron, 4)
    assert size(dynamics.python_loop, 40) > 5 * size(dynamics.python_loop, 4)


@pytest.mark.parametrize("name", list(NEURONS))
def test_bfloat16(name):
    neuron = NEURONS[name]
    key = jax.random.key(1) if neuron.stochastic else None
    # dyadic inputs (multiples of 1/8) keep the deterministic traces exact in bf16 for a few steps
    x32 = jnp.round(_inputs(6, (4, 3, 5)) * 8) / 8
    run = jax.jit(lambda x: dynamics.run_neuron(neuron, x, key=key))
    s16, s32 = run(x32.astype(jnp.bfloat16)), run(x32)
    assert s16.dtype == jnp.bfloat16 and s32.dtype == jnp.float32
    if not neuron.stochastic:
        np.testing.assert_array_equal(np.asarray(s16, np.float32), np.asarray(s32))
    g = jax.jit(jax.grad(lambda x: dynamics.run_neuron(neuron, x, key=key).astype(jnp.float32).sum()))(
        x32.astype(jnp.bfloat16)
    )
    assert g.dtype == jnp.bfloat16 and bool(jnp.all(jnp.isfinite(g.astype(jnp.float32))))


def test_stochastic_neuron_needs_key():
    with pytest.raises(ValueError, match="key"):
        dynamics.run_neuron(NEURONS["noisy"], jnp.ones((3, 2)))
