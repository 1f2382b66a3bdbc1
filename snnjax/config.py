"""The config schema shared by every experiment: ``base_config()`` holds every section and its defaults.

Experiment files in ``configs/`` start from it, override what they reproduce and add the model's own
keys; the CLI locks the result, so a misspelt key is an error instead of a silently ignored setting.
"""

from __future__ import annotations

import ml_collections

from snnjax.data import default_data_config
from snnjax.models.common import neuron_config
from snnjax.train.optim import optim_config
from snnjax.train.steps import loss_config


def train_config(**overrides) -> ml_collections.ConfigDict:
    """The ``train`` section: batch sizes, length, logging and checkpoint cadence."""
    cfg = ml_collections.ConfigDict(
        dict(
            batch_size=128,  # global batch, sharded over all devices
            eval_batch_size=500,
            num_epochs=1,
            num_steps=-1,  # > 0 overrides num_epochs
            log_every=50,
            eval_every_epochs=1.0,
            checkpoint_every_steps=0,  # 0 = at every evaluation
            keep_checkpoints=3,
        )
    )
    cfg.update(overrides)
    return cfg


def mix_config(**overrides) -> ml_collections.ConfigDict:
    """The ``mix`` section: an on-device mix regulariser applied to each training batch."""
    cfg = ml_collections.ConfigDict(
        dict(
            name="none",  # none | mixup | cutmix | mixup_cutmix | spikingmix
            prob=1.0,  # probability that a batch is mixed (the per-batch coin)
            per_epoch_coin=False,  # GAC seed option: one coin per epoch instead of per batch
            mixup_alpha=0.8,  # Beta(alpha, alpha) of Mixup's ratio
            cutmix_alpha=1.0,  # Beta(alpha, alpha) of CutMix's box area
            switch_prob=0.5,  # mixup_cutmix: probability of CutMix instead of Mixup (timm)
            label_smoothing=0.0,  # applied to the mixed soft labels
            # spikingmix source-centre scale gamma(lam) (docs/spikingmix.md; values are our choice)
            centre_theta=1.0,
            centre_delta=0.0,
            centre_eps=0.01,
        )
    )
    cfg.update(overrides)
    return cfg


def base_config() -> ml_collections.ConfigDict:
    """Every section with its defaults; ``model`` holds only the keys all models share."""
    return ml_collections.ConfigDict(
        dict(
            seed=0,
            data=default_data_config(),
            model=dict(
                name="mlp",
                num_steps=4,  # T
                encoding="direct",  # direct | rate | latency
                neuron=neuron_config(),
                remat=False,  # rematerialise each time step in the backward pass
                remat_chunk=0,  # convnet with remat: time steps per checkpointed chunk (0 = ~sqrt(T))
                conv_impl="auto",  # convnet: auto | xla | matmul (snnjax.conv.conv_fn)
            ),
            loss=loss_config(),
            optim=optim_config(),
            mix=mix_config(),
            train=train_config(),
        )
    )


def load_config(spec: str, overrides=()) -> ml_collections.ConfigDict:
    """Loads ``path.py[:arg]`` and applies ``KEY=VALUE`` overrides (provisional loader)."""
    import ast
    import importlib.util
    import os

    from snnjax.errors import ConfigError

    path, _, arg = spec.partition(":")
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} not found: pass --config configs/<name>.py")
    try:
        module_spec = importlib.util.spec_from_file_location("snnjax_config_file", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        config = module.get_config(*([arg] if arg else []))
    except SyntaxError as e:
        raise ConfigError(f"syntax error in {path} line {e.lineno}: {e.msg}") from None
    except Exception as e:
        raise ConfigError(f"{path}{':' + arg if arg else ''}: {type(e).__name__}: {e}") from None
    for item in overrides:
        key, _, text = item.partition("=")
        parent, _, name = key.rpartition(".")
        node = config
        try:
            for part in filter(None, parent.split(".")):
                node = node[part]
            old = node[name]
        except (KeyError, AttributeError, TypeError):
            valid = ", ".join(sorted(node.keys())) if hasattr(node, "keys") else ""
            raise ConfigError(f"unknown config key {key!r}; valid keys: {valid}") from None
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        if isinstance(old, bool) and isinstance(value, str):
            value = value.lower() in ("1", "true", "yes")
        try:
            node[name] = type(old)(value) if old is not None and not isinstance(old, tuple | bool) else value
        except (TypeError, ValueError):
            raise ConfigError(f"--config.{key}: cannot use {text!r} as {type(old).__name__}") from None
    config.lock()
    return config
