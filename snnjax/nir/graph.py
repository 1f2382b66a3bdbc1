"""A NIR graph as an snnjax NNX model (:class:`NIRModel`), built by ``snnjax.nir.load``.

The model keeps NIR's layout: inputs ``[T, B, *shape]`` with the Input node's ``shape`` (channels first
for images, ``(C, H, W)``), outputs ``[T, B, *shape]`` of the Output node. Stateless nodes (affine, conv,
pooling, flatten, scale, threshold) run on the time-folded batch ``[T * B, ...]``; neuron nodes scan over
time (``snnjax.layers.SpikingNeuron``), so a loaded model records spikes and trains like any other. A node
with several incoming edges receives their sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import Array

from snnjax import layers
from snnjax import surrogate as sg
from snnjax.errors import ConfigError
from snnjax.nir import semantics


def _pair(value, what: str, where: str) -> tuple[int, int]:
    a = np.asarray(value).astype(int).reshape(-1)
    if a.size == 1:
        return int(a[0]), int(a[0])
    if a.size == 2:
        return int(a[0]), int(a[1])
    raise ConfigError(f"node {where}: {what}={value!r} is not one or two integers")


def _text(value):
    """A string field as ``str`` (HDF5 gives bytes or 0-d arrays); other values unchanged."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "SUO":
        value = value.item()
    return value.decode() if isinstance(value, bytes) else value


class Pass(nnx.Module):
    """Input / Output node: the identity."""

    def __call__(self, x: Array) -> Array:
        return x


class Conv2d(nnx.Module):
    """NIR ``Conv2d`` on ``[N, C, H, W]`` with an ``[O, I / groups, kh, kw]`` kernel (NCHW / OIHW)."""

    def __init__(self, node, where: str):
        self.kernel = nnx.Param(jnp.asarray(np.asarray(node.weight, np.float32)))
        self.bias = nnx.Param(jnp.asarray(np.asarray(node.bias, np.float32)))
        self.stride = _pair(node.stride, "stride", where)
        self.dilation = _pair(node.dilation, "dilation", where)
        self.groups = int(node.groups)
        padding = _text(node.padding)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ConfigError(
                    f"node {where}: padding={padding!r}; NIR allows 'same', 'valid' or integers"
                )
            self.padding = padding.upper()
        else:
            ph, pw = _pair(padding, "padding", where)
            self.padding = ((ph, ph), (pw, pw))

    def __call__(self, x: Array) -> Array:
        y = jax.lax.conv_general_dilated(
            x,
            self.kernel[...],
            window_strides=self.stride,
            padding=self.padding,
            rhs_dilation=self.dilation,
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
            feature_group_count=self.groups,
        )
        return y + self.bias[...][:, None, None]


class Pool2d(nnx.Module):
    """NIR ``SumPool2d`` / ``AvgPool2d`` on ``[N, C, H, W]`` (zero padding counted by the average)."""

    def __init__(self, node, average: bool, where: str):
        self.kernel = _pair(node.kernel_size, "kernel_size", where)
        self.stride = _pair(node.stride, "stride", where)
        self.padding = _pair(node.padding, "padding", where)
        self.average = average

    def __call__(self, x: Array) -> Array:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        y = jax.lax.reduce_window(
            x, 0.0, jax.lax.add, (1, 1, kh, kw), (1, 1, sh, sw), ((0, 0), (0, 0), (ph, ph), (pw, pw))
        )
        return y / (kh * kw) if self.average else y


class Flatten(nnx.Module):
    """NIR ``Flatten``: dims ``start_dim..end_dim`` of one sample (no batch) merged into one."""

    def __init__(self, node):
        self.start, self.end = int(node.start_dim), int(node.end_dim)

    def __call__(self, x: Array) -> Array:  # x: [N, ...]
        ndim = x.ndim - 1
        start, end = self.start % ndim, self.end % ndim
        return x.reshape((*x.shape[: start + 1], -1, *x.shape[end + 2 :]))


class Scale(nnx.Module):
    """NIR ``Scale``: elementwise product with a fixed ``scale`` of the sample shape."""

    def __init__(self, node):
        self.scale = nnx.Param(jnp.asarray(np.asarray(node.scale, np.float32)))

    def __call__(self, x: Array) -> Array:
        return x * self.scale[...]


