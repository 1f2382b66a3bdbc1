"""The authors' PyTorch weights in and out of snnjax.

::

    python -m snnjax.convert --config configs/msresnet_cifar.py:cifar100 --from CIFAR100_T=6.pth --workdir W
    python -m snnjax.main --config configs/msresnet_cifar.py:cifar100 --workdir W --mode=eval
    python -m snnjax.convert --workdir W --to weights.safetensors        # and back, with the authors' keys

:func:`to_workdir` maps a state dict (``.pth``/``.pt``, ``.npz``, ``.safetensors``;
:mod:`~snnjax.convert.formats`) onto the model of a config by that family's mapping
(:mod:`~snnjax.convert.families`) and writes a normal workdir: ``config.json`` and a verified orbax
checkpoint (step 0, a fresh optimiser state) that ``--mode=eval``, ``snnjax.load``, the analysis modes and
``--mode=train`` (fine-tuning) accept. :func:`from_workdir` writes a workdir's weights back under the
authors' key names. The mapping is strict (:func:`snnjax.convert.rules.load_into`).
"""

from __future__ import annotations

import math
from typing import Any

import ml_collections
import numpy as np
from etils import epath
from flax import nnx

from snnjax.convert.formats import read_state_dict, write_state_dict
from snnjax.convert.rules import Mapping, export, load_into
from snnjax.errors import ConfigError

__all__ = [
    "from_workdir",
    "load_state_dict",
    "mapping_for",
    "read_state_dict",
    "state_dict",
    "to_workdir",
    "write_state_dict",
]


def mapping_for(model: nnx.Module, config: ml_collections.ConfigDict) -> Mapping:
    """The PyTorch <-> snnjax mapping of ``config``'s model (raises ConfigError for a model without one)."""
    from snnjax.convert.families import FAMILIES
    from snnjax.data import specs

    name = config.model.name
    if name not in FAMILIES:
        raise ConfigError(
            f"no PyTorch mapping for model {name!r}; convertible: {', '.join(sorted(FAMILIES))}"
        )
    num_classes, shape = specs.input_info(config.data)
    return FAMILIES[name](model, config.model, num_classes, tuple(shape))


def load_state_dict(model: nnx.Module, config: ml_collections.ConfigDict, tensors: dict[str, np.ndarray]):
    """Assigns a PyTorch state dict to ``model`` (in place, strictly); returns the keys it ignored."""
    return load_into(model, mapping_for(model, config), tensors)


def state_dict(model: nnx.Module, config: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
    """``model``'s weights as the authors' PyTorch state dict (numpy arrays)."""
    return export(model, mapping_for(model, config))


def _train_state(model: nnx.Module, config: ml_collections.ConfigDict) -> Any:
    """The checkpointed training state of ``model``: the structure ``snnjax.train`` saves and restores."""
    from snnjax.train.optim import make_optimizer

    tx, _ = make_optimizer(config.optim, int(config.optim.warmup_steps) + 1000, 1)
    model.train()
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    _, _, state = nnx.split((model, optimizer), nnx.RngState, ...)
    return state


def to_workdir(config: ml_collections.ConfigDict, source: epath.PathLike, workdir: epath.PathLike) -> dict:
    """Converts the PyTorch weights in ``source`` for ``config`` into a new workdir; returns a summary."""
    from snnjax.train import loop
    from snnjax.train.checkpoint import Checkpointer

    workdir = epath.Path(workdir)
    if (workdir / "checkpoints").exists() and any((workdir / "checkpoints").iterdir()):
        raise ConfigError(f"{workdir} already holds checkpoints: convert into a new --workdir")
    tensors = read_state_dict(source)
    model = loop.model_for_summary(config)
    ignored = load_state_dict(model, config, tensors)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2, sort_keys=True))
    meta = {"step": 0, "wall_time_s": 0.0, "converted_from": epath.Path(source).name}
    with Checkpointer(workdir, keep=config.train.keep_checkpoints) as ckpt:
        ckpt.save(0, _train_state(model, config), loop.FIRST_BATCH, meta)
        ckpt.wait()
    params = sum(math.prod(np.shape(x)) for x in tensors.values())
    return {
        "workdir": str(workdir),
        "source": str(source),
        "tensors": len(tensors),
        "values": params,
        "ignored": sorted(ignored),
        "model": config.model.name,
    }


def from_workdir(workdir: epath.PathLike, out: epath.PathLike, checkpoint: str = "latest") -> dict:
    """Writes the weights of ``workdir``'s checkpoint as the authors' state dict (``.npz`` or
    ``.safetensors``)."""
    from snnjax.inference import load

    model, config = load(workdir, checkpoint)
    tensors = state_dict(model, config)
    path = write_state_dict(tensors, out)
    return {"out": str(path), "tensors": len(tensors), "model": config.model.name}
