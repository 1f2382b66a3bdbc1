"""Spiking-Mix on CIFAR-10 (our reconstruction of the Spiking-Mix method: its code has no training script
and it publishes no result).

SpikingResformer-Ti with the CIFAR stem, every LIF replaced by the quantised multi-threshold LIF of
``neruon_shared.py`` (two sub-neurons, tau 2, thresholds 0.25 / 0.5, amplitudes 0.25 / 0.5: levels
{0, 0.25, 0.5, 0.75} = {0, v_th/2, v_th, 1.5 v_th} for v_th = 0.5, clipped-ReLU straight-through
gradient), trained with the centre-distance-controlled CutMix (``mix.name='spikingmix'``, theta 1,
delta 0, eps 0.01) and otherwise the SpikingResformer CIFAR recipe (AdamW 5e-4, wd 0.01, cosine,
RandAugment, label smoothing 0.1). Expected: no reference accuracy exists and no run was measured here
(the CPU-scale sweep is ``spikingmix_fmnist_small.py``).

Usage: ``--config configs/spikingmix_cifar.py`` (``:dual`` for the ``neuron_multi.py`` variant,
``:lif`` for the plain spikingjelly LIF).
"""

from snnjax.config import base_config, parse_arg
from snnjax.models.resformer import SPIKINGMIX_NEURONS, model_config, spikingmix_neuron


def get_config(neuron: str = "shared"):
    config = base_config()
    config.data.update(name="cifar10", flip=True,
                       randaugment="rand-m7-n1-mstd0.5-inc1")  # fmt: skip
    config.model = model_config(
        "cifar", num_steps=4, neuron=spikingmix_neuron(parse_arg(neuron, tuple(SPIKINGMIX_NEURONS), "shared"))
    )
    config.loss.update(name="mean_ce", label_smoothing=0.0)
    config.mix.update(name="spikingmix", prob=1.0, cutmix_alpha=1.0, label_smoothing=0.1)
    steps_per_epoch = 50_000 // 128
    config.optim.update(
        name="adamw", learning_rate=5e-4, weight_decay=0.01, schedule="cosine", min_lr=1e-5,
        warmup_steps=3 * steps_per_epoch, warmup_init=2e-2,
    )  # fmt: skip
    config.train.update(batch_size=128, eval_batch_size=500, num_epochs=600, log_every=100)
    return config