class Threshold(nnx.Module):
    """NIR ``Threshold``: ``H(x - threshold)`` (strict), gradient by ``surrogate``."""

    def __init__(self, node, surrogate: sg.Surrogate):
        self.threshold = nnx.data(jnp.asarray(np.asarray(node.threshold, np.float32)))
        self.surrogate = surrogate

    def __call__(self, x: Array) -> Array:
        return sg.spike(x - self.threshold, self.surrogate)


class NeuronLayer(layers.SpikingNeuron):
    """A :class:`~snnjax.layers.SpikingNeuron` whose record holds per-neuron constant arrays."""

    neuron: Any = nnx.data()


class Neuron(nnx.Module):
    """A NIR neuron node: the input drive ``gain * x + bias`` then the neuron scanned over ``[T, B, ...]``."""

    def __init__(self, node, dt: float, surrogate: sg.Surrogate, where: str):
        drive, record = semantics.neuron_record(node, dt, surrogate, where)
        self.gain = nnx.data(None if drive.gain is None else jnp.asarray(drive.gain))
        self.bias = nnx.data(None if drive.bias is None else jnp.asarray(drive.bias))
        self.neuron = NeuronLayer(record)

    def __call__(self, x: Array) -> Array:
        if self.gain is not None:
            x = x * self.gain
        if self.bias is not None:
            x = x + self.bias
        return self.neuron(x)


TRIANGLE = sg.Triangle()  # the default surrogate gradient of loaded spiking nodes

