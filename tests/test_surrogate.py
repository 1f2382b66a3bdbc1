"""Surrogate gradients against their closed-form derivatives (written independently here in float64)."""

import math
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from snnjax import surrogate as sg
from snnjax.errors import ConfigError
from snnjax.registry import SURROGATES

# Closed forms of dS/dx, x = u - v_th, in float64 numpy (independent of snnjax).
CASES = [
    (sg.Triangle(1.0), lambda x: np.maximum(0.0, 1.0 - np.abs(x))),
    (sg.Triangle(0.5), lambda x: np.maximum(0.0, 0.5 - np.abs(x)) / 0.25),
    (sg.Rectangle(1.0), lambda x: (np.abs(x) < 0.5).astype(np.float64)),
    (sg.Rectangle(2.0), lambda x: (np.abs(x) < 1.0) * 0.5),
    (sg.Sigmoid(4.0), lambda x: 4.0 * np.exp(-4.0 * x) / (1.0 + np.exp(-4.0 * x)) ** 2),
    (sg.ATan(2.0), lambda x: 1.0 / (1.0 + (math.pi * x) ** 2)),
    (sg.ATan(3.0), lambda x: 1.5 / (1.0 + (1.5 * math.pi * x) ** 2)),
    (sg.FastSigmoid(25.0), lambda x: 1.0 / (25.0 * np.abs(x) + 1.0) ** 2),
    (sg.FastSigmoid(5.0), lambda x: 1.0 / (5.0 * np.abs(x) + 1.0) ** 2),
    (sg.Erf(1.0), lambda x: np.exp(-(x**2)) / math.sqrt(math.pi)),
    (sg.Erf(2.0), lambda x: 2.0 * np.exp(-4.0 * x**2) / math.sqrt(math.pi)),
    (sg.Gaussian(0.3), lambda x: np.exp(-(x**2) / 0.18) / (math.sqrt(2 * math.pi) * 0.3)),
    (sg.ClippedSTE(0.0, 1.0), lambda x: ((x > 0) & (x < 1)).astype(np.float64)),
    (sg.ClippedSTE(-0.5, 0.25), lambda x: ((x > -0.5) & (x < 0.25)).astype(np.float64)),
]
IDS = [repr(s) for s, _ in CASES]

# 101 points in [-3, 3] (step 0.06: none lands on a discontinuity of the rectangle / clipped STE, and
# x = 0 is included).
POINTS = np.linspace(-3.0, 3.0, 101)


def _grads(surrogate):
    """d spike / dx at every point under jit(vmap(grad)), for both threshold comparisons at once."""
    one = lambda inclusive: jax.vmap(jax.grad(lambda x: sg.spike(x, surrogate, inclusive)))
    return jax.jit(lambda x: (one(False)(x), one(True)(x)))


@pytest.mark.parametrize(("surrogate", "ref"), CASES, ids=IDS)
def test_gradient_float32_jit_vmap_grad(surrogate, ref):
    x = jnp.asarray(POINTS, jnp.float32)
    expected = ref(np.asarray(x, np.float64))
    for got in _grads(surrogate)(x):  # inclusive=False, inclusive=True
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)
    assert expected.max() > 0  # not a zero gradient


@pytest.mark.parametrize(("surrogate", "ref"), CASES, ids=IDS)
def test_gradient_bfloat16(surrogate, ref):
    x = jnp.asarray(POINTS, jnp.bfloat16)
    # reference at the bf16-rounded points; bf16 has an 8-bit mantissa (relative step 2**-8 = 0.4%),
    # and the formula is evaluated in bf16 too: allow 3% relative + small absolute error.
    expected = ref(np.asarray(x.astype(jnp.float32), np.float64))
    for got in _grads(surrogate)(x):
        assert got.dtype == jnp.bfloat16
        np.testing.assert_allclose(np.asarray(got.astype(jnp.float32)), expected, rtol=3e-2, atol=2e-2)


