"""The config schema shared by every experiment: ``base_config()`` holds every section and its defaults.

Experiment files in ``configs/`` start from it, override what they reproduce and add the model's own
keys; the CLI locks the result, so a misspelt key is an error instead of a silently ignored setting.
"""

from __future__ import annotations

import ml_collections

from snnjax.data import default_data_config
from snnjax.models.common import neuron_config
from snnjax.train.optim import optim_config
from snnjax.train.steps import loss_config


def train_config(**overrides) -> ml_collections.ConfigDict:
    """The ``train`` section: batch sizes, length, logging and checkpoint cadence."""
    cfg = ml_collections.ConfigDict(
        dict(
            batch_size=128,  # global batch, sharded over all devices
            eval_batch_size=500,
            num_epochs=1,
            num_steps=-1,  # > 0 overrides num_epochs
            log_every=50,
            eval_every_epochs=1.0,
            checkpoint_every_steps=0,  # 0 = at every evaluation
            keep_checkpoints=3,
        )
    )
    cfg.update(overrides)
    return cfg


def mix_config(**overrides) -> ml_collections.ConfigDict:
    """The ``mix`` section: an on-device mix regulariser applied to each training batch."""
    cfg = ml_collections.ConfigDict(
        dict(
            name="none",  # none | mixup | cutmix | mixup_cutmix | spikingmix
            prob=1.0,  # probability that a batch is mixed (the per-batch coin)
            per_epoch_coin=False,  # GAC seed option: one coin per epoch instead of per batch
            mixup_alpha=0.8,  # Beta(alpha, alpha) of Mixup's ratio
            cutmix_alpha=1.0,  # Beta(alpha, alpha) of CutMix's box area
            switch_prob=0.5,  # mixup_cutmix: probability of CutMix instead of Mixup (timm)
            label_smoothing=0.0,  # applied to the mixed soft labels
            # spikingmix source-centre scale gamma(lam) (docs/spikingmix.md; values are our choice)
            centre_theta=1.0,
            centre_delta=0.0,
            centre_eps=0.01,
        )
    )
    cfg.update(overrides)
    return cfg


def base_config() -> ml_collections.ConfigDict:
    """Every section with its defaults; ``model`` holds only the keys all models share."""
    return ml_collections.ConfigDict(
        dict(
            seed=0,
            data=default_data_config(),
            model=dict(
                name="mlp",
                num_steps=4,  # T
                encoding="direct",  # direct | rate | latency
                neuron=neuron_config(),
                remat=False,  # rematerialise each time step in the backward pass
                remat_chunk=0,  # convnet with remat: time steps per checkpointed chunk (0 = ~sqrt(T))
                conv_impl="auto",  # convnet: auto | xla | matmul (snnjax.conv.conv_fn)
            ),
            loss=loss_config(),
            optim=optim_config(),
            mix=mix_config(),
            train=train_config(),
        )
    )
