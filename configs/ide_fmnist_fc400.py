"""IDE-FSNN Fashion-MNIST 400 (F400) (SEEDS.md 5.6): FC 784->400 (+BatchNorm) with a 400->400 feedback
(spectral norm <= 1), T=5, IF, IDE Broyden solver (30 iterations), variational dropout 0.2, SGD lr 0.05
(x0.1 at 30, 60, 90), 100 epochs; no loss scaling. BatchNorm, dropout and the spectral restriction are
IDE's ``fashionmnist_fc.py`` defaults (SEEDS.md does not fix them).
SPIDE solver beside it: --config.model.solver=spide (then raise model.scale_factor/optim.lr_scale).

Measured numbers and commands: docs/spide.md. The shared recipe and the loss-scale semantics:
``snnjax.models.feedback.spide_config``. Solver: ``--config.model.solver=spide|broyden|fixed_point``.
"""

from snnjax.models.feedback import spide_config


def get_config():
    return spide_config(
        data=dict(name="fashion_mnist"),
        model="ide_fc_f400",
        num_steps=5,
        scale=1.0,
        learning_rate=0.05,
        decay_epochs=(30, 60, 90),
        num_epochs=100,
        solver="broyden",
        solver_max_iter=30,
        dropout=0.2,
        feedback_norm=1.0,
    )
