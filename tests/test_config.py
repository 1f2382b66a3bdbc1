"""The config layer: the registry tables, the neuron sections, load_config's errors and override parsing."""

import re
import textwrap

import ml_collections
import pytest

from snnjax import neurons
from snnjax import surrogate as sg
from snnjax.config import base_config, load_config, parse_arg
from snnjax.errors import ConfigError
from snnjax.models.common import make_neuron, neuron_config
from snnjax.registry import NEURONS, Registry, parse_spec


def _one_line_error(fn, *args, match: str):
    with pytest.raises(ConfigError, match=re.escape(match)) as info:
        fn(*args)
    assert "\n" not in str(info.value)
    return str(info.value)


# ------------------------------------------------------------------------------------------ registry
def test_registry_register_get_and_names():
    table = Registry("widget")
    table.register("b", 2)

    @table.register("a")
    def a():
        return 1

    assert table.get("a") is a and table.get("b") == 2 and table.names() == ["a", "b"] and "a" in table
    _one_line_error(table.get, "c", match="unknown widget 'c'; choose one of ['a', 'b']")
    with pytest.raises(ValueError, match="registered twice"):
        table.register("b", 3)


def test_parse_spec_forms():
    assert parse_spec("atan") == ("atan", {})
    assert parse_spec("atan(alpha=2, beta=(1, 2), c='x')") == ("atan", {"alpha": 2, "beta": (1, 2), "c": "x"})
    assert parse_spec({"name": "atan", "alpha": 2.0}) == ("atan", {"alpha": 2.0})
    _one_line_error(parse_spec, "atan(alpha=", match="cannot parse")
    _one_line_error(parse_spec, 3, match="expected a component spec")


def test_every_neuron_type_has_a_section_of_its_fields():
    cfg = neuron_config()
    names = ["alif", "cuba_lif", "dual_threshold", "li", "lif", "noisy_lif", "shared_threshold"]
    assert NEURONS.names() == names
    assert set(cfg) == {
        "type",
        "learnable_decay",
        "learnable_threshold",
        "per_channel",
        "unroll",
        *NEURONS.names(),
    }
    assert set(cfg.lif) == {"decay", "tau", "v_th", "v_reset", "charge", "decay_input", "reset",
                            "detach_reset", "surrogate", "inclusive"}  # fmt: skip
    assert set(cfg.noisy_lif) == {"decay", "v_th", "noise", "detach_reset", "noise_mode"}
    for name in NEURONS.names():  # the defaults build the class's default neuron
        cfg.type = name
        assert make_neuron(cfg) == NEURONS.get(name)()


def test_neuron_sections_build_the_configured_neuron():
    cfg = neuron_config(
        "lif", lif=dict(decay=0.25, surrogate="atan(alpha=2)"), noisy_lif=dict(noise="logistic(scale=0.2)")
    )
    assert make_neuron(cfg) == neurons.LIF(decay=0.25, surrogate=sg.ATan(2.0))
    cfg.type = "noisy_lif"  # switching the type keeps each section's settings
    assert make_neuron(cfg) == neurons.NoisyLIF(noise=neurons.LogisticNoise(0.2))
    cfg.type = "dual_threshold"
    cfg.dual_threshold.thresholds = (0.2, 0.6)
    assert make_neuron(cfg).thresholds == (0.2, 0.6)


def test_a_stray_neuron_key_is_an_error():
    stray = {"reset": "hard"}  # the NSNN configs used to set it; NoisyLIF has no reset option
    _one_line_error(lambda: neuron_config("noisy_lif", noisy_lif=stray), match="noisy_lif has no key 'reset'")
    cfg = neuron_config()
    with pytest.raises(AttributeError, match="does not exist"):
        cfg.noisy_lif.decay_input = False  # NoisyLIF has no input decay
    with pytest.raises(AttributeError, match="does not exist"):
        cfg.decay = 0.5  # the old flat key
    cfg.type = "plif"
    _one_line_error(make_neuron, cfg, match="unknown neuron 'plif'; choose one of")


def test_a_hand_built_section_with_a_stray_key_fails_at_build_time():
    cfg = ml_collections.ConfigDict(neuron_config().to_dict())
    cfg.noisy_lif.reset = "hard"
    cfg.type = "noisy_lif"
    _one_line_error(make_neuron, cfg, match="neuron 'noisy_lif' has no key 'reset'")


# --------------------------------------------------------------------------------------- parse_arg
def test_parse_arg():
    assert parse_arg(None, ("a", "b"), "a") == "a"
    assert parse_arg("", ("a", "b"), "a") == "a"
    assert parse_arg(" b ", ("a", "b"), "a") == "b"
    _one_line_error(
        parse_arg, "c", ("a", "b"), "a", match="unknown config argument 'c'; choose one of ['a', 'b']"
    )


