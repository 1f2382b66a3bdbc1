"""GAC-MS-ResNet-18 / -34 / -104 on ImageNet-1k (Qiu et al., AAAI 2024).

Setting of the authors' ImageNet code: T=4, total batch 256, SGD momentum 0.9 lr 0.1 weight decay 1e-5,
cosine over 250 epochs, RandomResizedCrop(224) + flip (test: resize 256 + centre crop 224), CE with label
smoothing 0.1, CutMix branch; neuron: LIF decay 0.25, V_th 0.5, detached hard reset, rectangular surrogate
of width 1; tdBN weight 0.5 (= V_th), zero-initialised second BN per block, kaiming-normal (fan_out)
convs. Expected (published top-1, T=4/6): ResNet-18 64.05/65.14 (1.49/2.34 mJ), ResNet-34 69.77/70.42
(2.20/3.38 mJ); 11.82M / 21.93M parameters. Not trained here.

``:104``: the 104-layer model the authors' run script names (their repository ships none): stem of three
Conv3x3 (first stride 2) + tdBN, stages [3, 8, 32, 8] at 64/128/256/512, AvgPool-Conv1x1-tdBN
downsampling shortcuts, dropout 0.2 before the head, same neuron and recipe; no published number.

Usage: ``--config configs/msresnet_imagenet.py:34 --config.model.num_steps=6``; ``config.data.dir`` = ''
uses tfds's prepared ``imagenet2012``. The authors' neurons always run 4 steps (zeros after them) whatever
T is; here they run all T unless ``--config.model.time_window=4`` (the same at T=4).
"""

from snnjax.config import base_config, parse_arg
from snnjax.models.msresnet import model_config


def get_config(depth: str = "18"):
    config = base_config()
    config.data.update(name="imagenet2012", dir="", image_size=224, flip=True)
    config.model = model_config("imagenet", int(parse_arg(depth, ("18", "34", "104"), "18")), num_steps=4)
    config.loss.update(name="mean_ce", label_smoothing=0.1)
    config.mix.update(name="cutmix", prob=0.5, cutmix_alpha=1.0)
    config.optim.update(name="sgd", learning_rate=0.1, momentum=0.9, weight_decay=1e-5, schedule="cosine")
    config.train.update(batch_size=256, eval_batch_size=250, num_epochs=250, log_every=100)
    return config
