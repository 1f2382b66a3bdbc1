"""Every shipped config loads with its default arguments and builds its model (abstractly, no data)."""

import pathlib

import pytest
from flax import nnx

from snnjax import models
from snnjax.train import loop
from tests.data.dvs_configs import load_config

CONFIGS = sorted((pathlib.Path(__file__).parents[1] / "configs").glob("*.py"))


def test_every_config_is_found():
    assert len(CONFIGS) >= 20 and {p.stem for p in CONFIGS} >= {
        "quickstart",
        "msresnet_cifar",
        "ide_fmnist_fc400",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_builds_its_model(path):
    config = load_config(path.stem)
    assert config.model.name in models.REGISTRY
    model = nnx.eval_shape(lambda: loop.model_for_summary(config))
    assert models.num_params(model) > 0
