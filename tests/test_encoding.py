"""Input encoders: direct, rate (Bernoulli), latency."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import encoding
from snnjax.errors import ConfigError


def test_direct_repeats():
    x = jax.random.uniform(jax.random.key(0), (2, 3, 4))
    y = encoding.direct(x, 5)
    assert y.shape == (5, 2, 3, 4) and y.dtype == x.dtype
    for t in range(5):
        np.testing.assert_array_equal(y[t], x)
    np.testing.assert_array_equal(encoding.encode("direct", x, 5), y)


def test_rate_mean_equals_intensity():
    x = jnp.asarray([0.0, 0.05, 0.3, 0.5, 0.77, 1.0])
    T, B = 2000, 100  # 200k Bernoulli draws per intensity
    spikes = jax.jit(lambda k: encoding.rate(k, jnp.broadcast_to(x, (B, 6)), T))(jax.random.key(1))
    assert spikes.shape == (T, B, 6) and spikes.dtype == jnp.float32
    assert set(np.unique(np.asarray(spikes))) == {0.0, 1.0}
    p = np.asarray(x, np.float64)
    mean = np.asarray(spikes.mean((0, 1)), np.float64)
    n = T * B
    assert np.all(np.abs(mean - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-9), (mean, p)
    assert mean[0] == 0.0 and mean[-1] == 1.0


def test_rate_gain_clips_and_dtype():
    x = jnp.asarray([0.25, 0.5, 0.75], jnp.bfloat16)
    s = encoding.rate(jax.random.key(2), jnp.broadcast_to(x, (1000, 3)), 20, gain=2.0)
    assert s.dtype == jnp.bfloat16
    m = np.asarray(s.astype(jnp.float32).mean((0, 1)))
    n = 20_000
    np.testing.assert_allclose(m, [0.5, 1.0, 1.0], atol=5 * math.sqrt(0.25 / n))


def test_rate_deterministic_given_key():
    x = jnp.full((4, 8), 0.5)
    a = encoding.rate(jax.random.key(3), x, 10)
    np.testing.assert_array_equal(a, encoding.rate(jax.random.key(3), x, 10))
    assert np.any(np.asarray(a) != np.asarray(encoding.rate(jax.random.key(4), x, 10)))
    # independent across steps: the steps are not all copies of the first
    assert np.any(np.asarray(a[0]) != np.asarray(a[1]))
    np.testing.assert_array_equal(encoding.encode("rate", x, 10, key=jax.random.key(3)), a)
    with pytest.raises(ValueError, match="key"):
        encoding.encode("rate", x, 10)


def test_latency_log_form_hand_times():
    # t = round(tau log(x / (x - thr))), tau 5, thr .01:
    #   x=1    : 5 log(1/.99)   = 0.050 -> 0
    #   x=.1   : 5 log(.1/.09)  = 0.527 -> 1
    #   x=.02  : 5 log(2)       = 3.466 -> 3
    #   x=.0125: 5 log(5)       = 8.047 -> 8
    #   x=.011 : 5 log(11)      = 11.99 -> 12 >= T=10: never
    #   x=.01  : at the threshold: never ; x=0: never
    x = jnp.asarray([1.0, 0.1, 0.02, 0.0125, 0.011, 0.01, 0.0])
    s = np.asarray(encoding.latency(x, 10))
    assert s.shape == (10, 7)
    expected = np.zeros((10, 7))
    for j, t in enumerate([0, 1, 3, 8]):
        expected[t, j] = 1
    np.testing.assert_array_equal(s, expected)
    np.testing.assert_array_equal(encoding.encode("latency", x, 10), s)


def test_latency_linear_form():
    # t = round((T - 1)(1 - x)), T = 11: x=1 -> 0, .5 -> 5, .25 -> 7.5 -> 8 (round half to even), .1 -> 9
    x = jnp.asarray([1.0, 0.5, 0.25, 0.1, 0.005])
    s = np.asarray(encoding.latency(x, 11, linear=True))
    assert s.argmax(0)[:4].tolist() == [0, 5, 8, 9]
    assert s.sum(0).tolist() == [1, 1, 1, 1, 0]  # .005 is below threshold


def test_latency_one_spike_brighter_earlier():
    x = jax.random.uniform(jax.random.key(5), (4, 256))
    for kw in ({}, {"linear": True}, {"tau": 2.0, "threshold": 0.2}):
        s = np.asarray(encoding.latency(x, 16, **kw))
        count = s.sum(0)
        assert count.max() == 1  # at most one spike per input
        xf = np.asarray(x)
        thr = kw.get("threshold", 0.01)
        assert count[xf <= thr].sum() == 0  # at or below threshold: never
        fired = count == 1
        t = s.argmax(0)
        # brighter earlier: sorting fired inputs by intensity gives non-increasing spike times
        order = np.argsort(-xf[fired])
        assert np.all(np.diff(t[fired][order]) >= 0)
        assert fired.sum() > 0


def test_unknown_encoder():
    with pytest.raises(ConfigError, match="unknown encoding 'phase'; choose one of"):
        encoding.encode("phase", jnp.ones(2), 3)
