"""Gated Attention Coding: the gate against a NumPy hand computation, the static-input shortcut, and
the dependence of the TA parameters on T."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax.models.gac import GAC, TemporalAttention


def _conv_same4(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """4x4 'same' conv of [N, H, W, Cin] with kernel [4, 4, Cin, Cout]: pad 1 before and 2 after."""
    n, h, w, _ = x.shape
    xp = np.pad(x, ((0, 0), (1, 2), (1, 2), (0, 0)))
    out = np.zeros((n, h, w, k.shape[-1]))
    for a in range(4):
        for b in range(4):
            out += np.einsum("nhwc,cd->nhwd", xp[:, a : a + h, b : b + w], k[a, b])
    return out


def _hand_gate(x: np.ndarray, w1, w2, k1, k2) -> np.ndarray:
    t, b = x.shape[:2]
    flat = x.reshape(t, b, -1)

    def mlp(v):  # [B, T] -> [B, T]
        return np.maximum(v @ w1, 0) @ w2

    ta = (mlp(flat.mean(-1).T) + mlp(flat.max(-1).T)).T  # [T, B], no sigmoid
    folded = x.reshape(t * b, *x.shape[2:])
    sca = _conv_same4(np.maximum(_conv_same4(folded, k1), 0), k2).reshape(x.shape)
    return 1 / (1 + np.exp(-ta[:, :, None, None, None] * sca))


def test_gate_matches_hand_computation():
    t, b, h, w, c = 4, 2, 5, 5, 3
    gac = GAC(c, t, 4, rngs=nnx.Rngs(0))
    x = np.asarray(jax.random.normal(jax.random.key(1), (t, b, h, w, c)), np.float64) * 2
    spikes = (np.asarray(jax.random.uniform(jax.random.key(2), x.shape)) > 0.5).astype(np.float32)
    weights = (gac.ta.w1, gac.ta.w2, gac.sca.conv1.kernel, gac.sca.conv2.kernel)
    params = [np.asarray(p[...], np.float64) for p in weights]
    assert params[0].shape == (4, 2) and params[1].shape == (2, 4)
    expect = _hand_gate(x, *params)
    gate = np.asarray(gac.gate(jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(gate, expect, rtol=1e-4, atol=1e-5)
    out = np.asarray(gac(jnp.asarray(x, jnp.float32), jnp.asarray(spikes)))
    np.testing.assert_allclose(out, expect * spikes, rtol=1e-4, atol=1e-5)
    assert np.all(out[spikes == 0] == 0) and 0 < out.max() < 1  # gated spikes, real-valued in [0, 1)


def test_ta_has_no_inner_sigmoid():
    ta = TemporalAttention(2, rngs=nnx.Rngs(0))
    ta.w1[...] = jnp.array([[1.0], [1.0]])
    ta.w2[...] = jnp.array([[3.0, -2.0]])
    x = jnp.ones((2, 1, 2, 2, 1))  # mean = max = 1 per step -> hidden relu(2) = 2
    np.testing.assert_allclose(np.asarray(ta(x))[:, 0], [12.0, -8.0])  # 2 * (2 * [3, -2])


def test_static_input_equals_repeated_input():
    t, c = 3, 2
    gac = GAC(c, t, 4, rngs=nnx.Rngs(3))
    x = jax.random.normal(jax.random.key(0), (2, 4, 4, c))
    np.testing.assert_allclose(
        np.asarray(gac.gate(x, static=True)),
        np.asarray(gac.gate(jnp.broadcast_to(x[None], (t, *x.shape)))),
        rtol=1e-5,
    )


@pytest.mark.parametrize("t,hidden", [(2, 1), (4, 2), (6, 3)])
def test_parameters_depend_on_t(t, hidden):
    gac = GAC(8, t, 4, rngs=nnx.Rngs(0))
    assert gac.ta.w1.shape == (t, hidden) and gac.ta.w2.shape == (hidden, t)
    sizes = {".".join(map(str, p)): v.size for p, v in nnx.to_flat_state(nnx.state(gac, nnx.Param))}
    assert sizes["ta.w1"] + sizes["ta.w2"] == 2 * t * hidden
    assert sizes["sca.conv1.kernel"] == sizes["sca.conv2.kernel"] == 4 * 4 * 8 * 8  # independent of T
    with pytest.raises(ValueError, match=f"built for T={t} but got 5"):
        gac.gate(jnp.zeros((5, 1, 4, 4, 8)))
