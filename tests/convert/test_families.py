"""Every family's mapping against state dicts with the authors' key names and shapes: exact import, export
back to the same tensors, snnjax -> PyTorch -> snnjax identity, and one-line errors naming the key and
the config."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from snnjax import convert
from snnjax.config import load_config
from snnjax.convert import rules
from snnjax.errors import ConfigError
from snnjax.train import loop
from tests.convert.conftest import FIXTURES, authors_state_dict, fixture_config


def _values(model) -> dict[str, np.ndarray]:
    return {k: np.asarray(v[...]) for k, v in rules.variables(nnx.state(model, rules.TARGETS)).items()}


def _randomised(model, seed: int = 0):
    """``model`` with every parameter and statistic replaced by random values (flags kept consistent; the
    learnable decays one value, as NSNN's PLIF shares one neuron module between layers)."""
    rng = np.random.default_rng(seed)
    state = nnx.state(model, rules.TARGETS)
    for name, var in rules.variables(state).items():
        if name.endswith("_initialised"):
            var[...] = np.ones(var.shape, np.float32)
        elif name.endswith("decay_param"):
            var[...] = np.full(var.shape, 0.7, np.float32)
        else:
            var[...] = rng.uniform(0.1, 1.0, var.shape).astype(np.float32)
    nnx.update(model, state)
    return model


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_authors_state_dict_imports_and_exports_unchanged(name):
    config = fixture_config(name)
    tensors = authors_state_dict(name)
    model = loop.model_for_summary(config)
    ignored = convert.load_state_dict(model, config, tensors)
    back = convert.state_dict(model, config)
    keep = set(tensors) - set(ignored)
    assert keep <= set(back)
    for key in keep:
        assert back[key].shape == tensors[key].shape, key
        np.testing.assert_array_equal(back[key], tensors[key], err_msg=key)
    if not name.startswith("ide_"):  # IDE adds weight_v and the refreshed copy; the others: the same keys
        assert set(back) == set(tensors)


# every convertible model, reduced where the fixtures are; models without a fixture too
ROUND_TRIP = [(spec, overrides) for spec, overrides in FIXTURES.values()] + [
    (
        "configs/msresnet_imagenet.py",
        [
            "model.stem_width=8",
            "model.widths=(8,8,8,8)",
            "model.blocks=(1,1,1,1)",
            "model.depth=34",
            "model.gac=False",
        ],
    ),
    ("configs/nsnn_cifar10_resnet18.py", ["model.width=4"]),
    ("configs/nsnn_cifar10_resnet18.py", ["model.width=4", "model.name=nsnn_resnet34", "model.bn=False"]),
    ("configs/nsnn_dvs_cifar10_vgg.py", ["model.width=4", "model.name=nsnn_vgg_noap"]),
    ("configs/nsnn_fmnist_small.py", ["model.name=nsnn_cifarnet", "data.name=digits"]),
    ("configs/spikingresformer_cifar.py", ["model.variant=dvsg"]),
    ("configs/spikingresformer_imagenet.py:ti", []),  # the ImageNet stem and every preset's structure
    ("configs/spikingmix_fmnist_small.py", []),
    ("configs/spide_mnist_lenet.py", []),
    ("configs/spide_mnist_convnetf.py", []),
    ("configs/ide_cifar.py:cifarnetf", ["model.widths=(4,8,8,8,4)", "data.name=cifar100"]),
    ("configs/ide_nmnist_conv.py", ["model.widths=(4,)"]),
]


@pytest.mark.parametrize(("spec", "overrides"), ROUND_TRIP)
def test_snnjax_to_pytorch_to_snnjax_is_the_identity(spec, overrides):
    config = load_config(spec, overrides)
    model = _randomised(loop.model_for_summary(config))
    tensors = convert.state_dict(model, config)
    fresh = loop.model_for_summary(config)
    convert.load_state_dict(fresh, config, tensors)
    before, after = _values(model), _values(fresh)
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def _error(name: str, tensors=None, *extra: str) -> str:
    config = fixture_config(name, *extra)
    with pytest.raises(ConfigError) as e:
        convert.load_state_dict(loop.model_for_summary(config), config, tensors or authors_state_dict(name))
    message = str(e.value)
    assert "\n" not in message
    return message


def test_errors_name_the_key_and_the_config():
    head = _error("gac_cifar", None, "data.name=cifar100")  # a CIFAR-10 checkpoint, a CIFAR-100 config
    assert "'fc1.module.weight'" in head and "100 classes" in head and "(10, 32)" in head
    gac_off = _error("gac_cifar", None, "model.gac=False")
    assert "encoding." in gac_off and "GAC off" in gac_off and "gac=True" in gac_off
    gac_on = _error("gac_cifar_nogac", None, "model.gac=True")
    assert "missing key 'encoding." in gac_on and "gac=False" in gac_on
    t = _error("gac_cifar", None, "model.num_steps=6")
    assert "encoding.TA.sharedMLP.0.weight" in t and "T=6" in t and "(2, 4, 1, 1, 1)" in t
    plif = _error("nsnn_resnet19_plif", None, "model.neuron.learnable_decay=False")
    assert "sn.tau" in plif and "learnable_decay=True" in plif


def test_shared_tensors_must_agree():
    tensors = authors_state_dict("spide_cifar")
    tensors["snn_func.network_s_list.0.conv.weight"] = tensors["network_s1.conv.weight"] + 1.0
    assert "'snn_func.network_s_list.0.conv.weight' should hold the same tensor" in _error(
        "spide_cifar", tensors
    )


def test_unconvertible_configs_are_one_line_errors():
    config = load_config("configs/msresnet_imagenet.py", ["model.depth=104"])
    model = nnx.eval_shape(lambda: loop.model_for_summary(config))
    with pytest.raises(ConfigError, match="MS-ResNet-104 has no PyTorch reference layout"):
        convert.mapping_for(model, config)
    config = load_config("configs/quickstart.py")
    with pytest.raises(ConfigError, match="no PyTorch mapping for model"):
        convert.mapping_for(loop.model_for_summary(config), config)
