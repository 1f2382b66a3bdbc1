"""SNN basic task (xjtulyc/SNN_basic_task, ``spiking/neuron.py``; SEEDS.md 4.1): snnTorch LIF MLP on MNIST.

784-300-10, snnTorch ``Leaky`` semantics (subtract reset applied after the decay at the next step,
detached; threshold 1; fast-sigmoid surrogate slope 25), learnable decays (hidden: one scalar beta
initialised 0.9; output: one beta per class initialised U[0, 1)), pixels in [0, 1], T=25 (the seed's
comment; its code uses 100), spike-count MSE loss (correct 0.8, incorrect 0.2), Adam 2e-3, batch 128.
The seed trains one epoch at a constant rate and reports no number; we train 10 with cosine decay
(measured: 97.23% MNIST test accuracy, see README).

``--config configs/basic_mnist_mlp.py:poisson`` feeds Bernoulli/Poisson spikes (rate coding) instead
of the analog image (the seed's README promises it; its code has none).
"""

from snnjax.config import base_config


def get_config(coding: str = "direct"):
    config = base_config()
    config.data.update(name="mnist", normalize=False)
    config.model.update(
        name="mlp",
        num_steps=25,
        encoding={"direct": "direct", "poisson": "rate"}[coding],
        hidden=(300,),
        readout="spikes",
        per_neuron_output_decay=True,
    )
    config.model.neuron.update(
        type="lif",
        decay=0.9,
        v_th=1.0,
        reset="soft_delayed",
        detach_reset=True,
        surrogate="fast_sigmoid",
        surrogate_param=25.0,
        learnable_decay=True,
    )
    config.loss.update(name="count_mse", correct_rate=0.8, incorrect_rate=0.2)
    config.optim.update(name="adam", learning_rate=2e-3, b1=0.9, b2=0.999, schedule="cosine")
    config.train.update(batch_size=128, eval_batch_size=500, num_epochs=10, log_every=50)
    return config
