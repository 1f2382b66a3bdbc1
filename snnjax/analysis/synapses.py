"""Synaptic layers of any model built from :class:`snnjax.layers.SpikingNeuron` layers, found by tracing.

``trace_synapses(model, x)`` traces one forward pass to a jaxpr (``jax.make_jaxpr``: nothing is
computed) with every neuron layer's output tagged through :data:`snnjax.layers.SPIKE_HOOK`, then walks the
jaxpr: every ``conv_general_dilated`` / ``dot_general`` becomes a synapse row ``(name, MACs, source)``.

* ``source``: the neuron layer (dotted path, ``'<path>#k'`` for its ``k``-th further call, as
  :func:`snnjax.analysis.monitor.record` names it) whose spikes reach the op through shape-only or
  scaling ops (reshape, transpose, slicing, pooling, means, multiplication by a constant or parameter,
  dropout masks); ``'analog'`` if the operand is real-valued (the input image, a residual sum, a
  membrane shortcut, a product with another data tensor).
* ``name``: the path of the parameter module holding the kernel; for a product of two data tensors
  (attention), ``'matmul(<left>, <right>)'`` with each operand's source, counted at the rate of its
  spiking operand (the left one if both spike).
* ``MACs``: per example as executed: a spike-fed row gives its MACs per time step (the trace's total over
  the folded ``T * B`` batch divided by ``T`` and ``B``), an analog row its total per example (a stem run
  once on a static image counts once; a layer on real values at every step counts ``T`` times).
  Ops inside a ``scan`` count once per iteration.
"""

from __future__ import annotations

import math
from typing import Any

import jax
from flax import nnx
from jax import Array
from jax.extend import core as jcore

from snnjax import layers

ANALOG = "analog"
MAC_OPS = ("conv_general_dilated", "dot_general")
# ops through which a spike tensor keeps its source (shape changes, pooling, scaling, masking)
STRUCTURAL = {
    "reshape", "broadcast_in_dim", "transpose", "squeeze", "expand_dims", "convert_element_type", "slice",
    "dynamic_slice", "concatenate", "reduce_sum", "reduce_max", "reduce_window_sum", "reduce_window_max",
    "mul", "div", "select_n", "pad", "copy", "copy_p", "rev", "reduce_precision",
}  # fmt: skip

spike_source_p = jcore.Primitive("spike_source")
spike_source_p.def_impl(lambda x, *, name: x)
spike_source_p.def_abstract_eval(lambda x, *, name: x)


class _Tagger:
    """A :data:`~snnjax.layers.SPIKE_HOOK` naming each layer call's spikes by the layer's path."""

    def __init__(self, model: nnx.Module):
        self.names = {id(m): ".".join(map(str, p)) for p, m in nnx.iter_graph(model)}
        self.calls: dict[int, int] = {}

    def __call__(self, layer: layers.SpikingNeuron, s: Array) -> Array:
        k = self.calls.get(id(layer), 0)
        self.calls[id(layer)] = k + 1
        name = self.names.get(id(layer), type(layer).__name__)
        return spike_source_p.bind(s, name=name if k == 0 else f"{name}#{k}")


