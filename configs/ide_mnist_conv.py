"""IDE-FSNN on MNIST (Xiao et al., "Training Feedback Spiking Neural Networks by Implicit Differentiation
on the Equilibrium State", NeurIPS 2021): the ``64C5s (F64C5)`` conv feedback net of ``mnist_conv.py``.

Setting: Conv5 stride 2, 1 -> 64, with BatchNorm (28 -> 14 px) drives one spiking layer of 64x14x14 with a
Conv5 64 -> 64 feedback onto itself (no bias, IDE's spectral reparametrisation with norm <= 1), readout
Linear(12544 -> 10) on the rates; T=30, LIF leak 0.95 (the script's default), IDE Broyden solver (30
iterations), variational dropout 0.2, SGD lr 0.05 momentum 0.9 weight decay 5e-4 (x0.1 at epochs 30, 60,
90), 100 epochs, batch 128, normalised pixels, no augmentation, no loss scaling. Dropout draws one mask
for ``W_x x`` and one for the feedback current, and the weight gradient includes the masks (IDE
differentiates the masked network: ``model.dropout_grad='masked'``, as F400).
Expected (IDE README, mean over runs / best): LIF 0.95 99.53% / 99.59%; ``:if`` (IF neurons) 99.49% /
99.55%. Not trained here. 229,646 parameters (the learned spectral gain and the solver statistics included).

The running statistics of ``W_x``'s BatchNorm move twice per training step with the same batch, as in
IDE's code (its forward and its re-evaluation of ``f(a*, x)``); ``--config.model.input_bn_updates=1``: once.

IDE's neuron: threshold 2, a spike subtracts 2 (``model.v_th = model.reset = 2``; SPIDE's: ``v_th = 1``,
``reset = 0`` for 2 v_th). The gradient goes through one re-evaluation of ``f(a*, x)`` as IDE's modules
(``--config.model.gradient_at=rates``: SPIDE's local products at the forward rates).

The shared recipe and the loss-scale semantics: ``snnjax.config.ide_recipe``. Solver:
``--config.model.solver=spide|broyden|fixed_point`` (with spide, raise model.scale_factor/optim.lr_scale).
"""

from snnjax.config import ide_recipe, parse_arg


def get_config(neuron: str = "lif"):
    neuron = parse_arg(neuron, ("lif", "if"), "lif")
    return ide_recipe(
        data=dict(name="mnist"),
        model="ide_mnist_convf64",
        num_steps=30,
        scale=1.0,
        eval_batch_size=200,
        solver="broyden",
        solver_max_iter=30,
        leak=0.95 if neuron == "lif" else 1.0,
    )