STATELESS = ("Affine", "Linear", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale", "Threshold")


def _layer(name: str, node, dt: float, surrogate: sg.Surrogate) -> nnx.Module:
    import nir

    kind = type(node).__name__
    if isinstance(node, nir.NIRGraph):
        raise ConfigError(f"node {name}: nested NIR graphs (e.g. recurrent subgraphs) are not supported")
    if isinstance(node, nir.Input | nir.Output):
        return Pass()
    if isinstance(node, nir.Affine | nir.Linear):
        weight = np.asarray(node.weight, np.float32)
        if weight.ndim != 2:
            raise ConfigError(f"node {name}: {kind} weight of shape {weight.shape}; snnjax takes [out, in]")
        bias = isinstance(node, nir.Affine)
        linear = nnx.Linear(weight.shape[1], weight.shape[0], use_bias=bias, rngs=nnx.Rngs(0))
        linear.kernel[...] = jnp.asarray(weight.T)
        if bias:
            linear.bias[...] = jnp.asarray(np.asarray(node.bias, np.float32))
        return linear
    if isinstance(node, nir.Conv2d):
        return Conv2d(node, name)
    if isinstance(node, nir.SumPool2d | nir.AvgPool2d):
        return Pool2d(node, isinstance(node, nir.AvgPool2d), name)
    if isinstance(node, nir.Flatten):
        return Flatten(node)
    if isinstance(node, nir.Scale):
        return Scale(node)
    if isinstance(node, nir.Threshold):
        return Threshold(node, surrogate)
    if kind in semantics.NEURON_TYPES:
        return Neuron(node, dt, surrogate, name)
    raise ConfigError(f"node {name}: NIR primitive {kind} is not supported by snnjax")


def _shape(types: dict | None, key: str) -> tuple[int, ...] | None:
    value = None if types is None else types.get(key)
    return None if value is None else tuple(int(d) for d in np.asarray(value).reshape(-1))


def _input_shape(graph, name: str) -> tuple[int, ...]:
    """The sample shape of Input node ``name``. A type with one more leading axis than the nodes it feeds
    take is a batch axis the writer kept (Norse writes its export sample's batch size there): dropped."""
    shape = _shape(graph.nodes[name].input_type, "input")
    if shape is None:
        raise ConfigError(f"Input node {name} has no type")
    for src, dst in graph.edges:
        fed = _shape(graph.nodes[dst].input_type, "input") if src == name else None
        if fed is not None and len(shape) == len(fed) + 1 and shape[1:] == fed:
            return fed
    return shape


def topological_order(nodes: Mapping, edges) -> list[str]:
    """Node names so that every edge points forward; a cycle is a ConfigError naming its nodes."""
    preds = {name: [] for name in nodes}
    for src, dst in edges:
        for end in (src, dst):
            if end not in nodes:
                raise ConfigError(f"NIR edge ({src!r}, {dst!r}) names no node {end!r}")
        preds[dst].append(src)
    order, done = [], set()
    pending = list(nodes)
    while pending:
        ready = [n for n in pending if all(p in done for p in preds[n])]
        if not ready:
            raise ConfigError(
                f"NIR graph has a cycle through {sorted(pending)}: recurrent graphs are not supported"
            )
        for n in ready:
            order.append(n)
            done.add(n)
        pending = [n for n in pending if n not in done]
    return order


class NIRModel(nnx.Module):
    """A NIR graph run by snnjax: ``[T, B, *input_shape] -> [T, B, *output_shape]``.

    With one Input and one Output node the model takes and returns arrays; otherwise a dict keyed by
    node name. ``dt`` is the length of one time step in NIR's time unit (``semantics.DT`` = 1 by default;
    snnTorch writes its graphs for ``dt = 1e-4``). ``surrogate`` gives spikes their gradient.
    """

    def __init__(self, graph, *, dt: float = semantics.DT, surrogate: sg.Surrogate = TRIANGLE):
        import nir

        if dt <= 0:
            raise ConfigError(f"dt={dt} must be positive")
        self.dt = float(dt)
        order = topological_order(graph.nodes, graph.edges)
        self.names = tuple(order)
        index = {name: i for i, name in enumerate(order)}
        incoming = {name: [] for name in order}
        for src, dst in graph.edges:
            incoming[dst].append(index[src])
        self.sources = tuple(tuple(incoming[name]) for name in order)
        self.layers = nnx.List([_layer(name, graph.nodes[name], self.dt, surrogate) for name in order])
        self.kinds = tuple(type(graph.nodes[name]).__name__ for name in order)
        self.inputs = tuple(n for n in order if isinstance(graph.nodes[n], nir.Input))
        self.outputs = tuple(n for n in order if isinstance(graph.nodes[n], nir.Output))
        if not self.inputs or not self.outputs:
            raise ConfigError("a NIR graph needs at least one Input and one Output node")
        self.input_shapes = {n: _input_shape(graph, n) for n in self.inputs}
        for name, srcs in zip(order, self.sources, strict=True):
            if not srcs and name not in self.inputs:
                raise ConfigError(f"node {name} has no incoming edge and is not an Input node")

    def __call__(self, x: Array | Mapping[str, Array]) -> Array | dict[str, Array]:
        if not isinstance(x, Mapping):
            if len(self.inputs) != 1:
                raise ConfigError(f"the graph has inputs {list(self.inputs)}: pass a dict of arrays")
            x = {self.inputs[0]: x}
        values: list[Array | None] = [None] * len(self.names)
        for i, (name, kind, layer, srcs) in enumerate(
            zip(self.names, self.kinds, self.layers, self.sources, strict=True)
        ):
            if name in self.inputs:
                v = jnp.asarray(x[name])
                self._check_input(name, v.shape)
            else:
                v = values[srcs[0]]
                for j in srcs[1:]:
                    v = v + values[j]
            values[i] = layers.time_folded(layer, v) if kind in STATELESS else layer(v)
        out = {name: values[self.names.index(name)] for name in self.outputs}
        return next(iter(out.values())) if len(out) == 1 else out

    def _check_input(self, name: str, shape: tuple[int, ...]) -> None:
        want = self.input_shapes[name]
        if len(shape) >= 2 and tuple(shape[2:]) == want:
            return
        raise ConfigError(
            f"input {name} of shape {tuple(shape)}; the graph takes [T, B, {', '.join(map(str, want))}]"
        )


def load(graph, *, dt: float = semantics.DT, surrogate: sg.Surrogate = TRIANGLE) -> NIRModel:
    """An snnjax model computing the NIR ``graph`` (a ``nir.NIRGraph`` or a path to a ``.nir`` file)."""
    from snnjax.nir import read

    if not hasattr(graph, "nodes"):
        graph = read(graph)
    return NIRModel(graph, dt=dt, surrogate=surrogate)