# ------------------------------------------------------------------------------------- load_config
def _write(tmp_path, body: str, name: str = "cfg.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


GOOD = """
from snnjax.config import base_config, parse_arg

def get_config(arg: str = "small"):
    config = base_config()
    config.train.batch_size = {"small": 8, "big": 64}[parse_arg(arg, ("small", "big"), "small")]
    return config
"""


def test_load_config_returns_a_locked_config(tmp_path):
    path = _write(tmp_path, GOOD)
    config = load_config(path)
    assert config.train.batch_size == 8 and load_config(f"{path}:big").train.batch_size == 64
    assert config.is_locked
    with pytest.raises(AttributeError):
        config.train.batch_sise = 3


def test_load_config_errors_are_one_line(tmp_path):
    good = _write(tmp_path, GOOD)
    _one_line_error(load_config, str(tmp_path / "nope.py"), match="nope.py not found")
    bad = _write(tmp_path, "def get_config(:\n    pass\n", "syntax.py")
    _one_line_error(load_config, bad, match=f"{bad}:1: syntax error")
    raises = _write(tmp_path, "def get_config():\n    x = 1\n    return {}['missing']\n", "raises.py")
    _one_line_error(load_config, raises, match=f"{raises}:3: KeyError: missing")
    _one_line_error(load_config, f"{good}:huge", match="unknown config argument 'huge'; choose one of")
    no_arg = _write(tmp_path, "from snnjax.config import base_config\nget_config = base_config\n", "noarg.py")
    _one_line_error(load_config, f"{no_arg}:x", match="takes no ':x' argument")
    wrong_type = _write(
        tmp_path,
        "from snnjax.config import base_config\ndef get_config():\n    c = base_config()\n"
        "    c.train.batch_size = 'many'\n    return c\n",
        "wrongtype.py",
    )
    msg = _one_line_error(load_config, wrong_type, match=f"{wrong_type}:4: TypeError")
    assert "batch_size" in msg
    stray = _write(
        tmp_path,
        "from snnjax.config import base_config\ndef get_config():\n    c = base_config()\n"
        "    c.model.neuron.noisy_lif.reset = 'hard'\n    return c\n",
        "stray.py",
    )
    _one_line_error(load_config, stray, match=f"{stray}:4: AttributeError")


def test_overrides_are_parsed_by_the_field_type(tmp_path):
    path = _write(tmp_path, GOOD)
    config = load_config(
        path,
        [
            "train.batch_size=32",
            "train.eval_every_epochs=2",
            "model.remat=true",
            "optim.decay_epochs=(3, 6)",
            "optim.name=sgd",
            "model.neuron.lif.surrogate=atan(alpha=2.0)",
            "model.neuron.dual_threshold.thresholds=(0.1, 0.2)",
            "--config.model.neuron.type=noisy_lif",
        ],
    )
    assert config.train.batch_size == 32 and config.train.eval_every_epochs == 2.0
    assert config.model.remat is True and config.optim.decay_epochs == (3, 6) and config.optim.name == "sgd"
    assert config.model.neuron.lif.surrogate == "atan(alpha=2.0)"
    assert config.model.neuron.dual_threshold.thresholds == (0.1, 0.2)
    assert config.model.neuron.type == "noisy_lif"
    assert load_config(path, ["optim.decay_epochs=5"]).optim.decay_epochs == (5,)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.batch_sise=3", "unknown config key 'batch_sise' in train; valid keys in train: ["),
        ("trian.batch_size=3", "unknown config key 'trian'; valid keys: ["),
        ("model.neuron.noisy_lif.reset=hard", "unknown config key 'reset' in model.neuron.noisy_lif"),
        ("train.batch_size=3.5", "config key 'train.batch_size' needs a int, got '3.5'"),
        ("model.remat=maybe", "config key 'model.remat' needs a bool"),
        ("optim.learning_rate=fast", "config key 'optim.learning_rate' needs a float"),
        ("train", "is not of the form a.b.c=value"),
        ("model.neuron=lif", "is a section"),
    ],
)
def test_bad_overrides_are_one_line_errors(tmp_path, override, message):
    msg = _one_line_error(load_config, _write(tmp_path, GOOD), [override], match=message)
    if "valid keys in train" in message:
        assert "batch_size" in msg and "eval_batch_size" in msg


def test_base_config_sections():
    config = base_config()
    assert set(config) == {"seed", "data", "model", "loss", "optim", "mix", "train", "eval"}
    assert set(config.model) == {"name", "num_steps", "encoding", "neuron", "remat", "dtype"}
