"""SpikingResformer on ImageNet-1k (Shi et al., CVPR 2024), variants Ti / S / M / L.

Setting of the authors' ``configs/main/spikingresformer_*.yaml``: T=4, 224 px, batch 32/GPU x 8 = 256, 320
epochs, AdamW lr 1e-3 wd 0.01, cosine with 3 warm-up epochs from 1e-5 and min lr 1e-5, RandAugment
rand-m7-mstd0.5-inc1, timm Mixup(0.2)/CutMix(1.0) switched with probability 0.5 on every batch, label
smoothing 0.1, loss = CE of the time-averaged logits. Expected (published top-1): Ti 74.34, S 75.95, M
77.24, L 78.77; not trained here. Parameters (all trainable, BN included; ``--mode=summary``): Ti
11,180,992, S 17,813,824, M 35,601,472, L 60,375,680.

Usage: ``--config configs/spikingresformer_imagenet.py:s`` (or ``--config.model.variant=s``).
The authors' 10 cool-down epochs at min lr are not modelled (the cosine ends at min lr instead).
"""

from snnjax.config import base_config, parse_arg
from snnjax.models.resformer import model_config

EPOCHS = 320
TRAIN_IMAGES = 1_281_167


def get_config(variant: str = "ti"):
    config = base_config()
    config.data.update(name="imagenet2012", image_size=224, randaugment="rand-m7-mstd0.5-inc1", flip=True)
    config.model = model_config(parse_arg(variant, ("ti", "s", "m", "l"), "ti"), num_steps=4)
    config.loss.update(name="mean_ce", label_smoothing=0.0)
    config.mix.update(
        name="mixup_cutmix", prob=1.0, mixup_alpha=0.2, cutmix_alpha=1.0, switch_prob=0.5, label_smoothing=0.1
    )
    steps_per_epoch = TRAIN_IMAGES // 256
    config.optim.update(
        name="adamw", learning_rate=1e-3, weight_decay=0.01, schedule="cosine", min_lr=1e-5,
        warmup_steps=3 * steps_per_epoch, warmup_init=1e-2,
    )  # fmt: skip
    config.train.update(batch_size=256, eval_batch_size=250, num_epochs=EPOCHS, log_every=100)
    return config
