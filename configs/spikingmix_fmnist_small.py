"""Spiking-Mix at CPU scale: a small SpikingResformer on Fashion-MNIST (our reconstruction of Spiking-Mix).

Model: ``variant='custom'``: ImageNet stem (7x7/2 conv + BN + 3x3/2 max-pool), two stages with planes
16 / 32, heads 1 / 2, patches 1 / 1, one DSSA + GWFFN pair per stage, group size 64 (so the GWFFN group
convs have 1 and 2 groups); 28 x 28 -> 7 -> 4; 131,632 parameters. Sized for this shared 2-core CPU:
a three-stage 16/32/64 net with group size 16 (4 to 16 groups per group conv) took 0.52 s per step at
T=1, this one 0.09 s (T=1) and 0.38 s (T=4) at batch 32 (measured with the machine under load).
Options after the colon, comma separated: ``lif`` (spikingjelly LIF) or ``shared`` (quantised
two-threshold LIF, levels {0, .25, .5, .75}, default) or ``dual``; ``mix`` (Spiking-Mix, default) or
``nomix``. AdamW 2e-3 wd 0.01, cosine, batch 32, 400 steps, T=4 (``--config.model.num_steps``).
Expected: no published number; measured at T=4 (README, Spiking-Mix): standard LIF 76.03% without mix,
74.09% with Spiking-Mix; quantised LIF 73.27% / 71.50%.

Example: ``python -m snnjax.main --config configs/spikingmix_fmnist_small.py:shared,mix --workdir W
--config.data.dir=DATA/fashion_mnist --config.model.num_steps=2``.
"""

from snnjax.config import base_config, parse_arg
from snnjax.models.resformer import SPIKINGMIX_NEURONS, model_config, spikingmix_neuron

OPTIONS = (*SPIKINGMIX_NEURONS, "mix", "nomix")


def get_config(options: str = "shared,mix"):
    opts = {parse_arg(o, OPTIONS, "mix") for o in (options or "shared,mix").split(",")}
    neuron = next((n for n in SPIKINGMIX_NEURONS if n in opts), "shared")
    config = base_config()
    config.data.update(name="fashion_mnist")
    config.model = model_config(
        "custom", num_steps=4, neuron=spikingmix_neuron(neuron),
        planes=(16, 32), num_heads=(1, 2), patch_sizes=(1, 1), depths=(1, 1), stem="imagenet",
        group_size=64,
    )  # fmt: skip
    config.loss.update(name="mean_ce")
    mix = "nomix" not in opts
    config.mix.update(name="spikingmix" if mix else "none", prob=0.5, cutmix_alpha=1.0, label_smoothing=0.0)
    config.optim.update(name="adamw", learning_rate=2e-3, weight_decay=0.01, schedule="cosine")
    config.train.update(batch_size=32, eval_batch_size=1000, num_steps=400, log_every=50)
    return config
