"""The layouts compute what the PyTorch layers compute, and the strict checks of a mapping."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from snnjax.convert import rules
from snnjax.errors import ConfigError

RNG = np.random.default_rng(0)


def torch_conv2d(x_nchw, w_oihw, groups=1, pad=1):
    """PyTorch's Conv2d (cross-correlation, stride 1) written out in numpy."""
    n, _, h, w = x_nchw.shape
    o, cg, kh, kw = w_oihw.shape
    xp = np.pad(x_nchw, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, o, h + 2 * pad - kh + 1, w + 2 * pad - kw + 1), np.float64)
    per = o // groups
    for oc in range(o):
        g = oc // per
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                patch = xp[:, g * cg : (g + 1) * cg, i : i + kh, j : j + kw]
                out[:, oc, i, j] = np.einsum("nchw,chw->n", patch, w_oihw[oc])
    return out


@pytest.mark.parametrize("groups", [1, 2])
def test_conv_layout_matches_pytorch_conv2d(groups):
    x = RNG.normal(size=(2, 4, 5, 5)).astype(np.float32)
    w = RNG.normal(size=(6, 4 // groups, 3, 3)).astype(np.float32)
    layout = rules.Conv()
    kernel = layout.to_snnjax(w, (3, 3, 4 // groups, 6))
    assert layout.torch_shape(kernel.shape) == w.shape
    ours = jax.lax.conv_general_dilated(
        x.transpose(0, 2, 3, 1), kernel, (1, 1), ((1, 1), (1, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups,
    )  # fmt: skip
    np.testing.assert_allclose(np.asarray(ours).transpose(0, 3, 1, 2), torch_conv2d(x, w, groups), atol=1e-4)
    np.testing.assert_array_equal(layout.to_torch(kernel), w)


def test_linear_on_a_flattened_map_reorders_channels_last():
    c, h, w, out = 3, 2, 4, 5
    feature = RNG.normal(size=(c, h, w))
    weight = RNG.normal(size=(out, c * h * w))
    layout = rules.Linear(chw=(c, h, w))
    kernel = layout.to_snnjax(weight, (h * w * c, out))
    np.testing.assert_allclose(feature.transpose(1, 2, 0).reshape(-1) @ kernel, weight @ feature.reshape(-1))
    np.testing.assert_array_equal(layout.to_torch(kernel), weight)
    np.testing.assert_array_equal(rules.Linear().to_snnjax(weight, (c * h * w, out)), weight.T)


def test_pointwise_conv3d_is_the_matrix_over_time():
    t, hidden = 6, 3
    w = RNG.normal(size=(hidden, t, 1, 1, 1))
    v = RNG.normal(size=(t,))
    matrix = rules.Pointwise3d().to_snnjax(w, (t, hidden))
    np.testing.assert_allclose(v @ matrix, w[:, :, 0, 0, 0] @ v)  # Conv3d over the T channels
    np.testing.assert_array_equal(rules.Pointwise3d().to_torch(matrix), w)


def test_flag_is_derived_and_not_exported():
    flag = rules.NonZeroFlag((1, 1, 2, 1, 1))
    assert (
        flag.to_snnjax(np.zeros((1, 1, 2, 1, 1)), ()) == 0
        and flag.to_snnjax(np.ones((1, 1, 2, 1, 1)), ()) == 1
    )
    assert flag.to_torch(np.ones(())) is None


def _model():
    return nnx.Linear(3, 2, rngs=nnx.Rngs(0))


def _tensors():
    return {"fc.weight": np.ones((2, 3), np.float32), "fc.bias": np.zeros(2, np.float32)}


def test_every_variable_needs_exactly_one_rule():
    complete = rules.Mapping(
        [rules.Rule("kernel", "fc.weight", rules.Linear()), rules.Rule("bias", "fc.bias")], "toy"
    )
    rules.load_into(_model(), complete, _tensors())
    with pytest.raises(ConfigError, match="no PyTorch tensor maps to 'bias'"):
        rules.load_into(_model(), rules.Mapping(complete.rules[:1], "toy"), _tensors())
    with pytest.raises(ConfigError, match="'kernel' is assigned twice"):
        rules.load_into(_model(), rules.Mapping([*complete.rules, complete.rules[0]], "toy"), _tensors())
    with pytest.raises(ConfigError, match="names 'scale', which toy does not have"):
        rules.load_into(
            _model(), rules.Mapping([*complete.rules, rules.Rule("scale", "x")], "toy"), _tensors()
        )
    with pytest.raises(ConfigError, match="unexpected key 'extra' for toy"):
        rules.load_into(_model(), complete, {**_tensors(), "extra": np.zeros(1)})
    ignoring = rules.Mapping(complete.rules, "toy", ignore=(r"ext.*",))
    assert rules.load_into(_model(), ignoring, {**_tensors(), "extra": np.zeros(1)}) == ["extra"]
