"""snnjax: spiking neural networks in JAX/Flax.

The subpackages load on first use, so ``import snnjax`` is cheap and does not start JAX (the CLI sets
CPU runtime options before JAX starts; a program of one's own calls ``snnjax.runtime.setup()`` first,
see ``snnjax.runtime``)::

    import snnjax
    snnjax.runtime.setup()                            # CPU: retained malloc, XLA's own convolutions
    neuron = snnjax.neurons.LIF(decay=0.5)            # a pure neuron step record
    layer = snnjax.layers.SpikingNeuron(neuron)       # [T, B, ...] -> spikes [T, B, ...]
    config = snnjax.config.load_config("configs/quickstart.py")
    model, config = snnjax.load("workdirs/quickstart")  # a trained workdir (snnjax.inference)
    scores = snnjax.predict(model, images, config)    # uint8 [B, H, W, C] -> [B, num_classes]

Core: ``surrogate``, ``neurons``, ``dynamics``, ``encoding``, ``layers``, ``losses``, ``implicit``,
``augment``, ``regularizers``, ``conv``,
``remat``, ``runtime``. Around it: ``registry`` (named neurons, surrogates, encoders,
losses, optimisers, mixes, models), ``config``, ``models``, ``data``, ``train``, ``inference`` (``load``,
``predict``), ``convert`` (the authors' PyTorch weights in and out), ``analysis``, ``nir`` (NIR
export/import), ``errors``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "analysis",
    "augment",
    "config",
    "conv",
    "convert",
    "data",
    "dynamics",
    "encoding",
    "errors",
    "implicit",
    "inference",
    "layers",
    "losses",
    "models",
    "neurons",
    "nir",
    "registry",
    "regularizers",
    "remat",
    "runtime",
    "surrogate",
    "train",
)

_FUNCTIONS = {"load": "inference", "predict": "inference"}  # name -> submodule defining it

__all__ = ["__version__", *_FUNCTIONS, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"snnjax.{_FUNCTIONS[name]}"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"snnjax.{name}")
    raise AttributeError(f"module 'snnjax' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
