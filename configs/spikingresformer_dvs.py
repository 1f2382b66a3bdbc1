"""SpikingResformer trained directly on event data (Shi, Hao, Yu, "SpikingResformer: Bridging ResNet and
Vision Transformer in Spiking Neural Networks", CVPR 2024): CIFAR10-DVS (default) or ``:gesture``.

Setting of the authors' ``configs/direct_training/cifar10dvs.yaml`` / ``dvs128gesture.yaml``: T=16 frames of
equal event count (spikingjelly ``split_by='number'``) resized to 64x64, fed as ``[OFF, ON, OFF + ON]``
(``model.sum_channel``, their DVS transform's third channel), batch 8, 300 epochs, AdamW (lr 5e-4 for
CIFAR10-DVS, 1e-4 for Gesture; weight decay 0.05, none on biases, BN parameters and PLIF taus, as timm's
optimizer factory), cosine schedule with 3 warm-up epochs from 1e-5 and
min lr 1e-5, cross-entropy of the time-mean logits. Their ``mixup: True`` only selects the soft-target loss
for event data (no mixing, no label smoothing happens there). CIFAR10-DVS: ``spikingresformer_cifar``
(the Ti widths with the 3x3 stem), 90/10 per-class split; DVS128 Gesture: ``spikingresformer_dvsg``
(planes 32/96/192, group size 32, PLIF neurons), its official trial split.

Training augmentation (the reference's ``DVSAugment``): random horizontal flip, then one of a roll by up to
21 px, a rotation by up to 30 degrees (nearest neighbour) or a 20x20 cutout per sample, the same for all
frames (``data.nda``). Resizing: the reference's antialiased bilinear ``Resize`` (a 1-3-3-1 filter at
128 -> 64 px); snnjax's ``area`` resize averages 2x2 blocks.

Expected (published top-1): CIFAR10-DVS 84.8, DVS128 Gesture 98.6; not trained here (out of reach on a
CPU). Parameters: 10,793,152 (CIFAR10-DVS), 2,709,830 (Gesture, 38 of them PLIF taus). Needs the event
files in ``--config.data.dir``.

Usage: ``--config configs/spikingresformer_dvs.py`` or ``...:gesture``.
"""

from snnjax.config import base_config, parse_arg
from snnjax.models.resformer import model_config

# dataset -> (data name, model variant, learning rate, training examples)
RECIPES = {
    "cifar10_dvs": ("cifar10_dvs", "cifar", 5e-4, 9000),
    "gesture": ("dvs128_gesture", "dvsg", 1e-4, 1176),
}


def get_config(dataset: str = "cifar10_dvs"):
    name, variant, lr, train_examples = RECIPES[parse_arg(dataset, tuple(RECIPES), "cifar10_dvs")]
    config = base_config()
    config.data.update(name=name, num_frames=16, frame_size=64, split_by="number", flip=True, nda=True)
    config.model = model_config(variant, num_steps=16, encoding="events", sum_channel=True)
    config.loss.update(name="mean_ce", label_smoothing=0.0)
    steps_per_epoch = train_examples // 8
    config.optim.update(
        name="adamw", learning_rate=lr, weight_decay=0.05, decay_1d=False, schedule="cosine", min_lr=1e-5,
        warmup_steps=3 * steps_per_epoch, warmup_init=1e-5 / lr,
    )  # fmt: skip
    config.train.update(batch_size=8, eval_batch_size=32, num_epochs=300, log_every=100)
    return config
