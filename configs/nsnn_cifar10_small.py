"""NSNN (Ma et al., Patterns 2023) on CIFAR-10 at CPU scale: the authors' ResNet-18 recipe
(``nsnn_cifar10_resnet18``) shrunk to a 16-width spiking ResNet-18 (``width=16``, 0.7 M parameters), T=2,
batch 128, 2 epochs, no AutoAugment (crop + flip only). Noisy LIF (Gaussian, sigma 0.3) by default; switch
the neuron as in ``nsnn_fmnist_small`` (``--config.model.neuron.type=lif`` or
``--config.model.neuron.noisy_lif.noise=...``). Use ``--config.train.num_steps`` to cut a run short on a
slow machine.

Noise as the authors' code applies it: twice per step (a sample subtracted from the membrane, then a
Bernoulli draw with the noise CDF), so the firing rate follows the CDF of the sum of two noises;
``--config.model.neuron.noisy_lif.noise_mode=paper`` applies it once, as the paper describes
(docs/nsnn.md).

Expected: no published number for this reduced net and no measured run recorded in README/docs.
"""

from snnjax.analysis.robustness import robustness_config
from snnjax.config import base_config
from snnjax.models import nsnn


def get_config():
    config = base_config()
    config.data.update(name="cifar10", normalize=True, crop_padding=4, flip=True)
    config.model = nsnn.model_config(
        "nsnn_resnet18", num_steps=2, width=16, neuron=nsnn.noisy_lif_neuron(0.3)
    )
    config.loss.update(name="tet", tet_lambda=0.0)
    config.optim.update(name="adam", learning_rate=3e-3, schedule="cosine")
    config.train.update(batch_size=128, eval_batch_size=500, num_epochs=2, log_every=20)
    config.robustness = robustness_config(
        num_examples=1000,
        repeats=2,
        gaussian=(0.0, 0.05, 0.1, 0.2, 0.4),  # normalised-input units
        fgsm=(0.0, 0.01, 0.03, 0.1),
        ifgsm=(0.0, 0.01, 0.03),
        spike_flip=(0.0, 0.05, 0.1, 0.2),
    )
    return config
