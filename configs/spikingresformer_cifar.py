"""SpikingResformer-Ti (CIFAR stem) trained directly on CIFAR-10 / CIFAR-100 (Shi, Hao, Yu,
"SpikingResformer: Bridging ResNet and Vision Transformer in Spiking Neural Networks", CVPR 2024).

Setting of the authors' ``configs/direct_training/cifar10.yaml``: ``spikingresformer_cifar``, T=4, batch
128, 600 epochs, AdamW lr 5e-4 wd 0.01, cosine (3 warm-up epochs from 1e-5, min lr 1e-5), RandAugment
rand-m7-n1-mstd0.5-inc1, horizontal flip, timm Mixup alpha 0.5 (CutMix off) on every batch, label
smoothing 0.1. Expected (published top-1): CIFAR-10 97.40, CIFAR-100 85.98; not trained here. Parameters:
10,793,152 (CIFAR-10), 10,816,192 (CIFAR-100).

Usage: ``--config configs/spikingresformer_cifar.py`` or ``...:cifar100``.
"""

from snnjax.config import base_config, parse_arg
from snnjax.models.resformer import model_config


def get_config(dataset: str = "cifar10"):
    config = base_config()
    config.data.update(name=parse_arg(dataset, ("cifar10", "cifar100"), "cifar10"), flip=True,
                       randaugment="rand-m7-n1-mstd0.5-inc1")  # fmt: skip
    config.model = model_config("cifar", num_steps=4)
    config.loss.update(name="mean_ce", label_smoothing=0.0)
    config.mix.update(name="mixup", prob=1.0, mixup_alpha=0.5, cutmix_alpha=0.0, label_smoothing=0.1)
    steps_per_epoch = 50_000 // 128
    config.optim.update(
        name="adamw", learning_rate=5e-4, weight_decay=0.01, schedule="cosine", min_lr=1e-5,
        warmup_steps=3 * steps_per_epoch, warmup_init=2e-2,
    )  # fmt: skip
    config.train.update(batch_size=128, eval_batch_size=500, num_epochs=600, log_every=100)
    return config
