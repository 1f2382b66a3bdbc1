"""Recurrent spiking network for sequences: images read row by row (one row per time step).

``rows -> Linear -> recurrent neuron layer -> Linear -> leaky-integrator readout``. The image ``[B, H, W,
C]`` becomes the sequence ``[T = H, B, W * C]``, so the network sees one row per step and must keep what
it saw in its recurrent spikes and its neurons' state (an adaptive threshold, for ALIF). The readout is a
non-spiking :class:`~snnjax.neurons.LI` whose membranes ``[T, B, classes]`` are the outputs.
"""

from __future__ import annotations

import ml_collections
from flax import nnx
from jax import Array

from snnjax import layers
from snnjax.errors import ConfigError
from snnjax.models import register
from snnjax.models.common import model_config as shared_model_config
from snnjax.models.common import neuron_config, recurrent_spiking_neuron, set_fields, spiking_neuron
from snnjax.neurons import LI

MODEL_KEYS = dict(
    hidden=128,  # neurons of the recurrent layer
    recurrent=True,  # False: the same layer without recurrent weights (an ablation)
    readout_decay=0.8,  # leak of the LI readout membrane
)


def model_config(**overrides) -> ml_collections.ConfigDict:
    """The ``config.model`` section of the row-by-row recurrent SNN (ALIF neurons by default)."""
    cfg = shared_model_config("rsnn", **MODEL_KEYS)
    cfg.neuron = neuron_config("alif")
    cfg.num_steps = 8
    set_fields(cfg, overrides, "model")
    return cfg


@register("rsnn")
class RecurrentSNN(nnx.Module):
    """Row-by-row recurrent SNN; maps images ``[B, H, W, C]`` to readout membranes ``[T = H, B, classes]``."""

    def __init__(self, cfg: ml_collections.ConfigDict, num_classes: int, input_shape, *, rngs: nnx.Rngs):
        height, width, channels = input_shape
        if cfg.num_steps != height:
            raise ConfigError(
                f"model.num_steps={cfg.num_steps} must equal the image height {height} (one row per step)"
            )
        if cfg.encoding != "direct":
            raise ConfigError(
                f"model.encoding={cfg.encoding!r}: the rsnn model reads rows directly; use 'direct'"
            )
        self.fc_in = nnx.Linear(width * channels, cfg.hidden, rngs=rngs)
        if cfg.recurrent:
            self.neuron = recurrent_spiking_neuron(cfg.neuron, cfg.hidden, rngs=rngs, remat=cfg.remat)
        else:
            self.neuron = spiking_neuron(cfg.neuron, rngs=rngs, remat=cfg.remat, features=cfg.hidden)
        self.fc_out = nnx.Linear(cfg.hidden, num_classes, rngs=rngs)
        self.readout = layers.SpikingNeuron(LI(decay=float(cfg.readout_decay)))
        # energy accounting (snnjax.analysis.energy): (layer, MACs per example and step, source). The rows
        # differ at every step, so the input layer's analog MACs run T times; the recurrent product sits
        # inside the time loop, where a traced count would not see it.
        recurrent = [("neuron.recurrent", cfg.hidden * cfg.hidden, "neuron")] if cfg.recurrent else []
        self.synapses = (
            ("fc_in", height * width * channels * cfg.hidden, "analog"),
            *recurrent,
            ("fc_out", cfg.hidden * num_classes, "neuron"),
        )

    def __call__(self, x: Array) -> Array:
        if x.ndim != 4:
            raise ConfigError(f"the rsnn model reads images [B, H, W, C] row by row, got shape {x.shape}")
        rows = x.transpose(1, 0, 2, 3).reshape(x.shape[1], x.shape[0], -1)  # [T = H, B, W * C]
        s = self.neuron(layers.time_folded(self.fc_in, rows))  # spikes [T, B, hidden]
        return self.readout(layers.time_folded(self.fc_out, s))  # membranes [T, B, classes]
