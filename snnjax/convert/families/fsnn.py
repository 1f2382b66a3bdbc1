"""SPIDE (pkuxmq/SPIDE-FSNN ``models/snn_spide_*.py``) and IDE (pkuxmq/IDE-FSNN ``models/snn_ide_fc.py``)
feedback networks <-> ``spide_*`` / ``ide_fc_f400``.

The input op is ``network_x`` (``SNNConv.conv`` / ``SNNFC.fc`` [+ ``bn``]); the ops between the spiking
layers and the feedback op are ``network_s1 .. network_sN`` in the order of ``snn_func.network_s_list``
(``network_p*``: parameter-free pooling; ``network_s`` for one-layer nets). A norm-restricted feedback weight
is stored raw as ``weight_w`` (SPIDE's Frobenius restriction; IDE's spectral one adds the gain ``weight_g``
and the power-iteration vectors ``weight_u``, ``weight_v``). The same modules appear again under
``snn_func.`` and ``snn_spide_conv.snn_func.`` / ``snn_ide_fc.snn_func.`` (aliases); IDE's
``snn_func_copy`` is a copy the authors refresh from ``snn_func`` before use (ignored on import). The readout
is ``classifier`` on the flattened ``C, H, W`` rates.
"""

from __future__ import annotations

import functools

import numpy as np

from snnjax.convert.rules import Mapping, Rule, batch_norm, conv, linear, with_aliases
from snnjax.models.feedback.ops import AvgPool, Dense
from snnjax.models.feedback.ops import Conv as ConvOp

# snnjax model name -> PyTorch module names of (input op, ops in network_s_list order)
LAYOUTS = {
    "spide_mnist_lenet": (
        "network_x",
        ["network_p1", "network_s1", "network_p2", "network_s2", "network_s3"],
    ),
    "spide_mnist_convnetf": ("network_x", ["network_s1", "network_s2", "network_s3"]),
    "spide_cifar_alexnetf": ("network_x", [f"network_s{i}" for i in range(1, 6)]),
    "spide_cifar_cifarnetf": ("network_x", [f"network_s{i}" for i in range(1, 6)]),
    "spide_dvs_convnetf": ("network_x", ["network_s"]),
    "ide_fc_f400": ("network_x", ["network_s"]),
}


def describe(cfg, num_classes: int) -> str:
    widths = tuple(cfg.widths) or "preset"
    return f"config {cfg.name}(widths {widths}, {num_classes} classes)"


def _aliases(names: list[str], ide: bool):
    """The other keys of a tensor ``network_*.rest``: its place in ``snn_func`` and in the container."""
    where = {"network_x": "snn_func.network_x"}
    where.update(
        {n: "snn_func.network_s" if ide else f"snn_func.network_s_list.{i}" for i, n in enumerate(names)}
    )
    container = "snn_ide_fc" if ide else "snn_spide_conv"

    def aliases(key: str) -> tuple[str, ...]:
        head, _, rest = key.partition(".")
        if head not in where:
            return ()
        alias = f"{where[head]}.{rest}"
        return (alias, f"{container}.{alias}")

    return aliases


def _op(op, target: str, source: str, *, feedback: bool = False, chw=None) -> list[Rule]:
    if isinstance(op, AvgPool):
        return []
    if isinstance(op, Dense):
        rules = linear(target, f"{source}.fc", bias=op.bias is not None, chw=chw)
        if op.norm is not None:
            rules += batch_norm(f"{target}.norm", f"{source}.bn")
    else:  # Conv or ConvTranspose: the same OIHW <-> HWIO layout
        kind = "conv" if isinstance(op, ConvOp) else "convT"
        rules = conv(target, f"{source}.{kind}", bias=getattr(op, "bias", None) is not None)
    if feedback:  # the norm restriction keeps the raw weight as weight_w
        rules = [Rule(r.target, r.source.replace(".weight", ".weight_w"), r.layout) for r in rules]
    return rules


def _chw(shape) -> tuple[int, int, int] | None:
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else None


def mapping(model, cfg, num_classes: int, input_shape) -> Mapping:
    inp_name, names = LAYOUTS[cfg.name]
    ide = cfg.name.startswith("ide_")
    h, w, c = input_shape
    rules = _op(model.inp, "inp", inp_name, chw=(c, h, w))
    for j, op in enumerate(model.layers):
        rules += _op(op, f"layers.{j}", names[j], chw=_chw(op.in_shape))
    if model.feedback is not None:
        rules += _op(model.feedback, "feedback", names[len(model.layers)], feedback=True)
    if model.restriction == "spectral":
        fb = names[len(model.layers)]
        rules += [Rule("fb_gain", f"{fb}.fc.weight_g"), Rule("fb_u", f"{fb}.fc.weight_u")]
    rules = with_aliases(rules, _aliases(names, ide))
    rules += linear(
        "readout",
        "classifier",
        chw=_chw(model.shapes[-1]),
        hint=f"the config's dataset has {num_classes} classes",
    )
    ignore = (r"(snn_ide_fc\.)?snn_func_copy\..*", r"(.*\.)?network_s\.fc\.weight_v") if ide else ()
    finish = functools.partial(_ide_finish, float(cfg.feedback_norm)) if ide else None
    return Mapping(rules, describe(cfg, num_classes), ignore=ignore, finish=finish)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _ide_finish(norm_range: float, out: dict[str, np.ndarray]) -> None:
    """IDE export: ``weight_v`` from ``weight_u`` (one power-iteration half step) and the ``snn_func_copy``
    modules the authors' ``load_state_dict`` expects (the copy holds the restricted feedback weight)."""
    w, u, g = out["network_s.fc.weight_w"], out["network_s.fc.weight_u"], out["network_s.fc.weight_g"]
    v = _unit(w.T @ u)
    for prefix in ("", "snn_func.", "snn_ide_fc.snn_func."):
        out[f"{prefix}network_s.fc.weight_v"] = v.astype(np.float32)
    copy = {k[len("network_x.") :]: val for k, val in out.items() if k.startswith("network_x.")}
    restricted = (w * (float(np.clip(g, -norm_range, norm_range)) / float(u @ w @ v))).astype(np.float32)
    for prefix in ("snn_func_copy.", "snn_ide_fc.snn_func_copy."):
        out.update({f"{prefix}network_x.{k}": val for k, val in copy.items()})
        out[f"{prefix}network_s.fc.weight"] = restricted
