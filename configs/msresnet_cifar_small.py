"""Reduced-width GAC-MS-ResNet on CIFAR-10 for a CPU: the GAC on/off ablation of Qiu et al. (AAAI 2024) at
small scale.

Same variant, neuron (GAC-CIFAR LIF), BN and recipe as configs/msresnet_cifar.py, scaled down: stem width
16, stages [1, 1, 1] at 16/32/64, T=4, batch 64, SGD lr 0.1 cosine over ``config.train.num_steps`` (600).
Only relative comparisons (GAC vs direct coding) are meaningful; the paper's claim is for the full net
(CIFAR-10 96.24% at T=4). Expected: measured after one epoch (781 steps) 39.80% with GAC, 47.61% without
(README, GAC; one seed, the network without GAC is ahead at this size).

Usage: ``--config configs/msresnet_cifar_small.py --config.train.num_steps=600`` and
``--config.model.gac=False`` for the baseline (stem output fed straight into the first block).
"""

from snnjax.config import base_config
from snnjax.models.msresnet import model_config


def get_config():
    config = base_config()
    config.seed = 1000
    config.data.update(name="cifar10", crop_padding=4, flip=True)
    config.model = model_config(
        "cifar", 18, num_steps=4, gac=True, stem_width=16, widths=(16, 32, 64), blocks=(1, 1, 1)
    )
    config.loss.update(name="mean_ce", label_smoothing=0.0)
    config.mix.update(name="cutmix", prob=0.5, cutmix_alpha=1.0, per_epoch_coin=False)
    config.optim.update(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-5, schedule="cosine")
    config.train.update(batch_size=64, eval_batch_size=500, num_steps=600, eval_every_epochs=100.0,
                        log_every=50)  # fmt: skip
    return config
