"""SPIDE MNIST ConvNet-F = IDE's 64C5s (F64C5) (SEEDS.md 5.4): T=30, T_b=100, s=100, dropout 0.2,
feedback norm <= 2, SGD lr 0.05 (x0.1 at 30, 60, 90), 100 epochs.

Measured numbers and commands: docs/spide.md. The shared recipe and the loss-scale semantics:
``snnjax.models.feedback.spide_config``. Solver: ``--config.model.solver=spide|broyden|fixed_point``.
"""

from snnjax.models.feedback import spide_config


def get_config():
    return spide_config(
        data=dict(name="mnist"),
        model="spide_mnist_convnetf",
        num_steps=30,
        scale=100.0,
        learning_rate=0.05,
        decay_epochs=(30, 60, 90),
        num_epochs=100,
        solver="spide",
        backward_steps=100,
        v_th_back=0.5,
        dropout=0.2,
        feedback_norm=2.0,
    )
