"""GAC-MS-ResNet-18 (CIFAR variant) on CIFAR-10 / CIFAR-100 (Qiu et al., "Gated Attention Coding for
Training High-performance and Efficient Spiking Neural Networks", AAAI 2024).

Setting of the authors' CIFAR code: T=6, batch 64, SGD momentum 0.9 lr 0.1 weight decay 5e-5, cosine to 0
over 250 epochs, RandomCrop(32, pad 4) + horizontal flip + per-dataset normalisation, CutMix (Beta(1, 1),
prob 0.5), plain CE on the time-averaged logits; neuron: LIF decay 0.5, V_th 1, hard reset not detached,
triangle surrogate gamma 1. Expected (published top-1, T=6/4/2): CIFAR-10 96.46/96.24/96.18, CIFAR-100
80.45/79.83/78.92; 12.63M parameters (CIFAR-10 head; ``--mode=summary`` prints 12,633,198). Not trained
here (out of reach on a CPU; the small ablation is ``msresnet_cifar_small.py``).

The authors' code draws the CutMix coin once per epoch (whole epochs mixed or not):
``--config.mix.per_epoch_coin`` reproduces it; the default here is the usual per-batch coin. Without GAC:
``--config.model.gac=False``.

Usage: ``--config configs/msresnet_cifar.py`` (CIFAR-10) or ``configs/msresnet_cifar.py:cifar100``;
``--config.model.num_steps=4`` (or 2) for the other time steps (GAC is rebuilt for that T).
"""

from snnjax.config import base_config, parse_arg
from snnjax.models.msresnet import model_config


def get_config(dataset: str = "cifar10"):
    config = base_config()
    config.seed = 1000
    config.data.update(name=parse_arg(dataset, ("cifar10", "cifar100"), "cifar10"), crop_padding=4, flip=True)
    if config.data.name == "cifar100":
        config.data.dir = ""
    config.model = model_config("cifar", 18, num_steps=6)
    config.loss.update(name="mean_ce", label_smoothing=0.0)
    config.mix.update(name="cutmix", prob=0.5, cutmix_alpha=1.0, per_epoch_coin=False)
    config.optim.update(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-5, schedule="cosine")
    config.train.update(batch_size=64, eval_batch_size=500, num_epochs=250, log_every=100)
    return config