@pytest.mark.parametrize(("surrogate", "ref"), CASES, ids=IDS)
def test_gradient_of_sum_and_chain_rule(surrogate, ref):
    """grad of sum(spike(x)) over a whole array (no vmap) gives the derivative at every element, and
    the backward pass multiplies the incoming cotangent: d(3 * spike(2 x)) / dx = 6 * g(2 x)."""
    x = jnp.asarray(POINTS, jnp.float32).reshape(1, 101)

    @jax.jit
    def f(x):
        return (
            jax.grad(lambda x: sg.spike(x, surrogate).sum())(x),
            jax.grad(lambda x: 3.0 * sg.spike(2.0 * x, surrogate).sum())(x / 2),
        )

    g_sum, g_chain = f(x)
    np.testing.assert_allclose(np.asarray(g_sum)[0], ref(POINTS.astype(np.float32)), rtol=1e-5, atol=1e-6)
    expected = 6.0 * ref(2.0 * np.asarray(x / 2, np.float64))[0]
    np.testing.assert_allclose(np.asarray(g_chain)[0], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_forward_is_exact_step_and_threshold_comparison(dtype):
    x = jnp.asarray([-1.0, -0.5, 0.0, 0.5, 1.0], dtype)
    strict = sg.spike(x, sg.Triangle(), inclusive=False)
    incl = sg.spike(x, sg.Triangle(), inclusive=True)
    assert strict.dtype == dtype and incl.dtype == dtype
    np.testing.assert_array_equal(np.asarray(strict, np.float32), [0, 0, 0, 1, 1])  # x > 0
    np.testing.assert_array_equal(np.asarray(incl, np.float32), [0, 0, 1, 1, 1])  # x >= 0
    # the gradient does not depend on the comparison
    g1 = jax.vmap(jax.grad(lambda x: sg.spike(x, sg.Triangle(), inclusive=False)))(x)
    g2 = jax.vmap(jax.grad(lambda x: sg.spike(x, sg.Triangle(), inclusive=True)))(x)
    np.testing.assert_array_equal(np.asarray(g1, np.float32), [0, 0.5, 1, 0.5, 0])
    np.testing.assert_array_equal(np.asarray(g2, np.float32), [0, 0.5, 1, 0.5, 0])


def test_spike_under_jit_and_vmap_forward():
    x = jnp.asarray(POINTS, jnp.float32).reshape(101, 1)
    out = jax.jit(jax.vmap(lambda v: sg.spike(v, sg.ATan(), True)))(x)
    np.testing.assert_array_equal(np.asarray(out)[:, 0], (POINTS >= 0).astype(np.float32))


def test_straight_through_value_gets_no_gradient():
    x = jnp.float32(0.25)
    gv, gx = jax.grad(lambda v, x: sg.straight_through(v * 5.0, x, sg.Triangle()), argnums=(0, 1))(
        jnp.float32(2.0), x
    )
    assert float(gv) == 0.0
    assert float(gx) == pytest.approx(0.75)
    assert float(sg.straight_through(jnp.float32(7.0), x, sg.Triangle())) == 7.0


def test_erf_equals_gaussian_of_matching_width():
    x = jnp.asarray(POINTS, jnp.float32)
    a = sg.Erf(2.0).grad(x)
    b = sg.Gaussian(1.0 / (2.0 * math.sqrt(2.0))).grad(x)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_string_and_dict_forms_parse_to_the_dataclass():
    assert sg.parse("triangle(gamma=1.0)") == sg.Triangle(1.0)
    assert sg.parse("zif") == sg.Triangle()
    assert sg.parse("rectangle(width=1)") == sg.Rectangle(1.0)
    assert sg.parse("atan(alpha=2)") == sg.ATan(2.0) == sg.parse({"name": "atan", "alpha": 2.0})
    assert sg.parse(ml_collections.ConfigDict({"name": "fast_sigmoid", "slope": 25.0})) == sg.FastSigmoid(
        25.0
    )
    assert sg.parse(" clipped_ste(low=0.0, high=1.0) ") == sg.ClippedSTE(0.0, 1.0)
    assert sg.parse(sg.Sigmoid(4.0)) == sg.Sigmoid(4.0)
    assert hash(sg.Sigmoid(4.0)) == hash(sg.Sigmoid(4.0))
    assert len({sg.Triangle(1.0), sg.Triangle(1.0), sg.Triangle(0.5)}) == 2


def test_spec_round_trips_through_the_string_form():
    for s in (sg.Triangle(0.5), sg.ATan(3.0), sg.ClippedSTE(-1.0, 2.0), sg.Gaussian(0.2)):
        assert sg.parse(SURROGATES.spec(s)) == s
    assert SURROGATES.spec(sg.Triangle(1.0)) == "triangle(gamma=1.0)"  # its first name, not 'zif'


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "unknown surrogate 'nope'; choose one of"),
        ("atan(gamma=2)", "surrogate 'atan' has no parameter 'gamma'; it has ['alpha']"),
        ("atan(2.0)", "cannot parse 'atan(2.0)'"),
        ("atan(alpha=x)", "cannot parse"),
        ({"alpha": 2.0}, "needs a 'name' key"),
    ],
)
def test_bad_specs_are_one_line_config_errors(spec, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        sg.parse(spec)
    assert "\n" not in str(info.value)


def test_equal_surrogates_do_not_retrace():
    traces = []

    @jax.jit
    def f(x):
        traces.append(1)
        return jax.grad(lambda v: sg.spike(v, sg.Triangle(1.0)).sum())(x)

    f(jnp.ones(3))
    f(jnp.zeros(3))
    assert len(traces) == 1
    g = jax.jit(lambda x, s: jax.grad(lambda v: sg.spike(v, s).sum())(x), static_argnums=1)
    g(jnp.ones(3), sg.Triangle(1.0))
    g(jnp.ones(3), sg.Triangle(1.0))  # equal (hash-equal) static surrogate: cache hit
    assert g._cache_size() == 1
    g(jnp.ones(3), sg.Triangle(0.5))
    assert g._cache_size() == 2
