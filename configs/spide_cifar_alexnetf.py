"""SPIDE CIFAR-10 AlexNet-F (SEEDS.md 5.4): T=30, T_b=250, s=400, dropout 0.2, feedback norm <= 2,
SGD lr 0.05 with 400 warm-up iterations (x0.1 at 50, 75), 100 epochs, crop+flip.
CIFAR-100: data.name=cifar100.

Measured numbers and commands: docs/spide.md. The shared recipe and the loss-scale semantics:
``snnjax.models.feedback.spide_config``. Solver: ``--config.model.solver=spide|broyden|fixed_point``.
"""

from snnjax.models.feedback import spide_config


def get_config():
    return spide_config(
        data=dict(name="cifar10", crop_padding=4, flip=True),
        model="spide_cifar_alexnetf",
        num_steps=30,
        scale=400.0,
        learning_rate=0.05,
        decay_epochs=(50, 75),
        num_epochs=100,
        warmup_steps=400,
        eval_batch_size=200,
        solver="spide",
        backward_steps=250,
        v_th_back=0.5,
        dropout=0.2,
        feedback_norm=2.0,
    )
