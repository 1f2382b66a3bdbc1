"""SPIDE on MNIST (Xiao et al., Neural Networks 2023): the feed-forward LeNet.

Setting: T=30, spiking backward solver T_b=100, V_th_b=0.5, s=100, SGD lr 0.1 (x0.1 at epochs 20, 40), 60
epochs, dropout 0.5 on the FC layer. Expected: published IDE 99.49% (SPIDE's own number for this net is
not published); measured here with the SPIDE solver 99.04% after 10 of the 60 epochs (README, SPIDE;
per-epoch table and commands in docs/spide.md).

The shared recipe and the loss-scale semantics: ``snnjax.config.spide_recipe``. Solver:
``--config.model.solver=spide|broyden|fixed_point``.
"""

from snnjax.config import spide_recipe


def get_config():
    return spide_recipe(
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
