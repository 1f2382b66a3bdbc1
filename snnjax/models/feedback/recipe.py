"""The experiment recipe of the SPIDE / IDE scripts, as a complete config (used by the ``spide_*`` and
``ide_*`` configs)."""

from __future__ import annotations

import ml_collections

from snnjax.models.feedback.zoo import fsnn_model_config


def spide_config(
    *,
    data: dict,
    model: str,
    num_steps: int,
    scale: float,
    learning_rate: float,
    decay_epochs: tuple[int, ...],
    num_epochs: int,
    warmup_steps: int = 0,
    eval_batch_size: int = 500,
    **model_overrides,
) -> ml_collections.ConfigDict:
    """A complete experiment config of the SPIDE / IDE scripts (SEEDS.md 5.5): direct coding, SGD momentum
    0.9 with weight decay 5e-4 and a x0.1 step schedule, batch 128.

    The loss scale ``s = scale`` multiplies every gradient (``model.scale_factor``) and divides the learning
    rate (``optim.lr_scale``), so the two stay equal and coupled weight decay is effectively ``wd / s``, as
    in the seed. ``model_overrides`` go to :func:`fsnn_model_config`.
    """
    from snnjax.config import base_config  # the config schema sits above the models in the layering

    config = base_config()
    config.data.update({"normalize": True, **data})
    config.model.update(
        name=model,
        num_steps=num_steps,
        encoding="direct",
        **fsnn_model_config(scale_factor=scale, **model_overrides),
    )
    config.optim.update(
        name="sgd",
        learning_rate=learning_rate,
        momentum=0.9,
        weight_decay=5e-4,
        lr_scale=scale,
        schedule="step",
        decay_epochs=tuple(decay_epochs),
        decay_factor=0.1,
        warmup_steps=warmup_steps,
    )
    config.train.update(batch_size=128, eval_batch_size=eval_batch_size, num_epochs=num_epochs, log_every=50)
    return config
