"""GAC-MS-ResNet-104 on ImageNet-1k (the GAC ImageNet run.sh names ``resnet104``; SEEDS.md 2.3).

The GAC repository ships no 104-layer model; this follows SEEDS.md's description of the MS-ResNet-family
code: stem of three Conv3x3 (first stride 2) + tdBN, stages [3, 8, 32, 8] at 64/128/256/512 (first block
of every stage strided), AvgPool-Conv1x1-tdBN downsampling shortcuts, dropout 0.2 before the head; the
neuron (decay 0.25, V_th 0.5, detached reset, rectangle width 1), BN init and recipe are those of
configs/msresnet_imagenet.py. The GAC README reports no result for it (unverified against the
MS-ResNet paper).

Usage: ``--config configs/msresnet104_imagenet.py [--config.model.num_steps=6]``.
"""

from snnjax.config import base_config
from snnjax.models.msresnet import model_config


def get_config():
    config = base_config()
    config.data.update(name="imagenet2012", dir="", image_size=224, flip=True)
    config.model = model_config("imagenet", 104, num_steps=4)
    config.loss.update(name="mean_ce", label_smoothing=0.1)
    config.mix.update(name="cutmix", prob=0.5, cutmix_alpha=1.0)
    config.optim.update(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=1e-5, schedule="cosine")
    config.train.update(batch_size=256, eval_batch_size=250, num_epochs=250, log_every=100)
    return config
