"""The authors' state-dict fixtures (tests/fixtures/make_authors_state_dicts.py) and the reduced configs
they belong to."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from snnjax.config import load_config

AUTHORS = pathlib.Path(__file__).parents[1] / "fixtures" / "authors"

# fixture -> (config, overrides) of the reduced model with that layout
FIXTURES = {
    "gac_cifar": (
        "configs/msresnet_cifar.py",
        ["model.stem_width=8", "model.widths=(16,16,32)", "model.blocks=(2,1,1)", "model.num_steps=4"],
    ),
    "gac_cifar_nogac": (
        "configs/msresnet_cifar.py",
        [
            "model.stem_width=8",
            "model.widths=(16,16,32)",
            "model.blocks=(2,1,1)",
            "model.num_steps=4",
            "model.gac=False",
        ],
    ),
    "gac_imagenet": (
        "configs/msresnet_imagenet.py",
        ["model.stem_width=8", "model.widths=(8,8,16,16)", "model.blocks=(1,2,1,1)", "model.num_steps=4"],
    ),
    "nsnn_resnet19_plif": (
        "configs/nsnn_cifar10_resnet18.py",
        [
            "model.name=nsnn_resnet19",
            "model.width=4",
            "model.neuron.type=lif",
            "model.neuron.learnable_decay=True",
        ],
    ),
    "nsnn_vgg_dvs": ("configs/nsnn_dvs_cifar10_vgg.py", ["model.width=4"]),
    "nsnn_toynet": ("configs/nsnn_fmnist_small.py", ["model.hidden=8"]),
    "resformer_cifar": (
        "configs/spikingresformer_cifar.py",
        [
            "model.variant=custom",
            "model.planes=(8,16,32)",
            "model.num_heads=(1,2,4)",
            "model.patch_sizes=(4,2,1)",
            "model.depths=(1,1,1)",
            "model.stem=cifar",
            "model.group_size=8",
        ],
    ),
    "resformer_plif": (
        "configs/spikingresformer_cifar.py",
        [
            "model.variant=custom",
            "model.planes=(8,16,32)",
            "model.num_heads=(1,2,4)",
            "model.patch_sizes=(4,2,1)",
            "model.depths=(1,1,1)",
            "model.stem=cifar",
            "model.group_size=8",
            "model.neuron.learnable_decay=True",
        ],
    ),
    "spide_cifar": ("configs/spide_cifar.py", ["model.widths=(8,8,16,16,8)"]),
    "spide_dvs": ("configs/spide_dvs_cifar_convnetf.py", ["model.widths=(4,)"]),
    "ide_fc": ("configs/ide_fmnist_fc400.py", ["model.widths=(8,)"]),
    "ide_conv": ("configs/ide_mnist_conv.py", ["model.widths=(4,)"]),
    "ide_cifar": ("configs/ide_cifar.py", ["model.widths=(8,8,16,16,8)"]),
}


def fixture_config(name: str, *extra: str):
    spec, overrides = FIXTURES[name]
    return load_config(spec, [*overrides, *extra])


def authors_state_dict(name: str) -> dict[str, np.ndarray]:
    with np.load(AUTHORS / f"{name}.npz") as archive:
        return {k: archive[k] for k in archive.files}


@pytest.fixture
def fixture_path():
    return lambda name: AUTHORS / f"{name}.npz"
