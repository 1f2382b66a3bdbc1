"""IDE-FSNN on Fashion-MNIST (Xiao et al., "Training Feedback Spiking Neural Networks by Implicit
Differentiation on the Equilibrium State", NeurIPS 2021): the 400-neuron FC feedback net (F400).

Setting: FC 784->400 (+BatchNorm) with a 400->400 feedback (spectral norm <= 1), T=5, IF, IDE Broyden
solver (30 iterations), variational dropout 0.2, SGD lr 0.05 (x0.1 at 30, 60, 90), 100 epochs; no loss
scaling. BatchNorm, dropout (independent masks on the input and feedback currents, in the weight gradients
too) and the spectral restriction are the defaults of IDE's ``fashionmnist_fc.py``.
Expected: published 90.04% (mean of the best epochs over runs; best 90.14%); measured 90.03% best epoch,
89.77% final; with the SPIDE solver (``--config.model.solver=spide``, T_b=100) 90.32% / 90.17% (README,
SPIDE; commands in docs/spide.md).

The running statistics of ``W_x``'s BatchNorm move twice per training step with the same batch, as in
IDE's code (its forward and its re-evaluation of ``f(a*, x)``); ``--config.model.input_bn_updates=1``: once.

IDE's neuron: threshold 2, a spike subtracts 2 (``model.v_th = model.reset = 2``; SPIDE's: ``v_th = 1``,
``reset = 0`` for 2 v_th). The gradient goes through one re-evaluation of ``f(a*, x)`` as IDE's modules
(``--config.model.gradient_at=rates``: SPIDE's local products at the forward rates).

The shared recipe and the loss-scale semantics: ``snnjax.config.ide_recipe``. Solver:
``--config.model.solver=spide|broyden|fixed_point`` (with spide, raise model.scale_factor/optim.lr_scale).
"""

from snnjax.config import ide_recipe


def get_config():
    return ide_recipe(
        data=dict(name="fashion_mnist"),
        model="ide_fc_f400",
        num_steps=5,
        scale=1.0,
        solver="broyden",
        solver_max_iter=30,
    )
