"""snnjax model -> ``nir.NIRGraph``: the basic MLP and conv SNN (``snnjax.models.basic``).

The graph starts after the encoder (its Input is one encoded time step, ``(C, H, W)``) and uses NIR's
layout: conv kernels OIHW, images channels first, so the first dense layer after a flatten has its
columns permuted from snnjax's HWC order to CHW order. BatchNorm (running statistics: export a model in
eval mode) is folded into the preceding conv. The conv SNN's 2x2 max-pool acts on spikes, where the
maximum is "any spike in the window": ``SumPool2d -> Threshold(0.5)``, exact for inputs in {0, 1}.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from flax import nnx
from numpy.typing import ArrayLike

from snnjax.errors import ConfigError
from snnjax.models import basic
from snnjax.nir import require_nir, semantics

# module types that have no NIR primitive, by class name, and what they are
INEXPRESSIBLE = {
    "GAC": "GAC attention",
    "TemporalAttention": "GAC temporal attention",
    "SpatialChannelAttention": "GAC spatial-channel attention",
    "FeedbackSNN": "feedback network solved for its fixed point (implicit solver)",
    "DSSA": "spiking self-attention",
    "HybridPlasticityNet": "Hebbian plastic synapses",
}


def _np(x) -> np.ndarray:
    return np.asarray(x, np.float64)


class _Builder:
    """Collects a chain of named NIR nodes (each fed by the previous one) with their types set."""

    def __init__(self, input_shape: tuple[int, ...]):
        self.nir = require_nir()
        self.nodes = {"input": self.nir.Input(input_type=np.array(input_shape))}
        self.shape = tuple(input_shape)

    def add(self, name: str, node, out_shape: tuple[int, ...] | None = None) -> None:
        if out_shape is not None:  # nodes whose type NIR cannot infer (pools): set it here
            node.input_type = {"input": np.array(self.shape)}
            node.output_type = {"output": np.array(out_shape)}
        self.nodes[name] = node
        self.shape = tuple(int(d) for d in node.output_type["output"])

    def neuron(self, name: str, layer, where: str, dt: float, layout: Callable | None = None) -> None:
        record = layer.current_neuron()
        if layout is not None:
            record = semantics.relayout(record, layout)
        nodes = semantics.neuron_nodes(record, self.shape, dt, where)
        for k, node in enumerate(nodes):
            self.add(name if k == 0 else f"{name}_threshold", node)

    def graph(self, metadata: dict):
        names = [*self.nodes, "output"]
        self.nodes["output"] = self.nir.Output(output_type=np.array(self.shape))
        edges = list(itertools.pairwise(names))
        return self.nir.NIRGraph(nodes=self.nodes, edges=edges, metadata=metadata)


def _affine(builder: _Builder, name: str, linear: nnx.Linear, hwc: tuple[int, int, int] | None) -> None:
    """A dense layer; ``hwc``: the (H, W, C) its flattened input came from (columns -> CHW order)."""
    nir = builder.nir
    kernel = _np(linear.kernel[...])  # [in, out]
    if hwc is not None:
        h, w, c = hwc
        kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
    weight = kernel.T.astype(np.float32)
    if linear.bias is None:
        builder.add(name, nir.Linear(weight=weight))
    else:
        builder.add(name, nir.Affine(weight=weight, bias=_np(linear.bias[...]).astype(np.float32)))


def _conv(builder: _Builder, name: str, conv: nnx.Conv, norm: nnx.BatchNorm | None, where: str) -> None:
    """A conv (HWIO kernel) with the BatchNorm after it folded in, as a NIR Conv2d (OIHW)."""
    nir = builder.nir
    kernel = _np(conv.kernel[...])  # [kh, kw, in / groups, out]
    bias = _np(conv.bias[...]) if conv.bias is not None else np.zeros(kernel.shape[-1])
    if norm is not None:
        gain = _np(norm.scale[...]) / np.sqrt(_np(norm.var[...]) + norm.epsilon)
        kernel, bias = kernel * gain, (bias - _np(norm.mean[...])) * gain + _np(norm.bias[...])
    kh, kw = kernel.shape[:2]
    strides = tuple(conv.strides) if isinstance(conv.strides, tuple | list) else (conv.strides,) * 2
    dilation = conv.kernel_dilation
    dilation = tuple(dilation) if isinstance(dilation, tuple | list) else (dilation or 1,) * 2
    if conv.padding == "VALID":
        padding = (0, 0)
    elif conv.padding == "SAME" and strides == (1, 1) and kh % 2 and kw % 2:
        padding = (dilation[0] * (kh - 1) // 2, dilation[1] * (kw - 1) // 2)
    else:
        raise ConfigError(f"layer {where}: padding {conv.padding!r} with strides {strides} has no NIR form")
    builder.add(
        name,
        nir.Conv2d(
            input_shape=builder.shape[1:],
            weight=kernel.transpose(3, 2, 0, 1).astype(np.float32),
            stride=strides,
            padding=padding,
            dilation=dilation,
            groups=int(conv.feature_group_count),
            bias=bias.astype(np.float32),
        ),
    )


def _spike_max_pool(builder: _Builder, name: str) -> None:
    """2x2 max-pool of spikes: ``SumPool2d(2, 2) -> Threshold(0.5)``."""
    nir = builder.nir
    c, h, w = builder.shape
    out = (c, h // 2, w // 2)
    two = np.array([2, 2])
    builder.add(name, nir.SumPool2d(kernel_size=two, stride=two, padding=np.array([0, 0])), out)
    builder.add(f"{name}_any", nir.Threshold(threshold=np.full(out, 0.5, np.float32)))


def _dense_tail(builder: _Builder, model, dt: float, hwc: tuple[int, int, int] | None) -> None:
    for k, (linear, neuron) in enumerate(zip(model.hidden, model.hidden_neurons, strict=True)):
        _affine(builder, f"hidden_{k}", linear, hwc if k == 0 else None)
        builder.neuron(f"hidden_{k}_lif", neuron, f"hidden_neurons.{k}", dt)
    _affine(builder, "out", model.out, hwc if not len(model.hidden) else None)
    if model.readout == "spikes":
        builder.neuron("out_lif", model.out_neuron, "out_neuron", dt)


def _mlp(model: basic.SpikingMLP, image: tuple[int, int, int], dt: float, builder: _Builder) -> None:
    builder.add("flatten", builder.nir.Flatten(input_type={"input": np.array(builder.shape)}, start_dim=0))
    _dense_tail(builder, model, dt, image)


def _convnet(model: basic.SpikingConvNet, image: tuple[int, int, int], dt: float, builder: _Builder) -> None:
    for k, (conv, norm, neuron) in enumerate(zip(model.convs, model.norms, model.neurons, strict=True)):
        _conv(builder, f"conv_{k}", conv, norm, f"convs.{k}")
        c, h, w = builder.shape
        chw = lambda v, h=h, w=w, c=c: np.broadcast_to(np.asarray(v), (h, w, c)).transpose(2, 0, 1)
        builder.neuron(f"conv_{k}_lif", neuron, f"neurons.{k}", dt, layout=chw)
        _spike_max_pool(builder, f"pool_{k}")
    c, h, w = builder.shape
    builder.add("flatten", builder.nir.Flatten(input_type={"input": np.array(builder.shape)}, start_dim=0))
    _dense_tail(builder, model, dt, (h, w, c))


EXPORTERS: dict[type, Callable] = {basic.SpikingMLP: _mlp, basic.SpikingConvNet: _convnet}


def _refuse(model) -> None:
    """A one-line ConfigError naming the outermost layer NIR cannot express (or the unsupported model)."""
    found = [
        (len(path), ".".join(map(str, path)), node)
        for path, node in nnx.iter_graph(model)
        if type(node).__name__ in INEXPRESSIBLE or hasattr(node, "current_neuron")
    ]
    for _, where, node in sorted(found, key=lambda f: (f[0], f[1])):
        what = INEXPRESSIBLE.get(type(node).__name__)
        if what is not None:
            raise ConfigError(f"layer {where or type(node).__name__}: {what} has no NIR primitive")
        if type(node.neuron) not in semantics.EXPORTED:
            semantics.neuron_nodes(node.neuron, (1,), semantics.DT, where)  # raises, naming the layer
    supported = ", ".join(f"{cls.__name__}" for cls in EXPORTERS)
    raise ConfigError(f"model {type(model).__name__} has no NIR exporter; exportable: {supported}")


def export(
    model: nnx.Module,
    sample_input: ArrayLike,
    *,
    dt: float = semantics.DT,
    metadata: dict | None = None,
):
    """The ``nir.NIRGraph`` of ``model`` from its encoded input to its output.

    Args:
      model: a basic ``SpikingMLP`` or ``SpikingConvNet`` in eval mode (BatchNorm folded with its running
        statistics).
      sample_input: a model input, ``[B, H, W, C]`` images or ``[T, B, H, W, C]`` frames (only its shape
        is used).
      dt: NIR time of one step (``tau = dt / (1 - decay)``); 1 by default, 1e-4 for snnTorch's importer.
      metadata: extra entries of the graph's metadata.
    Raises:
      ConfigError (one line, naming the layer): a layer, neuron or reset NIR cannot express.
    """
    require_nir()
    if dt <= 0:
        raise ConfigError(f"dt={dt} must be positive")
    shape = tuple(np.shape(sample_input))
    if len(shape) not in (4, 5):
        raise ConfigError(
            f"sample_input of shape {shape}: pass [B, H, W, C] images or [T, B, H, W, C] frames"
        )
    exporter = EXPORTERS.get(type(model))
    if exporter is None:
        _refuse(model)
    h, w, c = shape[-3:]
    builder = _Builder((c, h, w))
    exporter(model, (h, w, c), float(dt), builder)
    encoder = model.encoder
    info = dict(
        source="snnjax",
        model=type(model).__name__,
        dt=float(dt),
        num_steps=int(encoder.num_steps),
        encoding=str(encoder.name),
        layout="channels first; input is one encoded time step",
        readout=str(model.readout),
    )
    return builder.graph({**info, **(metadata or {})})
