"""Runs the walkthroughs of docs/extending.md and checks that what they add really works.

Each ``## `` section's ```python blocks run in order, in a fresh namespace. A block whose first line names a
file under ``snnjax/`` (``# snnjax/neurons/refractory.py``) is executed as that module, as if the file were
saved and imported; a block naming ``configs/<name>.py`` is written to a temporary folder and loaded with
``load_config``; any other block runs in the section's namespace. Every module, registry entry and dataset
the walkthrough adds is removed after the test.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from snnjax import data, models
from snnjax.config import load_config
from snnjax.losses import make_loss
from snnjax.registry import MODELS, NEURONS
from snnjax.train import loop
from snnjax.train.optim import make_optimizer
from snnjax.train.steps import Steps, call_recorded

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending.md"
HEADER = re.compile(r"#\s*((?:snnjax|configs)/[\w/]+\.py)\s*$")


def python_blocks() -> dict[str, list[str]]:
    """The ```python blocks of each ``## `` section of the walkthrough, by section title, in order."""
    sections: dict[str, list[str]] = {}
    title = None
    for part in re.split(r"^## (.+)$", DOC.read_text(), flags=re.M)[1:]:
        if title is None:
            title = part.strip()
            continue
        sections[title] = re.findall(r"^```python\n(.*?)^```", part, flags=re.S | re.M)
        title = None
    return sections


class Walkthrough:
    """What running one section left behind: its namespace, the modules it defined, its config files."""

    def __init__(self, namespace: dict, modules: dict[str, types.ModuleType], configs: dict[str, Path]):
        self.namespace, self.modules, self.configs = namespace, modules, configs


@pytest.fixture
def walkthrough(monkeypatch, tmp_path):
    """``run(title)`` executes one section of the walkthrough; registrations are undone afterwards."""
    monkeypatch.chdir(ROOT)  # the blocks name configs relative to the repository
    tables = (NEURONS._entries, MODELS._entries, data.DATASETS)
    before = [set(table) for table in tables]

    def run(title: str) -> Walkthrough:
        namespace: dict = {"__name__": "walkthrough"}
        modules: dict[str, types.ModuleType] = {}
        configs: dict[str, Path] = {}
        blocks = python_blocks()[title]
        assert blocks, f"section {title!r} has no python blocks"
        for code in blocks:
            header = HEADER.match(code.splitlines()[0])
            path = header.group(1) if header else ""
            if path.startswith("configs/"):
                configs[path] = tmp_path / path
                configs[path].parent.mkdir(exist_ok=True)
                configs[path].write_text(code)
            elif path:
                name = path.removesuffix(".py").replace("/", ".")
                parent, _, leaf = name.rpartition(".")
                module = types.ModuleType(name)
                module.__file__ = str(tmp_path / path)
                monkeypatch.setitem(sys.modules, name, module)
                exec(compile(code, path, "exec"), module.__dict__)
                monkeypatch.setattr(importlib.import_module(parent), leaf, module, raising=False)
                modules[path] = module
            else:
                exec(compile(code, f"{DOC.name}: {title}", "exec"), namespace)
        return Walkthrough(namespace, modules, configs)

    yield run
    for table, names in zip(tables, before, strict=True):
        for name in set(table) - names:
            del table[name]


def test_doc_sections_and_cli_lines():
    blocks = python_blocks()
    assert list(blocks) == ["Adding a neuron", "Adding a model", "Adding a dataset"]
    text = DOC.read_text()
    for flag in ("--config.model.neuron.type=refractory_lif", "configs/readout_digits.py --mode=summary",
                 "--config configs/stripes_mlp.py"):  # fmt: skip
        assert flag in text
    assert not (ROOT / "docs" / "extending_data.md").exists()  # folded into extending.md


# ------------------------------------------------------------------------------------------ a neuron


def test_new_neuron(walkthrough):
    w = walkthrough("Adding a neuron")
    ns = w.namespace
    assert "refractory_lif" in NEURONS
    cls = NEURONS.get("refractory_lif")
    assert not cls.stochastic

    # the hand-computed trace of the doc's table
    np.testing.assert_array_equal(ns["spikes"][:, 0], [0, 1, 0, 0, 0, 1])
    np.testing.assert_allclose(ns["states"].v[:, 0], [0.6, 0, 0, 0, 0.7, 0], atol=1e-6)
    np.testing.assert_array_equal(ns["states"].wait[:, 0], [0, 2, 1, 0, 0, 2])
    assert ns["states"].wait.dtype == jnp.int32

    # the config: the type's section holds its fields, the override reached the neuron
    config = ns["config"]
    assert config.model.neuron.type == "refractory_lif"
    assert dict(config.model.neuron.refractory_lif) == dict(
        decay=0.5, v_th=1.0, v_reset=0.0, refractory=3, surrogate="triangle(gamma=1.0)"
    )
    assert ns["neuron"] == cls(refractory=3)
    # layer on [T, B, F] at 0.8: 0.8, 1.2 fires, 3 silent steps, 0.8, 1.2 fires, silent
    out = ns["out"]
    assert out.shape == (8, 32, 256)
    np.testing.assert_array_equal(out[:, 0, 0], [0, 1, 0, 0, 0, 0, 1, 0])
    assert np.all(out == out[:, :1, :1])

    # the quick-start model with this neuron takes a real train step with finite values
    rngs = nnx.Rngs(params=0, noise=1, dropout=2, encoding=3)
    model = models.create(config.model, 10, (8, 8, 1), rngs=rngs)
    assert all(type(n.neuron) is cls for n in model.hidden_neurons)
    kernel0 = np.asarray(model.hidden[0].kernel[...])
    tx, _ = make_optimizer(config.optim, 10, 10)
    steps = Steps(model, nnx.Optimizer(model, tx, wrt=nnx.Param), make_loss(config.loss), loop.make_mesh())
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.normal(size=(8, 8, 8, 1)).astype(np.float32),
        "label": rng.integers(0, 10, 8).astype(np.int32),
        "mask": np.ones(8, bool),
    }
    steps.state, metrics = steps.train_step(steps.state, steps.shard_batch(batch), jax.random.key(0))
    metrics = jax.device_get(metrics)
    assert np.isfinite(metrics["loss"]) and 0 < metrics["firing_rate"] < 1
    kernel1 = np.asarray(steps.model(train=True).hidden[0].kernel[...])
    assert np.all(np.isfinite(kernel1)) and not np.allclose(kernel0, kernel1)  # surrogate grads flowed

    # PLIF: the layer can learn the neuron's decay
    plif = load_config("configs/quickstart.py", ["model.neuron.type=refractory_lif",
                                                 "model.neuron.learnable_decay=true"])  # fmt: skip
    model = models.create(plif.model, 10, (8, 8, 1), rngs=nnx.Rngs(0))
    mean_out = lambda m, x: jnp.mean(call_recorded(m, x)[0])
    grads = nnx.jit(nnx.grad(mean_out))(model, jnp.asarray(batch["image"]))
    g = grads.hidden_neurons[0].decay_param[...]
    assert np.isfinite(g) and g != 0


# ------------------------------------------------------------------------------------------- a model


def test_new_model(walkthrough):
    w = walkthrough("Adding a model")
    assert "readout_mlp" in MODELS
    config = load_config(str(w.configs["configs/readout_digits.py"]))
    assert config.model.name == "readout_mlp"
    assert (config.model.hidden, config.model.readout_decay, config.model.num_steps) == (128, 0.8, 8)

    hidden = 128
    expected = 64 * hidden + hidden + hidden * 10 + 10
    assert expected == 9610  # the count the doc states
    summary = loop.model_for_summary(config)
    assert type(summary).__name__ == "ReadoutMLP" and models.num_params(summary) == expected
    wider = load_config(str(w.configs["configs/readout_digits.py"]), ["model.hidden=32"])
    assert models.num_params(loop.model_for_summary(wider)) == 64 * 32 + 32 + 32 * 10 + 10

    model = models.create(config.model, 10, (8, 8, 1), rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 8, 8, 1)), jnp.float32)
    out = call_recorded(model, x)[0]
    assert out.shape == (8, 4, 10) and bool(jnp.all(jnp.isfinite(out)))
    grads = nnx.jit(nnx.grad(lambda m, x: jnp.mean(call_recorded(m, x)[0] ** 2)))(model, x)
    g = grads.fc1.kernel[...]
    assert bool(jnp.all(jnp.isfinite(g))) and bool(jnp.any(g != 0))  # through the spiking layer

    # the readout is a leaky integrator: constant current 1 gives u_t = sum_{k <= t} 0.8^k
    model.fc2.kernel[...] = jnp.zeros_like(model.fc2.kernel[...])
    model.fc2.bias[...] = jnp.ones_like(model.fc2.bias[...])
    want = np.cumsum(0.8 ** np.arange(8))
    np.testing.assert_allclose(call_recorded(model, x)[0][:, 0, 0], want, rtol=1e-6)


# ----------------------------------------------------------------------------------------- a dataset


def write_stripes(directory: Path, n: int) -> None:
    """``<split>.npz`` with ``x`` uint8 [n, 6, 6] whose bright row (0, 2 or 4) is the label ``y``."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True)
    for split in ("train", "test"):
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 60, (n, 6, 6)).astype(np.uint8)
        x[np.arange(n), 2 * y] = 255
        np.savez(directory / f"{split}.npz", x=x, y=y)


def test_new_dataset(walkthrough, tmp_path):
    w = walkthrough("Adding a dataset")
    assert data.dataset_spec("stripes").read is w.modules["snnjax/data/stripes.py"].read_stripes
    raw = tmp_path / "raw"
    write_stripes(raw, n=40)
    config = load_config(str(w.configs["configs/stripes_mlp.py"]), [f"data.dir={raw}", "data.prefetch=0"])
    assert (config.data.name, config.data.flip, config.data.crop_padding) == ("stripes", True, 1)

    hosts = dict(process_index=0, process_count=1)
    train = data.make_pipeline(config.data, split="train", global_batch_size=8, seed=0, train=True, **hosts)
    batch = next(train)
    assert batch["image"].shape == (8, 6, 6, 1) and batch["image"].dtype == np.float32
    assert batch["label"].dtype == np.int32 and batch["label"].max() <= 2 and batch["mask"].all()
    assert train.info == data.DataInfo("stripes", 3, (6, 6, 1), 40, 40, steps_per_epoch=5)
    assert (raw / "tfds" / "snnjax_stripes" / "1.0.0" / "dataset_info.json").is_file()

    test = data.make_pipeline(config.data, split="test", global_batch_size=16, seed=0, train=False, **hosts)
    with np.load(raw / "test.npz") as z:
        want = (z["x"][..., None] / 255.0 - 0.3) / 0.4  # the entry's mean and std
    got = np.concatenate([b["image"][b["mask"]] for b in test])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    # --mode=summary needs no data: the mlp sizes itself from the entry
    assert data.input_info(config.data) == (3, (6, 6, 1))
    summary = loop.model_for_summary(config)
    assert models.num_params(summary) == 36 * 64 + 64 + 64 * 3 + 3
    out, recorded = call_recorded(summary, jnp.asarray(batch["image"]))
    assert out.shape == (4, 8, 3) and bool(jnp.all(jnp.isfinite(out))) and 0 <= recorded["firing_rate"] <= 1
