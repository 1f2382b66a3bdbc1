"""SpikingResformer (xyshi2000/SpikingResformer ``models/spikingresformer.py``) and Spiking-Mix (the same
network with parameter-free multi-threshold neurons) <-> ``spikingresformer``.

``prologue.{0,1}`` (stem conv, ``BN`` wrapper ``.bn``), stage ``i`` sub-layer ``j`` at ``layers.{i}.{j}``
(stage ``i > 0`` starts with a ``DownsampleLayer``: ``conv``, ``norm``), ``DSSA``: ``W`` (p x p conv C -> 2C),
``norm``, ``Wproj``, ``norm_proj`` and the buffers ``firing_rate_x`` / ``firing_rate_attn``
(``[1, 1, heads, 1, 1]``); ``GWFFN``: ``up`` / ``conv.0`` / ``down`` = ``Sequential(neuron, conv, BN)``;
head ``classifier``.
PLIF neurons (variant ``dvsg``, or ``learnable_decay``) own a scalar ``w`` with ``1 / tau = sigmoid(w)``,
which is what snnjax stores for a learnable ``tau`` charge.
"""

from __future__ import annotations

from snnjax.convert.rules import Mapping, NonZeroFlag, Reshape, Rule, batch_norm, conv
from snnjax.convert.rules import linear as linear_rules
from snnjax.models import resformer


def describe(cfg, num_classes: int) -> str:
    return (
        f"config spikingresformer({cfg.variant}, neuron {cfg.neuron.type}, learnable_decay "
        f"{cfg.neuron.learnable_decay}, {num_classes} classes)"
    )


def _neuron(layer, target: str, source: str) -> list[Rule]:
    hint = "learnable decay: the checkpoint needs PLIF neurons (variant dvsg or neuron.learnable_decay=True)"
    return [Rule(f"{target}.decay_param", f"{source}.w", hint=hint)] if layer.decay_param is not None else []


def _conv_bn(target: str, conv_key: str, bn_key: str) -> list[Rule]:
    return conv(f"{target}.conv", conv_key) + batch_norm(f"{target}.bn", f"{bn_key}.bn")


def _dssa(block, t: str, s: str) -> list[Rule]:
    heads = (1, 1, block.heads, 1, 1)
    rules = _conv_bn(f"{t}.qk", f"{s}.W", f"{s}.norm") + _conv_bn(f"{t}.proj", f"{s}.Wproj", f"{s}.norm_proj")
    rules += [
        Rule(f"{t}.rate_x", f"{s}.firing_rate_x", Reshape(heads)),
        Rule(f"{t}.rate_attn", f"{s}.firing_rate_attn", Reshape(heads)),
        Rule(f"{t}.rate_x_initialised", f"{s}.firing_rate_x", NonZeroFlag(heads)),
        Rule(f"{t}.rate_attn_initialised", f"{s}.firing_rate_attn", NonZeroFlag(heads)),
    ]
    for name, key in (
        ("act_in", "activation_in"),
        ("act_attn", "activation_attn"),
        ("act_out", "activation_out"),
    ):
        rules += _neuron(getattr(block, name), f"{t}.{name}", f"{s}.{key}")
    return rules


def _gwffn(block, t: str, s: str) -> list[Rule]:
    rules = []
    for name, act, key in (
        ("up", "act_up", "up"),
        ("conv", "act_conv", "conv.0"),
        ("down", "act_down", "down"),
    ):
        rules += _conv_bn(f"{t}.{name}", f"{s}.{key}.1", f"{s}.{key}.2")
        rules += _neuron(getattr(block, act), f"{t}.{act}", f"{s}.{key}.0")
    return rules


def _downsample(block, t: str, s: str) -> list[Rule]:
    return _conv_bn(f"{t}.conv", f"{s}.conv", f"{s}.norm") + _neuron(block.act, f"{t}.act", f"{s}.activation")


def mapping(model, cfg, num_classes: int, input_shape) -> Mapping:
    _, _, _, depths, _, _, _ = resformer.resolve(cfg)
    rules = conv("stem.conv", "prologue.0") + batch_norm("stem.bn", "prologue.1.bn")
    names = []
    for i, depth in enumerate(depths):
        names += [f"layers.{i}.{j}" for j in range(2 * depth + (i > 0))]
    build = {resformer.DSSA: _dssa, resformer.GWFFN: _gwffn, resformer.Downsample: _downsample}
    for k, (name, block) in enumerate(zip(names, model.blocks, strict=True)):
        rules += build[type(block)](block, f"blocks.{k}", name)
    rules += linear_rules(
        "head", "classifier", bias=False, hint=f"the config's dataset has {num_classes} classes"
    )
    unexpected = (
        (r".*\.w$", "the checkpoint has PLIF neurons: variant dvsg or neuron.learnable_decay=True"),
    )
    return Mapping(rules, describe(cfg, num_classes), unexpected_hints=unexpected)
