"""NSNN networks (genema/Noisy-Spiking-Neuron-Nets ``models/snn.py``, ``models/toy_net.py``) <-> ``nsnn_*``.

Layers sit in ``tdLayer(layer, bn)`` (``.layer.module`` and ``.bn.tdbn.module``) or ``Seq2ANN``
(``.module``). ResNets: stem ``conv1``, blocks ``layer{s}.{j}.{conv1,conv2,downsample}``, head ``fc1``
(ResNet-19: ``fc1`` -> sn -> ``fc2``). VGGSNN / CIFARNet: ``features.{k}.fwd.module.{0,1}`` (conv with
bias, BN; ``k`` counts the pooling layers too), ``classifier``. ToyNet: ``layer.bn`` (the Linear, passed
to ``tdLayer`` as its ``bn``), ``fc.layer.module``. PLIF neurons (``config.model.neuron.learnable_decay``)
own ``sn.tau`` (``[1]``, the decay ``1/tau``); one ``sn`` serves the stem and head, one per block both
activations.
"""

from __future__ import annotations

from snnjax.convert.rules import Mapping, Reshape, Rule, batch_norm, conv, linear
from snnjax.models import nsnn

PLIF = Reshape((1,))


def describe(cfg, num_classes: int) -> str:
    return (
        f"config {cfg.name}(width {cfg.width}, bn {cfg.bn}, learnable_decay "
        f"{cfg.neuron.learnable_decay}, {num_classes} classes)"
    )


def _plif(cfg, target: str, source: str) -> list[Rule]:
    hint = "config.model.neuron.learnable_decay=True: the checkpoint needs PLIF neurons"
    return (
        [Rule(f"{target}.decay_param", f"{source}.tau", PLIF, hint=hint)]
        if cfg.neuron.learnable_decay
        else []
    )


def _conv_bn(cfg, target_conv: str, target_bn: str, source: str) -> list[Rule]:
    rules = conv(target_conv, f"{source}.layer.module")
    return rules + (batch_norm(target_bn, f"{source}.bn.tdbn.module") if cfg.bn else [])


def resnet(model, cfg, num_classes: int, input_shape) -> Mapping:
    _, blocks, _, head_hidden = nsnn.RESNETS[cfg.name]
    rules = _conv_bn(cfg, "stem", "stem_bn", "conv1") + _plif(cfg, "stem_sn", "sn")
    names = [f"layer{s + 1}.{j}" for s, n in enumerate(blocks) for j in range(n)]
    for i, (name, block) in enumerate(zip(names, model.blocks, strict=True)):
        b = f"blocks.{i}"
        rules += _conv_bn(cfg, f"{b}.conv1", f"{b}.bn1", f"{name}.conv1")
        rules += _conv_bn(cfg, f"{b}.conv2", f"{b}.bn2", f"{name}.conv2")
        if block.down is not None:
            rules += _conv_bn(cfg, f"{b}.down", f"{b}.down_bn", f"{name}.downsample")
        rules += _plif(cfg, f"{b}.sn1", f"{name}.sn") + _plif(cfg, f"{b}.sn2", f"{name}.sn")
    if head_hidden:
        rules += linear("fc1", "fc1.layer.module") + _plif(cfg, "fc_sn", "sn")
        rules += linear("fc", "fc2.layer.module", hint=_head_hint(num_classes))
    else:
        rules += linear("fc", "fc1.layer.module", hint=_head_hint(num_classes))
    return Mapping(rules, describe(cfg, num_classes), unexpected_hints=_UNEXPECTED)


def _head_hint(num_classes: int) -> str:
    return f"the config's dataset has {num_classes} classes"


_UNEXPECTED = (
    (r".*\.bn\.tdbn\.", "the checkpoint has BatchNorm: set --config.model.bn=True"),
    (r".*tau$", "the checkpoint has PLIF neurons: set --config.model.neuron.learnable_decay=True"),
)


def _flat_chw(channels: int, in_features: int, hw: tuple[int, int]) -> tuple[int, int, int]:
    h, w = hw
    assert h * w * channels == in_features, (h, w, channels, in_features)
    return channels, h, w


def vgg(model, cfg, num_classes: int, input_shape) -> Mapping:
    pool = model.pool
    spec = nsnn.VGG_LAYERS
    h, w, _ = input_shape
    rules, i = [], 0
    for k, item in enumerate(spec if pool else [s for s in spec if s != "P"]):
        if item == "P":
            continue
        name = f"features.{k}"
        rules += conv(f"convs.{i}", f"{name}.fwd.module.0", bias=True)
        if cfg.bn:
            rules += batch_norm(f"norms.{i}", f"{name}.fwd.module.1")
        rules += _plif(cfg, f"neurons.{i}", f"{name}.sn")
        if model.pools[i]:
            h, w = (h // 2, w // 2) if pool else ((h + 1) // 2, (w + 1) // 2)
        i += 1
    chw = _flat_chw(model.convs[-1].out_features, model.fc.in_features, (h, w))
    rules += linear("fc", "classifier.module", chw=chw, hint=_head_hint(num_classes))
    unexpected = (
        (r"features\.\d+\.fwd\.module\.1\.", "the authors' VGGSNN has BatchNorm: config.model.bn=True"),
        *_UNEXPECTED,
    )
    return Mapping(rules, describe(cfg, num_classes), unexpected_hints=unexpected)


def cifarnet(model, cfg, num_classes: int, input_shape) -> Mapping:
    h, w, _ = input_shape
    rules, i = [], 0
    for k, item in enumerate((128, 256, "P", 512, "P", 1024, 512)):
        if item == "P":
            h, w = h // 2, w // 2
            continue
        rules += conv(f"convs.{i}", f"features.{k}.fwd.module.0", bias=True)
        if cfg.bn:
            rules += batch_norm(f"norms.{i}", f"features.{k}.fwd.module.1")
        rules += _plif(cfg, f"neurons.{i}", f"features.{k}.sn")
        i += 1
    chw = _flat_chw(model.convs[-1].out_features, model.fcs[0].in_features, (h, w))
    rules += linear("fcs.0", "classifier.0.module", chw=chw)
    rules += linear("fcs.1", "classifier.1.module")
    rules += linear("fcs.2", "classifier.2.module", hint=_head_hint(num_classes))
    return Mapping(rules, describe(cfg, num_classes), unexpected_hints=_UNEXPECTED)


def toynet(model, cfg, num_classes: int, input_shape) -> Mapping:
    h, w, c = input_shape
    rules = linear("fc1", "layer.bn", bias=False, chw=(c, h, w))
    rules += _plif(cfg, "sn", "sn")
    rules += linear("fc2", "fc.layer.module", bias=False, hint=_head_hint(num_classes))
    return Mapping(rules, describe(cfg, num_classes), unexpected_hints=_UNEXPECTED)
