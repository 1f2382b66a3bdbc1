"""NSNN (Ma et al., Patterns 2023) on Fashion-MNIST at CPU scale: LIF vs noisy LIF plus robustness sweeps.

The authors' MNIST ToyNet widened to 256 hidden neurons:
``Flatten -> Linear(784 -> 256, no bias) -> sn -> Linear(256 -> 10, no bias)``, T=4, direct coding of raw
[0, 1] pixels (``normalize=False``, so perturbation strengths are in pixel units), NSNN neurons (decay
1/tau = 0.5, threshold 1, hard reset not detached), per-step cross-entropy (TET loss with lambda 0, the
authors' default), Adam 1e-3 with cosine decay, batch 128, 10 epochs (about 1.5-2.5 min on 2 cores).

Neuron: noisy LIF by default; ``--config.model.neuron.noisy_lif.noise='logistic(scale=0.3)'`` (or
``gaussian(sigma=..)``, ``triangular(a=..)``, ``uniform(a=..)``) chooses the family,
``--config.model.neuron.type=lif`` the deterministic LIF (erf surrogate, alpha 1, as the authors' LIF) and
``--config.model.neuron.learnable_decay=True`` a learnable decay (PLIF).
Noise as the authors' code applies it: twice per step (a sample subtracted from the membrane, then a
Bernoulli draw with the noise CDF), so the firing rate follows the CDF of the sum of two noises;
``--config.model.neuron.noisy_lif.noise_mode=paper`` applies it once, as the paper describes
(docs/nsnn.md).
Expected: no published number for this setting; measured clean test accuracy 87.85% (noisy LIF,
Gaussian 0.3) and 87.95% (LIF) (README, NSNN; robustness curves in docs/nsnn.md).
"""

from snnjax.analysis.robustness import robustness_config
from snnjax.config import base_config
from snnjax.models import nsnn


def get_config():
    config = base_config()
    config.data.update(name="fashion_mnist", normalize=False)
    config.model = nsnn.model_config(
        "nsnn_toynet", num_steps=4, hidden=256, neuron=nsnn.noisy_lif_neuron(0.3)
    )
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
