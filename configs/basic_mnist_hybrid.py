"""SNN basic task: the "Nat. Commun. 2022" hybrid global/local-plasticity neuron on MNIST, 784 -> 10, T=3.

``:as_coded`` (default) reproduces the task repository's behaviour (state zeroed every step, inert
plasticity: only the Linear trains); ``:intended`` carries the state over time and learns
alpha/eta/beta. tau_u 5, tau_w 1, V_th 0.2, fast-sigmoid surrogate (slope 25), count-MSE(0.8, 0.2), Adam
2e-3, batch 100, one epoch, pixels in [0, 1]. Expected: there is no published number to compare with: the
task repository reports no accuracy for this model (its only figure is the N-MNIST tutorial's training-batch
curve, a different network) and does not name the paper's setting it reproduces, so the paper's own
results do not apply. Not measured here; the config documents the model (see
``snnjax.models.basic.HybridPlasticityNet``).
"""

from snnjax.config import base_config, parse_arg
from snnjax.models import basic


def get_config(variant: str = "as_coded"):
    config = base_config()
    config.data.update(name="mnist", normalize=False)
    config.model = basic.model_config(
        "hybrid_plasticity",
        variant=parse_arg(variant, ("as_coded", "intended"), "as_coded"),
        num_steps=3,
        tau_u=5.0,
        tau_w=1.0,
    )
    config.model.neuron.lif.update(v_th=0.2, surrogate="fast_sigmoid(slope=25.0)")
    config.loss.update(name="count_mse", correct_rate=0.8, incorrect_rate=0.2)
    config.optim.update(name="adam", learning_rate=2e-3)
    config.train.update(batch_size=100, eval_batch_size=500, num_epochs=1, log_every=50)
    return config
