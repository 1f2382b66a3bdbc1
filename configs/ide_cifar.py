"""IDE-FSNN on CIFAR-10 (Xiao et al., "Training Feedback Spiking Neural Networks by Implicit Differentiation
on the Equilibrium State", NeurIPS 2021): AlexNet-F (default) or ``:cifarnetf`` (CIFARNet-F), with
BatchNorm after ``W_x`` and after every forward conv (``cifar_alexnetf.py`` / ``cifar_cifarnetf.py``).

Setting (the scripts' defaults): LIF leak 0.99, T=100, IDE's Broyden solver (30 iterations), no loss
scaling, variational dropout 0.2, feedback ConvT with IDE's spectral restriction (norm <= 1), SGD lr 0.05
momentum 0.9 weight decay 5e-4 with 400 warm-up iterations and x0.1 at epochs 50 and 75, 100 epochs,
batch 128, test batch 200, crop + flip. The spiking forward uses the running statistics of the layers'
BatchNorms; one evaluation of the equilibrium map with batch statistics carries the gradient
(docs/spide.md, "IDE BatchNorm in the CIFAR nets"); ``W_x``'s running statistics move twice per step, as
in IDE's code (``--config.model.input_bn_updates=1``: once). IF neurons: ``--config.model.leak=1``; T=30:
``--config.model.num_steps=30``; CIFAR-100: ``--config.data.name=cifar100``.
IDE's neuron: threshold 2, a spike subtracts 2 (``model.v_th = model.reset = 2``; SPIDE's: ``v_th = 1``,
``reset = 0`` for 2 v_th). The gradient goes through one re-evaluation of ``f(a*, x)`` as IDE's modules.
Expected (IDE README, CIFAR-10, mean +- std / best): AlexNet-F LIF 0.99 T=100 92.03 +- 0.07% / 92.15%
(IF: 92.25 +- 0.27% / 92.53%; T=30: IF 91.73%, LIF 91.74%); CIFARNet-F LIF 0.99 T=100 92.52 +- 0.17% /
92.82% (IF 92.33%; T=30: IF 91.94%, LIF 92.08%). CIFAR-100: AlexNet-F IF T=100 72.02%, CIFARNet-F
LIF T=100 72.98% (IF 73.07%). Not trained here.
"""

from snnjax.config import ide_recipe, parse_arg


def get_config(model: str = "alexnetf"):
    model = parse_arg(model, ("alexnetf", "cifarnetf"), "alexnetf")
    return ide_recipe(
        data=dict(name="cifar10", crop_padding=4, flip=True),
        model=f"ide_cifar_{model}",
        num_steps=100,
        scale=1.0,
        learning_rate=0.05,
        decay_epochs=(50, 75),
        num_epochs=100,
        warmup_steps=400,
        eval_batch_size=200,
        solver="broyden",
        solver_max_iter=30,
        leak=0.99,
    )
