"""SPIDE MNIST LeNet (feed-forward, SEEDS.md 5.4): T=30, spiking solver T_b=100, V_th_b=0.5, s=100,
SGD lr 0.1 (x0.1 at epochs 20, 40), 60 epochs, dropout 0.5 on the FC layer.

Measured numbers and commands: docs/spide.md. The shared recipe and the loss-scale semantics:
``snnjax.models.feedback.spide_config``. Solver: ``--config.model.solver=spide|broyden|fixed_point``.
"""

from snnjax.models.feedback import spide_config


def get_config():
    return spide_config(
        data=dict(name="mnist"),
        model="spide_mnist_lenet",
        num_steps=30,
        scale=100.0,
        learning_rate=0.1,
        decay_epochs=(20, 40),
        num_epochs=60,
        solver="spide",
        backward_steps=100,
        v_th_back=0.5,
        dropout=0.5,
    )
