"""NSNN on Fashion-MNIST at CPU scale (SEEDS.md 3 and 7): LIF vs noisy LIF plus robustness sweeps.

The seed's MNIST ToyNet widened to 256 hidden neurons:
``Flatten -> Linear(784 -> 256, no bias) -> sn -> Linear(256 -> 10, no bias)``, T=4, direct coding of raw
[0, 1] pixels (``normalize=False``, so perturbation strengths are in pixel units), NSNN neurons (decay
1/tau = 0.5, threshold 1, hard reset not detached), per-step cross-entropy (TET loss with lambda 0, the
seed's default), Adam 1e-3 with cosine decay, batch 128, 10 epochs (about 1.5-2.5 min on 2 cores).

Neuron: noisy LIF by default; ``--config.model.neuron.noise=gaussian|logistic|triangular|uniform`` and
``--config.model.neuron.noise_scale=0.3`` choose the family, ``--config.model.neuron.type=lif`` the
deterministic LIF (erf surrogate, alpha 1, as the seed's LIF) and ``type=plif`` a learnable decay.
Measured numbers: docs/nsnn.md.
"""

from snnjax.analysis.robustness import robustness_config
from snnjax.config import base_config
from snnjax.models.nsnn import noisy_lif_neuron, nsnn_model_config


def get_config():
    config = base_config()
    config.data.update(name="fashion_mnist", normalize=False)
    config.model.update(name="nsnn_toynet", num_steps=4, encoding="direct", **nsnn_model_config(hidden=256))
    config.model.neuron.update(**noisy_lif_neuron(noise_scale=0.3))
    config.loss.update(name="tet", tet_lambda=0.0)
    config.optim.update(name="adam", learning_rate=1e-3, schedule="cosine")
    config.train.update(batch_size=128, eval_batch_size=500, num_epochs=10, log_every=100)
    config.robustness = robustness_config(
        num_examples=2000,
        repeats=4,
        gaussian=(0.0, 0.1, 0.2, 0.4, 0.8),
        multiplicative=(0.0, 0.2, 0.5, 1.0),
        salt_pepper=(0.0, 0.03, 0.1, 0.2),
        fgsm=(0.0, 0.02, 0.05, 0.1, 0.2),
        ifgsm=(0.0, 0.02, 0.05, 0.1),
        spike_flip=(0.0, 0.05, 0.1, 0.2, 0.4),
    )
    return config
