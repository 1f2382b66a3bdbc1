"""NSNN (Ma, Yan, Tang, "Exploiting noise as a resource for computation and learning in spiking neural
networks", Patterns 2023), CIFAR-10 run of the authors' ``run_training.sh``: noisy LIF (Gaussian, sigma
0.3) ResNet-18.

``--neuron NILIF --model sresnet18 --epochs 300 --minibatch 256 --timestep 2 --lr 0.003 --sigma 0.3``:
64-width spiking ResNet-18, T=2 direct coding, NILIF (decay 1/tau = 0.5, threshold 1, hard reset not
detached, noise-density surrogate), per-step cross-entropy (TET loss with lambda 0, the ``--reg no``
default of ``run_training.sh``), Adam 3e-3 (no weight decay) with cosine decay to 0 over 300 epochs (per
step here, per epoch in the authors' code), RandomCrop(32, pad 4) + flip + AutoAugment (CIFAR-10 policy) +
normalisation. The neuron stays stochastic at test time; ``--mode=robustness`` sweeps the perturbations.

Noise as the authors' code applies it: twice per step (a sample subtracted from the membrane, then a
Bernoulli draw with the noise CDF), so the firing rate follows the CDF of the sum of two noises;
``--config.model.neuron.noisy_lif.noise_mode=paper`` applies it once, as the paper describes
(docs/nsnn.md).
Deterministic baseline: ``--config.model.neuron.type=lif`` (erf surrogate, alpha 1, as the authors' LIF).
Expected: the authors publish no accuracy for this run; not trained here (out of reach on a CPU).

Other architectures of the authors' ``main_cifar10.py --model`` with the same recipe (their parameter
counts are checked in ``tests/test_configs.py``):
  * ``:resnet19`` (``sresnet19``, the scripts' default model): 3x3 stem 64, stages 128x3, 256x3, 512x2,
    head ``Linear(512, 256) -> sn -> Linear(256, 10)``; 12,630,858 parameters.
  * ``:resnet34`` (``spiking_resnet34``, defined in the authors' ``snn.py`` but not offered by the script):
    64-width ResNet-34 with the 3x3 stem; 21,282,122 parameters.
  * ``:cifarnet`` (``cifarnet``): convs (each with BN) 128, 256, P, 512, P, 1024, 512, then three Linears
    without neurons between them (as coded); 45,007,882 parameters.
Expected for every variant: no published accuracy; not trained here.
"""

from snnjax.analysis.robustness import robustness_config
from snnjax.config import base_config, parse_arg
from snnjax.models import nsnn

MODELS = {"resnet18": "nsnn_resnet18", "resnet19": "nsnn_resnet19", "resnet34": "nsnn_resnet34",
          "cifarnet": "nsnn_cifarnet"}  # fmt: skip


def get_config(model: str = "resnet18"):
    model = MODELS[parse_arg(model, tuple(MODELS), "resnet18")]
    config = base_config()
    config.seed = 1
    config.data.update(name="cifar10", normalize=True, crop_padding=4, flip=True, autoaugment="cifar10")
    config.model = nsnn.model_config(model, num_steps=2, neuron=nsnn.noisy_lif_neuron(0.3))
    config.loss.update(name="tet", tet_lambda=0.0)
    config.optim.update(name="adam", learning_rate=3e-3, weight_decay=0.0, schedule="cosine", min_lr=0.0)
    config.train.update(batch_size=256, eval_batch_size=500, num_epochs=300, log_every=50)
    config.robustness = robustness_config(
        num_examples=0,
        repeats=4,
        gaussian=(0.0, 0.05, 0.1, 0.2, 0.4),  # in normalised-input units (about 5x the pixel scale)
        multiplicative=(0.0, 0.1, 0.2, 0.5),
        salt_pepper=(0.0, 0.01, 0.03, 0.05, 0.1),
        fgsm=(0.0, 0.01, 0.03, 0.05, 0.1),
        ifgsm=(0.0, 0.01, 0.03, 0.05, 0.1),
        spike_flip=(0.0, 0.01, 0.05, 0.1, 0.2),
    )
    return config
