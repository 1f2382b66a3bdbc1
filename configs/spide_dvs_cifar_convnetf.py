"""SPIDE on CIFAR10-DVS (Xiao et al., Neural Networks 2023): ConvNet-F on event frames.

Setting: frames [B, T=30, 48, 48, 2] (``model.encoding='events'``), one per step, T_b=250, s=400, no
dropout, feedback Conv5 512->512 with norm <= 10, SGD lr 0.05 (x0.1 at epoch 50), 70 epochs. Expected: no
published number is available for this setting: SPIDE's README gives no accuracy (the abstract names
CIFAR10-DVS without a figure) and IDE-FSNN reports no CIFAR10-DVS result (its event dataset is N-MNIST).
Not measured here (only the short training test on synthetic events).

The shared recipe and the loss-scale semantics: ``snnjax.config.spide_recipe``. Solver:
``--config.model.solver=spide|broyden|fixed_point``.
"""

from snnjax.config import spide_recipe


def get_config():
    return spide_recipe(
        data=dict(name="cifar10_dvs", normalize=False, crop_padding=4),
        model="spide_dvs_convnetf",
        num_steps=30,
        encoding="events",
        scale=400.0,
        learning_rate=0.05,
        decay_epochs=(50,),
        num_epochs=70,
        eval_batch_size=200,
        solver="spide",
        backward_steps=250,
        v_th_back=0.5,
        dropout=0.0,
        feedback_norm=10.0,
    )
