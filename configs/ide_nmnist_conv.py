"""IDE-FSNN on N-MNIST (Xiao et al., "Training Feedback Spiking Neural Networks by Implicit Differentiation
on the Equilibrium State", NeurIPS 2021): the ``64C5s (F64C5)`` conv feedback net of ``nmnist_conv.py`` on
event frames.

Setting: frames [B, T=30, 34, 34, 2] (``model.encoding='events'``), one per step; Conv5 stride 2 padding 1,
2 -> 64, with BatchNorm (34 -> 16 px) drives one spiking layer of 64x16x16 with a Conv5 64 -> 64 feedback
onto itself (no bias, IDE's spectral reparametrisation with norm <= 1), readout Linear(16384 -> 10) on the
rates; LIF leak 0.95 (the script's default; ``:if`` for IF), IDE's fixed-point solver ('iter': 30
iterations of ``beta <- (beta + g + J^T beta) / 2`` from ``beta = g``), variational dropout 0.2 (the input
and feedback currents, independent masks, in the weight gradients too), SGD lr 0.05 momentum 0.9 weight
decay 5e-4 (x0.1 at epochs 30, 60, 90), 100 epochs, batch 128, test batch 200, no loss scaling.
The input BatchNorm on events follows IDE's code (docs/spide.md, "IDE BatchNorm of event input"): in
training every frame is normalised with the statistics of ``W_x`` applied to the time-averaged frames
(``sqrt(unbiased var + 1e-8)``), the running statistics move once per step (the re-evaluation of
``f(a*, mean x)``), and with LIF the average is the code's in-place one
(``--config.model.event_bn_average=weighted``: the plain leak-weighted average).
IDE's neuron: threshold 2, a spike subtracts 2 (``model.v_th = model.reset = 2``; SPIDE's: ``v_th = 1``,
``reset = 0`` for 2 v_th). The gradient goes through one re-evaluation of ``f(a*, x)`` as IDE's one-layer
module, with ``J`` at ``a*``.
Data: IDE reads TSSL-BP's preprocessed N-MNIST (binary spikes in the first 30 time bins of each
recording); here the original files are cut into T = 30 equal time slices of the whole recording (event
counts per pixel). Expected (IDE README, mean +- std / best): LIF 0.95 99.42 +- 0.04% / 99.47%; IF 99.30 +-
0.04% / 99.35%. Not trained here. Needs the N-MNIST files in ``--config.data.dir``
(``Train|Test/<digit>/*.bin``).
"""

from snnjax.config import ide_recipe, parse_arg


def get_config(neuron: str = "lif"):
    neuron = parse_arg(neuron, ("lif", "if"), "lif")
    return ide_recipe(
        data=dict(name="nmnist", normalize=False, split_by="time", num_frames=0),
        model="ide_nmnist_convf64",
        num_steps=30,
        encoding="events",
        scale=1.0,
        eval_batch_size=200,
        solver="fixed_point",
        solver_max_iter=30,
        damping=0.5,
        fixed_point_start="g",  # IDE's 'iter' starts from beta = g
        solver_tol=0.0,  # IDE runs all 30 iterations
        event_bn_average="code",
        leak=0.95 if neuron == "lif" else 1.0,
    )
