"""Every shipped config and variant loads through ``snnjax.config.load_config`` and builds its model
(abstractly, no data) with the parameter count it had before the config layer was rewritten."""

import pathlib

import pytest
from flax import nnx

from snnjax import models
from snnjax.config import load_config
from snnjax.registry import MODELS
from snnjax.train import loop

CONFIGS = pathlib.Path(__file__).parents[1] / "configs"
# config[:arg] -> trainable parameters
PARAMS = {
    "basic_mnist_conv": 824554,
    "basic_mnist_conv:poisson": 824554,
    "basic_mnist_hybrid": 7850,
    "basic_mnist_hybrid:as_coded": 7850,
    "basic_mnist_hybrid:intended": 7853,
    "basic_mnist_mlp": 238521,
    "basic_nmnist_conv": 18254,  # 2*12*25 + 12 + 12*32*25 + 32 + 800*10 + 10, as the task's net
    "basic_nmnist_conv:notebook": 18254,
    "basic_mnist_mlp:poisson": 238521,
    "ide_cifar": 3709518,  # 3,709,515 (hand count in tests/models/feedback/test_ide_cifar.py) + probe
    "ide_cifar:cifarnetf": 11840014,
    "ide_fmnist_fc400": 478814,
    "ide_mnist_conv": 229646,
    "ide_mnist_conv:if": 229646,
    "ide_nmnist_conv": 269646,  # 2*64*25 + 64 + 2*64 (BN) + 64*64*25 + 1 (gain) + 16*16*64*10 + 10 + probe
    "ide_nmnist_conv:if": 269646,
    "msresnet_cifar": 12633198,
    "msresnet_cifar:cifar100": 12679368,
    "msresnet_cifar_small": 86250,
    "msresnet_imagenet": 11824824,
    "msresnet_imagenet:34": 21932984,
    "msresnet_imagenet:104": 77481656,
    "nsnn_cifar10_resnet18": 11173962,
    # hand-counted from the authors' layer lists (PyTorch counting: BN weight + bias)
    "nsnn_cifar10_resnet18:resnet19": 12630858,
    "nsnn_cifar10_resnet18:resnet34": 21282122,
    "nsnn_cifar10_resnet18:cifarnet": 45007882,
    "nsnn_cifar10_small": 701466,
    "nsnn_dvs_cifar10_vgg": 9271498,
    "nsnn_dvs_cifar10_vgg:noap": 9271498,
    "nsnn_fmnist_small": 203264,
    "quickstart": 19210,
    "rsnn_digits": 18826,
    "spide_cifar": 3706765,
    "spide_cifar:cifarnetf": 11835149,
    "spide_dvs_cifar_convnetf": 9586189,
    "spide_mnist_convnetf": 274829,
    "spide_mnist_lenet": 606743,
    "spikingmix_cifar": 10793152,
    "spikingmix_cifar:dual": 10793152,
    "spikingmix_cifar:lif": 10793152,
    "spikingmix_fmnist_small": 131632,
    "spikingmix_fmnist_small:shared,mix": 131632,
    "spikingmix_fmnist_small:dual,mix": 131632,
    "spikingmix_fmnist_small:lif": 131632,
    "spikingresformer_cifar": 10793152,
    "spikingresformer_cifar:cifar100": 10827712,
    "spikingresformer_dvs": 10793152,  # the reference's 3-channel stem ([OFF, ON, OFF + ON])
    "spikingresformer_dvs:gesture": 2709830,
    "spikingresformer_imagenet:ti": 11180992,
    "spikingresformer_imagenet:s": 17813824,
    "spikingresformer_imagenet:m": 35601472,
    "spikingresformer_imagenet:l": 60375680,
}
SOLVER_PROBE = 3  # the feedback models' solver statistics: counted in PARAMS, no longer an nnx.Param


def test_every_config_file_is_covered():
    assert {p.stem for p in CONFIGS.glob("*.py")} - {"__init__"} == {k.partition(":")[0] for k in PARAMS}


@pytest.mark.parametrize("spec", PARAMS)
def test_config_builds_its_model_with_the_same_parameter_count(spec):
    name, _, arg = spec.partition(":")
    config = load_config(str(CONFIGS / f"{name}.py") + (f":{arg}" if arg else ""))
    assert config.is_locked and config.model.name in MODELS
    count = models.num_params(nnx.eval_shape(lambda: loop.model_for_summary(config)))
    expected = PARAMS[spec]
    if name.startswith(("spide", "ide")):
        assert count == expected - SOLVER_PROBE
    else:
        assert count == expected