def _key_name(entry: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def _macs(eqn) -> int:
    out = eqn.outvars[0].aval
    lhs, rhs = (v.aval for v in eqn.invars[:2])
    if eqn.primitive.name == "conv_general_dilated":
        out_dim = eqn.params["dimension_numbers"].rhs_spec[0]
        return out.size * rhs.size // rhs.shape[out_dim]
    (contract, _), _ = eqn.params["dimension_numbers"]
    return out.size * math.prod(lhs.shape[i] for i in contract)


def _sub_jaxprs(eqn) -> list:
    found = []
    for value in eqn.params.values():
        for v in value if isinstance(value, tuple | list) else (value,):
            if isinstance(v, jcore.ClosedJaxpr):
                found.append(v.jaxpr)
            elif isinstance(v, jcore.Jaxpr):
                found.append(v)
    return found


class _Walker:
    """Propagates labels ``('static', path)``, ``('analog',)`` or ``('spike', name)`` through a jaxpr and
    sums the MACs of every conv / matmul by (name, source)."""

    def __init__(self):
        self.rows: dict[tuple[str, str], float] = {}

    def run(self, jaxpr, labels: list, scale: float = 1.0) -> list:
        env = dict(zip(jaxpr.invars, labels, strict=True))
        for v in jaxpr.constvars:
            env[v] = ("static", None)
        get = lambda v: env.get(v, ("static", None)) if isinstance(v, jcore.Var) else ("static", None)
        for eqn in jaxpr.eqns:
            ins = [get(v) for v in eqn.invars]
            outs = self.eqn(eqn, ins, scale)
            env.update(zip(eqn.outvars, outs, strict=True))
        return [get(v) for v in jaxpr.outvars]

    def eqn(self, eqn, ins: list, scale: float) -> list:
        name = eqn.primitive.name
        data = [lab for lab in ins if lab[0] != "static"]
        n_out = len(eqn.outvars)
        if name == "spike_source":
            return [("spike", eqn.params["name"])]
        if name in MAC_OPS:
            self.count(eqn, ins, scale)
            return [(ANALOG,)] if data else [("static", None)]
        subs = [j for j in _sub_jaxprs(eqn) if len(j.invars) == len(ins)]
        if subs:
            length = float(eqn.params.get("length", 1)) if name == "scan" else 1.0
            outs = self.run(subs[0], ins, scale * length)
            if len(outs) == n_out and name != "scan":
                return outs
        if not data:
            statics = [lab for lab in ins if lab[1] is not None]
            return [statics[0] if statics else ("static", None)] * n_out
        if name in STRUCTURAL and data[0][0] == "spike" and all(lab == data[0] for lab in data):
            return [data[0]] * n_out
        return [(ANALOG,)] * n_out

    def count(self, eqn, ins: list, scale: float) -> None:
        left, right = ins[:2]
        kinds = (left[0], right[0])
        if kinds == ("static", "static"):
            return
        if "static" in kinds:
            weight, fed = (left, right) if left[0] == "static" else (right, left)
            layer = weight[1] or "constant"
            source = fed[1] if fed[0] == "spike" else ANALOG
        else:
            label = lambda lab: lab[1] if lab[0] == "spike" else ANALOG
            layer = f"matmul({label(left)}, {label(right)})"
            spiking = [lab for lab in (left, right) if lab[0] == "spike"]
            source = spiking[0][1] if spiking else ANALOG
        key = (layer, source)
        self.rows[key] = self.rows.get(key, 0.0) + scale * _macs(eqn)


def trace_synapses(model: nnx.Module, x: Array, num_steps: int) -> list[tuple[str, float, str]]:
    """``[(name, MACs, source)]`` of ``model`` on a batch ``x`` (``[B, ...]`` images or ``[B, T, ...]``
    frames; only the shape matters), per example: per time step for spike-fed rows, in total for analog
    ones (see the module docstring)."""
    graphdef, state = nnx.split(model)
    flat, treedef = jax.tree_util.tree_flatten_with_path(state)
    paths = [[_key_name(k) for k in path] for path, _ in flat]
    paths = [".".join(p[:-2] if p[-1] in ("value", "raw_value") else p[:-1]) for p in paths]
    batch = x.shape[0]

    def forward(leaves, x):
        m = nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves))
        token = layers.SPIKE_HOOK.set(_Tagger(m))
        try:
            return nnx.capture(m)(x)
        finally:
            layers.SPIKE_HOOK.reset(token)

    closed = jax.make_jaxpr(forward)([v for _, v in flat], x)
    labels = [("static", p) for p in paths] + [(ANALOG,)]
    walker = _Walker()
    walker.run(closed.jaxpr, labels)
    rows = []
    for (layer, source), macs in walker.rows.items():
        per_example = macs / batch
        rows.append((layer, per_example if source == ANALOG else per_example / num_steps, source))
    return rows
