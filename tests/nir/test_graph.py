"""A NIR graph as an snnjax model: the stateless primitives against numpy, fan-in sums, and one-line
errors for what snnjax does not run."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from snnjax.errors import ConfigError

nir = pytest.importorskip("nir")
import snnjax.nir as snnjax_nir  # noqa: E402

RNG = np.random.default_rng(0)


def _graph(nodes: dict, edges: list):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _chain(*nodes):
    names = [f"n{k}" for k in range(len(nodes))]
    return _graph(dict(zip(names, nodes, strict=True)), list(itertools.pairwise(names)))


def test_stateless_primitives_match_numpy():
    c, h, w = 2, 5, 6
    x = RNG.normal(size=(3, 4, c, h, w)).astype(np.float32)  # [T, B, C, H, W]
    weight = RNG.normal(size=(3, c, 3, 3)).astype(np.float32)
    bias = RNG.normal(size=3).astype(np.float32)
    scale = RNG.uniform(0.5, 2.0, size=(3, 5, 6)).astype(np.float32)
    graph = _chain(
        nir.Input(input_type=np.array([c, h, w])),
        nir.Conv2d(input_shape=(h, w), weight=weight, stride=1, padding=1, dilation=1, groups=1, bias=bias),
        nir.Scale(scale=scale),
        nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([1, 1])),
        nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]), padding=np.array([0, 0])),
        nir.Flatten(input_type=None, start_dim=1),
        nir.Output(output_type=None),
    )
    out = np.asarray(snnjax_nir.load(graph)(jnp.asarray(x)))
    # numpy: zero-padded cross-correlation, scale, 2x2 sums with one row/column of zero padding, 2x2 means
    xp = np.pad(x, ((0, 0), (0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((3, 4, 3, h, w))
    for i in range(3):
        for j in range(3):
            conv += np.einsum("tbchw,oc->tbohw", xp[..., i : i + h, j : j + w], weight[:, :, i, j])
    y = (conv + bias[:, None, None]) * scale
    yp = np.pad(y, ((0, 0), (0, 0), (0, 0), (1, 1), (1, 1)))  # 7 x 8 -> 2x2 windows, stride 2: 3 x 4
    sums = sum(yp[..., i : i + 6 : 2, j : j + 8 : 2] for i in (0, 1) for j in (0, 1))
    means = sum(sums[..., i : i + 2, j : j + 3] for i in (0, 1) for j in (0, 1)) / 4  # 3 x 4 -> 2 x 3
    np.testing.assert_allclose(out, means.reshape(3, 4, 3, 6), rtol=1e-4, atol=1e-4)


def test_threshold_is_strict_and_fan_in_is_summed():
    """``input -> a`` and ``input -> b`` both feed ``threshold``: it sees ``a(x) + b(x)``."""
    wa, wb = RNG.normal(size=(4, 3)).astype(np.float32), RNG.normal(size=(4, 3)).astype(np.float32)
    nodes = {
        "input": nir.Input(input_type=np.array([3])),
        "a": nir.Linear(weight=wa),
        "b": nir.Affine(weight=wb, bias=np.ones(4, np.float32)),
        "threshold": nir.Threshold(threshold=np.array([0.0, 0.5, 1.0, 1.5], np.float32)),
        "output": nir.Output(output_type=np.array([4])),
    }
    edges = [("input", "a"), ("input", "b"), ("a", "threshold"), ("b", "threshold"), ("threshold", "output")]
    x = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    out = np.asarray(snnjax_nir.load(_graph(nodes, edges))(jnp.asarray(x)))
    np.testing.assert_array_equal(out, (x @ wa.T + x @ wb.T + 1.0 > [0.0, 0.5, 1.0, 1.5]).astype(np.float32))
    at = _chain(
        nir.Input(input_type=np.array([1])),
        nir.Threshold(threshold=np.array([1.0])),
        nir.Output(output_type=np.array([1])),
    )
    np.testing.assert_array_equal(snnjax_nir.load(at)(jnp.ones((1, 1, 1))), 0.0)  # v == threshold: no spike


def test_flatten_keeps_the_dims_outside_its_range():
    graph = _chain(
        nir.Input(input_type=np.array([2, 3, 4])),
        nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=1, end_dim=2),
        nir.Output(output_type=np.array([2, 12])),
    )
    x = jnp.arange(2 * 5 * 24, dtype=jnp.float32).reshape(2, 5, 2, 3, 4)
    np.testing.assert_array_equal(snnjax_nir.load(graph)(x), np.asarray(x).reshape(2, 5, 2, 12))


def test_errors_are_one_line():
    lif = dict(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "lif": nir.LIF(**lif),
        "w": nir.Linear(weight=np.eye(2)),
        "output": nir.Output(output_type=np.array([2])),
    }
    cycle = _graph(nodes, [("input", "lif"), ("lif", "w"), ("w", "lif"), ("lif", "output")])
    with pytest.raises(
        ConfigError, match=r"^NIR graph has a cycle through \['lif', 'output', 'w'\]: recurrent"
    ):
        snnjax_nir.load(cycle)
    delay = _chain(
        nir.Input(input_type=np.array([2])),
        nir.Delay(delay=np.ones(2)),
        nir.Output(output_type=np.array([2])),
    )
    with pytest.raises(ConfigError, match=r"^node n1: NIR primitive Delay is not supported by snnjax$"):
        snnjax_nir.load(delay)
    ok = _chain(nir.Input(input_type=np.array([2])), nir.LIF(**lif), nir.Output(output_type=np.array([2])))
    with pytest.raises(ConfigError, match=r"^input n0 of shape \(3, 4, 5\); the graph takes \[T, B, 2\]$"):
        snnjax_nir.load(ok)(jnp.zeros((3, 4, 5)))
    with pytest.raises(ConfigError, match=r"^input n0 of shape \(3, 2\); the graph takes \[T, B, 2\]$"):
        snnjax_nir.load(ok)(jnp.zeros((3, 2)))  # no batch axis
    with pytest.raises(ConfigError, match=r"^dt=0.0 must be positive$"):
        snnjax_nir.load(ok, dt=0.0)


def test_files(tmp_path):
    with pytest.raises(ConfigError, match=r"^\S+missing.nir not found$"):
        snnjax_nir.load(tmp_path / "missing.nir")
    (tmp_path / "junk.nir").write_text("not hdf5")
    with pytest.raises(ConfigError, match=r"^\S+junk.nir is not a readable NIR file: "):
        snnjax_nir.read(tmp_path / "junk.nir")


def test_same_padding_survives_a_file(tmp_path):
    weight = RNG.normal(size=(2, 1, 3, 3)).astype(np.float32)
    conv = dict(weight=weight, stride=1, dilation=1, groups=1, bias=np.zeros(2, np.float32))
    graph = _chain(
        nir.Input(input_type=np.array([1, 5, 5])),
        nir.Conv2d(input_shape=(5, 5), padding="same", **conv),
        nir.Output(output_type=np.array([2, 5, 5])),
    )
    snnjax_nir.write(tmp_path / "same.nir", graph)
    x = jnp.asarray(RNG.normal(size=(1, 2, 1, 5, 5)), jnp.float32)
    explicit = _chain(
        nir.Input(input_type=np.array([1, 5, 5])),
        nir.Conv2d(input_shape=(5, 5), padding=1, **conv),
        nir.Output(output_type=np.array([2, 5, 5])),
    )
    np.testing.assert_allclose(
        snnjax_nir.load(tmp_path / "same.nir")(x), snnjax_nir.load(explicit)(x), atol=1e-6
    )
