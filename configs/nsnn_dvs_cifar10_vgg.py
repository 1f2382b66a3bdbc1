"""NSNN (Ma et al., Patterns 2023), DVS-CIFAR10 run of the authors' ``run_training.sh``: noisy LIF
(Gaussian, sigma 0.2) VGGSNN.

``--neuron NILIF --model vgg --epochs 210 --minibatch 32 --timestep 10 --lr 0.0003 --sigma 0.2``:
TET's VGGSNN on 48x48 two-polarity event frames, T=10, NILIF (decay 0.5, threshold 1, hard reset),
per-step cross-entropy, Adam 3e-4 with cosine decay over 210 epochs, random horizontal flip and random
roll by up to +-5 pixels during training. Needs the CIFAR10-DVS files in ``--config.data.dir``.
Noise as the authors' code applies it: twice per step (a sample subtracted from the membrane, then a
Bernoulli draw with the noise CDF), so the firing rate follows the CDF of the sum of two noises;
``--config.model.neuron.noisy_lif.noise_mode=paper`` applies it once, as the paper describes
(docs/nsnn.md).
Expected: the authors publish no accuracy for this run; not trained here (out of reach on a CPU).

``:noap`` swaps in TET's VGGSNNwoAP (defined in the authors' ``snn.py``, not offered by their script): the
conv before each average pool has stride 2 instead (48 -> 24 -> 12 -> 6 -> 3) and there are no pools;
same recipe and parameter count (9,271,498). Expected: no published accuracy; not trained here.
"""

from snnjax.analysis.robustness import robustness_config
from snnjax.config import base_config, parse_arg
from snnjax.models import nsnn


def get_config(pooling: str = "avgpool"):
    pooling = parse_arg(pooling, ("avgpool", "noap"), "avgpool")
    model = "nsnn_vgg" if pooling == "avgpool" else "nsnn_vgg_noap"
    config = base_config()
    config.data.update(name="cifar10_dvs", flip=True, roll=5, num_frames=10)
    config.model = nsnn.model_config(
        model, num_steps=10, encoding="events", neuron=nsnn.noisy_lif_neuron(0.2)
    )
    config.loss.update(name="tet", tet_lambda=0.0)
    config.optim.update(name="adam", learning_rate=3e-4, weight_decay=0.0, schedule="cosine")
    config.train.update(batch_size=32, eval_batch_size=100, num_epochs=210, log_every=50)
    config.robustness = robustness_config(
        num_examples=0,
        repeats=4,
        gaussian=(0.0, 0.1, 0.2, 0.5, 1.0),  # in event-count units
        multiplicative=(0.0, 0.2, 0.5, 1.0),
        salt_pepper=(0.0, 0.01, 0.03, 0.1),
        fgsm=(0.0, 0.01, 0.03, 0.1),
        ifgsm=(0.0, 0.01, 0.03, 0.1),
        spike_flip=(0.0, 0.01, 0.05, 0.1, 0.2),
    )
    return config
