"""SPIDE (pkuxmq/SPIDE-FSNN ``models/snn_spide_*.py``) and IDE (pkuxmq/IDE-FSNN ``models/snn_ide_fc.py``,
``snn_ide_conv.py``, ``snn_ide_conv_multilayer.py``) feedback networks <-> ``spide_*`` / ``ide_*``.

The input op is ``network_x`` (``SNNConv.conv`` / ``SNNFC.fc`` [+ ``bn``]); the ops between the spiking
layers and the feedback op are ``network_s1 .. network_sN`` in the order of ``snn_func.network_s_list``
(``network_p*``: parameter-free pooling; ``network_s`` for one-layer nets). A norm-restricted feedback weight
is stored raw as ``weight_w`` (SPIDE's Frobenius restriction; IDE's spectral one adds the gain ``weight_g``
and the power-iteration vectors ``weight_u``, ``weight_v``). The same modules appear again under
``snn_func.`` (``network_x``, ``network_s_list.<i>``, or ``network_s`` in IDE's one-layer nets) and under the
container module (``snn_spide_conv``, ``snn_ide_fc``, ``snn_ide_conv``) as aliases; IDE's ``snn_func_copy``
is a copy the authors refresh from ``snn_func`` before use (ignored on import). The readout is
``classifier`` on the flattened ``C, H, W`` rates.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from snnjax.convert.rules import Mapping, Rule, batch_norm, conv, linear, with_aliases
from snnjax.models.feedback.ops import AvgPool, Dense
from snnjax.models.feedback.ops import Conv as ConvOp


@dataclasses.dataclass(frozen=True)
class Layout:
    """PyTorch module names of one network: the ``ops`` in ``network_s_list`` order after ``network_x``;
    ``container``: the module holding ``snn_func`` again; ``one_layer``: IDE's one-layer ``SNNFunc``, whose
    feedback is ``snn_func.network_s`` (not ``snn_func.network_s_list.0``)."""

    ops: tuple[str, ...]
    container: str = "snn_spide_conv"
    one_layer: bool = False

    @property
    def ide(self) -> bool:
        return self.container.startswith("snn_ide")


_CIFAR = tuple(f"network_s{i}" for i in range(1, 6))

# snnjax model name -> the authors' module names
LAYOUTS = {
    "spide_mnist_lenet": Layout(("network_p1", "network_s1", "network_p2", "network_s2", "network_s3")),
    "spide_mnist_convnetf": Layout(("network_s1", "network_s2", "network_s3")),
    "spide_cifar_alexnetf": Layout(_CIFAR),
    "spide_cifar_cifarnetf": Layout(_CIFAR),
    "spide_dvs_convnetf": Layout(("network_s",)),
    "ide_fc_f400": Layout(("network_s",), "snn_ide_fc", one_layer=True),
    "ide_mnist_convf64": Layout(("network_s",), "snn_ide_conv", one_layer=True),
    "ide_nmnist_convf64": Layout(("network_s",), "snn_ide_conv", one_layer=True),
    "ide_cifar_alexnetf": Layout(_CIFAR, "snn_ide_conv"),
    "ide_cifar_cifarnetf": Layout(_CIFAR, "snn_ide_conv"),
}


def describe(cfg, num_classes: int) -> str:
    widths = tuple(cfg.widths) or "preset"
    return f"config {cfg.name}(widths {widths}, {num_classes} classes)"


def _aliases(layout: Layout):
    """The other keys of a tensor ``network_*.rest``: its place in ``snn_func`` and in the container."""
    where = {"network_x": "snn_func.network_x"}
    where.update(
        {
            n: "snn_func.network_s" if layout.one_layer else f"snn_func.network_s_list.{i}"
            for i, n in enumerate(layout.ops)
        }
    )

    def aliases(key: str) -> tuple[str, ...]:
        head, _, rest = key.partition(".")
        if head not in where:
            return ()
        alias = f"{where[head]}.{rest}"
        return (alias, f"{layout.container}.{alias}")

    return aliases


def _kind(op) -> str:
    """The attribute of the op's weight module in the authors' ``SNNFC`` / ``SNNConv`` /
    ``SNNConvTranspose``."""
    if isinstance(op, Dense):
        return "fc"
    return "conv" if isinstance(op, ConvOp) else "convT"


def _op(op, target: str, source: str, *, feedback: bool = False, chw=None) -> list[Rule]:
    if isinstance(op, AvgPool):
        return []
    kind = _kind(op)
    if kind == "fc":
        rules = linear(target, f"{source}.fc", bias=op.bias is not None, chw=chw)
    else:  # Conv or ConvTranspose: the same OIHW <-> HWIO layout
        rules = conv(target, f"{source}.{kind}", bias=getattr(op, "bias", None) is not None)
    if getattr(op, "norm", None) is not None:
        rules += batch_norm(f"{target}.norm", f"{source}.bn")
    if feedback:  # the norm restriction keeps the raw weight as weight_w
        rules = [Rule(r.target, r.source.replace(".weight", ".weight_w"), r.layout) for r in rules]
    return rules


def _chw(shape) -> tuple[int, int, int] | None:
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else None


def mapping(model, cfg, num_classes: int, input_shape) -> Mapping:
    layout = LAYOUTS[cfg.name]
    h, w, c = input_shape
    rules = _op(model.inp, "inp", "network_x", chw=(c, h, w))
    for j, op in enumerate(model.layers):
        rules += _op(op, f"layers.{j}", layout.ops[j], chw=_chw(op.in_shape))
    finish = None
    if model.feedback is not None:
        fb = f"{layout.ops[len(model.layers)]}.{_kind(model.feedback)}"
        rules += _op(model.feedback, "feedback", layout.ops[len(model.layers)], feedback=True)
        if model.restriction == "spectral":
            rules += [Rule("fb_gain", f"{fb}.weight_g"), Rule("fb_u", f"{fb}.weight_u")]
            finish = functools.partial(_ide_finish, float(cfg.feedback_norm), fb, layout)
    rules = with_aliases(rules, _aliases(layout))
    rules += linear(
        "readout",
        "classifier",
        chw=_chw(model.shapes[-1]),
        hint=f"the config's dataset has {num_classes} classes",
    )
    ignore = (r"(\w+\.)?snn_func_copy\..*", r"(.*\.)?weight_v") if layout.ide else ()
    return Mapping(rules, describe(cfg, num_classes), ignore=ignore, finish=finish)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _ide_finish(norm_range: float, fb: str, layout: Layout, out: dict[str, np.ndarray]) -> None:
    """IDE export: the feedback's ``weight_v`` from ``weight_u`` (one power-iteration half step on the
    weight as ``[dim 0, rest]``) and the ``snn_func_copy`` modules the authors' ``load_state_dict`` expects
    (a copy of ``snn_func`` whose feedback holds the restricted weight as a plain ``weight``)."""
    w, u, g = out[f"{fb}.weight_w"], out[f"{fb}.weight_u"], out[f"{fb}.weight_g"]
    rows = w.reshape(w.shape[0], -1)
    v = _unit(rows.T @ u).astype(np.float32)
    for key in (f"{fb}.weight_v", *_aliases(layout)(f"{fb}.weight_v")):
        out[key] = v
    restricted = (w * (float(np.clip(g, -norm_range, norm_range)) / float(u @ rows @ v))).astype(np.float32)
    fb_in_func = _aliases(layout)(fb)[0][len("snn_func.") :]
    for key, value in list(out.items()):
        if not key.startswith("snn_func."):
            continue
        rest = key[len("snn_func.") :]
        if rest.startswith(f"{fb_in_func}.weight_"):
            if not rest.endswith(".weight_w"):
                continue
            rest, value = f"{fb_in_func}.weight", restricted
        for prefix in ("snn_func_copy.", f"{layout.container}.snn_func_copy."):
            out[prefix + rest] = value
