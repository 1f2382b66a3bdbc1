"""GAC MS-ResNet (bollossom/GAC) <-> ``msresnet``.

CIFAR code (``CODE/CIFAR/models/MS_ResNet.py``): every layer sits in a ``SeqToANNContainer`` (``.module``):
``conv1.module`` + ``bn1.module`` stem, ``layer{1,2,3}.{j}.{conv1,bn1,conv2,bn2}.module`` and
``downsample.module.{0,1}`` (conv, BN), head ``fc1.module``. ImageNet code (``CODE/ImageNet/models/
MS_ResNet.py``): stem ``conv1.{0,1}``, blocks ``conv{2..5}_x.{j}.{conv1,conv2}`` with tdBN
``{bn1,bn2}.bn`` (a ``BatchNorm3d``) and ``shortcut.{0,1}``, head ``fc1`` (also registered as
``fc1_s.layer.module``). Both: GAC under ``encoding`` (``TA.sharedMLP.{0,2}``: 1x1x1 ``Conv3d`` over time,
``SCA.sharedMLP.{0,2}``: k x k convs).
"""

from __future__ import annotations

from snnjax.convert.rules import Linear, Mapping, Pointwise3d, Rule, batch_norm, conv, linear
from snnjax.errors import ConfigError
from snnjax.models import msresnet


def describe(cfg, num_classes: int) -> str:
    gac = "on" if cfg.gac else "off"
    return (
        f"config msresnet({cfg.variant}, depth {cfg.depth}, GAC {gac}, T={cfg.num_steps}, "
        f"{num_classes} classes)"
    )


def _gac(cfg) -> list[Rule]:
    if not cfg.gac:
        return []
    t_hint = (
        f"GAC's temporal attention is built for T=config.model.num_steps={cfg.num_steps}: use the T the "
        "checkpoint was trained with"
    )
    gac_hint = "config.model.gac=True: a checkpoint without GAC needs --config.model.gac=False"
    return [
        Rule("gac.ta.w1", "encoding.TA.sharedMLP.0.weight", Pointwise3d(), hint=t_hint, missing=gac_hint),
        Rule("gac.ta.w2", "encoding.TA.sharedMLP.2.weight", Pointwise3d(), hint=t_hint, missing=gac_hint),
        *conv("gac.sca.conv1", "encoding.SCA.sharedMLP.0", hint=gac_hint),
        *conv("gac.sca.conv2", "encoding.SCA.sharedMLP.2", hint=gac_hint),
    ]


# The authors' key of each block layer (after the block's name), per code path; sc_* only where the block
# has a projection shortcut.
CIFAR_BLOCK_KEYS = dict(
    conv1="conv1.module", bn1="bn1.module", conv2="conv2.module", bn2="bn2.module",
    sc_conv="downsample.module.0", sc_bn="downsample.module.1",
)  # fmt: skip
IMAGENET_BLOCK_KEYS = dict(
    conv1="conv1", bn1="bn1.bn", conv2="conv2", bn2="bn2.bn", sc_conv="shortcut.0", sc_bn="shortcut.1.bn"
)


def block_rules(model, blocks, stage: str, keys: dict[str, str], first_stage: int = 1) -> list:
    """The rules of every residual block: ``blocks.<i>.<layer>`` <- ``<stage>.<j>.<key>``, the stages
    named ``stage.format(first_stage + s)``."""
    names = [f"{stage.format(first_stage + s)}.{j}" for s, n in enumerate(blocks) for j in range(n)]
    rules = []
    for i, (name, block) in enumerate(zip(names, model.blocks, strict=True)):
        for ours, theirs in keys.items():
            if ours.startswith("sc_") and not block.has_shortcut:
                continue
            make = conv if "conv" in ours else batch_norm
            rules += make(f"blocks.{i}.{ours}", f"{name}.{theirs}")
    return rules


def mapping(model, cfg, num_classes: int, input_shape) -> Mapping:
    stem, _, blocks, *_ = msresnet.resolve(cfg)
    where = describe(cfg, num_classes)
    head_hint = (
        f"the head has {num_classes} classes for config.data.name; a checkpoint of another dataset "
        "(e.g. CIFAR-10 vs CIFAR-100) needs that dataset's config"
    )
    unexpected = ((r"encoding\.", "the checkpoint has GAC weights: set --config.model.gac=True"),)
    if stem == "cifar":
        rules = [*conv("stem.conv", "conv1.module"), *batch_norm("stem.bn", "bn1.module")]
        rules += block_rules(model, blocks, "layer{}", CIFAR_BLOCK_KEYS)
        rules += linear("head", "fc1.module", hint=head_hint)
    elif stem == "imagenet":
        rules = [*conv("stem.conv", "conv1.0"), *batch_norm("stem.bn", "conv1.1.bn")]
        rules += block_rules(model, blocks, "conv{}_x", IMAGENET_BLOCK_KEYS, first_stage=2)
        rules += [
            Rule("head.kernel", "fc1.weight", Linear(), ("fc1_s.layer.module.weight",), head_hint),
            Rule("head.bias", "fc1.bias", aliases=("fc1_s.layer.module.bias",), hint=head_hint),
        ]
    else:
        raise ConfigError(
            f"{where}: MS-ResNet-{cfg.depth} has no PyTorch reference layout in the GAC code; convertible "
            "are variant cifar (depth 18) and imagenet (depth 18, 34)"
        )
    return Mapping(rules + _gac(cfg), where, unexpected_hints=unexpected)
