"""SNN basic task, "Nat. Commun. 2022" hybrid-plasticity neuron (SEEDS.md 4.2): 784 -> 10, T=3.

``:as_coded`` (default) reproduces the repository's behaviour (state zeroed every step, inert
plasticity: only the Linear trains); ``:intended`` carries the state over time and learns
alpha/eta/beta. tau_u 5, tau_w 1, V_th 0.2, fast-sigmoid surrogate, count-MSE(0.8, 0.2), Adam 2e-3,
batch 100, one epoch, pixels in [0, 1].
"""

from snnjax.config import base_config


def get_config(variant: str = "as_coded"):
    config = base_config()
    config.data.update(name="mnist", normalize=False)
    config.model.update(name="hybrid_plasticity", variant=variant, num_steps=3, tau_u=5.0, tau_w=1.0)
    config.model.neuron.update(v_th=0.2, surrogate="fast_sigmoid", surrogate_param=25.0)
    config.loss.update(name="count_mse", correct_rate=0.8, incorrect_rate=0.2)
    config.optim.update(name="adam", learning_rate=2e-3)
    config.train.update(batch_size=100, eval_batch_size=500, num_epochs=1, log_every=50)
    return config
