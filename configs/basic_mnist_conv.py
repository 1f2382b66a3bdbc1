"""SNN basic task: a direct-coded conv SNN on MNIST (the task's conv branch, built on the core).

[Conv3x3(32) -> BN -> LIF -> MaxPool2] -> [Conv3x3(64) -> BN -> LIF -> MaxPool2] -> Linear(256) -> LIF
-> Linear(10) per step, T=4, LIF decay 0.5 / threshold 1 / hard reset / triangle surrogate,
mean-over-time cross-entropy, Adam 1e-3 with cosine decay, batch 64, 4 epochs.
Target: >= 99.2% MNIST test accuracy.

``--config configs/basic_mnist_conv.py:poisson`` uses rate (Poisson) coding of the [0, 1] pixels.
"""

from snnjax.config import base_config


def get_config(coding: str = "direct"):
    config = base_config()
    poisson = coding == "poisson"
    config.data.update(name="mnist", normalize=not poisson)
    config.model.update(
        name="convnet",
        num_steps=8 if poisson else 4,
        encoding="rate" if poisson else "direct",
        channels=(32, 64),
        hidden=(256,),
        readout="logits",
        dropout=0.0,
    )
    config.model.neuron.update(type="lif", decay=0.5, v_th=1.0, reset="hard", surrogate="triangle")
    config.loss.update(name="mean_ce")
    config.optim.update(name="adam", learning_rate=1e-3, schedule="cosine")
    config.train.update(batch_size=64, eval_batch_size=500, num_epochs=4, log_every=50)
    return config
